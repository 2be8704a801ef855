/** canonicalize: folding, no-op removal, the canonical fusions and CSE feed each other up to a fixpoint. */
import assert from "node:assert/strict";
import { modelOf } from "../ir/builder.ts";
import { LatheError } from "../ir/errors.ts";
import { parseGraph } from "../ir/text.ts";
import { assertValid } from "../ir/verify.ts";
import { canonicalize, canonicalizePass } from "../passes/canonicalize.ts";
import { findRule, runPipeline } from "../passes/pass-manager.ts";
import { explainRule } from "../passes/rewrite.ts";
import "../passes/index.ts";
import { assertSameOutputs, compact, ir, normalizeNames, opCounts } from "./support/pass-check.ts";

const before = `
graph g(%x: f32[1,2,4,4]) -> (%y) {
  %w: f32[2,2,1,1] = const dense<f32[2,2,1,1]: [1.0, 2.0, 3.0, 4.0]>
  %scale: f32[2] = const dense<f32[2]: [1.0, 2.0]>
  %beta: f32[2] = const dense<f32[2]: [0.0, 1.0]>
  %mean: f32[2] = const dense<f32[2]: [0.5, -1.0]>
  %var: f32[2] = const dense<f32[2]: [1.0, 4.0]>
  %p: i64[8] = const dense<i64[8]: [0, 0, 1, 1, 0, 0, 1, 1]>
  %m1: i64[1] = const dense<i64[1]: [-1]>
  %s2: i64[2] = const dense<i64[2]: [1, 72]>
  %xi: f32[1,2,4,4] = Identity(%x) @id
  %xp: f32[1,2,6,6] = Pad(%xi, %p) @pad
  %c: f32[1,2,6,6] = Conv(%xp, %w) @conv
  %bn: f32[1,2,6,6] = BatchNormalization(%c, %scale, %beta, %mean, %var) {epsilon=0.0} @bn
  %sh: i64[2] = Shape(%bn) {end=2} @shape
  %shape: i64[3] = Concat(%sh, %m1) {axis=0} @cat
  %r: f32[1,2,36] = Reshape(%bn, %shape) @r1
  %r2: f32[1,72] = Reshape(%r, %s2) @r2
  %e1: f32[1,72] = Exp(%r2) @e1
  %e2: f32[1,72] = Exp(%r2) @e2
  %y: f32[1,72] = Sub(%e1, %e2) @sub
}`;

Deno.test("each cleanup exposes work for the next until nothing changes", async () => {
  const g = parseGraph(before);
  assertValid(g);
  const { model, stats } = await runPipeline(modelOf(g), "canonicalize");
  const after = model.graph;
  // s = scale / sqrt(var) = [1, 1], so the weight keeps its values; bias = beta - mean * s = [-0.5, 2].
  assert.equal(
    normalizeNames(compact(after), g),
    normalizeNames(
      ir(`
    graph g(%x: f32[1,2,4,4]) -> (%y) {
      %s2: i64[2] = const dense<i64[2]: [1, 72]>
      %w_bn_0: f32[2,2,1,1] = const dense<f32[2,2,1,1]: [1.0, 2.0, 3.0, 4.0]>
      %bn_bias: f32[2] = const dense<f32[2]: [-0.5, 2.0]>
      %conv: f32[1,2,6,6] = Conv(%x, %w_bn_0, %bn_bias) {pads=[1, 1, 1, 1]}
      %reshaped: f32[1,72] = Reshape(%conv, %s2)
      %e1: f32[1,72] = Exp(%reshaped)
      %y: f32[1,72] = Sub(%e1, %e1)
    }`),
      g,
    ),
  );
  assert.deepEqual(opCounts(after), { Conv: 1, Reshape: 1, Exp: 1, Sub: 1 });
  assert.deepEqual([stats[0].nodesBefore, stats[0].nodesAfter], [11, 4]);
  assertSameOutputs(g, after, { rtol: 1e-5 });
  // A fixpoint: another run returns the same graph object.
  assert.equal(canonicalize(after), after);
});

Deno.test("canonicalize reports a round limit it cannot finish in", () => {
  assert.throws(
    () => canonicalize(parseGraph(before), 1),
    (e: unknown) => e instanceof LatheError && /fixpoint in 1 rounds/.test(e.message),
  );
});

Deno.test("the canonical rules are found by name for --explain and say why they do not fire", () => {
  const found = findRule("fold-batchnorm.bn-into-conv");
  assert.equal(found?.pass, "fold-batchnorm");
  assert.ok(findRule("pad-into-conv"));
  assert.deepEqual(explainRule(parseGraph(before), found!.rule), [{
    node: "bn",
    op: "BatchNormalization",
    matched: true,
  }]);
  const shared = parseGraph(
    before.replace(
      "%y: f32[1,72] = Sub(%e1, %e2) @sub",
      "%y: f32[1,72] = Sub(%e1, %e2) @sub\n  %z: f32[1,2,6,6] = Relu(%c) @relu",
    ).replace("-> (%y)", "-> (%y, %z)"),
  );
  const [ex] = explainRule(shared, found!.rule);
  assert.equal(ex.matched, false);
  assert.match(ex.reason!, /%c has 2 users/);
});

Deno.test("the canonicalize pass lists the rules other passes add to it", () => {
  const names = canonicalizePass.rules!.map((r) => r.name);
  for (
    const n of [
      "identity",
      "bn-into-conv",
      "bn-into-gemm",
      "conv-add-bias",
      "pad-into-conv",
      "matmul-add-to-gemm",
      "gemm-fold-alpha-beta",
    ]
  ) {
    assert.ok(names.includes(n), `${n} in ${names}`);
  }
  assert.ok(!names.includes("conv-activation"), "FusedConv is a target choice, not a canonical form");
});
