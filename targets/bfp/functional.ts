/**
 * The BFP accelerator's behaviour: interprets a call's command stream as the control unit, the load units
 * and the SBVP do (bfpp_acc v3 acc_control_unit.sc.h, bfp_processor_threads.sc.h), reading each packet's
 * payload words from the call's operands, and writes every result where the driver's StoreOutputs puts
 * it (activation row n, weight row m0 + m, with m0 advancing one M-tile per COMPUTE). Anything a real
 * driver could get wrong (a header that disagrees with CONFIG, lane sizes that do not add up, a tile over
 * the buffers) raises a runtime error instead of computing something.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Tensor } from "../../runtime/tensor.ts";
import type { FunctionalModel, PayloadRef, Program } from "../target.ts";
import { SUP_KMB, SUP_KNB } from "./descriptor.ts";
import {
  blockBytes,
  blockWords,
  COMPUTE,
  CONFIG,
  headerFields,
  LOAD_INP,
  LOAD_WGT,
  opcodeName,
  Q8_K_ID,
  VARIANT_TYPE_IDS,
} from "./protocol.ts";
import { SuperBlockUnit } from "./super-block-unit.ts";

const fail = (reason: string): never => {
  throw new LatheError("runtime", `bfp: ${reason}`);
};

function bytesOf(t: Tensor | undefined, operand: number): Uint8Array {
  if (!t) return fail(`operand ${operand} is missing`);
  const d = t.data;
  if (d instanceof Array || d instanceof BigInt64Array || d instanceof BigUint64Array) {
    return fail(`operand ${operand} is not a byte buffer`);
  }
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** The bytes of a payload run, bounds-checked. */
function payloadBytes(operands: readonly Tensor[], p: PayloadRef): Uint8Array {
  const b = bytesOf(operands[p.operand], p.operand);
  if (p.offset < 0 || p.words < 0 || (p.offset + p.words) * 4 > b.length) {
    fail(`payload [${p.offset}, +${p.words}) words is outside operand ${p.operand} (${b.length} bytes)`);
  }
  return b.subarray(p.offset * 4, (p.offset + p.words) * 4);
}

let unit: SuperBlockUnit | undefined;

