/**
 * Emitted C++ drivers for PoTAcc against Lathe's runtime, bit for bit: compile (or partition and emit),
 * build with g++ through the driver's Makefile (linking the shift-PE accelerator model potacc_sim.cc), run
 * on seeded .npy inputs, and compare every output .npy with the partitioned graph on the runtime
 * (targets/simulate.ts, each AccelCall on targets/potacc/functional.ts) and with the unpartitioned
 * power-of-two graph on the plain runtime (lathe.ShiftConv/ShiftMatMul kernels). The packets the
 * accelerator model receives (LATHE_ACC_TRACE) must be each call's Program, packet for packet; a COMPUTE's
 * results come back with row r of the tile on lane r mod 4, so its `recvWords` are received lane by lane.
 *
 * Models × targets: the embedded float CNN quantized by compile with each target's preferred scheme on
 * potacc (APoT), potacc:z2:pot (QKeras) and potacc:kria:msq (MSQ), every intermediate value compared; the
 * same from packet tables; a stream for the wrong bitstream refused as the functional model refuses it; and
 * torchvision squeezenet1_1 and mobilenet_v2 quantized to APoT as compile does, on potacc:z2 and
 * potacc:kria. Build and run times are printed.
 */
import assert from "node:assert/strict";
import { compileModel } from "../compiler/compile.ts";
import { loadModel } from "../compiler/load-model.ts";
import { integerPipeline } from "../compiler/target-compile.ts";
import "../compiler/formats.ts";
import { LatheError } from "../ir/errors.ts";
import type { Graph, Model } from "../ir/graph.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import "../passes/index.ts";
import { Session } from "../runtime/interpreter.ts";
import { fromConstant, Tensor } from "../runtime/tensor.ts";
import { emitDriver, type EmittedDriver } from "../targets/emit/emit.ts";
import { partitionGraph } from "../targets/partition.ts";
import { getTarget } from "../targets/registry.ts";
import { seededInputs } from "../targets/simulate.ts";
import { POTACC_BOARDS, potaccParams } from "../targets/potacc/descriptor.ts";
import { runPotProgram } from "../targets/potacc/functional.ts";
import type { FunctionalModel, Program } from "../targets/target.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { buildDriver, checkDriver, noToolchain, runDriver, type TraceRecv } from "./support/driver-run.ts";

/** PoTAcc returns row r of a tile on lane r mod 4 (targets/potacc/program.ts). */
const laneRows: TraceRecv = (c) => {
  const [, mc, , nc] = c.header.slice(-4);
  assert.equal(mc * nc, c.recvWords, "a COMPUTE returns its whole tile");
  const lines: string[] = [];
  for (let l = 0; l < 4; l++) {
    const rows = mc > l ? Math.ceil((mc - l) / 4) : 0;
    if (rows) lines.push(`recv ${l} ${rows * nc}`);
  }
  return lines;
};

const methodOf = (
  g: Graph,
) => [
  ...new Set(g.nodes.filter((n) => n.op === "lathe.AccelCall").map((n) => String(n.attrs.method?.value))),
];

