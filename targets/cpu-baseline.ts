/**
 * The boards' CPUs as a cost model, for the host-side work of an offloaded graph (im2col, packing, the
 * layers left on the CPU) and for the CPU-only baseline a speedup is measured against (accelerators.md §1.1
 * headline: SECDA reports speedup and energy over CPU-only inference on the same PYNQ-Z1).
 *
 * The model is two throughputs per core: int8 multiply-accumulates per cycle for MAC-bound ops, and bytes
 * per cycle for everything else (data movement, elementwise, packing), with the work split evenly over the
 * cores. The figures are ASSUMPTIONS, stated here so a report can quote them; the sources in
 * accelerators.md give the boards and clocks but no CPU throughput:
 *  - Cortex-A9 (ARMv7-A, 64-bit NEON datapath): VMLAL.S8 multiplies 8 int8 lanes into 16-bit accumulators;
 *    widening to 32 bits (VPADAL) and operand loads take about as many cycles again, so 4 int8 MAC/cycle
 *    per core is assumed (half the 8-lane issue rate), 1 byte/cycle per core for data movement.
 *  - Cortex-A53 (ARMv8-A, 64-bit NEON datapath, dual issue): SMLAL/SDOT-less int8 kernels as on the A9
 *    with more load bandwidth: 6 int8 MAC/cycle per core and 2 bytes/cycle per core are assumed.
 */
import type { Graph, Node } from "../ir/graph.ts";
import { nodeMacs } from "../ir/macs.ts";
import { byteSize } from "../ir/dtype.ts";
import { elementCount } from "../ir/value-type.ts";

export interface CpuModel {
  readonly name: string;
  readonly board: string;
  readonly cores: number;
  readonly mhz: number;
  /** Per core. */
  readonly int8MacsPerCycle: number;
  readonly floatMacsPerCycle: number;
  readonly bytesPerCycle: number;
  readonly assumption: string;
}

export const CORTEX_A9_PYNQ_Z1: CpuModel = {
  name: "2x Arm Cortex-A9 @ 650 MHz",
  board: "PYNQ-Z1 (Zynq-7020)",
  cores: 2,
  mhz: 650,
  int8MacsPerCycle: 4,
  floatMacsPerCycle: 2,
  bytesPerCycle: 1,
  assumption:
    "4 int8 MAC/cycle/core (half the 8-lane NEON VMLAL.S8 rate), 2 f32 MAC/cycle/core, 1 byte/cycle/core of data movement; both cores busy",
};

export const CORTEX_A53_KRIA: CpuModel = {
  name: "4x Arm Cortex-A53 @ 1.2 GHz",
  board: "Kria KV260 (Zynq UltraScale+ K26)",
  cores: 4,
  mhz: 1200,
  int8MacsPerCycle: 6,
  floatMacsPerCycle: 4,
  bytesPerCycle: 2,
  assumption:
    "6 int8 MAC/cycle/core, 4 f32 MAC/cycle/core, 2 bytes/cycle/core of data movement; all cores busy",
};

export interface CpuCost {
  readonly cycles: number;
  readonly seconds: number;
  readonly macs: number;
  readonly bytes: number;
}

function valueBytes(g: Graph, v: string | null): number {
  if (!v) return 0;
  const t = g.values[v]?.type;
  if (t?.kind !== "tensor") return 0;
  const n = elementCount(t.shape);
  return n === undefined ? 0 : byteSize(t.dtype, n) ?? 0;
}

const isFloatOp = (g: Graph, n: Node) => {
  const t = n.outputs[0] ? g.values[n.outputs[0]]?.type : undefined;
  return t?.kind === "tensor" && (t.dtype === "f32" || t.dtype === "f16" || t.dtype === "f64");
};

/** Cycles and seconds one node takes on the CPU: MACs at the MAC rate plus the bytes it reads and writes. */
export function cpuNodeCost(cpu: CpuModel, g: Graph, n: Node): CpuCost {
  const macs = nodeMacs(g, n) ?? 0;
  let bytes = 0;
  for (const i of n.inputs) if (i && !g.constants[i]) bytes += valueBytes(g, i);
  for (const o of n.outputs) bytes += valueBytes(g, o);
  const macRate = (isFloatOp(g, n) ? cpu.floatMacsPerCycle : cpu.int8MacsPerCycle) * cpu.cores;
  const cycles = Math.ceil(macs / macRate + bytes / (cpu.bytesPerCycle * cpu.cores));
  return { cycles, seconds: cycles / (cpu.mhz * 1e6), macs, bytes };
}
