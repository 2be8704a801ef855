/**
 * The `quantize` pass: `quantize{scheme=int8|pot|apot|msq|bfp|mx|dqa, calib=minmax|percentile|mse|entropy,
 * weights=Q4_K, bits=4, ...}`. Each layer gets the default scheme unless `layers` or `float` rules say
 * otherwise (mixed.ts); schemes apply one after another, weight-only and PoT layers first, then DQA
 * activations, then int8 QDQ, all calibrated against the float model.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Model, Node } from "../../ir/graph.ts";
import { registerPass } from "../pass-manager.ts";
import type { ActivationType } from "./affine.ts";
import { type Batch, Calibration, seededBatches } from "./calibrate.ts";
import { type QuantizedLayer, quantizeInt8 } from "./int8-qdq.ts";
import { layerPolicy, type Scheme, schemeOf, SCHEMES } from "./mixed.ts";
import { CALIB_METHODS, type CalibMethod } from "./observers.ts";

export interface QuantizeOptions {
  scheme?: Scheme;
  calib?: CalibMethod;
  /** Percentile kept by calib=percentile (default 99.99). */
  percentile?: number;
  /** Activation code type of int8 layers (default u8). */
  activations?: ActivationType;
  /** int8: parameters TFLite's int8 kernels require (fixed output scales, shared Concat scales). */
  tflite?: boolean;
  /** Calibration inputs; without them, `calibCount` seeded batches from `calibSeed`. */
  batches?: readonly Batch[];
  calibSeed?: number;
  calibCount?: number;
  /** bfp: a ggml block type (Q4_0, Q8_0, Q4_K, ...); mx: MXINT8 or MXFP4. */
  weights?: string;
  /** dqa: activation bits (3, 4 or 5); pot schemes: weight code bits (4). */
  bits?: number;
  /** pot schemes: the decode table (pot-tables.ts), by accelerator version. */
  table?: string;
  /** dqa: fraction of channels per tensor that keep their shifted-out residual. */
  important?: number;
  /** Per-layer schemes, `PATTERN:SCHEME;...`. */
  layers?: string;
  /** Layers that stay float, `PATTERN;...`. */
  float?: string;
  progress?: (phase: string, done: number, total: number) => void;
}

export interface QuantizeResult {
  model: Model;
  layers: QuantizedLayer[];
  calibration: { method: CalibMethod; batches: number; runs: number };
}

type SchemeStep = (
  model: Model,
  select: (n: Node) => boolean,
  ctx: SchemeContext,
) => { model: Model; layers: QuantizedLayer[] };

export interface SchemeContext {
  readonly opts: Readonly<QuantizeOptions>;
  readonly calibration: Calibration;
  readonly batches: readonly Batch[];
  readonly float: Model;
}

/** Schemes other than int8 register here from their own files (weight-only and PoT layers, DQA). */
const steps = new Map<Scheme, { order: number; run: SchemeStep }>();
export function registerScheme(schemes: readonly Scheme[], order: number, run: SchemeStep): void {
  for (const s of schemes) steps.set(s, { order, run });
}
steps.set("int8", {
  order: 100,
  run: (model, select, ctx) => {
    const r = quantizeInt8(model.graph, {
      activations: ctx.opts.activations ?? "u8",
      calibration: ctx.calibration,
      select,
      tflite: ctx.opts.tflite,
    });
    return { model: { ...model, graph: r.graph }, layers: r.layers };
  },
});

