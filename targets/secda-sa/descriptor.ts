/**
 * SECDA SA v4: a 16×16 output-stationary systolic array of int8 MACs behind the SECDA packet protocol
 * (accelerators.md §1.2; gicLAB/SECDA-TFLite: src/secda_delegates/sa_delegate/v4/accelerator/
 * acc_config.sc.h, w1.sc.h; hardware_automation/configs/SA/SAv4_0.json). Buffer sizes are the source's
 * constants; the DMA setup cost and the padding multiples are Lathe's assumptions, marked below.
 */
import { CORTEX_A9_PYNQ_Z1 } from "../cpu-baseline.ts";
import { OPCODES } from "../secda/protocol.ts";
import type { TargetParams } from "../target.ts";

export const SECDA_SA: TargetParams = {
  name: "secda-sa",
  doc:
    "SECDA SA v4: 16x16 output-stationary systolic array, int8, on-chip requantization, PYNQ-Z1 at 200 MHz",
  board: "PYNQ-Z1",
  clockMHz: 200,
  macsPerCycle: 256,
  pe: { rows: 16, cols: 16, units: 1, depth: 1 },
  buffers: {
    input: { words: 4096, banks: 4, doc: "IN_BUF_LEN 4096 ×4 banks" },
    weight: { words: 8192, banks: 4, doc: "WE_BUF_LEN 8192 ×4 banks" },
    sums: {
      words: 1024,
      banks: 4,
      doc: "SUMS_BUF_LEN 1024 ×4 banks (row sums; per-channel bias/multiplier/shift assumed the same size)",
    },
  },
  dma: {
    lanes: 4,
    widthBits: 32,
    bytesPerCycle: 4,
    setupCycles: 100,
    doc:
      "4 AXI DMA engines, 32-bit AXI4-Stream at the accelerator clock (accelerators.md §1.0); 100 cycles per transfer for driver register writes and the first beat is an assumption",
  },
  types: ["i8", "u8"],
  opcodes: OPCODES,
  pad: { rows: 4, cols: 4, depth: 4 },
  cpu: CORTEX_A9_PYNQ_Z1,
  sources: [
    "accelerators.md §1.0 (opcodes, 4 DMA lanes, 32-bit words, host preparation, 200 MHz on Z1)",
    "accelerators.md §1.2 (SA_SIZE 16x16, output-stationary, IN_BUF_LEN 4096, WE_BUF_LEN 8192, SUMS_BUF_LEN 1024, ×4 banks)",
    "assumed: padding of rows and columns to the 4 DMA lanes and of depth to one 32-bit word (the SA driver's exact padding is not in the sources); int8 and the original SECDA's uint8",
  ],
};
