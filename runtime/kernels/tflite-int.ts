/**
 * Integer kernels of the `tfl` dialect: TFLite's quantized arithmetic for int8 (per tensor and per
 * channel), uint8 (asymmetric, as TOCO wrote it) and int16 activations (16x8), bit for bit as TFLite's
 * builtin kernels compute it (formats.md §2.5). Each registers as a variant that accepts affine-quantized
 * operands; the float kernels of tflite-float.ts stay the fallback.
 *
 * Requantization follows TFLite's default build (double rounding); setIntegerArithmetic() in
 * runtime/tflite/requantize.ts switches to a TFLITE_SINGLE_ROUNDING build or to the XNNPACK delegate's
 * arithmetic for the ops that delegate takes (what LiteRT runs on CPU). Parameters that TFLite computes
 * once in Prepare() (multipliers, lookup tables, offset weights) are cached per node.
 */
import type { AffineQuant } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import type { Node } from "../../ir/graph.ts";
import {
  depthwiseNhwc,
  igemm,
  igemmRequantChannels8,
  type IntOperand,
  requantChannels8,
} from "../gemm/igemm.ts";
import { type KernelContext, registerKernel } from "../kernel-registry.ts";
import { expectTensor, type RValue, Tensor } from "../tensor.ts";
import {
  clamp,
  multiplyByQuantizedMultiplier,
  multiplyByQuantizedMultiplierInt64,
  multiplyByQuantizedMultiplierSingleRounding,
  roundingDivideByPOT,
  saturatingRoundingMultiplyByPOT,
  srdhm,
  srdhm16,
} from "../tflite/fixed-point.ts";
import { logistic as fxLogistic, tanh as fxTanh } from "../tflite/gemmlowp-math.ts";
import {
  activationRangeQuantized,
  integerArithmetic,
  legacyConvMultiplier,
  perChannelMultipliers,
  type QuantizedMultiplier,
  quantizeMultiplier,
  roundHalfAway,
  storageRange,
} from "../tflite/requantize.ts";
import { broadcastStatic, forEachRow, planBroadcast } from "./broadcast.ts";
import { arg, axisOf, fail, intsOf, nhwc, runtimeAxis } from "./tflite-common.ts";

type QArray = Int8Array | Uint8Array | Int16Array | Int32Array;
type Args = readonly (RValue | undefined)[];

interface QTensor {
  readonly t: Tensor;
  readonly q: AffineQuant;
  readonly d: QArray;
}

const QUANT = { label: "int8/uint8/int16" };

function isAffine(v: RValue | undefined): boolean {
  return v instanceof Tensor && typeof v.dtype !== "string" && v.dtype.kind === "affine";
}

function accepts(i: number) {
  return { ...QUANT, accepts: (inputs: Args) => isAffine(inputs[i]) };
}

function optArg(inputs: Args, i: number, what: string): Tensor | undefined {
  const v = inputs[i];
  return v === undefined ? undefined : expectTensor(v, what);
}

function qArg(inputs: Args, i: number, what: string): QTensor {
  const t = arg(inputs, i, what);
  if (typeof t.dtype === "string" || t.dtype.kind !== "affine") fail(`${what} must be affine-quantized`);
  return { t, q: t.dtype, d: t.data as QArray };
}

/** The declared (importer-given) quantized type of output k. */
function outQuant(ctx: KernelContext, k = 0): AffineQuant {
  const t = ctx.outputTypes[k];
  if (t?.kind === "tensor" && typeof t.dtype !== "string" && t.dtype.kind === "affine") return t.dtype;
  throw new LatheError("unsupported", `${ctx.node.op} needs a declared quantized output type`);
}

function perTensor(q: AffineQuant, what: string): [number, number] {
  if (q.scale.length !== 1) fail(`${what} must be quantized per tensor`);
  return [q.scale[0], q.zeroPoint[0]];
}

/** MultiplyByQuantizedMultiplier in the build's rounding mode. */
function mbqmFn(): (x: number, m: number, s: number) => number {
  return integerArithmetic() === "single-rounding"
    ? multiplyByQuantizedMultiplierSingleRounding
    : multiplyByQuantizedMultiplier;
}

function qm(m: number): QuantizedMultiplier {
  return quantizeMultiplier(m, integerArithmetic() === "single-rounding");
}

/** Per-node cache of what TFLite's Prepare() computes; `key` lists the inputs it depends on. */
const prepared = new WeakMap<Node, { key: readonly unknown[]; value: unknown }>();
function prepare<T>(ctx: KernelContext, key: readonly unknown[], make: () => T): T {
  const hit = prepared.get(ctx.node);
  if (hit && hit.key.length === key.length && hit.key.every((k, i) => k === key[i])) return hit.value as T;
  const value = make();
  prepared.set(ctx.node, { key, value });
  return value;
}

/** Bias values as doubles (int32 biases, and the int64 biases of 16x8 kernels while they are safe). */
function biasValues(b: Tensor | undefined, n: number, what: string): Float64Array | undefined {
  if (!b) return undefined;
  if (b.data.length !== n) fail(`${what} has ${b.data.length} values for ${n} channels`);
  const out = new Float64Array(n);
  const d = b.data;
  for (let i = 0; i < n; i++) {
    const v = Number(d[i]);
    if (!Number.isSafeInteger(v)) fail(`${what} value ${d[i]} is beyond 2^53`);
    out[i] = v;
  }
  return out;
}

let inputScratch = new Float64Array(0);

/** offsetCodes into a buffer reused across calls, for activations (never for cached weights). */
function offsetInput(d: QArray, zp: number): Float64Array {
  if (inputScratch.length < d.length) inputScratch = new Float64Array(d.length);
  const out = inputScratch;
  for (let i = 0; i < d.length; i++) out[i] = d[i] - zp;
  return out;
}

/**
 * Codes minus a zero point, as doubles. Products of 8- and 16-bit codes and their sums are exact in a
 * double far beyond any tensor here, so the hot loops accumulate in doubles (faster than int32 in V8) and
 * convert once per output: `| 0` then gives exactly TFLite's wrapping int32 accumulator, and 16x8
 * kernels keep their int64 accumulator as is.
 */
function offsetCodes(d: QArray, zp: number): Float64Array {
  const out = new Float64Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = d[i] - zp;
  return out;
}

/**
 * How a convolution's accumulator becomes an output code. 8-bit kernels and 16x8 kernels with an int32
 * bias accumulate in int32 and use the int32 MultiplyByQuantizedMultiplier; 16x8 kernels with an int64
 * bias (or none) accumulate in int64 and use the int64 overload.
 */
interface Requant {
  readonly multiplier: Int32Array;
  readonly shift: Int32Array;
  readonly zp: number;
  readonly lo: number;
  readonly hi: number;
  readonly int64: boolean;
  /** XNNPACK's float32 requantization scales, when that arithmetic is selected. */
  readonly fscale?: Float32Array;
}

/** lrintf in the default rounding mode: nearest, ties to even. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The clamp bounds XNNPACK derives from a fused activation's float range (xnn_qu8_quantize). */
function xnnActivationRange(activation: string, out: AffineQuant): [number, number] {
  const [qmin, qmax] = storageRange(out.storage);
  const s = out.scale[0], zp = out.zeroPoint[0];
  const q = (v: number) => clamp(roundHalfEven(Math.fround(Math.fround(v / s) + zp)), qmin, qmax);
  switch (activation) {
    case "RELU":
      return [q(0), qmax];
    case "RELU6":
      return [q(0), q(6)];
    case "RELU_N1_TO_1":
      return [q(-1), q(1)];
    default:
      return activationRangeQuantized(activation, out);
  }
}

/** Whether XNNPACK takes this op in the selected arithmetic (it has no int16 kernels). */
function xnnpackTakes(storage: string): boolean {
  return integerArithmetic() === "xnnpack" && (storage === "i8" || storage === "u8");
}

/** Requantizes acc[accAt + o] (channel o) into out[outAt + o] for o < n. */
function requantizeRow(
  acc: Float64Array,
  accAt: number,
  r: Requant,
  out: QArray,
  outAt: number,
  n: number,
): void {
  const { multiplier, shift, zp, lo, hi } = r;
  if (r.fscale) {
    // XNNPACK: the int32 accumulator times a float32 scale, rounded to nearest even.
    const fs = r.fscale;
    for (let o = 0; o < n; o++) {
      out[outAt + o] = clamp(
        roundHalfEven(Math.fround(Math.fround(acc[accAt + o] | 0) * fs[o])) + zp,
        lo,
        hi,
      );
    }
    return;
  }
  if (r.int64) {
    for (let o = 0; o < n; o++) {
      out[outAt + o] = clamp(
        multiplyByQuantizedMultiplierInt64(acc[accAt + o], multiplier[o], shift[o]) + zp,
        lo,
        hi,
      );
    }
    return;
  }
  if (integerArithmetic() === "single-rounding") {
    for (let o = 0; o < n; o++) {
      out[outAt + o] = clamp(
        multiplyByQuantizedMultiplierSingleRounding(acc[accAt + o] | 0, multiplier[o], shift[o]) + zp,
        lo,
        hi,
      );
    }
    return;
  }
  // Double rounding, inlined: SRDHM exactly in one double while the accumulator is below 2^21 (the usual
  // case), the split 64-bit form otherwise, then RoundingDivideByPOT.
  for (let o = 0; o < n; o++) {
    let x = acc[accAt + o] | 0;
    const sh = shift[o];
    if (sh > 0) x = Math.imul(x, 1 << sh);
    let v: number;
    if (x < 2097152 && x > -2097152) {
      const prod = x * multiplier[o];
      v = Math.trunc((prod + (prod >= 0 ? 1073741824 : -1073741823)) / 2147483648) | 0;
    } else v = srdhm(x, multiplier[o]);
    if (sh < 0) {
      const e = -sh;
      const mask = e === 31 ? 0x7fffffff : (1 << e) - 1;
      v = (v >> e) + ((v & mask) > (mask >> 1) + (v < 0 ? 1 : 0) ? 1 : 0);
    }
    v += zp;
    out[outAt + o] = v < lo ? lo : v > hi ? hi : v;
  }
}

