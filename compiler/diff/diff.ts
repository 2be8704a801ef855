/**
 * `diff SOURCE TARGET`: differential testing of two models of the same network (a model and its
 * conversion, or a model and a faulty copy). Both run on the same inputs in Lathe's runtime, with
 * observers on every value the structural matching pairs (passes/diff/match.ts); with `runtime` each can
 * also run in its own framework's runtime (onnxruntime for ONNX, LiteRT for TFLite), which then supplies
 * the output figures. Reported: per output top-1 agreement, Kendall's τ on the top-k (τ ≥ 0.98 counts as
 * fixed), max absolute and relative error and SQNR; per paired value the same error figures (the
 * layer-wise divergence); where the divergence starts and the classified faults (passes/diff/localize.ts).
 * With `out`, writes diff.json and a self-contained diff.html with a divergence plot.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Model } from "../../ir/graph.ts";
import { describeRelation, inferRelation, toSourceOrder } from "../../passes/diff/layout-relation.ts";
import { type Finding, type Localization, localize } from "../../passes/diff/localize.ts";
import { type GraphMatch, matchGraphs, type UnmatchedRegion } from "../../passes/diff/match.ts";
import { ErrorStats, FIXED_TAU } from "../../passes/diff/metrics.ts";
import { realValues } from "../../passes/diff/real-values.ts";
import {
  type RunFailure,
  type Sample,
  targetInputs,
  type Trace,
  traceMatch,
} from "../../passes/diff/trace.ts";
import { type RValue, Tensor } from "../../runtime/tensor.ts";
import { ensureDir, writeFileAtomic } from "../atomic-write.ts";
import "../formats.ts";
import { loadModel } from "../load-model.ts";
import { loadInputs } from "./inputs.ts";
import type { PreprocessSpec } from "./preprocess.ts";
import { renderDiffHtml } from "./report-html.ts";

export type RuntimeName = "lathe" | "onnxruntime" | "litert";

export interface DiffOptions {
  readonly source: string;
  readonly target: string;
  /** Folder of inputs (.npy, images, or one sub-folder per sample); seeded random inputs when absent. */
  readonly inputs?: string;
  /** Folder for diff.json and diff.html. */
  readonly out?: string;
  /** Framework runtimes to run the models in besides Lathe's: onnxruntime runs ONNX, litert runs TFLite. */
  readonly runtime?: readonly RuntimeName[];
  readonly count?: number;
  readonly seed?: number;
  /** Source input shapes by name, and symbolic dim sizes (the target's inputs follow the source's). */
  readonly shapes?: Readonly<Record<string, readonly number[]>>;
  readonly dims?: Readonly<Record<string, number>>;
  readonly range?: readonly [number, number];
  readonly preprocess?: PreprocessSpec;
  /** The target's own preprocessing of the same images (FetaFix's "target preprocessing" cases). */
  readonly targetPreprocess?: PreprocessSpec;
  /** k of the top-k lists (default 5). */
  readonly topK?: number;
  /** Relative L2 error below which a value pair agrees (default 1e-5), and the jump factor (default 10). */
  readonly tolerance?: number;
  readonly jump?: number;
  readonly probeInputs?: boolean;
  readonly onProgress?: (phase: string, done: number, total: number) => void;
}

export interface SideInfo {
  readonly path: string;
  readonly format: string;
  readonly nodes: number;
  readonly runtime: RuntimeName;
}

export interface OutputReport {
  readonly source: string;
  readonly target: string;
  readonly relation: string;
  readonly incompatible?: string;
  /** Rows (the last axis holds the classes) and the fraction whose top-1 agrees; null with one class. */
  readonly rows: number;
  readonly top1Agreement: number | null;
  /** Kendall's τ over the union of both top-k lists: mean and minimum over rows, and the fraction ≥ 0.98. */
  readonly kendallTau: { readonly mean: number; readonly min: number; readonly fixedFraction: number } | null;
  readonly maxAbs: number;
  readonly maxRel: number;
  readonly relL2: number;
  readonly sqnrDb: number;
  readonly perSample: readonly { relL2: number; sqnrDb: number; maxAbs: number; top1: boolean }[];
}

