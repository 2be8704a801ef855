/**
 * The embedded default int8 CNN for `compile --target` without a model: a small MobileNet-style network in
 * the `tfl` dialect with seeded weights, quantized the way the TFLite converter does it (formats.md §2.5):
 * int8 activations per tensor, CONV_2D filters symmetric per output channel (dim 0), DEPTHWISE filters per
 * channel on dim 3, FULLY_CONNECTED weights per tensor, int32 biases with scale s_in·s_w, SOFTMAX output
 * fixed at (1/256, −128). Activation ranges are calibrated on the float version of the same network, run
 * in Lathe's runtime on seeded inputs.
 *
 *   image i8[1,32,32,3]
 *   conv1   CONV_2D 3x3/2 SAME 3→16 RELU6            [1,16,16,16]
 *   dw1     DEPTHWISE_CONV_2D 3x3/1 SAME RELU6        [1,16,16,16]
 *   proj1   CONV_2D 1x1 16→24                         [1,16,16,24]
 *   conv2   CONV_2D 3x3/1 SAME 24→24 RELU             [1,16,16,24]
 *   add1    ADD(proj1, conv2)                         [1,16,16,24]
 *   pool    AVERAGE_POOL_2D 16x16 VALID               [1,1,1,24]
 *   fc      FULLY_CONNECTED 24→10                     [1,10]
 *   prob    SOFTMAX beta 1                            [1,10]
 */
import { numbersConstant } from "../ir/builder.ts";
import type { Constant } from "../ir/constant.ts";
import type { AffineQuant, DType } from "../ir/dtype.ts";
import type { Graph, Model, Node, ValueInfo } from "../ir/graph.ts";
import { inferGraph } from "../ir/infer.ts";
import { tensorType } from "../ir/value-type.ts";
import { interpret } from "../runtime/interpreter.ts";
import { Rng } from "../runtime/random.ts";
import { Tensor } from "../runtime/tensor.ts";
import "../runtime/kernels/index.ts";

export const DEFAULT_INT8_MODEL_NAME = "lathe-default-int8-cnn";

interface Layer {
  id: string;
  op: string;
  inputs: string[];
  attrs: Record<string, string | number>;
  /** Float weights [shape], per-channel axis for the int8 version. */
  weights?: { shape: number[]; data: Float32Array; axis: number | undefined };
  bias?: Float32Array;
  shape: number[];
}

const strAttr = (
  v: string | number,
) => (typeof v === "string"
  ? { type: "string" as const, value: v }
  : Number.isInteger(v)
  ? { type: "int" as const, value: v }
  : { type: "float" as const, value: v });

function layers(seed: number): Layer[] {
  const rng = new Rng(seed);
  const w = (shape: number[], fanIn: number, axis: number | undefined) => {
    const n = shape.reduce((p, d) => p * d, 1);
    const s = Math.sqrt(2 / fanIn);
    return { shape, data: Float32Array.from({ length: n }, () => rng.normal() * s), axis };
  };
  const b = (n: number) => Float32Array.from({ length: n }, () => rng.uniform(-0.1, 0.1));
  const conv = { padding: "SAME", stride_h: 1, stride_w: 1, fused_activation_function: "NONE" };
  return [
    {
      id: "conv1",
      op: "tfl.CONV_2D",
      inputs: ["image"],
      attrs: { ...conv, stride_h: 2, stride_w: 2, fused_activation_function: "RELU6" },
      weights: w([16, 3, 3, 3], 27, 0),
      bias: b(16),
      shape: [1, 16, 16, 16],
    },
    {
      id: "dw1",
      op: "tfl.DEPTHWISE_CONV_2D",
      inputs: ["conv1"],
      attrs: { ...conv, depth_multiplier: 1, fused_activation_function: "RELU6" },
      weights: w([1, 3, 3, 16], 9, 3),
      bias: b(16),
      shape: [1, 16, 16, 16],
    },
    {
      id: "proj1",
      op: "tfl.CONV_2D",
      inputs: ["dw1"],
      attrs: conv,
      weights: w([24, 1, 1, 16], 16, 0),
      bias: b(24),
      shape: [1, 16, 16, 24],
    },
    {
      id: "conv2",
      op: "tfl.CONV_2D",
      inputs: ["proj1"],
      attrs: { ...conv, fused_activation_function: "RELU" },
      weights: w([24, 3, 3, 24], 216, 0),
      bias: b(24),
      shape: [1, 16, 16, 24],
    },
    {
      id: "add1",
      op: "tfl.ADD",
      inputs: ["proj1", "conv2"],
      attrs: { fused_activation_function: "NONE" },
      shape: [1, 16, 16, 24],
    },
    {
      id: "pool",
      op: "tfl.AVERAGE_POOL_2D",
      inputs: ["add1"],
      attrs: {
        padding: "VALID",
        stride_h: 1,
        stride_w: 1,
        filter_height: 16,
        filter_width: 16,
        fused_activation_function: "NONE",
      },
      shape: [1, 1, 1, 24],
    },
    {
      id: "fc",
      op: "tfl.FULLY_CONNECTED",
      inputs: ["pool"],
      attrs: { fused_activation_function: "NONE" },
      weights: w([10, 24], 24, undefined),
      bias: b(10),
      shape: [1, 10],
    },
    { id: "prob", op: "tfl.SOFTMAX", inputs: ["fc"], attrs: { beta: 1 }, shape: [1, 10] },
  ];
}

