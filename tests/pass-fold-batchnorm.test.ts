/** fold-batchnorm: BN into Conv and Gemm with hand-derived folded constants, seeded numerics, and refusals. */
import assert from "node:assert/strict";
import { modelOf } from "../ir/builder.ts";
import { parseGraph } from "../ir/text.ts";
import { foldBatchNormRules } from "../passes/fold-batchnorm.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import "../passes/index.ts";
import { assertSameOutputs, checkNoFire, checkRules, opCounts } from "./support/pass-check.ts";

const [bnConv, bnGemm] = foldBatchNormRules;

Deno.test("BN into Conv: w * s per output channel, bias (b - mean) * s + beta", () => {
  // var + eps = [4, 1, 0.25] so s = scale / sqrt(var) = [2/2, 3/1, 1/0.5] = [1, 3, 2];
  // t = beta - mean * s = [0.5 - 1, 0 - 0, 1 + 2] = [-0.5, 0, 3].
  checkRules(
    foldBatchNormRules,
    `
graph g(%x: f32[1,2,3,3]) -> (%y) {
  %w: f32[3,2,1,1] = const dense<f32[3,2,1,1]: [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]>
  %b: f32[3] = const dense<f32[3]: [0.25, -1.0, 2.0]>
  %scale: f32[3] = const dense<f32[3]: [2.0, 3.0, 1.0]>
  %beta: f32[3] = const dense<f32[3]: [0.5, 0.0, 1.0]>
  %mean: f32[3] = const dense<f32[3]: [1.0, 0.0, -1.0]>
  %var: f32[3] = const dense<f32[3]: [4.0, 1.0, 0.25]>
  %c: f32[1,3,3,3] = Conv(%x, %w, %b) @conv
  %y: f32[1,3,3,3] = BatchNormalization(%c, %scale, %beta, %mean, %var) {epsilon=0.0} @bn
}`,
    `
graph g(%x: f32[1,2,3,3]) -> (%y) {
  %w_bn_0: f32[3,2,1,1] = const dense<f32[3,2,1,1]: [1.0, 2.0, 9.0, 12.0, 10.0, 12.0]>
  %conv_bias_bn_1: f32[3] = const dense<f32[3]: [-0.25, -3.0, 7.0]>
  %y: f32[1,3,3,3] = Conv(%x, %w_bn_0, %conv_bias_bn_1)
}`,
    { fired: { "bn-into-conv": 1 }, counts: { Conv: 1 } },
  );
});

Deno.test("BN into a biasless depthwise Conv with strides and the default epsilon keeps the values", () => {
  checkRules(
    foldBatchNormRules,
    `
graph g(%x: f32[2,2,5,5]) -> (%y) {
  %w: f32[2,1,3,3] = const dense<f32[2,1,3,3]: [0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8, 0.9, -1.0, 1.1, 1.2, -1.3, 1.4, 1.5, 1.6, -1.7, 1.8]>
  %scale: f32[2] = const dense<f32[2]: [0.7, -1.3]>
  %beta: f32[2] = const dense<f32[2]: [0.1, 0.2]>
  %mean: f32[2] = const dense<f32[2]: [0.3, -0.4]>
  %var: f32[2] = const dense<f32[2]: [0.5, 2.5]>
  %c: f32[2,2,3,3] = Conv(%x, %w) {group=2, pads=[1, 1, 1, 1], strides=[2, 2]} @conv
  %y: f32[2,2,3,3] = BatchNormalization(%c, %scale, %beta, %mean, %var) @bn
}`,
    `
graph g(%x: f32[2,2,5,5]) -> (%y) {
  %w_bn_0: f32[2,1,3,3] = const  # 72 B, elided
  %conv_bias_bn_1: f32[2] = const dense<f32[2]: [-0.19698187708854675, -0.1288762092590332]>
  %y: f32[2,2,3,3] = Conv(%x, %w_bn_0, %conv_bias_bn_1) {group=2, pads=[1, 1, 1, 1], strides=[2, 2]}
}`,
    { rtol: 1e-5 },
  );
});

Deno.test("BN into Gemm with transB, alpha and beta", () => {
  // s = [1/1, 1/2] = [1, 0.5], t = [1 - 0, 0 - 2 * 0.5] = [1, -1].
  // W' = W * s[row] * alpha; C' = C * beta * s + t = [2*2*1 + 1, 4*2*0.5 - 1] = [5, 3].
  checkRules(
    foldBatchNormRules,
    `
graph g(%x: f32[2,3]) -> (%y) {
  %w: f32[2,3] = const dense<f32[2,3]: [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]>
  %c: f32[2] = const dense<f32[2]: [2.0, 4.0]>
  %scale: f32[2] = const dense<f32[2]: [1.0, 1.0]>
  %beta: f32[2] = const dense<f32[2]: [1.0, 0.0]>
  %mean: f32[2] = const dense<f32[2]: [0.0, 2.0]>
  %var: f32[2] = const dense<f32[2]: [1.0, 4.0]>
  %z: f32[2,2] = Gemm(%x, %w, %c) {alpha=0.5, beta=2.0, transB=1} @gemm
  %y: f32[2,2] = BatchNormalization(%z, %scale, %beta, %mean, %var) {epsilon=0.0} @bn
}`,
    `
graph g(%x: f32[2,3]) -> (%y) {
  %w_bn_0: f32[2,3] = const dense<f32[2,3]: [0.5, 1.0, 1.5, 1.0, 1.25, 1.5]>
  %gemm_bias_bn_1: f32[2] = const dense<f32[2]: [5.0, 3.0]>
  %y: f32[2,2] = Gemm(%x, %w_bn_0, %gemm_bias_bn_1) {transB=1}
}`,
    { fired: { "bn-into-gemm": 1 } },
  );
});

