/**
 * The bfp target (SECDA-LLM BFP MatMul as F-BFQ runs it) on synthetic graphs: every K-quant variant
 * (weights quantized by ggml's reference quantizers) offloaded and bit-exact with the reference runtime's
 * vec_dot, multi-tile calls with uneven lane splits, per-call variant switching, DimCheck refusals with
 * their reasons, the wire sizes and headers the SECDA-LLM driver sends, a call's cycles worked out by
 * hand from the timing model's rules, and command streams the functional model must refuse.
 */
import assert from "node:assert/strict";
import { GraphBuilder } from "../ir/builder.ts";
import { LatheError } from "../ir/errors.ts";
import type { Graph } from "../ir/graph.ts";
import { resolveAttrs } from "../ir/op-registry.ts";
import "../ir/ops/index.ts";
import { quantize } from "../runtime/ggml/quantize.ts";
import { Rng } from "../runtime/random.ts";
import { Tensor } from "../runtime/tensor.ts";
import { SUP_KMB, SUP_KNB } from "../targets/bfp/descriptor.ts";
import { runBfpProgram } from "../targets/bfp/functional.ts";
import { bfpProgram, bfpProgramOf, dimCheck } from "../targets/bfp/program.ts";
import { BFP_OPCODES, blockWords, COMPUTE, CONFIG, LOAD_INP, LOAD_WGT } from "../targets/bfp/protocol.ts";
import { bfpTiming } from "../targets/bfp/timing.ts";
import { variantSummary } from "../targets/bfp/variants.ts";
import { partitionGraph } from "../targets/partition.ts";
import { getTarget } from "../targets/registry.ts";
import { buildTargetReport } from "../targets/report.ts";
import { simulatePartitioned } from "../targets/simulate.ts";
import type { Program } from "../targets/target.ts";

const TYPE = { Q4_0: 2, Q2_K: 10, Q3_K: 11, Q4_K: 12, Q5_K: 13, Q6_K: 14 } as const;

function randomF32(n: number, seed: number, scale = 1): Float32Array {
  const r = new Rng(seed), out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r.normal() * scale;
  return out;
}

function weights(b: GraphBuilder, name: string, typeId: number, m: number, k: number, seed: number): string {
  const bytes = quantize(typeId, randomF32(m * k, seed, 0.05));
  return b.constant(name, { dtype: { kind: "ggml", typeId }, shape: [m, k], bytes });
}

/**
 * Parallel MatMuls in the order Q2_K, Q3_K, Q4_K, (Q4_0, refused), Q5_K over 3 tiles, Q6_K over 2 uneven
 * tiles, Q6_K again, Q2_K again: offloaded variants 2,3,4,5,6,6,2.
 */
function mixedGraph(): Graph {
  const b = new GraphBuilder("bfp-mixed");
  const x1 = b.input("x1", "f32", [3, 768]);
  const x2 = b.input("x2", "f32", [2, 2048]);
  const mm = (id: string, x: string, w: string, actQuant = "ref") =>
    b.op("lathe.GgmlMatMul", [x, w], { act_quant: actQuant }, [id], id)[0];
  const outs = [
    mm("q2", x1, weights(b, "w.q2", TYPE.Q2_K, 40, 768, 1)),
    mm("q3", x1, weights(b, "w.q3", TYPE.Q3_K, 37, 768, 2), "x86"),
    mm("q4", x1, weights(b, "w.q4", TYPE.Q4_K, 64, 768, 3)),
    mm("q40", x1, weights(b, "w.q40", TYPE.Q4_0, 8, 768, 4)),
    mm("q5", x2, weights(b, "w.q5", TYPE.Q5_K, 300, 2048, 5)),
    mm("q6", x1, weights(b, "w.q6", TYPE.Q6_K, 350, 768, 6)),
    mm("q6b", x2, weights(b, "w.q6b", TYPE.Q6_K, 16, 2048, 7)),
    mm("q2b", x1, weights(b, "w.q2b", TYPE.Q2_K, 5, 768, 8)),
  ];
  return b.build(outs);
}

