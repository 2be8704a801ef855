/**
 * The bfp target (SECDA-LLM's BFP MatMul as F-BFQ runs it) as a driver backend: acc_config.h from the
 * descriptor and protocol (bfp-config.ts), cpp/bfp_sim.cc as the accelerator model of the sim build, and
 * the board build on cpp/acc_board.cc — the design streams over 4 Xilinx AXI DMA engines in the same
 * direct-register scheme as the SECDA GEMM designs (weights round-robin over the lanes, opcodes, activations
 * and results on lane 0), so the board source is shared with kLanes = 4.
 */
import { bfpConfigHeader } from "./bfp-config.ts";
import { registerDriverBackend } from "./driver-backend.ts";

registerDriverBackend(
  {
    name: "SECDA-LLM BFP MatMul",
    accConfig: bfpConfigHeader,
    simSource: "bfp_sim.cc",
    boardSource: "acc_board.cc",
  },
  ["bfp"],
);
