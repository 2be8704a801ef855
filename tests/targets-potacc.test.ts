/**
 * PoTAcc: the shift PE's products for every method, code and int8 activation against magnitudes derived by
 * hand from accelerators.md §4.1 (and the register widths of §1.5); guard refusals and their reasons;
 * partitioned graphs simulated bit for bit against the reference runtime's lathe.ShiftConv /
 * lathe.ShiftMatMul on PoT-quantized CNNs (the embedded default CNN; torchvision's mobilenet_v2 from the
 * corpus) for QKeras, APoT and MSQ on both boards; command streams and cycles derived by hand from the
 * design's constants; the host ops RecenterU8 and DequantizeAcc on hand values.
 */
import assert from "node:assert/strict";
import { defaultModel } from "../compiler/default-model.ts";
import { importOnnxFile } from "../compiler/onnx/import.ts";
import { GraphBuilder, numbersConstant } from "../ir/builder.ts";
import type { PotQuant } from "../ir/dtype.ts";
import type { Graph, Model } from "../ir/graph.ts";
import { assertValid } from "../ir/verify.ts";
import "../passes/index.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import { codeMultipliers, type PotMethod, potTable, termsAttr } from "../passes/quantize/pot-tables.ts";
import { quantizeModelGraph } from "../passes/quantize/quantize-pass.ts";
import { Session } from "../runtime/interpreter.ts";
import { shiftProduct } from "../runtime/kernels/quant-compute.ts";
import { Rng } from "../runtime/random.ts";
import { Tensor } from "../runtime/tensor.ts";
import { partitionGraph } from "../targets/partition.ts";
import { POTACC_BOARDS, SHIFT_PES } from "../targets/potacc/descriptor.ts";
import { runPotProgram } from "../targets/potacc/functional.ts";
import { type PotaccDesign, potProgram } from "../targets/potacc/program.ts";
import { peProduct, wrapBits } from "../targets/potacc/shift-pe.ts";
import { potTiming, shiftAddMacPJ } from "../targets/potacc/timing.ts";
import { getTarget } from "../targets/registry.ts";
import { buildTargetReport } from "../targets/report.ts";
import { simulatePartitioned } from "../targets/simulate.ts";
import { COMPUTE, CONFIG, LOAD_INP, LOAD_WGT } from "../targets/secda/protocol.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";

const METHODS: readonly PotMethod[] = ["pot", "apot", "msq"];
const TARGETS = ["potacc", "potacc:kria"] as const;

/**
 * v12 magnitudes of the 3-bit code b2 b1 b0 (accelerators.md §4.1):
 *  QKeras x << b; MSQ term 1 ×1, ×2, ×4, 0 for b[2:1] = 0..3 plus ×4 if b0; APoT term 1 ×1, 0, ×4, ×8
 *  plus ×2 if b0.
 */
const HAND: Record<PotMethod, number[]> = {
  pot: [1, 2, 4, 8, 16, 32, 64, 128],
  msq: [1, 5, 2, 6, 4, 8, 0, 4],
  apot: [1, 3, 0, 2, 4, 6, 8, 10],
};
/** The largest term of each method and the widths it must fit (PROD_DATA_WIDTH and the term registers). */
const WIDTHS: Record<PotMethod, { product: number; maxTerm: number; term: number }> = {
  pot: { product: 15, maxTerm: 128, term: 15 },
  msq: { product: 11, maxTerm: 4, term: 10 },
  apot: { product: 12, maxTerm: 8, term: 11 },
};

Deno.test("potacc: the shift PE's product of every code and int8 activation is the hand-derived ±x·magnitude", () => {
  let checked = 0;
  for (const method of METHODS) {
    const terms = termsAttr(potTable(method, "potacc-v12"));
    const w = WIDTHS[method];
    assert.equal(SHIFT_PES[method].productBits, w.product);
    // −128 times the largest magnitude must fit the product width: the widths lose nothing on int8 inputs.
    const maxMag = Math.max(...HAND[method]);
    assert.ok(128 * maxMag <= 2 ** (w.product - 1), `${method}: ${128 * maxMag} fits ${w.product} bits`);
    assert.ok(128 * w.maxTerm <= 2 ** (w.term - 1), `${method}: a term fits ${w.term} bits`);
    for (let code = 0; code < 16; code++) {
      const want = (code & 8 ? -1 : 1) * HAND[method][code & 7];
      for (let x = -128; x <= 127; x++) {
        const got = peProduct(method, x, code);
        if (got !== x * want || got !== shiftProduct(x, code, terms)) {
          assert.fail(
            `${method} code ${code} x ${x}: PE ${got}, hand ${x * want}, runtime ${
              shiftProduct(x, code, terms)
            }`,
          );
        }
        checked++;
      }
    }
  }
  // Register wrap as two's complement: 2^14 in 15 bits is −2^14.
  assert.equal(wrapBits(16384, 15), -16384);
  assert.equal(wrapBits(-16384, 15), -16384);
  assert.equal(checked, 3 * 16 * 256);
});

