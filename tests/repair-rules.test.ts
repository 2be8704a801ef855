/**
 * The repair's pieces against values derived by hand from their definitions: weight layouts (OIHW →
 * OHWI, depthwise, transposed convolution, Gemm), the agreement score (top-1, Kendall's τ on the top-5,
 * max error), the keep-only-if-better rule, and the graph edits. Then whole repairs of small graphs with
 * one injected fault each, checked in onnxruntime (ONNX targets) and LiteRT (TFLite targets) against the
 * source run in onnxruntime: runtimes Lathe did not write.
 */
import assert from "node:assert/strict";
import { GraphBuilder, modelOf, numbersConstant } from "../ir/builder.ts";
import type { Graph } from "../ir/graph.ts";
import { resolveAttrs } from "../ir/op-registry.ts";
import { exportOnnx } from "../compiler/onnx/export.ts";
import { exportTflite } from "../compiler/tflite/export.ts";
import { onnxToTflite } from "../passes/convert/onnx-to-tflite.ts";
import { Editor } from "../passes/repair/edit.ts";
import { repairGraph } from "../passes/repair/greedy.ts";
import { improves, type Score, scoreOutputs } from "../passes/repair/score.ts";
import { toStored, weightSlot } from "../passes/repair/weight-layout.ts";
import { Rng } from "../runtime/random.ts";
import { Tensor } from "../runtime/tensor.ts";
import { ortSession, runOrt } from "./reference/onnxruntime.ts";
import { loadLiteRt, runLiteRt } from "./reference/litert.ts";
import { changeWeights, setAttr, smallCnn, swapOp } from "./support/diff-faults.ts";

const node = (op: string, attrs: Record<string, unknown> = {}) => ({
  id: "n",
  op,
  inputs: [],
  outputs: ["y"],
  attrs: attrs as never,
});

Deno.test("weights go from the canonical layout to each op's stored layout", () => {
  // Canonical conv weights [O=2, I=3, H=2, W=2] with value 1000o + 100i + 10h + w.
  const canon = new Float64Array(24);
  for (let o = 0; o < 2; o++) {
    for (let i = 0; i < 3; i++) {
      for (let h = 0; h < 2; h++) {
        for (let w = 0; w < 2; w++) canon[((o * 3 + i) * 2 + h) * 2 + w] = 1000 * o + 100 * i + 10 * h + w;
      }
    }
  }
  const ohwi = toStored(canon, [2, 3, 2, 2], weightSlot(node("tfl.CONV_2D"))!, [2, 2, 2, 3])!;
  for (let o = 0; o < 2; o++) {
    for (let h = 0; h < 2; h++) {
      for (let w = 0; w < 2; w++) {
        for (let i = 0; i < 3; i++) {
          assert.equal(ohwi.data[((o * 2 + h) * 2 + w) * 3 + i], 1000 * o + 100 * i + 10 * h + w);
        }
      }
    }
  }
  assert.equal(toStored(canon, [2, 3, 2, 2], weightSlot(node("Conv"))!, [2, 3, 2, 2])!.data[23], canon[23]);

  // Depthwise: canonical [C=3, 1, H=2, W=2] to TFLite's [1, H, W, C].
  const dw = new Float64Array(12);
  for (let c = 0; c < 3; c++) {
    for (let h = 0; h < 2; h++) for (let w = 0; w < 2; w++) dw[(c * 2 + h) * 2 + w] = 100 * c + 10 * h + w;
  }
  const stored = toStored(dw, [3, 1, 2, 2], weightSlot(node("tfl.DEPTHWISE_CONV_2D"))!, [1, 2, 2, 3])!;
  for (let h = 0; h < 2; h++) {
    for (let w = 0; w < 2; w++) {
      for (let c = 0; c < 3; c++) assert.equal(stored.data[(h * 2 + w) * 3 + c], 100 * c + 10 * h + w);
    }
  }

  // Transposed convolution: canonical [I=2, O=3, H=2, W=2] to TFLite's [O, H, W, I].
  const tc = new Float64Array(24);
  for (let i = 0; i < 2; i++) {
    for (let o = 0; o < 3; o++) {
      for (let h = 0; h < 2; h++) {
        for (let w = 0; w < 2; w++) tc[((i * 3 + o) * 2 + h) * 2 + w] = 1000 * i + 100 * o + 10 * h + w;
      }
    }
  }
  const tcs = toStored(tc, [2, 3, 2, 2], weightSlot(node("tfl.TRANSPOSE_CONV"))!, [3, 2, 2, 2])!;
  for (let o = 0; o < 3; o++) {
    for (let h = 0; h < 2; h++) {
      for (let w = 0; w < 2; w++) {
        for (let i = 0; i < 2; i++) {
          assert.equal(tcs.data[((o * 2 + h) * 2 + w) * 2 + i], 1000 * i + 100 * o + 10 * h + w);
        }
      }
    }
  }

  // Dense: canonical [N=3, K=2]; Gemm without transB stores [K, N].
  const dense = Float64Array.of(0, 1, 10, 11, 20, 21);
  assert.deepEqual([...toStored(dense, [3, 2], weightSlot(node("Gemm"))!, [2, 3])!.data], [
    0,
    10,
    20,
    1,
    11,
    21,
  ]);
  assert.deepEqual([
    ...toStored(dense, [3, 2], weightSlot(node("Gemm", { transB: { type: "int", value: 1 } }))!, [3, 2])!
      .data,
  ], [0, 1, 10, 11, 20, 21]);
  // Shapes that do not correspond are refused.
  assert.equal(toStored(dense, [3, 2], weightSlot(node("Gemm"))!, [3, 3]), undefined);
});

