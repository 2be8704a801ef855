/** What VM v5 takes: the SECDA GEMM rules under VM's capacities. */
import { secdaGemmRules } from "../secda/gemm-rules.ts";
import { VM_DESIGN } from "./lower.ts";

export const VM_RULES = secdaGemmRules(VM_DESIGN);