/** Scratch buffers reused across calls (kernels run one at a time). */
let patchScratch = new Float64Array(0), accScratch = new Float64Array(0);
function patches(n: number): Float64Array {
  if (patchScratch.length < n) patchScratch = new Float64Array(n);
  return patchScratch;
}
function accumulators(n: number): Float64Array {
  if (accScratch.length < n) accScratch = new Float64Array(n);
  return accScratch;
}

/**
 * acc[p·O + o] = bias[o] + Σ_k a[p·K + k]·w[o·K + k], in 4×4 register blocks (four rows of `a` against
 * four rows of `w`); exact, as every partial sum is an integer below 2^53.
 */
function gemm(
  a: Float64Array,
  P: number,
  K: number,
  w: Float64Array,
  O: number,
  bias: Float64Array | undefined,
  acc: Float64Array,
): void {
  let p = 0;
  for (; p + 3 < P; p += 4) {
    const a0 = p * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K;
    let o = 0;
    for (; o + 3 < O; o += 4) {
      const b0 = o * K, b1 = b0 + K, b2 = b1 + K, b3 = b2 + K;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let k = 0; k < K; k++) {
        const x0 = a[a0 + k], x1 = a[a1 + k], x2 = a[a2 + k], x3 = a[a3 + k];
        const w0 = w[b0 + k], w1 = w[b1 + k], w2 = w[b2 + k], w3 = w[b3 + k];
        c00 += x0 * w0, c01 += x0 * w1, c02 += x0 * w2, c03 += x0 * w3;
        c10 += x1 * w0, c11 += x1 * w1, c12 += x1 * w2, c13 += x1 * w3;
        c20 += x2 * w0, c21 += x2 * w1, c22 += x2 * w2, c23 += x2 * w3;
        c30 += x3 * w0, c31 += x3 * w1, c32 += x3 * w2, c33 += x3 * w3;
      }
      const d0 = bias ? bias[o] : 0,
        d1 = bias ? bias[o + 1] : 0,
        d2 = bias ? bias[o + 2] : 0,
        d3 = bias ? bias[o + 3] : 0;
      const r0 = p * O + o, r1 = r0 + O, r2 = r1 + O, r3 = r2 + O;
      acc[r0] = c00 + d0, acc[r0 + 1] = c01 + d1, acc[r0 + 2] = c02 + d2, acc[r0 + 3] = c03 + d3;
      acc[r1] = c10 + d0, acc[r1 + 1] = c11 + d1, acc[r1 + 2] = c12 + d2, acc[r1 + 3] = c13 + d3;
      acc[r2] = c20 + d0, acc[r2 + 1] = c21 + d1, acc[r2 + 2] = c22 + d2, acc[r2 + 3] = c23 + d3;
      acc[r3] = c30 + d0, acc[r3 + 1] = c31 + d1, acc[r3 + 2] = c32 + d2, acc[r3 + 3] = c33 + d3;
    }
    for (; o < O; o++) {
      const b0 = o * K;
      let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      for (let k = 0; k < K; k++) {
        const wv = w[b0 + k];
        c0 += a[a0 + k] * wv, c1 += a[a1 + k] * wv, c2 += a[a2 + k] * wv, c3 += a[a3 + k] * wv;
      }
      const d = bias ? bias[o] : 0;
      acc[p * O + o] = c0 + d,
        acc[(p + 1) * O + o] = c1 + d,
        acc[(p + 2) * O + o] = c2 + d,
        acc[(p + 3) * O + o] = c3 + d;
    }
  }
  for (; p < P; p++) {
    const a0 = p * K;
    for (let o = 0; o < O; o++) {
      const b0 = o * K;
      let c = 0;
      for (let k = 0; k < K; k++) c += a[a0 + k] * w[b0 + k];
      acc[p * O + o] = c + (bias ? bias[o] : 0);
    }
  }
}

/**
 * The im2col matrix of an NHWC input: one row of KH·KW·C offset codes per output pixel, zeros (the real
 * value 0) where a tap falls in the padding.
 */
function im2col(xo: Float64Array, s: ConvDims, win: Window, out: Float64Array): void {
  const { N, H, W, C, KH, KW, OH, OW } = s;
  const K = KH * KW * C;
  let row = 0;
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * win.sh - win.pt;
      for (let ox = 0; ox < OW; ox++, row += K) {
        const ix0 = ox * win.sw - win.pl;
        let at = row;
        for (let ky = 0; ky < KH; ky++) {
          const iy = iy0 + ky * win.dh;
          for (let kx = 0; kx < KW; kx++, at += C) {
            const ix = ix0 + kx * win.dw;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) out.fill(0, at, at + C);
            else out.set(xo.subarray(((n * H + iy) * W + ix) * C, ((n * H + iy) * W + ix) * C + C), at);
          }
        }
      }
    }
  }
}

/**
 * Output multipliers of a convolution-like op: per channel (double products) for int8/int16 inputs or
 * per-channel filters, TFLite's legacy float-product multiplier for uint8.
 */
function convRequant(
  x: AffineQuant,
  w: AffineQuant,
  out: AffineQuant,
  channels: number,
  activation: string,
  bias: Tensor | undefined,
  legacyFloatProduct: boolean,
): Requant {
  const sIn = x.scale[0], sOut = out.scale[0];
  let multiplier: Int32Array, shift: Int32Array;
  if (legacyFloatProduct && w.scale.length === 1) {
    const m = legacyConvMultiplier(sIn, w.scale[0], sOut, integerArithmetic() === "single-rounding");
    multiplier = new Int32Array(channels).fill(m.multiplier);
    shift = new Int32Array(channels).fill(m.shift);
  } else {
    const single = integerArithmetic() === "single-rounding";
    ({ multiplier, shift } = perChannelMultipliers(sIn, w.scale, sOut, channels, single));
  }
  const int64 = x.storage === "i16" && (bias === undefined || bias.dtype === "i64");
  if (xnnpackTakes(x.storage)) {
    const fscale = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      const sw = w.scale.length === 1 ? w.scale[0] : w.scale[c];
      fscale[c] = Math.fround(Math.fround(sIn * sw) / sOut);
    }
    const [lo, hi] = xnnActivationRange(activation, out);
    return { multiplier, shift, zp: out.zeroPoint[0], lo, hi, int64, fscale };
  }
  const [lo, hi] = activationRangeQuantized(activation, out);
  return { multiplier, shift, zp: out.zeroPoint[0], lo, hi, int64 };
}

/** The filter's per-tensor zero point where TFLite subtracts it (uint8 filters; int8 filters are symmetric). */
function filterOffset(w: AffineQuant): number {
  return w.storage === "u8" ? w.zeroPoint[0] : 0;
}

// ---- convolutions ------------------------------------------------------------------------------------

registerKernel("tfl.CONV_2D", (inputs, ctx) => {
  const x = qArg(inputs, 0, "input"), w = qArg(inputs, 1, "filter");
  const b = optArg(inputs, 2, "bias");
  const oq = outQuant(ctx);
  const [N, H, W, C] = nhwc(x.t, "CONV_2D input");
  const [O, KH, KW, Cf] = nhwc(w.t, "CONV_2D filter");
  if (Cf === 0 || C % Cf !== 0) fail(`input has ${C} channels, the filter takes ${Cf} per group`);
  const groups = C / Cf;
  if (O % groups !== 0) fail(`${O} filters do not split into ${groups} groups`);
  const at = ctx.attrs;
  const ay = runtimeAxis(at.padding, H, KH, at.stride_h, at.dilation_h_factor);
  const ax = runtimeAxis(at.padding, W, KW, at.stride_w, at.dilation_w_factor);
  const p = prepare(ctx, [w.d, b?.data, integerArithmetic()], () => ({
    wo: offsetCodes(w.d, filterOffset(w.q)),
    bias: biasValues(b, O, "CONV_2D bias"),
    r: convRequant(x.q, w.q, oq, O, at.fused_activation_function, b, x.q.storage === "u8"),
  }));
  const out = ctx.alloc(oq, [N, ay.out, ax.out, O]);
  const dims = { N, H, W, C, O, KH, KW, Cf, groups, OH: ay.out, OW: ax.out };
  const win = {
    sh: at.stride_h,
    sw: at.stride_w,
    dh: at.dilation_h_factor,
    dw: at.dilation_w_factor,
    pt: ay.padBefore,
    pl: ax.padBefore,
  };
  if (groups === 1 && eightBit(x, w) && !p.r.int64) {
    conv2dGemm(x, w, p.bias, p.r, out.data as QArray, dims, win);
    return [out];
  }
  const xo = offsetInput(x.d, x.q.zeroPoint[0]);
  conv2d(
    xo,
    p.wo,
    p.bias,
    p.r,
    out.data as QArray,
    { N, H, W, C, O, KH, KW, Cf, groups, OH: ay.out, OW: ax.out },
    {
      sh: at.stride_h,
      sw: at.stride_w,
      dh: at.dilation_h_factor,
      dw: at.dilation_w_factor,
      pt: ay.padBefore,
      pl: ax.padBefore,
    },
  );
  return [out];
}, accepts(0));

