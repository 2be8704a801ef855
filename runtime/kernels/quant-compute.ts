// Kernels: ops that compute on quantized operands as particular hardware does (ir/ops/quant-compute.ts).
// Block formats follow ggml's reference arithmetic (runtime/ggml/), the shift PE follows PoTAcc's
// shift-and-add datapath, DQA's quantizer eDQA's, and the com.microsoft integer ops onnxruntime's x86
// kernels (MLAS's AVX2 QLinearAdd, its global-average-pool requantization).
import type { DType, MxQuant, PotQuant } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { GGML_TYPES } from "../../ir/ggml-type.ts";
import { convGeometry, QUANT_RANGES } from "../../ir/ops/quantize.ts";
import { F16_TO_F32 } from "../ggml/fp16.ts";
import { quantizeQ8_0 } from "../ggml/q-legacy.ts";
import { quantizeKernel, type QuantizeRow } from "../ggml/quantize.ts";
import { type VecDot, vecDotKernel, vecDotType } from "../ggml/vec-dot.ts";
import { registerKernel } from "../kernel-registry.ts";
import type { NumericArray, RValue, Tensor } from "../tensor.ts";
import { readNumbers, tensorArg } from "./number-view.ts";

const fr = Math.fround;
type Inputs = readonly (RValue | undefined)[];
const optional = (
  inputs: Inputs,
  i: number,
  what: string,
) => (inputs[i] === undefined ? undefined : tensorArg(inputs, i, what));

