/**
 * Range observers for activation calibration. Each sees every batch of a value and proposes the clipping
 * range [lo, hi] an affine quantizer should cover:
 *   minmax      the observed extremes;
 *   percentile  the p-th and (100 - p)-th percentiles of the histogram;
 *   mse         the range whose expected quantization error (rounding inside, clipping outside) is least;
 *   entropy     TensorRT's KL-divergence threshold on the histogram of |x|.
 * The histogram observers keep one histogram per value, symmetric around zero, that widens by powers of
 * two when a batch exceeds it, so earlier counts merge exactly into the wider bins.
 */
import { LatheError } from "../../ir/errors.ts";

export type CalibMethod = "minmax" | "percentile" | "mse" | "entropy";
export const CALIB_METHODS: readonly CalibMethod[] = ["minmax", "percentile", "mse", "entropy"];

export interface Range {
  readonly lo: number;
  readonly hi: number;
}

export interface Observer {
  observe(x: ArrayLike<number>): void;
  /** The proposed range; always contains 0 (so zero is exactly representable). */
  range(): Range;
}

export interface ObserverOptions {
  /** Bits of the target quantizer (mse and entropy optimise for it). */
  bits?: number;
  /** Percentile kept by the percentile method (default 99.99). */
  percentile?: number;
  /** Histogram bins on each side of zero (default 1024). */
  halfBins?: number;
}

function withZero(lo: number, hi: number): Range {
  return { lo: Math.min(lo, 0), hi: Math.max(hi, 0) };
}

export class MinMaxObserver implements Observer {
  lo = Infinity;
  hi = -Infinity;
  observe(x: ArrayLike<number>): void {
    let lo = this.lo, hi = this.hi;
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    this.lo = lo;
    this.hi = hi;
  }
  range(): Range {
    if (!(this.lo <= this.hi)) return { lo: 0, hi: 0 };
    return withZero(this.lo, this.hi);
  }
}

/** Counts over [-limit, limit): `2 * half` bins of width limit / half; bin `half` starts at zero. */
export class Histogram {
  readonly counts: Float64Array;
  limit = 0;
  lo = Infinity;
  hi = -Infinity;
  total = 0;
  private zerosBeforeLimit = 0;
  constructor(readonly half = 1024) {
    this.counts = new Float64Array(2 * half);
  }
  get width(): number {
    return this.limit / this.half;
  }
  add(x: ArrayLike<number>): void {
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!(lo <= hi)) return; // empty, or NaN everywhere
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
      throw new LatheError("runtime", "calibration saw a non-finite value");
    }
    if (lo < this.lo) this.lo = lo;
    if (hi > this.hi) this.hi = hi;
    const amax = Math.max(-lo, hi);
    if (amax === 0) {
      this.zerosBeforeLimit += x.length;
      this.total += x.length;
      return;
    }
    if (this.limit === 0) {
      this.limit = amax;
      this.counts[this.half] += this.zerosBeforeLimit;
      this.zerosBeforeLimit = 0;
    } else if (amax > this.limit) this.widen(amax);
    const half = this.half, n2 = 2 * half - 1, inv = half / this.limit, c = this.counts;
    for (let i = 0; i < x.length; i++) {
      let b = Math.floor(x[i] * inv) + half;
      if (b > n2) b = n2;
      else if (b < 0) b = 0;
      c[b]++;
    }
    this.total += x.length;
  }
  /** Doubles the limit until it covers amax, merging bins 2^k to one around the centre. */
  private widen(amax: number): void {
    let k = 0, limit = this.limit;
    while (limit < amax) {
      limit *= 2;
      k++;
    }
    const half = this.half, c = this.counts, merged = new Float64Array(c.length);
    const f = 2 ** k;
    for (let i = 0; i < c.length; i++) {
      if (c[i] === 0) continue;
      merged[half + Math.floor((i - half) / f)] += c[i];
    }
    c.set(merged);
    this.limit = limit;
  }
  /** The value below which a fraction q of the counts lie (linear inside a bin). */
  quantile(q: number): number {
    const target = q * this.total;
    const c = this.counts, w = this.width;
    let acc = 0;
    for (let i = 0; i < c.length; i++) {
      if (acc + c[i] >= target && c[i] > 0) {
        const frac = (target - acc) / c[i];
        return (i - this.half + frac) * w;
      }
      acc += c[i];
    }
    return this.limit;
  }
}

abstract class HistogramObserver implements Observer {
  readonly h: Histogram;
  constructor(readonly opts: ObserverOptions) {
    this.h = new Histogram(opts.halfBins ?? 1024);
  }
  observe(x: ArrayLike<number>): void {
    this.h.add(x);
  }
  range(): Range {
    const h = this.h;
    if (h.limit === 0 || !(h.lo <= h.hi)) return { lo: 0, hi: 0 };
    const r = this.choose();
    // Never wider than what was seen.
    return withZero(Math.max(r.lo, h.lo), Math.min(r.hi, h.hi));
  }
  protected abstract choose(): Range;
}

export class PercentileObserver extends HistogramObserver {
  protected choose(): Range {
    const p = (this.opts.percentile ?? 99.99) / 100;
    return { lo: this.h.quantile(1 - p), hi: this.h.quantile(p) };
  }
}

/**
 * Expected squared error of an affine quantizer with `levels` levels on [a, b] for the histogram: a bin
 * inside the range costs step²/12 per element (uniform rounding error), a bin outside costs its squared
 * distance to the nearest end (clipping).
 */