/** Both operands hold 8-bit codes: the integer GEMM engine takes them. */
function eightBit(x: QTensor, w: QTensor): boolean {
  const b = (q: QTensor) => q.d instanceof Int8Array || q.d instanceof Uint8Array;
  return b(x) && b(w);
}

let accScratch32 = new Int32Array(0);
function accumulators32(n: number): Int32Array {
  if (accScratch32.length < n) accScratch32 = new Int32Array(n);
  return accScratch32;
}
let colScratch = new ArrayBuffer(0);

/** The im2col rows of one NHWC image as codes; taps in the padding get the zero point (a real 0). */
function im2colBytes(
  x: Int8Array | Uint8Array,
  xOff: number,
  zp: number,
  s: ConvDims,
  win: Window,
): Int8Array | Uint8Array {
  const { H, W, C, KH, KW, OH, OW } = s;
  const K = KH * KW * C, n = OH * OW * K;
  if (colScratch.byteLength < n) colScratch = new ArrayBuffer(Math.max(n, 2 * colScratch.byteLength));
  const out = x instanceof Int8Array ? new Int8Array(colScratch, 0, n) : new Uint8Array(colScratch, 0, n);
  let at = 0;
  for (let oy = 0; oy < OH; oy++) {
    const iy0 = oy * win.sh - win.pt;
    for (let ox = 0; ox < OW; ox++) {
      const ix0 = ox * win.sw - win.pl;
      for (let ky = 0; ky < KH; ky++) {
        const iy = iy0 + ky * win.dh;
        for (let kx = 0; kx < KW; kx++, at += C) {
          const ix = ix0 + kx * win.dw;
          if (iy < 0 || iy >= H || ix < 0 || ix >= W) out.fill(zp, at, at + C);
          else {
            const src = xOff + (iy * W + ix) * C;
            if (C >= 16) out.set(x.subarray(src, src + C), at);
            else for (let c = 0; c < C; c++) out[at + c] = x[src + c];
          }
        }
      }
    }
  }
  return out;
}

/** The engine's requantization parameters, where it reproduces the selected arithmetic exactly. */
function simdRequant(r: Requant, bias: Float64Array | undefined) {
  if (r.fscale || r.int64 || integerArithmetic() !== "double-rounding") return undefined;
  return { multiplier: r.multiplier, shift: r.shift, bias, zp: r.zp, lo: r.lo, hi: r.hi };
}

/**
 * Requantizes int32 accumulators [rows][O] (plus bias, wrapping like TFLite's int32 sum) into
 * out[outAt...]. The default double-rounding arithmetic runs inline over all rows (the same steps as
 * requantizeRow); the other arithmetics go through requantizeRow.
 */
function requantizeInt32(
  acc32: Int32Array,
  rows: number,
  O: number,
  bias: Float64Array | undefined,
  r: Requant,
  out: QArray,
  outAt: number,
): void {
  const rq = simdRequant(r, bias);
  if (rq && (out instanceof Int8Array || out instanceof Uint8Array)) {
    if (requantChannels8(acc32, rows, O, rq, out, outAt)) return;
  }
  if (r.fscale || r.int64 || integerArithmetic() === "single-rounding") {
    const acc = withBias(acc32, rows, O, bias);
    for (let p = 0; p < rows; p++) requantizeRow(acc, p * O, r, out, outAt + p * O, O);
    return;
  }
  const { multiplier, shift, zp, lo, hi } = r;
  for (let p = 0, i = 0; p < rows; p++) {
    for (let o = 0; o < O; o++, i++) {
      let x = bias === undefined ? acc32[i] : (acc32[i] + bias[o]) | 0;
      const sh = shift[o];
      if (sh > 0) x = Math.imul(x, 1 << sh);
      let v: number;
      if (x < 2097152 && x > -2097152) {
        const prod = x * multiplier[o];
        v = Math.trunc((prod + (prod >= 0 ? 1073741824 : -1073741823)) * 4.656612873077393e-10) | 0;
      } else v = srdhm(x, multiplier[o]);
      if (sh < 0) {
        const e = -sh;
        const mask = e === 31 ? 0x7fffffff : (1 << e) - 1;
        v = (v >> e) + ((v & mask) > (mask >> 1) + (v < 0 ? 1 : 0) ? 1 : 0);
      }
      v += zp;
      out[outAt + i] = v < lo ? lo : v > hi ? hi : v;
    }
  }
}

/** Int32 accumulators [rows][O] plus bias, as the doubles requantizeRow reads. */
function withBias(acc32: Int32Array, rows: number, O: number, bias: Float64Array | undefined): Float64Array {
  const acc = accumulators(rows * O);
  if (!bias) {
    for (let i = 0; i < rows * O; i++) acc[i] = acc32[i];
    return acc;
  }
  for (let r = 0, i = 0; r < rows; r++) for (let o = 0; o < O; o++, i++) acc[i] = acc32[i] + bias[o];
  return acc;
}

/**
 * An ungrouped convolution of 8-bit codes on the integer GEMM engine: per image, the im2col matrix (the
 * image itself for an unpadded 1×1 stride-1 convolution) times the filter read as [K x O] (kept packed).
 * The int32 accumulators wrap exactly like TFLite's; requantization is requantizeRow's.
 */
function conv2dGemm(
  x: QTensor,
  w: QTensor,
  bias: Float64Array | undefined,
  r: Requant,
  out: QArray,
  s: ConvDims,
  win: Window,
): void {
  const { N, H, W, C, O, KH, KW, OH, OW } = s;
  const P = OH * OW, K = KH * KW * C;
  const direct = KH === 1 && KW === 1 && win.sh === 1 && win.sw === 1 && win.pt === 0 && win.pl === 0 &&
    OH === H && OW === W;
  const xd = x.d as Int8Array | Uint8Array, xzp = x.q.zeroPoint[0];
  const acc32 = accumulators32(P * O);
  for (let n = 0; n < N; n++) {
    const xOff = n * H * W * C;
    const a = direct ? xd : im2colBytes(xd, xOff, xzp, s, win);
    const A: IntOperand = { view: { data: a, off: direct ? xOff : 0, rs: K, cs: 1 }, zp: xzp };
    const B: IntOperand = { view: { data: w.d, off: 0, rs: 1, cs: K }, zp: filterOffset(w.q), key: w.t };
    const rq = simdRequant(r, bias);
    if (rq && igemmRequantChannels8(P, O, K, A, B, rq, out as Int8Array | Uint8Array, n * P * O)) continue;
    igemm(P, O, K, A, B, { data: acc32, off: 0, rs: O });
    requantizeInt32(acc32, P, O, bias, r, out, n * P * O);
  }
}

interface ConvDims {
  N: number;
  H: number;
  W: number;
  C: number;
  O: number;
  KH: number;
  KW: number;
  Cf: number;
  groups: number;
  OH: number;
  OW: number;
}

interface Window {
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  pt: number;
  pl: number;
}

/** The first tap k ≥ 0 with start + k·d ≥ 0. */
function firstTap(start: number, d: number): number {
  return start >= 0 ? 0 : Math.ceil(-start / d);
}

/** One past the last tap k < taps with start + k·d < size (never below firstTap). */
function endTap(start: number, d: number, taps: number, size: number): number {
  return Math.max(firstTap(start, d), Math.min(taps, Math.ceil((size - start) / d)));
}

function conv2d(
  xo: Float64Array,
  wo: Float64Array,
  bias: Float64Array | undefined,
  r: Requant,
  out: QArray,
  s: ConvDims,
  win: Window,
): void {
  const { N, H, W, C, O, KH, KW, Cf, groups, OH, OW } = s;
  const P = N * OH * OW, K = KH * KW * Cf;
  const acc = accumulators(P * O);
  if (groups === 1) {
    // A GEMM over im2col rows (the input itself for an unpadded 1×1 stride-1 convolution).
    const direct = KH === 1 && KW === 1 && win.sh === 1 && win.sw === 1 && win.pt === 0 && win.pl === 0 &&
      OH === H && OW === W;
    let a = xo;
    if (!direct) {
      a = patches(P * K);
      im2col(xo, s, win, a);
    }
    gemm(a, P, K, wo, O, bias, acc);
  } else {
    // Grouped: per output pixel and group, dot products over the group's input channels.
    const og = O / groups;
    for (let n = 0, pix = 0; n < N; n++) {
      for (let oy = 0; oy < OH; oy++) {
        const iy0 = oy * win.sh - win.pt;
        const ky0 = firstTap(iy0, win.dh), ky1 = endTap(iy0, win.dh, KH, H);
        for (let ox = 0; ox < OW; ox++, pix++) {
          const ix0 = ox * win.sw - win.pl;
          const kx0 = firstTap(ix0, win.dw), kx1 = endTap(ix0, win.dw, KW, W);
          const at = pix * O;
          for (let o = 0; o < O; o++) acc[at + o] = bias ? bias[o] : 0;
          for (let ky = ky0; ky < ky1; ky++) {
            const rowBase = (n * H + iy0 + ky * win.dh) * W;
            for (let kx = kx0; kx < kx1; kx++) {
              const xb = (rowBase + ix0 + kx * win.dw) * C;
              const tap = (ky * KW + kx) * Cf;
              for (let o = 0; o < O; o++) {
                const xg = xb + Math.floor(o / og) * Cf, wb = o * K + tap;
                let a = 0;
                for (let c = 0; c < Cf; c++) a += xo[xg + c] * wo[wb + c];
                acc[at + o] += a;
              }
            }
          }
        }
      }
    }
  }
  for (let p = 0; p < P; p++) requantizeRow(acc, p * O, r, out, p * O, O);
}

