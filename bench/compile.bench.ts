/**
 * `compile --target secda-sa` on torchvision's mobilenet_v2 (float ONNX, quantized to int8 on the way), the
 * whole in-process pipeline beside each of its stages, so the ratios show where the time goes: calibration
 * and quantization, the lower-int8 rewrite, partitioning, and the simulation (reference run plus the
 * accelerated run). Issue 6's goal is the whole process (these plus Deno's startup and the driver) under
 * 2 s. Skipped without the corpus.
 */
import { loadModel } from "../compiler/load-model.ts";
import "../compiler/formats.ts";
import { compileForTarget } from "../compiler/target-compile.ts";
import type { Model } from "../ir/graph.ts";
import "../passes/index.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import { partitionGraph } from "../targets/partition.ts";
import { getTarget } from "../targets/registry.ts";
import { simulatePartitioned } from "../targets/simulate.ts";
import { corpusPath, HAVE_CORPUS } from "../tests/support/corpus.ts";

const MODEL = corpusPath("onnx/torch/mobilenet_v2.onnx");
const group = "compile mobilenet_v2 --target secda-sa";
const out = HAVE_CORPUS ? await Deno.makeTempDir({ prefix: "lathe-compile-bench-" }) : "";

let float: Model | undefined, quantized: Model | undefined, lowered: Model | undefined;
if (HAVE_CORPUS) {
  float = (await runPipeline(await loadModel(MODEL), "canonicalize,fold-batchnorm")).model;
  quantized = (await runPipeline(float, "quantize{scheme=int8}")).model;
  lowered = (await runPipeline(quantized, "lower-int8")).model;
}
const target = getTarget("secda-sa");
const partitioned = lowered ? partitionGraph(lowered.graph, target).graph : undefined;

const opts = { ignore: !HAVE_CORPUS, group, n: 5, warmup: 1 };
Deno.bench({
  name: "whole compile (import to report files, no driver)",
  ...opts,
  baseline: true,
  fn: async () => void await compileForTarget({ model: MODEL, target: "secda-sa", out }),
});
Deno.bench({
  name: "quantize{scheme=int8} (calibration on 8 inputs)",
  ...opts,
  fn: async () => void await runPipeline(float!, "quantize{scheme=int8}"),
});
Deno.bench({ name: "lower-int8", ...opts, fn: async () => void await runPipeline(quantized!, "lower-int8") });
Deno.bench({ name: "partition", ...opts, fn: () => void partitionGraph(lowered!.graph, target) });
Deno.bench({
  name: "simulate (reference and accelerated runs)",
  ...opts,
  fn: () => void simulatePartitioned(lowered!.graph, partitioned!, { seed: 0 }),
});

if (HAVE_CORPUS) {
  globalThis.addEventListener("unload", () => Deno.removeSync(out, { recursive: true }));
}