/** Round half to even. */
function rint(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// ---------------------------------------------------------------------------------------------- f32 FMA

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The f32 next to f32 value `r` in the direction of `toward`. */
function nextF32(r: number, toward: number): number {
  if (r === 0) return toward > 0 ? 1.401298464324817e-45 : -1.401298464324817e-45;
  f32[0] = r;
  u32[0] += (toward > r) === (r > 0) ? 1 : -1;
  return f32[0];
}

/** fmaf: a·b + c rounded once to f32 (a, b, c f32 values). */
export function fmaF32(a: number, b: number, c: number): number {
  const p = a * b; // exact: two 24-bit significands fit in 53 bits
  const s = p + c;
  const bb = s - p;
  const e = (p - (s - bb)) + (c - bb); // s + e is exactly p + c
  const r = fr(s);
  if (e === 0 || r === s) return r;
  // s lies exactly halfway between two f32 values only if the rounding could go either way: let e decide.
  const other = nextF32(r, s);
  if (Math.abs(s - r) === Math.abs(other - s)) return (e > 0) === (other > r) ? other : r;
  return r;
}

// --------------------------------------------------------------------------------- block formats

/** MXINT8 (OCP MX v1.0): 32 int8 elements with an implicit 2^-6 scale sharing one E8M0 exponent; 33 bytes. */
export const MXINT8_BLOCK_BYTES = 33;
const POW2 = (e: number) => Math.pow(2, e);

/** Encodes `n` (a multiple of 32) values: shared exponent floor(log2 amax), elements rounded half to even. */
export function quantizeMxInt8(
  src: Float32Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  n: number,
): void {
  for (let b = 0; b < n >> 5; b++) {
    const x = srcOff + 32 * b, o = dstOff + MXINT8_BLOCK_BYTES * b;
    let amax = 0;
    for (let j = 0; j < 32; j++) {
      const a = Math.abs(src[x + j]);
      if (a > amax) amax = a;
    }
    let e = amax > 0 ? Math.floor(Math.log2(amax)) : -127;
    // log2 of an f32 just below a power of two can round up to it; the element must stay below 2.
    if (amax > 0 && amax < POW2(e)) e--;
    if (e < -127) e = -127;
    if (e > 127) e = 127;
    dst[o] = e + 127;
    const inv = POW2(6 - e);
    for (let j = 0; j < 32; j++) {
      let q = rint(src[x + j] * inv);
      if (q > 127) q = 127;
      else if (q < -127) q = -127;
      dst[o + 1 + j] = q & 0xff;
    }
  }
}

export function dequantizeMxInt8(
  src: Uint8Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
): void {
  for (let b = 0; b < n >> 5; b++) {
    const o = srcOff + MXINT8_BLOCK_BYTES * b, s = POW2(src[o] - 133);
    for (let j = 0; j < 32; j++) dst[dstOff + 32 * b + j] = fr(((src[o + 1 + j] << 24) >> 24) * s);
  }
}

/** MXINT8 weight row · Q8_0 activation row: integer sums per block, scaled by 2^(E−133)·d in f32. */
export function vecDotMxInt8Q8_0(
  n: number,
  x: Uint8Array,
  xOff: number,
  y: Uint8Array,
  yOff: number,
): number {
  let sumf = 0;
  for (let b = 0; b < n >> 5; b++) {
    const bx = xOff + MXINT8_BLOCK_BYTES * b, by = yOff + 34 * b;
    let s = 0;
    for (let j = 0; j < 32; j++) s += ((x[bx + 1 + j] << 24) >> 24) * ((y[by + 2 + j] << 24) >> 24);
    const d = fr(F16_TO_F32[y[by] | (y[by + 1] << 8)] * POW2(x[bx] - 133));
    sumf = fr(sumf + fr(d * s));
  }
  return sumf;
}

/** How a block-weight type computes: its row layout, the activation type and the dot product. */
export interface BlockFormat {
  readonly block: number;
  readonly blockBytes: number;
  readonly actBlock: number;
  readonly actBlockBytes: number;
  readonly quantizeAct: QuantizeRow;
  readonly dot: VecDot;
}

/** The block format of a weight element type: a ggml type paired as llama.cpp pairs it, or MX. */
export function blockFormat(d: DType): BlockFormat {
  if (typeof d !== "string" && d.kind === "ggml") {
    const info = GGML_TYPES.get(d.typeId);
    if (!info) throw new LatheError("unsupported", `ggml type ${d.typeId}`);
    const act = vecDotType(d.typeId);
    const ai = GGML_TYPES.get(act)!;
    return {
      block: info.blockSize,
      blockBytes: info.typeSize,
      actBlock: ai.blockSize,
      actBlockBytes: ai.typeSize,
      quantizeAct: quantizeKernel(act),
      dot: vecDotKernel(d.typeId),
    };
  }
  if (typeof d !== "string" && d.kind === "mx") return mxFormat(d);
  throw new LatheError("runtime", `weights of type ${JSON.stringify(d)} are not block-quantized`);
}

function mxFormat(d: MxQuant): BlockFormat {
  if (d.block !== 32) throw new LatheError("unsupported", `MX blocks of ${d.block} (only 32)`);
  // MXFP4 is ggml's MXFP4 block, bit for bit; both pair with Q8_0 activations as ggml pairs MXFP4.
  if (d.element === "fp4_e2m1") {
    return {
      block: 32,
      blockBytes: 17,
      actBlock: 32,
      actBlockBytes: 34,
      quantizeAct: quantizeQ8_0,
      dot: vecDotKernel(39),
    };
  }
  if (d.element === "int8") {
    return {
      block: 32,
      blockBytes: MXINT8_BLOCK_BYTES,
      actBlock: 32,
      actBlockBytes: 34,
      quantizeAct: quantizeQ8_0,
      dot: vecDotMxInt8Q8_0,
    };
  }
  throw new LatheError("unsupported", `MX element type ${d.element}`);
}

function f32Data(t: Tensor, what: string): Float32Array {
  if (t.dtype !== "f32") throw new LatheError("runtime", `${what} must be f32`);
  return t.data as Float32Array;
}

function blockWeights(
  w: Tensor,
  k: number,
): { fmt: BlockFormat; N: number; Kp: number; rowBytes: number; data: Uint8Array } {
  const fmt = blockFormat(w.dtype);
  if (w.shape.length !== 2) throw new LatheError("runtime", "block weights must be [N, K]");
  const [N, Kp] = w.shape;
  if (Kp % fmt.block || Kp % fmt.actBlock) {
    throw new LatheError("runtime", `K = ${Kp} does not fill whole blocks`);
  }
  if (k > Kp) throw new LatheError("runtime", `rows of ${k} do not fit the weights' K = ${Kp}`);
  const rowBytes = (Kp / fmt.block) * fmt.blockBytes;
  const data = w.data as Uint8Array;
  if (data.length !== N * rowBytes) {
    throw new LatheError("runtime", `weights hold ${data.length} bytes, expected ${N * rowBytes}`);
  }
  return { fmt, N, Kp, rowBytes, data };
}

registerKernel("lathe.BlockMatMul", (inputs, ctx) => {
  const A = tensorArg(inputs, 0, "A"), W = tensorArg(inputs, 1, "W"), B = optional(inputs, 2, "B");
  const a = f32Data(A, "A");
  const K = A.shape[A.shape.length - 1] ?? 0;
  const { fmt, N, Kp, rowBytes, data } = blockWeights(W, K);
  const bias = B ? f32Data(B, "B") : undefined;
  if (bias && bias.length !== N) {
    throw new LatheError("runtime", `B has ${bias.length} elements, expected ${N}`);
  }
  const rows = K === 0 ? 0 : a.length / K;
  const out = ctx.alloc("f32", [...A.shape.slice(0, -1), N]);
  const y = out.data as Float32Array;
  const row = new Float32Array(Kp);
  const act = new Uint8Array((Kp / fmt.actBlock) * fmt.actBlockBytes);
  for (let r = 0; r < rows; r++) {
    row.set(a.subarray(r * K, r * K + K));
    fmt.quantizeAct(row, 0, act, 0, Kp);
    for (let n = 0; n < N; n++) {
      const v = fmt.dot(Kp, data, n * rowBytes, act, 0);
      y[r * N + n] = bias ? fr(v + bias[n]) : v;
    }
  }
  return [out];
});

registerKernel("lathe.BlockConv", (inputs, ctx) => {
  const X = tensorArg(inputs, 0, "X"), W = tensorArg(inputs, 1, "W"), B = optional(inputs, 2, "B");
  const x = f32Data(X, "X");
  if (X.shape.length !== 4) throw new LatheError("runtime", "X must be [N, C, H, W]");
  const [Nb, C, H, Wd] = X.shape;
  const group = ctx.attrs.group as number;
  const kernel = ctx.attrs.kernel_shape as number[];
  const [KH, KW] = kernel;
  if (!(group > 0) || C % group) {
    throw new LatheError("runtime", `${C} channels do not split into ${group} groups`);
  }
  const Cg = C / group, K = Cg * KH * KW;
  const { fmt, N: M, Kp, rowBytes, data } = blockWeights(W, K);
  if (M % group) throw new LatheError("runtime", `${M} filters do not split into ${group} groups`);
  const bias = B ? f32Data(B, "B") : undefined;
  const g = geometry([H, Wd], kernel, ctx.attrs);
  const [OH, OW] = g.outSize;
  const out = ctx.alloc("f32", [Nb, M, OH, OW]);
  const y = out.data as Float32Array;
  const row = new Float32Array(Kp);
  const act = new Uint8Array((Kp / fmt.actBlock) * fmt.actBlockBytes);
  const Mg = M / group, plane = OH * OW;
  for (let n = 0; n < Nb; n++) {
    for (let gi = 0; gi < group; gi++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          // One im2col row: the patch this output position reads, zero outside the input.
          let k = 0;
          for (let c = 0; c < Cg; c++) {
            const base = (n * C + gi * Cg + c) * H * Wd;
            for (let kh = 0; kh < KH; kh++) {
              const ih = oh * g.strides[0] - g.padBegin[0] + kh * g.dilations[0];
              for (let kw = 0; kw < KW; kw++, k++) {
                const iw = ow * g.strides[1] - g.padBegin[1] + kw * g.dilations[1];
                row[k] = ih >= 0 && ih < H && iw >= 0 && iw < Wd ? x[base + ih * Wd + iw] : 0;
              }
            }
          }
          fmt.quantizeAct(row, 0, act, 0, Kp);
          const p = oh * OW + ow;
          for (let j = 0; j < Mg; j++) {
            const m = gi * Mg + j;
            const v = fmt.dot(Kp, data, m * rowBytes, act, 0);
            y[(n * M + m) * plane + p] = bias ? fr(v + bias[m]) : v;
          }
        }
      }
    }
  }
  return [out];
});

