/**
 * Dot products of a quantized weight row with a quantized activation row, paired as llama.cpp's CPU
 * backend pairs them (formats.md §1.5). Each follows the order of integer and f32 operations of ggml's
 * scalar reference kernels (`ggml_vec_dot_*_generic`): integer sums per block or sub-block, then f32
 * scaling and accumulation, every f32 step rounded with Math.fround. The result is the f32 ggml's
 * generic kernel returns; its SIMD kernels sum in other orders and may differ in the last bits.
 */
import { GGML_TYPES } from "../../ir/ggml-type.ts";
import { LatheError } from "../../ir/errors.ts";
import { F16_TO_F32, readF32 } from "./fp16.ts";
import { IQ4NL_VALUES, iq4xsScale } from "./iq4.ts";
import { E8M0_HALF, MXFP4_VALUES } from "./mxfp4.ts";

const fr = Math.fround;

function f16(src: Uint8Array, o: number): number {
  return F16_TO_F32[src[o] | (src[o + 1] << 8)];
}
function i8(src: Uint8Array, o: number): number {
  return (src[o] << 24) >> 24;
}
function i16(src: Uint8Array, o: number): number {
  return ((src[o] | (src[o + 1] << 8)) << 16) >> 16;
}

function int8View(y: Uint8Array): Int8Array {
  return new Int8Array(y.buffer, y.byteOffset, y.length);
}

export type VecDot = (n: number, x: Uint8Array, xOff: number, y: Uint8Array, yOff: number) => number;

export function vecDotQ4_0Q8_0(n: number, x: Uint8Array, xOff: number, y: Uint8Array, yOff: number): number {
  const nb = n >> 5;
  const y8 = int8View(y);
  let sumf = 0;
  for (let ib = 0; ib < nb; ib++) {
    const bx = xOff + 18 * ib, by = yOff + 34 * ib;
    let s0 = 0, s1 = 0;
    for (let j = 0; j < 16; j++) {
      const q = x[bx + 2 + j];
      s0 += ((q & 15) - 8) * y8[by + 2 + j];
      s1 += ((q >> 4) - 8) * y8[by + 18 + j];
    }
    sumf = fr(sumf + fr(fr((s0 + s1) * f16(x, bx)) * f16(y, by)));
  }
  return sumf;
}

export function vecDotQ4_1Q8_1(n: number, x: Uint8Array, xOff: number, y: Uint8Array, yOff: number): number {
  const nb = n >> 5;
  const y8 = int8View(y);
  let sumf = 0;
  for (let ib = 0; ib < nb; ib++) {
    const bx = xOff + 20 * ib, by = yOff + 36 * ib;
    let s0 = 0, s1 = 0;
    for (let j = 0; j < 16; j++) {
      const q = x[bx + 4 + j];
      s0 += (q & 15) * y8[by + 4 + j];
      s1 += (q >> 4) * y8[by + 20 + j];
    }
    const dd = fr(f16(x, bx) * f16(y, by));
    sumf = fr(sumf + fr(fr(dd * (s0 + s1)) + fr(f16(x, bx + 2) * f16(y, by + 2))));
  }
  return sumf;
}

