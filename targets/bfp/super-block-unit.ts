/**
 * The super-block vector processor (SBVP): its weight mapper, which unpacks each K-quant super-block as it
 * arrives into 256 signed quants, 16 sub-block scales and 16 sub-block mins (one per 16 elements) plus the
 * fp16 super-block scales widened to f32, and its dot-product unit.
 *
 * The unpacking follows the block layouts (formats.md §1.5; acc_config.sc.h redeclares ggml's structs):
 *   Q2_K 84 B:  scales[16] (scale low nibble, min high nibble) · qs[64] 2-bit · d · dmin
 *   Q3_K 110 B: hmask[32] · qs[64] low 2 bits · scales[12] 6-bit, offset 32 · d   (quant − 4 if hmask bit clear)
 *   Q4_K 144 B: d · dmin · scales[12] (8 × 6-bit scale and min) · qs[128] 4-bit
 *   Q5_K 176 B: d · dmin · scales[12] · qh[32] fifth bit · qs[128]
 *   Q6_K 210 B: ql[128] low 4 bits · qh[64] high 2 bits · scales[16] int8 · d       (quant − 32)
 *   Q8_K 292 B: d f32 · qs[256] int8 · bsums[16] int16 (sums of 16 quants)
 *
 * The dot product of one weight row with one activation row (kb super-blocks) is integer per super-block:
 * for each of the 16 sub-blocks, products of 16 quant pairs, weighted by the sub-block scale; the variant's
 * f32 epilogue is then ggml's `vec_dot_qX_K_q8_K` reference order (what llama.cpp's CPU backend and Lathe's
 * runtime compute), so the result is bit-exact with them:
 *  - Q2_K: sumf += dall·isum − dmin·Σ bsums·min per super-block (dall = d_y·d, dmin = d_y·dmin);
 *  - Q3_K..Q6_K: the scaled products split into 8 integer lanes by element index mod 8, each lane scaled by
 *    d·d_y into its own f32 accumulator across super-blocks; Q4_K/Q5_K subtract dmin·d_y·Σ bsums·min
 *    from the running sum per super-block; the 8 lanes are added last.
 * Every f32 step is rounded to f32, as the C code's float arithmetic is.
 */
import { LatheError } from "../../ir/errors.ts";
import { F16_TO_F32 } from "../../runtime/ggml/fp16.ts";
import { SUP_KMB, SUP_KNB } from "./descriptor.ts";
import { QK_K } from "./protocol.ts";

const fr = Math.fround;
const f16 = (b: Uint8Array, o: number) => F16_TO_F32[b[o] | (b[o + 1] << 8)];

/** Sub-block scale and min of Q4_K/Q5_K's packed 12 bytes, sub-block j of 8 (32 elements each). */
function scaleMin6(b: Uint8Array, s: number, j: number, min: boolean): number {
  if (j < 4) return b[s + j + (min ? 4 : 0)] & 63;
  return min
    ? (b[s + j + 4] >> 4) | ((b[s + j] >> 6) << 4)
    : (b[s + j + 4] & 15) | ((b[s + j - 4] >> 6) << 4);
}

export class SuperBlockUnit {
  /** Weight buffer: SUP_KMB unpacked super-blocks. */
  private readonly wq = new Int8Array(SUP_KMB * QK_K);
  private readonly wScale = new Int32Array(SUP_KMB * 16);
  private readonly wMin = new Int32Array(SUP_KMB * 16);
  private readonly wD = new Float32Array(SUP_KMB);
  private readonly wDmin = new Float32Array(SUP_KMB);
  /** Input buffer: SUP_KNB Q8_K super-blocks. */
  private readonly iq = new Int8Array(SUP_KNB * QK_K);
  private readonly iSums = new Int32Array(SUP_KNB * 16);
  private readonly iD = new Float32Array(SUP_KNB);
  /** The 8 f32 lane accumulators of one output. */
  private readonly acc = new Float32Array(8);

