/** gemm-canonical: MatMul + bias as Gemm, alpha and beta folded into the constants, and the refusals. */
import assert from "node:assert/strict";
import { modelOf } from "../ir/builder.ts";
import { parseGraph } from "../ir/text.ts";
import { gemmRules } from "../passes/gemm-canonical.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import "../passes/index.ts";
import { assertSameOutputs, checkNoFire, checkRules, opCounts } from "./support/pass-check.ts";

const [toGemm, foldAlpha] = gemmRules;
const W = `%w: f32[3,2] = const dense<f32[3,2]: [1.0, 2.0, -3.0, 4.0, 0.5, -6.0]>`;

Deno.test("MatMul with a constant 2-D weight plus a bias is a Gemm (bias on either side, [N] or [1,N])", () => {
  checkRules(
    gemmRules,
    `
graph g(%x: f32[4,3]) -> (%y) {
  ${W}
  %b: f32[2] = const dense<f32[2]: [0.5, -1.0]>
  %m: f32[4,2] = MatMul(%x, %w) @mm
  %y: f32[4,2] = Add(%m, %b) @add
}`,
    `
graph g(%x: f32[4,3]) -> (%y) {
  ${W}
  %b: f32[2] = const dense<f32[2]: [0.5, -1.0]>
  %y: f32[4,2] = Gemm(%x, %w, %b)
}`,
    { fired: { "matmul-add-to-gemm": 1 }, counts: { Gemm: 1 } },
  );
  checkRules(
    gemmRules,
    `
graph g(%x: f32[4,3]) -> (%y) {
  ${W}
  %b: f32[1,2] = const dense<f32[1,2]: [0.5, -1.0]>
  %m: f32[4,2] = MatMul(%x, %w) @mm
  %a: f32[4,2] = Add(%b, %m) @add
  %y: f32[4,2] = Relu(%a) @relu
}`,
    `
graph g(%x: f32[4,3]) -> (%y) {
  ${W}
  %b: f32[1,2] = const dense<f32[1,2]: [0.5, -1.0]>
  %add_gemm_0: f32[4,2] = Gemm(%x, %w, %b)
  %y: f32[4,2] = Relu(%add_gemm_0)
}`,
  );
});

Deno.test("matmul-add-to-gemm must not fire on a row bias, a batched MatMul, a variable weight or a shared product", () => {
  checkNoFire(
    gemmRules,
    `
graph g(%x: f32[2,3]) -> (%y) {
  ${W}
  %b: f32[2,1] = const dense<f32[2,1]: [0.5, -1.0]>
  %m: f32[2,2] = MatMul(%x, %w) @mm
  %y: f32[2,2] = Add(%m, %b) @add
}`,
    { rule: toGemm, node: "add", reason: /bias \[2,1\] is not \[2\] or \[1, 2\]/ },
  );
  checkNoFire(
    gemmRules,
    `
graph g(%x: f32[5,4,3]) -> (%y) {
  ${W}
  %b: f32[2] = const dense<f32[2]: [0.5, -1.0]>
  %m: f32[5,4,2] = MatMul(%x, %w) @mm
  %y: f32[5,4,2] = Add(%m, %b) @add
}`,
    { rule: toGemm, node: "add", reason: /rank is not 2/ },
  );
  checkNoFire(
    gemmRules,
    `
graph g(%x: f32[4,3], %v: f32[3,2]) -> (%y) {
  %b: f32[2] = const dense<f32[2]: [0.5, -1.0]>
  %m: f32[4,2] = MatMul(%x, %v) @mm
  %y: f32[4,2] = Add(%m, %b) @add
}`,
    { rule: toGemm, node: "add", reason: /%v is not a constant/ },
  );
  checkNoFire(
    gemmRules,
    `
graph g(%x: f32[4,3]) -> (%y, %z) {
  ${W}
  %b: f32[2] = const dense<f32[2]: [0.5, -1.0]>
  %m: f32[4,2] = MatMul(%x, %w) @mm
  %y: f32[4,2] = Add(%m, %b) @add
  %z: f32[4,2] = Neg(%m) @neg
}`,
    { rule: toGemm, node: "add", reason: /%m has 2 users/ },
  );
});

Deno.test("Gemm alpha scales B, beta scales C, and both become 1", () => {
  // B' = 0.5 * B; C' = 2 * C.
  checkRules(
    gemmRules,
    `
graph g(%x: f32[4,2]) -> (%y) {
  ${W}
  %c: f32[3] = const dense<f32[3]: [1.0, -0.25, 3.0]>
  %y: f32[4,3] = Gemm(%x, %w, %c) {alpha=0.5, beta=2.0, transB=1} @gemm
}`,
    `
graph g(%x: f32[4,2]) -> (%y) {
  %w_alpha_0: f32[3,2] = const dense<f32[3,2]: [0.5, 1.0, -1.5, 2.0, 0.25, -3.0]>
  %c_beta_1: f32[3] = const dense<f32[3]: [2.0, -0.5, 6.0]>
  %y: f32[4,3] = Gemm(%x, %w_alpha_0, %c_beta_1) {transA=0, transB=1}
}`,
    { fired: { "gemm-fold-alpha-beta": 1 } },
  );
  // Without C, beta does not matter.
  checkRules(
    gemmRules,
    `
graph g(%x: f32[2,4]) -> (%y) {
  ${W}
  %y: f32[4,2] = Gemm(%x, %w) {alpha=-2.0, beta=3.0, transA=1} @gemm
}`.replace("%x: f32[2,4]", "%x: f32[3,4]"),
    `
graph g(%x: f32[3,4]) -> (%y) {
  %w_alpha_0: f32[3,2] = const dense<f32[3,2]: [-2.0, -4.0, 6.0, -8.0, -1.0, 12.0]>
  %y: f32[4,2] = Gemm(%x, %w_alpha_0) {transA=1, transB=0}
}`,
  );
});

Deno.test("gemm-fold-alpha-beta leaves a Gemm that is already canonical or has a variable B", () => {
  checkNoFire(
    gemmRules,
    `
graph g(%x: f32[4,3]) -> (%y) {
  ${W}
  %y: f32[4,2] = Gemm(%x, %w) {beta=3.0} @gemm
}`,
    { rule: foldAlpha, node: "gemm", reason: /already 1/ },
  );
  checkNoFire(
    gemmRules,
    `
graph g(%x: f32[4,3], %v: f32[3,2]) -> (%y) {
  %y: f32[4,2] = Gemm(%x, %v) {alpha=2.0} @gemm
}`,
    { rule: foldAlpha, node: "gemm", reason: /%v is not a constant/ },
  );
});

Deno.test("gemm-canonical as a pass", async () => {
  const g = parseGraph(`
graph g(%x: f32[4,3]) -> (%y) {
  ${W}
  %b: f32[2] = const dense<f32[2]: [0.5, -1.0]>
  %m: f32[4,2] = MatMul(%x, %w) @mm
  %a: f32[4,2] = Add(%m, %b) @add
  %y: f32[4,2] = Gemm(%a, %w2) {alpha=0.5} @gemm
  %w2: f32[2,2] = const dense<f32[2,2]: [1.0, 2.0, 3.0, 4.0]>
}`);
  const { model } = await runPipeline(modelOf(g), "gemm-canonical");
  assert.deepEqual(opCounts(model.graph), { Gemm: 2 });
  assert.ok(model.graph.nodes.every((n) => !n.attrs.alpha && !n.attrs.beta));
  assertSameOutputs(g, model.graph);
});
