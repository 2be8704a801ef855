/**
 * Transposes the matching cannot see. The diff passes layout ops over and relates the values on either
 * side of them, so an extra transpose of the feature map's rows and columns shows only as an unexplained
 * error jump at the layer after it. Where the reference is in the target's dialect, the layout ops on the
 * paths into the diverging pair compare one to one: a transpose the target has and the reference lacks
 * there is named as a graph finding of its own.
 */
import type { Graph, Node } from "../../ir/graph.ts";
import type { Event, EventGraph } from "../diff/event-graph.ts";
import type { Finding } from "../diff/localize.ts";
import type { GraphMatch } from "../diff/match.ts";
import { permOf } from "./input.ts";

const TRANSPOSES = new Set(["Transpose", "tfl.TRANSPOSE"]);

/** Transposes on the paths into an event, back through its own node's parts and unpaired events. */
function segmentTransposes(eg: EventGraph, start: Event, paired: ReadonlyMap<number, number>): Node[] {
  const out: Node[] = [];
  const seen = new Set<number>();
  const stack = [start.index];
  while (stack.length) {
    const e = eg.events[stack.pop()!];
    if (seen.has(e.index)) continue;
    seen.add(e.index);
    for (const i of e.inputs) {
      for (const n of i.via) if (TRANSPOSES.has(n.op) && !out.includes(n)) out.push(n);
      if (i.event < 0) continue;
      const ie = eg.events[i.event];
      if (ie.node === e.node || !paired.has(ie.index)) stack.push(ie.index);
    }
  }
  return out;
}

function signature(g: Graph, n: Node): string {
  return `${n.op}(${permOf(g, n)?.join(",") ?? "?"})`;
}

/**
 * Findings for the target's extra transposes (same dialect only). Where a transpose moves spatial axes, the
 * values after it still compare (the matching carries the permutation as the pair's layout relation) and
 * the error shows only at the next layer that mixes positions. So the pairs up to the divergence whose
 * relation is not the identity are examined first, the first of them being right after the transpose,
 * then the diverging pair itself.
 */
export function extraTransposeFindings(
  match: GraphMatch,
  divergence: number | undefined,
  before: number,
  after: number,
): Finding[] {
  if (divergence === undefined) return [];
  const moved = match.values.filter((v) =>
    v.index <= divergence && v.kind !== "input" && v.hint?.some((a, i) => a !== i)
  );
  for (const v of [...moved, match.values[divergence]]) {
    const f = extraAt(match, v?.index, divergence, before, after);
    if (f.length) return f;
  }
  return [];
}

function extraAt(
  match: GraphMatch,
  at: number | undefined,
  divergence: number,
  before: number,
  after: number,
): Finding[] {
  const v = at === undefined ? undefined : match.values[at];
  if (!v) return [];
  const S = match.sourceEvents, T = match.targetEvents;
  const sIn = segmentTransposes(S, S.events[v.source.event], match.sourceToTarget);
  const tIn = segmentTransposes(T, T.events[v.target.event], match.targetToSource);
  const left = new Map<string, number>();
  for (const n of sIn) left.set(signature(S.graph, n), (left.get(signature(S.graph, n)) ?? 0) + 1);
  const out: Finding[] = [];
  for (const n of tIn) {
    const k = signature(T.graph, n);
    const have = left.get(k) ?? 0;
    if (have > 0) {
      left.set(k, have - 1);
      continue;
    }
    out.push({
      kind: "graph",
      fault: "extra-node",
      pair: divergence,
      targetNode: n.id,
      targetOp: n.op,
      message: `the target's ${k} ${n.id} on the way into ${
        v.target.node ?? v.target.value
      } has no counterpart in the reference (layout ops are passed over by the matching)`,
      evidence: {
        values: [{ source: v.source.value, target: v.target.value }],
        metric: "relative L2 error ‖t − s‖ / ‖s‖",
        before,
        after,
        detail: {
          transposes: {
            reference: sIn.map((x) => signature(S.graph, x)),
            target: tIn.map((x) => signature(T.graph, x)),
          },
        },
      },
    });
  }
  return out;
}
