/**
 * MM2IM v12: transposed convolution as MatMul fused with col2IM (accelerators.md §1.6; gicLAB/SECDA-TFLite
 * at e82c61f: src/secda_delegates/mm2im_delegate/v12/accelerator/acc_config.sc.h, pe_compute.sc.h,
 * scheduler.sc.h, driver/mm2im_driver.h, driver/mm2im_util.h). `PE_COUNT` 8 PEs each hold one filter's
 * KS·KS weight columns; for every input pixel streamed in, each PE computes the dot products of the pixel's
 * depth (UF = 16 int8 MACs a cycle) with only the columns whose output is not cropped, and accumulates them
 * straight into its output-plane buffer at the positions the col2IM map gives: no ineffectual MACs, no
 * overlap buffer of IOM's MatMul result. When an output row is complete the PPU requantizes it (TFLite's
 * per-channel multiplier and shift) and it streams back. One DMA engine (dma_addr0), PYNQ-Z1 at 200 MHz.
 *
 * Limits are the source's: SUP_KS 16 (kernel taps a PE indexes, its col/out index FIFOs and column-sum
 * buffer hold SUP_KS²), SUP_WGT_KS 5 and SUP_DEPTH 1024 (the weight-column buffer holds
 * SUP_WGT_KS²·SUP_DEPTH/UF rows of UF codes), the input-row buffer SUP_DEPTH/UF entries, the accumulation
 * buffer PE_ACC_BUF_SIZE 8192 outputs (the driver's validate(): OH·OW must fit). The DMA setup cost is
 * the SECDA targets' assumption.
 */
import { CORTEX_A9_PYNQ_Z1 } from "../cpu-baseline.ts";
import type { TargetParams } from "../target.ts";
import { MM2IM_OPCODES } from "./protocol.ts";

export const PE_COUNT = 8;
export const UF = 16;
export const SUP_KS = 16;
export const SUP_WGT_KS = 5;
export const SUP_DEPTH = 1024;
/** Rows of UF codes in a PE's weight-column buffer. */
export const PE_WGTCOLBUF_SIZE = (SUP_WGT_KS * SUP_WGT_KS * SUP_DEPTH) / UF;
/** Entries of UF codes in a PE's input-row buffer. */
export const PE_INPROWBUF_SIZE = SUP_DEPTH / UF;
/** Output positions (col offsets, out indices, column sums) a PE handles for one input pixel. */
export const PE_POUTDEXBUF_SIZE = SUP_KS * SUP_KS;
/** Outputs a PE accumulates (indexed modulo this size). */
export const PE_ACC_BUF_SIZE = 1024 * 8;
/** StoreOutTileRow receives ow·filters results plus PE_COUNT + 1 trailing words (mm2im_driver.h). */
export const STORE_TRAILER_WORDS = PE_COUNT + 1;

export const MM2IM: TargetParams = {
  name: "mm2im",
  doc:
    "MM2IM v12: transposed convolution as MatMul + col2IM, 8 PEs (one filter each) x UF 16 int8 MACs, cropped outputs never computed, on-chip requantization, PYNQ-Z1 at 200 MHz",
  board: "PYNQ-Z1",
  clockMHz: 200,
  macsPerCycle: PE_COUNT * UF,
  pe: { rows: 1, cols: PE_COUNT, units: PE_COUNT, depth: UF },
  buffers: {
    weightColumns: {
      words: (PE_WGTCOLBUF_SIZE * UF) / 4,
      banks: PE_COUNT,
      doc:
        `PE_WGTCOLBUF_SIZE ${PE_WGTCOLBUF_SIZE} rows of UF ${UF} codes (SUP_WGT_KS² · SUP_DEPTH / UF) per PE`,
    },
    columnSums: { words: PE_POUTDEXBUF_SIZE, banks: PE_COUNT, doc: "PE_WGTCOLSUMBUF_SIZE SUP_KS² per PE" },
    inputRow: {
      words: (PE_INPROWBUF_SIZE * UF) / 4,
      banks: PE_COUNT,
      doc: `PE_INPROWBUF_SIZE ${PE_INPROWBUF_SIZE} entries of UF codes (SUP_DEPTH / UF) per PE`,
    },
    accumulators: { words: PE_ACC_BUF_SIZE, banks: PE_COUNT, doc: "PE_ACC_BUF_SIZE 8192 int32 per PE" },
  },
  dma: {
    lanes: 1,
    widthBits: 32,
    bytesPerCycle: 4,
    setupCycles: 100,
    doc:
      "one AXI DMA engine (dma_addr0), 32-bit AXI4-Stream at the accelerator clock; 100 cycles per transfer for driver register writes and the first beat is an assumption",
  },
  types: ["i8"],
  // MM2IM is a TFLite delegate: its rule takes int8 tfl.TRANSPOSE_CONV, so compile converts a float model
  // to TFLite's int8 form (ONNX's lowering keeps ConvTranspose float behind Q/DQ).
  integerForm: "tflite",
  opcodes: MM2IM_OPCODES,
  pad: { rows: 1, cols: 1, depth: UF },
  cpu: CORTEX_A9_PYNQ_Z1,
  sources: [
    "accelerators.md §1.6 (TFLite TRANSPOSE_CONV int8 with int32 bias; IOM vs MM2IM; host-computed col2IM index map with −1 for cropped outputs; PE_COUNT 8 × UF 16; SUP_KS 16, SUP_WGT_KS 5, SUP_DEPTH 1024; per-PE buffers; LoadConfig 14 words, LoadWeight, LoadInput, StartSchedule, StoreOutTileRow; opcode bits load_con … store; PYNQ-Z1 200 MHz)",
    "gicLAB/SECDA-TFLite@e82c61f mm2im_delegate/v12: driver/mm2im_driver.h (TileMM2IM: filters in steps of PE_COUNT, inputs sent up to each output row's last contributing pixel, one StoreOutTileRow per output row receiving ow·filters + PE_COUNT + 1 words), driver/mm2im_util.h (col2im_mapping, the per-column weight sums times the input offset), accelerator/pe_compute.sc.h and scheduler.sc.h (cycle annotations used by timing.ts), driver/acc_container.h validate() (buffer limits)",
    "index map: Lathe sends the host's map rows with each input packet (LOAD_MAP); the v12 bitstream derives them on chip from LoadConfig's pattern words, so the map traffic here is an upper bound",
    "assumed: DMA setup 100 cycles per transfer; PE weight loading and input reads overlap the DMA stream that feeds them",
  ],
};
