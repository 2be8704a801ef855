/**
 * What PoTAcc takes: power-of-two convolutions (lathe.ShiftConv, the accelerator's CONV_2D) and fully
 * connected layers (lathe.ShiftMatMul, FULLY_CONNECTED, added in v12) with constant 4-bit codes and 8-bit
 * activations. The guard checks the codes' method and decode table against the v12 PE (and the bitstream's
 * method when the target fixes one), the layer's shape, and that a minimal tile fits the buffers.
 */
import type { Graph, Node } from "../../ir/graph.ts";
import { P } from "../../passes/pattern.ts";
import type { GuardResult, OffloadRule } from "../target.ts";
import { describePotLayer, type PotLayer } from "./layer.ts";
import { lowerPotLayer, potLayerDims } from "./lower.ts";
import { type PotaccDesign, potFitGuard } from "./program.ts";

export function potaccRules(design: PotaccDesign): OffloadRule[] {
  const described = new WeakMap<Graph, Map<Node, PotLayer | string>>();
  const describe = (node: Node, g: Graph): PotLayer | string => {
    let m = described.get(g);
    if (!m) described.set(g, m = new Map());
    let r = m.get(node);
    if (r === undefined) m.set(node, r = describePotLayer(node, g, design.only));
    return r;
  };
  const rule = (name: string, doc: string, pattern: OffloadRule["pattern"]): OffloadRule<{ node: Node }> => ({
    name,
    doc,
    pattern,
    guard: ({ node }, g): GuardResult => {
      const l = describe(node, g);
      return typeof l === "string" ? l : potFitGuard(design, potLayerDims(l));
    },
    lower: ({ node }, g, names) => {
      const l = describe(node, g);
      if (typeof l === "string") throw new Error(`lowering ${node.id} after its guard refused: ${l}`);
      return lowerPotLayer(design, l, g, names);
    },
  });
  const operands = [P.var("x"), P.const("scale"), P.const("zero"), P.const("w"), P.opt(P.const("b"))];
  return [
    rule(
      "conv2d",
      "lathe.ShiftConv (PoT CONV_2D) with constant 4-bit codes → im2col GEMM on the shift PEs, f32 epilogue on the host",
      P.op("lathe.ShiftConv", operands).as("node"),
    ),
    rule(
      "fully-connected",
      "lathe.ShiftMatMul (PoT FULLY_CONNECTED) with constant 4-bit codes → GEMM on the shift PEs, f32 epilogue on the host",
      P.op("lathe.ShiftMatMul", operands).as("node"),
    ),
  ];
}
