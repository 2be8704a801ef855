/**
 * A node the target lacks, read through the matching's substitutions. When the reference computes A then
 * B and the target only B, the matcher may pair A with B as a substitute of the same family (a Mul
 * standing for an Add) and report B missing. Where the substitute has exactly the op of the missing node
 * that reads A's result, the simpler reading is that A is missing: that finding is put first (same dialect
 * only, where ops compare as written).
 */
import type { Graph } from "../../ir/graph.ts";
import type { Finding } from "../diff/localize.ts";

export function missingBeforeFindings(
  findings: readonly Finding[],
  reference: Graph,
  target: Graph,
): Finding[] {
  const out: Finding[] = [];
  const byId = (
    g: Graph,
    id: string | undefined,
  ) => (id === undefined ? undefined : g.nodes.find((n) => n.id === id));
  for (const w of findings) {
    if (w.fault !== "wrong-op") continue;
    const a = byId(reference, w.sourceNode), t = byId(target, w.targetNode);
    if (!a || !t) continue;
    for (const m of findings) {
      if (m.fault !== "missing-node" || m.pair !== w.pair) continue;
      const b = byId(reference, m.sourceNode);
      if (!b || b.op !== t.op || !b.inputs.includes(a.outputs[0])) continue;
      out.push({
        kind: "graph",
        fault: "missing-node",
        pair: w.pair,
        sourceNode: a.id,
        sourceOp: a.op,
        message:
          `${a.op} ${a.id} has no counterpart in the target: the target's ${t.op} ${t.id} is the reference's ${b.op} ${b.id} after it (the matching paired it with ${a.id} as a substitute)`,
        evidence: w.evidence,
      });
    }
  }
  return out;
}