function geometry(
  spatial: readonly number[],
  kernel: readonly number[],
  attrs: Readonly<Record<string, any>>,
) {
  try {
    return convGeometry(spatial, kernel, attrs);
  } catch (e) {
    throw new LatheError("runtime", (e as LatheError).reason ?? String(e));
  }
}

// ------------------------------------------------------------------------------ power-of-two shift PE

/**
 * One PE product: the activation code shifted by each term of the weight code's magnitude, summed, and
 * added or subtracted by the sign bit (bit 3). `terms[2m]`, `terms[2m+1]` are the left shifts of
 * magnitude code m, −1 where the term is absent.
 */
export function shiftProduct(x: number, code: number, terms: readonly number[]): number {
  const m = code & 7, t1 = terms[2 * m], t2 = terms[2 * m + 1];
  const p = (t1 >= 0 ? x << t1 : 0) + (t2 >= 0 ? x << t2 : 0);
  return code & 8 ? -p : p;
}

interface ShiftDecode {
  /** Per 4-bit code: shift of term 1 and 2 (0 where absent), masks (0 where absent), sign (±1). */
  s1: Int32Array;
  s2: Int32Array;
  m1: Int32Array;
  m2: Int32Array;
  sign: Int32Array;
  /** Per code, the signed multiplier the shifts make (for the zero-point correction). */
  mult: Int32Array;
}

