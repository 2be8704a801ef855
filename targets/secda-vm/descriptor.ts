/**
 * SECDA VM v5: four GEMM units, each updating a 4×4 output tile from 4 weight rows × 4 input rows × 4
 * depth codes (one packed word each) per cycle, 64 MAC/cycle per unit (accelerators.md §1.1;
 * gicLAB/SECDA-TFLite: src/secda_delegates/vm_delegate/v5/accelerator/acc_config.sc.h, vm_gemm.sc.h,
 * driver/gemm_driver.h; hardware_automation/configs/VM/VMv5_0.json). Buffer sizes and padding multiples are
 * the source's; the DMA setup cost and the per-tile pipeline overhead are Lathe's assumptions.
 */
import { CORTEX_A9_PYNQ_Z1 } from "../cpu-baseline.ts";
import { OPCODES } from "../secda/protocol.ts";
import type { TargetParams } from "../target.ts";

export const SECDA_VM: TargetParams = {
  name: "secda-vm",
  doc:
    "SECDA VM v5: 4 vector-MAC GEMM units of 4x4 output tiles, 4 deep, int8, on-chip requantization, PYNQ-Z1 at 200 MHz",
  board: "PYNQ-Z1",
  clockMHz: 200,
  macsPerCycle: 256,
  pe: { rows: 4, cols: 4, units: 4, depth: 4 },
  buffers: {
    globalInput: { words: 8192, banks: 4, doc: "GINP_BUF_LEN 8192 ×4 banks" },
    unitWeight: { words: 2048, banks: 4, doc: "weights 2048 ×4 banks per unit" },
    unitInput: { words: 2048, banks: 4, doc: "inputs 2048 ×4 banks per unit" },
    sums: { words: 512, banks: 1, doc: "weight/input sum buffers 512 each" },
    requant: { words: 512, banks: 1, doc: "crf/crx requantization parameters 512" },
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
  pad: { rows: 2, cols: 4, depth: 16 },
  cpu: CORTEX_A9_PYNQ_Z1,
  sources: [
    "accelerators.md §1.0 (opcodes, 4 DMA lanes, 32-bit words, host preparation, 200 MHz on Z1)",
    "accelerators.md §1.1 (VMM_COUNT 4, 4x4x4 per cycle per unit, buffers, padding rows 2 / cols 4 / depth 16)",
    "assumed: 4 cycles of pipeline fill and PPU hand-off per 4x4 tile; int8 (v5) and the original SECDA's uint8",
  ],
};
