/**
 * MXFP4 as ggml stores it (formats.md §1.4, §5.2): 32 E2M1 codes sharing one E8M0 exponent, 17 bytes.
 * ggml keeps the E2M1 values doubled as integers and halves the scale; that product is exact, so the
 * decoded values are those of the OCP format (with code 8 giving +0, as ggml's integer table does).
 */
const fr = Math.fround;

/** kvalues_mxfp4: the E2M1 values times two. */
export const MXFP4_VALUES: Int8Array = Int8Array.of(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);

/** 2^(e−128): half the E8M0 scale, exact in f32 for every e (e = 0 and 1 are f32 subnormals). */
export const E8M0_HALF: Float32Array = (() => {
  const t = new Float32Array(256);
  for (let e = 0; e < 256; e++) t[e] = Math.pow(2, e - 128);
  return t;
})();

export function dequantizeMXFP4(
  src: Uint8Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
): void {
  const K = MXFP4_VALUES;
  const nb = n >> 5;
  for (let i = 0; i < nb; i++) {
    const b = srcOff + 17 * i;
    const d = E8M0_HALF[src[b]];
    const y = dstOff + 32 * i;
    for (let j = 0; j < 16; j++) {
      const q = src[b + 1 + j];
      dst[y + j] = K[q & 15] * d;
      dst[y + j + 16] = K[q >> 4] * d;
    }
  }
}

/** Nearest table entry to x at scale e, the first one on ties (ggml's best_index_mxfp4). */
function bestIndex(x: number, e: number): number {
  const K = MXFP4_VALUES;
  let best = 0;
  let bestErr = Math.abs(fr(fr(K[0] * e) - x));
  for (let i = 1; i < 16; i++) {
    const err = Math.abs(fr(fr(K[i] * e) - x));
    if (err < bestErr) {
      best = i;
      bestErr = err;
    }
  }
  return best;
}

/** ggml's quantize_row_mxfp4_ref: e = floor(log2 amax) − 2 + 127, stored through a uint8 cast. */
export function quantizeMXFP4(
  src: Float32Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  n: number,
): void {
  const nb = n >> 5;
  for (let i = 0; i < nb; i++) {
    const x = srcOff + 32 * i;
    let amax = 0;
    for (let j = 0; j < 32; j++) {
      if (amax < Math.abs(src[x + j])) amax = Math.abs(src[x + j]);
    }
    // log2f rounds to f32 before the floor, which matters just below a power of two.
    const e = amax > 0 ? (Math.floor(fr(Math.log2(amax))) - 2 + 127) & 0xff : 0;
    const d = E8M0_HALF[e];
    const b = dstOff + 17 * i;
    dst[b] = e;
    for (let j = 0; j < 16; j++) {
      dst[b + 1 + j] = bestIndex(src[x + j], d) | (bestIndex(src[x + j + 16], d) << 4);
    }
  }
}
