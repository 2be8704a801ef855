/**
 * The value of an operand computed from constants alone (a weight behind TFLite's DEQUANTIZE of fp16
 * data, a Cast, a Transpose), with the element types of the constants it came from: fp16 or int8 roots
 * under a float operand are precision evidence.
 */
import type { DType } from "../../ir/dtype.ts";
import { type Graph, type Node, producerOf } from "../../ir/graph.ts";
import { interpret } from "../../runtime/interpreter.ts";
import { fromConstant, type Tensor } from "../../runtime/tensor.ts";

export interface ConstantSource {
  readonly tensor: Tensor;
  /** Element types of the stored constants the value was computed from. */
  readonly roots: readonly DType[];
  /** The ops between the stored constants and the value. */
  readonly via: readonly string[];
}

const cache = new WeakMap<Graph, Map<string, ConstantSource | null>>();

/** Up to this many nodes are evaluated to recover a constant operand. */
const MAX_CHAIN = 16;

export function constantSource(g: Graph, v: string | null | undefined): ConstantSource | undefined {
  if (!v) return undefined;
  let memo = cache.get(g);
  if (!memo) cache.set(g, memo = new Map());
  const hit = memo.get(v);
  if (hit !== undefined) return hit ?? undefined;
  const r = evaluate(g, v);
  memo.set(v, r ?? null);
  return r;
}

function evaluate(g: Graph, v: string): ConstantSource | undefined {
  const c = g.constants[v];
  if (c && !g.inputs.includes(v)) return { tensor: fromConstant(c), roots: [c.dtype], via: [] };
  const nodes: Node[] = [];
  const roots = new Map<string, DType>();
  const seen = new Set<string>();
  const walk = (x: string): boolean => {
    if (seen.has(x)) return true;
    seen.add(x);
    if (g.constants[x] && !g.inputs.includes(x)) {
      roots.set(x, g.constants[x].dtype);
      return true;
    }
    const p = producerOf(g, x);
    if (!p || nodes.length >= MAX_CHAIN) return false;
    for (const i of p.inputs) if (i && !walk(i)) return false;
    if (!nodes.includes(p)) nodes.push(p);
    return true;
  };
  if (!walk(v)) return undefined;
  const order = g.nodes.filter((n) => nodes.includes(n));
  const constants: Record<string, Graph["constants"][string]> = {};
  for (const k of roots.keys()) constants[k] = g.constants[k];
  const sub: Graph = {
    name: "constant",
    inputs: [],
    outputs: [v],
    nodes: order,
    values: g.values,
    constants,
  };
  try {
    const t = interpret(sub, {}).outputs[v] as Tensor;
    return { tensor: t, roots: [...roots.values()], via: order.map((n) => n.op) };
  } catch {
    return undefined;
  }
}
