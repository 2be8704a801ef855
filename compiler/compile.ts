/**
 * `compile`: for now, import a model (or build the embedded default), verify it, and write the IR text and
 * a summary. Later issues add passes, partitioning and targets behind the same function.
 */
import type { Model } from "../ir/graph.ts";
import { printGraph } from "../ir/text.ts";
import { assertValid } from "../ir/verify.ts";
import { ensureDir, writeFileAtomic } from "./atomic-write.ts";
import { DEFAULT_MODEL_NAME, defaultModel } from "./default-model.ts";
import { inspectModel, type InspectReport } from "./inspect.ts";
import { loadModel } from "./load-model.ts";
import "../passes/index.ts";
import { type PassStats, runPipeline } from "../passes/pass-manager.ts";
import { compileForTarget, type TargetCompileResult } from "./target-compile.ts";
import { LatheError } from "../ir/errors.ts";
import { emitDriver, type EmittedDriver } from "../targets/emit/emit.ts";

export interface CompileOptions {
  model?: string;
  out?: string;
  /** A pass pipeline, e.g. `canonicalize,fold-batchnorm`. */
  passes?: string;
  printAfter?: readonly string[] | "all";
  printChanged?: boolean;
  /** Progress and printed IR go here (default stderr). */
  log?: (text: string) => void;
  /** An accelerator target (secda-vm, secda-sa, ...): partition, simulate and report (target-compile.ts). */
  target?: string;
  /** With `target`: ops that must be offloaded (default: every op a rule of the target takes). */
  offload?: readonly string[];
  /** With `target`: quantize scheme for a float model (default: the target's preferred one, else int8). */
  scheme?: string;
  /** With `target`: whole shapes for symbolic inputs (a GGUF model's `tokens` defaults to [8]). */
  shapes?: Readonly<Record<string, readonly number[]>>;
  /** With `target`: seed of the simulation's inputs. */
  seed?: number;
  /** With `target`: skip the reference run that checks the simulation bit for bit. */
  noCheck?: boolean;
  /** With `target`: do not emit the C++ driver (DIR/driver/). */
  noDriver?: boolean;
}

export interface CompileResult {
  model: string;
  out: string;
  files: { ir: string; summary: string };
  summary: InspectReport;
  passes: PassStats[];
  ms: { import: number; verify: number; passes: number; total: number };
  /** With `target`: the partition, simulation and report. */
  target?: TargetCompileResult;
  /** With `target`: the emitted driver, or why there is none (a CPU op without a C++ kernel, a target without a driver). */
  driver?: EmittedDriver | { skipped: string };
}

export async function compileModel(opts: CompileOptions = {}): Promise<CompileResult> {
  if (opts.target) return await compileTarget(opts, opts.target);
  const t0 = performance.now();
  let model: Model = opts.model ? await loadModel(opts.model) : defaultModel();
  const name = opts.model ? baseName(opts.model) : DEFAULT_MODEL_NAME;
  const t1 = performance.now();
  assertValid(model.graph);
  const t2 = performance.now();
  let passes: PassStats[] = [];
  if (opts.passes) {
    const r = await runPipeline(model, opts.passes, {
      printAfter: opts.printAfter,
      printChanged: opts.printChanged,
      print: opts.log,
    });
    model = r.model;
    passes = r.stats;
  }
  const t3 = performance.now();
  const out = opts.out ?? `out/${name}`;
  await ensureDir(out);
  const summary = inspectModel(model, opts.model ?? `${DEFAULT_MODEL_NAME} (embedded)`);
  const ir = `${out}/model.lir`;
  const sum = `${out}/summary.json`;
  await writeFileAtomic(ir, printGraph(model.graph) + "\n");
  await writeFileAtomic(sum, JSON.stringify(summary, null, 2) + "\n");
  return {
    model: summary.model,
    out,
    files: { ir, summary: sum },
    summary,
    passes,
    ms: { import: t1 - t0, verify: t2 - t1, passes: t3 - t2, total: performance.now() - t0 },
  };
}

async function compileTarget(opts: CompileOptions, target: string): Promise<CompileResult> {
  const r = await compileForTarget({
    model: opts.model,
    out: opts.out,
    target,
    offload: opts.offload,
    scheme: opts.scheme,
    shapes: opts.shapes,
    seed: opts.seed,
    noCheck: opts.noCheck,
    log: opts.log,
  });
  const summary = inspectModel(
    { graph: r.partition.graph, meta: { format: "lathe", opsets: {}, props: {} } },
    opts.model ?? `${r.model} (embedded)`,
  );
  const sum = `${r.out}/summary.json`;
  await writeFileAtomic(sum, JSON.stringify(summary, null, 2) + "\n");
  const driver = opts.noDriver ? undefined : await compileDriver(r, opts.log);
  return {
    model: r.model,
    out: r.out,
    files: { ir: r.files.ir, summary: sum },
    summary,
    passes: r.passes,
    ms: { import: r.ms.import, verify: 0, passes: r.ms.prepare + r.ms.partition, total: r.ms.total },
    target: r,
    driver,
  };
}

// ---- driver emission (targets/emit): DIR/driver/ with C++ sources, reading DIR/weights.bin ----

async function compileDriver(
  r: TargetCompileResult,
  log?: (text: string) => void,
): Promise<EmittedDriver | { skipped: string }> {
  try {
    const d = await emitDriver(r.partition.graph, r.target, { out: r.out, weights: r.report.weights });
    log?.(
      `driver: ${d.dir} (${d.stats.calls} accelerator calls, ${d.stats.packets} packets; make && ./lathe_driver --help)`,
    );
    return d;
  } catch (e) {
    if (!(e instanceof LatheError) || e.kind !== "unsupported") throw e;
    log?.(`driver: not emitted: ${e.reason}`);
    return { skipped: e.reason };
  }
}

function baseName(p: string): string {
  const b = p.slice(p.lastIndexOf("/") + 1);
  const d = b.lastIndexOf(".");
  return d > 0 ? b.slice(0, d) : b;
}
