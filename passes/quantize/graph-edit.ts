/**
 * Rebuilding a graph node by node, as the quantization passes do: they copy each node (with some inputs
 * renamed to the quantized stand-ins of their values), put new nodes after it, and add constants. New
 * values get their types by inference when the edit is finished; unused nodes and constants disappear.
 */
import type { Attrs } from "../../ir/attr.ts";
import { type AttrInit, toAttrs } from "../../ir/builder.ts";
import type { Constant } from "../../ir/constant.ts";
import type { Graph, Node, ValueInfo } from "../../ir/graph.ts";
import { inferGraph } from "../../ir/infer.ts";
import { deadCodeElimination } from "../rewrite.ts";

export class GraphEdit {
  readonly nodes: Node[] = [];
  readonly constants: Record<string, Constant>;
  readonly values: Record<string, ValueInfo>;
  /** Uses of a value read its stand-in instead (value → replacement), for the nodes copied after. */
  readonly rename = new Map<string, string>();
  private readonly used = new Set<string>();
  private readonly ids = new Set<string>();
  private k = 0;

  constructor(readonly source: Graph) {
    this.constants = { ...source.constants };
    this.values = { ...source.values };
    for (const v of Object.keys(source.values)) this.used.add(v);
    for (const v of source.inputs) this.used.add(v);
    for (const n of source.nodes) {
      this.ids.add(n.id);
      for (const o of n.outputs) if (o) this.used.add(o);
    }
  }

  fresh(hint: string): string {
    let n = hint;
    while (this.used.has(n)) n = `${hint}_${this.k++}`;
    this.used.add(n);
    return n;
  }

  freshId(hint: string): string {
    let n = hint;
    while (this.ids.has(n)) n = `${hint}_${this.k++}`;
    this.ids.add(n);
    return n;
  }

  constant(hint: string, c: Constant): string {
    const name = this.fresh(hint);
    this.constants[name] = c;
    this.values[name] = { type: { kind: "tensor", dtype: c.dtype, shape: c.shape } };
    return name;
  }

  /** The name uses of `v` read now. */
  read(v: string | null): string | null {
    return v === null ? null : this.rename.get(v) ?? v;
  }

  /** Copies a source node with its inputs renamed. */
  copy(n: Node, changes: Partial<Node> = {}): Node {
    const node: Node = { ...n, inputs: n.inputs.map((i) => this.read(i)), ...changes };
    this.nodes.push(node);
    return node;
  }

  /** A new node; its outputs are fresh names from `hint` unless given. */
  add(
    op: string,
    inputs: readonly (string | null)[],
    attrs: Record<string, AttrInit> | Attrs,
    hint: string,
    opts: { outputs?: string[]; from?: readonly string[] } = {},
  ): string[] {
    const outputs = opts.outputs ?? [this.fresh(hint)];
    this.nodes.push({
      id: this.freshId(`${hint}_${op}`),
      op,
      inputs,
      outputs,
      attrs: toAttrs(attrs as Record<string, AttrInit>),
      ...(opts.from ? { from: opts.from } : {}),
    });
    return outputs;
  }

  /** Plain attribute values as typed attributes. */
  copyAttrs(attrs: Record<string, AttrInit>): Attrs {
    return toAttrs(attrs);
  }

  finish(outputs: readonly string[] = this.source.outputs): Graph {
    const g: Graph = {
      ...this.source,
      nodes: this.nodes,
      constants: this.constants,
      values: this.values,
      outputs,
    };
    return deadCodeElimination(inferGraph(g));
  }
}
