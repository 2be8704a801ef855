/**
 * Where two matched graphs start to disagree, and why. Every compared value pair gets its error (relative
 * L2 over all samples) and the error of the pairs feeding it; a pair whose error jumps (above the
 * tolerance and `jump` times its inputs' error) is where a divergence starts. The nodes between the
 * feeding pairs and the jumping pair (its segment, on each side) are then examined, and the fault is
 * classified with FetaFix's families (accelerators.md §3.1):
 * - input: preprocessing — a standard transformation of the input (channel order, H/W layout, scale,
 *   mean) makes the first layer agree;
 * - graph: a node missing, extra, reordered, or a different activation in its place;
 * - hyperparameters: attributes of paired nodes differ once normalized (pads, strides, epsilon, alpha…);
 * - parameters: weights or biases differ modulo layout (or equal another layout of the source's);
 * - precision: the target's weights or activations are fp16, bf16 or int8 where the source's are float32;
 * - unexplained: the error jumps and none of the above shows.
 * Each finding carries its evidence: the values compared, the metric, and the error before and after.
 *
 * Suspicious layers are also ranked the FetaFix way: per layer, an element-wise Kruskal–Wallis test
 * (p < 0.05) between the differences on samples whose top-1 agrees and on those whose top-1 does not,
 * scored by the fraction of deviating elements, rank positions summed over three seeded subsamples of at
 * most 15 per group. With fewer than two samples in either group the ranking is by error jump instead.
 */
import { type DType, printDType } from "../../ir/dtype.ts";
import type { Graph } from "../../ir/graph.ts";
import { Rng } from "../../runtime/random.ts";
import { alloc, type RValue, Tensor } from "../../runtime/tensor.ts";
import type { Event, EventGraph } from "./event-graph.ts";
import { compareHyperparameters, type ShapeLookup } from "./hyperparams.ts";
import { kruskalWallis } from "./kruskal-wallis.ts";
import { inferRelation, toSourceOrder, transposeData } from "./layout-relation.ts";
import { type GraphMatch, matchGraphs, type ValuePair } from "./match.ts";
import { ErrorStats } from "./metrics.ts";
import { canonicalParams, type ParamTensor, paramDistance, squeezed } from "./params.ts";
import { realValues } from "./real-values.ts";
import { evaluateValues, targetInputs, type Trace, traceMatch } from "./trace.ts";

export type FaultKind = "input" | "parameters" | "hyperparameters" | "graph" | "precision" | "unexplained";

export interface Evidence {
  /** The diverging value pair first, then the pairs that feed it. */
  readonly values: readonly { readonly source: string; readonly target: string }[];
  /** What `before` and `after` measure. */
  readonly metric: string;
  readonly before: number;
  readonly after: number;
  /** Fault-specific facts: the attribute's two values, the weights' distance, the transformation tried. */
  readonly detail?: Readonly<Record<string, unknown>>;
}

export interface Finding {
  readonly kind: FaultKind;
  /** The narrower fault, e.g. channel-order, weights, bias, pads, epsilon, missing-node, wrong-op, fp16-weights. */
  readonly fault: string;
  /** Index of the diverging value pair in `GraphMatch.values`. */
  readonly pair: number;
  readonly sourceNode?: string;
  readonly targetNode?: string;
  readonly sourceOp?: string;
  readonly targetOp?: string;
  readonly message: string;
  readonly evidence: Evidence;
}

export interface PairError {
  readonly pair: number;
  /** Relative L2 error ‖t − s‖ / ‖s‖ over all samples (Infinity when the values cannot be compared). */
  readonly error: number;
  /** Largest error among the pairs feeding this one (0 for graph inputs). */
  readonly inputError: number;
  readonly inputs: readonly number[];
  /** Whether the error jumps here (a divergence starts). */
  readonly jump: boolean;
}

