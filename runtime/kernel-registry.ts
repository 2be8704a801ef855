/**
 * Kernels by op key. A kernel takes its input values and a context (resolved attributes, an allocator that
 * reuses buffers freed by value lifetime, and a way to run subgraphs) and returns its outputs.
 */
import type { DType } from "../ir/dtype.ts";
import type { Graph, Node } from "../ir/graph.ts";
import type { ValueType } from "../ir/value-type.ts";
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
}

export type Kernel = (inputs: readonly (RValue | undefined)[], ctx: KernelContext) => RValue[];

const kernels = new Map<string, Kernel>();

export function registerKernel(op: string, k: Kernel): void {
  if (kernels.has(op)) throw new Error(`kernel for ${op} registered twice`);
  kernels.set(op, k);
}

export function getKernel(op: string): Kernel | undefined {
  return kernels.get(op);
}

export function kernelOps(): string[] {
  return [...kernels.keys()].sort();
}
