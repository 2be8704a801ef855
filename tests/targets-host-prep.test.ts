/**
 * Host-preparation ops (ir/ops/accel.ts, runtime/kernels/accel.ts) against values worked out by hand from
 * their definitions: im2col rows with the zero point at the border, padding to multiples, zero-point row
 * sums, lane interleaving into little-endian words, and onnxruntime-style float requantization.
 */
import assert from "node:assert/strict";
import { runNode as runAny, tensor } from "./support/run-node.ts";
import { Tensor } from "../runtime/tensor.ts";
import { q } from "./support/tfl-int8-graph.ts";
import { GraphBuilder } from "../ir/builder.ts";
import { LatheError } from "../ir/errors.ts";
import type { TensorType } from "../ir/value-type.ts";
import "../runtime/kernels/index.ts";
import "../ir/ops/index.ts";

const runNode = (...a: Parameters<typeof runAny>) => runAny(...a) as Tensor[];
const rows = (t: Tensor, width: number) => {
  const d = Array.from(t.data as ArrayLike<number>);
  return Array.from({ length: d.length / width }, (_, r) => d.slice(r * width, (r + 1) * width));
};

Deno.test("Im2Col: 2x2 window over NHWC, bottom/right padding reads the fill code", () => {
  // x[h][w][c] = (h·3 + w)·2 + c + 1, a 3x3 image of 2 channels holding 1..18.
  const x = tensor("i8", [1, 3, 3, 2], Array.from({ length: 18 }, (_, i) => i + 1));
  const [y] = runNode("lathe.Im2Col", [x], { kernel: [2, 2], strides: [1, 1], pads: [0, 0, 1, 1], fill: -5 });
  assert.deepEqual(y.shape, [9, 8]);
  const r = rows(y, 8);
  assert.deepEqual(r[0], [1, 2, 3, 4, 7, 8, 9, 10]); // (0,0): taps (0,0) (0,1) (1,0) (1,1)
  assert.deepEqual(r[5], [11, 12, -5, -5, 17, 18, -5, -5]); // (1,2): right column is outside
  assert.deepEqual(r[8], [17, 18, -5, -5, -5, -5, -5, -5]); // (2,2): only its own pixel is inside
});

Deno.test("Im2Col: stride 2, dilation 2 and top/left padding; the affine type passes through", () => {
  const t = q("u8", 0.5, 7);
  const x = tensor("u8", [1, 4, 4, 1], Array.from({ length: 16 }, (_, i) => i));
  const xq = new Tensor(t, x.shape, x.data);
  const [y] = runNode("lathe.Im2Col", [xq], {
    kernel: [2, 2],
    strides: [2, 2],
    dilations: [2, 2],
    pads: [1, 1, 0, 0],
    fill: 7,
  });
  // OH = floor((4 + 1 − 3) / 2) + 1 = 2; output (oy, ox) reads rows oy·2 − 1 + {0, 2}, cols ox·2 − 1 + {0, 2}.
  assert.deepEqual(y.shape, [4, 4]);
  assert.deepEqual(y.dtype, t);
  assert.deepEqual(rows(y, 4), [
    [7, 7, 7, 5], // rows −1, 1; cols −1, 1
    [7, 7, 5, 7], // rows −1, 1; cols 1, 3: x[1][1] = 5, x[1][3] = 7
    [7, 5, 7, 13], // rows 1, 3; cols −1, 1: x[1][1] = 5, x[3][1] = 13
    [5, 7, 13, 15], // rows 1, 3; cols 1, 3
  ]);
});

Deno.test("PadTo: a [3,5] matrix to row multiple 2 and column multiple 4 with the pad code", () => {
  const x = tensor("u8", [3, 5], Array.from({ length: 15 }, (_, i) => i + 1));
  const [y] = runNode("lathe.PadTo", [x], { row_multiple: 2, col_multiple: 4, value: 9 });
  assert.deepEqual(y.shape, [4, 8]);
  assert.deepEqual(rows(y, 8), [
    [1, 2, 3, 4, 5, 9, 9, 9],
    [6, 7, 8, 9, 10, 9, 9, 9],
    [11, 12, 13, 14, 15, 9, 9, 9],
    [9, 9, 9, 9, 9, 9, 9, 9],
  ]);
  // A rank-4 activation viewed as rows of `cols`.
  const [z] = runNode("lathe.PadTo", [tensor("i8", [1, 1, 2, 3], [1, -2, 3, 4, 5, -6])], {
    cols: 3,
    row_multiple: 1,
    col_multiple: 4,
  });
  assert.deepEqual(Array.from(z.data as Int8Array), [1, -2, 3, 0, 4, 5, -6, 0]);
});

Deno.test("ZeroPointSums: multiplier · row sum in int32", () => {
  const x = tensor("i8", [2, 3], [1, -2, 3, 127, 127, -128]);
  const [s] = runNode("lathe.ZeroPointSums", [x], { multiplier: -3 });
  assert.equal(s.dtype, "i32");
  assert.deepEqual(Array.from(s.data as Int32Array), [-6, -378]);
});

Deno.test("LaneInterleave: row r on lane r mod 4, four codes to a little-endian word, short lanes zero-filled", () => {
  const x = tensor("u8", [5, 4], Array.from({ length: 20 }, (_, i) => i));
  const [y] = runNode("lathe.LaneInterleave", [x], { lanes: 4 });
  assert.deepEqual(y.shape, [4, 2]);
  assert.deepEqual(Array.from(y.data as Uint32Array), [
    0x03020100,
    0x13121110, // lane 0: rows 0 and 4
    0x07060504,
    0, // lane 1: row 1
    0x0b0a0908,
    0,
    0x0f0e0d0c,
    0,
  ]);
  assert.throws(
    () => runNode("lathe.LaneInterleave", [tensor("u8", [2, 3], [1, 2, 3, 4, 5, 6])], { lanes: 4 }),
    LatheError,
  );
});

Deno.test("RequantizeF32: rint(f32(acc · scale)) + zp per last-axis channel, ties to even, saturating", () => {
  const acc = tensor("i32", [2, 4], [5, -5, 7, 3, 1000, -1000, 1, 0]);
  const scale = tensor("f32", [4], [0.5, 0.5, 0.5, 1 / 3]);
  const zp = tensor("i8", [], [10]);
  const [y] = runNode("lathe.RequantizeF32", [acc, scale, zp], {});
  // 2.5 → 2, −2.5 → −2, 3.5 → 4, f32(3 · f32(1/3)) = 1; 500 and −500 saturate; 0.5 → 0.
  assert.deepEqual(Array.from(y.data as Int8Array), [12, 8, 14, 11, 127, -128, 10, 10]);
});

Deno.test("inference: Im2Col and LaneInterleave shapes, and refusals of non-8-bit operands", () => {
  const b = new GraphBuilder();
  const x = b.input("x", q("i8", 0.1, 3), [1, 5, 5, 8]);
  const cols = b.op1("lathe.Im2Col", [x], { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], fill: 3 });
  const packed = b.op1("lathe.LaneInterleave", [cols], { lanes: 4 });
  const g = b.build([packed]);
  assert.equal(
    JSON.stringify(g.values[cols].type),
    JSON.stringify({ kind: "tensor", dtype: q("i8", 0.1, 3), shape: [9, 72] }),
  );
  assert.deepEqual((g.values[packed].type as TensorType).shape, [4, 3 * 18]);
  const f = new GraphBuilder();
  const y = f.input("y", "f32", [1, 2, 2, 1]);
  f.op1("lathe.Im2Col", [y], { kernel: [1, 1] });
  assert.throws(() => f.build([]), /8-bit codes/);
});
