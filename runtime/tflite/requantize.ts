/**
 * Requantization parameters as TFLite's kernels prepare them (tensorflow/lite/kernels/internal/
 * quantization_util.cc, kernel_util.cc): a real multiplier becomes a Q31 fixed-point significand and a
 * power-of-two shift, per tensor or per output channel, and fused activations become clamp bounds in the
 * output's integer domain. Scales arrive as the float32 values the file holds (JS numbers); where TFLite
 * multiplies them in float before widening, Math.fround reproduces that.
 */
import type { AffineQuant, DType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";

/**
 * Which integer arithmetic the kernels reproduce. "double-rounding" is TFLite's default build (gemmlowp
 * SRDHM, then a rounding right shift) and its reference kernels; "single-rounding" is a
 * TFLITE_SINGLE_ROUNDING build (one rounding of the 64-bit product, as ruy also does); "xnnpack" is
 * TFLite's default CPU delegate, which LiteRT applies to the ops it supports: float32 requantization with
 * round-to-nearest-even for convolutions, its own fixed-point forms for ADD and MUL. A process-wide
 * setting, like the build flags it stands for.
 */
export type IntegerArithmetic = "double-rounding" | "single-rounding" | "xnnpack";
let arithmetic: IntegerArithmetic = "double-rounding";

export function integerArithmetic(): IntegerArithmetic {
  return arithmetic;
}

/** Selects the arithmetic the integer kernels reproduce; returns the previous setting. */
export function setIntegerArithmetic(a: IntegerArithmetic): IntegerArithmetic {
  const prev = arithmetic;
  arithmetic = a;
  return prev;
}

/** m ≈ multiplier · 2^(shift − 31), multiplier in [2^30, 2^31) or 0. */
export interface QuantizedMultiplier {
  readonly multiplier: number;
  readonly shift: number;
}

/** C's frexp for finite x > 0: x = q·2^e with q in [0.5, 1). */
export function frexp(x: number): { q: number; e: number } {
  if (x === 0 || !Number.isFinite(x)) return { q: x, e: 0 };
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a)) + 1;
  let q = scaleByPow2(a, -e);
  // log2 can be off by one near powers of two; the division by 2^e is exact, so correct from q.
  while (q >= 1) {
    e++;
    q = scaleByPow2(a, -e);
  }
  while (q < 0.5) {
    e--;
    q = scaleByPow2(a, -e);
  }
  return { q: x < 0 ? -q : q, e };
}

/** x·2^k without overflowing the intermediate power (k may be beyond ±1023). */
function scaleByPow2(x: number, k: number): number {
  let v = x;
  while (k > 1000) {
    v *= 2 ** 1000;
    k -= 1000;
  }
  while (k < -1000) {
    v *= 2 ** -1000;
    k += 1000;
  }
  return v * 2 ** k;
}

/** TfLiteRound / std::round: half away from zero. */
export function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/**
 * TFLite QuantizeMultiplier(double): significand rounded half away from zero into Q31; a significand that
 * rounds up to 2^31 is halved with the shift raised; shifts below −31 flush to zero. `singleRounding`
 * applies that build's cap of shift ≤ 30.
 */
export function quantizeMultiplier(m: number, singleRounding = false): QuantizedMultiplier {
  if (m === 0) return { multiplier: 0, shift: 0 };
  if (!Number.isFinite(m)) throw new LatheError("runtime", `requantization multiplier ${m} is not finite`);
  const f = frexp(m);
  let q = roundHalfAway(f.q * 2147483648);
  let shift = f.e;
  if (q === 2147483648) {
    q /= 2;
    shift++;
  }
  if (shift < -31) return { multiplier: 0, shift: 0 };
  if (singleRounding && shift > 30) return { multiplier: 2147483647, shift: 30 };
  return { multiplier: q, shift };
}

/** QuantizeMultiplierSmallerThanOneExp: 0 < m < 1, shift ≤ 0. */
export function quantizeMultiplierSmallerThanOneExp(m: number): QuantizedMultiplier {
  if (!(m > 0 && m < 1)) throw new LatheError("runtime", `multiplier ${m} must be in (0, 1)`);
  return quantizeMultiplier(m);
}