export interface LayerReport {
  readonly index: number;
  readonly kind: string;
  readonly source: { readonly node?: string; readonly op: string; readonly value: string };
  readonly target: { readonly node?: string; readonly op: string; readonly value: string };
  readonly relation: string;
  readonly incompatible?: string;
  readonly relL2: number;
  readonly sqnrDb: number;
  readonly maxAbs: number;
  readonly inputError: number;
  readonly jump: boolean;
}

export interface RuntimeCheck {
  readonly model: "source" | "target";
  readonly runtime: RuntimeName;
  /** Lathe's outputs against the framework runtime's on the same inputs. */
  readonly maxAbs: number;
  readonly relL2: number;
}

export interface DiffReport {
  readonly source: SideInfo;
  readonly target: SideInfo;
  readonly inputs: {
    readonly description: string;
    readonly samples: number;
    readonly names: readonly string[];
  };
  readonly topK: number;
  readonly outputs: readonly OutputReport[];
  readonly runtimeChecks: readonly RuntimeCheck[];
  /** Runs that stopped with an error (values observed before the error are still compared). */
  readonly failures: readonly RunFailure[];
  readonly match: {
    readonly pairs: number;
    readonly values: number;
    readonly unmatchedSource: readonly { node: string; op: string }[];
    readonly unmatchedTarget: readonly { node: string; op: string }[];
    readonly regions: readonly UnmatchedRegion[];
  };
  readonly layers: readonly LayerReport[];
  readonly localization: {
    readonly tolerance: number;
    readonly jumpFactor: number;
    readonly divergence: LayerReport | null;
    readonly findings: readonly Finding[];
    readonly ranking: Localization["ranking"];
  };
  /** No divergence found and every defined top-1 agrees. */
  readonly agree: boolean;
  readonly files?: { readonly json: string; readonly html: string };
  readonly ms: Readonly<Record<string, number>>;
}