function mixedInputs(): Record<string, Tensor> {
  // Rows of different magnitudes so the Q8_K scales differ per super-block.
  const x1 = randomF32(3 * 768, 11), x2 = randomF32(2 * 2048, 12);
  for (let i = 0; i < x1.length; i++) x1[i] *= 1 + (i >> 8);
  for (let i = 0; i < x2.length; i++) x2[i] *= 0.25 + (i >> 9);
  return { x1: new Tensor("f32", [3, 768], x1), x2: new Tensor("f32", [2, 2048], x2) };
}

Deno.test("bfp: wire sizes and opcodes are SECDA-LLM's (acc_config.sc.h)", () => {
  // 292 B → 73 words; 84 → 21; 110 → 27.5 → 28; 144 → 36; 176 → 44; 210 → 52.5 → 53.
  assert.deepEqual([15, 10, 11, 12, 13, 14].map(blockWords), [73, 21, 28, 36, 44, 53]);
  assert.deepEqual(BFP_OPCODES, { LOAD_INP: 0x1, LOAD_WGT: 0x2, COMPUTE: 0x4, STORE: 0x8, CONFIG: 0x10 });
  assert.equal(SUP_KMB, 1024);
  assert.equal(SUP_KNB, 512);
});

Deno.test("bfp: DimCheck accepts up to SUP_KNB activation super-blocks and needs 2 weight rows a tile", () => {
  assert.equal(dimCheck(4, 512, 256), true);
  assert.match(String(dimCheck(4, 513, 256)), /513 super-blocks; the input buffer holds SUP_KNB 512/);
  assert.match(String(dimCheck(4, 257, 512)), /257 activation rows × 2 super-blocks = 514/);
  assert.equal(dimCheck(4, 1, 256 * 512), true); // 1024 / 512 = 2 rows fit
  assert.match(
    String(dimCheck(4, 1, 256 * 513)),
    /room for 1 row\(s\) in SUP_KMB 1024; a tile needs at least 2/,
  );
  assert.match(String(dimCheck(4, 1, 300)), /not a whole number of 256-element super-blocks/);
});

Deno.test("bfp: every K-quant variant offloads bit-exactly, the Q4_0 MatMul stays on the CPU with its reason", () => {
  const g = mixedGraph();
  const part = partitionGraph(g, getTarget("bfp"));
  const accel = part.placements.filter((p) => p.placement === "accel").map((p) => p.node);
  assert.deepEqual(accel, ["q2", "q3", "q4", "q5", "q6", "q6b", "q2b"]);
  const q40 = part.placements.find((p) => p.node === "q40")!;
  assert.equal(q40.placement, "cpu");
  assert.match(q40.reason!, /W is q\.ggml<Q4_0>; the BFP unit takes K-quant weights Q2_K\.\.Q6_K/);
  // Each offloaded MatMul became host Q8_K quantization + one call.
  const quant = part.graph.nodes.filter((n) => n.op === "lathe.GgmlQuantize");
  assert.equal(quant.length, 7);
  assert.ok(quant.every((n) => n.attrs.type.value === "Q8_K"));
  const run = simulatePartitioned(g, part.graph, { inputs: mixedInputs() });
  assert.equal(run.compared, 8);
  assert.deepEqual(run.mismatches, []);
  assert.ok(run.bitExact);
  const q5 = run.outputs["q5"] as Tensor;
  assert.ok((q5.data as Float32Array).some((v) => v !== 0));
});

