/**
 * Timing, traffic and energy of a BFP MatMul call, read off its command stream. The driver is sequential
 * (acc_driver.h `MM`): the activation packet, then per M-tile the weight transfer on the 4 lanes in
 * parallel (the COMPUTE packet rides in lane 0's buffer behind the weights, as LoadWeights_Inference
 * fills it), then the compute, while the result stream is received.
 *
 * The SBVP's cost, derived from the v3 sources: the unpacked quant buffers (w_qs, w_qs2, w_qs3, i_qs) are
 * partitioned cyclically by 16 on the element index into true-dual-port RAMs (bfp_processor_top.sc.h),
 * one port taken by the loaders that fill them, and `compute_load` reads a super-block as 16 rows of 16
 * elements, so a 256-element super-block passes through the unrolled dot product in SUPER_BLOCK_CYCLES =
 * 16 cycles (16 int8 MACs a cycle); the super-block loop is pipelined, with the sub-block-scale tree and
 * the f32 epilogue behind it. Each output (one weight row against one activation row) restarts that loop and waits for the
 * pipeline to drain and its f32 sum to leave (OUTPUT_LATENCY, assumed 20 cycles: int-to-float, multiply,
 * subtract and accumulate at 250 MHz). Results leave on lane 0's receive channel as they are produced, one
 * word per output every ≥ 16 cycles, so the store phase is only what outlasts the compute.
 *
 * Energy (pJ) from formats.md §4.4 entries (targets/systolic/energy.ts ENERGY_TABLE): a MAC is an 8-bit
 * multiply and a 32-bit add; per super-block and output the 16 sub-block scale products (8-bit multiply,
 * 32-bit add) and the variant's f32 epilogue as the functional model computes it; an SRAM word is half of
 * the 8 kB SRAM's 64-bit read; DRAM bytes at the DDR3 interface energy (no DDR4 entry; assumption).
 */
import { ENERGY_TABLE } from "../systolic/energy.ts";
import type { CallTiming, Program } from "../target.ts";
import { SECDA_BFP } from "./descriptor.ts";
import {
  blockWords,
  COMPUTE,
  CONFIG,
  FLAG_ORDER,
  LOAD_INP,
  LOAD_WGT,
  packetWords,
  Q8_K_ID,
  QK_K,
  VARIANT_TYPE_IDS,
} from "./protocol.ts";

export const SUPER_BLOCK_CYCLES = 16;
export const OUTPUT_LATENCY = 20;
/** Scheduler handshake before a COMPUTE starts (acc_scheduler.sc.h: ready check, start, clear). */
export const COMPUTE_START_CYCLES = 4;

const E = ENERGY_TABLE;
export const BFP_ENERGY = {
  mac: E["int8.mult"].pJ + E["int32.add"].pJ,
  subBlockScale: 16 * (E["int8.mult"].pJ + E["int32.add"].pJ),
  /** f32 work per super-block and output, by variant: multiplies and adds of the epilogue. */
  epilogue: {
    2: 4 * E["fp32.mult"].pJ + 2 * E["fp32.add"].pJ,
    3: 9 * E["fp32.mult"].pJ + 8 * E["fp32.add"].pJ,
    4: 11 * E["fp32.mult"].pJ + 9 * E["fp32.add"].pJ + 16 * (E["int8.mult"].pJ + E["int32.add"].pJ),
    5: 11 * E["fp32.mult"].pJ + 9 * E["fp32.add"].pJ + 16 * (E["int8.mult"].pJ + E["int32.add"].pJ),
    6: 9 * E["fp32.mult"].pJ + 8 * E["fp32.add"].pJ,
  } as Readonly<Record<number, number>>,
  sramWord: E["sram.8kB.read64"].pJ / 2,
  dramByte: E["dram.DDR3"].pJ * 8,
} as const;

/** Cycles of one COMPUTE: mstep·nstep outputs of kb super-blocks each. */
export function bfpComputeCycles(mstep: number, nstep: number, kb: number): number {
  return COMPUTE_START_CYCLES + mstep * nstep * (kb * SUPER_BLOCK_CYCLES + OUTPUT_LATENCY);
}

const CONFIG_WORDS = 1 + FLAG_ORDER.find((f) => f.flag === CONFIG)!.headerWords;

export function bfpTiming(program: Program): CallTiming {
  const { dma, clockMHz, macsPerCycle } = SECDA_BFP;
  const beats = (words: number) => Math.ceil((words * 4) / dma.bytesPerCycle);
  const phases = { config: 0, weights: 0, inputs: 0, compute: 0, store: 0 };
  const { m, n, k, kb, wgt_type: variant } = program.dims;
  const bw = blockWords(VARIANT_TYPE_IDS[variant]), iw = blockWords(Q8_K_ID);
  let lane = new Array<number>(dma.lanes).fill(0);
  let sramWrites = 0, sramReads = 0, dramBytes = 0, issuedMacs = 0, outputs = 0, superBlocks = 0;
  for (const cmd of program.cmds) {
    const words = packetWords(cmd);
    dramBytes += words * 4;
    for (const p of cmd.payload) sramWrites += p.words;
    if (cmd.opcode & LOAD_INP) {
      const cfg = cmd.opcode & CONFIG ? CONFIG_WORDS : 0;
      phases.config += beats(cfg);
      phases.inputs += dma.setupCycles + beats(words - cfg);
    } else if (cmd.opcode & LOAD_WGT || cmd.opcode === 0) {
      lane[cmd.lane] += (lane[cmd.lane] ? 0 : dma.setupCycles) + beats(words);
    }
    if (cmd.opcode & COMPUTE) {
      lane[0] += beats(words);
      phases.weights += Math.max(...lane);
      lane = lane.map(() => 0);
      const [, , mstep, nstep] = cmd.header;
      const c = bfpComputeCycles(mstep, nstep, kb);
      phases.compute += c;
      const back = cmd.recvWords ?? 0;
      phases.store += Math.max(1, dma.setupCycles + beats(back) - c);
      dramBytes += back * 4;
      const blocks = mstep * nstep * kb;
      superBlocks += blocks;
      issuedMacs += blocks * QK_K;
      outputs += mstep * nstep;
      sramReads += blocks * (bw + iw);
    }
  }
  const cycles = phases.config + phases.weights + phases.inputs + phases.compute + phases.store;
  const macs = m * n * k;
  const energy = {
    mac: issuedMacs * BFP_ENERGY.mac,
    scale: superBlocks * (BFP_ENERGY.subBlockScale + (BFP_ENERGY.epilogue[variant] ?? 0)) +
      outputs * 8 * E["fp32.add"].pJ,
    sram: (sramReads + sramWrites) * BFP_ENERGY.sramWord,
    dram: dramBytes * BFP_ENERGY.dramByte,
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
    energyPJ: energy.mac + energy.scale + energy.sram + energy.dram,
    energy,
  };
}
