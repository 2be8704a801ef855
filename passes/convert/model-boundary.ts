/**
 * Changes to a converted model's interface, made explicitly (the default keeps it): rank-4 inputs and
 * outputs switched between NCHW and NHWC, with a Transpose inside the graph that layout propagation then
 * cancels against the converted convolutions; and int64 inputs narrowed to int32 (TFLite's index type, and
 * the only integer type LiteRT.js can feed besides uint8), cast back inside the graph. Names stay the same.
 */
import type { Graph, Node, ValueInfo } from "../../ir/graph.ts";
import type { Dim, TensorType } from "../../ir/value-type.ts";

function freshName(g: Graph, base: string): string {
  let n = base;
  for (let k = 1; n in g.values || n in g.constants; k++) n = `${base}_${k}`;
  return n;
}

function rewire(nodes: readonly Node[], from: string, to: string): Node[] {
  return nodes.map((
    n,
  ) => (n.inputs.includes(from) ? { ...n, inputs: n.inputs.map((i) => (i === from ? to : i)) } : n));
}

/**
 * Graph inputs become `inputType(t)` where it returns a type; inside, `convert` (an op and attrs) maps the
 * new input back to the old type under a fresh name that the old uses read.
 */
function changeInputs(
  g: Graph,
  pick: (t: TensorType) => { type: TensorType; op: string; attrs: Node["attrs"] } | undefined,
): { graph: Graph; changed: string[] } {
  let nodes = [...g.nodes];
  const values: Record<string, ValueInfo> = { ...g.values };
  const head: Node[] = [];
  const changed: string[] = [];
  const innerOf = new Map<string, string>();
  for (const i of g.inputs) {
    const t = g.values[i]?.type;
    if (t?.kind !== "tensor" || g.constants[i]) continue;
    const p = pick(t);
    if (!p) continue;
    const inner = freshName({ ...g, values }, `${i}__inner`);
    nodes = rewire(nodes, i, inner);
    head.push({ id: `${inner}_boundary`, op: p.op, inputs: [i], outputs: [inner], attrs: p.attrs });
    values[inner] = { type: t };
    values[i] = { ...g.values[i], type: p.type };
    changed.push(i);
    innerOf.set(i, inner);
  }
  const outputs = g.outputs.map((o) => innerOf.get(o) ?? o);
  return { graph: { ...g, nodes: [...head, ...nodes], values, outputs }, changed };
}

const perm = (p: number[]) => ({ perm: { type: "ints" as const, value: p } });
const permuted = (s: readonly Dim[] | undefined, p: number[]) => (s ? p.map((i) => s[i]) : s);

/** Rank-4 inputs and outputs as NHWC (the graph stays NCHW inside until layout propagation). */
export function nhwcInterface(g: Graph): { graph: Graph; inputs: string[]; outputs: string[] } {
  const { graph, changed } = changeInputs(
    g,
    (t) =>
      t.shape?.length === 4
        ? {
          type: { ...t, shape: permuted(t.shape, [0, 2, 3, 1]) },
          op: "Transpose",
          attrs: perm([0, 3, 1, 2]),
        }
        : undefined,
  );
  let nodes = [...graph.nodes];
  const values: Record<string, ValueInfo> = { ...graph.values };
  const outs: string[] = [];
  const outputs = graph.outputs.map((o) => {
    const t = values[o]?.type;
    if (t?.kind !== "tensor" || t.shape?.length !== 4 || graph.inputs.includes(o)) return o;
    // The producer now writes an inner name; a Transpose writes the output's own name in NHWC.
    const inner = freshName({ ...graph, values }, `${o}__nchw`);
    nodes = nodes.map((
      n,
    ) => (n.outputs.includes(o) ? { ...n, outputs: n.outputs.map((x) => (x === o ? inner : x)) } : n));
    nodes = rewire(nodes, o, inner);
    nodes.push({
      id: `${o}_boundary`,
      op: "Transpose",
      inputs: [inner],
      outputs: [o],
      attrs: perm([0, 2, 3, 1]),
    });
    values[inner] = { type: t };
    values[o] = { ...values[o], type: { ...t, shape: permuted(t.shape, [0, 2, 3, 1]) } };
    outs.push(o);
    return o;
  });
  return { graph: { ...graph, nodes, values, outputs }, inputs: changed, outputs: outs };
}

/** int64 inputs as int32, cast back to int64 inside (a Cast that index operands then drop). */
export function int32Inputs(g: Graph): { graph: Graph; inputs: string[] } {
  const { graph, changed } = changeInputs(
    g,
    (t) =>
      t.dtype === "i64"
        ? { type: { ...t, dtype: "i32" }, op: "Cast", attrs: { to: { type: "int", value: 7 } } }
        : undefined,
  );
  return { graph, inputs: changed };
}

/**
 * Rewrites leave an Identity where a graph output's producer was replaced by an existing value (the output
 * keeps its name). When that value has no other use, its producer can write the output's name directly.
 */
export function foldOutputIdentities(g: Graph): Graph {
  const outputs = new Set(g.outputs);
  const uses = new Map<string, number>();
  for (const n of g.nodes) for (const i of n.inputs) if (i) uses.set(i, (uses.get(i) ?? 0) + 1);
  const rename = new Map<string, string>();
  const drop = new Set<Node>();
  for (const n of g.nodes) {
    const src = n.inputs[0];
    if (
      n.op !== "Identity" || !src || !outputs.has(n.outputs[0]) || outputs.has(src) || uses.get(src) !== 1
    ) continue;
    if (g.inputs.includes(src) || src in g.constants) continue;
    rename.set(src, n.outputs[0]);
    drop.add(n);
  }
  if (!rename.size) return g;
  const values: Record<string, ValueInfo> = { ...g.values };
  for (const [from, to] of rename) {
    values[to] = { ...g.values[to], type: g.values[from].type };
    delete values[from];
  }
  const nodes = g.nodes.filter((n) => !drop.has(n)).map((n) =>
    n.outputs.some((o) => rename.has(o)) ? { ...n, outputs: n.outputs.map((o) => rename.get(o) ?? o) } : n
  );
  return { ...g, nodes, values };
}
