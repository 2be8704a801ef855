/**
 * `mutate` on TFLite (the tfl dialect: NHWC, fused activations): mobilenet_v2 converted from the corpus's
 * ONNX (the embedded default CNN when the corpus is absent) and the every-targeted-op model converted the
 * same way. Every variant runs in LiteRT, differs from the original there, and differs from it
 * (re-imported) in exactly the nodes its manifest entry names.
 */
import { defaultModel } from "../compiler/default-model.ts";
import { importOnnxFile } from "../compiler/onnx/import.ts";
import { writeTfliteFile } from "../compiler/tflite/export.ts";
import type { Graph, Model } from "../ir/graph.ts";
import "../passes/index.ts";
import { onnxToTflite } from "../passes/convert/onnx-to-tflite.ts";
import type { Tensor } from "../runtime/tensor.ts";
import { liteRtLoadMessage, loadLiteRt, runLiteRt } from "./reference/litert.ts";
import { CORPUS_DIR, corpusPath, HAVE_CORPUS } from "./support/corpus.ts";
import { mutationSuite, type Runner } from "./support/mutation-suite.ts";
import { mutationTargetsModel } from "./support/mutation-targets-model.ts";

const DAMAGE_INPUTS = Number(Deno.env.get("MUTATE_DAMAGE_INPUTS") ?? 8);
const liteRt = await loadLiteRt();
if (!liteRt) console.warn(`mutate-tflite: skipped: ${liteRtLoadMessage()}`);
if (!HAVE_CORPUS) {
  console.warn(
    `mutate-tflite: ${CORPUS_DIR} is absent; mutating the embedded default CNN instead of mobilenet_v2`,
  );
}

const bytes = new Map<string, Uint8Array>();
const runTflite: Runner = async (file: string, g: Graph, inputs: Record<string, Tensor>) => {
  let b = bytes.get(file);
  if (!b) bytes.set(file, b = await Deno.readFile(file));
  const out = await runLiteRt(b, g.inputs.map((name) => inputs[name].data as Float32Array));
  return Float32Array.from(out[0].data as Float32Array);
};

async function convertToTflite(model: Model, path: string): Promise<string> {
  await writeTfliteFile(path, onnxToTflite(model, {}).model);
  return path;
}

Deno.test({
  name: `mutate tflite: ${
    HAVE_CORPUS ? "mobilenet_v2 converted to TFLite" : "the embedded default CNN as TFLite"
  }, at least 12 kinds over the five classes`,
  ignore: !liteRt,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "lathe-mutate-tflite-" });
    try {
      const model = HAVE_CORPUS
        ? await importOnnxFile(corpusPath("onnx/torch/mobilenet_v2.onnx"))
        : defaultModel();
      const source = await convertToTflite(
        model,
        `${dir}/${HAVE_CORPUS ? "mobilenet_v2" : "default"}.tflite`,
      );
      await mutationSuite(t, {
        source,
        dir,
        seed: 11,
        count: 1,
        damageInputs: DAMAGE_INPUTS,
        run: runTflite,
        expectKinds: 12,
        label: "mobilenet_v2.tflite",
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "mutate tflite: every kind the tfl dialect defines on a model with every targeted op, two variants each",
  ignore: !liteRt,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "lathe-mutate-tflite-" });
    try {
      const source = await convertToTflite(mutationTargetsModel(), `${dir}/mutation-targets.tflite`);
      await mutationSuite(t, {
        source,
        dir,
        seed: 3,
        count: 2,
        damageInputs: 8,
        run: runTflite,
        expectKinds: "all",
        label: "mutation-targets.tflite",
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
