/**
 * The repair loop (FetaFix's `repair`, accelerators.md §3.1): localize where the target diverges from the
 * source, ask the rules for fixes to the top findings, apply each to a copy and keep it only if the
 * agreement improves (score.ts), and iterate until the outputs agree or the budget runs out. Structural
 * input faults (a declared input layout, preprocessing nodes the source lacks) are tried first, before any
 * localization. A fix that makes the outputs agree is kept at once; otherwise the target is also compared
 * with the source as Lathe converts it to the target's format (one dialect, every attribute comparable,
 * FetaFix's "both sides in one format"), the rules are asked again, and the most improving fix of either
 * comparison is kept. Fixes are screened on a few samples and confirmed on all of them.
 */
import { printDType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { type Graph, producerOf } from "../../ir/graph.ts";
import type { Dim } from "../../ir/value-type.ts";
import { Session } from "../../runtime/interpreter.ts";
import { alloc, type RValue, Tensor } from "../../runtime/tensor.ts";
import { type Finding, type Localization, localize } from "../diff/localize.ts";
import { type GraphMatch, matchGraphs } from "../diff/match.ts";
import { realValues } from "../diff/real-values.ts";
import { targetInputs } from "../diff/trace.ts";
import { bindInputShapes } from "../convert/static-shapes.ts";
import { dialectOf, type Edit, Editor } from "./edit.ts";
import { inputChainFixes, inputDimensionFixes } from "./input.ts";
import { extraTransposeFindings } from "./layout-findings.ts";
import { missingBeforeFindings } from "./substitution-findings.ts";
import type { FaultClass, Fix, RepairContext, RepairRule } from "./rule.ts";
import { REPAIR_RULES } from "./rules.ts";
import { failedScore, improves, type Score, scoreOutputs, scoreSummary } from "./score.ts";

export interface FindingSummary {
  readonly kind: string;
  readonly fault: string;
  readonly message: string;
  readonly sourceNode?: string;
  readonly targetNode?: string;
  /** Other target nodes the evidence names. */
  readonly nodes?: readonly string[];
}

export interface AppliedChange {
  readonly step: number;
  readonly rule: string;
  readonly class: FaultClass;
  readonly description: string;
  /** What the fix was derived from: the source, the source converted by Lathe, or the graphs' structure. */
  readonly reference: "source" | "converted source" | "structure";
  readonly finding?: FindingSummary;
  readonly edits: readonly Edit[];
  readonly evidence: {
    readonly metric: string;
    readonly before: Record<string, unknown>;
    readonly after: Record<string, unknown>;
  };
}

export type RepairProgress =
  | { phase: "score"; score: Score }
  | { phase: "localize"; reference: "source" | "converted source"; findings: number; ms: number }
  | { phase: "try"; index: number; total: number; description: string }
  | { phase: "kept"; change: AppliedChange; score: Score }
  | { phase: "stop"; reason: RepairOutcome["stopped"] };

export interface RepairGraphOptions {
  readonly source: Graph;
  readonly target: Graph;
  /** The source converted to the target's format, built on first use; undefined where it cannot be. */
  readonly reference?: () => Graph | undefined;
  /** Source inputs, one record per sample. */
  readonly samples: readonly Readonly<Record<string, Tensor>>[];
  /** Feed the target the same data in its own layout instead of restoring the source's input shapes. */
  readonly keepInterface?: boolean;
  /** Outputs agree when max|t − s| ≤ rtol · max|s| (default 1e-4). */
  readonly rtol?: number;
  /** Wall-clock budget in milliseconds (default unlimited). */
  readonly budgetMs?: number;
  /** Samples used to localize and to pre-screen a fix (default 4). */
  readonly localizeSamples?: number;
  readonly maxIterations?: number;
  readonly onProgress?: (p: RepairProgress) => void;
}

export interface RepairOutcome {
  readonly graph: Graph;
  readonly changes: readonly AppliedChange[];
  readonly initial: Score;
  readonly final: Score;
  readonly stopped: "agree" | "budget" | "stuck" | "iterations";
  /** Whether a divergence was found at the start (outputs, localization, or the input interface). */
  readonly detected: boolean;
  /**
   * The first localization: structural input faults, the findings against the source, and (when the
   * source converts to the target's format) the findings against that conversion, where both sides are
   * in one dialect as FetaFix compares them.
   */
  readonly first: {
    readonly structural: readonly { rule: string; description: string; nodes: string[] }[];
    readonly findings: readonly FindingSummary[];
    readonly divergence?: number;
    readonly converted?: readonly FindingSummary[];
  };
  readonly tried: number;
  readonly ms: number;
}

/**
 * A finding for reports. `nodes` adds the target nodes its evidence names beside its own: the producers of
 * the values a precision finding says are narrowed (the Cast, not the layer after it).
 */
export function summarizeFinding(f: Finding, target?: Graph): FindingSummary {
  const d = f.evidence.detail as { values?: { value?: string }[] } | undefined;
  const named = f.kind === "precision" && Array.isArray(d?.values) && target
    ? [
      ...new Set(
        d!.values.map((v) => (v.value ? producerOf(target, v.value)?.id : undefined)).filter((
          x,
        ): x is string => !!x),
      ),
    ]
    : [];
  return {
    kind: f.kind,
    fault: f.fault,
    message: f.message,
    ...(f.sourceNode ? { sourceNode: f.sourceNode } : {}),
    ...(f.targetNode ? { targetNode: f.targetNode } : {}),
    ...(named.length ? { nodes: named } : {}),
  };
}

/** Source data as a graph's inputs: the same elements in the declared shape and element type. */
export function feedsFor(
  g: Graph,
  sourceNames: readonly string[],
  sample: Readonly<Record<string, Tensor>>,
): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  const names = g.inputs.filter((v) => !g.constants[v]);
  names.forEach((name, i) => {
    const x = sample[sourceNames[i]] ?? sample[name];
    if (!x) throw new LatheError("usage", `no data for input ${name}`);
    const t = g.values[name]?.type;
    if (t?.kind !== "tensor") {
      out[name] = x;
      return;
    }
    const declared = t.shape ?? x.shape;
    let shape: number[] = declared.map((d: Dim, k: number) => (typeof d === "number" ? d : x.shape[k] ?? 1));
    if (shape.reduce((p, d) => p * d, 1) !== x.shape.reduce((p, d) => p * d, 1)) shape = [...x.shape];
    if (printDType(t.dtype) === printDType(x.dtype)) {
      out[name] = new Tensor(x.dtype, shape, x.data);
      return;
    }
    const y = alloc(t.dtype, shape);
    const v = realValues(x);
    const d = y.data;
    if (d instanceof Array) throw new LatheError("unsupported", `string input ${name}`);
    for (let k = 0; k < v.length; k++) {
      if (d instanceof BigInt64Array || d instanceof BigUint64Array) d[k] = BigInt(Math.round(v[k])) as never;
      else d[k] = v[k];
    }
    out[name] = y;
  });
  return out;
}

