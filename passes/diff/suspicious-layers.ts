/**
 * FetaFix's suspicious-layer order (accelerators.md §3.1): per paired value, an element-wise
 * Kruskal–Wallis test (p < 0.05) between the target − source differences on samples whose top-1 agrees
 * and on those whose top-1 does not; a layer scores the fraction of deviating elements (where both groups
 * are constant, an element deviates when they differ); rank positions are summed over three seeded
 * subsamples of at most 15 per group. With fewer than two samples in either group, layers are ranked by
 * their error jump over their inputs' error instead.
 */
import { Rng } from "../../runtime/random.ts";
import { kruskalWallis } from "./kruskal-wallis.ts";
import type { Localization, PairError, SuspiciousLayer } from "./localize.ts";
import type { GraphMatch } from "./match.ts";
import type { Trace } from "./trace.ts";

/** FetaFix's suspicious-layer order, or the error-jump order when the samples do not split. */
export function rankLayers(
  match: GraphMatch,
  trace: Trace,
  pairs: readonly PairError[],
  tol: number,
): Localization["ranking"] {
  const out0 = trace.outputs[0];
  const similar: number[] = [], dissimilar: number[] = [];
  out0?.top1PerSample.forEach((same, i) => (same ? similar : dissimilar).push(i));
  const compared = pairs.filter((p) => match.values[p.pair].kind !== "input" && Number.isFinite(p.error));
  const layer = (p: number, score: number, rankSum: number): SuspiciousLayer => ({
    pair: p,
    ...(match.values[p].source.node ? { sourceNode: match.values[p].source.node } : {}),
    ...(match.values[p].target.node ? { targetNode: match.values[p].target.node } : {}),
    score,
    rankSum,
  });
  if (similar.length < 2 || dissimilar.length < 2 || out0.classes < 2) {
    const scored = compared.map((p) => ({ p: p.pair, score: p.error / (p.inputError + tol) }));
    scored.sort((a, b) => b.score - a.score);
    return { method: "error-jump", layers: scored.map((x, i) => layer(x.p, x.score, i + 1)) };
  }
  const rng = new Rng(0x4b57);
  const pick = (xs: number[]) => {
    const c = [...xs];
    for (let i = c.length - 1; i > 0; i--) {
      const j = rng.int(0, i + 1);
      [c[i], c[j]] = [c[j], c[i]];
    }
    return c.slice(0, 15);
  };
  const rankSum = new Map<number, number>(), lastScore = new Map<number, number>();
  for (let iter = 0; iter < 3; iter++) {
    const a = pick(similar), b = pick(dissimilar);
    const scores = compared.map((p) => ({
      p: p.pair,
      score: deviatingFraction(trace.pairs[p.pair].differences, a, b),
    }));
    scores.sort((x, y) => y.score - x.score);
    scores.forEach((s, i) => {
      rankSum.set(s.p, (rankSum.get(s.p) ?? 0) + i + 1);
      lastScore.set(s.p, s.score);
    });
  }
  const layers = [...rankSum.entries()].sort((x, y) => x[1] - y[1]).map(([p, r]) =>
    layer(p, lastScore.get(p) ?? 0, r)
  );
  return { method: "kruskal-wallis", layers };
}

function deviatingFraction(diffs: readonly Float32Array[], a: number[], b: number[]): number {
  if (!diffs.length) return 0;
  const n = diffs[0].length;
  let deviating = 0;
  const ga = new Float64Array(a.length), gb = new Float64Array(b.length);
  for (let j = 0; j < n; j++) {
    a.forEach((s, i) => (ga[i] = diffs[s]?.[j] ?? 0));
    b.forEach((s, i) => (gb[i] = diffs[s]?.[j] ?? 0));
    const constA = ga.every((x) => x === ga[0]), constB = gb.every((x) => x === gb[0]);
    if (constA && constB) {
      if (ga[0] !== gb[0]) deviating++;
      continue;
    }
    if (kruskalWallis([ga, gb]).p < 0.05) deviating++;
  }
  return deviating / n;
}
