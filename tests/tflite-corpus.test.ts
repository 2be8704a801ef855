/**
 * The TFLite corpus through Lathe: every model imports and verifies; each model runs in Lathe and matches
 * LiteRT (TFLite's own runtime, npm @litertjs/core) on the same seeded inputs; models with custom ops are
 * compared up to the custom op (its activation operands become the outputs) and refused past it; and
 * export → LiteRT gives the original's outputs, export → import gives the same graph.
 *
 * Tolerance: elementwise rtol 1e-4 / atol 1e-5, unscaled. Lathe's float TFLite kernels compute in
 * LiteRT's order (XNNPACK's: the same float32 multiply-adds, the same summation order, and for models with
 * sparse weights the channel-first kernels of XNNPACK's sparse inference), so most outputs are
 * bit-identical; the largest difference is printed.
 */
import assert from "node:assert/strict";
import { exportTflite } from "../compiler/tflite/export.ts";
import { importTflite } from "../compiler/tflite/import.ts";
import type { TfliteModel } from "../compiler/tflite/model.ts";
import { readTflite } from "../compiler/tflite/reader.ts";
import { writeTflite } from "../compiler/tflite/writer.ts";
import { graphsEqual } from "../ir/equal.ts";
import { LatheError } from "../ir/errors.ts";
import type { Model } from "../ir/graph.ts";
import { assertValid } from "../ir/verify.ts";
import { compareArrays } from "../runtime/compare.ts";
import { Session } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { inspectLiteRt, liteRtLoadMessage, loadLiteRt, runLiteRt } from "./reference/litert.ts";

const MODELS = [
  "coral/mobilenet_ssd_v2_coco_quant_postprocess.tflite",
  "mediapipe/face_detection_short_range.tflite",
  "mediapipe/hand_landmark_lite.tflite",
  "mediapipe/object_detection_ssd_mobilenetv2_oidv4_fp16.tflite",
  "mediapipe/palm_detection_lite.tflite",
  "mediapipe/pose_detection.tflite",
  "mediapipe/selfie_segmentation.tflite",
  "openwakeword/alexa_v0.1.tflite",
  "openwakeword/embedding_model.tflite",
  "openwakeword/melspectrogram.tflite",
];
const CUSTOM = 32;
const bytesOf = (rel: string) => Deno.readFileSync(corpusPath(`tflite/${rel}`));

const liteRt = noCorpus() ? undefined : await loadLiteRt();
if (!noCorpus() && !liteRt) console.log(`tflite-corpus: LiteRT comparisons skipped: ${liteRtLoadMessage()}`);

/** mulberry32, so LiteRT and Lathe see the same inputs. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The melspectrogram's input is [-1, -1] (stored as [1, 1]); LiteRT.js cannot resize inputs, so the
 * reference file gets a static [1, 512] (one STFT window). Lathe runs the unedited import with [1, 512].
 */
function staticInputs(m: TfliteModel, rel: string): void {
  if (rel.endsWith("melspectrogram.tflite")) {
    const g = m.subgraphs[0];
    g.tensors[g.inputs[0]].shape = [1, 512];
  }
}

/** Cuts the main graph before its first custom op; its operands that depend on the inputs become outputs. */
function cutAtCustom(m: TfliteModel): string | undefined {
  const g = m.subgraphs[0];
  const at = g.operators.findIndex((op) => m.operatorCodes[op.opcodeIndex].builtinCode === CUSTOM);
  if (at < 0) return undefined;
  const live = new Set(g.inputs);
  for (const op of g.operators.slice(0, at)) {
    if (op.inputs.some((t) => live.has(t))) op.outputs.forEach((t) => live.add(t));
  }
  const custom = g.operators[at];
  g.outputs = custom.inputs.filter((t) => live.has(t));
  g.operators = g.operators.slice(0, at);
  m.signatureDefs = [];
  return m.operatorCodes[custom.opcodeIndex].customCode ?? "";
}

function seeded(info: { shape: readonly number[]; dtype: string }[], seed: number) {
  const next = rng(seed);
  return info.map(({ shape, dtype }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    if (dtype === "uint8") return Uint8Array.from({ length: n }, () => Math.floor(next() * 256));
    return Float32Array.from({ length: n }, () => next() * 2 - 1);
  });
}

function runLathe(
  model: Model,
  shapes: readonly (readonly number[])[],
  data: readonly (Float32Array | Uint8Array | Int32Array)[],
) {
  const g = model.graph;
  const feeds: Record<string, Tensor> = {};
  g.inputs.forEach((name, i) => {
    const t = g.values[name].type;
    if (t.kind !== "tensor") throw new Error("tensor inputs only");
    feeds[name] = new Tensor(t.dtype, shapes[i], data[i]);
  });
  const out = new Session(g).run(feeds, { check: true }).outputs;
  return g.outputs.map((o) => out[o] as Tensor);
}

function strictCompare(got: Tensor, want: { data: ArrayLike<number>; shape: readonly number[] }) {
  assert.deepEqual([...got.shape], [...want.shape]);
  let range = 0;
  for (let i = 0; i < want.data.length; i++) range = Math.max(range, Math.abs(want.data[i]));
  return { ...compareArrays(got.data as ArrayLike<number>, want.data, 1e-4, 1e-5), range };
}

