/** The secda-vm target: descriptor, offload rules, lowering, functional model and timing. */
import { gemmProgramOf } from "../secda/gemm-program.ts";
import { gemmTiming } from "../secda/gemm-timing.ts";
import type { Target } from "../target.ts";
import { SECDA_VM } from "./descriptor.ts";
import { vmFunctional } from "./functional.ts";
import { VM_DESIGN } from "./lower.ts";
import { VM_RULES } from "./offload.ts";

export const secdaVm: Target = {
  params: SECDA_VM,
  rules: VM_RULES,
  programOf: (call) => gemmProgramOf(VM_DESIGN, call),
  functional: vmFunctional,
  timing: (program) => gemmTiming(VM_DESIGN, program),
};