registerKernel("tfl.DEPTHWISE_CONV_2D", (inputs, ctx) => {
  const x = qArg(inputs, 0, "input"), w = qArg(inputs, 1, "filter");
  const b = optArg(inputs, 2, "bias");
  const oq = outQuant(ctx);
  const [N, H, W, C] = nhwc(x.t, "DEPTHWISE_CONV_2D input");
  const [one, KH, KW, OC] = nhwc(w.t, "DEPTHWISE_CONV_2D filter");
  if (one !== 1) fail(`depthwise filter must be [1, KH, KW, C·mult], is [${w.t.shape}]`);
  if (C === 0 || OC % C !== 0) fail(`filter has ${OC} channels, not a multiple of the input's ${C}`);
  const M = OC / C;
  const at = ctx.attrs;
  const ay = runtimeAxis(at.padding, H, KH, at.stride_h, at.dilation_h_factor);
  const ax = runtimeAxis(at.padding, W, KW, at.stride_w, at.dilation_w_factor);
  const p = prepare(ctx, [w.d, b?.data, integerArithmetic()], () => ({
    wo: offsetCodes(w.d, filterOffset(w.q)),
    bias: biasValues(b, OC, "DEPTHWISE_CONV_2D bias"),
    r: convRequant(x.q, w.q, oq, OC, at.fused_activation_function, b, x.q.storage === "u8"),
  }));
  const OH = ay.out, OW = ax.out;
  const out = ctx.alloc(oq, [N, OH, OW, OC]);
  const o = out.data as QArray;
  const { wo, bias, r } = p;
  const sh = at.stride_h, sw = at.stride_w, dh = at.dilation_h_factor, dw = at.dilation_w_factor;
  if (M === 1 && eightBit(x, w) && !r.int64 && OH * OW > 0) {
    // The engine's NHWC depthwise kernel, one image at a time; its int32 sums wrap like TFLite's.
    const acc32 = accumulators32(OH * OW * C);
    let ok = true;
    for (let n = 0; n < N && ok; n++) {
      ok = depthwiseNhwc({
        x: x.d as Int8Array | Uint8Array,
        xOff: n * H * W * C,
        xZp: x.q.zeroPoint[0],
        H,
        W,
        C,
        w: wo,
        wKey: w.t,
        KH,
        KW,
        OH,
        OW,
        sh,
        sw,
        dh,
        dw,
        pt: ay.padBefore,
        pl: ax.padBefore,
      }, acc32);
      if (!ok) break;
      requantizeInt32(acc32, OH * OW, C, bias, r, o, n * OH * OW * C);
    }
    if (ok) return [out];
  }
  const xo = offsetInput(x.d, x.q.zeroPoint[0]);
  const acc = new Float64Array(OC);
  // Per output pixel: the input and filter offsets of its in-image taps, then per channel a register
  // accumulator over those taps, four channels at a time.
  const xOff = new Int32Array(KH * KW), wOff = new Int32Array(KH * KW);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * sh - ay.padBefore;
      const ky0 = firstTap(iy0, dh), ky1 = endTap(iy0, dh, KH, H);
      for (let ox = 0; ox < OW; ox++) {
        const ix0 = ox * sw - ax.padBefore;
        const kx0 = firstTap(ix0, dw), kx1 = endTap(ix0, dw, KW, W);
        let T = 0;
        for (let ky = ky0; ky < ky1; ky++) {
          for (let kx = kx0; kx < kx1; kx++, T++) {
            xOff[T] = ((n * H + iy0 + ky * dh) * W + ix0 + kx * dw) * C;
            wOff[T] = (ky * KW + kx) * OC;
          }
        }
        if (M === 1) {
          let c = 0;
          for (; c + 3 < C; c += 4) {
            let a0 = bias ? bias[c] : 0,
              a1 = bias ? bias[c + 1] : 0,
              a2 = bias ? bias[c + 2] : 0,
              a3 = bias ? bias[c + 3] : 0;
            for (let t = 0; t < T; t++) {
              const xb = xOff[t] + c, wb = wOff[t] + c;
              a0 += xo[xb] * wo[wb];
              a1 += xo[xb + 1] * wo[wb + 1];
              a2 += xo[xb + 2] * wo[wb + 2];
              a3 += xo[xb + 3] * wo[wb + 3];
            }
            acc[c] = a0, acc[c + 1] = a1, acc[c + 2] = a2, acc[c + 3] = a3;
          }
          for (; c < C; c++) {
            let a = bias ? bias[c] : 0;
            for (let t = 0; t < T; t++) a += xo[xOff[t] + c] * wo[wOff[t] + c];
            acc[c] = a;
          }
        } else {
          for (let oc = 0; oc < OC; oc++) {
            const c = Math.floor(oc / M);
            let a = bias ? bias[oc] : 0;
            for (let t = 0; t < T; t++) a += xo[xOff[t] + c] * wo[wOff[t] + oc];
            acc[oc] = a;
          }
        }
        requantizeRow(acc, 0, r, o, ((n * OH + oy) * OW + ox) * OC, OC);
      }
    }
  }
  return [out];
}, accepts(0));

registerKernel("tfl.TRANSPOSE_CONV", (inputs, ctx) => {
  const shapeT = arg(inputs, 0, "output_shape");
  const w = qArg(inputs, 1, "weights"), x = qArg(inputs, 2, "input");
  const b = optArg(inputs, 3, "bias");
  const oq = outQuant(ctx);
  const os = intsOf(shapeT);
  if (os.length !== 4 || os.some((d) => !(d >= 0))) fail(`output shape [${os}] is not 4 sizes`);
  const [N, H, W, C] = nhwc(x.t, "TRANSPOSE_CONV input");
  const [O, KH, KW, Cf] = nhwc(w.t, "TRANSPOSE_CONV weights");
  if (Cf !== C) fail(`weights take ${Cf} channels, the input has ${C}`);
  if (os[0] !== N || os[3] !== O) fail(`output shape [${os}] does not match batch ${N} and ${O} filters`);
  const OH = os[1], OW = os[2];
  const at = ctx.attrs;
  // TFLite pads as if the output were the input of a forward convolution (transpose_conv.cc).
  const ay = runtimeAxis(at.padding, OH, KH, at.stride_h);
  const ax = runtimeAxis(at.padding, OW, KW, at.stride_w);
  const p = prepare(ctx, [w.d, b?.data, integerArithmetic()], () => ({
    wo: offsetCodes(w.d, filterOffset(w.q)),
    bias: biasValues(b, O, "TRANSPOSE_CONV bias"),
    r: convRequant(x.q, w.q, oq, O, at.fused_activation_function, b, x.q.storage === "u8"),
  }));
  const xo = offsetInput(x.d, x.q.zeroPoint[0]);
  const scratch = new Float64Array(N * OH * OW * O);
  const { wo } = p;
  for (let n = 0; n < N; n++) {
    for (let iy = 0; iy < H; iy++) {
      for (let ix = 0; ix < W; ix++) {
        const xb = ((n * H + iy) * W + ix) * C;
        for (let ky = 0; ky < KH; ky++) {
          const oy = iy * at.stride_h - ay.padBefore + ky;
          if (oy < 0 || oy >= OH) continue;
          for (let kx = 0; kx < KW; kx++) {
            const ox = ix * at.stride_w - ax.padBefore + kx;
            if (ox < 0 || ox >= OW) continue;
            const ob = ((n * OH + oy) * OW + ox) * O;
            for (let o = 0; o < O; o++) {
              const wb = ((o * KH + ky) * KW + kx) * C;
              let a = 0;
              for (let c = 0; c < C; c++) a += xo[xb + c] * wo[wb + c];
              scratch[ob + o] += a;
            }
          }
        }
      }
    }
  }
  const out = ctx.alloc(oq, os);
  const od = out.data as QArray;
  const row = new Float64Array(O);
  for (let i = 0; i < N * OH * OW; i++) {
    for (let o = 0; o < O; o++) row[o] = scratch[i * O + o] + (p.bias ? p.bias[o] : 0);
    requantizeRow(row, 0, p.r, od, i * O, O);
  }
  return [out];
}, accepts(2));

