// Kernels: quantization (formats.md §3.4). Integer matmuls and 1-d/2-d convolutions accumulate exactly in
// wrapping int32 like onnxruntime, on the integer GEMM engine (runtime/gemm/igemm.ts); other convolutions
// sum exact products of 8-bit codes in doubles (below 2^53 for any realistic reduction length).
import { isFloat, type ScalarDType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { dtypeOfTensorProtoCode } from "../../ir/ops/tensor-proto-dtype.ts";
import { codeType, convGeometry, QUANT_RANGES, quantizeOutputDType } from "../../ir/ops/quantize.ts";
import { stridesOf } from "../../ir/shape-infer.ts";
import {
  depthwiseNhwc,
  igemm,
  igemmRequant8,
  type IntOperand,
  requantizePlanes8,
  type RowRequant,
  type ZeroPoint,
} from "../gemm/igemm.ts";
import { type KernelContext, registerKernel } from "../kernel-registry.ts";
import type { NumericArray, RValue, Tensor } from "../tensor.ts";
import { numberSink, readNumbers, runtimeAxis, splitAt, tensorArg } from "./number-view.ts";

type Inputs = readonly (RValue | undefined)[];

/** Round half to even (numpy's rint, the ONNX reference's rounding). */
export function rint(v: number): number {
  const r = Math.round(v);
  // Math.round sends ties up; move odd results of exact ties down to the even neighbour.
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function optional(inputs: Inputs, i: number, what: string): Tensor | undefined {
  return inputs[i] === undefined ? undefined : tensorArg(inputs, i, what);
}

function intCodes(t: Tensor, what: string): NumericArray {
  const c = codeType(t.dtype);
  if (!c || !QUANT_RANGES[c]) throw new LatheError("runtime", `${what} must hold integer codes`);
  return readNumbers(t);
}

/**
 * Where an element's scale and zero point live, for x viewed as [outer, D, inner] around `axis`: one value
 * (per tensor), one per index along the axis, or one per block of `block` indices along it (blocked).
 */
interface ParamLayout {
  outer: number;
  dim: number;
  inner: number;
  /** 0 per tensor, 1 per axis, 2 blocked. */
  kind: 0 | 1 | 2;
  block: number;
  blocks: number;
}

function paramLayout(x: Tensor, scale: Tensor, axisAttr: number, blockSize: number): ParamLayout {
  const n = scale.data.length;
  if (x.shape.length === 0 || (blockSize <= 0 && n === 1)) {
    if (n !== 1) throw new LatheError("runtime", `a scalar input needs a single scale, got [${scale.shape}]`);
    return { outer: 1, dim: x.data.length, inner: 1, kind: 0, block: 0, blocks: 1 };
  }
  const axis = runtimeAxis(axisAttr, x.shape.length);
  const { outer, dim, inner } = splitAt(x.shape, axis);
  if (blockSize <= 0) {
    if (scale.shape.length !== 1 || n !== dim) {
      throw new LatheError(
        "runtime",
        `per-axis scale [${scale.shape}] needs ${dim} elements along axis ${axis}`,
      );
    }
    return { outer, dim, inner, kind: 1, block: 0, blocks: dim };
  }
  const blocks = Math.ceil(dim / blockSize);
  const want = x.shape.map((s, i) => (i === axis ? blocks : s));
  if (scale.shape.length !== want.length || scale.shape.some((s, i) => s !== want[i])) {
    throw new LatheError(
      "runtime",
      `blocked scale [${scale.shape}] should be [${want}] for block_size ${blockSize}`,
    );
  }
  return { outer, dim, inner, kind: 2, block: blockSize, blocks };
}

/** Parameter index of element (o, d, 0); consecutive i add `paramStep(layout)`. */
function paramRow(l: ParamLayout, o: number, d: number): number {
  return l.kind === 0 ? 0 : l.kind === 1 ? d : (o * l.blocks + Math.floor(d / l.block)) * l.inner;
}
function paramStep(l: ParamLayout): number {
  return l.kind === 2 ? 1 : 0;
}

function checkZeroPoint(zp: Tensor | undefined, scale: Tensor): void {
  if (zp && (zp.data.length !== scale.data.length || zp.shape.length !== scale.shape.length)) {
    throw new LatheError("runtime", `zero point [${zp.shape}] and scale [${scale.shape}] differ in shape`);
  }
}

registerKernel("QuantizeLinear", (inputs, ctx) => {
  const x = tensorArg(inputs, 0, "x");
  const scale = tensorArg(inputs, 1, "y_scale");
  const zpT = optional(inputs, 2, "y_zero_point");
  checkZeroPoint(zpT, scale);
  const dtype = quantizeOutputDType(zpT?.dtype, ctx.attrs.output_dtype);
  const [qmin, qmax] = QUANT_RANGES[dtype];
  const xv = readNumbers(x), s = readNumbers(scale);
  const zp = zpT ? intCodes(zpT, "y_zero_point") : undefined;
  // Float inputs divide in single precision like the reference; doubles and int32 in double.
  const single = x.dtype !== "f64" && x.dtype !== "i32";
  const l = paramLayout(x, scale, ctx.attrs.axis, ctx.attrs.block_size);
  const step = paramStep(l);
  const out = ctx.alloc(dtype, x.shape);
  const y = out.data as NumericArray;
  let k = 0;
  for (let o = 0; o < l.outer; o++) {
    for (let d = 0; d < l.dim; d++) {
      const row = paramRow(l, o, d);
      for (let i = 0; i < l.inner; i++, k++) {
        const p = row + i * step;
        const q = single ? Math.fround(xv[k] / s[p]) : xv[k] / s[p];
        let v = rint(q) + (zp ? zp[p] : 0);
        if (v < qmin) v = qmin;
        else if (v > qmax) v = qmax;
        else if (v !== v) v = 0;
        y[k] = v;
      }
    }
  }
  return [out];
});

registerKernel("DequantizeLinear", (inputs, ctx) => {
  const x = tensorArg(inputs, 0, "x");
  const scale = tensorArg(inputs, 1, "x_scale");
  const zpT = optional(inputs, 2, "x_zero_point");
  checkZeroPoint(zpT, scale);
  if (!isFloat(scale.dtype)) throw new LatheError("runtime", "x_scale must be floating point");
  const dtype = ctx.attrs.output_dtype ? dtypeOfTensorProtoCode(ctx.attrs.output_dtype) : scale.dtype;
  if (!dtype || !isFloat(dtype)) {
    throw new LatheError("runtime", `output_dtype ${ctx.attrs.output_dtype} is not a float type`);
  }
  const xv = intCodes(x, "x"), s = readNumbers(scale);
  const zp = zpT ? intCodes(zpT, "x_zero_point") : undefined;
  const l = paramLayout(x, scale, ctx.attrs.axis, ctx.attrs.block_size);
  const step = paramStep(l);
  const sink = numberSink(ctx, dtype, x.shape);
  const y = sink.buf;
  let k = 0;
  for (let o = 0; o < l.outer; o++) {
    for (let d = 0; d < l.dim; d++) {
      const row = paramRow(l, o, d);
      for (let i = 0; i < l.inner; i++, k++) {
        const p = row + i * step;
        y[k] = (xv[k] - (zp ? zp[p] : 0)) * s[p];
      }
    }
  }
  return [sink.done()];
});

registerKernel("DynamicQuantizeLinear", (inputs, ctx) => {
  const x = tensorArg(inputs, 0, "x");
  if (x.dtype !== "f32") throw new LatheError("runtime", "DynamicQuantizeLinear needs f32 input");
  const xv = x.data as Float32Array;
  let lo = 0, hi = 0;
  for (let i = 0; i < xv.length; i++) {
    const v = xv[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    throw new LatheError("runtime", "input has non-finite values");
  }
  const f = Math.fround;
  // A constant-zero input would give scale 0; onnxruntime uses 1 then, which keeps every code at 0.
  const scale = hi === lo ? 1 : f(f(hi - lo) / 255);
  const zp = rint(Math.min(255, Math.max(0, f(0 - f(lo / scale)))));
  const y = ctx.alloc("u8", x.shape);
  const yd = y.data as Uint8Array;
  for (let i = 0; i < xv.length; i++) {
    const v = rint(f(xv[i] / scale)) + zp;
    yd[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  const st = ctx.alloc("f32", []);
  (st.data as Float32Array)[0] = scale;
  const zt = ctx.alloc("u8", []);
  (zt.data as Uint8Array)[0] = zp;
  return [y, st, zt];
});

/** Broadcast batch layout of a numpy matmul over [.., M, K] x [.., K, N]. */
interface MatmulPlan {
  outShape: number[];
  M: number;
  K: number;
  N: number;
  aBase: Int32Array;
  bBase: Int32Array;
}

function matmulPlan(as: readonly number[], bs: readonly number[]): MatmulPlan {
  if (as.length === 0 || bs.length === 0) {
    throw new LatheError("runtime", "matmul operands must have rank >= 1");
  }
  const a2 = as.length === 1 ? [1, as[0]] : [...as];
  const b2 = bs.length === 1 ? [bs[0], 1] : [...bs];
  const M = a2[a2.length - 2], K = a2[a2.length - 1], K2 = b2[b2.length - 2], N = b2[b2.length - 1];
  if (K !== K2) throw new LatheError("runtime", `matmul inner dims ${K} and ${K2} differ`);
  const ab = a2.slice(0, -2), bb = b2.slice(0, -2);
  const rank = Math.max(ab.length, bb.length);
  const pa = [...new Array(rank - ab.length).fill(1), ...ab],
    pb = [...new Array(rank - bb.length).fill(1), ...bb];
  const batch: number[] = [];
  for (let i = 0; i < rank; i++) {
    if (pa[i] !== pb[i] && pa[i] !== 1 && pb[i] !== 1) {
      throw new LatheError("runtime", `matmul batch dims [${ab}] and [${bb}] do not broadcast`);
    }
    batch.push(pa[i] === 1 ? pb[i] : pa[i]);
  }
  const count = batch.reduce((p, d) => p * d, 1);
  const sa = stridesOf(pa).map((s, i) => (pa[i] === 1 ? 0 : s * M * K));
  const sb = stridesOf(pb).map((s, i) => (pb[i] === 1 ? 0 : s * K * N));
  const aBase = new Int32Array(count), bBase = new Int32Array(count);
  const idx = new Array<number>(rank).fill(0);
  for (let t = 0; t < count; t++) {
    let oa = 0, ob = 0;
    for (let i = 0; i < rank; i++) {
      oa += idx[i] * sa[i];
      ob += idx[i] * sb[i];
    }
    aBase[t] = oa;
    bBase[t] = ob;
    for (let i = rank - 1; i >= 0; i--) {
      if (++idx[i] < batch[i]) break;
      idx[i] = 0;
    }
  }
  const outShape = [...batch];
  if (as.length > 1) outShape.push(M);
  if (bs.length > 1) outShape.push(N);
  return { outShape, M, K, N, aBase, bBase };
}

/**
 * Codes minus their zero point. A zero point of one value applies to all; otherwise element i uses
 * zp[floor(i / run) mod zp.length]: per row of A (run K), per column of B (run 1), per filter of W.
 */
function shifted(codes: NumericArray, zp: NumericArray | undefined, run: number): Float64Array {
  const out = new Float64Array(codes.length);
  if (!zp) out.set(codes);
  else if (zp.length === 1) { for (let i = 0; i < codes.length; i++) out[i] = codes[i] - zp[0]; }
  else {
    const period = zp.length;
    let z = 0, left = run;
    for (let i = 0; i < codes.length; i++) {
      out[i] = codes[i] - zp[z];
      if (--left === 0) {
        left = run;
        if (++z === period) z = 0;
      }
    }
  }
  return out;
}

/** Per-tensor (1 value) or per-row/column (`n` values) parameter; anything else is rejected. */
function paramCount(t: Tensor | undefined, n: number, what: string): void {
  if (t && t.data.length !== 1 && t.data.length !== n) {
    throw new LatheError("runtime", `${what} has ${t.data.length} elements; expected 1 or ${n}`);
  }
}

/** One zero point for all, or the typed array of per-row / per-column values. */
function zeroPoint(t: Tensor | undefined, what: string): number | NumericArray | undefined {
  if (!t) return undefined;
  const v = intCodes(t, what);
  return v.length === 1 ? v[0] : v;
}

/** The 8-bit codes of an integer operand (other code types fall to the generic engine path as views). */
function codeView(t: Tensor, what: string) {
  return intCodes(t, what) as IntOperand["view"]["data"];
}

/** acc[t, m, n] = Σ_k (a[t, m, k] - za)(b[t, k, n] - zb), int32 wrapping as onnxruntime accumulates. */
function integerMatmul(aT: Tensor, bT: Tensor, azpT: Tensor | undefined, bzpT: Tensor | undefined) {
  const plan = matmulPlan(aT.shape, bT.shape);
  const { M, K, N, aBase, bBase } = plan;
  paramCount(azpT, M, "a_zero_point");
  paramCount(bzpT, N, "b_zero_point");
  const a = codeView(aT, "a"), b = codeView(bT, "b");
  const za = zeroPoint(azpT, "a_zero_point"), zb = zeroPoint(bzpT, "b_zero_point");
  const acc = new Int32Array(aBase.length * M * N);
  for (let t = 0; t < aBase.length; t++) {
    igemm(
      M,
      N,
      K,
      { view: { data: a, off: aBase[t], rs: K, cs: 1 }, zp: za },
      { view: { data: b, off: bBase[t], rs: N, cs: 1 }, zp: zb },
      { data: acc, off: t * M * N, rs: N },
    );
  }
  return { plan, acc };
}

registerKernel("MatMulInteger", (inputs, ctx) => {
  const { plan, acc } = integerMatmul(
    tensorArg(inputs, 0, "A"),
    tensorArg(inputs, 1, "B"),
    optional(inputs, 2, "a_zero_point"),
    optional(inputs, 3, "b_zero_point"),
  );
  const out = ctx.alloc("i32", plan.outShape);
  (out.data as Int32Array).set(acc);
  return [out];
});

/** Writes round(acc * multiplier) + zp, saturated to the output type's range. */
function requantize(acc: number, mult: number, zp: number, qmin: number, qmax: number): number {
  const v = rint(Math.fround(acc * mult)) + zp;
  return v < qmin ? qmin : v > qmax ? qmax : v;
}

registerKernel("QLinearMatMul", (inputs, ctx) => {
  const aT = tensorArg(inputs, 0, "a"), bT = tensorArg(inputs, 3, "b");
  const as = tensorArg(inputs, 1, "a_scale"), bs = tensorArg(inputs, 4, "b_scale");
  const ys = tensorArg(inputs, 6, "y_scale"), yzT = tensorArg(inputs, 7, "y_zero_point");
  const { plan, acc } = integerMatmul(
    aT,
    bT,
    tensorArg(inputs, 2, "a_zero_point"),
    tensorArg(inputs, 5, "b_zero_point"),
  );
  const { M, N } = plan;
  paramCount(as, M, "a_scale");
  paramCount(bs, N, "b_scale");
  paramCount(ys, M, "y_scale");
  paramCount(yzT, M, "y_zero_point");
  const dtype = codeType(yzT.dtype)!;
  const range = QUANT_RANGES[dtype];
  if (!range || dtype === "i32") {
    throw new LatheError("runtime", `y_zero_point type ${dtype} is not a quantized type`);
  }
  const asv = readNumbers(as),
    bsv = readNumbers(bs),
    ysv = readNumbers(ys),
    yz = intCodes(yzT, "y_zero_point");
  const f = Math.fround;
  // One multiplier per (row, column), formed in single precision like the reference.
  const mult = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      const sa = asv[asv.length === 1 ? 0 : m],
        sb = bsv[bsv.length === 1 ? 0 : n],
        sy = ysv[ysv.length === 1 ? 0 : m];
      mult[m * N + n] = f(f(sa * sb) / sy);
    }
  }
  const out = ctx.alloc(dtype, plan.outShape);
  const y = out.data as NumericArray;
  const MN = M * N, [qmin, qmax] = range;
  for (let base = 0; base < acc.length; base += MN) {
    for (let m = 0; m < M; m++) {
      const z = yz[yz.length === 1 ? 0 : m], row = base + m * N;
      for (let n = 0; n < N; n++) y[row + n] = requantize(acc[row + n], mult[m * N + n], z, qmin, qmax);
    }
  }
  return [out];
});

/**
 * Direct integer convolution over zero-point-shifted operands: x [N, C, ...in], w [M, C/group, ...k];
 * returns the accumulators [N, M, ...out].
 */
function convAcc(
  x: Float64Array,
  xShape: readonly number[],
  w: Float64Array,
  wShape: readonly number[],
  attrs: Readonly<Record<string, any>>,
) {
  if (xShape.length < 3 || wShape.length !== xShape.length) {
    throw new LatheError(
      "runtime",
      `conv needs x [N, C, ...] and w [M, C/group, ...] of equal rank, got [${xShape}] and [${wShape}]`,
    );
  }
  const [N, C] = xShape, [M, Cg] = wShape;
  const group = attrs.group;
  if (!(group > 0) || C !== Cg * group || M % group !== 0) {
    throw new LatheError(
      "runtime",
      `${C} input channels, ${M} filters of ${Cg} channels and group ${group} do not fit`,
    );
  }
  let geom;
  try {
    geom = convGeometry(xShape.slice(2), wShape.slice(2), attrs);
  } catch (e) {
    throw new LatheError("runtime", (e as LatheError).reason ?? String(e));
  }
  const nd = xShape.length - 2;
  const { inSize, kernel, strides, dilations, padBegin, outSize } = geom;
  const inCount = inSize.reduce((p, d) => p * d, 1);
  const kCount = kernel.reduce((p, d) => p * d, 1);
  const outCount = outSize.reduce((p, d) => p * d, 1);
  const inStrides = stridesOf(inSize);
  // Per output position: the first input coordinate of its window along each spatial dim.
  const start = new Int32Array(outCount * nd);
  {
    const idx = new Array<number>(nd).fill(0);
    for (let o = 0; o < outCount; o++) {
      for (let d = 0; d < nd; d++) start[o * nd + d] = idx[d] * strides[d] - padBegin[d];
      for (let d = nd - 1; d >= 0; d--) {
        if (++idx[d] < outSize[d]) break;
        idx[d] = 0;
      }
    }
  }
  // Per kernel tap: its offset from the window start along each spatial dim.
  const tap = new Int32Array(kCount * nd);
  {
    const idx = new Array<number>(nd).fill(0);
    for (let k = 0; k < kCount; k++) {
      for (let d = 0; d < nd; d++) tap[k * nd + d] = idx[d] * dilations[d];
      for (let d = nd - 1; d >= 0; d--) {
        if (++idx[d] < kernel[d]) break;
        idx[d] = 0;
      }
    }
  }
  const acc = new Float64Array(N * M * outCount);
  const mPerGroup = M / group;
  if (nd <= 2) {
    // 1-d and 2-d: accumulate one kernel tap at a time over the valid output range (no per-MAC bounds checks).
    const two = nd === 2;
    const geo2: Plane = {
      H: two ? inSize[0] : 1,
      W: inSize[nd - 1],
      KH: two ? kernel[0] : 1,
      KW: kernel[nd - 1],
      sh: two ? strides[0] : 1,
      sw: strides[nd - 1],
      dh: two ? dilations[0] : 1,
      dw: dilations[nd - 1],
      ph: two ? padBegin[0] : 0,
      pw: padBegin[nd - 1],
      OH: two ? outSize[0] : 1,
      OW: outSize[nd - 1],
    };
    for (let n = 0; n < N; n++) {
      for (let m = 0; m < M; m++) {
        const g = Math.floor(m / mPerGroup);
        for (let c = 0; c < Cg; c++) {
          accumulatePlane(
            x,
            (n * C + g * Cg + c) * inCount,
            w,
            (m * Cg + c) * kCount,
            acc,
            (n * M + m) * outCount,
            geo2,
          );
        }
      }
    }
    return { acc, outShape: [N, M, ...outSize], outCount, M };
  }
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / mPerGroup);
      const accBase = (n * M + m) * outCount;
      for (let c = 0; c < Cg; c++) {
        const xBase = (n * C + g * Cg + c) * inCount;
        const wBase = (m * Cg + c) * kCount;
        for (let o = 0; o < outCount; o++) {
          let s = 0;
          for (let k = 0; k < kCount; k++) {
            const wv = w[wBase + k];
            if (wv === 0) continue;
            let off = 0, inside = true;
            for (let d = 0; d < nd; d++) {
              const p = start[o * nd + d] + tap[k * nd + d];
              if (p < 0 || p >= inSize[d]) {
                inside = false;
                break;
              }
              off += p * inStrides[d];
            }
            if (inside) s += x[xBase + off] * wv;
          }
          acc[accBase + o] += s;
        }
      }
    }
  }
  return { acc, outShape: [N, M, ...outSize], outCount, M };
}

