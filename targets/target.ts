/**
 * What a target is (anchors-and-style.md §6.7): a descriptor of the hardware as data, offload rules (a
 * pattern plus a guard that explains each refusal, §6.2), a lowering of an accepted node into host
 * preparation nodes plus one `lathe.AccelCall`, the command stream the call runs (opcode-bitmask packets
 * over DMA lanes, accelerators.md §1.0 and §7.2), a functional model that interprets that same stream on
 * real tensors, and a timing model that prices it. Emitters (driver C++, process replay) consume the same
 * `Program` and the packed constants the lowering leaves in the graph.
 *
 * Adding a target is a folder `targets/<name>/` (descriptor, offload, lower, functional, timing) and one
 * line in targets/registry.ts.
 */
import type { Constant } from "../ir/constant.ts";
import type { Graph, Node, ValueInfo } from "../ir/graph.ts";
import type { OpPattern } from "../passes/pattern.ts";
import type { Tensor } from "../runtime/tensor.ts";
import type { CpuModel } from "./cpu-baseline.ts";

/** An on-chip buffer in 32-bit words: `words` per bank times `banks`. */
export interface BufferSpec {
  readonly words: number;
  readonly banks: number;
  readonly doc: string;
}

export interface DmaSpec {
  /** AXI DMA engines streaming to the accelerator (dma_addr0..3). */
  readonly lanes: number;
  readonly widthBits: number;
  /** Bytes one lane moves per accelerator cycle once a transfer runs. */
  readonly bytesPerCycle: number;
  /** Fixed cost of one transfer (register writes, descriptor fetch, first beat), in accelerator cycles. */
  readonly setupCycles: number;
  readonly doc: string;
}

/** The hardware as data, copied from the design's acc_config.sc.h where the sources give it. */
export interface TargetParams {
  readonly name: string;
  readonly doc: string;
  readonly board: string;
  readonly clockMHz: number;
  /** Peak int8 multiply-accumulates per cycle. */
  readonly macsPerCycle: number;
  /** Processing elements: a rows × cols array, or units of a vector design. */
  readonly pe: {
    readonly rows: number;
    readonly cols: number;
    readonly units: number;
    readonly depth: number;
  };
  readonly buffers: Readonly<Record<string, BufferSpec>>;
  readonly dma: DmaSpec;
  /** Activation / weight code types the datapath takes. */
  readonly types: readonly string[];
  readonly opcodes: Readonly<Record<string, number>>;
  /** GEMM padding multiples: rows (output pixels), cols (output channels), depth (reduction). */
  readonly pad: { readonly rows: number; readonly cols: number; readonly depth: number };
  /**
   * The quantize scheme `compile --target` gives a float model (`quantize{scheme=…}`): the number format
   * the datapath takes. Absent: int8, lowered to integer ops.
   */
  readonly preferredScheme?: string;
  /**
   * The integer form an int8 float model is brought to: `tflite` for a TFLite delegate whose rules take
   * TFLite's int8 ops (MM2IM's tfl.TRANSPOSE_CONV); absent: ONNX QLinear ops (lower-int8).
   */
  readonly integerForm?: "tflite";
  /** The board's CPU, for host-side work and the CPU-only baseline. */
  readonly cpu: CpuModel;
  /** Where each number came from (accelerators.md sections, source files). */
  readonly sources: readonly string[];
}

/** A contiguous run of 32-bit words in one of the call's operands. */
export interface PayloadRef {
  /** Index into the AccelCall's inputs. */
  readonly operand: number;
  /** Offset and length in 32-bit words. */
  readonly offset: number;
  readonly words: number;
}

/**
 * One DMA packet: an opcode bitmask (flags may be OR-ed), header words (each set flag's header in the
 * target's flag order), then the payload words, sent on one lane.
 */
export interface Cmd {
  readonly opcode: number;
  readonly header: readonly number[];
  readonly payload: readonly PayloadRef[];
  readonly lane: number;
  /** Words the accelerator sends back on this lane's receive channel after the packet (results). */
  readonly recvWords?: number;
}

export interface OperandSpec {
  readonly role: string;
  /** Element type and shape of the operand as the call receives it. */
  readonly dtype: string;
  readonly shape: readonly number[];
}

/** A call's command stream and what it reads; a pure function of the call's attributes and the target. */
export interface Program {
  readonly target: string;
  readonly kernel: string;
  readonly id: string;
  readonly operands: readonly OperandSpec[];
  readonly cmds: readonly Cmd[];
  /** Kernel dimensions, for reports and emitters (GEMM: m, n, k and their padded forms, tiles). */
  readonly dims: Readonly<Record<string, number>>;
}

/** A guard accepts (`true`) or says why not, naming the limit it hit. */
export type GuardResult = true | string;

export interface OffloadRule<C extends Record<string, unknown> = any> {
  readonly name: string;
  readonly doc: string;
  readonly pattern: OpPattern<C>;
  readonly guard: (captures: C, graph: Graph) => GuardResult;
  readonly lower: (captures: C, graph: Graph, names: NameSource) => Lowering;
}

export interface NameSource {
  value(hint: string): string;
  node(hint: string): string;
}

/** What replaces an offloaded node: new constants, host nodes and the call, in order. */
export interface Lowering {
  readonly nodes: readonly Node[];
  readonly constants: Readonly<Record<string, Constant>>;
  readonly values: Readonly<Record<string, ValueInfo>>;
  /** The id of the AccelCall node among `nodes`. */
  readonly call: string;
}

export interface PhaseCycles {
  readonly config: number;
  readonly weights: number;
  readonly inputs: number;
  readonly compute: number;
  readonly store: number;
}

/** Cost of one call, from its command stream. */
export interface CallTiming {
  readonly cycles: number;
  readonly seconds: number;
  readonly phases: PhaseCycles;
  /** True multiply-accumulates (unpadded) and those the PEs issue (padded tiles). */
  readonly macs: number;
  readonly issuedMacs: number;
  /** macs / (cycles × peak MACs per cycle). */
  readonly utilization: number;
  /** In 32-bit words. */
  readonly sramReads: number;
  readonly sramWrites: number;
  readonly dramBytes: number;
  /** Cycles the DMA lanes are the critical path (config, loads and the result stream). */
  readonly dmaCycles: number;
  readonly packets: number;
  readonly energyPJ: number;
  readonly energy: Readonly<Record<string, number>>;
  /**
   * Figures of the target's own compute model, reported as they are (a systolic array's SCALE-Sim folds,
   * mapping efficiency and compute utilization, in SCALE-Sim's units).
   */
  readonly model?: Readonly<Record<string, number>>;
}

/** Interprets a program on the call's operands and writes the result (the accelerator's behaviour). */
export type FunctionalModel = (
  program: Program,
  operands: readonly Tensor[],
  out: Tensor,
  attrs: Readonly<Record<string, any>>,
) => void;

export interface Target {
  readonly params: TargetParams;
  readonly rules: readonly OffloadRule[];
  /** The program of an AccelCall node, rebuilt from its attributes (cached per node). */
  programOf(call: Node): Program;
  readonly functional: FunctionalModel;
  timing(program: Program): CallTiming;
}
