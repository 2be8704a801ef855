/**
 * The edits repairs are made of. An Editor works on an immutable graph, producing a new graph per edit and
 * recording each edit as a graph diff for the report: the node, and the attribute, operand or weights
 * before and after. `finish` infers every type again (a restored stride changes the shapes downstream) and
 * drops constants nothing reads any more; a candidate whose graph no longer type-checks is refused there.
 */
import type { Attr } from "../../ir/attr.ts";
import { type Constant, constantCount } from "../../ir/constant.ts";
import { printDType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { type Graph, graphIndex, type Node, type ValueInfo } from "../../ir/graph.ts";
import { getOp } from "../../ir/op-registry.ts";
import { verifyGraph } from "../../ir/verify.ts";
import { printValueType, type ValueType } from "../../ir/value-type.ts";
import { fromConstant } from "../../runtime/tensor.ts";
import { reinfer } from "../convert/static-shapes.ts";
import { realValues } from "../diff/real-values.ts";

/** Numbers that describe a weight tensor in a report without listing it. */
export interface TensorSummary {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly min?: number;
  readonly max?: number;
  readonly mean?: number;
  /** ‖x‖₂ */
  readonly norm?: number;
  /** The values themselves when there are at most 16. */
  readonly values?: readonly number[];
}

export type Edit =
  | {
    readonly type: "attribute";
    readonly node: string;
    readonly op: string;
    readonly name: string;
    readonly before: unknown;
    readonly after: unknown;
  }
  | {
    readonly type: "constant";
    readonly node: string;
    readonly op: string;
    readonly input: number;
    /** The constant the operand reads now, and the value it read before. */
    readonly name: string;
    readonly previous: string | null;
    readonly before?: TensorSummary;
    readonly after: TensorSummary;
    /** Where the numbers came from: the source value and the layout transform applied. */
    readonly from?: string;
    readonly transform?: string;
  }
  | { readonly type: "op"; readonly node: string; readonly before: string; readonly after: string }
  | {
    readonly type: "inputs";
    readonly node: string;
    readonly op: string;
    readonly before: readonly (string | null)[];
    readonly after: readonly (string | null)[];
  }
  | {
    readonly type: "outputs";
    readonly node: string;
    readonly op: string;
    readonly before: readonly string[];
    readonly after: readonly string[];
  }
  | {
    readonly type: "insert";
    readonly node: string;
    readonly op: string;
    readonly inputs: readonly (string | null)[];
    readonly outputs: readonly string[];
    readonly attrs: Readonly<Record<string, unknown>>;
  }
  | {
    readonly type: "remove";
    readonly node: string;
    readonly op: string;
    readonly inputs: readonly (string | null)[];
    readonly outputs: readonly string[];
  }
  | { readonly type: "input-type"; readonly name: string; readonly before: string; readonly after: string };

export type Dialect = "onnx" | "tfl";

export function dialectOf(g: Graph): Dialect {
  return g.nodes.some((n) => n.op.startsWith("tfl.")) ? "tfl" : "onnx";
}

export function summarize(c: Constant): TensorSummary {
  const base = { dtype: printDType(c.dtype), shape: [...c.shape] };
  if (c.dtype === "string" || constantCount(c) === 0) return base;
  let x: Float64Array;
  try {
    x = realValues(fromConstant(c));
  } catch {
    return base;
  }
  let min = Infinity, max = -Infinity, sum = 0, sq = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    sq += v * v;
  }
  const round = (v: number) => Number(v.toPrecision(6));
  return {
    ...base,
    min: round(min),
    max: round(max),
    mean: round(sum / x.length),
    norm: round(Math.sqrt(sq)),
    ...(x.length <= 16 ? { values: Array.from(x, round) } : {}),
  };
}

export function plainAttr(a: Attr | undefined): unknown {
  if (!a) return null;
  if (a.type === "tensor") return { tensor: summarize(a.value) };
  if (a.type === "graph" || a.type === "graphs" || a.type === "tensors" || a.type === "type") {
    return `(${a.type})`;
  }
  return a.value;
}

/** A node to insert: its op, operands (constants by name in `constants`), attributes. */
export interface NewNode {
  readonly op: string;
  readonly inputs: readonly (string | null)[];
  readonly attrs?: Readonly<Record<string, Attr>>;
  readonly constants?: Readonly<Record<string, Constant>>;
  /** Readable stem for the node id and output name. */
  readonly stem: string;
}

export class Editor {
  readonly edits: Edit[] = [];
  readonly dialect: Dialect;
  private taken = new Set<string>();

