/**
 * Where the learned operands of a layer sit, per op and dialect, and in which layout: parameter and
 * precision faults act on these. Layout letters: O output channels, I input channels, H/W kernel rows and
 * columns, N/K matrix rows and columns (ONNX Conv is OIHW, ConvTranspose IOHW, tfl CONV_2D OHWI, tfl
 * DEPTHWISE_CONV_2D 1HWO, Gemm/MatMul KN unless transposed, tfl FULLY_CONNECTED NK).
 */
import type { Constant } from "../../ir/constant.ts";
import type { Graph, Node } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import { f32ConstantAt } from "./graph-edit.ts";

export interface WeightOperand {
  input: number;
  constant: Constant;
  layout: string;
}

const WEIGHTS: Record<string, { input: number; layout: (n: Node) => string }> = {
  Conv: { input: 1, layout: () => "OIHW" },
  ConvTranspose: { input: 1, layout: () => "IOHW" },
  Gemm: { input: 1, layout: (n) => (resolveAttrs(n).transB ? "NK" : "KN") },
  MatMul: { input: 1, layout: () => "KN" },
  "tfl.CONV_2D": { input: 1, layout: () => "OHWI" },
  "tfl.DEPTHWISE_CONV_2D": { input: 1, layout: () => "1HWO" },
  "tfl.TRANSPOSE_CONV": { input: 1, layout: () => "OHWI" },
  "tfl.FULLY_CONNECTED": { input: 1, layout: () => "NK" },
};

const BIASES: Record<string, number> = {
  Conv: 2,
  ConvTranspose: 2,
  Gemm: 2,
  "tfl.CONV_2D": 2,
  "tfl.DEPTHWISE_CONV_2D": 2,
  "tfl.TRANSPOSE_CONV": 3,
  "tfl.FULLY_CONNECTED": 2,
};

export const WEIGHTED_OPS = Object.keys(WEIGHTS);
export const BIASED_OPS = Object.keys(BIASES);

/** The node's f32 constant weight operand, when it has one. */
export function weightOf(g: Graph, n: Node): WeightOperand | undefined {
  const w = WEIGHTS[n.op];
  if (!w) return undefined;
  const c = f32ConstantAt(g, n, w.input);
  if (!c) return undefined;
  const layout = w.layout(n);
  return c.shape.length === layout.length ? { input: w.input, constant: c, layout } : undefined;
}

/** The node's f32 constant bias operand, when it has one. */
export function biasOf(g: Graph, n: Node): { input: number; constant: Constant } | undefined {
  const i = BIASES[n.op];
  if (i === undefined) return undefined;
  const c = f32ConstantAt(g, n, i);
  return c ? { input: i, constant: c } : undefined;
}
