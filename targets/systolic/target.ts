/**
 * `sa:RxC:os|ws|is` as a compile target: an R×C int8 systolic array with SCALE-Sim v2's compute model
 * behind the SECDA packet protocol. Offload rules, lowering, command stream and functional model are the
 * shared SECDA GEMM ones (so simulation is bit-exact against the runtime for free); what is the array's own
 * is the cost of a COMPUTE: SCALE-Sim's `folds × per_fold − 1` cycles (formats.md §4.1) and its scratchpad
 * reads for the GEMM the tile computes.
 *
 * The tile's GEMM is its true m × n × k: the rows, weight rows and depth the host pads to the DMA lanes
 * and 32-bit words carry zeros the CONFIG header's true sizes let the array skip, and SCALE-Sim's layers
 * have no such padding. Buffers are SCALE-Sim's scratchpads (scale.cfg 64 kB each unless the array says
 * otherwise): the ifmap buffer holds input rows, the filter buffer weight rows, and the ofmap buffer bounds
 * the rows of sums and channels of parameters (assumption: the sources define no such buffers). Board,
 * clock and DMA are SECDA SA's (PYNQ-Z1, 200 MHz, 4 lanes), an assumption for a generic array.
 */
import { CORTEX_A9_PYNQ_Z1 } from "../cpu-baseline.ts";
import { gemmProgramOf } from "../secda/gemm-program.ts";
import { capacityTiles, type GemmDesign } from "../secda/gemm-program.ts";
import { runGemmProgram } from "../secda/gemm-model.ts";
import { secdaGemmRules } from "../secda/gemm-rules.ts";
import { GEMM_ENERGY, gemmTiming } from "../secda/gemm-timing.ts";
import { COMPUTE, OPCODES } from "../secda/protocol.ts";
import { SECDA_SA } from "../secda-sa/descriptor.ts";
import type { CallTiming, Program, Target, TargetParams } from "../target.ts";
import { arrayName, bufferWords, type SystolicArray } from "./array.ts";
import { computeUtilFoldCycles, cyclesPerFold, mapping, sramAccesses } from "./compute.ts";
import { parseSystolicSpec } from "./spec.ts";

/** SCALE-Sim's compute of one M × N × K GEMM on the array: cycles and scratchpad operand accesses. */
export function systolicGemmCompute(
  array: SystolicArray,
  M: number,
  N: number,
  K: number,
): { cycles: number; ifmapReads: number; filterReads: number; ofmapWrites: number } {
  if (M <= 0 || N <= 0 || K <= 0) return { cycles: 0, ifmapReads: 0, filterReads: 0, ofmapWrites: 0 };
  const { rows: R, cols: C, dataflow: df } = array;
  const { Sr, Sc, T } = mapping(df, M, N, K);
  const folds = Math.ceil(Sr / R) * Math.ceil(Sc / C);
  const s = sramAccesses(df, R, C, M, N, K, folds);
  return {
    cycles: folds * cyclesPerFold(df, R, C, T) - 1,
    ifmapReads: s.ifmap,
    filterReads: s.filter,
    ofmapWrites: s.ofmap,
  };
}

/** 32-bit words holding `codes` operand words of `wordBytes` bytes each. */
const toWords32 = (codes: number, wordBytes: number) => Math.ceil((codes * wordBytes) / 4);

export function systolicParams(array: SystolicArray): TargetParams {
  const { rows: R, cols: C } = array;
  const w = (kb: number) => Math.floor(bufferWords(kb, array.wordBytes) * array.wordBytes / 4);
  return {
    name: arrayName(array),
    doc:
      `${R}x${C} ${array.dataflow.toUpperCase()} systolic array, int8, SCALE-Sim v2 compute model, SECDA packet protocol`,
    board: SECDA_SA.board,
    clockMHz: SECDA_SA.clockMHz,
    macsPerCycle: R * C,
    pe: { rows: R, cols: C, units: 1, depth: 1 },
    buffers: {
      input: { words: w(array.sram.ifmapKB), banks: 1, doc: `ifmap scratchpad ${array.sram.ifmapKB} kB` },
      weight: { words: w(array.sram.filterKB), banks: 1, doc: `filter scratchpad ${array.sram.filterKB} kB` },
      sums: {
        words: w(array.sram.ofmapKB),
        banks: 1,
        doc: `ofmap scratchpad ${array.sram.ofmapKB} kB (bounds row sums and per-channel parameters)`,
      },
    },
    dma: SECDA_SA.dma,
    types: ["i8", "u8"],
    opcodes: OPCODES,
    pad: SECDA_SA.pad,
    cpu: CORTEX_A9_PYNQ_Z1,
    sources: [
      "formats.md §4.1 (SCALE-Sim v2: mapping, folds, cycles per fold, SRAM accesses; scale.cfg 64 kB buffers)",
      "accelerators.md §1.0 (SECDA packet protocol, 4 DMA lanes, host preparation)",
      "assumed: PYNQ-Z1 at 200 MHz and SECDA SA's DMA costs and padding; the array skips the padding the transport adds",
    ],
  };
}

