/**
 * MM2IM's packet protocol (acc_config.sc.h `struct opcode`, driver/mm2im_driver.h): the first word of every
 * packet is an opcode bitmask, load_con 0x1, load_wgt 0x2, load_inp 0x4, load_map 0x8, schedule 0x10,
 * load_col_map 0x20, store 0x40; set flags contribute their header words in that order, then the payload.
 * SCHEDULE means "stay in schedule mode after this packet": StartSchedule sends it alone, LoadInput and every
 * StoreOutTileRow but the last OR it in, and the last store without it ends the filter group's schedule.
 *
 *   LOAD_CON     [depth/UF, ow, ks², ih·iw, out zero point, oh, ow, ks, sh, sw, pad_top, pad_left, iw]
 *                (LoadConfig: 13 header words, 14 with the opcode)
 *   LOAD_WGT     [rows, depth/UF, filters]   payload: rows × (depth/4 code words + the row's sum −zp·Σw),
 *                                            then bias, multiplier (crf), shift (crx, int8 4 a word) per filter
 *   LOAD_INP     [rows, depth/UF, first row] payload: rows × depth/4 code words
 *   LOAD_MAP     [first row, rows]           payload: rows × ks² map entries (output index or −1)
 *   SCHEDULE     []
 *   LOAD_COL_MAP []                          not sent by Lathe: the PEs derive each pixel's column list
 *                                            (the taps whose entry is not −1) from the map rows
 *   STORE        [first output, count]       the accelerator returns count × filters + PE_COUNT + 1 words
 */
import { LatheError } from "../../ir/errors.ts";
import type { Cmd } from "../target.ts";

export const LOAD_CON = 0x1;
export const LOAD_WGT = 0x2;
export const LOAD_INP = 0x4;
export const LOAD_MAP = 0x8;
export const SCHEDULE = 0x10;
export const LOAD_COL_MAP = 0x20;
export const STORE = 0x40;

export const MM2IM_OPCODES = {
  LOAD_CON,
  LOAD_WGT,
  LOAD_INP,
  LOAD_MAP,
  SCHEDULE,
  LOAD_COL_MAP,
  STORE,
} as const;

export const MM2IM_FLAGS: readonly { flag: number; name: string; headerWords: number }[] = [
  { flag: LOAD_CON, name: "LOAD_CON", headerWords: 13 },
  { flag: LOAD_WGT, name: "LOAD_WGT", headerWords: 3 },
  { flag: LOAD_INP, name: "LOAD_INP", headerWords: 3 },
  { flag: LOAD_MAP, name: "LOAD_MAP", headerWords: 2 },
  { flag: SCHEDULE, name: "SCHEDULE", headerWords: 0 },
  { flag: LOAD_COL_MAP, name: "LOAD_COL_MAP", headerWords: 0 },
  { flag: STORE, name: "STORE", headerWords: 2 },
];

export function mm2imOpcodeName(op: number): string {
  const names = MM2IM_FLAGS.filter((f) => op & f.flag).map((f) => f.name);
  return names.length ? names.join("|") : `0x${op.toString(16)}`;
}

/** Splits a packet's header into each set flag's words, checking the length and the opcode bits. */
export function mm2imHeaderFields(cmd: Cmd): Map<number, readonly number[]> {
  const out = new Map<number, readonly number[]>();
  let at = 0;
  for (const f of MM2IM_FLAGS) {
    if (!(cmd.opcode & f.flag)) continue;
    out.set(f.flag, cmd.header.slice(at, at + f.headerWords));
    at += f.headerWords;
  }
  if (at !== cmd.header.length || cmd.opcode & ~0x7f) {
    throw new LatheError(
      "runtime",
      `packet ${mm2imOpcodeName(cmd.opcode)} has ${cmd.header.length} header words, expected ${at}`,
    );
  }
  return out;
}
