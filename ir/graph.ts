/**
 * The graph: SSA values, nodes in topological order, constants. Every object is immutable (immer freezes
 * what `produce` returns); passes build new graphs that share unchanged parts with the old one.
 */
import type { Attrs } from "./attr.ts";
import type { Constant } from "./constant.ts";
import type { ValueType } from "./value-type.ts";

export interface Node {
  /** Unique within its graph; stable across passes so reports and diffs can name it. */
  readonly id: string;
  /** Registry key: `Conv` for ONNX's default domain, `com.microsoft.Gelu`, `tfl.CONV_2D`, `lathe.Im2Col`. */
  readonly op: string;
  /** Value names; null stands for an omitted optional input. */
  readonly inputs: readonly (string | null)[];
  readonly outputs: readonly string[];
  readonly attrs: Attrs;
  /** The source node's name and doc string, kept for round trips. */
  readonly name?: string;
  readonly doc?: string;
  /** Ids of the source nodes this node came from (kept by rewrites so diff and repair can align values). */
  readonly from?: readonly string[];
}

export interface ValueInfo {
  readonly type: ValueType;
  readonly doc?: string;
}

export interface Graph {
  readonly name: string;
  /** Graph inputs in order. An input that also has a constant is an overridable default (ONNX). */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly nodes: readonly Node[];
  /** The type of every value defined in this graph: inputs, constants and node outputs. */
  readonly values: Readonly<Record<string, ValueInfo>>;
  readonly constants: Readonly<Record<string, Constant>>;
  readonly doc?: string;
}

export type SourceFormat = "onnx" | "tflite" | "gguf" | "lathe";

export interface SourceMeta {
  readonly format: SourceFormat;
  readonly irVersion?: number;
  /** Operator set versions by domain ("" is ONNX's default domain). */
  readonly opsets: Readonly<Record<string, number>>;
  readonly producerName?: string;
  readonly producerVersion?: string;
  readonly domain?: string;
  readonly modelVersion?: number;
  readonly doc?: string;
  readonly props: Readonly<Record<string, string>>;
  /** Path of the file the model came from, when it came from one. */
  readonly path?: string;
  /** Format-specific data kept only so the model can be written back (TFLite signature defs, metadata). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

export interface Model {
  readonly graph: Graph;
  readonly meta: SourceMeta;
}

/** Splits an op key into domain and name at the last dot. */
export function opDomain(op: string): string {
  const i = op.lastIndexOf(".");
  return i < 0 ? "" : op.slice(0, i);
}
export function opName(op: string): string {
  return op.slice(op.lastIndexOf(".") + 1);
}
export function opKey(domain: string, name: string): string {
  return domain === "" || domain === "ai.onnx" ? name : `${domain}.${name}`;
}

export function emptyGraph(name = "main"): Graph {
  return { name, inputs: [], outputs: [], nodes: [], values: {}, constants: {} };
}

interface GraphIndex {
  producer: Map<string, Node>;
  users: Map<string, Node[]>;
}
const indexCache = new WeakMap<Graph, GraphIndex>();

/** Producers and use lists, derived once per (immutable) graph. */
export function graphIndex(g: Graph): GraphIndex {
  let ix = indexCache.get(g);
  if (ix) return ix;
  ix = { producer: new Map(), users: new Map() };
  for (const n of g.nodes) {
    for (const o of n.outputs) if (o) ix.producer.set(o, n);
    for (const i of n.inputs) {
      if (!i) continue;
      const u = ix.users.get(i);
      if (u) u.push(n);
      else ix.users.set(i, [n]);
    }
  }
  indexCache.set(g, ix);
  return ix;
}

export function producerOf(g: Graph, value: string): Node | undefined {
  return graphIndex(g).producer.get(value);
}
export function usersOf(g: Graph, value: string): readonly Node[] {
  return graphIndex(g).users.get(value) ?? [];
}

/** Every value a graph reads that it does not define (outer-scope captures of a subgraph). */
export function freeValues(g: Graph): Set<string> {
  const defined = new Set<string>([...g.inputs, ...Object.keys(g.constants)]);
  const free = new Set<string>();
  for (const n of g.nodes) {
    for (const i of n.inputs) if (i && !defined.has(i)) free.add(i);
    for (const a of Object.values(n.attrs)) {
      const subs = a.type === "graph" ? [a.value] : a.type === "graphs" ? a.value : [];
      for (const s of subs) for (const v of freeValues(s)) if (!defined.has(v)) free.add(v);
    }
    for (const o of n.outputs) if (o) defined.add(o);
  }
  for (const o of g.outputs) if (!defined.has(o)) free.add(o);
  return free;
}

export function subgraphsOf(n: Node): Graph[] {
  const out: Graph[] = [];
  for (const a of Object.values(n.attrs)) {
    if (a.type === "graph") out.push(a.value);
    else if (a.type === "graphs") out.push(...a.value);
  }
  return out;
}