function shiftDecode(w: Tensor, terms: readonly number[]): { d: ShiftDecode; q: PotQuant } {
  if (typeof w.dtype === "string" || w.dtype.kind !== "pot") {
    throw new LatheError("runtime", "W must hold power-of-two codes");
  }
  const q = w.dtype;
  if (terms.length !== 16 || terms.some((t) => !Number.isInteger(t) || t < -1 || t > 15)) {
    throw new LatheError("runtime", "terms must be 16 shifts in [-1, 15]");
  }
  const d: ShiftDecode = {
    s1: new Int32Array(16),
    s2: new Int32Array(16),
    m1: new Int32Array(16),
    m2: new Int32Array(16),
    sign: new Int32Array(16),
    mult: new Int32Array(16),
  };
  for (let c = 0; c < 16; c++) {
    const m = c & 7, t1 = terms[2 * m], t2 = terms[2 * m + 1];
    d.s1[c] = Math.max(t1, 0);
    d.s2[c] = Math.max(t2, 0);
    d.m1[c] = t1 >= 0 ? -1 : 0;
    d.m2[c] = t2 >= 0 ? -1 : 0;
    d.sign[c] = c & 8 ? -1 : 1;
    d.mult[c] = shiftProduct(1, c, terms);
    // The element type's table and the PE's decode must describe the same numbers.
    if (q.table[c] !== d.mult[c] && !(q.table[c] === 0 && d.mult[c] === 0)) {
      throw new LatheError(
        "runtime",
        `code ${c}: the weight table says ${q.table[c]}, the shift terms make ${d.mult[c]}`,
      );
    }
  }
  return { d, q };
}

function codes8(t: Tensor, what: string): { v: NumericArray } {
  const s = typeof t.dtype === "string" ? t.dtype : t.dtype.kind === "affine" ? t.dtype.storage : undefined;
  if (s !== "u8" && s !== "i8") throw new LatheError("runtime", `${what} must be u8 or i8 codes`);
  return { v: t.data as NumericArray };
}

function scalarOf(t: Tensor, what: string): number {
  if (t.data.length !== 1) throw new LatheError("runtime", `${what} must be a single value`);
  return readNumbers(t)[0];
}

function channelScales(q: PotQuant, channels: number): Float64Array {
  const s = new Float64Array(channels);
  if (q.scale.length !== 1 && q.scale.length !== channels) {
    throw new LatheError("runtime", `${q.scale.length} weight scales for ${channels} channels`);
  }
  for (let i = 0; i < channels; i++) s[i] = q.scale[q.scale.length === 1 ? 0 : i];
  return s;
}

