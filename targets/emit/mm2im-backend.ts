/**
 * The mm2im target as a driver backend: acc_config.h from the MM2IM descriptor and protocol
 * (mm2im-config.ts), cpp/mm2im_sim.cc as the accelerator model of the sim build, and the board build on
 * cpp/acc_board.cc — MM2IM streams over one Xilinx AXI DMA engine (dma_addr0) in the same direct-register
 * scheme as the SECDA designs, so the board source is shared with kLanes = 1.
 */
import { registerDriverBackend } from "./driver-backend.ts";
import { mm2imConfigHeader } from "./mm2im-config.ts";

registerDriverBackend(
  {
    name: "MM2IM",
    accConfig: mm2imConfigHeader,
    simSource: "mm2im_sim.cc",
    boardSource: "acc_board.cc",
  },
  ["mm2im"],
);
