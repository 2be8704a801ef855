/**
 * Block-floating-point weights against the real ggml (FFI): the bfp pass's weight bytes equal ggml's
 * quantize_chunk on the same float rows, and lathe.BlockMatMul / BlockConv equal ggml's own activation
 * quantizer (from_float_ref of the paired type) followed by its scalar vec_dot, bit for bit. MXINT8, which
 * ggml lacks, is checked against values worked by hand from the OCP MX rules.
 */
import assert from "node:assert/strict";
import { importOnnxFile } from "../compiler/onnx/import.ts";
import { GraphBuilder, modelOf, numbersConstant } from "../ir/builder.ts";
import type { Constant } from "../ir/constant.ts";
import { ggmlTypeByName } from "../ir/ggml-type.ts";
import type { Graph } from "../ir/graph.ts";
import { assertValid } from "../ir/verify.ts";
import "../passes/index.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import { seededBatches } from "../passes/quantize/calibrate.ts";
import { quantizeModelGraph } from "../passes/quantize/quantize-pass.ts";
import { compareModels } from "../passes/quantize/report.ts";
import { Session } from "../runtime/interpreter.ts";
import { dequantizeMxInt8, quantizeMxInt8 } from "../runtime/kernels/quant-compute.ts";
import { Rng } from "../runtime/random.ts";
import { fromConstant, Tensor } from "../runtime/tensor.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { type Ggml, loadGgml } from "./ffi/ggml.ts";

const loaded = loadGgml();
const ggml: Ggml | undefined = typeof loaded === "string" ? undefined : loaded;
if (!ggml) console.warn(`SKIP ggml FFI tests: ${loaded}`);

const TYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "MXFP4"];

/** A Gemm layer [N, K] (transB) and a Conv layer, with weights of spread magnitudes. */
function layers(K: number, N: number): Graph {
  const rng = new Rng(K * 31 + N);
  const b = new GraphBuilder("bfp");
  b.input("x", "f32", [3, K]);
  b.input("img", "f32", [1, 6, 9, 9]);
  const w = Array.from({ length: N * K }, (_, i) => rng.uniform(-1, 1) * (1 + (i % 7)));
  b.constant("w", numbersConstant("f32", [N, K], w));
  b.constant("bias", numbersConstant("f32", [N], Array.from({ length: N }, () => rng.uniform(-1, 1))));
  const y = b.op1("Gemm", ["x", "w", "bias"], { transB: 1 });
  const cw = Array.from({ length: 5 * 6 * 3 * 3 }, () => rng.uniform(-0.5, 0.5));
  b.constant("cw", numbersConstant("f32", [5, 6, 3, 3], cw));
  const z = b.op1("Conv", ["img", "cw"], { pads: [1, 1, 1, 1], strides: [2, 2] });
  return b.build([y, z]);
}

function replaced(g: Graph, id: string): { w: Constant; op: string } {
  const n = g.nodes.find((x) => x.id === id)!;
  return { w: g.constants[n.inputs[1]!], op: n.op };
}

for (const typeName of TYPES) {
  Deno.test({
    name: `bfp ${typeName}: weight bytes and BlockMatMul/BlockConv outputs equal ggml's`,
    ignore: !ggml,
    fn: () => {
      const g = ggml!;
      const info = ggmlTypeByName(typeName)!;
      const block = info.blockSize;
      const K = block === 256 ? 512 : 96, N = 7;
      const float = layers(K, N);
      const gemmId = float.nodes.find((n) => n.op === "Gemm")!.id,
        convId = float.nodes.find((n) => n.op === "Conv")!.id;
      const q = quantizeModelGraph(modelOf(float), { scheme: "bfp", weights: typeName, calibCount: 1 });
      assertValid(q.model.graph);
      // Weights: the same rows through ggml_quantize_chunk.
      const gemm = replaced(q.model.graph, gemmId);
      assert.equal(gemm.op, "lathe.BlockMatMul");
      const wf = fromConstant(float.constants["w"]).data as Float32Array;
      assert.deepEqual(gemm.w.bytes, g.quantizeChunk(info.id, wf, N, K), "Gemm weight bytes");
      const conv = replaced(q.model.graph, convId);
      assert.equal(conv.op, "lathe.BlockConv");
      const Kc = 6 * 9, Kp = Math.ceil(Kc / block) * block;
      const cw = fromConstant(float.constants["cw"]).data as Float32Array;
      const padded = new Float32Array(5 * Kp);
      for (let m = 0; m < 5; m++) padded.set(cw.subarray(m * Kc, (m + 1) * Kc), m * Kp);
      assert.deepEqual(
        conv.w.bytes,
        g.quantizeChunk(info.id, padded, 5, Kp),
        "Conv weight bytes (K padded with zeros)",
      );

      // Outputs: activation rows through ggml's quantizer for the paired type, then ggml's scalar vec_dot.
      const rng = new Rng(99);
      const x = new Float32Array(3 * K).map(() => rng.uniform(-2, 2));
      const img = new Float32Array(6 * 81).map(() => rng.uniform(-1, 1));
      const out = new Session(q.model.graph).run({
        x: new Tensor("f32", [3, K], x),
        img: new Tensor("f32", [1, 6, 9, 9], img),
      }, { check: true }).outputs;
      const act = g.vecDotType(info.id);
      const rowBytes = (K / block) * info.typeSize;
      const bias = fromConstant(float.constants["bias"]).data as Float32Array;
      const y = (out[float.outputs[0]] as Tensor).data as Float32Array;
      for (let r = 0; r < 3; r++) {
        const a = g.fromFloatRef(act, x.subarray(r * K, (r + 1) * K));
        for (let n = 0; n < N; n++) {
          const dot = g.vecDotGeneric(
            info.id,
            K,
            gemm.w.bytes!.subarray(n * rowBytes, (n + 1) * rowBytes),
            a,
          );
          assert.equal(y[r * N + n], Math.fround(dot + bias[n]), `row ${r} col ${n}`);
        }
      }
      const z = (out[float.outputs[1]] as Tensor).data as Float32Array;
      const cRow = (Kp / block) * info.typeSize;
      for (let oh = 0; oh < 5; oh++) {
        for (let ow = 0; ow < 5; ow++) {
          const patch = new Float32Array(Kp);
          let k = 0;
          for (let c = 0; c < 6; c++) {
            for (let kh = 0; kh < 3; kh++) {
              for (let kw = 0; kw < 3; kw++, k++) {
                const ih = oh * 2 - 1 + kh, iw = ow * 2 - 1 + kw;
                patch[k] = ih >= 0 && ih < 9 && iw >= 0 && iw < 9 ? img[(c * 9 + ih) * 9 + iw] : 0;
              }
            }
          }
          const a = g.fromFloatRef(act, patch);
          for (let m = 0; m < 5; m++) {
            const dot = g.vecDotGeneric(info.id, Kp, conv.w.bytes!.subarray(m * cRow, (m + 1) * cRow), a);
            assert.equal(z[(m * 5 + oh) * 5 + ow], dot, `conv m${m} (${oh},${ow})`);
          }
        }
      }
    },
  });
}

