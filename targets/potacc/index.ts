/**
 * The PoTAcc targets: `potacc` and `potacc:z2` (PYNQ-Z2, 4 units, 200 MHz), `potacc:kria` (Kria KV260, 8
 * units, URAM weight buffers, 250 MHz), each optionally fixed to one bitstream's method with a third field
 * (`potacc:kria:apot`, `:msq`, `:pot` for QKeras).
 */
import { LatheError } from "../../ir/errors.ts";
import type { PotMethod } from "../../passes/quantize/pot-tables.ts";
import type { Target } from "../target.ts";
import { POTACC_BOARDS, type PotaccBoard, potaccParams, SHIFT_PES } from "./descriptor.ts";
import { runPotProgram } from "./functional.ts";
import { potaccRules } from "./offload.ts";
import { type PotaccDesign, potProgramOf } from "./program.ts";
import { potTiming } from "./timing.ts";

export function potaccTarget(board: PotaccBoard, name: string, only?: PotMethod): Target {
  const design: PotaccDesign = { params: potaccParams(board, name, only), board: POTACC_BOARDS[board], only };
  return {
    params: design.params,
    rules: potaccRules(design),
    programOf: (call) => potProgramOf(design, call),
    functional: (program, operands, out) => runPotProgram(design, program, operands, out),
    timing: (program) => potTiming(design, program),
  };
}

export const potacc: Target = potaccTarget("z2", "potacc");

/** `potacc:<board>[:<method>]`. */
export function resolvePotacc(spec: string): Target {
  const [, board, method, ...rest] = spec.split(":");
  const boards = Object.keys(POTACC_BOARDS);
  if (!(board in POTACC_BOARDS) || rest.length || (method !== undefined && !(method in SHIFT_PES))) {
    throw new LatheError(
      "usage",
      `unknown PoTAcc variant '${spec}': potacc:<board>[:<method>] with board ${
        boards.join("|")
      } and method ${Object.keys(SHIFT_PES).join("|")}`,
    );
  }
  return potaccTarget(board as PotaccBoard, spec, method as PotMethod | undefined);
}
