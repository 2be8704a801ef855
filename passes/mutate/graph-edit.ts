/**
 * The graph edits mutations are made of, each returning the new graph (immer `produce`) and the changes it
 * made, so a kind's record is assembled from what was actually done rather than described separately.
 */
import { produce } from "immer";
import type { Attr } from "../../ir/attr.ts";
import { type Constant, constantBytes, constantCount } from "../../ir/constant.ts";
import { constantNumbers } from "../../ir/constant-values.ts";
import type { DType } from "../../ir/dtype.ts";
import type { Graph, Node, ValueInfo } from "../../ir/graph.ts";
import { usersOf } from "../../ir/graph.ts";
import { inferGraph } from "../../ir/infer.ts";
import { verifyGraph } from "../../ir/verify.ts";
import type { Rng } from "../../runtime/random.ts";
import type { Change, Dialect, MutateContext } from "./kind.ts";
import { nodeRef } from "./kind.ts";

export function dialectOf(g: Graph): Dialect {
  return g.nodes.some((n) => n.op.startsWith("tfl.")) ? "tfl" : "onnx";
}

export function contextOf(g: Graph, ctx: Partial<MutateContext> = {}): MutateContext {
  return { dialect: ctx.dialect ?? dialectOf(g), avoid: ctx.avoid ?? new Set() };
}

/** A seeded choice; undefined for an empty list. */
export function pick<T>(rng: Rng, items: readonly T[]): T | undefined {
  return items.length ? items[rng.int(0, items.length)] : undefined;
}

