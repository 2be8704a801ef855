/**
 * F-BFQ's per-call variant switching (accelerators.md §1.4): each call's CONFIG packet names its block
 * variant, and the unit changes datapath between calls without reconfiguration. A call records the
 * previous offloaded call's variant (in graph order, the order the driver issues them), so its program and
 * the report say where the unit switched; a switch costs no cycles beyond the CONFIG word every call sends.
 */
import type { Graph, Node } from "../../ir/graph.ts";
import type { TargetReport } from "../report.ts";
import { type BfpMatMul, describeBfpMatMul } from "./lower.ts";
import { variantName } from "./protocol.ts";

const described = new WeakMap<Graph, Map<Node, BfpMatMul | string>>();

/** describeBfpMatMul, once per node of a graph (the guard and the lowering both ask). */
export function describeOnce(node: Node, g: Graph): BfpMatMul | string {
  let m = described.get(g);
  if (!m) described.set(g, m = new Map());
  let r = m.get(node);
  if (r === undefined) m.set(node, r = describeBfpMatMul(node, g));
  return r;
}

const previous = new WeakMap<Graph, Map<Node, number>>();

/** The variant of the offloadable MatMul before `node` in graph order (0: none). */
export function previousVariant(node: Node, g: Graph): number {
  let m = previous.get(g);
  if (!m) {
    m = new Map();
    let last = 0;
    for (const n of g.nodes) {
      if (n.op !== "lathe.GgmlMatMul") continue;
      const d = describeOnce(n, g);
      if (typeof d === "string") continue;
      m.set(n, last);
      last = d.variant;
    }
    previous.set(g, m);
  }
  return m.get(node) ?? 0;
}

export interface VariantSummary {
  /** Offloaded calls in order with their variant name. */
  readonly calls: readonly { node: string; variant: string; switched: boolean }[];
  /** Calls whose variant differs from the previous call's. */
  readonly switches: number;
  /** Calls per variant name. */
  readonly byVariant: Readonly<Record<string, number>>;
}

/** What a report says about variant switching: the per-call `wgt_type` and `variant_switch` of bfp calls. */
export function variantSummary(r: TargetReport): VariantSummary {
  const calls: { node: string; variant: string; switched: boolean }[] = [];
  const byVariant: Record<string, number> = {};
  for (const n of r.nodes) {
    if (n.placement !== "accel" || n.program?.wgt_type === undefined) continue;
    const v = variantName(n.program.wgt_type);
    calls.push({ node: n.node, variant: v, switched: n.program.variant_switch === 1 });
    byVariant[v] = (byVariant[v] ?? 0) + 1;
  }
  return { calls, switches: calls.filter((c) => c.switched).length, byVariant };
}
