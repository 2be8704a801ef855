/** fold-pad: a Pad merges into the pads of the Conv, AveragePool or MaxPool after it, and where it must not. */
import assert from "node:assert/strict";
import { modelOf } from "../ir/builder.ts";
import { parseGraph } from "../ir/text.ts";
import { foldPadRules } from "../passes/fold-pad.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import "../passes/index.ts";
import { assertSameOutputs, checkNoFire, checkRules, opCounts } from "./support/pass-check.ts";

const [intoConv, intoAvg, intoMax] = foldPadRules;
const W = `%w: f32[1,2,2,2] = const dense<f32[1,2,2,2]: [1.0, -2.0, 0.5, 3.0, -1.0, 2.0, 1.5, -0.5]>`;

Deno.test("a zero Pad adds to the Conv's own pads", () => {
  // Pad begins [H 1, W 2], ends [H 1, W 0]; the Conv's pads [0, 1, 0, 1] become [1, 3, 1, 1].
  checkRules(
    foldPadRules,
    `
graph g(%x: f32[1,2,4,4]) -> (%y) {
  ${W}
  %p: i64[8] = const dense<i64[8]: [0, 0, 1, 2, 0, 0, 1, 0]>
  %xp: f32[1,2,6,6] = Pad(%x, %p) @pad
  %y: f32[1,1,5,7] = Conv(%xp, %w) {pads=[0, 1, 0, 1]} @conv
}`,
    `
graph g(%x: f32[1,2,4,4]) -> (%y) {
  ${W}
  %y: f32[1,1,5,7] = Conv(%x, %w) {pads=[1, 3, 1, 1]}
}`,
    { rtol: 0, fired: { "pad-into-conv": 1 }, counts: { Conv: 1 } },
  );
  // Pad over one (negative) axis with an explicit zero, into a Conv with a bias and strides.
  checkRules(
    foldPadRules,
    `
graph g(%x: f32[1,2,4,4]) -> (%y) {
  ${W}
  %b: f32[1] = const dense<f32[1]: [0.5]>
  %p: i64[2] = const dense<i64[2]: [1, 2]>
  %ax: i64[1] = const dense<i64[1]: [-1]>
  %zero: f32[] = const dense<f32[]: [0.0]>
  %xp: f32[1,2,4,7] = Pad(%x, %p, %zero, %ax) @pad
  %y: f32[1,1,2,3] = Conv(%xp, %w, %b) {strides=[2, 2]} @conv
}`,
    `
graph g(%x: f32[1,2,4,4]) -> (%y) {
  ${W}
  %b: f32[1] = const dense<f32[1]: [0.5]>
  %y: f32[1,1,2,3] = Conv(%x, %w, %b) {strides=[2, 2], pads=[0, 1, 0, 2]}
}`,
    { rtol: 0 },
  );
});

Deno.test("a zero Pad into an AveragePool that counts padding, a -inf Pad into a MaxPool", () => {
  checkRules(
    foldPadRules,
    `
graph g(%x: f32[1,2,4,4]) -> (%y) {
  %p: i64[8] = const dense<i64[8]: [0, 0, 1, 1, 0, 0, 1, 1]>
  %xp: f32[1,2,6,6] = Pad(%x, %p) @pad
  %y: f32[1,2,3,3] = AveragePool(%xp) {count_include_pad=1, kernel_shape=[2, 2], strides=[2, 2]} @pool
}`,
    `
graph g(%x: f32[1,2,4,4]) -> (%y) {
  %y: f32[1,2,3,3] = AveragePool(%x) {count_include_pad=1, kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1]}
}`,
    { fired: { "pad-into-avgpool": 1 } },
  );
  checkRules(
    foldPadRules,
    `
graph g(%x: f32[1,2,4,4]) -> (%y) {
  %p: i64[8] = const dense<i64[8]: [0, 0, 1, 0, 0, 0, 0, 1]>
  %ninf: f32[] = const dense<f32[]: [-inf]>
  %xp: f32[1,2,5,5] = Pad(%x, %p, %ninf) @pad
  %y: f32[1,2,4,4] = MaxPool(%xp) {kernel_shape=[2, 2]} @pool
}`,
    `
graph g(%x: f32[1,2,4,4]) -> (%y) {
  %y: f32[1,2,4,4] = MaxPool(%x) {kernel_shape=[2, 2], pads=[1, 0, 0, 1]}
}`,
    { rtol: 0, fired: { "pad-into-maxpool": 1 } },
  );
});

