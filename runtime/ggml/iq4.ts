/**
 * ggml's non-linear 4-bit formats IQ4_NL (32-element blocks) and IQ4_XS (256-element super-blocks of
 * 8 × 32 with 6-bit sub-scales), formats.md §1.4. Codes index the table below rather than a linear grid.
 */
import { F16_TO_F32 } from "./fp16.ts";

const fr = Math.fround;

/** kvalues_iq4nl. */
export const IQ4NL_VALUES: Int8Array = Int8Array.of(
  -127,
  -104,
  -83,
  -65,
  -49,
  -35,
  -22,
  -10,
  1,
  13,
  25,
  38,
  53,
  69,
  89,
  113,
);

function f16(src: Uint8Array, o: number): number {
  return F16_TO_F32[src[o] | (src[o + 1] << 8)];
}

export function dequantizeIQ4_NL(
  src: Uint8Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
): void {
  const K = IQ4NL_VALUES;
  const nb = n >> 5;
  for (let i = 0; i < nb; i++) {
    const b = srcOff + 18 * i;
    const d = f16(src, b);
    const y = dstOff + 32 * i;
    for (let j = 0; j < 16; j++) {
      const q = src[b + 2 + j];
      dst[y + j] = d * K[q & 15];
      dst[y + j + 16] = d * K[q >> 4];
    }
  }
}

/** The 6-bit scale (biased by 32) of sub-block ib of the IQ4_XS block at b. */
export function iq4xsScale(src: Uint8Array, b: number, ib: number): number {
  const scalesH = src[b + 2] | (src[b + 3] << 8);
  return ((src[b + 4 + (ib >> 1)] >> (4 * (ib & 1))) & 15) | (((scalesH >> (2 * ib)) & 3) << 4);
}

export function dequantizeIQ4_XS(
  src: Uint8Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
): void {
  const K = IQ4NL_VALUES;
  const nb = n >> 8;
  for (let i = 0; i < nb; i++) {
    const b = srcOff + 136 * i;
    const d = f16(src, b);
    for (let ib = 0; ib < 8; ib++) {
      const dl = fr(d * (iq4xsScale(src, b, ib) - 32));
      const q = b + 8 + 16 * ib;
      const y = dstOff + 256 * i + 32 * ib;
      for (let j = 0; j < 16; j++) {
        dst[y + j] = dl * K[src[q + j] & 15];
        dst[y + j + 16] = dl * K[src[q + j] >> 4];
      }
    }
  }
}
