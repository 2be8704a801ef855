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

export interface CompileOptions {
  model?: string;
  out?: string;
}

export interface CompileResult {
  model: string;
  out: string;
  files: { ir: string; summary: string };
  summary: InspectReport;
  ms: { import: number; verify: number; total: number };
}

export async function compileModel(opts: CompileOptions = {}): Promise<CompileResult> {
  const t0 = performance.now();
  const model: Model = opts.model ? await loadModel(opts.model) : defaultModel();
  const name = opts.model ? baseName(opts.model) : DEFAULT_MODEL_NAME;
  const t1 = performance.now();
  assertValid(model.graph);
  const t2 = performance.now();
  const out = opts.out ?? `out/${name}`;
  await ensureDir(out);
  const summary = inspectModel(model, opts.model ?? `${DEFAULT_MODEL_NAME} (embedded)`);
  const ir = `${out}/model.lir`;
  const sum = `${out}/summary.json`;
  await writeFileAtomic(ir, printGraph(model.graph) + "\n");
  await writeFileAtomic(sum, JSON.stringify(summary, null, 2) + "\n");
  return { model: summary.model, out, files: { ir, summary: sum }, summary, ms: { import: t1 - t0, verify: t2 - t1, total: performance.now() - t0 } };
}

function baseName(p: string): string {
  const b = p.slice(p.lastIndexOf("/") + 1);
  const d = b.lastIndexOf(".");
  return d > 0 ? b.slice(0, d) : b;
}
