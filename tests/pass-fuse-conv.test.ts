/**
 * fuse-conv: a per-channel Add into the Conv bias, activations into com.microsoft.FusedConv; the fused graph
 * exported to ONNX runs in onnxruntime-node with the unfused graph's values.
 */
import assert from "node:assert/strict";
import { exportOnnx } from "../compiler/onnx/export.ts";
import { modelOf } from "../ir/builder.ts";
import { parseGraph } from "../ir/text.ts";
import { fuseConvRules } from "../passes/fuse-conv.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import { applyRules } from "../passes/rewrite.ts";
import "../passes/index.ts";
import { compareTensors } from "../runtime/compare.ts";
import { interpret } from "../runtime/interpreter.ts";
import type { Tensor } from "../runtime/tensor.ts";
import { ortSession, runOrt } from "./reference/onnxruntime.ts";
import { checkNoFire, checkRules, opCounts, seededInputs } from "./support/pass-check.ts";

const [convBias, convAct] = fuseConvRules;
const W = `%w: f32[3,2,1,1] = const dense<f32[3,2,1,1]: [1.0, -2.0, 3.0, 4.0, -5.0, 6.0]>`;

Deno.test("an Add of a per-channel constant (either side) becomes the Conv bias", () => {
  checkRules(
    fuseConvRules,
    `
graph g(%x: f32[1,2,3,3]) -> (%y) {
  ${W}
  %b: f32[3] = const dense<f32[3]: [1.0, 2.0, 3.0]>
  %c: f32[3,1,1] = const dense<f32[3,1,1]: [0.5, -1.0, 2.0]>
  %z: f32[1,3,3,3] = Conv(%x, %w, %b) @conv
  %y: f32[1,3,3,3] = Add(%c, %z) @add
}`,
    `
graph g(%x: f32[1,2,3,3]) -> (%y) {
  ${W}
  %conv_bias_0: f32[3] = const dense<f32[3]: [1.5, 1.0, 5.0]>
  %y: f32[1,3,3,3] = Conv(%x, %w, %conv_bias_0)
}`,
    { fired: { "conv-add-bias": 1 } },
  );
  // A scalar adds to every channel of a biasless Conv.
  checkRules(
    fuseConvRules,
    `
graph g(%x: f32[1,2,3,3]) -> (%y) {
  ${W}
  %c: f32[] = const dense<f32[]: [0.25]>
  %z: f32[1,3,3,3] = Conv(%x, %w) {pads=[1, 0, 1, 0]} @conv
  %y: f32[1,3,5,3] = Add(%z, %c) @add
}`.replace("f32[1,3,3,3] = Conv", "f32[1,3,5,3] = Conv"),
    `
graph g(%x: f32[1,2,3,3]) -> (%y) {
  ${W}
  %conv_bias_0: f32[3] = const dense<f32[3]: [0.25, 0.25, 0.25]>
  %y: f32[1,3,5,3] = Conv(%x, %w, %conv_bias_0) {pads=[1, 0, 1, 0]}
}`,
  );
});

Deno.test("conv-add-bias must not fire on a shared Conv, a spatial constant, or one that would grow the rank", () => {
  checkNoFire(
    [convBias],
    `
graph g(%x: f32[1,2,3,3]) -> (%y, %z) {
  ${W}
  %c: f32[3,1,1] = const dense<f32[3,1,1]: [0.5, -1.0, 2.0]>
  %z: f32[1,3,3,3] = Conv(%x, %w) @conv
  %y: f32[1,3,3,3] = Add(%z, %c) @add
}`,
    { rule: convBias, node: "add", reason: /graph output/ },
  );
  checkNoFire(
    [convBias],
    `
graph g(%x: f32[1,2,1,3]) -> (%y) {
  ${W}
  %c: f32[1,3] = const dense<f32[1,3]: [0.5, -1.0, 2.0]>
  %z: f32[1,3,1,3] = Conv(%x, %w) @conv
  %y: f32[1,3,1,3] = Add(%z, %c) @add
}`,
    { rule: convBias, node: "add", reason: /is not per output channel/ },
  );
  checkNoFire(
    [convBias],
    `
graph g(%x: f32[1,2,3,3]) -> (%y) {
  ${W}
  %c: f32[1,1,1,1,1] = const dense<f32[1,1,1,1,1]: [0.5]>
  %z: f32[1,3,3,3] = Conv(%x, %w) @conv
  %y: f32[1,1,3,3,3] = Add(%z, %c) @add
}`,
    { rule: convBias, node: "add", reason: /higher rank/ },
  );
});

