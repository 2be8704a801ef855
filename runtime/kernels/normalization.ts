// Kernels: normalizations. Statistics are accumulated in double precision whatever the element type.
import { isFloat } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { stashDType } from "../../ir/ops/normalization.ts";
import { stridesOf } from "../../ir/shape-infer.ts";
import { type KernelContext, registerKernel } from "../kernel-registry.ts";
import type { NumericArray, RValue, Tensor } from "../tensor.ts";
import { numberSink, readNumbers, runtimeAxis, tensorArg } from "./number-view.ts";
import { offsetTable } from "./reduce.ts";

type Inputs = readonly (RValue | undefined)[];

function floatArg(inputs: Inputs, i: number, what: string): Tensor {
  const t = tensorArg(inputs, i, what);
  if (!isFloat(t.dtype)) throw new LatheError("runtime", `${what} must be floating point`);
  return t;
}

/** A per-channel parameter as numbers, checked to have exactly `c` elements. */
function perChannel(inputs: Inputs, i: number, what: string, c: number): NumericArray {
  const t = tensorArg(inputs, i, what);
  if (t.data.length !== c) {
    throw new LatheError("runtime", `${what} has ${t.data.length} elements, expected ${c}`);
  }
  return readNumbers(t);
}

/** Channels and per-channel spatial size of an [N, C, ...] tensor. */
function nchw(x: Tensor): { n: number; c: number; s: number } {
  if (x.shape.length < 2) {
    throw new LatheError("runtime", `input must have shape [N, C, ...], got [${x.shape}]`);
  }
  let s = 1;
  for (let i = 2; i < x.shape.length; i++) s *= x.shape[i];
  return { n: x.shape[0], c: x.shape[1], s };
}

/**
 * Unidirectional broadcast of a parameter to `target` (LayerNormalization's Scale/B against X's trailing
 * dims), materialized once so the hot loop indexes it directly.
 */
function broadcastTo(t: Tensor, target: readonly number[], what: string): NumericArray {
  const src = readNumbers(t);
  const n = target.reduce((p, d) => p * d, 1);
  if (t.shape.length === target.length && t.shape.every((d, i) => d === target[i])) return src;
  if (t.shape.length > target.length) {
    throw new LatheError("runtime", `${what} [${t.shape}] does not broadcast to [${target}]`);
  }
  const pad = target.length - t.shape.length;
  const srcShape = [...new Array(pad).fill(1), ...t.shape];
  if (srcShape.some((d, i) => d !== 1 && d !== target[i])) {
    throw new LatheError("runtime", `${what} [${t.shape}] does not broadcast to [${target}]`);
  }
  const sStrides = stridesOf(srcShape).map((s, i) => (srcShape[i] === 1 ? 0 : s));
  const out = new Float64Array(n);
  const idx = new Array<number>(target.length).fill(0);
  let off = 0;
  for (let i = 0; i < n; i++) {
    out[i] = src[off];
    for (let k = target.length - 1; k >= 0; k--) {
      idx[k]++;
      off += sStrides[k];
      if (idx[k] < target[k]) break;
      off -= idx[k] * sStrides[k];
      idx[k] = 0;
    }
  }
  return out;
}

registerKernel("BatchNormalization", (inputs, ctx) => {
  const x = floatArg(inputs, 0, "X");
  const { n, c, s } = nchw(x);
  const scale = perChannel(inputs, 1, "scale", c);
  const bias = perChannel(inputs, 2, "B", c);
  const inMean = perChannel(inputs, 3, "input_mean", c);
  const inVar = perChannel(inputs, 4, "input_var", c);
  const eps = ctx.attrs.epsilon;
  const training = ctx.attrs.training_mode !== 0;
  const xv = readNumbers(x);
  const mean = new Float64Array(c), variance = new Float64Array(c);
  if (training) {
    // Batch statistics over every axis but the channel axis; the variance is the population variance.
    const count = n * s;
    for (let ch = 0; ch < c; ch++) {
      let sum = 0;
      for (let b = 0; b < n; b++) {
        const o = (b * c + ch) * s;
        for (let i = 0; i < s; i++) sum += xv[o + i];
      }
      const m = sum / count;
      let sq = 0;
      for (let b = 0; b < n; b++) {
        const o = (b * c + ch) * s;
        for (let i = 0; i < s; i++) {
          const d = xv[o + i] - m;
          sq += d * d;
        }
      }
      mean[ch] = m;
      variance[ch] = sq / count;
    }
  } else {
    mean.set(inMean);
    variance.set(inVar);
  }
  const sink = numberSink(ctx, x.dtype, x.shape);
  const y = sink.buf;
  for (let ch = 0; ch < c; ch++) {
    const mul = scale[ch] / Math.sqrt(variance[ch] + eps);
    const add = bias[ch] - mean[ch] * mul;
    for (let b = 0; b < n; b++) {
      const o = (b * c + ch) * s;
      for (let i = 0; i < s; i++) y[o + i] = xv[o + i] * mul + add;
    }
  }
  const out: RValue[] = [sink.done()];
  if (training) {
    const mom = ctx.attrs.momentum;
    const rm = numberSink(ctx, tensorArg(inputs, 3, "input_mean").dtype, [c]);
    const rv = numberSink(ctx, tensorArg(inputs, 4, "input_var").dtype, [c]);
    for (let ch = 0; ch < c; ch++) {
      rm.buf[ch] = inMean[ch] * mom + mean[ch] * (1 - mom);
      rv.buf[ch] = inVar[ch] * mom + variance[ch] * (1 - mom);
    }
    out.push(rm.done(), rv.done());
  }
  return out;
});

