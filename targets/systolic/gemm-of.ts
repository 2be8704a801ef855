/**
 * The GEMM view of an IR node (formats.md §4.1, "GEMM view of a layer"), as the conv-shaped topology
 * record SCALE-Sim takes: M = E_h·E_w output pixels, N = filters, K = R·S·C window taps.
 *
 * SCALE-Sim models no padding: it derives the output size as `ceil((H − R + S)/S)` from the IFMAP size.
 * A padded conv is mapped by the output it really computes: IFMAP = `(E − 1)·S + R` per axis, the extent
 * of input (padding included) its windows cover, which gives back exactly E_h × E_w outputs and so the
 * layer's true M, N and K. (Writing the padded size H + pads instead would be off by one whenever the
 * ceil rounds up, e.g. ResNet's 7×7/2 stem: ceil((230 − 7 + 2)/2) = 113, not 112.) Dilation keeps the tap
 * count R (so K and the MACs stay right); only the IFMAP footprint used for DRAM estimates shrinks.
 *
 * Groups, depthwise channels and batch images have no column in the format: they become `copies` of one
 * layer (a SCALE-Sim DP row is exactly that, one single-channel layer per channel).
 */
import type { Graph, Node } from "../../ir/graph.ts";
import type { TensorType } from "../../ir/value-type.ts";
import type { TopologyLayer } from "./topology.ts";

export type GemmOf = TopologyLayer | { readonly reason: string };

function shapeOf(g: Graph, v: string | null | undefined): number[] | undefined {
  if (!v) return undefined;
  const t = g.values[v]?.type as TensorType | undefined;
  if (!t || t.kind !== "tensor" || !t.shape || t.shape.some((d) => typeof d !== "number")) return undefined;
  return t.shape as number[];
}

function intAttr(n: Node, name: string, fallback: number): number {
  const a = n.attrs[name];
  return a && a.type === "int" ? a.value : fallback;
}
function intsAttr(n: Node, name: string): readonly number[] | undefined {
  const a = n.attrs[name];
  return a && a.type === "ints" ? a.value : undefined;
}
const prod = (xs: readonly number[]) => xs.reduce((p, d) => p * d, 1);

/** IFMAP extent that gives SCALE-Sim's formula exactly `out` outputs for this kernel and stride. */
const extent = (out: number, kernel: number, stride: number) => (out - 1) * stride + kernel;

interface ConvGeometry {
  batch: number;
  channels: number;
  oh: number;
  ow: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  filtersPerGroup: number;
  channelsPerGroup: number;
  groups: number;
}

function convLayer(n: Node, c: ConvGeometry): GemmOf {
  if ([c.oh, c.ow, c.kh, c.kw].some((d) => !(d >= 1))) return { reason: "empty output or kernel" };
  return {
    name: n.name || n.id,
    ifmapH: extent(c.oh, c.kh, c.sh),
    ifmapW: extent(c.ow, c.kw, c.sw),
    filterH: c.kh,
    filterW: c.kw,
    channels: c.channelsPerGroup,
    numFilters: c.filtersPerGroup,
    strideH: c.sh,
    strideW: c.sw,
    copies: c.groups * c.batch,
  };
}

function gemmLayer(n: Node, m: number, nn: number, k: number, copies = 1): GemmOf {
  if (!(m >= 1 && nn >= 1 && k >= 1 && copies >= 1)) {
    return { reason: `empty GEMM (M ${m}, N ${nn}, K ${k})` };
  }
  return {
    name: n.name || n.id,
    ifmapH: m,
    ifmapW: k,
    filterH: 1,
    filterW: k,
    channels: 1,
    numFilters: nn,
    strideH: 1,
    strideW: 1,
    copies,
  };
}

/** A matrix product A[..., M, K] · B[..., K, N]; a 2-D B is shared, so A's leading dims fold into M. */
function matmulLayer(
  n: Node,
  a: number[],
  b: number[],
  out: number[],
  k: number,
  m: number,
  nn: number,
): GemmOf {
  if (b.length <= 2) return gemmLayer(n, prod(out) / nn, nn, k);
  // Batched B: one GEMM per batch entry (ONNX drops the M axis of a 1-D A from the output).
  return gemmLayer(n, m, nn, k, prod(out.slice(0, a.length === 1 ? -1 : -2)));
}

/**
 * The layer an array would run for `n`; undefined for nodes that do no multiply-accumulate work, or a
 * reason when the node does but has no GEMM view here.
 */