export function systolicDesign(array: SystolicArray): GemmDesign {
  const params = systolicParams(array);
  const B = params.buffers;
  const inputWords = B.input.words, weightWords = B.weight.words, sumsRows = B.sums.words;
  return {
    params,
    inputWords,
    weightWords,
    sumsRows,
    paramRows: sumsRows,
    tiles: (d) =>
      capacityTiles(d, {
        inputWords,
        weightWords,
        sumsRows,
        paramRows: sumsRows,
        inputLabel: B.input.doc,
        weightLabel: B.weight.doc,
      }),
    computeCycles: (mt, nt, kp) => systolicGemmCompute(array, mt, nt, kp).cycles,
    computeSramReads: (mt, nt, kp) => {
      const c = systolicGemmCompute(array, mt, nt, kp);
      return toWords32(c.ifmapReads + c.filterReads, array.wordBytes);
    },
  };
}

/**
 * The call's cost: DMA phases as the SECDA stream prices them, compute and PE reads from SCALE-Sim for
 * each COMPUTE's true tile (header [m0, mc, n0, nc], clipped to the call's true m, n and depth k).
 */
export function systolicTiming(array: SystolicArray, design: GemmDesign, program: Program): CallTiming {
  const transport = gemmTiming({ ...design, computeCycles: () => 0, computeSramReads: () => 0 }, program);
  const { m, n, k } = program.dims;
  let compute = 0, reads = 0;
  // SCALE-Sim's per-layer metrics over every fold of every tile (formats.md §4.1 "Metrics"): mapping
  // efficiency is the mean used fraction of the array per fold, compute utilization the mean of used
  // PE-cycles per fold cycle.
  const { rows: R, cols: C, dataflow: df } = array;
  let folds = 0, used = 0, busy = 0, foldCycles = 0;
  for (const cmd of program.cmds) {
    if (!(cmd.opcode & COMPUTE)) continue;
    const [m0, mc, n0, nc] = cmd.header.slice(cmd.header.length - 4);
    const M = Math.min(mc, m - m0), N = Math.min(nc, n - n0);
    const c = systolicGemmCompute(array, M, N, k);
    compute += c.cycles;
    reads += toWords32(c.ifmapReads + c.filterReads, array.wordBytes);
    if (M <= 0 || N <= 0 || k <= 0) continue;
    const { Sr, Sc, T } = mapping(df, M, N, k);
    const f = Math.ceil(Sr / R) * Math.ceil(Sc / C);
    folds += f;
    used += Sr * Sc;
    busy += Sr * Sc * T;
    foldCycles += f * computeUtilFoldCycles(df, R, C, T);
  }
  const model = {
    folds,
    mapping_efficiency: folds ? (100 * used) / (folds * R * C) : 0,
    compute_util: foldCycles ? (100 * busy) / (foldCycles * R * C) : 0,
  };
  const cycles = transport.cycles + compute;
  const sram = transport.energy.sram + reads * GEMM_ENERGY.sramWord;
  const energy = { ...transport.energy, sram };
  return {
    ...transport,
    cycles,
    seconds: cycles / (design.params.clockMHz * 1e6),
    phases: { ...transport.phases, compute },
    utilization: cycles ? transport.macs / (cycles * design.params.macsPerCycle) : 0,
    sramReads: transport.sramReads + reads,
    energy,
    energyPJ: transport.energyPJ - transport.energy.sram + sram,
    model,
  };
}

/** The target for an array description. */
export function systolicTarget(array: SystolicArray): Target {
  const design = systolicDesign(array);
  return {
    params: design.params,
    rules: secdaGemmRules(design),
    programOf: (call) => gemmProgramOf(design, call),
    functional: (program, operands, out) => runGemmProgram(design, program, operands, out),
    timing: (program) => systolicTiming(array, design, program),
  };
}

/** Resolver for the `sa` family: `sa:16x16:os`. */
export function resolveSystolic(spec: string): Target {
  return systolicTarget(parseSystolicSpec(spec));
}
