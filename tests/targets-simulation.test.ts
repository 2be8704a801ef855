/**
 * The accelerated graph against the reference runtime on the unpartitioned graph, bit for bit: small
 * layers whose results are worked out by hand from TFLite's arithmetic (formats.md §2.5), the embedded
 * int8 CNN on both targets, the Coral uint8 MobileNet-SSD up to its custom post-process, and a float ONNX
 * CNN quantized by the quantize pass (QLinearConv, host requantization). The functional model also
 * refuses command streams that compute on data never loaded or overflow a buffer.
 */
import assert from "node:assert/strict";
import { defaultInt8Model } from "../compiler/default-int8-model.ts";
import "../compiler/formats.ts";
import { loadModel } from "../compiler/load-model.ts";
import type { Graph } from "../ir/graph.ts";
import { LatheError } from "../ir/errors.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import "../passes/index.ts";
import { Tensor } from "../runtime/tensor.ts";
import { partitionGraph } from "../targets/partition.ts";
import { getTarget } from "../targets/registry.ts";
import { runGemmProgram } from "../targets/secda/gemm-model.ts";
import { SA_DESIGN } from "../targets/secda-sa/lower.ts";
import { CFG_PPU, CFG_W_SIGNED, CFG_X_SIGNED, COMPUTE, CONFIG, LOAD_INP } from "../targets/secda/protocol.ts";
import { simulatePartitioned } from "../targets/simulate.ts";
import type { Program } from "../targets/target.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { q, TflGraph } from "./support/tfl-int8-graph.ts";

const TARGETS = ["secda-sa", "secda-vm"] as const;

function run(g: Graph, target: string, x: Tensor): { out: number[]; graph: Graph; exact: boolean } {
  const r = partitionGraph(g, getTarget(target));
  const sim = simulatePartitioned(g, r.graph, { inputs: { x } });
  return {
    out: Array.from(
      sim.outputs[g.outputs[0]] instanceof Tensor
        ? (sim.outputs[g.outputs[0]] as Tensor).data as ArrayLike<number>
        : [],
    ),
    graph: r.graph,
    exact: sim.bitExact && sim.compared > 0,
  };
}

Deno.test("FULLY_CONNECTED int8 by hand: PPU rounding of 3.5 and −0.5 away from zero", () => {
  // x − zp = [0, 1, 2, 3]; rows [1, 0, −1, 2] and [3, 3, 3, 3]; bias [10, −20]: sums 14 and −2.
  // Multiplier s_x·s_w/s_y = 0.25 = 2^30·2^(−1−31): SRDHM(14, 2^30) = 7, RDBPOT(7, 1) = 4;
  // SRDHM(−2, 2^30) = −1, RDBPOT(−1, 1) = −1.
  const t = new TflGraph();
  const xi = t.input("x", q("i8", 1, 1), [1, 4]);
  const w = t.constant("w", q("i8", 1), [2, 4], [1, 0, -1, 2, 3, 3, 3, 3]);
  const b = t.constant("b", q("i32", 1), [2], [10, -20]);
  t.op("y", "tfl.FULLY_CONNECTED", [xi, w, b], {}, { dtype: q("i8", 4, 0), shape: [1, 2] });
  const g = t.build(["y"]);
  for (const target of TARGETS) {
    const r = run(g, target, new Tensor(q("i8", 1, 1), [1, 4], Int8Array.from([1, 2, 3, 4])));
    assert.deepEqual(r.out, [4, -1], target);
    assert.ok(r.exact);
    assert.equal(r.graph.nodes.filter((n) => n.op === "lathe.AccelCall").length, 1);
  }
});

Deno.test("FULLY_CONNECTED uint8 with a weight zero point: host row sums and the folded bias", () => {
  // x − 128 = [2, −2]; w − 100 = [1, −1] and [0, 10]: sums 4 and −20; multiplier 0.5 (2^30, shift 0):
  // SRDHM(4, 2^30) = 2, SRDHM(−20, 2^30) = −10; plus the output zero point 128.
  const t = new TflGraph();
  const xi = t.input("x", q("u8", 1, 128), [1, 2]);
  const w = t.constant("w", q("u8", 1, 100), [2, 2], [101, 99, 100, 110]);
  t.op("y", "tfl.FULLY_CONNECTED", [xi, w, null], {}, { dtype: q("u8", 2, 128), shape: [1, 2] });
  const g = t.build(["y"]);
  for (const target of TARGETS) {
    const r = run(g, target, new Tensor(q("u8", 1, 128), [1, 2], Uint8Array.from([130, 126])));
    assert.deepEqual(r.out, [130, 118], target);
    assert.ok(r.exact);
    const sums = r.graph.nodes.find((n) => n.op === "lathe.ZeroPointSums")!;
    assert.equal(sums.attrs.multiplier.value, -100);
    // bias' = −zp_x·Σw + K·zp_x·zp_w = −128·200 + 2·128·100 and −128·210 + 25600.
    const folded = r.graph.constants["y/bias.folded"];
    assert.deepEqual(Array.from(new Int32Array(folded.bytes!.slice().buffer)).slice(0, 2), [0, -1280]);
  }
});