const INPUT_SHAPE = [1, 32, 32, 3];

function graphOf(
  name: string,
  nodes: Node[],
  values: Record<string, ValueInfo>,
  constants: Record<string, Constant>,
  output: string,
): Graph {
  return inferGraph({ name, inputs: ["image"], outputs: [output], nodes, values, constants });
}

/** Min and max of every layer output of the float network over seeded inputs. */
function calibrate(ls: Layer[], seed: number): Map<string, [number, number]> {
  const nodes: Node[] = [], constants: Record<string, Constant> = {};
  const values: Record<string, ValueInfo> = { image: { type: tensorType("f32", INPUT_SHAPE) } };
  for (const l of ls) {
    const ins = [...l.inputs];
    if (l.weights) {
      constants[`${l.id}.w`] = {
        dtype: "f32",
        shape: l.weights.shape,
        bytes: new Uint8Array(l.weights.data.buffer),
      };
      constants[`${l.id}.b`] = {
        dtype: "f32",
        shape: [l.bias!.length],
        bytes: new Uint8Array(l.bias!.buffer),
      };
      ins.push(`${l.id}.w`, `${l.id}.b`);
    }
    nodes.push({
      id: l.id,
      op: l.op,
      inputs: ins,
      outputs: [l.id],
      attrs: Object.fromEntries(Object.entries(l.attrs).map(([k, v]) => [k, strAttr(v)])),
    });
  }
  const g = graphOf("calibration", nodes, values, constants, ls[ls.length - 1].id);
  const ranges = new Map<string, [number, number]>();
  const rng = new Rng(seed + 1000);
  for (let s = 0; s < 4; s++) {
    const image = new Tensor(
      "f32",
      INPUT_SHAPE,
      Float32Array.from({ length: 32 * 32 * 3 }, () => rng.uniform(-1, 1)),
    );
    interpret(g, { image }, {
      observe: (name, v) => {
        if (!(v instanceof Tensor)) return;
        const d = v.data as Float32Array;
        let lo = 0, hi = 0;
        for (let i = 0; i < d.length; i++) {
          if (d[i] < lo) lo = d[i];
          if (d[i] > hi) hi = d[i];
        }
        const r = ranges.get(name);
        ranges.set(name, r ? [Math.min(r[0], lo), Math.max(r[1], hi)] : [lo, hi]);
      },
    });
  }
  return ranges;
}

/** Asymmetric int8 parameters covering [lo, hi] (which includes 0). */
function activation([lo, hi]: [number, number]): AffineQuant {
  const scale = Math.fround(Math.max(hi - lo, 1e-6) / 255);
  const zp = Math.max(-128, Math.min(127, Math.round(-128 - lo / scale))) + 0;
  return { kind: "affine", storage: "i8", scale: [scale], zeroPoint: [zp] };
}

