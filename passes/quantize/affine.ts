/**
 * Affine quantization parameters (formats.md §3.4): real = (q − zp)·scale. Activations are asymmetric per
 * tensor over a calibrated range that contains zero; weights are symmetric per output channel in
 * [−127, 127] (zero point 0, so the integer kernels need no weight zero-point term); biases are int32 with
 * scale s_x·s_w and zero point 0. Scales are f32, as they are stored.
 */
import type { Range } from "./observers.ts";

export type ActivationType = "u8" | "i8";

export interface AffineParams {
  readonly scale: number;
  readonly zeroPoint: number;
  readonly qmin: number;
  readonly qmax: number;
}

const RANGES: Record<ActivationType, [number, number]> = { u8: [0, 255], i8: [-128, 127] };

/** Round half to even, as QuantizeLinear rounds. */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Scale and zero point covering `r` with the type's full range; an empty range gets scale 1. */
export function activationParams(r: Range, type: ActivationType): AffineParams {
  const [qmin, qmax] = RANGES[type];
  const lo = Math.min(r.lo, 0), hi = Math.max(r.hi, 0);
  if (!(hi > lo)) return { scale: 1, zeroPoint: type === "u8" ? 0 : 0, qmin, qmax };
  const scale = Math.fround((hi - lo) / (qmax - qmin));
  let zp = roundHalfEven(qmin - lo / scale);
  zp = Math.min(qmax, Math.max(qmin, zp));
  return { scale, zeroPoint: zp, qmin, qmax };
}

export interface ChannelQuant {
  /** Codes in the weight's own layout. */
  readonly codes: Int8Array;
  /** One f32 scale per channel along `axis`. */
  readonly scales: Float32Array;
}

/**
 * Symmetric int8 per channel along `axis` of a weight with `shape`: scale_c = max|w_c| / 127 (1 for an
 * all-zero channel) and q = round_half_even(w / scale_c), computed in f32 like QuantizeLinear.
 */
export function quantizeWeightsPerChannel(
  w: Float32Array,
  shape: readonly number[],
  axis: number,
  minScales?: ArrayLike<number>,
): ChannelQuant {
  const dim = shape[axis];
  let inner = 1;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  const outer = w.length / (dim * inner);
  const amax = new Float64Array(dim);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < dim; c++) {
      const base = (o * dim + c) * inner;
      let m = amax[c];
      for (let i = 0; i < inner; i++) {
        const a = Math.abs(w[base + i]);
        if (a > m) m = a;
      }
      amax[c] = m;
    }
  }
  const scales = new Float32Array(dim);
  for (let c = 0; c < dim; c++) {
    scales[c] = amax[c] > 0 ? amax[c] / 127 : 1;
    if (minScales && scales[c] < minScales[minScales.length === 1 ? 0 : c]) {
      scales[c] = minScales[minScales.length === 1 ? 0 : c];
    }
  }
  const codes = new Int8Array(w.length);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < dim; c++) {
      const base = (o * dim + c) * inner, s = scales[c];
      for (let i = 0; i < inner; i++) {
        // roundHalfEven, written out: this loop runs over every weight of the model.
        const v = Math.fround(w[base + i] / s);
        let q = Math.round(v);
        if (q - v === 0.5 && q % 2 !== 0) q -= 1;
        codes[base + i] = q > 127 ? 127 : q < -127 ? -127 : q;
      }
    }
  }
  return { codes, scales };
}

/**
 * The smallest weight scale per channel at which the bias still fits int32 codes of scale s_x·s_w: a
 * channel of near-zero weights with a real bias would otherwise saturate its bias (TFLite's quantizer
 * widens such weight scales the same way). `channels` bias values; one scale when the weights are per tensor.
 */
export function biasFittingScales(b: Float32Array, inputScale: number, perTensor: boolean): Float64Array {
  // A little under 2^31 - 1, so rounding s_x·s_w to float32 cannot push the code over.
  const limit = 2147483647 * (1 - 2 ** -20);
  const out = new Float64Array(perTensor ? 1 : b.length);
  for (let c = 0; c < b.length; c++) {
    const need = Math.abs(b[c]) / (inputScale * limit);
    const k = perTensor ? 0 : c;
    if (need > out[k]) out[k] = need;
  }
  return out;
}

/** int32 bias codes with scale s_x·s_w[c], rounded half to even and saturated to int32. */
export function quantizeBias(
  b: Float32Array,
  inputScale: number,
  weightScales: Float32Array,
): { codes: Int32Array; scales: Float32Array } {
  const n = b.length;
  const scales = new Float32Array(n), codes = new Int32Array(n);
  for (let c = 0; c < n; c++) {
    const s = Math.fround(inputScale * weightScales[weightScales.length === 1 ? 0 : c]);
    scales[c] = s;
    const q = s > 0 ? roundHalfEven(Math.fround(b[c] / s)) : 0;
    codes[c] = q > 2147483647 ? 2147483647 : q < -2147483648 ? -2147483648 : q;
  }
  return { codes, scales };
}