/** Runs both models, compares them value by value and localizes where they start to differ. */
export async function diffModels(opts: DiffOptions): Promise<DiffReport> {
  const t0 = performance.now();
  const progress = opts.onProgress ?? (() => {});
  const [src, tgt] = [await loadModel(opts.source), await loadModel(opts.target)];
  const t1 = performance.now();
  const match = matchGraphs(src.graph, tgt.graph);
  const t2 = performance.now();
  const k = opts.topK ?? 5;
  const sourceSet = await loadInputs(src.graph, {
    dir: opts.inputs,
    count: opts.count,
    seed: opts.seed,
    shapes: opts.shapes,
    dims: opts.dims,
    range: opts.range,
    preprocess: opts.preprocess,
    onProgress: (d, n) => progress("inputs", d, n),
  });
  const targetSamples = opts.targetPreprocess && opts.inputs
    ? (await loadInputs(tgt.graph, {
      dir: opts.inputs,
      count: opts.count,
      preprocess: opts.targetPreprocess,
    })).samples
    : sourceSet.samples.map((s) => targetInputs(match, s));
  if (targetSamples.length !== sourceSet.samples.length) {
    throw new LatheError("usage", "source and target sample counts differ");
  }
  const samples: Sample[] = sourceSet.samples.map((s, i) => ({ source: s, target: targetSamples[i] }));
  const t3 = performance.now();

  const runtimes = new Set(opts.runtime ?? []);
  const sideRuntime = (m: Model): RuntimeName =>
    m.meta.format === "onnx" && runtimes.has("onnxruntime")
      ? "onnxruntime"
      : m.meta.format === "tflite" && runtimes.has("litert")
      ? "litert"
      : "lathe";
  const sRt = sideRuntime(src), tRt = sideRuntime(tgt);
  for (const r of runtimes) {
    if (r !== "lathe" && r !== sRt && r !== tRt) {
      throw new LatheError(
        "usage",
        `--runtime ${r} runs ${r === "onnxruntime" ? "ONNX" : "TFLite"} models; neither model is one`,
      );
    }
  }
  const sExternal = sRt === "lathe"
    ? undefined
    : await externalOutputs(sRt, opts.source, src, samples.map((s) => s.source));
  const tExternal = tRt === "lathe"
    ? undefined
    : await externalOutputs(tRt, opts.target, tgt, samples.map((s) => s.target));
  const checks = { source: new ErrorStats(), target: new ErrorStats() };
  const trace = await traceMatch(src.graph, tgt.graph, match, samples, {
    k,
    onSample: (d, n) => progress("run", d, n),
    ...(sExternal ? { sourceOutputs: (i: number) => Promise.resolve(sExternal[i]) } : {}),
    ...(tExternal ? { targetOutputs: (i: number) => Promise.resolve(tExternal[i]) } : {}),
    onOutputs: (i, so, to) => {
      if (sExternal) accumulate(checks.source, so, sExternal[i]);
      if (tExternal) accumulate(checks.target, to, tExternal[i]);
    },
  });
  const t4 = performance.now();
  const loc = await localize({
    source: src.graph,
    target: tgt.graph,
    match,
    inputs: sourceSet.samples,
    targetInputs: targetSamples,
    trace,
    tolerance: opts.tolerance,
    jump: opts.jump,
    probeInputs: opts.probeInputs,
  });
  const t5 = performance.now();

  const layers = layerReports(match, trace, loc);
  const outputs = outputReports(trace);
  const runtimeChecks: RuntimeCheck[] = [];
  if (sExternal) {
    runtimeChecks.push({
      model: "source",
      runtime: sRt,
      maxAbs: checks.source.maxAbs,
      relL2: checks.source.relL2,
    });
  }
  if (tExternal) {
    runtimeChecks.push({
      model: "target",
      runtime: tRt,
      maxAbs: checks.target.maxAbs,
      relL2: checks.target.relL2,
    });
  }
  const agree = !loc.divergence && !trace.failures.length &&
    outputs.every((o) => !o.incompatible && (o.top1Agreement === null || o.top1Agreement === 1));
  const side = (path: string, m: Model, runtime: RuntimeName): SideInfo => ({
    path,
    format: m.meta.format,
    nodes: m.graph.nodes.length,
    runtime,
  });
  const report: DiffReport = {
    source: side(opts.source, src, sRt),
    target: side(opts.target, tgt, tRt),
    inputs: { description: sourceSet.description, samples: samples.length, names: sourceSet.names },
    topK: k,
    outputs,
    runtimeChecks,
    failures: trace.failures,
    match: {
      pairs: match.pairs.length,
      values: match.values.length,
      unmatchedSource: match.unmatchedSource.map(({ node, op }) => ({ node, op })),
      unmatchedTarget: match.unmatchedTarget.map(({ node, op }) => ({ node, op })),
      regions: match.regions,
    },
    layers,
    localization: {
      tolerance: loc.tolerance,
      jumpFactor: loc.jumpFactor,
      divergence: loc.divergence ? layers[loc.divergence.pair] : null,
      findings: loc.findings,
      ranking: { method: loc.ranking.method, layers: loc.ranking.layers.slice(0, 20) },
    },
    agree,
    ms: {
      load: t1 - t0,
      match: t2 - t1,
      inputs: t3 - t2,
      run: t4 - t3,
      localize: t5 - t4,
      total: performance.now() - t0,
    },
  };
  if (!opts.out) return report;
  await ensureDir(opts.out);
  const files = { json: `${opts.out}/diff.json`, html: `${opts.out}/diff.html` };
  const final = { ...report, files };
  await writeFileAtomic(files.json, reportJson(final) + "\n");
  await writeFileAtomic(files.html, renderDiffHtml(final));
  return final;
}

/** JSON with the non-finite figures (an SQNR of identical values is +Infinity) written as strings. */
export function reportJson(r: unknown): string {
  return JSON.stringify(r, (_, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v), 2);
}

function accumulate(stats: ErrorStats, lathe: Record<string, RValue>, other: Record<string, Tensor>): void {
  for (const [name, v] of Object.entries(other)) {
    const l = lathe[name];
    if (!(l instanceof Tensor) || l.dtype === "string" || v.dtype === "string") continue;
    const rel = inferRelation(v.shape, l.shape);
    if (!rel) continue;
    stats.add(realValues(v), toSourceOrder(realValues(l), l.shape, rel, v.shape));
  }
}

