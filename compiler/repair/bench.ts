/**
 * `repair-bench`: the repair benchmark. For each model: convert it with Lathe to the other format (ONNX ↔
 * TFLite), mutate the conversion with every kind at N seeds (compiler/mutate: faulty variants plus the
 * ground truth of each), and repair every variant against the original (source = the original model,
 * target = the mutated conversion). Per fault kind it reports how often the fault was detected (a
 * divergence found), localized to the exact node (the top finding's node is the one the mutation touched,
 * in the target, or in the source paired with it by the diff's node matching), and fully repaired (outputs
 * back within rtol of the source), and the time per case.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Graph } from "../../ir/graph.ts";
import { matchGraphs } from "../../passes/diff/match.ts";
import { ensureDir } from "../atomic-write.ts";
import { convertModel } from "../convert.ts";
import "../formats.ts";
import { loadModel } from "../load-model.ts";
import { mutateModel, type VariantEntry } from "../mutate/mutate.ts";
import { conversionOf, repairModel, type RepairReport } from "./repair.ts";

const CORPUS = new URL("../../../shared/corpus/", import.meta.url);

/** The acceptance models: three torch exports and two float MediaPipe models. */
export const BENCH_MODELS: Readonly<Record<string, string>> = {
  mobilenet_v2: "onnx/torch/mobilenet_v2.onnx",
  squeezenet1_1: "onnx/torch/squeezenet1_1.onnx",
  dcgan_generator: "onnx/torch/dcgan_generator.onnx",
  face_detection_short_range: "tflite/mediapipe/face_detection_short_range.tflite",
  palm_detection_lite: "tflite/mediapipe/palm_detection_lite.tflite",
};

export interface BenchOptions {
  /** Names from BENCH_MODELS or model paths (default: all of BENCH_MODELS). */
  readonly models?: readonly string[];
  /** Mutation kinds (default: every kind). */
  readonly kinds?: readonly string[];
  /** Variants per kind (default 5). */
  readonly seeds?: number;
  /** Random input samples per repair (default 8). */
  readonly inputs?: number;
  /** Seconds per repair (default 120). */
  readonly budget?: number;
  /** Seed of the mutations (default 0). */
  readonly seed?: number;
  /** Where the converted, mutated and repaired files go (default a temporary folder, removed after). */
  readonly work?: string;
  readonly onProgress?: (line: string) => void;
}

export interface BenchCase {
  readonly model: string;
  readonly kind: string;
  readonly class: string;
  readonly index: number;
  readonly file: string;
  readonly description: string;
  readonly node: string;
  readonly detected: boolean;
  /** The top finding against the source as Lathe converts it (one dialect, FetaFix's convention). */
  readonly localized: boolean;
  /** The top finding against the source itself (across dialects). */
  readonly localizedVsSource: boolean;
  /** A kept change edited the mutated node. */
  readonly localizedByRepair: boolean;
  readonly repaired: boolean;
  readonly seconds: number;
  readonly stopped?: string;
  /** The top finding (or structural fault) and the nodes it named. */
  readonly top?: string;
  readonly changes: readonly string[];
  readonly error?: string;
}

export interface BenchRow {
  readonly name: string;
  readonly cases: number;
  readonly detected: number;
  readonly localized: number;
  readonly localizedVsSource: number;
  readonly localizedByRepair: number;
  readonly repaired: number;
  readonly meanSeconds: number;
  readonly maxSeconds: number;
}

export interface BenchResult {
  readonly models: readonly {
    name: string;
    source: string;
    converted: string;
    variants: number;
    skipped: { kind: string; reason: string }[];
  }[];
  readonly cases: readonly BenchCase[];
  readonly byKind: readonly (BenchRow & { class: string })[];
  readonly byModel: readonly BenchRow[];
  readonly overall: BenchRow;
  readonly ms: number;
}

function resolveModel(name: string): { name: string; path: string } {
  const known = BENCH_MODELS[name];
  if (known) return { name, path: new URL(known, CORPUS).pathname };
  const base = name.slice(name.lastIndexOf("/") + 1).replace(/\.(onnx|tflite)$/i, "");
  return { name: base, path: name };
}

function row(name: string, cs: readonly BenchCase[]): BenchRow {
  const s = cs.map((c) => c.seconds);
  return {
    name,
    cases: cs.length,
    detected: cs.filter((c) => c.detected).length,
    localized: cs.filter((c) => c.localized).length,
    localizedVsSource: cs.filter((c) => c.localizedVsSource).length,
    localizedByRepair: cs.filter((c) => c.localizedByRepair).length,
    repaired: cs.filter((c) => c.repaired).length,
    meanSeconds: s.length ? s.reduce((a, b) => a + b, 0) / s.length : 0,
    maxSeconds: s.length ? Math.max(...s) : 0,
  };
}

