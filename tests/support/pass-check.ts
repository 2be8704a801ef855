/**
 * Checks shared by the pass tests: the IR after a pass as compact text, op counts, seeded inputs, and the
 * rewritten graph against the original run by the interpreter (the reference the pass did not produce).
 */
import assert from "node:assert/strict";
import type { Graph } from "../../ir/graph.ts";
import { parseGraph, printGraph } from "../../ir/text.ts";
import { assertValid } from "../../ir/verify.ts";
import { compareTensors } from "../../runtime/compare.ts";
import { interpret } from "../../runtime/interpreter.ts";
import { Rng } from "../../runtime/random.ts";
import { alloc, type RValue, Tensor } from "../../runtime/tensor.ts";
import { applyRules, type DriverOptions, explainRule, type Rule } from "../../passes/rewrite.ts";

/** Every traversal: rules must give the same result whichever way the graph is walked (tinygrad #5079). */
export const ORDERS: readonly DriverOptions[] = [
  { driver: "walk" },
  { driver: "walk", reverse: true },
  { driver: "greedy" },
  { driver: "greedy", reverse: true },
];
export const orderName = (o: DriverOptions) => `${o.driver}${o.reverse ? " reverse" : ""}`;

export const compact = (g: Graph) => printGraph(g, { meta: false });

/** Strips the common indentation of a hand-written expected text. */
export function ir(text: string): string {
  const lines = text.replace(/^\n/, "").replace(/\n\s*$/, "").split("\n");
  const pad = Math.min(...lines.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(pad)).join("\n");
}

const NAME = /%([A-Za-z0-9_.\/\-]+(?::+[A-Za-z0-9_.\/\-]+)*)/g;

/**
 * Values a rewrite created get names from a counter whose order depends on the traversal; renaming every
 * value the original graph does not have to %new0, %new1... in order of appearance compares structure.
 */
export function normalizeNames(text: string, original: Graph): string {
  const known = new Set([
    ...Object.keys(original.values),
    ...Object.keys(original.constants),
    ...original.inputs,
  ]);
  const fresh = new Map<string, string>();
  return text.replace(NAME, (m, n: string) => {
    if (known.has(n)) return m;
    if (!fresh.has(n)) fresh.set(n, `new${fresh.size}`);
    return `%${fresh.get(n)}`;
  });
}

export function opCounts(g: Graph): Record<string, number> {
  const c: Record<string, number> = {};
  for (const n of g.nodes) c[n.op] = (c[n.op] ?? 0) + 1;
  return c;
}

/**
 * Seeded values for every graph input that is not a constant: floats uniform in [-2, 2] (so activations see
 * both signs), integers in [-5, 5), bools 0/1.
 */
export function seededInputs(g: Graph, seed = 7): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  g.inputs.forEach((name, k) => {
    if (g.constants[name]) return;
    const t = g.values[name]?.type;
    if (t?.kind !== "tensor" || !t.shape || t.shape.some((d) => typeof d !== "number")) {
      throw new Error(`seededInputs: input ${name} needs a static tensor type`);
    }
    const x = alloc(t.dtype, t.shape as number[]);
    const rng = new Rng(seed * 131 + k);
    const d = x.data as any;
    for (let i = 0; i < d.length; i++) {
      if (d instanceof Float32Array || d instanceof Float64Array) d[i] = rng.uniform(-2, 2);
      else if (d instanceof BigInt64Array) d[i] = BigInt(rng.int(-5, 5));
      else if (t.dtype === "bool") d[i] = rng.int(0, 2);
      else if (d instanceof Uint8Array || d instanceof Uint16Array || d instanceof Uint32Array) {
        d[i] = rng.int(0, 250);
      } else d[i] = rng.int(-120, 120);
    }
    out[name] = x;
  });
  return out;
}

/** Both graphs give the same outputs (exactly when rtol is 0) on seeded inputs. */
export function assertSameOutputs(
  before: Graph,
  after: Graph,
  opts: { rtol?: number; atol?: number; inputs?: Record<string, RValue> } = {},
): void {
  const inputs = opts.inputs ?? seededInputs(before);
  const want = interpret(before, inputs).outputs;
  const got = interpret(after, inputs, { check: true }).outputs;
  assert.deepEqual(after.outputs, before.outputs);
  for (const o of before.outputs) {
    const w = want[o], g = got[o];
    assert.ok(w instanceof Tensor && g instanceof Tensor, `output ${o} is a tensor`);
    const r = compareTensors(g, w, opts.rtol ?? 1e-5, opts.atol ?? (opts.rtol === 0 ? 0 : 1e-6));
    assert.ok(r.ok, `output ${o}: ${r.message}`);
  }
}

/**
 * Runs rules over the parsed text under every traversal order and checks that each gives `expected` (the
 * compact text), a valid graph, and the original's values; returns the rewritten graph of the first order.
 */
export function checkRules(
  rules: readonly Rule[],
  before: string,
  expected: string,
  opts: {
    rtol?: number;
    fired?: Record<string, number>;
    orders?: readonly DriverOptions[];
    inputs?: Record<string, RValue>;
    counts?: Record<string, number>;
  } = {},
): Graph {
  const g = parseGraph(before);
  assertValid(g);
  let first: Graph | undefined;
  for (const order of opts.orders ?? ORDERS) {
    const { graph: after, stats } = applyRules(g, rules, order);
    const where = `(${orderName(order)})`;
    assertValid(after);
    assert.equal(
      normalizeNames(compact(after), g),
      normalizeNames(ir(expected), g),
      `IR after the rules ${where}`,
    );
    if (opts.counts) assert.deepEqual(opCounts(after), opts.counts, `op counts ${where}`);
    if (opts.fired) assert.deepEqual(stats.fired, opts.fired, `rules fired ${where}`);
    assertSameOutputs(g, after, { rtol: opts.rtol, inputs: opts.inputs });
    first ??= after;
  }
  return first!;
}

/**
 * The rule does not fire on the parsed text under any order (the graph comes back as the same object), and
 * explain names the reason at the node `node`.
 */
export function checkNoFire(
  rules: readonly Rule[],
  before: string,
  explain?: { rule: Rule; node: string; reason: RegExp },
): void {
  const g = parseGraph(before);
  assertValid(g);
  for (const order of ORDERS) {
    const { graph: after, stats } = applyRules(g, rules, order);
    assert.equal(stats.steps, 0, `nothing fires (${orderName(order)}): ${JSON.stringify(stats.fired)}`);
    assert.equal(after, g);
  }
  if (explain) {
    const ex = explainRule(g, explain.rule).find((e) => e.node === explain.node);
    assert.ok(ex, `explain has an entry for ${explain.node}`);
    assert.equal(ex.matched, false, `explain says ${explain.node} does not match`);
    assert.match(ex.reason ?? "", explain.reason);
  }
}
