/**
 * Preprocessing probes: the standard ways two pipelines feed a model differently (channel order RGB/BGR,
 * height and width swapped, ×255 or ÷255, [0, 1] against [-1, 1], ImageNet mean and std), which FetaFix
 * found dominate real conversion divergence. A probe applies one to the source's input and asks whether
 * the target then agrees at the diverging value (or, when the two were fed apart, whether it turns the
 * source's input into the target's).
 */
import { alloc, type RValue, Tensor } from "../../runtime/tensor.ts";
import { inferRelation, reverseAxis, toSourceOrder, transposeData } from "./layout-relation.ts";
import type { GraphMatch, ValuePair } from "./match.ts";
import { ErrorStats } from "./metrics.ts";
import { realValues } from "./real-values.ts";
import { evaluateValues, targetInputs } from "./trace.ts";

export interface ProbeContext {
  readonly match: GraphMatch;
  /** Relative L2 error below which values agree. */
  readonly tol: number;
  readonly inputs: readonly Readonly<Record<string, Tensor>>[];
  readonly targetInputs: readonly Readonly<Record<string, Tensor>>[];
  /** Samples used per probe. */
  readonly probeSamples: number;
}

/** A probe explains a divergence when the error with it is within the tolerance or 100 times smaller. */
function fixes(withProbe: number, error: number, tol: number): boolean {
  return Number.isFinite(withProbe) && (withProbe <= tol || withProbe <= error / 100);
}

export interface ProbeResult {
  readonly name: string;
  readonly description: string;
  /** The error with the probe applied. */
  readonly error: number;
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

function perChannel(
  x: Float64Array,
  shape: readonly number[],
  f: (v: number, c: number) => number,
): Float64Array | undefined {
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
  {
    name: "mean",
    description: "mapped from [0, 1] to [-1, 1] (2x − 1)",
    apply: (x) => x.map((v) => 2 * v - 1),
  },
  {
    name: "mean",
    description: "mapped from [-1, 1] to [0, 1] ((x + 1) / 2)",
    apply: (x) => x.map((v) => (v + 1) / 2),
  },
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

/** The transformation that turns the source's input into the target's, when the two were fed apart. */
export function explainInputs(ctx: ProbeContext, v: ValuePair, error: number): ProbeResult | undefined {
  const n = Math.min(ctx.probeSamples, ctx.inputs.length, ctx.targetInputs.length);
  let best: { name: string; description: string; error: number } | undefined;
  for (const probe of PROBES) {
    const st = new ErrorStats();
    let ok = true;
    for (let i = 0; i < n && ok; i++) {
      const a = ctx.inputs[i][v.source.value], b = ctx.targetInputs[i][v.target.value];
      const rel = a && b ? inferRelation(a.shape, b.shape, v.hint) : undefined;
      const x = a && rel ? probe.apply(realValues(a), a.shape) : undefined;
      if (!x || !rel) {
        ok = false;
        break;
      }
      st.add(x, toSourceOrder(realValues(b), b.shape, rel, a.shape));
    }
    if (ok && n > 0 && (!best || st.relL2 < best.error)) {
      best = { name: probe.name, description: probe.description, error: st.relL2 };
    }
  }
  return best && fixes(best.error, error, ctx.tol) ? best : undefined;
}

/** The input transformation that makes the target agree at `v`, if one does. */
export function probeInputs(
  ctx: ProbeContext,
  v: ValuePair,
  error: number,
): { name: string; description: string; error: number } | undefined {
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
      const a = sourceValues[i],
        b = evaluateValues(tg, targetInputs(match, x), [v.target.value])[v.target.value];
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
  if (best && fixes(best.error, error, ctx.tol)) return best;
  return undefined;
}