  /** Stores a Q8_K super-block at input slot `slot` from `b` at byte `o`. */
  loadInput(slot: number, b: Uint8Array, o: number): void {
    if (slot >= SUP_KNB) {
      throw new LatheError("runtime", `input super-block ${slot} overflows SUP_KNB ${SUP_KNB}`);
    }
    this.iD[slot] = new DataView(b.buffer, b.byteOffset + o, 4).getFloat32(0, true);
    const q = slot * QK_K;
    for (let e = 0; e < QK_K; e++) this.iq[q + e] = b[o + 4 + e];
    for (let g = 0; g < 16; g++) {
      this.iSums[slot * 16 + g] = ((b[o + 260 + 2 * g] | (b[o + 261 + 2 * g] << 8)) << 16) >> 16;
    }
  }

  /** The weight mapper: unpacks a super-block of `variant` (2..6) from `b` at byte `o` into weight slot `slot`. */
  loadWeight(slot: number, variant: number, b: Uint8Array, o: number): void {
    if (slot >= SUP_KMB) {
      throw new LatheError("runtime", `weight super-block ${slot} overflows SUP_KMB ${SUP_KMB}`);
    }
    const q = this.wq, wb = slot * QK_K, sb = slot * 16;
    switch (variant) {
      case 2:
        for (let e = 0; e < QK_K; e++) {
          const h = e >> 7, j = (e & 127) >> 5, l = e & 31;
          q[wb + e] = (b[o + 16 + 32 * h + l] >> (2 * j)) & 3;
        }
        for (let g = 0; g < 16; g++) {
          this.wScale[sb + g] = b[o + g] & 15;
          this.wMin[sb + g] = b[o + g] >> 4;
        }
        this.wD[slot] = f16(b, o + 80);
        this.wDmin[slot] = f16(b, o + 82);
        return;
      case 3:
        for (let e = 0; e < QK_K; e++) {
          const h = e >> 7, j = (e & 127) >> 5, l = e & 31;
          const low = (b[o + 32 + 32 * h + l] >> (2 * j)) & 3;
          q[wb + e] = low - ((b[o + l] >> (4 * h + j)) & 1 ? 0 : 4);
        }
        for (let g = 0; g < 16; g++) {
          const low = g < 8 ? b[o + 96 + g] & 15 : b[o + 96 + g - 8] >> 4;
          const high = (b[o + 104 + (g & 3)] >> (2 * (g >> 2))) & 3;
          this.wScale[sb + g] = (low | (high << 4)) - 32;
          this.wMin[sb + g] = 0;
        }
        this.wD[slot] = f16(b, o + 108);
        this.wDmin[slot] = 0;
        return;
      case 4:
      case 5: {
        const five = variant === 5, qs = o + (five ? 48 : 16);
        for (let e = 0; e < QK_K; e++) {
          const c = e >> 6, r = e & 63, l = r & 31, byte = b[qs + 32 * c + l];
          let v = r < 32 ? byte & 15 : byte >> 4;
          if (five && (b[o + 16 + l] >> (2 * c + (r >> 5))) & 1) v += 16;
          q[wb + e] = v;
        }
        for (let g = 0; g < 16; g++) {
          this.wScale[sb + g] = scaleMin6(b, o + 4, g >> 1, false);
          this.wMin[sb + g] = scaleMin6(b, o + 4, g >> 1, true);
        }
        this.wD[slot] = f16(b, o);
        this.wDmin[slot] = f16(b, o + 2);
        return;
      }
      case 6:
        for (let e = 0; e < QK_K; e++) {
          const h = e >> 7, quarter = (e & 127) >> 5, l = e & 31;
          const lo = b[o + 64 * h + (quarter & 1) * 32 + l];
          const low = quarter < 2 ? lo & 15 : lo >> 4;
          const high = (b[o + 128 + 32 * h + l] >> (2 * quarter)) & 3;
          q[wb + e] = (low | (high << 4)) - 32;
        }
        for (let g = 0; g < 16; g++) {
          this.wScale[sb + g] = (b[o + 192 + g] << 24) >> 24;
          this.wMin[sb + g] = 0;
        }
        this.wD[slot] = f16(b, o + 208);
        this.wDmin[slot] = 0;
        return;
      default:
        throw new LatheError("runtime", `wgt_type ${variant} is not a variant of the unit (2..6)`);
    }
  }

