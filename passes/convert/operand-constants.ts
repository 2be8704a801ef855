/**
 * Small constant operands that converted ops take as tensors where the source had attributes (TFLite's
 * perm, axes, paddings and shapes; ONNX's axes, pads and sizes), made through the rewriter so they land in
 * the graph with the node that reads them.
 */
import { numbersConstant } from "../../ir/builder.ts";
import type { ValueRef } from "../pattern.ts";
import type { Rewriter } from "../rewrite.ts";

/** An integer vector (or, with `shape`, any integer tensor) operand. */
export function intOperand(
  rw: Rewriter,
  hint: string,
  dtype: "i32" | "i64",
  values: readonly number[],
  shape?: readonly number[],
): ValueRef {
  return rw.constant(hint, numbersConstant(dtype, shape ?? [values.length], values));
}

/** A rank-0 int32 operand (TFLite's SPLIT and EXPAND_DIMS axis). */
export function i32Scalar(rw: Rewriter, hint: string, value: number): ValueRef {
  return rw.constant(hint, numbersConstant("i32", [], [value]));
}

export function f32Operand(
  rw: Rewriter,
  hint: string,
  shape: readonly number[],
  values: ArrayLike<number>,
): ValueRef {
  return rw.constant(hint, numbersConstant("f32", shape, values));
}
