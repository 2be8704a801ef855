/**
 * Timing, traffic and energy of a PoTAcc call, read off its command stream (the one the functional model
 * runs). Phases follow each other as in the non-threaded SECDA driver:
 *  - a run of load packets between two COMPUTEs costs, per kind, the busiest lane's sum of transfers (the 4
 *    DMA engines run in parallel); a transfer is the DMA setup plus its words at 4 bytes a cycle; a CONFIG
 *    header riding on a packet is charged to the config phase;
 *  - COMPUTE: the tile's column blocks of 4 are dealt round-robin to the units (gemm_driver.h
 *    `minWgtBlockNo`, `getExtraWgtBlock`); a unit computes its 4×4 output blocks one after another, each
 *    `VM_PE_URAM` call taking d = kp/4 cycles of 64 shift-MACs plus the fixed DWAIT(5) and DWAIT(2)
 *    (vm_gemm.sc.h): POT_TILE_CYCLES(kp) = kp/4 + 7; then the int32 results stream back over the 4 lanes
 *    in parallel, row r on lane r mod 4 (Store_Results reads dma_out0..3), the busiest lane's words costing
 *    one transfer (store).
 * SRAM words: every loaded payload word is written once; per cycle of a 4×4 block a unit reads one 64-bit
 * weight entry (2 words) and four 32-bit input words, and the 4 column sums once a block; results are
 * written to and read from the output buffer once. DRAM bytes: every word on the wire, both directions.
 *
 * Energy (pJ), from formats.md §4.4 entries (targets/systolic/energy.ts ENERGY_TABLE):
 *  - shift-add MAC, per method: each shifted term, the sum of two terms, and the ±accumulate are adders of
 *    their register widths (shift-pe.ts); an adder's energy is taken linear in its width between
 *    Horowitz's 8-bit add (0.03 pJ) and 32-bit add (0.1 pJ), and a shift by a 2–3-bit amount (a
 *    multiplexer stage) as an adder of the term's width. ASSUMPTION: Horowitz gives adders and multipliers,
 *    no shifter; these figures put a QKeras shift-MAC at 0.15 pJ and an APoT one at 0.21 pJ against
 *    0.3 pJ for an int8 multiply plus int32 add, in line with PoTAcc's 1.24× energy saving over the
 *    multiplier design (accelerators.md §1.5 headline);
 *  - SRAM word: half the 8 kB SRAM's 64-bit read; DRAM: the DDR3 interface energy per bit (the Kria's DDR4
 *    has no §4.4 entry; DDR3 is used for both boards).
 */
import { ENERGY_TABLE } from "../systolic/energy.ts";
import { COMPUTE, CONFIG, FLAG_ORDER, LOAD_INP, LOAD_WGT, packetWords } from "../secda/protocol.ts";
import type { CallTiming, Program } from "../target.ts";
import type { PotMethod } from "../../passes/quantize/pot-tables.ts";
import { SHIFT_PES } from "./descriptor.ts";
import { methodOfFlags, type PotaccDesign } from "./program.ts";

/** Fixed cycles of one 4×4 block besides its kp/4 pipelined depth steps: DWAIT(5 + d) and DWAIT(2). */
export const POT_BLOCK_OVERHEAD = 7;

/** pJ of an adder `bits` wide: linear between Horowitz's int8 and int32 adds (assumption, see above). */
export function adderPJ(bits: number): number {
  const a8 = ENERGY_TABLE["int8.add"].pJ, a32 = ENERGY_TABLE["int32.add"].pJ;
  return a8 + ((a32 - a8) * (bits - 8)) / 24;
}

/** pJ of one shift-add MAC of `method`'s PE: shifted terms, their sum, the signed accumulate. */
export function shiftAddMacPJ(method: PotMethod): number {
  const pe = SHIFT_PES[method];
  let e = 0;
  for (const b of pe.termBits) e += adderPJ(b);
  if (pe.termBits.length > 1) e += adderPJ(pe.productBits);
  return e + ENERGY_TABLE["int32.add"].pJ;
}

