// Kernels: reductions, arg-reductions, softmax family and the classification losses.
import type { DType } from "../../ir/dtype.ts";
import { isFloat } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { stridesOf } from "../../ir/shape-infer.ts";
import { type KernelContext, registerKernel } from "../kernel-registry.ts";
import { type NumericArray, type RValue, Tensor, toNumbers } from "../tensor.ts";
import { numberSink, readNumbers, runtimeAxis, splitAt, tensorArg } from "./number-view.ts";

type ReduceKind =
  | "sum"
  | "mean"
  | "max"
  | "min"
  | "prod"
  | "l1"
  | "l2"
  | "logsum"
  | "logsumexp"
  | "sumsquare";

const KINDS: Record<string, ReduceKind> = {
  ReduceSum: "sum",
  ReduceMean: "mean",
  ReduceMax: "max",
  ReduceMin: "min",
  ReduceProd: "prod",
  ReduceL1: "l1",
  ReduceL2: "l2",
  ReduceLogSum: "logsum",
  ReduceLogSumExp: "logsumexp",
  ReduceSumSquare: "sumsquare",
};

/** Sorted reduced axes, or null when the op is a no-op (empty axes with noop_with_empty_axes). */
function resolveAxes(axesT: RValue | undefined, rank: number, noop: number): number[] | null {
  let vals: number[] = [];
  if (axesT !== undefined) {
    if (!(axesT instanceof Tensor)) throw new LatheError("runtime", "axes must be a tensor");
    vals = toNumbers(axesT);
  }
  if (vals.length === 0) return noop ? null : Array.from({ length: rank }, (_, i) => i);
  const set = new Set(vals.map((v) => runtimeAxis(v, rank, "reduce axis")));
  if (set.size !== vals.length) throw new LatheError("runtime", `duplicate reduce axes [${vals}]`);
  return [...set].sort((x, y) => x - y);
}

/** Flat offsets of every index combination over `dims` (row-major in those dims). */
export function offsetTable(
  shape: readonly number[],
  strides: readonly number[],
  dims: readonly number[],
): Int32Array {
  let count = 1;
  for (const d of dims) count *= shape[d];
  const table = new Int32Array(count);
  if (count === 0) return table;
  const idx = new Array<number>(dims.length).fill(0);
  let off = 0;
  for (let i = 0; i < count; i++) {
    table[i] = off;
    for (let k = dims.length - 1; k >= 0; k--) {
      const d = dims[k];
      idx[k]++;
      off += strides[d];
      if (idx[k] < shape[d]) break;
      off -= idx[k] * strides[d];
      idx[k] = 0;
    }
  }
  return table;
}

function reduceFloat(
  kind: ReduceKind,
  x: NumericArray,
  base: Int32Array,
  red: Int32Array,
  out: NumericArray,
): void {
  const R = red.length;
  for (let o = 0; o < base.length; o++) {
    const b = base[o];
    let acc: number;
    switch (kind) {
      case "sum":
      case "mean":
      case "logsum":
        acc = 0;
        for (let r = 0; r < R; r++) acc += x[b + red[r]];
        if (kind === "mean") acc /= R;
        else if (kind === "logsum") acc = Math.log(acc);
        break;
      case "sumsquare":
      case "l2":
        acc = 0;
        for (let r = 0; r < R; r++) {
          const v = x[b + red[r]];
          acc += v * v;
        }
        if (kind === "l2") acc = Math.sqrt(acc);
        break;
      case "l1":
        acc = 0;
        for (let r = 0; r < R; r++) acc += Math.abs(x[b + red[r]]);
        break;
      case "prod":
        acc = 1;
        for (let r = 0; r < R; r++) acc *= x[b + red[r]];
        break;
      case "max":
        acc = -Infinity;
        for (let r = 0; r < R; r++) {
          const v = x[b + red[r]];
          // NaN wins and then sticks, as in numpy.
          if (v > acc || v !== v) acc = v;
          if (acc !== acc) break;
        }
        break;
      case "min":
        acc = Infinity;
        for (let r = 0; r < R; r++) {
          const v = x[b + red[r]];
          if (v < acc || v !== v) acc = v;
          if (acc !== acc) break;
        }
        break;
      case "logsumexp": {
        let m = -Infinity;
        for (let r = 0; r < R; r++) {
          const v = x[b + red[r]];
          if (v > m || v !== v) m = v;
        }
        if (m === Infinity || m === -Infinity || m !== m) {
          acc = m;
          break;
        }
        let s = 0;
        for (let r = 0; r < R; r++) s += Math.exp(x[b + red[r]] - m);
        acc = m + Math.log(s);
        break;
      }
    }
    out[o] = acc;
  }
}

