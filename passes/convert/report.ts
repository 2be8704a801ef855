/**
 * The conversion report: for every source node, the target ops it became, or why it has none (folded
 * away before mapping, cancelled by layout propagation, or not mappable, with the reason). Nothing is
 * dropped silently: a conversion with unmapped nodes fails and the report names them.
 */
import { LatheError } from "../../ir/errors.ts";
import { type Graph, graphIndex, type Node } from "../../ir/graph.ts";
import type { Rewriter } from "../rewrite.ts";

export interface MappedNode {
  /** Source node id (the ONNX node name or TFLite output tensor it was imported under). */
  readonly node: string;
  readonly op: string;
  /** Target ops in graph order, e.g. ["tfl.TRANSPOSE", "tfl.CONV_2D"]. */
  readonly to: readonly string[];
}

export interface DroppedNode {
  readonly node: string;
  readonly op: string;
  /** Why no target node stems from it. */
  readonly why: string;
}

export interface UnmappedNode {
  readonly node: string;
  readonly op: string;
  readonly reason: string;
}

export interface ConversionReport {
  readonly source: { format: string; path?: string; nodes: number };
  readonly target: { format: string; path?: string; nodes: number; ops: Record<string, number> };
  readonly mapped: MappedNode[];
  /** Source nodes with no target node of their own: folded into constants or neighbours. */
  readonly absorbed: DroppedNode[];
  readonly unmapped: UnmappedNode[];
  /** Decisions a user should know about (interface layout, narrowed types). */
  readonly notes: string[];
  readonly ms: Record<string, number>;
}

/** Reasons rules give when they decline a node, so an unmapped node says why. */
export class Declines {
  readonly reasons = new Map<string, string>();
  /** Records why `node` was not mapped; returns undefined so a builder can `return declines.of(n, "...")`. */
  of(node: Node, reason: string): undefined {
    for (const id of node.from ?? [node.id]) if (!this.reasons.has(id)) this.reasons.set(id, reason);
    this.reasons.set(node.id, reason);
    return undefined;
  }
}

/** Source ids a node stems from. */
export function sourcesOf(n: Node): readonly string[] {
  return n.from ?? [n.id];
}

/**
 * Credits every node built so far in `rw` to all of `nodes`' sources. The rewriter credits new nodes to the
 * matched root only; a fusion (an activation into the op before it) must keep both.
 */
export function creditAll(rw: Rewriter, nodes: readonly Node[]): void {
  const ids = [...new Set(nodes.flatMap((n) => sourcesOf(n)))];
  const created = rw.created as Node[];
  for (let i = 0; i < created.length; i++) created[i] = { ...created[i], from: ids };
}

/** Which nodes of `g` are not in the target dialect. */
export function foreignNodes(g: Graph, isTarget: (op: string) => boolean): Node[] {
  return g.nodes.filter((n) => !isTarget(n.op));
}

export interface ReportInput {
  source: Graph;
  sourceFormat: string;
  sourcePath?: string;
  target: Graph;
  targetFormat: string;
  isTarget: (op: string) => boolean;
  declines: Declines;
  /** Source ids gone after the pre-mapping cleanup, with what removed them. */
  absorbedBy: Map<string, string>;
  notes: string[];
  ms: Record<string, number>;
}

export function buildReport(r: ReportInput): ConversionReport {
  const targets = new Map<string, string[]>();
  const unmapped: UnmappedNode[] = [];
  const sourceOp = new Map(r.source.nodes.map((n) => [n.id, n.op]));
  for (const n of r.target.nodes) {
    if (!r.isTarget(n.op)) {
      const src = sourcesOf(n).find((s) => sourceOp.has(s)) ?? n.id;
      const reason = r.declines.reasons.get(n.id) ?? sourcesOf(n).map((s) =>
        r.declines.reasons.get(s)
      ).find(Boolean) ??
        `no ${r.targetFormat} mapping for ${n.op}`;
      unmapped.push({
        node: src,
        op: sourceOp.get(src) ?? n.op,
        reason: n.op === sourceOp.get(src) ? reason : `${reason} (while mapping ${n.op})`,
      });
      continue;
    }
    for (const s of sourcesOf(n)) {
      const l = targets.get(s) ?? [];
      l.push(n.op);
      targets.set(s, l);
    }
  }
  const mapped: MappedNode[] = [];
  const absorbed: DroppedNode[] = [];
  const unmappedIds = new Set(unmapped.map((u) => u.node));
  for (const n of r.source.nodes) {
    const to = targets.get(n.id);
    if (to) mapped.push({ node: n.id, op: n.op, to });
    else if (!unmappedIds.has(n.id)) {
      absorbed.push({
        node: n.id,
        op: n.op,
        why: r.absorbedBy.get(n.id) ?? "cancelled against a neighbour (layout propagation or fusion)",
      });
    }
  }
  const ops: Record<string, number> = {};
  for (const n of r.target.nodes) ops[n.op] = (ops[n.op] ?? 0) + 1;
  return {
    source: {
      format: r.sourceFormat,
      ...(r.sourcePath ? { path: r.sourcePath } : {}),
      nodes: r.source.nodes.length,
    },
    target: { format: r.targetFormat, nodes: r.target.nodes.length, ops },
    mapped,
    absorbed,
    unmapped,
    notes: r.notes,
    ms: r.ms,
  };
}

/**
 * Records why source ids present in `before` left no descendant in `after`: merged into a consumer that
 * survived (a Conv into the BatchNormalization that folded it, which the rewriter credits), constant-folded
 * (its output is a constant now), or `why`.
 */
export function vanished(before: Graph, after: Graph, why: string, into: Map<string, string>): void {
  const alive = new Set(after.nodes.flatMap((n) => sourcesOf(n)));
  const ix = graphIndex(before);
  for (const n of before.nodes) {
    for (const s of sourcesOf(n)) {
      if (alive.has(s) || into.has(s)) continue;
      if (n.outputs.some((o) => o in after.constants)) {
        into.set(s, "constant-folded");
        continue;
      }
      const heir = n.outputs.flatMap((o) => ix.users.get(o) ?? []).find((u) =>
        sourcesOf(u).some((x) => alive.has(x))
      );
      into.set(s, heir ? `merged into ${heir.id} (${heir.op}), which maps in its place` : why);
    }
  }
}

/** The error a conversion with unmapped nodes fails with; the report rides along for the CLI. */
export class ConversionError extends LatheError {
  constructor(readonly report: ConversionReport) {
    const list = report.unmapped.map((u) => `${u.node} (${u.op}): ${u.reason}`);
    super(
      "unsupported",
      `${report.unmapped.length} node(s) have no ${report.target.format} mapping:\n  ${
        list.slice(0, 20).join("\n  ")
      }${list.length > 20 ? `\n  ... ${list.length - 20} more` : ""}`,
      report.source.path ? { file: report.source.path } : {},
    );
  }
}