Deno.test("the score: top-1 agreement, Kendall's tau on the top-5 and the error figures", () => {
  const s = new Tensor("f32", [1, 6], Float32Array.of(0.1, 0.2, 0.3, 0.4, 0.5, 0.6));
  const t = new Tensor("f32", [1, 6], Float32Array.of(0.1, 0.2, 0.3, 0.4, 0.6, 0.5));
  const same = scoreOutputs(["y"], ["y"], [{ y: s }], [{ y: s }], { rtol: 1e-4 });
  assert.equal(same.agree, true);
  assert.equal(same.top1, 1);
  assert.equal(same.tau, 1);
  const swapped = scoreOutputs(["y"], ["y"], [{ y: s }], [{ y: t }], { rtol: 1e-4 });
  assert.equal(swapped.agree, false);
  assert.equal(swapped.top1, 0);
  // The five top classes of either: of their 10 pairs only the top two are ordered differently: (9 - 1) / 10.
  assert.ok(Math.abs(swapped.tau - 0.8) < 1e-9, `tau ${swapped.tau}`);
  assert.equal(swapped.fixed, 0);
  // max |t - s| = 0.1 (in float32) over max |s| = 0.6.
  assert.ok(Math.abs(swapped.maxRel - 0.1 / 0.6) < 1e-6, `maxRel ${swapped.maxRel}`);
  // Shapes that do not correspond make the output incompatible (and the score the worst).
  const bad = scoreOutputs(
    ["y"],
    ["y"],
    [{ y: s }],
    [{ y: new Tensor("f32", [1, 5], new Float32Array(5)) }],
    { rtol: 1e-4 },
  );
  assert.equal(bad.agree, false);
  assert.ok(bad.outputs[0].incompatible);
});

Deno.test("a change is kept only when the agreement improves", () => {
  const sc = (top1: number, tau: number, relL2: number, agree = false): Score => ({
    agree,
    top1,
    tau,
    fixed: 0,
    relL2,
    maxRel: relL2,
    maxAbs: relL2,
    samples: 1,
    outputs: [],
  });
  assert.equal(improves(sc(1, 1, 0, true), sc(1, 1, 1e-3)), true, "agreement reached");
  assert.equal(improves(sc(0.5, 0.9, 0.2), sc(0.25, 0.9, 0.2)), true, "top-1 rises");
  assert.equal(improves(sc(0.5, 0.95, 0.2), sc(0.5, 0.9, 0.2)), true, "tau rises");
  assert.equal(improves(sc(0.5, 0.9, 0.1), sc(0.5, 0.9, 0.2)), true, "error halves");
  assert.equal(improves(sc(0.5, 0.9, 0.19), sc(0.5, 0.9, 0.2)), false, "error barely moves");
  assert.equal(improves(sc(0.25, 0.9, 0.15), sc(0.5, 0.9, 0.2)), false, "top-1 drops");
  assert.equal(improves(sc(1, 1, 1e-3), sc(1, 1, 0, true)), false, "losing agreement");
});

function chain(): Graph {
  const b = new GraphBuilder("chain");
  const x = b.input("x", "f32", [1, 4]);
  const w = b.constant("w", numbersConstant("f32", [1, 4], [1, 2, 3, 4]));
  const m = b.op1("Mul", [x, w], {}, "m");
  const r = b.op1("Relu", [m], {}, "r");
  const s = b.op1("Sigmoid", [r], {}, "s");
  return b.build([s]);
}

Deno.test("edits: bypass, insert after a graph output, constants in place or cloned, invalid graphs refused", () => {
  const g = chain();
  const ed = new Editor(g);
  ed.bypass(g.nodes[1].id, 0);
  const s = ed.graph.nodes.find((n) => n.op === "Sigmoid")!;
  assert.deepEqual(s.inputs, ["m"]);
  const t = ed.insertAfter("s", { op: "Tanh", inputs: ["s"], stem: "t" });
  let out = ed.finish();
  assert.deepEqual(out.outputs, ["s"], "the graph output keeps its name");
  assert.equal(out.nodes.find((n) => n.outputs[0] === "s")!.id, t.id);
  assert.deepEqual(ed.edits.map((e) => e.type), ["remove", "inputs", "outputs", "insert"]);

  const ed2 = new Editor(out);
  ed2.setConstantOperand(out.nodes[0].id, 1, numbersConstant("f32", [1, 4], [4, 3, 2, 1]));
  out = ed2.finish();
  assert.deepEqual(out.nodes[0].inputs, ["x", "w"], "an operand read once is replaced in place");
  const e = ed2.edits[0];
  assert.ok(
    e.type === "constant" && e.before?.values?.join() === "1,2,3,4" && e.after.values?.join() === "4,3,2,1",
  );

  const ed3 = new Editor(out);
  ed3.setInputs(out.nodes[0].id, ["x", "nowhere"]);
  assert.throws(() => ed3.finish(), /invalid graph/);
});

