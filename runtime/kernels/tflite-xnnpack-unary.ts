/**
 * Float tanh, GELU (erf form and tanh approximation) and exp as LiteRT's CPU path computes them: XNNPACK's
 * WebAssembly SIMD kernels (f32-vtanh rational 9/8, f32-vgelu and f32-vapproxgelu rational 12/10, f32-vexp
 * rational 3/2). The WebAssembly build has no native fused multiply-add in these kernels, so each polynomial
 * step is a product rounded to float32 and then a rounded add; the clamps are the kernels' non-FMA ones.
 */

const f = Math.fround;
const bitsF32 = new Float32Array(1), bitsI32 = new Int32Array(bitsF32.buffer);

// Rational 9/8 tanh: x·P(x²)/Q(x²) on x clamped to where the interpolant reaches ±1.
const TANH_MAX = f(7.8522667885);
const TA3 = f(1.3412411511e-01),
  TA5 = f(3.5330520477e-03),
  TA7 = f(2.1235626264e-05),
  TA9 = f(1.4248920266e-08);
const TB2 = f(4.6745735407e-01),
  TB4 = f(2.6018999517e-02),
  TB6 = f(3.3472978976e-04),
  TB8 = f(8.1365948290e-07);

export function xnnTanh(x: Float32Array, o: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    // min then max as the kernel orders them (NaN passes through both).
    let v = Math.min(TANH_MAX, x[i]);
    v = Math.max(-TANH_MAX, v);
    const v2 = f(v * v);
    let p = f(f(v2 * TA9) + TA7);
    p = f(f(v2 * p) + TA5);
    p = f(f(v2 * p) + TA3);
    p = f(f(v2 * p) + 1);
    p = f(v * p);
    let q = f(f(v2 * TB8) + TB6);
    q = f(f(v2 * q) + TB4);
    q = f(f(v2 * q) + TB2);
    q = f(f(v2 * q) + 1);
    o[i] = f(p / q);
  }
}

/** erf(x/√2) (or tanh of the approximation's argument) as v·P(v²)/Q(v²), v the clamped x. */
interface GeluRational {
  max: number;
  alpha: Float32Array;
  beta: Float32Array;
}

const GELU: GeluRational = {
  max: f(5.1158981323),
  alpha: Float32Array.of(
    7.9788452387e-01,
    6.6972173750e-02,
    9.3065137044e-03,
    3.2973114867e-04,
    1.2609783880e-05,
    4.5835321316e-08,
  ),
  beta: Float32Array.of(
    2.5060352683e-01,
    2.8431978077e-02,
    1.8622842617e-03,
    7.2267655923e-05,
    1.1988805682e-06,
  ),
};

const APPROX_GELU: GeluRational = {
  max: f(4.86115026),
  alpha: Float32Array.of(
    7.9788458347e-01,
    6.0803253204e-02,
    7.2898347862e-03,
    2.6887017884e-04,
    1.4302649106e-05,
    4.9544411240e-08,
  ),
  beta: Float32Array.of(
    2.4369759858e-01,
    2.4381054565e-02,
    1.3060354395e-03,
    7.6477612311e-05,
    1.3433452750e-06,
  ),
};

/** GELU: (x·0.5)·(1 + r(x)), r the kernel's rational fit of erf(x/√2), or of tanh's form if `approximate`. */
export function xnnGelu(x: Float32Array, o: Float32Array, approximate: boolean): void {
  const k = approximate ? APPROX_GELU : GELU, a = k.alpha, b = k.beta, M = k.max;
  const a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5];
  const b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3], b4 = b[4];
  for (let i = 0; i < x.length; i++) {
    const xi = x[i];
    let v = Math.min(M, xi);
    v = Math.max(-M, v);
    const v2 = f(v * v);
    let p = f(f(v2 * a5) + a4);
    p = f(f(v2 * p) + a3);
    p = f(f(v2 * p) + a2);
    p = f(f(v2 * p) + a1);
    p = f(f(v2 * p) + a0);
    p = f(v * p);
    let q = f(f(v2 * b4) + b3);
    q = f(f(v2 * q) + b2);
    q = f(f(v2 * q) + b1);
    q = f(f(v2 * q) + b0);
    q = f(f(v2 * q) + 1);
    o[i] = f(f(xi * 0.5) * f(f(p / q) + 1));
  }
}

const EA1 = f(4.1594290733e-01), EA2 = f(7.2068706155e-02), EA3 = f(5.5380910635e-03);
const EB1 = f(-2.7720427513e-01), EB2 = f(2.3986088112e-02), LOG2E = f(1.44269504089);

/**
 * exp: z' = x·log2(e) clamped to [-127, 128], split into z = round(z') (by adding and taking off 2^23 + 2^22)
 * and r = z' − z; 2^z from (z + 2^23 + 127)'s bits shifted into the exponent (0 at -127, ∞ at 128), 2^r as
 * P(r)/Q(r).
 */
