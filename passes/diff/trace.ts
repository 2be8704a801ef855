/**
 * Runs both graphs of a match on the same inputs with observers on every paired value and measures how
 * far each target value is from its source counterpart, read through their layout relation. Per pair it
 * keeps the error figures per sample and overall, and a strided sample of the element-wise differences
 * for the Kruskal–Wallis ranking; per output it keeps the values themselves for the agreement figures.
 */
import { printDType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { type Graph, producerOf } from "../../ir/graph.ts";
import type { Dim } from "../../ir/value-type.ts";
import { Session } from "../../runtime/interpreter.ts";
import { alloc, type RValue, Tensor } from "../../runtime/tensor.ts";
import { inferRelation, type Relation, toSourceOrder, toTargetOrder } from "./layout-relation.ts";
import type { GraphMatch } from "./match.ts";
import { ErrorStats, type RowAgreement, rowAgreement } from "./metrics.ts";
import { realValues } from "./real-values.ts";

/** One input sample: the source graph's inputs and the target graph's (the same data in its layout). */
export interface Sample {
  readonly source: Readonly<Record<string, Tensor>>;
  readonly target: Readonly<Record<string, Tensor>>;
}

export interface SampleError {
  readonly relL2: number;
  readonly sqnrDb: number;
  readonly maxAbs: number;
}

export interface PairTrace {
  /** Index into `GraphMatch.values`. */
  readonly index: number;
  readonly relation?: Relation;
  readonly sourceShape?: readonly number[];
  readonly targetShape?: readonly number[];
  /** Why the values could not be compared (shapes no relation maps onto each other). */
  readonly incompatible?: string;
  readonly stats: ErrorStats;
  readonly perSample: SampleError[];
  /** Per sample, target − source at a fixed strided subset of elements (source order). */
  readonly differences: Float32Array[];
}

export interface OutputTrace {
  readonly index: number;
  readonly source: string;
  readonly target: string;
  readonly relation?: Relation;
  readonly incompatible?: string;
  readonly stats: ErrorStats;
  readonly perSample: SampleError[];
  /** Size of the last axis (the classes) and the agreement over all rows of all samples. */
  readonly classes: number;
  readonly agreement: RowAgreement;
  /** Per sample, whether every row's top-1 agreed. */
  readonly top1PerSample: boolean[];
}

/** A run that stopped with an error; the values observed before it are still compared. */
export interface RunFailure {
  readonly side: "source" | "target";
  readonly sample: number;
  readonly message: string;
}

export interface Trace {
  readonly samples: number;
  readonly failures: readonly RunFailure[];
  readonly pairs: readonly PairTrace[];
  readonly outputs: readonly OutputTrace[];
  /** Runtime shapes of every value of each graph in the first sample. */
  readonly sourceShapes: ReadonlyMap<string, readonly number[]>;
  readonly targetShapes: ReadonlyMap<string, readonly number[]>;
}

export interface TraceOptions {
  /** Top-k for Kendall's τ (default 5). */
  k?: number;
  /** Elements per pair kept for the element-wise test (default 256). */
  kwElements?: number;
  onSample?: (done: number, total: number) => void;
  /**
   * Output values from another runtime (onnxruntime, LiteRT) replacing Lathe's for the output figures;
   * the layer-wise figures always come from Lathe's observers.
   */
  sourceOutputs?: (sample: number) => Promise<Record<string, Tensor>>;
  targetOutputs?: (sample: number) => Promise<Record<string, Tensor>>;
  /** Lathe's outputs of each sample (to check Lathe against another runtime). */
  onOutputs?: (sample: number, source: Record<string, RValue>, target: Record<string, RValue>) => void;
}

function shapeOf(g: Graph, v: string): readonly Dim[] | undefined {
  const t = g.values[v]?.type;
  return t?.kind === "tensor" ? t.shape : undefined;
}

/**
 * The target graph's inputs for source inputs: each paired input is the same data in the target's layout
 * and element type (a converted model may take int32 where the source took int64).
 */
export function targetInputs(
  match: GraphMatch,
  source: Readonly<Record<string, Tensor>>,
): Record<string, Tensor> {
  const tg = match.targetEvents.graph;
  const out: Record<string, Tensor> = {};
  for (const p of match.values) {
    if (p.kind !== "input") continue;
    const x = source[p.source.value];
    if (!x) continue;
    const want = tg.values[p.target.value]?.type;
    const tShape = want?.kind === "tensor" && want.shape ? want.shape : x.shape;
    const rel = inferRelation(x.shape, tShape.map((d, i) => (typeof d === "number" ? d : x.shape[i] ?? d)));
    if (!rel) {
      throw new LatheError(
        "usage",
        `input ${p.source.value} [${x.shape}] cannot feed target input ${p.target.value} [${tShape}]`,
      );
    }
    out[p.target.value] = convertInput(x, rel, tShape, want?.kind === "tensor" ? want.dtype : x.dtype);
  }
  for (const name of tg.inputs) {
    if (!out[name] && !tg.constants[name]) {
      throw new LatheError("usage", `target input ${name} has no source counterpart`);
    }
  }
  return out;
}

function convertInput(x: Tensor, rel: Relation, tShape: readonly Dim[], dtype: Tensor["dtype"]): Tensor {
  const shape = resolveShape(x.shape, tShape, rel);
  if (printDType(dtype) === printDType(x.dtype) && rel.kind === "perm" && rel.perm.every((p, i) => p === i)) {
    return shape.every((d, i) => d === x.shape[i]) && shape.length === x.shape.length
      ? x
      : new Tensor(x.dtype, shape, x.data);
  }
  const vals = toTargetOrder(realValues(x), x.shape, rel, shape);
  const t = alloc(dtype, shape);
  const d = t.data;
  if (d instanceof Array) throw new LatheError("unsupported", "string inputs");
  for (let i = 0; i < vals.length; i++) {
    if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
      d[i] = BigInt(Math.round(vals[i])) as never;
    } else d[i] = vals[i];
  }
  return t;
}

