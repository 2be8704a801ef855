/** cse: equal pure nodes and equal small constants merge; what must stay apart does. */
import assert from "node:assert/strict";
import { parseGraph } from "../ir/text.ts";
import { assertValid } from "../ir/verify.ts";
import { eliminateCommonSubexpressions } from "../passes/cse.ts";
import "../passes/index.ts";
import { Tensor } from "../runtime/tensor.ts";
import { assertSameOutputs, compact, ir, opCounts } from "./support/pass-check.ts";

function check(before: string, expected: string) {
  const g = parseGraph(before);
  const after = eliminateCommonSubexpressions(g);
  assertValid(after);
  assert.equal(compact(after), ir(expected));
  assertSameOutputs(g, after, { rtol: 0 });
  return after;
}

Deno.test("equal nodes merge, and chains of duplicates collapse in one sweep", () => {
  const after = check(
    `
graph g(%x: f32[2,3]) -> (%y) {
  %a: f32[2,3] = Relu(%x) @r1
  %b: f32[2,3] = Relu(%x) @r2
  %ea: f32[2,3] = Exp(%a) @e1
  %eb: f32[2,3] = Exp(%b) @e2
  %y: f32[2,3] = Add(%ea, %eb) @add
}`,
    `
graph g(%x: f32[2,3]) -> (%y) {
  %a: f32[2,3] = Relu(%x)
  %ea: f32[2,3] = Exp(%a)
  %y: f32[2,3] = Add(%ea, %ea)
}`,
  );
  assert.deepEqual(opCounts(after), { Relu: 1, Exp: 1, Add: 1 });
});

Deno.test("equal constants under different names merge, and so do the nodes that read them", () => {
  check(
    `
graph g(%x: f32[3]) -> (%y) {
  %c1: f32[3] = const dense<f32[3]: [1.0, 2.0, 3.0]>
  %c2: f32[3] = const dense<f32[3]: [1.0, 2.0, 3.0]>
  %a: f32[3] = Mul(%x, %c1) @m1
  %b: f32[3] = Mul(%x, %c2) @m2
  %y: f32[3] = Sub(%a, %b) @sub
}`,
    `
graph g(%x: f32[3]) -> (%y) {
  %c1: f32[3] = const dense<f32[3]: [1.0, 2.0, 3.0]>
  %a: f32[3] = Mul(%x, %c1)
  %y: f32[3] = Sub(%a, %a)
}`,
  );
});

Deno.test("different attributes, element types, graph outputs, random ops and overridable constants stay apart", () => {
  const g = parseGraph(`
graph g(%x: f32[3], %k1: f32[3]) -> (%y, %o1, %o2) {
  %k1: f32[3] = const dense<f32[3]: [1.0, 1.0, 1.0]>
  %k2: f32[3] = const dense<f32[3]: [1.0, 1.0, 1.0]>
  # The same bytes as %k2, as integers.
  %i1: i32[3] = const dense<i32[3]: [1065353216, 1065353216, 1065353216]>
  %l1: f32[3] = LeakyRelu(%x) {alpha=0.1} @l1
  %l2: f32[3] = LeakyRelu(%x) {alpha=0.2} @l2
  %r1: f32[3] = RandomUniformLike(%x) @rnd1
  %r2: f32[3] = RandomUniformLike(%x) @rnd2
  %a1: f32[3] = Add(%x, %k1) @a1
  %a2: f32[3] = Add(%x, %k2) @a2
  %ci: f32[3] = Cast(%i1) {to=1} @ci
  %s: f32[3] = Sum(%l1, %l2, %r1, %r2, %a1, %a2, %ci) @sum
  %y: f32[3] = Identity(%s) @id
  %o1: f32[3] = Abs(%x) @abs1
  %o2: f32[3] = Abs(%x) @abs2
}`);
  assert.equal(eliminateCommonSubexpressions(g), g);
});

Deno.test("a merged node's value read inside a subgraph is rewired there too", () => {
  const g = parseGraph(`
graph g(%x: f32[3], %c: bool[]) -> (%y) {
  %a: f32[3] = Relu(%x) @r1
  %b: f32[3] = Relu(%x) @r2
  %s: f32[3] = If(%c) {then_branch=graph then() -> (%t) {
    %t: f32[3] = Neg(%b) @n
  }, else_branch=graph else() -> (%e) {
    %e: f32[3] = Abs(%b) @ab
  }} @if
  %y: f32[3] = Add(%a, %s) @add
}`);
  const after = eliminateCommonSubexpressions(g);
  assertValid(after);
  assert.deepEqual(opCounts(after), { Relu: 1, If: 1, Add: 1 });
  for (const c of [0, 1]) {
    assertSameOutputs(g, after, {
      rtol: 0,
      inputs: {
        x: new Tensor("f32", [3], Float32Array.of(-1, 0.5, 2)),
        c: new Tensor("bool", [], Uint8Array.of(c)),
      },
    });
  }
});