Deno.test("Pad stays before a Conv when the value is not zero, the mode reflects, or batch/channel/crop pads", () => {
  const conv = (pad: string, consts = "") => `
graph g(%x: f32[1,2,4,4]) -> (%y) {
  ${W}
  %p: i64[8] = const dense<i64[8]: [0, 0, 1, 1, 0, 0, 1, 1]>
  ${consts}%xp: f32[1,2,6,6] = ${pad} @pad
  %y: f32[1,1,5,5] = Conv(%xp, %w) @conv
}`;
  checkNoFire(foldPadRules, conv("Pad(%x, %p, %one)", "%one: f32[] = const dense<f32[]: [1.0]>\n  "), {
    rule: intoConv,
    node: "conv",
    reason: /pad value 1 is not 0/,
  });
  checkNoFire(foldPadRules, conv(`Pad(%x, %p) {mode="reflect"}`), {
    rule: intoConv,
    node: "conv",
    reason: /Pad mode is reflect/,
  });
  checkNoFire(foldPadRules, conv(`Pad(%x, %p) {mode="edge"}`), {
    rule: intoConv,
    node: "conv",
    reason: /Pad mode is edge/,
  });
  checkNoFire(
    foldPadRules,
    `
graph g(%x: f32[1,2,4,4]) -> (%y) {
  ${W}
  %p: i64[8] = const dense<i64[8]: [0, 1, 0, 0, 0, 0, 0, 0]>
  %xp: f32[1,3,4,4] = Pad(%x, %p) @pad
  %w3: f32[1,3,1,1] = const dense<f32[1,3,1,1]: [1.0, 2.0, 3.0]>
  %y: f32[1,1,4,4] = Conv(%xp, %w3) @conv
}`,
    { rule: intoConv, node: "conv", reason: /batch or channel axis is padded/ },
  );
  checkNoFire(
    foldPadRules,
    `
graph g(%x: f32[1,2,4,4]) -> (%y) {
  ${W}
  %p: i64[8] = const dense<i64[8]: [0, 0, 1, -1, 0, 0, 0, 0]>
  %xp: f32[1,2,5,3] = Pad(%x, %p) @pad
  %y: f32[1,1,4,2] = Conv(%xp, %w) @conv
}`,
    { rule: intoConv, node: "conv", reason: /negative/ },
  );
  checkNoFire(
    foldPadRules,
    `
graph g(%x: f32[1,2,4,4]) -> (%y, %xp) {
  ${W}
  %p: i64[8] = const dense<i64[8]: [0, 0, 1, 1, 0, 0, 1, 1]>
  %xp: f32[1,2,6,6] = Pad(%x, %p) @pad
  %y: f32[1,1,5,5] = Conv(%xp, %w) @conv
}`,
    { rule: intoConv, node: "conv", reason: /graph output/ },
  );
  checkNoFire(
    foldPadRules,
    `
graph g(%x: f32[1,2,4,4]) -> (%y) {
  ${W}
  %p: i64[8] = const dense<i64[8]: [0, 0, 1, 1, 0, 0, 1, 1]>
  %xp: f32[1,2,6,6] = Pad(%x, %p) @pad
  %y: f32[1,1,6,6] = Conv(%xp, %w) {auto_pad="SAME_UPPER"} @conv
}`,
    { rule: intoConv, node: "conv", reason: /auto_pad SAME_UPPER/ },
  );
});

Deno.test("Pad stays before an AveragePool that excludes padding and a MaxPool padded with zeros", () => {
  checkNoFire(
    foldPadRules,
    `
graph g(%x: f32[1,2,4,4]) -> (%y) {
  %p: i64[8] = const dense<i64[8]: [0, 0, 1, 1, 0, 0, 1, 1]>
  %xp: f32[1,2,6,6] = Pad(%x, %p) @pad
  %y: f32[1,2,3,3] = AveragePool(%xp) {kernel_shape=[2, 2], strides=[2, 2]} @pool
}`,
    { rule: intoAvg, node: "pool", reason: /count_include_pad is 0, not 1/ },
  );
  checkNoFire(
    foldPadRules,
    `
graph g(%x: f32[1,2,4,4]) -> (%y) {
  %p: i64[8] = const dense<i64[8]: [0, 0, 1, 1, 0, 0, 1, 1]>
  %xp: f32[1,2,6,6] = Pad(%x, %p) @pad
  %y: f32[1,2,5,5] = MaxPool(%xp) {kernel_shape=[2, 2]} @pool
}`,
    { rule: intoMax, node: "pool", reason: /pad value 0 is not -inf/ },
  );
});

Deno.test("fold-pad as a pass", async () => {
  const g = parseGraph(`
graph g(%x: f32[1,2,4,4]) -> (%y) {
  ${W}
  %p: i64[8] = const dense<i64[8]: [0, 0, 1, 1, 0, 0, 1, 1]>
  %xp: f32[1,2,6,6] = Pad(%x, %p) @pad
  %c: f32[1,1,5,5] = Conv(%xp, %w) @conv
  %cp: f32[1,1,7,7] = Pad(%c, %p) @pad2
  %y: f32[1,1,3,3] = AveragePool(%cp) {count_include_pad=1, kernel_shape=[3, 3], strides=[2, 2]} @pool
}`);
  const { model } = await runPipeline(modelOf(g), "fold-pad");
  assert.deepEqual(opCounts(model.graph), { Conv: 1, AveragePool: 1 });
  assertSameOutputs(g, model.graph);
});
