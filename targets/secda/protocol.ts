/**
 * The SECDA GEMM packet protocol as Lathe models it for VM v5 and SA v4 (accelerators.md §1.0–1.2): every
 * DMA packet starts with an opcode bitmask, LOAD_WGT=0x1, LOAD_INP=0x2, COMPUTE=0x4, CONFIG=0x8 (from
 * acc_config.sc.h of both designs); flags may be OR-ed, and each set flag contributes its header words in
 * the fixed order CONFIG, LOAD_WGT, LOAD_INP, COMPUTE, then the payload follows. The header layouts below
 * are Lathe's: the sources say CONFIG carries the depth and output offset and LOAD_INP a size header, rows
 * split over 4 lanes and input sums pre-scaled by the weight offset, but not the exact word order.
 *
 *   CONFIG   [m, n, depthWords, flags, outputZeroPoint, actMin, actMax]   flags: CFG_*
 *   LOAD_WGT [kind, n0, count, lane]   kind 0: weight rows n0+lane, n0+lane+lanes, … of the tile [n0, n0+count)
 *                                      kind 1: per-channel bias (+ multiplier, shift when the PPU is on) of [n0, n0+count)
 *   LOAD_INP [kind, m0, count, lane]   kind 0: input rows, interleaved the same way; kind 1: row sums of [m0, m0+count)
 *   COMPUTE  [m0, mt, n0, nt]          computes the tile and streams it back (8-bit codes 4 per word, or int32)
 */
import { LatheError } from "../../ir/errors.ts";
import type { Cmd } from "../target.ts";

export const LOAD_WGT = 0x1;
export const LOAD_INP = 0x2;
export const COMPUTE = 0x4;
export const CONFIG = 0x8;

export const OPCODES = { LOAD_WGT, LOAD_INP, COMPUTE, CONFIG } as const;

/** The order set flags are processed in, and their header lengths. */
export const FLAG_ORDER: readonly { flag: number; name: string; headerWords: number }[] = [
  { flag: CONFIG, name: "CONFIG", headerWords: 7 },
  { flag: LOAD_WGT, name: "LOAD_WGT", headerWords: 4 },
  { flag: LOAD_INP, name: "LOAD_INP", headerWords: 4 },
  { flag: COMPUTE, name: "COMPUTE", headerWords: 4 },
];

/** CONFIG flags word. */
export const CFG_X_SIGNED = 0x1;
export const CFG_W_SIGNED = 0x2;
/** The post-processing unit requantizes to 8-bit codes; without it results come back as int32. */
export const CFG_PPU = 0x4;
export const CFG_SUMS = 0x8;

export const KIND_ROWS = 0;
export const KIND_PARAMS = 1;
export const KIND_SUMS = 1;

export function opcodeName(op: number): string {
  const names = FLAG_ORDER.filter((f) => op & f.flag).map((f) => f.name);
  return names.length ? names.join("|") : `0x${op.toString(16)}`;
}

/** Header words a packet with this opcode carries. */
export function headerLength(op: number): number {
  let n = 0;
  for (const f of FLAG_ORDER) if (op & f.flag) n += f.headerWords;
  return n;
}

/** Words on the wire: opcode, header, payload. */
export function packetWords(cmd: Cmd): number {
  let n = 1 + cmd.header.length;
  for (const p of cmd.payload) n += p.words;
  return n;
}

/** Splits a packet's header into each set flag's words, checking the length. */
export function headerFields(cmd: Cmd): Map<number, readonly number[]> {
  const out = new Map<number, readonly number[]>();
  let at = 0;
  for (const f of FLAG_ORDER) {
    if (!(cmd.opcode & f.flag)) continue;
    out.set(f.flag, cmd.header.slice(at, at + f.headerWords));
    at += f.headerWords;
  }
  if (at !== cmd.header.length || cmd.opcode & ~0xf) {
    throw new LatheError(
      "runtime",
      `packet ${opcodeName(cmd.opcode)} has ${cmd.header.length} header words, expected ${at}`,
    );
  }
  return out;
}

/**
 * The packet as the words a driver writes into the lane's DMA buffer (for emitters and process replay):
 * payload words are copied from the call's operands, viewed as 32-bit words.
 */
export function encodePacket(
  cmd: Cmd,
  operands: readonly (Uint32Array | Int32Array | undefined)[],
): Uint32Array {
  const out = new Uint32Array(packetWords(cmd));
  out[0] = cmd.opcode;
  let at = 1;
  for (const h of cmd.header) out[at++] = h >>> 0;
  for (const p of cmd.payload) {
    const src = operands[p.operand];
    if (!src || p.offset + p.words > src.length) {
      throw new LatheError(
        "runtime",
        `payload [${p.offset}, +${p.words}) of operand ${p.operand} is out of range`,
      );
    }
    out.set(new Uint32Array(src.buffer, src.byteOffset + p.offset * 4, p.words), at);
    at += p.words;
  }
  return out;
}
