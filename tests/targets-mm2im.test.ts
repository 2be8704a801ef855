/**
 * MM2IM: the col2IM index map against a hand-derived case, a transposed convolution worked out by hand
 * through the map and TFLite's requantization, synthetic int8 TRANSPOSE_CONV layers (strides 1–3, SAME and
 * VALID, kernels 2–7, depths off the UF multiple, filters off the PE multiple, batches, rows no input
 * reaches) simulated bit for bit against the runtime's tfl.TRANSPOSE_CONV int8 kernel, guard refusals
 * naming SUP_KS / SUP_WGT_KS / SUP_DEPTH / PE_ACC_BUF_SIZE, a command stream and its cycles derived by hand
 * from the design's constants, and the corpus DCGAN generator int8-quantized and converted to TFLite (the
 * quantize command's path), with the ineffectual (cropped) MACs it avoids checked against a closed form.
 */
import assert from "node:assert/strict";
import { importOnnxFile } from "../compiler/onnx/import.ts";
import type { Graph } from "../ir/graph.ts";
import { assertValid } from "../ir/verify.ts";
import "../passes/index.ts";
import { onnxToTflite } from "../passes/convert/onnx-to-tflite.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import { seededBatches } from "../passes/quantize/calibrate.ts";
import { quantizeModelGraph } from "../passes/quantize/quantize-pass.ts";
import { Session } from "../runtime/interpreter.ts";
import { Rng } from "../runtime/random.ts";
import { Tensor } from "../runtime/tensor.ts";
import { PE_COUNT, STORE_TRAILER_WORDS, UF } from "../targets/mm2im/descriptor.ts";
import { runMm2imProgram } from "../targets/mm2im/functional.ts";
import { mm2imProgramOf } from "../targets/mm2im/program.ts";
import { LOAD_CON, LOAD_INP, LOAD_MAP, LOAD_WGT, SCHEDULE, STORE } from "../targets/mm2im/protocol.ts";
import { mm2imTiming } from "../targets/mm2im/timing.ts";
import { partitionGraph } from "../targets/partition.ts";
import { getTarget } from "../targets/registry.ts";
import { buildTargetReport } from "../targets/report.ts";
import { simulatePartitioned } from "../targets/simulate.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { q, TflGraph } from "./support/tfl-int8-graph.ts";

interface Layer {
  n?: number;
  ih: number;
  iw: number;
  c: number;
  o: number;
  kh: number;
  kw?: number;
  s: number;
  padding: "SAME" | "VALID";
  bias?: boolean;
  act?: string;
  xStorage?: "i8" | "u8";
  seed?: number;
  /** Explicit codes (default: seeded). */
  w?: number[];
  xScale?: number;
  xZero?: number;
  wScale?: number[];
  yScale?: number;
}

function tconv(l: Layer): Graph {
  const n = l.n ?? 1, kw = l.kw ?? l.kh;
  const oh = l.padding === "SAME" ? l.ih * l.s : (l.ih - 1) * l.s + l.kh;
  const ow = l.padding === "SAME" ? l.iw * l.s : (l.iw - 1) * l.s + kw;
  const rng = new Rng(l.seed ?? 1);
  const t = new TflGraph();
  const xs = l.xStorage ?? "i8";
  const xScale = l.xScale ?? 0.05, xZero = l.xZero ?? (xs === "i8" ? -3 : 125);
  const x = t.input("x", q(xs, xScale, xZero), [n, l.ih, l.iw, l.c]);
  const wScale = l.wScale ?? Array.from({ length: l.o }, () => Math.fround(0.01 + 0.02 * rng.next()));
  const wCodes = l.w ?? Array.from({ length: l.o * l.kh * kw * l.c }, () => rng.int(-127, 128));
  const w = t.constant("w", q(xs, wScale, 0, 0), [l.o, l.kh, kw, l.c], wCodes);
  const shape = t.constant("shape", "i32", [4], [n, oh, ow, l.o]);
  const b = l.bias
    ? t.constant(
      "b",
      q("i32", wScale.map((s) => s * xScale), 0, 0),
      [l.o],
      Array.from({ length: l.o }, () => rng.int(-5000, 5000)),
    )
    : null;
  const yScale = l.yScale ?? xScale * 0.02 * 40 * Math.sqrt(l.c * l.kh * kw);
  t.op("y", "tfl.TRANSPOSE_CONV", [shape, w, x, b], {
    padding: l.padding,
    stride_h: l.s,
    stride_w: l.s,
    fused_activation_function: l.act ?? "NONE",
  }, { dtype: q(xs, yScale, 2), shape: [n, oh, ow, l.o] });
  return t.build(["y"]);
}

