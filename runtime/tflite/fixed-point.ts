/**
 * The integer primitives of TFLite's quantized kernels (formats.md §2.5): gemmlowp's
 * SaturatingRoundingDoublingHighMul and RoundingDivideByPOT, and TFLite's MultiplyByQuantizedMultiplier in
 * its default double-rounding form, its opt-in single-rounding form and its int64-accumulator form.
 *
 * JS numbers hold 32-bit integers exactly but not 64-bit products, so the 62-bit products here are split:
 * one factor into 16-bit halves, each partial product exact in a double (< 2^53), then recombined with
 * floor divisions by powers of two, which are exact on doubles. No BigInt, no allocation.
 */

export const INT32_MIN = -2147483648;
export const INT32_MAX = 2147483647;

const P15 = 32768;
const P16 = 65536;
const P31 = 2147483648;

/** The remainder of the last floorMulAddDiv31, in [0, 2^31). */
let lastRemainder = 0;

/** floor((a·b + add) / 2^31) for int32 a, b and |add| ≤ 2^47; the remainder goes to `lastRemainder`. */
function floorMulAddDiv31(a: number, b: number, add: number): number {
  const bh = Math.floor(b / P16); // b = bh·2^16 + bl, bl ∈ [0, 2^16)
  const bl = b - bh * P16;
  const hi = a * bh; // |hi| ≤ 2^46
  const lo = a * bl + add; // |lo| < 2^48
  // a·b + add = hi·2^16 + lo = hh·2^31 + (hl·2^16 + lo) where hi = hh·2^15 + hl, hl ∈ [0, 2^15)
  const hh = Math.floor(hi / P15);
  const hl = hi - hh * P15;
  const r = hl * P16 + lo; // |r| < 2^49
  const rh = Math.floor(r / P31);
  lastRemainder = r - rh * P31;
  return hh + rh;
}

/**
 * gemmlowp SaturatingRoundingDoublingHighMul for int32: (a·b + nudge) / 2^31 with C's truncating
 * division, nudge = 2^30 for a non-negative product and 1 − 2^30 otherwise; INT32_MIN·INT32_MIN saturates.
 */
export function srdhm(a: number, b: number): number {
  // Accumulators are usually small: with |a| < 2^21 the product is below 2^52 and the whole formula
  // is exact in one double.
  if (a < 2097152 && a > -2097152) {
    const p = a * b;
    return Math.trunc((p + (p >= 0 ? 1073741824 : -1073741823)) / P31) | 0;
  }
  if (a === INT32_MIN && b === INT32_MIN) return INT32_MAX;
  const negative = (a < 0) !== (b < 0) && a !== 0 && b !== 0;
  const q = floorMulAddDiv31(a, b, negative ? 1 - 1073741824 : 1073741824);
  // C truncates toward zero: a negative quotient with a remainder is one more than the floor.
  return (q < 0 && lastRemainder !== 0 ? q + 1 : q) | 0;
}

/** gemmlowp SaturatingRoundingDoublingHighMul for int16 operands (products fit a double exactly). */
export function srdhm16(a: number, b: number): number {
  if (a === -32768 && b === -32768) return 32767;
  const p = a * b;
  return Math.trunc((p + (p >= 0 ? 16384 : 1 - 16384)) / 32768) | 0;
}

/**
 * gemmlowp RoundingDivideByPOT: x / 2^e rounded to nearest, ties away from zero, for int32 x and
 * 0 ≤ e ≤ 31 (also correct for int16 x).
 */
export function roundingDivideByPOT(x: number, e: number): number {
  if (e === 0) return x;
  const mask = e === 31 ? 0x7fffffff : (1 << e) - 1;
  const remainder = x & mask;
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (remainder > threshold ? 1 : 0);
}

/**
 * gemmlowp SaturatingRoundingMultiplyByPOT on a raw value of `bits` (16 or 32) bits: a left shift that
 * saturates for e > 0, RoundingDivideByPOT for e < 0.
 */
