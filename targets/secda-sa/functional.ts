/** SA's functional model: the SECDA GEMM model with SA's buffers (the array's order does not change int32 sums). */
import { runGemmProgram } from "../secda/gemm-model.ts";
import type { FunctionalModel } from "../target.ts";
import { SA_DESIGN } from "./lower.ts";

export const saFunctional: FunctionalModel = (program, operands, out) =>
  runGemmProgram(SA_DESIGN, program, operands, out);
