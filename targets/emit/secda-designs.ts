/**
 * The SECDA GEMM designs the driver's accelerator model (cpp/acc_sim.cc) can stand in for, by target name:
 * their buffer capacities become acc_config.h. (The Target interface does not expose its design; see the
 * emitter's report.)
 */
import { LatheError } from "../../ir/errors.ts";
import type { GemmDesign } from "../secda/gemm-program.ts";
import { SA_DESIGN } from "../secda-sa/lower.ts";
import { VM_DESIGN } from "../secda-vm/lower.ts";
import type { Target } from "../target.ts";

const DESIGNS: Readonly<Record<string, GemmDesign>> = { "secda-sa": SA_DESIGN, "secda-vm": VM_DESIGN };

export function gemmDesignOf(target: Target): GemmDesign {
  const d = DESIGNS[target.params.name];
  if (!d) {
    throw new LatheError(
      "unsupported",
      `driver emission: no accelerator model for target ${target.params.name} (drivers exist for ${
        Object.keys(DESIGNS).join(", ")
      })`,
    );
  }
  return d;
}