const params = `
  %w: f32[2,2,1,1] = const dense<f32[2,2,1,1]: [1.0, 2.0, 3.0, 4.0]>
  %scale: f32[2] = const dense<f32[2]: [1.0, 2.0]>
  %beta: f32[2] = const dense<f32[2]: [0.0, 1.0]>
  %mean: f32[2] = const dense<f32[2]: [0.5, 0.5]>
  %var: f32[2] = const dense<f32[2]: [1.0, 1.0]>`;

Deno.test("BN does not fold into a Conv whose output is used twice, in training mode, or with variable statistics", () => {
  checkNoFire(
    foldBatchNormRules,
    `
graph g(%x: f32[1,2,2,2]) -> (%y, %z) {${params}
  %c: f32[1,2,2,2] = Conv(%x, %w) @conv
  %y: f32[1,2,2,2] = BatchNormalization(%c, %scale, %beta, %mean, %var) @bn
  %z: f32[1,2,2,2] = Relu(%c) @relu
}`,
    { rule: bnConv, node: "bn", reason: /%c has 2 users/ },
  );
  checkNoFire(
    foldBatchNormRules,
    `
graph g(%x: f32[1,2,2,2]) -> (%y) {${params}
  %c: f32[1,2,2,2] = Conv(%x, %w) @conv
  %y: f32[1,2,2,2] = BatchNormalization(%c, %scale, %beta, %mean, %var) {training_mode=1} @bn
}`,
    { rule: bnConv, node: "bn", reason: /training_mode/ },
  );
  checkNoFire(
    foldBatchNormRules,
    `
graph g(%x: f32[1,2,2,2], %m: f32[2]) -> (%y) {${params}
  %c: f32[1,2,2,2] = Conv(%x, %w) @conv
  %y: f32[1,2,2,2] = BatchNormalization(%c, %scale, %beta, %m, %var) @bn
}`,
    { rule: bnConv, node: "bn", reason: /%m is not a constant/ },
  );
  // A BN whose input is not a Conv at all.
  checkNoFire(
    foldBatchNormRules,
    `
graph g(%x: f32[1,2,2,2]) -> (%y) {${params}
  %c: f32[1,2,2,2] = Relu(%x) @relu
  %y: f32[1,2,2,2] = BatchNormalization(%c, %scale, %beta, %mean, %var) @bn
}`,
    { rule: bnConv, node: "bn", reason: /relu is Relu, not Conv/ },
  );
});

Deno.test("BN does not fold into a Gemm with transA or a C that broadcasts along rows", () => {
  const gemmParams = `
  %w: f32[2,2] = const dense<f32[2,2]: [1.0, 2.0, 3.0, 4.0]>
  %c: f32[2,1] = const dense<f32[2,1]: [1.0, -1.0]>
  %scale: f32[2] = const dense<f32[2]: [1.0, 2.0]>
  %beta: f32[2] = const dense<f32[2]: [0.0, 1.0]>
  %mean: f32[2] = const dense<f32[2]: [0.5, 0.5]>
  %var: f32[2] = const dense<f32[2]: [1.0, 1.0]>`;
  checkNoFire(
    foldBatchNormRules,
    `
graph g(%x: f32[2,2]) -> (%y) {${gemmParams}
  %z: f32[2,2] = Gemm(%x, %w) {transA=1} @gemm
  %y: f32[2,2] = BatchNormalization(%z, %scale, %beta, %mean, %var) @bn
}`,
    { rule: bnGemm, node: "bn", reason: /transA is set/ },
  );
  checkNoFire(
    foldBatchNormRules,
    `
graph g(%x: f32[2,2]) -> (%y) {${gemmParams}
  %z: f32[2,2] = Gemm(%x, %w, %c) @gemm
  %y: f32[2,2] = BatchNormalization(%z, %scale, %beta, %mean, %var) @bn
}`,
    { rule: bnGemm, node: "bn", reason: /C \[2,1\] is not an f32 bias/ },
  );
});

Deno.test("fold-batchnorm as a pass folds every BN of a Conv-BN-Relu stack", async () => {
  const g = parseGraph(`
graph g(%x: f32[1,2,4,4]) -> (%y) {${params}
  %c1: f32[1,2,4,4] = Conv(%x, %w) @conv1
  %b1: f32[1,2,4,4] = BatchNormalization(%c1, %scale, %beta, %mean, %var) @bn1
  %r1: f32[1,2,4,4] = Relu(%b1) @relu1
  %c2: f32[1,2,4,4] = Conv(%r1, %w) @conv2
  %b2: f32[1,2,4,4] = BatchNormalization(%c2, %scale, %beta, %mean, %var) @bn2
  %y: f32[1,2,4,4] = Relu(%b2) @relu2
}`);
  const { model } = await runPipeline(modelOf(g), "fold-batchnorm");
  assert.deepEqual(opCounts(model.graph), { Conv: 2, Relu: 2 });
  assertSameOutputs(g, model.graph, { rtol: 1e-5 });
});