function simulate(g: Graph, seed = 0, inputs?: Record<string, Tensor>) {
  const target = getTarget("mm2im");
  const part = partitionGraph(g, target);
  assertValid(part.graph);
  const run = simulatePartitioned(g, part.graph, { seed, inputs });
  return { part, run, target };
}

Deno.test("mm2im: the col2IM map of a 2x2 input, 3x3 kernel, stride 2, SAME", () => {
  // TFLite SAME for a 4x4 output: the forward convolution over 4 with kernel 3, stride 2 has 2 outputs and
  // pads 1 in all, 0 before and 1 after, so nothing is cropped at the top or left. Output (oy, ox) is
  // oy·4 + ox with oy = 2·iy + ky, ox = 2·ix + kx; 4 is beyond the last row or column.
  //   pixel (0,0): taps reach rows 0..2, cols 0..2
  //   pixel (0,1): cols 2, 3, 4 → the kx = 2 taps are cropped
  //   pixel (1,0): rows 2, 3, 4 → the ky = 2 taps are cropped
  //   pixel (1,1): both
  const want = [
    [0, 1, 2, 4, 5, 6, 8, 9, 10],
    [2, 3, -1, 6, 7, -1, 10, 11, -1],
    [8, 9, 10, 12, 13, 14, -1, -1, -1],
    [10, 11, -1, 14, 15, -1, -1, -1, -1],
  ];
  const g = tconv({ ih: 2, iw: 2, c: 1, o: 1, kh: 3, s: 2, padding: "SAME" });
  const { part } = simulate(g);
  const mapNode = part.graph.nodes.find((n) => n.op === "lathe.Col2ImMap")!;
  assert.deepEqual(mapNode.attrs.pads.value, [0, 0]);
  const mapValue = mapNode.outputs[0];
  const got = new Session({ ...part.graph, outputs: [mapValue] }).run({
    x: new Tensor(q("i8", 0.05, -3), [1, 2, 2, 1], new Int8Array(4)),
  }).outputs[mapValue] as Tensor;
  assert.deepEqual(got.shape, [4, 9]);
  assert.deepEqual(Array.from(got.data as Int32Array), want.flat());
});

Deno.test("mm2im: a transposed convolution by hand through the map and TFLite's requantization", () => {
  // x − zp = [1, 2, 3, 4] (codes 4..7, zp 3), all-ones 3x3 filter, stride 2 SAME. Each output sums the
  // pixels whose map rows (previous test) name it: o0 = 1, o2 = 1 + 2, o10 = 1 + 2 + 3 + 4, …
  // s_x·s_w/s_y = 1·1/2 = 0.5 = 2^30·2^−31: SRDHM rounds half away from zero, so 3 → 2, 7 → 4, 1 → 1.
  const acc = [1, 1, 3, 2, 1, 1, 3, 2, 4, 4, 10, 6, 3, 3, 7, 4];
  const want = [1, 1, 2, 1, 1, 1, 2, 1, 2, 2, 5, 3, 2, 2, 4, 2];
  assert.deepEqual(acc.map((v) => Math.sign(v) * Math.round(Math.abs(v) / 2 + 1e-9)), want);
  const g = tconv({
    ih: 2,
    iw: 2,
    c: 1,
    o: 1,
    kh: 3,
    s: 2,
    padding: "SAME",
    w: new Array(9).fill(1),
    xScale: 1,
    xZero: 3,
    wScale: [1],
    yScale: 2,
  });
  // Output zero point 2 (tconv's declared output type).
  const x = new Tensor(q("i8", 1, 3), [1, 2, 2, 1], Int8Array.from([4, 5, 6, 7]));
  const { part, run } = simulate(g, 0, { x });
  assert.equal(part.placements[0].placement, "accel");
  assert.ok(run.bitExact && run.compared === 1);
  assert.deepEqual(Array.from((run.outputs.y as Tensor).data as Int8Array), want.map((v) => v + 2));
});