interface Plane {
  H: number;
  W: number;
  KH: number;
  KW: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  ph: number;
  pw: number;
  OH: number;
  OW: number;
}

/** acc[oh, ow] += sum over taps of w[kh, kw] * x[oh*sh - ph + kh*dh, ow*sw - pw + kw*dw], zero outside x. */
function accumulatePlane(
  x: Float64Array,
  xBase: number,
  w: Float64Array,
  wBase: number,
  acc: Float64Array,
  accBase: number,
  p: Plane,
): void {
  const { H, W, KH, KW, sh, sw, dh, dw, ph, pw, OH, OW } = p;
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      const wv = w[wBase + kh * KW + kw];
      if (wv === 0) continue;
      const off = kw * dw - pw;
      const ow0 = Math.max(0, Math.ceil(-off / sw)), ow1 = Math.min(OW - 1, Math.floor((W - 1 - off) / sw));
      if (ow0 > ow1) continue;
      for (let oh = 0; oh < OH; oh++) {
        const ih = oh * sh - ph + kh * dh;
        if (ih < 0 || ih >= H) continue;
        const xr = xBase + ih * W + off, ar = accBase + oh * OW;
        for (let ow = ow0; ow <= ow1; ow++) acc[ar + ow] += wv * x[xr + ow * sw];
      }
    }
  }
}