export interface SuspiciousLayer {
  readonly pair: number;
  readonly sourceNode?: string;
  readonly targetNode?: string;
  /** Fraction of deviating elements (Kruskal–Wallis) or the error ratio over the inputs' (error-jump). */
  readonly score: number;
  /** Sum of rank positions over the iterations (lower is more suspicious). */
  readonly rankSum: number;
}

export interface Localization {
  readonly tolerance: number;
  readonly jumpFactor: number;
  /** The first pair where the error jumps, when any does. */
  readonly divergence?: PairError;
  readonly pairs: readonly PairError[];
  readonly findings: readonly Finding[];
  readonly ranking: { readonly method: "kruskal-wallis" | "error-jump"; readonly layers: readonly SuspiciousLayer[] };
}

export interface LocalizeOptions {
  readonly source: Graph;
  readonly target: Graph;
  /** Computed when absent. */
  readonly match?: GraphMatch;
  /** Source inputs per sample; the target's are derived (same data in its layout) unless given. */
  readonly inputs: readonly Readonly<Record<string, Tensor>>[];
  readonly targetInputs?: readonly Readonly<Record<string, Tensor>>[];
  /** A trace of the same samples, to avoid running them again. */
  readonly trace?: Trace;
  /** Relative L2 error below which a pair agrees (default 1e-5). */
  readonly tolerance?: number;
  /** How many times its inputs' error a pair's error must be to count as a jump (default 10). */
  readonly jump?: number;
  /** Try input transformations when the divergence is at the first layer (default true). */
  readonly probeInputs?: boolean;
  /** Samples used per input probe (default 2). */
  readonly probeSamples?: number;
  /** Relative distance above which weights count as different (default 1e-6). */
  readonly paramTolerance?: number;
}

const METRIC = "relative L2 error ‖t − s‖ / ‖s‖";

export async function localize(opts: LocalizeOptions): Promise<Localization> {
  const { source, target } = opts;
  const match = opts.match ?? matchGraphs(source, target);
  const tIns = opts.targetInputs ?? opts.inputs.map((x) => targetInputs(match, x));
  const trace = opts.trace ??
    await traceMatch(source, target, match, opts.inputs.map((s, i) => ({ source: s, target: tIns[i] })));
  const tol = opts.tolerance ?? 1e-5;
  const jumpFactor = opts.jump ?? 10;
  const S = match.sourceEvents, T = match.targetEvents;
  const bySourceEvent = new Map<number, ValuePair>(), byTargetEvent = new Map<number, ValuePair>();
  for (const v of match.values) {
    bySourceEvent.set(v.source.event, v);
    byTargetEvent.set(v.target.event, v);
  }
  const errorOf = (p: number) => {
    const t = trace.pairs[p];
    if (!t || t.incompatible) return Infinity;
    return t.perSample.length ? t.stats.relL2 : NaN;
  };

  const segments = match.values.map((v) => segmentOf(S, T, v, bySourceEvent, byTargetEvent));
  const pairs: PairError[] = match.values.map((v, i) => {
    const seg = segments[i];
    const error = errorOf(i);
    const inputError = seg.inputs.reduce((m, p) => Math.max(m, errorOf(p) || 0), 0);
    const jump = v.kind !== "input" && error > tol && !(error <= jumpFactor * inputError);
    return { pair: i, error, inputError, inputs: seg.inputs, jump };
  });

  const shapeLookup = (g: Graph, shapes: ReadonlyMap<string, readonly number[]>): ShapeLookup => (v) => {
    const s = shapes.get(v);
    if (s) return s;
    const t = g.values[v]?.type;
    return t?.kind === "tensor" && t.shape?.every((d) => typeof d === "number") ? t.shape as number[] : undefined;
  };
  const ctx: ClassifyContext = {
    match,
    trace,
    tol,
    paramTol: opts.paramTolerance ?? 1e-6,
    sShape: shapeLookup(source, trace.sourceShapes),
    tShape: shapeLookup(target, trace.targetShapes),
    inputs: opts.inputs,
    probe: opts.probeInputs ?? true,
    probeSamples: opts.probeSamples ?? 2,
  };
  const findings: Finding[] = [];
  for (const p of pairs) {
    if (!p.jump) continue;
    findings.push(...classify(ctx, match.values[p.pair], segments[p.pair], p));
  }
  return {
    tolerance: tol,
    jumpFactor,
    ...(pairs.find((p) => p.jump) ? { divergence: pairs.find((p) => p.jump)! } : {}),
    pairs,
    findings,
    ranking: rankLayers(match, trace, pairs, tol),
  };
}

