/**
 * The emitter's pieces against hand-derived values: exact C++ hex-float literals (IEEE-754 bit patterns
 * worked out by hand), the arena plan of a small chain (offsets derived step by step) and the no-overlap
 * property on the embedded CNN, the GEMM schedule recognizer (tile loops reproduce multi-tile Programs in
 * both loop orders; a Program that is not a tile loop is refused), and refusals of what the driver cannot
 * run.
 */
import assert from "node:assert/strict";
import { defaultInt8Model } from "../compiler/default-int8-model.ts";
import { LatheError } from "../ir/errors.ts";
import type { Graph } from "../ir/graph.ts";
import { type TensorType, tensorType } from "../ir/value-type.ts";
import { planArena } from "../targets/emit/arena.ts";
import { hexDouble, hexFloat } from "../targets/emit/cpp-literal.ts";
import { renderDriver } from "../targets/emit/emit.ts";
import { expandSchedule, gemmSchedule, sameStream } from "../targets/emit/gemm-schedule.ts";
import { partitionGraph } from "../targets/partition.ts";
import { getTarget } from "../targets/registry.ts";
import { gemmProgram } from "../targets/secda/gemm-program.ts";
import { SA_DESIGN } from "../targets/secda-sa/lower.ts";
import { VM_DESIGN } from "../targets/secda-vm/lower.ts";
import { q, TflGraph } from "./support/tfl-int8-graph.ts";

Deno.test("hex literals: exact bit patterns", () => {
  assert.equal(hexDouble(1), "0x1p+0");
  assert.equal(hexDouble(1.5), "0x1.8p+0"); // 1.1b
  assert.equal(hexDouble(-2), "-0x1p+1");
  assert.equal(hexDouble(0.1), "0x1.999999999999ap-4"); // 0x3FB999999999999A
  assert.equal(hexDouble(0), "0x0p+0");
  assert.equal(hexDouble(-0), "-0x0p+0");
  assert.equal(hexDouble(5e-324), "0x0.0000000000001p-1022"); // the smallest subnormal
  assert.equal(hexDouble(Number.MAX_VALUE), "0x1.fffffffffffffp+1023");
  assert.equal(hexDouble(Infinity), "__builtin_inf()");
  // float32 0.1 is 0x3DCCCCCD: significand 1.10011001100110011001101b = 0x1.99999a.
  assert.equal(hexFloat(Math.fround(0.1)), "0x1.99999ap-4f");
  assert.equal(hexFloat(1 / 256), "0x1p-8f");
  assert.throws(() => hexFloat(0.1), LatheError, "0.1 is not a float32 value");
});

function chain(sizes: number[]): Graph {
  // v0 (input) -> v1 -> v2 -> v3 (output), each an i8 vector of the given size.
  const values: Graph["values"] = {};
  sizes.forEach((n, i) => ((values as Record<string, unknown>)[`v${i}`] = { type: tensorType("i8", [n]) }));
  const nodes = sizes.slice(1).map((_, i) => ({
    id: `n${i}`,
    op: "Identity",
    inputs: [`v${i}`],
    outputs: [`v${i + 1}`],
    attrs: {},
  }));
  return { name: "chain", inputs: ["v0"], outputs: [`v${sizes.length - 1}`], nodes, values, constants: {} };
}

Deno.test("arena: a chain reuses dead values' bytes, 64-byte aligned", () => {
  // Sizes round to 128, 256, 128, 64. v0 at 0; v1 at 128 (v0 still live while n0 runs); v0 dies.
  // v2 (128) fits v0's hole at 0; v1 dies, freeing [128, 384). v3 (64) goes to 128. High water 384.
  const g = chain([100, 200, 100, 50]);
  const p = planArena(g, g.inputs, (v) => (g.values[v].type as TensorType).shape![0] as number);
  assert.deepEqual(Object.fromEntries(p.offsets), { v0: 0, v1: 128, v2: 0, v3: 128 });
  assert.equal(p.bytes, 384);
});

