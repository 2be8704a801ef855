/**
 * The SECDA GEMM designs as a driver backend: secda-sa, secda-vm and the parametric `sa:RxC:df` arrays speak
 * one packet protocol (targets/secda/protocol.ts) and differ in buffer capacities, which become acc_config.h;
 * cpp/acc_sim.cc models any of them from those constants.
 */
import { LatheError } from "../../ir/errors.ts";
import type { GemmDesign } from "../secda/gemm-program.ts";
import { SA_DESIGN } from "../secda-sa/lower.ts";
import { VM_DESIGN } from "../secda-vm/lower.ts";
import { parseSystolicSpec } from "../systolic/spec.ts";
import { systolicDesign } from "../systolic/target.ts";
import type { Target } from "../target.ts";
import { accConfigHeader } from "./acc-config.ts";
import { registerDriverBackend } from "./driver-backend.ts";

const DESIGNS: Readonly<Record<string, GemmDesign>> = { "secda-sa": SA_DESIGN, "secda-vm": VM_DESIGN };

export function gemmDesignOf(target: Target): GemmDesign {
  const name = target.params.name;
  const d = DESIGNS[name] ?? (name.startsWith("sa:") ? systolicDesign(parseSystolicSpec(name)) : undefined);
  if (!d) throw new LatheError("unsupported", `driver emission: ${name} is not a SECDA GEMM design`);
  return d;
}

registerDriverBackend(
  {
    name: "SECDA GEMM",
    accConfig: (target) => accConfigHeader(target, gemmDesignOf(target)),
    simSource: "acc_sim.cc",
    boardSource: "acc_board.cc",
  },
  Object.keys(DESIGNS),
  ["sa"],
);