/** The items in a seeded random order (Fisher-Yates). */
export function shuffled<T>(rng: Rng, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * The first candidate, in seeded random order, whose edit leaves a graph that still type-checks: for
 * faults whose legality depends on shapes downstream (strides, reordering, axes).
 */
export function firstValid<T, R extends { graph: Graph }>(
  rng: Rng,
  candidates: readonly T[],
  edit: (c: T) => R | undefined,
): R | undefined {
  for (const c of shuffled(rng, candidates)) {
    const r = edit(c);
    if (r && isValid(r.graph)) return r;
  }
  return undefined;
}

/** Types re-inferred from the inputs down, and every invariant the verifier checks holds. */
export function isValid(g: Graph): boolean {
  try {
    return verifyGraph(inferGraph(g)).length === 0;
  } catch {
    return false;
  }
}

/** Nodes of the given ops that are not avoided, in graph order. */
export function nodesOf(
  g: Graph,
  ctx: MutateContext,
  ops: readonly string[],
  accept: (n: Node) => boolean = () => true,
): Node[] {
  const set = new Set(ops);
  return g.nodes.filter((n) => set.has(n.op) && !ctx.avoid.has(n.id) && accept(n));
}

/** A name no value, constant or node of the graph uses yet. */
export function freshName(g: Graph, base: string, taken: ReadonlySet<string> = new Set()): string {
  const used = (s: string) =>
    s in g.values || s in g.constants || taken.has(s) || g.nodes.some((n) => n.id === s);
  if (!used(base)) return base;
  for (let k = 1;; k++) if (!used(`${base}_${k}`)) return `${base}_${k}`;
}

export function shapeOf(g: Graph, v: string | null | undefined): number[] | undefined {
  if (!v) return undefined;
  const t = g.values[v]?.type;
  if (t?.kind !== "tensor" || !t.shape || t.shape.some((d) => typeof d !== "number")) return undefined;
  return t.shape as number[];
}

export function dtypeOf(g: Graph, v: string | null | undefined): DType | undefined {
  const t = v ? g.values[v]?.type : undefined;
  return t?.kind === "tensor" ? t.dtype : undefined;
}

/** The f32 constant an input reads, or undefined. */
export function f32ConstantAt(g: Graph, n: Node, i: number): Constant | undefined {
  const name = n.inputs[i];
  const c = name ? g.constants[name] : undefined;
  return c && c.dtype === "f32" && !g.inputs.includes(name!) ? c : undefined;
}

/** A copy of an f32 constant's elements (the source bytes may be an unaligned view into the file). */
export function f32Data(c: Constant): Float32Array {
  const b = constantBytes(c);
  const out = new Float32Array(constantCount(c));
  new Uint8Array(out.buffer).set(b.subarray(0, out.length * 4));
  return out;
}

export function f32Constant(shape: readonly number[], data: Float32Array): Constant {
  return {
    dtype: "f32",
    shape: [...shape],
    bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

export function intConstant(
  dtype: "i32" | "i64",
  shape: readonly number[],
  values: readonly number[],
): Constant {
  const bytes = dtype === "i32"
    ? new Uint8Array(Int32Array.from(values).buffer)
    : new Uint8Array(BigInt64Array.from(values, (v) => BigInt(v)).buffer);
  return { dtype, shape: [...shape], bytes };
}

/** A constant's numbers, for records and for small operands (Clip bounds, PAD paddings). */
export function numbersOf(c: Constant): number[] {
  return constantNumbers(c);
}

/** The numbers of a constant operand (small ones only), or undefined for a non-constant. */
export function constantInts(g: Graph, v: string | null | undefined): number[] | undefined {
  const c = v ? g.constants[v] : undefined;
  return c && !g.inputs.includes(v!) && constantCount(c) <= 4096 ? numbersOf(c) : undefined;
}

/** Attribute values as plain JSON for records (tensor attributes summarized). */
export function plainAttr(a: Attr | undefined): unknown {
  if (!a) return null;
  if (a.type === "tensor") return { tensor: { dtype: a.value.dtype, shape: a.value.shape } };
  if (a.type === "graph" || a.type === "graphs" || a.type === "tensors" || a.type === "type") {
    return { [a.type]: "…" };
  }
  return a.value;
}

export function plainAttrs(n: Node): Record<string, unknown> {
  return Object.fromEntries(Object.entries(n.attrs).map(([k, a]) => [k, plainAttr(a)]));
}

function nodeIndex(g: Graph, id: string): number {
  const i = g.nodes.findIndex((n) => n.id === id);
  if (i < 0) throw new Error(`no node ${id}`);
  return i;
}

/** Replaces one node (same position); the caller's function returns the new node. */
export function replaceNode(g: Graph, id: string, f: (n: Node) => Node): Graph {
  const i = nodeIndex(g, id);
  const next = f(g.nodes[i]);
  return produce(g, (d) => {
    (d.nodes as Node[])[i] = next as Node;
  });
}

/** Sets (or with undefined removes) attributes of one node; records each change. */
export function setAttrs(
  g: Graph,
  id: string,
  attrs: Record<string, Attr | undefined>,
): { graph: Graph; changes: Change[] } {
  const n = g.nodes[nodeIndex(g, id)];
  const changes: Change[] = [];
  const next: Record<string, Attr> = { ...n.attrs };
  for (const [k, a] of Object.entries(attrs)) {
    changes.push({
      type: "attribute",
      node: id,
      name: k,
      before: plainAttr(n.attrs[k]),
      after: plainAttr(a),
    });
    if (a) next[k] = a;
    else delete next[k];
  }
  return { graph: replaceNode(g, id, (x) => ({ ...x, attrs: next })), changes };
}

/** How many readers a value has: node inputs plus graph outputs. */
export function readers(g: Graph, v: string): number {
  return usersOf(g, v).reduce((s, n) => s + n.inputs.filter((x) => x === v).length, 0) +
    g.outputs.filter((o) => o === v).length;
}

/**
 * Gives input `i` of node `id` new constant data. A constant only this operand reads changes in place (the
 * variant keeps its name); a shared one is cloned under a fresh name for this node alone, so the fault
 * stays in one node.
 */
export function setConstantInput(
  g: Graph,
  id: string,
  i: number,
  data: Constant,
  how: string,
  params: Record<string, unknown>,
  stats: { changedElements: number; maxAbsDelta: number },
): { graph: Graph; changes: Change[] } {
  const n = g.nodes[nodeIndex(g, id)];
  const name = n.inputs[i]!;
  const shared = readers(g, name) > 1 || g.inputs.includes(name);
  const target = shared ? freshName(g, `${name}_${sanitize(how)}`) : name;
  const changes: Change[] = [];
  let out = produce(g, (d) => {
    (d.constants as Record<string, Constant>)[target] = data as Constant;
    (d.values as Record<string, ValueInfo>)[target] = {
      type: { kind: "tensor", dtype: data.dtype, shape: [...data.shape] },
    };
  });
  if (shared) {
    const inputs = [...n.inputs];
    inputs[i] = target;
    out = replaceNode(out, id, (x) => ({ ...x, inputs }));
    changes.push({
      type: "inputs",
      node: id,
      before: [...n.inputs],
      after: inputs,
      why: `constant ${name} is shared: cloned as ${target} for this node alone`,
    });
  }
  changes.push({
    type: "constant",
    name: target,
    ...(shared ? { clonedFrom: name } : {}),
    node: id,
    input: i,
    how,
    params,
    shape: [...data.shape],
    elements: constantCount(data),
    ...stats,
  });
  return { graph: out, changes };
}

function sanitize(s: string): string {
  return s.replace(/[^A-Za-z0-9]+/g, "_");
}

/** Element statistics of an f32 change, for the constant record. */
export function deltaStats(
  before: Float32Array,
  after: Float32Array,
): { changedElements: number; maxAbsDelta: number } {
  let changedElements = 0, maxAbsDelta = 0;
  for (let k = 0; k < before.length; k++) {
    if (before[k] !== after[k]) changedElements++;
    const d = Math.abs(after[k] - before[k]);
    if (d > maxAbsDelta) maxAbsDelta = d;
  }
  return { changedElements, maxAbsDelta };
}

/** Adds constants (with their types) to the graph. */
export function addConstants(g: Graph, cs: Record<string, Constant>): Graph {
  if (!Object.keys(cs).length) return g;
  return produce(g, (d) => {
    for (const [k, c] of Object.entries(cs)) {
      (d.constants as Record<string, Constant>)[k] = c as Constant;
      (d.values as Record<string, ValueInfo>)[k] = {
        type: { kind: "tensor", dtype: c.dtype, shape: [...c.shape] },
      };
    }
  });
}

/** Removes constants nothing reads any more (left behind by a replaced op or a cloned operand). */
export function dropUnread(g: Graph, names: readonly (string | null)[]): Graph {
  const gone = [...new Set(names)].filter((v): v is string =>
    !!v && v in g.constants && !g.inputs.includes(v) && readers(g, v) === 0
  );
  if (!gone.length) return g;
  return produce(g, (d) => {
    for (const v of gone) {
      delete (d.constants as Record<string, Constant>)[v];
      delete (d.values as Record<string, ValueInfo>)[v];
    }
  });
}

/** The id an inserted node gets: TFLite's importer names an operator by its first output. */
export function newNodeId(
  g: Graph,
  dialect: Dialect,
  output: string,
  base: string,
  taken: ReadonlySet<string> = new Set(),
): string {
  return dialect === "tfl" ? output : freshName(g, base, taken);
}

export interface NewNode {
  op: string;
  /** Operands after the data input (constants by name). */
  extraInputs?: string[];
  attrs?: Record<string, Attr>;
  /** Readable stem for the new node's id and output name. */
  stem: string;
  constants?: Record<string, Constant>;
}

/**
 * Inserts a chain of single-input nodes reading `value` and rewires every node that read `value` to the
 * chain's end. `value` may be a graph input (the chain goes first) but not a graph output.
 */
export function insertChain(
  g: Graph,
  dialect: Dialect,
  value: string,
  chain: readonly NewNode[],
): { graph: Graph; changes: Change[]; inserted: Node[] } {
  const consumers = usersOf(g, value);
  const producerAt = g.nodes.findIndex((n) => n.outputs.includes(value));
  let out = g;
  for (const c of chain) out = addConstants(out, c.constants ?? {});
  const taken = new Set<string>();
  const inserted: Node[] = [];
  let prev = value;
  for (const c of chain) {
    const o = freshName(out, `${c.stem}_out`, taken);
    taken.add(o);
    const id = newNodeId(out, dialect, o, c.stem, taken);
    taken.add(id);
    const node: Node = {
      id,
      op: c.op,
      inputs: [prev, ...(c.extraInputs ?? [])],
      outputs: [o],
      attrs: c.attrs ?? {},
      ...(dialect === "onnx" ? { name: id } : {}),
    };
    inserted.push(node);
    prev = o;
  }
  const end = prev;
  const changes: Change[] = [];
  const consumerIds = new Set(consumers.map((n) => n.id));
  out = produce(out, (d) => {
    const nodes = d.nodes as Node[];
    for (let k = 0; k < nodes.length; k++) {
      if (!consumerIds.has(nodes[k].id)) continue;
      const before = [...nodes[k].inputs];
      const after = before.map((x) => (x === value ? end : x));
      nodes[k] = { ...nodes[k], inputs: after } as Node;
      changes.push({ type: "rewire", node: nodes[k].id, before, after });
    }
    nodes.splice(producerAt + 1, 0, ...(inserted as Node[]));
  });
  const insertChanges: Change[] = inserted.map((n, k) => ({
    type: "insert",
    node: nodeRef(n),
    inputs: [...n.inputs],
    attrs: plainAttrs(n),
    constants: Object.fromEntries(
      Object.entries(chain[k].constants ?? {}).map(([name, c]) => [name, constantSummary(c)]),
    ),
    after: k === 0 ? value : inserted[k - 1].outputs[0],
  }));
  return { graph: out, changes: [...insertChanges, ...changes], inserted };
}

export function constantSummary(c: Constant): { shape: number[]; dtype: string; values?: number[] } {
  const n = constantCount(c);
  return {
    shape: [...c.shape],
    dtype: String(c.dtype),
    ...(n <= 64 && typeof c.dtype === "string" ? { values: numbersOf(c) } : {}),
  };
}

/** Removes a node, rewiring readers of its output to its input `from`; records the removal and rewires. */
export function bypassNode(g: Graph, id: string, from: number): { graph: Graph; changes: Change[] } {
  const n = g.nodes[nodeIndex(g, id)];
  const src = n.inputs[from]!, dst = n.outputs[0];
  const changes: Change[] = [{
    type: "remove",
    node: nodeRef(n),
    inputs: [...n.inputs],
    attrs: plainAttrs(n),
    bypass: { from: dst, to: src },
  }];
  let out = produce(g, (d) => {
    const nodes = d.nodes as Node[];
    nodes.splice(nodes.findIndex((x) => x.id === id), 1);
    for (let k = 0; k < nodes.length; k++) {
      if (!nodes[k].inputs.includes(dst)) continue;
      const before = [...nodes[k].inputs];
      const after = before.map((x) => (x === dst ? src : x));
      nodes[k] = { ...nodes[k], inputs: after } as Node;
      changes.push({ type: "rewire", node: nodes[k].id, before, after });
    }
    for (const o of n.outputs) if (o) delete (d.values as Record<string, ValueInfo>)[o];
  });
  out = dropUnread(out, n.inputs.filter((_, k) => k !== from));
  return { graph: out, changes };
}

/** A node's single non-constant operand index, or undefined when it reads several (or none). */
export function soleDataInput(g: Graph, n: Node): number | undefined {
  const data = n.inputs.map((v, k) => (v && (!(v in g.constants) || g.inputs.includes(v)) ? k : -1)).filter((
    k,
  ) => k >= 0);
  return data.length === 1 ? data[0] : undefined;
}