registerKernel("tfl.FULLY_CONNECTED", (inputs, ctx) => {
  const x = qArg(inputs, 0, "input"), w = qArg(inputs, 1, "weights");
  const b = optArg(inputs, 2, "bias");
  const oq = outQuant(ctx);
  if (w.t.shape.length !== 2) fail(`weights must have rank 2, have [${w.t.shape}]`);
  const [U, K] = w.t.shape;
  if (K === 0 || x.d.length % K !== 0) fail(`${x.d.length} input elements are not rows of ${K}`);
  const B = x.d.length / K;
  const at = ctx.attrs;
  if (at.weights_format !== "DEFAULT") {
    throw new LatheError("unsupported", `FULLY_CONNECTED weights_format ${at.weights_format}`);
  }
  const p = prepare(ctx, [w.d, b?.data, integerArithmetic()], () => {
    let r: Requant;
    if (w.q.scale.length > 1 || xnnpackTakes(x.q.storage)) {
      // Unlike the convolutions, TFLite's 16x8 FULLY_CONNECTED requantizes with the int32 form (LiteRT agrees).
      r = { ...convRequant(x.q, w.q, oq, U, at.fused_activation_function, b, false), int64: false };
    } else {
      // fully_connected.cc: GetQuantizedConvolutionMultipler, the float product of the scales.
      const m = legacyConvMultiplier(
        x.q.scale[0],
        w.q.scale[0],
        oq.scale[0],
        integerArithmetic() === "single-rounding",
      );
      const [lo, hi] = activationRangeQuantized(at.fused_activation_function, oq);
      r = {
        multiplier: new Int32Array(U).fill(m.multiplier),
        shift: new Int32Array(U).fill(m.shift),
        zp: oq.zeroPoint[0],
        lo,
        hi,
        int64: false,
      };
    }
    // FULLY_CONNECTED subtracts the weights' zero point for every storage type.
    return {
      wo: offsetCodes(w.d, w.q.zeroPoint.length === 1 ? w.q.zeroPoint[0] : 0),
      bias: biasValues(b, U, "bias"),
      r,
    };
  });
  const shape = at.keep_num_dims ? [...x.t.shape.slice(0, -1), U] : [B, U];
  const out = ctx.alloc(oq, shape);
  const od = out.data as QArray;
  if (eightBit(x, w) && !p.r.int64) {
    const acc32 = accumulators32(B * U);
    igemm(
      B,
      U,
      K,
      { view: { data: x.d, off: 0, rs: K, cs: 1 }, zp: x.q.zeroPoint[0] },
      {
        view: { data: w.d, off: 0, rs: 1, cs: K },
        zp: w.q.zeroPoint.length === 1 ? w.q.zeroPoint[0] : 0,
        key: w.t,
      },
      { data: acc32, off: 0, rs: U },
    );
    requantizeInt32(acc32, B, U, p.bias, p.r, od, 0);
    return [out];
  }
  const acc = accumulators(B * U);
  gemm(offsetInput(x.d, x.q.zeroPoint[0]), B, K, p.wo, U, p.bias, acc);
  for (let r = 0; r < B; r++) requantizeRow(acc, r * U, p.r, od, r * U, U);
  return [out];
}, accepts(0));

// ---- elementwise arithmetic --------------------------------------------------------------------------

function checkLog2(scale: number): number | undefined {
  // CheckedLog2: log(x)·(1/log 2) in float, accepted when within 1e-3 of an integer.
  const l = Math.fround(Math.fround(Math.log(scale)) * Math.fround(1 / Math.fround(Math.log(2))));
  const r = roundHalfAway(l);
  return Math.abs(l - r) < 1e-3 ? r : undefined;
}

interface AddParams {
  leftShift: number;
  in1: QuantizedMultiplier;
  in2: QuantizedMultiplier;
  out: QuantizedMultiplier;
}