  constructor(public graph: Graph) {
    this.dialect = dialectOf(graph);
  }

  node(id: string): Node {
    const n = this.graph.nodes.find((x) => x.id === id);
    if (!n) throw new LatheError("verify", `repair: no node ${id}`);
    return n;
  }

  /** A name no value, constant or node uses. */
  fresh(base: string): string {
    const g = this.graph;
    const clean = base.replace(/[^A-Za-z0-9_.:/-]+/g, "_");
    const used = (s: string) =>
      s in g.values || s in g.constants || this.taken.has(s) || g.nodes.some((n) => n.id === s);
    let name = clean;
    for (let k = 1; used(name); k++) name = `${clean}_${k}`;
    this.taken.add(name);
    return name;
  }

  private replace(id: string, f: (n: Node) => Node): void {
    const i = this.graph.nodes.findIndex((x) => x.id === id);
    if (i < 0) throw new LatheError("verify", `repair: no node ${id}`);
    const nodes = [...this.graph.nodes];
    nodes[i] = f(nodes[i]);
    this.graph = { ...this.graph, nodes };
  }

  setAttrs(id: string, attrs: Readonly<Record<string, Attr | undefined>>): void {
    const n = this.node(id);
    const next: Record<string, Attr> = { ...n.attrs };
    for (const [k, a] of Object.entries(attrs)) {
      const before = plainAttr(n.attrs[k]), after = plainAttr(a);
      if (JSON.stringify(before) === JSON.stringify(after)) continue;
      this.edits.push({ type: "attribute", node: id, op: n.op, name: k, before, after });
      if (a) next[k] = a;
      else delete next[k];
    }
    this.replace(id, (x) => ({ ...x, attrs: next }));
  }

  /** Changes the node's op (and optionally its operands and attributes), keeping its id and outputs. */
  setOp(
    id: string,
    op: string,
    attrs?: Readonly<Record<string, Attr>>,
    inputs?: readonly (string | null)[],
  ): void {
    if (!getOp(op)) throw new LatheError("unsupported", `repair: unknown op ${op}`);
    const n = this.node(id);
    if (op !== n.op) this.edits.push({ type: "op", node: id, before: n.op, after: op });
    this.replace(id, (x) => ({ ...x, op }));
    if (inputs) this.setInputs(id, inputs);
    if (attrs) {
      const clear: Record<string, Attr | undefined> = {};
      for (const k of Object.keys(n.attrs)) if (!(k in attrs)) clear[k] = undefined;
      this.setAttrs(id, { ...clear, ...attrs });
    }
  }

  setInputs(id: string, inputs: readonly (string | null)[]): void {
    const n = this.node(id);
    if (inputs.length === n.inputs.length && inputs.every((v, i) => v === n.inputs[i])) return;
    this.edits.push({ type: "inputs", node: id, op: n.op, before: [...n.inputs], after: [...inputs] });
    this.replace(id, (x) => ({ ...x, inputs: [...inputs] }));
  }

  addConstant(stem: string, c: Constant): string {
    const name = this.fresh(stem);
    this.graph = {
      ...this.graph,
      constants: { ...this.graph.constants, [name]: c },
      values: {
        ...this.graph.values,
        [name]: { type: { kind: "tensor", dtype: c.dtype, shape: [...c.shape] } },
      },
    };
    return name;
  }

  /**
   * Operand `input` of node `id` reads `c`. A constant read by this operand alone is replaced in place (it
   * keeps its name); otherwise (shared, or computed by a DEQUANTIZE or Cast chain) a new constant is added.
   */
  setConstantOperand(
    id: string,
    input: number,
    c: Constant,
    note: { from?: string; transform?: string } = {},
  ): void {
    const n = this.node(id);
    const prev = n.inputs[input] ?? null;
    const g = this.graph;
    const before = prev && g.constants[prev] ? summarize(g.constants[prev]) : undefined;
    const readers = prev
      ? (graphIndex(g).users.get(prev) ?? []).reduce(
        (s, u) => s + u.inputs.filter((v) => v === prev).length,
        0,
      )
      : 0;
    const inPlace = !!prev && !!g.constants[prev] && !g.inputs.includes(prev) && readers === 1 &&
      !g.outputs.includes(prev);
    let name: string;
    if (inPlace) {
      name = prev!;
      this.graph = {
        ...g,
        constants: { ...g.constants, [name]: c },
        values: {
          ...g.values,
          [name]: { ...g.values[name], type: { kind: "tensor", dtype: c.dtype, shape: [...c.shape] } },
        },
      };
    } else {
      name = this.addConstant(`${prev ?? n.id}_repaired`, c);
      const inputs = [...n.inputs];
      while (inputs.length <= input) inputs.push(null);
      inputs[input] = name;
      this.replace(id, (x) => ({ ...x, inputs }));
    }
    this.edits.push({
      type: "constant",
      node: id,
      op: n.op,
      input,
      name,
      previous: prev,
      ...(before ? { before } : {}),
      after: summarize(c),
      ...(note.from ? { from: note.from } : {}),
      ...(note.transform ? { transform: note.transform } : {}),
    });
  }

