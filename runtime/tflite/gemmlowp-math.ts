/**
 * gemmlowp's fixed-point transcendental functions (fixedpoint/fixedpoint.h) on raw 16- or 32-bit values,
 * as TFLite's int16 LOGISTIC and TANH kernels evaluate them. A value with `intBits` integer bits in a
 * `bits`-wide raw integer represents raw / 2^(bits − 1 − intBits). Raw additions wrap like the C++ integer
 * types; products are SaturatingRoundingDoublingHighMul; rescaling is a saturating rounding shift.
 */
import { roundingDivideByPOT, saturatingRoundingMultiplyByPOT, srdhm, srdhm16 } from "./fixed-point.ts";

export type RawBits = 16 | 32;

function wrap(v: number, bits: RawBits): number {
  return bits === 16 ? (v << 16) >> 16 : v | 0;
}

function mul(a: number, b: number, bits: RawBits): number {
  return bits === 16 ? srdhm16(a, b) : srdhm(a, b);
}

/** A constant given as its 32-bit raw value, rounded to the raw width (RescaleConstantInitializer). */
function constant(raw32: number, bits: RawBits): number {
  return bits === 16 ? roundingDivideByPOT(raw32, 16) : raw32;
}

/** The raw value of 1 (the largest value when there are no integer bits). */
function one(intBits: number, bits: RawBits): number {
  return intBits === 0 ? 2 ** (bits - 1) - 1 : 2 ** (bits - 1 - intBits);
}

/** The raw value of 2^exponent. */
function constantPot(exponent: number, intBits: number, bits: RawBits): number {
  return 2 ** (bits - 1 - intBits + exponent);
}

function rescale(x: number, srcIntBits: number, dstIntBits: number, bits: RawBits): number {
  return saturatingRoundingMultiplyByPOT(x, srcIntBits - dstIntBits, bits);
}

function saturatingAdd16(a: number, b: number): number {
  const s = a + b;
  return s > 32767 ? 32767 : s < -32768 ? -32768 : s;
}

function roundingHalfSum(a: number, b: number): number {
  const sum = a + b;
  return Math.trunc((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/** exp(a) for a in [−1/4, 0), a with 0 integer bits. */
export function expOnIntervalBetweenNegativeOneQuarterAnd0Excl(a: number, bits: RawBits): number {
  const constantTerm = constant(1895147668, bits);
  const oneThird = constant(715827883, bits);
  const x = wrap(a + constantPot(-3, 0, bits), bits);
  const x2 = mul(x, x, bits);
  const x3 = mul(x2, x, bits);
  const x4 = mul(x2, x2, bits);
  const x4Over4 = roundingDivideByPOT(x4, 2);
  const poly = roundingDivideByPOT(wrap(mul(wrap(x4Over4 + x3, bits), oneThird, bits) + x2, bits), 1);
  const t = mul(constantTerm, wrap(x + poly, bits), bits);
  return bits === 16 ? saturatingAdd16(constantTerm, t) : wrap(constantTerm + t, bits);
}

const BARREL: readonly [number, number][] = [
  [-2, 1672461947],
  [-1, 1302514674],
  [0, 790015084],
  [1, 290630308],
  [2, 39332535],
  [3, 720401],
  [4, 242],
];

/** exp(a) for a ≤ 0 with `intBits` integer bits; the result has 0 integer bits. */
export function expOnNegativeValues(a: number, intBits: number, bits: RawBits): number {
  const fracBits = bits - 1 - intBits;
  const quarter = constantPot(-2, intBits, bits);
  const mask = quarter - 1;
  const aModQuarterMinusQuarter = wrap((a & mask) - quarter, bits);
  let result = expOnIntervalBetweenNegativeOneQuarterAnd0Excl(
    rescale(aModQuarterMinusQuarter, intBits, 0, bits),
    bits,
  );
  const remainder = wrap(aModQuarterMinusQuarter - a, bits);
  for (const [exponent, multiplier] of BARREL) {
    if (intBits > exponent && remainder & (2 ** (fracBits + exponent) | 0)) {
      result = mul(result, constant(multiplier, bits), bits);
    }
  }
  if (intBits > 5) {
    const clamp = -(2 ** (36 - intBits)); // −32 in the input format, as gemmlowp writes it
    if (a < constant(clamp, bits)) result = 0;
  }
  return a === 0 ? one(0, bits) : result;
}

/** Newton–Raphson reciprocal shared by the two rational helpers: returns x ≈ 1/half_denominator in F2. */
function reciprocalF2(a: number, bits: RawBits): number {
  const halfDenominator = roundingHalfSum(a, one(0, bits));
  const c48over17 = constant(1515870810, bits);
  const cNeg32over17 = constant(-1010580540, bits);
  let x = wrap(c48over17 + mul(halfDenominator, cNeg32over17, bits), bits);
  const oneF2 = one(2, bits);
  for (let i = 0; i < 3; i++) {
    const hdx = mul(halfDenominator, x, bits);
    const oneMinus = wrap(oneF2 - hdx, bits);
    x = wrap(x + rescale(mul(x, oneMinus, bits), 4, 2, bits), bits);
  }
  return x;
}

/** 1/(1 + a) for a in (0, 1), 0 integer bits in and out. */
export function oneOverOnePlusXForXIn01(a: number, bits: RawBits): number {
  // ExactMulByPot<-1> turns F2 into F1 without touching the raw value; Rescale<0> then shifts by 1.
  return rescale(reciprocalF2(a, bits), 1, 0, bits);
}

/** (1 − a)/(1 + a) for a in (0, 1), 0 integer bits in and out. */
export function oneMinusXOverOnePlusXForXIn01(a: number, bits: RawBits): number {
  return rescale(wrap(reciprocalF2(a, bits) - one(2, bits), bits), 2, 0, bits);
}

/** logistic(a) with `intBits` integer bits in, 0 out. */
export function logistic(a: number, intBits: number, bits: RawBits): number {
  if (a === 0) return constant(1 << 30, bits);
  const abs = a > 0 ? a : wrap(-a, bits);
  const positive = oneOverOnePlusXForXIn01(expOnNegativeValues(wrap(-abs, bits), intBits, bits), bits);
  return a > 0 ? positive : wrap(one(0, bits) - positive, bits);
}

/** tanh(a) with `intBits` integer bits in, 0 out. */
export function tanh(a: number, intBits: number, bits: RawBits): number {
  if (a === 0) return 0;
  const n = a < 0 ? a : wrap(-a, bits);
  // ExactMulByPot<1>: the same raw value read with one more integer bit.
  const t = oneMinusXOverOnePlusXForXIn01(expOnNegativeValues(n, intBits + 1, bits), bits);
  return a < 0 ? wrap(-t, bits) : t;
}
