/**
 * ggml's 256-element super-block formats Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and Q8_K (formats.md §1.3–1.4).
 *
 * The quantizers are the reference ones (no importance matrix): a per-sub-block scale search followed by a
 * quantization of the sub-block scales and a final requantization against the stored scales. They follow
 * ggml's sequence of f32 operations exactly (each intermediate rounded with Math.fround), so their bytes
 * equal `quantize_row_q*_K_ref`'s.
 * Floats are compared with `=== 0` / `!== 0`, never `!x`: C's `!d` is false for a NaN d, JS's is true.
 */
import { F16_TO_F32, readF32, writeF16, writeF32 } from "./fp16.ts";

const fr = Math.fround;
const QK_K = 256;
/** ggml's GROUP_MAX_EPS (1e-15f). */
const GROUP_MAX_EPS = Math.fround(1e-15);

const nearScratch = new Float32Array(1);
const nearScratchBits = new Int32Array(nearScratch.buffer);

/**
 * ggml's nearest_int: adds 1.5·2^23 in f32 and reads the low mantissa bits, i.e. round half to even for
 * |v| ≤ 2^22; beyond that the same bit trick is reproduced so even degenerate inputs give ggml's answer.
 */
export function nearestInt(v: number): number {
  const s = fr(v + 12582912);
  if (v <= 4194303 && v >= -4194303) return s - 12582912;
  nearScratch[0] = s;
  return (nearScratchBits[0] & 0x007fffff) - 0x00400000;
}

function f16(src: Uint8Array, o: number): number {
  return F16_TO_F32[src[o] | (src[o + 1] << 8)];
}

// ------------------------------------------------------------------------------------- scale searches

/**
 * make_qx_quants with rmse_type 1 and no importance weights (weights x²): symmetric levels −nmax..nmax−1,
 * trying 19 scales around nmax/max. Writes L[lOff..] = level + nmax and returns the scale.
 */
function makeQxQuants(
  n: number,
  nmax: number,
  x: Float32Array,
  xOff: number,
  L: Int8Array,
  lOff: number,
): number {
  let max = 0, amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xOff + i]);
    if (ax > amax) {
      amax = ax;
      max = x[xOff + i];
    }
  }
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lOff + i] = 0;
    return 0;
  }
  let iscale = fr(-nmax / max);
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xOff + i];
    let l = nearestInt(fr(iscale * xi));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[lOff + i] = l + nmax;
    const w = fr(xi * xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  let scale = suml2 !== 0 ? fr(sumlx / suml2) : 0;
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(fr(0.1) * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xOff + i];
      let l = nearestInt(fr(iscale * xi));
      l = Math.max(-nmax, Math.min(nmax - 1, l));
      const w = fr(xi * xi);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; i++) {
        const l = nearestInt(fr(iscale * x[xOff + i]));
        L[lOff + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
      }
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/** make_q3_quants with do_rmse: start from nmax/max, then up to 5 passes of coordinate descent. */
function makeQ3Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  xOff: number,
  L: Int8Array,
  lOff: number,
): number {
  let max = 0, amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xOff + i]);
    if (ax > amax) {
      amax = ax;
      max = x[xOff + i];
    }
  }
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lOff + i] = 0;
    return 0;
  }
  const iscale = fr(-nmax / max);
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xOff + i];
    let l = nearestInt(fr(iscale * xi));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[lOff + i] = l;
    const w = fr(xi * xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xOff + i];
      const w = fr(xi * xi);
      const li = L[lOff + i];
      let slx = fr(sumlx - fr(fr(w * xi) * li));
      if (slx > 0) {
        let sl2 = fr(suml2 - fr(fr(w * li) * li));
        let nl = nearestInt(fr(fr(xi * sl2) / slx));
        nl = Math.max(-nmax, Math.min(nmax - 1, nl));
        if (nl !== li) {
          slx = fr(slx + fr(fr(w * xi) * nl));
          sl2 = fr(sl2 + fr(fr(w * nl) * nl));
          if (sl2 > 0 && fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
            L[lOff + i] = nl;
            sumlx = slx;
            suml2 = sl2;
            changed++;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (let i = 0; i < n; i++) L[lOff + i] += nmax;
  return suml2 > 0 ? fr(sumlx / suml2) : 0;
}

/** Holds make_qkx2_quants' second result (the min, negated as ggml returns it). */
const theMin = new Float64Array(1);
const lAux = new Uint8Array(32);

/**
 * make_qkx2_quants: asymmetric levels 0..nmax with a min, fitted by weighted least squares over nstep+1
 * candidate scales; keeps the candidate with the smallest weighted error.
 */
function makeQkx2Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  xOff: number,
  weights: Float32Array,
  L: Uint8Array,
  lOff: number,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
): number {
  let min = x[xOff], max = x[xOff];
  let sumW = weights[0];
  let sumX = fr(sumW * x[xOff]);
  for (let i = 1; i < n; i++) {
    const xi = x[xOff + i];
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i];
    sumW = fr(sumW + w);
    sumX = fr(sumX + fr(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    for (let i = 0; i < n; i++) L[lOff + i] = 0;
    theMin[0] = -min;
    return 0;
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xOff + i];
    const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(xi - min)))));
    L[lOff + i] = l;
    let diff = fr(fr(fr(scale * l) + min) - xi);
    diff = useMad ? Math.abs(diff) : fr(diff * diff);
    bestError = fr(bestError + fr(weights[i] * diff));
  }
  if (nstep < 1) {
    theMin[0] = -min;
    return scale;
  }
  for (let is = 0; is <= nstep; is++) {
    // `min` moves to the best fit found so far, and later candidates are measured from it.
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    let sumL = 0, sumL2 = 0, sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xOff + i];
      const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(xi - min)))));
      lAux[i] = l;
      const w = weights[i];
      const wl = fr(w * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * xi));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = fr(fr(fr(thisScale * lAux[i]) + thisMin) - x[xOff + i]);
        diff = useMad ? Math.abs(diff) : fr(diff * diff);
        curError = fr(curError + fr(weights[i] * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lOff + i] = lAux[i];
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  theMin[0] = -min;
  return scale;
}

