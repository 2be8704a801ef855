/**
 * Offload rules shared by the SECDA GEMM designs: int8/uint8 CONV_2D and FULLY_CONNECTED from TFLite,
 * QLinearConv from ONNX. Each is a pattern (constant weights) plus a guard that checks types, grouping,
 * arithmetic and the design's buffer capacities and names the limit a refusal hit.
 */
import type { Graph, Node } from "../../ir/graph.ts";
import { P } from "../../passes/pattern.ts";
import type { GuardResult, OffloadRule } from "../target.ts";
import type { GemmDesign } from "./gemm-program.ts";
import { fitGuard, type GemmLayer, lowerGemmLayer, qlinearConvGemm, tflGemm } from "./gemm-lowering.ts";

type Describe = (node: Node, g: Graph, types: readonly string[]) => GemmLayer | string;

const described = new WeakMap<Graph, Map<Node, GemmLayer | string>>();

function describeOnce(f: Describe, node: Node, g: Graph, types: readonly string[]): GemmLayer | string {
  let m = described.get(g);
  if (!m) described.set(g, m = new Map());
  let r = m.get(node);
  if (r === undefined) m.set(node, r = f(node, g, types));
  return r;
}

function gemmRule(
  design: GemmDesign,
  name: string,
  doc: string,
  pattern: OffloadRule["pattern"],
  f: Describe,
): OffloadRule<{ node: Node }> {
  return {
    name,
    doc,
    pattern,
    guard: ({ node }, g): GuardResult => {
      const l = describeOnce(f, node, g, design.params.types);
      return typeof l === "string" ? l : fitGuard(design, l);
    },
    lower: ({ node }, g, names) => {
      const l = describeOnce(f, node, g, design.params.types);
      if (typeof l === "string") throw new Error(`lowering ${node.id} after its guard refused: ${l}`);
      return lowerGemmLayer(design, l, g, names);
    },
  };
}

export function secdaGemmRules(design: GemmDesign): OffloadRule[] {
  return [
    gemmRule(
      design,
      "conv2d",
      "tfl.CONV_2D with constant 8-bit filters → im2col GEMM with on-chip requantization",
      P.op("tfl.CONV_2D", [P.var("x"), P.const("w"), P.opt(P.const("b"))]).as("node"),
      tflGemm,
    ),
    gemmRule(
      design,
      "fully-connected",
      "tfl.FULLY_CONNECTED with constant 8-bit weights → GEMM with on-chip requantization",
      P.op("tfl.FULLY_CONNECTED", [P.var("x"), P.const("w"), P.opt(P.const("b"))]).as("node"),
      tflGemm,
    ),
    gemmRule(
      design,
      "qlinear-conv",
      "ONNX QLinearConv → im2col GEMM, int32 results requantized on the host (float32 scale)",
      P.op("QLinearConv", [
        P.var("x"),
        P.const("xs"),
        P.const("xz"),
        P.const("w"),
        P.const("ws"),
        P.const("wz"),
        P.const("ys"),
        P.const("yz"),
        P.opt(P.const("b")),
      ]).as("node"),
      qlinearConvGemm,
    ),
  ];
}
