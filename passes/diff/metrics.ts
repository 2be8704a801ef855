/**
 * Agreement figures between a source and a target output, with the conventions of FetaFix and DeltaNN
 * (accelerators.md §3, §7 item 7): per row (the last axis holds the classes) top-1 equality, and Kendall's
 * τ-b over the union of both top-k lists as the graded score, τ ≥ 0.98 counting as fixed; plus max
 * absolute and relative error and SQNR = 10·log10(Σ s² / Σ (s − t)²) in dB.
 */

export const FIXED_TAU = 0.98;

/** Index of the largest element of `x[from, from + n)` (the first one on ties; NaN never wins). */
export function argmax(x: ArrayLike<number>, from = 0, n = x.length - from): number {
  let best = -1, bv = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = x[from + i];
    if (v > bv || best < 0 && !(v < bv)) {
      bv = v;
      best = i;
    }
  }
  return best;
}

/** Indices of the k largest elements, largest first (stable on ties). */
export function topK(x: ArrayLike<number>, k: number, from = 0, n = x.length - from): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => {
    const va = x[from + a], vb = x[from + b];
    if (va === vb || (Number.isNaN(va) && Number.isNaN(vb))) return a - b;
    if (Number.isNaN(va)) return 1;
    if (Number.isNaN(vb)) return -1;
    return vb - va;
  });
  return idx.slice(0, Math.min(k, n));
}

/** Kendall's τ-b of two equally long samples (ties adjusted, as scipy.stats.kendalltau computes it). */
export function kendallTau(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let conc = 0, disc = 0, tieA = 0, tieB = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const da = Math.sign(a[i] - a[j]), db = Math.sign(b[i] - b[j]);
      if (da === 0 && db === 0) continue;
      if (da === 0) tieA++;
      else if (db === 0) tieB++;
      else if (da === db) conc++;
      else disc++;
    }
  }
  const den = Math.sqrt((conc + disc + tieA) * (conc + disc + tieB));
  return den === 0 ? NaN : (conc - disc) / den;
}

/**
 * τ between the scores two models give the classes in either's top k: 1 when both rank the same classes
 * in the same order, lower as the lists disagree in membership or order.
 */
export function topKTau(
  s: ArrayLike<number>,
  t: ArrayLike<number>,
  k: number,
  from = 0,
  n = s.length - from,
): number {
  const items = [...new Set([...topK(s, k, from, n), ...topK(t, k, from, n)])];
  const a = items.map((i) => s[from + i]), b = items.map((i) => t[from + i]);
  return kendallTau(a, b);
}

/** Running error figures of a target against a source over any number of element-wise comparisons. */
export class ErrorStats {
  signal = 0;
  noise = 0;
  maxAbs = 0;
  maxRef = 0;
  count = 0;
  /** Positions where exactly one side is NaN (or the infinities differ). */
  nonFinite = 0;

  add(s: ArrayLike<number>, t: ArrayLike<number>): void {
    const n = s.length;
    let signal = 0, noise = 0, maxAbs = this.maxAbs, maxRef = this.maxRef, bad = 0;
    for (let i = 0; i < n; i++) {
      const x = s[i], y = t[i];
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        if (!(x === y || (Number.isNaN(x) && Number.isNaN(y)))) bad++;
        continue;
      }
      const d = x - y;
      signal += x * x;
      noise += d * d;
      const ad = d < 0 ? -d : d, ax = x < 0 ? -x : x;
      if (ad > maxAbs) maxAbs = ad;
      if (ax > maxRef) maxRef = ax;
    }
    this.signal += signal;
    this.noise += noise;
    this.maxAbs = maxAbs;
    this.maxRef = maxRef;
    this.count += n;
    this.nonFinite += bad;
  }

  /** SQNR in dB: +Infinity for identical values. */
  get sqnrDb(): number {
    if (this.nonFinite > 0) return -Infinity;
    return sqnrDb(this.signal, this.noise);
  }
  /** ‖s − t‖ / ‖s‖. */
  get relL2(): number {
    if (this.nonFinite > 0) return Infinity;
    return this.noise === 0 ? 0 : this.signal === 0 ? Infinity : Math.sqrt(this.noise / this.signal);
  }
  /** max |s − t| / max |s|. */
  get maxRel(): number {
    if (this.nonFinite > 0) return Infinity;
    return this.maxAbs === 0 ? 0 : this.maxRef === 0 ? Infinity : this.maxAbs / this.maxRef;
  }
}

export function sqnrDb(signal: number, noise: number): number {
  if (noise === 0) return Infinity;
  if (signal === 0) return -Infinity;
  return 10 * Math.log10(signal / noise);
}

/** Top-1 and top-k agreement over the rows of two outputs whose last axis has `classes` entries. */
export interface RowAgreement {
  rows: number;
  top1Same: number;
  /** τ per row (NaN where undefined: fewer than two classes, or constant scores). */
  taus: number[];
}

export function rowAgreement(
  s: ArrayLike<number>,
  t: ArrayLike<number>,
  classes: number,
  k: number,
): RowAgreement {
  const rows = classes > 0 ? Math.floor(s.length / classes) : 0;
  let same = 0;
  const taus: number[] = [];
  for (let r = 0; r < rows; r++) {
    const from = r * classes;
    if (argmax(s, from, classes) === argmax(t, from, classes)) same++;
    taus.push(classes >= 2 ? topKTau(s, t, k, from, classes) : NaN);
  }
  return { rows, top1Same: same, taus };
}