Deno.test("arena: no two live values overlap in the embedded CNN's partitioned graph", () => {
  const g = partitionGraph(defaultInt8Model().graph, getTarget("secda-sa")).graph;
  const size = (v: string) => {
    const t = g.values[v].type as TensorType & { shape: number[] };
    const bytes = t.dtype === "u32" || t.dtype === "i32" ? 4 : 1;
    return (t.shape as number[]).reduce((a, b) => a * b, 1) * bytes;
  };
  const p = planArena(g, g.inputs, size);
  const born = new Map<string, number>(g.inputs.map((v) => [v, -1]));
  const dies = new Map<string, number>();
  g.nodes.forEach((n, i) => {
    for (const o of n.outputs) born.set(o, i);
    for (const v of n.inputs) if (v && born.has(v)) dies.set(v, i);
  });
  for (const o of g.outputs) dies.set(o, g.nodes.length);
  const live = [...born.keys()].map((v) => ({
    v,
    from: born.get(v)!,
    to: dies.get(v) ?? born.get(v)!,
    at: p.offsets.get(v)!,
    n: size(v),
  }));
  let pairs = 0;
  for (const a of live) {
    for (const b of live) {
      if (a.v >= b.v) continue;
      // Intervals [from, to] in node steps; a node's outputs are born while its inputs are still live.
      const together = a.from <= b.to && b.from <= a.to;
      const overlap = a.at < b.at + b.n && b.at < a.at + a.n;
      assert.ok(!(together && overlap), `${a.v} and ${b.v} are live together and share bytes`);
      if (together) pairs++;
    }
  }
  assert.ok(pairs > 10, "the check saw values live at the same time");
  assert.ok(p.bytes < [...born.keys()].reduce((s, v) => s + size(v), 0), "bytes are reused");
});

function gemmAttrs(m: number, n: number, k: number, lanes = 4) {
  const up = (v: number, d: number) => Math.ceil(v / d) * d;
  return {
    m,
    n,
    k,
    mp: up(m, 4),
    np: up(n, 4),
    kp: up(k, 16),
    lanes,
    x_signed: 1,
    w_signed: 1,
    ppu: "tflite",
    sums: 1,
    zp_out: 3,
    act_min: -128,
    act_max: 127,
  };
}

Deno.test("GEMM schedule: tile loops reproduce multi-tile Programs in both loop orders", () => {
  const seen = new Set<string>();
  // Deep rows make small input tiles (inputs outer, weights reloaded); many rows and few tiles of weights
  // make weights the cheaper operand to keep (weights outer).
  for (
    const [design, m, n, k] of [[SA_DESIGN, 5000, 40, 1024], [SA_DESIGN, 300, 3000, 2000], [
      VM_DESIGN,
      3000,
      600,
      300,
    ], [VM_DESIGN, 10, 10, 10]] as const
  ) {
    const p = gemmProgram(design, gemmAttrs(m, n, k), "g");
    const s = gemmSchedule(p, 4);
    assert.ok(typeof s !== "string", typeof s === "string" ? s : "");
    assert.ok(sameStream(expandSchedule(s), p.cmds));
    seen.add(
      `${s.weightsOuter ? "weights" : "inputs"}-outer ${
        p.dims.mTiles > 1 || p.dims.nTiles > 1 ? "multi" : "single"
      }`,
    );
  }
  assert.ok(seen.has("inputs-outer multi") && seen.has("weights-outer multi"), [...seen].join(", "));
});

Deno.test("GEMM schedule: a stream that is not a tile loop is refused (the emitter then sends a packet table)", () => {
  const p = gemmProgram(SA_DESIGN, gemmAttrs(5000, 40, 1024), "g");
  const swapped = [...p.cmds];
  [swapped[1], swapped[2]] = [swapped[2], swapped[1]];
  assert.equal(gemmSchedule({ ...p, cmds: swapped }, 4), "the stream is not one of secda_gemm's tile loops");
  assert.equal(gemmSchedule({ ...p, kernel: "bfp" }, 4), "kernel bfp is not a GEMM");
});

Deno.test("emission refuses what the driver cannot run, naming the node", () => {
  // int16 activations: the driver's integer kernels take 8-bit codes.
  const t = new TflGraph();
  const x = t.input("x", q("i16", 0.01), [1, 4]);
  t.op("r", "tfl.RELU", [x], {}, { dtype: q("i16", 0.01), shape: [1, 4] });
  assert.throws(
    () => renderDriver(t.build(["r"]), "secda-sa"),
    (e) =>
      e instanceof LatheError && e.kind === "unsupported" &&
      /node r \(tfl\.RELU\): the input is i16/.test(e.reason),
  );
  // A target without a driver backend (every registered one has one): a copy of bfp under another name.
  const bfp = getTarget("bfp");
  const unknown = { ...bfp, params: { ...bfp.params, name: "no-driver" } };
  assert.throws(
    () => renderDriver(t.build(["r"]), unknown),
    (e) => e instanceof LatheError && /no accelerator model for target no-driver/.test(e.reason),
  );
});