function quantizeWeights(w: NonNullable<Layer["weights"]>): { dtype: AffineQuant; codes: Int8Array } {
  const { shape, data, axis } = w;
  const channels = axis === undefined ? 1 : shape[axis];
  const inner = axis === undefined ? 1 : shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const channelOf = (i: number) => (axis === undefined ? 0 : Math.floor(i / inner) % channels);
  const maxAbs = new Float64Array(channels);
  for (let i = 0; i < data.length; i++) {
    maxAbs[channelOf(i)] = Math.max(maxAbs[channelOf(i)], Math.abs(data[i]));
  }
  const scale = Array.from(maxAbs, (m) => Math.fround(Math.max(m, 1e-8) / 127));
  const codes = Int8Array.from(
    data,
    (v, i) => Math.max(-127, Math.min(127, Math.round(v / scale[channelOf(i)]))),
  );
  const dtype: AffineQuant = {
    kind: "affine",
    storage: "i8",
    scale,
    zeroPoint: scale.map(() => 0),
    ...(axis === undefined ? {} : { axis }),
    qmin: -127,
    qmax: 127,
  };
  return { dtype, codes };
}

export function defaultInt8Model(seed = 7): Model {
  const ls = layers(seed);
  const ranges = calibrate(ls, seed);
  const types = new Map<string, AffineQuant>();
  types.set("image", activation(ranges.get("image") ?? [-1, 1]));
  const nodes: Node[] = [], constants: Record<string, Constant> = {};
  const values: Record<string, ValueInfo> = { image: { type: tensorType(types.get("image")!, INPUT_SHAPE) } };
  for (const l of ls) {
    const xq = types.get(l.inputs[0])!;
    let out: AffineQuant;
    if (l.op === "tfl.SOFTMAX") out = { kind: "affine", storage: "i8", scale: [1 / 256], zeroPoint: [-128] };
    else if (l.op === "tfl.AVERAGE_POOL_2D") out = xq;
    else out = activation(ranges.get(l.id)!);
    types.set(l.id, out);
    const ins = [...l.inputs];
    if (l.weights) {
      const wq = quantizeWeights(l.weights);
      constants[`${l.id}.w`] = {
        dtype: wq.dtype,
        shape: l.weights.shape,
        bytes: new Uint8Array(wq.codes.buffer),
      };
      values[`${l.id}.w`] = { type: tensorType(wq.dtype, l.weights.shape) };
      const bias = l.bias!;
      const bScale = bias.map((_, c) => xq.scale[0] * wq.dtype.scale[wq.dtype.scale.length === 1 ? 0 : c]);
      const perChannel = wq.dtype.scale.length > 1;
      const bq: DType = perChannel
        ? {
          kind: "affine",
          storage: "i32",
          scale: Array.from(bScale),
          zeroPoint: Array.from(bScale, () => 0),
          axis: 0,
        }
        : { kind: "affine", storage: "i32", scale: [bScale[0]], zeroPoint: [0] };
      const bc = numbersConstant("i32", [bias.length], Array.from(bias, (v, c) => Math.round(v / bScale[c])));
      constants[`${l.id}.b`] = { ...bc, dtype: bq };
      values[`${l.id}.b`] = { type: tensorType(bq, [bias.length]) };
      ins.push(`${l.id}.w`, `${l.id}.b`);
    }
    nodes.push({
      id: l.id,
      op: l.op,
      inputs: ins,
      outputs: [l.id],
      attrs: Object.fromEntries(Object.entries(l.attrs).map(([k, v]) => [k, strAttr(v)])),
    });
    values[l.id] = { type: tensorType(out, l.shape) };
  }
  const graph = graphOf(DEFAULT_INT8_MODEL_NAME, nodes, values, constants, "prob");
  return {
    graph,
    meta: { format: "tflite", opsets: {}, props: {}, producerName: "lathe (embedded default int8 CNN)" },
  };
}
