/**
 * Activation quantizers of ggml's x86 CPU backend (the AVX/AVX2/AVX-512 `quantize_row_q8_0` and
 * `quantize_row_q8_1`, and the repacked-GEMM `ggml_quantize_mat_q8_0_4x8`, which computes the same bytes).
 * They differ from the reference quantizers in two ways that move some codes by one: the inverse scale is
 * 127 / amax rather than 1 / (amax / 127), and rounding is to nearest even rather than half away from zero.
 * Q8_K has no x86-specific quantizer: the backend calls the reference one.
 */
import { writeF16 } from "./fp16.ts";
import { absMax32 } from "./q-legacy.ts";
import type { QuantizeRow } from "./quantize.ts";

const fr = Math.fround;

function roundHalfEven(v: number): number {
  let r = Math.round(v);
  if (r - v === 0.5 && (r & 1) !== 0) r -= 1;
  return r < -128 ? -128 : r > 127 ? 127 : r;
}

export function quantizeQ8_0X86(
  src: Float32Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  n: number,
): void {
  const nb = n >> 5;
  for (let i = 0; i < nb; i++) {
    const x = srcOff + 32 * i;
    const amax = absMax32(src, x);
    const id = amax !== 0 ? fr(127 / amax) : 0;
    const b = dstOff + 34 * i;
    writeF16(dst, b, fr(amax / 127));
    for (let j = 0; j < 32; j++) dst[b + 2 + j] = roundHalfEven(fr(src[x + j] * id)) & 0xff;
  }
}

export function quantizeQ8_1X86(
  src: Float32Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  n: number,
): void {
  const nb = n >> 5;
  for (let i = 0; i < nb; i++) {
    const x = srcOff + 32 * i;
    const amax = absMax32(src, x);
    const d = fr(amax / 127);
    const id = amax !== 0 ? fr(127 / amax) : 0;
    const b = dstOff + 36 * i;
    writeF16(dst, b, d);
    let sum = 0;
    for (let j = 0; j < 32; j++) {
      const q = roundHalfEven(fr(src[x + j] * id));
      dst[b + 4 + j] = q & 0xff;
      sum += q;
    }
    writeF16(dst, b + 2, fr(d * sum));
  }
}

/** The x86 backend's quantizer for an activation type, when it differs from the reference one. */
export function x86ActivationQuantizer(typeId: number): QuantizeRow | undefined {
  return typeId === 8 ? quantizeQ8_0X86 : typeId === 9 ? quantizeQ8_1X86 : undefined;
}