class Runner {
  private sourceOuts: Record<string, RValue>[];
  private sourceNames: string[];
  constructor(
    readonly source: Graph,
    readonly samples: readonly Readonly<Record<string, Tensor>>[],
    readonly rtol: number,
    readonly keepInterface: boolean,
  ) {
    const s = new Session(source);
    this.sourceOuts = samples.map((x) => s.run(x).outputs);
    this.sourceNames = source.inputs.filter((v) => !source.constants[v]);
  }
  feeds(
    g: Graph,
    sample: Readonly<Record<string, Tensor>>,
    match?: () => GraphMatch,
  ): Record<string, Tensor> {
    if (this.keepInterface && match) return targetInputs(match(), sample);
    return feedsFor(g, this.sourceNames, sample);
  }
  /** The target's agreement on the first n samples; a target that cannot run scores worst of all. */
  score(g: Graph, n = this.samples.length, match?: () => GraphMatch): Score {
    const outs: Record<string, RValue>[] = [];
    try {
      const session = new Session(g);
      for (let i = 0; i < n; i++) outs.push(session.run(this.feeds(g, this.samples[i], match)).outputs);
    } catch (e) {
      return failedScore(this.source.outputs, n, e instanceof Error ? e.message : String(e));
    }
    return scoreOutputs(this.source.outputs, g.outputs, this.sourceOuts.slice(0, n), outs, {
      rtol: this.rtol,
    });
  }
}