registerKernel("InstanceNormalization", (inputs, ctx) => {
  const x = floatArg(inputs, 0, "input");
  const { n, c, s } = nchw(x);
  const scale = perChannel(inputs, 1, "scale", c);
  const bias = perChannel(inputs, 2, "B", c);
  const eps = ctx.attrs.epsilon;
  const xv = readNumbers(x);
  const sink = numberSink(ctx, x.dtype, x.shape);
  const y = sink.buf;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const o = (b * c + ch) * s;
      const { mean, inv } = moments(xv, o, s, eps);
      const mul = scale[ch] * inv;
      const add = bias[ch] - mean * mul;
      for (let i = 0; i < s; i++) y[o + i] = xv[o + i] * mul + add;
    }
  }
  return [sink.done()];
});

/** Mean and 1/sqrt(variance + eps) of a contiguous run (two passes, for accuracy). */
function moments(x: ArrayLike<number>, off: number, len: number, eps: number): { mean: number; inv: number } {
  let sum = 0;
  for (let i = 0; i < len; i++) sum += x[off + i];
  const mean = sum / len;
  let sq = 0;
  for (let i = 0; i < len; i++) {
    const d = x[off + i] - mean;
    sq += d * d;
  }
  return { mean, inv: 1 / Math.sqrt(sq / len + eps) };
}

registerKernel("LayerNormalization", (inputs, ctx) => {
  const x = floatArg(inputs, 0, "X");
  const axis = runtimeAxis(ctx.attrs.axis, x.shape.length);
  const inner = x.shape.slice(axis);
  let outer = 1, d = 1;
  for (let i = 0; i < axis; i++) outer *= x.shape[i];
  for (const v of inner) d *= v;
  const scale = broadcastTo(tensorArg(inputs, 1, "Scale"), inner, "Scale");
  const bias = inputs[2] !== undefined ? broadcastTo(tensorArg(inputs, 2, "B"), inner, "B") : undefined;
  const eps = ctx.attrs.epsilon;
  const xv = readNumbers(x);
  const sink = numberSink(ctx, x.dtype, x.shape);
  const y = sink.buf;
  const u = stashDType(ctx.attrs.stash_type, x.dtype);
  const statShape = x.shape.map((v, i) => (i < axis ? v : 1));
  const meanOut = numberSink(ctx, u, statShape), invOut = numberSink(ctx, u, statShape);
  for (let o = 0; o < outer; o++) {
    const off = o * d;
    const { mean, inv } = moments(xv, off, d, eps);
    meanOut.buf[o] = mean;
    invOut.buf[o] = inv;
    if (bias) { for (let i = 0; i < d; i++) y[off + i] = (xv[off + i] - mean) * inv * scale[i] + bias[i]; }
    else for (let i = 0; i < d; i++) y[off + i] = (xv[off + i] - mean) * inv * scale[i];
  }
  return [sink.done(), meanOut.done(), invOut.done()];
});

