/**
 * Process replay for emitted drivers (anchors-and-style.md §6.6, after tinygrad): a case keeps the
 * emitter's inputs — the partitioned graph as IR text with every constant, the target and the emit
 * options — beside the driver sources emitted from them. Re-emitting must reproduce those sources byte for
 * byte: a refactor of the emitter changes nothing, and an intended change updates the committed output in
 * the same commit (`deno run -A targets/emit/replay.ts update tests/replay`).
 *
 * A case folder: graph.lir, case.json ({ target, options }), and driver/ with the generated files plus
 * files.txt, the list of every file the driver consists of.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Graph } from "../../ir/graph.ts";
import { parseGraph, printGraph } from "../../ir/text.ts";
import { ensureDir, writeFileAtomic } from "../../compiler/atomic-write.ts";
import { renderDriver } from "./emit.ts";
import type { StepOptions } from "./step.ts";

export interface ReplayCase {
  readonly target: string;
  readonly options: StepOptions;
}

/** The files a case's driver folder holds, from the emitter's inputs. */
export function replayOutputs(graph: Graph, c: ReplayCase): Map<string, string> {
  const r = renderDriver(graph, c.target, c.options);
  const out = new Map<string, string>();
  for (const f of r.generated) out.set(f, r.files.get(f) as string);
  out.set("files.txt", [...r.files.keys()].sort().join("\n") + "\n");
  return out;
}

/** Records a case: the graph text, the case, and the driver emitted now. */
export async function writeReplayCase(dir: string, graph: Graph, c: ReplayCase): Promise<void> {
  await ensureDir(`${dir}/driver`);
  await writeFileAtomic(`${dir}/graph.lir`, printGraph(graph, { elideOver: Infinity }) + "\n");
  await writeFileAtomic(`${dir}/case.json`, JSON.stringify(c, null, 2) + "\n");
  for (const [f, text] of replayOutputs(graph, c)) await writeFileAtomic(`${dir}/driver/${f}`, text);
}

async function readCase(dir: string): Promise<{ graph: Graph; c: ReplayCase }> {
  const graph = parseGraph(await Deno.readTextFile(`${dir}/graph.lir`));
  const c = JSON.parse(await Deno.readTextFile(`${dir}/case.json`)) as ReplayCase;
  if (typeof c.target !== "string") throw new LatheError("format", "case.json has no target", { file: dir });
  return { graph, c: { target: c.target, options: c.options ?? {} } };
}

export interface ReplayDiff {
  readonly file: string;
  /** 1-based line of the first difference, 0 when a file is missing on one side. */
  readonly line: number;
  readonly want: string;
  readonly got: string;
}

/** Re-emits a case and lists the files that differ from the recorded ones. */
export async function replayCase(dir: string): Promise<ReplayDiff[]> {
  const { graph, c } = await readCase(dir);
  const diffs: ReplayDiff[] = [];
  const outputs = replayOutputs(graph, c);
  const recorded = new Set<string>();
  for (const e of Deno.readDirSync(`${dir}/driver`)) if (e.isFile) recorded.add(e.name);
  for (const [f, got] of outputs) {
    recorded.delete(f);
    let want: string;
    try {
      want = await Deno.readTextFile(`${dir}/driver/${f}`);
    } catch {
      diffs.push({ file: f, line: 0, want: "(missing)", got: "(emitted)" });
      continue;
    }
    if (want === got) continue;
    const a = want.split("\n"), b = got.split("\n");
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    diffs.push({ file: f, line: i + 1, want: a[i] ?? "(end)", got: b[i] ?? "(end)" });
  }
  for (const f of recorded) diffs.push({ file: f, line: 0, want: "(recorded)", got: "(not emitted)" });
  return diffs;
}

/** The case folders under `root`. */
export function replayCases(root: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(root)) if (e.isDirectory) out.push(`${root}/${e.name}`);
  return out.sort();
}

if (import.meta.main) {
  const [cmd, root] = Deno.args;
  if (cmd !== "update" || !root) {
    console.error(
      "usage: deno run -A targets/emit/replay.ts update ROOT   (re-records every case's driver/)",
    );
    Deno.exit(2);
  }
  for (const dir of replayCases(root)) {
    const { graph, c } = await readCase(dir);
    for (const e of Deno.readDirSync(`${dir}/driver`)) {
      if (e.isFile) await Deno.remove(`${dir}/driver/${e.name}`);
    }
    for (const [f, text] of replayOutputs(graph, c)) await writeFileAtomic(`${dir}/driver/${f}`, text);
    console.log(`updated ${dir}`);
  }
}