function convOperands(xT: Tensor, wT: Tensor, xzpT: Tensor | undefined, wzpT: Tensor | undefined) {
  if (xzpT && xzpT.data.length !== 1) throw new LatheError("runtime", "x_zero_point must be a single value");
  const M = wT.shape[0] ?? 0;
  paramCount(wzpT, M, "w_zero_point");
  const per = wT.data.length / Math.max(M, 1);
  const x = shifted(intCodes(xT, "x"), xzpT && intCodes(xzpT, "x_zero_point"), 1);
  const w = shifted(intCodes(wT, "w"), wzpT && intCodes(wzpT, "w_zero_point"), per);
  return { x, w };
}

/**
 * Exact int32 accumulators [N, M, ...out] of a convolution of integer codes: the GEMM engine for 1-d and
 * 2-d convolutions of 8-bit codes (depthwise ones on the engine's NHWC depthwise kernel), the direct
 * double-precision loops otherwise (wrapped to int32 like onnxruntime's accumulator).
 */
function convInt32(
  xT: Tensor,
  wT: Tensor,
  xzpT: Tensor | undefined,
  wzpT: Tensor | undefined,
  attrs: Readonly<Record<string, any>>,
): { acc: Int32Array; outShape: number[]; outCount: number; M: number } {
  const xd = xT.data, wd = wT.data;
  const bytes = (d: unknown) => d instanceof Int8Array || d instanceof Uint8Array;
  if (xT.shape.length === 3 || xT.shape.length === 4) {
    if (bytes(xd) && bytes(wd) && wT.shape.length === xT.shape.length) {
      return convGemm(xT, wT, xzpT, wzpT, attrs);
    }
  }
  const { x, w } = convOperands(xT, wT, xzpT, wzpT);
  const r = convAcc(x, xT.shape, w, wT.shape, attrs);
  return { ...r, acc: Int32Array.from(r.acc) };
}

