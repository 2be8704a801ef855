/**
 * Pairs the values of two graphs by structure, never by name: graph inputs by position, then every source
 * event (in topological order) with a target event of an equivalent class (op-equivalence.ts) that reads
 * the counterparts of its operands. Target events that have no source counterpart (a PAD before a VALID
 * convolution, an inserted Gather) may sit between, at a cost; source events with no counterpart pass their
 * operand's counterpart on, so the matching continues past a dropped node. Layout ops are skipped on both
 * sides and their effect tracked as a layout hint; weights equal modulo layout break ties (two convolutions
 * reading the same input).
 *
 * The result lists the paired events, the comparable value pairs (both sides observable), the output
 * pairs, and the unmatched regions, each with an explanation when it is an equivalent rewrite.
 */
import type { Graph, Node } from "../../ir/graph.ts";
import { constantNumbers } from "../../ir/constant-values.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import type { Dim } from "../../ir/value-type.ts";
import { buildEventGraph, type Event, type EventGraph } from "./event-graph.ts";
import {
  candidatePerms,
  type FullPerm,
  NCHW_TO_NHWC,
  NHWC_TO_NCHW,
  throughSourceTranspose,
  throughTargetTranspose,
} from "./layout-relation.ts";
import { COMMUTATIVE_CLASSES, dialectOf, SPATIAL_CLASSES, WEIGHTED_CLASSES } from "./op-equivalence.ts";
import {
  canonicalParams,
  type Fingerprint,
  fingerprint,
  paramDistance,
  similarFingerprints,
} from "./params.ts";

/** One side of a pair. */
export interface MatchSide {
  readonly event: number;
  /** Node id; absent for graph inputs. */
  readonly node?: string;
  /** The node's op, or "input". */
  readonly op: string;
  readonly cls: string;
  /** The observable value, when there is one. */
  readonly value?: string;
}

export interface EventPair {
  readonly source: MatchSide;
  readonly target: MatchSide;
  /** exact: equivalent classes; substituted: same family, different class (Relu against LOGISTIC). */
  readonly kind: "exact" | "substituted";
  /** Unpaired target events passed over between this pair's operands and it. */
  readonly skipped: number;
  /** Weights compared as fingerprints modulo layout (only for ops with learned weights on both sides). */
  readonly weights?: "similar" | "different";
  /** Layout hint on full shapes: source axis i is target axis hint[i]. */
  readonly hint?: readonly number[];
}

/** A pair of values that can be compared element by element (after the layout relation). */
export interface ValuePair {
  /** Position in `GraphMatch.values` (source topological order). */
  readonly index: number;
  readonly source: MatchSide & { readonly value: string };
  readonly target: MatchSide & { readonly value: string };
  readonly kind: "input" | "exact" | "substituted";
  readonly hint?: readonly number[];
}

export interface OutputPair {
  readonly index: number;
  readonly source: string;
  readonly target: string;
  /** Hint from the pair that produces both outputs, when they are paired values (after layout chains). */
  readonly hint?: readonly number[];
}

export interface RegionNode {
  readonly node: string;
  readonly op: string;
  readonly cls: string;
  /** Set when the node's absence on the other side is an equivalent rewrite, saying which. */
  readonly explained?: string;
}

/** Events with no counterpart that sit between the same paired values. */
export interface UnmatchedRegion {
  /** The value pairs the region reads from and feeds into (indices into `values`). */
  readonly after: readonly number[];
  readonly before?: number;
  readonly source: readonly RegionNode[];
  readonly target: readonly RegionNode[];
  /** Set when every node of the region is explained (the reasons, joined). */
  readonly explained?: string;
}

export interface GraphMatch {
  readonly sourceEvents: EventGraph;
  readonly targetEvents: EventGraph;
  /** Every paired event, in source topological order. */
  readonly pairs: readonly EventPair[];
  readonly values: readonly ValuePair[];
  readonly outputs: readonly OutputPair[];
  readonly unmatchedSource: readonly RegionNode[];
  readonly unmatchedTarget: readonly RegionNode[];
  readonly regions: readonly UnmatchedRegion[];
  /** Source event index to target event index. */
  readonly sourceToTarget: ReadonlyMap<number, number>;
  readonly targetToSource: ReadonlyMap<number, number>;
}