function potConst(codes: Uint8Array, shape: number[], method: PotMethod, scale: number[]) {
  const packed = new Uint8Array(Math.ceil(codes.length / 2));
  for (let i = 0; i < codes.length; i++) packed[i >> 1] |= codes[i] << ((i & 1) * 4);
  const table = codeMultipliers(potTable(method, "potacc-v12"));
  const dtype: PotQuant = { kind: "pot", method, bits: 4, table, scale, axis: 0 };
  return { dtype, shape, bytes: packed };
}

/** A ShiftMatMul of m rows of u8 codes, K deep, N outputs, with random codes and f32 bias. */
function matmulGraph(
  m: number,
  k: number,
  n: number,
  method: PotMethod,
  seed = 3,
  act: "u8" | "i8" = "u8",
): Graph {
  const rng = new Rng(seed);
  const b = new GraphBuilder("smm");
  b.input("a", act, [m, k]);
  const codes = new Uint8Array(n * k).map(() => rng.int(0, 16));
  b.constant(
    "w",
    potConst(codes, [n, k], method, Array.from({ length: n }, () => Math.fround(0.001 + rng.next() * 0.01))),
  );
  b.constant("sa", numbersConstant("f32", [], [0.02]));
  b.constant("za", numbersConstant(act, [], [act === "u8" ? 121 : -9]));
  b.constant("bias", numbersConstant("f32", [n], Array.from({ length: n }, () => rng.uniform(-1, 1))));
  const y = b.op1("lathe.ShiftMatMul", ["a", "sa", "za", "w", "bias"], {
    terms: termsAttr(potTable(method, "potacc-v12")),
  }, "y");
  return b.build([y]);
}

function runBitExact(g: Graph, spec: string, seed = 0) {
  const target = getTarget(spec);
  const part = partitionGraph(g, target);
  assertValid(part.graph);
  const run = simulatePartitioned(g, part.graph, { seed });
  return { part, run, target };
}

Deno.test("potacc: ShiftMatMul with u8 and i8 activations, K not a multiple of 16, bit-exact on every method and board", () => {
  for (const method of METHODS) {
    for (const act of ["u8", "i8"] as const) {
      const g = matmulGraph(7, 37, 10, method, 5, act);
      for (const spec of TARGETS) {
        const { part, run } = runBitExact(g, spec, 2);
        assert.equal(
          part.placements.find((p) => p.op === "lathe.ShiftMatMul")?.placement,
          "accel",
          `${method} ${act} ${spec}`,
        );
        assert.ok(
          run.bitExact && run.compared > 0,
          `${method} ${act} ${spec}: ${JSON.stringify(run.mismatches)}`,
        );
        const ops = part.graph.nodes.map((n) => n.op);
        assert.equal(ops.includes("lathe.RecenterU8"), act === "u8");
      }
    }
  }
});

Deno.test("potacc: ShiftConv geometry (strides, asymmetric pads, dilation, SAME_UPPER, pointwise) is bit-exact", () => {
  const cases: Record<string, number[] | string | number>[] = [
    { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 0, 2, 1] },
    { kernel_shape: [3, 3], dilations: [2, 2], pads: [2, 2, 2, 2] },
    { kernel_shape: [3, 2], strides: [2, 1], auto_pad: "SAME_UPPER" },
    { kernel_shape: [1, 1] },
    { kernel_shape: [1, 1], strides: [2, 2] },
  ];
  const rng = new Rng(17);
  for (const [i, at] of cases.entries()) {
    const method = METHODS[i % 3];
    const [kh, kw] = at.kernel_shape as number[];
    const C = 5, M = 6;
    const b = new GraphBuilder("sconv");
    b.input("x", "u8", [2, C, 9, 7]);
    const codes = new Uint8Array(M * C * kh * kw).map(() => rng.int(0, 16));
    b.constant(
      "w",
      potConst(codes, [M, C, kh, kw], method, Array.from({ length: M }, () => 0.003 + 0.001 * rng.next())),
    );
    b.constant("s", numbersConstant("f32", [], [0.04]));
    b.constant("z", numbersConstant("u8", [], [131]));
    b.constant("bias", numbersConstant("f32", [M], Array.from({ length: M }, () => rng.uniform(-0.5, 0.5))));
    b.op1("lathe.ShiftConv", ["x", "s", "z", "w", "bias"], {
      terms: termsAttr(potTable(method, "potacc-v12")),
      ...at,
    }, "y");
    const g = b.build(["y"]);
    for (const spec of TARGETS) {
      const { part, run } = runBitExact(g, spec, i);
      assert.equal(part.placements[0].placement, "accel", `case ${i}: ${part.placements[0].reason}`);
      assert.ok(run.bitExact && run.compared === 1, `case ${i} ${spec}: ${JSON.stringify(run.mismatches)}`);
      const im2col = part.graph.nodes.some((n) => n.op === "lathe.Im2Col");
      assert.equal(im2col, i !== 3, `case ${i}: a 1x1 stride-1 unpadded window needs no im2col`);
    }
  }
});