/** The target's concrete input shape: its static dims, symbolic ones taken from the related source dims. */
function resolveShape(sShape: readonly number[], tShape: readonly Dim[], rel: Relation): number[] {
  if (tShape.every((d) => typeof d === "number")) return tShape as number[];
  if (rel.kind === "perm" && tShape.length === sShape.length) {
    // Same rank: symbolic target dims take the source dim that lands there.
    const out = tShape.map((d, i) => (typeof d === "number" ? d : sShape[i]));
    if (out.reduce((p, d) => p * d, 1) === sShape.reduce((p, d) => p * d, 1)) return out;
  }
  throw new LatheError("usage", `cannot size target input [${tShape}] from [${sShape}]; bind its dims`);
}

/**
 * Runs the part of a graph needed for `wanted` and returns those values (graph inputs may be among them).
 */
export function evaluateValues(
  g: Graph,
  inputs: Readonly<Record<string, RValue>>,
  wanted: readonly string[],
): Record<string, RValue> {
  const need = new Set<string>();
  const keep = new Set<string>();
  const stack = [...wanted];
  while (stack.length) {
    const v = stack.pop()!;
    if (need.has(v)) continue;
    need.add(v);
    const p = producerOf(g, v);
    if (p && !keep.has(p.id)) {
      keep.add(p.id);
      for (const i of p.inputs) if (i) stack.push(i);
    }
  }
  const nodes = g.nodes.filter((n) => keep.has(n.id));
  const sub: Graph = { ...g, nodes, outputs: wanted.filter((w) => !g.inputs.includes(w)) };
  const r = new Session(sub).run(
    Object.fromEntries(Object.entries(inputs).filter(([k]) => g.inputs.includes(k))),
  );
  const out: Record<string, RValue> = { ...r.outputs };
  for (const w of wanted) if (inputs[w]) out[w] = inputs[w];
  return out;
}