interface Segment {
  /** Value pairs the segment reads. */
  inputs: number[];
  source: Event[];
  target: Event[];
}

/** The events between a value pair and the compared pairs feeding it, on each side. */
function segmentOf(
  S: EventGraph,
  T: EventGraph,
  v: ValuePair,
  bySource: ReadonlyMap<number, ValuePair>,
  byTarget: ReadonlyMap<number, ValuePair>,
): Segment {
  const inputs = new Set<number>();
  const walk = (eg: EventGraph, start: number, by: ReadonlyMap<number, ValuePair>): Event[] => {
    const out: Event[] = [eg.events[start]];
    const seen = new Set<number>([start]);
    const stack = [start];
    while (stack.length) {
      const e = stack.pop()!;
      for (const i of eg.events[e].inputs) {
        if (i.event < 0 || seen.has(i.event)) continue;
        seen.add(i.event);
        const p = by.get(i.event);
        if (p && p.index < v.index) {
          inputs.add(p.index);
          continue;
        }
        out.push(eg.events[i.event]);
        stack.push(i.event);
      }
    }
    return out.sort((a, b) => a.index - b.index);
  };
  const source = v.kind === "input" ? [] : walk(S, v.source.event, bySource);
  const target = v.kind === "input" ? [] : walk(T, v.target.event, byTarget);
  return { inputs: [...inputs].sort((a, b) => a - b), source, target };
}

interface ClassifyContext {
  match: GraphMatch;
  trace: Trace;
  tol: number;
  paramTol: number;
  sShape: ShapeLookup;
  tShape: ShapeLookup;
  inputs: readonly Readonly<Record<string, Tensor>>[];
  probe: boolean;
  probeSamples: number;
}

