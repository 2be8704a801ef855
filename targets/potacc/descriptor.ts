/**
 * PoTAcc v12, the VM GEMM organisation with shift PEs (accelerators.md §1.5, §4.1; gicLAB/PoTAcc:
 * model_inference/src/secda_delegates/vm_shift_delegate/v12/accelerator/acc_config.sc.h, vm_gemm.sc.h,
 * driver/gemm_driver.h): `VMM_COUNT` GEMM units, each updating a 4×4 output tile from 4 weight rows × 4
 * input rows × 4 depth codes per cycle (`VM_PE_URAM`), 8-bit signed activations times 4-bit power-of-two
 * weight codes. Two boards: PYNQ-Z2 with 4 units at 200 MHz, Kria KV260 with 8 units, URAM weight buffers
 * and 250 MHz. The PoT method (QKeras, MSQ or APoT) is a compile-time define of the bitstream (`-DQKERAS`,
 * `-DMSQ`, `-DAPOT`); a spec `potacc:<board>:<method>` names one bitstream, plain `potacc:<board>` takes
 * each layer's method (the bitstream built for it).
 *
 * Buffer sizes, widths, padding and opcodes are the source's; the DMA setup cost is the same assumption as
 * the SECDA GEMM targets'.
 */
import { CORTEX_A53_KRIA, CORTEX_A9_PYNQ_Z1, type CpuModel } from "../cpu-baseline.ts";
import { OPCODES } from "../secda/protocol.ts";
import type { TargetParams } from "../target.ts";
import type { PotMethod } from "../../passes/quantize/pot-tables.ts";

export type PotaccBoard = "z2" | "kria";

/** What differs between the two boards (acc_config.sc.h, `#ifdef KRIA`). */
export interface PotaccBoardSpec {
  readonly board: string;
  readonly clockMHz: number;
  /** VMM_COUNT */
  readonly units: number;
  /** WGT_BUF_LEN entries per unit, each a 64-bit word of 16 weight codes (4 rows × 4 depth). */
  readonly wgtBufLen: number;
  /** INP_BUF_LEN entries per unit (64-bit). */
  readonly inpBufLen: number;
  /** GINP_BUF_LEN 32-bit words in each of the 4 global input banks. */
  readonly ginpBufLen: number;
  readonly uram: boolean;
  readonly cpu: CpuModel;
}

export const POTACC_BOARDS: Readonly<Record<PotaccBoard, PotaccBoardSpec>> = {
  z2: {
    board: "PYNQ-Z2",
    clockMHz: 200,
    units: 4,
    wgtBufLen: 4096,
    inpBufLen: 2048,
    ginpBufLen: 8192,
    uram: false,
    // The PYNQ-Z2 carries the same Zynq-7020 (2× Cortex-A9 at 650 MHz) as the PYNQ-Z1.
    cpu: CORTEX_A9_PYNQ_Z1,
  },
  kria: {
    board: "Kria KV260",
    clockMHz: 250,
    units: 8,
    wgtBufLen: 8192 * 3,
    inpBufLen: 4096,
    ginpBufLen: 8192 * 2,
    uram: true,
    cpu: CORTEX_A53_KRIA,
  },
};

/** WSUMS_BUF_LEN = 512 / VMM_COUNT per unit and per wgt_sum bank (4 banks): 2048 columns in all. */
export const PARAM_COLUMNS = 2048;
/** BLOCK_DEPTH: the driver pads depth to 16 (`roundUp(depth, 16)`). */
export const BLOCK_DEPTH = 16;
/** INPBLOCK_WIDTH / WGTBLOCK_WIDTH: rows and columns in blocks of 4. */
export const BLOCK_WIDTH = 4;
/** Weight codes per 32-bit DMA word (`data_length / 32` words per lane for 4 lanes: 4-bit codes). */
export const CODES_PER_WORD = 8;

/** The shift PE of each method (vm_gemm.sc.h `mul_lut`; acc_config.sc.h PROD_DATA_WIDTH_*). */
export interface ShiftPeSpec {
  readonly method: PotMethod;
  readonly label: string;
  /** The HLS define that builds this bitstream. */
  readonly define: string;
  /** Bits of the product the PE adds or subtracts (PROD_DATA_WIDTH). */
  readonly productBits: number;
  /** Bits of each shifted term before they are summed (`c15`; `c10_1`, `c10_2`; `c11`, `c9`). */
  readonly termBits: readonly number[];
}