/**
 * y = saturate(rint(fround(((acc + bias[m]) wrapped to int32) · mult[m])) + zp) over planes of outCount accumulators, channel
 * m = plane mod M: the arithmetic of requantize(), one plane at a time into int32 scratch (a monomorphic
 * store) and then one typed copy into the output.
 */
function requantizePlanes(
  acc: Int32Array,
  M: number,
  outCount: number,
  mults: Float64Array,
  biases: Int32Array,
  zp: number,
  qmin: number,
  qmax: number,
  y: NumericArray,
): void {
  const codes = planeScratch(outCount), f = Math.fround;
  for (let plane = 0, i = 0; i < acc.length; plane++, i += outCount) {
    const m = plane % M, mult = mults[m], b = biases[m];
    for (let o = 0; o < outCount; o++) {
      // int32 accumulators wrap (onnxruntime adds the bias in int32 too).
      const v = f(((acc[i + o] + b) | 0) * mult);
      let r = Math.round(v);
      // rint: exact ties go to the even neighbour (parity survives the int32 view of any integer < 2^53).
      if (r - v === 0.5 && (r & 1) !== 0) r -= 1;
      r += zp;
      codes[o] = r < qmin ? qmin : r > qmax ? qmax : r;
    }
    y.set(codes.subarray(0, outCount), i);
  }
}