function classify(ctx: ClassifyContext, v: ValuePair, seg: Segment, p: PairError): Finding[] {
  const { match } = ctx;
  const evidenceValues = [
    { source: v.source.value, target: v.target.value },
    ...seg.inputs.map((i) => ({ source: match.values[i].source.value, target: match.values[i].target.value })),
  ];
  const base = (before: number, after: number, detail?: Record<string, unknown>): Evidence => ({
    values: evidenceValues,
    metric: METRIC,
    before,
    after,
    ...(detail ? { detail } : {}),
  });
  const at = (kind: FaultKind, fault: string, s: Event | undefined, t: Event | undefined, message: string, ev: Evidence): Finding => ({
    kind,
    fault,
    pair: v.index,
    ...(s?.node ? { sourceNode: s.node.id, sourceOp: s.node.op } : {}),
    ...(t?.node ? { targetNode: t.node.id, targetOp: t.node.op } : {}),
    message,
    evidence: ev,
  });
  const out: Finding[] = [];
  const S = match.sourceEvents, T = match.targetEvents;
  const first = seg.inputs.length > 0 && seg.inputs.every((i) => match.values[i].kind === "input");

  if (first && ctx.probe) {
    const found = probeInputs(ctx, v, p.error);
    if (found) {
      const t = T.events[v.target.event], s = S.events[v.source.event];
      return [at(
        "input",
        found.name,
        s,
        t,
        `preprocessing: the target agrees at ${v.target.node ?? v.target.value} when its input is ${found.description}`,
        base(p.error, found.error, { transformation: found.description }),
      )];
    }
  }

  // Graph structure: substitutions and unpaired events inside the segment.
  const explainedS = new Set(match.unmatchedSource.filter((n) => n.explained).map((n) => n.node));
  const explainedT = new Set(match.unmatchedTarget.filter((n) => n.explained).map((n) => n.node));
  const sPaired = match.sourceToTarget, tPaired = match.targetToSource;
  const missing = seg.source.filter((e) => e.node && !sPaired.has(e.index) && !explainedS.has(e.node.id));
  const extra = seg.target.filter((e) => e.node && !tPaired.has(e.index) && !explainedT.has(e.node.id));
  const reordered = new Set<Event>();
  for (const m of missing) {
    const x = extra.find((e) => e.cls === m.cls && !reordered.has(e));
    if (x) {
      reordered.add(m);
      reordered.add(x);
      out.push(at(
        "graph",
        "reordered",
        m,
        x,
        `${m.node!.op} ${m.node!.id} sits elsewhere in the target (${x.node!.op} ${x.node!.id})`,
        base(p.inputError, p.error),
      ));
    }
  }
  for (const m of missing) {
    if (reordered.has(m)) continue;
    out.push(at("graph", "missing-node", m, undefined, `${m.node!.op} ${m.node!.id} has no counterpart in the target`, base(p.inputError, p.error)));
  }
  for (const x of extra) {
    if (reordered.has(x)) continue;
    out.push(at("graph", "extra-node", undefined, x, `the target's ${x.node!.op} ${x.node!.id} has no counterpart in the source`, base(p.inputError, p.error)));
  }
  const pairsIn = seg.source.filter((e) => sPaired.has(e.index)).map((e) => [e, T.events[sPaired.get(e.index)!]] as const);
  for (const [s, t] of pairsIn) {
    if (s.cls !== t.cls && !isClampPair(s, t)) {
      out.push(at(
        "graph",
        "wrong-op",
        s,
        t,
        `${s.node?.op} (${s.cls}) in the source is ${t.node?.op}${t.part ? " (fused)" : ""} (${t.cls}) in the target`,
        base(p.inputError, p.error, { source: s.cls, target: t.cls }),
      ));
    }
  }

  // Hyperparameters of every paired node in the segment.
  for (const [s, t] of pairsIn) {
    const diffs = compareHyperparameters(
      { events: S, event: s, paired: sPaired, shape: ctx.sShape },
      { events: T, event: t, paired: tPaired, shape: ctx.tShape },
    );
    for (const d of diffs) {
      out.push(at(
        "hyperparameters",
        d.name,
        s,
        t,
        `${d.name} of ${s.node?.id} is ${fmt(d.source)} in the source and ${fmt(d.target)} in the target`,
        base(p.inputError, p.error, { attribute: d.name, source: d.source, target: d.target }),
      ));
    }
  }

  // Parameters, and precision of the stored weights.
  for (const [s, t] of pairsIn) {
    if (s.part !== 0 || t.part !== 0 || !s.node || !t.node) continue;
    const a = canonicalParams(S.graph, s.node), b = canonicalParams(T.graph, t.node);
    const check = (what: "weights" | "bias", x: ParamTensor | undefined, y: ParamTensor | undefined) => {
      if (!x && !y) return;
      const f = compareParam(what, x, y, ctx.paramTol);
      if (f) out.push(at(f.kind, f.fault, s, t, `${f.message} in ${s.node!.id}`, base(p.inputError, p.error, f.detail)));
    };
    if (a.weights || b.weights) check("weights", a.weights, b.weights);
    if ((a.weights || b.weights) && (a.bias || b.bias)) check("bias", a.bias, b.bias);
    const n = Math.min(a.operands.length, b.operands.length);
    for (let i = 0; i < n; i++) {
      const f = compareParam("weights", a.operands[i], b.operands[i], ctx.paramTol);
      if (f) {
        out.push(at(f.kind, f.kind === "precision" ? f.fault : "constant", s, t, `${f.message.replace("weights", `constant input ${b.operands[i].position}`)} in ${s.node.id}`, base(p.inputError, p.error, f.detail)));
      }
    }
  }

  // Precision of activations: a lower-precision value on the target's path where the source computes in float.
  const lowT = lowPrecisionValues(T, seg.target);
  if (lowT.length && !lowPrecisionValues(S, seg.source).length && !out.some((f) => f.kind === "precision")) {
    const t = T.events[v.target.event];
    out.push(at(
      "precision",
      "activations",
      S.events[v.source.event],
      t,
      `the target computes ${lowT.map((x) => `${x.value} in ${x.dtype}`).join(", ")} where the source uses float32`,
      base(p.inputError, p.error, { values: lowT }),
    ));
  }

  if (!out.length) {
    out.push(at(
      "unexplained",
      "error-jump",
      S.events[v.source.event],
      T.events[v.target.event],
      `the error jumps from ${p.inputError.toExponential(2)} to ${p.error.toExponential(2)} at ${v.target.node ?? v.target.value} with no difference found in nodes, attributes or parameters`,
      base(p.inputError, p.error),
    ));
  }
  return out;
}

