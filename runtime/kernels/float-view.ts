/**
 * Numeric tensors through float64, for kernels that interpolate (Resize, GridSample): bf16 bit patterns
 * and 64-bit integers are decoded on the way in, and results are narrowed to the storage type on the way
 * out (integers truncate toward zero and saturate, as numpy's astype does for in-range values).
 */
import type { DType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { storageOf } from "../../ir/dtype.ts";
import type { Tensor, TypedArray } from "../tensor.ts";
import { bf16ToNumber, numberToBf16 } from "./number-view.ts";

export function toFloat64(t: Tensor): Float64Array {
  const d = t.data;
  if (d instanceof Array) throw new LatheError("runtime", "expected a numeric tensor, got strings");
  if (d instanceof Float64Array) return d;
  const n = d.length;
  const out = new Float64Array(n);
  const s = storageOf(t.dtype);
  if (s === "bf16") {
    for (let i = 0; i < n; i++) out[i] = bf16ToNumber(d[i] as number);
  } else if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    for (let i = 0; i < n; i++) out[i] = Number(d[i]);
  } else {
    for (let i = 0; i < n; i++) out[i] = d[i] as number;
  }
  return out;
}

const INT_RANGE: Record<string, [number, number]> = {
  i8: [-128, 127],
  u8: [0, 255],
  i16: [-32768, 32767],
  u16: [0, 65535],
  i32: [-2147483648, 2147483647],
  u32: [0, 4294967295],
  i4: [-8, 7],
  u4: [0, 15],
  bool: [0, 1],
};

/** Writes float64 results into a tensor's storage of `dtype`. */
export function fromFloat64(dtype: DType, src: Float64Array, dst: TypedArray): void {
  const s = storageOf(dtype);
  const n = src.length;
  if (s === "f32" || s === "f64" || s === "f16") {
    (dst as Float64Array).set(src);
    return;
  }
  if (s === "bf16") {
    for (let i = 0; i < n; i++) dst[i] = numberToBf16(src[i]);
    return;
  }
  if (s === "i64" || s === "u64") {
    const lo = s === "i64" ? -9223372036854775808 : 0,
      hi = s === "i64" ? 9223372036854775807 : 18446744073709551615;
    for (let i = 0; i < n; i++) {
      const v = src[i];
      dst[i] = BigInt(Number.isNaN(v) ? 0 : Math.trunc(Math.min(hi, Math.max(lo, v)))) as any;
    }
    return;
  }
  const range = s ? INT_RANGE[s] : undefined;
  if (!range) throw new LatheError("runtime", `cannot write numbers into ${String(s)} storage`);
  const [lo, hi] = range;
  for (let i = 0; i < n; i++) {
    const v = src[i];
    dst[i] = Number.isNaN(v) ? 0 : Math.trunc(Math.min(hi, Math.max(lo, v)));
  }
}
