/**
 * Numeric kernels (reductions, normalizations, quantization) do their arithmetic on plain JS numbers. Most
 * storage types can be indexed as numbers directly; bf16 (stored as bit patterns) and the 64-bit integer
 * types (BigInt arrays) cannot, so they are converted once per call here instead of per element in every
 * kernel's hot loop.
 */
import type { DType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import type { KernelContext } from "../kernel-registry.ts";
import { type NumericArray, type RValue, Tensor } from "../tensor.ts";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function bf16ToNumber(bits: number): number {
  u32[0] = bits << 16;
  return f32[0];
}

/** Round to nearest even, keeping NaN a quiet NaN. */
export function numberToBf16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if (Number.isNaN(x)) return (b >>> 16) | 0x40;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

function storageKind(dtype: DType): string {
  if (typeof dtype === "string") return dtype;
  if (dtype.kind === "affine") return dtype.storage;
  throw new LatheError("runtime", `a block-quantized tensor cannot be read as numbers; dequantize it first`);
}

/**
 * The elements of a tensor as an indexable number array: the tensor's own data when its storage already
 * reads as numbers (never written to), otherwise a converted copy.
 */
export function readNumbers(t: Tensor): NumericArray {
  const kind = storageKind(t.dtype);
  const d = t.data;
  if (d instanceof Array) throw new LatheError("runtime", "string tensors have no numeric value");
  if (kind === "bf16") {
    const out = new Float32Array(d.length);
    for (let i = 0; i < d.length; i++) out[i] = bf16ToNumber(d[i] as number);
    return out;
  }
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    const out = new Float64Array(d.length);
    for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
    return out;
  }
  return d;
}

/** A numeric input that must be present and be a tensor. */
export function tensorArg(inputs: readonly (RValue | undefined)[], i: number, what: string): Tensor {
  const v = inputs[i];
  if (v instanceof Tensor) return v;
  throw new LatheError("runtime", `${what} (input ${i}) must be a tensor`);
}

/** An output being filled with numbers: `buf` is the tensor's storage or a staging array that `done` converts. */
export interface NumberSink {
  readonly buf: NumericArray;
  done(): Tensor;
}

/** Allocates an output whose elements the kernel writes as numbers (integers are truncated toward zero). */
export function numberSink(ctx: KernelContext, dtype: DType, shape: readonly number[]): NumberSink {
  const kind = storageKind(dtype);
  const out = ctx.alloc(dtype, shape);
  const d = out.data;
  if (d instanceof Array) throw new LatheError("runtime", "string tensors have no numeric value");
  if (kind === "bf16") {
    const stage = new Float32Array(d.length);
    return {
      buf: stage,
      done() {
        for (let i = 0; i < stage.length; i++) d[i] = numberToBf16(stage[i]);
        return out;
      },
    };
  }
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    const stage = new Float64Array(d.length);
    const big = d instanceof BigInt64Array;
    return {
      buf: stage,
      done() {
        for (let i = 0; i < stage.length; i++) {
          const v = stage[i];
          const t = Number.isFinite(v) ? Math.trunc(v) : 0;
          d[i] = big ? BigInt.asIntN(64, BigInt(t)) : BigInt.asUintN(64, BigInt(t));
        }
        return out;
      },
    };
  }
  if (kind === "bool") {
    const stage = new Float64Array(d.length);
    return {
      buf: stage,
      done() {
        for (let i = 0; i < stage.length; i++) d[i] = stage[i] !== 0 ? 1 : 0;
        return out;
      },
    };
  }
  return { buf: d, done: () => out };
}

/** Strides of the axes before `axis`, the axis itself and those after, for [outer, D, inner] loops. */
export function splitAt(
  shape: readonly number[],
  axis: number,
): { outer: number; dim: number; inner: number } {
  let outer = 1, inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i];
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  return { outer, dim: shape[axis] ?? 1, inner };
}

/** Resolves a possibly negative axis at run time, as a runtime error rather than a verify error. */
export function runtimeAxis(axis: number, rank: number, what = "axis"): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= Math.max(rank, 1)) {
    throw new LatheError("runtime", `${what} ${axis} is out of range for rank ${rank}`);
  }
  return a;
}
