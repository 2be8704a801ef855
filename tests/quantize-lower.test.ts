/**
 * The integer ops the int8 lowering produces, against onnxruntime running the same ops: onnxruntime's own
 * com.microsoft.QLinearAdd and QLinearGlobalAveragePool (its x86 kernels), and a QDQ graph lowered to
 * QLinearConv / 1×1-conv Gemm, which must give onnxruntime's codes for the QDQ graph exactly.
 */
import assert from "node:assert/strict";
import { exportOnnx } from "../compiler/onnx/export.ts";
import { GraphBuilder, modelOf, numbersConstant } from "../ir/builder.ts";
import type { Graph } from "../ir/graph.ts";
import "../passes/index.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import { seededBatches } from "../passes/quantize/calibrate.ts";
import { quantizeModelGraph } from "../passes/quantize/quantize-pass.ts";
import { Session } from "../runtime/interpreter.ts";
import { Rng } from "../runtime/random.ts";
import { fmaF32 } from "../runtime/kernels/quant-compute.ts";
import { Tensor } from "../runtime/tensor.ts";
import { ortSession, runOrt } from "./reference/onnxruntime.ts";

function codes(dtype: "u8" | "i8", shape: number[], rng: Rng): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  const d = dtype === "u8" ? new Uint8Array(n) : new Int8Array(n);
  for (let i = 0; i < n; i++) d[i] = dtype === "u8" ? rng.int(0, 256) : rng.int(-128, 128);
  return new Tensor(dtype, shape, d);
}

async function both(g: Graph, feeds: Record<string, Tensor>) {
  const ours = new Session(g).run(feeds, { check: true }).outputs as Record<string, Tensor>;
  const ref = await runOrt(await ortSession(exportOnnx(modelOf(g))), feeds);
  return { ours, ref };
}

Deno.test("fmaF32 rounds a·b + c once", () => {
  // 1 + 2^-24 is halfway between 1 and the next f32; a plain f32 multiply then add would round twice.
  const a = 1 + 2 ** -12, b = 1 + 2 ** -12; // a·b = 1 + 2^-11 + 2^-24 exactly
  assert.equal(fmaF32(a, b, 0), Math.fround(1 + 2 ** -11)); // ties to even below
  assert.equal(fmaF32(a, b, 2 ** -40), 1 + 2 ** -11 + 2 ** -23); // just above the tie: rounds up
  assert.equal(fmaF32(3, 5, -15), 0);
  assert.equal(fmaF32(0.5, 0.25, 1), 1.125);
});

for (const dtype of ["u8", "i8"] as const) {
  Deno.test({
    name: `com.microsoft.QLinearAdd (${dtype}) gives onnxruntime's codes`,
    sanitizeResources: false,
    fn: async () => {
      const rng = new Rng(7);
      let checked = 0;
      for (let trial = 0; trial < 40; trial++) {
        const b = new GraphBuilder("qadd");
        b.input("a", dtype, [2, 97]);
        b.input("b", dtype, trial % 5 === 4 ? [1] : [2, 97]);
        const sc = (name: string) =>
          b.constant(name, numbersConstant("f32", [], [Math.fround(0.001 + rng.next() * 0.1)]));
        const zp = (name: string) =>
          b.constant(
            name,
            numbersConstant(dtype, [], [dtype === "u8" ? rng.int(0, 256) : rng.int(-128, 128)]),
          );
        const out = b.op1("com.microsoft.QLinearAdd", [
          "a",
          sc("sa"),
          zp("za"),
          "b",
          sc("sb"),
          zp("zb"),
          sc("sc"),
          zp("zc"),
        ]);
        const g = b.build([out]);
        const feeds = {
          a: codes(dtype, [2, 97], rng),
          b: codes(dtype, trial % 5 === 4 ? [1] : [2, 97], rng),
        };
        const { ours, ref } = await both(g, feeds);
        assert.deepEqual(
          [...ours[out].data as Uint8Array],
          [...ref[out].data as Uint8Array],
          `trial ${trial}`,
        );
        checked += 194;
      }
      console.log(`  ${checked} elements over 40 random scale/zero-point sets, all equal`);
    },
  });
}