const LAYERS: Layer[] = [
  { n: 2, ih: 5, iw: 4, c: 20, o: 11, kh: 3, s: 2, padding: "SAME", bias: true },
  { ih: 6, iw: 6, c: 16, o: 8, kh: 4, s: 2, padding: "SAME" },
  { ih: 3, iw: 4, c: 7, o: 3, kh: 5, s: 1, padding: "VALID", bias: true },
  // Stride 3 over a 2-tap kernel: every third output row and column gets no product, only the bias.
  { ih: 4, iw: 3, c: 33, o: 9, kh: 2, s: 3, padding: "VALID", bias: true },
  { ih: 4, iw: 4, c: 24, o: 5, kh: 3, s: 2, padding: "SAME" },
  { ih: 5, iw: 3, c: 17, o: 17, kh: 4, s: 1, padding: "SAME", bias: true },
  { ih: 2, iw: 2, c: 256, o: 2, kh: 7, s: 1, padding: "VALID" },
];

Deno.test("mm2im: synthetic int8 TRANSPOSE_CONV layers are bit-exact with the runtime's kernel", () => {
  for (const [i, l] of LAYERS.entries()) {
    const g = tconv({ ...l, seed: i + 1 });
    const { part, run } = simulate(g, i);
    assert.equal(part.placements[0].placement, "accel", `layer ${i}: ${part.placements[0].reason}`);
    assert.ok(run.bitExact && run.compared === 1, `layer ${i}: ${JSON.stringify(run.mismatches)}`);
    const out = (run.outputs.y as Tensor).data as Int8Array;
    const distinct = new Set(out).size;
    assert.ok(distinct > 8, `layer ${i}: outputs take ${distinct} values (not saturated)`);
  }
});

Deno.test("mm2im: guard refusals name the limit", () => {
  const reason = (l: Layer) => {
    const p = partitionGraph(tconv(l), getTarget("mm2im")).placements[0];
    assert.equal(p.placement, "cpu", JSON.stringify(l));
    return p.reason!;
  };
  const base = { ih: 2, iw: 2, c: 8, o: 2, kh: 3, s: 2, padding: "SAME" as const };
  assert.match(reason({ ...base, xStorage: "u8" }), /u8.*MM2IM takes int8/);
  assert.match(reason({ ...base, kw: 5 }), /kernel 3x5 is not square: LoadConfig carries one kernel size/);
  assert.match(reason({ ...base, kh: 17, s: 1 }), /kernel 17x17 exceeds SUP_KS 16/);
  assert.match(reason({ ...base, kh: 1, s: 1, c: 1040 }), /depth 1040 exceeds SUP_DEPTH 1024/);
  assert.match(
    reason({ ...base, kh: 6, s: 1, c: 1024 }),
    /6x6 kernel at depth 1024 needs 2304 weight-column rows.*holds 1600 \(SUP_WGT_KS 5² · SUP_DEPTH 1024 \/ UF\)/,
  );
  assert.match(
    reason({ ...base, ih: 64, iw: 64, c: 1, kh: 2 }),
    /128x128 output plane exceeds .*8192 \(PE_ACC_BUF_SIZE\)/,
  );
  assert.match(reason({ ...base, act: "RELU" }), /fused activation RELU/);
  // A 7x7 kernel is beyond SUP_WGT_KS but fits the weight-column buffer at depth 256 (49·16 = 784 rows).
  assert.equal(
    partitionGraph(tconv({ ...base, kh: 7, c: 256 }), getTarget("mm2im")).placements[0].placement,
    "accel",
  );
});