/** The outputs of every sample from the model's own framework runtime. */
async function externalOutputs(
  runtime: RuntimeName,
  path: string,
  model: Model,
  inputs: readonly Readonly<Record<string, Tensor>>[],
): Promise<Record<string, Tensor>[]> {
  if (runtime === "onnxruntime") {
    const ort = await import("../reference-runtimes/onnxruntime.ts");
    const session = await ort.ortSession(path);
    const out: Record<string, Tensor>[] = [];
    for (const x of inputs) out.push(await ort.runOrt(session, { ...x }));
    await session.release();
    return out;
  }
  const lt = await import("../reference-runtimes/litert.ts");
  if (!(await lt.loadLiteRt())) throw new LatheError("runtime", lt.liteRtLoadMessage());
  const g = model.graph;
  const shapes = new Map<string, readonly number[]>();
  // LiteRT.js runs at the sizes the file declares: the first sample's shapes make symbolic ones static.
  const { Session } = await import("../../runtime/interpreter.ts");
  new Session(g).run(inputs[0], { observe: (name, v) => v instanceof Tensor && shapes.set(name, v.shape) });
  let bytes: Uint8Array;
  try {
    bytes = lt.withStaticShapes(await Deno.readFile(path), shapes);
  } catch (e) {
    throw new LatheError("io", `cannot read: ${(e as Error).message}`, { file: path });
  }
  const out: Record<string, Tensor>[] = [];
  for (const x of inputs) {
    const arrays = g.inputs.filter((i) => !g.constants[i]).map((i) => {
      const d = x[i].data;
      if (!(d instanceof Float32Array || d instanceof Int32Array || d instanceof Uint8Array)) {
        throw new LatheError(
          "unsupported",
          `LiteRT takes float32, int32 or uint8 inputs, not ${String(x[i].dtype)} (${i})`,
        );
      }
      return d;
    });
    const res = await lt.runLiteRt(bytes, arrays);
    const o: Record<string, Tensor> = {};
    g.outputs.forEach((name, i) => {
      const r = res[i];
      if (r) {
        o[name] = new Tensor(
          r.dtype === "float32" ? "f32" : r.dtype === "int32" ? "i32" : "u8",
          r.shape,
          r.data,
        );
      }
    });
    out.push(o);
  }
  return out;
}

function layerReports(match: GraphMatch, trace: Trace, loc: Localization): LayerReport[] {
  return match.values.map((v, i) => {
    const t = trace.pairs[i];
    const p = loc.pairs[i];
    return {
      index: i,
      kind: v.kind,
      source: { ...(v.source.node ? { node: v.source.node } : {}), op: v.source.op, value: v.source.value },
      target: { ...(v.target.node ? { node: v.target.node } : {}), op: v.target.op, value: v.target.value },
      relation: describeRelation(t?.relation),
      ...(t?.incompatible ? { incompatible: t.incompatible } : {}),
      relL2: p.error,
      sqnrDb: t?.incompatible ? -Infinity : t?.stats.sqnrDb ?? NaN,
      maxAbs: t?.incompatible ? Infinity : t?.stats.maxAbs ?? NaN,
      inputError: p.inputError,
      jump: p.jump,
    };
  });
}

function outputReports(trace: Trace): OutputReport[] {
  return trace.outputs.map((o) => {
    const taus = o.agreement.taus.filter((x) => !Number.isNaN(x));
    const defined = o.classes >= 2 && o.agreement.rows > 0;
    return {
      source: o.source,
      target: o.target,
      relation: describeRelation(o.relation),
      ...(o.incompatible ? { incompatible: o.incompatible } : {}),
      rows: o.agreement.rows,
      top1Agreement: defined ? o.agreement.top1Same / o.agreement.rows : null,
      kendallTau: defined && taus.length
        ? {
          mean: taus.reduce((a, b) => a + b, 0) / taus.length,
          min: Math.min(...taus),
          fixedFraction: taus.filter((x) => x >= FIXED_TAU).length / taus.length,
        }
        : null,
      maxAbs: o.stats.maxAbs,
      maxRel: o.stats.maxRel,
      relL2: o.stats.relL2,
      sqnrDb: o.stats.sqnrDb,
      perSample: o.perSample.map((s, i) => ({ ...s, top1: o.top1PerSample[i] ?? false })),
    };
  });
}