/** Clip against MINIMUM or MAXIMUM: a clamp written in parts, checked through the values, not the op. */
function isClampPair(s: Event, t: Event): boolean {
  const clamps = ["clip", "max", "min"];
  return clamps.includes(s.cls) && clamps.includes(t.cls);
}

function fmt(x: unknown): string {
  return JSON.stringify(x, (_, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v));
}

const LOW: ReadonlySet<string> = new Set(["f16", "bf16", "i8", "u8", "i4", "u4", "i16"]);

function isLow(d: DType): boolean {
  return typeof d !== "string" || LOW.has(d);
}

function lowPrecisionValues(eg: EventGraph, events: readonly Event[]): { value: string; dtype: string }[] {
  const out: { value: string; dtype: string }[] = [];
  const seen = new Set<string>();
  const look = (v: string) => {
    if (seen.has(v)) return;
    seen.add(v);
    const t = eg.graph.values[v]?.type;
    if (t?.kind === "tensor" && isLow(t.dtype)) out.push({ value: v, dtype: printDType(t.dtype) });
  };
  for (const e of events) {
    if (e.value) look(e.value);
    for (const i of e.inputs) for (const n of i.via) for (const o of n.outputs) if (o) look(o);
  }
  return out;
}

interface ParamFault {
  kind: FaultKind;
  fault: string;
  message: string;
  detail: Record<string, unknown>;
}

function zerosLike(p: ParamTensor): ParamTensor {
  return { ...p, data: new Float64Array(p.data.length), roots: ["f32"], via: [] };
}

/** Compares one parameter tensor; a finding when they differ. */
function compareParam(
  what: "weights" | "bias",
  x: ParamTensor | undefined,
  y: ParamTensor | undefined,
  tol: number,
): ParamFault | undefined {
  if (!x || !y) {
    const present = (x ?? y)!;
    const d = paramDistance(present, zerosLike(present));
    if (d === 0) return undefined;
    return {
      kind: "parameters",
      fault: what,
      message: `${what} present only in the ${x ? "source" : "target"}`,
      detail: { [x ? "source" : "target"]: present.value },
    };
  }
  const d = paramDistance(x, y);
  const detail: Record<string, unknown> = {
    source: x.value,
    target: y.value,
    sourceShape: x.shape,
    targetShape: y.shape,
    relativeDistance: d ?? null,
  };
  if (d === undefined) {
    return { kind: "parameters", fault: `${what}-shape`, message: `${what} shapes [${x.shape}] and [${y.shape}] differ`, detail };
  }
  if (!(d > tol)) return undefined;
  const sLow = x.roots.filter(isLow), tLow = y.roots.filter(isLow);
  const f16Rounded = sameAsF16(x.data, y.data);
  if ((tLow.length && !sLow.length) || f16Rounded) {
    const dt = tLow.length ? printDType(tLow[0]) : "f16";
    const fault = dt === "f16" ? `fp16-${what}` : dt === "bf16" ? `bf16-${what}` : `int8-${what}`;
    return {
      kind: "precision",
      fault,
      message: `${what} stored as ${dt} in the target (float32 in the source; relative distance ${d.toExponential(2)})`,
      detail: { ...detail, targetTypes: y.roots.map(printDType), via: y.via },
    };
  }
  const alt = otherLayout(x, y, tol);
  if (alt) {
    return {
      kind: "parameters",
      fault: `${what}-layout`,
      message: `${what} equal the source's ${alt}`,
      detail: { ...detail, layout: alt },
    };
  }
  let differing = 0;
  const scale = x.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
  for (let i = 0; i < x.data.length; i++) if (Math.abs(x.data[i] - y.data[i]) > 1e-6 * scale) differing++;
  return {
    kind: "parameters",
    fault: what,
    message: `${what} differ (${differing} of ${x.data.length} elements, relative distance ${d.toExponential(2)})`,
    detail: { ...detail, differing },
  };
}

