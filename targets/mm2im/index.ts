/** The mm2im target (MM2IM v12 transposed-convolution accelerator): descriptor, offload rule, lowering, functional model, timing. */
import type { Target } from "../target.ts";
import { MM2IM } from "./descriptor.ts";
import { runMm2imProgram } from "./functional.ts";
import { MM2IM_RULES } from "./offload.ts";
import { mm2imProgramOf } from "./program.ts";
import { mm2imTiming } from "./timing.ts";

export const mm2im: Target = {
  params: MM2IM,
  rules: MM2IM_RULES,
  programOf: mm2imProgramOf,
  functional: (program, operands, out) => runMm2imProgram(program, operands, out),
  timing: mm2imTiming,
};