function quantized(model: Model, method: PotMethod, table?: string): Graph {
  const q = quantizeModelGraph(model, { scheme: method, table, calibCount: 2 });
  assertValid(q.model.graph);
  return q.model.graph;
}

Deno.test("potacc: the PoT-quantized default CNN, every method on both boards and on a fixed-method bitstream", () => {
  for (const method of METHODS) {
    const g = quantized(defaultModel(), method);
    for (const spec of [...TARGETS, `potacc:kria:${method}`]) {
      const { part, run, target } = runBitExact(g, spec, 4);
      const accel = part.placements.filter((p) => p.placement === "accel");
      assert.equal(accel.length, 3, `${spec}: both convolutions and the classifier`);
      assert.ok(run.bitExact && run.compared >= 3, `${method} ${spec}: ${JSON.stringify(run.mismatches)}`);
      const rep = buildTargetReport("default-cnn", g, part, target, { run, seed: 4 });
      console.log(
        `  default CNN ${method} on ${spec}: bit-exact over ${run.compared} values, ${rep.totals.cycles} cycles, speedup ${
          rep.totals.speedup.toFixed(2)
        }x`,
      );
    }
  }
});

Deno.test("potacc: guard refusals name the limit", () => {
  // Codes quantized for SECDA SA v4's APoT table decode differently on the v12 PE.
  const sa = quantized(defaultModel(), "apot", "secda-sa-v4");
  const r = partitionGraph(sa, getTarget("potacc"));
  const conv = r.placements.find((p) => p.op === "lathe.ShiftConv")!;
  assert.equal(conv.placement, "cpu");
  assert.match(conv.reason!, /another decode table.*potacc-v12-apot/);

  // A bitstream built for APoT refuses MSQ codes.
  const msq = quantized(defaultModel(), "msq");
  const fixed = partitionGraph(msq, getTarget("potacc:z2:apot"));
  assert.ok(
    fixed.placements.filter((p) => p.op.startsWith("lathe.Shift")).every((p) => p.placement === "cpu"),
  );
  assert.match(
    fixed.placements.find((p) => p.op === "lathe.ShiftMatMul")!.reason!,
    /built for APoT \(-DAPOT\).*MSQ/,
  );

  // Grouped (depthwise) convolutions are not one GEMM.
  const b = new GraphBuilder("dw");
  b.input("x", "u8", [1, 4, 6, 6]);
  b.constant("w", potConst(new Uint8Array(4 * 9).fill(3), [4, 1, 3, 3], "apot", [0.01, 0.01, 0.01, 0.01]));
  b.constant("s", numbersConstant("f32", [], [0.1]));
  b.constant("z", numbersConstant("u8", [], [128]));
  const y = b.op1("lathe.ShiftConv", ["x", "s", "z", "w"], {
    terms: termsAttr(potTable("apot", "potacc-v12")),
    group: 4,
    kernel_shape: [3, 3],
    pads: [1, 1, 1, 1],
  }, "y");
  const dw = partitionGraph(b.build([y]), getTarget("potacc"));
  assert.match(dw.placements[0].reason!, /group 4 convolution is not one GEMM/);

  // A depth whose 4-row weight block (kp/4 64-bit entries) overflows WGT_BUF_LEN on the Z2 (4096) fits the
  // Kria (24576): K = 16400 pads to 16400, 4100 entries.
  const deep = matmulGraph(2, 16400, 4, "pot", 9);
  const z2 = partitionGraph(deep, getTarget("potacc"));
  assert.equal(z2.placements[0].placement, "cpu");
  assert.match(
    z2.placements[0].reason!,
    /4100 64-bit entries, a unit's weight buffer holds 4096 \(WGT_BUF_LEN\)/,
  );
  assert.equal(partitionGraph(deep, getTarget("potacc:kria")).placements[0].placement, "accel");

  // Unknown variants are usage errors.
  assert.throws(() => getTarget("potacc:zu9"), /unknown PoTAcc variant/);
  assert.throws(() => getTarget("potacc:kria:uniform"), /unknown PoTAcc variant/);
});