Deno.test("bfp: variants switch per call; refused MatMuls do not count", () => {
  const g = mixedGraph();
  const target = getTarget("bfp");
  const part = partitionGraph(g, target);
  const calls = part.graph.nodes.filter((n) => n.op === "lathe.AccelCall");
  const seq = calls.map((c) => [resolveAttrs(c).wgt_type, resolveAttrs(c).prev_wgt_type]);
  // Offloaded order Q2 Q3 Q4 Q5 Q6 Q6 Q2; the Q4_0 between Q4_K and Q5_K is skipped.
  assert.deepEqual(seq, [[2, 0], [3, 2], [4, 3], [5, 4], [6, 5], [6, 6], [2, 6]]);
  const r = buildTargetReport("bfp-mixed", g, part, target);
  const s = variantSummary(r);
  assert.equal(s.switches, 5);
  assert.deepEqual(s.byVariant, { Q2_K: 2, Q3_K: 1, Q4_K: 1, Q5_K: 1, Q6_K: 2 });
  assert.deepEqual(s.calls.map((c) => c.switched), [false, true, true, true, true, false, true]);
});

Deno.test("bfp: M-tiles, uneven lane splits and the preloaded weight region follow the driver", () => {
  const g = mixedGraph();
  const part = partitionGraph(g, getTarget("bfp"));
  const call = (id: string) => part.graph.nodes.find((n) => n.id === `${id}/AccelCall`)!;
  // Q5_K, K 2048: kb 8, 1024 / 8 = 128 rows a tile: tiles of 128, 128, 44 rows.
  const p5 = bfpProgramOf(call("q5"));
  assert.equal(p5.dims.tile_m, 128);
  assert.equal(p5.dims.m_tiles, 3);
  assert.deepEqual(p5.cmds[0].header, [8, 300, 2, 5, 16]); // kb, M, N, wgt_type, kb·N
  assert.equal(p5.cmds[0].opcode, CONFIG | LOAD_INP);
  assert.equal(p5.cmds[0].payload[0].words, 16 * 73);
  const wgt = p5.cmds.filter((c) => c.opcode === LOAD_WGT);
  // 128·8 = 1024 blocks: 256 a lane × 44 words; the last tile 44·8 = 352 blocks: 88 a lane.
  assert.deepEqual(wgt.map((c) => c.header), [
    [1024, 44, 11264, 11264, 11264, 11264],
    [1024, 44, 11264, 11264, 11264, 11264],
    [352, 44, 3872, 3872, 3872, 3872],
  ]);
  const computes = p5.cmds.filter((c) => c.opcode === COMPUTE);
  assert.deepEqual(computes.map((c) => [c.header, c.recvWords]), [
    [[1024, 16, 128, 2], 256],
    [[1024, 16, 128, 2], 256],
    [[352, 16, 44, 2], 88],
  ]);
  // Q6_K, K 768: kb 3, 341 rows a tile: 341 and 9 rows; 9·3 = 27 blocks deal 7, 7, 7, 6 over the lanes.
  const p6 = bfpProgramOf(call("q6"));
  assert.deepEqual(p6.cmds.filter((c) => c.opcode === LOAD_WGT).map((c) => c.header), [
    [1023, 53, 256 * 53, 256 * 53, 256 * 53, 255 * 53],
    [27, 53, 7 * 53, 7 * 53, 7 * 53, 6 * 53],
  ]);
  // The region: lane l holds tile t's blocks l, l+4, … back to back, each padded to 53 words (212 B).
  const region = part.graph.constants[call("q6").inputs[1]!];
  const laneWords = region.shape[1];
  const packed = region.bytes!;
  const src = g.constants["w.q6"].bytes!;
  const tile1Start = [256 * 53, 256 * 53, 256 * 53, 255 * 53];
  for (let i = 0; i < 27; i++) {
    const l = i % 4, at = (l * laneWords + tile1Start[l] + Math.floor(i / 4) * 53) * 4;
    const block = 341 * 3 + i;
    assert.deepEqual(
      packed.subarray(at, at + 210),
      src.subarray(block * 210, block * 210 + 210),
      `block ${i}`,
    );
    assert.deepEqual([...packed.subarray(at + 210, at + 212)], [0, 0]);
  }
});

