/**
 * Passes and pipelines. A pass declares its name, typed options with defaults, and what must run before it;
 * a pipeline is a string such as `canonicalize,fold-batchnorm,quantize{scheme=int8,calib=entropy}`, usable
 * from the CLI (`--passes`) and from code. The verifier runs between passes; instrumentation records time
 * and node-count change per pass and can print the IR after a pass or whenever a pass changed it.
 */
import { LatheError } from "../ir/errors.ts";
import type { Graph, Model } from "../ir/graph.ts";
import { printGraph } from "../ir/text.ts";
import { assertValid } from "../ir/verify.ts";
import type { Rule } from "./rewrite.ts";

export type OptionType = "string" | "int" | "float" | "bool";
export interface OptionSpec {
  readonly type: OptionType;
  readonly default: string | number | boolean;
  readonly choices?: readonly string[];
  readonly doc?: string;
}

export interface PassContext {
  /** Progress for long passes (calibration): `done` of `total`. */
  progress?: (pass: string, done: number, total: number, note?: string) => void;
}

export interface Pass {
  readonly name: string;
  readonly doc: string;
  readonly options?: Readonly<Record<string, OptionSpec>>;
  /** Passes that must have run earlier in the pipeline. */
  readonly requires?: readonly string[];
  /** The rules the pass applies, so `--explain RULE` can find them. */
  readonly rules?: readonly Rule[];
  run(model: Model, options: Record<string, any>, ctx: PassContext): Model | Promise<Model>;
}

const passes = new Map<string, Pass>();

