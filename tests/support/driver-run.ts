/**
 * Building and running emitted C++ drivers in tests: `make` in the driver folder, seeded inputs written as
 * .npy, the driver run on them, its .npy outputs (and, with --dump, every value) read back, and the whole
 * check every driver test makes (checkDriver): outputs byte-identical to the runtime's, on the simulated
 * partitioned graph and on the plain one, optionally every dumped value and the accelerator model's packet
 * log against the Programs. Tests that use it skip with a clear message where g++ or make is missing.
 */
import assert from "node:assert/strict";
import { decodeNpy, encodeNpy } from "../../compiler/npy.ts";
import { storageOf } from "../../ir/dtype.ts";
import type { Graph } from "../../ir/graph.ts";
import { Session } from "../../runtime/interpreter.ts";
import { Tensor } from "../../runtime/tensor.ts";
import { type DriverTensor, type EmittedDriver, npyFileName } from "../../targets/emit/emit.ts";
import { getTarget } from "../../targets/registry.ts";
import { cutBefore, seededInputs, simulatePartitioned } from "../../targets/simulate.ts";
import type { Cmd } from "../../targets/target.ts";

function runs(cmd: string, args: string[]): boolean {
  try {
    return new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

export const HAVE_TOOLCHAIN = runs("g++", ["--version"]) && runs("make", ["--version"]);
let warned = false;

/** Use as `Deno.test({ name, ignore: noToolchain(), fn })`; prints why once. */
export function noToolchain(): boolean {
  if (!HAVE_TOOLCHAIN && !warned) {
    warned = true;
    console.warn("SKIP driver build tests: g++ and make are needed to build the emitted C++ drivers");
  }
  return !HAVE_TOOLCHAIN;
}

/**
 * `make -j2` in the driver folder; returns the build time in ms or throws with the compiler's output.
 * `cxxflags` replaces the Makefile's optimization flags (-O1 builds twice as fast; the steps round the same
 * at any level, -ffp-contract=off being added by the Makefile either way).
 */
export function buildDriver(dir: string, cxxflags?: string): number {
  const t0 = performance.now();
  const args = ["-j2", "-C", dir, "-s", ...(cxxflags ? [`CXXFLAGS=${cxxflags}`] : [])];
  const r = new Deno.Command("make", { args, stdout: "piped", stderr: "piped" }).outputSync();
  if (!r.success) {
    throw new Error(
      `make failed in ${dir}:\n${new TextDecoder().decode(r.stdout)}${new TextDecoder().decode(r.stderr)}`,
    );
  }
  return performance.now() - t0;
}

/** The tensor with its storage element type (quantized codes as plain i8/u8), as .npy files carry it. */
export function storageTensor(t: Tensor): Tensor {
  return new Tensor(storageOf(t.dtype)!, t.shape, t.data);
}

export interface DriverRun {
  /** Output .npy bytes by value name. */
  readonly outputs: Map<string, Uint8Array>;
  readonly ms: number;
  readonly stderr: string;
  readonly code: number;
}

/**
 * Writes `inputs` (by the driver's input names) as .npy under `work`, runs `exe` and reads the outputs.
 * `env` adds environment variables (LATHE_ACC_TRACE); `args` adds options before the positional ones.
 */
export async function runDriver(
  exe: string,
  work: string,
  ins: readonly DriverTensor[],
  outs: readonly DriverTensor[],
  inputs: Record<string, Tensor>,
  opts: { env?: Record<string, string>; args?: string[] } = {},
): Promise<DriverRun> {
  await Deno.mkdir(`${work}/in`, { recursive: true });
  await Deno.mkdir(`${work}/out`, { recursive: true });
  const files: string[] = [];
  for (const i of ins) {
    const f = `${work}/in/${i.file}`;
    await Deno.writeFile(f, encodeNpy(storageTensor(inputs[i.name])));
    files.push(f);
  }
  const t0 = performance.now();
  const r = await new Deno.Command(exe, {
    args: [...(opts.args ?? []), `${work}/out`, ...files],
    env: opts.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - t0;
  const outputs = new Map<string, Uint8Array>();
  if (r.success) { for (const o of outs) outputs.set(o.name, await Deno.readFile(`${work}/out/${o.file}`)); }
  return { outputs, ms, stderr: new TextDecoder().decode(r.stderr), code: r.code };
}

/** Reads a dumped value back. */
export async function readDump(dir: string, file: string): Promise<Tensor> {
  return decodeNpy(await Deno.readFile(`${dir}/${file}`));
}

/** A tensor's bytes as stored. */
export function bytesOf(t: Tensor): Uint8Array {
  const d = t.data as Uint8Array;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** "" when equal, else how many bytes differ and where the first is. */
export function firstDifference(a: Uint8Array, b: Uint8Array): string {
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

/** How a packet's results come back in the trace: by default all of them on the packet's own lane. */
export type TraceRecv = (c: Cmd) => string[];

/**
 * The packets each call's Program sends, in the trace format of the accelerator models (LATHE_ACC_TRACE):
 * `send LANE OPCODE HEADER... : PAYLOAD_WORDS`, then the receives.
 */
export function expectedTrace(
  g: Graph,
  target: string,
  recv: TraceRecv = (c) => [`recv ${c.lane} ${c.recvWords}`],
): string[] {
  const lines: string[] = [];
  for (const n of g.nodes) {
    if (n.op !== "lathe.AccelCall") continue;
    for (const c of getTarget(target).programOf(n).cmds) {
      const words = c.payload.reduce((s, r) => s + r.words, 0);
      lines.push(`send ${c.lane} ${c.opcode}${c.header.map((h) => ` ${h | 0}`).join("")} : ${words}`);
      if (c.recvWords) lines.push(...recv(c));
    }
  }
  return lines;
}

export interface DriverCheck {
  readonly label: string;
  /** The graph before partitioning (the plain runtime's) and the partitioned one the driver was emitted from. */
  readonly original: Graph;
  readonly partitioned: Graph;
  readonly driver: EmittedDriver;
  readonly seeds: readonly number[];
  /** Inputs for a seed (default: seededInputs of the graph up to where the driver stops). */
  readonly inputs?: (seed: number) => Record<string, Tensor>;
  /** Compare every dumped value (--dump) with the partitioned graph's on the runtime. */
  readonly dump?: boolean;
  /** The target whose Programs the accelerator model's packet log must equal, packet for packet. */
  readonly trace?: string;
  readonly recv?: TraceRecv;
  /** A further check of each output as the plain runtime computes it (e.g. that it is not saturated). */
  readonly output?: (name: string, t: Tensor) => void;
  readonly cxxflags?: string;
}

/** Builds the driver, runs it per seed and compares it with the runtime (see the module comment). */
export async function checkDriver(c: DriverCheck): Promise<{ build: number; run: number }> {
  const build = buildDriver(c.driver.dir, c.cxxflags);
  const work = await Deno.makeTempDir({ prefix: "lathe-driver-run-" });
  let runMs = 0;
  try {
    for (const seed of c.seeds) {
      const given = c.inputs?.(seed);
      const sim = simulatePartitioned(c.original, c.partitioned, given ? { seed, inputs: given } : { seed });
      assert.ok(sim.bitExact, `${c.label}: the simulation itself is bit-exact`);
      assert.equal(sim.cutAt, c.driver.cutAt, `${c.label}: the driver stops where simulation does`);
      const base = sim.cutAt ? cutBefore(c.original, sim.cutAt) : c.original;
      const inputs = given ?? seededInputs(base, seed);
      const plain = new Session(base).run(inputs).outputs;
      const observed = new Map<string, Tensor>();
      const dumpDir = `${work}/dump-${seed}`;
      if (c.dump) {
        const cut = sim.cutAt ? cutBefore(c.partitioned, sim.cutAt) : c.partitioned;
        new Session(cut).run(inputs, { observe: (name, v) => v instanceof Tensor && observed.set(name, v) });
        await Deno.mkdir(dumpDir);
      }
      const tracePath = `${work}/trace-${seed}.txt`;
      const r = await runDriver(
        `${c.driver.dir}/lathe_driver`,
        `${work}/s${seed}`,
        c.driver.inputs,
        c.driver.outputs,
        inputs,
        { env: c.trace ? { LATHE_ACC_TRACE: tracePath } : {}, args: c.dump ? ["--dump", dumpDir] : [] },
      );
      assert.equal(r.code, 0, `${c.label}: the driver exits 0 (${r.stderr})`);
      runMs += r.ms;
      for (const o of c.driver.outputs) {
        const got = r.outputs.get(o.name)!;
        const fromSim = sim.outputs[o.name], fromPlain = plain[o.name];
        assert.ok(
          fromSim instanceof Tensor && fromPlain instanceof Tensor,
          `${c.label}: ${o.name} is a tensor`,
        );
        c.output?.(o.name, fromPlain);
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
        const want = expectedTrace(c.partitioned, c.trace, c.recv);
        assert.equal(
          got.length,
          want.length,
          `${c.label}: ${got.length} trace lines for ${want.length} packets`,
        );
        assert.deepEqual(got, want, `${c.label}: the packets sent are the Programs'`);
      }
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
  const run = runMs / c.seeds.length;
  console.log(
    `${c.label}: build ${build.toFixed(0)} ms${c.cxxflags ? ` (${c.cxxflags})` : ""}, run ${
      run.toFixed(1)
    } ms per input set`,
  );
  return { build, run };
}
