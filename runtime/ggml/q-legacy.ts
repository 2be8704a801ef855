/**
 * ggml's 32-element block formats Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1 (formats.md §1.3–1.4).
 *
 * The quantizers reproduce ggml's `quantize_row_*_ref` bit for bit, so every f32 operation of the C code
 * is an f32 operation here: each intermediate goes through Math.fround (one double op followed by one
 * rounding to f32 equals the f32 op for + − × ÷ and sqrt).
 * Floats are compared with `=== 0` / `!== 0`, never `!x`: C's `!d` is false for a NaN d, JS's is true.
 *
 * Signatures: dequantize(src, srcOff, dst, dstOff, n) and quantize(src, srcOff, dst, dstOff, n), with n a
 * whole number of blocks; offsets are in bytes for block data and in elements for f32 data.
 */
import { F16_TO_F32, writeF16 } from "./fp16.ts";

const fr = Math.fround;

/** C's `(int8_t)f` on x86-64: truncate through a 32-bit convert; out-of-range and NaN give 0x80000000. */
export function truncToInt8(f: number): number {
  if (!(f > -2147483649 && f < 2147483648)) return 0;
  return (Math.trunc(f) << 24) >> 24;
}

/** C's roundf: half away from zero. */
export function roundHalfAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

function f16(src: Uint8Array, o: number): number {
  return F16_TO_F32[src[o] | (src[o + 1] << 8)];
}

// ---------------------------------------------------------------------------------------------- Q4_0

export function dequantizeQ4_0(
  src: Uint8Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
): void {
  const nb = n >> 5;
  for (let i = 0; i < nb; i++) {
    const b = srcOff + 18 * i;
    const d = f16(src, b);
    const y = dstOff + 32 * i;
    for (let j = 0; j < 16; j++) {
      const q = src[b + 2 + j];
      dst[y + j] = ((q & 15) - 8) * d;
      dst[y + j + 16] = ((q >> 4) - 8) * d;
    }
  }
}

