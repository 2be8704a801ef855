/**
 * `mutate MODEL --out DIR --kinds K1,K2 --count N --seed S`: writes N faulty variants per mutation kind in
 * the model's own format, plus DIR/manifest.json with the ground truth of each (what changed, in which
 * node, how many targets were tried). A variant is kept only when its graph verifies and its outputs on a
 * seeded input differ from the original's beyond the conformance tolerance; a target without an observable
 * effect is set aside and another tried.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Graph, Model } from "../../ir/graph.ts";
import { inferGraph } from "../../ir/infer.ts";
import { printValueType } from "../../ir/value-type.ts";
import { verifyGraph } from "../../ir/verify.ts";
import { dialectOf } from "../../passes/mutate/graph-edit.ts";
import { getKind, mutationKinds } from "../../passes/mutate/index.ts";
import {
  type Change,
  type Dialect,
  type MutationKind,
  type NodeRef,
  type TouchedNodes,
  touchedNodes,
} from "../../passes/mutate/kind.ts";
import { compareTensors } from "../../runtime/compare.ts";
import { Session } from "../../runtime/interpreter.ts";
import { Rng } from "../../runtime/random.ts";
import { type RValue, Tensor } from "../../runtime/tensor.ts";
import { ensureDir, writeFileAtomic } from "../atomic-write.ts";
import { DEFAULT_MODEL_NAME, defaultModel } from "../default-model.ts";
import "../formats.ts";
import { loadModel } from "../load-model.ts";
import { writeOnnxFile } from "../onnx/export.ts";
import { generateInput } from "../run.ts";
import { writeTfliteFile } from "../tflite/export.ts";

export interface MutateOptions {
  /** A .onnx or .tflite file; without it, the embedded default CNN (written as ONNX). */
  model?: string;
  out: string;
  /** Kind names (default: every kind). */
  kinds?: string[];
  /** Variants per kind (default 1). */
  count?: number;
  seed?: number;
  /** Seeded inputs on which to measure each variant's damage (default 0: only the acceptance check). */
  damage?: number;
  /** Targets tried per variant before giving up (default 16). */
  maxAttempts?: number;
  progress?: (line: string) => void;
}

/** Closeness to the original: numpy-style, the conformance suite's defaults. */
export const EFFECT_TOLERANCE = { rtol: 1e-4, atol: 1e-5 };

export interface OutputEffect {
  maxAbs: number;
  /** Largest |original|, the output's scale. */
  maxRef: number;
  /** Elements outside the tolerance. */
  outside: number;
  shapeChanged?: boolean;
}

export interface VariantEntry {
  file: string;
  kind: string;
  class: string;
  index: number;
  /** The run's seed, and the seed of this variant's generator (derived from seed, kind and index). */
  seed: number;
  variantSeed: number;
  /** Targets tried, this one included; the rejected ones and why. */
  attempts: number;
  rejected: { target: string; reason: string }[];
  node: NodeRef;
  description: string;
  nodes: TouchedNodes;
  changes: Change[];
  params: Record<string, unknown>;
  /** Values whose inferred type differs from the original's (strides, padding modes, reordering). */
  retyped?: { count: number; values: { name: string; before: string; after: string }[] };
  /** On the acceptance input: per output, and whether the top-1 class survived. */
  effect: { inputSeed: number; outputs: Record<string, OutputEffect>; top1Same?: boolean };
  damage?: Damage;
}

export interface Damage {
  inputs: number;
  /** Seeds of the inputs: firstSeed, firstSeed + 1, ... */
  firstSeed: number;
  /** Fraction of inputs whose first output's arg-max (per row) agrees with the original's. */
  top1Agreement?: number;
  /** Largest |variant - original| over every output element of every input. */
  maxAbs: number;
  /** Largest |original| over the same elements. */
  maxRef: number;
}

export interface MutateManifest {
  model: string;
  format: "onnx" | "tflite";
  dialect: Dialect;
  seed: number;
  count: number;
  kinds: string[];
  check: { inputSeed: number; rtol: number; atol: number };
  variants: VariantEntry[];
  skipped: {
    kind: string;
    index?: number;
    reason: string;
    rejected?: { target: string; reason: string }[];
  }[];
}

export interface MutateResult {
  manifest: MutateManifest;
  manifestPath: string;
  ms: { load: number; mutate: number; total: number };
}

