/**
 * Half-precision conversions as ggml performs them: f16 → f32 is exact; f32 → f16 rounds to nearest even
 * (ggml's software path, which is what its reference quantizers call); bf16 is the top half of an f32,
 * rounded to nearest even, with NaN forced quiet.
 */

const f16Scratch = new Float16Array(1);
const f16ScratchBits = new Uint16Array(f16Scratch.buffer);
const f32Scratch = new Float32Array(1);
const f32ScratchBits = new Uint32Array(f32Scratch.buffer);

/** Every f16 bit pattern decoded once, so hot loops read a scale with one table lookup. */
export const F16_TO_F32: Float32Array = (() => {
  const table = new Float32Array(65536);
  const h = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) h[i] = i;
  const f = new Float16Array(h.buffer);
  for (let i = 0; i < 65536; i++) table[i] = f[i];
  return table;
})();

/** f32 (given as a number that is already an f32 value) → f16 bits, round to nearest even. */
export function f32ToF16Bits(x: number): number {
  if (x !== x) {
    // ggml keeps the sign and answers the canonical quiet NaN.
    f32Scratch[0] = x;
    return ((f32ScratchBits[0] >>> 16) & 0x8000) | 0x7e00;
  }
  f16Scratch[0] = x;
  return f16ScratchBits[0];
}

/** The f32 value an f32 → f16 → f32 trip gives (what a quantizer sees after storing a scale). */
export function roundToF16(x: number): number {
  return F16_TO_F32[f32ToF16Bits(x)];
}

export function f16BitsToF32(bits: number): number {
  return F16_TO_F32[bits & 0xffff];
}

export function bf16BitsToF32(bits: number): number {
  f32ScratchBits[0] = (bits & 0xffff) << 16;
  return f32Scratch[0];
}

/** f32 → bf16 bits with ggml's rounding (nearest even; NaN made quiet by setting bit 6). */
export function f32ToBf16Bits(x: number): number {
  f32Scratch[0] = x;
  const u = f32ScratchBits[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 64) & 0xffff;
  return ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16) & 0xffff;
}

/** Reads `n` little-endian f16 values starting at byte `off` into dst[dstOff..]. */
export function dequantizeF16(
  src: Uint8Array,
  off: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
): void {
  const t = F16_TO_F32;
  if (((src.byteOffset + off) & 1) === 0) {
    // An aligned u16 view reads each element in one load (about twice the speed of two byte loads).
    const h = new Uint16Array(src.buffer, src.byteOffset + off, n);
    for (let i = 0; i < n; i++) dst[dstOff + i] = t[h[i]];
    return;
  }
  for (let i = 0; i < n; i++) {
    const o = off + 2 * i;
    dst[dstOff + i] = t[src[o] | (src[o + 1] << 8)];
  }
}

export function dequantizeBf16(
  src: Uint8Array,
  off: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
): void {
  // Viewing the output as u32 turns each element into one shift and one store.
  const out = new Uint32Array(dst.buffer, dst.byteOffset + 4 * dstOff, n);
  if (((src.byteOffset + off) & 1) === 0) {
    const h = new Uint16Array(src.buffer, src.byteOffset + off, n);
    for (let i = 0; i < n; i++) out[i] = h[i] << 16;
    return;
  }
  for (let i = 0; i < n; i++) {
    const o = off + 2 * i;
    out[i] = (src[o] | (src[o + 1] << 8)) << 16;
  }
}

export function dequantizeF32(
  src: Uint8Array,
  off: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
): void {
  new Uint8Array(dst.buffer, dst.byteOffset + 4 * dstOff, 4 * n).set(src.subarray(off, off + 4 * n));
}

export function quantizeF16(src: Float32Array, dst: Uint8Array, dstOff: number): void {
  for (let i = 0; i < src.length; i++) {
    const h = f32ToF16Bits(src[i]);
    dst[dstOff + 2 * i] = h & 0xff;
    dst[dstOff + 2 * i + 1] = h >>> 8;
  }
}

export function quantizeBf16(src: Float32Array, dst: Uint8Array, dstOff: number): void {
  for (let i = 0; i < src.length; i++) {
    const h = f32ToBf16Bits(src[i]);
    dst[dstOff + 2 * i] = h & 0xff;
    dst[dstOff + 2 * i + 1] = h >>> 8;
  }
}

/** Reads a little-endian f32 at any byte offset. */
export function readF32(src: Uint8Array, off: number): number {
  f32ScratchBits[0] = (src[off] | (src[off + 1] << 8) | (src[off + 2] << 16) | (src[off + 3] << 24)) >>> 0;
  return f32Scratch[0];
}

export function writeF32(dst: Uint8Array, off: number, v: number): void {
  f32Scratch[0] = v;
  const u = f32ScratchBits[0];
  dst[off] = u & 0xff;
  dst[off + 1] = (u >>> 8) & 0xff;
  dst[off + 2] = (u >>> 16) & 0xff;
  dst[off + 3] = u >>> 24;
}

export function writeF16(dst: Uint8Array, off: number, v: number): void {
  const h = f32ToF16Bits(v);
  dst[off] = h & 0xff;
  dst[off + 1] = h >>> 8;
}
