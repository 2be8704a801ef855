/**
 * TFLite integer kernels: small cases computed by hand from TFLite's arithmetic (formats.md §2.5), then
 * single-op quantized models run through LiteRT and through Lathe on seeded inputs, bit for bit, then the
 * Coral MobileNet-SSD v2 (uint8, TOCO) up to its custom post-process.
 *
 * LiteRT runs on CPU with the XNNPACK delegate, which takes quantized convolutions, fully connected
 * layers, ADD/SUB/MUL and more, and requantizes them in float32 (round to nearest even) or with its own
 * fixed-point add, not with TFLite's double-rounding fixed point. Each LiteRT case names the arithmetic
 * its kernel follows there; every case also reports how far TFLite's default arithmetic is from LiteRT.
 */
import assert from "node:assert/strict";
import { importTflite } from "../compiler/tflite/import.ts";
import { readTflite } from "../compiler/tflite/reader.ts";
import type { TensorTypeName } from "../compiler/tflite/schema.ts";
import { writeTflite } from "../compiler/tflite/writer.ts";
import { encodeNpy } from "../compiler/npy.ts";
import { runModel } from "../compiler/run.ts";
import { GraphBuilder } from "../ir/builder.ts";
import type { AffineQuant, DType } from "../ir/dtype.ts";
import type { Graph } from "../ir/graph.ts";
import { windowAxis } from "../ir/ops/tflite-geometry.ts";
import { interpret } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { type IntegerArithmetic, setIntegerArithmetic } from "../runtime/tflite/requantize.ts";
import { liteRtLoadMessage, loadLiteRt, runLiteRt } from "./reference/litert.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { type TensorSpec, TfliteBuilder } from "./support/tflite-builder.ts";

// ---- hand-derived cases ------------------------------------------------------------------------------

const aff = (
  storage: AffineQuant["storage"],
  scale: number | number[],
  zp: number | number[],
  axis?: number,
): AffineQuant => ({
  kind: "affine",
  storage,
  scale: Array.isArray(scale) ? scale : [scale],
  zeroPoint: Array.isArray(zp) ? zp : [zp],
  ...(axis !== undefined ? { axis } : {}),
});

function typed(
  d: DType,
  values: number[],
): Int8Array | Uint8Array | Int16Array | Int32Array | Float32Array | BigInt64Array {
  const s = typeof d === "string" ? d : d.kind === "affine" ? d.storage : "f32";
  if (s === "i64") return BigInt64Array.from(values.map(BigInt));
  if (s === "i8") return Int8Array.from(values);
  if (s === "u8") return Uint8Array.from(values);
  if (s === "i16") return Int16Array.from(values);
  if (s === "i32") return Int32Array.from(values);
  return Float32Array.from(values);
}

interface Operand {
  dtype: DType;
  shape: number[];
  values: number[];
  /** A constant operand (filters, biases, shapes) rather than a graph input. */
  constant?: boolean;
}

/** Runs one tfl op on hand-made operands with a declared output type, in the given arithmetic. */
function run(
  op: string,
  operands: (Operand | null)[],
  out: { dtype: DType; shape: number[] },
  attrs: Record<string, number | string | number[]> = {},
  arithmetic: IntegerArithmetic = "double-rounding",
): number[] {
  const b = new GraphBuilder();
  const feeds: Record<string, Tensor> = {};
  const names = operands.map((o, i) => {
    if (!o) return null;
    if (o.constant) {
      const data = typed(o.dtype, o.values);
      return b.constant(`c${i}`, { dtype: o.dtype, shape: o.shape, bytes: new Uint8Array(data.buffer) });
    }
    feeds[`x${i}`] = new Tensor(o.dtype, o.shape, typed(o.dtype, o.values));
    return b.input(`x${i}`, o.dtype, o.shape);
  });
  const [y] = b.op(`tfl.${op}`, names, attrs, 1);
  const g = b.buildRaw([y]);
  const declared: Graph = {
    ...g,
    values: {
      ...g.values,
      [y]: { ...g.values[y], type: { kind: "tensor", dtype: out.dtype, shape: out.shape } },
    },
  };
  const prev = setIntegerArithmetic(arithmetic);
  try {
    const r = interpret(declared, feeds).outputs[y] as Tensor;
    assert.deepEqual([...r.shape], out.shape);
    return Array.from(r.data as Int8Array, Number);
  } finally {
    setIntegerArithmetic(prev);
  }
}

const CONV = { padding: "VALID", stride_w: 1, stride_h: 1, dilation_w_factor: 1, dilation_h_factor: 1 };

Deno.test("CONV_2D uint8: offsets, bias, the legacy float-product multiplier and RELU6", () => {
  // s_in·s_w = 0.5·0.25 = 0.125 exactly; /s_out 1.0 → multiplier 2^30, shift −2 (×0.125).
  const x = { dtype: aff("u8", 0.5, 10), shape: [1, 1, 2, 2], values: [12, 14, 10, 18] };
  const w = { dtype: aff("u8", 0.25, 100), shape: [2, 1, 1, 2], values: [104, 96, 100, 116], constant: true };
  const bias = { dtype: aff("i32", 0.125, 0), shape: [2], values: [4, -100], constant: true };
  // Pixel (2,4)−offsets: filter 0 (4,−4): 8−16 = −8 (+4 = −4); filter 1 (0,16): 64 (−100 = −36).
  // Pixel (0,8): filter 0: −32+4 = −28; filter 1: 128−100 = 28.
  // ×0.125 rounds −0.5 → −1 (away from zero), −4.5 → −5, −3.5 → −4, 3.5 → 4; + zp 3.
  const y = run("CONV_2D", [x, w, bias], { dtype: aff("u8", 1, 3), shape: [1, 1, 2, 2] }, CONV);
  assert.deepEqual(y, [2, 0, 0, 7]);
  // RELU6 on the same output: [zp + round(0/1), zp + round(6/1)] = [3, 9].
  const r = run("CONV_2D", [x, w, bias], { dtype: aff("u8", 1, 3), shape: [1, 1, 2, 2] }, {
    ...CONV,
    fused_activation_function: "RELU6",
  });
  assert.deepEqual(r, [3, 3, 3, 7]);
});