export function gemmOf(g: Graph, n: Node): GemmOf | undefined {
  switch (n.op) {
    case "Conv":
    case "com.microsoft.FusedConv":
    case "ConvInteger":
    case "QLinearConv": {
      const x = shapeOf(g, n.inputs[0]), w = shapeOf(g, n.inputs[n.op === "QLinearConv" ? 3 : 1]);
      const y = shapeOf(g, n.outputs[0]);
      if (!x || !w || !y) return { reason: "shapes are not static" };
      if (x.length !== 4 && x.length !== 3) {
        return { reason: `${x.length - 2}-D convolution (SCALE-Sim layers are 2-D)` };
      }
      const one = x.length === 3;
      const strides = intsAttr(n, "strides") ?? [];
      const groups = w[1] > 0 ? x[1] / w[1] : 0;
      if (!Number.isInteger(groups) || groups < 1) {
        return { reason: `${x[1]} input channels do not split into groups of ${w[1]}` };
      }
      return convLayer(n, {
        batch: x[0],
        channels: x[1],
        oh: one ? 1 : y[2],
        ow: one ? y[2] : y[3],
        kh: one ? 1 : w[2],
        kw: one ? w[2] : w[3],
        sh: one ? 1 : strides[0] ?? 1,
        sw: (one ? strides[0] : strides[1]) ?? 1,
        filtersPerGroup: w[0] / groups,
        channelsPerGroup: w[1],
        groups,
      });
    }
    case "tfl.CONV_2D":
    case "tfl.DEPTHWISE_CONV_2D": {
      const x = shapeOf(g, n.inputs[0]), w = shapeOf(g, n.inputs[1]), y = shapeOf(g, n.outputs[0]);
      if (!x || !w || !y) return { reason: "shapes are not static" };
      if (x.length !== 4 || w.length !== 4 || y.length !== 4) {
        return { reason: "input, filter and output must be rank 4 (NHWC)" };
      }
      const sh = Math.max(intAttr(n, "stride_h", 1), 1), sw = Math.max(intAttr(n, "stride_w", 1), 1);
      const base = { batch: x[0], channels: x[3], oh: y[1], ow: y[2], kh: w[1], kw: w[2], sh, sw };
      if (n.op === "tfl.DEPTHWISE_CONV_2D") {
        // Filter [1, KH, KW, C·multiplier]: each input channel is its own single-channel layer.
        if (x[3] < 1 || w[3] % x[3] !== 0) {
          return { reason: `filter depth ${w[3]} is not a multiple of ${x[3]} channels` };
        }
        return convLayer(n, { ...base, filtersPerGroup: w[3] / x[3], channelsPerGroup: 1, groups: x[3] });
      }
      // Filter [O, KH, KW, I]; I < C means grouped.
      const groups = w[3] > 0 ? x[3] / w[3] : 0;
      if (!Number.isInteger(groups) || groups < 1) {
        return { reason: `${x[3]} input channels do not split into groups of ${w[3]}` };
      }
      return convLayer(n, { ...base, filtersPerGroup: w[0] / groups, channelsPerGroup: w[3], groups });
    }
    case "Gemm": {
      const a = shapeOf(g, n.inputs[0]), y = shapeOf(g, n.outputs[0]);
      if (!a || !y || a.length !== 2 || y.length !== 2) return { reason: "shapes are not static rank 2" };
      const k = intAttr(n, "transA", 0) ? a[0] : a[1];
      return gemmLayer(n, y[0], y[1], k);
    }
    case "MatMul":
    case "MatMulInteger":
    case "QLinearMatMul": {
      const a = shapeOf(g, n.inputs[0]), b = shapeOf(g, n.inputs[n.op === "QLinearMatMul" ? 3 : 1]);
      const y = shapeOf(g, n.outputs[0]);
      if (!a || !b || !y) return { reason: "shapes are not static" };
      const k = a[a.length - 1];
      const nn = b.length >= 2 ? b[b.length - 1] : 1;
      const m = a.length >= 2 ? a[a.length - 2] : 1;
      return matmulLayer(n, a, b, y, k, m, nn);
    }
    case "tfl.BATCH_MATMUL": {
      const a = shapeOf(g, n.inputs[0]), b = shapeOf(g, n.inputs[1]), y = shapeOf(g, n.outputs[0]);
      if (!a || !b || !y || a.length < 2 || b.length < 2) return { reason: "shapes are not static rank ≥ 2" };
      const adjX = intAttr(n, "adj_x", 0), adjY = intAttr(n, "adj_y", 0);
      const m = adjX ? a[a.length - 1] : a[a.length - 2], k = adjX ? a[a.length - 2] : a[a.length - 1];
      const nn = adjY ? b[b.length - 2] : b[b.length - 1];
      return gemmLayer(n, m, nn, k, prod(y.slice(0, -2)));
    }
    case "tfl.FULLY_CONNECTED": {
      const x = shapeOf(g, n.inputs[0]), w = shapeOf(g, n.inputs[1]);
      if (!x || !w || w.length !== 2) return { reason: "shapes are not static" };
      const [units, depth] = w;
      const total = prod(x);
      if (depth < 1 || total % depth !== 0) {
        return { reason: `${total} input elements are not rows of ${depth}` };
      }
      return gemmLayer(n, total / depth, units, depth);
    }
    case "ConvTranspose":
    case "tfl.TRANSPOSE_CONV":
      return { reason: "transposed convolution has no SCALE-Sim GEMM view" };
    default:
      return undefined;
  }
}
