/**
 * Shape and movement kernels against hand-derived values (from the ONNX operator definitions), naive index
 * arithmetic written here, and onnxruntime for the Resize modes the conformance suite does not exercise.
 */
import assert from "node:assert/strict";
import { LatheError } from "../ir/errors.ts";
import { interpret } from "../runtime/interpreter.ts";
import { GraphBuilder } from "../ir/builder.ts";
import { Sequence, Tensor } from "../runtime/tensor.ts";
import { compareTensors } from "./support/close.ts";
import { f32, i64, runNode, tensor, values } from "./support/run-node.ts";
import { runBoth } from "./support/single-node-onnx.ts";

const T = (v: unknown) => v as Tensor;

function throwsLathe(fn: () => unknown, needle: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof LatheError, `expected LatheError, got ${e}`);
    assert.match(e.message, needle instanceof RegExp ? needle : new RegExp(needle));
    return true;
  });
}

/** A deterministic ramp with some negative values and fractions. */
const ramp = (n: number, scale = 0.5) => Array.from({ length: n }, (_, i) => (i % 7 - 3) * scale + i * 0.01);

Deno.test("Identity passes tensors as views and sequences through", () => {
  const x = f32([2, 2], [1, 2, 3, 4]);
  const [y] = runNode("Identity", [x]);
  assert.deepEqual(values(y), [1, 2, 3, 4]);
  assert.deepEqual(T(y).shape, [2, 2]);
  const seq = new Sequence([x]);
  const b = new GraphBuilder();
  b.inputOf("s", { kind: "sequence", elem: { kind: "tensor", dtype: "f32", shape: [2, 2] } });
  const o = b.op1("Identity", ["s"]);
  const { outputs } = interpret(b.build([o]), { s: seq });
  assert.ok(outputs[o] instanceof Sequence);
  assert.equal((outputs[o] as Sequence).items[0], x);
});

Deno.test("Dropout: identity at inference, numpy-seeded mask in training mode", () => {
  const x = f32([5], [1, 2, 3, 4, 5]);
  const [y, mask] = runNode("Dropout", [x], {}, { outputs: 2 });
  assert.deepEqual(values(y), [1, 2, 3, 4, 5]);
  assert.deepEqual(values(mask), [1, 1, 1, 1, 1]);
  const ratio = f32([], [0.5]);
  const train = tensor("bool", [], [1]);
  // np.random.seed(0); np.random.uniform(0, 1, 5) = 0.5488, 0.7152, 0.6028, 0.5449, 0.4237: the last is
  // below 0.5 and is dropped; kept values scale by 1 / (1 - 0.5).
  const [y2, m2] = runNode("Dropout", [x, ratio, train], { seed: 0 }, { outputs: 2 });
  assert.deepEqual(values(m2), [1, 1, 1, 1, 0]);
  assert.deepEqual(values(y2), [2, 4, 6, 8, 0]);
  const [y3, m3] = runNode("Dropout", [x, f32([], [0]), train], { seed: 3 }, { outputs: 2 });
  assert.deepEqual(values(y3), [1, 2, 3, 4, 5]);
  assert.deepEqual(values(m3), [1, 1, 1, 1, 1]);
});

Deno.test("Reshape: 0 copies, -1 infers, allowzero keeps a zero dim, bad targets fail", () => {
  const x = f32([2, 3, 4], ramp(24));
  const [y] = runNode("Reshape", [x, "s"], {}, { constants: { s: i64([3], [0, -1, 2]) } });
  assert.deepEqual(T(y).shape, [2, 6, 2]);
  assert.equal(T(y).data, x.data, "Reshape is a view");
  const empty = f32([0, 3], []);
  const [z] = runNode("Reshape", [empty, "s"], { allowzero: 1 }, { constants: { s: i64([2], [3, 0]) } });
  assert.deepEqual(T(z).shape, [3, 0]);
  throwsLathe(() => runNode("Reshape", [x, "s"], {}, { constants: { s: i64([2], [5, 5]) } }), /reshape/);
  throwsLathe(
    () => runNode("Reshape", [x, "s"], {}, { constants: { s: i64([2], [-1, -1]) } }),
    /more than one -1/,
  );
});