/** Exact 64-bit integer reductions (wrapping like the C++ runtimes); the float-valued kinds go through numbers. */
function reduceBig(
  kind: ReduceKind,
  x: BigInt64Array | BigUint64Array,
  base: Int32Array,
  red: Int32Array,
  out: BigInt64Array | BigUint64Array,
): void {
  const R = red.length;
  const signed = x instanceof BigInt64Array;
  const wrap = signed ? (v: bigint) => BigInt.asIntN(64, v) : (v: bigint) => BigInt.asUintN(64, v);
  const lo = signed ? -(1n << 63n) : 0n, hi = signed ? (1n << 63n) - 1n : (1n << 64n) - 1n;
  for (let o = 0; o < base.length; o++) {
    const b = base[o];
    let acc: bigint;
    switch (kind) {
      case "sum":
      case "mean":
        acc = 0n;
        for (let r = 0; r < R; r++) acc += x[b + red[r]];
        if (kind === "mean") acc = R ? acc / BigInt(R) : 0n;
        break;
      case "sumsquare":
        acc = 0n;
        for (let r = 0; r < R; r++) acc += x[b + red[r]] * x[b + red[r]];
        break;
      case "l1":
        acc = 0n;
        for (let r = 0; r < R; r++) {
          const v = x[b + red[r]];
          acc += v < 0n ? -v : v;
        }
        break;
      case "prod":
        acc = 1n;
        for (let r = 0; r < R; r++) acc = wrap(acc * x[b + red[r]]);
        break;
      case "max":
        acc = lo;
        for (let r = 0; r < R; r++) if (x[b + red[r]] > acc) acc = x[b + red[r]];
        break;
      case "min":
        acc = hi;
        for (let r = 0; r < R; r++) if (x[b + red[r]] < acc) acc = x[b + red[r]];
        break;
      default:
        throw new LatheError("runtime", `no exact integer form of ${kind}`);
    }
    out[o] = wrap(acc);
  }
}

/** Integer types have no infinities: an empty max/min gives the type's lowest/highest value (opset 18). */
function emptyExtreme(dtype: DType, kind: ReduceKind): number | undefined {
  if (kind !== "max" && kind !== "min") return undefined;
  const s = typeof dtype === "string" ? dtype : dtype.kind === "affine" ? dtype.storage : undefined;
  const ranges: Record<string, [number, number]> = {
    i32: [-2147483648, 2147483647],
    u32: [0, 4294967295],
    i16: [-32768, 32767],
    u16: [0, 65535],
    i8: [-128, 127],
    u8: [0, 255],
    i4: [-8, 7],
    u4: [0, 15],
    bool: [0, 1],
  };
  const r = s ? ranges[s] : undefined;
  return r ? (kind === "max" ? r[0] : r[1]) : undefined;
}

function reduceKernel(kind: ReduceKind) {
  return (inputs: readonly (RValue | undefined)[], ctx: KernelContext): RValue[] => {
    const t = tensorArg(inputs, 0, "data");
    if (t.dtype === "string") throw new LatheError("runtime", "cannot reduce a string tensor");
    const rank = t.shape.length;
    const axes = resolveAxes(inputs[1], rank, ctx.attrs.noop_with_empty_axes);
    if (axes === null) {
      const out = ctx.alloc(t.dtype, t.shape);
      (out.data as NumericArray).set(t.data as NumericArray);
      return [out];
    }
    const keep = ctx.attrs.keepdims !== 0;
    const isRed = new Array<boolean>(rank).fill(false);
    for (const ax of axes) isRed[ax] = true;
    const kept: number[] = [], outShape: number[] = [];
    for (let i = 0; i < rank; i++) {
      if (!isRed[i]) {
        kept.push(i);
        outShape.push(t.shape[i]);
      } else if (keep) outShape.push(1);
    }
    if (t.data.length >= 2 ** 31) throw new LatheError("runtime", "tensor too large to reduce");
    const strides = stridesOf(t.shape);
    const base = offsetTable(t.shape, strides, kept);
    const red = offsetTable(t.shape, strides, axes);
    const d = t.data;
    if (
      (d instanceof BigInt64Array || d instanceof BigUint64Array) && kind !== "l2" && kind !== "logsum" &&
      kind !== "logsumexp"
    ) {
      const out = ctx.alloc(t.dtype, outShape);
      reduceBig(kind, d, base, red, out.data as BigInt64Array | BigUint64Array);
      return [out];
    }
    const sink = numberSink(ctx, t.dtype, outShape);
    const extreme = red.length === 0 ? emptyExtreme(t.dtype, kind) : undefined;
    if (extreme !== undefined) sink.buf.fill(extreme);
    else reduceFloat(kind, readNumbers(t), base, red, sink.buf);
    return [sink.done()];
  };
}

