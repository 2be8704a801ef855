/** The secda-sa target: descriptor, offload rules, lowering, functional model and timing. */
import { gemmProgramOf } from "../secda/gemm-program.ts";
import { gemmTiming } from "../secda/gemm-timing.ts";
import type { Target } from "../target.ts";
import { SECDA_SA } from "./descriptor.ts";
import { saFunctional } from "./functional.ts";
import { SA_DESIGN } from "./lower.ts";
import { SA_RULES } from "./offload.ts";

export const secdaSa: Target = {
  params: SECDA_SA,
  rules: SA_RULES,
  programOf: (call) => gemmProgramOf(SA_DESIGN, call),
  functional: saFunctional,
  timing: (program) => gemmTiming(SA_DESIGN, program),
};