  /** Output value and id of a new node: TFLite's importer names an operator after its first output. */
  private newIds(stem: string): { id: string; output: string } {
    const output = this.fresh(`${stem}_out`);
    return { id: this.dialect === "tfl" ? output : this.fresh(stem), output };
  }

  private addNodeAt(index: number, spec: NewNode, output: string, id: string): Node {
    for (const [k, c] of Object.entries(spec.constants ?? {})) {
      this.graph = {
        ...this.graph,
        constants: { ...this.graph.constants, [k]: c },
        values: {
          ...this.graph.values,
          [k]: { type: { kind: "tensor", dtype: c.dtype, shape: [...c.shape] } },
        },
      };
      this.taken.add(k);
    }
    const node: Node = {
      id,
      op: spec.op,
      inputs: [...spec.inputs],
      outputs: [output],
      attrs: { ...(spec.attrs ?? {}) },
      ...(this.dialect === "onnx" ? { name: id } : {}),
    };
    const nodes = [...this.graph.nodes];
    nodes.splice(index, 0, node);
    this.graph = { ...this.graph, nodes };
    this.edits.push({
      type: "insert",
      node: id,
      op: spec.op,
      inputs: [...spec.inputs],
      outputs: [output],
      attrs: Object.fromEntries(Object.entries(node.attrs).map(([k, a]) => [k, plainAttr(a)])),
    });
    return node;
  }

  /**
   * Inserts a node reading `value` (its spec's inputs name `value` where the data goes) and makes every
   * other reader of `value` read the new node's output instead. A graph output keeps its name: the new
   * node writes it and the old producer writes a fresh name.
   */
  insertAfter(value: string, spec: NewNode, readers?: readonly string[]): Node {
    if (!getOp(spec.op)) throw new LatheError("unsupported", `repair: unknown op ${spec.op}`);
    const g = this.graph;
    const producerAt = g.nodes.findIndex((n) => n.outputs.includes(value));
    const ids = this.newIds(spec.stem);
    if (g.outputs.includes(value) && producerAt >= 0 && !readers) {
      // The producer's output is renamed so the graph output keeps its name and is now the new node's.
      const renamed = this.fresh(`${value}_pre`);
      const p = g.nodes[producerAt];
      const users = graphIndex(g).users.get(value) ?? [];
      this.renameOutput(p.id, value, renamed);
      for (const u of users) this.setInputs(u.id, u.inputs.map((v) => (v === value ? renamed : v)));
      const values = { ...this.graph.values };
      values[renamed] = values[value];
      this.graph = { ...this.graph, values };
      const node = this.addNodeAt(
        producerAt + 1,
        { ...spec, inputs: spec.inputs.map((v) => (v === value ? renamed : v)) },
        value,
        this.dialect === "tfl" ? value : ids.id,
      );
      return node;
    }
    const users = (graphIndex(g).users.get(value) ?? []).filter((u) => !readers || readers.includes(u.id));
    const node = this.addNodeAt(producerAt + 1, spec, ids.output, ids.id);
    for (const u of users) {
      if (u.id === node.id) continue;
      this.setInputs(u.id, this.node(u.id).inputs.map((v) => (v === value ? ids.output : v)));
    }
    return node;
  }

