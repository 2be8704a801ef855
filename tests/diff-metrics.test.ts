/**
 * The figures `diff` reports, against hand-derived values: Kendall's τ-b on known rankings (the values
 * scipy.stats.kendalltau gives), τ over the union of two top-k lists, SQNR and relative errors of a known
 * error, Kruskal–Wallis H and p (scipy.stats.kruskal's values), and the layout relation's reordering.
 */
import assert from "node:assert/strict";
import { ErrorStats, kendallTau, rowAgreement, sqnrDb, topK, topKTau } from "../passes/diff/metrics.ts";
import { chiSquareSf, kruskalWallis } from "../passes/diff/kruskal-wallis.ts";
import {
  candidatePerms,
  inferRelation,
  NHWC_TO_NCHW,
  toSourceOrder,
  toTargetOrder,
  transposeData,
} from "../passes/diff/layout-relation.ts";

const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tolerance ${tol})`);

Deno.test("Kendall's tau-b on known rankings", () => {
  // Pairs of [1..5] against [3,4,1,2,5]: 6 concordant, 4 discordant of 10, τ = 0.2.
  close(kendallTau([1, 2, 3, 4, 5], [3, 4, 1, 2, 5]), 0.2, 1e-12, "no ties");
  // One tie on each side: C = 8, D = 0, ties 1 and 1: 8 / sqrt(9 · 9) = 0.888…
  close(kendallTau([5, 4, 4, 2, 1], [5, 3, 4, 2, 2]), 8 / 9, 1e-12, "ties");
  close(kendallTau([1, 2, 3], [1, 2, 3]), 1, 0, "same order");
  close(kendallTau([1, 2, 3], [3, 2, 1]), -1, 0, "reversed");
  assert.ok(Number.isNaN(kendallTau([1, 1], [2, 3])), "constant scores have no τ");
});

Deno.test("top-k lists and tau over their union", () => {
  const s = [5, 4, 3, 2, 1, 0.5, 0.25, 0.1];
  assert.deepEqual(topK(s, 5), [0, 1, 2, 3, 4]);
  // Classes 3 and 4 swap places in the target's top 5: one discordant pair of ten, τ = 0.8.
  const t = [5, 4, 3, 0.8, 1, 0.5, 0.25, 0.1];
  close(topKTau(s, t, 5), 0.8, 1e-12, "swap inside the top 5");
  // A class from outside enters the target's top 2: union {0,1,2}; s = [5,4,3], t = [5,4,6] → C=1, D=2: τ = −1/3.
  close(topKTau(s, [5, 4, 6, 0, 0, 0, 0, 0], 2), -1 / 3, 1e-12, "membership change");
  const ag = rowAgreement([...s, ...s], [...t, ...s.map((x, i) => (i === 1 ? 9 : x))], 8, 5);
  assert.equal(ag.rows, 2);
  assert.equal(ag.top1Same, 1, "the second row's argmax moves to class 1");
});

Deno.test("SQNR and relative errors of a known error", () => {
  const s = new Float64Array([1, -2, 3, -4]);
  const t = s.map((x) => 1.1 * x);
  const e = new ErrorStats();
  e.add(s, t);
  // noise = 0.01 · signal: SQNR = 10·log10(100) = 20 dB; ‖t − s‖/‖s‖ = 0.1; max |t − s| = 0.4 at −4.
  close(e.sqnrDb, 20, 1e-9, "SQNR");
  close(e.relL2, 0.1, 1e-12, "relative L2");
  close(e.maxAbs, 0.4, 1e-12, "max abs");
  close(e.maxRel, 0.1, 1e-12, "max rel");
  assert.equal(sqnrDb(1, 0), Infinity);
  const nan = new ErrorStats();
  nan.add([1, 2], [1, NaN]);
  assert.equal(nan.nonFinite, 1);
  assert.equal(nan.sqnrDb, -Infinity, "a NaN where the source is finite is no signal at all");
});

Deno.test("Kruskal–Wallis H and p against scipy's values", () => {
  // scipy.stats.kruskal([1,2,3],[4,5,6]) = (3.857142857142854, 0.049534613435626915)
  let r = kruskalWallis([[1, 2, 3], [4, 5, 6]]);
  close(r.h, 3.857142857142854, 1e-9, "H");
  close(r.p, 0.049534613435626915, 1e-9, "p");
  // With ties: scipy.stats.kruskal([1,2,2,3],[2,5,6,6,7]) = (4.006956521739133, 0.04531287684133844)
  r = kruskalWallis([[1, 2, 2, 3], [2, 5, 6, 6, 7]]);
  close(r.h, 4.006956521739133, 1e-9, "H with ties");
  close(r.p, 0.04531287684133844, 1e-9, "p with ties");
  assert.deepEqual(kruskalWallis([[1, 1], [1, 1]]), { h: 0, p: 1 });
  // χ² with 2 degrees of freedom has survival exp(−x/2).
  close(chiSquareSf(3, 2), Math.exp(-1.5), 1e-12, "chi-square sf");
});

Deno.test("layout relation reads NHWC data in NCHW order", () => {
  // x[n=0][h][w][c] = 100h + 10w + c for H=2, W=3, C=2.
  const nhwc = new Float64Array(12);
  for (let h = 0; h < 2; h++) {
    for (let w = 0; w < 3; w++) {
      for (let c = 0; c < 2; c++) nhwc[(h * 3 + w) * 2 + c] = 100 * h + 10 * w + c;
    }
  }
  const rel = inferRelation([1, 2, 2, 3], [1, 2, 3, 2], NHWC_TO_NCHW);
  assert.deepEqual(rel, { kind: "perm", perm: [2, 0, 1] }, "C is target axis 2 of the squeezed [H, W, C]");
  const nchw = toSourceOrder(nhwc, [1, 2, 3, 2], rel!, [1, 2, 2, 3]);
  const want: number[] = [];
  for (let c = 0; c < 2; c++) {
    for (let h = 0; h < 2; h++) for (let w = 0; w < 3; w++) want.push(100 * h + 10 * w + c);
  }
  assert.deepEqual([...nchw], want);
  assert.deepEqual([...toTargetOrder(nchw, [1, 2, 2, 3], rel!, [1, 2, 3, 2])], [...nhwc], "and back");
  // Equal sizes are ambiguous: the hint decides, and without one equal axes keep their order.
  assert.equal(candidatePerms([1, 4, 4, 4], [1, 4, 4, 4]).length, 6);
  assert.deepEqual(inferRelation([1, 4, 4, 4], [1, 4, 4, 4]), { kind: "perm", perm: [0, 1, 2] });
  assert.deepEqual(inferRelation([1, 4, 4, 4], [1, 4, 4, 4], NHWC_TO_NCHW), {
    kind: "perm",
    perm: [2, 0, 1],
  });
  // Unit axes never move data: [1,1280,1,1] against [1,1280] keeps the order; Flatten vs a reshape too.
  assert.deepEqual(inferRelation([1, 1280, 1, 1], [1, 1280]), { kind: "perm", perm: [0] });
  assert.deepEqual(inferRelation([1, 6], [1, 2, 3]), { kind: "reshape" });
  assert.equal(inferRelation([1, 6], [1, 7]), undefined);
  const t = transposeData(new Float64Array([1, 2, 3, 4, 5, 6]), [2, 3], [1, 0]);
  assert.deepEqual([...t.data], [1, 4, 2, 5, 3, 6]);
  assert.deepEqual(t.shape, [3, 2]);
});