Deno.test("CONV_2D int8 per channel: SAME stride 2 puts the odd pixel at the end; the three arithmetics", () => {
  // 3×3 input of ones (zp −1 → code 0 means 1), 2×2 all-ones filter, SAME stride 2: out 2×2, total
  // padding 1, all of it after. Windows: rows {0,1}×cols {0,1} = 4 taps, {0,1}×{2} = 2, {2}×{0,1} = 2,
  // {2}×{2} = 1. Channel 0 scale 0.375 (acc·0.375), channel 1 scale 0.75.
  const x = { dtype: aff("i8", 1, -1), shape: [1, 3, 3, 1], values: new Array(9).fill(0) };
  const w = {
    dtype: aff("i8", [0.375, 0.75], [0, 0], 0),
    shape: [2, 2, 2, 1],
    values: [2, 2, 2, 2, 1, 1, 1, 1],
    constant: true,
  };
  const out = { dtype: aff("i8", 1, 0), shape: [1, 2, 2, 2] };
  const attrs = { ...CONV, padding: "SAME", stride_w: 2, stride_h: 2 };
  // Channel 0 sums 2·taps: 8, 4, 4, 2 → ×0.375 = 3, 1.5, 1.5, 0.75; channel 1 sums 4, 2, 2, 1 → ×0.75.
  // Double rounding of 1.5 via SRDHM (×0.75 = 3 exactly) then /2: 2; 0.75 → SRDHM(2, 0.75) = 1.5 → 2, /2 → 1.
  assert.deepEqual(run("CONV_2D", [x, w, null], out, attrs), [3, 3, 2, 2, 2, 2, 1, 1]);
  // Single rounding: 1.5 → 2, 0.75 → 1, 3 → 3; XNNPACK float, ties to even: 1.5 → 2, 0.75 → 1.
  assert.deepEqual(run("CONV_2D", [x, w, null], out, attrs, "single-rounding"), [3, 3, 2, 2, 2, 2, 1, 1]);
  assert.deepEqual(run("CONV_2D", [x, w, null], out, attrs, "xnnpack"), [3, 3, 2, 2, 2, 2, 1, 1]);
  // A sum of 6 at scale 0.375 separates them: double SRDHM(6, 0.75) = 4.5 → 5, 5/2 → 3; single 2.25 → 2.
  const x6 = { dtype: aff("i8", 1, 0), shape: [1, 1, 1, 1], values: [3] };
  const w6 = { dtype: aff("i8", [0.375], [0]), shape: [1, 1, 1, 1], values: [2], constant: true };
  const o1 = { dtype: aff("i8", 1, 0), shape: [1, 1, 1, 1] };
  assert.deepEqual(run("CONV_2D", [x6, w6, null], o1, CONV), [3]);
  assert.deepEqual(run("CONV_2D", [x6, w6, null], o1, CONV, "single-rounding"), [2]);
  assert.deepEqual(run("CONV_2D", [x6, w6, null], o1, CONV, "xnnpack"), [2]);
});

Deno.test("CONV_2D 16x8: int16 activations, int64 bias through the int64 MultiplyByQuantizedMultiplier", () => {
  // m = 2^-10 is multiplier 2^30 with shift −9; the int64 form rounds it to 2^14 and computes
  // (acc·2^14 + 2^23) >> 24, i.e. acc/1024 rounded half up.
  const x = { dtype: aff("i16", 1, 0), shape: [1, 1, 1, 1], values: [1000] };
  const w = { dtype: aff("i8", [2 ** -10], [0], 0), shape: [1, 1, 1, 1], values: [3], constant: true };
  const b = { dtype: "i64" as DType, shape: [1], values: [0], constant: true };
  const o = { dtype: aff("i16", 1, 0), shape: [1, 1, 1, 1] };
  // 3000 / 1024 = 2.93 → 3.
  assert.deepEqual(run("CONV_2D", [x, w, { ...b, values: [0] }], o, CONV), [3]);
  // Bias −5048: acc −2048 → (−2^25 + 2^23)/2^24 = −1.5 → floor −2; −5560: acc −2560 → −2.5 + 0.5 = −2.
  assert.deepEqual(run("CONV_2D", [x, w, { ...b, values: [-5048] }], o, CONV), [-2]);
  assert.deepEqual(run("CONV_2D", [x, w, { ...b, values: [-5560] }], o, CONV), [-2]);
});

Deno.test("DEPTHWISE_CONV_2D int8 with depth multiplier 2 and per-channel scales on axis 3", () => {
  // Input 1×1×2×2 (two pixels, 2 channels), filter 1×1×2×4 (KW 2): out channel c·2+m reads input c.
  const x = { dtype: aff("i8", 0.5, 0), shape: [1, 1, 2, 2], values: [2, 4, 6, 8] };
  const w = {
    dtype: aff("i8", [1, 1, 0.5, 0.5], [0, 0, 0, 0], 3),
    shape: [1, 1, 2, 4],
    values: [1, 2, 3, 4, 5, 6, 7, 8],
    constant: true,
  };
  const bias = {
    dtype: aff("i32", [0.5, 0.5, 0.25, 0.25], [0, 0, 0, 0], 0),
    shape: [4],
    values: [1, 0, 0, -2],
    constant: true,
  };
  // Sums over the two pixels: ch0·{1,5} → 2+30 = 32 (+1 = 33); ch0·{2,6}: 4+36 = 40; ch1·{3,7}: 12+56 = 68;
  // ch1·{4,8}: 16+64 = 80 (−2 = 78). Scales 0.5·{1,1,0.5,0.5}/1: 16.5 → 17, 20, 17, 19.5 → 20.
  const y = run("DEPTHWISE_CONV_2D", [x, w, bias], { dtype: aff("i8", 1, 0), shape: [1, 1, 1, 4] }, {
    ...CONV,
    depth_multiplier: 2,
  });
  assert.deepEqual(y, [17, 20, 17, 20]);
});

Deno.test("FULLY_CONNECTED uint8 subtracts both zero points; keep_num_dims keeps the leading dims", () => {
  const x = { dtype: aff("u8", 1, 128), shape: [1, 2, 3], values: [129, 130, 131, 127, 126, 125] };
  const w = {
    dtype: aff("u8", 0.5, 120),
    shape: [2, 3],
    values: [121, 122, 123, 118, 120, 122],
    constant: true,
  };
  // Offsets: rows (1,2,3), (−1,−2,−3); weights (1,2,3), (−2,0,2). Dots: 14, 4; −14, −4. ×0.5 → 7, 2, −7, −2.
  const y = run("FULLY_CONNECTED", [x, w, null], { dtype: aff("u8", 1, 100), shape: [1, 2, 2] }, {
    keep_num_dims: 1,
  });
  assert.deepEqual(y, [107, 102, 93, 98]);
});

Deno.test("ADD int8: inputs shifted left by 20, rescaled to twice the larger scale; ties away from zero", () => {
  // 10·0.5 + 3·0.25 = 5.75 → /0.5 = 11.5 → 12; the negated inputs give −11.5 → −12.
  const x = { dtype: aff("i8", 0.5, 0), shape: [2], values: [10, -10] };
  const y = { dtype: aff("i8", 0.25, 0), shape: [2], values: [3, -3] };
  assert.deepEqual(run("ADD", [x, y], { dtype: aff("i8", 0.5, 5), shape: [2] }), [17, -7]);
  // SUB: 5 − 0.75 = 4.25 → 8.5 → 9 and −5 − 0.75 → −11.5 → −12, broadcasting a one-element y.
  const y1 = { dtype: aff("i8", 0.25, 0), shape: [1], values: [3] };
  assert.deepEqual(run("SUB", [x, y1], { dtype: aff("i8", 0.5, 0), shape: [2] }), [9, -12]);
});

