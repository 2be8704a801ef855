/** Reading kernel operands: required and optional tensors, small integer operands, scalar fill values. */
import { printDType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { expectTensor, type RValue, Tensor } from "../tensor.ts";
import type { Storage } from "./movement.ts";

export function fail(reason: string): never {
  throw new LatheError("runtime", reason);
}

export function tensorArg(inputs: readonly (RValue | undefined)[], i: number, what: string): Tensor {
  return expectTensor(inputs[i], what);
}

/** An optional operand; an empty tensor counts as omitted only when `emptyIsAbsent`. */
export function optTensor(
  inputs: readonly (RValue | undefined)[],
  i: number,
  emptyIsAbsent = false,
): Tensor | undefined {
  const v = inputs[i];
  if (v === undefined) return undefined;
  const t = expectTensor(v, `input ${i}`);
  return emptyIsAbsent && t.data.length === 0 ? undefined : t;
}

/** Integer operand values as numbers (INT64 extremes become ±9.22e18, which clamp like infinities). */
export function intValues(t: Tensor): number[] {
  const d = t.data;
  const out = new Array<number>(d.length);
  for (let i = 0; i < d.length; i++) {
    const v = Number(d[i]);
    if (Number.isNaN(v)) fail(`operand value ${d[i]} is not a number`);
    out[i] = v;
  }
  return out;
}

export function scalarValue(t: Tensor, what: string): number {
  if (t.data.length !== 1) fail(`${what} must have one element, has ${t.data.length}`);
  return Number(t.data[0]);
}

/** A value in the representation of a storage class: bigint for 64-bit integers, string for strings. */
export function storageValue(data: Storage, v: number | bigint | string): unknown {
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    return typeof v === "bigint" ? v : BigInt(typeof v === "string" ? v : Math.trunc(v));
  }
  if (data instanceof Array) return typeof v === "string" ? v : String(v);
  return typeof v === "bigint" ? Number(v) : v;
}

export function zeroOf(data: Storage): unknown {
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return 0n;
  if (data instanceof Array) return "";
  return 0;
}

/** Rejects output sizes no JS array can hold before anything is allocated. */
export function checkedSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) fail(`invalid output dimension ${d} in [${shape}]`);
    n *= d;
  }
  if (n > 2 ** 32) fail(`output of ${n} elements ([${shape}]) is too large`);
  return n;
}

/** A tensor sharing another's data under a new shape (views: Reshape, Squeeze, Identity...). */
export function view(t: Tensor, shape: readonly number[]): Tensor {
  return new Tensor(t.dtype, shape, t.data);
}

/**
 * A data operand whose elements a kernel moves one by one. ggml and MX block formats store bytes, not
 * elements, so element-moving kernels reject them instead of scrambling the blocks.
 */
export function dataArg(inputs: readonly (RValue | undefined)[], i: number, what: string): Tensor {
  const t = expectTensor(inputs[i], what);
  const d = t.dtype;
  if (typeof d === "object" && (d.kind === "ggml" || d.kind === "mx")) {
    throw new LatheError(
      "unsupported",
      `${what} is block-quantized (${printDType(d)}); dequantize before moving elements`,
    );
  }
  return t;
}
