/**
 * What the BFP unit takes (SECDA-LLM `supports_op` plus the driver's DimCheck, accelerators.md §1.3):
 * `lathe.GgmlMatMul` with constant K-quant weights (Q2_K..Q6_K) and f32 activations whose whole matrix
 * fits the input buffer. The guard names the limit a refusal hit.
 */
import type { Node } from "../../ir/graph.ts";
import { P } from "../../passes/pattern.ts";
import type { GuardResult, OffloadRule } from "../target.ts";
import { lowerBfpMatMul } from "./lower.ts";
import { describeOnce, previousVariant } from "./variants.ts";

const matMul: OffloadRule<{ node: Node }> = {
  name: "ggml-matmul",
  doc:
    "lathe.GgmlMatMul with constant Q2_K..Q6_K weights → host Q8_K quantization + one BFP call (variant per call)",
  pattern: P.op("lathe.GgmlMatMul", [P.var("x"), P.const("w")]).as("node"),
  guard: ({ node }, g): GuardResult => {
    const d = describeOnce(node, g);
    return typeof d === "string" ? d : true;
  },
  lower: ({ node }, g, names) => {
    const d = describeOnce(node, g);
    if (typeof d === "string") throw new Error(`lowering ${node.id} after its guard refused: ${d}`);
    return lowerBfpMatMul(d, previousVariant(node, g), g, names);
  },
};

export const BFP_RULES: readonly OffloadRule[] = [matMul];
