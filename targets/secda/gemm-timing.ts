/**
 * Timing, traffic and energy of a SECDA GEMM call, read off its command stream (the same stream the
 * functional model runs). The driver is the non-threaded one (accelerators.md §1.1: loading and storing
 * overlap only with `VM_Inner_Threaded`), so phases follow each other:
 *  - a run of load packets between two COMPUTEs costs, per kind (weights, inputs), the busiest lane's sum
 *    of transfer times: the four DMA engines run in parallel, kinds one after the other;
 *  - a transfer costs the DMA setup plus its words at the lane's bytes per cycle; a CONFIG header riding
 *    on a packet is charged to the config phase;
 *  - COMPUTE costs the design's cycles for the tile, then the results stream back on lane 0 (store).
 * SRAM words: every loaded payload word is written once; the PEs' reads come from the design; results are
 * written to and read from the output buffer once. DRAM bytes: every word on the wire, both directions.
 *
 * Energy (pJ) multiplies those counts by formats.md §4.4 entries (targets/systolic/energy.ts ENERGY_TABLE,
 * which keeps each entry's technology node and unit): a MAC is an 8-bit multiply plus a 32-bit add; the
 * PPU does one 32-bit multiply and three 32-bit adds per output; an SRAM word access is half of the 8 kB
 * SRAM's 64-bit read (assumption: energy proportional to width); DRAM uses the DDR3 interface energy per
 * bit (the PYNQ-Z1 carries DDR3).
 */
import { ENERGY_TABLE } from "../systolic/energy.ts";
import type { CallTiming, Program } from "../target.ts";
import type { GemmDesign } from "./gemm-program.ts";
import { COMPUTE, CONFIG, FLAG_ORDER, LOAD_INP, LOAD_WGT, packetWords } from "./protocol.ts";

export const GEMM_ENERGY = {
  mac: ENERGY_TABLE["int8.mult"].pJ + ENERGY_TABLE["int32.add"].pJ,
  ppuOutput: ENERGY_TABLE["int32.mult"].pJ + 3 * ENERGY_TABLE["int32.add"].pJ,
  sramWord: ENERGY_TABLE["sram.8kB.read64"].pJ / 2,
  dramByte: ENERGY_TABLE["dram.DDR3"].pJ * 8,
} as const;

const CONFIG_WORDS = FLAG_ORDER.find((f) => f.flag === CONFIG)!.headerWords;

export function gemmTiming(design: GemmDesign, program: Program): CallTiming {
  const { dma, clockMHz, macsPerCycle } = design.params;
  const xfer = (words: number) => dma.setupCycles + Math.ceil((words * 4) / dma.bytesPerCycle);
  const phases = { config: 0, weights: 0, inputs: 0, compute: 0, store: 0 };
  let wLane = new Array<number>(dma.lanes).fill(0), iLane = new Array<number>(dma.lanes).fill(0);
  const flush = () => {
    phases.weights += Math.max(...wLane);
    phases.inputs += Math.max(...iLane);
    wLane = wLane.map(() => 0);
    iLane = iLane.map(() => 0);
  };
  let sramReads = 0, sramWrites = 0, dramBytes = 0, issuedMacs = 0, outputs = 0;
  const kp = program.dims.kp;
  const ppu = program.operands[3]?.dtype !== "none";
  for (const cmd of program.cmds) {
    const wordsOnWire = packetWords(cmd);
    dramBytes += wordsOnWire * 4;
    let payload = 0;
    for (const p of cmd.payload) payload += p.words;
    sramWrites += payload;
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
      phases.compute += design.computeCycles(mc, nc, kp);
      sramReads += design.computeSramReads(mc, nc, kp);
      issuedMacs += mc * nc * kp;
      outputs += mc * nc;
      const back = cmd.recvWords ?? 0;
      phases.store += xfer(back);
      sramWrites += back;
      sramReads += back;
      dramBytes += back * 4;
    }
  }
  flush();
  const cycles = phases.config + phases.weights + phases.inputs + phases.compute + phases.store;
  const macs = program.dims.m * program.dims.n * program.dims.k;
  const energy = {
    mac: issuedMacs * GEMM_ENERGY.mac,
    ppu: ppu ? outputs * GEMM_ENERGY.ppuOutput : 0,
    sram: (sramReads + sramWrites) * GEMM_ENERGY.sramWord,
    dram: dramBytes * GEMM_ENERGY.dramByte,
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
    energyPJ: energy.mac + energy.ppu + energy.sram + energy.dram,
    energy,
  };
}
