/**
 * Decode tables of PoTAcc-style shift PEs, as data (accelerators.md §4.1): a 4-bit weight code is a sign
 * (bit 3) and a 3-bit magnitude code m; the PE adds at most two shifted copies of the 8-bit activation.
 * `terms[m]` lists those left shifts (empty: the product is zero). The tables differ between accelerator
 * versions, so a model quantized for one must use that one's table.
 */
import { LatheError } from "../../ir/errors.ts";

export type PotMethod = "pot" | "apot" | "msq";

export interface PotDecodeTable {
  /** `<version>-<method>`, e.g. potacc-v12-apot. */
  readonly name: string;
  readonly version: string;
  readonly method: PotMethod;
  /** Where the decode is described. */
  readonly source: string;
  /** For magnitude codes 0..7, the shifts whose sum is the magnitude. */
  readonly terms: readonly (readonly number[])[];
}

const V12 =
  "gicLAB/PoTAcc model_inference/src/secda_delegates/vm_shift_delegate/v12/accelerator/vm_gemm.sc.h";
const SA4 = "gicLAB/SECDA-TFLite sa_delegate/v4/accelerator/w1.sc.h";

export const POT_TABLES: readonly PotDecodeTable[] = [
  // QKeras power-of-two: x << m.
  {
    name: "potacc-v12-pot",
    version: "potacc-v12",
    method: "pot",
    source: V12,
    terms: [[0], [1], [2], [3], [4], [5], [6], [7]],
  },
  // MSQ: term 1 = x << m[2:1] for m[2:1] = 0..2, none for 3; term 2 = 4x when m[0].
  {
    name: "potacc-v12-msq",
    version: "potacc-v12",
    method: "msq",
    source: V12,
    terms: [[0], [0, 2], [1], [1, 2], [2], [2, 2], [], [2]],
  },
  // APoT: term 1 = x, none, 4x, 8x for m[2:1] = 0..3; term 2 = 2x when m[0].
  {
    name: "potacc-v12-apot",
    version: "potacc-v12",
    method: "apot",
    source: V12,
    terms: [[0], [0, 1], [], [1], [2], [2, 1], [3], [3, 1]],
  },
  // SA v4 MSQ: term 1 = none, 2x, 4x, 8x; term 2 = 2x.
  {
    name: "secda-sa-v4-msq",
    version: "secda-sa-v4",
    method: "msq",
    source: SA4,
    terms: [[], [1], [1], [1, 1], [2], [2, 1], [3], [3, 1]],
  },
  // SA v4 APoT: term 1 = none, 2x, 4x, 16x; term 2 = 8x.
  {
    name: "secda-sa-v4-apot",
    version: "secda-sa-v4",
    method: "apot",
    source: SA4,
    terms: [[], [3], [1], [1, 3], [2], [2, 3], [4], [4, 3]],
  },
];

export const DEFAULT_POT_VERSION = "potacc-v12";

export function potTable(method: PotMethod, version = DEFAULT_POT_VERSION): PotDecodeTable {
  const t = POT_TABLES.find((x) => x.method === method && x.version === version);
  if (!t) {
    const have = POT_TABLES.filter((x) => x.method === method).map((x) => x.version);
    throw new LatheError(
      "usage",
      `no ${method} decode table for ${version} (have: ${have.join(", ") || "none"})`,
    );
  }
  return t;
}

/** The PE's `terms` attribute: two shifts per magnitude code, −1 where absent. */
export function termsAttr(t: PotDecodeTable): number[] {
  return t.terms.flatMap((s) => [s[0] ?? -1, s[1] ?? -1]);
}

/** Signed multiplier of each 4-bit code (the element type's table): ±Σ 2^shift. */
export function codeMultipliers(t: PotDecodeTable): number[] {
  const out: number[] = [];
  for (let c = 0; c < 16; c++) {
    const m = t.terms[c & 7].reduce((s, k) => s + 2 ** k, 0);
    out.push(c & 8 && m !== 0 ? -m : m);
  }
  return out;
}
