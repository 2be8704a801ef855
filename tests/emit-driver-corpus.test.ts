/**
 * Emitted C++ drivers for the corpus CNNs whose CPU side is float (the ops the int8 pipeline leaves in
 * float32 around the accelerator's 8-bit islands: activations, arithmetic, Pad, Resize, DepthToSpace,
 * ReduceMean, Softmax, BatchNormalization, ConvTranspose), against Lathe's runtime bit for bit: each model
 * goes through the int8 pipeline, is partitioned for secda-sa (one also for secda-vm), emitted, built with
 * g++ through the driver's Makefile, and run on one seeded input set; every output .npy must be
 * byte-identical to what Lathe's npy writer makes of the runtime's tensors (the partitioned graph on the
 * simulator and the unpartitioned graph on the plain interpreter). Build and run times are printed.
 */
import { loadModel } from "../compiler/load-model.ts";
import { integerPipeline } from "../compiler/target-compile.ts";
import "../compiler/formats.ts";
import type { Model } from "../ir/graph.ts";
import { bindInputShapes } from "../passes/convert/static-shapes.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import "../passes/index.ts";
import { emitDriver } from "../targets/emit/emit.ts";
import { partitionGraph } from "../targets/partition.ts";
import { getTarget } from "../targets/registry.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { checkDriver, noToolchain } from "./support/driver-run.ts";

interface Case {
  readonly model: string;
  readonly target: "secda-sa" | "secda-vm";
  readonly shapes?: Record<string, number[]>;
  /** Build with the Makefile's own flags (-O2) rather than -O1, which compiles faster and computes the same. */
  readonly o2?: boolean;
}

const CASES: readonly Case[] = [
  {
    model: "onnx/openwakeword/embedding_model.onnx",
    target: "secda-sa",
    shapes: { input_1: [1, 76, 32, 1] },
  },
  { model: "tflite/mediapipe/face_detection_short_range.tflite", target: "secda-sa" },
  { model: "tflite/mediapipe/hand_landmark_lite.tflite", target: "secda-sa" },
  { model: "tflite/mediapipe/palm_detection_lite.tflite", target: "secda-sa" },
  { model: "tflite/mediapipe/pose_detection.tflite", target: "secda-vm" },
  {
    model: "onnx/paddleocr/ch_ppocr_mobile_v2.0_cls_infer.onnx",
    target: "secda-sa",
    shapes: { x: [1, 3, 48, 192] },
  },
  { model: "onnx/torch/dcgan_generator.onnx", target: "secda-sa", o2: true },
  // Its last layer is MediaPipe's custom Convolution2DTransposeBias, converted to ConvTranspose.
  { model: "tflite/mediapipe/selfie_segmentation.tflite", target: "secda-sa" },
  // The batch dim is symbolic (-1 in the file): bound here as --shape binds it.
  {
    model: "tflite/openwakeword/embedding_model.tflite",
    target: "secda-sa",
    shapes: { "serving_default_input_1:0": [1, 76, 32, 1] },
  },
];

async function integerModel(c: Case): Promise<Model> {
  let m = await loadModel(corpusPath(c.model));
  if (c.shapes) m = { ...m, graph: bindInputShapes(m.graph, { shapes: c.shapes }) };
  const p = integerPipeline(m);
  if (p) m = (await runPipeline(m, p)).model;
  return m;
}

for (const c of CASES) {
  Deno.test({
    name: `${c.model} on ${c.target}: the emitted driver builds and runs bit-exact with the runtime`,
    ignore: noCorpus() || noToolchain(),
    fn: async () => {
      const t0 = performance.now();
      const m = await integerModel(c);
      const partitioned = partitionGraph(m.graph, getTarget(c.target)).graph;
      const out = await Deno.makeTempDir({ prefix: `lathe-corpus-driver-${c.target}-` });
      try {
        const driver = await emitDriver(partitioned, c.target, { out });
        const prep = performance.now() - t0;
        await checkDriver({
          label: `${c.model} on ${c.target} (${driver.stats.nodes} nodes, ${driver.stats.calls} calls; ` +
            `prepare+emit ${prep.toFixed(0)} ms)`,
          original: m.graph,
          partitioned,
          driver,
          seeds: [1],
          cxxflags: c.o2 ? undefined : "-O1",
        });
      } finally {
        await Deno.remove(out, { recursive: true });
      }
    },
  });
}