export async function repairGraph(opts: RepairGraphOptions): Promise<RepairOutcome> {
  const t0 = performance.now();
  const rtol = opts.rtol ?? 1e-4;
  const budget = opts.budgetMs ?? Infinity;
  const L = Math.max(1, Math.min(opts.localizeSamples ?? 4, opts.samples.length));
  const maxIter = opts.maxIterations ?? 24;
  const keep = !!opts.keepInterface;
  const runner = new Runner(opts.source, opts.samples, rtol, keep);
  const progress = opts.onProgress ?? (() => {});
  const overBudget = () => performance.now() - t0 > budget;

  let g = opts.target;
  const matchCache = new WeakMap<Graph, GraphMatch>();
  // Analysis runs on copies whose symbolic input dims are bound to the samples' sizes, so every value has
  // a static shape to compare and to translate windows with; fixes apply to the target as declared.
  const sourceNames = opts.source.inputs.filter((v) => !opts.source.constants[v]);
  const bound = new WeakMap<Graph, Graph>();
  const analysisOf = (x: Graph, feeds: () => Record<string, Tensor>): Graph => {
    let b = bound.get(x);
    if (!b) {
      try {
        b = bindInputShapes(x, {
          shapes: Object.fromEntries(Object.entries(feeds()).map(([k, t]) => [k, [...t.shape]])),
        });
      } catch {
        b = x;
      }
      bound.set(x, b);
    }
    return b;
  };
  const sourceA = analysisOf(opts.source, () => opts.samples[0]);
  const targetA = (x: Graph) => analysisOf(x, () => feedsFor(x, sourceNames, opts.samples[0]));
  const matchOf = (ref: Graph, tgt: Graph) => {
    if (ref !== sourceA) return matchGraphs(ref, tgt);
    let m = matchCache.get(tgt);
    if (!m) matchCache.set(tgt, m = matchGraphs(ref, tgt));
    return m;
  };
  const safeScore = (x: Graph, n?: number) => runner.score(x, n, () => matchOf(sourceA, targetA(x)));
  let cur = safeScore(g);
  let curQuick = safeScore(g, L);
  const initial = cur;
  progress({ phase: "score", score: cur });

  const dialect = dialectOf(g);
  let referenceGraph: Graph | undefined | null = null;
  const reference = () => {
    if (referenceGraph === null) {
      try {
        referenceGraph = opts.reference?.();
      } catch {
        referenceGraph = undefined;
      }
    }
    return referenceGraph ?? undefined;
  };

  const changes: AppliedChange[] = [];
  let tried = 0;
  let stopped: RepairOutcome["stopped"] = cur.agree ? "agree" : "stuck";
  let first: RepairOutcome["first"] | undefined;
  let firstContext: RepairContext | undefined;
  let firstReference: RepairContext | undefined;
  let detected = !cur.agree;

  const localizeAgainst = async (ref: Graph, kind: "source" | "converted source"): Promise<RepairContext> => {
    const t = performance.now();
    const gA = targetA(g);
    const match = matchOf(ref, gA);
    const refInputs = opts.samples.slice(0, L).map((
      x,
    ) => (ref === sourceA ? x : feedsFor(ref, sourceNames, x)));
    let loc: Localization;
    try {
      loc = await localize({
        source: ref,
        target: gA,
        match,
        inputs: refInputs,
        targetInputs: opts.samples.slice(0, L).map((x) => runner.feeds(gA, x, () => match)),
      });
    } catch {
      // A target that cannot run everywhere (a shape a fault broke) is left to the structural fixes.
      loc = {
        tolerance: 0,
        jumpFactor: 0,
        pairs: [],
        findings: [],
        ranking: { method: "error-jump", layers: [] },
      };
    }
    if (dialectOf(ref) === dialect && loc.divergence) {
      // Same dialect: transposes the matching passed over compare one to one in front of the divergence,
      // and a substitute with the op of a missing node after it stands for a node missing before.
      const d = loc.divergence;
      const extra = [
        ...extraTransposeFindings(match, d.pair, d.inputError, d.error),
        ...missingBeforeFindings(loc.findings, ref, gA),
      ];
      if (extra.length) loc = { ...loc, findings: [...extra, ...loc.findings] };
    }
    progress({
      phase: "localize",
      reference: kind,
      findings: loc.findings.length,
      ms: performance.now() - t,
    });
    return {
      reference: ref,
      referenceKind: kind,
      target: gA,
      match,
      localization: loc,
      dialect,
      sameDialect: dialectOf(ref) === dialect,
    };
  };

  type Candidate = { fix: Fix; finding?: Finding; reference: AppliedChange["reference"] };
  type Tried = { c: Candidate; next: Graph; quick: Score; edits: Edit[] };
  let step = 0;

  /** Confirms a candidate on every sample and keeps it when the agreement improves. */
  const accept = (p: Tried): boolean => {
    const full = L === opts.samples.length ? p.quick : safeScore(p.next);
    if (!improves(full, cur)) return false;
    const change: AppliedChange = {
      step,
      rule: p.c.fix.rule,
      class: p.c.fix.class,
      description: p.c.fix.description,
      reference: p.c.reference,
      ...(p.c.finding ? { finding: summarizeFinding(p.c.finding, g) } : {}),
      edits: p.edits,
      evidence: {
        metric: "agreement with the source (top-1, Kendall τ on the top-5, max and relative L2 error)",
        before: scoreSummary(cur),
        after: scoreSummary(full),
      },
    };
    changes.push(change);
    g = p.next;
    cur = full;
    curQuick = p.quick;
    progress({ phase: "kept", change, score: cur });
    return true;
  };

  /**
   * Tries fixes on a few samples: one that makes the outputs agree is kept at once (true); the others that
   * improve are returned, for the best to be kept once every proposal has been seen.
   */
  const evaluate = (fixes: readonly Candidate[], seen: Set<string>): true | Tried[] => {
    const list = fixes.filter((x) => !seen.has(x.fix.description) && (seen.add(x.fix.description), true));
    const pool: Tried[] = [];
    for (const [i, c] of list.entries()) {
      if (overBudget()) break;
      progress({ phase: "try", index: i + 1, total: list.length, description: c.fix.description });
      tried++;
      let next: Graph;
      const ed = new Editor(g);
      try {
        c.fix.apply(ed);
        next = ed.finish();
      } catch {
        continue;
      }
      let quick: Score;
      try {
        quick = safeScore(next, L);
      } catch {
        continue;
      }
      if (!improves(quick, curQuick) && !(quick.agree && curQuick.agree)) continue;
      const p = { c, next, quick, edits: ed.edits };
      if (quick.agree && accept(p)) return true;
      pool.push(p);
    }
    return pool;
  };

  /** Keeps the most improving candidate (top-1 first, then the lowest error) that holds on every sample. */
  const acceptBest = (pool: Tried[]): boolean => {
    pool.sort((a, b) => b.quick.top1 - a.quick.top1 || a.quick.relL2 - b.quick.relL2);
    for (const p of pool) {
      if (overBudget()) return false;
      if (accept(p)) return true;
    }
    return false;
  };

  const proposals = (ctx: RepairContext, rules: readonly RepairRule[]) => {
    const out: { fix: Fix; finding: Finding; reference: AppliedChange["reference"] }[] = [];
    // Per diverging pair (the first divergence first), every rule in order over that pair's findings: the
    // simpler repair of one fault comes before a more invasive one proposed for a neighbouring finding.
    const byPair = new Map<number, Finding[]>();
    for (const f of ctx.localization.findings) byPair.set(f.pair, [...(byPair.get(f.pair) ?? []), f]);
    const order = [...byPair.values()].flatMap((fs) => rules.flatMap((r) => fs.map((f) => [f, r] as const)));
    for (const [f, r] of order) {
      if (!r.answers(f, ctx)) continue;
      let fixes: Fix[] = [];
      try {
        fixes = r.propose(f, ctx);
      } catch {
        // A rule that cannot build its fix here (a shape it does not know) proposes nothing.
        continue;
      }
      for (const fix of fixes) out.push({ fix, finding: f, reference: ctx.referenceKind });
    }
    return out;
  };

  for (step = 1; step <= maxIter && !cur.agree; step++) {
    if (overBudget()) {
      stopped = "budget";
      break;
    }
    const seen = new Set<string>();
    const structural = [
      ...(keep ? [] : inputDimensionFixes(opts.source, g, dialect)),
      ...inputChainFixes(matchOf(sourceA, targetA(g))),
    ];
    if (!first) {
      const ctx0 = await localizeAgainst(sourceA, "source");
      const ref = reference();
      if (ref) firstReference = await localizeAgainst(ref, "converted source");
      first = {
        structural: structural.map((f) => ({
          rule: f.rule,
          description: f.description,
          nodes: structuralNodes(f, g),
        })),
        findings: ctx0.localization.findings.map((f) => summarizeFinding(f, g)),
        ...(ctx0.localization.divergence ? { divergence: ctx0.localization.divergence.pair } : {}),
        ...(firstReference
          ? { converted: firstReference.localization.findings.map((f) => summarizeFinding(f, g)) }
          : {}),
      };
      detected ||= structural.length > 0 || !!ctx0.localization.divergence ||
        !!firstReference?.localization.divergence;
      firstContext = ctx0;
    }
    // Inputs first, as FetaFix does: a structural input fault is repaired before anything is localized.
    if (structural.length) {
      const r = evaluate(structural.map((fix) => ({ fix, reference: "structure" as const })), seen);
      if (r === true || acceptBest(r)) continue;
    }
    const ctx = firstContext ?? await localizeAgainst(sourceA, "source");
    firstContext = undefined;
    const fromSource = evaluate(proposals(ctx, REPAIR_RULES), seen);
    if (fromSource === true) continue;
    // No fix from the source made the outputs agree: the source as converted to the target's format, where
    // every attribute compares as written, is asked too before the best partial fix is kept.
    const ref = overBudget() ? undefined : reference();
    let fromReference: true | Tried[] = [];
    if (ref) {
      const rctx = firstReference ?? await localizeAgainst(ref, "converted source");
      firstReference = undefined;
      fromReference = evaluate(proposals(rctx, REPAIR_RULES), seen);
      if (fromReference === true) continue;
    }
    if (acceptBest([...fromSource, ...fromReference])) continue;
    stopped = overBudget() ? "budget" : "stuck";
    break;
  }
  if (cur.agree) stopped = "agree";
  else if (stopped === "agree") stopped = "iterations";
  if (!first) first = { structural: [], findings: [] };
  progress({ phase: "stop", reason: stopped });
  return {
    graph: g,
    changes,
    initial,
    final: cur,
    stopped,
    detected,
    first,
    tried,
    ms: performance.now() - t0,
  };
}

/** Nodes a structural fix is about: the nodes its edits name, found by applying it to a scratch editor. */
function structuralNodes(f: Fix, g: Graph): string[] {
  const ed = new Editor(g);
  try {
    f.apply(ed);
  } catch {
    return [];
  }
  const out = new Set<string>();
  for (const e of ed.edits) if ("node" in e && e.type !== "inputs") out.add(e.node);
  return [...out];
}