for (const [op, kind] of Object.entries(KINDS)) registerKernel(op, reduceKernel(kind));

function argKernel(isMax: boolean) {
  return (inputs: readonly (RValue | undefined)[], ctx: KernelContext): RValue[] => {
    const t = tensorArg(inputs, 0, "data");
    if (t.dtype === "string") throw new LatheError("runtime", "cannot take ArgMax/ArgMin of strings");
    const axis = runtimeAxis(ctx.attrs.axis, t.shape.length);
    const { outer, dim, inner } = splitAt(t.shape, axis);
    const outShape = ctx.attrs.keepdims !== 0
      ? t.shape.map((s, i) => (i === axis ? 1 : s))
      : t.shape.filter((_, i) => i !== axis);
    if (dim === 0 && outer * inner > 0) throw new LatheError("runtime", "ArgMax/ArgMin over an empty axis");
    const out = ctx.alloc("i64", outShape);
    const y = out.data as BigInt64Array;
    // bigint and number elements compare with the same operators; only bf16 needs converting.
    const x: ArrayLike<number | bigint> = t.dtype === "bf16"
      ? readNumbers(t)
      : (t.data as ArrayLike<number | bigint>);
    const last = ctx.attrs.select_last_index !== 0;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const b = o * dim * inner + i;
        let best = x[b], at = 0;
        for (let k = 1; k < dim; k++) {
          const v = x[b + k * inner];
          if (v !== v) {
            // NaN is the extreme (numpy): the first one wins, or the last with select_last_index.
            if (best === best || last) {
              best = v;
              at = k;
            }
            continue;
          }
          if (best !== best) continue;
          const better = isMax ? (last ? v >= best : v > best) : (last ? v <= best : v < best);
          if (better) {
            best = v;
            at = k;
          }
        }
        y[o * inner + i] = BigInt(at);
      }
    }
    return [out];
  };
}

registerKernel("ArgMax", argKernel(true));
registerKernel("ArgMin", argKernel(false));

type SoftKind = "softmax" | "logsoftmax" | "hardmax";

/** Softmax-family over one axis of x viewed as [outer, dim, inner], written into y. */
function softmaxInto(
  kind: SoftKind,
  x: ArrayLike<number>,
  y: NumericArray,
  outer: number,
  dim: number,
  inner: number,
): void {
  const tmp = new Float64Array(dim);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const b = o * dim * inner + i;
      let m = -Infinity, at = 0;
      for (let k = 0; k < dim; k++) {
        const v = x[b + k * inner];
        tmp[k] = v;
        if (v > m) {
          m = v;
          at = k;
        }
      }
      if (kind === "hardmax") {
        for (let k = 0; k < dim; k++) y[b + k * inner] = k === at ? 1 : 0;
        continue;
      }
      if (kind === "softmax") {
        let s = 0;
        for (let k = 0; k < dim; k++) s += tmp[k] = Math.exp(tmp[k] - m);
        const inv = 1 / s;
        for (let k = 0; k < dim; k++) y[b + k * inner] = tmp[k] * inv;
      } else {
        let s = 0;
        for (let k = 0; k < dim; k++) s += Math.exp(tmp[k] - m);
        const ls = Math.log(s);
        for (let k = 0; k < dim; k++) y[b + k * inner] = tmp[k] - m - ls;
      }
    }
  }
}

