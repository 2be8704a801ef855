/**
 * Which TFLite nodes LiteRT's XNNPACK delegate runs in channel-first (NCHW) layout. When a model has
 * sparse weights (DENSIFY), the delegate asks XNNPACK for sparse inference, and XNNPACK then rewrites
 * clusters of compatible nodes to NCHW: 1x1 convolutions become sparse matrix products, 3x3/5x5 depthwise
 * convolutions and bilinear resizes get their channel-first kernels, and a 3x3 stride-2 convolution of a
 * 3-channel image converts into the layout. Those kernels sum in other orders than the NHWC ones, so the
 * float kernels need this plan to match LiteRT bit for bit.
 *
 * The rules follow XNNPACK's subgraph rewrite (src/subgraph.c: the per-node compatibility check, the
 * clusters grown back from the nodes that can leave NCHW, the rejection of clusters whose values have
 * consumers outside, and the rule that at least two thirds of the 1x1 weights must be zero), applied to
 * the node graph XNNPACK sees: weights (DEQUANTIZE/DENSIFY of constants) are static data, SAME padding of a
 * stride-1 convolution is explicit, and a zero PAD read by one convolution alone is folded into its
 * padding.
 */
import { registerGraphAnalysis } from "../kernel-registry.ts";
import type { Graph, Node } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import { fromConstant } from "../tensor.ts";

/** "chw": the node's input is channel-first; "hwc2chw": it converts a channel-last image into it. */
export type XnnLayout = "chw" | "hwc2chw";

const NCHW = 1, TO_NCHW = 2, TO_NHWC = 4, BAD = 8;

interface XNode {
  readonly node: Node;
  flags: number;
  /** Activation inputs as XNNPACK sees them (a folded PAD's input replaces its output). */
  readonly inputs: string[];
  leader: number;
  params: number;
  zeroes: number;
}

interface Padding {
  t: number;
  r: number;
  b: number;
  l: number;
  /** TensorFlow SAME padding left to run time (stride > 1). */
  same: boolean;
}

const UNARY = new Set([
  "RELU",
  "RELU6",
  "RELU_N1_TO_1",
  "RELU_0_TO_1",
  "LOGISTIC",
  "TANH",
  "HARD_SWISH",
  "ELU",
  "ABS",
  "NEG",
  "SQUARE",
  "SQRT",
  "RSQRT",
  "CEIL",
  "FLOOR",
  "ROUND",
  "GELU",
  "EXP",
  "LOG",
  "SIN",
  "COS",
]);
/** Ops the delegate never takes: their operands cross a partition boundary. */
const UNDELEGATED = new Set(["CUSTOM", "WHILE", "IF", "CALL_ONCE"]);