registerKernel("lathe.ShiftMatMul", (inputs, ctx) => {
  const A = tensorArg(inputs, 0, "A"), W = tensorArg(inputs, 3, "W"), B = optional(inputs, 4, "B");
  const { v: a } = codes8(A, "A");
  const sa = scalarOf(tensorArg(inputs, 1, "a_scale"), "a_scale"),
    za = scalarOf(tensorArg(inputs, 2, "a_zero_point"), "a_zero_point");
  const { d, q } = shiftDecode(W, ctx.attrs.terms);
  if (W.shape.length !== 2) throw new LatheError("runtime", "W must be [N, K]");
  const [N, K] = W.shape;
  if (A.shape[A.shape.length - 1] !== K) throw new LatheError("runtime", `A's last dim is not K = ${K}`);
  const w = W.data as Uint8Array;
  const bias = B ? f32Data(B, "B") : undefined;
  const sw = channelScales(q, N);
  const rows = K === 0 ? 0 : a.length / K;
  const out = ctx.alloc("f32", [...A.shape.slice(0, -1), N]);
  const y = out.data as Float32Array;
  for (let n = 0; n < N; n++) {
    const wo = n * K;
    let wsum = 0;
    for (let k = 0; k < K; k++) wsum += d.mult[w[wo + k]];
    const scale = fr(sa * sw[n]);
    for (let r = 0; r < rows; r++) {
      const ao = r * K;
      let acc = 0;
      for (let k = 0; k < K; k++) {
        const c = w[wo + k], x = a[ao + k];
        acc += d.sign[c] * (((x << d.s1[c]) & d.m1[c]) + ((x << d.s2[c]) & d.m2[c]));
      }
      acc -= za * wsum;
      const v = fr(acc * scale);
      y[r * N + n] = bias ? fr(v + bias[n]) : v;
    }
  }
  return [out];
});

registerKernel("lathe.ShiftConv", (inputs, ctx) => {
  const X = tensorArg(inputs, 0, "X"), W = tensorArg(inputs, 3, "W"), B = optional(inputs, 4, "B");
  const { v: x } = codes8(X, "X");
  const sx = scalarOf(tensorArg(inputs, 1, "x_scale"), "x_scale"),
    zx = scalarOf(tensorArg(inputs, 2, "x_zero_point"), "x_zero_point");
  const { d, q } = shiftDecode(W, ctx.attrs.terms);
  if (X.shape.length !== 4 || W.shape.length !== 4) {
    throw new LatheError("runtime", "X must be [N, C, H, W] and W [M, C/group, kH, kW]");
  }
  const [Nb, C, H, Wd] = X.shape, [M, Cg, KH, KW] = W.shape;
  const group = ctx.attrs.group as number;
  if (!(group > 0) || C !== Cg * group || M % group) {
    throw new LatheError("runtime", `${C} channels, ${M} filters of ${Cg} and group ${group} do not fit`);
  }
  const g = geometry([H, Wd], [KH, KW], ctx.attrs);
  const [OH, OW] = g.outSize;
  const [sh, sw] = g.strides, [dh, dw] = g.dilations;
  // The input plane padded with the zero point, as the accelerator's driver pads: every tap then reads a code.
  const PH = Math.max(H + g.padBegin[0], (OH - 1) * sh + (KH - 1) * dh + 1),
    PW = Math.max(Wd + g.padBegin[1], (OW - 1) * sw + (KW - 1) * dw + 1);
  const padded = new Int32Array(PH * PW);
  const w = W.data as Uint8Array;
  const bias = B ? f32Data(B, "B") : undefined;
  const scales = channelScales(q, M);
  const out = ctx.alloc("f32", [Nb, M, OH, OW]);
  const y = out.data as Float32Array;
  const plane = OH * OW, taps = KH * KW, Mg = M / group;
  const acc = new Float64Array(Mg * plane);
  const wsum = new Float64Array(M);
  for (let m = 0; m < M; m++) for (let i = 0; i < Cg * taps; i++) wsum[m] += d.mult[w[m * Cg * taps + i]];
  for (let n = 0; n < Nb; n++) {
    for (let gi = 0; gi < group; gi++) {
      acc.fill(0);
      for (let c = 0; c < Cg; c++) {
        padded.fill(zx);
        const src = (n * C + gi * Cg + c) * H * Wd;
        for (let ih = 0; ih < H; ih++) {
          const pr = (ih + g.padBegin[0]) * PW + g.padBegin[1];
          for (let iw = 0; iw < Wd; iw++) padded[pr + iw] = x[src + ih * Wd + iw];
        }
        for (let j = 0; j < Mg; j++) {
          const m = gi * Mg + j, wb = (m * Cg + c) * taps, ab = j * plane;
          for (let kh = 0; kh < KH; kh++) {
            for (let kw = 0; kw < KW; kw++) {
              const code = w[wb + kh * KW + kw];
              if (d.m1[code] === 0 && d.m2[code] === 0) continue;
              const s1 = d.s1[code], s2 = d.s2[code], m1 = d.m1[code], m2 = d.m2[code], sg = d.sign[code];
              for (let oh = 0; oh < OH; oh++) {
                const pr = (oh * sh + kh * dh) * PW + kw * dw, ar = ab + oh * OW;
                for (let ow = 0; ow < OW; ow++) {
                  const xv = padded[pr + ow * sw];
                  acc[ar + ow] += sg * (((xv << s1) & m1) + ((xv << s2) & m2));
                }
              }
            }
          }
        }
      }
      for (let j = 0; j < Mg; j++) {
        const m = gi * Mg + j, scale = fr(sx * scales[m]), corr = zx * wsum[m], b = bias ? bias[m] : 0;
        const yo = (n * M + m) * plane, ab = j * plane;
        for (let p = 0; p < plane; p++) {
          const v = fr((acc[ab + p] - corr) * scale);
          y[yo + p] = bias ? fr(v + b) : v;
        }
      }
    }
  }
  return [out];
});

