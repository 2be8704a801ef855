/**
 * Localization finds injected faults at the node they were injected in. The faulty copies are made with
 * one IR edit each (tests/support/diff-faults.ts), so the expected node and fault family are known
 * independently of the code under test: a conv's weights, a conv's pads, a BatchNormalization epsilon, a
 * Relu swapped for a Sigmoid, a dropped Relu, a model that flips its input's channel order, fp16 weights.
 * The same faults are then injected into the real mobilenet_v2.onnx, and into Lathe's TFLite conversion
 * of it (so source and target differ in dialect and layout as well).
 */
import assert from "node:assert/strict";
import { produce } from "immer";
import type { Graph } from "../ir/graph.ts";
import { modelOf } from "../ir/builder.ts";
import { generateInput } from "../compiler/run.ts";
import { importOnnxFile } from "../compiler/onnx/import.ts";
import { onnxToTflite } from "../passes/convert/onnx-to-tflite.ts";
import { type FaultKind, localize } from "../passes/diff/localize.ts";
import { Tensor } from "../runtime/tensor.ts";
import {
  changeWeights,
  dropNode,
  flipInputChannels,
  fp16Weights,
  moveAfter,
  setAttr,
  smallCnn,
  swapOp,
} from "./support/diff-faults.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";

interface Expect {
  kind: FaultKind;
  fault: string;
  /** The node the fault is in: on the source side for a missing node, else the target's. */
  node: string;
  side?: "source" | "target";
}

async function check(
  source: Graph,
  target: Graph,
  inputs: Record<string, Tensor>[],
  want: Expect | undefined,
) {
  const r = await localize({ source, target, inputs });
  if (!want) {
    assert.equal(
      r.findings.length,
      0,
      `no fault expected, got ${r.findings.map((f) => f.message).join("; ")}`,
    );
    assert.equal(r.divergence, undefined);
    return r;
  }
  assert.ok(r.divergence, "a divergence is found");
  assert.equal(
    r.findings.length,
    1,
    `one finding expected, got ${r.findings.map((f) => `${f.kind}/${f.fault}: ${f.message}`).join("; ")}`,
  );
  const f = r.findings[0];
  assert.equal(f.kind, want.kind, f.message);
  assert.equal(f.fault, want.fault, f.message);
  assert.equal(want.side === "source" ? f.sourceNode : f.targetNode, want.node, f.message);
  assert.ok(f.evidence.after > f.evidence.before, "the evidence shows the error growing");
  assert.equal(f.pair, r.divergence!.pair, "the finding is where the divergence starts");
  return r;
}

const cnn = smallCnn();
const cnnInputs = [0, 1, 2].map((k) => ({ image: generateInput(cnn, "image", 0, 100 + k) }));

const CNN_FAULTS: [string, Graph, Expect | undefined][] = [
  ["no fault", cnn, undefined],
  ["conv2's weights", changeWeights(cnn, "conv2"), { kind: "parameters", fault: "weights", node: "conv2" }],
  ["conv2's pads", setAttr(cnn, "conv2", "pads", { type: "ints", value: [0, 0, 2, 2] }), {
    kind: "hyperparameters",
    fault: "pads",
    node: "conv2",
  }],
  ["bn2's epsilon", setAttr(cnn, "bn2", "epsilon", { type: "float", value: 0.1 }), {
    kind: "hyperparameters",
    fault: "epsilon",
    node: "bn2",
  }],
  ["relu2 as Sigmoid", swapOp(cnn, "relu2", "Sigmoid"), { kind: "graph", fault: "wrong-op", node: "relu2" }],
  ["relu1 dropped", dropNode(cnn, "relu1"), {
    kind: "graph",
    fault: "missing-node",
    node: "relu1",
    side: "source",
  }],
  ["bn1 moved after relu1", moveAfter(cnn, "bn1", "relu1"), {
    kind: "graph",
    fault: "reordered",
    node: "bn1",
    side: "source",
  }],
  ["input channels flipped", flipInputChannels(cnn), {
    kind: "input",
    fault: "channel-order",
    node: "conv1",
  }],
  ["conv3's weights in fp16", fp16Weights(cnn, "conv3"), {
    kind: "precision",
    fault: "fp16-weights",
    node: "conv3",
  }],
];

for (const [name, target, want] of CNN_FAULTS) {
  Deno.test(`localize on a small CNN: ${name}`, async () => {
    await check(cnn, target, cnnInputs, want);
  });
}

Deno.test("localize ranks suspicious layers with Kruskal–Wallis when top-1 splits the samples", async () => {
  const target = changeWeights(cnn, "conv2");
  const inputs = Array.from({ length: 16 }, (_, k) => ({ image: generateInput(cnn, "image", 0, 500 + k) }));
  const r = await localize({ source: cnn, target, inputs });
  assert.equal(r.findings[0]?.targetNode, "conv2");
  assert.equal(
    r.ranking.method,
    "kruskal-wallis",
    "these 16 samples split into agreeing and disagreeing top-1",
  );
  const score = new Map(r.ranking.layers.map((l) => [l.targetNode, l.score]));
  // Upstream of the fault both models compute the same values on every sample: nothing can deviate.
  for (const id of ["conv1", "bn1", "relu1", "pool1"]) assert.equal(score.get(id), 0, id);
  assert.ok(["conv2", "bn2", "relu2", "conv3", "relu3", "softmax"].some((id) => (score.get(id) ?? 0) > 0));
  // Without a split the ranking falls back to the error jump, which puts the faulty layer first.
  const few = await localize({
    source: cnn,
    target: changeWeights(cnn, "conv3"),
    inputs: inputs.slice(0, 2),
  });
  assert.equal(few.ranking.method, "error-jump");
  assert.equal(few.ranking.layers[0].targetNode, "conv3");
});