/** The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (ggml's get_scale_min_k4). */
function scaleK4(s: Uint8Array, b: number, j: number): number {
  return j < 4 ? s[b + j] & 63 : (s[b + j + 4] & 0xf) | ((s[b + j - 4] >> 6) << 4);
}
function minK4(s: Uint8Array, b: number, j: number): number {
  return j < 4 ? s[b + j + 4] & 63 : (s[b + j + 4] >> 4) | ((s[b + j] >> 6) << 4);
}

// ---------------------------------------------------------------------------------------------- Q2_K

export function dequantizeQ2_K(
  src: Uint8Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
): void {
  const nb = n / QK_K;
  for (let i = 0; i < nb; i++) {
    const b = srcOff + 84 * i;
    const d = f16(src, b + 80), dmin = f16(src, b + 82);
    let y = dstOff + QK_K * i;
    let is = 0;
    for (let h = 0; h < 2; h++) {
      const q = b + 16 + 32 * h;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 32; half += 16) {
          const sc = src[b + is++];
          const dl = fr(d * (sc & 15)), ml = fr(dmin * (sc >> 4));
          for (let l = 0; l < 16; l++) dst[y++] = fr(dl * ((src[q + half + l] >> shift) & 3)) - ml;
        }
      }
    }
  }
}

const kWeights = new Float32Array(32);
const kScales = new Float32Array(16);
const kMins = new Float32Array(16);
const kLu = new Uint8Array(QK_K);
const kLs = new Int8Array(QK_K);

