/**
 * Learned parameters of a node in one canonical layout, so weights of an ONNX Conv (OIHW) compare with a
 * TFLite CONV_2D's (OHWI) or DEPTHWISE_CONV_2D's (1HWC), and a Gemm's B with a FULLY_CONNECTED's weights:
 * - convolution: [O, I/group, spatial...];  transposed convolution: [I, O/group, spatial...];
 * - dense: [N, K] (units by depth);  bias: [O] or [N], absent meaning zeros;
 * - every other float constant operand as stored (BatchNormalization's statistics, Add's constant).
 */
import type { DType } from "../../ir/dtype.ts";
import type { Graph, Node } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import { constantSource } from "./constant-source.ts";
import { transposeData } from "./layout-relation.ts";
import { realValues } from "./real-values.ts";

export interface ParamTensor {
  /** The operand value the node reads. */
  readonly value: string;
  readonly position: number;
  readonly data: Float64Array;
  readonly shape: readonly number[];
  /** Element types of the stored constants behind it (f16 under a float op is precision evidence). */
  readonly roots: readonly DType[];
  readonly via: readonly string[];
}

export interface CanonicalParams {
  readonly weights?: ParamTensor;
  readonly bias?: ParamTensor;
  /** Other float constant operands by operand position. */
  readonly operands: readonly ParamTensor[];
}

function param(g: Graph, n: Node, position: number, q?: readonly number[]): ParamTensor | undefined {
  const v = n.inputs[position];
  const src = constantSource(g, v);
  if (!v || !src || src.tensor.dtype === "string") return undefined;
  let data: Float64Array;
  try {
    data = realValues(src.tensor);
  } catch {
    return undefined;
  }
  let shape: readonly number[] = src.tensor.shape;
  if (q && q.length === shape.length && !q.every((a, i) => a === i)) {
    ({ data, shape } = transposeData(data, shape, q));
  }
  return { value: v, position, data, shape, roots: src.roots, via: src.via };
}

function swapLast(rank: number): number[] {
  const q = Array.from({ length: rank }, (_, i) => i);
  if (rank >= 2) [q[rank - 2], q[rank - 1]] = [q[rank - 1], q[rank - 2]];
  return q;
}

/** The weights and bias positions of a weighted op and the transpose into the canonical layout. */
function weightLayout(
  n: Node,
  g: Graph,
): { w: number; b?: number; q?: (rank: number) => number[] } | undefined {
  const at = () => resolveAttrs(n);
  switch (n.op) {
    case "Conv":
    case "com.microsoft.FusedConv":
    case "ConvTranspose":
      return { w: 1, b: 2 };
    case "tfl.CONV_2D":
      return { w: 1, b: 2, q: () => [0, 3, 1, 2] };
    case "tfl.DEPTHWISE_CONV_2D":
      return { w: 1, b: 2, q: () => [3, 0, 1, 2] };
    case "tfl.CONV_3D":
      return { w: 1, b: 2, q: () => [4, 3, 0, 1, 2] };
    case "tfl.TRANSPOSE_CONV":
      return { w: 1, b: 3, q: () => [3, 0, 1, 2] };
    case "Gemm":
      return { w: 1, b: 2, q: (r) => (at().transB ? Array.from({ length: r }, (_, i) => i) : swapLast(r)) };
    case "MatMul":
      return g.constants[n.inputs[1] ?? ""] || constantSource(g, n.inputs[1])
        ? { w: 1, q: swapLast }
        : undefined;
    case "tfl.FULLY_CONNECTED":
      return { w: 1, b: 2 };
    case "tfl.BATCH_MATMUL":
      return constantSource(g, n.inputs[1])
        ? { w: 1, q: (r) => (at().adj_y ? Array.from({ length: r }, (_, i) => i) : swapLast(r)) }
        : undefined;
  }
  return undefined;
}

// Per graph: a faulty copy made with immer shares unchanged nodes with its original but not constants.
const memo = new WeakMap<Graph, WeakMap<Node, CanonicalParams>>();