/** FNV-1a over the text, so a variant's generator depends on (seed, kind, index) and not on the others. */
export function variantSeed(seed: number, kind: string, index: number): number {
  let h = 0x811c9dc5;
  for (const ch of `${seed}/${kind}/${index}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

export async function mutateModel(opts: MutateOptions): Promise<MutateResult> {
  const t0 = performance.now();
  const count = opts.count ?? 1, seed = opts.seed ?? 0, maxAttempts = opts.maxAttempts ?? 16;
  if (!(Number.isInteger(count) && count >= 1)) {
    throw new LatheError("usage", `--count must be a positive integer, got ${count}`);
  }
  if (!Number.isSafeInteger(seed)) throw new LatheError("usage", `--seed must be an integer, got ${seed}`);
  const kinds = selectKinds(opts.kinds);
  const { model, format, stem, ext, source } = await openModel(opts.model);
  const graph = model.graph;
  const dialect = dialectOf(graph);
  const t1 = performance.now();
  await ensureDir(opts.out);

  const checkSeed = seed;
  const probe = new Prober(graph, checkSeed);
  const manifest: MutateManifest = {
    model: source,
    format,
    dialect,
    seed,
    count,
    kinds: kinds.map((k) => k.name),
    check: { inputSeed: checkSeed, ...EFFECT_TOLERANCE },
    variants: [],
    skipped: [],
  };

  for (const kind of kinds) {
    if (!kind.dialects.includes(dialect)) {
      manifest.skipped.push({
        kind: kind.name,
        reason: `not defined for the ${dialect} dialect (targets: ${kind.targets})`,
      });
      opts.progress?.(`${kind.name}: skipped (not defined for ${dialect})`);
      continue;
    }
    const used = new Set<string>(), made = new Set<string>();
    for (let index = 0; index < count; index++) {
      const vSeed = variantSeed(seed, kind.name, index);
      const found = findVariant(kind, graph, dialect, new Rng(vSeed), used, made, maxAttempts, probe);
      if (!found.ok) {
        manifest.skipped.push({
          kind: kind.name,
          index,
          reason: found.reason,
          ...(found.rejected.length ? { rejected: found.rejected } : {}),
        });
        opts.progress?.(`${kind.name}#${index}: skipped: ${found.reason}`);
        break;
      }
      used.add(found.target);
      made.add(JSON.stringify(found.record.changes));
      const file = `${stem}.${kind.name}.${index}${ext}`;
      const variant: Model = { graph: found.graph, meta: model.meta };
      if (format === "onnx") await writeOnnxFile(`${opts.out}/${file}`, variant);
      else await writeTfliteFile(`${opts.out}/${file}`, variant);
      const entry: VariantEntry = {
        file,
        kind: kind.name,
        class: kind.class,
        index,
        seed,
        variantSeed: vSeed,
        attempts: found.rejected.length + 1,
        rejected: found.rejected,
        node: found.record.node,
        description: found.record.description,
        nodes: touchedNodes(found.record.changes),
        changes: found.record.changes,
        params: found.record.params,
        effect: { inputSeed: checkSeed, ...found.effect },
      };
      const retyped = retypedValues(graph, found.graph);
      if (retyped.count) entry.retyped = retyped;
      if (opts.damage && opts.damage > 0) entry.damage = probe.damage(found.graph, opts.damage);
      manifest.variants.push(entry);
      opts.progress?.(
        `${kind.name}#${index}: ${found.record.description} (${entry.attempts} attempt${
          entry.attempts > 1 ? "s" : ""
        })`,
      );
    }
  }
  const manifestPath = `${opts.out}/manifest.json`;
  await writeFileAtomic(manifestPath, JSON.stringify(manifest, null, 2) + "\n");
  const t2 = performance.now();
  return { manifest, manifestPath, ms: { load: t1 - t0, mutate: t2 - t1, total: t2 - t0 } };
}

function selectKinds(names: string[] | undefined): MutationKind[] {
  if (!names?.length) return mutationKinds();
  return names.map((n) => {
    const k = getKind(n);
    if (!k) {
      throw new LatheError(
        "usage",
        `unknown mutation kind '${n}' (kinds: ${mutationKinds().map((x) => x.name).join(", ")})`,
      );
    }
    return k;
  });
}

async function openModel(
  path: string | undefined,
): Promise<{ model: Model; format: "onnx" | "tflite"; stem: string; ext: string; source: string }> {
  if (!path) {
    return {
      model: defaultModel(),
      format: "onnx",
      stem: DEFAULT_MODEL_NAME,
      ext: ".onnx",
      source: `(embedded ${DEFAULT_MODEL_NAME})`,
    };
  }
  const model = await loadModel(path);
  const format = model.meta.format;
  if (format !== "onnx" && format !== "tflite") {
    throw new LatheError("unsupported", `mutate writes ONNX and TFLite models; this is ${format}`, {
      file: path,
    });
  }
  const base = path.slice(path.lastIndexOf("/") + 1);
  const dot = base.lastIndexOf(".");
  return {
    model,
    format,
    stem: dot > 0 ? base.slice(0, dot) : base,
    ext: format === "onnx" ? ".onnx" : ".tflite",
    source: path,
  };
}

