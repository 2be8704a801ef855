/**
 * Int8 post-training quantization of mobilenet_v2 with 32 calibration inputs (each method), beside the
 * floor it cannot beat: 32 float inferences of the same model (calibration runs the model once per input).
 * Also onnxruntime running the exported QDQ model against Lathe running it lowered to integer ops.
 */
import { exportOnnx } from "../compiler/onnx/export.ts";
import { importOnnxFile } from "../compiler/onnx/import.ts";
import "../passes/index.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import { seededBatches } from "../passes/quantize/calibrate.ts";
import { quantizeModelGraph } from "../passes/quantize/quantize-pass.ts";
import { Session } from "../runtime/interpreter.ts";
import type { Tensor } from "../runtime/tensor.ts";
import { corpusPath, HAVE_CORPUS } from "../tests/support/corpus.ts";
import { ortSession, toOrt } from "../tests/reference/onnxruntime.ts";

if (HAVE_CORPUS) {
  const float = (await runPipeline(
    await importOnnxFile(corpusPath("onnx/torch/mobilenet_v2.onnx")),
    "canonicalize,fold-batchnorm",
  )).model;
  const batches = seededBatches(float.graph, 0, 32);
  const session = new Session(float.graph);
  const group = "mobilenet_v2 int8 PTQ, 32 inputs";
  Deno.bench({
    name: "32 float inferences (the floor)",
    group,
    baseline: true,
    n: 2,
    warmup: 1,
    fn: () => {
      for (const b of batches) session.run(b);
    },
  });
  for (const calib of ["minmax", "percentile", "mse", "entropy"] as const) {
    Deno.bench({
      name: `quantize (calib=${calib})`,
      group,
      n: 2,
      warmup: 0,
      fn: () => void quantizeModelGraph(float, { scheme: "int8", calib, batches }),
    });
  }

  const q = quantizeModelGraph(float, { scheme: "int8", calib: "minmax", batches: batches.slice(0, 4) });
  const lowered = new Session((await runPipeline(q.model, "lower-int8")).model.graph);
  const ort = await ortSession(exportOnnx(q.model), 1);
  const x = batches[0];
  const feeds = Object.fromEntries(Object.entries(x).map(([k, v]) => [k, toOrt(v as Tensor)]));
  const g2 = "mobilenet_v2 int8 inference";
  Deno.bench({
    name: "onnxruntime-node, QDQ model (1 thread)",
    group: g2,
    baseline: true,
    fn: async () => void (await ort.run(feeds)),
  });
  Deno.bench({ name: "lathe, lowered to integer ops", group: g2, n: 5, fn: () => void lowered.run(x) });
}