Deno.test("MUL: SRDHM rounds ties up (TFLite), XNNPACK's float rounds them to even", () => {
  // 0.5·0.5/0.5 = 0.5: multiplier 2^30, shift 0, so the product is halved by SRDHM: 7.5 → 8, −7.5 → −7.
  const a = { dtype: aff("i8", 0.5, 0), shape: [2], values: [3, -3] };
  const b = { dtype: aff("i8", 0.5, 0), shape: [2], values: [5, 5] };
  const out = { dtype: aff("i8", 0.5, 0), shape: [2] };
  assert.deepEqual(run("MUL", [a, b], out), [8, -7]);
  assert.deepEqual(run("MUL", [a, b], out, {}, "xnnpack"), [8, -8]);
});

Deno.test("ADD int16 with power-of-two scales: one input rounded right, a saturating int16 sum", () => {
  // s1 = 2^-12, s2 = s_out = 2^-10: x1 is divided by 4 (6 → 1.5 → 2, −6 → −1.5 → −2), x2 kept.
  const a = { dtype: aff("i16", 2 ** -12, 0), shape: [3], values: [6, -6, 32767] };
  const b = { dtype: aff("i16", 2 ** -10, 0), shape: [3], values: [1, 1, 32767] };
  assert.deepEqual(
    run("ADD", [a, b], { dtype: aff("i16", 2 ** -10, 0), shape: [3] }, { pot_scale_int16: 1 }),
    [3, -1, 32767],
  );
});

Deno.test("AVERAGE_POOL_2D and MAX_POOL_2D int8: SAME windows shrink at the end, averages round away", () => {
  const x = { dtype: aff("i8", 1, 0), shape: [1, 3, 3, 1], values: [1, 2, -3, 4, 6, -6, -1, -2, 7] };
  const pool = { padding: "SAME", stride_w: 2, stride_h: 2, filter_width: 2, filter_height: 2 };
  const out = { dtype: aff("i8", 1, 0), shape: [1, 2, 2, 1] };
  // Windows {1,2,4,6}, {−3,−6}, {−1,−2}, {7}: 13/4 → 3, −9/2 → −5, −3/2 → −2, 7.
  assert.deepEqual(run("AVERAGE_POOL_2D", [x], out, pool), [3, -5, -2, 7]);
  assert.deepEqual(run("MAX_POOL_2D", [x], out, pool), [6, -3, -1, 7]);
  assert.deepEqual(run("MAX_POOL_2D", [x], out, { ...pool, fused_activation_function: "RELU" }), [
    6,
    0,
    0,
    7,
  ]);
});

Deno.test("MEAN int8: 1/count folded into the multiplier; XNNPACK's float rounds the tie to even", () => {
  const axes = { dtype: "i32" as DType, shape: [1], values: [1], constant: true };
  const x = { dtype: aff("i8", 0.5, 2), shape: [2, 4], values: [3, 4, 5, 6, 1, 0, -1, -2] };
  // Offsets (1,2,3,4) and (−1,−2,−3,−4): means ±2.5 → ±3 (RoundingDivideByPOT), zp 1 added.
  const out = { dtype: aff("i8", 0.5, 1), shape: [2] };
  assert.deepEqual(run("MEAN", [x, axes], out, { keep_dims: 0 }), [4, -2]);
  // XNNPACK: 10·0.25 = 2.5 → 2, −2.5 → −2.
  assert.deepEqual(run("MEAN", [x, axes], out, { keep_dims: 0 }, "xnnpack"), [3, -1]);
});

Deno.test("SOFTMAX 8-bit: uniform rows give 1/n, a dominant entry saturates", () => {
  const out8 = (n: number) => ({ dtype: aff("i8", 1 / 256, -128), shape: [1, n] });
  // 1/4 of 256 = 64 → −64 with zp −128.
  assert.deepEqual(
    run("SOFTMAX", [{ dtype: aff("i8", 0.1, 0), shape: [1, 4], values: [5, 5, 5, 5] }], out8(4), { beta: 1 }),
    [-64, -64, -64, -64],
  );
  // e^−100 is nothing next to 1: 256 → 127, 0 → −128; uint8 output truncates p + 0.5: 256 → 255.
  assert.deepEqual(
    run("SOFTMAX", [{ dtype: aff("i8", 1, 0), shape: [1, 2], values: [0, -100] }], out8(2), { beta: 1 }),
    [127, -128],
  );
  const u = run("SOFTMAX", [{ dtype: aff("u8", 1, 0), shape: [1, 2], values: [200, 100] }], {
    dtype: aff("u8", 1 / 256, 0),
    shape: [1, 2],
  }, { beta: 1 });
  assert.deepEqual(u, [255, 0]);
});

Deno.test("LOGISTIC and TANH int8 through their 256-entry tables", () => {
  // Input 1/16: codes 0, 16 (x = 1), −16, 127 (7.94), −128 (−8); σ·256 − 128 rounded: 0, 59, −59, 127, −128.
  const x = { dtype: aff("i8", 1 / 16, 0), shape: [5], values: [0, 16, -16, 127, -128] };
  assert.deepEqual(run("LOGISTIC", [x], { dtype: aff("i8", 1 / 256, -128), shape: [5] }), [
    0,
    59,
    -59,
    127,
    -128,
  ]);
  // Input 1/32: tanh(1)·128 = 97.5 − 0.02 → 97; tanh(3.97)·128 → 127.9 → 128 → 127.
  const t = { dtype: aff("i8", 1 / 32, 0), shape: [4], values: [0, 32, -32, 127] };
  assert.deepEqual(run("TANH", [t], { dtype: aff("i8", 1 / 128, 0), shape: [4] }), [0, 97, -97, 127]);
});

Deno.test("CONCATENATION uint8 requantizes an input whose scale differs, rounding half away", () => {
  // 13·0.5 − 10·0.5 = 1.5 → 2; 10 → 0; 0 → −5 → clamped to 0; the second input is copied.
  const a = { dtype: aff("u8", 0.5, 10), shape: [1, 3], values: [13, 10, 0] };
  const b = { dtype: aff("u8", 1, 0), shape: [1, 2], values: [7, 250] };
  assert.deepEqual(run("CONCATENATION", [a, b], { dtype: aff("u8", 1, 0), shape: [1, 5] }, { axis: 1 }), [
    2,
    0,
    0,
    7,
    250,
  ]);
});

Deno.test("QUANTIZE rounds half away from zero and clamps; int→int rescales; DEQUANTIZE per channel", () => {
  const f = { dtype: "f32" as DType, shape: [6], values: [0.25, -0.25, 0.75, -0.75, 100, -100] };
  assert.deepEqual(run("QUANTIZE", [f], { dtype: aff("i8", 0.5, 1), shape: [6] }), [2, 0, 3, -1, 127, -128]);
  // Scale 1 → 2: SRDHM halves with ties up: 0.5 → 1, 1.5 → 2, −0.5 → 0, −1.5 → −1, 2.5 → 3.
  const q = { dtype: aff("i8", 1, 0), shape: [5], values: [1, 3, -1, -3, 5] };
  assert.deepEqual(run("QUANTIZE", [q], { dtype: aff("i8", 2, 0), shape: [5] }), [1, 2, 0, -1, 3]);
  const d = { dtype: aff("i8", [0.5, 0.25], [0, 2], 1), shape: [2, 2], values: [2, 6, -2, 2] };
  assert.deepEqual(run("DEQUANTIZE", [d], { dtype: "f32", shape: [2, 2] }), [1, 1, -1, 0]);
});