/** QuantizeMultiplierGreaterThanOne: m > 1, shift ≥ 0. */
export function quantizeMultiplierGreaterThanOne(m: number): QuantizedMultiplier {
  if (!(m > 1)) throw new LatheError("runtime", `multiplier ${m} must exceed 1`);
  return quantizeMultiplier(m);
}

/** The affine parameters of a quantized element type, or a runtime error naming what needed them. */
export function affineOf(d: DType, what: string): AffineQuant {
  if (typeof d === "string" || d.kind !== "affine") {
    throw new LatheError("runtime", `${what} must be affine-quantized`);
  }
  return d;
}

/** Integer range of a storage type. */
export function storageRange(storage: string): [number, number] {
  switch (storage) {
    case "i8":
      return [-128, 127];
    case "u8":
      return [0, 255];
    case "i16":
      return [-32768, 32767];
    case "u16":
      return [0, 65535];
    case "i32":
      return [-2147483648, 2147483647];
    case "i4":
      return [-8, 7];
    case "u4":
      return [0, 15];
    default:
      throw new LatheError("runtime", `no integer range for storage ${storage}`);
  }
}

/**
 * Per-channel multipliers of CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV and per-channel FULLY_CONNECTED
 * (PopulateConvolutionQuantizationParams): (double)s_in·(double)s_w[c]/(double)s_out, the filter's one
 * scale repeated when it is per tensor.
 */
export function perChannelMultipliers(
  inputScale: number,
  filterScales: readonly number[],
  outputScale: number,
  channels: number,
  singleRounding = false,
): { multiplier: Int32Array; shift: Int32Array } {
  if (filterScales.length !== 1 && filterScales.length !== channels) {
    throw new LatheError("runtime", `${filterScales.length} filter scales for ${channels} output channels`);
  }
  const multiplier = new Int32Array(channels), shift = new Int32Array(channels);
  for (let c = 0; c < channels; c++) {
    const s = filterScales.length === 1 ? filterScales[0] : filterScales[c];
    const q = quantizeMultiplier((inputScale * s) / outputScale, singleRounding);
    multiplier[c] = q.multiplier;
    shift[c] = q.shift;
  }
  return { multiplier, shift };
}

/**
 * The legacy per-tensor multiplier of uint8 convolutions and of FULLY_CONNECTED
 * (GetQuantizedConvolutionMultipler): the input and filter scales are multiplied in float32 first.
 */
export function legacyConvMultiplier(
  inputScale: number,
  filterScale: number,
  outputScale: number,
  singleRounding = false,
): QuantizedMultiplier {
  return quantizeMultiplier(Math.fround(inputScale * filterScale) / outputScale, singleRounding);
}

/** Quantizes a real activation bound the way CalculateActivationRangeQuantized does: float division. */
function quantizeBound(scale: number, zeroPoint: number, f: number): number {
  const t = roundHalfAway(Math.fround(f / scale));
  if (!(t >= -2147483648 && t <= 2147483647)) {
    throw new LatheError("runtime", `activation bound ${f} does not quantize with scale ${scale}`);
  }
  return zeroPoint + t;
}

/**
 * CalculateActivationRangeQuantized: the clamp bounds of a fused activation in the output's integer
 * domain, RELU/RELU6/RELU_N1_TO_1 quantized with the output's scale and zero point and intersected with
 * the storage range; NONE (and any other) gives the full range.
 */
export function activationRangeQuantized(activation: string, out: AffineQuant): [number, number] {
  const [qmin, qmax] = storageRange(out.storage);
  const scale = out.scale[0], zp = out.zeroPoint[0];
  switch (activation) {
    case "RELU":
      return [Math.max(qmin, quantizeBound(scale, zp, 0)), qmax];
    case "RELU6":
      return [Math.max(qmin, quantizeBound(scale, zp, 0)), Math.min(qmax, quantizeBound(scale, zp, 6))];
    case "RELU_N1_TO_1":
      return [Math.max(qmin, quantizeBound(scale, zp, -1)), Math.min(qmax, quantizeBound(scale, zp, 1))];
    case "NONE":
      return [qmin, qmax];
    default:
      throw new LatheError("unsupported", `fused activation ${activation} on a quantized output`);
  }
}
