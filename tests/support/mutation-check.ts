/**
 * Checks of `mutate` output against sources the mutator did not produce: the variant files re-imported
 * and diffed node by node against the re-imported original (ir/equal.ts graphsEqual on one-node views),
 * and the variants run in the format's own runtime (onnxruntime-node, LiteRT).
 */
import assert from "node:assert/strict";
import { generateInput } from "../../compiler/run.ts";
import { plainAttr } from "../../passes/mutate/graph-edit.ts";
import type { Change, TouchedNodes } from "../../passes/mutate/kind.ts";
import type { VariantEntry } from "../../compiler/mutate/mutate.ts";
import type { Constant } from "../../ir/constant.ts";
import { constantNumbers } from "../../ir/constant-values.ts";
import { graphsEqual } from "../../ir/equal.ts";
import type { Graph, Node, ValueInfo } from "../../ir/graph.ts";
import { printValueType } from "../../ir/value-type.ts";
import type { Tensor } from "../../runtime/tensor.ts";

const ANY: ValueInfo = { type: { kind: "tensor", dtype: "f32" } };

/**
 * One node with its constant operands (data included) as a graph of its own; other operands are inputs of
 * one placeholder type, so what differs is the node itself (op, id, attributes, operand names, constants)
 * and not shapes that changed upstream.
 */
function nodeView(g: Graph, n: Node): Graph {
  const constants: Record<string, Constant> = {};
  const values: Record<string, ValueInfo> = {};
  const inputs: string[] = [];
  for (const v of n.inputs) {
    if (!v) continue;
    if (v in g.constants && !g.inputs.includes(v)) (constants[v] = g.constants[v], values[v] = g.values[v]);
    else if (!inputs.includes(v)) (inputs.push(v), values[v] = ANY);
  }
  for (const o of n.outputs) if (o) values[o] = ANY;
  return { name: "view", inputs, outputs: n.outputs.filter(Boolean), nodes: [n], values, constants };
}

export interface NodeDiff {
  changed: string[];
  inserted: string[];
  removed: string[];
  /** Graph inputs whose declared type differs. */
  inputs: string[];
}

export function diffGraphs(a: Graph, b: Graph): NodeDiff {
  const byId = (g: Graph) => new Map(g.nodes.map((n) => [n.id, n]));
  const na = byId(a), nb = byId(b);
  const changed: string[] = [];
  for (const [id, n] of na) {
    const m = nb.get(id);
    if (m && !graphsEqual(nodeView(a, n), nodeView(b, m)).equal) changed.push(id);
  }
  return {
    changed,
    inserted: [...nb.keys()].filter((id) => !na.has(id)),
    removed: [...na.keys()].filter((id) => !nb.has(id)),
    inputs: a.inputs.filter((i) =>
      b.values[i] && printValueType(a.values[i].type) !== printValueType(b.values[i].type)
    ),
  };
}

const sorted = (xs: readonly string[]) => [...xs].sort();

/** The diff a re-import finds is exactly the set of nodes the manifest names. */
export function assertDiffMatches(entry: VariantEntry, diff: NodeDiff): void {
  const t: TouchedNodes = entry.nodes;
  const where = `${entry.file} (${entry.kind})`;
  assert.deepEqual(sorted(diff.changed), sorted([...t.changed, ...t.rewired]), `${where}: changed nodes`);
  assert.deepEqual(sorted(diff.inserted), sorted(t.inserted), `${where}: inserted nodes`);
  assert.deepEqual(sorted(diff.removed), sorted(t.removed), `${where}: removed nodes`);
  const recordedInputs = entry.changes.filter((c) => c.type === "graph-input").map((c) =>
    (c as { name: string }).name
  );
  assert.deepEqual(sorted(diff.inputs), sorted(recordedInputs), `${where}: graph inputs`);
}

function node(g: Graph, id: string, where: string): Node {
  const n = g.nodes.find((x) => x.id === id);
  assert.ok(n, `${where}: node ${id} is not in the graph`);
  return n;
}

/** Every recorded change holds between the re-imported original and variant. */
export function assertChangesHold(entry: VariantEntry, orig: Graph, variant: Graph): void {
  const where = `${entry.file} (${entry.kind})`;
  for (const c of entry.changes) assertChange(c, orig, variant, where);
}

