/**
 * The SECDA-LLM BFP packet protocol (accelerators.md §1.0, §1.3; bfpp_acc v3 acc_config.sc.h and its
 * driver). Every packet on lane 0 starts with an opcode bitmask; the control unit handles set flags in the
 * order CONFIG, then the loads, then COMPUTE, each reading its header words:
 *
 *   CONFIG   [kb, M, N, wgt_type]            super-blocks per row, weight rows, activation rows, variant
 *   LOAD_INP [knb]                           knb Q8_K super-blocks follow, 73 words each
 *   LOAD_WGT [kmb, wgt_blck, a, b, c, d]     kmb weight super-blocks of wgt_blck words; lane l carries
 *                                            blocks l, l+4, … of the tile (a..d words on lanes 0..3)
 *   COMPUTE  [kmb, knb, mstep, nstep]        mstep·nstep f32 dot products, streamed back on lane 0
 *                                            activation row by activation row
 *
 * Lanes 1..3 carry only weight words (no opcode): the weight mapper reads them straight from their
 * FIFOs, so Lathe's command stream gives those transfers opcode 0. STORE (0x8) is in the opcode map but
 * v3's driver never sends it: results come back after each COMPUTE.
 *
 * Blocks go verbatim, padded to whole 32-bit words: the F-BFQ variant codes 2..6 are Q2_K..Q6_K (GGUF type
 * ids 10..14), activations are Q8_K (id 15).
 */
import { LatheError } from "../../ir/errors.ts";
import { GGML_TYPES } from "../../ir/ggml-type.ts";
import type { Cmd } from "../target.ts";

export const LOAD_INP = 0x1;
export const LOAD_WGT = 0x2;
export const COMPUTE = 0x4;
export const STORE = 0x8;
export const CONFIG = 0x10;

export const BFP_OPCODES = { LOAD_INP, LOAD_WGT, COMPUTE, STORE, CONFIG } as const;

export const FLAG_ORDER: readonly { flag: number; name: string; headerWords: number }[] = [
  { flag: CONFIG, name: "CONFIG", headerWords: 4 },
  { flag: LOAD_INP, name: "LOAD_INP", headerWords: 1 },
  { flag: LOAD_WGT, name: "LOAD_WGT", headerWords: 6 },
  { flag: COMPUTE, name: "COMPUTE", headerWords: 4 },
  { flag: STORE, name: "STORE", headerWords: 0 },
];

export const QK_K = 256;
export const Q8_K_ID = 15;

/** `wgt_type` 2..6 ↔ GGUF type ids of Q2_K..Q6_K. */
export const VARIANT_TYPE_IDS: Readonly<Record<number, number>> = { 2: 10, 3: 11, 4: 12, 5: 13, 6: 14 };

/** The F-BFQ variant code of a GGUF type id, or undefined for types the unit does not take. */
export function variantOf(typeId: number): number | undefined {
  return typeId >= 10 && typeId <= 14 ? typeId - 8 : undefined;
}

export function variantName(variant: number): string {
  return GGML_TYPES.get(VARIANT_TYPE_IDS[variant])?.name ?? `wgt_type ${variant}`;
}

/** Bytes of one super-block of a GGUF type. */
export function blockBytes(typeId: number): number {
  const info = GGML_TYPES.get(typeId);
  if (!info || info.blockSize !== QK_K) {
    throw new LatheError("unsupported", `type ${typeId} has no super-blocks`);
  }
  return info.typeSize;
}

/** 32-bit words one super-block occupies on the wire (acc_config.sc.h Q*_X32, INP_BLCK). */
export function blockWords(typeId: number): number {
  return Math.ceil(blockBytes(typeId) / 4);
}

export function opcodeName(op: number): string {
  if (op === 0) return "DATA";
  const names = FLAG_ORDER.filter((f) => op & f.flag).map((f) => f.name);
  return names.length ? names.join("|") : `0x${op.toString(16)}`;
}

/** Words on the wire: the opcode (absent on data-only lane transfers), the headers, the payload. */
export function packetWords(cmd: Cmd): number {
  let n = (cmd.opcode ? 1 : 0) + cmd.header.length;
  for (const p of cmd.payload) n += p.words;
  return n;
}

/** Each set flag's header words, checking the total length and that no unknown flag is set. */
export function headerFields(cmd: Cmd): Map<number, readonly number[]> {
  const out = new Map<number, readonly number[]>();
  let at = 0;
  for (const f of FLAG_ORDER) {
    if (!(cmd.opcode & f.flag)) continue;
    out.set(f.flag, cmd.header.slice(at, at + f.headerWords));
    at += f.headerWords;
  }
  if (at !== cmd.header.length || cmd.opcode & ~0x1f) {
    throw new LatheError(
      "runtime",
      `packet ${opcodeName(cmd.opcode)} has ${cmd.header.length} header words, expected ${at}`,
    );
  }
  return out;
}