Deno.test({
  name:
    "embedded CNN: compile --target potacc[:board:method] writes a driver bit-exact for APoT, QKeras and MSQ",
  ignore: noToolchain(),
  fn: async () => {
    for (
      const [target, method] of [["potacc", "apot"], ["potacc:z2:pot", "pot"], ["potacc:kria:msq", "msq"]]
    ) {
      const out = await Deno.makeTempDir({ prefix: "lathe-compile-potacc-" });
      try {
        const r = await compileModel({ target, out });
        assert.ok(
          r.driver && "dir" in r.driver,
          `${target}: a driver was emitted (${JSON.stringify(r.driver)})`,
        );
        const d = r.driver as EmittedDriver;
        assert.equal(d.stats.calls, 3, `${target}: conv1, conv2 and fc run on the shift PEs`);
        const partitioned = r.target!.partition.graph;
        assert.deepEqual(methodOf(partitioned), [method]);
        const model = await Deno.readTextFile(`${d.dir}/model.cc`);
        assert.equal(model.match(/potacc_gemm\(/g)?.length, 3, "every call's stream is a tile loop");
        const original = (await potGraph(method)).graph;
        await checkDriver({
          label: `embedded CNN on ${target}`,
          trace: target,
          recv: laneRows,
          original,
          partitioned,
          driver: d,
          seeds: [0, 1],
          dump: true,
        });
      } finally {
        await Deno.remove(out, { recursive: true });
      }
    }
  },
});

async function potGraph(scheme: string, path?: string): Promise<Model> {
  let m: Model = path ? await loadModel(path) : (await import("../compiler/default-model.ts")).defaultModel();
  const p = integerPipeline(m, scheme);
  if (p) m = (await runPipeline(m, p)).model;
  return m;
}

async function emitFor(m: Model, target: string, packetTables = false) {
  const partitioned = partitionGraph(m.graph, getTarget(target)).graph;
  const out = await Deno.makeTempDir({ prefix: `lathe-driver-${target.replaceAll(":", "_")}-` });
  const driver = await emitDriver(partitioned, target, { out, packetTables });
  return { partitioned, driver, out };
}

Deno.test({
  name: "embedded CNN on potacc: packet tables send the same packets and give the same results",
  ignore: noToolchain(),
  fn: async () => {
    const m = await potGraph("apot");
    const { partitioned, driver, out } = await emitFor(m, "potacc", true);
    try {
      const model = await Deno.readTextFile(`${driver.dir}/model.cc`);
      assert.equal(model.match(/potacc_run_packets\(/g)?.length, 3);
      assert.doesNotMatch(model, /potacc_gemm\(/);
      await checkDriver({
        label: "embedded CNN on potacc (packet tables)",
        trace: "potacc",
        recv: laneRows,
        original: m.graph,
        partitioned,
        driver,
        seeds: [2],
      });
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

/** The functional model's refusal of `program`, as "packet N: reason". */
function functionalRefusal(run: FunctionalModel, program: Program, operands: Tensor[]): string {
  const n = program.dims.m * program.dims.n;
  try {
    run(program, operands, new Tensor("i32", [n], new Int32Array(n)), {});
  } catch (e) {
    assert.ok(e instanceof LatheError, String(e));
    return e.message.slice(e.message.indexOf("packet "));
  }
  throw new Error("the functional model accepted the stream");
}

Deno.test({
  name:
    "potacc_sim refuses a stream for another bitstream's method and one that overflows the input banks, " +
    "as the functional model does",
  ignore: noToolchain(),
  fn: async () => {
    const m = await potGraph("apot");
    const { partitioned, driver, out } = await emitFor(m, "potacc");
    try {
      const call = partitioned.nodes.find((n) => n.op === "lathe.AccelCall")!;
      const program = getTarget("potacc").programOf(call);
      const values = new Map<string, Tensor>();
      const inputs = seededInputs(m.graph, 0);
      new Session(partitioned).run(inputs, {
        observe: (name, v) => v instanceof Tensor && values.set(name, v),
      });
      const operands = call.inputs.map((i) => {
        const c = i ? partitioned.constants[i] : undefined;
        const t = c ? fromConstant(c) : values.get(i!);
        assert.ok(t, `operand ${i} has a value`);
        return t;
      });
      const config = `${driver.dir}/acc_config.h`;
      const original = await Deno.readTextFile(config);
      const refusal = async (edited: string) => {
        await Deno.writeTextFile(config, edited);
        buildDriver(driver.dir);
        const r = await runDriver(
          `${driver.dir}/lathe_driver`,
          `${out}/run`,
          driver.inputs,
          driver.outputs,
          inputs,
        );
        assert.equal(r.code, 3, `the accelerator model refuses the stream (${r.stderr})`);
        const line = r.stderr.trim();
        return line.slice(line.indexOf("packet "));
      };
      // An MSQ bitstream receiving the APoT stream.
      const wrongMethod = await refusal(original.replace("kOnlyMethod = 0;", "kOnlyMethod = 2;"));
      assert.equal(wrongMethod, functionalRefusal(getTarget("potacc:z2:msq").functional, program, operands));
      assert.equal(wrongMethod, "packet 0: the stream is for the APoT PE; this bitstream is MSQ");
      // Global input banks of 16 words: the first input rows overflow them.
      const board = { ...POTACC_BOARDS.z2, ginpBufLen: 16 };
      const tiny: FunctionalModel = (p, ops, y) =>
        runPotProgram({ params: potaccParams("z2", "potacc"), board }, p, ops, y);
      const overflow = await refusal(original.replace(/kGinpBufLen = \d+;/, "kGinpBufLen = 16;"));
      assert.equal(overflow, functionalRefusal(tiny, program, operands));
      assert.match(overflow, /^packet [1-9]\d*: \d+ input rows of \d+ words exceed the global input banks$/);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

for (
  const [name, file] of [
    ["squeezenet1_1", "onnx/torch/squeezenet1_1.onnx"],
    ["mobilenet_v2", "onnx/torch/mobilenet_v2.onnx"],
  ]
) {
  Deno.test({
    name: `${name} quantized to APoT as compile does: driver bit-exact on potacc:z2 and potacc:kria`,
    ignore: noCorpus() || noToolchain(),
    fn: async () => {
      const t0 = performance.now();
      const m = await potGraph(getTarget("potacc:z2").params.preferredScheme!, corpusPath(file));
      console.log(`${name}: quantized to APoT in ${(performance.now() - t0).toFixed(0)} ms`);
      for (const target of ["potacc:z2", "potacc:kria"]) {
        const { partitioned, driver, out } = await emitFor(m, target);
        try {
          assert.ok(driver.stats.calls > 20, `${name}: the PoT convolutions run on the shift PEs`);
          await checkDriver({
            label: `${name} APoT on ${target}`,
            trace: target,
            recv: laneRows,
            original: m.graph,
            partitioned,
            driver,
            seeds: [0],
          });
        } finally {
          await Deno.remove(out, { recursive: true });
        }
      }
    },
  });
}