Deno.test({
  name: "tflite corpus: every model imports, verifies, and round-trips through export to an equal graph",
  ignore: noCorpus(),
  fn() {
    for (const rel of MODELS) {
      const model = importTflite(bytesOf(rel), { file: rel });
      assertValid(model.graph);
      assert.ok(model.graph.nodes.length > 0, rel);
      const again = importTflite(exportTflite(model), { file: `${rel} (exported)` });
      const eq = graphsEqual(again.graph, model.graph, { namedUnknowns: true });
      assert.ok(eq.equal, `${rel}: ${eq.diff}`);
    }
  },
});

for (const [k, rel] of MODELS.entries()) {
  Deno.test({
    name: `tflite corpus: ${rel} matches LiteRT`,
    ignore: noCorpus() || !liteRt,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const m = readTflite(bytesOf(rel));
      staticInputs(m, rel);
      const customCode = cutAtCustom(m);
      const refBytes = writeTflite(m);
      const info = await inspectLiteRt(refBytes);
      const inputs = seeded(info.inputs, 100 + k);
      const want = await runLiteRt(refBytes, inputs);
      // Lathe runs the original file's import (cut at the custom op the same way when there is one).
      const source = customCode === undefined ? bytesOf(rel) : refBytes;
      const model = importTflite(source, { file: rel });
      let got: Tensor[];
      try {
        got = runLathe(model, info.inputs.map((i) => i.shape), inputs);
      } catch (e) {
        // The quantized models need the integer kernels; without them the float kernels refuse, by name.
        if (
          e instanceof LatheError && e.kind === "unsupported" && info.inputs.some((i) => i.dtype === "uint8")
        ) {
          console.log(`  ${rel}: not run: ${e.message}`);
          return;
        }
        throw e;
      }
      assert.equal(got.length, want.length);
      for (let i = 0; i < want.length; i++) {
        const name = model.graph.outputs[i];
        if (want[i].dtype === "uint8") {
          // Quantized outputs (the integer kernels' work): LiteRT runs XNNPACK, which requantizes in fp32,
          // while the integer kernels follow TFLite's reference fixed-point rounding; a code of difference
          // per layer here and there compounds over ~70 layers. Gross errors (a wrong zero point or scale)
          // move every code by far more than this bound.
          let worst = 0, off = 0, sum = 0;
          const hist: Record<number, number> = {};
          for (let j = 0; j < want[i].data.length; j++) {
            const d = Math.abs(Number(got[i].data[j]) - want[i].data[j]);
            worst = Math.max(worst, d);
            if (d) off++;
            sum += d;
            hist[d] = (hist[d] ?? 0) + 1;
          }
          const mean = sum / want[i].data.length;
          console.log(
            `  ${rel} ${name}: ${off}/${want[i].data.length} codes differ, mean ${
              mean.toFixed(3)
            }, max ${worst};`,
            JSON.stringify(hist),
          );
          assert.ok(
            mean <= 1 && worst <= 16,
            `${rel} ${name}: codes differ by ${mean} on average, ${worst} at most`,
          );
          continue;
        }
        const r = strictCompare(got[i], want[i]);
        console.log(
          `  ${rel} ${name}: max abs ${r.maxAbs.toExponential(2)} (outputs reach ${r.range.toFixed(1)})`,
        );
        assert.ok(r.ok, `${rel} ${name}: ${r.message}`);
      }
      if (customCode !== undefined) {
        const full = importTflite(bytesOf(rel), { file: rel });
        assert.throws(
          () => runLathe(full, info.inputs.map((i) => i.shape), inputs),
          (e: unknown) =>
            e instanceof LatheError && e.kind === "unsupported" && e.message.includes(customCode),
        );
      }
    },
  });
}

Deno.test({
  name: "tflite corpus: exported models load in LiteRT and give the original's outputs",
  ignore: noCorpus() || !liteRt,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    for (const [k, rel] of MODELS.entries()) {
      const original = readTflite(bytesOf(rel));
      staticInputs(original, rel);
      cutAtCustom(original);
      const origBytes = writeTflite(original);
      const info = await inspectLiteRt(origBytes);
      const inputs = seeded(info.inputs, 200 + k);
      const want = await runLiteRt(origBytes, inputs);
      const exported = readTflite(exportTflite(importTflite(bytesOf(rel), { file: rel })));
      staticInputs(exported, rel);
      cutAtCustom(exported);
      const got = await runLiteRt(writeTflite(exported), inputs);
      assert.equal(got.length, want.length, rel);
      // Sparse weights go back sparse with their DENSIFY ops (pose_detection), so LiteRT runs the same
      // kernels on both files: every model must compute bit-identical values.
      let worst = 0;
      for (let i = 0; i < want.length; i++) {
        assert.deepEqual(got[i].shape, want[i].shape, rel);
        worst = Math.max(worst, compareArrays(got[i].data, want[i].data, 0, 0).maxAbs);
      }
      console.log(`  ${rel}: exported vs original in LiteRT: max abs ${worst}`);
      assert.equal(worst, 0, `${rel}: the exported model computes different values`);
    }
  },
});
