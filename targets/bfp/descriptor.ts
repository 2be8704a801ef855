/**
 * SECDA-LLM's BFP MatMul accelerator as F-BFQ runs it (accelerators.md §1.3, §1.4; judeharis/SECDA-LLM:
 * srcs/ggml_backend/ggml-secda/acc_dels/bfpp_acc/v3/accelerator/acc_config.sc.h, bfp_processor_*.sc.h,
 * driver/acc_driver.h, acc_driver_mt.h): one super-block vector processor (SBVP, `BFPP_COUNT 1`) that
 * multiplies K-quant weight super-blocks (Q2_K..Q6_K, the variant chosen per call by the CONFIG packet's
 * `wgt_type`) with Q8_K activation super-blocks, on a Kria KV260 at 250 MHz (4 ns, the Kria clock of the
 * SECDA HW-automation configs; F-BFQ's headline board).
 *
 * Buffers hold super-blocks, not words: the weight buffer `SUP_KMB` 1024 and the input buffer `SUP_KNB` 512
 * super-blocks, each unpacked on arrival into quant, scale and min fields (the weight mapper), so their
 * `words` below count super-blocks. The peak of 16 MAC/cycle is Lathe's reading of the source (see
 * timing.ts); the DMA setup cost is the same assumption as the SECDA GEMM targets'.
 */
import { CORTEX_A53_KRIA } from "../cpu-baseline.ts";
import type { TargetParams } from "../target.ts";
import { BFP_OPCODES } from "./protocol.ts";

/** Weight super-blocks the SBVP holds (one M-tile). */
export const SUP_KMB = 1024;
/** Activation super-blocks the SBVP holds: every activation row of a call must fit at once. */
export const SUP_KNB = 512;

export const SECDA_BFP: TargetParams = {
  name: "bfp",
  doc:
    "SECDA-LLM / F-BFQ BFP MatMul: one super-block vector processor, K-quant (Q2_K..Q6_K) weights × Q8_K activations, variant switched per call, Kria KV260 at 250 MHz",
  board: "Kria KV260",
  clockMHz: 250,
  macsPerCycle: 16,
  pe: { rows: 1, cols: 16, units: 1, depth: 16 },
  buffers: {
    weight: {
      words: SUP_KMB,
      banks: 1,
      doc: "SUP_KMB 1024 weight super-blocks (counted in super-blocks, unpacked into quant/scale/min fields)",
    },
    input: {
      words: SUP_KNB,
      banks: 1,
      doc: "SUP_KNB 512 Q8_K activation super-blocks (counted in super-blocks)",
    },
  },
  dma: {
    lanes: 4,
    widthBits: 32,
    bytesPerCycle: 4,
    setupCycles: 100,
    doc:
      "4 AXI DMA engines, 32-bit AXI4-Stream at the accelerator clock; weight super-blocks round-robin over the 4 lanes, activations and results on lane 0; 100 cycles per transfer for driver register writes and the first beat is an assumption",
  },
  types: ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K"],
  // A GGUF whose matrices are in another type (F32, F16, Q8_0, Q4_0) has them re-encoded in Q4_K, the base
  // type of llama.cpp's Q4_K_M (passes/quantize/ggml-requantize.ts); `--scheme q6_k` picks another.
  preferredScheme: "q4_k",
  opcodes: BFP_OPCODES,
  pad: { rows: 1, cols: 1, depth: 256 },
  cpu: CORTEX_A53_KRIA,
  sources: [
    "accelerators.md §1.3 (MUL_MAT with K-quant src0 and F32 src1, Q8_K activations quantized on the host, BFPP_COUNT 1, SUP_KMB 1024, SUP_KNB 512, DimCheck, input-stationary dataflow, weights round-robin over 4 DMA channels, block bytes verbatim in 32-bit words, opcodes LOAD_INP=0x1 LOAD_WGT=0x2 COMPUTE=0x4 STORE=0x8 CONFIG=0x10)",
    "accelerators.md §1.4 (F-BFQ: the block variant is switched per call by wgt_type 2..6 without reconfiguration; Kria KV260; 5.2 tokens/s headline)",
    "accelerators.md §1.0 (Kria designs at 4 ns = 250 MHz; 4 DMA engines of 32 bits)",
    "judeharis/SECDA-LLM bfpp_acc v3: driver/acc_driver.h (MM: LOAD_INP|CONFIG packet [kb, M, N, wgt_type, kb·N]), driver/acc_driver_mt.h (LoadWeights_Inference: [kmb, wgt_blck, lane sizes ×4], then COMPUTE [kmb, knb, mstep, nstep]; StoreOutputs: nstep·mstep f32 results on lane 0), driver/driver_interface.h (preloaded weights: per-lane tile regions)",
    "assumed: a super-block per 16 cycles (16-element rows of the [16][16] super-block buffers, one per cycle), 20 cycles of pipeline latency per output, results streamed back behind the compute, DDR3 interface energy for the board's DDR4 (formats.md §4.4 has no DDR4 entry)",
    "deviation: the v3 core scales each super-block once (acc_sum·dall); Lathe's unit applies ggml's f32 epilogue (vec_dot_qX_K_q8_K's 8 lanes) so an offloaded MatMul is bit-exact with llama.cpp's CPU result",
  ],
};
