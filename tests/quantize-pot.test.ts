/**
 * Power-of-two weights: the shift PE's arithmetic for every 4-bit code of every decode table against
 * magnitudes derived by hand from accelerators.md §4.1 (not from pot-tables.ts), the ShiftMatMul and
 * ShiftConv kernels against plain-multiplication references, and per-layer SQNR of real CNNs.
 */
import assert from "node:assert/strict";
import { importOnnxFile } from "../compiler/onnx/import.ts";
import { GraphBuilder, numbersConstant } from "../ir/builder.ts";
import type { PotQuant } from "../ir/dtype.ts";
import { assertValid } from "../ir/verify.ts";
import "../passes/index.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import { seededBatches } from "../passes/quantize/calibrate.ts";
import { quantizePotRows } from "../passes/quantize/pot.ts";
import { codeMultipliers, POT_TABLES, potTable, termsAttr } from "../passes/quantize/pot-tables.ts";
import { quantizeModelGraph } from "../passes/quantize/quantize-pass.ts";
import { compareModels } from "../passes/quantize/report.ts";
import { Session } from "../runtime/interpreter.ts";
import { shiftProduct } from "../runtime/kernels/quant-compute.ts";
import { Rng } from "../runtime/random.ts";
import { Tensor } from "../runtime/tensor.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";

/**
 * Magnitude of each 3-bit code m = b2 b1 b0, from the decode descriptions:
 *  v12 QKeras: x << m.
 *  v12 MSQ:  term 1 ×1, ×2, ×4 for b[2:1] = 0, 1, 2 and 0 for 3; term 2 ×4 if b0.
 *  v12 APoT: term 1 ×1, 0, ×4, ×8 for b[2:1] = 0..3; term 2 ×2 if b0.
 *  SA v4 MSQ:  term 1 0, ×2, ×4, ×8; term 2 ×2.
 *  SA v4 APoT: term 1 0, ×2, ×4, ×16; term 2 ×8.
 */
const HAND: Record<string, number[]> = {
  "potacc-v12-pot": [1, 2, 4, 8, 16, 32, 64, 128],
  "potacc-v12-msq": [1, 5, 2, 6, 4, 8, 0, 4],
  "potacc-v12-apot": [1, 3, 0, 2, 4, 6, 8, 10],
  "secda-sa-v4-msq": [0, 2, 2, 4, 4, 6, 8, 10],
  "secda-sa-v4-apot": [0, 8, 2, 10, 4, 12, 16, 24],
};

Deno.test("pot: every code of every decode table, shifted as the PE does, matches the hand-derived products", () => {
  assert.deepEqual(POT_TABLES.map((t) => t.name).sort(), Object.keys(HAND).sort());
  let checked = 0;
  for (const t of POT_TABLES) {
    const terms = termsAttr(t), hand = HAND[t.name];
    assert.ok(t.terms.every((s) => s.length <= 2), `${t.name}: at most two shift terms`);
    for (let code = 0; code < 16; code++) {
      const want = (code & 8 ? -1 : 1) * hand[code & 7];
      assert.equal(codeMultipliers(t)[code], want === 0 ? 0 : want, `${t.name} code ${code}`);
      for (let x = -128; x <= 255; x++) {
        const got = shiftProduct(x, code, terms);
        assert.ok(got === x * want, `${t.name} code ${code} x ${x}: ${got} != ${x * want}`);
        checked++;
      }
    }
  }
  console.log(`  ${POT_TABLES.length} tables × 16 codes × 384 activation codes = ${checked} products`);
});

function potConst(codes: Uint8Array, shape: number[], method: string, table: number[], scale: number[]) {
  const packed = new Uint8Array(Math.ceil(codes.length / 2));
  for (let i = 0; i < codes.length; i++) packed[i >> 1] |= codes[i] << ((i & 1) * 4);
  const dtype: PotQuant = { kind: "pot", method, bits: 4, table, scale, axis: 0 };
  return { dtype, shape, bytes: packed };
}

Deno.test("pot: ShiftMatMul equals the integer dot product with hand-derived multipliers", () => {
  const rng = new Rng(21);
  for (const t of POT_TABLES) {
    const hand = HAND[t.name];
    const R = 3, K = 40, N = 16;
    const b = new GraphBuilder("smm");
    b.input("a", "u8", [R, K]);
    const sa = Math.fround(0.0173), za = 117;
    const codes = new Uint8Array(N * K);
    for (let i = 0; i < codes.length; i++) codes[i] = i < 16 * 16 ? i % 16 : rng.int(0, 16); // every code appears
    const sw = Array.from({ length: N }, () => Math.fround(0.001 + rng.next() * 0.01));
    const bias = Array.from({ length: N }, () => Math.fround(rng.uniform(-1, 1)));
    b.constant("w", potConst(codes, [N, K], t.method, codeMultipliers(t), sw));
    b.constant("sa", numbersConstant("f32", [], [sa]));
    b.constant("za", numbersConstant("u8", [], [za]));
    b.constant("bias", numbersConstant("f32", [N], bias));
    const y = b.op1("lathe.ShiftMatMul", ["a", "sa", "za", "w", "bias"], { terms: termsAttr(t) });
    const g = b.build([y]);
    const a = new Uint8Array(R * K).map(() => rng.int(0, 256));
    const out = new Session(g).run({ a: new Tensor("u8", [R, K], a) }, { check: true }).outputs[y] as Tensor;
    const f = Math.fround;
    for (let r = 0; r < R; r++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) {
          const c = codes[n * K + k];
          acc += (a[r * K + k] - za) * (c & 8 ? -1 : 1) * hand[c & 7];
        }
        const want = f(f(acc * f(sa * sw[n])) + bias[n]);
        assert.equal((out.data as Float32Array)[r * N + n], want, `${t.name} r${r} n${n}`);
      }
    }
  }
});

