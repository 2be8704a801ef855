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
import { encodeNpy } from "../compiler/npy.ts";
import { loadModel } from "../compiler/load-model.ts";
import { integerPipeline } from "../compiler/target-compile.ts";
import "../compiler/formats.ts";
import type { Graph, Model } from "../ir/graph.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import "../passes/index.ts";
import { Session } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { emitDriver, type EmittedDriver, npyFileName } from "../targets/emit/emit.ts";
import { partitionGraph } from "../targets/partition.ts";
import { getTarget } from "../targets/registry.ts";
import { cutBefore, seededInputs, simulatePartitioned } from "../targets/simulate.ts";
import type { Program } from "../targets/target.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { buildDriver, noToolchain, readDump, runDriver, storageTensor } from "./support/driver-run.ts";

const TARGETS = ["secda-sa", "secda-vm"] as const;

function bytesOf(t: Tensor): Uint8Array {
  const d = t.data as Uint8Array;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
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

/** The packets each call's Program sends, in the trace format of acc_sim.cc. */
function expectedTrace(g: Graph, target: string): string[] {
  const lines: string[] = [];
  for (const n of g.nodes) {
    if (n.op !== "lathe.AccelCall") continue;
    const p: Program = getTarget(target).programOf(n);
    for (const c of p.cmds) {
      const words = c.payload.reduce((s, r) => s + r.words, 0);
      lines.push(
        `send ${c.lane} ${c.opcode} ${c.header.map((h) => h | 0).join(" ")} : ${words}`.replace("  :", " :"),
      );
      if (c.recvWords) lines.push(`recv ${c.lane} ${c.recvWords}`);
    }
  }
  return lines;
}

interface Check {
  readonly label: string;
  readonly target: string;
  readonly original: Graph;
  readonly partitioned: Graph;
  readonly driver: EmittedDriver;
  readonly seeds: readonly number[];
  /** Compare every dumped value with the runtime's. */
  readonly dump?: boolean;
  /** Compare the packets the accelerator model received with the Programs. */
  readonly trace?: boolean;
}

/** Builds the driver, runs it per seed and compares its outputs with the runtime; returns timings. */
async function check(c: Check): Promise<{ build: number; run: number }> {
  const build = buildDriver(c.driver.dir);
  const work = await Deno.makeTempDir({ prefix: "lathe-driver-run-" });
  let runMs = 0;
  try {
    for (const seed of c.seeds) {
      const sim = simulatePartitioned(c.original, c.partitioned, { seed });
      assert.ok(sim.bitExact, `${c.label}: the simulation itself is bit-exact`);
      const base = sim.cutAt ? cutBefore(c.original, sim.cutAt) : c.original;
      assert.equal(sim.cutAt, c.driver.cutAt, `${c.label}: the driver stops where simulation does`);
      const inputs = seededInputs(base, seed);
      const plain = new Session(base).run(inputs).outputs;
      const observed = new Map<string, Tensor>();
      if (c.dump) {
        const cut = sim.cutAt ? cutBefore(c.partitioned, sim.cutAt) : c.partitioned;
        new Session(cut).run(inputs, { observe: (name, v) => v instanceof Tensor && observed.set(name, v) });
      }
      const dumpDir = `${work}/dump-${seed}`;
      if (c.dump) await Deno.mkdir(dumpDir);
      const tracePath = `${work}/trace-${seed}.txt`;
      const r = await runDriver(
        `${c.driver.dir}/lathe_driver`,
        `${work}/s${seed}`,
        c.driver.inputs,
        c.driver.outputs,
        inputs,
        {
          env: c.trace ? { LATHE_ACC_TRACE: tracePath } : {},
          args: c.dump ? ["--dump", dumpDir] : [],
        },
      );
      assert.equal(r.code, 0, `${c.label}: the driver exits 0 (${r.stderr})`);
      runMs += r.ms;
      for (const o of c.driver.outputs) {
        const got = r.outputs.get(o.name)!;
        const fromSim = sim.outputs[o.name] as Tensor, fromPlain = plain[o.name] as Tensor;
        assert.ok(
          fromSim instanceof Tensor && fromPlain instanceof Tensor,
          `${c.label}: ${o.name} is a tensor`,
        );
        assert.equal(
          firstDifference(got, encodeNpy(storageTensor(fromSim))),
          "",
          `${c.label} seed ${seed}: ${o.name} vs simulation`,
        );
        assert.equal(
          firstDifference(got, encodeNpy(storageTensor(fromPlain))),
          "",
          `${c.label} seed ${seed}: ${o.name} vs plain runtime`,
        );
      }
      if (c.dump) {
        let compared = 0;
        for (const [name, want] of observed) {
          if (c.partitioned.inputs.includes(name)) continue;
          const got = await readDump(dumpDir, npyFileName(name));
          assert.equal(firstDifference(bytesOf(got), bytesOf(want)), "", `${c.label}: value ${name}`);
          compared++;
        }
        assert.equal(compared, c.driver.stats.nodes, `${c.label}: one dumped value per node`);
      }
      if (c.trace) {
        const got = (await Deno.readTextFile(tracePath)).trim().split("\n");
        const want = expectedTrace(c.partitioned, c.target);
        assert.deepEqual(got, want, `${c.label}: the packets sent are the Programs'`);
      }
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
  console.log(
    `${c.label}: build ${build.toFixed(0)} ms, run ${(runMs / c.seeds.length).toFixed(1)} ms per input set`,
  );
  return { build, run: runMs / c.seeds.length };
}

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
        await check({
          label: `int8 CNN on ${target}`,
          target,
          original: await compileOriginal(),
          partitioned: r.target!.partition.graph,
          driver: d,
          seeds: [0, 1],
          dump: true,
          trace: true,
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
        await check({
          label: `int8 CNN on ${target} (packet tables)`,
          target,
          original,
          partitioned,
          driver,
          seeds: [2],
          trace: true,
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
        await check({
          label: `Coral SSD on ${target}`,
          target,
          original: m.graph,
          partitioned,
          driver,
          seeds: [0],
          trace: true,
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
          await check({
            label: `${name} int8 on ${target}`,
            target,
            original: m.graph,
            partitioned,
            driver,
            seeds: [0],
            trace: true,
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
        await check({
          label: `int8 CNN on ${target}`,
          target,
          original,
          partitioned: r.target!.partition.graph,
          driver: d,
          seeds: [3],
          trace: true,
        });
      } finally {
        await Deno.remove(out, { recursive: true });
      }
    }
  },
});