export interface MatchOptions {
  /** How many unpaired target events may sit between a pair and its operands (default 3). */
  maxSkip?: number;
}

const EXACT = 100, SUBSTITUTE = 60, PER_SKIP = 10, LOOKAHEAD = 50, ACCEPT = 50;

function side(e: Event): MatchSide {
  return {
    event: e.index,
    ...(e.node ? { node: e.node.id } : {}),
    op: e.node?.op ?? "input",
    cls: e.cls,
    ...(e.value ? { value: e.value } : {}),
  };
}

function staticCount(shape: readonly Dim[] | undefined): number | undefined {
  if (!shape) return undefined;
  let n = 1;
  for (const d of shape) {
    if (typeof d !== "number") return undefined;
    n *= d;
  }
  return n;
}

function transposePerm(g: Graph, n: Node): number[] | undefined {
  const rank = (() => {
    const t = n.inputs[0] ? g.values[n.inputs[0]]?.type : undefined;
    return t?.kind === "tensor" ? t.shape?.length : undefined;
  })();
  if (n.op === "Transpose") {
    const p = resolveAttrs(n).perm as readonly number[] | undefined;
    if (p && p.length) return [...p];
    return rank === undefined ? undefined : Array.from({ length: rank }, (_, i) => rank - 1 - i);
  }
  if (n.op === "tfl.TRANSPOSE") {
    const c = n.inputs[1] ? g.constants[n.inputs[1]] : undefined;
    return c ? constantNumbers(c) : undefined;
  }
  return undefined;
}

function shapeOfValue(g: Graph, v: string): readonly Dim[] | undefined {
  const t = g.values[v]?.type;
  return t?.kind === "tensor" ? t.shape : undefined;
}

/** A layout chain keeps a permutation hint only through transposes and shape-preserving nodes. */
function carryHint(
  hint: FullPerm | undefined,
  sg: Graph,
  sVia: readonly Node[],
  tg: Graph,
  tVia: readonly Node[],
): FullPerm | undefined {
  let h: FullPerm | undefined = hint;
  const step = (g: Graph, n: Node, f: (p: FullPerm, q: readonly number[]) => number[] | undefined) => {
    if (!h) return;
    const q = transposePerm(g, n);
    if (q) {
      h = f(h, q);
      return;
    }
    const a = n.inputs[0] ? shapeOfValue(g, n.inputs[0]) : undefined, b = shapeOfValue(g, n.outputs[0]);
    const same = a && b && a.length === b.length && a.every((d, i) => d === b[i]);
    if (!same) h = undefined;
  };
  for (const n of sVia) step(sg, n, throughSourceTranspose);
  for (const n of tVia) step(tg, n, throughTargetTranspose);
  return h;
}

