/**
 * `repair SOURCE TARGET --out REPAIRED`: repairs a converted model (TARGET) so its outputs agree with the
 * model it was converted from (SOURCE), FetaFix-style (accelerators.md §3.1): localize, propose a fix for
 * the top finding, keep it only if the agreement improves, iterate until the outputs agree within rtol or
 * the budget runs out (passes/repair/greedy.ts). The repaired model is written in TARGET's format
 * (atomically: a run stopped part-way leaves no half-written file), then loaded again and run in that
 * format's own runtime; SOURCE and TARGET are never written. The report lists every change as a graph
 * diff (node, attribute or weights before and after) with its evidence (the agreement before and after).
 */
import { LatheError } from "../../ir/errors.ts";
import type { Graph, Model } from "../../ir/graph.ts";
import { onnxToTflite } from "../../passes/convert/onnx-to-tflite.ts";
import { tfliteToOnnx } from "../../passes/convert/tflite-to-onnx.ts";
import {
  type AppliedChange,
  feedsFor,
  repairGraph,
  type RepairOutcome,
  type RepairProgress,
} from "../../passes/repair/greedy.ts";
import { type Score, scoreOutputs, scoreSummary } from "../../passes/repair/score.ts";
import { Session } from "../../runtime/interpreter.ts";
import type { RValue, Tensor } from "../../runtime/tensor.ts";
import { writeFileAtomic } from "../atomic-write.ts";
import { loadInputs } from "../diff/inputs.ts";
import "../formats.ts";
import { loadModel } from "../load-model.ts";
import { writeOnnxFile } from "../onnx/export.ts";
import { writeTfliteFile } from "../tflite/export.ts";
import { runInFramework } from "./framework-run.ts";

export interface RepairOptions {
  readonly source: string;
  readonly target: string;
  /** Where the repaired model goes (TARGET's format). */
  readonly out: string;
  /** The report (default `<out>.report.json`). */
  readonly report?: string;
  /** Folder of samples (.npy, images, or one sub-folder per sample); seeded random inputs without it. */
  readonly inputs?: string;
  /** Samples (default: every file in the folder, or 8 random ones). */
  readonly count?: number;
  readonly seed?: number;
  readonly shapes?: Readonly<Record<string, readonly number[]>>;
  readonly dims?: Readonly<Record<string, number>>;
  readonly range?: readonly [number, number];
  /** Seconds (default 600). */
  readonly budget?: number;
  /** Outputs agree when max|t − s| ≤ rtol · max|s| (default 1e-4). */
  readonly rtol?: number;
  /** Keep TARGET's input layout (feed it the data in its layout) instead of restoring SOURCE's shapes. */
  readonly keepInterface?: boolean;
  /** Also compare with SOURCE as Lathe converts it to TARGET's format (default true). */
  readonly useConversion?: boolean;
  /** Run the written model in its own framework's runtime (default true). */
  readonly verify?: boolean;
  readonly onProgress?: (p: RepairProgress) => void;
}

export interface FrameworkCheck {
  readonly runtime: string;
  /** The framework's outputs against Lathe's run of the repaired graph, and against SOURCE. */
  readonly vsLathe: Record<string, unknown>;
  readonly vsSource: Record<string, unknown>;
  readonly agrees: boolean;
}

export interface RepairReport {
  readonly source: { readonly path: string; readonly format: string };
  readonly target: { readonly path: string; readonly format: string };
  readonly out: string;
  readonly report: string;
  readonly inputs: { readonly description: string; readonly count: number };
  readonly rtol: number;
  readonly budgetSeconds: number;
  /** The repaired model's outputs agree with SOURCE's within rtol. */
  readonly agree: boolean;
  readonly stopped: RepairOutcome["stopped"];
  readonly detected: boolean;
  readonly before: Record<string, unknown>;
  readonly after: Record<string, unknown>;
  readonly outputs: { readonly before: Score["outputs"]; readonly after: Score["outputs"] };
  readonly changes: readonly AppliedChange[];
  /** The first localization against SOURCE (and the structural input faults seen before it). */
  readonly localization: RepairOutcome["first"];
  readonly tried: number;
  readonly framework?: FrameworkCheck;
  readonly ms: {
    readonly load: number;
    readonly repair: number;
    readonly write: number;
    readonly verify: number;
    readonly total: number;
  };
}

function samePath(a: string, b: string): boolean {
  const norm = (p: string) => {
    try {
      return Deno.realPathSync(p);
    } catch {
      return new URL(p, `file://${Deno.cwd()}/`).pathname;
    }
  };
  return norm(a) === norm(b);
}

/** SOURCE as Lathe converts it to the target's format, at the samples' sizes. */
export function conversionOf(
  source: Model,
  targetFormat: string,
  shapes: Record<string, number[]>,
): Graph | undefined {
  if (source.meta.format === targetFormat) return source.graph;
  if (source.meta.format === "onnx" && targetFormat === "tflite") {
    return onnxToTflite(source, { shapes }).model.graph;
  }
  if (source.meta.format === "tflite" && targetFormat === "onnx") {
    return tfliteToOnnx(source, { shapes }).model.graph;
  }
  return undefined;
}