export function registerPass(p: Pass): Pass {
  if (passes.has(p.name)) throw new Error(`pass ${p.name} registered twice`);
  passes.set(p.name, p);
  return p;
}
export function getPass(name: string): Pass | undefined {
  return passes.get(name);
}
export function listPasses(): Pass[] {
  return [...passes.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** A rule by `rule-name` or `pass.rule-name`, for `--explain`. */
export function findRule(name: string): { pass: string; rule: Rule } | undefined {
  for (const p of passes.values()) {
    for (const r of p.rules ?? []) {
      if (r.name === name || `${p.name}.${r.name}` === name) return { pass: p.name, rule: r };
    }
  }
  return undefined;
}

export interface PipelineStep {
  readonly name: string;
  readonly options: Readonly<Record<string, string>>;
}

/** `a,b{k=v,k2=v2},c` → steps. */
export function parsePipeline(text: string): PipelineStep[] {
  const steps: PipelineStep[] = [];
  let i = 0;
  const s = text.trim();
  while (i < s.length) {
    const m = /^[A-Za-z0-9_-]+/.exec(s.slice(i));
    if (!m) throw new LatheError("usage", `bad pipeline at '${s.slice(i)}' (expected a pass name)`);
    i += m[0].length;
    const options: Record<string, string> = {};
    if (s[i] === "{") {
      const end = s.indexOf("}", i);
      if (end < 0) throw new LatheError("usage", `unclosed '{' in pipeline '${s}'`);
      for (const kv of s.slice(i + 1, end).split(",").map((x) => x.trim()).filter(Boolean)) {
        const eq = kv.indexOf("=");
        if (eq <= 0) throw new LatheError("usage", `option '${kv}' of ${m[0]} is not key=value`);
        options[kv.slice(0, eq).trim()] = kv.slice(eq + 1).trim();
      }
      i = end + 1;
    }
    steps.push({ name: m[0], options });
    while (s[i] === " ") i++;
    if (i < s.length) {
      if (s[i] !== ",") throw new LatheError("usage", `expected ',' in pipeline at '${s.slice(i)}'`);
      i++;
    }
  }
  return steps;
}

export function resolveOptions(p: Pass, given: Readonly<Record<string, string>>): Record<string, any> {
  const out: Record<string, any> = {};
  const specs = p.options ?? {};
  for (const k of Object.keys(given)) {
    if (!specs[k]) {
      throw new LatheError(
        "usage",
        `pass ${p.name} has no option '${k}' (options: ${Object.keys(specs).join(", ") || "none"})`,
      );
    }
  }
  for (const [k, spec] of Object.entries(specs)) {
    const raw = given[k];
    if (raw === undefined) {
      out[k] = spec.default;
      continue;
    }
    switch (spec.type) {
      case "int": {
        const n = Number(raw);
        if (!Number.isInteger(n)) {
          throw new LatheError("usage", `${p.name}{${k}} expects an integer, got '${raw}'`);
        }
        out[k] = n;
        break;
      }
      case "float": {
        const n = Number(raw);
        if (!Number.isFinite(n)) {
          throw new LatheError("usage", `${p.name}{${k}} expects a number, got '${raw}'`);
        }
        out[k] = n;
        break;
      }
      case "bool":
        if (!["true", "false", "1", "0"].includes(raw)) {
          throw new LatheError("usage", `${p.name}{${k}} expects true or false`);
        }
        out[k] = raw === "true" || raw === "1";
        break;
      default:
        if (spec.choices && !spec.choices.includes(raw)) {
          throw new LatheError("usage", `${p.name}{${k}} is one of ${spec.choices.join(", ")}, got '${raw}'`);
        }
        out[k] = raw;
    }
  }
  return out;
}

export interface PassStats {
  pass: string;
  ms: number;
  nodesBefore: number;
  nodesAfter: number;
  changed: boolean;
}

export interface PipelineOptions extends PassContext {
  /** Run the verifier after every pass (default true). */
  verify?: boolean;
  /** Print the IR after these passes ("all" for every pass). */
  printAfter?: readonly string[] | "all";
  /** Print the IR after every pass that changed it. */
  printChanged?: boolean;
  /** Where printed IR goes (default stderr). */
  print?: (text: string) => void;
}

export async function runPipeline(
  model: Model,
  pipeline: string | readonly PipelineStep[],
  opts: PipelineOptions = {},
): Promise<{ model: Model; stats: PassStats[] }> {
  const steps = typeof pipeline === "string" ? parsePipeline(pipeline) : pipeline;
  const resolved = steps.map((st) => {
    const p = passes.get(st.name);
    if (!p) {
      throw new LatheError(
        "usage",
        `unknown pass '${st.name}' (passes: ${[...passes.keys()].sort().join(", ")})`,
      );
    }
    return { pass: p, options: resolveOptions(p, st.options) };
  });
  const ran = new Set<string>();
  for (const { pass } of resolved) {
    for (const r of pass.requires ?? []) {
      if (!ran.has(r)) {
        throw new LatheError("usage", `pass ${pass.name} requires ${r} earlier in the pipeline`);
      }
    }
    ran.add(pass.name);
  }
  const print = opts.print ?? ((t: string) => console.error(t));
  const stats: PassStats[] = [];
  let m = model;
  for (const { pass, options } of resolved) {
    const before = m.graph;
    const t0 = performance.now();
    m = await pass.run(m, options, opts);
    const ms = performance.now() - t0;
    const changed = m.graph !== before;
    if (opts.verify ?? true) {
      try {
        assertValid(m.graph);
      } catch (e) {
        if (e instanceof LatheError) {
          throw new LatheError("verify", `after pass ${pass.name}: ${e.reason}`, e.where, { cause: e });
        }
        throw e;
      }
    }
    stats.push({
      pass: pass.name,
      ms,
      nodesBefore: countNodes(before),
      nodesAfter: countNodes(m.graph),
      changed,
    });
    const wanted = opts.printAfter === "all" ||
      (Array.isArray(opts.printAfter) && opts.printAfter.includes(pass.name));
    if (wanted || (opts.printChanged && changed)) {
      print(`// ----- IR after ${pass.name}${changed ? "" : " (unchanged)"}\n${printGraph(m.graph)}`);
    }
  }
  return { model: m, stats };
}

function countNodes(g: Graph): number {
  return g.nodes.length;
}

/** Wraps a graph-to-graph function as a model pass. */
export function graphPass(
  name: string,
  doc: string,
  f: (g: Graph, options: Record<string, any>) => Graph,
  extra: Partial<Pass> = {},
): Pass {
  return {
    name,
    doc,
    ...extra,
    run: (m, o) => {
      const g = f(m.graph, o);
      return g === m.graph ? m : { ...m, graph: g };
    },
  };
}