// ------------------------------------------------------------------------------------ DQA quantizer

/** eDQA's rounding: ceil(v − 0.5), ties toward −∞ (an integer, so never −0). */
function dqaRound(v: number): number {
  return Math.ceil(v - 0.5) + 0;
}

/**
 * The code and residual eDQA's quantizer produces from a (bits+extra)-bit value q: the top `bits` bits
 * (an arithmetic shift right by `extra`) and the `extra` low bits shifted out.
 */
export function dqaSplit(q: number, extra: number): { code: number; residual: number } {
  return { code: q >> extra, residual: q & ((1 << extra) - 1) };
}

/**
 * One channel slice through eDQA's quantizer: delta = max|x| / 2^(bits+extra−1), q = ceil(x/delta − 0.5)
 * clamped to bits+extra signed bits, then the code q >> extra, dequantized as (code << extra)·delta, or
 * q·delta when the channel keeps its residual bits.
 */
export function dqaSlice(
  x: Float32Array,
  base: number,
  n: number,
  bits: number,
  extra: number,
  keep: boolean,
  y: Float32Array,
  yBase: number,
): void {
  const range = 1 << (bits + extra - 1), qmin = -range, qmax = range - 1;
  let maxe = 0;
  for (let i = 0; i < n; i++) {
    const a = Math.abs(x[base + i]);
    if (a > maxe) maxe = a;
  }
  const delta = fr(maxe / range);
  for (let i = 0; i < n; i++) {
    if (delta === 0) {
      y[yBase + i] = 0;
      continue;
    }
    let q = dqaRound(fr(x[base + i] / delta));
    q = q < qmin ? qmin : q > qmax ? qmax : q;
    y[yBase + i] = fr((keep ? q : dqaSplit(q, extra).code << extra) * delta);
  }
}

registerKernel("lathe.DqaQuantize", (inputs, ctx) => {
  const X = tensorArg(inputs, 0, "X");
  const x = f32Data(X, "X");
  const { bits, extra } = ctx.attrs;
  const axis = ctx.attrs.axis < 0 ? ctx.attrs.axis + X.shape.length : ctx.attrs.axis;
  if (!(axis >= 0 && axis < X.shape.length)) {
    throw new LatheError("runtime", `axis ${ctx.attrs.axis} out of range`);
  }
  let outer = 1, inner = 1;
  for (let i = 0; i < axis; i++) outer *= X.shape[i];
  for (let i = axis + 1; i < X.shape.length; i++) inner *= X.shape[i];
  const C = X.shape[axis];
  const important = new Uint8Array(C);
  for (const c of ctx.attrs.important as number[]) {
    if (!(c >= 0 && c < C)) throw new LatheError("runtime", `important channel ${c} out of range`);
    important[c] = 1;
  }
  const out = ctx.alloc("f32", X.shape);
  const y = out.data as Float32Array;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < C; c++) {
      const base = (o * C + c) * inner;
      dqaSlice(x, base, inner, bits, extra, important[c] === 1, y, base);
    }
  }
  return [out];
});