const design = (board: "z2" | "kria"): PotaccDesign => ({
  params: getTarget(board === "z2" ? "potacc" : "potacc:kria").params,
  board: POTACC_BOARDS[board],
});

const callAttrs = (
  m: number,
  n: number,
  k: number,
  mp: number,
  np: number,
  kp: number,
  method: PotMethod,
) => ({
  m,
  n,
  k,
  mp,
  np,
  kp,
  lanes: 4,
  method,
});

Deno.test("potacc: the command stream and cycles of small GEMMs, derived from the design's constants", () => {
  // 5 × 20 by 40 columns: rows pad to 8, columns to 40 (blocks of 4), depth to 32 (BLOCK_DEPTH 16).
  // Input rows are 32/4 = 8 words, weight rows 32/8 = 4 words (8 codes a word). Inputs 8·8 = 64 words,
  // weights 40·4 = 160: either loop order moves 224 words, so the driver's inputs-outer order stays.
  const p = potProgram(design("z2"), callAttrs(5, 40, 20, 8, 40, 32, "apot"), "t");
  assert.deepEqual(p.cmds.map((c) => [c.opcode, c.lane]), [
    [LOAD_WGT | CONFIG, 0],
    [LOAD_WGT, 1],
    [LOAD_WGT, 2],
    [LOAD_WGT, 3],
    [LOAD_WGT, 0],
    [LOAD_INP, 0],
    [LOAD_INP, 1],
    [LOAD_INP, 2],
    [LOAD_INP, 3],
    [COMPUTE, 0],
  ]);
  // CONFIG: m, n, input words a row, CFG_X_SIGNED | APoT (3 << 4).
  assert.deepEqual(p.cmds[0].header.slice(0, 4), [5, 40, 8, 0x1 | 0x30]);
  assert.deepEqual(p.cmds[0].payload, [{ operand: 1, offset: 0, words: 40 }]); // 10 rows × 4 words on lane 0
  assert.deepEqual(p.cmds[4].payload, [{ operand: 2, offset: 0, words: 40 }]); // 40 column sums
  assert.deepEqual(p.cmds[9].header, [0, 8, 0, 40]);
  assert.equal(p.cmds[9].recvWords, 8 * 40);
  // A transfer costs 100 + words (4 bytes a cycle). Weights: lane 0 carries the CONFIG packet (1 + 7 + 4 +
  // 40 = 52 words; the 7 CONFIG words go to the config phase) and the sums packet (1 + 4 + 40 = 45):
  // 145 + 145 = 290, the busiest lane. Inputs: 1 + 4 + 16 = 21 words a lane, 121. Compute: 2 row blocks,
  // 10 column blocks over 4 units = 3 rounds, each kp/4 + 7 = 15 cycles: 90 (8 units: 2 rounds, 60).
  // Store: 320 int32 results, 2 rows × 40 on each of the 4 lanes: 180.
  const z2 = potTiming(design("z2"), p);
  assert.deepEqual(z2.phases, { config: 7, weights: 290, inputs: 121, compute: 90, store: 180 });
  assert.equal(z2.cycles, 688);
  assert.equal(z2.macs, 5 * 40 * 20);
  assert.equal(z2.issuedMacs, 8 * 40 * 32);
  assert.equal(z2.seconds, 688 / 200e6);
  const pk = potProgram(design("kria"), callAttrs(5, 40, 20, 8, 40, 32, "apot"), "t");
  const kria = potTiming(design("kria"), pk);
  assert.equal(kria.phases.compute, 60);
  assert.equal(kria.cycles, 658);
  assert.equal(kria.seconds, 658 / 250e6);
  // Energy: the shift-add entry per issued MAC. APoT: terms of 11 and 9 bits, their 12-bit sum, and the
  // 32-bit accumulate, each an adder linear in width between 0.03 pJ (8 bits) and 0.1 pJ (32 bits).
  const adder = (bits: number) => 0.03 + (0.07 * (bits - 8)) / 24;
  assert.ok(Math.abs(shiftAddMacPJ("apot") - (adder(11) + adder(9) + adder(12) + 0.1)) < 1e-12);
  assert.ok(Math.abs(shiftAddMacPJ("pot") - (adder(15) + 0.1)) < 1e-12);
  assert.ok(Math.abs(z2.energy.shiftAdd - 8 * 40 * 32 * shiftAddMacPJ("apot")) < 1e-6);
  assert.ok(
    shiftAddMacPJ("pot") < 0.2 + 0.1,
    "a shift-add MAC costs less than an int8 multiply plus int32 add",
  );
});