Deno.test("RELU and RELU6 int8 rescale to the output, then clamp in its domain", () => {
  // ×0.5 (multiplier 2^30, shift 0): −4 → −2, 3 → 2, 5 → 3, 100 → 50; zp −128; RELU6 tops out at −122.
  const x = { dtype: aff("i8", 0.5, 0), shape: [4], values: [-4, 3, 5, 100] };
  const out = { dtype: aff("i8", 1, -128), shape: [4] };
  assert.deepEqual(run("RELU", [x], out), [-128, -126, -125, -78]);
  assert.deepEqual(run("RELU6", [x], out), [-128, -126, -125, -122]);
});

Deno.test("TRANSPOSE_CONV int8: output shape from operand 0, SAME padding with the odd pixel at the end", () => {
  // 2 input pixels, 3-tap filter, stride 2, output 4: forward SAME padding of 1 goes after, so nothing is
  // cut before: [1·3, 1·4, 1·5 + 2·3, 2·4] and 2·5 falls off the end.
  const shape = { dtype: "i32" as DType, shape: [4], values: [1, 4, 1, 1], constant: true };
  const w = { dtype: aff("i8", [1], [0], 0), shape: [1, 3, 1, 1], values: [3, 4, 5], constant: true };
  const x = { dtype: aff("i8", 1, 0), shape: [1, 2, 1, 1], values: [1, 2] };
  const y = run("TRANSPOSE_CONV", [shape, w, x, null], { dtype: aff("i8", 1, 0), shape: [1, 4, 1, 1] }, {
    padding: "SAME",
    stride_w: 1,
    stride_h: 2,
  });
  assert.deepEqual(y, [3, 4, 11, 8]);
});

// ---- single-op models through LiteRT -----------------------------------------------------------------

const liteRt = await loadLiteRt();
if (!liteRt) console.log(`tflite-int-kernels: LiteRT comparisons skipped: ${liteRtLoadMessage()}`);

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Q = "UINT8" | "INT8" | "INT16";
const RANGE: Record<Q, [number, number]> = { UINT8: [0, 255], INT8: [-128, 127], INT16: [-32768, 32767] };

/** A quantized tensor spec; per-channel when `scale` has several entries. */
const q = (
  type: TensorTypeName,
  shape: number[],
  scale: number | number[],
  zp: number | number[] = 0,
  axis?: number,
): TensorSpec => {
  const s = Array.isArray(scale) ? scale : [scale];
  return {
    type,
    shape,
    scale: s,
    zeroPoint: Array.isArray(zp) ? zp : s.map(() => zp),
    ...(axis !== undefined ? { axis } : {}),
  };
};

interface Ctx {
  b: TfliteBuilder;
  ins: number[];
  outs: number[];
  r: () => number;
}

/** Random codes over a storage type's range (a narrower range for int16 keeps sums moderate). */
function codes(ctx: Ctx, type: TensorTypeName, n: number, lo?: number, hi?: number): number[] {
  const [a, b] = type === "INT32" ? [-3000, 3000] : RANGE[type as Q];
  const l = lo ?? a, h = hi ?? b;
  return Array.from({ length: n }, () => l + Math.floor(ctx.r() * (h - l + 1)));
}

function constant(ctx: Ctx, spec: TensorSpec, values: number[]): number {
  const data = spec.type === "INT8"
    ? Int8Array.from(values)
    : spec.type === "UINT8"
    ? Uint8Array.from(values)
    : spec.type === "INT16"
    ? Int16Array.from(values)
    : spec.type === "INT64"
    ? BigInt64Array.from(values.map(BigInt))
    : Int32Array.from(values);
  return ctx.b.tensor(spec, data);
}

const numel = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

interface LiteCase {
  name: string;
  /** The arithmetic LiteRT's kernel for this op follows (XNNPACK where the delegate takes it). */
  arithmetic: IntegerArithmetic;
  build(ctx: Ctx): void;
}

type Options = Record<string, number | string | boolean>;
const RELU = { fused_activation_function: "RELU" };
const RELU6 = { fused_activation_function: "RELU6" };
const S2 = { stride_w: 2, stride_h: 2 };
const DILATED = { padding: "VALID", dilation_w_factor: 2, dilation_h_factor: 2 };

/** Output height and width of a window op, by TFLite's padding rules. */
function spatial(x: number[], k: [number, number], o: Options): [number, number] {
  const pad = String(o.padding ?? "SAME"), sh = Number(o.stride_h ?? 1), sw = Number(o.stride_w ?? 1);
  const dh = Number(o.dilation_h_factor ?? 1), dw = Number(o.dilation_w_factor ?? 1);
  return [windowAxis(pad, x[1], k[0], sh, dh).out, windowAxis(pad, x[2], k[1], sw, dw).out];
}

/** Per-channel scales that differ channel to channel, or one scale. */
const scales = (n: number, base: number, step: number, perChannel: boolean) =>
  perChannel ? Array.from({ length: n }, (_, i) => base + step * i) : [base];

const zp = (t: Q, u8: number, i8: number) => (t === "UINT8" ? u8 : t === "INT8" ? i8 : 0);
const filterType = (t: Q): TensorTypeName => (t === "UINT8" ? "UINT8" : "INT8");
const biasType = (t: Q): TensorTypeName => (t === "INT16" ? "INT64" : "INT32");
/** Filter codes: full uint8 range, symmetric [−127, 127] for int8. */
const filterCodes = (c: Ctx, t: Q, n: number) => codes(c, filterType(t), n, t === "UINT8" ? 0 : -127);

function conv(
  name: string,
  arithmetic: IntegerArithmetic,
  t: Q,
  x: number[],
  w: number[],
  options: Options,
  perChannel: boolean,
): LiteCase {
  return {
    name,
    arithmetic,
    build(c) {
      const sIn = 0.0213, O = w[0];
      const ws = scales(O, 0.004, 0.0011, perChannel);
      const xi = c.b.input(q(t, x, sIn, zp(t, 117, -11)), c.ins);
      const wi = constant(c, q(filterType(t), w, ws, zp(t, 141, 0), 0), filterCodes(c, t, numel(w)));
      const bi = constant(c, q(biasType(t), [O], ws.map((s) => sIn * s), 0, 0), codes(c, "INT32", O));
      const all = { padding: "SAME", stride_w: 1, stride_h: 1, ...options };
      const [oh, ow] = spatial(x, [w[1], w[2]], all);
      const yi = c.b.output(q(t, [x[0], oh, ow, O], t === "INT16" ? 0.0421 : 0.0917, zp(t, 131, 3)), c.outs);
      c.b.op("CONV_2D", [xi, wi, bi], [yi], all, t === "INT16" ? 4 : 3);
    },
  };
}

