/**
 * Complex DFT of any length in double precision: iterative radix-2 for powers of two, the direct sum for
 * short odd lengths, and Bluestein's chirp-z (a power-of-two convolution) otherwise, so every length costs
 * O(n log n) beyond the smallest ones. Plans are cached per length.
 */

/** Twiddles are built from integer angles reduced mod n, so long transforms keep full accuracy. */
function cosSinTable(n: number): [Float64Array, Float64Array] {
  const c = new Float64Array(n), s = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const ang = (-2 * Math.PI * k) / n;
    c[k] = Math.cos(ang);
    s[k] = Math.sin(ang);
  }
  return [c, s];
}

class Radix2 {
  readonly rev: Uint32Array;
  readonly cos: Float64Array;
  readonly sin: Float64Array;
  constructor(readonly n: number) {
    let bits = 0;
    while (1 << bits < n) bits++;
    this.rev = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      this.rev[i] = r;
    }
    [this.cos, this.sin] = cosSinTable(n);
  }
  /** Forward transform (e^{-2πi kn/N}) in place. */
  run(re: Float64Array, im: Float64Array): void {
    const n = this.n, rev = this.rev;
    for (let i = 0; i < n; i++) {
      const j = rev[i];
      if (j > i) {
        let t = re[i];
        re[i] = re[j];
        re[j] = t;
        t = im[i];
        im[i] = im[j];
        im[j] = t;
      }
    }
    for (let size = 2; size <= n; size <<= 1) {
      const half = size >> 1, step = n / size;
      for (let start = 0; start < n; start += size) {
        for (let k = 0; k < half; k++) {
          const wr = this.cos[k * step], wi = this.sin[k * step];
          const a = start + k, b = a + half;
          const xr = re[b] * wr - im[b] * wi, xi = re[b] * wi + im[b] * wr;
          re[b] = re[a] - xr;
          im[b] = im[a] - xi;
          re[a] += xr;
          im[a] += xi;
        }
      }
    }
  }
}

export class FftPlan {
  private radix?: Radix2;
  private direct?: [Float64Array, Float64Array];
  private blue?: {
    m: Radix2;
    wr: Float64Array;
    wi: Float64Array;
    br: Float64Array;
    bi: Float64Array;
    ar: Float64Array;
    ai: Float64Array;
  };
  private tr: Float64Array;
  private ti: Float64Array;

  constructor(readonly n: number) {
    this.tr = new Float64Array(n);
    this.ti = new Float64Array(n);
    if (n > 0 && (n & (n - 1)) === 0) this.radix = new Radix2(n);
    else if (n <= 64) this.direct = cosSinTable(n);
    else {
      let m = 1;
      while (m < 2 * n - 1) m <<= 1;
      // Chirp w_k = e^{-πi k²/n}; k² is reduced mod 2n before scaling so the angle stays exact.
      const wr = new Float64Array(n), wi = new Float64Array(n);
      for (let k = 0; k < n; k++) {
        const q = (k * k) % (2 * n);
        const ang = (-Math.PI * q) / n;
        wr[k] = Math.cos(ang);
        wi[k] = Math.sin(ang);
      }
      const br = new Float64Array(m), bi = new Float64Array(m);
      br[0] = wr[0];
      bi[0] = -wi[0];
      for (let k = 1; k < n; k++) {
        br[k] = br[m - k] = wr[k];
        bi[k] = bi[m - k] = -wi[k];
      }
      const plan = new Radix2(m);
      plan.run(br, bi);
      this.blue = { m: plan, wr, wi, br, bi, ar: new Float64Array(m), ai: new Float64Array(m) };
    }
  }

  /** In-place DFT of (re, im); `inverse` uses e^{+2πi kn/N} and scales by 1/N. */
  run(re: Float64Array, im: Float64Array, inverse: boolean): void {
    const n = this.n;
    if (n === 0) return;
    // The inverse is the conjugate of the forward transform of the conjugate.
    if (inverse) { for (let i = 0; i < n; i++) im[i] = -im[i]; }
    if (this.radix) this.radix.run(re, im);
    else if (this.direct) {
      const [c, s] = this.direct, tr = this.tr, ti = this.ti;
      for (let k = 0; k < n; k++) {
        let sr = 0, si = 0, idx = 0;
        for (let j = 0; j < n; j++) {
          sr += re[j] * c[idx] - im[j] * s[idx];
          si += re[j] * s[idx] + im[j] * c[idx];
          idx += k;
          if (idx >= n) idx -= n;
        }
        tr[k] = sr;
        ti[k] = si;
      }
      re.set(tr);
      im.set(ti);
    } else {
      const b = this.blue!, m = b.m.n, ar = b.ar, ai = b.ai;
      ar.fill(0);
      ai.fill(0);
      for (let k = 0; k < n; k++) {
        ar[k] = re[k] * b.wr[k] - im[k] * b.wi[k];
        ai[k] = re[k] * b.wi[k] + im[k] * b.wr[k];
      }
      b.m.run(ar, ai);
      for (let k = 0; k < m; k++) {
        const xr = ar[k] * b.br[k] - ai[k] * b.bi[k];
        const xi = ar[k] * b.bi[k] + ai[k] * b.br[k];
        // Conjugating before and after a forward FFT gives the inverse (unscaled).
        ar[k] = xr;
        ai[k] = -xi;
      }
      b.m.run(ar, ai);
      for (let k = 0; k < n; k++) {
        const cr = ar[k] / m, ci = -ai[k] / m;
        re[k] = cr * b.wr[k] - ci * b.wi[k];
        im[k] = cr * b.wi[k] + ci * b.wr[k];
      }
    }
    if (inverse) {
      const inv = 1 / n;
      for (let i = 0; i < n; i++) {
        re[i] *= inv;
        im[i] = -im[i] * inv;
      }
    }
  }
}

const plans = new Map<number, FftPlan>();

export function fftPlan(n: number): FftPlan {
  let p = plans.get(n);
  if (!p) {
    p = new FftPlan(n);
    if (plans.size > 64) plans.clear();
    plans.set(n, p);
  }
  return p;
}
