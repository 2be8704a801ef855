/**
 * Type and shape inference over a whole graph: each node's declaration computes its output types from its
 * input types, attributes and constant inputs. Where the source declared a more specific type (ONNX
 * value_info, TFLite tensor shapes) the two are merged.
 */
import { produce } from "immer";
import { constantNumbers } from "./constant-values.ts";
import { dtypeEquals } from "./dtype.ts";
import { LatheError } from "./errors.ts";
import type { Graph, Node, ValueInfo } from "./graph.ts";
import { getOp, type InferContext, resolveAttrs } from "./op-registry.ts";
import type { Dim, TensorType, ValueType } from "./value-type.ts";

export interface InferOptions {
  /** Types of outer-scope values visible to a subgraph. */
  outer?: ReadonlyMap<string, ValueType>;
}

/** Returns the graph with a type for every node output. */
export function inferGraph(g: Graph, opts: InferOptions = {}): Graph {
  const types = new Map<string, ValueType>(opts.outer ?? []);
  for (const i of g.inputs) {
    const t = g.values[i]?.type;
    if (t) types.set(i, t);
  }
  for (const [k, c] of Object.entries(g.constants)) {
    types.set(k, g.values[k]?.type ?? { kind: "tensor", dtype: c.dtype, shape: c.shape });
  }
  const updates: Record<string, ValueInfo> = {};
  const nodeUpdates = new Map<number, Node>();
  let fresh = 0;
  for (let ni = 0; ni < g.nodes.length; ni++) {
    let node = g.nodes[ni];
    // Subgraphs see the values defined so far; infer them first so the node's inference can read them.
    const subAttrs = Object.entries(node.attrs).filter(([, a]) => a.type === "graph" || a.type === "graphs");
    if (subAttrs.length) {
      const attrs = { ...node.attrs };
      let changed = false;
      const given = getOp(node.op)?.subgraphInputs?.(node.inputs.map((i) => (i ? types.get(i) : undefined)));
      for (const [k, a] of subAttrs) {
        if (a.type === "graph") {
          const sg = inferGraph(withInputTypes(a.value, given?.[k]), { outer: types });
          if (sg !== a.value) (attrs[k] = { type: "graph", value: sg }, changed = true);
        } else if (a.type === "graphs") {
          const sgs = a.value.map((x) => inferGraph(x, { outer: types }));
          if (sgs.some((x, i) => x !== a.value[i])) {
            (attrs[k] = { type: "graphs", value: sgs }, changed = true);
          }
        }
      }
      if (changed) {
        node = { ...node, attrs };
        nodeUpdates.set(ni, node);
      }
    }
    const out = inferNode(g, node, types, () => `?${fresh++}`);
    node.outputs.forEach((o, k) => {
      if (!o) return;
      const declared = g.values[o]?.type;
      const t = out[k] ? (declared ? merge(out[k], declared) : out[k]) : declared;
      if (!t) {
        throw new LatheError("verify", `cannot infer the type of output ${k} (${o})`, {
          field: `node ${node.id} (${node.op})`,
        });
      }
      types.set(o, t);
      const prev = g.values[o];
      if (!prev || !sameType(prev.type, t)) updates[o] = { ...prev, type: t };
    });
  }
  if (Object.keys(updates).length === 0 && nodeUpdates.size === 0) return g;
  return produce(g, (d) => {
    for (const [k, v] of Object.entries(updates)) (d.values as Record<string, ValueInfo>)[k] = v as any;
    for (const [i, n] of nodeUpdates) (d.nodes as Node[])[i] = n as any;
  });
}

/** Fills in subgraph input types the body left undeclared. */
function withInputTypes(g: Graph, types: readonly (ValueType | undefined)[] | undefined): Graph {
  if (!types) return g;
  const missing = g.inputs.map((v, i) => (!g.values[v] && types[i] ? [v, types[i]!] as const : undefined))
    .filter((x) => x !== undefined);
  if (!missing.length) return g;
  return { ...g, values: { ...g.values, ...Object.fromEntries(missing.map(([v, t]) => [v, { type: t }])) } };
}

export function inferNode(
  g: Graph,
  node: Node,
  types: { get(name: string): ValueType | undefined },
  fresh: () => string,
): (ValueType | undefined)[] {
  const decl = getOp(node.op);
  if (!decl?.infer) return node.outputs.map(() => undefined);
  const where = { field: `node ${node.id} (${node.op})` };
  // Inference may rely on its required operands being there; a node that lacks one is malformed.
  // (Variadic operands may be empty: SequenceMap's additional inputs.)
  decl.inputs.forEach((spec, k) => {
    if (spec.optional || spec.variadic) return;
    if (!node.inputs[k]) {
      throw new LatheError("verify", `required input ${k} (${spec.name}) is missing`, where);
    }
  });
  const inputs = node.inputs.map((i) => (i ? types.get(i) : undefined));
  node.inputs.forEach((i, k) => {
    if (i && !inputs[k]) throw new LatheError("verify", `input ${k} (${i}) is not defined before use`, where);
  });
  const ctx: InferContext = {
    node,
    inputs,
    attrs: resolveAttrs(node),
    tensor(i) {
      const t = inputs[i];
      if (!t) throw new LatheError("verify", `input ${i} is required`, where);
      if (t.kind !== "tensor") {
        throw new LatheError("verify", `input ${i} must be a tensor, is a ${t.kind}`, where);
      }
      return t;
    },
    constant(i) {
      const name = node.inputs[i];
      return name ? g.constants[name] : undefined;
    },
    ints(i) {
      const c = ctx.constant(i);
      return c && c.shape.reduce((p, d) => p * d, 1) <= 1 << 16 ? constantNumbers(c) : undefined;
    },
    floats(i) {
      return ctx.ints(i);
    },
    fresh,
    fail(reason) {
      throw new LatheError("verify", reason, where);
    },
  };
  try {
    const out = decl.infer(ctx);
    return node.outputs.map((_, k) => out[k]);
  } catch (e) {
    if (e instanceof LatheError && !e.where.field) {
      throw new LatheError(e.kind, e.reason, where, { cause: e });
    }
    throw e;
  }
}

function sameType(a: ValueType, b: ValueType): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === "tensor") {
    const bt = b as TensorType;
    if (!dtypeEquals(a.dtype, bt.dtype)) return false;
    if (!a.shape || !bt.shape) return a.shape === bt.shape;
    return a.shape.length === bt.shape.length && a.shape.every((d, i) => d === bt.shape![i]);
  }
  return sameType(a.elem, (b as { elem: ValueType }).elem);
}

/** Inferred dims win unless they are fresh unknowns the source knew better. */
function merge(inferred: ValueType, declared: ValueType): ValueType {
  if (inferred.kind !== "tensor" || declared.kind !== "tensor") return inferred;
  if (!inferred.shape) {
    return declared.shape && dtypeEquals(inferred.dtype, declared.dtype) ? declared : inferred;
  }
  if (!declared.shape || declared.shape.length !== inferred.shape.length) return inferred;
  const shape: Dim[] = inferred.shape.map((d, i) => {
    const e = declared.shape![i];
    return typeof d === "string" && (d.startsWith("?") || d.includes("*")) && e !== undefined ? e : d;
  });
  return { kind: "tensor", dtype: inferred.dtype, shape };
}
