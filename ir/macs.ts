/**
 * Multiply-accumulates per node, for `inspect` and for the targets' cost models. Ops not listed do no
 * multiply-accumulate work worth counting.
 */
import type { Graph, Node } from "./graph.ts";
import { resolveAttrs } from "./op-registry.ts";
import type { TensorType } from "./value-type.ts";

function staticShape(g: Graph, v: string | null | undefined): number[] | undefined {
  if (!v) return undefined;
  const t = g.values[v]?.type as TensorType | undefined;
  if (!t || t.kind !== "tensor" || !t.shape || t.shape.some((d) => typeof d !== "number")) return undefined;
  return t.shape as number[];
}
const prod = (xs: readonly number[]) => xs.reduce((p, d) => p * d, 1);

/** MACs of one node, or undefined when shapes are not static. */
export function nodeMacs(g: Graph, n: Node): number | undefined {
  const out = staticShape(g, n.outputs[0]);
  switch (n.op) {
    case "Conv":
    case "ConvInteger":
    case "QLinearConv":
    case "lathe.ShiftConv": {
      const w = staticShape(g, n.inputs[n.op === "QLinearConv" || n.op === "lathe.ShiftConv" ? 3 : 1]);
      if (!w || !out) return undefined;
      return prod(out) * prod(w.slice(1));
    }
    case "ConvTranspose": {
      const x = staticShape(g, n.inputs[0]), w = staticShape(g, n.inputs[1]);
      if (!x || !w) return undefined;
      // Every input element meets every kernel tap of its group's output channels.
      return prod(x) * prod(w.slice(1));
    }
    case "Gemm": {
      const a = staticShape(g, n.inputs[0]);
      if (!a || !out) return undefined;
      const k = resolveAttrs(n).transA ? a[0] : a[1];
      return prod(out) * k;
    }
    case "MatMul":
    case "MatMulInteger":
    case "QLinearMatMul": {
      const a = staticShape(g, n.inputs[0]);
      if (!a || !out) return undefined;
      return prod(out) * a[a.length - 1];
    }
    // The tfl dialect: NHWC activations, OHWI filters, [1, KH, KW, C·mult] depthwise filters.
    case "tfl.CONV_2D": {
      const w = staticShape(g, n.inputs[1]);
      return w && out ? prod(out) * prod(w.slice(1)) : undefined;
    }
    case "tfl.DEPTHWISE_CONV_2D": {
      const w = staticShape(g, n.inputs[1]);
      return w && out ? prod(out) * w[1] * w[2] : undefined;
    }
    case "tfl.TRANSPOSE_CONV": {
      const w = staticShape(g, n.inputs[1]), x = staticShape(g, n.inputs[2]);
      return w && x ? prod(x) * w[0] * w[1] * w[2] : undefined;
    }
    case "tfl.FULLY_CONNECTED": {
      const w = staticShape(g, n.inputs[1]);
      return w && out ? prod(out) * w[1] : undefined;
    }
    case "tfl.BATCH_MATMUL": {
      const a = staticShape(g, n.inputs[0]);
      if (!a || !out) return undefined;
      return prod(out) * a[a.length - 1];
    }
    case "lathe.GgmlMatMul":
    case "lathe.BlockMatMul": {
      // Weights [N, K] (ggml's ne reversed): every output element takes K multiply-accumulates.
      const w = staticShape(g, n.inputs[1]);
      return w && out ? prod(out) * w[w.length - 1] : undefined;
    }
    case "lathe.ShiftMatMul": {
      // Power-of-two weights [N, K] at operand 3: each output element takes K shift-accumulates.
      const w = staticShape(g, n.inputs[3]);
      return w && out ? prod(out) * w[w.length - 1] : undefined;
    }
    default:
      return 0;
  }
}