Deno.test("pot: ShiftConv (padding, stride, groups) equals a direct convolution of x − zp", () => {
  const rng = new Rng(5);
  const t = potTable("apot");
  const hand = HAND[t.name];
  const [N, C, H, W, M, G, KH, KW] = [1, 4, 7, 6, 6, 2, 3, 3];
  const Cg = C / G, stride = 2, pad = 1;
  const codes = new Uint8Array(M * Cg * KH * KW).map(() => rng.int(0, 16));
  const sw = Array.from({ length: M }, () => Math.fround(0.002 + rng.next() * 0.01));
  const b = new GraphBuilder("sconv");
  b.input("x", "i8", [N, C, H, W]);
  b.constant("w", potConst(codes, [M, Cg, KH, KW], t.method, codeMultipliers(t), sw));
  b.constant("sx", numbersConstant("f32", [], [0.05]));
  b.constant("zx", numbersConstant("i8", [], [-7]));
  const y = b.op1("lathe.ShiftConv", ["x", "sx", "zx", "w"], {
    terms: termsAttr(t),
    group: G,
    pads: [pad, pad, pad, pad],
    strides: [stride, stride],
    kernel_shape: [KH, KW],
  });
  const g = b.build([y]);
  const x = new Int8Array(N * C * H * W).map(() => rng.int(-128, 128));
  const out = new Session(g).run({ x: new Tensor("i8", [N, C, H, W], x) }, { check: true })
    .outputs[y] as Tensor;
  const OH = Math.floor((H + 2 * pad - KH) / stride) + 1, OW = Math.floor((W + 2 * pad - KW) / stride) + 1;
  assert.deepEqual(out.shape, [N, M, OH, OW]);
  const f = Math.fround;
  for (let m = 0; m < M; m++) {
    const gi = Math.floor(m / (M / G));
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let acc = 0;
        for (let c = 0; c < Cg; c++) {
          for (let kh = 0; kh < KH; kh++) {
            for (let kw = 0; kw < KW; kw++) {
              const ih = oh * stride - pad + kh, iw = ow * stride - pad + kw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue; // padding holds the zero point: x − zp = 0
              const code = codes[((m * Cg + c) * KH + kh) * KW + kw];
              acc += (x[((gi * Cg + c) * H + ih) * W + iw] + 7) * (code & 8 ? -1 : 1) * hand[code & 7];
            }
          }
        }
        assert.equal((out.data as Float32Array)[(m * OH + oh) * OW + ow], f(acc * f(f(0.05) * sw[m])));
      }
    }
  }
});

Deno.test("pot: weights that sit on the levels are coded exactly", () => {
  for (const t of POT_TABLES) {
    const mult = codeMultipliers(t);
    const s = 0.01;
    const w = new Float32Array(mult.map((m) => Math.fround(m * s)));
    const q = quantizePotRows(w, 1, 16, t);
    for (let i = 0; i < 16; i++) {
      assert.equal(mult[q.codes[i]] * q.scales[0], mult[i] * q.scales[0], `${t.name} weight ${i}`);
    }
    assert.ok(q.error < 1e-12, `${t.name}: error ${q.error}`);
    assert.ok(Math.abs(q.scales[0] - s) < 1e-9);
  }
});

for (const name of ["squeezenet1_1", "mobilenet_v2"]) {
  Deno.test({
    name: `pot: per-layer SQNR of ${name} for each method`,
    ignore: noCorpus(),
    sanitizeResources: false,
    fn: async () => {
      let float = await importOnnxFile(corpusPath(`onnx/torch/${name}.onnx`));
      float = (await runPipeline(float, "canonicalize,fold-batchnorm")).model;
      const test = seededBatches(float.graph, 500_000, 1);
      for (
        const [scheme, table] of [["pot", undefined], ["apot", undefined], ["msq", undefined], [
          "apot",
          "secda-sa-v4",
        ], ["msq", "secda-sa-v4"]] as const
      ) {
        const q = quantizeModelGraph(float, { scheme, table, calibCount: 4 });
        assertValid(q.model.graph);
        const shifted = q.model.graph.nodes.filter((n) => n.op.startsWith("lathe.Shift")).length;
        const rep = compareModels(float.graph, q.model.graph, test);
        const ids = new Set(q.layers.map((l) => l.id));
        const rows = rep.layers.filter((l) => ids.has(l.id));
        const o = rep.outputs[0];
        console.log(
          `  ${name} ${scheme}${table ? ` (${table})` : ""}: ${shifted} shift layers, layer SQNR ${
            Math.min(...rows.map((r) => r.sqnrDb)).toFixed(1)
          }..${Math.max(...rows.map((r) => r.sqnrDb)).toFixed(1)} dB, output ${o.sqnrDb.toFixed(1)} dB`,
        );
        assert.equal(shifted, q.layers.length);
        assert.equal(rows.length, q.layers.length, "every quantized layer is reported");
        for (const r of rows) assert.ok(Number.isFinite(r.sqnrDb), `${r.id}: ${r.sqnrDb}`);
        // The first layer sees only its own weight and input quantization: 4-bit codes keep it well above noise.
        assert.ok(rows[0].sqnrDb > 10, `${rows[0].id}: ${rows[0].sqnrDb.toFixed(2)} dB`);
      }
    },
  });
}
