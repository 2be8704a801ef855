/**
 * Constant folding: a pure node whose inputs are all constants is run once with the runtime's own kernel
 * and replaced by constants. Outputs above a size limit are left alone, since folding them would copy
 * weights (an Expand of a scalar to a large shape, say) without saving work.
 */
import { produce } from "immer";
import type { Constant } from "../ir/constant.ts";
import { constantCount } from "../ir/constant.ts";
import type { Graph, Node, ValueInfo } from "../ir/graph.ts";
import { getOp, resolveAttrs } from "../ir/op-registry.ts";
import { numbersConstant } from "../ir/builder.ts";
import { isStaticShape } from "../ir/value-type.ts";
import { getKernel } from "../runtime/kernel-registry.ts";
import { Session } from "../runtime/interpreter.ts";
import { Tensor, toConstant } from "../runtime/tensor.ts";
import { graphPass, registerPass } from "./pass-manager.ts";
import { deadCodeElimination } from "./rewrite.ts";

const NOT_FOLDED = new Set(["If", "Loop", "Scan", "SequenceMap"]);

export function foldConstants(g: Graph, opts: { maxElements?: number } = {}): Graph {
  const max = opts.maxElements ?? 1 << 20;
  const overridable = new Set(g.inputs);
  const known = new Map<string, Constant>();
  for (const [k, c] of Object.entries(g.constants)) if (!overridable.has(k)) known.set(k, c);
  const folded = new Set<Node>();
  const added: Record<string, Constant> = {};
  for (const n of g.nodes) {
    // Shape and Size of a value whose shape is static are constants even when the value is not.
    if ((n.op === "Shape" || n.op === "Size") && n.inputs[0] && !known.has(n.inputs[0])) {
      const t = g.values[n.inputs[0]]?.type;
      if (t?.kind === "tensor" && isStaticShape(t.shape)) {
        const a = resolveAttrs(n);
        const r = t.shape.length;
        const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
        const dims = n.op === "Size"
          ? [t.shape.reduce((p, d) => p * d, 1)]
          : t.shape.slice(clamp(a.start ?? 0), clamp(a.end ?? r));
        const c = numbersConstant("i64", n.op === "Size" ? [] : [dims.length], dims);
        known.set(n.outputs[0], c);
        added[n.outputs[0]] = c;
        folded.add(n);
        continue;
      }
    }
    if (!foldable(n)) continue;
    if (!n.inputs.every((i) => i === null || known.has(i))) continue;
    if (n.inputs.every((i) => i === null)) continue;
    if (n.inputs.some((i) => i !== null && constantCount(known.get(i)!) > max)) continue;
    const one: Graph = {
      name: "fold",
      inputs: [],
      outputs: n.outputs.filter(Boolean),
      nodes: [n],
      values: Object.fromEntries(n.outputs.filter(Boolean).map((o) => [o, g.values[o]]).filter(([, v]) => v)),
      constants: Object.fromEntries(
        n.inputs.filter((i): i is string => i !== null).map((i) => [i, known.get(i)!]),
      ),
    };
    let out: Record<string, unknown>;
    try {
      out = new Session(one).run({}).outputs;
    } catch {
      continue; // a kernel that refuses these inputs leaves the node for run time to report
    }
    const cs: [string, Constant][] = [];
    for (const o of one.outputs) {
      const v = out[o];
      if (!(v instanceof Tensor) || v.size > max) {
        cs.length = 0;
        break;
      }
      cs.push([o, copyConstant(toConstant(v))]);
    }
    if (!cs.length) continue;
    for (const [o, c] of cs) {
      known.set(o, c);
      added[o] = c;
    }
    folded.add(n);
  }
  if (!folded.size) return g;
  const next = produce(g, (d) => {
    d.nodes = g.nodes.filter((n) => !folded.has(n)) as any;
    for (const [k, c] of Object.entries(added)) {
      (d.constants as Record<string, Constant>)[k] = c as any;
      (d.values as Record<string, ValueInfo>)[k] = {
        type: { kind: "tensor", dtype: c.dtype, shape: c.shape },
      } as any;
    }
  });
  return deadCodeElimination(next);
}

function foldable(n: Node): boolean {
  const decl = getOp(n.op);
  return !!decl && !decl.impure && !NOT_FOLDED.has(n.op) && !!getKernel(n.op) && !n.outputs.some((o) => !o);
}

/** Kernel outputs may live in pooled buffers; a constant needs bytes of its own. */
function copyConstant(c: Constant): Constant {
  return c.bytes ? { ...c, bytes: c.bytes.slice() } : c;
}

export const constantFold = registerPass(
  graphPass(
    "constant-fold",
    "evaluate nodes whose inputs are all constants with the runtime's kernels",
    (g, o) => foldConstants(g, { maxElements: o.maxElements }),
    {
      options: { maxElements: { type: "int", default: 1 << 20, doc: "largest output (elements) to fold" } },
    },
  ),
);