Deno.test("potacc: the functional model refuses streams it cannot run", () => {
  const d = design("z2");
  const p = potProgram(d, callAttrs(4, 4, 16, 4, 4, 16, "msq"), "t");
  const operands = [
    new Tensor("u32", [4, 4], new Uint32Array(16)),
    new Tensor("u32", [4, 2], new Uint32Array(8)),
    new Tensor("i32", [4], new Int32Array(4)),
  ];
  const out = new Tensor("i32", [4, 4], new Int32Array(16));
  runPotProgram(d, p, operands, out);
  // Computing before the inputs arrive.
  const early = { ...p, cmds: [p.cmds[0], ...p.cmds.slice(1).filter((c) => !(c.opcode & LOAD_INP))] };
  assert.throws(() => runPotProgram(d, early, operands, out), /input rows \[0, \+4\) are not all resident/);
  // A stream for the MSQ PE on an APoT bitstream.
  const apot: PotaccDesign = { ...d, only: "apot" };
  assert.throws(() => runPotProgram(apot, p, operands, out), /for the MSQ PE; this bitstream is APoT/);
});

Deno.test("potacc: RecenterU8 and DequantizeAcc on hand values", () => {
  const b = new GraphBuilder("host");
  b.input("x", "u8", [4]);
  b.input("acc", "i32", [2, 2]);
  b.constant("s", numbersConstant("f32", [2], [0.5, 0.25]));
  b.constant("bias", numbersConstant("f32", [2], [1, -1]));
  const r = b.op1("lathe.RecenterU8", ["x"], {}, "r");
  const f = b.op1("lathe.DequantizeAcc", ["acc", "s", "bias"], {}, "f");
  const out = new Session(b.build([r, f])).run({
    x: new Tensor("u8", [4], Uint8Array.from([0, 127, 128, 255])),
    acc: new Tensor("i32", [2, 2], Int32Array.from([3, 3, -8, 16777217])),
  }, { check: true }).outputs;
  assert.deepEqual(Array.from((out.r as Tensor).data as Int8Array), [-128, -1, 0, 127]);
  // 3·0.5 + 1 = 2.5, 3·0.25 − 1 = −0.25, −8·0.5 + 1 = −3, (2^24 + 1)·0.25 = 4194304.25 → f32 4194304, − 1.
  assert.deepEqual(Array.from((out.f as Tensor).data as Float32Array), [2.5, -0.25, -3, 4194303]);
});

Deno.test({
  name: "potacc: PoT-quantized mobilenet_v2, every method on both boards, bit-exact",
  ignore: noCorpus(),
  sanitizeResources: false,
  fn: async () => {
    let float = await importOnnxFile(corpusPath("onnx/torch/mobilenet_v2.onnx"));
    float = (await runPipeline(float, "canonicalize,fold-batchnorm")).model;
    for (const method of METHODS) {
      const q = quantizeModelGraph(float, { scheme: method, calibCount: 1 });
      const g = q.model.graph;
      for (const spec of TARGETS) {
        const { part, run, target } = runBitExact(g, spec, 1);
        const rep = buildTargetReport("mobilenet_v2", g, part, target, { run, seed: 1 });
        const shift = part.placements.filter((p) => p.op.startsWith("lathe.Shift"));
        const grouped = shift.filter((p) => p.placement === "cpu");
        assert.ok(
          grouped.every((p) => /group \d+ convolution/.test(p.reason!)),
          "only depthwise layers stay",
        );
        assert.equal(shift.length - grouped.length, 36, "every dense convolution and the classifier");
        assert.ok(
          run.bitExact && run.compared > 100,
          `${method} ${spec}: ${JSON.stringify(run.mismatches.slice(0, 3))}`,
        );
        console.log(
          `  mobilenet_v2 ${method} on ${spec}: bit-exact over ${run.compared} values, ${rep.totals.offloaded_nodes} calls, ${
            (rep.totals.accel_seconds * 1e3).toFixed(2)
          } ms accelerator + ${(rep.totals.host_seconds * 1e3).toFixed(2)} ms host vs ${
            (rep.totals.cpu_baseline_seconds * 1e3).toFixed(2)
          } ms CPU-only: ${rep.totals.speedup.toFixed(2)}x`,
        );
      }
    }
  },
});