export function matchGraphs(source: Graph, target: Graph, opts: MatchOptions = {}): GraphMatch {
  const S = buildEventGraph(source), T = buildEventGraph(target);
  const K = opts.maxSkip ?? 3;
  const s2t = new Map<number, number>(), t2s = new Map<number, number>();
  const alias = new Map<number, number>();
  const pairs: EventPair[] = [];
  const hints = new Map<number, FullPerm | undefined>();
  const prints = new Map<EventGraph, Map<number, Fingerprint | null>>([[S, new Map()], [T, new Map()]]);

  const printOf = (eg: EventGraph, e: Event): Fingerprint | undefined => {
    if (!e.node || e.part !== 0 || !WEIGHTED_CLASSES.has(e.cls)) return undefined;
    const m = prints.get(eg)!;
    if (!m.has(e.index)) {
      const w = canonicalParams(eg.graph, e.node).weights;
      m.set(e.index, w ? fingerprint(w) : null);
    }
    return m.get(e.index) ?? undefined;
  };

  /** Weights equal modulo layout, up to fp16 rounding. */
  const sameWeights = (s: Event, t: Event): boolean => {
    const a = canonicalParams(source, s.node!).weights, b = canonicalParams(target, t.node!).weights;
    const d = a && b ? paramDistance(a, b) : undefined;
    return d !== undefined && d < 1e-2;
  };

  const pair = (s: Event, t: Event, kind: EventPair["kind"], skipped: number, hint: FullPerm | undefined) => {
    s2t.set(s.index, t.index);
    t2s.set(t.index, s.index);
    hints.set(s.index, hint);
    const ps = printOf(S, s), pt = printOf(T, t);
    pairs.push({
      source: side(s),
      target: side(t),
      kind,
      skipped,
      ...(ps && pt
        ? {
          weights: similarFingerprints(ps, pt) && sameWeights(s, t)
            ? "similar" as const
            : "different" as const,
        }
        : {}),
      ...(hint ? { hint } : {}),
    });
  };

  // Graph inputs pair by position when the shapes allow it, else with the first compatible free input.
  const sIn = S.events.filter((e) => e.cls === "input"), tIn = T.events.filter((e) => e.cls === "input");
  for (const [i, s] of sIn.entries()) {
    const fits = (t: Event) =>
      !t2s.has(t.index) && (!s.shape || !t.shape || candidatePerms(s.shape, t.shape).length > 0);
    const t = tIn[i] && fits(tIn[i]) ? tIn[i] : tIn.find(fits);
    if (t) pair(s, t, "exact", 0, undefined);
  }

  const counterpart = (e: number) => s2t.get(e) ?? alias.get(e);

  /** Events reachable forward from `from` through unpaired, unweighted target events. */
  const forward = (from: number): { event: number; hops: number; passed: number[] }[] => {
    const out: { event: number; hops: number; passed: number[] }[] = [];
    const seen = new Set<number>([from]);
    let frontier: { event: number; passed: number[] }[] = [{ event: from, passed: [] }];
    for (let hops = 0; hops <= K && frontier.length; hops++) {
      const next: { event: number; passed: number[] }[] = [];
      for (const f of frontier) {
        for (const c of T.consumers[f.event]) {
          if (seen.has(c)) continue;
          seen.add(c);
          out.push({ event: c, hops, passed: f.passed });
          const ce = T.events[c];
          if (!t2s.has(c) && !WEIGHTED_CLASSES.has(ce.cls)) next.push({ event: c, passed: [...f.passed, c] });
        }
      }
      frontier = next;
    }
    return out;
  };

  /** Paired (or input) events a target event reads, looking back through unpaired events. */
  const origins = (t: number): Set<number> => {
    const out = new Set<number>();
    const walk = (e: number, depth: number) => {
      for (const i of T.events[e].inputs) {
        if (i.event < 0 || out.has(i.event)) continue;
        out.add(i.event);
        if (!t2s.has(i.event) && depth < K) walk(i.event, depth + 1);
      }
    };
    walk(t, 0);
    return out;
  };

  /**
   * Classes of the source events that read `s`: skipping a target event of one of these is suspect (it is
   * probably their counterpart, so `s` itself has none).
   */
  const downstream = (s: Event): Set<string> => {
    const out = new Set<string>();
    let frontier = [s.index];
    for (let d = 0; d < 1; d++) {
      const next: number[] = [];
      for (const x of frontier) {
        for (const c of S.consumers[x]) {
          out.add(S.events[c].cls);
          next.push(c);
        }
      }
      frontier = next;
    }
    return out;
  };

  const hintFor = (s: Event, t: Event): FullPerm | undefined => {
    if (s.part > 0 && t.part > 0) {
      const base = S.events[s.inputs[0]?.event];
      return base ? hints.get(base.index) : undefined;
    }
    const sd = s.node ? dialectOf(s.node.op) : "onnx", td = t.node ? dialectOf(t.node.op) : "onnx";
    if (SPATIAL_CLASSES.has(s.cls) && (s.shape?.length ?? 4) === 4 && (t.shape?.length ?? 4) === 4) {
      if (sd === td) return [0, 1, 2, 3];
      return sd === "onnx" ? NHWC_TO_NCHW : NCHW_TO_NHWC;
    }
    // Elementwise-like ops keep their first operand's layout.
    for (const si of s.inputs) {
      const ti = t.inputs.find((x) => x.event === s2t.get(si.event));
      if (!ti) continue;
      const h = carryHint(hints.get(si.event), S.graph, si.via, T.graph, ti.via);
      const sv = shapeOfValue(S.graph, si.value), tv = shapeOfValue(T.graph, ti.value);
      if (
        h && sv && tv && s.shape && t.shape && s.shape.length === sv.length && t.shape.length === tv.length
      ) return h;
      return undefined;
    }
    return undefined;
  };

  for (const s of S.events) {
    if (s.cls === "input") continue;
    const anchors: number[] = [];
    for (const i of s.inputs) {
      const c = i.event >= 0 ? counterpart(i.event) : undefined;
      if (c !== undefined && !anchors.includes(c)) anchors.push(c);
    }
    if (!anchors.length) continue;
    const ahead = downstream(s);
    const ps = printOf(S, s);
    let best: { t: Event; score: number; hops: number; kind: EventPair["kind"] } | undefined;
    for (const cand of forward(anchors[0])) {
      if (t2s.has(cand.event)) continue;
      const t = T.events[cand.event];
      const exact = t.cls === s.cls;
      if (!exact && t.family !== s.family) continue;
      const org = origins(t.index);
      if (!anchors.every((a) => org.has(a))) continue;
      let score = (exact ? EXACT : SUBSTITUTE) - PER_SKIP * cand.hops;
      for (const p of cand.passed) if (ahead.has(T.events[p].cls)) score -= LOOKAHEAD;
      const sc = staticCount(s.shape), tc = staticCount(t.shape);
      if (sc !== undefined && tc !== undefined && sc !== tc) score -= 30;
      else if (s.shape && t.shape && candidatePerms(s.shape, t.shape).length) score += 5;
      const pt = printOf(T, t);
      if (ps && pt) score += similarFingerprints(ps, pt) ? (sameWeights(s, t) ? 50 : 10) : -5;
      if (!COMMUTATIVE_CLASSES.has(s.cls) && s.inputs.length > 1) {
        const order = s.inputs.map((i) => counterpart(i.event));
        const torder = t.inputs.map((i) => i.event);
        if (order.every((x, k) => x === torder[k])) score += 3;
      }
      if (score >= ACCEPT && (!best || score > best.score)) {
        best = { t, score, hops: cand.hops, kind: exact ? "exact" : "substituted" };
      }
    }
    if (best) pair(s, best.t, best.kind, best.hops, hintFor(s, best.t));
    else alias.set(s.index, anchors[0]);
  }

  pairs.sort((a, b) => a.source.event - b.source.event);
  const values: ValuePair[] = [];
  for (const p of pairs) {
    if (!p.source.value || !p.target.value) continue;
    values.push({
      index: values.length,
      source: p.source as ValuePair["source"],
      target: p.target as ValuePair["target"],
      kind: p.source.op === "input" ? "input" : p.kind,
      ...(p.hint ? { hint: p.hint } : {}),
    });
  }

  const outputs: OutputPair[] = [];
  source.outputs.forEach((so, i) => {
    const to = target.outputs[i];
    if (!to) return;
    const a = S.origin.get(so), b = T.origin.get(to);
    let hint: FullPerm | undefined;
    if (a && b && s2t.get(a.event) === b.event) {
      hint = carryHint(hints.get(a.event), source, a.via, target, b.via);
    }
    outputs.push({ index: i, source: so, target: to, ...(hint ? { hint } : {}) });
  });

  const unmatched = (eg: EventGraph, paired: ReadonlyMap<number, number>) =>
    eg.events.filter((e) => e.node && !paired.has(e.index));
  const us = unmatched(S, s2t), ut = unmatched(T, t2s);
  const weightsBySource = new Map(pairs.map((p) => [p.source.event, p.weights]));
  const weightsByTarget = new Map(pairs.map((p) => [p.target.event, p.weights]));
  const node = (eg: EventGraph, paired: ReadonlyMap<number, number>) => (e: Event): RegionNode => {
    const why = explainNode(eg, paired, e, eg === S ? weightsBySource : weightsByTarget);
    return { node: e.node!.id, op: e.node!.op, cls: e.cls, ...(why ? { explained: why } : {}) };
  };
  const sNodes = us.map(node(S, s2t)), tNodes = ut.map(node(T, t2s));
  const regions = buildRegions(S, T, s2t, t2s, values, us, ut, sNodes, tNodes);
  return {
    sourceEvents: S,
    targetEvents: T,
    pairs,
    values,
    outputs,
    unmatchedSource: dedupe(sNodes),
    unmatchedTarget: dedupe(tNodes),
    regions,
    sourceToTarget: s2t,
    targetToSource: t2s,
  };
}

