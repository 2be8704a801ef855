/**
 * f32 → ggml block types with ggml's reference quantizers (no importance matrix), dispatched by GGUF type
 * id. Output bytes equal `quantize_row_*_ref` (and so `ggml_quantize_chunk` without an imatrix).
 */
import { GGML_TYPES } from "../../ir/ggml-type.ts";
import { LatheError } from "../../ir/errors.ts";
import { quantizeBf16, quantizeF16 } from "./fp16.ts";
import {
  quantizeQ2_K,
  quantizeQ3_K,
  quantizeQ4_K,
  quantizeQ5_K,
  quantizeQ6_K,
  quantizeQ8_K,
} from "./k-quants.ts";
import { quantizeMXFP4 } from "./mxfp4.ts";
import {
  quantizeQ4_0,
  quantizeQ4_1,
  quantizeQ5_0,
  quantizeQ5_1,
  quantizeQ8_0,
  quantizeQ8_1,
} from "./q-legacy.ts";

/** (src, src element offset, dst bytes, dst byte offset, element count) */
export type QuantizeRow = (
  src: Float32Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  n: number,
) => void;

const ROWS: ReadonlyMap<number, QuantizeRow> = new Map<number, QuantizeRow>([
  [
    0,
    (s, so, d, dO, n) =>
      new Uint8Array(d.buffer, d.byteOffset + dO, 4 * n).set(
        new Uint8Array(s.buffer, s.byteOffset + 4 * so, 4 * n),
      ),
  ],
  [1, (s, so, d, dO, n) => quantizeF16(s.subarray(so, so + n), d, dO)],
  [2, quantizeQ4_0],
  [3, quantizeQ4_1],
  [6, quantizeQ5_0],
  [7, quantizeQ5_1],
  [8, quantizeQ8_0],
  [9, quantizeQ8_1],
  [10, quantizeQ2_K],
  [11, quantizeQ3_K],
  [12, quantizeQ4_K],
  [13, quantizeQ5_K],
  [14, quantizeQ6_K],
  [15, quantizeQ8_K],
  [30, (s, so, d, dO, n) => quantizeBf16(s.subarray(so, so + n), d, dO)],
  [39, quantizeMXFP4],
]);

export const QUANTIZABLE_TYPES: readonly number[] = [...ROWS.keys()];

export function canQuantize(typeId: number): boolean {
  return ROWS.has(typeId);
}

export function quantizeKernel(typeId: number): QuantizeRow {
  const f = ROWS.get(typeId);
  if (!f) throw unsupported(typeId);
  return f;
}

/** Quantizes all of `src` (its length must fill whole blocks) to a new byte array of type `typeId`. */
export function quantize(typeId: number, src: Float32Array, dst?: Uint8Array, dstOff = 0): Uint8Array {
  const f = ROWS.get(typeId);
  if (!f) throw unsupported(typeId);
  const info = GGML_TYPES.get(typeId)!;
  const n = src.length;
  if (n % info.blockSize !== 0) {
    throw new LatheError(
      "runtime",
      `${info.name}: ${n} elements do not fill whole blocks of ${info.blockSize}`,
    );
  }
  const bytes = (n / info.blockSize) * info.typeSize;
  const out = dst ?? new Uint8Array(bytes);
  if (dstOff < 0 || dstOff + bytes > out.length) {
    throw new LatheError(
      "runtime",
      `${info.name}: output has room for ${out.length - dstOff} of ${bytes} bytes`,
    );
  }
  f(src, 0, out, dstOff, n);
  return out;
}

function unsupported(id: number): LatheError {
  const name = GGML_TYPES.get(id)?.name;
  return new LatheError("unsupported", `quantization to ggml type ${name ?? id} is not implemented`);
}