export function runBfpProgram(program: Program, operands: readonly Tensor[], out: Tensor): void {
  const sbvp = (unit ??= new SuperBlockUnit());
  const y = out.data;
  if (!(y instanceof Float32Array)) return fail("the result must be f32");
  let cfg: { kb: number; m: number; n: number; variant: number } | undefined;
  let inputBlocks = 0;
  /** The M-tile being loaded: header values and what each lane has delivered. */
  let tile: { kmb: number; bw: number; sizes: number[]; lanes: Uint8Array[]; got: number[] } | undefined;
  let m0 = 0;
  const iw = blockWords(Q8_K_ID), iBytes = iw * 4;
  for (const cmd of program.cmds) {
    if (cmd.opcode === 0) {
      // Weight words for lane 1..3's FIFO.
      if (!tile) return fail(`lane ${cmd.lane} sends weight words before any LOAD_WGT`);
      for (const p of cmd.payload) appendLane(tile, cmd.lane, payloadBytes(operands, p));
      continue;
    }
    const h = headerFields(cmd);
    if (cmd.lane !== 0) fail(`${opcodeName(cmd.opcode)} arrives on lane ${cmd.lane}; opcodes go on lane 0`);
    const c = h.get(CONFIG);
    if (c) {
      const [kb, m, n, variant] = c;
      if (!VARIANT_TYPE_IDS[variant]) fail(`CONFIG wgt_type ${variant} is not a variant (2..6)`);
      if (!(kb >= 1 && m >= 1 && n >= 1)) fail(`CONFIG kb ${kb}, M ${m}, N ${n} is empty`);
      if (m * n !== y.length) fail(`CONFIG M ${m} × N ${n} does not match the ${y.length} results`);
      cfg = { kb, m, n, variant };
      m0 = 0;
    }
    if (!cfg) return fail(`${opcodeName(cmd.opcode)} before CONFIG`);
    const li = h.get(LOAD_INP);
    if (li) {
      const [knb] = li;
      if (knb > SUP_KNB) fail(`LOAD_INP of ${knb} super-blocks overflows SUP_KNB ${SUP_KNB}`);
      let words = 0;
      for (const p of cmd.payload) words += p.words;
      if (words !== knb * iw) fail(`LOAD_INP announces ${knb} super-blocks, carries ${words} words`);
      let slot = 0;
      for (const p of cmd.payload) {
        const b = payloadBytes(operands, p);
        if (b.length % iBytes) fail("a LOAD_INP payload run splits a super-block");
        for (let o = 0; o < b.length; o += iBytes) sbvp.loadInput(slot++, b, o);
      }
      inputBlocks = knb;
    }
    const lw = h.get(LOAD_WGT);
    if (lw) {
      const [kmb, bw, ...sizes] = lw;
      const want = blockWords(VARIANT_TYPE_IDS[cfg.variant]);
      if (bw !== want) fail(`LOAD_WGT blocks of ${bw} words; wgt_type ${cfg.variant} blocks are ${want}`);
      if (kmb > SUP_KMB) fail(`LOAD_WGT of ${kmb} super-blocks overflows SUP_KMB ${SUP_KMB}`);
      if (sizes.reduce((s, v) => s + v, 0) !== kmb * bw) {
        fail(`LOAD_WGT lane sizes ${sizes.join(", ")} do not add up to ${kmb} blocks of ${bw} words`);
      }
      tile = { kmb, bw, sizes, lanes: sizes.map((s) => new Uint8Array(s * 4)), got: sizes.map(() => 0) };
      for (const p of cmd.payload) appendLane(tile, 0, payloadBytes(operands, p));
    }
    const cp = h.get(COMPUTE);
    if (cp) {
      const [kmb, knb, mstep, nstep] = cp;
      if (!tile) return fail("COMPUTE without weights");
      if (kmb !== tile.kmb || kmb !== mstep * cfg.kb) {
        fail(`COMPUTE kmb ${kmb} disagrees with the tile (${tile.kmb}) or mstep ${mstep} × kb ${cfg.kb}`);
      }
      if (knb !== nstep * cfg.kb || knb > inputBlocks || nstep !== cfg.n) {
        fail(`COMPUTE knb ${knb}, nstep ${nstep} disagree with the ${inputBlocks} loaded input super-blocks`);
      }
      if (m0 + mstep > cfg.m) fail(`COMPUTE rows ${m0}..${m0 + mstep} exceed M ${cfg.m}`);
      if ((cmd.recvWords ?? 0) !== mstep * nstep) {
        fail(`COMPUTE returns ${mstep * nstep} words, not ${cmd.recvWords}`);
      }
      mapWeights(sbvp, tile, cfg.variant);
      for (let n = 0; n < nstep; n++) {
        for (let m = 0; m < mstep; m++) {
          y[n * cfg.m + m0 + m] = sbvp.dot(cfg.variant, m * cfg.kb, n * cfg.kb, cfg.kb);
        }
      }
      m0 += mstep;
      tile = undefined;
    }
  }
  if (!cfg || m0 !== cfg.m) fail(`the stream computed ${m0} of ${cfg?.m ?? 0} weight rows`);
}

function appendLane(
  tile: { sizes: number[]; lanes: Uint8Array[]; got: number[] },
  lane: number,
  b: Uint8Array,
) {
  if (lane >= tile.lanes.length) fail(`lane ${lane} does not exist`);
  if (tile.got[lane] + b.length > tile.sizes[lane] * 4) {
    fail(`lane ${lane} delivers more than the ${tile.sizes[lane]} words LOAD_WGT announced`);
  }
  tile.lanes[lane].set(b, tile.got[lane]);
  tile.got[lane] += b.length;
}

/** Block i of the tile comes from lane i mod 4, its (i div 4)-th block there. */
function mapWeights(
  sbvp: SuperBlockUnit,
  tile: { kmb: number; bw: number; sizes: number[]; lanes: Uint8Array[]; got: number[] },
  variant: number,
) {
  const lanes = tile.lanes.length;
  tile.got.forEach((g, l) => {
    if (g !== tile.sizes[l] * 4) {
      fail(`lane ${l} delivered ${g / 4} of ${tile.sizes[l]} words before COMPUTE`);
    }
  });
  const stride = tile.bw * 4;
  if (blockBytes(VARIANT_TYPE_IDS[variant]) > stride) fail("a weight block is longer than its words");
  for (let i = 0; i < tile.kmb; i++) {
    sbvp.loadWeight(i, variant, tile.lanes[i % lanes], Math.floor(i / lanes) * stride);
  }
}

export const bfpFunctional: FunctionalModel = (program, operands, out) =>
  runBfpProgram(program, operands, out);