const MOBILENET = "onnx/torch/mobilenet_v2.onnx";
const mb = noCorpus() ? undefined : await importOnnxFile(corpusPath(MOBILENET));
const mbInputs = mb ? [0, 1].map((k) => ({ input: generateInput(mb.graph, "input", 0, 100 + k) })) : [];
const DW = "/features/features.5/conv/conv.1/conv.1.0/Conv";

Deno.test({
  name: "localize on mobilenet_v2.onnx: weights, pads, Clip as Sigmoid, fp16 weights, channel order",
  ignore: !mb,
  async fn() {
    const g = mb!.graph;
    await check(g, g, mbInputs, undefined);
    await check(g, changeWeights(g, DW), mbInputs, { kind: "parameters", fault: "weights", node: DW });
    await check(g, setAttr(g, DW, "pads", { type: "ints", value: [0, 0, 2, 2] }), mbInputs, {
      kind: "hyperparameters",
      fault: "pads",
      node: DW,
    });
    const clip = "/features/features.5/conv/conv.1/conv.1.2/Clip";
    await check(g, swapOp(g, clip, "Sigmoid"), mbInputs, { kind: "graph", fault: "wrong-op", node: clip });
    await check(g, fp16Weights(g, DW), mbInputs, { kind: "precision", fault: "fp16-weights", node: DW });
    await check(g, flipInputChannels(g), mbInputs, {
      kind: "input",
      fault: "channel-order",
      node: "/features/features.0/features.0.0/Conv",
    });
  },
});

Deno.test({
  name: "localize across dialects: faults in Lathe's TFLite conversion of mobilenet_v2",
  ignore: !mb,
  async fn() {
    const g = mb!.graph;
    const tfl = onnxToTflite(mb!, {}).model.graph;
    await check(g, tfl, mbInputs, undefined);
    const dw = tfl.nodes.filter((n) => n.op === "tfl.DEPTHWISE_CONV_2D")[4];
    await check(g, changeWeights(tfl, dw.id), mbInputs, {
      kind: "parameters",
      fault: "weights",
      node: dw.id,
    });
    // The activation fused into a CONV_2D dropped: the source's Clip has no counterpart.
    const conv = tfl.nodes.filter((n) =>
      n.op === "tfl.CONV_2D" && n.attrs.fused_activation_function?.value === "RELU6"
    )[3];
    const clipIds = conv.from!.filter((id) =>
      id.endsWith("Clip")
    );
    assert.equal(clipIds.length, 1, "the converter's provenance names the Clip it fused");
    const noAct = produce(tfl, (d) => {
      const n = d.nodes.find((x) => x.id === conv.id)!;
      (n.attrs as Record<string, unknown>).fused_activation_function = { type: "string", value: "NONE" };
    });
    await check(g, noAct, mbInputs, {
      kind: "graph",
      fault: "missing-node",
      node: clipIds[0],
      side: "source",
    });
    // SAME instead of VALID behind an explicit PAD: the window reads one more row and column.
    const padded =
      tfl.nodes.filter((n) => n.op === "tfl.DEPTHWISE_CONV_2D" && n.attrs.padding?.value === "VALID")[1];
    await check(g, setAttr(tfl, padded.id, "padding", { type: "string", value: "SAME" }), mbInputs, {
      kind: "hyperparameters",
      fault: "pads",
      node: padded.id,
    });
  },
});

Deno.test("localize: inputs preprocessed apart (the target fed BGR) are where the divergence starts", async () => {
  const bgr = cnnInputs.map(({ image }) => {
    const d = image.data as Float32Array, out = new Float32Array(d.length), plane = 16 * 16;
    for (let c = 0; c < 3; c++) out.set(d.subarray((2 - c) * plane, (3 - c) * plane), c * plane);
    return { image: new Tensor("f32", image.shape, out) };
  });
  const r = await localize({ source: cnn, target: cnn, inputs: cnnInputs, targetInputs: bgr });
  assert.equal(r.divergence?.pair, 0);
  assert.equal(r.findings.length, 1);
  assert.equal(r.findings[0].kind, "input");
  assert.equal(r.findings[0].fault, "channel-order");
  assert.equal(r.findings[0].evidence.detail?.errorWithTransformation, 0);
});

Deno.test("localize across dialects with batch normalization folded by the converter", async () => {
  const tfl = onnxToTflite(modelOf(cnn), {}).model.graph;
  const r0 = await check(cnn, tfl, cnnInputs, undefined);
  assert.ok(r0.pairs.every((p) => p.error < 1e-5));
  const conv2 = tfl.nodes.filter((n) => n.op === "tfl.CONV_2D")[1];
  assert.ok(
    conv2.from?.includes("conv2") && conv2.from?.includes("bn2"),
    "the converter folded bn2 into conv2",
  );
  // A padding fault in the folded layer is a hyperparameter fault only: the weights match once bn2 is folded.
  const onlyPads = setAttr(tfl, conv2.id, "padding", { type: "string", value: "VALID" });
  await check(cnn, onlyPads, cnnInputs, { kind: "hyperparameters", fault: "pads", node: conv2.id });
  await check(cnn, changeWeights(tfl, conv2.id), cnnInputs, {
    kind: "parameters",
    fault: "weights",
    node: conv2.id,
  });
});