/** The nodes a mutation touched (the ground truth a localization is scored against). */
function truthOf(v: VariantEntry): Set<string> {
  const truth = new Set<string>([v.node.id, ...v.nodes.changed, ...v.nodes.inserted, ...v.nodes.removed]);
  if (v.class === "input") { for (const n of v.nodes.rewired) truth.add(n); }
  return truth;
}

/**
 * Whether a localization's top finding names the node the mutation touched: in the target directly, or
 * through the source node the diff's matching pairs with it in the unmutated conversion. Structural input
 * faults come first (the repair handles them before localizing).
 */
function exactLocalization(
  structural: RepairReport["localization"]["structural"],
  findings: RepairReport["localization"]["findings"] | undefined,
  truth: ReadonlySet<string>,
  sourceToConverted?: ReadonlyMap<string, string>,
): { ok: boolean; top?: string } {
  const s = structural[0];
  if (s) return { ok: s.nodes.some((n) => truth.has(n)), top: `${s.rule}: ${s.nodes.join(", ")}` };
  const f = findings?.[0];
  if (!f) return { ok: false };
  const mapped = f.sourceNode ? sourceToConverted?.get(f.sourceNode) : undefined;
  const ok = (!!f.targetNode && truth.has(f.targetNode)) || (!!mapped && truth.has(mapped)) ||
    !!f.nodes?.some((n) => truth.has(n));
  return {
    ok,
    top: `${f.kind}/${f.fault} at ${f.targetNode ?? "-"}${
      f.sourceNode ? ` (source ${f.sourceNode}${mapped ? ` = ${mapped}` : ""})` : ""
    }`,
  };
}

/** Whether the kept changes edited a node the mutation touched (the repair's own localization). */
function repairedAt(r: RepairReport, truth: ReadonlySet<string>): boolean {
  for (const c of r.changes) {
    if (c.finding?.targetNode && truth.has(c.finding.targetNode)) return true;
    for (const e of c.edits) if ("node" in e && e.type !== "inputs" && truth.has(e.node)) return true;
  }
  return false;
}

/** Source node ids to the ids of the nodes they pair with in the conversion. */
function nodePairs(source: Graph, converted: Graph): Map<string, string> {
  const m = matchGraphs(source, converted);
  const out = new Map<string, string>();
  for (const p of m.pairs) {
    if (p.source.node && p.target.node && !out.has(p.source.node)) out.set(p.source.node, p.target.node);
  }
  return out;
}

export async function runRepairBench(opts: BenchOptions = {}): Promise<BenchResult> {
  const t0 = performance.now();
  const seeds = opts.seeds ?? 5;
  if (!(Number.isInteger(seeds) && seeds >= 1)) {
    throw new LatheError("usage", `--seeds must be a positive integer, got ${seeds}`);
  }
  const log = opts.onProgress ?? (() => {});
  const names = opts.models?.length ? opts.models : Object.keys(BENCH_MODELS);
  const work = opts.work ?? await Deno.makeTempDir({ prefix: "lathe-repair-bench-" });
  await ensureDir(work);
  const cases: BenchCase[] = [];
  const models: BenchResult["models"][number][] = [];
  try {
    for (const n of names) {
      const { name, path } = resolveModel(n);
      const fromOnnx = path.toLowerCase().endsWith(".onnx");
      const converted = `${work}/${name}${fromOnnx ? ".tflite" : ".onnx"}`;
      log(`${name}: converting ${path} to ${converted}`);
      await convertModel(path, converted);
      const variantsDir = `${work}/${name}-variants`;
      log(
        `${name}: mutating with ${opts.kinds?.length ? opts.kinds.join(", ") : "every kind"} (${seeds} each)`,
      );
      const mutated = await mutateModel({
        model: converted,
        out: variantsDir,
        kinds: opts.kinds ? [...opts.kinds] : undefined,
        count: seeds,
        seed: opts.seed ?? 0,
      });
      const variants = mutated.manifest.variants;
      models.push({
        name,
        source: path,
        converted,
        variants: variants.length,
        skipped: mutated.manifest.skipped.map((s) => ({ kind: s.kind, reason: s.reason })),
      });
      const sourceModel = await loadModel(path), convertedGraph = (await loadModel(converted)).graph;
      const pairs = nodePairs(sourceModel.graph, convertedGraph);
      // The repair's same-dialect reference is the source converted in memory: its nodes to the file's.
      const shapes: Record<string, number[]> = {};
      for (const i of sourceModel.graph.inputs) {
        const t = sourceModel.graph.values[i]?.type;
        if (t?.kind === "tensor" && t.shape?.every((d) => typeof d === "number")) {
          shapes[i] = t.shape as number[];
        }
      }
      const reference = conversionOf(sourceModel, fromOnnx ? "tflite" : "onnx", shapes);
      const refPairs = reference ? nodePairs(reference, convertedGraph) : new Map<string, string>();
      for (const [i, v] of variants.entries()) {
        const target = `${variantsDir}/${v.file}`;
        const out = `${work}/${name}-repaired/${v.file}`;
        await ensureDir(`${work}/${name}-repaired`);
        const t = performance.now();
        let c: BenchCase;
        try {
          const r = await repairModel({
            source: path,
            target,
            out,
            count: opts.inputs ?? 8,
            budget: opts.budget ?? 120,
            verify: false,
          });
          const truth = truthOf(v);
          const vsSource = exactLocalization(
            r.localization.structural,
            r.localization.findings,
            truth,
            pairs,
          );
          const vsConverted = r.localization.converted
            ? exactLocalization(r.localization.structural, r.localization.converted, truth, refPairs)
            : vsSource;
          const loc = vsConverted;
          c = {
            model: name,
            kind: v.kind,
            class: v.class,
            index: v.index,
            file: v.file,
            description: v.description,
            node: v.node.id,
            detected: r.detected,
            localized: loc.ok,
            localizedVsSource: vsSource.ok,
            localizedByRepair: repairedAt(r, truth),
            repaired: r.agree,
            seconds: (performance.now() - t) / 1000,
            stopped: r.stopped,
            ...(loc.top ? { top: loc.top } : {}),
            changes: r.changes.map((x) => x.description),
          };
        } catch (e) {
          c = {
            model: name,
            kind: v.kind,
            class: v.class,
            index: v.index,
            file: v.file,
            description: v.description,
            node: v.node.id,
            detected: false,
            localized: false,
            localizedVsSource: false,
            localizedByRepair: false,
            repaired: false,
            seconds: (performance.now() - t) / 1000,
            changes: [],
            error: e instanceof Error ? e.message : String(e),
          };
        }
        cases.push(c);
        log(
          `[${name} ${i + 1}/${variants.length}] ${v.kind}#${v.index}: ${
            c.detected ? "detected" : "NOT detected"
          }, ${c.localized ? "localized" : "NOT localized"}, ${c.repaired ? "repaired" : "NOT repaired"} (${
            c.seconds.toFixed(1)
          } s)${c.error ? ` error: ${c.error}` : ""}`,
        );
      }
    }
  } finally {
    if (!opts.work) await Deno.remove(work, { recursive: true }).catch(() => {});
  }
  const kinds = [...new Set(cases.map((c) => c.kind))];
  return {
    models,
    cases,
    byKind: kinds.map((k) => ({
      ...row(k, cases.filter((c) => c.kind === k)),
      class: cases.find((c) => c.kind === k)!.class,
    })),
    byModel: models.map((m) => row(m.name, cases.filter((c) => c.model === m.name))),
    overall: row("overall", cases),
    ms: performance.now() - t0,
  };
}