/** add.cc/sub.cc Prepare for the general path (8-bit, and int16 without power-of-two scales). */
function addParams(s1: number, s2: number, sOut: number, int16: boolean, negate2: boolean): AddParams {
  const leftShift = int16 ? 15 : 20;
  const twiceMax = 2 * Math.max(s1, s2);
  const in2 = qm(s2 / twiceMax);
  return {
    leftShift,
    in1: qm(s1 / twiceMax),
    in2: negate2 ? { multiplier: -in2.multiplier, shift: in2.shift } : in2,
    out: qm(twiceMax / Math.fround(2 ** leftShift * sOut)),
  };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * XNNPACK's quantized add (xnn_init_qu8/qs8_add_minmax_scalar_params): both input-to-output scale ratios
 * in float32 become ~21-bit multipliers sharing one shift chosen from the larger ratio's exponent; the
 * zero points and the rounding term fold into one bias; the sum shifts right arithmetically. SUB adds
 * with the second ratio negated.
 */
function xnnAddParams(s1: number, z1: number, s2: number, z2: number, so: number, negate: boolean) {
  const r1 = Math.fround(s1 / so), r2 = negate ? -Math.fround(s2 / so) : Math.fround(s2 / so);
  f32[0] = Math.max(Math.abs(r1), Math.abs(r2));
  const exponent = (u32[0] >>> 23) - 127;
  const shift = 20 - exponent;
  if (shift < 12 || shift > 30) {
    fail(`input/output scale ratio ${f32[0]} is outside what XNNPACK's add takes`);
  }
  const am = Math.sign(r1) * roundHalfEven(Math.abs(r1) * 2 ** shift);
  const bm = Math.sign(r2) * roundHalfEven(Math.abs(r2) * 2 ** shift);
  return { aMultiplier: am, bMultiplier: bm, shift, bias: (2 ** (shift - 1) - am * z1 - bm * z2) | 0 };
}

function addSub(inputs: Args, ctx: KernelContext, negate: boolean): RValue[] {
  const a = qArg(inputs, 0, "x"), b = qArg(inputs, 1, "y");
  const oq = outQuant(ctx);
  if (a.q.storage !== b.q.storage || a.q.storage !== oq.storage) {
    fail(`${ctx.node.op} operands must share one storage type`);
  }
  const [s1, z1] = perTensor(a.q, "x"), [s2, z2] = perTensor(b.q, "y"), [so, zo] = perTensor(oq, "output");
  const [lo, hi] = activationRangeQuantized(ctx.attrs.fused_activation_function, oq);
  const shape = broadcastStatic([a.t.shape, b.t.shape]);
  const out = ctx.alloc(oq, shape);
  const od = out.data as QArray;
  const plan = planBroadcast(shape, [a.t.shape, b.t.shape]);
  const n = plan.rowLength, st1 = plan.rowStrides[0], st2 = plan.rowStrides[1];

  const int16 = oq.storage === "i16";
  const pot = int16 && ctx.attrs.pot_scale_int16 && z1 === 0 && z2 === 0 && zo === 0;
  const l1 = pot ? checkLog2(s1) : undefined,
    l2 = pot ? checkLog2(s2) : undefined,
    lo2 = pot ? checkLog2(so) : undefined;
  if (pot && l1 !== undefined && l2 !== undefined && lo2 !== undefined) {
    // The LSTM-style int16 path: power-of-two scales, one input shifted right, saturating add.
    const sh1 = l1 - lo2, sh2 = l2 - lo2;
    if (!((sh1 === 0 || sh2 === 0) && sh1 <= 0 && sh2 <= 0)) {
      fail("int16 ADD with power-of-two scales shifts both inputs");
    }
    const d1 = a.d, d2 = b.d;
    forEachRow(plan, (o, i1, i2) => {
      for (let k = 0; k < n; k++) {
        // The shifted input is rounded first; the int16 sum or difference then saturates.
        const v1 = roundingDivideByPOT(d1[i1 + k * st1], -sh1),
          v2 = roundingDivideByPOT(d2[i2 + k * st2], -sh2);
        od[o + k] = clamp(clamp(negate ? v1 - v2 : v1 + v2, -32768, 32767), lo, hi);
      }
    });
    return [out];
  }

  if (xnnpackTakes(oq.storage)) {
    const x = xnnAddParams(s1, z1, s2, z2, so, negate);
    const [xlo, xhi] = xnnActivationRange(ctx.attrs.fused_activation_function, oq);
    const d1 = a.d, d2 = b.d;
    const am = x.aMultiplier, bm = x.bMultiplier, bias = x.bias, div = 2 ** x.shift;
    forEachRow(plan, (o, i1, i2) => {
      for (let k = 0; k < n; k++) {
        const acc = (bias + d1[i1 + k * st1] * am + d2[i2 + k * st2] * bm) | 0;
        od[o + k] = clamp(Math.floor(acc / div) + zo, xlo, xhi);
      }
    });
    return [out];
  }

  const p = addParams(s1, s2, so, int16, negate);
  const mbqm = mbqmFn();
  // An 8-bit operand has 256 codes, so its scaled value comes from a table.
  const scaled = (q: QTensor, z: number, m: QuantizedMultiplier): Int32Array | undefined => {
    if (q.q.storage !== "i8" && q.q.storage !== "u8") return undefined;
    const base = q.q.storage === "i8" ? -128 : 0;
    const t = new Int32Array(256);
    for (let c = 0; c < 256; c++) {
      t[c] = mbqm(((base + c - z) * (1 << p.leftShift)) | 0, m.multiplier, m.shift);
    }
    return t;
  };
  const t1 = scaled(a, z1, p.in1), t2 = scaled(b, z2, p.in2);
  const base1 = a.q.storage === "i8" ? 128 : 0, base2 = b.q.storage === "i8" ? 128 : 0;
  const d1 = a.d, d2 = b.d;
  const om = p.out.multiplier, osh = p.out.shift;
  forEachRow(plan, (o, i1, i2) => {
    for (let k = 0; k < n; k++) {
      const c1 = d1[i1 + k * st1], c2 = d2[i2 + k * st2];
      const v1 = t1
        ? t1[c1 + base1]
        : mbqm(((c1 - z1) * (1 << p.leftShift)) | 0, p.in1.multiplier, p.in1.shift);
      const v2 = t2
        ? t2[c2 + base2]
        : mbqm(((c2 - z2) * (1 << p.leftShift)) | 0, p.in2.multiplier, p.in2.shift);
      od[o + k] = clamp(mbqm((v1 + v2) | 0, om, osh) + zo, lo, hi);
    }
  });
  return [out];
}

registerKernel("tfl.ADD", (inputs, ctx) => addSub(inputs, ctx, false), accepts(0));
registerKernel("tfl.SUB", (inputs, ctx) => addSub(inputs, ctx, true), accepts(0));

registerKernel("tfl.MUL", (inputs, ctx) => {
  const a = qArg(inputs, 0, "x"), b = qArg(inputs, 1, "y");
  const oq = outQuant(ctx);
  const [s1, z1] = perTensor(a.q, "x"), [s2, z2] = perTensor(b.q, "y"), [so, zo] = perTensor(oq, "output");
  const [lo, hi] = activationRangeQuantized(ctx.attrs.fused_activation_function, oq);
  const m = qm((s1 * s2) / so);
  const mbqm = mbqmFn();
  const shape = broadcastStatic([a.t.shape, b.t.shape]);
  const out = ctx.alloc(oq, shape);
  const od = out.data as QArray;
  const plan = planBroadcast(shape, [a.t.shape, b.t.shape]);
  const n = plan.rowLength, st1 = plan.rowStrides[0], st2 = plan.rowStrides[1];
  const d1 = a.d, d2 = b.d;
  if (xnnpackTakes(oq.storage)) {
    // XNNPACK's quantized multiply: the integer product times float32(s1·s2)/s_out, ties to even.
    const scale = Math.fround(Math.fround(s1 * s2) / so);
    const [xlo, xhi] = xnnActivationRange(ctx.attrs.fused_activation_function, oq);
    forEachRow(plan, (o, i1, i2) => {
      for (let k = 0; k < n; k++) {
        const prod = (d1[i1 + k * st1] - z1) * (d2[i2 + k * st2] - z2);
        od[o + k] = clamp(roundHalfEven(Math.fround(prod * scale)) + zo, xlo, xhi);
      }
    });
    return [out];
  }
  forEachRow(plan, (o, i1, i2) => {
    for (let k = 0; k < n; k++) {
      const prod = (d1[i1 + k * st1] - z1) * (d2[i2 + k * st2] - z2);
      od[o + k] = clamp(mbqm(prod | 0, m.multiplier, m.shift) + zo, lo, hi);
    }
  });
  return [out];
}, accepts(0));

// ---- pooling and reductions --------------------------------------------------------------------------

for (const kind of ["AVERAGE", "MAX"] as const) {
  registerKernel(`tfl.${kind}_POOL_2D`, (inputs, ctx) => {
    const x = qArg(inputs, 0, "input");
    const oq = outQuant(ctx);
    const [N, H, W, C] = nhwc(x.t, "pool input");
    const at = ctx.attrs;
    const ay = runtimeAxis(at.padding, H, at.filter_height, at.stride_h);
    const ax = runtimeAxis(at.padding, W, at.filter_width, at.stride_w);
    const [lo, hi] = activationRangeQuantized(at.fused_activation_function, oq);
    const OH = ay.out, OW = ax.out;
    const out = ctx.alloc(oq, [N, OH, OW, C]);
    const od = out.data as QArray, xd = x.d;
    for (let n = 0; n < N; n++) {
      for (let oy = 0; oy < OH; oy++) {
        const iy0 = oy * at.stride_h - ay.padBefore;
        const fy0 = firstTap(iy0, 1), fy1 = endTap(iy0, 1, at.filter_height, H);
        for (let ox = 0; ox < OW; ox++) {
          const ix0 = ox * at.stride_w - ax.padBefore;
          const fx0 = firstTap(ix0, 1), fx1 = endTap(ix0, 1, at.filter_width, W);
          const count = (fy1 - fy0) * (fx1 - fx0);
          const ob = ((n * OH + oy) * OW + ox) * C;
          for (let c = 0; c < C; c++) {
            let acc = kind === "MAX" ? -Infinity : 0;
            for (let fy = fy0; fy < fy1; fy++) {
              for (let fx = fx0; fx < fx1; fx++) {
                const v = xd[((n * H + iy0 + fy) * W + ix0 + fx) * C + c];
                if (kind === "MAX") acc = v > acc ? v : acc;
                else acc += v;
              }
            }
            if (count === 0) fail("pooling window covers no input");
            if (kind === "AVERAGE") {
              // Rounds half away from zero: C's truncating division after adding half the count.
              const h = Math.trunc(count / 2);
              acc = acc > 0 ? Math.trunc((acc + h) / count) : Math.trunc((acc - h) / count);
            }
            od[ob + c] = clamp(acc, lo, hi);
          }
        }
      }
    }
    return [out];
  }, accepts(0));
}

registerKernel("tfl.MEAN", (inputs, ctx) => {
  const x = qArg(inputs, 0, "input");
  const oq = outQuant(ctx);
  const axesT = arg(inputs, 1, "axes");
  const [si, zi] = perTensor(x.q, "input"), [so, zo] = perTensor(oq, "output");
  const r = x.t.shape.length;
  const axes = new Set(intsOf(axesT).map((a) => axisOf(a, r)));
  const keep = !!ctx.attrs.keep_dims;
  const outShape: number[] = [];
  x.t.shape.forEach((d, i) => {
    if (!axes.has(i)) outShape.push(d);
    else if (keep) outShape.push(1);
  });
  // Sum over the reduced axes (reference_ops::QuantizedMeanOrSum), int32 sums.
  const reducedDims = x.t.shape.map((d, i) => (axes.has(i) ? 1 : d));
  const sums = new Float64Array(reducedDims.reduce((p, d) => p * d, 1));
  const strides = reducedDims.map((_, i) => reducedDims.slice(i + 1).reduce((p, d) => p * d, 1));
  const idx = new Array<number>(r).fill(0);
  const xd = x.d;
  for (let i = 0; i < xd.length; i++) {
    let o = 0;
    for (let k = 0; k < r; k++) if (!axes.has(k)) o += idx[k] * strides[k];
    sums[o] += xd[i];
    for (let k = r - 1; k >= 0; k--) {
      if (++idx[k] < x.t.shape[k]) break;
      idx[k] = 0;
    }
  }
  let count = 1;
  for (const a of axes) count *= x.t.shape[a];
  const out = ctx.alloc(oq, outShape);
  const od = out.data as QArray;
  const [qmin, qmax] = storageRange(oq.storage);
  if (count === 0) {
    od.fill(0);
    return [out];
  }
  if (xnnpackTakes(x.q.storage)) {
    // XNNPACK's mean: the int32 sum less the zero points, times (s_in/s_out)·(1/count) in float32.
    const scale = Math.fround(Math.fround(si / so) * Math.fround(1 / count));
    for (let i = 0; i < sums.length; i++) {
      od[i] = clamp(roundHalfEven(Math.fround(Math.fround(sums[i] - zi * count) * scale)) + zo, qmin, qmax);
    }
    return [out];
  }
  const base = qm(si / so);
  // Fold 1/count into the multiplier: shift = floor(log2 count), clamped as TFLite does.
  let shift = 0;
  while (2 ** (shift + 1) <= count) shift++;
  shift = Math.min(shift, 32, 31 + base.shift);
  const multiplier = Number((BigInt(base.multiplier) << BigInt(shift)) / BigInt(count));
  const mbqm = mbqmFn();
  for (let i = 0; i < sums.length; i++) {
    const v = mbqm((sums[i] - zi * count) | 0, multiplier, base.shift - shift) + zo;
    od[i] = clamp(v, qmin, qmax);
  }
  return [out];
}, accepts(0));

// ---- data movement with requantization ---------------------------------------------------------------

registerKernel("tfl.CONCATENATION", (inputs, ctx) => {
  const xs = inputs.map((_, i) => qArg(inputs, i, `value ${i}`));
  const oq = outQuant(ctx);
  if (ctx.attrs.fused_activation_function !== "NONE") {
    throw new LatheError(
      "unsupported",
      `fused ${ctx.attrs.fused_activation_function} on a quantized CONCATENATION`,
    );
  }
  const r = xs[0].t.shape.length;
  const axis = axisOf(ctx.attrs.axis, r);
  for (const x of xs) {
    if (x.t.shape.length !== r || x.t.shape.some((d, i) => i !== axis && d !== xs[0].t.shape[i])) {
      fail(`cannot concatenate [${x.t.shape}] with [${xs[0].t.shape}] along axis ${axis}`);
    }
  }
  const shape = xs[0].t.shape.map((d, i) => (i === axis ? xs.reduce((p, x) => p + x.t.shape[axis], 0) : d));
  const outer = shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const out = ctx.alloc(oq, shape);
  const od = out.data as QArray;
  const [so, zo] = perTensor(oq, "output");
  const [qmin, qmax] = storageRange(oq.storage);
  const invOut = Math.fround(1 / so);
  const rowOut = shape[axis] * inner;
  let offset = 0;
  for (const x of xs) {
    const [s, z] = perTensor(x.q, "value");
    const len = x.t.shape[axis] * inner;
    const same = s === so && z === zo;
    // ConcatenationWithScaling: float scale and bias, rounded half away from zero.
    const scale = Math.fround(s * invOut), bias = Math.fround(-z * scale);
    for (let o = 0; o < outer; o++) {
      const src = o * len, dst = o * rowOut + offset;
      if (same) {
        for (let k = 0; k < len; k++) od[dst + k] = x.d[src + k];
      } else {
        for (let k = 0; k < len; k++) {
          const v = roundHalfAway(Math.fround(Math.fround(x.d[src + k] * scale) + bias)) + zo;
          od[dst + k] = clamp(v, qmin, qmax);
        }
      }
    }
    offset += len;
  }
  return [out];
}, { ...QUANT, accepts: (inputs: Args) => inputs.length > 0 && inputs.every(isAffine) });

// ---- activations -------------------------------------------------------------------------------------

/** A 256-entry lookup table over the input codes, as TFLite's PopulateLookupTable / LUTPopulate builds it. */
function lut8(xq: AffineQuant, oq: AffineQuant, transform: (v: number) => number): Int32Array {
  const [si, zi] = perTensor(xq, "input"), [so, zo] = perTensor(oq, "output");
  const [qmin, qmax] = storageRange(xq.storage);
  const inv = Math.fround(1 / so);
  const t = new Int32Array(256);
  for (let v = qmin; v <= qmax; v++) {
    const deq = Math.fround(si * (v - zi));
    const rescaled = roundHalfAway(Math.fround(Math.fround(transform(deq)) * inv));
    t[v - qmin] = clamp(rescaled + zo, qmin, qmax);
  }
  return t;
}

function applyLut8(ctx: KernelContext, x: QTensor, oq: AffineQuant, table: Int32Array): Tensor {
  const out = ctx.alloc(oq, x.t.shape);
  const od = out.data as QArray, xd = x.d;
  const base = x.q.storage === "i8" ? 128 : 0;
  for (let i = 0; i < xd.length; i++) od[i] = table[xd[i] + base];
  return out;
}

function float32Logistic(v: number): number {
  const e = Math.fround(Math.exp(-v));
  return Math.fround(1 / Math.fround(1 + e));
}

for (const [op, transform] of [["LOGISTIC", float32Logistic], ["TANH", Math.tanh]] as const) {
  registerKernel(`tfl.${op}`, (inputs, ctx) => {
    const x = qArg(inputs, 0, "input");
    const oq = outQuant(ctx);
    if (x.q.storage === "i8" || x.q.storage === "u8") {
      const table = prepare(ctx, [x.q.scale[0], x.q.zeroPoint[0]], () => lut8(x.q, oq, transform));
      return [applyLut8(ctx, x, oq, table)];
    }
    if (x.q.storage !== "i16") throw new LatheError("unsupported", `${op} on ${x.q.storage}`);
    return [int16Activation(ctx, x, oq, op)];
  }, accepts(0));
}

/**
 * int16 LOGISTIC and TANH (TFLite's optimized kernels): symmetric power-of-two scales, the input read as
 * a 3-integer-bit fixed-point value (TANH may first double it), gemmlowp's logistic/tanh into Q0.15.
 */
function int16Activation(ctx: KernelContext, x: QTensor, oq: AffineQuant, op: "LOGISTIC" | "TANH"): Tensor {
  const [si, zi] = perTensor(x.q, "input"), [so, zo] = perTensor(oq, "output");
  if (zi !== 0 || zo !== 0) fail(`int16 ${op} needs zero points of 0`);
  const li = checkLog2(si), lo = checkLog2(so);
  if (li === undefined || lo === undefined || lo !== -15) {
    fail(`int16 ${op} needs power-of-two scales, output 2^-15`);
  }
  const leftShift = 12 + li;
  if (op === "LOGISTIC" ? leftShift !== 0 : leftShift < 0 || leftShift > 1) {
    fail(`int16 ${op} does not support an input scale of ${si}`);
  }
  const out = ctx.alloc(oq, x.t.shape);
  const od = out.data as Int16Array, xd = x.d;
  for (let i = 0; i < xd.length; i++) {
    const v = leftShift ? saturatingRoundingMultiplyByPOT(xd[i], 1, 16) : xd[i];
    od[i] = op === "LOGISTIC" ? fxLogistic(v, 3, 16) : fxTanh(v, 3, 16);
  }
  return out;
}

registerKernel("tfl.HARD_SWISH", (inputs, ctx) => {
  const x = qArg(inputs, 0, "input");
  const oq = outQuant(ctx);
  if (x.q.storage !== "i8" && x.q.storage !== "u8") {
    throw new LatheError("unsupported", `HARD_SWISH on ${x.q.storage}`);
  }
  const table = prepare(ctx, [x.q.scale[0], x.q.zeroPoint[0]], () => hardSwishTable(x.q, oq));
  return [applyLut8(ctx, x, oq, table)];
}, accepts(0));

/** DownScaleInt32ToInt16Multiplier: round a Q31 multiplier to Q15, saturating. */
function toInt16Multiplier(m: number): number {
  if (m >= 2147483647 - 32768) return 32767;
  return (m + 32768) >> 16;
}

function saturatingLeftShift16(v: number, amount: number): number {
  return clamp(v * 2 ** amount, -32768, 32767);
}

/** reference_ops::HardSwish for every input code (the kernel is a function of the code alone). */
function hardSwishTable(xq: AffineQuant, oq: AffineQuant): Int32Array {
  const [si, zi] = perTensor(xq, "input"), [so, zo] = perTensor(oq, "output");
  const [qmin, qmax] = storageRange(xq.storage);
  const hires = Math.fround(si / 128);
  const outM = qm(Math.fround(hires / so));
  const reluM = qm(Math.fround(hires / Math.fround(3 / 32768)));
  if (outM.shift > 0) fail("HARD_SWISH output multiplier exponent must not be positive");
  const outM16 = toInt16Multiplier(outM.multiplier), reluM16 = toInt16Multiplier(reluM.multiplier);
  const t = new Int32Array(256);
  for (let v = qmin; v <= qmax; v++) {
    const input = ((v - zi) << 16) >> 16;
    const hiresValue = ((input * 128) << 16) >> 16;
    const preshiftOut = srdhm16(hiresValue, outM16);
    let relu = hiresValue;
    if (reluM.shift > 0) relu = saturatingLeftShift16(relu, reluM.shift - 1);
    relu = srdhm16(relu, reluM16);
    if (reluM.shift > 0) relu = saturatingLeftShift16(relu, 1);
    if (reluM.shift < 0) relu = roundingDivideByPOT(relu, -reluM.shift);
    relu = (relu + 32768) >> 1;
    // SaturatingDoublingHighMul: like SRDHM but truncating toward zero.
    const prod = relu * preshiftOut;
    const preshift = relu === -32768 && preshiftOut === -32768 ? 32767 : Math.trunc(prod / 32768);
    let o = roundingDivideByPOT(preshift, -outM.shift);
    o = ((o + zo) << 16) >> 16;
    t[v - qmin] = clamp(o, qmin, qmax);
  }
  return t;
}

/** QuantizedReluX: rescale to the output, clamp to the activation's quantized range. */
function reluX(inputs: Args, ctx: KernelContext, actMin: number, actMax: number): RValue[] {
  const x = qArg(inputs, 0, "input");
  const oq = outQuant(ctx);
  const [si, zi] = perTensor(x.q, "input"), [so, zo] = perTensor(oq, "output");
  const [qmin, qmax] = storageRange(oq.storage);
  const lo = Math.max(qmin, zo + roundHalfAway(Math.fround(actMin / so)));
  const hi = actMax === Infinity ? qmax : Math.min(qmax, zo + roundHalfAway(Math.fround(actMax / so)));
  const m = qm(Math.fround(si / so));
  const mbqm = mbqmFn();
  const out = ctx.alloc(oq, x.t.shape);
  const od = out.data as QArray, xd = x.d;
  for (let i = 0; i < xd.length; i++) od[i] = clamp(zo + mbqm(xd[i] - zi, m.multiplier, m.shift), lo, hi);
  return [out];
}

registerKernel("tfl.RELU", (inputs, ctx) => reluX(inputs, ctx, 0, Infinity), accepts(0));
registerKernel("tfl.RELU6", (inputs, ctx) => reluX(inputs, ctx, 0, 6), accepts(0));
registerKernel("tfl.RELU_N1_TO_1", (inputs, ctx) => reluX(inputs, ctx, -1, 1), accepts(0));

// ---- softmax -----------------------------------------------------------------------------------------

registerKernel("tfl.SOFTMAX", (inputs, ctx) => {
  const x = qArg(inputs, 0, "input");
  const oq = outQuant(ctx);
  const r = x.t.shape.length;
  if (r < 1) fail("SOFTMAX needs rank 1 or more");
  const depth = x.t.shape[r - 1];
  const rows = depth === 0 ? 0 : x.d.length / depth;
  const out = ctx.alloc(oq, x.t.shape);
  const od = out.data as QArray, xd = x.d;
  const beta = Math.fround(ctx.attrs.beta);
  const [si] = perTensor(x.q, "input"), [so, zo] = perTensor(oq, "output");
  const [qmin, qmax] = storageRange(oq.storage);
  if (x.q.storage === "i8" || x.q.storage === "u8") {
    // optimized_ops::Softmax over PopulateSoftmaxLookupTable: table[255 − d] = expf(−s·β·d) in float,
    // a float sum in element order, float normalization.
    const table = prepare(ctx, [si, beta], () => {
      const t = new Float32Array(256);
      const scale = Math.fround(-si * beta);
      for (let v = 0; v <= 255; v++) t[255 - v] = Math.fround(Math.exp(Math.fround(scale * v)));
      return t;
    });
    const truncUint8 = oq.storage === "u8";
    for (let i = 0; i < rows; i++) {
      const b = i * depth;
      let max = -Infinity;
      for (let j = 0; j < depth; j++) if (xd[b + j] > max) max = xd[b + j];
      const off = 255 - max;
      let sum = 0;
      for (let j = 0; j < depth; j++) sum = Math.fround(sum + table[off + xd[b + j]]);
      const inv = Math.fround(1 / Math.fround(sum * so));
      for (let j = 0; j < depth; j++) {
        const p = Math.fround(table[off + xd[b + j]] * inv);
        // The uint8 output truncates p + 0.5 (and ignores the zero point) off aarch64.
        const q = truncUint8 ? Math.trunc(Math.fround(p + 0.5)) : roundHalfAway(p) + zo;
        od[b + j] = clamp(q, qmin, qmax);
      }
    }
    return [out];
  }
  if (x.q.storage !== "i16" || oq.storage !== "i16") {
    throw new LatheError("unsupported", `SOFTMAX from ${x.q.storage} to ${oq.storage}`);
  }
  if (zo !== 0) fail("int16 SOFTMAX needs an output zero point of 0");
  const p = prepare(ctx, [si, beta], () => ({
    exp: lut16(10 / 65535, 32767, 2 / 65535, 0, (v) => Math.fround(Math.exp(v))),
    recip: lut16(1 / 65535, -32768, 2 / 65535, 0, (v) => Math.fround(1 / Math.fround(1 + v))),
    m: qm(Math.fround(si * beta) / (10 / 65535)),
  }));
  const mbqm = mbqmFn();
  const exps = new Int32Array(depth);
  for (let i = 0; i < rows; i++) {
    const b = i * depth;
    let max = -32768;
    for (let j = 0; j < depth; j++) if (xd[b + j] > max) max = xd[b + j];
    let sum = 0;
    for (let j = 0; j < depth; j++) {
      const scaled = mbqm(xd[b + j] - max, p.m.multiplier, p.m.shift);
      exps[j] = lut16Lookup(clamp(scaled + 32767, -32768, 32767), p.exp);
      sum += exps[j];
    }
    const headroomPlusOne = Math.clz32(sum);
    const shifted = Math.floor((sum * 2 ** (headroomPlusOne - 1) + 8192) / 16384);
    const sym = clamp(shifted - 98304, -32768, 32767);
    const recip = lut16Lookup(sym, p.recip);
    const rs = 31 - headroomPlusOne;
    for (let j = 0; j < depth; j++) {
      const v = Math.floor((exps[j] * recip + 2 ** (rs - 1)) / 2 ** rs);
      od[b + j] = clamp(v, 0, 32767);
    }
  }
  return [out];
}, accepts(0));

/** LUTPopulate<int16_t> in float: 512 interpolation segments plus an end point, with midpoint bias. */
function lut16(
  inScale: number,
  inZp: number,
  outScale: number,
  outZp: number,
  f: (v: number) => number,
): Int16Array {
  const F = Math.fround;
  const si = F(inScale), so = F(outScale);
  const inMin = F(si * (-32768 - inZp)), inMax = F(si * (32767 - inZp));
  const outMin = F(so * (-32768 - outZp)), outMax = F(so * (32767 - outZp));
  const step = F(F(inMax - inMin) / 512), half = F(step / 2);
  const inv = F(65536 / F(outMax - outMin));
  const lut = new Int16Array(513);
  for (let i = 0; i < 512; i++) {
    const val = F(f(F(inMin + F(i * step))));
    const mid = F(f(F(F(inMin + F(i * step)) + half)));
    const next = F(f(F(inMin + F((i + 1) * step))));
    const sample = roundHalfAway(F(val * inv));
    const interp = roundHalfAway(F(F(F(next * inv) + sample) / 2));
    const midVal = roundHalfAway(F(mid * inv));
    const bias = roundHalfAway(F((interp - midVal) / 2));
    lut[i] = clamp(sample - bias, -32768, 32767);
  }
  lut[512] = clamp(roundHalfAway(F(F(f(inMax)) * inv)), -32768, 32767);
  return lut;
}

function lut16Lookup(v: number, lut: Int16Array): number {
  const index = 256 + (v >> 7);
  const offset = v & 0x7f;
  const base = lut[index];
  const slope = lut[index + 1] - base;
  return (((base + ((slope * offset + 64) >> 7)) << 16) >> 16);
}

// ---- quantize / dequantize ---------------------------------------------------------------------------

registerKernel("tfl.QUANTIZE", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  const oq = outQuant(ctx);
  const [qmin, qmax] = storageRange(oq.storage);
  const out = ctx.alloc(oq, x.shape);
  const od = out.data as QArray;
  if (x.dtype === "f32" || x.dtype === "f16") {
    // AffineQuantize: the float divided by the (double) scale, rounded half away from zero.
    const xd = x.data as Float32Array;
    const axis = oq.axis === undefined ? -1 : axisOf(oq.axis, x.shape.length);
    const D = axis < 0 ? 1 : x.shape[axis];
    const inner = axis < 0 ? 1 : x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
    if (axis < 0 && xnnpackTakes(oq.storage)) {
      // XNNPACK's f32 → qs8/qu8 convert: times the float32 reciprocal of the scale, nearest-even.
      const inv = Math.fround(1 / oq.scale[0]), zp = oq.zeroPoint[0];
      for (let i = 0; i < xd.length; i++) {
        od[i] = clamp(roundHalfEven(Math.fround(xd[i] * inv)) + zp, qmin, qmax);
      }
      return [out];
    }
    for (let i = 0; i < xd.length; i++) {
      const c = axis < 0 ? 0 : Math.floor(i / inner) % D;
      od[i] = clamp(roundHalfAway(xd[i] / oq.scale[c]) + oq.zeroPoint[c], qmin, qmax);
    }
    return [out];
  }
  const xq = qArg(inputs, 0, "input");
  const [si, zi] = perTensor(xq.q, "input"), [so, zo] = perTensor(oq, "output");
  const ratio = Math.fround(si / so);
  if (xnnpackTakes(oq.storage) && xq.q.storage === oq.storage && ratio >= 2 ** -8 && ratio <= 2 ** 7) {
    // XNNPACK's qs8/qu8 convert: a multiplier with 8 fraction bits, rounded half up.
    const base = oq.storage === "i8" ? -128 : 0, mul = roundHalfEven(256 * ratio);
    const table = new Int32Array(256);
    for (let c = 0; c < 256; c++) {
      table[c] = clamp(Math.floor(((base + c - zi) * mul + 128) / 256) + zo, qmin, qmax);
    }
    const xd = xq.d;
    for (let i = 0; i < xd.length; i++) od[i] = table[xd[i] - base];
    return [out];
  }
  const m = qm(si / so);
  const mbqm = mbqmFn();
  const xd = xq.d;
  if (xq.q.storage === "i8" || xq.q.storage === "u8") {
    // The result depends on the code alone: a 256-entry table.
    const base = xq.q.storage === "i8" ? -128 : 0;
    const table = new Int32Array(256);
    for (let c = 0; c < 256; c++) {
      table[c] = clamp(mbqm(base + c - zi, m.multiplier, m.shift) + zo, qmin, qmax);
    }
    for (let i = 0; i < xd.length; i++) od[i] = table[xd[i] - base];
    return [out];
  }
  for (let i = 0; i < xd.length; i++) od[i] = clamp(mbqm(xd[i] - zi, m.multiplier, m.shift) + zo, qmin, qmax);
  return [out];
}, {
  ...QUANT,
  accepts: (inputs: Args, ctx: KernelContext) => {
    const t = ctx.outputTypes[0];
    return isAffine(inputs[0]) ||
      (t?.kind === "tensor" && typeof t.dtype !== "string" && t.dtype.kind === "affine");
  },
});

registerKernel("tfl.DEQUANTIZE", (inputs, ctx) => {
  const x = qArg(inputs, 0, "input");
  const out = ctx.alloc("f32", x.t.shape);
  const od = out.data as Float32Array, xd = x.d, q = x.q;
  if (q.axis === undefined || q.scale.length === 1) {
    const s = q.scale[0], z = q.zeroPoint[0];
    for (let i = 0; i < xd.length; i++) od[i] = s * (xd[i] - z);
    return [out];
  }
  const axis = axisOf(q.axis, x.t.shape.length);
  const D = x.t.shape[axis], inner = x.t.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  if (q.scale.length !== D) fail(`${q.scale.length} scales along an axis of ${D}`);
  for (let i = 0; i < xd.length; i++) {
    const c = Math.floor(i / inner) % D;
    od[i] = q.scale[c] * (xd[i] - q.zeroPoint[c]);
  }
  return [out];
}, accepts(0));
