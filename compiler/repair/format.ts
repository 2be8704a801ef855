/** The text `repair` prints: the agreement before and after, and every change with its evidence. */
import type { Edit } from "../../passes/repair/edit.ts";
import type { Score } from "../../passes/repair/score.ts";
import type { RepairReport } from "./repair.ts";

const fmt = (
  x: unknown,
) => (typeof x === "number" ? (Number.isInteger(x) ? String(x) : x.toPrecision(4)) : String(x));

export function formatScore(s: Score): string {
  return `top-1 ${(100 * s.top1).toFixed(1)}%, tau ${fmt(s.tau)}, max rel error ${fmt(s.maxRel)}, rel L2 ${
    fmt(s.relL2)
  }${s.agree ? " (agrees)" : ""}`;
}

function summary(x: Record<string, unknown>): string {
  return `top-1 ${fmt(Number(x.top1) * 100)}%, tau ${fmt(x.tau)}, max rel error ${fmt(x.maxRel)}`;
}

export function formatEdit(e: Edit): string {
  switch (e.type) {
    case "attribute":
      return `${e.node} (${e.op}): ${e.name} ${JSON.stringify(e.before)} -> ${JSON.stringify(e.after)}`;
    case "constant": {
      const s = (t: { shape: readonly number[]; dtype: string; mean?: number; norm?: number } | undefined) =>
        t ? `${t.dtype}[${t.shape}] mean ${fmt(t.mean)} norm ${fmt(t.norm)}` : "(none)";
      return `${e.node} (${e.op}) operand ${e.input}: ${s(e.before)} -> ${s(e.after)}${
        e.from ? ` from ${e.from}` : ""
      }${e.transform ? `, ${e.transform}` : ""}`;
    }
    case "op":
      return `${e.node}: op ${e.before} -> ${e.after}`;
    case "inputs":
      return `${e.node} (${e.op}): reads ${e.after.map(String).join(", ")} (was ${
        e.before.map(String).join(", ")
      })`;
    case "outputs":
      return `${e.node} (${e.op}): writes ${e.after.join(", ")} (was ${e.before.join(", ")})`;
    case "insert":
      return `inserted ${e.node} (${e.op}) reading ${e.inputs.map(String).join(", ")}`;
    case "remove":
      return `removed ${e.node} (${e.op})`;
    case "input-type":
      return `input ${e.name}: ${e.before} -> ${e.after}`;
  }
}

export function formatRepair(r: RepairReport): string {
  const lines = [
    `${r.agree ? "repaired" : "not fully repaired"}: ${r.out} (${r.changes.length} change${
      r.changes.length === 1 ? "" : "s"
    }, stopped: ${r.stopped}, ${(r.ms.total / 1000).toFixed(1)} s)`,
    `  before: ${summary(r.before)}`,
    `  after:  ${summary(r.after)}`,
    ...(r.changes.length === 0 && r.agree ? ["  the models agree: nothing to repair"] : []),
  ];
  for (const [i, c] of r.changes.entries()) {
    lines.push(`  ${i + 1}. [${c.class}, ${c.rule}, from the ${c.reference}] ${c.description}`);
    if (c.finding) lines.push(`     finding: ${c.finding.kind}/${c.finding.fault}: ${c.finding.message}`);
    for (const e of c.edits) lines.push(`     ${formatEdit(e)}`);
    lines.push(`     evidence: ${summary(c.evidence.before)} -> ${summary(c.evidence.after)}`);
  }
  if (r.framework) {
    lines.push(
      `  ${r.framework.runtime}: the written model ${
        r.framework.agrees ? "runs and matches Lathe's outputs" : "DIFFERS from Lathe's outputs"
      } (vs source: ${summary(r.framework.vsSource)})`,
    );
  }
  lines.push(`  report in ${r.report}`);
  return lines.join("\n");
}