function sameAsF16(src: Float64Array, tgt: Float64Array): boolean {
  if (src.length !== tgt.length) return false;
  let changed = false;
  for (let i = 0; i < src.length; i++) {
    const r = Math.f16round(src[i]);
    if (tgt[i] !== r) return false;
    if (r !== src[i]) changed = true;
  }
  return changed;
}

/** A description of another layout of the source's weights the target's equal (transposed, flipped). */
function otherLayout(x: ParamTensor, y: ParamTensor, tol: number): string | undefined {
  const shape = squeezed(x.shape);
  if (shape.length < 2 || shape.length > 4 || x.data.length !== y.data.length) return undefined;
  const close = (d: Float64Array) => {
    let num = 0, den = 0;
    for (let i = 0; i < d.length; i++) {
      const e = d[i] - y.data[i];
      num += e * e;
      den += d[i] * d[i];
    }
    return den > 0 ? Math.sqrt(num / den) <= tol : num === 0;
  };
  // Same-shaped transposes of the canonical layout (square kernels, square matrices).
  for (const q of perms(shape.length)) {
    if (q.every((a, i) => a === i)) continue;
    if (q.some((a, i) => shape[a] !== shape[i])) continue;
    if (close(transposeData(x.data, shape, q).data)) return `layout transposed by [${q}]`;
  }
  // Reversed along one axis: the input channel order (axis 1 of [O, I, ...]) is the usual one.
  for (let axis = 0; axis < shape.length; axis++) {
    if (shape[axis] < 2) continue;
    if (close(reverseAxis(x.data, shape, axis))) return `values reversed along axis ${axis}${axis === 1 && shape.length === 4 ? " (input channel order)" : ""}`;
  }
  return undefined;
}

function perms(n: number): number[][] {
  if (n === 1) return [[0]];
  const out: number[][] = [];
  for (const p of perms(n - 1)) for (let i = 0; i <= p.length; i++) out.push([...p.slice(0, i), n - 1, ...p.slice(i)]);
  return out;
}

function reverseAxis(d: Float64Array, shape: readonly number[], axis: number): Float64Array {
  let inner = 1;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  const n = shape[axis], outer = d.length / (inner * n);
  const out = new Float64Array(d.length);
  for (let o = 0; o < outer; o++) {
    for (let a = 0; a < n; a++) {
      const src = (o * n + a) * inner, dst = (o * n + (n - 1 - a)) * inner;
      for (let i = 0; i < inner; i++) out[dst + i] = d[src + i];
    }
  }
  return out;
}

interface Probe {
  name: string;
  description: string;
  apply(x: Float64Array, shape: readonly number[]): Float64Array | undefined;
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406], IMAGENET_STD = [0.229, 0.224, 0.225];

