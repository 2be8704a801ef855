/** constant-fold: nodes of constants become constants (values derived by hand), static Shape/Size fold, and what must stay. */
import assert from "node:assert/strict";
import { modelOf } from "../ir/builder.ts";
import { parseGraph } from "../ir/text.ts";
import { assertValid } from "../ir/verify.ts";
import { foldConstants } from "../passes/constant-fold.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import "../passes/index.ts";
import { assertSameOutputs, compact, ir, opCounts } from "./support/pass-check.ts";

function check(before: string, expected: string, opts: { maxElements?: number } = {}) {
  const g = parseGraph(before);
  const after = foldConstants(g, opts);
  assertValid(after);
  assert.equal(compact(after), ir(expected));
  assertSameOutputs(g, after, { rtol: 0 });
  return { g, after };
}

Deno.test("a chain of nodes over constants folds to one constant", () => {
  const { after } = check(
    `
graph g(%x: f32[2,3]) -> (%y) {
  %a: f32[3] = const dense<f32[3]: [1.0, 2.0, 3.0]>
  %b: f32[3] = const dense<f32[3]: [0.5, 0.5, 0.5]>
  %ab: f32[3] = Mul(%a, %b) @mul
  %nb: f32[3] = Neg(%ab) @neg
  %y: f32[2,3] = Add(%x, %nb) @add
}`,
    `
graph g(%x: f32[2,3]) -> (%y) {
  %nb: f32[3] = const dense<f32[3]: [-0.5, -1.0, -1.5]>
  %y: f32[2,3] = Add(%x, %nb)
}`,
  );
  assert.deepEqual(opCounts(after), { Add: 1 });
});

Deno.test("Shape and Size of a statically shaped value fold, and what they feed folds after them", () => {
  check(
    `
graph g(%x: f32[2,3,4]) -> (%y, %z) {
  %m1: i64[1] = const dense<i64[1]: [-1]>
  %s0: i64[1] = Shape(%x) {end=1} @sh
  %shape: i64[2] = Concat(%s0, %m1) {axis=0} @cat
  %y: f32[2,12] = Reshape(%x, %shape) @r
  %n: i64[] = Size(%x) @size
  %nf: f32[] = Cast(%n) {to=1} @cast
  %z: f32[2,3,4] = Mul(%x, %nf) @mul
}`,
    `
graph g(%x: f32[2,3,4]) -> (%y, %z) {
  %shape: i64[2] = const dense<i64[2]: [2, -1]>
  %nf: f32[] = const dense<f32[]: [24.0]>
  %y: f32[2,12] = Reshape(%x, %shape)
  %z: f32[2,3,4] = Mul(%x, %nf)
}`,
  );
  // Negative start counts from the end.
  check(
    `
graph g(%x: f32[2,3,4]) -> (%y) {
  %s: i64[2] = Shape(%x) {start=-2} @sh
  %y: f32[3,4] = ConstantOfShape(%s) @c
}`,
    `
graph g(%x: f32[2,3,4]) -> (%y) {
  %y: f32[3,4] = const dense<f32[3,4]: [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]>
}`,
  );
});

Deno.test("random ops, overridable inputs, symbolic shapes and large outputs are not folded", () => {
  const g = parseGraph(`
graph g(%x: f32[N,3], %k: f32[3]) -> (%y, %r, %s, %e) {
  %k: f32[3] = const dense<f32[3]: [1.0, 2.0, 3.0]>
  %one: f32[3] = const dense<f32[3]: [1.0, 1.0, 1.0]>
  %big: i64[2] = const dense<i64[2]: [4, 3]>
  %y: f32[3] = Add(%k, %one) @add
  %r: f32[3] = RandomUniformLike(%one) @rnd
  %s: i64[2] = Shape(%x) @sh
  %e: f32[4,3] = Expand(%one, %big) @expand
}`);
  const after = foldConstants(g, { maxElements: 8 });
  assert.equal(after, g, "nothing folds");
  // With a larger limit only the Expand folds (12 elements).
  assert.deepEqual(opCounts(foldConstants(g, { maxElements: 12 })), {
    Add: 1,
    RandomUniformLike: 1,
    Shape: 1,
  });
});

Deno.test("constant-fold through a pipeline string with its option", async () => {
  const g = parseGraph(`
graph g(%x: f32[2,2]) -> (%y) {
  %a: f32[2,2] = const dense<f32[2,2]: [1.0, 2.0, 3.0, 4.0]>
  %b: f32[2,2] = Transpose(%a) {perm=[1, 0]} @t
  %y: f32[2,2] = MatMul(%x, %b) @mm
}`);
  const { model } = await runPipeline(modelOf(g), "constant-fold{maxElements=4}");
  assert.equal(
    compact(model.graph),
    ir(`
    graph g(%x: f32[2,2]) -> (%y) {
      %b: f32[2,2] = const dense<f32[2,2]: [1.0, 3.0, 2.0, 4.0]>
      %y: f32[2,2] = MatMul(%x, %b)
    }`),
  );
  const small = await runPipeline(modelOf(g), "constant-fold{maxElements=3}");
  assert.equal(small.model.graph, g);
});
