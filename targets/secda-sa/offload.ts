/** What SA v4 takes: the SECDA GEMM rules under SA's capacities. */
import { secdaGemmRules } from "../secda/gemm-rules.ts";
import { SA_DESIGN } from "./lower.ts";

export const SA_RULES = secdaGemmRules(SA_DESIGN);