/** The nodes of `g` that XNNPACK runs channel-first, with how; empty unless the graph has DENSIFY. */
export function planXnnpackLayout(g: Graph): Map<Node, XnnLayout> {
  const plan = new Map<Node, XnnLayout>();
  if (!g.nodes.some((n) => n.op === "tfl.DENSIFY")) return plan;
  const producer = new Map<string, Node>();
  for (const n of g.nodes) for (const o of n.outputs) if (o) producer.set(o, n);
  // Static: constants and what DEQUANTIZE/DENSIFY and friends compute from constants alone.
  const stat = new Set(Object.keys(g.constants));
  for (const n of g.nodes) {
    const ins = n.inputs.filter((i): i is string => !!i);
    if (ins.length > 0 && ins.every((i) => stat.has(i))) { for (const o of n.outputs) if (o) stat.add(o); }
  }
  const external = new Set([...g.inputs, ...g.outputs]);
  const consumers = new Map<string, Node[]>();
  for (const n of g.nodes) {
    if (n.outputs.every((o) => !o || stat.has(o))) continue;
    if (UNDELEGATED.has(n.op.slice(4))) {
      for (const v of [...n.inputs, ...n.outputs]) if (v) external.add(v);
      continue;
    }
    for (const i of n.inputs) if (i && !stat.has(i)) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  }
  const shape = (v: string) => {
    const t = g.values[v]?.type;
    return t?.kind === "tensor" && t.shape?.every((d) => typeof d === "number")
      ? t.shape as number[]
      : undefined;
  };
  const isF32 = (v: string) => {
    const t = g.values[v]?.type;
    return t?.kind === "tensor" && t.dtype === "f32";
  };
  const intsOf = (v: string | null | undefined): number[] | undefined => {
    if (!v || !g.constants[v]) return undefined;
    return Array.from(fromConstant(g.constants[v]).data as ArrayLike<number | bigint>, Number);
  };

  // PADs folded into the one convolution that reads them.
  const folded = new Map<Node, Node>();
  const padOf = new Map<Node, Padding>();
  for (const n of g.nodes) {
    if (n.op !== "tfl.CONV_2D" && n.op !== "tfl.DEPTHWISE_CONV_2D") continue;
    const at = resolveAttrs(n);
    const x = n.inputs[0]!, w = shape(n.inputs[1] ?? "");
    const sh = at.stride_h, sw = at.stride_w;
    const p: Padding = { t: 0, r: 0, b: 0, l: 0, same: false };
    if (at.padding === "SAME" && w) {
      const [kh, kw] = [w[1], w[2]];
      if (sh === 1 && sw === 1) {
        const ph = (kh - 1) * at.dilation_h_factor, pw = (kw - 1) * at.dilation_w_factor;
        p.t = ph >> 1;
        p.b = ph - p.t;
        p.l = pw >> 1;
        p.r = pw - p.l;
      } else p.same = true;
    }
    const pad = producer.get(x);
    if (
      pad && (pad.op === "tfl.PAD" || pad.op === "tfl.PADV2") && !p.same && !external.has(x) &&
      consumers.get(x)?.length === 1
    ) {
      const amounts = intsOf(pad.inputs[1]);
      const value = pad.op === "tfl.PADV2" ? intsOf(pad.inputs[2]) : [0];
      if (
        amounts?.length === 8 && amounts[0] === 0 && amounts[1] === 0 && amounts[6] === 0 &&
        amounts[7] === 0 && value?.length === 1 && value[0] === 0
      ) {
        p.t += amounts[2];
        p.b += amounts[3];
        p.l += amounts[4];
        p.r += amounts[5];
        folded.set(pad, n);
      }
    }
    padOf.set(n, p);
  }

  const xnodes: XNode[] = [];
  const byOutput = new Map<string, number>();
  for (const n of g.nodes) {
    if (folded.has(n) || n.outputs.every((o) => !o || stat.has(o))) continue;
    if (UNDELEGATED.has(n.op.slice(4))) continue;
    let inputs = n.inputs.filter((i): i is string => !!i && !stat.has(i));
    const pad = inputs.length > 0 ? producer.get(inputs[0]) : undefined;
    if (pad && folded.get(pad) === n) inputs = [pad.inputs[0]!, ...inputs.slice(1)];
    const idx = xnodes.length;
    xnodes.push({ node: n, flags: compatibility(n), inputs, leader: idx, params: 0, zeroes: 0 });
    for (const o of n.outputs) if (o) byOutput.set(o, idx);
  }
  // Consumer counts as XNNPACK sees them (a folded PAD's input is read by its convolution instead).
  const uses = new Map<string, number>();
  for (const xn of xnodes) for (const i of xn.inputs) uses.set(i, (uses.get(i) ?? 0) + 1);

  function compatibility(n: Node): number {
    const act = n.inputs[0];
    if (!act || !isF32(act) || !n.outputs.every((o) => !o || isF32(o))) return 0;
    const at = resolveAttrs(n);
    switch (n.op) {
      case "tfl.FULLY_CONNECTED":
        return NCHW;
      case "tfl.CONV_2D": {
        const w = shape(n.inputs[1] ?? ""), x = shape(act), p = padOf.get(n)!;
        if (!w || !x || x[3] !== w[3]) return 0;
        if (at.dilation_h_factor !== 1 || at.dilation_w_factor !== 1) return 0;
        const pads = [p.t, p.r, p.b, p.l];
        if (w[1] === 1 && w[2] === 1) {
          return !p.same && pads.every((v) => v === 0) && at.stride_h === 1 && at.stride_w === 1 ? NCHW : 0;
        }
        if (w[1] === 3 && w[2] === 3) {
          return !p.same && pads.every((v) => v === 1) && at.stride_h === 2 && at.stride_w === 2 && w[3] === 3
            ? TO_NCHW
            : 0;
        }
        return 0;
      }
      case "tfl.DEPTHWISE_CONV_2D": {
        const w = shape(n.inputs[1] ?? ""), x = shape(act), p = padOf.get(n)!;
        if (!w || !x || w[3] !== x[3]) return 0;
        if (at.dilation_h_factor !== 1 || at.dilation_w_factor !== 1 || p.same) return 0;
        if (at.stride_h !== at.stride_w || (at.stride_h !== 1 && at.stride_h !== 2)) return 0;
        if (w[1] !== w[2]) return 0;
        const pads = [p.t, p.r, p.b, p.l];
        if (w[1] === 3) return pads.every((v) => v === 1) ? NCHW : 0;
        if (w[1] === 5) return pads.every((v) => v === 2) ? NCHW : 0;
        return 0;
      }
      case "tfl.DEPTH_TO_SPACE":
        return TO_NHWC;
      case "tfl.MEAN":
      case "tfl.SUM":
        return shape(act)?.length === 4 ? NCHW | TO_NHWC : 0;
      case "tfl.ADD":
      case "tfl.MUL": {
        const [a, b] = [n.inputs[0], n.inputs[1]];
        if (!a || !b || shape(a)?.length !== 4 || shape(b)?.length !== 4) return 0;
        // XNNPACK checks the first operand's dims for either static operand.
        const vectorLike = (s: number[] | undefined) => (s ?? []).filter((d) => d !== 1).length <= 1;
        if (stat.has(a) && !vectorLike(shape(a))) return 0;
        if (stat.has(b) && !vectorLike(shape(a))) return 0;
        return NCHW;
      }
      case "tfl.RESIZE_BILINEAR": {
        const x = shape(act);
        return x && x[1] > 1 && x[2] > 1 ? NCHW : 0;
      }
      default:
        return UNARY.has(n.op.slice(4)) && shape(act)?.length === 4 ? NCHW : 0;
    }
  }

  // Clusters grow back from the nodes that can leave NCHW; a node whose input comes from outside the
  // subgraph, or from a node that cannot produce NCHW, spoils its cluster.
  const link = (n: number): boolean => {
    const xn = xnodes[n];
    let changed = false;
    for (const v of xn.inputs) {
      if (external.has(v)) {
        xn.flags |= BAD;
        continue;
      }
      const pi = byOutput.get(v);
      if (pi === undefined) {
        xn.flags |= BAD;
        continue;
      }
      const p = xnodes[pi];
      if ((p.flags & (TO_NCHW | NCHW)) !== 0 && (p.flags & BAD) === 0) {
        p.flags &= ~TO_NHWC;
        if (p.leader !== xn.leader) {
          p.leader = xn.leader = Math.max(p.leader, xn.leader);
          changed = true;
        }
      } else xn.flags |= BAD;
    }
    return changed;
  };
  let update = false;
  for (let n = 0; n < xnodes.length; n++) if (xnodes[n].flags & TO_NHWC) update = link(n) || update;
  if (!update) return plan;
  while (update) {
    update = false;
    for (let n = 0; n < xnodes.length; n++) {
      const f = xnodes[n].flags;
      if (f & BAD || (f & (NCHW | TO_NHWC)) === 0) continue;
      update = link(n) || update;
    }
  }
  for (const xn of xnodes) xnodes[xn.leader].flags |= xn.flags & BAD;
  const inCluster = (xn: XNode) =>
    (xnodes[xn.leader].flags & BAD) === 0 && (xn.flags & (NCHW | TO_NHWC)) !== 0;
  const nchwUses = new Map<string, number>();
  for (const xn of xnodes) {
    if (inCluster(xn)) { for (const v of xn.inputs) nchwUses.set(v, (nchwUses.get(v) ?? 0) + 1); }
  }
  for (const xn of xnodes) {
    if (!inCluster(xn)) continue;
    for (const v of xn.inputs) if (nchwUses.get(v) !== uses.get(v)) xnodes[xn.leader].flags |= BAD;
  }
  // Sparse inference only pays when the cluster's 1x1 weights are at least two thirds zeros.
  for (const xn of xnodes) {
    if ((xnodes[xn.leader].flags & BAD) !== 0) continue;
    const n = xn.node, w = shape(n.inputs[1] ?? "");
    const pointwise = n.op === "tfl.CONV_2D" && w && w[1] === 1 && w[2] === 1;
    if (!pointwise && n.op !== "tfl.FULLY_CONNECTED") continue;
    const z = zeroCount(n.inputs[1]!);
    if (!z) continue;
    xnodes[xn.leader].params += z.params;
    xnodes[xn.leader].zeroes += z.zeroes;
  }
  const nchw = new Set<string>();
  for (const xn of xnodes) {
    if (!inCluster(xn)) continue;
    const lead = xnodes[xn.leader];
    if (lead.zeroes * 3 <= lead.params * 2) continue;
    for (const v of xn.inputs) nchw.add(v);
  }
  for (const xn of xnodes) {
    const x = xn.inputs[0];
    if (x !== undefined && nchw.has(x)) plan.set(xn.node, "chw");
    else if (xn.flags & TO_NCHW && xn.node.outputs.some((o) => nchw.has(o))) plan.set(xn.node, "hwc2chw");
  }
  return plan;

  /** Zero weights of a static filter: counted in the constant, through DEQUANTIZE and DENSIFY. */
  function zeroCount(v: string): { params: number; zeroes: number } | undefined {
    const c = g.constants[v];
    if (c) {
      const d = fromConstant(c).data as ArrayLike<number>;
      let z = 0;
      for (let i = 0; i < d.length; i++) if (d[i] === 0) z++;
      return { params: d.length, zeroes: z };
    }
    const p = producer.get(v);
    if (!p || !p.inputs[0]) return undefined;
    if (p.op === "tfl.DEQUANTIZE") return zeroCount(p.inputs[0]);
    if (p.op === "tfl.DENSIFY") {
      const stored = zeroCount(p.inputs[0]);
      const s = shape(v);
      if (!stored || !s) return undefined;
      const params = s.reduce((a, b) => a * b, 1);
      return { params, zeroes: params - (stored.params - stored.zeroes) };
    }
    return undefined;
  }
}

/** The name kernels read the plan under (`ctx.analysis<XnnLayout>(XNNPACK_LAYOUT)`). */
export const XNNPACK_LAYOUT = "xnnpack-layout";

// Each Session plans the graph it runs: the layout follows the graph, not a node shared between graphs.
registerGraphAnalysis(XNNPACK_LAYOUT, planXnnpackLayout);