export const SHIFT_PES: Readonly<Record<PotMethod, ShiftPeSpec>> = {
  pot: { method: "pot", label: "QKeras", define: "-DQKERAS", productBits: 15, termBits: [15] },
  msq: { method: "msq", label: "MSQ", define: "-DMSQ", productBits: 11, termBits: [10, 10] },
  apot: { method: "apot", label: "APoT", define: "-DAPOT", productBits: 12, termBits: [11, 9] },
};

/** The decode table version the v12 shift PE implements (passes/quantize/pot-tables.ts). */
export const POTACC_TABLE_VERSION = "potacc-v12";

export function potaccParams(board: PotaccBoard, name: string, method?: PotMethod): TargetParams {
  const b = POTACC_BOARDS[board];
  const bitstream = method ? ` ${SHIFT_PES[method].label} bitstream (${SHIFT_PES[method].define})` : "";
  return {
    name,
    doc:
      `PoTAcc v12: ${b.units} VM units of shift PEs (4x4 outputs x 4 depth each), int8 activations x 4-bit PoT weight codes, ${b.board} at ${b.clockMHz} MHz${bitstream}`,
    board: b.board,
    clockMHz: b.clockMHz,
    macsPerCycle: 64 * b.units,
    // The bitstream's method; APoT (Lathe's choice) when the target takes every method.
    preferredScheme: method ?? "apot",
    pe: { rows: 4, cols: 4, units: b.units, depth: 4 },
    buffers: {
      globalInput: { words: b.ginpBufLen, banks: 4, doc: `GINP_BUF_LEN ${b.ginpBufLen} ×4 banks` },
      unitWeight: {
        words: b.wgtBufLen * 2,
        banks: 1,
        doc: `WGT_BUF_LEN ${b.wgtBufLen} 64-bit${b.uram ? " URAM" : ""} words (16 codes each) per unit`,
      },
      unitInput: {
        words: b.inpBufLen * 2,
        banks: 2,
        doc: `INP_BUF_LEN ${b.inpBufLen} 64-bit words ×2 per unit`,
      },
      columnSums: {
        words: PARAM_COLUMNS / 4,
        banks: 4,
        doc: `WSUMS_BUF_LEN 512/${b.units} per unit ×4 wgt_sum banks: ${PARAM_COLUMNS} columns`,
      },
    },
    dma: {
      lanes: 4,
      widthBits: 32,
      bytesPerCycle: 4,
      setupCycles: 100,
      doc:
        "4 AXI DMA engines (NO_OF_DATA_CHANNELS 4), 32-bit AXI4-Stream at the accelerator clock; 100 cycles per transfer for driver register writes and the first beat is an assumption",
    },
    types: ["i8", "u8", "pot4"],
    opcodes: OPCODES,
    pad: { rows: BLOCK_WIDTH, cols: BLOCK_WIDTH, depth: BLOCK_DEPTH },
    cpu: b.cpu,
    sources: [
      "accelerators.md §1.5 (CONV_2D and FULLY_CONNECTED, 8-bit activations × 4-bit PoT codes, product widths QKeras 15 / MSQ 11 / APoT 12 bits, VMM_COUNT 4 on PYNQ-Z2 and 8 with URAM on Kria, buffers, 200/250 MHz)",
      "accelerators.md §4.1 (bit 3 of a code selects add or subtract; the v12 decode of each method; the decode is per-accelerator metadata)",
      "gicLAB/PoTAcc vm_shift_delegate/v12: acc_config.sc.h (buffers, BLOCK_DEPTH 16, opcodes), vm_gemm.sc.h (mul_lut per method, VM_PE_URAM: 64 products a cycle, DWAIT(5 + d) + DWAIT(2) per 4×4 tile), driver/gemm_driver.h (roundUp(depth, 16), 4-bit weights data_length/32 words per lane, column blocks of 4 dealt over the units)",
      "activations: u8 codes are re-centred on the host to the signed int8 the PE reads (sc_int<8> inp), the −128 offset folded into the column sums",
      "results: the PoT layers of the IR finish in f32 (scale, bias), which the int8 PPU does not compute, so calls return int32 accumulators and the host scales them (lathe.DequantizeAcc)",
      "assumed: DMA setup 100 cycles per transfer",
    ],
  };
}
