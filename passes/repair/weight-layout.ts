/**
 * Where a layer keeps its weights and bias, and the layout the weights are stored in relative to the
 * canonical one the diff compares (passes/diff/params.ts): convolution [O, I/group, kH, kW], transposed
 * convolution [I, O/group, kH, kW], dense [N, K]. ONNX Conv is already canonical (OIHW); TFLite CONV_2D is
 * OHWI, DEPTHWISE_CONV_2D 1HWC, TRANSPOSE_CONV OHWI; Gemm without transB and MatMul hold [K, N]. Copying a
 * source layer's weights into a target layer is: source stored → canonical → target stored.
 */
import type { Graph, Node } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";

export interface WeightSlot {
  /** Operand positions of the weights and of the bias (when the op takes one). */
  readonly weights: number;
  readonly bias?: number;
  /** canonical = transpose(stored, toCanonical); undefined means the stored layout is canonical. */
  readonly toCanonical?: (rank: number) => number[];
  /** The canonical layout's name, for reports. */
  readonly layout: string;
}

function swapLast(rank: number): number[] {
  const q = Array.from({ length: rank }, (_, i) => i);
  if (rank >= 2) [q[rank - 2], q[rank - 1]] = [q[rank - 1], q[rank - 2]];
  return q;
}

/** The weight and bias operands of a layer with learned weights, or undefined for other ops. */
export function weightSlot(n: Node): WeightSlot | undefined {
  switch (n.op) {
    case "Conv":
    case "com.microsoft.FusedConv":
      return { weights: 1, bias: 2, layout: "OIHW" };
    case "ConvTranspose":
      return { weights: 1, bias: 2, layout: "IOHW" };
    case "tfl.CONV_2D":
      return { weights: 1, bias: 2, toCanonical: () => [0, 3, 1, 2], layout: "OHWI" };
    case "tfl.DEPTHWISE_CONV_2D":
      return { weights: 1, bias: 2, toCanonical: () => [3, 0, 1, 2], layout: "1HWC" };
    case "tfl.CONV_3D":
      return { weights: 1, bias: 2, toCanonical: () => [4, 3, 0, 1, 2], layout: "DHWIO" };
    case "tfl.TRANSPOSE_CONV":
      return { weights: 1, bias: 3, toCanonical: () => [3, 0, 1, 2], layout: "OHWI" };
    case "Gemm":
      return resolveAttrs(n).transB
        ? { weights: 1, bias: 2, layout: "NK" }
        : { weights: 1, bias: 2, toCanonical: swapLast, layout: "KN" };
    case "MatMul":
      return { weights: 1, toCanonical: swapLast, layout: "KN" };
    case "tfl.FULLY_CONNECTED":
      return { weights: 1, bias: 2, layout: "NK" };
    case "tfl.BATCH_MATMUL":
      return resolveAttrs(n).adj_y
        ? { weights: 1, layout: "NK" }
        : { weights: 1, toCanonical: swapLast, layout: "KN" };
  }
  return undefined;
}

export function inversePerm(q: readonly number[]): number[] {
  const inv = new Array<number>(q.length);
  q.forEach((a, i) => (inv[a] = i));
  return inv;
}

/** out[i0, i1, ...] = x[index through perm]: output axis i is input axis perm[i] (numpy's transpose). */
export function transposeTo(
  x: ArrayLike<number>,
  shape: readonly number[],
  perm: readonly number[],
  out: Float32Array,
): number[] {
  const r = shape.length;
  const outShape = perm.map((p) => shape[p]);
  const inStrides = new Array<number>(r);
  for (let k = r - 1, s = 1; k >= 0; k--) (inStrides[k] = s, s *= shape[k]);
  const step = perm.map((p) => inStrides[p]);
  const idx = new Array<number>(r).fill(0);
  let src = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = x[src];
    for (let k = r - 1; k >= 0; k--) {
      idx[k]++;
      src += step[k];
      if (idx[k] < outShape[k]) break;
      src -= step[k] * outShape[k];
      idx[k] = 0;
    }
  }
  return outShape;
}

/** Drops unit dims: layouts that differ only there hold their elements in the same order. */
export function squeezed(shape: readonly number[]): number[] {
  return shape.filter((d) => d !== 1);
}

export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Canonical weights (source order) rewritten in a target layer's stored layout, or undefined when the
 * shapes do not correspond. `storedShape` is the shape of the operand the target layer reads.
 */
export function toStored(
  canonical: ArrayLike<number>,
  canonicalShape: readonly number[],
  slot: WeightSlot,
  storedShape: readonly number[],
): { data: Float32Array; transform: string } | undefined {
  const q = slot.toCanonical?.(storedShape.length);
  const targetCanonical = q ? q.map((a) => storedShape[a]) : [...storedShape];
  if (!sameDims(squeezed(canonicalShape), squeezed(targetCanonical))) return undefined;
  const out = new Float32Array(canonical.length);
  if (!q || q.every((a, i) => a === i)) {
    for (let i = 0; i < out.length; i++) out[i] = canonical[i];
    return { data: out, transform: `copied as ${slot.layout}` };
  }
  transposeTo(canonical, targetCanonical, inversePerm(q), out);
  return { data: out, transform: `canonical → ${slot.layout} (transpose ${inversePerm(q).join(",")})` };
}

/** The static shape of a value, or undefined. */
export function staticShapeOf(g: Graph, v: string | null | undefined): number[] | undefined {
  const t = v ? g.values[v]?.type : undefined;
  if (t?.kind !== "tensor" || !t.shape || t.shape.some((d) => typeof d !== "number")) return undefined;
  return t.shape as number[];
}