let codeScratch = new Int32Array(0);
function planeScratch(n: number): Int32Array {
  if (codeScratch.length < n) codeScratch = new Int32Array(n);
  return codeScratch;
}

/** Scratch for im2col bytes and transposed images, reused across calls (kernels run one at a time). */
let colScratch = new ArrayBuffer(0);
function colBytes(like: Int8Array | Uint8Array, n: number): Int8Array | Uint8Array {
  if (colScratch.byteLength < n) colScratch = new ArrayBuffer(Math.max(n, colScratch.byteLength * 2));
  return like instanceof Int8Array ? new Int8Array(colScratch, 0, n) : new Uint8Array(colScratch, 0, n);
}

function convGemm(
  xT: Tensor,
  wT: Tensor,
  xzpT: Tensor | undefined,
  wzpT: Tensor | undefined,
  attrs: Readonly<Record<string, any>>,
): { acc: Int32Array; outShape: number[]; outCount: number; M: number } {
  if (xzpT && xzpT.data.length !== 1) throw new LatheError("runtime", "x_zero_point must be a single value");
  const xShape = xT.shape, wShape = wT.shape;
  const [N, C] = xShape, [M, Cg] = wShape;
  paramCount(wzpT, M, "w_zero_point");
  const group = attrs.group;
  if (!(group > 0) || C !== Cg * group || M % group !== 0) {
    throw new LatheError(
      "runtime",
      `${C} input channels, ${M} filters of ${Cg} channels and group ${group} do not fit`,
    );
  }
  let geom;
  try {
    geom = convGeometry(xShape.slice(2), wShape.slice(2), attrs);
  } catch (e) {
    throw new LatheError("runtime", (e as LatheError).reason ?? String(e));
  }
  const two = xShape.length === 4;
  const { inSize, kernel, strides, dilations, padBegin, outSize } = geom;
  const H = two ? inSize[0] : 1, W = inSize[two ? 1 : 0];
  const KH = two ? kernel[0] : 1, KW = kernel[two ? 1 : 0];
  const sh = two ? strides[0] : 1, sw = strides[two ? 1 : 0];
  const dh = two ? dilations[0] : 1, dw = dilations[two ? 1 : 0];
  const ph = two ? padBegin[0] : 0, pw = padBegin[two ? 1 : 0];
  const OH = two ? outSize[0] : 1, OW = outSize[two ? 1 : 0];
  const outCount = OH * OW, HW = H * W;
  const x = xT.data as Int8Array | Uint8Array, w = wT.data as Int8Array | Uint8Array;
  const xzp = xzpT ? Number(xzpT.data[0]) : 0;
  const wzp = zeroPoint(wzpT, "w_zero_point");
  const acc = new Int32Array(N * M * outCount);
  const outShape = [N, M, ...outSize];
  const Mg = M / group, K = Cg * KH * KW;
  if (
    Cg === 1 && Mg === 1 && outCount > 0 && depthwiseNchw(x, xzp, w, wzp, N, C, H, W, KH, KW, {
      sh,
      sw,
      dh,
      dw,
      ph,
      pw,
      OH,
      OW,
    }, acc)
  ) {
    return { acc, outShape, outCount, M };
  }
  const direct = KH === 1 && KW === 1 && sh === 1 && sw === 1 && ph === 0 && pw === 0 && OH === H && OW === W;
  const col = direct ? x : colBytes(x, K * outCount);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < group; g++) {
      const xOff = (n * C + g * Cg) * HW;
      if (!direct) {
        im2colNchw(x, xOff, Cg, H, W, KH, KW, sh, sw, dh, dw, ph, pw, OH, OW, xzp, col);
      }
      igemm(
        Mg,
        outCount,
        K,
        {
          view: { data: w, off: g * Mg * K, rs: K, cs: 1 },
          zp: typeof wzp === "object" && group > 1 ? wzp.subarray(g * Mg, (g + 1) * Mg) : wzp,
          key: wT,
        },
        { view: { data: col, off: direct ? xOff : 0, rs: outCount, cs: 1 }, zp: xzp },
        { data: acc, off: (n * M + g * Mg) * outCount, rs: outCount },
      );
    }
  }
  return { acc, outShape, outCount, M };
}

