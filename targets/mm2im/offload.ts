/**
 * What MM2IM takes: TFLite int8 TRANSPOSE_CONV with a constant output shape, filter and optional int32
 * bias, within the design's limits (layer.ts says which one a refusal hit).
 */
import type { Graph, Node } from "../../ir/graph.ts";
import { P } from "../../passes/pattern.ts";
import type { GuardResult, OffloadRule } from "../target.ts";
import { describeTconv, type TconvLayer } from "./layer.ts";
import { lowerTconv } from "./lower.ts";

const described = new WeakMap<Graph, Map<Node, TconvLayer | string>>();

function describeOnce(node: Node, g: Graph): TconvLayer | string {
  let m = described.get(g);
  if (!m) described.set(g, m = new Map());
  let r = m.get(node);
  if (r === undefined) m.set(node, r = describeTconv(node, g));
  return r;
}

export const MM2IM_RULES: readonly OffloadRule[] = [
  {
    name: "transpose-conv",
    doc:
      "tfl.TRANSPOSE_CONV int8 → MatMul fused with col2IM through a host-computed index map, cropped outputs never computed, on-chip requantization",
    pattern: P.op("tfl.TRANSPOSE_CONV", [P.const("shape"), P.const("w"), P.var("x"), P.opt(P.const("b"))]).as(
      "node",
    ),
    guard: ({ node }: { node: Node }, g: Graph): GuardResult => {
      const l = describeOnce(node, g);
      return typeof l === "string" ? l : true;
    },
    lower: ({ node }: { node: Node }, g, names) => {
      const l = describeOnce(node, g);
      if (typeof l === "string") throw new Error(`lowering ${node.id} after its guard refused: ${l}`);
      return lowerTconv(l, g, names);
    },
  },
];