const DUPLICATE = "the same change as an earlier variant";

type Found =
  | {
    ok: true;
    graph: Graph;
    record: NonNullable<ReturnType<MutationKind["apply"]>>["record"];
    target: string;
    rejected: { target: string; reason: string }[];
    effect: Omit<VariantEntry["effect"], "inputSeed">;
  }
  | { ok: false; reason: string; rejected: { target: string; reason: string }[] };

/**
 * Tries targets until one gives a valid graph with an observable effect. Targets earlier variants of the
 * kind used are avoided while others remain, so the N variants spread over the graph.
 */
function findVariant(
  kind: MutationKind,
  graph: Graph,
  dialect: Dialect,
  rng: Rng,
  used: ReadonlySet<string>,
  made: ReadonlySet<string>,
  maxAttempts: number,
  probe: Prober,
): Found {
  const rejected: { target: string; reason: string }[] = [];
  const avoid = new Set(used);
  while (rejected.length < maxAttempts) {
    const r = kind.apply(graph, rng, { dialect, avoid });
    if (!r) {
      // Every fresh target is spent: earlier variants' targets may be mutated again (other random choices).
      if ([...used].some((u) => avoid.has(u) && !rejected.some((x) => x.target === u))) {
        for (const u of used) if (!rejected.some((x) => x.target === u)) avoid.delete(u);
        continue;
      }
      const reason = rejected.length === 0 && used.size === 0
        ? `not applicable: nothing in the graph to target (${kind.targets})`
        : made.size > 0
        ? `no further distinct variant (${made.size} made; ${
          rejected.filter((x) => x.reason !== DUPLICATE).length
        } other targets tried)`
        : `no target with an observable effect (${rejected.length} tried)`;
      return { ok: false, reason, rejected };
    }
    avoid.add(r.target);
    if (made.has(JSON.stringify(r.record.changes))) {
      rejected.push({ target: r.target, reason: DUPLICATE });
      continue;
    }
    let g: Graph;
    try {
      g = inferGraph(r.graph);
      const issues = verifyGraph(g);
      if (issues.length) {
        throw new LatheError(
          "verify",
          issues.slice(0, 3).map((i) => `${i.where}: ${i.reason}`).join("; "),
        );
      }
    } catch (e) {
      if (!(e instanceof LatheError)) throw e;
      rejected.push({ target: r.target, reason: `invalid graph: ${e.reason}` });
      continue;
    }
    const effect = probe.effect(g);
    if (typeof effect === "string") {
      rejected.push({ target: r.target, reason: effect });
      continue;
    }
    return { ok: true, graph: g, record: r.record, target: r.target, rejected, effect };
  }
  return {
    ok: false,
    reason: `no target with an observable effect within ${maxAttempts} attempts`,
    rejected,
  };
}

/** Runs the original once per seeded input (cached) and compares variants with it. */
class Prober {
  private cache = new Map<number, Record<string, RValue>>();
  constructor(private readonly graph: Graph, private readonly checkSeed: number) {}