export async function traceMatch(
  source: Graph,
  target: Graph,
  match: GraphMatch,
  samples: readonly Sample[],
  opts: TraceOptions = {},
): Promise<Trace> {
  const k = opts.k ?? 5;
  const kwN = opts.kwElements ?? 256;
  const sWanted = new Set(match.values.map((p) => p.source.value));
  const tWanted = new Set(match.values.map((p) => p.target.value));
  const sSession = new Session(source), tSession = new Session(target);
  const pairs = match.values.map((p): PairTrace & { relation?: Relation } => ({
    index: p.index,
    stats: new ErrorStats(),
    perSample: [],
    differences: [],
  }));
  const outs = match.outputs.map((o): OutputTrace => ({
    index: o.index,
    source: o.source,
    target: o.target,
    stats: new ErrorStats(),
    perSample: [],
    classes: 0,
    agreement: { rows: 0, top1Same: 0, taus: [] },
    top1PerSample: [],
  }));
  const sourceShapes = new Map<string, readonly number[]>(),
    targetShapes = new Map<string, readonly number[]>();
  const failures: RunFailure[] = [];
  for (const [si, sample] of samples.entries()) {
    const sv = new Map<string, RValue>(), tv = new Map<string, RValue>();
    const first = si === 0;
    // A model that fails part way (a shape broken by a fault) still shows where its values went wrong.
    const run = (
      side: "source" | "target",
      session: Session,
      inputs: Sample["source"],
      keep: Set<string>,
      into: Map<string, RValue>,
      shapes: Map<string, readonly number[]>,
    ) => {
      try {
        return session.run(inputs, {
          observe: (name, v) => {
            if (keep.has(name)) into.set(name, v);
            if (first && v instanceof Tensor) shapes.set(name, v.shape);
          },
        }).outputs;
      } catch (e) {
        if (!(e instanceof LatheError)) throw e;
        failures.push({ side, sample: si, message: e.message });
        return undefined;
      }
    };
    const sr = run("source", sSession, sample.source, sWanted, sv, sourceShapes);
    const tr = run("target", tSession, sample.target, tWanted, tv, targetShapes);
    for (const p of match.values) {
      const pt = pairs[p.index] as { -readonly [K in keyof PairTrace]: PairTrace[K] };
      const a = sv.get(p.source.value), b = tv.get(p.target.value);
      if (!(a instanceof Tensor) || !(b instanceof Tensor) || a.dtype === "string" || b.dtype === "string") {
        continue;
      }
      if (pt.incompatible) continue;
      if (!pt.relation || !sameShape(pt.sourceShape, a.shape) || !sameShape(pt.targetShape, b.shape)) {
        const rel = inferRelation(a.shape, b.shape, p.hint);
        pt.sourceShape = a.shape;
        pt.targetShape = b.shape;
        if (!rel) {
          pt.incompatible = `shapes [${a.shape}] and [${b.shape}] do not correspond`;
          pt.relation = undefined;
          continue;
        }
        pt.relation = rel;
      }
      compare(pt, realValues(a), a.shape, realValues(b), b.shape, kwN);
    }
    if (sr && tr) opts.onOutputs?.(si, sr, tr);
    const sOut = opts.sourceOutputs ? await opts.sourceOutputs(si) : sr ?? {};
    const tOut = opts.targetOutputs ? await opts.targetOutputs(si) : tr ?? {};
    for (const [oi, o] of match.outputs.entries()) {
      const ot = outs[oi] as { -readonly [K in keyof OutputTrace]: OutputTrace[K] };
      const a = sOut[o.source], b = tOut[o.target];
      if (!(a instanceof Tensor) || !(b instanceof Tensor) || a.dtype === "string" || b.dtype === "string") {
        continue;
      }
      const rel = inferRelation(a.shape, b.shape, o.hint);
      if (!rel) {
        ot.incompatible = `shapes [${a.shape}] and [${b.shape}] do not correspond`;
        continue;
      }
      ot.relation = rel;
      const s = realValues(a), t = toSourceOrder(realValues(b), b.shape, rel, a.shape);
      const one = new ErrorStats();
      one.add(s, t);
      ot.stats.add(s, t);
      ot.perSample.push({ relL2: one.relL2, sqnrDb: one.sqnrDb, maxAbs: one.maxAbs });
      const classes = a.shape.length ? a.shape[a.shape.length - 1] : 1;
      ot.classes = classes;
      const ag = rowAgreement(s, t, classes, k);
      ot.agreement.rows += ag.rows;
      ot.agreement.top1Same += ag.top1Same;
      ot.agreement.taus.push(...ag.taus);
      ot.top1PerSample.push(ag.top1Same === ag.rows);
    }
    opts.onSample?.(si + 1, samples.length);
  }
  return { samples: samples.length, failures, pairs, outputs: outs, sourceShapes, targetShapes };
}

function sameShape(a: readonly number[] | undefined, b: readonly number[]): boolean {
  return !!a && a.length === b.length && a.every((d, i) => d === b[i]);
}

function compare(
  pt: { -readonly [K in keyof PairTrace]: PairTrace[K] },
  s: Float64Array,
  sShape: readonly number[],
  tRaw: Float64Array,
  tShape: readonly number[],
  kwN: number,
): void {
  let t: Float64Array;
  try {
    t = toSourceOrder(tRaw, tShape, pt.relation!, sShape);
  } catch (e) {
    pt.incompatible = (e as Error).message;
    return;
  }
  const one = new ErrorStats();
  one.add(s, t);
  pt.stats.add(s, t);
  pt.perSample.push({ relL2: one.relL2, sqnrDb: one.sqnrDb, maxAbs: one.maxAbs });
  const n = s.length;
  const m = Math.min(kwN, n);
  const diffs = new Float32Array(m);
  const stride = n / Math.max(m, 1);
  for (let i = 0; i < m; i++) {
    const j = Math.floor(i * stride);
    diffs[i] = t[j] - s[j];
  }
  pt.differences.push(diffs);
}

/** Static shape of a value, for callers that have no trace. */
export function staticShape(g: Graph, v: string): readonly Dim[] | undefined {
  return shapeOf(g, v);
}