function softmaxKernel(kind: SoftKind) {
  return (inputs: readonly (RValue | undefined)[], ctx: KernelContext): RValue[] => {
    const t = tensorArg(inputs, 0, "input");
    if (!isFloat(t.dtype)) throw new LatheError("runtime", "softmax needs a floating-point input");
    const axis = runtimeAxis(ctx.attrs.axis, t.shape.length);
    const { outer, dim, inner } = splitAt(t.shape, axis);
    const sink = numberSink(ctx, t.dtype, t.shape);
    softmaxInto(kind, readNumbers(t), sink.buf, outer, dim, inner);
    return [sink.done()];
  };
}

registerKernel("Softmax", softmaxKernel("softmax"));
registerKernel("LogSoftmax", softmaxKernel("logsoftmax"));
registerKernel("Hardmax", softmaxKernel("hardmax"));

/**
 * Negative log likelihood over log-probabilities viewed as [N, C, D] with targets [N, D]. Ignored targets
 * contribute neither loss nor weight, so "mean" divides by the summed weight of the rest.
 */
function nll(
  logp: ArrayLike<number>,
  target: ArrayLike<number | bigint>,
  weight: ArrayLike<number> | undefined,
  ignore: number | undefined,
  N: number,
  C: number,
  D: number,
  perElement: Float64Array,
): { sum: number; weight: number } {
  let sum = 0, wsum = 0;
  for (let n = 0; n < N; n++) {
    for (let d = 0; d < D; d++) {
      const k = n * D + d;
      const c = Number(target[k]);
      if (c === ignore) {
        perElement[k] = 0;
        continue;
      }
      if (!(c >= 0 && c < C)) throw new LatheError("runtime", `target ${c} at ${k} is outside [0, ${C})`);
      const w = weight ? weight[c] : 1;
      const l = -logp[(n * C + c) * D + d] * w;
      perElement[k] = l;
      sum += l;
      wsum += w;
    }
  }
  return { sum, weight: wsum };
}

function lossKernel(withSoftmax: boolean) {
  return (inputs: readonly (RValue | undefined)[], ctx: KernelContext): RValue[] => {
    const x = tensorArg(inputs, 0, "scores");
    const t = tensorArg(inputs, 1, "target");
    if (!isFloat(x.dtype)) throw new LatheError("runtime", "scores must be floating point");
    if (t.dtype !== "i64" && t.dtype !== "i32") throw new LatheError("runtime", "target must be i32 or i64");
    if (x.shape.length < 2) throw new LatheError("runtime", "scores must have shape [N, C, ...]");
    const N = x.shape[0], C = x.shape[1];
    const rest = x.shape.slice(2);
    const D = rest.reduce((p, s) => p * s, 1);
    const tShape = [N, ...rest];
    if (t.shape.length !== tShape.length || t.shape.some((s, i) => s !== tShape[i])) {
      throw new LatheError("runtime", `target shape [${t.shape}] does not match scores [${x.shape}]`);
    }
    let weight: NumericArray | undefined;
    if (inputs[2] !== undefined) {
      const w = tensorArg(inputs, 2, "weight");
      if (w.data.length !== C) {
        throw new LatheError("runtime", `weight has ${w.data.length} elements, expected ${C}`);
      }
      weight = readNumbers(w);
    }
    let logp: ArrayLike<number> = readNumbers(x);
    let logProbOut: Tensor | undefined;
    if (withSoftmax) {
      const lp = new Float64Array(x.data.length);
      softmaxInto("logsoftmax", logp, lp, N, C, D);
      logp = lp;
      if (ctx.node.outputs[1]) {
        const s = numberSink(ctx, x.dtype, x.shape);
        s.buf.set(lp);
        logProbOut = s.done();
      }
    }
    const per = new Float64Array(N * D);
    const r = nll(logp, t.data as ArrayLike<number | bigint>, weight, ctx.attrs.ignore_index, N, C, D, per);
    const reduction = ctx.attrs.reduction;
    let loss: Tensor;
    if (reduction === "none") {
      const s = numberSink(ctx, x.dtype, tShape);
      s.buf.set(per);
      loss = s.done();
    } else if (reduction === "sum" || reduction === "mean") {
      const s = numberSink(ctx, x.dtype, []);
      s.buf[0] = reduction === "sum" ? r.sum : r.sum / r.weight;
      loss = s.done();
    } else throw new LatheError("runtime", `unknown reduction '${reduction}'`);
    return logProbOut ? [loss, logProbOut] : [loss];
  };
}

registerKernel("NegativeLogLikelihoodLoss", lossKernel(false));
registerKernel("SoftmaxCrossEntropyLoss", lossKernel(true));