/** The node's parameters in the canonical layout (weights only where the op has learned weights). */
export function canonicalParams(g: Graph, n: Node): CanonicalParams {
  let byNode = memo.get(g);
  if (!byNode) memo.set(g, byNode = new WeakMap());
  const hit = byNode.get(n);
  if (hit) return hit;
  const layout = weightLayout(n, g);
  let weights: ParamTensor | undefined, bias: ParamTensor | undefined;
  const used = new Set<number>();
  if (layout) {
    const src = constantSource(g, n.inputs[layout.w]);
    if (src) {
      weights = param(g, n, layout.w, layout.q?.(src.tensor.shape.length));
      used.add(layout.w);
    }
    if (layout.b !== undefined && n.inputs[layout.b]) {
      bias = param(g, n, layout.b);
      used.add(layout.b);
    }
  }
  const operands: ParamTensor[] = [];
  n.inputs.forEach((v, i) => {
    if (!v || used.has(i)) return;
    const src = constantSource(g, v);
    if (
      !src ||
      typeof src.tensor.dtype === "string" && !["f32", "f16", "bf16", "f64"].includes(src.tensor.dtype)
    ) return;
    const p = param(g, n, i);
    if (p) operands.push(p);
  });
  const r: CanonicalParams = { ...(weights ? { weights } : {}), ...(bias ? { bias } : {}), operands };
  byNode.set(n, r);
  return r;
}

/** Squeezed shape (unit dims dropped): layouts that differ only in unit dims hold the same order. */
export function squeezed(shape: readonly number[]): number[] {
  return shape.filter((d) => d !== 1);
}

/** A cheap summary for telling weight tensors apart while matching. */
export interface Fingerprint {
  readonly count: number;
  readonly shape: readonly number[];
  readonly sum: number;
  readonly sumSq: number;
  readonly sumAbs: number;
}

export function fingerprint(p: ParamTensor): Fingerprint {
  let sum = 0, sumSq = 0, sumAbs = 0;
  const d = p.data;
  for (let i = 0; i < d.length; i++) {
    const x = d[i];
    sum += x;
    sumSq += x * x;
    sumAbs += Math.abs(x);
  }
  return { count: d.length, shape: squeezed(p.shape), sum, sumSq, sumAbs };
}

/** Whether two fingerprints could be the same weights (up to fp16 rounding). */
export function similarFingerprints(a: Fingerprint, b: Fingerprint, rtol = 2e-3): boolean {
  if (a.count !== b.count) return false;
  const close = (x: number, y: number, scale: number) => Math.abs(x - y) <= rtol * scale + 1e-12;
  return close(a.sumSq, b.sumSq, Math.max(a.sumSq, b.sumSq)) &&
    close(a.sumAbs, b.sumAbs, Math.max(a.sumAbs, b.sumAbs)) &&
    close(a.sum, b.sum, Math.max(a.sumAbs, b.sumAbs));
}

/**
 * Relative L2 distance between two parameter tensors in canonical layout (unit dims ignored), or undefined
 * when their squeezed shapes differ.
 */
export function paramDistance(a: ParamTensor, b: ParamTensor): number | undefined {
  const sa = squeezed(a.shape), sb = squeezed(b.shape);
  if (sa.length !== sb.length || sa.some((d, i) => d !== sb[i])) return undefined;
  let num = 0, den = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = a.data[i] - b.data[i];
    num += d * d;
    den += a.data[i] * a.data[i];
  }
  return num === 0 ? 0 : den === 0 ? Infinity : Math.sqrt(num / den);
}

/**
 * Weights and bias with a following BatchNormalization folded in, as converters fold it:
 * W'[o] = W[o]·γ[o]/√(var[o] + ε), b'[o] = (b[o] − mean[o])·γ[o]/√(var[o] + ε) + β[o].
 * Undefined when the normalization's statistics are not constants of the right length.
 */
export function foldBatchNorm(g: Graph, p: CanonicalParams, bn: Node): CanonicalParams | undefined {
  if (!p.weights) return undefined;
  const stats = [1, 2, 3, 4].map((i) => param(g, bn, i));
  if (stats.some((s) => !s)) return undefined;
  const [gamma, beta, mean, variance] = stats.map((s) => s!.data);
  const o = p.weights.shape[0];
  if ([gamma, beta, mean, variance].some((x) => x.length !== o)) return undefined;
  const eps = (resolveAttrs(bn).epsilon as number | undefined) ?? 1e-5;
  const per = p.weights.data.length / o;
  const w = new Float64Array(p.weights.data.length), b = new Float64Array(o);
  for (let c = 0; c < o; c++) {
    const k = gamma[c] / Math.sqrt(variance[c] + eps);
    for (let i = 0; i < per; i++) w[c * per + i] = p.weights.data[c * per + i] * k;
    b[c] = ((p.bias?.data[c] ?? 0) - mean[c]) * k + beta[c];
  }
  return {
    weights: { ...p.weights, data: w },
    bias: {
      ...(p.bias ?? { ...p.weights, position: 2, shape: [o], roots: ["f32"], via: [] }),
      data: b,
      shape: [o],
    },
    operands: p.operands,
  };
}