// ------------------------------------------------------------------- onnxruntime's integer Add and GAP

function zeroPoint(inputs: Inputs, i: number): number {
  const t = optional(inputs, i, "zero point");
  return t ? scalarOf(t, "zero point") : 0;
}

function codeRange(t: Tensor): readonly [number, number] {
  const s = typeof t.dtype === "string" ? t.dtype : t.dtype.kind === "affine" ? t.dtype.storage : "";
  const r = QUANT_RANGES[s];
  if (!r || (s !== "u8" && s !== "i8")) throw new LatheError("runtime", "operands must be u8 or i8 codes");
  return r;
}

registerKernel("com.microsoft.QLinearAdd", (inputs, ctx) => {
  const A = tensorArg(inputs, 0, "A"), Bt = tensorArg(inputs, 3, "B");
  const [qmin, qmax] = codeRange(A);
  codeRange(Bt);
  const sA = scalarOf(tensorArg(inputs, 1, "A_scale"), "A_scale"),
    sB = scalarOf(tensorArg(inputs, 4, "B_scale"), "B_scale");
  const sC = scalarOf(tensorArg(inputs, 6, "C_scale"), "C_scale");
  const zA = zeroPoint(inputs, 2), zB = zeroPoint(inputs, 5), zC = zeroPoint(inputs, 7);
  const a = A.data as NumericArray, b = Bt.data as NumericArray;
  const scalarB = b.length === 1;
  if (!scalarB && b.length !== a.length) {
    throw new LatheError("runtime", "B must have A's shape or be a single value");
  }
  // MLAS's AVX2 kernel: ratios and the fixed part in f32, then one fused multiply-add per operand.
  const rAC = fr(sA / sC), rBC = fr(sB / sC);
  let fixed = fr(zC - fr(fr(rAC * zA) + fr(rBC * zB)));
  if (scalarB) fixed = fr(fixed + fr(b[0] * rBC));
  const out = ctx.alloc(A.dtype, A.shape);
  const c = out.data as NumericArray;
  for (let i = 0; i < a.length; i++) {
    const t = scalarB ? fixed : fmaF32(b[i], rBC, fixed);
    let v = rint(fmaF32(a[i], rAC, t));
    v = v < qmin ? qmin : v > qmax ? qmax : v;
    c[i] = v;
  }
  return [out];
});

registerKernel("com.microsoft.QLinearGlobalAveragePool", (inputs, ctx) => {
  const X = tensorArg(inputs, 0, "X");
  const [qmin, qmax] = codeRange(X);
  const sx = scalarOf(tensorArg(inputs, 1, "x_scale"), "x_scale"),
    zx = scalarOf(tensorArg(inputs, 2, "x_zero_point"), "x_zero_point");
  const sy = scalarOf(tensorArg(inputs, 3, "y_scale"), "y_scale"),
    zy = scalarOf(tensorArg(inputs, 4, "y_zero_point"), "y_zero_point");
  const last = ctx.attrs.channels_last === 1;
  const rank = X.shape.length;
  if (rank < 3) throw new LatheError("runtime", "X must have spatial dims");
  const N = X.shape[0], C = last ? X.shape[rank - 1] : X.shape[1];
  const image = X.data.length / Math.max(N * C, 1);
  const scale = fr(sx / fr(sy * image));
  const outShape = X.shape.map((d, i) => (i === 0 || (last ? i === rank - 1 : i === 1) ? d : 1));
  const out = ctx.alloc(X.dtype, outShape);
  const x = X.data as NumericArray, y = out.data as NumericArray;
  const lo = qmin - zy, hi = qmax - zy;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      let acc = -zx * image;
      if (last) { for (let p = 0; p < image; p++) acc += x[(n * image + p) * C + c]; }
      else for (let p = 0, o = (n * C + c) * image; p < image; p++) acc += x[o + p];
      // MLAS requantization: f32(acc)·scale, clamped in float, rounded to nearest even, plus the zero point.
      let f = fr(fr(acc) * scale);
      f = f < lo ? lo : f > hi ? hi : f;
      y[n * C + c] = rint(f) + zy;
    }
  }
  return [out];
});
