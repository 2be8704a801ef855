/** The rewrite engine: typed captures, both drivers, rewiring, DCE, explain, the step budget. */
import assert from "node:assert/strict";
import { LatheError } from "../ir/errors.ts";
import { parseGraph, printGraph } from "../ir/text.ts";
import { assertValid } from "../ir/verify.ts";
import { compareTensors } from "../runtime/compare.ts";
import { interpret } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { P } from "../passes/pattern.ts";
import { applyRules, explainRule, rule } from "../passes/rewrite.ts";

const mulOne = rule("mul-one", P.Mul(P.var("x"), P.const(1)).commutative(), ({ x }) => x);
const reshapeChain = rule(
  "reshape-chain",
  P.Reshape(P.Reshape(P.var("x"), P.any()).oneUse(), P.var("s")),
  ({ x, s }, b) => b.op1("Reshape", [x, s]),
);

const before = `
graph g(%x: f32[2,6]) -> (%out) {
  %one: f32[] = const dense<f32[]: [1.0]>
  %s1: i64[2] = const dense<i64[2]: [3, 4]>
  %s2: i64[1] = const dense<i64[1]: [12]>
  %a: f32[2,6] = Mul(%one, %x) @m
  %r1: f32[3,4] = Reshape(%a, %s1) @r1
  %r2: f32[12] = Reshape(%r1, %s2) @r2
  %out: f32[12] = Relu(%r2) @relu
}`;

function seeded(): Record<string, Tensor> {
  return { x: new Tensor("f32", [2, 6], Float32Array.from({ length: 12 }, (_, i) => (i * 37 % 11) - 5)) };
}

for (const driver of ["walk", "greedy"] as const) {
  for (const reverse of [false, true]) {
    Deno.test(`rules fire with the ${driver} driver${reverse ? " (last to first)" : ""}`, () => {
      const g = parseGraph(before);
      const { graph: after, stats } = applyRules(g, [mulOne, reshapeChain], { driver, reverse });
      assertValid(after);
      assert.equal(stats.fired["mul-one"], 1);
      assert.equal(stats.fired["reshape-chain"], 1);
      assert.equal(
        printGraph(after, { meta: false }),
        `graph g(%x: f32[2,6]) -> (%out) {
  %s2: i64[1] = const dense<i64[1]: [12]>
  %r2_reshape_0: f32[12] = Reshape(%x, %s2)
  %out: f32[12] = Relu(%r2_reshape_0)
}`,
      );
      // The original graph is untouched and both compute the same values.
      assert.equal(g.nodes.length, 4);
      const r = compareTensors(
        interpret(after, seeded()).outputs.out as Tensor,
        interpret(g, seeded()).outputs.out as Tensor,
        0,
        0,
      );
      assert.ok(r.ok, r.message);
    });
  }
}

Deno.test("a replaced graph output keeps its name", () => {
  const g = parseGraph(`
graph g(%x: f32[4]) -> (%y) {
  %one: f32[] = const dense<f32[]: [1.0]>
  %y: f32[4] = Mul(%x, %one) @m
}`);
  const { graph: after } = applyRules(g, [mulOne]);
  assert.deepEqual(after.outputs, ["y"]);
  assert.equal(after.nodes.length, 1);
  assert.equal(after.nodes[0].op, "Identity");
  assertValid(after);
});

Deno.test("explain shows the deepest partial match and the failed predicate", () => {
  const g = parseGraph(`
graph g(%x: f32[4]) -> (%y, %z) {
  %two: f32[] = const dense<f32[]: [2.0]>
  %y: f32[4] = Mul(%x, %two) @m1
  %z: f32[4] = Mul(%x, %x) @m2
}`);
  const ex = explainRule(g, mulOne);
  assert.equal(ex.length, 2);
  assert.equal(ex[0].node, "m1");
  assert.equal(ex[0].matched, false);
  assert.match(ex[0].reason!, /%two is not all 1|%x is not a constant/);
  assert.match(ex[1].reason!, /%x is not a constant/);
});

Deno.test("the greedy driver stops at its budget and names the rules that kept firing", () => {
  const g = parseGraph(`
graph g(%x: f32[4]) -> (%y) {
  %y: f32[4] = Relu(%x) @r
}`);
  const flip = rule("relu-flip", P.Relu(P.var("x")), ({ x }, b) => b.op1("Relu", [b.op1("Relu", [x])]));
  assert.throws(
    () => applyRules(g, [flip], { maxSteps: 50 }),
    (e: unknown) => e instanceof LatheError && /relu-flip/.test(e.message),
  );
});