/**
 * Rows (c, kh, kw) of the im2col matrix of one image's C planes: out[row·OH·OW + oh·OW + ow] is the input
 * code under that tap, or the zero point (a shifted zero) where the tap falls in the padding.
 */
function im2colNchw(
  x: Int8Array | Uint8Array,
  xOff: number,
  C: number,
  H: number,
  W: number,
  KH: number,
  KW: number,
  sh: number,
  sw: number,
  dh: number,
  dw: number,
  ph: number,
  pw: number,
  OH: number,
  OW: number,
  pad: number,
  out: Int8Array | Uint8Array,
): void {
  const plane = OH * OW;
  let row = 0;
  for (let c = 0; c < C; c++) {
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++, row++) {
        const off = kw * dw - pw;
        const ow0 = Math.max(0, Math.ceil(-off / sw)), ow1 = Math.min(OW - 1, Math.floor((W - 1 - off) / sw));
        for (let oh = 0; oh < OH; oh++) {
          const ih = oh * sh - ph + kh * dh, base = row * plane + oh * OW;
          if (ih < 0 || ih >= H || ow0 > ow1) {
            out.fill(pad, base, base + OW);
            continue;
          }
          if (ow0 > 0) out.fill(pad, base, base + ow0);
          if (ow1 < OW - 1) out.fill(pad, base + ow1 + 1, base + OW);
          const src = xOff + (c * H + ih) * W + off;
          if (sw === 1) out.set(x.subarray(src + ow0, src + ow1 + 1), base + ow0);
          else for (let ow = ow0; ow <= ow1; ow++) out[base + ow] = x[src + ow * sw];
        }
      }
    }
  }
}

/**
 * A depthwise convolution (one input channel per filter) on the engine's NHWC kernel: each image is
 * transposed to NHWC and the accumulators back. False when the engine cannot take it.
 */
function depthwiseNchw(
  x: Int8Array | Uint8Array,
  xzp: number,
  w: Int8Array | Uint8Array,
  wzp: ZeroPoint | undefined,
  N: number,
  C: number,
  H: number,
  W: number,
  KH: number,
  KW: number,
  win: { sh: number; sw: number; dh: number; dw: number; ph: number; pw: number; OH: number; OW: number },
  acc: Int32Array,
): boolean {
  const taps = KH * KW, HW = H * W, { OH, OW } = win, outCount = OH * OW;
  const wt = new Int16Array(taps * C);
  for (let c = 0; c < C; c++) {
    const z = wzp === undefined ? 0 : typeof wzp === "number" ? wzp : wzp[c];
    for (let t = 0; t < taps; t++) wt[t * C + c] = w[c * taps + t] - z;
  }
  const xt = colBytes(x, HW * C);
  const out = new Int32Array(outCount * C);
  for (let n = 0; n < N; n++) {
    const xb = n * C * HW;
    for (let c = 0; c < C; c++) {
      const s = xb + c * HW;
      for (let i = 0, d = c; i < HW; i++, d += C) xt[d] = x[s + i];
    }
    const ok = depthwiseNhwc({
      x: xt,
      xOff: 0,
      xZp: xzp,
      H,
      W,
      C,
      w: wt,
      KH,
      KW,
      OH,
      OW,
      sh: win.sh,
      sw: win.sw,
      dh: win.dh,
      dw: win.dw,
      pt: win.ph,
      pl: win.pw,
    }, out);
    if (!ok) return false;
    const ab = n * C * outCount;
    for (let c = 0; c < C; c++) {
      const d = ab + c * outCount;
      for (let o = 0, s = c; o < outCount; o++, s += C) acc[d + o] = out[s];
    }
  }
  return true;
}

