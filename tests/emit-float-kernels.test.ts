/**
 * The driver's float32 CPU kernels one by one against Lathe's runtime, on the corner cases the corpus
 * models do not reach: a graph of every float step (float-steps.ts, layout-steps.ts, reduce-steps.ts,
 * conv-transpose-step.ts) with broadcasting, Clip with min > max and an absent bound, NaN in Max/Min,
 * Softmax over a middle axis, ReduceMean over two axes, padded AveragePool with and without the padding
 * in the count, Pad with a value, both DepthToSpace modes, cubic,
 * downsampling and tf_crop_and_resize Resize (extrapolated taps), grouped, strided, dilated and padded
 * ConvTranspose with bias whose columns fall in both the 8-wide tiles and the tail of the runtime's SIMD
 * GEMM, and Exp/Sigmoid/Tanh over 200 000 arguments from -750 to 30 (subnormal results included), with
 * NaN, ±Infinity and -0 in the inputs. Emitted without partitioning, built, run on those inputs: every
 * value the driver dumps must equal the runtime's byte for byte.
 */
import assert from "node:assert/strict";
import { GraphBuilder } from "../ir/builder.ts";
import type { Graph } from "../ir/graph.ts";
import { Session } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { emitDriver, npyFileName } from "../targets/emit/emit.ts";
import { buildDriver, noToolchain, readDump, runDriver } from "./support/driver-run.ts";

/** A fixed pseudo-random sequence (LCG), so the inputs do not depend on the code under test. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

function values(n: number, seed: number, lo: number, hi: number): Float32Array {
  const r = lcg(seed), out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

function zoo(): Graph {
  const b = new GraphBuilder("float_zoo");
  const x = b.input("x", "f32", [2, 3, 8, 10]);
  const e = b.input("e", "f32", [200000]);
  const xt = b.input("xt", "f32", [1, 4, 5, 6]);
  const xu = b.input("xu", "f32", [1, 9, 3, 5]);
  const e64 = b.input("e64", "f64", [200000]);
  const k = (name: string, shape: number[], v: ArrayLike<number>) => b.constantOf(name, "f32", shape, v);
  const i64 = (name: string, v: number[]) => b.constantOf(name, "i64", [v.length], v);
  const outs: string[] = [];
  const op = (o: string, ins: (string | null)[], attrs = {}) => {
    const y = b.op1(o, ins, attrs);
    outs.push(y);
    return y;
  };
  op("Relu", [x]);
  op("LeakyRelu", [x], { alpha: 0.1 });
  op("HardSigmoid", [x], { alpha: 0.2, beta: 0.5 });
  op("HardSwish", [x]);
  op("Neg", [x]);
  op("Abs", [x]);
  op("Sqrt", [x]);
  op("Reciprocal", [x]);
  op("Sigmoid", [e]);
  op("Tanh", [e]);
  op("Exp", [e]);
  op("Exp", [e64]);
  op("Tanh", [e64]);
  op("Sigmoid", [e64]);
  op("Clip", [x, k("lo", [], [0.5]), k("hi", [], [-0.25])]);
  op("Clip", [x, null, k("hi6", [], [6])]);
  const c3 = k("c3", [3, 1, 1], [0.5, -1.25, 3]);
  op("Add", [x, c3]);
  op("Sub", [c3, x]);
  const row = k("row", [1, 1, 8, 10], values(80, 7, -2, 2));
  op("Mul", [x, row]);
  op("Div", [x, row]);
  op("PRelu", [x, k("slope", [3, 1, 1], [0.25, -0.5, 2])]);
  op("Max", [x, row, k("zero", [], [0])]);
  op("Min", [x, k("nan", [1], [NaN])]);
  op("Sum", [x, row, c3]);
  op("Softmax", [x], { axis: 1 });
  op("Softmax", [x], { axis: -1 });
  op("BatchNormalization", [
    x,
    c3 && k("s", [3], [1.5, 0.5, -2]),
    k("bb", [3], [0.1, 0.2, 0.3]),
    k("m", [3], [0.5, -1, 0]),
    k("v", [3], [2, 0.25, 1e-3]),
  ], { epsilon: 1e-5 });
  op("AveragePool", [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 0, 1, 2], ceil_mode: 1 });
  op("AveragePool", [x], {
    kernel_shape: [2, 3],
    pads: [1, 1, 0, 1],
    count_include_pad: 1,
    dilations: [2, 1],
  });
  op("ReduceMean", [x, i64("axes", [1, 3])], { keepdims: 0 });
  op("ReduceMean", [x, i64("axes2", [-1])], { keepdims: 1 });
  op("Pad", [x, i64("pads", [0, 0, 1, 2, 0, 1, 0, 3]), k("pv", [], [1.5])], { mode: "constant" });
  const d = b.op1("Reshape", [xt, i64("dshape", [1, 8, 3, 5])]);
  op("DepthToSpace", [d], { blocksize: 2, mode: "CRD" });
  op("DepthToSpace", [d], { blocksize: 2, mode: "DCR" });
  op("Resize", [x, null, null, i64("sz1", [2, 3, 13, 7])], {
    mode: "cubic",
    coordinate_transformation_mode: "align_corners",
  });
  op("Resize", [x, null, k("sc", [4], [1, 1, 0.5, 0.75])], {
    mode: "linear",
    coordinate_transformation_mode: "asymmetric",
  });
  op("Resize", [x, k("roi", [8], [0, 0, -0.2, 0.1, 1, 1, 1.3, 0.8]), null, i64("sz2", [2, 3, 9, 11])], {
    mode: "linear",
    coordinate_transformation_mode: "tf_crop_and_resize",
    extrapolation_value: -7.5,
  });
  op("Resize", [x, null, null, i64("sz3", [2, 3, 8, 25])], {
    mode: "cubic",
    exclude_outside: 1,
    cubic_coeff_a: -0.5,
  });
  op(
    "ConvTranspose",
    [xt, k("wt", [4, 3, 3, 3], values(108, 11, -1, 1)), k("bt", [6], values(6, 12, -1, 1))],
    {
      group: 2,
      strides: [2, 1],
      dilations: [1, 2],
      pads: [1, 0, 0, 1],
      output_padding: [1, 0],
    },
  );
  op("ConvTranspose", [xu, k("wu", [9, 2, 2, 2], values(72, 13, -1, 1))], { strides: [2, 2] });
  return b.build(outs);
}

function inputs(): Record<string, Tensor> {
  const x = values(480, 1, -4, 4);
  const special = [0, -0, NaN, Infinity, -Infinity, 1e-30, -1e-30, 3e38, -3e38, 6, -6, 0.5];
  special.forEach((v, i) => (x[i * 37] = v));
  const e = new Float32Array(200000);
  const r = lcg(2);
  for (let i = 0; i < e.length; i++) {
    // Most arguments in [-40, 30]; a tenth from -750 to -700, where exp's results turn subnormal.
    e[i] = i % 10 === 0 ? -750 + 50 * r() : -40 + 70 * r();
  }
  [0, -0, NaN, Infinity, -Infinity, 1e-20, -1e-20, 710, -745.2].forEach((v, i) => (e[i * 101] = v));
  return {
    x: new Tensor("f32", [2, 3, 8, 10], x),
    e: new Tensor("f32", [200000], e),
    xt: new Tensor("f32", [1, 4, 5, 6], values(120, 3, -2, 2)),
    e64: new Tensor("f64", [200000], Float64Array.from(e, (v, i) => v + (i % 3) * 2 ** -30)),
    xu: new Tensor("f32", [1, 9, 3, 5], values(135, 4, -2, 2)),
  };
}

/**
 * Elements whose bits differ, NaNs aside: any NaN equals any NaN. V8 does not fix a NaN's sign or payload
 * (Math.min(1, NaN) gives 0xffc00000 interpreted and 0xffffffff once compiled), so neither can the driver.
 */
