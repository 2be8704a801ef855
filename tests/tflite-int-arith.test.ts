/**
 * The integer primitives of TFLite's quantized kernels against values derived by hand from their
 * definitions (formats.md §2.5, gemmlowp's fixedpoint.h) and against a BigInt transcription of the same
 * formulas on random operands (64-bit products exact by construction).
 */
import assert from "node:assert/strict";
import {
  INT32_MAX,
  INT32_MIN,
  multiplyByQuantizedMultiplier,
  multiplyByQuantizedMultiplierGreaterThanOne,
  multiplyByQuantizedMultiplierInt64,
  multiplyByQuantizedMultiplierSingleRounding,
  multiplyByQuantizedMultiplierSmallerThanOneExp,
  roundingDivideByPOT,
  saturatingRoundingMultiplyByPOT,
  srdhm,
  srdhm16,
} from "../runtime/tflite/fixed-point.ts";
import { expOnNegativeValues, logistic, tanh } from "../runtime/tflite/gemmlowp-math.ts";
import {
  activationRangeQuantized,
  frexp,
  integerArithmetic,
  legacyConvMultiplier,
  perChannelMultipliers,
  quantizeMultiplier,
  setIntegerArithmetic,
} from "../runtime/tflite/requantize.ts";

// ---- BigInt transcriptions of the spec formulas (the oracle for random operands) ----------------------

function bigSrdhm(a: number, b: number): number {
  if (a === INT32_MIN && b === INT32_MIN) return INT32_MAX;
  const p = BigInt(a) * BigInt(b);
  const nudge = p >= 0n ? 1n << 30n : 1n - (1n << 30n);
  return Number((p + nudge) / (1n << 31n)); // BigInt division truncates toward zero, as C does
}

function bigRdbpot(x: number, e: number): number {
  const X = BigInt(x), E = BigInt(e);
  const mask = (1n << E) - 1n;
  const rem = X & mask;
  const threshold = (mask >> 1n) + (X < 0n ? 1n : 0n);
  return Number((X >> E) + (rem > threshold ? 1n : 0n));
}

function bigSingle(x: number, m: number, shift: number): number {
  const total = BigInt(31 - shift);
  return Number((BigInt(x) * BigInt(m) + (1n << (total - 1n))) >> total);
}