registerKernel("ConvInteger", (inputs, ctx) => {
  const xT = tensorArg(inputs, 0, "x"), wT = tensorArg(inputs, 1, "w");
  const { acc, outShape } = convInt32(
    xT,
    wT,
    optional(inputs, 2, "x_zero_point"),
    optional(inputs, 3, "w_zero_point"),
    ctx.attrs,
  );
  const out = ctx.alloc("i32", outShape);
  (out.data as Int32Array).set(acc);
  return [out];
});

registerKernel("QLinearConv", (inputs, ctx) => {
  const xT = tensorArg(inputs, 0, "x"), wT = tensorArg(inputs, 3, "w");
  const xs = tensorArg(inputs, 1, "x_scale"), ws = tensorArg(inputs, 4, "w_scale");
  const ys = tensorArg(inputs, 6, "y_scale"), yzT = tensorArg(inputs, 7, "y_zero_point");
  const xzpT = tensorArg(inputs, 2, "x_zero_point"), wzpT = tensorArg(inputs, 5, "w_zero_point");
  if (xs.data.length !== 1 || ys.data.length !== 1 || yzT.data.length !== 1) {
    throw new LatheError("runtime", "x_scale, y_scale and y_zero_point must be single values");
  }
  const M = wT.shape[0] ?? 0;
  paramCount(ws, M, "w_scale");
  const dtype = codeType(yzT.dtype)!;
  const range = QUANT_RANGES[dtype];
  if (!range || dtype === "i32") {
    throw new LatheError("runtime", `y_zero_point type ${dtype} is not a quantized type`);
  }
  const bT = optional(inputs, 8, "B");
  if (bT && bT.data.length !== M) {
    throw new LatheError("runtime", `B has ${bT.data.length} elements, expected ${M}`);
  }
  const bias = bT ? readNumbers(bT) : undefined;
  const xsv = readNumbers(xs)[0],
    wsv = readNumbers(ws),
    ysv = readNumbers(ys)[0],
    yz = intCodes(yzT, "y_zero_point")[0];
  const f = Math.fround;
  const mults = new Float64Array(M), biases = new Int32Array(M);
  for (let m = 0; m < M; m++) {
    mults[m] = f(f(xsv * wsv[wsv.length === 1 ? 0 : m]) / ysv);
    biases[m] = bias ? bias[m] : 0;
  }
  const rq = { mults, biases, zp: yz, qmin: range[0], qmax: range[1] };
  const fused = qlinearConvFused(xT, wT, xzpT, wzpT, ctx, dtype, rq);
  if (fused) return [fused];
  const { acc, outShape, outCount } = convInt32(xT, wT, xzpT, wzpT, ctx.attrs);
  const out = ctx.alloc(dtype, outShape);
  const y = out.data as NumericArray;
  const bytes = y instanceof Int8Array || y instanceof Uint8Array;
  if (!bytes || !requantizePlanes8(acc, M, outCount, mults, biases, yz, range[0], range[1], y)) {
    requantizePlanes(acc, M, outCount, mults, biases, yz, range[0], range[1], y);
  }
  return [out];
});

/**
 * One image, one group, 2-d, 8-bit codes, a 1×1 unpadded stride-1 or im2col convolution: the GEMM and the
 * requantization run back to back in the engine's memory. Undefined when the case does not fit.
 */
function qlinearConvFused(
  xT: Tensor,
  wT: Tensor,
  xzpT: Tensor,
  wzpT: Tensor,
  ctx: KernelContext,
  dtype: ScalarDType,
  rq: RowRequant,
): Tensor | undefined {
  const x = xT.data, w = wT.data;
  const bytes = (d: unknown) => d instanceof Int8Array || d instanceof Uint8Array;
  if (!bytes(x) || !bytes(w) || xT.shape.length !== 4 || wT.shape.length !== 4) return undefined;
  const [N, C] = xT.shape, [M, Cg] = wT.shape;
  if (N !== 1 || ctx.attrs.group !== 1 || C !== Cg || xzpT.data.length !== 1) return undefined;
  if (wzpT.data.length !== 1 && wzpT.data.length !== M) return undefined;
  let geom;
  try {
    geom = convGeometry(xT.shape.slice(2), wT.shape.slice(2), ctx.attrs);
  } catch {
    return undefined;
  }
  const { inSize, kernel, strides, dilations, padBegin, outSize } = geom;
  const [H, W] = inSize, [KH, KW] = kernel, [OH, OW] = outSize;
  const outCount = OH * OW, K = C * KH * KW;
  const xzp = Number(xzpT.data[0]);
  const direct = KH === 1 && KW === 1 && strides[0] === 1 && strides[1] === 1 && padBegin[0] === 0 &&
    padBegin[1] === 0 && OH === H && OW === W;
  const xb = x as Int8Array | Uint8Array;
  const col = direct ? xb : colBytes(xb, K * outCount);
  if (!direct) {
    const [sh, sw] = strides, [dh, dw] = dilations, [ph, pw] = padBegin;
    im2colNchw(xb, 0, C, H, W, KH, KW, sh, sw, dh, dw, ph, pw, OH, OW, xzp, col);
  }
  const out = ctx.alloc(dtype, [N, M, OH, OW]);
  const y = out.data;
  if (!(y instanceof Int8Array || y instanceof Uint8Array)) return undefined;
  const ok = igemmRequant8(
    M,
    outCount,
    K,
    {
      view: { data: w as Int8Array | Uint8Array, off: 0, rs: K, cs: 1 },
      zp: zeroPoint(wzpT, "w_zero_point"),
      key: wT,
    },
    { view: { data: col, off: 0, rs: outCount, cs: 1 }, zp: xzp },
    rq,
    y,
    0,
  );
  return ok ? out : undefined;
}

