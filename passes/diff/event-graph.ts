/**
 * A graph seen as the matcher sees it: a list of events in topological order (graph inputs, then the
 * compute events of each node), each reading other events' values through chains of layout and convert
 * nodes. The chains are kept so a relation can be carried through a Transpose and precision changes can be
 * found again.
 */
import type { Graph, Node } from "../../ir/graph.ts";
import type { Dim } from "../../ir/value-type.ts";
import { type EventClass, isFloatValue, nodeRole } from "./op-equivalence.ts";

export interface EventInput {
  /** Index of the event whose value this operand reads. */
  readonly event: number;
  /** Layout and convert nodes between that value and the operand, in data-flow order. */
  readonly via: readonly Node[];
  /** The operand value as the node reads it. */
  readonly value: string;
  /** Operand position on the node. */
  readonly position: number;
}

export interface Event extends EventClass {
  readonly index: number;
  /** The node this event belongs to; undefined for a graph input. */
  readonly node?: Node;
  /** Graph input name, for input events. */
  readonly input?: string;
  /** 0 for the op itself, 1.. for the activations fused into it, k for output k of multi-output ops. */
  readonly part: number;
  /** The value the event produces, when it can be observed (an op fused with an activation has none). */
  readonly value?: string;
  /** Static shape of the event's result (of the node's output for inner parts). */
  readonly shape?: readonly Dim[];
  readonly inputs: readonly EventInput[];
}

export interface EventGraph {
  readonly graph: Graph;
  readonly events: readonly Event[];
  /** Every data value: the event that produced it and the layout/convert chain after that event. */
  readonly origin: ReadonlyMap<string, { event: number; via: readonly Node[] }>;
  /** Events reading each event's value. */
  readonly consumers: readonly (readonly number[])[];
  /** Nodes that take no part (shape arithmetic, constant folding left-overs). */
  readonly aux: readonly Node[];
  /** Layout and convert nodes on data paths. */
  readonly skipped: readonly Node[];
}

function shapeOf(g: Graph, v: string | undefined): readonly Dim[] | undefined {
  if (!v) return undefined;
  const t = g.values[v]?.type;
  return t?.kind === "tensor" ? t.shape : undefined;
}

export function buildEventGraph(g: Graph): EventGraph {
  const data = new Set<string>();
  // Integer inputs (token ids) carry data too; only float values are compared.
  for (const i of g.inputs) if (!g.constants[i]) data.add(i);
  const isData = (v: string) => data.has(v);
  const events: Event[] = [];
  const origin = new Map<string, { event: number; via: readonly Node[] }>();
  const aux: Node[] = [];
  const skipped: Node[] = [];
  for (const name of g.inputs) {
    if (g.constants[name]) continue;
    const index = events.length;
    events.push({
      index,
      cls: "input",
      family: "input",
      input: name,
      part: 0,
      value: name,
      shape: shapeOf(g, name),
      inputs: [],
    });
    origin.set(name, { event: index, via: [] });
  }
  for (const n of g.nodes) {
    const role = nodeRole(n, g, isData);
    if (role.kind === "aux") {
      aux.push(n);
      continue;
    }
    for (const o of n.outputs) if (o) data.add(o);
    const operands: EventInput[] = [];
    n.inputs.forEach((v, position) => {
      if (!v) return;
      const o = origin.get(v);
      if (o) operands.push({ event: o.event, via: o.via, value: v, position });
    });
    if (role.kind === "layout" || role.kind === "convert") {
      skipped.push(n);
      const src = n.inputs[0] ? origin.get(n.inputs[0]) : undefined;
      if (src) {
        for (const o of n.outputs) if (o) origin.set(o, { event: src.event, via: [...src.via, n] });
      }
      continue;
    }
    const out0 = n.outputs[0];
    const outShape = shapeOf(g, out0);
    const first = events.length;
    let prev = -1;
    role.events.forEach((c, part) => {
      const index = events.length;
      const last = part === role.events.length - 1;
      events.push({
        ...c,
        index,
        node: n,
        part,
        ...(last && out0 ? { value: out0 } : {}),
        shape: outShape,
        inputs: part === 0 ? operands : [{ event: prev, via: [], value: out0 ?? "", position: 0 }],
      });
      prev = index;
    });
    if (out0) origin.set(out0, { event: prev, via: [] });
    // Further outputs (Split's pieces) are events of their own that read the op's first event.
    for (let k = 1; k < n.outputs.length; k++) {
      const o = n.outputs[k];
      if (!o || !isFloatValue(g, o)) continue;
      const index = events.length;
      const base = role.events[0];
      events.push({
        cls: `${base.cls}:${k}`,
        family: `${base.family}:${k}`,
        index,
        node: n,
        part: 100 + k,
        value: o,
        shape: shapeOf(g, o),
        inputs: [{ event: first, via: [], value: "", position: 0 }],
      });
      origin.set(o, { event: index, via: [] });
    }
  }
  const consumers: number[][] = events.map(() => []);
  for (const e of events) for (const i of e.inputs) if (i.event >= 0) consumers[i.event].push(e.index);
  return { graph: g, events, origin, consumers, aux, skipped };
}