async function ortOutputs(g: Graph, inputs: Record<string, Tensor>[]): Promise<Tensor[]> {
  const session = await ortSession(exportOnnx(modelOf(g, { format: "onnx", opsets: { "": 17 }, props: {} })));
  const out: Tensor[] = [];
  for (const x of inputs) out.push(Object.values(await runOrt(session, x))[0]);
  await session.release();
  return out;
}

function samples(n: number, seed: number): Record<string, Tensor>[] {
  const rng = new Rng(seed);
  return Array.from(
    { length: n },
    () => ({
      image: new Tensor("f32", [1, 3, 16, 16], Float32Array.from({ length: 768 }, () => rng.uniform(-1, 1))),
    }),
  );
}

function assertClose(a: Tensor, b: Tensor, rtol: number, what: string) {
  const x = a.data as Float32Array, y = b.data as Float32Array;
  let max = 0, ref = 0;
  for (let i = 0; i < x.length; i++) {
    (max = Math.max(max, Math.abs(x[i] - y[i])), ref = Math.max(ref, Math.abs(x[i])));
  }
  assert.ok(max <= rtol * ref + 1e-6, `${what}: max |diff| ${max} vs scale ${ref}`);
}

Deno.test("ONNX to ONNX: weights, pads and a swapped activation are repaired; onnxruntime agrees with the source", async () => {
  const source = smallCnn();
  const xs = samples(6, 3);
  const want = await ortOutputs(source, xs);
  const faults: [string, Graph, (g: Graph) => void][] = [
    ["weights", changeWeights(source, "conv2"), () => {}],
    [
      "pads",
      setAttr(source, "conv1", "pads", { type: "ints", value: [2, 2, 0, 0] }),
      (g) => assert.deepEqual(resolveAttrs(g.nodes.find((n) => n.id === "conv1")!).pads, [1, 1, 1, 1]),
    ],
    [
      "activation",
      swapOp(source, "relu2", "Sigmoid"),
      (g) => assert.equal(g.nodes.find((n) => n.id === "relu2")!.op, "Relu"),
    ],
  ];
  for (const [what, target, check] of faults) {
    const r = await repairGraph({ source, target, samples: xs });
    assert.equal(r.final.agree, true, `${what}: ${r.stopped}`);
    assert.ok(r.changes.length >= 1 && r.changes.every((c) => c.edits.length > 0), what);
    check(r.graph);
    const got = await ortOutputs(r.graph, xs);
    got.forEach((t, i) => assertClose(want[i], t, 1e-4, `${what} sample ${i}`));
  }
});

Deno.test({
  name:
    "ONNX to TFLite: a conv with perturbed weights, wrong strides and the wrong fused activation is repaired; LiteRT agrees with onnxruntime",
  ignore: !(await loadLiteRt()),
  fn: async () => {
    const source = smallCnn();
    const xs = samples(4, 5);
    const want = await ortOutputs(source, xs);
    const converted = onnxToTflite(modelOf(source, { format: "onnx", opsets: { "": 17 }, props: {} })).model;
    const conv = converted.graph.nodes.find((n) =>
      n.op === "tfl.CONV_2D" && n.attrs.fused_activation_function?.value === "RELU"
    )!;
    assert.ok(conv, "the conversion fuses a ReLU into a convolution");
    const ed = new Editor(converted.graph);
    ed.setAttrs(conv.id, {
      fused_activation_function: { type: "string", value: "RELU6" },
      stride_h: { type: "int", value: 2 },
      stride_w: { type: "int", value: 2 },
    });
    const w = converted.graph.constants[conv.inputs[1]!];
    const noisy = new Float32Array(new Float32Array(w.bytes!.slice().buffer));
    noisy[0] += 0.5;
    ed.setConstantOperand(conv.id, 1, { dtype: "f32", shape: w.shape, bytes: new Uint8Array(noisy.buffer) });
    const target = ed.finish();
    const r = await repairGraph({ source, target, samples: xs, reference: () => converted.graph });
    assert.equal(r.final.agree, true, r.stopped);
    const fixed = r.graph.nodes.find((n) => n.id === conv.id)!;
    assert.equal(fixed.attrs.fused_activation_function?.value, "RELU");
    assert.deepEqual([resolveAttrs(fixed).stride_h, resolveAttrs(fixed).stride_w], [1, 1]);
    const bytes = exportTflite({ graph: r.graph, meta: converted.meta });
    for (const [i, x] of xs.entries()) {
      const [y] = await runLiteRt(bytes, [x.image.data as Float32Array]);
      assertClose(want[i], new Tensor("f32", y.shape, y.data as Float32Array), 1e-4, `sample ${i}`);
    }
  },
});