/** Unpacks `len` codes of a block (LSB first; two nibbles per byte, low first, for 4 bits). */
function unpackCodes(bytes: Uint8Array, base: number, len: number, bits: number, out: Uint8Array): void {
  if (bits === 8) {
    for (let j = 0; j < len; j++) out[j] = bytes[base + j];
  } else if (bits === 4) {
    for (let j = 0; j < len; j++) {
      const b = bytes[base + (j >> 1)];
      out[j] = j & 1 ? b >> 4 : b & 15;
    }
  } else for (let j = 0; j < len; j++) out[j] = readBits(bytes, base, j, bits);
}

/** Reads `bits`-wide codes packed LSB first from a byte stream (two nibbles per byte for 4 bits). */
function readBits(bytes: Uint8Array, base: number, index: number, bits: number): number {
  const bit = index * bits;
  const at = base + (bit >> 3), shift = bit & 7;
  const word = bytes[at] | (shift + bits > 8 ? bytes[at + 1] << 8 : 0);
  return (word >> shift) & ((1 << bits) - 1);
}

registerKernel("com.microsoft.MatMulNBits", (inputs, ctx: KernelContext) => {
  const aT = tensorArg(inputs, 0, "A"), bT = tensorArg(inputs, 1, "B"), sT = tensorArg(inputs, 2, "scales");
  const { K, N, bits, block_size: bs } = ctx.attrs;
  if (!isFloat(aT.dtype)) throw new LatheError("runtime", "A must be floating point");
  if (aT.shape.length === 0 || aT.shape[aT.shape.length - 1] !== K) {
    throw new LatheError("runtime", `A's last dim must be K = ${K}`);
  }
  if (!(bits >= 2 && bits <= 8)) throw new LatheError("runtime", `bits must be in [2, 8], is ${bits}`);
  if (!(bs > 0)) throw new LatheError("runtime", `block_size must be positive, is ${bs}`);
  const kBlocks = Math.ceil(K / bs);
  const blob = (bs * bits) / 8;
  if (bT.dtype !== "u8" || bT.data.length !== N * kBlocks * blob) {
    throw new LatheError("runtime", `B must be u8 with ${N}x${kBlocks}x${blob} bytes, has ${bT.data.length}`);
  }
  if (sT.data.length !== N * kBlocks) {
    throw new LatheError("runtime", `scales must have ${N * kBlocks} elements`);
  }
  const B = bT.data as Uint8Array, scales = readNumbers(sT);
  const zpT = optional(inputs, 3, "zero_points");
  const zpRow = Math.ceil((kBlocks * bits) / 8);
  let zpFloat: NumericArray | undefined, zpPacked: Uint8Array | undefined, zpBytes: Uint8Array | undefined;
  if (zpT) {
    if (isFloat(zpT.dtype)) {
      if (zpT.data.length !== N * kBlocks) {
        throw new LatheError("runtime", `float zero_points must have ${N * kBlocks} elements`);
      }
      zpFloat = readNumbers(zpT);
    } else if (zpT.dtype === "u8" && zpT.data.length === N * zpRow) zpPacked = zpT.data as Uint8Array;
    else if (zpT.dtype === "u8" && zpT.data.length === N * kBlocks) zpBytes = zpT.data as Uint8Array;
    else {throw new LatheError(
        "runtime",
        `zero_points of ${zpT.data.length} elements fit neither packed nor unpacked layout`,
      );}
  }
  const gT = optional(inputs, 4, "g_idx");
  const gIdx = gT ? readNumbers(gT) : undefined;
  if (gIdx && gIdx.length !== K) throw new LatheError("runtime", `g_idx must have K = ${K} elements`);
  const biasT = optional(inputs, 5, "bias");
  if (biasT && biasT.data.length !== N) throw new LatheError("runtime", `bias must have N = ${N} elements`);
  const bias = biasT ? readNumbers(biasT) : undefined;
  const deflt = 1 << (bits - 1);
  if (gIdx) {
    for (let k = 0; k < K; k++) {
      if (!(gIdx[k] >= 0 && gIdx[k] < kBlocks)) {
        throw new LatheError("runtime", `g_idx ${gIdx[k]} out of range`);
      }
    }
  }
  const A = readNumbers(aT);
  const rows = A.length / K;
  const outShape = [...aT.shape.slice(0, -1), N];
  const sink = numberSink(ctx, aT.dtype, outShape);
  const y = sink.buf;
  // One block of one weight column at a time: dequantized into `wq` and applied to every row of A, so the
  // full-precision weight matrix never exists (it would be 8x the int4 size).
  const codes = new Uint8Array(bs);
  const wq = new Float64Array(bs);
  const acc = new Float64Array(rows);
  for (let n = 0; n < N; n++) {
    acc.fill(bias ? bias[n] : 0);
    for (let blk = 0; blk < kBlocks; blk++) {
      const k0 = blk * bs, len = Math.min(bs, K - k0);
      unpackCodes(B, (n * kBlocks + blk) * blob, len, bits, codes);
      for (let j = 0; j < len; j++) {
        const g = gIdx ? gIdx[k0 + j] : blk;
        const si = n * kBlocks + g;
        const zp = zpFloat
          ? zpFloat[si]
          : zpPacked
          ? readBits(zpPacked, n * zpRow, g, bits)
          : zpBytes
          ? zpBytes[si]
          : deflt;
        wq[j] = (codes[j] - zp) * scales[si];
      }
      for (let r = 0; r < rows; r++) {
        const ao = r * K + k0;
        let s = 0;
        for (let j = 0; j < len; j++) s += A[ao + j] * wq[j];
        acc[r] += s;
      }
    }
    for (let r = 0; r < rows; r++) y[r * N + n] = acc[r];
  }
  return [sink.done()];
});