function program(cmds: Program["cmds"]): Program {
  return { target: "secda-sa", kernel: "gemm", id: "bad", operands: [], cmds, dims: {} };
}

Deno.test("functional model: refuses computing on rows never loaded and loads beyond a buffer", () => {
  const cfg = [4, 4, 1, CFG_X_SIGNED | CFG_W_SIGNED | CFG_PPU, 0, -128, 127];
  const out = new Tensor("i8", [4, 4], new Int8Array(16));
  assert.throws(
    () =>
      runGemmProgram(
        SA_DESIGN,
        program([{ opcode: CONFIG | COMPUTE, header: [...cfg, 0, 4, 0, 4], payload: [], lane: 0 }]),
        [],
        out,
      ),
    (e) => e instanceof LatheError && /packet 0: input rows \[0, \+4\) are not all resident/.test(e.reason),
  );
  // 20000 rows of one word exceed IN_BUF's 16384 words before any data moves.
  const big = new Tensor("u32", [4, 5000], new Uint32Array(20000));
  const wide = [20000, 4, 1, CFG_X_SIGNED, 0, -128, 127];
  assert.throws(
    () =>
      runGemmProgram(
        SA_DESIGN,
        program([{
          opcode: CONFIG | LOAD_INP,
          header: [...wide, 0, 0, 20000, 0],
          payload: [{ operand: 0, offset: 0, words: 5000 }],
          lane: 0,
        }]),
        [big],
        out,
      ),
    (e) =>
      e instanceof LatheError && /20000 input rows of 1 words exceed the 16384-word buffer/.test(e.reason),
  );
});

Deno.test("the embedded int8 CNN: every value bit-exact on both targets", () => {
  const g = defaultInt8Model().graph;
  for (const target of TARGETS) {
    const r = partitionGraph(g, getTarget(target));
    assert.deepEqual(r.placements.filter((p) => p.placement === "accel").map((p) => p.node), [
      "conv1",
      "proj1",
      "conv2",
      "fc",
    ]);
    for (const seed of [0, 1]) {
      const sim = simulatePartitioned(g, r.graph, { seed });
      assert.equal(sim.compared, g.nodes.length, `${target}: every node output is compared`);
      assert.deepEqual(sim.mismatches, [], target);
    }
  }
});

Deno.test({
  name: "Coral uint8 MobileNet-SSD v2 on secda-sa: bit-exact up to the custom post-process",
  ignore: noCorpus(),
  fn: async () => {
    const m = await loadModel(corpusPath("tflite/coral/mobilenet_ssd_v2_coco_quant_postprocess.tflite"));
    const r = partitionGraph(m.graph, getTarget("secda-sa"));
    const offloaded = r.placements.filter((p) => p.placement === "accel");
    assert.equal(offloaded.length, m.graph.nodes.filter((n) => n.op === "tfl.CONV_2D").length);
    const sim = simulatePartitioned(m.graph, r.graph, { seed: 0 });
    assert.equal(sim.cutAt, "TFLite_Detection_PostProcess");
    assert.equal(sim.compared, m.graph.nodes.length - 1);
    assert.deepEqual(sim.mismatches, []);
  },
});

Deno.test({
  name: "squeezenet1_1 quantized to int8 by the quantize pass: QLinearConv on secda-vm, bit-exact",
  ignore: noCorpus(),
  fn: async () => {
    const m0 = await loadModel(corpusPath("onnx/torch/squeezenet1_1.onnx"));
    const { model } = await runPipeline(
      m0,
      "canonicalize,fold-batchnorm,quantize{scheme=int8,calibCount=1},lower-int8",
    );
    const convs = model.graph.nodes.filter((n) => n.op === "QLinearConv");
    assert.ok(convs.length > 20);
    const r = partitionGraph(model.graph, getTarget("secda-vm"));
    assert.equal(r.placements.filter((p) => p.placement === "accel").length, convs.length);
    assert.equal(r.graph.nodes.filter((n) => n.op === "lathe.RequantizeF32").length, convs.length);
    const sim = simulatePartitioned(model.graph, r.graph, { seed: 0 });
    assert.ok(sim.compared >= convs.length);
    assert.deepEqual(sim.mismatches, []);
  },
});