function channelAxis(shape: readonly number[]): number | undefined {
  if (shape.length !== 4) return undefined;
  if (shape[1] === 3) return 1;
  if (shape[3] === 3) return 3;
  return undefined;
}

function perChannel(x: Float64Array, shape: readonly number[], f: (v: number, c: number) => number): Float64Array | undefined {
  const axis = channelAxis(shape);
  if (axis === undefined) return undefined;
  let inner = 1;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f(x[i], Math.floor(i / inner) % 3);
  return out;
}

/** Preprocessing mismatches FetaFix found dominate real conversions: tried on the target's input. */
const PROBES: readonly Probe[] = [
  {
    name: "channel-order",
    description: "in the other channel order (RGB ↔ BGR)",
    apply: (x, s) => {
      const a = channelAxis(s);
      return a === undefined ? undefined : reverseAxis(x, s, a);
    },
  },
  {
    name: "layout",
    description: "with height and width swapped",
    apply: (x, s) => {
      if (s.length !== 4) return undefined;
      const [h, w] = channelAxis(s) === 3 ? [1, 2] : [2, 3];
      if (s[h] !== s[w] || s[h] < 2) return undefined;
      const q = [0, 1, 2, 3];
      [q[h], q[w]] = [q[w], q[h]];
      return transposeData(x, s, q).data;
    },
  },
  { name: "scale", description: "multiplied by 255", apply: (x) => x.map((v) => v * 255) },
  { name: "scale", description: "divided by 255", apply: (x) => x.map((v) => v / 255) },
  { name: "mean", description: "mapped from [0, 1] to [-1, 1] (2x − 1)", apply: (x) => x.map((v) => 2 * v - 1) },
  { name: "mean", description: "mapped from [-1, 1] to [0, 1] ((x + 1) / 2)", apply: (x) => x.map((v) => (v + 1) / 2) },
  {
    name: "mean",
    description: "normalized with the ImageNet mean and std",
    apply: (x, s) => perChannel(x, s, (v, c) => (v - IMAGENET_MEAN[c]) / IMAGENET_STD[c]),
  },
  {
    name: "mean",
    description: "with the ImageNet normalization undone",
    apply: (x, s) => perChannel(x, s, (v, c) => v * IMAGENET_STD[c] + IMAGENET_MEAN[c]),
  },
];

function withData(t: Tensor, d: Float64Array): Tensor {
  const out = alloc(t.dtype, t.shape);
  const o = out.data;
  if (o instanceof Array || o instanceof BigInt64Array || o instanceof BigUint64Array) return t;
  for (let i = 0; i < d.length; i++) o[i] = d[i];
  return out;
}

/** The input transformation that makes the target agree at `v`, if one does. */
function probeInputs(ctx: ClassifyContext, v: ValuePair, error: number): { name: string; description: string; error: number } | undefined {
  const { match } = ctx;
  const sg = match.sourceEvents.graph, tg = match.targetEvents.graph;
  const samples = ctx.inputs.slice(0, ctx.probeSamples);
  if (!samples.length) return undefined;
  let sourceValues: RValue[];
  try {
    sourceValues = samples.map((x) => evaluateValues(sg, x, [v.source.value])[v.source.value]);
  } catch {
    return undefined;
  }
  const errorWith = (inputs: Readonly<Record<string, Tensor>>[]): number => {
    const st = new ErrorStats();
    for (const [i, x] of inputs.entries()) {
      const a = sourceValues[i], b = evaluateValues(tg, targetInputs(match, x), [v.target.value])[v.target.value];
      if (!(a instanceof Tensor) || !(b instanceof Tensor)) return Infinity;
      const rel = inferRelation(a.shape, b.shape, v.hint);
      if (!rel) return Infinity;
      st.add(realValues(a), toSourceOrder(realValues(b), b.shape, rel, a.shape));
    }
    return st.relL2;
  };
  let best: { name: string; description: string; error: number } | undefined;
  for (const probe of PROBES) {
    let changed = false;
    const transformed = samples.map((x) => {
      const out: Record<string, Tensor> = {};
      for (const [k, t] of Object.entries(x)) {
        const isFloat = t.dtype === "f32" || t.dtype === "f64" || t.dtype === "f16";
        const d = isFloat ? probe.apply(realValues(t), t.shape) : undefined;
        if (d) changed = true;
        out[k] = d ? withData(t, d) : t;
      }
      return out;
    });
    if (!changed) continue;
    let e: number;
    try {
      e = errorWith(transformed);
    } catch {
      continue;
    }
    if (!best || e < best.error) best = { name: probe.name, description: probe.description, error: e };
  }
  if (best && best.error <= Math.max(ctx.tol, error / 100)) return best;
  return undefined;
}

