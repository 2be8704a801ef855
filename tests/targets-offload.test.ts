/**
 * Offload rules and the partition: each refusal names the rule and the limit or type it hit (hand-built
 * graphs whose shapes exceed the designs' buffers, whose types the datapath lacks, grouped or non-constant
 * filters), the IR after partitioning reads as host preparation + AccelCall (before/after text), the
 * partitioned IR prints, parses back and runs, and the partition pass honours --offload/--strict.
 */
import assert from "node:assert/strict";
import type { Graph } from "../ir/graph.ts";
import type { DType } from "../ir/dtype.ts";
import { parseGraph, printGraph } from "../ir/text.ts";
import { assertValid } from "../ir/verify.ts";
import { LatheError } from "../ir/errors.ts";
import { modelOf } from "../ir/builder.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import { setIntegerArithmetic } from "../runtime/tflite/requantize.ts";
import { formatPlacements, partitionGraph, partitionResultOf } from "../targets/partition.ts";
import { getTarget } from "../targets/registry.ts";
import { simulatePartitioned } from "../targets/simulate.ts";
import { codes, q, TflGraph } from "./support/tfl-int8-graph.ts";
import "../passes/index.ts";

const SA = getTarget("secda-sa"), VM = getTarget("secda-vm");

/** FULLY_CONNECTED i8 [1, K] × [units, K]. */
function fc(K: number, units = 4): Graph {
  const t = new TflGraph();
  const x = t.input("x", q("i8", 0.05, 2), [1, K]);
  const w = t.constant("w", q("i8", 0.01), [units, K], codes(units * K, -127, 127));
  t.op("fc", "tfl.FULLY_CONNECTED", [x, w, null], {}, { dtype: q("i8", 0.2, -3), shape: [1, units] });
  return t.build(["fc"]);
}

/** CONV_2D with a given input type and filter channel count (grouped when it differs). */
function conv(opts: { xType?: any; filterC?: number; act?: string; constFilter?: boolean } = {}): Graph {
  const t = new TflGraph();
  const xType = opts.xType ?? q("i8", 0.05, 2);
  const x = t.input("x", xType, [1, 4, 4, 4]);
  const fc = opts.filterC ?? 4;
  const wq = q("i8", [0.01, 0.02], 0, 0);
  const w = opts.constFilter === false
    ? t.input("w", wq, [2, 3, 3, fc])
    : t.constant("w", wq, [2, 3, 3, fc], codes(18 * fc, -127, 127));
  const outType: DType = typeof xType === "string" ? xType as DType : q(xType.storage, 0.2, 1);
  t.op("conv", "tfl.CONV_2D", [x, w, null], {
    padding: "SAME",
    stride_h: 1,
    stride_w: 1,
    fused_activation_function: opts.act ?? "NONE",
  }, { dtype: outType, shape: [1, 4, 4, 2] });
  return t.build(["conv"]);
}

const reason = (g: Graph, target = SA) => {
  const r = partitionGraph(g, target);
  const p = r.placements[0];
  assert.equal(p.placement, "cpu", `expected a refusal, got ${p.placement}`);
  return p.reason!;
};

Deno.test("guards: depth beyond the input buffer is refused with the buffer's size and name", () => {
  // SA: 4 input rows of K/4 words must fit IN_BUF (4096 × 4 banks = 16384 words): K = 20000 needs 20000.
  assert.match(
    reason(fc(20000), SA),
    /fully-connected: depth 20000 \(5000 words a row\): 4 input rows need 20000 words, the input buffer holds 16384 \(IN_BUF_LEN 4096 ×4 banks\)/,
  );
  // VM's global input buffer holds 8192 × 4 = 32768 words, so the same layer fits ...
  assert.equal(partitionGraph(fc(20000), VM).placements[0].placement, "accel");
  // ... and at K = 40000 its 2 padded input rows (20000 words) still fit, but 4 weight rows (40000 words)
  // exceed the four units' weight buffers (4 × 2048 × 4 banks = 32768 words).
  assert.match(
    reason(fc(40000), VM),
    /4 weight rows need 40000 words, the weight buffer holds 32768 \(4 units × weights 2048 ×4 banks per unit\)/,
  );
});

