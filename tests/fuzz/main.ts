/**
 * `deno task fuzz [--count N] [--seed S] [--format onnx|tflite|gguf] [--json]`: mutates corpus model files
 * and imports each mutant. A finding is any exception other than LatheError, a case that runs longer than
 * the hang limit, or resident memory above the bound. Findings print with the seed and case index that
 * reproduce them. Exit code 1 when there is a finding.
 */
import { parseArgs } from "node:util";
import { CORPUS_DIR } from "../support/corpus.ts";

const HANG_MS = 20_000;
/** Resident memory bound for the whole fuzzing process: the largest corpus file is 14 MB. */
const RSS_BOUND = 1536 * 1024 * 1024;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    count: { type: "string", default: "10000" },
    seed: { type: "string", default: "1" },
    format: { type: "string", multiple: true },
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(
    "usage: deno task fuzz [--count N per format] [--seed S] [--format onnx|tflite|gguf ...] [--json]",
  );
  Deno.exit(0);
}

const EXT: Record<string, string> = { onnx: ".onnx", tflite: ".tflite", gguf: ".gguf" };
function corpusFiles(ext: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory && e.name !== "onnx-node-suite") walk(p);
      else if (e.isFile && e.name.endsWith(ext) && Deno.statSync(p).size < 16 * 1024 * 1024) out.push(p);
    }
  };
  walk(CORPUS_DIR.replace(/\/$/, ""));
  return out.sort();
}

const formats = values.format?.length ? values.format : Object.keys(EXT);
const count = Number(values.count), seed = Number(values.seed);
const summary: Record<
  string,
  { cases: number; rejected: number; ok: number; findings: unknown[]; peakRss: number; ms: number }
> = {};
let anyFinding = false;

for (const fmt of formats) {
  let files = corpusFiles(EXT[fmt]);
  // Large files make each case slow; the small ones exercise the same parser paths.
  files = files.filter((f) => Deno.statSync(f).size <= 6 * 1024 * 1024);
  if (!files.length) {
    console.error(`SKIP ${fmt}: no corpus files under ${CORPUS_DIR}`);
    continue;
  }
  const s = (summary[fmt] = { cases: 0, rejected: 0, ok: 0, findings: [] as unknown[], peakRss: 0, ms: 0 });
  const t0 = performance.now();
  let next = 0;
  while (next < count) {
    const result = await runWorker(fmt, files, count, seed, next, s);
    next = result.next;
    if (result.hang) {
      anyFinding = true;
      s.findings.push({ kind: "hang", ...result.hang });
      next++;
    }
  }
  s.ms = performance.now() - t0;
  if (s.findings.length) anyFinding = true;
  if (!values.json) {
    console.log(
      `${fmt}: ${s.cases} mutants from ${files.length} files: ${s.rejected} rejected with LatheError, ${s.ok} imported, ${s.findings.length} findings; peak RSS ${
        (s.peakRss / 2 ** 20).toFixed(0)
      } MB (bound ${RSS_BOUND / 2 ** 20} MB); ${(s.ms / 1000).toFixed(1)} s`,
    );
    for (const f of s.findings.slice(0, 20)) console.log("  finding:", JSON.stringify(f).slice(0, 2000));
  }
}
if (values.json) console.log(JSON.stringify(summary, null, 2));
const total = Object.values(summary).reduce((p, s) => p + s.findings.length, 0);
console.log(
  `${Object.values(summary).reduce((p, s) => p + s.cases - s.findings.length, 0)} passed, ${total} failed`,
);
Deno.exit(anyFinding ? 1 : 0);

function runWorker(
  fmt: string,
  files: string[],
  count: number,
  seed: number,
  start: number,
  s: (typeof summary)[string],
): Promise<{ next: number; hang?: unknown }> {
  return new Promise((resolve) => {
    const w = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
    let current: any = { i: start };
    let timer = 0;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        w.terminate();
        resolve({ next: current.i, hang: { ...current, seed, format: fmt, limitMs: HANG_MS } });
      }, HANG_MS);
    };
    arm();
    w.onmessage = (e) => {
      const m = e.data;
      if (m.type === "start") {
        current = m;
        arm();
      } else if (m.type === "done") {
        s.cases++;
        if (m.outcome === "rejected") s.rejected++;
        else if (m.outcome === "ok") s.ok++;
        else s.findings.push({ kind: "foreign exception", seed, format: fmt, ...current, detail: m.detail });
        s.peakRss = Math.max(s.peakRss, m.rss);
        if (m.rss > RSS_BOUND) s.findings.push({ kind: "memory", seed, format: fmt, ...current, rss: m.rss });
        if (!values.json && s.cases % 1000 === 0) console.error(`${fmt}: ${s.cases}/${count} ...`);
      } else if (m.type === "finished") {
        clearTimeout(timer);
        w.terminate();
        resolve({ next: count });
      }
    };
    w.onerror = (e) => {
      e.preventDefault();
      clearTimeout(timer);
      w.terminate();
      s.findings.push({ kind: "worker crash", seed, format: fmt, ...current, detail: e.message });
      resolve({ next: current.i + 1 });
    };
    w.postMessage({ files, count, seed, start });
  });
}
