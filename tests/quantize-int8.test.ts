/**
 * Int8 QDQ quantization of real CNNs (corpus onnx/torch), checked against onnxruntime: the exported QDQ
 * model runs in onnxruntime-node, and Lathe's runtime on the quantized model (lowered to integer ops)
 * agrees with it within 1 LSB on at least 99.9% of output elements, compared in the quantized domain
 * (outputs divided by the output scale). SQNR against the float model is reported per model.
 */
import assert from "node:assert/strict";
import { exportOnnx } from "../compiler/onnx/export.ts";
import { importOnnxFile } from "../compiler/onnx/import.ts";
import { constantNumbers } from "../ir/constant-values.ts";
import type { Graph, Model } from "../ir/graph.ts";
import { assertValid } from "../ir/verify.ts";
import "../passes/index.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import { type Batch, seededBatches } from "../passes/quantize/calibrate.ts";
import { quantizeModelGraph } from "../passes/quantize/quantize-pass.ts";
import { biasFittingScales, quantizeBias, quantizeWeightsPerChannel } from "../passes/quantize/affine.ts";
import { compareModels } from "../passes/quantize/report.ts";
import { Session } from "../runtime/interpreter.ts";
import type { Tensor } from "../runtime/tensor.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { ortSession, runOrt } from "./reference/onnxruntime.ts";

async function floatModel(name: string): Promise<Model> {
  const m = await importOnnxFile(corpusPath(`onnx/torch/${name}.onnx`));
  return (await runPipeline(m, "canonicalize,fold-batchnorm")).model;
}

/** The scale of the DequantizeLinear that produces graph output `o`. */
function outputScale(g: Graph, o: string): number {
  const dq = g.nodes.find((n) => n.op === "DequantizeLinear" && n.outputs[0] === o);
  assert.ok(dq, `output ${o} is not produced by a DequantizeLinear`);
  const c = g.constants[dq.inputs[1]!];
  assert.ok(c, "output scale is not a constant");
  return constantNumbers(c)[0];
}

interface Agreement {
  elements: number;
  within1: number;
  exact: number;
  maxLsb: number;
}

function agreement(
  g: Graph,
  ours: Record<string, unknown>,
  ref: Record<string, Tensor>,
  acc: Agreement,
): void {
  for (const o of g.outputs) {
    const s = outputScale(g, o);
    const a = (ours[o] as Tensor).data as Float32Array, b = ref[o].data as Float32Array;
    assert.equal(a.length, b.length);
    for (let i = 0; i < a.length; i++) {
      const d = Math.abs(a[i] - b[i]) / s;
      acc.elements++;
      if (d <= 1 + 1e-3) acc.within1++;
      if (d <= 1e-3) acc.exact++;
      if (d > acc.maxLsb) acc.maxLsb = d;
    }
  }
}

const MODELS = ["mobilenet_v2", "squeezenet1_1", "dcgan_generator"];

for (const name of MODELS) {
  Deno.test({
    name: `quantize int8: ${name} QDQ export agrees with onnxruntime within 1 LSB`,
    ignore: noCorpus(),
    sanitizeResources: false,
    fn: async () => {
      const float = await floatModel(name);
      const q = quantizeModelGraph(float, { scheme: "int8", calib: "mse", calibSeed: 0, calibCount: 8 });
      assertValid(q.model.graph);
      assert.ok(q.layers.length > 0);
      const bytes = exportOnnx(q.model);
      const ort = await ortSession(bytes);
      const lowered = (await runPipeline(q.model, "lower-int8")).model;
      const qdq = new Session(q.model.graph), low = new Session(lowered.graph);
      const test: Batch[] = seededBatches(float.graph, 500_000, 4);
      const viaLowered: Agreement = { elements: 0, within1: 0, exact: 0, maxLsb: 0 };
      const viaQdq: Agreement = { elements: 0, within1: 0, exact: 0, maxLsb: 0 };
      for (const b of test) {
        const ref = await runOrt(ort, b as Record<string, Tensor>);
        agreement(q.model.graph, low.run(b).outputs, ref, viaLowered);
        agreement(q.model.graph, qdq.run(b).outputs, ref, viaQdq);
      }
      const pct = (a: Agreement, k: number) => (100 * k / a.elements).toFixed(3);
      const ops = lowered.graph.nodes.reduce(
        (m, n) => m.set(n.op, (m.get(n.op) ?? 0) + 1),
        new Map<string, number>(),
      );
      console.log(`  ${name}: lowered (${[...ops].map(([k, v]) => `${k}×${v}`).join(", ")})`);
      console.log(
        `    integer ops vs onnxruntime: ${pct(viaLowered, viaLowered.within1)}% within 1 LSB, ${
          pct(viaLowered, viaLowered.exact)
        }% exact, max ${viaLowered.maxLsb.toFixed(2)} LSB`,
      );
      console.log(
        `    QDQ (float simulation) vs onnxruntime: ${pct(viaQdq, viaQdq.within1)}% within 1 LSB, max ${
          viaQdq.maxLsb.toFixed(2)
        } LSB`,
      );
      const rep = compareModels(float.graph, q.model.graph, test);
      for (const o of rep.outputs) {
        console.log(
          `    vs float: ${o.name} SQNR ${o.sqnrDb.toFixed(2)} dB, top-1 agreement ${
            ((o.top1 ?? 0) * 100).toFixed(0)
          }%`,
        );
      }
      assert.ok(
        viaLowered.within1 >= 0.999 * viaLowered.elements,
        `${name}: only ${pct(viaLowered, viaLowered.within1)}% within 1 LSB`,
      );
    },
  });
}

