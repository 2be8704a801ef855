/**
 * Quantizable layers: nodes whose weights are constants (Conv, ConvTranspose, Gemm, MatMul), with where the
 * weight's output channels lie and which operand is the bias. Every scheme quantizes these the same way
 * round; what differs is how the weights are stored and computed.
 */
import type { Constant } from "../../ir/constant.ts";
import type { Graph, Node } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import { fromConstant } from "../../runtime/tensor.ts";

export const LAYER_OPS: ReadonlySet<string> = new Set(["Conv", "ConvTranspose", "Gemm", "MatMul"]);

export interface LayerSpec {
  readonly node: Node;
  /** The data operand (activations). */
  readonly x: string;
  readonly w: string;
  readonly weight: Constant;
  /** Weight values as f32, with Gemm's alpha folded in. */
  readonly wData: Float32Array;
  /** Axis of the weight along which output channels lie; undefined when one scale must serve all. */
  readonly axis: number | undefined;
  /** Output channels (the bias length). */
  readonly channels: number;
  /** Bias values (Gemm's beta folded in), when the layer has a constant bias of one value per channel. */
  readonly bias?: Float32Array;
  /** Operand index of the bias. */
  readonly biasIndex: number;
}

/** A constant that a model input cannot override. */
export function fixedConstant(g: Graph, v: string | null | undefined): Constant | undefined {
  if (!v || g.inputs.includes(v)) return undefined;
  return g.constants[v];
}

export function f32Values(c: Constant | undefined): Float32Array | undefined {
  if (!c || c.dtype !== "f32") return undefined;
  return fromConstant(c).data as Float32Array;
}

/** The layer's weight and bias layout, or undefined when the node is not a layer with constant f32 weights. */
export function layerSpec(g: Graph, n: Node): LayerSpec | undefined {
  if (!LAYER_OPS.has(n.op)) return undefined;
  const a = resolveAttrs(n);
  const x = n.inputs[0], w = n.inputs[1];
  const weight = fixedConstant(g, w);
  const wv = f32Values(weight);
  if (!x || !w || !weight || !wv || g.constants[x]) return undefined;
  const shape = weight.shape;
  const biasC = fixedConstant(g, n.inputs[2]);
  let axis: number | undefined, channels: number, wData = wv, biasScale = 1;
  switch (n.op) {
    case "Conv":
      if (shape.length < 3) return undefined;
      axis = 0;
      channels = shape[0];
      break;
    case "ConvTranspose": {
      if (shape.length < 3) return undefined;
      const group = a.group ?? 1;
      channels = shape[1] * group;
      // With groups, axis 1 indexes a channel within each group: one scale per output channel is not expressible.
      axis = group === 1 ? 1 : undefined;
      break;
    }
    case "Gemm": {
      if (shape.length !== 2 || a.transA) return undefined;
      axis = a.transB ? 0 : 1;
      channels = shape[axis];
      const alpha = a.alpha ?? 1;
      if (alpha !== 1) wData = wv.map((v) => Math.fround(v * alpha));
      biasScale = a.beta ?? 1;
      break;
    }
    default: // MatMul
      if (shape.length !== 2) return undefined;
      axis = 1;
      channels = shape[1];
  }
  let bias: Float32Array | undefined;
  const bv = f32Values(biasC);
  if (n.op === "MatMul" || n.inputs[2] === undefined || n.inputs[2] === null) bias = undefined;
  else if (bv && (bv.length === channels || bv.length === 1)) {
    bias = new Float32Array(channels);
    for (let c = 0; c < channels; c++) bias[c] = Math.fround(bv[bv.length === 1 ? 0 : c] * biasScale);
  } else return undefined; // a non-constant or oddly shaped bias: leave the layer alone
  return { node: n, x, w, weight, wData, axis, channels, bias, biasIndex: 2 };
}
