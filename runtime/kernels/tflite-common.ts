/**
 * Shared pieces of the `tfl.*` kernels: operand access, fused-activation ranges, NHWC window geometry
 * (the padding rules live in ir/ops/tflite-geometry.ts so inference and kernels agree).
 */
import { printDType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { type Axis, windowAxis } from "../../ir/ops/tflite-geometry.ts";
import { expectTensor, type RValue, type Tensor } from "../tensor.ts";

export function fail(reason: string): never {
  throw new LatheError("runtime", reason);
}

export function arg(inputs: readonly (RValue | undefined)[], i: number, what: string): Tensor {
  const v = inputs[i];
  if (v === undefined) fail(`${what} (operand ${i}) is missing`);
  return expectTensor(v, what);
}

export function optArg(inputs: readonly (RValue | undefined)[], i: number): Tensor | undefined {
  const v = inputs[i];
  return v === undefined ? undefined : expectTensor(v, `operand ${i}`);
}

/**
 * A float32 operand. Quantized operands belong to the integer kernels; reaching a float kernel with one
 * means no integer variant handles this case.
 */
export function f32Arg(
  inputs: readonly (RValue | undefined)[],
  i: number,
  what: string,
): Tensor & { data: Float32Array } {
  const t = arg(inputs, i, what);
  if (t.dtype !== "f32") {
    throw new LatheError("unsupported", `${what} is ${printDType(t.dtype)}; the float kernel takes f32`);
  }
  return t as Tensor & { data: Float32Array };
}

/** Clamp bounds of a fused activation (RELU, RELU6, RELU_N1_TO_1); TANH and SIGN_BIT are not clamps. */
export function activationRange(name: string): [number, number] {
  switch (name) {
    case "NONE":
      return [-Infinity, Infinity];
    case "RELU":
      return [0, Infinity];
    case "RELU6":
      return [0, 6];
    case "RELU_N1_TO_1":
      return [-1, 1];
    default:
      throw new LatheError("unsupported", `fused activation ${name}`);
  }
}

/** Applies a fused activation in place. */
export function applyActivation(data: Float32Array, name: string): void {
  if (name === "NONE") return;
  if (name === "TANH") {
    for (let i = 0; i < data.length; i++) data[i] = Math.tanh(data[i]);
    return;
  }
  const [lo, hi] = activationRange(name);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    data[i] = v < lo ? lo : v > hi ? hi : v;
  }
}

/** A window axis at run time: geometry errors are runtime errors here. */
export function runtimeAxis(
  padding: string,
  size: number,
  kernel: number,
  stride: number,
  dilation = 1,
): Axis {
  try {
    return windowAxis(padding, size, kernel, stride, dilation);
  } catch (e) {
    if (e instanceof LatheError) fail(e.reason);
    throw e;
  }
}

export function nhwc(t: Tensor, what: string): [number, number, number, number] {
  if (t.shape.length !== 4) fail(`${what} must be NHWC (rank 4), is [${t.shape}]`);
  return t.shape as unknown as [number, number, number, number];
}

/** The values of a small integer operand (shapes, axes, paddings). */
export function intsOf(t: Tensor): number[] {
  const out = new Array<number>(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Number(t.data[i]);
  return out;
}

/** Axis normalized against a rank, or a runtime error. */
export function axisOf(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) fail(`axis ${axis} out of range for rank ${rank}`);
  return a;
}