export function vecDotQ5_0Q8_0(n: number, x: Uint8Array, xOff: number, y: Uint8Array, yOff: number): number {
  const nb = n >> 5;
  const y8 = int8View(y);
  let sumf = 0;
  for (let ib = 0; ib < nb; ib++) {
    const bx = xOff + 22 * ib, by = yOff + 34 * ib;
    const qh = x[bx + 2] | (x[bx + 3] << 8) | (x[bx + 4] << 16) | (x[bx + 5] << 24);
    let s0 = 0, s1 = 0;
    for (let j = 0; j < 16; j++) {
      const q = x[bx + 6 + j];
      s0 += (((q & 15) | (((qh >>> j) & 1) << 4)) - 16) * y8[by + 2 + j];
      s1 += (((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16) * y8[by + 18 + j];
    }
    sumf = fr(sumf + fr(fr(f16(x, bx) * f16(y, by)) * (s0 + s1)));
  }
  return sumf;
}

export function vecDotQ5_1Q8_1(n: number, x: Uint8Array, xOff: number, y: Uint8Array, yOff: number): number {
  const nb = n >> 5;
  const y8 = int8View(y);
  let sumf = 0;
  for (let ib = 0; ib < nb; ib++) {
    const bx = xOff + 24 * ib, by = yOff + 36 * ib;
    const qh = x[bx + 4] | (x[bx + 5] << 8) | (x[bx + 6] << 16) | (x[bx + 7] << 24);
    let s0 = 0, s1 = 0;
    for (let j = 0; j < 16; j++) {
      const q = x[bx + 8 + j];
      s0 += ((q & 15) | (((qh >>> j) & 1) << 4)) * y8[by + 4 + j];
      s1 += ((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) * y8[by + 20 + j];
    }
    const dd = fr(f16(x, bx) * f16(y, by));
    sumf = fr(sumf + fr(fr(dd * (s0 + s1)) + fr(f16(x, bx + 2) * f16(y, by + 2))));
  }
  return sumf;
}

export function vecDotQ8_0Q8_0(n: number, x: Uint8Array, xOff: number, y: Uint8Array, yOff: number): number {
  const nb = n >> 5;
  const x8 = int8View(x), y8 = int8View(y);
  let sumf = 0;
  for (let ib = 0; ib < nb; ib++) {
    const bx = xOff + 34 * ib, by = yOff + 34 * ib;
    let s = 0;
    for (let j = 2; j < 34; j++) s += x8[bx + j] * y8[by + j];
    sumf = fr(sumf + fr(s * fr(f16(x, bx) * f16(y, by))));
  }
  return sumf;
}

export function vecDotIQ4_NLQ8_0(
  n: number,
  x: Uint8Array,
  xOff: number,
  y: Uint8Array,
  yOff: number,
): number {
  const K = IQ4NL_VALUES;
  const nb = n >> 5;
  const y8 = int8View(y);
  let sumf = 0;
  for (let ib = 0; ib < nb; ib++) {
    const bx = xOff + 18 * ib, by = yOff + 34 * ib;
    const d = fr(f16(y, by) * f16(x, bx));
    let s1 = 0, s2 = 0;
    for (let j = 0; j < 16; j++) {
      const q = x[bx + 2 + j];
      s1 += y8[by + 2 + j] * K[q & 15];
      s2 += y8[by + 18 + j] * K[q >> 4];
    }
    sumf = fr(sumf + fr(d * (s1 + s2)));
  }
  return sumf;
}

export function vecDotMXFP4Q8_0(n: number, x: Uint8Array, xOff: number, y: Uint8Array, yOff: number): number {
  const K = MXFP4_VALUES;
  const nb = n >> 5;
  const y8 = int8View(y);
  let sumf = 0;
  for (let ib = 0; ib < nb; ib++) {
    const bx = xOff + 17 * ib, by = yOff + 34 * ib;
    const d = fr(f16(y, by) * E8M0_HALF[x[bx]]);
    let s1 = 0, s2 = 0;
    for (let j = 0; j < 16; j++) {
      const q = x[bx + 1 + j];
      s1 += y8[by + 2 + j] * K[q & 15];
      s2 += y8[by + 18 + j] * K[q >> 4];
    }
    sumf = fr(sumf + fr(d * (s1 + s2)));
  }
  return sumf;
}

// ------------------------------------------------------------------------------- K-quants × Q8_K
// Q8_K block: d f32 at 0, qs[256] at 4, bsums[16] i16 at 260; 292 bytes.

export function vecDotQ2_KQ8_K(n: number, x: Uint8Array, xOff: number, y: Uint8Array, yOff: number): number {
  const nb = n >> 8;
  const y8 = int8View(y);
  let sumf = 0;
  for (let i = 0; i < nb; i++) {
    const bx = xOff + 84 * i, by = yOff + 292 * i;
    let summs = 0;
    for (let j = 0; j < 16; j++) summs += i16(y, by + 260 + 2 * j) * (x[bx + j] >> 4);
    const yd = readF32(y, by);
    const dall = fr(yd * f16(x, bx + 80));
    const dmin = fr(yd * f16(x, bx + 82));
    let isum = 0, is = 0;
    let q8 = by + 4;
    for (let k = 0; k < 2; k++) {
      const q2 = bx + 16 + 32 * k;
      for (let shift = 0; shift < 8; shift += 2) {
        let d = x[bx + is++] & 15;
        let isuml = 0;
        for (let l = 0; l < 16; l++) isuml += y8[q8 + l] * ((x[q2 + l] >> shift) & 3);
        isum += d * isuml;
        d = x[bx + is++] & 15;
        isuml = 0;
        for (let l = 16; l < 32; l++) isuml += y8[q8 + l] * ((x[q2 + l] >> shift) & 3);
        isum += d * isuml;
        q8 += 32;
      }
    }
    sumf = fr(sumf + fr(fr(dall * isum) - fr(dmin * summs)));
  }
  return sumf;
}

/**
 * The generic K-quant kernels decode a super-block's weights to int8 (aux8), then accumulate
 * scale·q8·w into 8 int32 lanes (lane = element index mod 8) before scaling each lane in f32. Integer
 * sums are exact in any order, so only the lane split and the f32 steps need to follow ggml.
 */
const aux8 = new Int8Array(256);
const lanes = new Int32Array(8);
const sums8 = new Float64Array(8);
/** Scale per group of 16 elements of the current super-block. */
const groupScale = new Int32Array(16);

function accumulateLanes(y8: Int8Array, q8: number): void {
  let l0 = 0, l1 = 0, l2 = 0, l3 = 0, l4 = 0, l5 = 0, l6 = 0, l7 = 0;
  for (let g = 0; g < 16; g++) {
    const sc = groupScale[g], o = 16 * g, p = q8 + o;
    l0 += sc * (y8[p] * aux8[o] + y8[p + 8] * aux8[o + 8]);
    l1 += sc * (y8[p + 1] * aux8[o + 1] + y8[p + 9] * aux8[o + 9]);
    l2 += sc * (y8[p + 2] * aux8[o + 2] + y8[p + 10] * aux8[o + 10]);
    l3 += sc * (y8[p + 3] * aux8[o + 3] + y8[p + 11] * aux8[o + 11]);
    l4 += sc * (y8[p + 4] * aux8[o + 4] + y8[p + 12] * aux8[o + 12]);
    l5 += sc * (y8[p + 5] * aux8[o + 5] + y8[p + 13] * aux8[o + 13]);
    l6 += sc * (y8[p + 6] * aux8[o + 6] + y8[p + 14] * aux8[o + 14]);
    l7 += sc * (y8[p + 7] * aux8[o + 7] + y8[p + 15] * aux8[o + 15]);
  }
  lanes[0] = l0;
  lanes[1] = l1;
  lanes[2] = l2;
  lanes[3] = l3;
  lanes[4] = l4;
  lanes[5] = l5;
  lanes[6] = l6;
  lanes[7] = l7;
}

function addLanes(d: number): void {
  for (let l = 0; l < 8; l++) sums8[l] = fr(sums8[l] + fr(d * fr(lanes[l])));
}

function finishLanes(sumf: number): number {
  for (let l = 0; l < 8; l++) sumf = fr(sumf + sums8[l]);
  return sumf;
}

export function vecDotQ3_KQ8_K(n: number, x: Uint8Array, xOff: number, y: Uint8Array, yOff: number): number {
  const nb = n >> 8;
  const y8 = int8View(y);
  sums8.fill(0);
  for (let i = 0; i < nb; i++) {
    const bx = xOff + 110 * i, by = yOff + 292 * i;
    let a = 0, m = 1;
    for (let h = 0; h < 2; h++) {
      const q3 = bx + 32 + 32 * h;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let l = 0; l < 32; l++) aux8[a + l] = ((x[q3 + l] >> shift) & 3) - (x[bx + l] & m ? 0 : 4);
        a += 32;
        m <<= 1;
      }
    }
    const s = bx + 96;
    for (let k = 0; k < 4; k++) {
      const hi = x[s + 8 + k];
      groupScale[k] = ((x[s + k] & 15) | ((hi & 3) << 4)) - 32;
      groupScale[4 + k] = ((x[s + 4 + k] & 15) | (((hi >> 2) & 3) << 4)) - 32;
      groupScale[8 + k] = ((x[s + k] >> 4) | (((hi >> 4) & 3) << 4)) - 32;
      groupScale[12 + k] = ((x[s + 4 + k] >> 4) | (((hi >> 6) & 3) << 4)) - 32;
    }
    accumulateLanes(y8, by + 4);
    addLanes(fr(f16(x, bx + 108) * readF32(y, by)));
  }
  return finishLanes(0);
}

/** Q4_K/Q5_K: sets the group scales from the 6-bit sub-block scales and returns Σ bsums·mins. */
function k4Scales(x: Uint8Array, bx: number, y: Uint8Array, by: number): number {
  const s = bx + 4;
  let sumi = 0;
  for (let j = 0; j < 8; j++) {
    const sc = j < 4 ? x[s + j] & 63 : (x[s + j + 4] & 15) | ((x[s + j - 4] >> 6) << 4);
    const mn = j < 4 ? x[s + j + 4] & 63 : (x[s + j + 4] >> 4) | ((x[s + j] >> 6) << 4);
    groupScale[2 * j] = sc;
    groupScale[2 * j + 1] = sc;
    sumi += (i16(y, by + 260 + 4 * j) + i16(y, by + 262 + 4 * j)) * mn;
  }
  return sumi;
}

export function vecDotQ4_KQ8_K(n: number, x: Uint8Array, xOff: number, y: Uint8Array, yOff: number): number {
  const nb = n >> 8;
  const y8 = int8View(y);
  sums8.fill(0);
  let sumf = 0;
  for (let i = 0; i < nb; i++) {
    const bx = xOff + 144 * i, by = yOff + 292 * i;
    for (let c = 0; c < 4; c++) {
      const q4 = bx + 16 + 32 * c, a = 64 * c;
      for (let l = 0; l < 32; l++) {
        const b = x[q4 + l];
        aux8[a + l] = b & 15;
        aux8[a + 32 + l] = b >> 4;
      }
    }
    const sumi = k4Scales(x, bx, y, by);
    accumulateLanes(y8, by + 4);
    const yd = readF32(y, by);
    addLanes(fr(f16(x, bx) * yd));
    sumf = fr(sumf - fr(fr(f16(x, bx + 2) * yd) * sumi));
  }
  return finishLanes(sumf);
}

export function vecDotQ5_KQ8_K(n: number, x: Uint8Array, xOff: number, y: Uint8Array, yOff: number): number {
  const nb = n >> 8;
  const y8 = int8View(y);
  sums8.fill(0);
  let sumf = 0;
  for (let i = 0; i < nb; i++) {
    const bx = xOff + 176 * i, by = yOff + 292 * i;
    const hm = bx + 16;
    let m = 1;
    for (let c = 0; c < 4; c++) {
      const q4 = bx + 48 + 32 * c, a = 64 * c, m2 = m << 1;
      for (let l = 0; l < 32; l++) {
        const b = x[q4 + l], h = x[hm + l];
        aux8[a + l] = (b & 15) + (h & m ? 16 : 0);
        aux8[a + 32 + l] = (b >> 4) + (h & m2 ? 16 : 0);
      }
      m <<= 2;
    }
    const sumi = k4Scales(x, bx, y, by);
    accumulateLanes(y8, by + 4);
    const yd = readF32(y, by);
    addLanes(fr(f16(x, bx) * yd));
    sumf = fr(sumf - fr(fr(f16(x, bx + 2) * yd) * sumi));
  }
  return finishLanes(sumf);
}

export function vecDotQ6_KQ8_K(n: number, x: Uint8Array, xOff: number, y: Uint8Array, yOff: number): number {
  const nb = n >> 8;
  const y8 = int8View(y);
  sums8.fill(0);
  for (let i = 0; i < nb; i++) {
    const bx = xOff + 210 * i, by = yOff + 292 * i;
    for (let h = 0; h < 2; h++) {
      const q4 = bx + 64 * h, qh = bx + 128 + 32 * h, a = 128 * h;
      for (let l = 0; l < 32; l++) {
        const hb = x[qh + l], lo = x[q4 + l], hi = x[q4 + l + 32];
        aux8[a + l] = ((lo & 15) | ((hb & 3) << 4)) - 32;
        aux8[a + l + 32] = ((hi & 15) | (((hb >> 2) & 3) << 4)) - 32;
        aux8[a + l + 64] = ((lo >> 4) | (((hb >> 4) & 3) << 4)) - 32;
        aux8[a + l + 96] = ((hi >> 4) | (((hb >> 6) & 3) << 4)) - 32;
      }
    }
    for (let g = 0; g < 16; g++) groupScale[g] = i8(x, bx + 192 + g);
    accumulateLanes(y8, by + 4);
    addLanes(fr(f16(x, bx + 208) * readF32(y, by)));
  }
  return finishLanes(0);
}

export function vecDotIQ4_XSQ8_K(
  n: number,
  x: Uint8Array,
  xOff: number,
  y: Uint8Array,
  yOff: number,
): number {
  const K = IQ4NL_VALUES;
  const nb = n >> 8;
  const y8 = int8View(y);
  let sumf = 0;
  for (let i = 0; i < nb; i++) {
    const bx = xOff + 136 * i, by = yOff + 292 * i;
    const d4d8 = fr(f16(x, bx) * readF32(y, by));
    for (let ib = 0; ib < 8; ib++) {
      const dl = fr(d4d8 * (iq4xsScale(x, bx, ib) - 32));
      const qs = bx + 8 + 16 * ib, q8 = by + 4 + 32 * ib;
      let s1 = 0, s2 = 0;
      for (let j = 0; j < 16; j++) {
        s1 += y8[q8 + j] * K[x[qs + j] & 15];
        s2 += y8[q8 + 16 + j] * K[x[qs + j] >> 4];
      }
      sumf = fr(sumf + fr(dl * (s1 + s2)));
    }
  }
  return sumf;
}

/** Weight type id → [activation type id, kernel]. */
const KERNELS: ReadonlyMap<number, readonly [number, VecDot]> = new Map<number, readonly [number, VecDot]>([
  [2, [8, vecDotQ4_0Q8_0]],
  [3, [9, vecDotQ4_1Q8_1]],
  [6, [8, vecDotQ5_0Q8_0]],
  [7, [9, vecDotQ5_1Q8_1]],
  [8, [8, vecDotQ8_0Q8_0]],
  [10, [15, vecDotQ2_KQ8_K]],
  [11, [15, vecDotQ3_KQ8_K]],
  [12, [15, vecDotQ4_KQ8_K]],
  [13, [15, vecDotQ5_KQ8_K]],
  [14, [15, vecDotQ6_KQ8_K]],
  [20, [8, vecDotIQ4_NLQ8_0]],
  [23, [15, vecDotIQ4_XSQ8_K]],
  [39, [8, vecDotMXFP4Q8_0]],
]);

/** The activation type llama.cpp's CPU backend quantizes src1 to for this weight type. */
export function vecDotType(weightTypeId: number): number {
  const k = KERNELS.get(weightTypeId);
  if (!k) throw unsupported(weightTypeId);
  return k[0];
}

export function vecDotKernel(weightTypeId: number): VecDot {
  const k = KERNELS.get(weightTypeId);
  if (!k) throw unsupported(weightTypeId);
  return k[1];
}

/** Dot product of `n` elements: weight row `x` (of weightTypeId) with activation row `y` (its vecDotType). */
export function vecDot(
  weightTypeId: number,
  n: number,
  x: Uint8Array,
  y: Uint8Array,
  xOff = 0,
  yOff = 0,
): number {
  const [actType, kernel] = KERNELS.get(weightTypeId) ?? [];
  if (!kernel) throw unsupported(weightTypeId);
  const wi = GGML_TYPES.get(weightTypeId)!, ai = GGML_TYPES.get(actType!)!;
  if (n % wi.blockSize || n % ai.blockSize) {
    throw new LatheError("runtime", `vec_dot of ${wi.name}: ${n} elements do not fill whole blocks`);
  }
  const xBytes = (n / wi.blockSize) * wi.typeSize, yBytes = (n / ai.blockSize) * ai.typeSize;
  if (xOff + xBytes > x.length || yOff + yBytes > y.length) {
    throw new LatheError("runtime", `vec_dot of ${wi.name}: ${n} elements need ${xBytes}+${yBytes} bytes`);
  }
  return kernel(n, x, xOff, y, yOff);
}

function unsupported(id: number): LatheError {
  return new LatheError("unsupported", `no vec_dot for ggml type ${GGML_TYPES.get(id)?.name ?? id}`);
}
