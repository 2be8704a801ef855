/**
 * The error function to double precision (Math has none), fast enough for Gelu over large activations.
 *
 * Reference values come from series that need many terms: below |x| = 3 the everywhere-positive series
 * erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n (2x^2)^n x / (1*3*...*(2n+1)) (no cancellation), above it the
 * continued fraction for erfc. Those build a table of Taylor coefficients at every multiple of 1/128 up
 * to 6 (beyond which erf is 1 to double precision); the k-th derivative of erf is
 * 2/sqrt(pi) * (-1)^(k-1) * H_(k-1)(x) * exp(-x^2) with Hermite polynomials H. An evaluation is then one
 * table lookup and a degree-8 polynomial in the offset (|offset| <= 1/256).
 */
const TWO_OVER_SQRT_PI = 1.1283791670955126;
const ONE_OVER_SQRT_PI = 0.5641895835477563;

/** erf by the reference series (slow; builds the table and answers tiny arguments). */
function erfSeries(x: number): number {
  const ax = Math.abs(x);
  let r: number;
  if (ax < 3) {
    const x2 = ax * ax;
    let term = ax, sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x2) / (2 * n + 1);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    r = TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
  } else r = 1 - erfcLarge(ax);
  return x < 0 ? -r : r;
}

/**
 * erfc(x) for x >= 3 from erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))),
 * evaluated backwards from a fixed depth (enough for x >= 3 to reach double precision).
 */
function erfcLarge(x: number): number {
  let f = x;
  for (let k = 60; k >= 1; k--) f = x + k / 2 / f;
  return (Math.exp(-x * x) * ONE_OVER_SQRT_PI) / f;
}

const STEPS = 128;
const LIMIT = 6;
const DEGREE = 8;
const POINTS = LIMIT * STEPS + 1;

/** Row i holds erf's Taylor coefficients (value, f'/1!, f''/2!, ...) at x = i / STEPS. */
const TAYLOR: Float64Array = (() => {
  const t = new Float64Array(POINTS * (DEGREE + 1));
  for (let i = 0; i < POINTS; i++) {
    const x = i / STEPS;
    const g = TWO_OVER_SQRT_PI * Math.exp(-x * x);
    const row = i * (DEGREE + 1);
    t[row] = erfSeries(x);
    let hPrev = 0, h = 1; // H_-1 (unused) and H_0
    let fact = 1;
    for (let k = 1; k <= DEGREE; k++) {
      fact *= k;
      // erf^(k) = g * (-1)^(k-1) * H_(k-1)(x)
      t[row + k] = (((k - 1) % 2 === 0 ? 1 : -1) * g * h) / fact;
      const next = 2 * x * h - 2 * (k - 1) * hPrev;
      hPrev = h;
      h = next;
    }
  }
  return t;
})();

export function erf(x: number): number {
  if (x !== x) return x;
  const ax = Math.abs(x);
  if (ax >= LIMIT) return x > 0 ? 1 : -1;
  const i = Math.round(ax * STEPS);
  const d = ax - i / STEPS;
  const row = i * (DEGREE + 1);
  let p = TAYLOR[row + DEGREE];
  for (let k = DEGREE - 1; k >= 0; k--) p = p * d + TAYLOR[row + k];
  return x < 0 ? -p : p;
}
