/**
 * The v12 shift PE (vm_gemm.sc.h `mul_lut`, accelerators.md §4.1) as arithmetic: the 8-bit signed
 * activation is shifted by the fields of the weight code's magnitude bits b[2:0], each term held in its
 * register width, the terms summed into the method's product width (PROD_DATA_WIDTH), and the product
 * added to or subtracted from the 32-bit accumulator as bit 3 says.
 *
 *   QKeras  term  x << b[2:0]                                      (15 bits)
 *   MSQ     term1 x << b[2:1], none when b[2:1] = 3 (10 bits); term2 x << 2 when b[0] (10 bits); sum 11 bits
 *   APoT    term1 x << b[2:1], none when b[2:1] = 1 (11 bits); term2 x << 1 when b[0] (9 bits);  sum 12 bits
 *
 * Register widths wrap as two's-complement hardware does; with 8-bit signed activations no term or product
 * of these three methods ever leaves its width (the widths were chosen for that), which the tests check.
 */
import type { PotMethod } from "../../passes/quantize/pot-tables.ts";
import { SHIFT_PES } from "./descriptor.ts";

/** v to `bits` two's-complement bits, sign-extended. */
export function wrapBits(v: number, bits: number): number {
  const s = 32 - bits;
  return (v << s) >> s;
}

/**
 * Per 4-bit code: each term's shift and mask (0 where the term is absent) and the sign (±1), in the form
 * the tile loop reads: term_i = wrap(x << s_i, w_i) & m_i.
 */
export interface ShiftDecode {
  readonly s1: Int32Array;
  readonly s2: Int32Array;
  readonly m1: Int32Array;
  readonly m2: Int32Array;
  readonly sign: Int32Array;
  /** 32 − the term widths and the product width, for the wrapping shifts. */
  readonly w1: number;
  readonly w2: number;
  readonly wp: number;
}

const decodes = new Map<PotMethod, ShiftDecode>();

/** The PE's decode of the 16 codes for `method`, from the hardware's bit fields. */
export function shiftDecode(method: PotMethod): ShiftDecode {
  let d = decodes.get(method);
  if (d) return d;
  const spec = SHIFT_PES[method];
  const s1 = new Int32Array(16), s2 = new Int32Array(16), m1 = new Int32Array(16), m2 = new Int32Array(16);
  const sign = new Int32Array(16);
  for (let c = 0; c < 16; c++) {
    const b = c & 7, hi = b >> 1;
    sign[c] = c & 8 ? -1 : 1;
    if (method === "pot") {
      s1[c] = b;
      m1[c] = -1;
    } else if (method === "msq") {
      if (hi !== 3) (s1[c] = hi, m1[c] = -1);
      if (b & 1) (s2[c] = 2, m2[c] = -1);
    } else {
      if (hi !== 1) (s1[c] = hi, m1[c] = -1);
      if (b & 1) (s2[c] = 1, m2[c] = -1);
    }
  }
  const [t1, t2 = 32] = spec.termBits;
  d = { s1, s2, m1, m2, sign, w1: 32 - t1, w2: 32 - t2, wp: 32 - spec.productBits };
  decodes.set(method, d);
  return d;
}

/** One PE product with its sign applied: what the accumulator gains for activation x and code `code`. */
export function peProduct(method: PotMethod, x: number, code: number): number {
  const d = shiftDecode(method);
  const t1 = ((x << d.s1[code]) << d.w1 >> d.w1) & d.m1[code];
  const t2 = ((x << d.s2[code]) << d.w2 >> d.w2) & d.m2[code];
  return d.sign[code] * ((t1 + t2) << d.wp >> d.wp);
}
