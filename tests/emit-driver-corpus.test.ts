/**
 * Emitted C++ drivers for the corpus CNNs whose CPU side is float (the ops the int8 pipeline leaves in
 * float32 around the accelerator's 8-bit islands: activations, arithmetic, Pad, Resize, DepthToSpace,
 * ReduceMean, Softmax, BatchNormalization, ConvTranspose), against Lathe's runtime bit for bit: each model
 * goes through the int8 pipeline, is partitioned for secda-sa (one also for secda-vm), emitted, built with
 * g++ through the driver's Makefile, and run on one seeded input set; every output .npy must be
 * byte-identical to what Lathe's npy writer makes of the runtime's tensors (the partitioned graph on the
 * simulator and the unpartitioned graph on the plain interpreter). Build and run times are printed.
 */
import assert from "node:assert/strict";
import { encodeNpy } from "../compiler/npy.ts";
import { loadModel } from "../compiler/load-model.ts";
import { integerPipeline } from "../compiler/target-compile.ts";
import "../compiler/formats.ts";
import type { Model } from "../ir/graph.ts";
import { bindInputShapes } from "../passes/convert/static-shapes.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import "../passes/index.ts";
import { Session } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { emitDriver } from "../targets/emit/emit.ts";
import { partitionGraph } from "../targets/partition.ts";
import { getTarget } from "../targets/registry.ts";
import { cutBefore, seededInputs, simulatePartitioned } from "../targets/simulate.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { buildDriver, noToolchain, runDriver, storageTensor } from "./support/driver-run.ts";

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

/** `make -j2` with CXXFLAGS=-O1: the float steps round the same at any optimization level (-ffp-contract=off). */
function buildO1(dir: string): number {
  const t0 = performance.now();
  const r = new Deno.Command("make", {
    args: ["-j2", "-C", dir, "-s", "CXXFLAGS=-O1"],
    stdout: "piped",
    stderr: "piped",
  })
    .outputSync();
  if (!r.success) throw new Error(`make failed in ${dir}:\n${new TextDecoder().decode(r.stderr)}`);
  return performance.now() - t0;
}

function firstDifference(a: Uint8Array, b: Uint8Array): string {
  if (a.length !== b.length) return `lengths ${a.length} and ${b.length}`;
  let n = 0, first = -1;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      if (first < 0) first = i;
      n++;
    }
  }
  return n ? `${n} bytes differ, first at ${first}` : "";
}

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
        const build = c.o2 ? buildDriver(driver.dir) : buildO1(driver.dir);
        const seed = 1;
        const sim = simulatePartitioned(m.graph, partitioned, { seed });
        assert.ok(sim.bitExact, `${c.model}: the simulation itself is bit-exact`);
        assert.equal(sim.cutAt, driver.cutAt, "the driver stops where simulation does");
        const base = sim.cutAt ? cutBefore(m.graph, sim.cutAt) : m.graph;
        const inputs = seededInputs(base, seed);
        const plain = new Session(base).run(inputs).outputs;
        const r = await runDriver(
          `${driver.dir}/lathe_driver`,
          `${out}/run`,
          driver.inputs,
          driver.outputs,
          inputs,
        );
        assert.equal(r.code, 0, `the driver exits 0 (${r.stderr})`);
        for (const o of driver.outputs) {
          const got = r.outputs.get(o.name)!;
          const fromSim = sim.outputs[o.name], fromPlain = plain[o.name];
          assert.ok(fromSim instanceof Tensor && fromPlain instanceof Tensor, `${o.name} is a tensor`);
          assert.equal(
            firstDifference(got, encodeNpy(storageTensor(fromSim))),
            "",
            `${o.name} vs simulation`,
          );
          assert.equal(firstDifference(got, encodeNpy(storageTensor(fromPlain))), "", `${o.name} vs runtime`);
        }
        console.log(
          `${c.model} on ${c.target}: ${driver.stats.nodes} nodes, ${driver.stats.calls} calls; prepare+emit ${
            prep.toFixed(0)
          } ms, build ${build.toFixed(0)} ms${c.o2 ? "" : " (-O1)"}, run ${r.ms.toFixed(0)} ms`,
        );
      } finally {
        await Deno.remove(out, { recursive: true });
      }
    },
  });
}
