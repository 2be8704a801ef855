/**
 * How well a target agrees with its source on a set of samples, with the diff's conventions (FetaFix and
 * DeltaNN, accelerators.md §3.1): per output row top-1 equality and Kendall's τ on the top-5 as the graded
 * score, plus the error figures. A repair keeps a change only when the score improves (`improves`), and
 * stops when the outputs agree: every output within `rtol` of the source's scale, max|t − s| ≤ rtol·max|s|.
 */
import type { Dim } from "../../ir/value-type.ts";
import { type RValue, Tensor } from "../../runtime/tensor.ts";
import { type FullPerm, inferRelation, toSourceOrder } from "../diff/layout-relation.ts";
import { ErrorStats, rowAgreement } from "../diff/metrics.ts";
import { realValues } from "../diff/real-values.ts";

export interface OutputScore {
  readonly source: string;
  readonly target: string;
  readonly rows: number;
  readonly top1: number;
  readonly tau: number;
  readonly maxAbs: number;
  readonly maxRel: number;
  readonly relL2: number;
  readonly sqnrDb: number;
  /** Why the output could not be compared (shapes that do not correspond, missing value). */
  readonly incompatible?: string;
}

export interface Score {
  /** Every output within rtol. */
  readonly agree: boolean;
  /** Fraction of rows (over all outputs and samples) whose top-1 agrees. */
  readonly top1: number;
  /** Mean Kendall τ on the top-5 over rows where it is defined (1 when none is). */
  readonly tau: number;
  /** Fraction of rows with τ ≥ 0.98 (FetaFix's "fixed"). */
  readonly fixed: number;
  /** Largest error over the outputs: max|t − s| / max|s|, and ‖t − s‖ / ‖s‖. */
  readonly maxRel: number;
  readonly relL2: number;
  readonly maxAbs: number;
  readonly samples: number;
  readonly outputs: readonly OutputScore[];
}

export const FIXED_TAU = 0.98;

/** Compares per-sample outputs of the target with the source's (outputs paired by position). */
export function scoreOutputs(
  sourceNames: readonly string[],
  targetNames: readonly string[],
  source: readonly Readonly<Record<string, RValue>>[],
  target: readonly Readonly<Record<string, RValue>>[],
  opts: { rtol: number; k?: number; hints?: readonly (FullPerm | undefined)[] },
): Score {
  const k = opts.k ?? 5;
  const outs: OutputScore[] = [];
  let rows = 0, top1 = 0, tauSum = 0, tauN = 0, fixed = 0;
  for (let o = 0; o < sourceNames.length; o++) {
    const sn = sourceNames[o], tn = targetNames[o];
    const st = new ErrorStats();
    let oRows = 0, oTop1 = 0, oTau = 0, oTauN = 0, incompatible: string | undefined;
    for (let i = 0; i < source.length; i++) {
      const a = source[i][sn], b = tn === undefined ? undefined : target[i]?.[tn];
      if (!(a instanceof Tensor) || !(b instanceof Tensor) || a.dtype === "string" || b.dtype === "string") {
        incompatible = tn === undefined ? "the target has no output here" : `${tn} is missing or not numeric`;
        break;
      }
      const rel = inferRelation(a.shape as readonly Dim[], b.shape as readonly Dim[], opts.hints?.[o]);
      if (!rel) {
        incompatible = `shapes [${a.shape}] and [${b.shape}] do not correspond`;
        break;
      }
      const s = realValues(a);
      const t = toSourceOrder(realValues(b), b.shape, rel, a.shape);
      st.add(s, t);
      const classes = a.shape.length ? a.shape[a.shape.length - 1] : 1;
      const ag = rowAgreement(s, t, classes, k);
      oRows += ag.rows;
      oTop1 += ag.top1Same;
      for (const x of ag.taus) {
        if (Number.isNaN(x)) continue;
        oTau += x;
        oTauN++;
        if (x >= FIXED_TAU) fixed++;
      }
    }
    if (incompatible) {
      outs.push({
        source: sn,
        target: tn ?? "",
        rows: 0,
        top1: 0,
        tau: -1,
        maxAbs: Infinity,
        maxRel: Infinity,
        relL2: Infinity,
        sqnrDb: -Infinity,
        incompatible,
      });
      rows += Math.max(oRows, 1);
      tauSum -= 1;
      tauN++;
      continue;
    }
    rows += oRows;
    top1 += oTop1;
    tauSum += oTau;
    tauN += oTauN;
    outs.push({
      source: sn,
      target: tn,
      rows: oRows,
      top1: oRows ? oTop1 / oRows : 1,
      tau: oTauN ? oTau / oTauN : 1,
      maxAbs: st.maxAbs,
      maxRel: st.maxRel,
      relL2: st.relL2,
      sqnrDb: st.sqnrDb,
    });
  }
  const worst = (f: (o: OutputScore) => number) => outs.reduce((m, o) => Math.max(m, f(o)), 0);
  const maxRel = worst((o) => (Number.isNaN(o.maxRel) ? Infinity : o.maxRel));
  return {
    agree: outs.length > 0 && outs.every((o) => !o.incompatible && o.maxRel <= opts.rtol),
    top1: rows ? top1 / rows : 1,
    tau: tauN ? tauSum / tauN : 1,
    fixed: tauN ? fixed / tauN : 1,
    maxRel,
    relL2: worst((o) => (Number.isNaN(o.relL2) ? Infinity : o.relL2)),
    maxAbs: worst((o) => (Number.isNaN(o.maxAbs) ? Infinity : o.maxAbs)),
    samples: source.length,
    outputs: outs,
  };
}

/** The score of a target that does not run: nothing agrees. */
export function failedScore(sourceNames: readonly string[], samples: number, why: string): Score {
  return {
    agree: false,
    top1: 0,
    tau: -1,
    fixed: 0,
    maxRel: Infinity,
    relL2: Infinity,
    maxAbs: Infinity,
    samples,
    outputs: sourceNames.map((s) => ({
      source: s,
      target: "",
      rows: 0,
      top1: 0,
      tau: -1,
      maxAbs: Infinity,
      maxRel: Infinity,
      relL2: Infinity,
      sqnrDb: -Infinity,
      incompatible: why,
    })),
  };
}

const EPS = 1e-9;

/**
 * Whether `next` agrees better than `prev`: it agrees where `prev` did not; or neither top-1 agreement
 * nor τ drops and one of them rises, or the error falls clearly (below 0.9 of what it was).
 */
export function improves(next: Score, prev: Score): boolean {
  if (next.agree && !prev.agree) return true;
  if (!next.agree && prev.agree) return false;
  if (next.top1 < prev.top1 - EPS || next.tau < prev.tau - 1e-6) {
    // A change that removes most of the error is kept even if one borderline row flips.
    return next.relL2 < 0.1 * prev.relL2 && next.top1 >= prev.top1 - 0.05;
  }
  if (next.top1 > prev.top1 + EPS || next.tau > prev.tau + 1e-6) return true;
  return next.relL2 < 0.9 * prev.relL2 || (next.relL2 <= prev.relL2 && next.maxRel < 0.9 * prev.maxRel);
}

/** The score's figures for reports. */
export function scoreSummary(s: Score): Record<string, unknown> {
  const r = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(4)) : String(x));
  return {
    agree: s.agree,
    top1: r(s.top1),
    tau: r(s.tau),
    fixed: r(s.fixed),
    maxRel: r(s.maxRel),
    relL2: r(s.relL2),
    maxAbs: r(s.maxAbs),
    samples: s.samples,
  };
}