Deno.test("bfp: a call's cycles by phase, worked out by hand from the timing rules", () => {
  // M 8, N 2, K 256, Q4_K (36 words a block), 4 lanes, DMA setup 100 cycles, 4 bytes a lane a cycle.
  const p = bfpProgram({ m: 8, n: 2, k: 256, wgt_type: 4, prev_wgt_type: 0, lanes: 4 }, "hand");
  const t = bfpTiming(p);
  // Activation packet: opcode + 4 CONFIG + 1 LOAD_INP words + 2·73 = 152 words; CONFIG 5 beats,
  // inputs 100 + 147. Weights: 8 blocks, 2 a lane (72 words); lane 0 = 100 + (1 + 6 + 72) + the
  // 5-word COMPUTE packet behind it = 184, lanes 1..3 = 172. Compute: 4 + 2·8·(16 + 20) = 580.
  // Store: 16 results stream behind the compute, 1 cycle sticks out.
  assert.deepEqual(t.phases, { config: 5, inputs: 247, weights: 184, compute: 580, store: 1 });
  assert.equal(t.cycles, 1017);
  assert.equal(t.seconds, 1017 / 250e6);
  assert.equal(t.macs, 8 * 2 * 256);
  assert.equal(t.utilization, 4096 / (1017 * 16));
  // Words on the wire: 152 + 79 + 3·72 + 5 out, 16 back.
  assert.equal(t.dramBytes, (152 + 79 + 216 + 5 + 16) * 4);
  assert.equal(t.packets, 6);
});

function streamOperands(p: Program): { ops: Tensor[]; out: Tensor } {
  const q8 = new Tensor(
    { kind: "ggml", typeId: 15 },
    [p.dims.n, p.dims.k],
    quantize(15, randomF32(p.dims.n * p.dims.k, 3)),
  );
  const words = p.operands[1].shape[0] * p.operands[1].shape[1];
  const w = new Tensor("u32", p.operands[1].shape, new Uint32Array(words));
  return {
    ops: [q8, w],
    out: new Tensor("f32", [p.dims.n, p.dims.m], new Float32Array(p.dims.n * p.dims.m)),
  };
}

function refuses(p: Program, pattern: RegExp) {
  const { ops, out } = streamOperands(p);
  assert.throws(() => runBfpProgram(p, ops, out), (e) => e instanceof LatheError && pattern.test(e.message));
}

Deno.test("bfp: the functional model refuses streams a driver could get wrong", () => {
  const p = bfpProgram({ m: 8, n: 2, k: 256, wgt_type: 4, prev_wgt_type: 0, lanes: 4 }, "bad");
  {
    const { ops, out } = streamOperands(p);
    runBfpProgram(p, ops, out); // the stream as built runs
  }
  // A lane's weight words never arrive.
  refuses(
    { ...p, cmds: p.cmds.filter((c) => !(c.opcode === 0 && c.lane === 2)) },
    /lane 2 delivered 0 of 72 words/,
  );
  // CONFIG names Q3_K while the blocks are Q4_K's 36 words.
  const cfg = { ...p.cmds[0], header: [1, 8, 2, 3, 2] };
  refuses({ ...p, cmds: [cfg, ...p.cmds.slice(1)] }, /blocks of 36 words; wgt_type 3 blocks are 28/);
  // More activation super-blocks than SUP_KNB.
  const big = { ...p.cmds[0], header: [1, 8, 2, 4, 513] };
  refuses({ ...p, cmds: [big, ...p.cmds.slice(1)] }, /513 super-blocks overflows SUP_KNB 512/);
  // COMPUTE before any weights.
  refuses({ ...p, cmds: [p.cmds[0], p.cmds[p.cmds.length - 1]] }, /COMPUTE without weights/);
  // A stream that stops before the last tile.
  refuses({ ...p, cmds: [p.cmds[0]] }, /computed 0 of 8 weight rows/);
});