export function quantizeQ4_0(
  src: Float32Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  n: number,
): void {
  const nb = n >> 5;
  for (let i = 0; i < nb; i++) {
    const x = srcOff + 32 * i;
    let amax = 0, max = 0;
    for (let j = 0; j < 32; j++) {
      const v = src[x + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fr(max / -8);
    const id = d !== 0 ? fr(1 / d) : 0;
    const b = dstOff + 18 * i;
    writeF16(dst, b, d);
    for (let j = 0; j < 16; j++) {
      const x0 = fr(src[x + j] * id);
      const x1 = fr(src[x + j + 16] * id);
      const q0 = Math.min(15, truncToInt8(fr(x0 + 8.5)));
      const q1 = Math.min(15, truncToInt8(fr(x1 + 8.5)));
      dst[b + 2 + j] = (q0 & 0xff) | (q1 << 4);
    }
  }
}

// ---------------------------------------------------------------------------------------------- Q4_1

export function dequantizeQ4_1(
  src: Uint8Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
): void {
  const nb = n >> 5;
  for (let i = 0; i < nb; i++) {
    const b = srcOff + 20 * i;
    const d = f16(src, b), m = f16(src, b + 2);
    const y = dstOff + 32 * i;
    for (let j = 0; j < 16; j++) {
      const q = src[b + 4 + j];
      dst[y + j] = fr((q & 15) * d) + m;
      dst[y + j + 16] = fr((q >> 4) * d) + m;
    }
  }
}

/** Shared min/max scan of the Q4_1 and Q5_1 quantizers. */
function minMax32(src: Float32Array, x: number, out: Float64Array): void {
  let min = 3.4028234663852886e38, max = -3.4028234663852886e38;
  for (let j = 0; j < 32; j++) {
    const v = src[x + j];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  out[0] = min;
  out[1] = max;
}
const mm = new Float64Array(2);

export function quantizeQ4_1(
  src: Float32Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  n: number,
): void {
  const nb = n >> 5;
  for (let i = 0; i < nb; i++) {
    const x = srcOff + 32 * i;
    minMax32(src, x, mm);
    const min = mm[0], max = mm[1];
    const d = fr(fr(max - min) / 15);
    const id = d !== 0 ? fr(1 / d) : 0;
    const b = dstOff + 20 * i;
    writeF16(dst, b, d);
    writeF16(dst, b + 2, min);
    for (let j = 0; j < 16; j++) {
      const x0 = fr(fr(src[x + j] - min) * id);
      const x1 = fr(fr(src[x + j + 16] - min) * id);
      const q0 = Math.min(15, truncToInt8(fr(x0 + 0.5)));
      const q1 = Math.min(15, truncToInt8(fr(x1 + 0.5)));
      dst[b + 4 + j] = (q0 & 0xff) | (q1 << 4);
    }
  }
}

// ---------------------------------------------------------------------------------------------- Q5_0

export function dequantizeQ5_0(
  src: Uint8Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
): void {
  const nb = n >> 5;
  for (let i = 0; i < nb; i++) {
    const b = srcOff + 22 * i;
    const d = f16(src, b);
    const qh = src[b + 2] | (src[b + 3] << 8) | (src[b + 4] << 16) | (src[b + 5] << 24);
    const y = dstOff + 32 * i;
    for (let j = 0; j < 16; j++) {
      const q = src[b + 6 + j];
      dst[y + j] = (((q & 15) | (((qh >>> j) << 4) & 0x10)) - 16) * d;
      dst[y + j + 16] = (((q >> 4) | ((qh >>> (j + 12)) & 0x10)) - 16) * d;
    }
  }
}

export function quantizeQ5_0(
  src: Float32Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  n: number,
): void {
  const nb = n >> 5;
  for (let i = 0; i < nb; i++) {
    const x = srcOff + 32 * i;
    let amax = 0, max = 0;
    for (let j = 0; j < 32; j++) {
      const v = src[x + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fr(max / -16);
    const id = d !== 0 ? fr(1 / d) : 0;
    const b = dstOff + 22 * i;
    writeF16(dst, b, d);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(31, truncToInt8(fr(fr(src[x + j] * id) + 16.5))) & 0xff;
      const q1 = Math.min(31, truncToInt8(fr(fr(src[x + j + 16] * id) + 16.5))) & 0xff;
      dst[b + 6 + j] = (q0 & 15) | ((q1 & 15) << 4);
      qh |= ((q0 & 0x10) >> 4) << j;
      qh |= ((q1 & 0x10) >> 4) << (j + 16);
    }
    dst[b + 2] = qh & 0xff;
    dst[b + 3] = (qh >>> 8) & 0xff;
    dst[b + 4] = (qh >>> 16) & 0xff;
    dst[b + 5] = qh >>> 24;
  }
}

// ---------------------------------------------------------------------------------------------- Q5_1

export function dequantizeQ5_1(
  src: Uint8Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
): void {
  const nb = n >> 5;
  for (let i = 0; i < nb; i++) {
    const b = srcOff + 24 * i;
    const d = f16(src, b), m = f16(src, b + 2);
    const qh = src[b + 4] | (src[b + 5] << 8) | (src[b + 6] << 16) | (src[b + 7] << 24);
    const y = dstOff + 32 * i;
    for (let j = 0; j < 16; j++) {
      const q = src[b + 8 + j];
      dst[y + j] = fr(((q & 15) | (((qh >>> j) << 4) & 0x10)) * d) + m;
      dst[y + j + 16] = fr(((q >> 4) | ((qh >>> (j + 12)) & 0x10)) * d) + m;
    }
  }
}

export function quantizeQ5_1(
  src: Float32Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  n: number,
): void {
  const nb = n >> 5;
  for (let i = 0; i < nb; i++) {
    const x = srcOff + 32 * i;
    minMax32(src, x, mm);
    const min = mm[0], max = mm[1];
    const d = fr(fr(max - min) / 31);
    const id = d !== 0 ? fr(1 / d) : 0;
    const b = dstOff + 24 * i;
    writeF16(dst, b, d);
    writeF16(dst, b + 2, min);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      // ggml stores these through a plain (uint8_t) cast, with no clamp.
      const q0 = truncToInt8(fr(fr(fr(src[x + j] - min) * id) + 0.5)) & 0xff;
      const q1 = truncToInt8(fr(fr(fr(src[x + j + 16] - min) * id) + 0.5)) & 0xff;
      dst[b + 8 + j] = (q0 & 15) | ((q1 & 15) << 4);
      qh |= ((q0 & 0x10) >> 4) << j;
      qh |= ((q1 & 0x10) >> 4) << (j + 16);
    }
    dst[b + 4] = qh & 0xff;
    dst[b + 5] = (qh >>> 8) & 0xff;
    dst[b + 6] = (qh >>> 16) & 0xff;
    dst[b + 7] = qh >>> 24;
  }
}

// ---------------------------------------------------------------------------------------------- Q8_0 / Q8_1

export function dequantizeQ8_0(
  src: Uint8Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
): void {
  dequantizeQ8(src, srcOff, dst, dstOff, n, 34, 2);
}

export function dequantizeQ8_1(
  src: Uint8Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
): void {
  dequantizeQ8(src, srcOff, dst, dstOff, n, 36, 4);
}

function dequantizeQ8(
  src: Uint8Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
  blockBytes: number,
  qsAt: number,
): void {
  const nb = n >> 5;
  const s8 = new Int8Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < nb; i++) {
    const b = srcOff + blockBytes * i;
    const d = f16(src, b);
    const q = b + qsAt;
    const y = dstOff + 32 * i;
    for (let j = 0; j < 32; j++) dst[y + j] = s8[q + j] * d;
  }
}

/** max |x| over the 32 values of a block from `x` (ggml's amax of a Q8_0/Q8_1 block). */
export function absMax32(src: Float32Array, x: number): number {
  let amax = 0;
  for (let j = 0; j < 32; j++) {
    const a = Math.abs(src[x + j]);
    amax = amax > a ? amax : a;
  }
  return amax;
}

export function quantizeQ8_0(
  src: Float32Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  n: number,
): void {
  const nb = n >> 5;
  for (let i = 0; i < nb; i++) {
    const x = srcOff + 32 * i;
    const d = fr(absMax32(src, x) / 127);
    const id = d !== 0 ? fr(1 / d) : 0;
    const b = dstOff + 34 * i;
    writeF16(dst, b, d);
    for (let j = 0; j < 32; j++) dst[b + 2 + j] = truncToInt8(roundHalfAway(fr(src[x + j] * id))) & 0xff;
  }
}

export function quantizeQ8_1(
  src: Float32Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  n: number,
): void {
  const nb = n >> 5;
  for (let i = 0; i < nb; i++) {
    const x = srcOff + 32 * i;
    const d = fr(absMax32(src, x) / 127);
    const id = d !== 0 ? fr(1 / d) : 0;
    const b = dstOff + 36 * i;
    writeF16(dst, b, d);
    let sum = 0;
    for (let j = 0; j < 32; j++) {
      const q = truncToInt8(roundHalfAway(fr(src[x + j] * id)));
      dst[b + 4 + j] = q & 0xff;
      sum += q;
    }
    writeF16(dst, b + 2, fr(sum * d));
  }
}
