/** The bfp target (SECDA-LLM BFP MatMul run as F-BFQ): descriptor, offload rule, lowering, functional model, timing. */
import type { Target } from "../target.ts";
import { SECDA_BFP } from "./descriptor.ts";
import { bfpFunctional } from "./functional.ts";
import { BFP_RULES } from "./offload.ts";
import { bfpProgramOf } from "./program.ts";
import { bfpTiming } from "./timing.ts";

export const bfp: Target = {
  params: SECDA_BFP,
  rules: BFP_RULES,
  programOf: bfpProgramOf,
  functional: bfpFunctional,
  timing: bfpTiming,
};