function assertChange(c: Change, orig: Graph, variant: Graph, where: string): void {
  switch (c.type) {
    case "attribute": {
      const a = node(orig, c.node, where).attrs[c.name], b = node(variant, c.node, where).attrs[c.name];
      assert.deepEqual(plainAttr(a), c.before, `${where}: attribute ${c.name} before`);
      assert.deepEqual(plainAttr(b), c.after, `${where}: attribute ${c.name} after`);
      return;
    }
    case "op":
      assert.equal(node(orig, c.node, where).op, c.before, `${where}: op before`);
      assert.equal(node(variant, c.node, where).op, c.after, `${where}: op after`);
      return;
    case "inputs":
    case "rewire":
      assert.deepEqual(
        [...node(orig, c.node, where).inputs],
        c.before,
        `${where}: ${c.type} of ${c.node} before`,
      );
      assert.deepEqual(
        [...node(variant, c.node, where).inputs],
        c.after,
        `${where}: ${c.type} of ${c.node} after`,
      );
      return;
    case "constant": {
      const was = orig.constants[c.clonedFrom ?? c.name], now = variant.constants[c.name];
      assert.ok(was && now, `${where}: constant ${c.name} in both graphs`);
      assert.ok(
        node(variant, c.node, where).inputs[c.input] === c.name,
        `${where}: node ${c.node} reads ${c.name}`,
      );
      if (c.clonedFrom) {
        assert.ok(
          variant.constants[c.clonedFrom] || !orig.constants[c.clonedFrom],
          `${where}: the shared original stays`,
        );
      }
      const x = constantNumbers(was, 1 << 24), y = constantNumbers(now, 1 << 24);
      assert.equal(y.length, c.elements, `${where}: element count`);
      let changed = 0, maxAbs = 0;
      for (let i = 0; i < x.length; i++) {
        if (x[i] !== y[i]) changed++;
        maxAbs = Math.max(maxAbs, Math.abs(x[i] - y[i]));
      }
      assert.equal(changed, c.changedElements, `${where}: changed elements of ${c.name}`);
      assert.ok(changed > 0, `${where}: ${c.name} changed`);
      assert.ok(
        Math.abs(maxAbs - c.maxAbsDelta) <= 1e-6 * Math.max(1, maxAbs),
        `${where}: max delta ${maxAbs} vs recorded ${c.maxAbsDelta}`,
      );
      return;
    }
    case "insert":
      assert.equal(node(variant, c.node.id, where).op, c.node.op, `${where}: inserted op`);
      assert.deepEqual([...node(variant, c.node.id, where).inputs], c.inputs, `${where}: inserted operands`);
      assert.ok(!orig.nodes.some((n) => n.id === c.node.id), `${where}: ${c.node.id} is new`);
      return;
    case "remove":
      assert.equal(node(orig, c.node.id, where).op, c.node.op, `${where}: removed op`);
      assert.ok(!variant.nodes.some((n) => n.id === c.node.id), `${where}: ${c.node.id} is gone`);
      assert.ok(
        !variant.nodes.some((n) => n.inputs.includes(c.bypass.from)),
        `${where}: nothing reads ${c.bypass.from}`,
      );
      return;
    case "reorder": {
      const [p, u] = c.before, [u2, p2] = c.after;
      assert.equal(node(orig, p.id, where).op, p.op);
      assert.equal(node(orig, u.id, where).op, u.op);
      assert.equal(node(variant, u2.id, where).op, u.op, `${where}: ${u.op} runs first`);
      assert.equal(node(variant, p2.id, where).op, p.op);
      const iu = variant.nodes.findIndex((n) => n.id === u2.id),
        ip = variant.nodes.findIndex((n) => n.id === p2.id);
      assert.ok(
        iu < ip && node(variant, p2.id, where).inputs.includes(node(variant, u2.id, where).outputs[0]),
        `${where}: ${p.op} reads ${u.op}'s result`,
      );
      return;
    }
    case "graph-input":
      assert.equal(printValueType(orig.values[c.name].type), c.before, `${where}: input type before`);
      assert.equal(printValueType(variant.values[c.name].type), c.after, `${where}: input type after`);
      return;
  }
}

/** Seeded inputs for a graph's own input types (a variant that re-declares a layout gets the same elements). */
export function seededInputs(g: Graph, seed: number): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  g.inputs.forEach((name, k) => (out[name] = generateInput(g, name, k, seed)));
  return out;
}

export interface Agreement {
  /** Any element outside rtol 1e-4 / atol 1e-5, or a different shape. */
  differs: boolean;
  maxAbs: number;
  top1Same: boolean;
}

export function agreement(got: ArrayLike<number>, want: ArrayLike<number>, classes: number): Agreement {
  if (got.length !== want.length) return { differs: true, maxAbs: Infinity, top1Same: false };
  let maxAbs = 0, differs = false;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= maxAbs)) maxAbs = d;
    if (!(d <= 1e-5 + 1e-4 * Math.abs(want[i]))) differs = true;
  }
  let top1Same = true;
  for (let r = 0; r < got.length / classes; r++) {
    if (argmax(got, r * classes, classes) !== argmax(want, r * classes, classes)) top1Same = false;
  }
  return { differs, maxAbs, top1Same };
}

function argmax(x: ArrayLike<number>, off: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (x[off + i] > x[off + best]) best = i;
  return best;
}

export async function sameFiles(dirA: string, dirB: string, files: readonly string[]): Promise<void> {
  for (const f of files) {
    const [a, b] = await Promise.all([Deno.readFile(`${dirA}/${f}`), Deno.readFile(`${dirB}/${f}`)]);
    assert.ok(
      a.length === b.length && a.every((x, i) => x === b[i]),
      `${f} differs between two runs with the same seed`,
    );
  }
}
