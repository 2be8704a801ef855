/**
 * One node of the partitioned graph as driver code: a step emitter reads the node (its operands' static
 * types, constant operands' values, attributes), does at compile time what TFLite's Prepare would do
 * (multipliers, lookup tables), and returns the C++ statements that run the node, with the kernel headers
 * they need. Steps are registered per op; a node no step takes is refused with the reason.
 */
import type { Constant } from "../../ir/constant.ts";
import type { DType, ScalarDType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import type { Graph, Node } from "../../ir/graph.ts";

export interface StaticTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly storage: ScalarDType;
  readonly ctype: string;
  /** Bytes per element. */
  readonly bytes: number;
  readonly count: number;
}

export interface StepOptions {
  /** Send every accelerator call from a packet table, even where the stream is a tile loop. */
  readonly packetTables?: boolean;
}

export interface StepContext {
  readonly graph: Graph;
  readonly options: StepOptions;
  readonly node: Node;
  /** The node's attributes resolved with their declared defaults. */
  readonly attrs: Readonly<Record<string, any>>;
  /** The static type of a value or constant. */
  tensor(name: string): StaticTensor;
  /** The constant behind an operand, if it is one. */
  constant(name: string | null | undefined): Constant | undefined;
  /** A C++ pointer expression to a value's or constant's elements, as `ctype` (default: its own type). */
  ptr(name: string, ctype?: string): string;
  /** Declares a static const array in the driver and returns its name. */
  table(ctype: string, values: readonly string[], hint: string): string;
  /** A kernel header (relative to the driver folder) the statements need. */
  include(header: string): void;
  /** Refuses the node. */
  fail(reason: string): never;
}

export type StepEmitter = (ctx: StepContext) => string[];

const steps = new Map<string, StepEmitter>();

export function registerStep(op: string, emit: StepEmitter): void {
  if (steps.has(op)) throw new Error(`driver step for ${op} registered twice`);
  steps.set(op, emit);
}

export function stepFor(op: string): StepEmitter | undefined {
  return steps.get(op);
}

export function stepOps(): string[] {
  return [...steps.keys()].sort();
}

export function unsupported(node: Node, reason: string): never {
  throw new LatheError("unsupported", `driver emission: node ${node.id} (${node.op}): ${reason}`);
}