function depthwise(
  name: string,
  t: Q,
  x: number[],
  mult: number,
  options: Options,
  filterAxis = t === "UINT8" ? 0 : 3,
): LiteCase {
  return {
    name,
    // LiteRT's XNNPACK delegate declines a per-tensor uint8 filter whose quantized_dimension is 3, and
    // TFLite's own kernel runs.
    arithmetic: t === "INT16" || (t === "UINT8" && filterAxis !== 0) ? "double-rounding" : "xnnpack",
    build(c) {
      const OC = x[3] * mult, sIn = 0.031, w = [1, 3, 3, OC];
      const ws = scales(OC, t === "UINT8" ? 0.017 : 0.01, 0.002, t !== "UINT8");
      const xi = c.b.input(q(t, x, sIn, zp(t, 120, 5)), c.ins);
      const wi = constant(c, q(filterType(t), w, ws, zp(t, 151, 0), filterAxis), filterCodes(c, t, numel(w)));
      const bi = constant(c, q(biasType(t), [OC], ws.map((s) => sIn * s), 0, 0), codes(c, "INT32", OC));
      const all = { padding: "SAME", stride_w: 1, stride_h: 1, depth_multiplier: mult, ...options };
      const [oh, ow] = spatial(x, [3, 3], all);
      const yi = c.b.output(q(t, [x[0], oh, ow, OC], 0.0713, zp(t, 100, -7)), c.outs);
      c.b.op("DEPTHWISE_CONV_2D", [xi, wi, bi], [yi], all, t === "INT16" ? 5 : 3);
    },
  };
}

function fullyConnected(
  name: string,
  t: Q,
  x: number[],
  units: number,
  perChannel: boolean,
  options: Options,
): LiteCase {
  return {
    name,
    arithmetic: t === "INT16" ? "double-rounding" : "xnnpack",
    build(c) {
      const K = x[x.length - 1], sIn = 0.027;
      const ws = scales(units, 0.003, 0.0007, perChannel);
      const xi = c.b.input(q(t, x, sIn, zp(t, 128, -3)), c.ins);
      const wi = constant(
        c,
        q(filterType(t), [units, K], ws, zp(t, 119, 0), 0),
        filterCodes(c, t, units * K),
      );
      const bi = constant(c, q(biasType(t), [units], ws.map((s) => sIn * s), 0, 0), codes(c, "INT32", units));
      const out = options.keep_num_dims ? [...x.slice(0, -1), units] : [numel(x) / K, units];
      const yi = c.b.output(q(t, out, 0.19, zp(t, 140, 9)), c.outs);
      c.b.op("FULLY_CONNECTED", [xi, wi, bi], [yi], options, t === "INT16" ? 7 : 4);
    },
  };
}

function transposeConv(
  name: string,
  t: Q,
  x: number[],
  w: number[],
  stride: number,
  padding: string,
  hw: number[],
): LiteCase {
  return {
    name,
    arithmetic: t === "INT16" ? "double-rounding" : "xnnpack",
    build(c) {
      const O = w[0], sIn = 0.043, out = [x[0], hw[0], hw[1], O];
      const ws = scales(O, t === "UINT8" ? 0.0091 : 0.005, 0.001, t !== "UINT8");
      const shape = constant(c, { type: "INT32", shape: [4] }, out);
      const wi = constant(c, q(filterType(t), w, ws, zp(t, 133, 0), 0), filterCodes(c, t, numel(w)));
      const xi = c.b.input(q(t, x, sIn, zp(t, 125, 0)), c.ins);
      const bi = constant(c, q(biasType(t), [O], ws.map((s) => sIn * s), 0, 0), codes(c, "INT32", O));
      const yi = c.b.output(q(t, out, 0.11, zp(t, 127, -1)), c.outs);
      const options = { padding, stride_w: stride, stride_h: stride };
      c.b.op("TRANSPOSE_CONV", [shape, wi, xi, bi], [yi], options, t === "INT16" ? 3 : 4);
    },
  };
}

/** One quantized input, one quantized output, options; `version` for ops LiteRT gates by version. */
function unary(
  name: string,
  arithmetic: IntegerArithmetic,
  op: string,
  input: TensorSpec,
  output: TensorSpec,
  options: Options | null = null,
  extra: (c: Ctx) => number[] = () => [],
  version = 1,
): LiteCase {
  return {
    name,
    arithmetic,
    build(c) {
      const xi = c.b.input(input, c.ins);
      const more = extra(c);
      const yi = c.b.output(output, c.outs);
      c.b.op(op, [xi, ...more], [yi], options, version);
    },
  };
}

/** Two inputs of one type broadcast together; `sz` lists scale and zero point of x, y and the output. */
function elementwise(
  name: string,
  arithmetic: IntegerArithmetic,
  op: string,
  t: Q,
  a: number[],
  b: number[],
  sz: number[],
  options: Options | null = null,
  version = 1,
): LiteCase {
  const out = a.length >= b.length ? a : b;
  return {
    name,
    arithmetic,
    build(c) {
      const ai = c.b.input(q(t, a, sz[0], sz[1]), c.ins), bi = c.b.input(q(t, b, sz[2], sz[3]), c.ins);
      const yi = c.b.output(q(t, out, sz[4], sz[5]), c.outs);
      c.b.op(op, [ai, bi], [yi], options, version);
    },
  };
}

function pool(
  name: string,
  op: string,
  t: Q,
  x: number[],
  k: number,
  padding: string,
  out: number[],
  options: Options,
  version = 1,
) {
  const all = { padding, stride_w: 2, stride_h: 2, filter_width: k, filter_height: k, ...options };
  const s = t === "UINT8" ? 0.1 : 0.07, z = zp(t, 120, -20);
  return unary(name, "double-rounding", op, q(t, x, s, z), q(t, out, s, z), all, undefined, version);
}

const ints = (c: Ctx, values: number[]) => constant(c, { type: "INT32", shape: [values.length] }, values);