Deno.test("mm2im: the command stream and cycles of the hand layer, from the design's constants", () => {
  const g = tconv({ ih: 2, iw: 2, c: 1, o: 1, kh: 3, s: 2, padding: "SAME" });
  const part = partitionGraph(g, getTarget("mm2im"));
  const call = part.graph.nodes.find((n) => n.op === "lathe.AccelCall")!;
  const p = mm2imProgramOf(call);
  // Output rows need pixels up to 1, 1, 3, 3 (rows 0–1 from the first input row, 2–3 from both).
  assert.deepEqual(p.cmds.map((c) => c.opcode), [
    LOAD_CON,
    LOAD_WGT,
    SCHEDULE,
    LOAD_INP | LOAD_MAP | SCHEDULE,
    STORE | SCHEDULE,
    STORE | SCHEDULE,
    LOAD_INP | LOAD_MAP | SCHEDULE,
    STORE | SCHEDULE,
    STORE,
  ]);
  // LoadConfig: depth/UF, ow, ks², ih·iw, zero point, oh, ow, ks, strides, pads, iw: 14 words with the opcode.
  assert.deepEqual(p.cmds[0].header, [1, 4, 9, 4, 2, 4, 4, 3, 2, 2, 0, 0, 2]);
  // LoadWeight: 9 rows of 16 codes (4 words) + a sum word, bias, crf, one word of crx: 52 words.
  assert.deepEqual(p.cmds[1].header, [9, 1, 1]);
  assert.deepEqual(p.cmds[3].header, [2, 1, 0, 0, 2]);
  assert.equal(p.cmds[4].recvWords, 4 * 1 + PE_COUNT + 1);
  const t = mm2imTiming(p);
  // Transfers: 100 + words. Config: LoadConfig 14 → 114, StartSchedule 1 → 101. Weights 1 + 3 + 48 → 152.
  // Inputs: 1 + 5 header words + 2 pixels × 4 words + 2 map rows × 9 = 32 → 132, twice.
  // Compute per pixel: 19 + 2P + D·(P + 13) with D = 16/UF = 1 and P = 9, 6, 6, 4 kept taps: 59 + 50 + 50 + 44.
  // Store: 4 rows × (8 + 100 + 4·1 + 9 words).
  assert.equal(UF, 16);
  assert.equal(STORE_TRAILER_WORDS, 9);
  assert.deepEqual(t.phases, { config: 215, weights: 152, inputs: 264, compute: 203, store: 484 });
  assert.equal(t.cycles, 1318);
  assert.equal(t.seconds, 1318 / 200e6);
  // MACs: 25 kept taps × depth 1 × 1 filter; IOM would compute all 36.
  assert.equal(t.macs, 25);
  assert.equal(t.issuedMacs, 25 * 16);
  assert.deepEqual([p.dims.macsAll, p.dims.macsEffective, p.dims.macsAvoided], [36, 25, 11]);
});

Deno.test("mm2im: the functional model refuses streams it cannot run", () => {
  const g = tconv({ ih: 2, iw: 2, c: 1, o: 1, kh: 3, s: 2, padding: "SAME" });
  const part = partitionGraph(g, getTarget("mm2im"));
  const call = part.graph.nodes.find((n) => n.op === "lathe.AccelCall")!;
  const p = mm2imProgramOf(call);
  const operands = [
    new Tensor("u32", [1, 16], new Uint32Array(16)),
    new Tensor("i32", [4, 9], new Int32Array(36).fill(-1)),
    new Tensor("u32", [9, 5], new Uint32Array(45)),
    new Tensor("i32", [1], new Int32Array(1)),
    new Tensor("i32", [1], new Int32Array([1 << 30])),
    new Tensor("u32", [1], new Uint32Array(1)),
  ];
  const out = new Tensor(q("i8", 1, 0), [1, 4, 4, 1], new Int8Array(16));
  runMm2imProgram(p, operands, out);
  // Inputs before StartSchedule.
  const noSchedule = { ...p, cmds: p.cmds.filter((c) => c.opcode !== SCHEDULE) };
  assert.throws(() => runMm2imProgram(noSchedule, operands, out), /inputs outside a schedule/);
  // A map entry beyond the output plane.
  const bad = [...operands];
  bad[1] = new Tensor("i32", [4, 9], new Int32Array(36).fill(16));
  assert.throws(() => runMm2imProgram(p, bad, out), /map entry 16 is outside the 4x4 output/);
});