Deno.test("Flatten, Squeeze, Unsqueeze shapes (negative and unsorted axes)", () => {
  const x = f32([2, 1, 3, 1], ramp(6));
  assert.deepEqual(T(runNode("Flatten", [x], { axis: 0 })[0]).shape, [1, 6]);
  assert.deepEqual(T(runNode("Flatten", [x], { axis: -1 })[0]).shape, [6, 1]);
  assert.deepEqual(T(runNode("Flatten", [x], { axis: 4 })[0]).shape, [6, 1]);
  assert.deepEqual(T(runNode("Squeeze", [x])[0]).shape, [2, 3]);
  assert.deepEqual(T(runNode("Squeeze", [x, "a"], {}, { constants: { a: i64([1], [-1]) } })[0]).shape, [
    2,
    1,
    3,
  ]);
  throwsLathe(() => runNode("Squeeze", [x, "a"], {}, { constants: { a: i64([1], [0]) } }), /size 2/);
  const [u] = runNode("Unsqueeze", [f32([3, 4], ramp(12)), "a"], {}, { constants: { a: i64([2], [-1, 0]) } });
  assert.deepEqual(T(u).shape, [1, 3, 4, 1]);
});

/** Transpose by the definition: out[i] = x[index with axes permuted]. */
function naiveTranspose(shape: number[], data: ArrayLike<unknown>, perm: number[]): unknown[] {
  const outShape = perm.map((p) => shape[p]);
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Array(n);
  const inStrides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  for (let o = 0; o < n; o++) {
    let rem = o, src = 0;
    for (let k = 0; k < outShape.length; k++) {
      const st = outShape.slice(k + 1).reduce((a, b) => a * b, 1);
      const c = Math.floor(rem / st);
      rem -= c * st;
      src += c * inStrides[perm[k]];
    }
    out[o] = data[src];
  }
  return out;
}