  /**
   * Removes a node; readers of its first output read its operand `from` instead. When that output is a
   * graph output, the operand's producer writes the output name instead.
   */
  bypass(id: string, from: number): void {
    const n = this.node(id);
    const src = n.inputs[from];
    const dst = n.outputs[0];
    if (!src) throw new LatheError("verify", `repair: ${id} has no operand ${from}`);
    this.edits.push({ type: "remove", node: id, op: n.op, inputs: [...n.inputs], outputs: [...n.outputs] });
    this.graph = { ...this.graph, nodes: this.graph.nodes.filter((x) => x.id !== id) };
    const g = this.graph;
    if (g.outputs.includes(dst)) {
      const p = g.nodes.find((x) => x.outputs.includes(src));
      if (!p || g.inputs.includes(src) || g.outputs.includes(src)) {
        // No producer to rename (the bypass reaches a graph input): an identity keeps the output's name.
        this.addNodeAt(
          g.nodes.length,
          {
            op: this.dialect === "tfl" ? "tfl.RESHAPE" : "Identity",
            inputs: this.dialect === "tfl" ? [src, this.shapeConstant(src)] : [src],
            stem: dst,
          },
          dst,
          dst,
        );
        return;
      }
      this.renameOutput(p.id, src, dst);
      for (const u of graphIndex(this.graph).users.get(src) ?? []) {
        this.setInputs(u.id, u.inputs.map((v) => (v === src ? dst : v)));
      }
      return;
    }
    for (const u of graphIndex(g).users.get(dst) ?? []) {
      this.setInputs(u.id, u.inputs.map((v) => (v === dst ? src : v)));
    }
  }

  private renameOutput(id: string, from: string, to: string): void {
    const n = this.node(id);
    const outputs = n.outputs.map((o) => (o === from ? to : o));
    this.edits.push({ type: "outputs", node: id, op: n.op, before: [...n.outputs], after: outputs });
    this.replace(id, (x) => ({ ...x, outputs }));
  }

  private shapeConstant(v: string): string {
    const t = this.graph.values[v]?.type;
    const shape = t?.kind === "tensor" && t.shape?.every((d) => typeof d === "number")
      ? t.shape as number[]
      : undefined;
    if (!shape) throw new LatheError("unsupported", `repair: ${v} has no static shape`);
    return this.addConstant(`${v}_shape`, {
      dtype: "i32",
      shape: [shape.length],
      bytes: new Uint8Array(Int32Array.from(shape).buffer),
    });
  }

  /** Moves a node to just before another (the order must stay topological; `finish` checks it). */
  moveBefore(id: string, before: string): void {
    const nodes = this.graph.nodes.filter((x) => x.id !== id);
    const n = this.node(id);
    const at = nodes.findIndex((x) => x.id === before);
    nodes.splice(at < 0 ? nodes.length : at, 0, n);
    this.graph = { ...this.graph, nodes };
  }

  setInputType(name: string, type: ValueType): void {
    const prev = this.graph.values[name];
    this.edits.push({
      type: "input-type",
      name,
      before: prev ? printValueType(prev.type) : "(none)",
      after: printValueType(type),
    });
    this.graph = { ...this.graph, values: { ...this.graph.values, [name]: { ...prev, type } as ValueInfo } };
  }

  /** The edited graph, with types inferred again and unread constants dropped; refuses an invalid one. */
  finish(): Graph {
    let g = this.graph;
    g = { ...g, nodes: topological(g) };
    const read = new Set<string>([...g.outputs, ...g.inputs]);
    for (const n of g.nodes) for (const v of n.inputs) if (v) read.add(v);
    const constants: Record<string, Constant> = {};
    let dropped = false;
    for (const [k, c] of Object.entries(g.constants)) {
      if (read.has(k)) constants[k] = c;
      else dropped = true;
    }
    if (dropped) {
      const values: Record<string, ValueInfo> = {};
      for (const [k, v] of Object.entries(g.values)) if (!(k in g.constants) || k in constants) values[k] = v;
      g = { ...g, constants, values };
    }
    let inferred: Graph;
    try {
      inferred = reinfer(g);
    } catch (e) {
      throw new LatheError(
        "verify",
        `repair left an invalid graph: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    const issues = verifyGraph(inferred);
    if (issues.length) {
      throw new LatheError("verify", `repair left an invalid graph: ${issues[0].where}: ${issues[0].reason}`);
    }
    return inferred;
  }
}

/** Nodes in an order where every operand is defined before its reader (stable for an ordered graph). */
function topological(g: Graph): Node[] {
  const defined = new Set<string>([...g.inputs, ...Object.keys(g.constants)]);
  const out: Node[] = [];
  const pending = [...g.nodes];
  while (pending.length) {
    const k = pending.findIndex((n) => n.inputs.every((v) => !v || defined.has(v) || !isProduced(g, v)));
    if (k < 0) throw new LatheError("verify", "repair left a cycle in the graph");
    const [n] = pending.splice(k, 1);
    out.push(n);
    for (const o of n.outputs) if (o) defined.add(o);
  }
  return out;
}

function isProduced(g: Graph, v: string): boolean {
  return graphIndex(g).producer.has(v);
}