function dedupe(xs: RegionNode[]): RegionNode[] {
  const seen = new Set<string>();
  return xs.filter((x) => {
    const k = `${x.node}\u0000${x.cls}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Groups unpaired events by the paired values around them and explains the equivalent rewrites. */
function buildRegions(
  S: EventGraph,
  T: EventGraph,
  s2t: ReadonlyMap<number, number>,
  t2s: ReadonlyMap<number, number>,
  values: readonly ValuePair[],
  us: readonly Event[],
  ut: readonly Event[],
  sNodes: readonly RegionNode[],
  tNodes: readonly RegionNode[],
): UnmatchedRegion[] {
  const sValueIndex = new Map<number, number>(), tValueIndex = new Map<number, number>();
  for (const v of values) {
    sValueIndex.set(v.source.event, v.index);
    tValueIndex.set(v.target.event, v.index);
  }
  // The first paired event downstream of an unpaired one (breadth first), and the paired events upstream.
  const before = (eg: EventGraph, paired: ReadonlyMap<number, number>, e: number): number | undefined => {
    let frontier = [e];
    const seen = new Set<number>(frontier);
    while (frontier.length) {
      const next: number[] = [];
      for (const x of frontier) {
        for (const c of eg.consumers[x]) {
          if (paired.has(c)) return c;
          if (!seen.has(c)) {
            seen.add(c);
            next.push(c);
          }
        }
      }
      frontier = next;
    }
    return undefined;
  };
  const after = (
    eg: EventGraph,
    paired: ReadonlyMap<number, number>,
    vIndex: Map<number, number>,
    e: number,
  ) => {
    const out = new Set<number>();
    const seen = new Set<number>();
    const walk = (x: number) => {
      for (const i of eg.events[x].inputs) {
        if (i.event < 0 || seen.has(i.event)) continue;
        seen.add(i.event);
        const v = vIndex.get(i.event);
        // Paired values bound the region; paired events without a value (a fused op's inner part) do not.
        if (paired.has(i.event) && v !== undefined) out.add(v);
        else walk(i.event);
      }
    };
    walk(e);
    return [...out].sort((a, b) => a - b);
  };
  const groups = new Map<
    string,
    { after: Set<number>; before?: number; source: RegionNode[]; target: RegionNode[] }
  >();
  const add = (e: Event, isSource: boolean, rn: RegionNode) => {
    const eg = isSource ? S : T, paired = isSource ? s2t : t2s;
    const b = before(eg, paired, e.index);
    // Name the downstream pair by its source event so both sides' regions meet in one group.
    const bSource = b === undefined ? undefined : isSource ? b : t2s.get(b);
    const key = bSource === undefined ? "end" : String(bSource);
    let g = groups.get(key);
    if (!g) {
      groups.set(
        key,
        g = {
          after: new Set(),
          ...(bSource !== undefined ? { before: bSource } : {}),
          source: [],
          target: [],
        },
      );
    }
    for (const a of after(eg, paired, isSource ? sValueIndex : tValueIndex, e.index)) g.after.add(a);
    const list = isSource ? g.source : g.target;
    if (!list.some((x) => x.node === rn.node)) list.push(rn);
  };
  us.forEach((e, i) => add(e, true, sNodes[i]));
  ut.forEach((e, i) => add(e, false, tNodes[i]));
  const out: UnmatchedRegion[] = [];
  for (const g of groups.values()) {
    const beforeValue = g.before !== undefined ? firstValueAtOrAfter(S, sValueIndex, g.before) : undefined;
    const all = [...g.source, ...g.target];
    const explained = all.every((n) => n.explained)
      ? [...new Set(all.map((n) => n.explained))].join("; ")
      : undefined;
    out.push({
      after: [...g.after].sort((a, b) => a - b),
      ...(beforeValue !== undefined ? { before: beforeValue } : {}),
      source: g.source,
      target: g.target,
      ...(explained ? { explained } : {}),
    });
  }
  return out;
}

/** The value pair of an event, or of the first event after it on the same node (a fused activation). */
function firstValueAtOrAfter(eg: EventGraph, vIndex: Map<number, number>, e: number): number | undefined {
  for (let x = e; x < eg.events.length; x++) {
    const v = vIndex.get(x);
    if (v !== undefined) return v;
    if (eg.events[x].node !== eg.events[e].node) break;
  }
  return undefined;
}

const WINDOWS = new Set(["conv", "max-pool", "avg-pool", "l2-pool"]);
const CLAMPS = new Set(["max", "min", "clip", "relu", "relu6"]);

/**
 * Why an unpaired node's absence on the other side is an equivalent rewrite, judged from its neighbours:
 * explicit padding in front of a window, batch normalization after a convolution (folded), a clamp next
 * to a paired clamp (Clip as MINIMUM and MAXIMUM), arithmetic with a neutral constant.
 */
function explainNode(
  eg: EventGraph,
  paired: ReadonlyMap<number, number>,
  e: Event,
  weights: ReadonlyMap<number, EventPair["weights"]>,
): string | undefined {
  const next = eg.consumers[e.index].map((c) => eg.events[c]);
  const prev = e.inputs.filter((i) => i.event >= 0).map((i) => eg.events[i.event]);
  if (e.cls === "pad" && next.length > 0 && next.every((n) => WINDOWS.has(n.cls) || n.cls === "pad")) {
    return "explicit padding folded into the window's pads (compared as a hyperparameter)";
  }
  // Folded only if the layer's weights changed (a layer paired with identical weights folded nothing).
  if (
    e.cls === "batch-norm" &&
    prev.some((p) => (p.cls === "conv" || p.cls === "dense") && weights.get(p.index) === "different")
  ) {
    return "batch normalization folded into the layer before it";
  }
  if (CLAMPS.has(e.cls) && [...next, ...prev].some((n) => CLAMPS.has(n.cls) && paired.has(n.index))) {
    return "a clamp written as separate minimum and maximum";
  }
  if (isNeutralArithmetic(eg.graph, e)) {
    return "arithmetic with a neutral constant (x + 0, x − 0, x · 1, x / 1)";
  }
  return undefined;
}

/** Whether an event adds or subtracts zeros, or multiplies or divides by ones (a no-op a converter may drop). */
function isNeutralArithmetic(g: Graph, e: Event): boolean {
  const n = e.node;
  if (!n || e.part !== 0 || !["add", "sub", "mul", "div"].includes(e.cls)) return false;
  const unit = e.cls === "mul" || e.cls === "div" ? 1 : 0;
  const consts = n.inputs.map((v, i) => ({ v, i })).filter(({ v }) =>
    v && g.constants[v] && !g.inputs.includes(v)
  );
  if (consts.length !== 1 || (e.cls !== "add" && e.cls !== "mul" && consts[0].i !== 1)) return false;
  try {
    return constantNumbers(g.constants[consts[0].v!], 1 << 16).every((x) => x === unit);
  } catch {
    return false;
  }
}