Deno.test("Transpose matches the definition for NCHW<->NHWC, generic 5-D perms, i64 and strings", () => {
  const cases: [number[], number[]][] = [
    [[2, 3, 4, 5], [0, 2, 3, 1]],
    [[2, 5, 4, 3], [0, 3, 1, 2]],
    [[3, 40, 37], [0, 2, 1]],
    [[2, 3, 1, 4, 2], [4, 2, 0, 3, 1]],
    [[2, 3, 4], [1, 0, 2]],
    [[1, 1, 6], [2, 0, 1]],
  ];
  for (const [shape, perm] of cases) {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = f32(shape, ramp(n, 1.5));
    const [y] = runNode("Transpose", [x], { perm });
    assert.deepEqual(T(y).shape, perm.map((p) => shape[p]));
    assert.deepEqual(values(y), naiveTranspose(shape, x.data, perm), `perm ${perm} of [${shape}]`);
  }
  const xi = i64([2, 3], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(values(runNode("Transpose", [xi])[0]), [1, 4, 2, 5, 3, 6]);
  const xs = tensor("string", [2, 2], ["a", "b", "c", "d"]);
  assert.deepEqual(values(runNode("Transpose", [xs], { perm: [1, 0] })[0]), ["a", "c", "b", "d"]);
});

Deno.test("Concat and Split: axes, strings, empty parts, num_outputs remainder", () => {
  const a = f32([2, 2], [1, 2, 3, 4]), b = f32([2, 1], [5, 6]), e = f32([2, 0], []);
  const [c] = runNode("Concat", [a, b, e], { axis: -1 });
  assert.deepEqual(T(c).shape, [2, 3]);
  assert.deepEqual(values(c), [1, 2, 5, 3, 4, 6]);
  const s = runNode("Concat", [tensor("string", [1], ["x"]), tensor("string", [2], ["y", "z"])], { axis: 0 });
  assert.deepEqual(values(s[0]), ["x", "y", "z"]);
  throwsLathe(() => runNode("Concat", [a, f32([3, 1], [0, 0, 0])], { axis: 1 }), /differ/);
  const x = f32([5], [1, 2, 3, 4, 5]);
  const parts = runNode("Split", [x], { axis: 0, num_outputs: 3 }, { outputs: 3 });
  assert.deepEqual(parts.map(values), [[1, 2], [3, 4], [5]]);
  const m = f32([2, 3], [1, 2, 3, 4, 5, 6]);
  const p2 = runNode("Split", [m, "s"], { axis: 1 }, { outputs: 2, constants: { s: i64([2], [1, 2]) } });
  assert.deepEqual(p2.map(values), [[1, 4], [2, 3, 5, 6]]);
});

Deno.test("Expand and Tile", () => {
  const x = f32([3, 1], [1, 2, 3]);
  const [y] = runNode("Expand", [x, "s"], {}, { constants: { s: i64([3], [2, 1, 2]) } });
  assert.deepEqual(T(y).shape, [2, 3, 2]);
  assert.deepEqual(values(y), [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3]);
  const [z] = runNode("Expand", [i64([1], [7]), "s"], {}, { constants: { s: i64([1], [3]) } });
  assert.deepEqual(values(z), [7, 7, 7]);
  const [t] = runNode("Tile", [f32([2, 2], [1, 2, 3, 4]), "r"], {}, { constants: { r: i64([2], [2, 3]) } });
  assert.deepEqual(T(t).shape, [4, 6]);
  assert.deepEqual(values(t).slice(0, 12), [1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4]);
  assert.deepEqual(values(t).slice(12), values(t).slice(0, 12));
});

Deno.test("Pad: constant/reflect/edge/wrap, negative pads, axes input, i64 data", () => {
  const x = f32([3], [1, 2, 3]);
  const pad = (mode: string, pads: number[], extra: (Tensor | string | null)[] = []) =>
    values(runNode("Pad", [x, "p", ...extra], { mode }, { constants: { p: i64([pads.length], pads) } })[0]);
  assert.deepEqual(pad("constant", [2, 2], [f32([], [9])]), [9, 9, 1, 2, 3, 9, 9]);
  assert.deepEqual(pad("reflect", [2, 2]), [3, 2, 1, 2, 3, 2, 1]);
  assert.deepEqual(pad("edge", [2, 2]), [1, 1, 1, 2, 3, 3, 3]);
  assert.deepEqual(pad("wrap", [2, 2]), [2, 3, 1, 2, 3, 1, 2]);
  assert.deepEqual(pad("constant", [-1, 1]), [2, 3, 0]);
  const m = i64([2, 2], [1, 2, 3, 4]);
  const [y] = runNode("Pad", [m, "p", null, "a"], { mode: "edge" }, {
    constants: { p: i64([2], [1, 0]), a: i64([1], [-1]) },
  });
  assert.deepEqual(T(y).shape, [2, 3]);
  assert.deepEqual(values(y), [1, 1, 2, 3, 3, 4]);
});

Deno.test("Shape (start/end), Size, ConstantOfShape, Range, EyeLike", () => {
  const x = f32([2, 3, 4, 5], ramp(120));
  assert.deepEqual(values(runNode("Shape", [x])[0]), [2, 3, 4, 5]);
  assert.deepEqual(values(runNode("Shape", [x], { start: 1, end: -1 })[0]), [3, 4]);
  assert.deepEqual(values(runNode("Shape", [x], { start: -10, end: 10 })[0]), [2, 3, 4, 5]);
  assert.deepEqual(values(runNode("Size", [x])[0]), [120]);
  const [c] = runNode("ConstantOfShape", [i64([2], [2, 2])], {
    value: {
      type: "tensor",
      value: { dtype: "i64", shape: [1], bytes: new Uint8Array(new BigInt64Array([7n]).buffer) },
    },
  });
  assert.equal(T(c).dtype, "i64");
  assert.deepEqual(values(c), [7, 7, 7, 7]);
  const [z] = runNode("ConstantOfShape", [i64([2], [0, 3])]);
  assert.deepEqual(T(z).shape, [0, 3]);
  assert.deepEqual(values(runNode("Range", [f32([], [1]), f32([], [2.2]), f32([], [0.5])])[0]), [1, 1.5, 2]);
  assert.deepEqual(values(runNode("Range", [i64([], [10]), i64([], [4]), i64([], [-3])])[0]), [10, 7]);
  assert.deepEqual(
    values(runNode("Range", [tensor("i32", [], [5]), tensor("i32", [], [5]), tensor("i32", [], [1])])[0]),
    [],
  );
  const [eye] = runNode("EyeLike", [f32([3, 4], ramp(12))], { k: 1, dtype: 7 });
  assert.equal(T(eye).dtype, "i64");
  assert.deepEqual(values(eye), [0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
});

Deno.test("DepthToSpace (DCR, CRD) and SpaceToDepth", () => {
  const x = f32([1, 8, 1, 1], [0, 1, 2, 3, 4, 5, 6, 7]);
  // DCR: out[c, i, j] = x[(i*2 + j)*2 + c]; CRD: out[c, i, j] = x[c*4 + i*2 + j].
  assert.deepEqual(values(runNode("DepthToSpace", [x], { blocksize: 2 })[0]), [0, 2, 4, 6, 1, 3, 5, 7]);
  assert.deepEqual(values(runNode("DepthToSpace", [x], { blocksize: 2, mode: "CRD" })[0]), [
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
  ]);
  const img = f32([1, 1, 2, 4], [0, 1, 2, 3, 4, 5, 6, 7]);
  const [s] = runNode("SpaceToDepth", [img], { blocksize: 2 });
  assert.deepEqual(T(s).shape, [1, 4, 1, 2]);
  // Channel (i*2 + j) holds pixels (i, j) of each 2x2 block.
  assert.deepEqual(values(s), [0, 2, 1, 3, 4, 6, 5, 7]);
  const big = f32([2, 12, 3, 5], ramp(360));
  const [back] = runNode("SpaceToDepth", [T(runNode("DepthToSpace", [big], { blocksize: 2 })[0])], {
    blocksize: 2,
  });
  assert.deepEqual(values(back), values(big));
});

Deno.test("Trilu: upper/lower with k, batched", () => {
  const x = i64([2, 3, 3], Array.from({ length: 18 }, (_, i) => i + 1));
  const [u] = runNode("Trilu", [x, "k"], { upper: 1 }, { constants: { k: i64([], [1]) } });
  assert.deepEqual(values(u).slice(0, 9), [0, 2, 3, 0, 0, 6, 0, 0, 0]);
  assert.deepEqual(values(u).slice(9), [0, 11, 12, 0, 0, 15, 0, 0, 0]);
  const [l] = runNode("Trilu", [x, "k"], { upper: 0 }, { constants: { k: i64([], [-1]) } });
  assert.deepEqual(values(l).slice(0, 9), [0, 0, 0, 4, 0, 0, 7, 8, 0]);
  const [full] = runNode("Trilu", [x, "k"], { upper: 1 }, { constants: { k: i64([], [-5]) } });
  assert.deepEqual(values(full), values(x));
});

Deno.test("CenterCropPad crops from floor((in-out)/2) and pads symmetrically", () => {
  const x = f32([5, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const [y] = runNode("CenterCropPad", [x, "s"], {}, { constants: { s: i64([2], [3, 5]) } });
  assert.deepEqual(T(y).shape, [3, 5]);
  // Rows 1..3 (crop of 2), columns placed at offset floor(3/2) = 1.
  assert.deepEqual(values(y), [0, 3, 4, 0, 0, 0, 5, 6, 0, 0, 0, 7, 8, 0, 0]);
  const [z] = runNode("CenterCropPad", [x, "s"], { axes: [0] }, { constants: { s: i64([1], [2]) } });
  assert.deepEqual(values(z), [3, 4, 5, 6]);
});

Deno.test("Resize: hand-derived nearest and linear values (ONNX operator examples)", () => {
  const x = f32([1, 1, 2, 2], [1, 2, 3, 4]);
  const [n] = runNode("Resize", [x, null, "s"], { mode: "nearest" }, {
    constants: { s: f32([4], [1, 1, 2, 3]) },
  });
  assert.deepEqual(values(n), [1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4]);
  // Linear, half_pixel, scale 2: source coords -0.25, 0.25, 0.75, 1.25 clamp at the edges.
  const [l] = runNode("Resize", [f32([1, 1, 1, 2], [1, 3]), null, "s"], { mode: "linear" }, {
    constants: { s: f32([4], [1, 1, 1, 2]) },
  });
  assert.deepEqual(values(l), [1, 1.5, 2.5, 3]);
  // align_corners with a fractional output width (scale 0.6 of 4 is 2.4): x = 1 maps to 1*3/1.4.
  const [a] = runNode("Resize", [f32([1, 1, 1, 4], [1, 2, 3, 4]), null, "s"], {
    mode: "linear",
    coordinate_transformation_mode: "align_corners",
  }, {
    constants: { s: f32([4], [1, 1, 1, 0.6]) },
  });
  assert.equal(T(a).shape[3], 2);
  assert.ok(Math.abs(values(a)[1] as number - (1 + 3 / 1.4)) < 1e-6);
  // Cubic (A = -0.75) at output 1 of a 2x upsample: source 0.25, taps -1..2 (the first clamps to 0) at
  // distances 1.25, 0.25, 0.75, 1.75 weigh -0.10546875, 0.87890625, 0.26171875, -0.03515625.
  const [c] = runNode("Resize", [f32([4], [1, 2, 4, 8]), null, "s"], { mode: "cubic" }, {
    constants: { s: f32([1], [2]) },
  });
  assert.equal(values(c)[1], -0.10546875 + 0.87890625 + 0.26171875 * 2 - 0.03515625 * 4);
  // bf16 (bit patterns 1.0 = 0x3f80, 3.0 = 0x4040) and f16 take the same coordinates.
  const bf = new Tensor("bf16", [1, 1, 1, 2], Uint16Array.from([0x3f80, 0x4040]));
  const [lb] = runNode("Resize", [bf, null, "s"], { mode: "linear" }, {
    constants: { s: f32([4], [1, 1, 1, 2]) },
  });
  assert.deepEqual(values(lb), [0x3f80, 0x3fc0, 0x4020, 0x4040]);
  const [lh] = runNode("Resize", [tensor("f16", [1, 1, 1, 2], [1, 3]), null, "s"], { mode: "linear" }, {
    constants: { s: f32([4], [1, 1, 1, 2]) },
  });
  assert.deepEqual(values(lh), [1, 1.5, 2.5, 3]);
  // Nearest works for every element type, strings included.
  const [s] = runNode("Resize", [tensor("string", [2], ["a", "b"]), null, "s"], {}, {
    constants: { s: f32([1], [2]) },
  });
  assert.deepEqual(values(s), ["a", "a", "b", "b"]);
});

async function resizeVsOrt(
  x: Tensor,
  attrs: Record<string, number | string | number[] | { float: number }>,
  c: { scales?: number[]; sizes?: number[]; roi?: number[] },
): Promise<void> {
  const constants: Record<string, Tensor> = {};
  const order = ["x", "", "", ""];
  if (c.roi) constants.roi = f32([c.roi.length], c.roi), order[1] = "roi";
  if (c.scales) constants.scales = f32([c.scales.length], c.scales), order[2] = "scales";
  if (c.sizes) constants.sizes = i64([c.sizes.length], c.sizes), order[3] = "sizes";
  while (order[order.length - 1] === "") order.pop();
  const { ort, lathe } = await runBoth({
    op: "Resize",
    inputs: [["x", x]],
    constants,
    order,
    outputs: [["y", x.dtype]],
    attrs,
    opset: 19,
  });
  const r = compareTensors(lathe.y, ort.y, 1e-4, 1e-5);
  assert.ok(r.ok, `${JSON.stringify(attrs)} ${JSON.stringify(c)}: ${r.message}`);
}

Deno.test("Resize matches onnxruntime on modes the conformance suite lacks", async () => {
  const x = f32([1, 2, 6, 7], ramp(84, 0.7));
  await resizeVsOrt(x, { mode: "linear", antialias: 1 }, { scales: [1, 1, 0.5, 0.4] });
  await resizeVsOrt(x, { mode: "cubic", antialias: 1 }, { scales: [1, 1, 0.34, 0.6] });
  await resizeVsOrt(x, { mode: "linear", antialias: 1 }, { scales: [1, 1, 1.5, 0.3] });
  await resizeVsOrt(x, { mode: "cubic", cubic_coeff_a: { float: -0.5 }, exclude_outside: 1 }, {
    scales: [1, 1, 1.7, 0.8],
  });
  await resizeVsOrt(x, { mode: "linear", axes: [2, 3], keep_aspect_ratio_policy: "not_larger" }, {
    sizes: [4, 4],
  });
  await resizeVsOrt(x, { mode: "nearest", axes: [3, 2], keep_aspect_ratio_policy: "not_smaller" }, {
    sizes: [5, 9],
  });
  await resizeVsOrt(x, { mode: "linear", coordinate_transformation_mode: "half_pixel_symmetric" }, {
    scales: [1, 1, 1.7, 0.55],
  });
  await resizeVsOrt(x, { mode: "linear", coordinate_transformation_mode: "pytorch_half_pixel" }, {
    sizes: [1, 2, 1, 3],
  });
  await resizeVsOrt(x, {
    mode: "linear",
    coordinate_transformation_mode: "tf_crop_and_resize",
    extrapolation_value: { float: 10 },
  }, {
    roi: [0, 0, 0.2, -0.1, 1, 1, 0.9, 1.3],
    sizes: [1, 2, 4, 5],
  });
  // onnxruntime's nearest align_corners divides by the integer output length where ONNX's reference divides by
  // scale * length (see the align_corners example above), so those scales keep scale * length whole.
  for (const nm of ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]) {
    for (const ctm of ["half_pixel", "asymmetric", "align_corners"]) {
      const scales = ctm === "align_corners" ? [1, 1, 1.5, 2] : [1, 1, 1.5, 2.5];
      await resizeVsOrt(x, { mode: "nearest", nearest_mode: nm, coordinate_transformation_mode: ctm }, {
        scales,
      });
    }
  }
  // Resizing a leading axis takes the separable float64 path instead of the direct H/W one.
  await resizeVsOrt(f32([3, 5, 4], ramp(60, 1.3)), { mode: "linear" }, { scales: [2, 0.6, 1] });
  const q = tensor("u8", [1, 1, 3, 4], [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 255]);
  await resizeVsOrt(q, { mode: "nearest" }, { scales: [1, 1, 2, 0.5] });
});
