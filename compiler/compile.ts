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

export interface CompileOptions {
  model?: string;
  out?: string;
  /** A pass pipeline, e.g. `canonicalize,fold-batchnorm`. */
  passes?: string;
  printAfter?: readonly string[] | "all";
  printChanged?: boolean;
  /** Progress and printed IR go here (default stderr). */
  log?: (text: string) => void;
}

export interface CompileResult {
  model: string;
  out: string;
  files: { ir: string; summary: string };
  summary: InspectReport;
  passes: PassStats[];
  ms: { import: number; verify: number; passes: number; total: number };
}

export async function compileModel(opts: CompileOptions = {}): Promise<CompileResult> {
  const t0 = performance.now();
  let model: Model = opts.model ? await loadModel(opts.model) : defaultModel();
  const name = opts.model ? baseName(opts.model) : DEFAULT_MODEL_NAME;
  const t1 = performance.now();
  assertValid(model.graph);
  const t2 = performance.now();
  let passes: PassStats[] = [];
  if (opts.passes) {
    const r = await runPipeline(model, opts.passes, { printAfter: opts.printAfter, printChanged: opts.printChanged, print: opts.log });
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
  return { model: summary.model, out, files: { ir, summary: sum }, summary, passes, ms: { import: t1 - t0, verify: t2 - t1, passes: t3 - t2, total: performance.now() - t0 } };
}

function baseName(p: string): string {
  const b = p.slice(p.lastIndexOf("/") + 1);
  const d = b.lastIndexOf(".");
  return d > 0 ? b.slice(0, d) : b;
}
