/**
 * The Kruskal–Wallis H test, as FetaFix applies it element by element to compare the activation
 * differences of samples the models agree on with those they disagree on (accelerators.md §3.1): ranks
 * over the pooled samples (ties get their mean rank), H corrected for ties, and the p-value from the χ²
 * distribution with (groups − 1) degrees of freedom, as scipy.stats.kruskal computes them.
 */

export interface KruskalResult {
  h: number;
  p: number;
}

/** H and p for two or more groups; p is 1 (no evidence) when every value is tied. */
export function kruskalWallis(groups: readonly ArrayLike<number>[]): KruskalResult {
  const k = groups.length;
  let n = 0;
  for (const g of groups) n += g.length;
  const vals = new Float64Array(n), grp = new Int32Array(n);
  let o = 0;
  groups.forEach((g, gi) => {
    for (let i = 0; i < g.length; i++, o++) {
      vals[o] = g[i];
      grp[o] = gi;
    }
  });
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => vals[a] - vals[b]);
  const rankSum = new Float64Array(k);
  let tieTerm = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && vals[order[j + 1]] === vals[order[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let x = i; x <= j; x++) rankSum[grp[order[x]]] += rank;
    const t = j - i + 1;
    tieTerm += t * t * t - t;
    i = j + 1;
  }
  let h = 0;
  groups.forEach((g, gi) => {
    if (g.length) h += (rankSum[gi] * rankSum[gi]) / g.length;
  });
  h = (12 / (n * (n + 1))) * h - 3 * (n + 1);
  const correction = 1 - tieTerm / (n * n * n - n);
  if (correction <= 0) return { h: 0, p: 1 };
  h /= correction;
  return { h, p: chiSquareSf(h, k - 1) };
}

/** Upper tail of the χ² distribution: Q(df/2, x/2), the regularized upper incomplete gamma function. */
export function chiSquareSf(x: number, df: number): number {
  if (!(x > 0)) return 1;
  return gammaQ(df / 2, x / 2);
}

function gammaQ(a: number, x: number): number {
  if (x < a + 1) return 1 - gammaPSeries(a, x);
  return gammaQFraction(a, x);
}

function gammaPSeries(a: number, x: number): number {
  let sum = 1 / a, term = sum;
  for (let n = 1; n < 500; n++) {
    term *= x / (a + n);
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
  }
  return sum * Math.exp(-x + a * Math.log(x) - logGamma(a));
}

/** Lentz's continued fraction for Q(a, x). */
function gammaQFraction(a: number, x: number): number {
  const tiny = 1e-300;
  let b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (let i = 1; i < 500; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.exp(-x + a * Math.log(x) - logGamma(a)) * h;
}

/** Lanczos approximation (g = 7, 9 terms). */
function logGamma(z: number): number {
  const g = 7;
  const c = [
    0.99999999999980993,
    676.5203681218851,
    -1259.1392167224028,
    771.32342877765313,
    -176.61502916214059,
    12.507343278686905,
    -0.13857109526572012,
    9.9843695780195716e-6,
    1.5056327351493116e-7,
  ];
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - logGamma(1 - z);
  z -= 1;
  let x = c[0];
  for (let i = 1; i < g + 2; i++) x += c[i] / (z + i);
  const t = z + g + 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(x);
}
