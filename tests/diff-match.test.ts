/**
 * Structural matching across dialects, checked against references the matcher never reads:
 * - mobilenet_v2.onnx against Lathe's TFLite conversion: the converter records, for every TFLite node,
 *   the ONNX nodes it came from (`from`); every pair must agree with that provenance;
 * - the openWakeWord models shipped as both ONNX and TFLite: the two files were converted separately from
 *   one Keras/PyTorch model and keep its layer names, which pairs must agree with;
 * - melspectrogram's two convolutions read the same input: only their weights tell them apart.
 * Paired values are then compared numerically through their layout relations.
 */
import assert from "node:assert/strict";
import "../compiler/formats.ts";
import { loadModel } from "../compiler/load-model.ts";
import { generateInput } from "../compiler/run.ts";
import { onnxToTflite } from "../passes/convert/onnx-to-tflite.ts";
import { bindInputShapes } from "../passes/convert/static-shapes.ts";
import { type GraphMatch, matchGraphs } from "../passes/diff/match.ts";
import { canonicalParams, paramDistance } from "../passes/diff/params.ts";
import { targetInputs, traceMatch } from "../passes/diff/trace.ts";
import type { Graph } from "../ir/graph.ts";
import { GraphBuilder, modelOf } from "../ir/builder.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";

const skip = noCorpus();

function counts(m: GraphMatch): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of m.pairs) out[p.source.cls] = (out[p.source.cls] ?? 0) + 1;
  return out;
}

async function worstError(
  source: Graph,
  target: Graph,
  m: GraphMatch,
  shapes: Record<string, number[]> = {},
) {
  const bound = bindInputShapes(source, { shapes });
  const s = Object.fromEntries(source.inputs.map((name, i) => [name, generateInput(bound, name, i, 9)]));
  const trace = await traceMatch(source, target, m, [{ source: s, target: targetInputs(m, s) }]);
  let worst = 0;
  for (const p of trace.pairs) {
    assert.equal(p.incompatible, undefined, `pair ${p.index}: ${p.incompatible}`);
    worst = Math.max(worst, p.stats.relL2);
  }
  return { worst, trace };
}

Deno.test({
  name: "matching mobilenet_v2.onnx with its TFLite conversion agrees with the converter's provenance",
  ignore: skip,
  async fn() {
    const src = await loadModel(corpusPath("onnx/torch/mobilenet_v2.onnx"));
    const tgt = onnxToTflite(src, {}).model.graph;
    const m = matchGraphs(src.graph, tgt);
    const byId = new Map(tgt.nodes.map((n) => [n.id, n]));
    for (const p of m.pairs) {
      if (p.source.op === "input") continue;
      const t = byId.get(p.target.node!)!;
      assert.ok(
        t.from?.includes(p.source.node!),
        `${p.source.node} paired with ${t.id}, which comes from ${t.from}`,
      );
    }
    assert.deepEqual(counts(m), { input: 1, conv: 52, relu6: 35, add: 10, mean: 1, dense: 1 });
    assert.equal(
      m.pairs.filter((p) => p.weights === "similar").length,
      53,
      "every conv and the classifier: same weights modulo layout",
    );
    assert.deepEqual(m.unmatchedSource, []);
    assert.ok(
      m.unmatchedTarget.every((n) => n.op === "tfl.PAD" && n.explained),
      "only the explicit PADs, folded into the windows",
    );
    assert.ok(m.regions.every((r) => r.explained));
    // Every paired value (NCHW against NHWC) agrees numerically through its relation.
    const { worst } = await worstError(src.graph, tgt, m);
    assert.ok(worst < 1e-4, `worst relative L2 error ${worst}`);
  },
});

/** Whether the target node keeps the source node's layer name (TFLite joins fused names with ';'). */
function sameLayer(sourceId: string, targetId: string): boolean {
  const stem = sourceId.replace(/\/[^/]*$/, "/");
  return targetId.split(";").some((part) =>
    part === sourceId || part === `${sourceId}1` || (stem.startsWith("model/") && part.startsWith(stem))
  );
}

Deno.test({
  name: "matching openWakeWord embedding_model.onnx with the shipped .tflite agrees with the layer names",
  ignore: skip,
  async fn() {
    const a = await loadModel(corpusPath("onnx/openwakeword/embedding_model.onnx"));
    const b = await loadModel(corpusPath("tflite/openwakeword/embedding_model.tflite"));
    const m = matchGraphs(a.graph, b.graph);
    assert.deepEqual(counts(m), { input: 1, conv: 20, "leaky-relu": 19, max: 19, "max-pool": 5 });
    let named = 0;
    for (const p of m.pairs) {
      if (p.source.op === "input") continue;
      // The last conv's tensor is named after the serving signature, not the layer.
      if (p.target.node === "StatefulPartitionedCall:0") continue;
      assert.ok(sameLayer(p.source.node!, p.target.node!), `${p.source.node} paired with ${p.target.node}`);
      named++;
    }
    assert.equal(named, 62);
    assert.ok(m.pairs.filter((p) => p.source.cls === "conv").every((p) => p.weights === "similar"));
    assert.deepEqual(m.unmatchedTarget.map((n) => [n.op, !!n.explained]), [["tfl.PAD", true]]);
    const { worst } = await worstError(a.graph, b.graph, m, { input_1: [1, 76, 32, 1] });
    assert.ok(worst < 1e-4, `worst relative L2 error ${worst}`);
  },
});