const CASES: LiteCase[] = [
  conv("CONV_2D uint8 3×3 SAME RELU6", "xnnpack", "UINT8", [1, 24, 20, 8], [16, 3, 3, 8], RELU6, false),
  conv(
    "CONV_2D int8 per-channel 3×3 SAME stride 2",
    "xnnpack",
    "INT8",
    [1, 33, 31, 12],
    [20, 3, 3, 12],
    S2,
    true,
  ),
  conv("CONV_2D int8 per-channel 1×1", "xnnpack", "INT8", [2, 20, 20, 32], [48, 1, 1, 32], RELU, true),
  conv("CONV_2D int8 dilated VALID", "xnnpack", "INT8", [1, 25, 25, 6], [10, 3, 3, 6], DILATED, true),
  conv("CONV_2D 16x8 3×3 SAME", "double-rounding", "INT16", [1, 16, 15, 8], [12, 3, 3, 8], {}, true),
  depthwise("DEPTHWISE_CONV_2D uint8 3×3 SAME", "UINT8", [1, 24, 22, 16], 1, {}),
  depthwise(
    "DEPTHWISE_CONV_2D uint8, filter quantized_dimension 3 (TFLite's kernel)",
    "UINT8",
    [1, 20, 20, 8],
    1,
    {},
    3,
  ),
  depthwise("DEPTHWISE_CONV_2D int8 per-channel multiplier 2 stride 2 RELU6", "INT8", [1, 25, 25, 12], 2, {
    ...S2,
    ...RELU6,
  }),
  depthwise("DEPTHWISE_CONV_2D 16x8", "INT16", [1, 15, 16, 8], 1, {}),
  fullyConnected("FULLY_CONNECTED uint8", "UINT8", [30, 64], 40, false, {}),
  fullyConnected("FULLY_CONNECTED int8 keep_num_dims RELU", "INT8", [4, 10, 48], 30, false, {
    keep_num_dims: true,
    ...RELU,
  }),
  fullyConnected("FULLY_CONNECTED int8 per-channel", "INT8", [40, 48], 27, true, {}),
  fullyConnected("FULLY_CONNECTED 16x8", "INT16", [16, 64], 48, false, {}),
  transposeConv(
    "TRANSPOSE_CONV int8 per-channel stride 2 SAME",
    "INT8",
    [1, 8, 9, 6],
    [10, 3, 3, 6],
    2,
    "SAME",
    [16, 18],
  ),
  transposeConv("TRANSPOSE_CONV uint8 stride 2 VALID", "UINT8", [1, 7, 7, 4], [6, 3, 3, 4], 2, "VALID", [
    15,
    15,
  ]),
  transposeConv("TRANSPOSE_CONV 16x8", "INT16", [1, 6, 7, 4], [5, 3, 3, 4], 1, "SAME", [6, 7]),
  elementwise("ADD uint8", "xnnpack", "ADD", "UINT8", [4, 20, 20, 8], [4, 20, 20, 8], [
    0.35,
    141,
    0.21,
    123,
    0.37,
    134,
  ]),
  elementwise("ADD int8 broadcast RELU6", "xnnpack", "ADD", "INT8", [4, 10, 12, 8], [1, 1, 12, 8], [
    0.05,
    -3,
    0.031,
    10,
    0.04,
    -128,
  ], RELU6),
  elementwise("SUB int8", "xnnpack", "SUB", "INT8", [30, 40], [30, 40], [0.07, 2, 0.05, -9, 0.1, 1], null, 2),
  elementwise("SUB uint8 broadcast", "xnnpack", "SUB", "UINT8", [40, 30], [30], [
    0.07,
    120,
    0.05,
    130,
    0.1,
    128,
  ]),
  elementwise(
    "MUL int8",
    "xnnpack",
    "MUL",
    "INT8",
    [30, 40],
    [30, 40],
    [0.05, 3, 0.04, -2, 0.02, 0],
    null,
    2,
  ),
  elementwise("MUL uint8 broadcast RELU", "xnnpack", "MUL", "UINT8", [10, 12, 16], [16], [
    0.05,
    130,
    0.04,
    120,
    0.03,
    110,
  ], RELU),
  elementwise(
    "ADD int16 general scales",
    "double-rounding",
    "ADD",
    "INT16",
    [8, 50],
    [8, 50],
    [0.0007, 0, 0.0003, 0, 0.0009, 0],
    { pot_scale_int16: false },
    3,
  ),
  elementwise(
    "ADD int16 power-of-two scales",
    "double-rounding",
    "ADD",
    "INT16",
    [8, 50],
    [8, 50],
    [2 ** -12, 0, 2 ** -10, 0, 2 ** -10, 0],
    { pot_scale_int16: true },
    3,
  ),
  elementwise(
    "SUB int16 general scales",
    "double-rounding",
    "SUB",
    "INT16",
    [8, 50],
    [8, 50],
    [0.0007, 0, 0.0003, 0, 0.0009, 0],
    { pot_scale_int16: false },
    3,
  ),
  elementwise(
    "MUL int16",
    "double-rounding",
    "MUL",
    "INT16",
    [8, 50],
    [8, 50],
    [0.0007, 0, 0.0003, 0, 0.00001, 0],
    null,
    4,
  ),
  pool("AVERAGE_POOL_2D uint8 3×3 SAME stride 2", "AVERAGE_POOL_2D", "UINT8", [1, 19, 18, 8], 3, "SAME", [
    1,
    10,
    9,
    8,
  ], {}),
  pool(
    "AVERAGE_POOL_2D int8 2×2 VALID RELU",
    "AVERAGE_POOL_2D",
    "INT8",
    [2, 12, 12, 6],
    2,
    "VALID",
    [2, 6, 6, 6],
    RELU,
    2,
  ),
  pool("MAX_POOL_2D int8 3×3 SAME", "MAX_POOL_2D", "INT8", [1, 15, 15, 8], 3, "SAME", [1, 8, 8, 8], {}, 2),
  pool("MAX_POOL_2D uint8 RELU6", "MAX_POOL_2D", "UINT8", [1, 12, 12, 8], 2, "VALID", [1, 6, 6, 8], RELU6),
  unary(
    "MEAN int8 over H, W keep_dims",
    "xnnpack",
    "MEAN",
    q("INT8", [16, 6, 7, 32], 0.08, -4),
    q("INT8", [16, 1, 1, 32], 0.03, 2),
    { keep_dims: true },
    (c) => [ints(c, [1, 2])],
    2,
  ),
  unary(
    "MEAN uint8 over the last axis",
    "xnnpack",
    "MEAN",
    q("UINT8", [30, 40, 9], 0.08, 128),
    q("UINT8", [30, 40], 0.05, 120),
    { keep_dims: false },
    (c) => [ints(c, [2])],
  ),
  unary(
    "SOFTMAX uint8",
    "double-rounding",
    "SOFTMAX",
    q("UINT8", [5, 17], 0.07, 128),
    q("UINT8", [5, 17], 1 / 256, 0),
    { beta: 1 },
  ),
  unary(
    "SOFTMAX int8 beta 0.7",
    "double-rounding",
    "SOFTMAX",
    q("INT8", [4, 33], 0.05, -2),
    q("INT8", [4, 33], 1 / 256, -128),
    { beta: 0.7 },
    undefined,
    2,
  ),
  unary(
    "SOFTMAX int16",
    "double-rounding",
    "SOFTMAX",
    q("INT16", [3, 20], 0.0005, 0),
    q("INT16", [3, 20], 1 / 32768, 0),
    { beta: 1 },
    undefined,
    3,
  ),
  unary(
    "LOGISTIC uint8",
    "double-rounding",
    "LOGISTIC",
    q("UINT8", [6, 50], 0.05, 128),
    q("UINT8", [6, 50], 1 / 256, 0),
  ),
  unary(
    "LOGISTIC int8",
    "double-rounding",
    "LOGISTIC",
    q("INT8", [6, 50], 0.06, -5),
    q("INT8", [6, 50], 1 / 256, -128),
    null,
    undefined,
    2,
  ),
  unary(
    "LOGISTIC int16",
    "double-rounding",
    "LOGISTIC",
    q("INT16", [6, 50], 2 ** -12, 0),
    q("INT16", [6, 50], 2 ** -15, 0),
    null,
    undefined,
    3,
  ),
  unary(
    "TANH uint8",
    "double-rounding",
    "TANH",
    q("UINT8", [6, 50], 0.03, 128),
    q("UINT8", [6, 50], 1 / 128, 128),
  ),
  unary(
    "TANH int8",
    "double-rounding",
    "TANH",
    q("INT8", [6, 50], 0.04, 3),
    q("INT8", [6, 50], 1 / 128, 0),
    null,
    undefined,
    2,
  ),
  unary(
    "TANH int16",
    "double-rounding",
    "TANH",
    q("INT16", [6, 50], 2 ** -12, 0),
    q("INT16", [6, 50], 2 ** -15, 0),
    null,
    undefined,
    3,
  ),
  unary(
    "TANH int16 input scale 2^-11",
    "double-rounding",
    "TANH",
    q("INT16", [6, 50], 2 ** -11, 0),
    q("INT16", [6, 50], 2 ** -15, 0),
    null,
    undefined,
    3,
  ),
  unary(
    "HARD_SWISH int8",
    "double-rounding",
    "HARD_SWISH",
    q("INT8", [4, 64], 0.05, 7),
    q("INT8", [4, 64], 0.04, -30),
  ),
  unary(
    "HARD_SWISH uint8",
    "double-rounding",
    "HARD_SWISH",
    q("UINT8", [4, 64], 0.08, 128),
    q("UINT8", [4, 64], 0.05, 30),
  ),
  unary(
    "RELU int8 rescaled",
    "double-rounding",
    "RELU",
    q("INT8", [4, 64], 0.05, 7),
    q("INT8", [4, 64], 0.03, -128),
    null,
    undefined,
    2,
  ),
  unary(
    "RELU6 uint8 rescaled",
    "double-rounding",
    "RELU6",
    q("UINT8", [4, 64], 0.05, 120),
    q("UINT8", [4, 64], 0.025, 0),
  ),
  unary(
    "RELU_N1_TO_1 int8",
    "double-rounding",
    "RELU_N1_TO_1",
    q("INT8", [4, 64], 0.02, 0),
    q("INT8", [4, 64], 1 / 127, 0),
  ),
  unary(
    "QUANTIZE int8 → int8 rescale",
    "double-rounding",
    "QUANTIZE",
    q("INT8", [4, 64], 0.05, 7),
    q("INT8", [4, 64], 0.037, -3),
    null,
    undefined,
    2,
  ),
  unary(
    "QUANTIZE uint8 → int8 rescale",
    "double-rounding",
    "QUANTIZE",
    q("UINT8", [4, 64], 0.05, 130),
    q("INT8", [4, 64], 0.07, 0),
    null,
    undefined,
    2,
  ),
  unary(
    "QUANTIZE int16 → int8",
    "double-rounding",
    "QUANTIZE",
    q("INT16", [4, 64], 0.0005, 0),
    q("INT8", [4, 64], 0.05, -4),
    null,
    undefined,
    3,
  ),
  unary(
    "QUANTIZE float32 → int8",
    "double-rounding",
    "QUANTIZE",
    { type: "FLOAT32", shape: [4, 64] },
    q("INT8", [4, 64], 0.05, -7),
    null,
    undefined,
    2,
  ),
  unary(
    "QUANTIZE float32 → uint8",
    "double-rounding",
    "QUANTIZE",
    { type: "FLOAT32", shape: [4, 64] },
    q("UINT8", [4, 64], 0.03, 120),
  ),
  unary(
    "DEQUANTIZE int8",
    "double-rounding",
    "DEQUANTIZE",
    q("INT8", [4, 64], 0.05, 7),
    { type: "FLOAT32", shape: [4, 64] },
    null,
    undefined,
    2,
  ),
  unary(
    "RESHAPE int8",
    "double-rounding",
    "RESHAPE",
    q("INT8", [2, 3, 4], 0.05, 7),
    q("INT8", [6, 4], 0.05, 7),
    null,
    (c) => [ints(c, [6, 4])],
  ),
  unary(
    "PAD int8 with the zero point",
    "double-rounding",
    "PAD",
    q("INT8", [1, 3, 4, 2], 0.05, 7),
    q("INT8", [1, 5, 7, 2], 0.05, 7),
    null,
    (c) => [constant(c, { type: "INT32", shape: [4, 2] }, [0, 0, 1, 1, 2, 1, 0, 0])],
    2,
  ),
  {
    name: "CONCATENATION uint8 with differing scales",
    arithmetic: "double-rounding",
    build(c) {
      const a = c.b.input(q("UINT8", [2, 3, 4], 0.09, 179), c.ins);
      const b = c.b.input(q("UINT8", [2, 5, 4], 0.0377, 148), c.ins);
      const d = c.b.input(q("UINT8", [2, 2, 4], 0.0297, 128), c.ins);
      const y = c.b.output(q("UINT8", [2, 10, 4], 0.09, 179), c.outs);
      c.b.op("CONCATENATION", [a, b, d], [y], { axis: 1, fused_activation_function: "NONE" });
    },
  },
  {
    name: "CONCATENATION int8 last axis",
    arithmetic: "double-rounding",
    build(c) {
      const a = c.b.input(q("INT8", [3, 4, 2], 0.05, 1), c.ins);
      const b = c.b.input(q("INT8", [3, 4, 5], 0.05, 1), c.ins);
      const y = c.b.output(q("INT8", [3, 4, 7], 0.05, 1), c.outs);
      c.b.op("CONCATENATION", [a, b], [y], { axis: -1, fused_activation_function: "NONE" }, 2);
    },
  },
];

