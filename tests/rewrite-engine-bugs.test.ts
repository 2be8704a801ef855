/**
 * Rewrite-engine bugs found while testing the canonical passes (passes/rewrite.ts, passes/pattern.ts).
 * Each test states the behaviour the engine's own documentation promises. They failed until the
 * engine was fixed; they stay as regression guards.
 */
import assert from "node:assert/strict";
import { parseGraph } from "../ir/text.ts";
import { P } from "../passes/pattern.ts";
import { applyRules, rule } from "../passes/rewrite.ts";
import { compact, ir, normalizeNames } from "./support/pass-check.ts";

const chain = rule(
  "reshape-chain",
  P.Reshape(P.Reshape(P.var("x"), P.any()).oneUse(), P.const("s")),
  ({ x, s }, b) => b.op1("Reshape", [x, s]),
);
const threeReshapes = `
graph g(%x: f32[2,6]) -> (%y) {
  %s1: i64[2] = const dense<i64[2]: [3, 4]>
  %s2: i64[2] = const dense<i64[2]: [4, 3]>
  %s3: i64[1] = const dense<i64[1]: [12]>
  %r1: f32[3,4] = Reshape(%x, %s1) @r1
  %r2: f32[4,3] = Reshape(%r1, %s2) @r2
  %r3: f32[12] = Reshape(%r2, %s3) @r3
  %y: f32[12] = Relu(%r3) @relu
}`;

Deno.test("walk: a node whose operand an earlier rewrite replaced is still visited", () => {
  // "walk visits each node once in order": r3 comes after r2, and after r2's rewrite it reads
  // Reshape(x, s2), so it matches. The driver skips it because rewiring its operand made it a new object
  // (`alive` holds node objects, not ids).
  const { graph, stats } = applyRules(parseGraph(threeReshapes), [chain], { driver: "walk" });
  assert.equal(stats.fired["reshape-chain"], 2, compact(graph));
});

Deno.test("greedy: a node left dead by a rewrite does not count as a user", () => {
  // From the last node: r3 becomes Reshape(r1, s3), leaving r2 dead but in the node list until the final
  // DCE; r2's use of r1 makes oneUse() fail, so the greedy driver stops before its fixpoint.
  const g = parseGraph(threeReshapes);
  const { graph } = applyRules(g, [chain], { driver: "greedy", reverse: true });
  assert.equal(
    normalizeNames(compact(graph), g),
    normalizeNames(
      ir(`
    graph g(%x: f32[2,6]) -> (%y) {
      %s3: i64[1] = const dense<i64[1]: [12]>
      %r3_reshape_0: f32[12] = Reshape(%x, %s3)
      %y: f32[12] = Relu(%r3_reshape_0)
    }`),
      g,
    ),
  );
});

Deno.test("splice: a graph output replaced by a value a node produces takes that value's name, not an Identity", () => {
  // The doc: "a replaced graph output keeps its name: the replacement value is renamed when it is new,
  // otherwise an Identity carries the name". A value produced by a node (not a graph input, not another
  // output) can be renamed too; the Identity left instead is a no-op the identity rule can never remove
  // (sameAsRoot), so canonical graphs keep it (the layout-propagation test shows one).
  const pair = rule("pair", P.Transpose(P.Transpose(P.var("x")).oneUse()), ({ x }) => x);
  const g = parseGraph(`
graph g(%x: f32[2,3]) -> (%y) {
  %a: f32[2,3] = Relu(%x) @relu
  %t: f32[3,2] = Transpose(%a) {perm=[1, 0]} @t1
  %y: f32[2,3] = Transpose(%t) {perm=[1, 0]} @t2
}`);
  assert.equal(
    compact(applyRules(g, [pair]).graph),
    ir(`
    graph g(%x: f32[2,3]) -> (%y) {
      %y: f32[2,3] = Relu(%x)
    }`),
  );
});