async function writeModel(path: string, model: Model): Promise<void> {
  if (model.meta.format === "onnx") return await writeOnnxFile(path, model);
  if (model.meta.format === "tflite") return await writeTfliteFile(path, model);
  throw new LatheError("unsupported", `cannot write ${model.meta.format} models`, { file: path });
}

function extensionOf(p: string): string {
  return /\.[A-Za-z0-9]+$/.exec(p)?.[0].toLowerCase() ?? "";
}

export async function repairModel(opts: RepairOptions): Promise<RepairReport> {
  const t0 = performance.now();
  if (samePath(opts.out, opts.source) || samePath(opts.out, opts.target)) {
    throw new LatheError("usage", "--out must differ from SOURCE and TARGET (they are never written)");
  }
  const source = await loadModel(opts.source);
  const target = await loadModel(opts.target);
  const fmt = target.meta.format;
  if (fmt !== "onnx" && fmt !== "tflite") {
    throw new LatheError("unsupported", `repair writes ONNX or TFLite, not ${fmt}`, { file: opts.target });
  }
  const want = fmt === "onnx" ? ".onnx" : ".tflite";
  if (extensionOf(opts.out) !== want) {
    throw new LatheError("usage", `--out must be a ${want} file (TARGET's format)`);
  }
  const set = await loadInputs(source.graph, {
    dir: opts.inputs,
    count: opts.count ?? (opts.inputs ? undefined : 8),
    seed: opts.seed ?? 0,
    shapes: opts.shapes,
    dims: opts.dims,
    range: opts.range,
  });
  const samples = set.samples;
  const t1 = performance.now();
  const shapes: Record<string, number[]> = {};
  for (const [k, t] of Object.entries(samples[0])) shapes[k] = [...t.shape];
  const budget = opts.budget ?? 600;
  const outcome = await repairGraph({
    source: source.graph,
    target: target.graph,
    ...(opts.useConversion === false ? {} : { reference: () => conversionOf(source, fmt, shapes) }),
    samples,
    keepInterface: opts.keepInterface,
    rtol: opts.rtol,
    budgetMs: budget * 1000,
    onProgress: opts.onProgress,
  });
  const t2 = performance.now();
  const repaired: Model = { graph: outcome.graph, meta: target.meta };
  if (outcome.changes.length) await writeModel(opts.out, repaired);
  else await writeFileAtomic(opts.out, await Deno.readFile(opts.target));
  const t3 = performance.now();
  let framework: FrameworkCheck | undefined;
  if (opts.verify !== false) {
    framework = await frameworkCheck(opts.out, source.graph, samples, opts.rtol ?? 1e-4);
  }
  const t4 = performance.now();
  const reportPath = opts.report ?? `${opts.out}.report.json`;
  const report: RepairReport = {
    source: { path: opts.source, format: source.meta.format },
    target: { path: opts.target, format: fmt },
    out: opts.out,
    report: reportPath,
    inputs: { description: set.description, count: samples.length },
    rtol: opts.rtol ?? 1e-4,
    budgetSeconds: budget,
    agree: outcome.final.agree,
    stopped: outcome.stopped,
    detected: outcome.detected,
    before: scoreSummary(outcome.initial),
    after: scoreSummary(outcome.final),
    outputs: { before: outcome.initial.outputs, after: outcome.final.outputs },
    changes: outcome.changes,
    localization: outcome.first,
    tried: outcome.tried,
    ...(framework ? { framework } : {}),
    ms: { load: t1 - t0, repair: t2 - t1, write: t3 - t2, verify: t4 - t3, total: t4 - t0 },
  };
  await writeFileAtomic(reportPath, JSON.stringify(report, jsonNumbers, 2) + "\n");
  return report;
}

/** Infinity and NaN as strings, so the report stays JSON. */
export function jsonNumbers(_: string, v: unknown): unknown {
  return typeof v === "number" && !Number.isFinite(v) ? String(v) : v;
}

/** Loads the written file again and runs it in Lathe and in its own framework's runtime. */
async function frameworkCheck(
  path: string,
  source: Graph,
  samples: readonly Record<string, Tensor>[],
  rtol: number,
): Promise<FrameworkCheck> {
  const model = await loadModel(path);
  const g = model.graph;
  const sourceNames = source.inputs.filter((v) => !source.constants[v]);
  const feeds = samples.map((x) => feedsFor(g, sourceNames, x));
  const { runtime, outputs } = await runInFramework(path, model, feeds);
  const lathe = new Session(g);
  const latheOuts: Record<string, RValue>[] = feeds.map((x) => lathe.run(x).outputs);
  const src = new Session(source);
  const sourceOuts: Record<string, RValue>[] = samples.map((x) => src.run(x).outputs);
  const vsLathe = scoreOutputs(g.outputs, g.outputs, latheOuts, outputs, { rtol });
  const vsSource = scoreOutputs(source.outputs, g.outputs, sourceOuts, outputs, { rtol });
  return { runtime, vsLathe: scoreSummary(vsLathe), vsSource: scoreSummary(vsSource), agrees: vsLathe.agree };
}