registerKernel("GroupNormalization", (inputs, ctx) => {
  const x = floatArg(inputs, 0, "X");
  const { n, c, s } = nchw(x);
  const g = ctx.attrs.num_groups;
  if (!(g > 0) || c % g !== 0) throw new LatheError("runtime", `${c} channels do not split into ${g} groups`);
  const scaleT = tensorArg(inputs, 1, "scale"), biasT = tensorArg(inputs, 2, "bias");
  // Opset 18 gave one scale per group; opset 21 gives one per channel.
  const perGroup = scaleT.data.length === g && g !== c;
  const len = perGroup ? g : c;
  const scale = perChannel(inputs, 1, "scale", len);
  const bias = perChannel(inputs, 2, "bias", biasT.data.length === len ? len : c);
  const cpg = c / g;
  const eps = ctx.attrs.epsilon;
  const xv = readNumbers(x);
  const sink = numberSink(ctx, x.dtype, x.shape);
  const y = sink.buf;
  for (let b = 0; b < n; b++) {
    for (let gi = 0; gi < g; gi++) {
      const off = (b * c + gi * cpg) * s;
      const { mean, inv } = moments(xv, off, cpg * s, eps);
      for (let k = 0; k < cpg; k++) {
        const ch = gi * cpg + k;
        const p = perGroup ? gi : ch;
        const mul = scale[p] * inv, add = bias[p] - mean * mul;
        const o = off + k * s;
        for (let i = 0; i < s; i++) y[o + i] = xv[o + i] * mul + add;
      }
    }
  }
  return [sink.done()];
});

registerKernel("LRN", (inputs, ctx) => {
  const x = floatArg(inputs, 0, "X");
  const { n, c, s } = nchw(x);
  const { alpha, beta, bias, size } = ctx.attrs;
  if (!(size > 0)) throw new LatheError("runtime", `size must be positive, is ${size}`);
  const before = Math.floor((size - 1) / 2), after = Math.ceil((size - 1) / 2);
  const xv = readNumbers(x);
  const sink = numberSink(ctx, x.dtype, x.shape);
  const y = sink.buf;
  const k = alpha / size;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const lo = Math.max(0, ch - before), hi = Math.min(c - 1, ch + after);
      const o = (b * c + ch) * s;
      for (let i = 0; i < s; i++) {
        let sq = 0;
        for (let q = lo; q <= hi; q++) {
          const v = xv[(b * c + q) * s + i];
          sq += v * v;
        }
        y[o + i] = xv[o + i] / Math.pow(bias + k * sq, beta);
      }
    }
  }
  return [sink.done()];
});

registerKernel("MeanVarianceNormalization", (inputs, ctx) => {
  const x = floatArg(inputs, 0, "X");
  const rank = x.shape.length;
  const axes = [...new Set((ctx.attrs.axes as number[]).map((v) => runtimeAxis(v, rank)))].sort((p, q) =>
    p - q
  );
  const kept = Array.from({ length: rank }, (_, i) => i).filter((i) => !axes.includes(i));
  const strides = stridesOf(x.shape);
  const base = offsetTable(x.shape, strides, kept);
  const red = offsetTable(x.shape, strides, axes);
  const xv = readNumbers(x);
  const sink = numberSink(ctx, x.dtype, x.shape);
  const y = sink.buf;
  const R = red.length;
  for (let o = 0; o < base.length; o++) {
    const b = base[o];
    let sum = 0;
    for (let r = 0; r < R; r++) sum += xv[b + red[r]];
    const mean = sum / R;
    let sq = 0;
    for (let r = 0; r < R; r++) {
      const dv = xv[b + red[r]] - mean;
      sq += dv * dv;
    }
    // The ONNX function body adds its epsilon to the standard deviation, not to the variance.
    const den = Math.sqrt(sq / R) + 1e-9;
    for (let r = 0; r < R; r++) y[b + red[r]] = (xv[b + red[r]] - mean) / den;
  }
  return [sink.done()];
});

registerKernel("LpNormalization", (inputs, ctx: KernelContext) => {
  const x = floatArg(inputs, 0, "input");
  const p = ctx.attrs.p;
  if (p !== 1 && p !== 2) throw new LatheError("runtime", `p must be 1 or 2, is ${p}`);
  const axis = runtimeAxis(ctx.attrs.axis, x.shape.length);
  let outer = 1, inner = 1;
  for (let i = 0; i < axis; i++) outer *= x.shape[i];
  for (let i = axis + 1; i < x.shape.length; i++) inner *= x.shape[i];
  const d = x.shape[axis] ?? 1;
  const xv = readNumbers(x);
  const sink = numberSink(ctx, x.dtype, x.shape);
  const y = sink.buf;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const b = o * d * inner + i;
      let acc = 0;
      for (let k = 0; k < d; k++) {
        const v = xv[b + k * inner];
        acc += p === 1 ? Math.abs(v) : v * v;
      }
      const norm = p === 1 ? acc : Math.sqrt(acc);
      // A zero vector stays zero (onnxruntime) rather than becoming 0/0.
      const inv = norm === 0 ? 0 : 1 / norm;
      for (let k = 0; k < d; k++) y[b + k * inner] = xv[b + k * inner] * inv;
    }
  }
  return [sink.done()];
});