function feedsFor(bytes: Uint8Array, seed: number): (Uint8Array | Float32Array)[] {
  const m = readTflite(bytes);
  const sg = m.subgraphs[0];
  const r = rng(seed);
  return sg.inputs.map((ti) => {
    const t = sg.tensors[ti];
    const n = numel(t.shape);
    if (t.type === "UINT8") return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
    // A float input feeding an int16 QUANTIZE gets exact multiples of its scale over the int16 range;
    // one feeding an 8-bit QUANTIZE gets arbitrary floats a little beyond the representable range.
    const consumer = sg.operators.find((o) => o.inputs[0] === ti)!;
    const inner = sg.tensors[consumer.outputs[0]];
    const s = inner.quantization!.scale[0], z = inner.quantization!.zeroPoint[0];
    if (inner.type === "INT16") {
      return Float32Array.from({ length: n }, () => (Math.floor(r() * 65536) - 32768 - z) * s);
    }
    return Float32Array.from({ length: n }, () => (r() * 300 - 150 - z) * s);
  });
}

/** Runs the model in Lathe with an arithmetic; outputs as plain numbers. */
function lathe(
  bytes: Uint8Array,
  feeds: (Uint8Array | Float32Array)[],
  arithmetic: IntegerArithmetic,
): number[][] {
  const g = importTflite(bytes).graph;
  const inputs: Record<string, Tensor> = {};
  g.inputs.forEach((name, i) => {
    const t = g.values[name].type;
    if (t.kind !== "tensor") throw new Error("tensor input expected");
    inputs[name] = new Tensor(t.dtype, t.shape as number[], feeds[i]);
  });
  const prev = setIntegerArithmetic(arithmetic);
  try {
    const out = interpret(g, inputs, { check: true }).outputs;
    return g.outputs.map((o) => Array.from((out[o] as Tensor).data as Uint8Array, Number));
  } finally {
    setIntegerArithmetic(prev);
  }
}