export function quantizeQ2_K(
  src: Float32Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  n: number,
): void {
  const nb = n / QK_K;
  const L = kLu;
  for (let i = 0; i < nb; i++) {
    const x = srcOff + QK_K * i;
    const b = dstOff + 84 * i;
    let maxScale = 0, maxMin = 0;
    for (let j = 0; j < 16; j++) {
      for (let l = 0; l < 16; l++) kWeights[l] = Math.abs(src[x + 16 * j + l]);
      kScales[j] = makeQkx2Quants(16, 3, src, x + 16 * j, kWeights, L, 16 * j, -0.5, fr(0.1), 15, true);
      kMins[j] = theMin[0];
      if (kScales[j] > maxScale) maxScale = kScales[j];
      if (kMins[j] > maxMin) maxMin = kMins[j];
    }
    if (maxScale > 0) {
      const iscale = fr(15 / maxScale);
      for (let j = 0; j < 16; j++) dst[b + j] = nearestInt(fr(iscale * kScales[j]));
      writeF16(dst, b + 80, fr(maxScale / 15));
    } else {
      for (let j = 0; j < 16; j++) dst[b + j] = 0;
      writeF16(dst, b + 80, 0);
    }
    if (maxMin > 0) {
      const iscale = fr(15 / maxMin);
      for (let j = 0; j < 16; j++) dst[b + j] |= nearestInt(fr(iscale * kMins[j])) << 4;
      writeF16(dst, b + 82, fr(maxMin / 15));
    } else {
      writeF16(dst, b + 82, 0);
    }
    const dAll = f16(dst, b + 80), mAll = f16(dst, b + 82);
    for (let j = 0; j < 16; j++) {
      const d = fr(dAll * (dst[b + j] & 15));
      if (d === 0) continue;
      const dm = fr(mAll * (dst[b + j] >> 4));
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fr(fr(src[x + 16 * j + ii] + dm) / d));
        L[16 * j + ii] = Math.max(0, Math.min(3, l));
      }
    }
    for (let j = 0; j < QK_K; j += 128) {
      for (let l = 0; l < 32; l++) {
        dst[b + 16 + j / 4 + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
          (L[j + l + 96] << 6);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------- Q3_K

/** Unpacks the 16 six-bit Q3_K scales (still biased by 32) of the block at b into out[0..15]. */
function unpackQ3Scales(s: Uint8Array, b: number, out: Int32Array): void {
  const p = b + 96;
  for (let k = 0; k < 4; k++) {
    const hi = s[p + 8 + k];
    out[k] = (s[p + k] & 15) | ((hi & 3) << 4);
    out[4 + k] = (s[p + 4 + k] & 15) | (((hi >> 2) & 3) << 4);
    out[8 + k] = (s[p + k] >> 4) | (((hi >> 4) & 3) << 4);
    out[12 + k] = (s[p + 4 + k] >> 4) | (((hi >> 6) & 3) << 4);
  }
}
const q3Scales = new Int32Array(16);

export function dequantizeQ3_K(
  src: Uint8Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
): void {
  const nb = n / QK_K;
  const sc = q3Scales;
  for (let i = 0; i < nb; i++) {
    const b = srcOff + 110 * i;
    const dAll = f16(src, b + 108);
    unpackQ3Scales(src, b, sc);
    let y = dstOff + QK_K * i;
    let is = 0;
    let m = 1;
    for (let h = 0; h < 2; h++) {
      const q = b + 32 + 32 * h;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 32; half += 16) {
          const dl = fr(dAll * (sc[is++] - 32));
          for (let l = 0; l < 16; l++) {
            const lo = (src[q + half + l] >> shift) & 3;
            dst[y++] = dl * (lo - ((src[b + half + l] & m) ? 0 : 4));
          }
        }
        m <<= 1;
      }
    }
  }
}

export function quantizeQ3_K(
  src: Float32Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  n: number,
): void {
  const nb = n / QK_K;
  const L = kLs;
  for (let i = 0; i < nb; i++) {
    const x = srcOff + QK_K * i;
    const b = dstOff + 110 * i;
    let maxScale = 0, amax = 0;
    for (let j = 0; j < 16; j++) {
      kScales[j] = makeQ3Quants(16, 4, src, x + 16 * j, L, 16 * j);
      const scale = Math.abs(kScales[j]);
      if (scale > amax) {
        amax = scale;
        maxScale = kScales[j];
      }
    }
    const s = b + 96;
    for (let k = 0; k < 12; k++) dst[s + k] = 0;
    if (maxScale !== 0) {
      const iscale = fr(-32 / maxScale);
      for (let j = 0; j < 16; j++) {
        let l = (nearestInt(fr(iscale * kScales[j])) << 24) >> 24;
        l = Math.max(-32, Math.min(31, l)) + 32;
        if (j < 8) dst[s + j] = l & 15;
        else dst[s + j - 8] |= (l & 15) << 4;
        l >>= 4;
        dst[s + (j % 4) + 8] |= l << (2 * (j >> 2));
      }
      writeF16(dst, b + 108, fr(1 / iscale));
    } else {
      writeF16(dst, b + 108, 0);
    }
    const dAll = f16(dst, b + 108);
    for (let j = 0; j < 16; j++) {
      let sc = j < 8 ? dst[s + j] & 15 : dst[s + j - 8] >> 4;
      sc = (sc | (((dst[s + 8 + (j % 4)] >> (2 * (j >> 2))) & 3) << 4)) - 32;
      const d = fr(dAll * sc);
      if (d === 0) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fr(src[x + 16 * j + ii] / d));
        L[16 * j + ii] = Math.max(-4, Math.min(3, l)) + 4;
      }
    }
    for (let k = 0; k < 32; k++) dst[b + k] = 0;
    let m = 0, hm = 1;
    for (let j = 0; j < QK_K; j++) {
      if (L[j] > 3) {
        dst[b + m] |= hm;
        L[j] -= 4;
      }
      if (++m === 32) {
        m = 0;
        hm <<= 1;
      }
    }
    for (let j = 0; j < QK_K; j += 128) {
      for (let l = 0; l < 32; l++) {
        dst[b + 32 + j / 4 + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
          (L[j + l + 96] << 6);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------- Q4_K / Q5_K

export function dequantizeQ4_K(
  src: Uint8Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
): void {
  const nb = n / QK_K;
  for (let i = 0; i < nb; i++) {
    const b = srcOff + 144 * i;
    const d = f16(src, b), dmin = f16(src, b + 2);
    let y = dstOff + QK_K * i;
    for (let c = 0; c < 4; c++) {
      const q = b + 16 + 32 * c;
      const d1 = fr(d * scaleK4(src, b + 4, 2 * c)), m1 = fr(dmin * minK4(src, b + 4, 2 * c));
      const d2 = fr(d * scaleK4(src, b + 4, 2 * c + 1)), m2 = fr(dmin * minK4(src, b + 4, 2 * c + 1));
      for (let l = 0; l < 32; l++) dst[y++] = fr(d1 * (src[q + l] & 15)) - m1;
      for (let l = 0; l < 32; l++) dst[y++] = fr(d2 * (src[q + l] >> 4)) - m2;
    }
  }
}

export function dequantizeQ5_K(
  src: Uint8Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
): void {
  const nb = n / QK_K;
  for (let i = 0; i < nb; i++) {
    const b = srcOff + 176 * i;
    const d = f16(src, b), dmin = f16(src, b + 2);
    const qh = b + 16;
    let y = dstOff + QK_K * i;
    let u1 = 1, u2 = 2;
    for (let c = 0; c < 4; c++) {
      const q = b + 48 + 32 * c;
      const d1 = fr(d * scaleK4(src, b + 4, 2 * c)), m1 = fr(dmin * minK4(src, b + 4, 2 * c));
      const d2 = fr(d * scaleK4(src, b + 4, 2 * c + 1)), m2 = fr(dmin * minK4(src, b + 4, 2 * c + 1));
      for (let l = 0; l < 32; l++) dst[y++] = fr(d1 * ((src[q + l] & 15) + (src[qh + l] & u1 ? 16 : 0))) - m1;
      for (let l = 0; l < 32; l++) dst[y++] = fr(d2 * ((src[q + l] >> 4) + (src[qh + l] & u2 ? 16 : 0))) - m2;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
}

/**
 * The part Q4_K and Q5_K share: per-32 scale/min search, 6-bit packing of scales and mins at s..s+11,
 * d/dmin at b, b+2, and the requantized levels in L (0..nmax).
 */
function quantizeK4Scales(
  src: Float32Array,
  x: number,
  dst: Uint8Array,
  b: number,
  nmax: number,
  rmin: number,
  rdelta: number,
  nstep: number,
  L: Uint8Array,
): void {
  let maxScale = 0, maxMin = 0;
  for (let j = 0; j < 8; j++) {
    const xj = x + 32 * j;
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(src[xj + l] * src[xj + l]));
    const avX = fr(Math.sqrt(fr(sumX2 / 32)));
    for (let l = 0; l < 32; l++) kWeights[l] = fr(avX + Math.abs(src[xj + l]));
    kScales[j] = makeQkx2Quants(32, nmax, src, xj, kWeights, L, 32 * j, rmin, rdelta, nstep, false);
    kMins[j] = theMin[0];
    if (kScales[j] > maxScale) maxScale = kScales[j];
    if (kMins[j] > maxMin) maxMin = kMins[j];
  }
  const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
  const s = b + 4;
  for (let j = 0; j < 8; j++) {
    const ls = Math.min(63, nearestInt(fr(invScale * kScales[j])) & 0xff);
    const lm = Math.min(63, nearestInt(fr(invMin * kMins[j])) & 0xff);
    if (j < 4) {
      dst[s + j] = ls;
      dst[s + j + 4] = lm;
    } else {
      dst[s + j + 4] = (ls & 15) | ((lm & 15) << 4);
      dst[s + j - 4] |= (ls >> 4) << 6;
      dst[s + j] |= (lm >> 4) << 6;
    }
  }
  writeF16(dst, b, fr(maxScale / 63));
  writeF16(dst, b + 2, fr(maxMin / 63));
  const dAll = f16(dst, b), mAll = f16(dst, b + 2);
  for (let j = 0; j < 8; j++) {
    const d = fr(dAll * scaleK4(dst, s, j));
    if (d === 0) continue;
    const dm = fr(mAll * minK4(dst, s, j));
    for (let ii = 0; ii < 32; ii++) {
      const l = nearestInt(fr(fr(src[x + 32 * j + ii] + dm) / d));
      L[32 * j + ii] = Math.max(0, Math.min(nmax, l));
    }
  }
}

export function quantizeQ4_K(
  src: Float32Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  n: number,
): void {
  const nb = n / QK_K;
  const L = kLu;
  for (let i = 0; i < nb; i++) {
    const x = srcOff + QK_K * i;
    const b = dstOff + 144 * i;
    quantizeK4Scales(src, x, dst, b, 15, -1, fr(0.1), 20, L);
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) dst[b + 16 + 32 * c + l] = L[64 * c + l] | (L[64 * c + l + 32] << 4);
    }
  }
}

export function quantizeQ5_K(
  src: Float32Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  n: number,
): void {
  const nb = n / QK_K;
  const L = kLu;
  for (let i = 0; i < nb; i++) {
    const x = srcOff + QK_K * i;
    const b = dstOff + 176 * i;
    quantizeK4Scales(src, x, dst, b, 31, -0.5, fr(0.1), 15, L);
    const qh = b + 16;
    for (let k = 0; k < 32; k++) dst[qh + k] = 0;
    let m1 = 1, m2 = 2;
    for (let c = 0; c < 4; c++) {
      const ql = b + 48 + 32 * c;
      for (let j = 0; j < 32; j++) {
        let l1 = L[64 * c + j];
        if (l1 > 15) {
          l1 -= 16;
          dst[qh + j] |= m1;
        }
        let l2 = L[64 * c + j + 32];
        if (l2 > 15) {
          l2 -= 16;
          dst[qh + j] |= m2;
        }
        dst[ql + j] = l1 | (l2 << 4);
      }
      m1 <<= 2;
      m2 <<= 2;
    }
  }
}

// ---------------------------------------------------------------------------------------------- Q6_K

export function dequantizeQ6_K(
  src: Uint8Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
): void {
  const nb = n / QK_K;
  const s8 = new Int8Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < nb; i++) {
    const b = srcOff + 210 * i;
    const d = f16(src, b + 208);
    for (let h = 0; h < 2; h++) {
      const ql = b + 64 * h, qh = b + 128 + 32 * h, sc = b + 192 + 8 * h;
      const y = dstOff + QK_K * i + 128 * h;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const hb = src[qh + l];
        const q1 = ((src[ql + l] & 15) | ((hb & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32] & 15) | (((hb >> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l] >> 4) | (((hb >> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32] >> 4) | (((hb >> 6) & 3) << 4)) - 32;
        dst[y + l] = fr(d * s8[sc + is]) * q1;
        dst[y + l + 32] = fr(d * s8[sc + is + 2]) * q2;
        dst[y + l + 64] = fr(d * s8[sc + is + 4]) * q3;
        dst[y + l + 96] = fr(d * s8[sc + is + 6]) * q4;
      }
    }
  }
}

export function quantizeQ6_K(
  src: Float32Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  n: number,
): void {
  const nb = n / QK_K;
  const L = kLs;
  const d8 = new Int8Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < nb; i++) {
    const x = srcOff + QK_K * i;
    const b = dstOff + 210 * i;
    let maxScale = 0, maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuants(16, 32, src, x + 16 * ib, L, 16 * ib);
      kScales[ib] = scale;
      if (Math.abs(scale) > maxAbsScale) {
        maxAbsScale = Math.abs(scale);
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      for (let k = 0; k < 210; k++) dst[b + k] = 0;
      continue;
    }
    const iscale = fr(-128 / maxScale);
    writeF16(dst, b + 208, fr(1 / iscale));
    for (let ib = 0; ib < 16; ib++) d8[b + 192 + ib] = Math.min(127, nearestInt(fr(iscale * kScales[ib])));
    const dAll = f16(dst, b + 208);
    for (let j = 0; j < 16; j++) {
      const d = fr(dAll * d8[b + 192 + j]);
      if (d === 0) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fr(src[x + 16 * j + ii] / d));
        L[16 * j + ii] = Math.max(-32, Math.min(31, l)) + 32;
      }
    }
    for (let h = 0; h < 2; h++) {
      const ql = b + 64 * h, qh = b + 128 + 32 * h, j = 128 * h;
      for (let l = 0; l < 32; l++) {
        const a = L[j + l], c = L[j + l + 32], e = L[j + l + 64], g = L[j + l + 96];
        dst[ql + l] = (a & 15) | ((e & 15) << 4);
        dst[ql + l + 32] = (c & 15) | ((g & 15) << 4);
        dst[qh + l] = (a >> 4) | ((c >> 4) << 2) | ((e >> 4) << 4) | ((g >> 4) << 6);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------- Q8_K

export function dequantizeQ8_K(
  src: Uint8Array,
  srcOff: number,
  dst: Float32Array,
  dstOff: number,
  n: number,
): void {
  const nb = n / QK_K;
  const s8 = new Int8Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < nb; i++) {
    const b = srcOff + 292 * i;
    const d = readF32(src, b);
    const y = dstOff + QK_K * i;
    for (let j = 0; j < QK_K; j++) dst[y + j] = d * s8[b + 4 + j];
  }
}

/** Q8_K, the activation type of the K-quant dot products. Unlike ggml, an all-zero block gets zero bsums. */
export function quantizeQ8_K(
  src: Float32Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  n: number,
): void {
  const nb = n / QK_K;
  for (let i = 0; i < nb; i++) {
    const x = srcOff + QK_K * i;
    const b = dstOff + 292 * i;
    let max = 0, amax = 0;
    for (let j = 0; j < QK_K; j++) {
      const ax = Math.abs(src[x + j]);
      if (ax > amax) {
        amax = ax;
        max = src[x + j];
      }
    }
    if (amax === 0) {
      for (let k = 0; k < 292; k++) dst[b + k] = 0;
      continue;
    }
    const iscale = fr(-127 / max);
    for (let j = 0; j < QK_K; j++) dst[b + 4 + j] = Math.min(127, nearestInt(fr(iscale * src[x + j])));
    for (let j = 0; j < 16; j++) {
      let sum = 0;
      for (let ii = 0; ii < 16; ii++) sum += (dst[b + 4 + 16 * j + ii] << 24) >> 24;
      dst[b + 260 + 2 * j] = sum & 0xff;
      dst[b + 261 + 2 * j] = (sum >> 8) & 0xff;
    }
    writeF32(dst, b, fr(1 / iscale));
  }
}
