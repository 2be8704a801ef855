/** VM's functional model: the SECDA GEMM model with VM's buffers (the units' order does not change int32 sums). */
import { runGemmProgram } from "../secda/gemm-model.ts";
import type { FunctionalModel } from "../target.ts";
import { VM_DESIGN } from "./lower.ts";

export const vmFunctional: FunctionalModel = (program, operands, out) =>
  runGemmProgram(VM_DESIGN, program, operands, out);
