/** dce: unused nodes and constants go; graph inputs, random and unknown custom ops, and subgraph captures stay. */
import assert from "node:assert/strict";
import { modelOf } from "../ir/builder.ts";
import { parseGraph } from "../ir/text.ts";
import { assertValid } from "../ir/verify.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import { deadCodeElimination } from "../passes/rewrite.ts";
import "../passes/index.ts";
import { Tensor } from "../runtime/tensor.ts";
import { assertSameOutputs, compact, ir, opCounts } from "./support/pass-check.ts";

Deno.test("nodes and constants nothing reads are removed, transitively", async () => {
  const g = parseGraph(`
graph g(%x: f32[4]) -> (%y) {
  %c: f32[4] = const dense<f32[4]: [1.0, 2.0, 3.0, 4.0]>
  %unused: f32[1] = const dense<f32[1]: [9.0]>
  %a: f32[4] = Mul(%x, %c) @dead1
  %b: f32[4] = Exp(%a) @dead2
  %y: f32[4] = Relu(%x) @relu
}`);
  const { model, stats } = await runPipeline(modelOf(g), "dce");
  assertValid(model.graph);
  assert.equal(
    compact(model.graph),
    ir(`
    graph g(%x: f32[4]) -> (%y) {
      %y: f32[4] = Relu(%x)
    }`),
  );
  assert.deepEqual([stats[0].nodesBefore, stats[0].nodesAfter], [3, 1]);
  assertSameOutputs(g, model.graph, { rtol: 0 });
});

Deno.test("a node with one used output of two stays; overridable constants stay", () => {
  const g = parseGraph(`
graph g(%x: f32[2,3], %k: f32[3]) -> (%y) {
  %k: f32[3] = const dense<f32[3]: [1.0, 2.0, 3.0]>
  %v: f32[2,1], %i: i64[2,1] = TopK(%x, %kk) {axis=1} @topk
  %kk: i64[1] = const dense<i64[1]: [1]>
  %y: f32[2,1] = Neg(%v) @neg
}`);
  const after = deadCodeElimination(g);
  assert.equal(after, g, "nothing is dead");
});

Deno.test("random ops, unknown custom-domain ops and values captured by subgraphs are kept", () => {
  const g = parseGraph(`
graph g(%x: f32[3], %c: bool[]) -> (%y) {
  %r: f32[3] = RandomUniformLike(%x) @rnd
  %q: f32[3] = com.example.Probe(%x) @probe
  %a: f32[3] = Relu(%x) @relu
  %y: f32[3] = If(%c) {then_branch=graph then() -> (%t) {
    %t: f32[3] = Neg(%a) @n
  }, else_branch=graph else() -> (%e) {
    %e: f32[3] = Identity(%x) @i
  }} @if
}`);
  const after = deadCodeElimination(g);
  assert.deepEqual(opCounts(after), { RandomUniformLike: 1, "com.example.Probe": 1, Relu: 1, If: 1 });
  assert.equal(after, g);
  const inputs = {
    x: new Tensor("f32", [3], Float32Array.of(-1, 0, 2)),
    c: new Tensor("bool", [], Uint8Array.of(1)),
  };
  const without = parseGraph(compact(g).replace(/.*Probe.*\n/, ""));
  assertSameOutputs(without, deadCodeElimination(without), { rtol: 0, inputs });
});