function differences(a: number[], b: ArrayLike<number>): { count: number; max: number; first: string } {
  let count = 0, max = 0, first = "";
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d) {
      if (!count) first = `at ${i}: ${a[i]} vs ${b[i]}`;
      count++;
      max = Math.max(max, d);
    }
  }
  return { count, max, first };
}

for (const [k, c] of CASES.entries()) {
  Deno.test({
    name: `LiteRT single op: ${c.name}`,
    ignore: !liteRt,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const ctx: Ctx = { b: new TfliteBuilder(), ins: [], outs: [], r: rng(1000 + k) };
      c.build(ctx);
      const bytes = ctx.b.finish(ctx.ins, ctx.outs);
      const feeds = feedsFor(bytes, 77 + k);
      const want = await runLiteRt(bytes, feeds);
      const report: string[] = [];
      for (const a of ["double-rounding", "single-rounding", "xnnpack"] as const) {
        const got = lathe(bytes, feeds, a);
        const d = got.map((o, i) => differences(o, want[i].data));
        report.push(
          `${a}: ${d.map((x) => `${x.count}/${got[0].length} differ (max ${x.max}) ${x.first}`).join("; ")}`,
        );
        if (a === c.arithmetic) {
          for (const [i, x] of d.entries()) {
            assert.equal(
              x.count,
              0,
              `${c.name} output ${i} in ${a} arithmetic: ${x.count} differ, ${x.first}\n${report.join("\n")}`,
            );
          }
        }
      }
      if (Deno.env.get("LATHE_TFLITE_REPORT")) console.log(`${c.name}\n  ${report.join("\n  ")}`);
    },
  });
}

// ---- Coral MobileNet-SSD v2 (uint8, TOCO) up to the custom post-process -------------------------------

const CORAL = "tflite/coral/mobilenet_ssd_v2_coco_quant_postprocess.tflite";
const skipCoral = noCorpus() || !liteRt;

/** The model with its TFLite_Detection_PostProcess removed; outputs are every op output, or its inputs. */
async function coralWithout(allOutputs: boolean): Promise<Uint8Array> {
  const m = readTflite(await Deno.readFile(corpusPath(CORAL)));
  const sg = m.subgraphs[0];
  const ci = sg.operators.findIndex((o) => m.operatorCodes[o.opcodeIndex].builtinCode === 32);
  const custom = sg.operators[ci];
  sg.operators.splice(ci, 1);
  sg.outputs = allOutputs ? sg.operators.map((o) => o.outputs[0]) : custom.inputs.slice(0, 2);
  return writeTflite(m);
}

function coralInput(seed: number): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: 300 * 300 * 3 }, () => Math.floor(r() * 256));
}

function share(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
): { exact: number; within1: number; max: number } {
  let exact = 0, within1 = 0, max = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (d === 0) exact++;
    if (d <= 1) within1++;
    max = Math.max(max, d);
  }
  return { exact: exact / got.length, within1: within1 / got.length, max };
}

Deno.test({
  name: "Coral SSD: box encodings and class scores equal LiteRT's bit for bit (XNNPACK arithmetic)",
  ignore: skipCoral,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const bytes = await coralWithout(false);
    for (const seed of [1, 2]) {
      const x = coralInput(seed);
      const want = await runLiteRt(bytes, [x]);
      const lines: string[] = [];
      for (const a of ["xnnpack", "double-rounding"] as const) {
        const got = lathe(bytes, [x], a);
        got.forEach((o, i) => {
          const s = share(o, want[i].data);
          lines.push(
            `seed ${seed} ${a} output ${i} (${o.length}): ${(s.exact * 100).toFixed(3)}% exact, ` +
              `${(s.within1 * 100).toFixed(3)}% within 1 LSB, max error ${s.max}`,
          );
          if (a === "xnnpack") assert.equal(s.exact, 1, lines.join("\n"));
        });
      }
      console.log(lines.join("\n"));
    }
  },
});

Deno.test({
  name: "Coral SSD layer by layer on LiteRT's own inputs: TFLite's default arithmetic is within 1 LSB",
  ignore: skipCoral,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const bytes = await coralWithout(true);
    const x = coralInput(3);
    const want = await runLiteRt(bytes, [x]);
    const g = importTflite(bytes).graph;
    const values: Record<string, Tensor> = {};
    const dtypeOf = (n: string) => {
      const t = g.values[n].type;
      if (t.kind !== "tensor") throw new Error("tensor expected");
      return t.dtype;
    };
    values[g.inputs[0]] = new Tensor(dtypeOf(g.inputs[0]), [1, 300, 300, 3], x);
    g.outputs.forEach((n, k) => (values[n] = new Tensor(dtypeOf(n), want[k].shape, want[k].data)));
    let total = 0, exact = 0, worst = 0;
    const prev = setIntegerArithmetic("double-rounding");
    try {
      for (const node of g.nodes) {
        const ins = node.inputs.filter((i): i is string => !!i && !(i in g.constants));
        const sub: Graph = { ...g, inputs: ins, outputs: [node.outputs[0]!], nodes: [node] };
        const got = interpret(sub, Object.fromEntries(ins.map((i) => [i, values[i]])))
          .outputs[node.outputs[0]!] as Tensor;
        const s = share(got.data as Uint8Array, values[node.outputs[0]!].data as Uint8Array);
        total += got.data.length;
        exact += s.exact * got.data.length;
        worst = Math.max(worst, s.max);
        assert.ok(s.max <= 1, `${node.op} ${node.outputs[0]}: max error ${s.max}`);
      }
    } finally {
      setIntegerArithmetic(prev);
    }
    console.log(
      `Coral per layer, double rounding vs LiteRT: ${total} elements, ${
        (exact / total * 100).toFixed(3)
      }% exact, max ${worst}`,
    );
  },
});

Deno.test("run --int-arithmetic reaches the kernels and is restored afterwards", async () => {
  // The sum of 6 at scale 0.375 above: 3 in TFLite's reference (double rounding), 2 in XNNPACK's.
  const b = new GraphBuilder();
  const x = b.input("x", aff("i8", 1, 0), [1, 1, 1, 1]);
  const w = b.constant("w", {
    dtype: aff("i8", [0.375], [0]),
    shape: [1, 1, 1, 1],
    bytes: new Uint8Array([2]),
  });
  const [y] = b.op("tfl.CONV_2D", [x, w, null], CONV, 1);
  const g = b.buildRaw([y]);
  const graph: Graph = {
    ...g,
    values: {
      ...g.values,
      [y]: { ...g.values[y], type: { kind: "tensor", dtype: aff("i8", 1, 0), shape: [1, 1, 1, 1] } },
    },
  };
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/x.npy`, encodeNpy(new Tensor("i8", [1, 1, 1, 1], new Int8Array([3]))));
    const model = { graph, meta: { format: "lathe", opsets: {}, props: {} } } as const;
    const code = async (a?: IntegerArithmetic) => {
      const r = await runModel(model, { inputs: { x: `${dir}/x.npy` }, intArithmetic: a });
      return Number((r.values[y] as Tensor).data[0]);
    };
    assert.equal(await code("xnnpack"), 2);
    assert.equal(await code(), 3, "the default (double rounding) is back after the xnnpack run");
    assert.equal(await code("double-rounding"), 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
