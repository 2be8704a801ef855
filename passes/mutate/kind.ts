/**
 * Fault injection (MutateNN-style): a mutation kind is data — a name, the fault class it belongs to (the
 * FetaFix/MutateNN grouping), what it targets, and an `apply` that returns a changed graph plus a record of
 * exactly what changed. The records are the ground truth that localization and repair are scored against,
 * so every change names its node by the id it has in the written file.
 */
import type { Graph, Node } from "../../ir/graph.ts";
import type { Rng } from "../../runtime/random.ts";

/** The five fault classes: FetaFix's repair families folded with MutateNN's operator categories. */
export type FaultClass = "input" | "parameters" | "hyperparameters" | "graph" | "precision";
export const FAULT_CLASSES: readonly FaultClass[] = [
  "input",
  "parameters",
  "hyperparameters",
  "graph",
  "precision",
];

/** ONNX semantics (NCHW, standalone activations) or TFLite's `tfl.` ops (NHWC, fused activations). */
export type Dialect = "onnx" | "tfl";

export interface NodeRef {
  /** The node's id; for TFLite it is the first output's name, the id the importer gives it back. */
  id: string;
  /** The source name (ONNX node name); TFLite operators have none. */
  name: string | null;
  op: string;
  outputs: string[];
}

/** One precise difference between the original graph and the variant. */
export type Change =
  /** `before`/`after` null: the attribute is absent (its declared default applies). */
  | { type: "attribute"; node: string; name: string; before: unknown; after: unknown }
  | { type: "op"; node: string; before: string; after: string }
  /** A node reads other values: a constant cloned for it alone, operands swapped or dropped. */
  | { type: "inputs"; node: string; before: (string | null)[]; after: (string | null)[]; why: string }
  /** A consumer now reads the output of an inserted node, or the bypass of a removed one. */
  | { type: "rewire"; node: string; before: (string | null)[]; after: (string | null)[] }
  | {
    type: "constant";
    /** The constant's name in the variant (a clone when the original was shared with other nodes). */
    name: string;
    /** The name in the original when the variant's constant is a clone made for this node alone. */
    clonedFrom?: string;
    node: string;
    input: number;
    how: string;
    params: Record<string, unknown>;
    shape: number[];
    elements: number;
    changedElements: number;
    maxAbsDelta: number;
  }
  | {
    type: "insert";
    node: NodeRef;
    inputs: (string | null)[];
    attrs: Record<string, unknown>;
    /** New constants the inserted node reads, with their values when small. */
    constants: Record<string, { shape: number[]; dtype: string; values?: number[] }>;
    /** The value whose consumers now read the inserted node's output. */
    after: string;
  }
  | {
    type: "remove";
    node: NodeRef;
    inputs: (string | null)[];
    attrs: Record<string, unknown>;
    bypass: { from: string; to: string };
  }
  | {
    type: "reorder";
    /** The two nodes in original order, by their ids in the original graph. */
    before: [NodeRef, NodeRef];
    /** The same two nodes after the swap, by their ids in the variant. */
    after: [NodeRef, NodeRef];
  }
  | { type: "graph-input"; name: string; before: string; after: string };

export interface MutationRecord {
  /** The node the fault is about (for input faults, the first inserted node). */
  node: NodeRef;
  /** One line for people: what was done to which node. */
  description: string;
  changes: Change[];
  /** Kind-specific choices (the noise scale, the preset, the replacement op). */
  params: Record<string, unknown>;
}

export interface MutateContext {
  dialect: Dialect;
  /** Node ids (or graph input names) not to target: tried before without an observable effect. */
  avoid: ReadonlySet<string>;
}

export interface MutationResult {
  graph: Graph;
  record: MutationRecord;
  /** The id (or input name) this attempt targeted, so a retry can avoid it. */
  target: string;
}

export interface MutationKind {
  name: string;
  class: FaultClass;
  /** What the kind targets, for --list-kinds and for "not applicable" messages. */
  targets: string;
  dialects: readonly Dialect[];
  /** A mutated graph, or undefined when no target is left (none in the graph, or all avoided). */
  apply(graph: Graph, rng: Rng, ctx?: Partial<MutateContext>): MutationResult | undefined;
}

const kinds = new Map<string, MutationKind>();

export function defineKind(k: MutationKind): MutationKind {
  if (kinds.has(k.name)) throw new Error(`mutation kind ${k.name} defined twice`);
  kinds.set(k.name, k);
  return k;
}

export function getKind(name: string): MutationKind | undefined {
  return kinds.get(name);
}

/** Every kind, in class order and then definition order. */
export function mutationKinds(): MutationKind[] {
  const all = [...kinds.values()];
  return FAULT_CLASSES.flatMap((c) => all.filter((k) => k.class === c));
}

export function nodeRef(n: Node): NodeRef {
  return { id: n.id, name: n.name ?? null, op: n.op, outputs: [...n.outputs] };
}

/** Which nodes a record's changes touch, by id: the set a graph diff between original and variant finds. */
export interface TouchedNodes {
  /** In both graphs, with a different op, attributes, operands or constant data. */
  changed: string[];
  /** Only in the variant. */
  inserted: string[];
  /** Only in the original. */
  removed: string[];
  /** Unchanged except that an operand now names an inserted node's output or a removed node's input. */
  rewired: string[];
}

export function touchedNodes(changes: readonly Change[]): TouchedNodes {
  const changed = new Set<string>(),
    inserted = new Set<string>(),
    removed = new Set<string>(),
    rewired = new Set<string>();
  for (const c of changes) {
    if (c.type === "attribute" || c.type === "op" || c.type === "inputs" || c.type === "constant") {
      changed.add(c.node);
    } else if (c.type === "insert") inserted.add(c.node.id);
    else if (c.type === "remove") removed.add(c.node.id);
    else if (c.type === "rewire") rewired.add(c.node);
    else if (c.type === "reorder") { for (const n of c.after) changed.add(n.id); }
  }
  for (const id of [...changed, ...inserted]) rewired.delete(id);
  for (const id of inserted) changed.delete(id);
  return { changed: [...changed], inserted: [...inserted], removed: [...removed], rewired: [...rewired] };
}
