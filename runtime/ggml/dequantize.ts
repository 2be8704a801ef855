/**
 * Dequantization of any supported ggml type to f32, dispatched by GGUF type id (ir/ggml-type.ts).
 * Results are bit-identical to ggml's `to_float` for that type.
 */
import { GGML_TYPES, type GgmlTypeInfo } from "../../ir/ggml-type.ts";
import { LatheError } from "../../ir/errors.ts";
import { dequantizeBf16, dequantizeF16, dequantizeF32 } from "./fp16.ts";
import { dequantizeIQ4_NL, dequantizeIQ4_XS } from "./iq4.ts";
import {
  dequantizeQ2_K,
  dequantizeQ3_K,
  dequantizeQ4_K,
  dequantizeQ5_K,
  dequantizeQ6_K,
  dequantizeQ8_K,
} from "./k-quants.ts";
import { dequantizeMXFP4 } from "./mxfp4.ts";
import {
  dequantizeQ4_0,
  dequantizeQ4_1,
  dequantizeQ5_0,
  dequantizeQ5_1,
  dequantizeQ8_0,
  dequantizeQ8_1,
} from "./q-legacy.ts";

/** (src bytes, src byte offset, dst, dst element offset, element count) */
export type DequantizeRow = (
  src: Uint8Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
) => void;

const ROWS: ReadonlyMap<number, DequantizeRow> = new Map<number, DequantizeRow>([
  [0, dequantizeF32],
  [1, dequantizeF16],
  [2, dequantizeQ4_0],
  [3, dequantizeQ4_1],
  [6, dequantizeQ5_0],
  [7, dequantizeQ5_1],
  [8, dequantizeQ8_0],
  [9, dequantizeQ8_1],
  [10, dequantizeQ2_K],
  [11, dequantizeQ3_K],
  [12, dequantizeQ4_K],
  [13, dequantizeQ5_K],
  [14, dequantizeQ6_K],
  [15, dequantizeQ8_K],
  [20, dequantizeIQ4_NL],
  [23, dequantizeIQ4_XS],
  [30, dequantizeBf16],
  [39, dequantizeMXFP4],
]);

/** Type ids this module decodes. */
export const DEQUANTIZABLE_TYPES: readonly number[] = [...ROWS.keys()];

export function canDequantize(typeId: number): boolean {
  return ROWS.has(typeId);
}

export function dequantizeKernel(typeId: number): DequantizeRow {
  const f = ROWS.get(typeId);
  if (!f) throw unsupported(typeId);
  return f;
}

/**
 * Decodes `count` elements of type `typeId` from `src` (starting at byte `srcOff`) into `dst` (from
 * element `dstOff`), or into a new array when `dst` is omitted.
 */
export function dequantize(
  typeId: number,
  src: Uint8Array,
  count: number,
  dst?: Float32Array,
  srcOff = 0,
  dstOff = 0,
): Float32Array {
  const f = ROWS.get(typeId);
  if (!f) throw unsupported(typeId);
  const info = GGML_TYPES.get(typeId)!;
  const bytes = checkedBytes(info, count);
  if (srcOff < 0 || srcOff + bytes > src.length) {
    throw new LatheError(
      "runtime",
      `${info.name}: ${count} elements need ${bytes} bytes from offset ${srcOff}`,
    );
  }
  const out = dst ?? new Float32Array(count);
  if (dstOff < 0 || dstOff + count > out.length) {
    throw new LatheError(
      "runtime",
      `${info.name}: output has room for ${out.length - dstOff} of ${count} elements`,
    );
  }
  f(src, srcOff, out, dstOff, count);
  return out;
}

function checkedBytes(info: GgmlTypeInfo, count: number): number {
  if (!Number.isSafeInteger(count) || count < 0 || count % info.blockSize !== 0) {
    throw new LatheError(
      "runtime",
      `${info.name}: ${count} elements do not fill whole blocks of ${info.blockSize}`,
    );
  }
  return (count / info.blockSize) * info.typeSize;
}

function unsupported(id: number): LatheError {
  const name = GGML_TYPES.get(id)?.name;
  return new LatheError("unsupported", `dequantization of ggml type ${name ?? id} is not implemented`);
}