  /** Inputs from the seed for `g`'s own input types (a re-declared layout gets the same elements). */
  private inputs(g: Graph, seed: number): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    let k = 0;
    for (const name of g.inputs) {
      if (g.constants[name]) continue;
      out[name] = generateInput(g, name, k++, seed);
    }
    return out;
  }

  private original(seed: number): Record<string, RValue> {
    let o = this.cache.get(seed);
    if (!o) {
      try {
        o = new Session(this.graph).run(this.inputs(this.graph, seed)).outputs;
      } catch (e) {
        if (!(e instanceof LatheError)) throw e;
        throw new LatheError(
          e.kind,
          `the original model must run in Lathe's runtime to check each variant's effect: ${e.reason}`,
          e.where,
          { cause: e },
        );
      }
      this.cache.set(seed, o);
    }
    return o;
  }

  /** The effect on the acceptance input, or why the variant is rejected. */
  effect(g: Graph): Omit<VariantEntry["effect"], "inputSeed"> | string {
    const want = this.original(this.checkSeed);
    let got: Record<string, RValue>;
    try {
      got = new Session(g).run(this.inputs(g, this.checkSeed)).outputs;
    } catch (e) {
      if (e instanceof LatheError) return `does not run: ${e.reason}`;
      throw e;
    }
    const outputs: Record<string, OutputEffect> = {};
    let observable = false;
    this.graph.outputs.forEach((name, i) => {
      const a = got[g.outputs[i]], e = want[name];
      if (!(a instanceof Tensor) || !(e instanceof Tensor)) return;
      const eff = compareOutput(a, e);
      outputs[name] = eff;
      if (eff.outside > 0 || eff.shapeChanged) observable = true;
    });
    if (!observable) {
      const worst = Math.max(0, ...Object.values(outputs).map((o) => o.maxAbs));
      return `no observable effect (max abs difference ${
        worst.toExponential(2)
      } within rtol ${EFFECT_TOLERANCE.rtol}, atol ${EFFECT_TOLERANCE.atol})`;
    }
    const top = top1Same(got[g.outputs[0]], want[this.graph.outputs[0]]);
    return { outputs, ...(top === undefined ? {} : { top1Same: top === 1 }) };
  }

  damage(g: Graph, n: number): Damage {
    const session = new Session(g);
    let agree = 0, rows = 0, maxAbs = 0, maxRef = 0;
    const first = this.checkSeed + 1;
    for (let j = 0; j < n; j++) {
      const want = this.original(first + j);
      const got = session.run(this.inputs(g, first + j)).outputs;
      this.graph.outputs.forEach((name, i) => {
        const a = got[g.outputs[i]], e = want[name];
        if (!(a instanceof Tensor) || !(e instanceof Tensor)) return;
        const eff = compareOutput(a, e);
        maxAbs = Math.max(maxAbs, eff.maxAbs);
        maxRef = Math.max(maxRef, eff.maxRef);
      });
      const t = top1Same(got[g.outputs[0]], want[this.graph.outputs[0]]);
      if (t !== undefined) (agree += t, rows++);
    }
    return { inputs: n, firstSeed: first, ...(rows ? { top1Agreement: agree / rows } : {}), maxAbs, maxRef };
  }
}

/** Values both graphs define whose types differ, the first 20 listed. */
function retypedValues(a: Graph, b: Graph): NonNullable<VariantEntry["retyped"]> {
  const values: { name: string; before: string; after: string }[] = [];
  let count = 0;
  for (const [name, info] of Object.entries(a.values)) {
    const other = b.values[name];
    if (!other) continue;
    const before = printValueType(info.type), after = printValueType(other.type);
    if (before === after) continue;
    if (count++ < 20) values.push({ name, before, after });
  }
  return { count, values };
}

function compareOutput(a: Tensor, e: Tensor): OutputEffect {
  const maxRef = maxAbsOf(e);
  if (a.shape.length !== e.shape.length || a.shape.some((d, k) => d !== e.shape[k])) {
    return { maxAbs: Infinity, maxRef, outside: a.data.length, shapeChanged: true };
  }
  const c = compareTensors(a, e, EFFECT_TOLERANCE.rtol, EFFECT_TOLERANCE.atol);
  // compareTensors counts only the worst element; count them all for the record.
  let outside = 0;
  if (!c.ok && !(a.data instanceof Array)) {
    const x = a.data, y = e.data;
    for (let i = 0; i < x.length; i++) {
      const p = Number(x[i]), q = Number(y[i]);
      if (Number.isNaN(p) && Number.isNaN(q)) continue;
      if (!(Math.abs(p - q) <= EFFECT_TOLERANCE.atol + EFFECT_TOLERANCE.rtol * Math.abs(q))) outside++;
    }
  } else if (!c.ok) outside = 1;
  return { maxAbs: Number.isNaN(c.maxAbs) ? Infinity : c.maxAbs, maxRef, outside };
}

function maxAbsOf(t: Tensor): number {
  if (t.data instanceof Array) return 0;
  let m = 0;
  for (let i = 0; i < t.data.length; i++) m = Math.max(m, Math.abs(Number(t.data[i])));
  return m;
}

/**
 * Fraction of rows (last axis = classes) whose arg-max agrees; undefined unless both are float tensors of
 * the same shape with more than one class.
 */
export function top1Same(a: RValue | undefined, e: RValue | undefined): number | undefined {
  if (
    !(a instanceof Tensor) || !(e instanceof Tensor) || a.data instanceof Array || e.data instanceof Array
  ) return undefined;
  if (
    !(a.data instanceof Float32Array || a.data instanceof Float64Array) || a.data.length !== e.data.length
  ) return undefined;
  const classes = e.shape[e.shape.length - 1];
  if (!(classes > 1) || a.shape.length !== e.shape.length) return undefined;
  const rows = e.data.length / classes;
  let same = 0;
  for (let r = 0; r < rows; r++) {
    if (
      argmax(a.data as Float32Array, r * classes, classes) ===
        argmax(e.data as Float32Array, r * classes, classes)
    ) same++;
  }
  return same / rows;
}

function argmax(x: ArrayLike<number | bigint>, off: number, n: number): number {
  let best = 0, bv = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = Number(x[off + i]);
    if (v > bv) (bv = v, best = i);
  }
  return best;
}