export function quantizationError(h: Histogram, a: number, b: number, levels: number): number {
  const step = (b - a) / (levels - 1);
  const inside = (step * step) / 12;
  const c = h.counts, w = h.width, half = h.half;
  let err = 0;
  for (let i = 0; i < c.length; i++) {
    const n = c[i];
    if (n === 0) continue;
    const x = (i - half + 0.5) * w;
    if (x < a) err += n * (a - x) * (a - x);
    else if (x > b) err += n * (x - b) * (x - b);
    else err += n * inside;
  }
  return err;
}

export class MseObserver extends HistogramObserver {
  protected choose(): Range {
    const h = this.h, levels = 2 ** (this.opts.bits ?? 8);
    let lo = Math.min(h.lo, 0), hi = Math.max(h.hi, 0);
    let best = quantizationError(h, lo, hi, levels);
    // Shrink both ends together, then each end alone: a coordinate search over 1% steps.
    const steps = 100;
    const search = (f: (t: number) => Range) => {
      for (let s = 1; s < steps; s++) {
        const r = f(s / steps);
        if (!(r.hi > r.lo)) continue;
        const e = quantizationError(h, r.lo, r.hi, levels);
        if (e < best) {
          best = e;
          lo = r.lo;
          hi = r.hi;
        }
      }
    };
    const lo0 = lo, hi0 = hi;
    search((t) => ({ lo: lo0 * t, hi: hi0 * t }));
    for (let round = 0; round < 2; round++) {
      const l = lo, u = hi;
      search((t) => ({ lo: l, hi: u * t }));
      const u2 = hi;
      search((t) => ({ lo: l * t, hi: u2 }));
    }
    return { lo, hi };
  }
}

/**
 * TensorRT's entropy calibration on the histogram of |x|: for each candidate threshold, the clipped
 * distribution P (outliers folded into the last bin) against Q, P merged into the quantizer's levels and
 * spread back over P's non-empty bins; the threshold with the least KL(P || Q) wins.
 */
export class EntropyObserver extends HistogramObserver {
  constructor(opts: ObserverOptions) {
    super({ halfBins: 2048, ...opts });
  }
  protected choose(): Range {
    const h = this.h, half = h.half, c = h.counts;
    const oneSided = h.lo >= 0 || h.hi <= 0;
    // Levels available to one sign: all of them for one-sided data (u8 after a Relu), half otherwise.
    const levels = oneSided ? 2 ** (this.opts.bits ?? 8) - 1 : 2 ** ((this.opts.bits ?? 8) - 1);
    const folded = new Float64Array(half);
    for (let i = 0; i < half; i++) folded[i] = c[half + i] + c[half - 1 - i];
    // Exact zeros (half of a Relu's output) need no levels, the zero point holds them; left in, their spike
    // dominates the divergence and drags the threshold down to the smallest candidate.
    if (half > 1 && folded[0] > 2 * folded[1]) folded[0] = folded[1];
    let last = half;
    while (last > 0 && folded[last - 1] === 0) last--;
    if (last <= levels) return { lo: h.lo, hi: h.hi };
    const p = new Float64Array(last), q = new Float64Array(last);
    let bestI = last, bestKl = Infinity;
    const stride = Math.max(1, Math.floor((last - levels) / 512));
    for (let i = levels; i <= last; i += stride) {
      let outliers = 0;
      for (let j = i; j < last; j++) outliers += folded[j];
      for (let j = 0; j < i; j++) p[j] = folded[j];
      p[i - 1] += outliers;
      // Q: the clipped bins (without the outliers) merged into `levels` chunks, each chunk's mass spread
      // evenly over the bins where P is non-empty.
      for (let k = 0; k < levels; k++) {
        const s = Math.floor((k * i) / levels), e = Math.floor(((k + 1) * i) / levels);
        let mass = 0, nonzero = 0;
        for (let j = s; j < e; j++) {
          mass += folded[j];
          if (p[j] > 0) nonzero++;
        }
        const each = nonzero ? mass / nonzero : 0;
        for (let j = s; j < e; j++) q[j] = p[j] > 0 ? each : 0;
      }
      const kl = klDivergence(p, q, i);
      if (kl < bestKl) {
        bestKl = kl;
        bestI = i;
      }
    }
    const t = (bestI + 0.5) * h.width;
    return { lo: Math.max(h.lo, -t), hi: Math.min(h.hi, t) };
  }
}

const SMOOTH = 1e-4;

/**
 * KL(P || Q) over the first n bins, both normalised and smoothed as onnxruntime's calibrator smooths them
 * (empty bins get 1e-4, taken evenly from the others), so an outlier bin Q left empty costs a bounded amount.
 */
function klDivergence(p: Float64Array, q: Float64Array, n: number): number {
  const sp = smoothed(p, n), sq = smoothed(q, n);
  if (!sp || !sq) return Infinity;
  let kl = 0;
  for (let j = 0; j < n; j++) if (sp[j] > 0) kl += sp[j] * Math.log(sp[j] / sq[j]);
  return kl;
}

function smoothed(x: Float64Array, n: number): Float64Array | undefined {
  let sum = 0, zeros = 0;
  for (let j = 0; j < n; j++) {
    sum += x[j];
    if (x[j] === 0) zeros++;
  }
  const nonzeros = n - zeros;
  if (sum === 0 || nonzeros === 0) return undefined;
  const take = (SMOOTH * zeros) / nonzeros;
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) out[j] = x[j] === 0 ? SMOOTH : x[j] / sum - take;
  return out;
}

export function makeObserver(method: CalibMethod, opts: ObserverOptions = {}): Observer {
  switch (method) {
    case "minmax":
      return new MinMaxObserver();
    case "percentile":
      return new PercentileObserver(opts);
    case "mse":
      return new MseObserver(opts);
    case "entropy":
      return new EntropyObserver(opts);
    default:
      throw new LatheError(
        "usage",
        `unknown calibration method '${method}' (one of ${CALIB_METHODS.join(", ")})`,
      );
  }
}
