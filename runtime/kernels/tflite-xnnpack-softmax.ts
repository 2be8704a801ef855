/**
 * Float softmax over the last axis as LiteRT's CPU path computes it (XNNPACK's softmax operator): the row
 * maximum, then f32-raddstoreexpminusmax (rr2_p5: e^(x−max) from a rounded power of two and a degree-5
 * polynomial in the two-step range-reduced remainder, flushed to 0 below the denormal cutoff) storing each
 * exponential while summing them, then one multiply of every exponential by the float32 reciprocal of the
 * sum. The multiply-adds are the engine's (fused with relaxed SIMD), as in the convolutions.
 */
import { xnnMadd } from "./tflite-xnnpack-conv.ts";

const f = Math.fround;
const bitsF32 = new Float32Array(1), bitsI32 = new Int32Array(bitsF32.buffer);

// The kernel's hex-float constants, exactly.
const LOG2E = 1.4426950216293335;
const MAGIC = 12583039; // 2^23 + 2^22 + 127
const MINUS_LN2_HI = -0.693145751953125;
const MINUS_LN2_LO = -1.428606765330187e-06;
const C5 = 0.008289290592074394;
const C4 = 0.04189782217144966;
const C3 = 0.16667652130126953;
const C2 = 0.4999915063381195;
const C1 = 0.9999997019767761;
const DENORM_CUTOFF = -87.33654022216797;

/**
 * out = softmax(x) row by row over rows of `d`. The sum follows the kernel's lanes: element i goes to lane
 * i mod 4 while whole groups of four remain, the lanes are folded as (l0 + l2) + (l1 + l3), then a last
 * pair is added as its own sum and a last single element after it.
 */
export function xnnSoftmax(x: Float32Array, o: Float32Array, d: number): void {
  const madd = xnnMadd();
  const rows = d === 0 ? 0 : x.length / d, full = d & ~3;
  for (let r = 0; r < rows; r++) {
    const s0 = r * d;
    let m = -Infinity;
    for (let i = 0; i < d; i++) if (x[s0 + i] > m) m = x[s0 + i];
    let l0 = 0, l1 = 0, l2 = 0, l3 = 0;
    for (let i = 0; i < d; i++) {
      const v = f(x[s0 + i] - m);
      let n = madd(v, LOG2E, MAGIC);
      bitsF32[0] = n;
      bitsI32[0] <<= 23;
      const s = bitsF32[0];
      n = f(n - MAGIC);
      let t = madd(n, MINUS_LN2_HI, v);
      t = madd(n, MINUS_LN2_LO, t);
      let p = madd(C5, t, C4);
      p = madd(p, t, C3);
      p = madd(p, t, C2);
      p = madd(p, t, C1);
      t = f(t * s);
      const e = v < DENORM_CUTOFF ? 0 : madd(t, p, s);
      o[s0 + i] = e;
      if (i < full) {
        switch (i & 3) {
          case 0:
            l0 = f(l0 + e);
            break;
          case 1:
            l1 = f(l1 + e);
            break;
          case 2:
            l2 = f(l2 + e);
            break;
          default:
            l3 = f(l3 + e);
        }
      }
    }
    let sum = f(f(l0 + l2) + f(l1 + l3));
    if (d & 2) sum = f(sum + f(o[s0 + full] + o[s0 + full + 1]));
    if (d & 1) sum = f(sum + o[s0 + d - 1]);
    const scale = f(1 / sum);
    for (let i = 0; i < d; i++) o[s0 + i] = f(o[s0 + i] * scale);
  }
}