function differing(got: Tensor, want: Tensor): number[] {
  const a = got.data as Float32Array | Float64Array, b = want.data as Float32Array | Float64Array;
  assert.ok(a.constructor === b.constructor && a.length === b.length);
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i]) && !(a[i] !== a[i] && b[i] !== b[i])) out.push(i);
  }
  return out;
}

Deno.test({
  name: "float32 driver kernels equal the runtime byte for byte, corner cases included",
  ignore: noToolchain(),
  fn: async () => {
    const g = zoo();
    const out = await Deno.makeTempDir({ prefix: "lathe-float-kernels-" });
    try {
      const d = await emitDriver(g, "secda-sa", { out });
      const build = buildDriver(d.dir);
      const ins = inputs();
      const want = new Map<string, Tensor>();
      new Session(g).run(ins, { observe: (name, v) => v instanceof Tensor && want.set(name, v) });
      const dump = `${out}/dump`;
      await Deno.mkdir(dump);
      const r = await runDriver(`${d.dir}/lathe_driver`, `${out}/run`, d.inputs, d.outputs, ins, {
        args: ["--dump", dump],
      });
      assert.equal(r.code, 0, r.stderr);
      const bad: string[] = [];
      for (const n of g.nodes) {
        const got = await readDump(dump, npyFileName(n.outputs[0]));
        const w = want.get(n.outputs[0])!;
        assert.deepEqual(got.shape, w.shape, `${n.id} (${n.op}) shape`);
        const diff = differing(got, w);
        if (diff.length) {
          bad.push(
            `${n.id} (${n.op}): ${diff.length} elements differ, first ${diff[0]} (x there: ${
              ins.x.data[diff[0]]
            })`,
          );
        }
      }
      assert.deepEqual(bad, [], "every node's output equals the runtime's");
      console.log(
        `float zoo: ${g.nodes.length} nodes, build ${build.toFixed(0)} ms, run ${r.ms.toFixed(0)} ms`,
      );
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