Deno.test({
  name: "mm2im: the corpus DCGAN generator, converted to TFLite and int8-quantized, is bit-exact",
  ignore: noCorpus(),
  sanitizeResources: false,
  fn: async () => {
    // The quantize command's path to a .tflite (compiler/quantize.ts): cleanup, int8 QDQ with TFLite's
    // parameter choices, then the ONNX → TFLite conversion that folds the Q/DQ pairs into int8 ops.
    let onnx = await importOnnxFile(corpusPath("onnx/torch/dcgan_generator.onnx"));
    onnx = (await runPipeline(onnx, "canonicalize,fold-batchnorm")).model;
    const qdq = quantizeModelGraph(onnx, {
      scheme: "int8",
      tflite: true,
      activations: "i8",
      batches: seededBatches(onnx.graph, 0, 8),
    });
    const g = onnxToTflite(qdq.model, { layout: "nhwc" }).model.graph;
    assertValid(g);
    const { part, run, target } = simulate(g, 3);
    const calls = part.placements.filter((p) => p.op === "tfl.TRANSPOSE_CONV");
    assert.equal(calls.length, 4);
    assert.ok(calls.every((p) => p.placement === "accel"), JSON.stringify(calls.map((p) => p.reason)));
    assert.ok(run.bitExact && run.compared === g.nodes.length, JSON.stringify(run.mismatches));
    const rep = buildTargetReport("dcgan_generator", g, part, target, { run, seed: 3 });
    let avoided = 0, all = 0;
    for (const n of rep.nodes.filter((n) => n.placement === "accel")) {
      const d = n.program!;
      // SAME, kernel 4, stride 2 from n×n to 2n×2n pads 1 on each side: along an axis the first pixel's
      // tap 0 and the last pixel's tap 3 fall outside, 4n − 2 of 4n positions are kept. VALID from 1×1
      // crops nothing.
      const kept = d.sh === 2 ? ((4 * d.ih - 2) / (4 * d.ih)) ** 2 : 1;
      assert.equal(d.macsEffective, d.macsAll * kept, n.node);
      assert.equal(d.macsAvoided, d.macsAll - d.macsEffective);
      avoided += d.macsAvoided;
      all += d.macsAll;
      console.log(
        `  ${n.node}: ${d.ih}x${d.iw}x${d.depth} -> ${d.oh}x${d.ow}x${d.filters}, ${n.cycles} cycles, util ${
          (100 * n.utilization).toFixed(1)
        }%, ${d.macsAvoided} of ${d.macsAll} MACs avoided, speedup ${n.speedup.toFixed(2)}x`,
      );
    }
    assert.equal(avoided, 122880 + 63488 + 12096);
    console.log(
      `  dcgan_generator on mm2im: bit-exact over ${run.compared} values, ${avoided} of ${all} MACs (${
        (100 * avoided / all).toFixed(1)
      }%) avoided, ${rep.totals.cycles} cycles, speedup ${rep.totals.speedup.toFixed(2)}x over CPU-only`,
    );
  },
});

Deno.test({
  name: "mm2im: DCGAN-64-sized generator layers (4x4x512 up to 64x64x3) are bit-exact; their speedups",
  sanitizeResources: false,
  fn: () => {
    const layers: Layer[] = [
      { ih: 4, iw: 4, c: 512, o: 256, kh: 4, s: 2, padding: "SAME" },
      { ih: 8, iw: 8, c: 256, o: 128, kh: 4, s: 2, padding: "SAME" },
      { ih: 16, iw: 16, c: 128, o: 64, kh: 4, s: 2, padding: "SAME" },
      { ih: 32, iw: 32, c: 64, o: 3, kh: 4, s: 2, padding: "SAME" },
    ];
    for (const [i, l] of layers.entries()) {
      const g = tconv({ ...l, seed: 40 + i, bias: true });
      const { part, run, target } = simulate(g, i);
      assert.ok(run.bitExact && run.compared === 1, `layer ${i}: ${JSON.stringify(run.mismatches)}`);
      const rep = buildTargetReport("dcgan64", g, part, target, { run, seed: i });
      const n = rep.nodes[0], d = n.program!;
      assert.equal(d.macsEffective, d.macsAll * ((4 * l.ih - 2) / (4 * l.ih)) ** 2);
      console.log(
        `  ${l.ih}x${l.iw}x${l.c} -> ${d.oh}x${d.ow}x${l.o}: ${n.cycles} cycles, util ${
          (100 * n.utilization).toFixed(1)
        }%, ${d.macsAvoided} of ${d.macsAll} MACs avoided, speedup ${n.speedup.toFixed(2)}x over CPU-only`,
      );
    }
  },
});