export function quantizeModelGraph(model: Model, opts: QuantizeOptions = {}): QuantizeResult {
  const scheme = opts.scheme ?? "int8";
  if (!SCHEMES.includes(scheme)) {
    throw new LatheError("usage", `unknown scheme '${scheme}' (one of ${SCHEMES.join(", ")})`);
  }
  const method = opts.calib ?? "minmax";
  if (!CALIB_METHODS.includes(method)) {
    throw new LatheError("usage", `unknown calibration method '${method}'`);
  }
  const batches = opts.batches ?? seededBatches(model.graph, opts.calibSeed ?? 0, opts.calibCount ?? 8);
  const calibration = new Calibration(model.graph, batches, {
    method,
    percentile: opts.percentile,
    bits: 8,
    progress: (d, t) => opts.progress?.(`calibrate (${method})`, d, t),
  });
  const policy = layerPolicy(scheme, opts.layers, opts.float);
  const wanted = new Map<string, Scheme>();
  for (const n of model.graph.nodes) wanted.set(n.id, schemeOf(policy, n));
  const used = [...new Set(wanted.values())].filter((s) => s !== "float");
  for (const s of used) {
    if (!steps.has(s)) throw new LatheError("unsupported", `scheme ${s} is not available`);
  }
  const ordered = used.sort((a, b) => steps.get(a)!.order - steps.get(b)!.order);
  const ctx: SchemeContext = { opts, calibration, batches, float: model };
  let m = model;
  const layers: QuantizedLayer[] = [];
  // Groups of schemes that share one step (pot, apot, msq) run once with a selection by node.
  const ran = new Set<SchemeStep>();
  for (const s of ordered) {
    const step = steps.get(s)!;
    if (ran.has(step.run)) continue;
    ran.add(step.run);
    const mine = new Set([...steps].filter(([, v]) => v.run === step.run).map(([k]) => k));
    const r = step.run(m, (n) => mine.has(wanted.get(n.id) ?? "float"), ctx);
    m = r.model;
    layers.push(...r.layers);
  }
  return { model: m, layers, calibration: { method, batches: batches.length, runs: calibration.runs } };
}

/** The scheme a node asked for, for steps that handle several (pot, apot, msq). */
export function requestedScheme(ctx: SchemeContext, n: Node): Scheme {
  const policy = layerPolicy(ctx.opts.scheme ?? "int8", ctx.opts.layers, ctx.opts.float);
  return schemeOf(policy, n);
}

export const quantizePass = registerPass({
  name: "quantize",
  doc: "post-training quantization: int8 QDQ, PoT/APoT/MSQ weights, ggml/MX block weights, DQA activations",
  options: {
    scheme: {
      type: "string",
      default: "int8",
      choices: SCHEMES.filter((s) => s !== "float"),
      doc: "default scheme of every layer",
    },
    calib: { type: "string", default: "minmax", choices: CALIB_METHODS, doc: "activation range method" },
    calibSeed: { type: "int", default: 0, doc: "seed of the generated calibration inputs" },
    calibCount: { type: "int", default: 8, doc: "number of generated calibration inputs" },
    percentile: { type: "float", default: 99.99 },
    activations: { type: "string", default: "u8", choices: ["u8", "i8"] },
    tflite: { type: "bool", default: false, doc: "int8: parameters TFLite's int8 kernels require" },
    weights: {
      type: "string",
      default: "",
      doc: "bfp: ggml type (Q4_0, Q8_0, Q4_K, ...); mx: MXINT8 or MXFP4",
    },
    bits: { type: "int", default: 4, doc: "pot: weight code bits; dqa: activation bits (3, 4, 5)" },
    table: { type: "string", default: "", doc: "pot decode table (see pot-tables.ts)" },
    important: { type: "float", default: 0, doc: "dqa: fraction of channels that keep their residual bits" },
    layers: { type: "string", default: "", doc: "per-layer schemes: PATTERN:SCHEME;..." },
    float: { type: "string", default: "", doc: "layers that stay float: PATTERN;..." },
  },
  run(model, o, ctx) {
    return quantizeModelGraph(model, {
      ...o,
      weights: o.weights || undefined,
      table: o.table || undefined,
      layers: o.layers || undefined,
      float: o.float || undefined,
      progress: (phase, d, t) => ctx.progress?.(`quantize: ${phase}`, d, t),
    }).model;
  },
});