Deno.test("guards: types, grouping, activation, constant filters and arithmetic each explain themselves", () => {
  assert.match(
    reason(conv({ xType: "f32" })),
    /conv2d: the input is f32; the datapath takes 8-bit affine codes \(i8, u8\)/,
  );
  assert.match(
    reason(conv({ xType: q("i16", 0.05, 0) })),
    /conv2d: the input is i16; the datapath takes i8, u8/,
  );
  assert.match(
    reason(conv({ filterC: 2 })),
    /grouped convolution \(input 4 channels, filter 2 per group\) is not one GEMM/,
  );
  assert.match(reason(conv({ act: "TANH" })), /fused activation TANH has no PPU clamp/);
  assert.match(reason(conv({ constFilter: false })), /conv2d: %w is not a constant/);
  const prev = setIntegerArithmetic("single-rounding");
  try {
    assert.match(
      reason(conv()),
      /the PPU computes TFLite's default double-rounding requantization; the runtime is set to single-rounding/,
    );
  } finally {
    setIntegerArithmetic(prev);
  }
  const t = new TflGraph();
  const x = t.input("x", q("i8", 0.05, 2), [1, 4, 4, 4]);
  const w = t.constant("w", q("i8", 0.01, 0, 3), [1, 3, 3, 4], codes(36, -127, 127));
  t.op("dw", "tfl.DEPTHWISE_CONV_2D", [x, w, null], {
    padding: "SAME",
    stride_h: 1,
    stride_w: 1,
    depth_multiplier: 1,
  }, { dtype: q("i8", 0.1, 0), shape: [1, 4, 4, 4] });
  assert.equal(reason(t.build(["dw"])), "no rule for op tfl.DEPTHWISE_CONV_2D on secda-sa");
});

/** A 3x3 SAME conv 3→4 (per-channel), then FULLY_CONNECTED 64→5, all int8. */
function small(): Graph {
  const t = new TflGraph();
  const x = t.input("x", q("i8", 0.05, -4), [1, 4, 4, 3]);
  const w = t.constant(
    "w1",
    q("i8", [0.01, 0.02, 0.015, 0.03], 0, 0),
    [4, 3, 3, 3],
    codes(108, -127, 127, 3),
  );
  const b = t.constant("b1", q("i32", [0.0005, 0.001, 0.00075, 0.0015], 0, 0), [4], [100, -200, 300, -400]);
  const c = t.op("conv", "tfl.CONV_2D", [x, w, b], {
    padding: "SAME",
    stride_h: 1,
    stride_w: 1,
    fused_activation_function: "RELU",
  }, { dtype: q("i8", 0.1, -128), shape: [1, 4, 4, 4] });
  const w2 = t.constant("w2", q("i8", 0.02), [5, 64], codes(320, -127, 127, 4));
  t.op("fc", "tfl.FULLY_CONNECTED", [c, w2, null], {}, { dtype: q("i8", 0.3, 5), shape: [1, 5] });
  return t.build(["fc"]);
}

const nodeLines = (g: Graph) =>
  printGraph(g, { meta: false }).split("\n").filter((l) => / = [a-z]/.test(l) && !l.includes("= const"));

