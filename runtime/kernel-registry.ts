/**
 * Kernels by op key. A kernel takes its input values and a context (resolved attributes, an allocator that
 * reuses buffers freed by value lifetime, and a way to run subgraphs) and returns its outputs.
 */
import type { DType } from "../ir/dtype.ts";
import type { Graph, Node } from "../ir/graph.ts";
import type { ValueType } from "../ir/value-type.ts";
import { LatheError } from "../ir/errors.ts";
import type { RValue, Tensor } from "./tensor.ts";

export interface KernelContext {
  readonly node: Node;
  readonly attrs: Readonly<Record<string, any>>;
  /** Inferred output types (may be undefined or symbolic); kernels compute real shapes themselves. */
  readonly outputTypes: readonly (ValueType | undefined)[];
  /** An uninitialized tensor (possibly a reused buffer): the kernel must write every element. */
  alloc(dtype: DType, shape: readonly number[]): Tensor;
  /** A zero-filled tensor. */
  zeros(dtype: DType, shape: readonly number[]): Tensor;
  /** Runs a subgraph (If/Loop/Scan bodies) with the given inputs; outer-scope values stay visible. */
  runGraph(g: Graph, inputs: readonly (RValue | undefined)[]): RValue[];
  /** Seed for ops that draw random numbers, derived from the run's seed and the node. */
  readonly seed: number;
  /** What a registered graph analysis says of this node in the graph being run (see registerGraphAnalysis). */
  analysis<T>(name: string): T | undefined;
}

/**
 * A whole-graph fact some kernels need and a node alone does not tell: e.g. which nodes LiteRT's XNNPACK
 * delegate would run channel-first, which depends on their neighbours. A Session computes each analysis
 * once per graph it plans; kernels read their node's entry with `ctx.analysis(name)`.
 */
export type GraphAnalysis = (g: Graph) => ReadonlyMap<Node, unknown>;

const analyses = new Map<string, GraphAnalysis>();

export function registerGraphAnalysis(name: string, analyze: GraphAnalysis): void {
  if (analyses.has(name)) throw new Error(`graph analysis ${name} registered twice`);
  analyses.set(name, analyze);
}

/** Every registered analysis of `g`, by name (analyses with nothing to say are left out). */
export function analyzeGraph(g: Graph): ReadonlyMap<string, ReadonlyMap<Node, unknown>> {
  const out = new Map<string, ReadonlyMap<Node, unknown>>();
  for (const [name, analyze] of analyses) {
    const r = analyze(g);
    if (r.size) out.set(name, r);
  }
  return out;
}

export type Kernel = (inputs: readonly (RValue | undefined)[], ctx: KernelContext) => RValue[];

export interface KernelVariant {
  /** Which inputs this variant handles (e.g. quantized element types); omitted means any. */
  accepts?: (inputs: readonly (RValue | undefined)[], ctx: KernelContext) => boolean;
  /** For messages: "int8", "float". */
  label?: string;
}

const variants = new Map<string, { kernel: Kernel; opts: KernelVariant }[]>();
const dispatchers = new Map<string, Kernel>();

/**
 * Registers a kernel for an op. An op may have several variants (float and integer arithmetic live in
 * different files); the first registered variant whose `accepts` holds runs. A variant without `accepts`
 * is the fallback and is tried last.
 */
export function registerKernel(op: string, k: Kernel, opts: KernelVariant = {}): void {
  const list = variants.get(op) ?? [];
  if (!opts.accepts && list.some((v) => !v.opts.accepts)) {
    throw new Error(`kernel for ${op} registered twice`);
  }
  list.push({ kernel: k, opts });
  list.sort((a, b) => Number(!a.opts.accepts) - Number(!b.opts.accepts));
  variants.set(op, list);
  dispatchers.delete(op);
}

export function getKernel(op: string): Kernel | undefined {
  let d = dispatchers.get(op);
  if (d) return d;
  const list = variants.get(op);
  if (!list?.length) return undefined;
  if (list.length === 1 && !list[0].opts.accepts) d = list[0].kernel;
  else {
    d = (inputs, ctx) => {
      for (const v of list) if (!v.opts.accepts || v.opts.accepts(inputs, ctx)) return v.kernel(inputs, ctx);
      const kinds = inputs.map((x) => (x && "dtype" in x ? JSON.stringify((x as Tensor).dtype) : "-")).join(
        ", ",
      );
      throw new LatheError(
        "unsupported",
        `no ${op} kernel for inputs (${kinds}); variants: ${list.map((v) => v.opts.label ?? "?").join(", ")}`,
      );
    };
  }
  dispatchers.set(op, d);
  return d;
}

export function kernelOps(): string[] {
  return [...variants.keys()].sort();
}
