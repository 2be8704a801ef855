/**
 * Repair rules (anchors-and-style.md §6.9): FetaFix's strategies (accelerators.md §3.1) in the rewrite-rule
 * shape. A rule names the fault class it repairs and the findings it answers (the diff's `Finding.fault`
 * names), and proposes fixes for one finding; each fix is an edit of the target (passes/repair/edit.ts).
 * The driver (greedy.ts) applies a fix to a copy and keeps it only if the agreement with the source
 * improves. The reference a finding was made against is either the source model itself (cross-dialect:
 * copies go through layout transforms) or the source as Lathe converts it to the target's format
 * (same dialect: FetaFix's "both sides in one format", where every attribute compares as written).
 */
import type { Graph, Node } from "../../ir/graph.ts";
import type { Event } from "../diff/event-graph.ts";
import type { Finding, Localization } from "../diff/localize.ts";
import type { EventPair, GraphMatch } from "../diff/match.ts";
import type { Dialect, Editor } from "./edit.ts";

export type FaultClass = "input" | "parameters" | "hyperparameters" | "graph" | "precision";

export interface RepairContext {
  /** The graph the target was compared with. */
  readonly reference: Graph;
  readonly referenceKind: "source" | "converted source";
  readonly target: Graph;
  readonly match: GraphMatch;
  readonly localization: Localization;
  readonly dialect: Dialect;
  /** Whether reference and target are in the same dialect (attributes and layouts compare as written). */
  readonly sameDialect: boolean;
}

export interface Fix {
  readonly rule: string;
  readonly class: FaultClass;
  /** One line for people: what the fix does. */
  readonly description: string;
  readonly apply: (ed: Editor) => void;
}

export interface RepairRule {
  readonly name: string;
  readonly class: FaultClass;
  readonly answers: (f: Finding, ctx: RepairContext) => boolean;
  readonly propose: (f: Finding, ctx: RepairContext) => Fix[];
}

/** `repair(name, class, faults, propose)`: a rule answering findings whose `fault` (or `kind`) is listed. */
export function repair(
  name: string,
  cls: FaultClass,
  answers: readonly string[] | ((f: Finding, ctx: RepairContext) => boolean),
  propose: (f: Finding, ctx: RepairContext, fix: FixMaker) => (Fix | undefined)[],
): RepairRule {
  const test = typeof answers === "function"
    ? answers
    : (f: Finding) => answers.includes(f.fault) || answers.includes(f.kind);
  const maker: FixMaker = (description, apply) => ({ rule: name, class: cls, description, apply });
  return {
    name,
    class: cls,
    answers: test,
    propose: (f, ctx) => propose(f, ctx, maker).filter((x): x is Fix => !!x),
  };
}

export type FixMaker = (description: string, apply: (ed: Editor) => void) => Fix;

export function findNode(g: Graph, id: string | undefined): Node | undefined {
  return id === undefined ? undefined : g.nodes.find((n) => n.id === id);
}

/** The paired events a finding names: the event pair whose nodes are the finding's (first one found). */
export function findingEvents(
  f: Finding,
  ctx: RepairContext,
): { pair?: EventPair; source?: Event; target?: Event } {
  const m = ctx.match;
  const p = m.pairs.find((x) =>
    x.source.node === f.sourceNode && x.target.node === f.targetNode &&
    (!f.sourceOp || x.source.op === f.sourceOp)
  );
  if (p) {
    return {
      pair: p,
      source: m.sourceEvents.events[p.source.event],
      target: m.targetEvents.events[p.target.event],
    };
  }
  const s = f.sourceNode ? m.sourceEvents.events.find((e) => e.node?.id === f.sourceNode) : undefined;
  const t = f.targetNode ? m.targetEvents.events.find((e) => e.node?.id === f.targetNode) : undefined;
  return { ...(s ? { source: s } : {}), ...(t ? { target: t } : {}) };
}

/** Data operands of a node (not constants): their positions. */
export function dataInputs(g: Graph, n: Node): number[] {
  const out: number[] = [];
  n.inputs.forEach((v, i) => {
    if (v && (!(v in g.constants) || g.inputs.includes(v))) out.push(i);
  });
  return out;
}
