/**
 * Emitted C++ drivers against Lathe's runtime, bit for bit: compile (or partition and emit), build with
 * g++ through the driver's Makefile (linking the accelerator model acc_sim.cc), run on seeded .npy inputs,
 * and compare every output .npy with the partitioned graph on the runtime (targets/simulate.ts, each
 * AccelCall on its target's functional model) and with the unpartitioned graph on the plain runtime. The
 * output files must be byte-identical to what Lathe's npy writer makes of the runtime's tensors. For the
 * embedded int8 CNN, every intermediate value (--dump) is compared too, and the packets the accelerator
 * model receives (LATHE_ACC_TRACE) must be each call's Program, packet for packet, whether the driver sends
 * them from tile loops or from packet tables.
 *
 * Models × targets: the embedded int8 CNN, the Coral uint8 SSD-MobileNetV2 up to its custom op, and the
 * torchvision squeezenet1_1 and mobilenet_v2 quantized to int8 by Lathe's quantize pass, each on secda-sa
 * and secda-vm. Build and run times are printed.
 */
import assert from "node:assert/strict";
import { compileModel } from "../compiler/compile.ts";
import { loadModel } from "../compiler/load-model.ts";
import { integerPipeline } from "../compiler/target-compile.ts";
import "../compiler/formats.ts";
import type { Graph, Model } from "../ir/graph.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import "../passes/index.ts";
import { emitDriver, type EmittedDriver } from "../targets/emit/emit.ts";
import { partitionGraph } from "../targets/partition.ts";
import { getTarget } from "../targets/registry.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { checkDriver, noToolchain } from "./support/driver-run.ts";

const TARGETS = ["secda-sa", "secda-vm"] as const;

async function integerModel(path: string): Promise<Model> {
  let m = await loadModel(path);
  const p = integerPipeline(m);
  if (p) m = (await runPipeline(m, p)).model;
  return m;
}

async function emitFor(m: Model, target: string, packetTables = false) {
  const partitioned = partitionGraph(m.graph, getTarget(target)).graph;
  const out = await Deno.makeTempDir({ prefix: `lathe-driver-${target}-` });
  const driver = await emitDriver(partitioned, target, { out, packetTables });
  return { partitioned, driver, out };
}

Deno.test({
  name:
    "embedded int8 CNN: compile --target writes a driver that builds and runs bit-exact on secda-sa and secda-vm",
  ignore: noToolchain(),
  fn: async () => {
    for (const target of TARGETS) {
      const out = await Deno.makeTempDir({ prefix: `lathe-compile-${target}-` });
      try {
        const r = await compileModel({ target, out });
        assert.ok(r.driver && "dir" in r.driver, `${target}: a driver was emitted`);
        const d = r.driver as EmittedDriver;
        assert.equal(d.dir, `${out}/driver`);
        assert.equal(d.stats.calls, 4, "conv1, proj1, conv2 and fc run on the accelerator");
        assert.equal(d.stats.loopCalls, 4, "every call's stream is a tile loop");
        // The accelerator's constants come from compile's weights.bin, not a copy.
        const model = await Deno.readTextFile(`${d.dir}/model.cc`);
        assert.match(model, /"weights\.bin"/);
        assert.equal(
          (await Deno.stat(`${d.dir}/constants.bin`)).size < (await Deno.stat(`${out}/weights.bin`)).size,
          true,
        );
        await checkDriver({
          label: `int8 CNN on ${target}`,
          original: await compileOriginal(),
          partitioned: r.target!.partition.graph,
          driver: d,
          seeds: [0, 1],
          dump: true,
          trace: target,
        });
      } finally {
        await Deno.remove(out, { recursive: true });
      }
    }
  },
});

async function compileOriginal(): Promise<Graph> {
  const { defaultInt8Model } = await import("../compiler/default-int8-model.ts");
  return defaultInt8Model().graph;
}

Deno.test({
  name: "embedded int8 CNN: packet tables send the same packets and give the same results as tile loops",
  ignore: noToolchain(),
  fn: async () => {
    const original = await compileOriginal();
    for (const target of TARGETS) {
      const m: Model = { graph: original, meta: { format: "lathe", opsets: {}, props: {} } };
      const { partitioned, driver, out } = await emitFor(m, target, true);
      try {
        assert.equal(driver.stats.loopCalls, 0);
        assert.match(await Deno.readTextFile(`${driver.dir}/model.cc`), /secda_run_packets/);
        await checkDriver({
          label: `int8 CNN on ${target} (packet tables)`,
          original,
          partitioned,
          driver,
          seeds: [2],
          trace: target,
        });
      } finally {
        await Deno.remove(out, { recursive: true });
      }
    }
  },
});

Deno.test({
  name: "Coral uint8 SSD-MobileNetV2 up to its custom op: driver bit-exact on secda-sa and secda-vm",
  ignore: noCorpus() || noToolchain(),
  fn: async () => {
    const m = await loadModel(corpusPath("tflite/coral/mobilenet_ssd_v2_coco_quant_postprocess.tflite"));
    for (const target of TARGETS) {
      const { partitioned, driver, out } = await emitFor(m, target);
      try {
        assert.equal(driver.cutAt, "TFLite_Detection_PostProcess");
        assert.equal(driver.stats.calls, m.graph.nodes.filter((n) => n.op === "tfl.CONV_2D").length);
        await checkDriver({
          label: `Coral SSD on ${target}`,
          original: m.graph,
          partitioned,
          driver,
          seeds: [0],
          trace: target,
        });
      } finally {
        await Deno.remove(out, { recursive: true });
      }
    }
  },
});

for (
  const [name, file] of [["squeezenet1_1", "onnx/torch/squeezenet1_1.onnx"], [
    "mobilenet_v2",
    "onnx/torch/mobilenet_v2.onnx",
  ]]
) {
  Deno.test({
    name: `${name} quantized to int8 by Lathe: driver bit-exact on secda-sa and secda-vm`,
    ignore: noCorpus() || noToolchain(),
    fn: async () => {
      const m = await integerModel(corpusPath(file));
      for (const target of TARGETS) {
        const { partitioned, driver, out } = await emitFor(m, target);
        try {
          assert.ok(driver.stats.calls > 20, `${name}: the convolutions run on the accelerator`);
          await checkDriver({
            label: `${name} int8 on ${target}`,
            original: m.graph,
            partitioned,
            driver,
            seeds: [0],
            trace: target,
          });
        } finally {
          await Deno.remove(out, { recursive: true });
        }
      }
    },
  });
}

Deno.test({
  name:
    "sa:RxC arrays speak the SECDA protocol: compile writes a driver bit-exact on sa:8x8:os and sa:32x32:ws",
  ignore: noToolchain(),
  fn: async () => {
    const original = await compileOriginal();
    for (const target of ["sa:8x8:os", "sa:32x32:ws"]) {
      const out = await Deno.makeTempDir({ prefix: "lathe-compile-sa-" });
      try {
        const r = await compileModel({ target, out });
        assert.ok(r.driver && "dir" in r.driver, `${target}: a driver was emitted`);
        const d = r.driver as EmittedDriver;
        assert.equal(d.stats.calls, 4, "conv1, proj1, conv2 and fc run on the array");
        assert.match(await Deno.readTextFile(`${d.dir}/acc_config.h`), new RegExp(`kTarget = "${target}"`));
        await checkDriver({
          label: `int8 CNN on ${target}`,
          original,
          partitioned: r.target!.partition.graph,
          driver: d,
          seeds: [3],
          trace: target,
        });
      } finally {
        await Deno.remove(out, { recursive: true });
      }
    }
  },
});
