/**
 * PoTAcc as a driver backend: `potacc` and `potacc:<board>[:<method>]` share the SECDA packet protocol with
 * PoTAcc's own payloads (targets/potacc/program.ts); the board and the bitstream's method become
 * acc_config.h (potacc-config.ts), cpp/potacc_sim.cc models the shift-PE accelerator from those constants,
 * and the board build reuses cpp/acc_board.cc: PoTAcc streams over the same four AXI DMA engines.
 */
import { LatheError } from "../../ir/errors.ts";
import type { PotMethod } from "../../passes/quantize/pot-tables.ts";
import { POTACC_BOARDS, type PotaccBoard, type PotaccBoardSpec, SHIFT_PES } from "../potacc/descriptor.ts";
import type { Target } from "../target.ts";
import { registerDriverBackend } from "./driver-backend.ts";
import { potaccConfigHeader } from "./potacc-config.ts";

/** The board and the fixed method a PoTAcc target name gives (`potacc` is the PYNQ-Z2, any method). */
export function potaccVariant(target: Target): { board: PotaccBoardSpec; only?: PotMethod } {
  const name = target.params.name;
  const [family, board = "z2", method, ...rest] = name.split(":");
  if (
    family !== "potacc" || !(board in POTACC_BOARDS) || rest.length ||
    (method !== undefined && !(method in SHIFT_PES))
  ) {
    throw new LatheError("unsupported", `driver emission: ${name} is not a PoTAcc variant`);
  }
  return { board: POTACC_BOARDS[board as PotaccBoard], only: method as PotMethod | undefined };
}

registerDriverBackend(
  {
    name: "PoTAcc",
    accConfig: (target) => {
      const v = potaccVariant(target);
      return potaccConfigHeader(target, v.board, v.only);
    },
    simSource: "potacc_sim.cc",
    boardSource: "acc_board.cc",
  },
  ["potacc"],
  ["potacc"],
);