/** The report as text for the terminal. */
export function formatDiff(r: DiffReport): string {
  const num = (x: number) => (Number.isFinite(x) ? x.toExponential(3) : String(x));
  const db = (x: number) => (Number.isFinite(x) ? `${x.toFixed(1)} dB` : x > 0 ? "inf dB" : "-inf dB");
  const lines = [
    `${r.source.path} (${r.source.format}, ${r.source.nodes} nodes, ${r.source.runtime}) vs ${r.target.path} (${r.target.format}, ${r.target.nodes} nodes, ${r.target.runtime})`,
    `  inputs: ${r.inputs.description}`,
    `  matched ${r.match.values} value pairs (${r.match.pairs} op pairs); unmatched: ${r.match.unmatchedSource.length} source, ${r.match.unmatchedTarget.length} target nodes`,
  ];
  for (const reg of r.match.regions) {
    const names = (xs: readonly { op: string; node: string }[]) =>
      xs.map((x) => `${x.op} ${x.node}`).join(", ") || "-";
    lines.push(
      `    region before pair ${reg.before ?? "end"}: source [${names(reg.source)}] target [${
        names(reg.target)
      }]${reg.explained ? ` (${reg.explained})` : ""}`,
    );
  }
  for (const o of r.outputs) {
    lines.push(`  output ${o.source} vs ${o.target} (${o.relation}):`);
    if (o.incompatible) {
      lines.push(`    incompatible: ${o.incompatible}`);
      continue;
    }
    const top1 = o.top1Agreement === null
      ? "n/a (one class)"
      : `${(100 * o.top1Agreement).toFixed(1)}% of ${o.rows} rows`;
    const tau = o.kendallTau
      ? `Kendall tau top-${r.topK} mean ${o.kendallTau.mean.toFixed(4)}, min ${
        o.kendallTau.min.toFixed(4)
      }, ${(100 * o.kendallTau.fixedFraction).toFixed(1)}% >= ${FIXED_TAU}`
      : "Kendall tau n/a";
    lines.push(`    top-1 agreement ${top1}; ${tau}`);
    lines.push(
      `    max abs ${num(o.maxAbs)}, max rel ${num(o.maxRel)}, rel L2 ${num(o.relL2)}, SQNR ${db(o.sqnrDb)}`,
    );
  }
  for (const f of r.failures) lines.push(`  the ${f.side} failed on sample ${f.sample}: ${f.message}`);
  for (const c of r.runtimeChecks) {
    lines.push(`  Lathe vs ${c.runtime} on the ${c.model}: max abs ${num(c.maxAbs)}, rel L2 ${num(c.relL2)}`);
  }
  const d = r.localization.divergence;
  if (d) {
    lines.push(
      `  divergence starts at pair ${d.index}: ${d.source.op} ${
        d.source.node ?? d.source.value
      } / ${d.target.op} ${d.target.node ?? d.target.value} (rel L2 ${num(d.inputError)} -> ${num(d.relL2)})`,
    );
  } else {
    const worst = r.layers.reduce((m, l) => (l.relL2 > m ? l.relL2 : m), 0);
    lines.push(
      `  no divergence: every pair within rel L2 ${r.localization.tolerance} or ${r.localization.jumpFactor}x its inputs (largest ${
        num(worst)
      })`,
    );
  }
  for (const f of r.localization.findings) lines.push(`  [${f.kind}/${f.fault}] ${f.message}`);
  if (r.files) lines.push(`  wrote ${r.files.json} and ${r.files.html}`);
  lines.push(
    `  ${r.ms.total.toFixed(0)} ms (load ${r.ms.load.toFixed(0)}, match ${r.ms.match.toFixed(0)}, run ${
      r.ms.run.toFixed(0)
    }, localize ${r.ms.localize.toFixed(0)})`,
  );
  return lines.join("\n");
}