export function xnnExp(x: Float32Array, o: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    let zp = f(x[i] * LOG2E);
    // max then min; a NaN input stays NaN through the wasm min/max.
    zp = zp !== zp ? zp : Math.min(Math.max(zp, -127), 128);
    const z = f(f(12582912 + zp) - 12582912);
    const r = f(zp - z);
    bitsF32[0] = f(z + 8388735);
    bitsI32[0] <<= 23;
    const s = bitsF32[0];
    let p = f(f(r * EA3) + EA2);
    p = f(f(r * p) + EA1);
    p = f(f(r * p) + 1);
    let q = f(f(r * EB2) + EB1);
    q = f(f(r * q) + 1);
    o[i] = f(s * f(p / q));
  }
}

/** A float32 constant written as a C hex float 0x1.hhhhhhp±e (six fraction digits). */
function hexFloat(fraction: string, exp: number): number {
  return f(parseInt("1" + fraction, 16) * 2 ** (exp - 24));
}

const ELU_SAT = -hexFloat("154246", 4);
const ELU_MAGIC = 12583039; // 2^23 + 2^22 + 127
const ELU_LOG2E = hexFloat("715476", 0);
const ELU_MINUS_LN2_HI = -hexFloat("62E440", -1), ELU_MINUS_LN2_LO = hexFloat("0105C6", -21);
const EC6 = hexFloat("6b7338", -10), EC5 = hexFloat("12278E", -7), EC4 = hexFloat("555716", -5);
const EC3 = hexFloat("5554B0", -3), EC2 = hexFloat("FFFFFE", -2);

/**
 * ELU (alpha 1) as XNNPACK's rr2_p6 kernel computes it: z = max(x, −17.33), s = 2^n from the rounded
 * z·log2(e), t = z − n·ln2 in two steps, p = (((c6·t + c5)·t + c4)·t + c3)·t + c2 times t, then
 * e^z − 1 = (p·(t·s) + t·s) + (s − 1); x itself where its sign bit is clear. `madd` is the engine's.
 */
export function xnnElu(
  x: Float32Array,
  o: Float32Array,
  madd: (a: number, b: number, c: number) => number,
): void {
  for (let i = 0; i < x.length; i++) {
    const xi = x[i];
    if (xi > 0 || (xi === 0 && !Object.is(xi, -0)) || xi !== xi) {
      o[i] = xi;
      continue;
    }
    const z = Math.max(ELU_SAT, xi);
    let n = madd(z, ELU_LOG2E, ELU_MAGIC);
    bitsF32[0] = n;
    bitsI32[0] <<= 23;
    let s = bitsF32[0];
    n = f(n - ELU_MAGIC);
    let t = madd(n, ELU_MINUS_LN2_HI, z);
    t = madd(n, ELU_MINUS_LN2_LO, t);
    let p = madd(EC6, t, EC5);
    p = madd(p, t, EC4);
    p = madd(p, t, EC3);
    p = madd(p, t, EC2);
    p = f(p * t);
    t = f(t * s);
    s = f(s - 1);
    p = madd(p, t, t);
    o[i] = f(p + s);
  }
}

const PI = f(3.1415927), INV_2PI = f(0.15915494), TWO_PI_HI = f(6.28125), TWO_PI_LO = f(1.9353072e-3);
const PI_HALF_HI = f(1.5707963705), PI_HALF_LO = f(-4.3711388e-08);
const SA3 = f(-1.3314664364e-01),
  SA5 = f(3.2340581529e-03),
  SB2 = f(3.3519912511e-02),
  SB4 = f(4.8770775902e-04);

/** Round half to even, as f32x4.nearest. */
function nearest(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * sin, or cos when `cos`, as XNNPACK's rational 5/4 kernels: x less the nearest multiple of 2π (in two
 * steps), for cos then π/2 − x, folded into [−π/2, π/2] by reflections about ±π, and v·P(v²)/Q(v²).
 */
export function xnnSinCos(x: Float32Array, o: Float32Array, cos: boolean): void {
  for (let i = 0; i < x.length; i++) {
    let v = x[i];
    const k = nearest(f(v * INV_2PI));
    v = f(v - f(k * TWO_PI_HI));
    v = f(v - f(k * TWO_PI_LO));
    if (cos) v = f(f(PI_HALF_HI - v) + PI_HALF_LO);
    v = Math.min(v, f(PI - v));
    v = Math.max(v, f(-PI - v));
    v = Math.min(v, f(PI - v));
    const v2 = f(v * v);
    let p = f(f(v2 * SA5) + SA3);
    p = f(f(v2 * p) + 1);
    p = f(v * p);
    let q = f(f(v2 * SB4) + SB2);
    q = f(f(v2 * q) + 1);
    o[i] = f(p / q);
  }
}
