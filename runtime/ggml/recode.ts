/**
 * Rows of one ggml block type re-encoded in another: each row decoded to f32 and quantized with ggml's
 * reference quantizer, one row at a time so a large matrix needs no f32 copy. This is what llama.cpp's
 * quantize does without an importance matrix; the GGUF requantizer and the ggml-requantize pass share it.
 */
import { GGML_TYPES } from "../../ir/ggml-type.ts";
import { dequantizeKernel } from "./dequantize.ts";
import { quantizeKernel } from "./quantize.ts";

/** `rows` rows of `rowLen` elements in type `from` (bytes) to type `to`; rowLen fills both types' blocks. */
export function recodeRows(
  bytes: Uint8Array,
  from: number,
  to: number,
  rows: number,
  rowLen: number,
): Uint8Array {
  const src = GGML_TYPES.get(from)!, dst = GGML_TYPES.get(to)!;
  const inRow = (rowLen / src.blockSize) * src.typeSize, outRow = (rowLen / dst.blockSize) * dst.typeSize;
  const out = new Uint8Array(rows * outRow);
  const row = new Float32Array(rowLen);
  const decode = dequantizeKernel(from), encode = quantizeKernel(to);
  for (let r = 0; r < rows; r++) {
    decode(bytes, r * inRow, row, 0, rowLen);
    encode(row, 0, out, r * outRow, rowLen);
  }
  return out;
}