/** FetaFix's suspicious-layer order, or the error-jump order when the samples do not split. */
function rankLayers(match: GraphMatch, trace: Trace, pairs: readonly PairError[], tol: number): Localization["ranking"] {
  const out0 = trace.outputs[0];
  const similar: number[] = [], dissimilar: number[] = [];
  out0?.top1PerSample.forEach((same, i) => (same ? similar : dissimilar).push(i));
  const compared = pairs.filter((p) => match.values[p.pair].kind !== "input" && Number.isFinite(p.error));
  const layer = (p: number, score: number, rankSum: number): SuspiciousLayer => ({
    pair: p,
    ...(match.values[p].source.node ? { sourceNode: match.values[p].source.node } : {}),
    ...(match.values[p].target.node ? { targetNode: match.values[p].target.node } : {}),
    score,
    rankSum,
  });
  if (similar.length < 2 || dissimilar.length < 2 || out0.classes < 2) {
    const scored = compared.map((p) => ({ p: p.pair, score: p.error / (p.inputError + tol) }));
    scored.sort((a, b) => b.score - a.score);
    return { method: "error-jump", layers: scored.map((x, i) => layer(x.p, x.score, i + 1)) };
  }
  const rng = new Rng(0x4b57);
  const pick = (xs: number[]) => {
    const c = [...xs];
    for (let i = c.length - 1; i > 0; i--) {
      const j = rng.int(0, i + 1);
      [c[i], c[j]] = [c[j], c[i]];
    }
    return c.slice(0, 15);
  };
  const rankSum = new Map<number, number>(), lastScore = new Map<number, number>();
  for (let iter = 0; iter < 3; iter++) {
    const a = pick(similar), b = pick(dissimilar);
    const scores = compared.map((p) => ({ p: p.pair, score: deviatingFraction(trace.pairs[p.pair].differences, a, b) }));
    scores.sort((x, y) => y.score - x.score);
    scores.forEach((s, i) => {
      rankSum.set(s.p, (rankSum.get(s.p) ?? 0) + i + 1);
      lastScore.set(s.p, s.score);
    });
  }
  const layers = [...rankSum.entries()].sort((x, y) => x[1] - y[1]).map(([p, r]) => layer(p, lastScore.get(p) ?? 0, r));
  return { method: "kruskal-wallis", layers };
}

function deviatingFraction(diffs: readonly Float32Array[], a: number[], b: number[]): number {
  if (!diffs.length) return 0;
  const n = diffs[0].length;
  let deviating = 0;
  const ga = new Float64Array(a.length), gb = new Float64Array(b.length);
  for (let j = 0; j < n; j++) {
    a.forEach((s, i) => (ga[i] = diffs[s]?.[j] ?? 0));
    b.forEach((s, i) => (gb[i] = diffs[s]?.[j] ?? 0));
    const constA = ga.every((x) => x === ga[0]), constB = gb.every((x) => x === gb[0]);
    if (constA && constB) {
      if (ga[0] !== gb[0]) deviating++;
      continue;
    }
    if (kruskalWallis([ga, gb]).p < 0.05) deviating++;
  }
  return deviating / n;
}