function bigInt64(x: bigint, m: number, shift: number): number {
  const m16 = m < 0x7fff0000 ? (BigInt(m) + (1n << 15n)) >> 16n : 0x7fffn;
  const total = BigInt(15 - shift);
  return Number((x * m16 + (1n << (total - 1n))) >> total);
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int32 = (u: number) => Math.floor(u * 4294967296) - 2147483648;

// ---- SaturatingRoundingDoublingHighMul ----------------------------------------------------------------

Deno.test("SRDHM: ties round up, the only saturation is INT32_MIN·INT32_MIN, extremes are exact", () => {
  // a·b/2^31 = 0.5 → 1; −0.5 → 0; 1.5 → 2; −1.5 → −1 (the nudge is 2^30, or 1 − 2^30 for negatives).
  assert.equal(srdhm(1 << 30, 1), 1);
  assert.equal(srdhm(-(1 << 30), 1), 0);
  assert.equal(srdhm(3 << 29, 2), 2);
  assert.equal(srdhm(-(3 << 29), 2), -1);
  assert.equal(srdhm(0, INT32_MIN), 0);
  assert.equal(srdhm(INT32_MIN, INT32_MIN), INT32_MAX);
  // −2^31·(2^31 − 1)/2^31 = −(2^31 − 1) exactly; (2^31 − 1)^2/2^31 = 2^31 − 2 + 2^-31 → 2^31 − 2.
  assert.equal(srdhm(INT32_MIN, INT32_MAX), -INT32_MAX);
  assert.equal(srdhm(INT32_MAX, INT32_MAX), INT32_MAX - 1);
  assert.equal(srdhm(INT32_MIN, 1 << 30), -(1 << 30));
  assert.equal(srdhm(INT32_MIN, -(1 << 30)), 1 << 30);
  // 2^30·0.75·2^31/2^31 = 805306368; a multiplier of 1 barely moves anything: 12345/2^31 → 0.
  assert.equal(srdhm(1 << 30, 1610612736), 805306368);
  assert.equal(srdhm(12345, 1), 0);
});

Deno.test("SRDHM matches the 64-bit formula on 200000 random operand pairs, including near-extremes", () => {
  const r = rng(1);
  for (let i = 0; i < 200000; i++) {
    let a = int32(r()), b = int32(r());
    if (i % 7 === 0) a = INT32_MIN + (i % 5);
    if (i % 11 === 0) b = INT32_MAX - (i % 3);
    if (i % 13 === 0) b = 1 << (i % 31);
    // Accumulator-sized operands (|a| < 2^22) exercise the one-double path and its boundary.
    if (i % 3 === 0) a = Math.floor((r() - 0.5) * 2 ** 23);
    assert.equal(srdhm(a, b), bigSrdhm(a, b), `srdhm(${a}, ${b})`);
  }
});

Deno.test("SRDHM on int16: ties round up, −32768·−32768 saturates", () => {
  assert.equal(srdhm16(16384, 1), 1); // 0.5 → 1
  assert.equal(srdhm16(-16384, 1), 0); // −0.5 → 0
  assert.equal(srdhm16(-32768, -32768), 32767);
  assert.equal(srdhm16(-32768, 32767), -32767);
  assert.equal(srdhm16(16384, 16384), 8192);
});

// ---- RoundingDivideByPOT ------------------------------------------------------------------------------

Deno.test("RoundingDivideByPOT: ties away from zero, shifts of 0 and 31", () => {
  assert.equal(roundingDivideByPOT(5, 1), 3); // 2.5
  assert.equal(roundingDivideByPOT(-5, 1), -3); // −2.5
  assert.equal(roundingDivideByPOT(3, 1), 2);
  assert.equal(roundingDivideByPOT(-3, 1), -2);
  assert.equal(roundingDivideByPOT(-4, 1), -2);
  assert.equal(roundingDivideByPOT(7, 2), 2); // 1.75
  assert.equal(roundingDivideByPOT(-6, 2), -2); // −1.5
  assert.equal(roundingDivideByPOT(-5, 2), -1); // −1.25
  assert.equal(roundingDivideByPOT(12345, 0), 12345);
  assert.equal(roundingDivideByPOT(-12345, 0), -12345);
  assert.equal(roundingDivideByPOT(INT32_MIN, 31), -1);
  assert.equal(roundingDivideByPOT(INT32_MAX, 31), 1);
  assert.equal(roundingDivideByPOT(1 << 30, 31), 1); // 0.5
  assert.equal(roundingDivideByPOT(-(1 << 30), 31), -1); // −0.5
  assert.equal(roundingDivideByPOT((1 << 30) - 1, 31), 0);
  assert.equal(roundingDivideByPOT(-(1 << 30) + 1, 31), 0);
});

Deno.test("RoundingDivideByPOT matches the formula on random operands and every exponent", () => {
  const r = rng(2);
  for (let i = 0; i < 100000; i++) {
    const x = int32(r()), e = i % 32;
    assert.equal(roundingDivideByPOT(x, e), bigRdbpot(x, e), `rdbpot(${x}, ${e})`);
  }
});

Deno.test("SaturatingRoundingMultiplyByPOT saturates left shifts and rounds right shifts", () => {
  assert.equal(saturatingRoundingMultiplyByPOT(1 << 29, 1), 1 << 30);
  assert.equal(saturatingRoundingMultiplyByPOT(1 << 30, 1), INT32_MAX);
  assert.equal(saturatingRoundingMultiplyByPOT(-(1 << 30), 1), INT32_MIN);
  assert.equal(saturatingRoundingMultiplyByPOT(-(1 << 30) + 1, 1), -2147483646);
  assert.equal(saturatingRoundingMultiplyByPOT(16383, 1, 16), 32766);
  assert.equal(saturatingRoundingMultiplyByPOT(16384, 1, 16), 32767);
  assert.equal(saturatingRoundingMultiplyByPOT(-16385, 1, 16), -32768);
  assert.equal(saturatingRoundingMultiplyByPOT(-5, -1), -3);
});

// ---- MultiplyByQuantizedMultiplier --------------------------------------------------------------------

Deno.test("MultiplyByQuantizedMultiplier: double rounding rounds twice, single rounding once", () => {
  // m = 0.375 = 0.75·2^-1: multiplier 0.75·2^31, shift −1. For x = 6: SRDHM gives 4.5 → 5, then 5/2 =
  // 2.5 → 3; the exact product 2.25 rounds once to 2.
  assert.equal(multiplyByQuantizedMultiplier(6, 1610612736, -1), 3);
  assert.equal(multiplyByQuantizedMultiplierSingleRounding(6, 1610612736, -1), 2);
  assert.equal(multiplyByQuantizedMultiplier(-6, 1610612736, -1), -2); // −4.5 → −4, −2
  assert.equal(multiplyByQuantizedMultiplierSingleRounding(-6, 1610612736, -1), -2); // −2.25
  // Shift 0 is SRDHM alone; a left shift multiplies first (wrapping as int32 would).
  assert.equal(multiplyByQuantizedMultiplier(100, 1 << 30, 0), 50);
  assert.equal(multiplyByQuantizedMultiplier(100, 1 << 30, 3), 400);
  assert.equal(multiplyByQuantizedMultiplier(1 << 28, 1 << 30, 4), srdhm(0, 1 << 30));
  assert.equal(multiplyByQuantizedMultiplierSingleRounding(100, 1 << 30, 3), 400);
  // Shift −31: (2^31 − 1)·2^30/2^62 just below 0.5 rounds once to 0; twice it is SRDHM's 2^30 − 0.5 → 2^30,
  // then 2^30/2^31 = 0.5 → 1.
  assert.equal(multiplyByQuantizedMultiplier(INT32_MAX, 1 << 30, -31), 1);
  assert.equal(multiplyByQuantizedMultiplierSingleRounding(INT32_MAX, 1 << 30, -31), 0);
  assert.equal(multiplyByQuantizedMultiplierSingleRounding(INT32_MIN, 1 << 30, -31), 0);
  assert.equal(multiplyByQuantizedMultiplierSmallerThanOneExp(6, 1610612736, -1), 3);
  assert.equal(multiplyByQuantizedMultiplierGreaterThanOne(3, 1 << 30, 2), 6);
});

Deno.test("MultiplyByQuantizedMultiplier (both roundings) match the formulas on random operands", () => {
  const r = rng(3);
  for (let i = 0; i < 100000; i++) {
    const x = i % 2 ? int32(r()) : Math.floor((r() - 0.5) * 2 ** 23);
    const m = (1 << 30) + Math.floor(r() * (1 << 30));
    const shift = -31 + (i % 32); // −31 … 0
    const want = bigRdbpot(bigSrdhm(x, m), -shift);
    assert.equal(multiplyByQuantizedMultiplier(x, m, shift), want, `mbqm(${x}, ${m}, ${shift})`);
    const s = -31 + (i % 62); // −31 … 30, products kept within int32 results
    const xs = s > 0 ? Math.trunc(x / 2 ** (s + 1)) : x;
    assert.equal(
      multiplyByQuantizedMultiplierSingleRounding(xs, m, s),
      bigSingle(xs, m, s),
      `single(${xs}, ${m}, ${s})`,
    );
  }
});

Deno.test("MultiplyByQuantizedMultiplier int64: multiplier rounded to 16 bits, one rounding", () => {
  // 2^30 → (2^30 + 2^15) >> 16 = 2^14; shift −9: (3000·2^14 + 2^23) >> 24 = 3.
  assert.equal(multiplyByQuantizedMultiplierInt64(3000, 1 << 30, -9), 3);
  assert.equal(multiplyByQuantizedMultiplierInt64(-2048, 1 << 30, -9), -2);
  assert.equal(multiplyByQuantizedMultiplierInt64(-2560, 1 << 30, -9), -2);
  // Multipliers at or above 0x7FFF0000 take 0x7FFF: 2^47 − 1 · 32767 … kept below 2^31 by shift −31.
  assert.equal(
    multiplyByQuantizedMultiplierInt64(2 ** 47 - 1, 0x7fffffff, -31),
    bigInt64(2n ** 47n - 1n, 0x7fffffff, -31),
  );
  const r = rng(4);
  for (let i = 0; i < 50000; i++) {
    const x = Math.floor((r() - 0.5) * 2 ** 48);
    const m = (1 << 30) + Math.floor(r() * (1 << 30));
    const shift = -31 + (i % 20);
    assert.equal(
      multiplyByQuantizedMultiplierInt64(x, m, shift),
      bigInt64(BigInt(x), m, shift),
      `int64(${x}, ${m}, ${shift})`,
    );
  }
});

// ---- QuantizeMultiplier -------------------------------------------------------------------------------

Deno.test("frexp splits into [0.5, 1) and a power of two, at and around powers of two", () => {
  assert.deepEqual(frexp(1), { q: 0.5, e: 1 });
  assert.deepEqual(frexp(0.75), { q: 0.75, e: 0 });
  assert.deepEqual(frexp(1 - 2 ** -53), { q: 1 - 2 ** -53, e: 0 });
  assert.deepEqual(frexp(2 ** -1074), { q: 0.5, e: -1073 });
  assert.deepEqual(frexp(2 ** 1023 * 1.5), { q: 0.75, e: 1024 });
});

Deno.test("QuantizeMultiplier: Q31 significand rounded half away from zero, 2^31 renormalised, tiny flushed", () => {
  assert.deepEqual(quantizeMultiplier(0), { multiplier: 0, shift: 0 });
  assert.deepEqual(quantizeMultiplier(1), { multiplier: 1 << 30, shift: 1 });
  assert.deepEqual(quantizeMultiplier(0.5), { multiplier: 1 << 30, shift: 0 });
  assert.deepEqual(quantizeMultiplier(0.75), { multiplier: 1610612736, shift: 0 });
  // Just below 1: q·2^31 = 2^31 − 0.25 rounds to 2^31, which becomes 2^30 with the shift raised.
  assert.deepEqual(quantizeMultiplier(1 - 2 ** -33), { multiplier: 1 << 30, shift: 1 });
  // Just above 1: q = 0.5 + 2^-33, q·2^31 = 2^30 + 0.25 → 2^30.
  assert.deepEqual(quantizeMultiplier(1 + 2 ** -32), { multiplier: 1 << 30, shift: 1 });
  // A half exactly: q = 0.5 + 2^-32, q·2^31 = 2^30 + 0.5 → 2^30 + 1 (away from zero).
  assert.deepEqual(quantizeMultiplier(0.5 + 2 ** -32), { multiplier: (1 << 30) + 1, shift: 0 });
  // Tiny: 2^-32 is 0.5·2^-31 (kept), 2^-33 has shift −32 and flushes to zero.
  assert.deepEqual(quantizeMultiplier(2 ** -32), { multiplier: 1 << 30, shift: -31 });
  assert.deepEqual(quantizeMultiplier(2 ** -33), { multiplier: 0, shift: 0 });
  // Huge: 2^40 keeps its shift of 41 unless the single-rounding build caps it at 30.
  assert.deepEqual(quantizeMultiplier(2 ** 40), { multiplier: 1 << 30, shift: 41 });
  assert.deepEqual(quantizeMultiplier(2 ** 40, true), { multiplier: INT32_MAX, shift: 30 });
  // A typical scale ratio: 0.0213·0.0063/0.0917 — the significand is the ratio·2^(31−shift) rounded.
  const m = (0.0213 * 0.0063) / 0.0917;
  const q = quantizeMultiplier(m);
  assert.equal(q.shift, -9);
  assert.equal(q.multiplier, Math.round(m * 2 ** 40));
});

Deno.test("convolution multipliers: double products per channel, the float product for uint8", () => {
  const si = Math.fround(0.1), sw = Math.fround(0.3), so = Math.fround(0.7);
  const { multiplier, shift } = perChannelMultipliers(si, [sw, sw * 2], so, 2);
  assert.deepEqual([...shift], [-4, -3]);
  assert.equal(multiplier[0], Math.round(((si * sw) / so) * 2 ** 35));
  assert.equal(multiplier[1], multiplier[0]);
  // float32(si·sw) differs from the double product in its low bits, and so does the multiplier.
  const legacy = legacyConvMultiplier(si, sw, so);
  assert.equal(legacy.multiplier, Math.round((Math.fround(si * sw) / so) * 2 ** 35));
  assert.notEqual(legacy.multiplier, multiplier[0]);
  assert.throws(() => perChannelMultipliers(si, [1, 2, 3], so, 2));
});

Deno.test("fused activation ranges in the output's integer domain", () => {
  const q = (storage: "i8" | "u8", scale: number, zp: number) => ({
    kind: "affine" as const,
    storage,
    scale: [scale],
    zeroPoint: [zp],
  });
  assert.deepEqual(activationRangeQuantized("NONE", q("i8", 0.05, 3)), [-128, 127]);
  assert.deepEqual(activationRangeQuantized("RELU", q("i8", 0.05, 3)), [3, 127]);
  // RELU6 at scale 0.05, zp −128: 6/0.05 = 120 → [−128, −8].
  assert.deepEqual(activationRangeQuantized("RELU6", q("i8", 0.05, -128)), [-128, -8]);
  assert.deepEqual(activationRangeQuantized("RELU6", q("u8", 0.01, 10)), [10, 255]);
  assert.deepEqual(activationRangeQuantized("RELU_N1_TO_1", q("i8", 1 / 127, 0)), [-127, 127]);
  // 6/0.08 = 75 exactly in float; a zero point of −50 puts 0 below the storage range.
  assert.deepEqual(activationRangeQuantized("RELU6", q("u8", 0.08, 0)), [0, 75]);
  assert.throws(() => activationRangeQuantized("TANH", q("i8", 0.05, 0)));
});

Deno.test("the arithmetic selector defaults to double rounding and restores", () => {
  assert.equal(integerArithmetic(), "double-rounding");
  const prev = setIntegerArithmetic("xnnpack");
  assert.equal(prev, "double-rounding");
  assert.equal(setIntegerArithmetic(prev), "xnnpack");
  assert.equal(integerArithmetic(), "double-rounding");
});

// ---- gemmlowp fixed-point functions -------------------------------------------------------------------

Deno.test("gemmlowp exp, logistic, tanh: exact points and accuracy against the real functions", () => {
  // One is the largest raw value; logistic(0) is the constant 2^30 rounded to 16 bits; tanh(0) is 0.
  assert.equal(expOnNegativeValues(0, 3, 16), 32767);
  assert.equal(expOnNegativeValues(0, 5, 32), INT32_MAX);
  assert.equal(logistic(0, 3, 16), 16384);
  assert.equal(tanh(0, 3, 16), 0);
  // Odd and complementary symmetry hold exactly by construction.
  for (const raw of [1, 100, 4096, 20000, 32767]) {
    assert.equal(tanh(-raw, 3, 16), -tanh(raw, 3, 16));
    assert.equal(logistic(-raw, 3, 16), 32767 - logistic(raw, 3, 16));
  }
  // Q3.12 in, Q0.15 out: gemmlowp's 16-bit Newton–Raphson division stays within ~10 units of the real
  // values over the whole int16 range (exactness against TFLite is checked through LiteRT).
  for (let raw = -32768; raw <= 32767; raw += 97) {
    const x = raw / 4096;
    assert.ok(Math.abs(logistic(raw, 3, 16) / 32768 - 1 / (1 + Math.exp(-x))) < 10 / 32768, `logistic(${x})`);
    assert.ok(Math.abs(tanh(raw, 3, 16) / 32768 - Math.tanh(x)) < 16 / 32768, `tanh(${x})`);
  }
  for (let raw = -(2 ** 31); raw < 0; raw += 2 ** 24 + 12345) {
    const x = raw / 2 ** 26; // Q5.26
    assert.ok(Math.abs(expOnNegativeValues(raw, 5, 32) / 2 ** 31 - Math.exp(x)) < 2 ** -21, `exp(${x})`);
  }
});