Deno.test({
  name: "quantize int8: SQNR vs the float model per calibration method",
  ignore: noCorpus(),
  sanitizeResources: false,
  fn: async () => {
    const rows: string[] = [];
    for (const name of MODELS) {
      const float = await floatModel(name);
      const test = seededBatches(float.graph, 500_000, 4);
      const cells: string[] = [];
      let best = -Infinity;
      for (const calib of ["minmax", "percentile", "mse", "entropy"] as const) {
        const q = quantizeModelGraph(float, { scheme: "int8", calib, calibSeed: 0, calibCount: 8 });
        const rep = compareModels(float.graph, q.model.graph, test);
        const o = rep.outputs[0];
        cells.push(`${calib} ${o.sqnrDb.toFixed(1)} dB (first layer ${rep.layers[0].sqnrDb.toFixed(1)})`);
        best = Math.max(best, o.sqnrDb);
        // The first layer sees only the input's and its own weights' quantization.
        assert.ok(
          rep.layers[0].sqnrDb > 25,
          `${name}/${calib}: first layer ${rep.layers[0].sqnrDb.toFixed(2)} dB`,
        );
        assert.ok(o.sqnrDb > 5, `${name}/${calib}: output SQNR ${o.sqnrDb.toFixed(2)} dB`);
      }
      assert.ok(best > 14, `${name}: best output SQNR ${best.toFixed(2)} dB`);
      rows.push(`  ${name.padEnd(16)} ${cells.join(" | ")}`);
    }
    console.log(rows.join("\n"));
  },
});

Deno.test({
  name: "quantize int8: mobilenet_v2 with 32 calibration inputs (best method)",
  ignore: noCorpus(),
  sanitizeResources: false,
  fn: async () => {
    const float = await floatModel("mobilenet_v2");
    const t0 = performance.now();
    const q = quantizeModelGraph(float, { scheme: "int8", calib: "mse", calibSeed: 0, calibCount: 32 });
    const ms = performance.now() - t0;
    const rep = compareModels(float.graph, q.model.graph, seededBatches(float.graph, 500_000, 8));
    const o = rep.outputs[0];
    console.log(
      `  mobilenet_v2 int8 (mse, 32 inputs, ${(ms / 1000).toFixed(1)} s): SQNR ${
        o.sqnrDb.toFixed(2)
      } dB, top-1 ${(100 * (o.top1 ?? 0)).toFixed(0)}%`,
    );
    console.log(
      `  first layer ${rep.layers[0].sqnrDb.toFixed(1)} dB, last layer ${
        rep.layers[rep.layers.length - 1].sqnrDb.toFixed(1)
      } dB`,
    );
    assert.ok(o.sqnrDb > 12);
  },
});

Deno.test("int8 weights: a channel of near-zero weights with a real bias gets a weight scale its bias fits", () => {
  // Hand-derived: s_x = 0.02, channel 0 weights at most 1e-9 (scale 1e-9/127 alone would need a bias code of
  // 0.5 / (0.02 · 7.9e-12) ≈ 3.2e12, far past int32). The widened scale is 0.5 / (0.02 · (2^31 - 1)) (within
  // 2^-20), so the bias code stays below 2^31 - 1 and dequantizes back to 0.5 within one code.
  const w = new Float32Array([1e-9, -5e-10, 2e-10, 0.3, -0.6, 0.1]);
  const bias = new Float32Array([0.5, -0.25]);
  const fit = biasFittingScales(bias, 0.02, false);
  const wq = quantizeWeightsPerChannel(w, [2, 3], 0, fit);
  const want0 = 0.5 / (0.02 * 2147483647);
  assert.ok(Math.abs(wq.scales[0] / want0 - 1) < 2e-6, `channel 0 scale ${wq.scales[0]} vs ${want0}`);
  assert.equal(wq.scales[1], Math.fround(0.6 / 127), "channel 1 keeps max|w|/127");
  const bq = quantizeBias(bias, 0.02, wq.scales);
  assert.ok(bq.codes[0] < 2147483647 && bq.codes[0] > 2147000000, `bias code ${bq.codes[0]}`);
  assert.ok(Math.abs(bq.codes[0] * bq.scales[0] - 0.5) <= bq.scales[0], "the bias survives quantization");
  // Without the widening the code saturates: the case the widening exists for.
  const plain = quantizeBias(bias, 0.02, quantizeWeightsPerChannel(w, [2, 3], 0).scales);
  assert.equal(plain.codes[0], 2147483647);
});