export function formatBench(r: BenchResult): string {
  const pct = (x: number, n: number) => (n ? `${(100 * x / n).toFixed(1)}%` : "-");
  const cols = (x: BenchRow) =>
    [
      String(x.cases).padStart(5),
      pct(x.detected, x.cases).padStart(9),
      pct(x.localized, x.cases).padStart(9),
      pct(x.localizedVsSource, x.cases).padStart(9),
      pct(x.localizedByRepair, x.cases).padStart(9),
      pct(x.repaired, x.cases).padStart(9),
      x.meanSeconds.toFixed(1).padStart(7),
      x.maxSeconds.toFixed(1).padStart(7),
    ].join(" ");
  const line = (x: BenchRow, cls = "") => `${x.name.padEnd(28)} ${cls.padEnd(16)} ${cols(x)}`;
  const head = `${"".padEnd(28)} ${"class".padEnd(16)} ${"cases".padStart(5)} ${"detected".padStart(9)} ${
    "loc.conv".padStart(9)
  } ${"loc.src".padStart(9)} ${"loc.fix".padStart(9)} ${"repaired".padStart(9)} ${"mean s".padStart(7)} ${
    "max s".padStart(7)
  }`;
  const failures = r.cases.filter((c) => !c.detected || !c.localized || !c.repaired);
  return [
    head,
    ...r.byKind.map((x) => line(x, x.class)),
    "",
    ...r.byModel.map((x) => line(x)),
    line(r.overall),
    "loc.conv: top finding against the source as Lathe converts it (one dialect); loc.src: against the source",
    "itself; loc.fix: a kept change edited the mutated node. Structural input faults count first in all three.",
    ...r.models.flatMap((m) => m.skipped.map((s) => `  ${m.name}: ${s.kind} skipped: ${s.reason}`)),
    ...(failures.length
      ? ["", "cases short of full marks (detected, localized against the conversion, repaired):"]
      : []),
    ...failures.map((c) =>
      `  ${c.model} ${c.kind}#${c.index}: ${!c.detected ? "not detected; " : ""}${
        !c.localized ? `not localized (top: ${c.top ?? "none"}); ` : ""
      }${!c.repaired ? `not repaired (${c.stopped ?? c.error})` : ""} — ${c.description}`
    ),
    "",
    `${r.cases.length} cases in ${(r.ms / 1000).toFixed(0)} s`,
  ].join("\n");
}