Deno.test({
  name: "com.microsoft.QLinearGlobalAveragePool gives onnxruntime's codes",
  sanitizeResources: false,
  fn: async () => {
    const rng = new Rng(3);
    for (let trial = 0; trial < 20; trial++) {
      const b = new GraphBuilder("qgap");
      const shape = [2, 5 + trial, 3 + (trial % 7), 4 + (trial % 5)];
      b.input("x", "u8", shape);
      const xs = b.constant("xs", numbersConstant("f32", [], [Math.fround(0.01 + rng.next() * 0.05)]));
      const ys = b.constant("ys", numbersConstant("f32", [], [Math.fround(0.005 + rng.next() * 0.05)]));
      const xz = b.constant("xz", numbersConstant("u8", [], [rng.int(0, 256)]));
      const yz = b.constant("yz", numbersConstant("u8", [], [rng.int(0, 256)]));
      const out = b.op1("com.microsoft.QLinearGlobalAveragePool", ["x", xs, xz, ys, yz], {
        channels_last: 0,
      });
      const { ours, ref } = await both(b.build([out]), { x: codes("u8", shape, rng) });
      assert.deepEqual(ours[out].shape, ref[out].shape);
      assert.deepEqual([...ours[out].data as Uint8Array], [...ref[out].data as Uint8Array], `trial ${trial}`);
    }
  },
});

/** A small CNN in float: Conv+Relu, depthwise Conv+Clip, residual Add, GlobalAveragePool, Flatten, Gemm. */
function smallCnn(): Graph {
  const rng = new Rng(11);
  const b = new GraphBuilder("cnn");
  b.input("x", "f32", [1, 3, 12, 12]);
  const w = (name: string, shape: number[], scale: number) => {
    const n = shape.reduce((p, d) => p * d, 1);
    return b.constant(
      name,
      numbersConstant("f32", shape, Array.from({ length: n }, () => rng.uniform(-scale, scale))),
    );
  };
  const c1 = b.op1("Conv", ["x", w("w1", [8, 3, 3, 3], 0.4), w("b1", [8], 0.1)], { pads: [1, 1, 1, 1] });
  const r1 = b.op1("Relu", [c1]);
  const c2 = b.op1("Conv", [r1, w("w2", [8, 1, 3, 3], 0.5), w("b2", [8], 0.1)], {
    pads: [1, 1, 1, 1],
    group: 8,
  });
  const lo = b.constant("lo", numbersConstant("f32", [], [0])),
    hi = b.constant("hi", numbersConstant("f32", [], [6]));
  const r2 = b.op1("Clip", [c2, lo, hi]);
  const c3 = b.op1("Conv", [r2, w("w3", [8, 8, 1, 1], 0.4)]);
  const s = b.op1("Add", [c3, r1]);
  const p = b.op1("GlobalAveragePool", [s]);
  const f = b.op1("Flatten", [p]);
  const y = b.op1("Gemm", [f, w("wg", [10, 8], 0.5), w("bg", [10], 0.1)], { transB: 1 });
  return b.build([y]);
}

Deno.test({
  name: "lower-int8: a lowered QDQ CNN gives onnxruntime's output codes for the QDQ graph",
  sanitizeResources: false,
  fn: async () => {
    const float = modelOf(smallCnn());
    for (const activations of ["u8", "i8"] as const) {
      const q = quantizeModelGraph(float, { scheme: "int8", calib: "minmax", calibCount: 4, activations });
      const low = (await runPipeline(q.model, "lower-int8")).model;
      const ops = new Set(low.graph.nodes.map((n) => n.op));
      for (
        const op of ["QLinearConv", "com.microsoft.QLinearAdd", "com.microsoft.QLinearGlobalAveragePool"]
      ) assert.ok(ops.has(op), `${op} missing after lowering`);
      assert.ok(
        !ops.has("Conv") && !ops.has("Gemm") && !ops.has("Relu") && !ops.has("Clip"),
        [...ops].join(","),
      );
      const ort = await ortSession(exportOnnx(q.model));
      const s = new Session(low.graph);
      const scale = (() => {
        const dq = q.model.graph.nodes.find((n) =>
          n.op === "DequantizeLinear" && n.outputs[0] === q.model.graph.outputs[0]
        )!;
        return new Float32Array(q.model.graph.constants[dq.inputs[1]!].bytes!.slice().buffer)[0];
      })();
      for (const batch of seededBatches(float.graph, 99, 6)) {
        const ours = s.run(batch).outputs[low.graph.outputs[0]] as Tensor;
        const ref = (await runOrt(ort, batch as Record<string, Tensor>))[q.model.graph.outputs[0]];
        const a = ours.data as Float32Array, r = ref.data as Float32Array;
        for (let i = 0; i < a.length; i++) {
          assert.equal(
            Math.round((a[i] - r[i]) / scale),
            0,
            `${activations} element ${i}: ${a[i]} vs ${r[i]}`,
          );
        }
      }
    }
  },
});