  /** One output: weight slots w0..w0+kb−1 against input slots x0..x0+kb−1. */
  dot(variant: number, w0: number, x0: number, kb: number): number {
    const wq = this.wq, iq = this.iq, wScale = this.wScale, wMin = this.wMin, iSums = this.iSums;
    let sumf = 0;
    if (variant === 2) {
      for (let k = 0; k < kb; k++) {
        const w = w0 + k, x = x0 + k, wb = w * QK_K, xb = x * QK_K, sb = w * 16, ib = x * 16;
        let isum = 0, summs = 0;
        for (let g = 0; g < 16; g++) {
          let s = 0;
          for (let e = 16 * g, end = e + 16; e < end; e++) s += iq[xb + e] * wq[wb + e];
          isum += wScale[sb + g] * s;
          summs += iSums[ib + g] * wMin[sb + g];
        }
        const yd = this.iD[x];
        const dall = fr(yd * this.wD[w]), dmin = fr(yd * this.wDmin[w]);
        sumf = fr(sumf + fr(fr(dall * fr(isum)) - fr(dmin * fr(summs))));
      }
      return sumf;
    }
    const acc = this.acc;
    acc.fill(0);
    const mins = variant === 4 || variant === 5;
    for (let k = 0; k < kb; k++) {
      const w = w0 + k, x = x0 + k, wb = w * QK_K, xb = x * QK_K, sb = w * 16;
      let l0 = 0, l1 = 0, l2 = 0, l3 = 0, l4 = 0, l5 = 0, l6 = 0, l7 = 0;
      for (let g = 0; g < 16; g++) {
        const sc = wScale[sb + g], a = xb + 16 * g, c = wb + 16 * g;
        l0 += sc * (iq[a] * wq[c] + iq[a + 8] * wq[c + 8]);
        l1 += sc * (iq[a + 1] * wq[c + 1] + iq[a + 9] * wq[c + 9]);
        l2 += sc * (iq[a + 2] * wq[c + 2] + iq[a + 10] * wq[c + 10]);
        l3 += sc * (iq[a + 3] * wq[c + 3] + iq[a + 11] * wq[c + 11]);
        l4 += sc * (iq[a + 4] * wq[c + 4] + iq[a + 12] * wq[c + 12]);
        l5 += sc * (iq[a + 5] * wq[c + 5] + iq[a + 13] * wq[c + 13]);
        l6 += sc * (iq[a + 6] * wq[c + 6] + iq[a + 14] * wq[c + 14]);
        l7 += sc * (iq[a + 7] * wq[c + 7] + iq[a + 15] * wq[c + 15]);
      }
      const d = fr(this.wD[w] * this.iD[x]);
      acc[0] += fr(d * fr(l0));
      acc[1] += fr(d * fr(l1));
      acc[2] += fr(d * fr(l2));
      acc[3] += fr(d * fr(l3));
      acc[4] += fr(d * fr(l4));
      acc[5] += fr(d * fr(l5));
      acc[6] += fr(d * fr(l6));
      acc[7] += fr(d * fr(l7));
      if (mins) {
        let summs = 0;
        for (let g = 0, ib = x * 16; g < 16; g++) summs += iSums[ib + g] * wMin[sb + g];
        sumf = fr(sumf - fr(fr(this.wDmin[w] * this.iD[x]) * fr(summs)));
      }
    }
    for (let l = 0; l < 8; l++) sumf = fr(sumf + acc[l]);
    return sumf;
  }
}