Deno.test({
  name: "mx MXFP4: the MX scheme stores ggml's MXFP4 blocks",
  ignore: !ggml,
  fn: () => {
    const float = layers(64, 4);
    const q = quantizeModelGraph(modelOf(float), { scheme: "mx", weights: "MXFP4", calibCount: 1 });
    const gemm = replaced(q.model.graph, float.nodes.find((n) => n.op === "Gemm")!.id);
    assert.deepEqual(gemm.w.dtype, { kind: "mx", element: "fp4_e2m1", block: 32 });
    assert.deepEqual(
      gemm.w.bytes,
      ggml!.quantizeChunk(39, fromConstant(float.constants["w"]).data as Float32Array, 4, 64),
    );
  },
});

Deno.test("mx MXINT8: shared exponent floor(log2 amax), elements q/64 rounded half to even, saturated at ±127", () => {
  const v = new Float32Array(32);
  // amax 3.0 → exponent 1 (scale 2), element = round(v / 2 · 64).
  v.set([3.0, -1.0, 0.5, 0.015625, 0.0234375, -0.0390625, 2.99, 1.0078125]);
  const bytes = new Uint8Array(33);
  quantizeMxInt8(v, 0, bytes, 0, 32);
  assert.equal(bytes[0], 128); // E8M0 of 2^1
  const q = [...new Int8Array(bytes.buffer, 1, 8)];
  // 3/2·64 = 96; −32; 16; 0.5 → 0 (even); 0.75 → 1; −1.25 → −1; 2.99/2·64 = 95.68 → 96; 1.0078125/2·64 = 32.25 → 32.
  assert.deepEqual(q, [96, -32, 16, 0, 1, -1, 96, 32]);
  const back = new Float32Array(32);
  dequantizeMxInt8(bytes, 0, back, 0, 32);
  assert.deepEqual([...back.subarray(0, 8)], [3, -1, 0.5, 0, 0.03125, -0.03125, 3, 1]);
  // Just below a power of two: amax 1.9999999 keeps exponent 0 and saturates to 127/64.
  const w = new Float32Array(32);
  w[0] = Math.fround(1.9999999);
  quantizeMxInt8(w, 0, bytes, 0, 32);
  assert.equal(bytes[0], 127);
  assert.equal(new Int8Array(bytes.buffer, 1, 1)[0], 127);
});

Deno.test({
  name: "bfp: SQNR of squeezenet1_1 per weight type",
  ignore: noCorpus(),
  sanitizeResources: false,
  fn: async () => {
    let float = await importOnnxFile(corpusPath("onnx/torch/squeezenet1_1.onnx"));
    float = (await runPipeline(float, "canonicalize,fold-batchnorm")).model;
    const test = seededBatches(float.graph, 500_000, 1);
    const rows: string[] = [];
    let q8 = 0, q4 = 0;
    for (
      const [scheme, weights] of [["bfp", "Q8_0"], ["bfp", "Q4_0"], ["bfp", "Q4_K"], ["bfp", "Q6_K"], [
        "mx",
        "MXINT8",
      ], ["mx", "MXFP4"]] as const
    ) {
      const q = quantizeModelGraph(float, { scheme, weights, calibCount: 1 });
      const rep = compareModels(float.graph, q.model.graph, test);
      const o = rep.outputs[0].sqnrDb;
      rows.push(`${weights} ${o.toFixed(1)} dB`);
      if (weights === "Q8_0") q8 = o;
      if (weights === "Q4_0") q4 = o;
    }
    console.log(`  squeezenet1_1 output SQNR: ${rows.join(" | ")}`);
    assert.ok(q8 > q4 + 6, "8-bit blocks beat 4-bit blocks");
  },
});
