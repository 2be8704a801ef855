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
import { printDType } from "../../ir/dtype.ts";
import type { Graph } from "../../ir/graph.ts";
import type { Tensor } from "../../runtime/tensor.ts";
import type { Event, EventGraph } from "./event-graph.ts";
import { compareHyperparameters, type ShapeLookup } from "./hyperparams.ts";
import { explainInputs, type ProbeContext, probeInputs } from "./input-probes.ts";
import { type GraphMatch, matchGraphs, type ValuePair } from "./match.ts";
import { compareParam, isLow } from "./param-faults.ts";
import { canonicalParams, foldBatchNorm, type ParamTensor } from "./params.ts";
import { rankLayers } from "./suspicious-layers.ts";
import { targetInputs, type Trace, traceMatch } from "./trace.ts";

export type FaultKind = "input" | "parameters" | "hyperparameters" | "graph" | "precision" | "unexplained";

export interface Evidence {
  /** The diverging value pair first, then the pairs that feed it. */
  readonly values: readonly { readonly source: string; readonly target: string }[];
  /** What `before` and `after` measure. */
  readonly metric: string;
  /** The error of the pairs feeding the diverging pair (the largest), and of the diverging pair. */
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
  readonly ranking: {
    readonly method: "kruskal-wallis" | "error-jump";
    readonly layers: readonly SuspiciousLayer[];
  };
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
    // Inputs that differ are themselves where the divergence starts (the two sides were preprocessed apart).
    const jump = v.kind === "input" ? error > tol : error > tol && !(error <= jumpFactor * inputError);
    return { pair: i, error, inputError, inputs: seg.inputs, jump };
  });

  const shapeLookup = (g: Graph, shapes: ReadonlyMap<string, readonly number[]>): ShapeLookup => (v) => {
    const s = shapes.get(v);
    if (s) return s;
    const t = g.values[v]?.type;
    return t?.kind === "tensor" && t.shape?.every((d) => typeof d === "number")
      ? t.shape as number[]
      : undefined;
  };
  const ctx: ClassifyContext = {
    match,
    trace,
    tol,
    paramTol: opts.paramTolerance ?? 1e-6,
    sShape: shapeLookup(source, trace.sourceShapes),
    tShape: shapeLookup(target, trace.targetShapes),
    inputs: opts.inputs,
    targetInputs: tIns,
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

interface ClassifyContext extends ProbeContext {
  trace: Trace;
  paramTol: number;
  sShape: ShapeLookup;
  tShape: ShapeLookup;
  probe: boolean;
}

function classify(ctx: ClassifyContext, v: ValuePair, seg: Segment, p: PairError): Finding[] {
  const { match } = ctx;
  const evidenceValues = [
    { source: v.source.value, target: v.target.value },
    ...seg.inputs.map((i) => ({
      source: match.values[i].source.value,
      target: match.values[i].target.value,
    })),
  ];
  const base = (before: number, after: number, detail?: Record<string, unknown>): Evidence => ({
    values: evidenceValues,
    metric: METRIC,
    before,
    after,
    ...(detail ? { detail } : {}),
  });
  const at = (
    kind: FaultKind,
    fault: string,
    s: Event | undefined,
    t: Event | undefined,
    message: string,
    ev: Evidence,
  ): Finding => ({
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

  if (v.kind === "input") {
    const found = explainInputs(ctx, v, p.error);
    return [{
      kind: "input",
      fault: found?.name ?? "values",
      pair: v.index,
      message: found
        ? `preprocessing: the target's input ${v.target.value} is the source's ${found.description}`
        : `the target's input ${v.target.value} holds other values than the source's ${v.source.value} (no standard preprocessing change explains it)`,
      evidence: base(
        0,
        p.error,
        found ? { transformation: found.description, errorWithTransformation: found.error } : undefined,
      ),
    }];
  }

  if (first && ctx.probe) {
    const found = probeInputs(ctx, v, p.error);
    if (found) {
      const t = T.events[v.target.event], s = S.events[v.source.event];
      return [at(
        "input",
        found.name,
        s,
        t,
        `preprocessing: the target agrees at ${
          v.target.node ?? v.target.value
        } when its input is ${found.description}`,
        base(p.inputError, p.error, {
          transformation: found.description,
          errorWithTransformation: found.error,
        }),
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
  // A node missing here and an extra node of the same class a few pairs away: the order changed.
  const nearbyExtra = (cls: string): Event | undefined => {
    for (const r of match.regions) {
      if (r.before === undefined || Math.abs(r.before - v.index) > 3) continue;
      for (const n of r.target) {
        if (n.cls !== cls || n.explained) continue;
        const e = T.events.find((x) => x.node?.id === n.node && x.cls === cls);
        if (e && !reordered.has(e)) return e;
      }
    }
    return extra.find((e) => e.cls === cls && !reordered.has(e));
  };
  for (const m of missing) {
    const x = nearbyExtra(m.cls);
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
    out.push(
      at(
        "graph",
        "missing-node",
        m,
        undefined,
        `${m.node!.op} ${m.node!.id} has no counterpart in the target`,
        base(p.inputError, p.error),
      ),
    );
  }
  for (const x of extra) {
    if (reordered.has(x)) continue;
    out.push(
      at(
        "graph",
        "extra-node",
        undefined,
        x,
        `the target's ${x.node!.op} ${x.node!.id} has no counterpart in the source`,
        base(p.inputError, p.error),
      ),
    );
  }
  const pairsIn = seg.source.filter((e) => sPaired.has(e.index)).map((e) =>
    [e, T.events[sPaired.get(e.index)!]] as const
  );
  for (const [s, t] of pairsIn) {
    if (s.cls !== t.cls && !isClampPair(s, t)) {
      out.push(at(
        "graph",
        "wrong-op",
        s,
        t,
        `${s.node?.op} (${s.cls}) in the source is ${t.node?.op}${
          t.part ? " (fused)" : ""
        } (${t.cls}) in the target`,
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
    let a = canonicalParams(S.graph, s.node);
    const b = canonicalParams(T.graph, t.node);
    // A normalization the target folded into this layer is folded into the source's weights as well.
    const bn = foldedNormalization(match, s);
    if (bn) a = foldBatchNorm(S.graph, a, bn) ?? a;
    const check = (what: "weights" | "bias", x: ParamTensor | undefined, y: ParamTensor | undefined) => {
      if (!x && !y) return;
      const f = compareParam(what, x, y, ctx.paramTol);
      if (f) {
        out.push(
          at(f.kind, f.fault, s, t, `${f.message} in ${s.node!.id}`, base(p.inputError, p.error, f.detail)),
        );
      }
    };
    if (a.weights || b.weights) check("weights", a.weights, b.weights);
    if ((a.weights || b.weights) && (a.bias || b.bias)) check("bias", a.bias, b.bias);
    const n = Math.min(a.operands.length, b.operands.length);
    for (let i = 0; i < n; i++) {
      const f = compareParam("weights", a.operands[i], b.operands[i], ctx.paramTol);
      if (f) {
        out.push(
          at(
            f.kind,
            f.kind === "precision" ? f.fault : "constant",
            s,
            t,
            `${f.message.replace("weights", `constant input ${b.operands[i].position}`)} in ${s.node.id}`,
            base(p.inputError, p.error, f.detail),
          ),
        );
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
      `the target computes ${
        lowT.map((x) => `${x.value} in ${x.dtype}`).join(", ")
      } where the source uses float32`,
      base(p.inputError, p.error, { values: lowT }),
    ));
  }

  if (!out.length) {
    out.push(at(
      "unexplained",
      "error-jump",
      S.events[v.source.event],
      T.events[v.target.event],
      `the error jumps from ${p.inputError.toExponential(2)} to ${p.error.toExponential(2)} at ${
        v.target.node ?? v.target.value
      } with no difference found in nodes, attributes or parameters`,
      base(p.inputError, p.error),
    ));
  }
  return out;
}

/** The source BatchNormalization right after `s` that the target folded into its counterpart, if any. */
function foldedNormalization(match: GraphMatch, s: Event) {
  const S = match.sourceEvents;
  const folded = new Set(
    match.unmatchedSource.filter((n) => n.cls === "batch-norm" && n.explained).map((n) => n.node),
  );
  for (const c of S.consumers[s.index]) {
    const e = S.events[c];
    if (e.node && folded.has(e.node.id)) return e.node;
  }
  return undefined;
}

/** Clip against MINIMUM or MAXIMUM: a clamp written in parts, checked through the values, not the op. */
function isClampPair(s: Event, t: Event): boolean {
  const clamps = ["clip", "max", "min"];
  return clamps.includes(s.cls) && clamps.includes(t.cls);
}

function fmt(x: unknown): string {
  return JSON.stringify(x, (_, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v));
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