Deno.test("partition: before/after IR of conv + FC on secda-vm", () => {
  const before = small();
  assert.deepEqual(nodeLines(before).map((l) => l.trim().replace(/ \{.*$/, "")), [
    "%conv: q.affine<i8,s=0.1,zp=-128>[1,4,4,4] = tfl.CONV_2D(%x, %w1, %b1)",
    "%fc: q.affine<i8,s=0.3,zp=5>[1,5] = tfl.FULLY_CONNECTED(%conv, %w2, _)",
  ]);
  const r = partitionGraph(before, VM);
  assertValid(r.graph);
  const xt = "q.affine<i8,s=0.05,zp=-4>", ct = "q.affine<i8,s=0.1,zp=-128>";
  // VM pads rows to 2, output channels to 4, depth to 16: the conv's K = 27 → 32, the FC's 1 row → 2.
  assert.deepEqual(nodeLines(r.graph).map((l) => l.trim().replace(/ @.*$/, "")), [
    `%conv/im2col: ${xt}[16,27] = lathe.Im2Col(%x) {kernel=[3, 3], strides=[1, 1], dilations=[1, 1], pads=[1, 1, 1, 1], fill=-4}`,
    `%conv/padto: ${xt}[16,32] = lathe.PadTo(%conv/im2col) {cols=27, row_multiple=2, col_multiple=16, value=0}`,
    `%conv/laneinterleave: u32[4,32] = lathe.LaneInterleave(%conv/padto) {lanes=4, cols=32}`,
    `%conv: ${ct}[1,4,4,4] = lathe.AccelCall(%conv/laneinterleave, %conv/weights.packed, %conv/bias.folded, %conv/requant.multiplier, %conv/requant.shift, _) {target="secda-vm", kernel="gemm", program="conv", out_type=type<${ct}[1,4,4,4]>, m=16, n=4, k=27, mp=16, np=4, kp=32, lanes=4, x_signed=1, w_signed=1, ppu="tflite", sums=0, zp_out=-128, act_min=-128, act_max=127}`,
    `%fc/padto: ${ct}[2,64] = lathe.PadTo(%conv) {cols=64, row_multiple=2, col_multiple=16, value=0}`,
    `%fc/laneinterleave: u32[4,16] = lathe.LaneInterleave(%fc/padto) {lanes=4, cols=64}`,
    `%fc: q.affine<i8,s=0.3,zp=5>[1,5] = lathe.AccelCall(%fc/laneinterleave, %fc/weights.packed, %fc/bias.folded, %fc/requant.multiplier, %fc/requant.shift, _) {target="secda-vm", kernel="gemm", program="fc", out_type=type<q.affine<i8,s=0.3,zp=5>[1,5]>, m=1, n=5, k=64, mp=2, np=8, kp=64, lanes=4, x_signed=1, w_signed=1, ppu="tflite", sums=0, zp_out=5, act_min=-128, act_max=127}`,
  ]);
  // Raw filters are gone; the packed ones are [lanes, rows/lane · words]: conv 4 rows of 8 words → [4, 8].
  assert.deepEqual(Object.keys(r.graph.constants).sort(), [
    "conv/bias.folded",
    "conv/requant.multiplier",
    "conv/requant.shift",
    "conv/weights.packed",
    "fc/bias.folded",
    "fc/requant.multiplier",
    "fc/requant.shift",
    "fc/weights.packed",
  ]);
  assert.deepEqual(r.graph.constants["conv/weights.packed"].shape, [4, 8]);
  assert.deepEqual(r.graph.constants["fc/weights.packed"].shape, [4, 32]);
  assert.match(formatPlacements(r), /accel conv \(tfl.CONV_2D\) by conv2d -> conv\/AccelCall/);
});

Deno.test("partition: the IR prints, parses back and runs bit-exact (programs rebuild from attributes)", () => {
  const g = small();
  const r = partitionGraph(g, SA);
  const text = printGraph(r.graph, { elideOver: 1 << 20 });
  const back = parseGraph(text);
  assertValid(back);
  assert.equal(printGraph(back, { elideOver: 1 << 20 }), text);
  const run = simulatePartitioned(g, back, { seed: 3 });
  assert.equal(run.compared, 2);
  assert.deepEqual(run.mismatches, []);
});

Deno.test("partition pass: pipeline options, --offload and --strict", async () => {
  const m = modelOf(small());
  const r = await runPipeline(m, "partition{target=secda-sa}");
  const res = partitionResultOf(r.model.graph)!;
  assert.equal(res.target, "secda-sa");
  assert.deepEqual(res.placements.map((p) => p.placement), ["accel", "accel"]);
  assert.equal(r.model.graph.nodes.filter((n) => n.op === "lathe.AccelCall").length, 2);
  // FC too deep for SA, asked for explicitly and strictly: the pass fails naming the node and reason.
  await assert.rejects(
    () => runPipeline(modelOf(fc(20000)), "partition{target=secda-sa,offload=FULLY_CONNECTED,strict=true}"),
    (e) =>
      e instanceof LatheError && /fc \(tfl.FULLY_CONNECTED\): fully-connected: depth 20000/.test(e.reason),
  );
  // Not asked for: no failure even when strict.
  await runPipeline(modelOf(fc(20000)), "partition{target=secda-sa,offload=CONV_2D,strict=true}");
});
