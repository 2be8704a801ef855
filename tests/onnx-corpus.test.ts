/**
 * Every ONNX model in the corpus runs in Lathe and matches onnxruntime-node on the same seeded inputs
 * (rtol 1e-4 / atol 1e-5); the torch exports also match their shipped test_data_set_0 outputs.
 */
import assert from "node:assert/strict";
import { importOnnxFile } from "../compiler/onnx/import.ts";
import { readTensorPb } from "../compiler/onnx/test-data.ts";
import { generateInput } from "../compiler/run.ts";
import { assertValid } from "../ir/verify.ts";
import { compareTensors } from "../runtime/compare.ts";
import { Session } from "../runtime/interpreter.ts";
import { Rng } from "../runtime/random.ts";
import { Tensor } from "../runtime/tensor.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { ortSession, runOrt } from "./reference/onnxruntime.ts";

/** Inputs a model needs beyond seeded noise: concrete sizes for dynamic dims, and valid control values. */
const SPECIAL: Record<string, (seed: number) => Record<string, Tensor>> = {
  "silero-vad/silero_vad_v5.onnx": (seed) => ({
    input: uniform([1, 512], seed),
    state: uniform([2, 1, 128], seed + 1, 0.1),
    sr: new Tensor("i64", [], new BigInt64Array([16000n])),
  }),
  "paddleocr/ch_ppocr_mobile_v2.0_cls_infer.onnx": (seed) => ({ x: uniform([1, 3, 48, 192], seed) }),
  "openwakeword/melspectrogram.onnx": (seed) => ({ input: uniform([1, 1760], seed) }),
  "openwakeword/embedding_model.onnx": (seed) => ({ input_1: uniform([1, 76, 32, 1], seed) }),
};

function uniform(shape: number[], seed: number, scale = 1): Tensor {
  const rng = new Rng(seed);
  const d = new Float32Array(shape.reduce((p, x) => p * x, 1));
  for (let i = 0; i < d.length; i++) d[i] = rng.uniform(-scale, scale);
  return new Tensor("f32", shape, d);
}

export const CORPUS_ONNX = [
  "torch/mobilenet_v2.onnx",
  "torch/squeezenet1_1.onnx",
  "torch/dcgan_generator.onnx",
  "torch/tiny_transformer_encoder.onnx",
  "paddleocr/ch_ppocr_mobile_v2.0_cls_infer.onnx",
  "silero-vad/silero_vad_v5.onnx",
  "openwakeword/alexa_v0.1.onnx",
  "openwakeword/embedding_model.onnx",
  "openwakeword/melspectrogram.onnx",
];

for (const rel of CORPUS_ONNX) {
  Deno.test({
    name: `onnx corpus: ${rel} matches onnxruntime`,
    ignore: noCorpus(),
    sanitizeResources: false,
    fn: async () => {
      const path = corpusPath(`onnx/${rel}`);
      const model = await importOnnxFile(path);
      assertValid(model.graph);
      const g = model.graph;
      const inputs: Record<string, Tensor> = SPECIAL[rel]?.(11) ??
        Object.fromEntries(
          g.inputs.filter((i) => !g.constants[i]).map((name, i) => [name, generateInput(g, name, i, 11)]),
        );
      const ours = new Session(g).run(inputs, { check: true }).outputs;
      const ref = await runOrt(await ortSession(path), inputs);
      for (const o of g.outputs) {
        const r = compareTensors(ours[o] as Tensor, ref[o], 1e-4, 1e-5);
        console.log(
          `  ${rel} ${o}: max abs ${r.maxAbs.toExponential(2)}, max rel ${r.maxRel.toExponential(2)}`,
        );
        assert.ok(r.ok, `${rel} output ${o}: ${r.message}`);
      }
    },
  });
}

for (const name of ["mobilenet_v2", "squeezenet1_1", "dcgan_generator", "tiny_transformer_encoder"]) {
  Deno.test({
    name: `onnx corpus: ${name} matches its test_data_set_0`,
    ignore: noCorpus(),
    fn: async () => {
      const model = await importOnnxFile(corpusPath(`onnx/torch/${name}.onnx`));
      const dir = corpusPath(`onnx/torch/${name}_test_data_set_0`);
      const x = (await readTensorPb(`${dir}/input_0.pb`)).value as Tensor;
      const want = (await readTensorPb(`${dir}/output_0.pb`)).value as Tensor;
      const g = model.graph;
      const got = new Session(g).run({ [g.inputs[0]]: x }).outputs[g.outputs[0]] as Tensor;
      const r = compareTensors(got, want, 1e-4, 1e-5);
      console.log(`  ${name}: max abs ${r.maxAbs.toExponential(2)} against the shipped output`);
      assert.ok(r.ok, r.message);
    },
  });
}