Deno.test({
  name: "matching openWakeWord alexa_v0.1: Gemm with FULLY_CONNECTED, Relu with the fused RELU",
  ignore: skip,
  async fn() {
    const a = await loadModel(corpusPath("onnx/openwakeword/alexa_v0.1.onnx"));
    const b = await loadModel(corpusPath("tflite/openwakeword/alexa_v0.1.tflite"));
    const m = matchGraphs(a.graph, b.graph);
    assert.deepEqual(counts(m), { input: 1, dense: 3, relu: 2, sigmoid: 1 });
    // Gemm_k's Relu is fused into the FULLY_CONNECTED whose tensor carries the Relu's name.
    for (const p of m.pairs.filter((x) => x.source.cls === "relu")) {
      assert.equal(p.target.op, "tfl.FULLY_CONNECTED");
      assert.ok(
        p.target.node!.includes(`onnx_tf_prefix_${p.source.node}`),
        `${p.source.node} / ${p.target.node}`,
      );
    }
    assert.ok(m.pairs.filter((p) => p.source.cls === "dense").every((p) => p.weights === "similar"));
    assert.deepEqual(m.unmatchedSource, []);
    assert.deepEqual(m.unmatchedTarget, []);
    const { worst } = await worstError(a.graph, b.graph, m);
    assert.ok(worst < 1e-5, `worst relative L2 error ${worst}`);
  },
});

Deno.test({
  name: "matching openWakeWord melspectrogram: two convolutions on one input told apart by their weights",
  ignore: skip,
  async fn() {
    const a = await loadModel(corpusPath("onnx/openwakeword/melspectrogram.onnx"));
    const b = await loadModel(corpusPath("tflite/openwakeword/melspectrogram.tflite"));
    const m = matchGraphs(a.graph, b.graph);
    const convs = m.pairs.filter((p) => p.source.cls === "conv");
    assert.equal(convs.length, 2);
    const node = (g: Graph, id: string) => g.nodes.find((n) => n.id === id)!;
    for (const p of convs) {
      const wa = canonicalParams(a.graph, node(a.graph, p.source.node!)).weights!;
      const wb = canonicalParams(b.graph, node(b.graph, p.target.node!)).weights!;
      assert.equal(
        paramDistance(wa, wb),
        0,
        `${p.source.node} / ${p.target.node}: OIW against OHWI with H = 1`,
      );
    }
    assert.notEqual(convs[0].target.node, convs[1].target.node);
    // x² is Pow(x, 2) in ONNX and MUL(x, x) in TFLite; the dropped x − 0 and the clip as MINIMUM/MAXIMUM
    // are explained differences.
    assert.equal(counts(m).square, 2);
    assert.ok(m.regions.every((r) => r.explained), JSON.stringify(m.regions));
    const { worst } = await worstError(a.graph, b.graph, m, { input: [1, 1280] });
    assert.ok(worst < 1e-4, `worst relative L2 error ${worst}`);
  },
});

Deno.test("equal sizes (C = H = W): the NCHW/NHWC relation comes from the ops, not the shapes", async () => {
  const b = new GraphBuilder("cube");
  const x = b.input("x", "f32", [1, 8, 8, 8]);
  const rng = (n: number, s: number) => Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + s) * 0.3);
  const w1 = b.constantOf("w1", "f32", [8, 8, 3, 3], rng(576, 1)),
    w2 = b.constantOf("w2", "f32", [8, 8, 3, 3], rng(576, 2));
  const c1 = b.op1("Conv", [x, w1], { pads: [1, 1, 1, 1] });
  const r1 = b.op1("Relu", [c1]);
  const c2 = b.op1("Conv", [r1, w2], { pads: [1, 1, 1, 1] });
  const y = b.op1("Add", [c2, r1]);
  const src = b.build([y]);
  const tgt = onnxToTflite(modelOf(src), {}).model.graph;
  const m = matchGraphs(src, tgt);
  const { worst, trace } = await worstError(src, tgt, m);
  assert.ok(worst < 1e-5, `worst relative L2 error ${worst}`);
  for (const [i, v] of m.values.entries()) {
    if (v.kind === "input") continue;
    assert.deepEqual(
      trace.pairs[i].relation,
      { kind: "perm", perm: [2, 0, 1] },
      `${v.source.node}: NCHW read from NHWC`,
    );
  }
});