export function saturatingRoundingMultiplyByPOT(x: number, e: number, bits = 32): number {
  if (e === 0) return x;
  if (e < 0) return roundingDivideByPOT(x, -e);
  const min = bits === 16 ? -32768 : INT32_MIN;
  const max = bits === 16 ? 32767 : INT32_MAX;
  const threshold = 2 ** (bits - 1 - e) - 1;
  if (x > threshold) return max;
  if (x < -threshold) return min;
  return x * 2 ** e;
}

/**
 * TFLite MultiplyByQuantizedMultiplier (default build, double rounding): SRDHM(x·2^left, m) then
 * RoundingDivideByPOT by the right shift. `x·2^left` wraps to int32 as the C++ does on every target.
 */
export function multiplyByQuantizedMultiplier(x: number, m: number, shift: number): number {
  if (shift > 0) return srdhm(Math.imul(x, 1 << shift), m);
  return roundingDivideByPOT(srdhm(x, m), -shift);
}

/** TFLite MultiplyByQuantizedMultiplierSmallerThanOneExp(x, m, leftShift ≤ 0). */
export function multiplyByQuantizedMultiplierSmallerThanOneExp(
  x: number,
  m: number,
  leftShift: number,
): number {
  return roundingDivideByPOT(srdhm(x, m), -leftShift);
}

/** TFLite MultiplyByQuantizedMultiplierGreaterThanOne(x, m, leftShift ≥ 0). */
export function multiplyByQuantizedMultiplierGreaterThanOne(x: number, m: number, leftShift: number): number {
  return srdhm(Math.imul(x, 1 << leftShift), m);
}

/**
 * The TFLITE_SINGLE_ROUNDING form (also ruy's): (x·m + 2^(30−shift)) >> (31−shift) in 64-bit, for
 * −31 ≤ shift ≤ 30.
 */
export function multiplyByQuantizedMultiplierSingleRounding(x: number, m: number, shift: number): number {
  const total = 31 - shift;
  if (x < 2097152 && x > -2097152 && total <= 52) return Math.floor((x * m + 2 ** (total - 1)) / 2 ** total);
  const q = floorMulAddDiv31(x, m, 0); // x·m = q·2^31 + lastRemainder
  if (total === 31) return q + (lastRemainder >= 1073741824 ? 1 : 0);
  if (total > 31) {
    // (q·2^31 + r + 2^(30+k)) / 2^(31+k) floors to (q + 2^(k−1)) / 2^k floored, as r < 2^31.
    const k = total - 31;
    return Math.floor((q + 2 ** (k - 1)) / 2 ** k);
  }
  return q * 2 ** (31 - total) + Math.floor((lastRemainder + 2 ** (total - 1)) / 2 ** total);
}

/**
 * TFLite MultiplyByQuantizedMultiplier for an int64 accumulator (16x8 kernels): the multiplier is first
 * rounded to 16 bits, then (x·m16 + 2^(14−shift)) >> (15−shift). `x` must be a safe integer with
 * |x| < 2^47 as TFLite requires.
 */
export function multiplyByQuantizedMultiplierInt64(x: number, m: number, shift: number): number {
  const m16 = m < 0x7fff0000 ? (m + 32768) >> 16 : 0x7fff;
  const total = 15 - shift;
  // x·m16 < 2^62: x = xh·2^24 + xl with xl ∈ [0, 2^24), so each partial product stays below 2^53.
  const xh = Math.floor(x / 16777216);
  const xl = x - xh * 16777216;
  const hi = xh * m16; // |hi| < 2^39
  const lo = xl * m16 + 2 ** (total - 1); // < 2^39 + 2^45
  // x·m16 + round = hi·2^24 + lo; divide by 2^total with floor (an arithmetic shift).
  if (total <= 24) {
    // lo ≥ 0, so hi·2^(24−total) is at most the (int32-sized) result: exact.
    return hi * 2 ** (24 - total) + Math.floor(lo / 2 ** total);
  }
  const d = 2 ** (total - 24);
  const hq = Math.floor(hi / d);
  const hr = hi - hq * d; // ∈ [0, d)
  return hq + Math.floor((hr * 16777216 + lo) / 2 ** total);
}

/** Clamps to [lo, hi]. */
export function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
