/**
 * Timing, traffic and energy of an MM2IM call from its command stream. One DMA lane, so every transfer is
 * on the critical path (the non-threaded driver waits for each send and receive): a transfer is the DMA
 * setup plus its words at 4 bytes a cycle (packet words out; for STORE, the received words back).
 *
 * Compute, per input pixel and filter group, from the cycle annotations of pe_compute.sc.h and
 * scheduler.sc.h (the SystemC model the bitstream was timed with), with D = depth/UF and P the pixel's
 * taps that land inside the output (its `pouts`):
 *   scheduler start_compute + DWAIT(5), decode of the P column indices (P + 1 + DWAIT(3)), per depth step
 *   DWAIT(2) + P pipelined products + DWAIT(11), drain of the P sums (P + DWAIT(3)), the input-read
 *   DWAIT(3) and the stop/reset handshake (3):
 *     pixelCycles(P, D) = MM2IM_PIXEL_FIXED + 2P + D·(P + 13),   MM2IM_PIXEL_FIXED = 6 + 4 + 3 + 3 + 3 = 19
 *   the D cycles that read the pixel's depth overlap the DMA stream that delivers it (charged there).
 *   All PE_COUNT PEs run in lockstep on one pixel, so a group's pixel costs the same whatever its filters.
 * Store: the scheduler's store() handshake (2 waits + DWAIT(5) + 1 = MM2IM_STORE_FIXED 8 cycles), then
 * the row's results on the DMA.
 *
 * MACs: effective = Σ_pixels P · depth · filters (no cropped output is computed); issued = the same at the
 * padded depth; IOM's MatMul would compute all pixels × taps (program.dims.macsAvoided is the difference).
 * Energy (formats.md §4.4 via ENERGY_TABLE): an int8 multiply + int32 add per issued MAC; per kept product
 * one accumulation (int32 add, a read and a write of the accumulation buffer); the PPU's int32 multiply and
 * three int32 adds per output; SRAM words at half the 8 kB SRAM's 64-bit read (weight rows of UF codes are
 * 4 words, read once per product group); DRAM at the DDR3 interface energy per bit.
 */
import { ENERGY_TABLE } from "../systolic/energy.ts";
import type { CallTiming, Program } from "../target.ts";
import { MM2IM, UF } from "./descriptor.ts";
import { mapOf, mm2imDimsOf } from "./program.ts";
import { LOAD_CON, LOAD_INP, LOAD_WGT, mm2imHeaderFields, SCHEDULE, STORE } from "./protocol.ts";

export const MM2IM_PIXEL_FIXED = 19;
export const MM2IM_DEPTH_STEP_FIXED = 13;
export const MM2IM_STORE_FIXED = 8;

export function pixelCycles(pouts: number, depthSteps: number): number {
  return MM2IM_PIXEL_FIXED + 2 * pouts + depthSteps * (pouts + MM2IM_DEPTH_STEP_FIXED);
}

export const MM2IM_ENERGY = {
  mac: ENERGY_TABLE["int8.mult"].pJ + ENERGY_TABLE["int32.add"].pJ,
  accumulate: ENERGY_TABLE["int32.add"].pJ,
  ppuOutput: ENERGY_TABLE["int32.mult"].pJ + 3 * ENERGY_TABLE["int32.add"].pJ,
  sramWord: ENERGY_TABLE["sram.8kB.read64"].pJ / 2,
  dramByte: ENERGY_TABLE["dram.DDR3"].pJ * 8,
} as const;

function dimsAttrs(p: Program): Record<string, number> {
  const d = p.dims;
  return { ...d, kh: d.ks, kw: d.ks, out_zero: 0 };
}

export function mm2imTiming(program: Program): CallTiming {
  const { dma, clockMHz, macsPerCycle } = MM2IM;
  const d = mm2imDimsOf(dimsAttrs(program));
  const { pouts } = mapOf(d);
  const D = d.kp / UF;
  const xfer = (words: number) => dma.setupCycles + Math.ceil((words * 4) / dma.bytesPerCycle);
  const phases = { config: 0, weights: 0, inputs: 0, compute: 0, store: 0 };
  let sramReads = 0, sramWrites = 0, dramBytes = 0, issuedMacs = 0, kept = 0, outputs = 0;
  let fs = 0, storeDma = 0;
  for (const cmd of program.cmds) {
    const f = mm2imHeaderFields(cmd);
    let words = 1 + cmd.header.length;
    for (const p of cmd.payload) words += p.words;
    dramBytes += words * 4;
    for (const p of cmd.payload) sramWrites += p.words;
    if (cmd.opcode & LOAD_CON) phases.config += xfer(words);
    else if (cmd.opcode & LOAD_WGT) {
      phases.weights += xfer(words);
      fs = f.get(LOAD_WGT)![2];
    } else if (cmd.opcode & LOAD_INP) {
      phases.inputs += xfer(words);
      const [rows, , first] = f.get(LOAD_INP)!;
      const p0 = first % (d.ih * d.iw);
      for (let j = 0; j < rows; j++) {
        const P = pouts[p0 + j];
        phases.compute += pixelCycles(P, D);
        issuedMacs += P * d.kp * fs;
        kept += P * fs;
        // Per kept product: D weight rows of UF codes (4 words each); the pixel's D input entries once.
        sramReads += fs * (P * D * 4 + D * 4) + P * fs;
        sramWrites += P * fs;
      }
    } else if (cmd.opcode & STORE) {
      const back = cmd.recvWords ?? 0;
      phases.store += MM2IM_STORE_FIXED + xfer(back);
      storeDma += xfer(back);
      const [, count] = f.get(STORE)!;
      outputs += count * fs;
      sramReads += count * fs + back;
      sramWrites += back;
      dramBytes += back * 4;
    } else if (cmd.opcode & SCHEDULE) phases.config += xfer(words);
  }
  const cycles = phases.config + phases.weights + phases.inputs + phases.compute + phases.store;
  const macs = program.dims.macsEffective;
  const energy = {
    mac: issuedMacs * MM2IM_ENERGY.mac,
    accumulate: kept * MM2IM_ENERGY.accumulate,
    ppu: outputs * MM2IM_ENERGY.ppuOutput,
    sram: (sramReads + sramWrites) * MM2IM_ENERGY.sramWord,
    dram: dramBytes * MM2IM_ENERGY.dramByte,
  };
  return {
    cycles,
    seconds: cycles / (clockMHz * 1e6),
    phases,
    macs,
    issuedMacs,
    utilization: cycles ? macs / (cycles * macsPerCycle) : 0,
    sramReads,
    sramWrites,
    dramBytes,
    dmaCycles: phases.config + phases.weights + phases.inputs + storeDma,
    packets: program.cmds.length,
    energyPJ: energy.mac + energy.accumulate + energy.ppu + energy.sram + energy.dram,
    energy,
  };
}