/** Each activation, its attributes or bound operands, and the FusedConv attributes it becomes. */
const ACTS: { op: string; call: string; consts?: string; fused: string }[] = [
  { op: "Relu", call: "Relu(%z)", fused: `activation="Relu", activation_params=floats[]` },
  { op: "Tanh", call: "Tanh(%z)", fused: `activation="Tanh", activation_params=floats[]` },
  { op: "Sigmoid", call: "Sigmoid(%z)", fused: `activation="Sigmoid", activation_params=floats[]` },
  {
    op: "LeakyRelu",
    call: "LeakyRelu(%z) {alpha=0.2}",
    fused: `activation="LeakyRelu", activation_params=[0.2]`,
  },
  {
    op: "HardSigmoid",
    call: "HardSigmoid(%z) {alpha=0.25, beta=0.375}",
    fused: `activation="HardSigmoid", activation_params=[0.25, 0.375]`,
  },
  {
    op: "Clip",
    call: "Clip(%z, %lo, %hi)",
    consts: `%lo: f32[] = const dense<f32[]: [-0.5]>\n  %hi: f32[] = const dense<f32[]: [1.5]>\n  `,
    fused: `activation="Clip", activation_params=[-0.5, 1.5]`,
  },
  {
    op: "Clip",
    call: "Clip(%z, _, %hi)",
    consts: `%hi: f32[] = const dense<f32[]: [6.0]>\n  `,
    fused: `activation="Clip", activation_params=[-3.4028234663852886e+38, 6.0]`,
  },
];

const convActGraph = (a: (typeof ACTS)[number]) => `
graph g(%x: f32[2,2,5,5]) -> (%y) {
  ${W}
  %b: f32[3] = const dense<f32[3]: [0.5, -0.25, 0.0]>
  ${a.consts ?? ""}%z: f32[2,3,3,4] = Conv(%x, %w, %b) {pads=[0, 1, 0, 1], strides=[2, 2]} @conv
  %y: f32[2,3,3,4] = ${a.call} @act
}`;

for (const a of ACTS) {
  Deno.test(`${a.call} after a Conv becomes FusedConv`, () => {
    checkRules(
      fuseConvRules,
      convActGraph(a),
      `
graph g(%x: f32[2,2,5,5]) -> (%y) {
  ${W}
  %b: f32[3] = const dense<f32[3]: [0.5, -0.25, 0.0]>
  %y: f32[2,3,3,4] = com.microsoft.FusedConv(%x, %w, %b) {pads=[0, 1, 0, 1], strides=[2, 2], ${a.fused}}
}`,
      { fired: { "conv-activation": 1 }, counts: { "com.microsoft.FusedConv": 1 } },
    );
  });
}

Deno.test({
  name: "onnxruntime runs every exported FusedConv graph with the unfused graph's values",
  sanitizeResources: false,
  fn: async () => {
    for (const a of ACTS) {
      const g = parseGraph(convActGraph(a));
      const fused = applyRules(g, fuseConvRules).graph;
      assert.deepEqual(opCounts(fused), { "com.microsoft.FusedConv": 1 });
      const inputs = seededInputs(g, 3);
      const want = interpret(g, inputs).outputs.y as Tensor;
      const ort = await runOrt(await ortSession(exportOnnx(modelOf(fused))), inputs);
      const r = compareTensors(ort.y, want, 1e-5, 1e-6);
      assert.ok(r.ok, `${a.call}: ${r.message}`);
    }
  },
});

Deno.test("conv-activation must not fire on a shared Conv, variable Clip bounds or f64", () => {
  checkNoFire(
    fuseConvRules,
    `
graph g(%x: f32[1,2,3,3]) -> (%y, %z) {
  ${W}
  %z: f32[1,3,3,3] = Conv(%x, %w) @conv
  %y: f32[1,3,3,3] = Relu(%z) @act
}`,
    { rule: convAct, node: "act", reason: /%z has 1 users and is a graph output/ },
  );
  checkNoFire(
    fuseConvRules,
    `
graph g(%x: f32[1,2,3,3], %hi: f32[]) -> (%y) {
  ${W}
  %z: f32[1,3,3,3] = Conv(%x, %w) @conv
  %y: f32[1,3,3,3] = Clip(%z, _, %hi) @act
}`,
    { rule: convAct, node: "act", reason: /Clip bounds are not scalar constants/ },
  );
  checkNoFire(
    fuseConvRules,
    `
graph g(%x: f64[1,2,3,3]) -> (%y) {
  %w: f64[3,2,1,1] = const dense<f64[3,2,1,1]: [1.0, -2.0, 3.0, 4.0, -5.0, 6.0]>
  %z: f64[1,3,3,3] = Conv(%x, %w) @conv
  %y: f64[1,3,3,3] = Relu(%z) @act
}`,
    { rule: convAct, node: "act", reason: /FusedConv takes f32/ },
  );
});

Deno.test("fuse-conv as a pass: bias Add, then activation, in one greedy run", async () => {
  const g = parseGraph(`
graph g(%x: f32[1,2,4,4]) -> (%y) {
  ${W}
  %c: f32[1,3,1,1] = const dense<f32[1,3,1,1]: [0.5, -1.0, 2.0]>
  %z: f32[1,3,4,4] = Conv(%x, %w) @conv
  %a: f32[1,3,4,4] = Add(%z, %c) @add
  %y: f32[1,3,4,4] = Relu(%a) @relu
}`);
  const { model } = await runPipeline(modelOf(g), "fuse-conv");
  assert.deepEqual(opCounts(model.graph), { "com.microsoft.FusedConv": 1 });
  const inputs = seededInputs(g);
  const r = compareTensors(
    interpret(model.graph, inputs).outputs.y as Tensor,
    interpret(g, inputs).outputs.y as Tensor,
    1e-5,
    1e-6,
  );
  assert.ok(r.ok, r.message);
});
