/**
 * ONNX → TFLite on the corpus: each converted model runs in LiteRT (TFLite's own runtime) and matches
 * onnxruntime on the source model, rtol 1e-4 / atol 1e-5, on seeded inputs. Prints the max abs error and
 * the conversion time per model.
 */
import assert from "node:assert/strict";
import { exportTflite } from "../compiler/tflite/export.ts";
import { importOnnxFile } from "../compiler/onnx/import.ts";
import type { Model } from "../ir/graph.ts";
import { onnxToTflite } from "../passes/convert/onnx-to-tflite.ts";
import { Tensor } from "../runtime/tensor.ts";
import { liteRtLoadMessage, loadLiteRt, runLiteRt } from "./reference/litert.ts";
import { ortSession, runOrt } from "./reference/onnxruntime.ts";
import { closeness, seededFloats, seededInts } from "./support/convert-compare.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";

const liteRt = noCorpus() ? undefined : await loadLiteRt();
if (!noCorpus() && !liteRt) {
  console.log(`convert-onnx-to-tflite: LiteRT tests skipped: ${liteRtLoadMessage()}`);
}

interface Case {
  file: string;
  /** Input shapes for models with symbolic dims. */
  shapes?: Record<string, number[]>;
  /** Token ids are drawn below this (integer inputs). */
  vocab?: number;
}

const CASES: Case[] = [
  { file: "onnx/torch/mobilenet_v2.onnx" },
  { file: "onnx/torch/squeezenet1_1.onnx" },
  { file: "onnx/torch/dcgan_generator.onnx" },
  { file: "onnx/torch/tiny_transformer_encoder.onnx", vocab: 100 },
  { file: "onnx/paddleocr/ch_ppocr_mobile_v2.0_cls_infer.onnx", shapes: { x: [1, 3, 48, 192] } },
];

/** Seeded inputs for the source's inputs: ORT tensors (int64 ids as int64) and LiteRT arrays (int32 ids). */
function inputsFor(m: Model, c: Case, seed: number, nhwc = false) {
  const ort: Record<string, Tensor> = {};
  const lite: (Float32Array | Int32Array)[] = [];
  m.graph.inputs.forEach((name, k) => {
    const t = m.graph.values[name].type;
    assert.equal(t.kind, "tensor");
    if (t.kind !== "tensor") return;
    const shape = c.shapes?.[name] ?? t.shape!.map((d) => (typeof d === "number" ? d : 1));
    const n = shape.reduce((p, d) => p * d, 1);
    if (t.dtype === "i64") {
      const ids = seededInts(n, seed + k, c.vocab ?? 10);
      ort[name] = new Tensor("i64", shape, BigInt64Array.from(ids, (x) => BigInt(x)));
      lite.push(ids);
    } else {
      const x = seededFloats(n, seed + k);
      ort[name] = new Tensor("f32", shape, x);
      lite.push(nhwc && shape.length === 4 ? toNhwc(x, shape) : x);
    }
  });
  return { ort, lite };
}

/** NCHW data in NHWC order, written out index by index. */
function toNhwc(x: Float32Array, [n, c, h, w]: number[]): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < h; y++) {
        for (let z = 0; z < w; z++) out[((b * h + y) * w + z) * c + ch] = x[((b * c + ch) * h + y) * w + z];
      }
    }
  }
  return out;
}

for (const c of CASES) {
  const name = c.file.slice(c.file.lastIndexOf("/") + 1, -5);
  Deno.test({
    name: `onnx → tflite: ${name} runs in LiteRT and matches onnxruntime on the source`,
    ignore: noCorpus() || !liteRt,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const path = corpusPath(c.file);
      const source = await importOnnxFile(path);
      const t0 = performance.now();
      const { model, report } = onnxToTflite(source, { shapes: c.shapes });
      const ms = performance.now() - t0;
      assert.equal(report.unmapped.length, 0);
      assert.ok(model.graph.nodes.every((n) => n.op.startsWith("tfl.")), "every node is a tfl op");
      const bytes = exportTflite(model);
      const { ort, lite } = inputsFor(source, c, 11);
      const want = await runOrt(await ortSession(path), ort);
      const got = await runLiteRt(bytes, lite);
      source.graph.outputs.forEach((o, k) => {
        const e = want[o];
        assert.deepEqual(got[k].shape, [...e.shape], `${o} shape`);
        const r = closeness(got[k].data as Float32Array, e.data as Float32Array);
        console.log(
          `  ${name}: ${o} max abs error ${r.maxAbs.toExponential(3)} (|ref| up to ${
            r.maxRef.toFixed(3)
          }), ${report.source.nodes} -> ${report.target.nodes} nodes, converted in ${ms.toFixed(0)} ms`,
        );
        assert.equal(
          r.bad,
          0,
          `${o}: ${r.bad}/${r.count} elements outside rtol 1e-4/atol 1e-5, worst ${JSON.stringify(r.worst)}`,
        );
      });
    },
  });
}

Deno.test({
  name:
    "onnx → tflite: transposes between layers cancel; only the NCHW input keeps one, and --layout nhwc removes it",
  ignore: noCorpus() || !liteRt,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const path = corpusPath("onnx/torch/mobilenet_v2.onnx");
    const source = await importOnnxFile(path);
    const nchw = onnxToTflite(source).model.graph;
    const transposes = nchw.nodes.filter((n) => n.op === "tfl.TRANSPOSE");
    assert.equal(transposes.length, 1);
    assert.equal(transposes[0].inputs[0], "input", "the one TRANSPOSE reads the NCHW graph input");
    // Clip(0, 6) after each convolution became its fused RELU6.
    assert.ok(!nchw.nodes.some((n) => n.op === "tfl.RELU6"));
    assert.equal(nchw.nodes.filter((n) => n.attrs.fused_activation_function?.value === "RELU6").length, 35);

    const { model, report } = onnxToTflite(source, { layout: "nhwc" });
    assert.equal(model.graph.nodes.filter((n) => n.op === "tfl.TRANSPOSE").length, 0);
    const t = model.graph.values.input.type;
    assert.deepEqual(t.kind === "tensor" ? t.shape : undefined, [1, 224, 224, 3]);
    assert.ok(report.notes.some((n) => n.includes("NHWC")));
    const c: Case = { file: "onnx/torch/mobilenet_v2.onnx" };
    const { ort, lite } = inputsFor(source, c, 5, true);
    const want = (await runOrt(await ortSession(path), ort)).output;
    const got = (await runLiteRt(exportTflite(model), lite))[0];
    const r = closeness(got.data as Float32Array, want.data as Float32Array);
    console.log(`  mobilenet_v2 --layout nhwc: max abs error ${r.maxAbs.toExponential(3)}`);
    assert.equal(r.bad, 0, JSON.stringify(r.worst));
  },
});