export const POT_ENERGY = {
  sramWord: ENERGY_TABLE["sram.8kB.read64"].pJ / 2,
  dramByte: ENERGY_TABLE["dram.DDR3"].pJ * 8,
} as const;

/** Cycles of one COMPUTE over an mt × nt tile of depth kp on `units` units. */
export function potComputeCycles(units: number, mt: number, nt: number, kp: number): number {
  const rowBlocks = Math.ceil(mt / 4), colBlocks = Math.ceil(nt / 4);
  return rowBlocks * Math.ceil(colBlocks / units) * (kp / 4 + POT_BLOCK_OVERHEAD);
}

export function potComputeSramReads(mt: number, nt: number, kp: number): number {
  const blocks = Math.ceil(mt / 4) * Math.ceil(nt / 4);
  return blocks * ((kp / 4) * (2 + 4) + 4);
}

const CONFIG_WORDS = FLAG_ORDER.find((f) => f.flag === CONFIG)!.headerWords;

export function potTiming(design: PotaccDesign, program: Program): CallTiming {
  const { dma, clockMHz, macsPerCycle } = design.params;
  const units = design.board.units;
  const xfer = (words: number) => dma.setupCycles + Math.ceil((words * 4) / dma.bytesPerCycle);
  const phases = { config: 0, weights: 0, inputs: 0, compute: 0, store: 0 };
  let wLane = new Array<number>(dma.lanes).fill(0), iLane = new Array<number>(dma.lanes).fill(0);
  const flush = () => {
    phases.weights += Math.max(...wLane);
    phases.inputs += Math.max(...iLane);
    wLane = wLane.map(() => 0);
    iLane = iLane.map(() => 0);
  };
  let sramReads = 0, sramWrites = 0, dramBytes = 0, issuedMacs = 0;
  let method: PotMethod = "pot";
  const kp = program.dims.kp;
  for (const cmd of program.cmds) {
    const wordsOnWire = packetWords(cmd);
    dramBytes += wordsOnWire * 4;
    for (const p of cmd.payload) sramWrites += p.words;
    if (cmd.opcode & CONFIG) method = methodOfFlags(cmd.header[3]) ?? method;
    if (cmd.opcode & (LOAD_WGT | LOAD_INP)) {
      let cost = xfer(wordsOnWire);
      if (cmd.opcode & CONFIG) {
        const cfg = Math.ceil((CONFIG_WORDS * 4) / dma.bytesPerCycle);
        phases.config += cfg;
        cost -= cfg;
      }
      if (cmd.opcode & LOAD_WGT) wLane[cmd.lane] += cost;
      else iLane[cmd.lane] += cost;
    } else if (cmd.opcode & CONFIG) phases.config += xfer(wordsOnWire);
    if (cmd.opcode & COMPUTE) {
      flush();
      const [, mc, , nc] = cmd.header.slice(cmd.header.length - 4);
      phases.compute += potComputeCycles(units, mc, nc, kp);
      sramReads += potComputeSramReads(mc, nc, kp);
      issuedMacs += mc * nc * kp;
      const back = cmd.recvWords ?? 0;
      phases.store += xfer(Math.ceil(mc / dma.lanes) * nc);
      sramWrites += back;
      sramReads += back;
      dramBytes += back * 4;
    }
  }
  flush();
  const cycles = phases.config + phases.weights + phases.inputs + phases.compute + phases.store;
  const macs = program.dims.m * program.dims.n * program.dims.k;
  const energy = {
    shiftAdd: issuedMacs * shiftAddMacPJ(method),
    sram: (sramReads + sramWrites) * POT_ENERGY.sramWord,
    dram: dramBytes * POT_ENERGY.dramByte,
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
    dmaCycles: phases.config + phases.weights + phases.inputs + phases.store,
    packets: program.cmds.length,
    energyPJ: energy.shiftAdd + energy.sram + energy.dram,
    energy,
  };
}
