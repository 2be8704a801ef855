/**
 * Int8 post-training quantization in QDQ form (formats.md §3.4), the form onnxruntime and TFLite converters
 * read: every quantized activation passes through QuantizeLinear → DequantizeLinear, weights are int8
 * constants behind a DequantizeLinear (symmetric, per output channel: axis 0 for Conv, per output column
 * for Gemm/MatMul), biases int32 with scale s_x·s_w. The float ops stay; a backend (or lower-int8) fuses
 * each DQ → op → Q group into one integer op.
 *
 * Which activations get a Q/DQ pair:
 *  - the inputs and output of each layer (a Relu or Clip that alone follows a layer is fused: the pair goes
 *    after the activation, whose clipping the quantized range then does);
 *  - the inputs and output of element-wise and pooling ops that integer kernels implement;
 *  - the outputs of ops that only move or select values (MaxPool, Reshape, Flatten, ...), with their
 *    input's parameters, so requantizing them is exact.
 *
 * With `tflite`, parameters follow what TFLite's int8 kernels require instead of being free: AveragePool
 * and the other ops TFLite moves codes through (Pad, Slice, Gather, DepthToSpace, ...) keep their input's
 * parameters (TFLite averages the codes without rescaling), a Concat input that reaches nothing else (through
 * such ops) takes the Concat's output parameters (TFLite's int8 concatenation copies codes), and Sigmoid,
 * Softmax and Tanh outputs get TFLite's fixed scales (1/256 with zero point −128, 1/128 with 0, in int8 terms).
 * Chosen here, before the biases are quantized, the whole model stays consistent.
 */
import { numbersConstant } from "../../ir/builder.ts";
import { typedConstant } from "./typed-constant.ts";
import { float } from "../../ir/attr.ts";
import type { Graph, Node } from "../../ir/graph.ts";
import { graphIndex } from "../../ir/graph.ts";
import {
  activationParams,
  type ActivationType,
  type AffineParams,
  biasFittingScales,
  quantizeBias,
  quantizeWeightsPerChannel,
} from "./affine.ts";
import type { Calibration } from "./calibrate.ts";
import { GraphEdit } from "./graph-edit.ts";
import { LAYER_OPS, type LayerSpec, layerSpec } from "./layers.ts";
import type { Range } from "./observers.ts";

/** Ops whose output gets its own calibrated parameters. */
const OWN_OPS = new Set([
  "Add",
  "Sub",
  "Mul",
  "Concat",
  "AveragePool",
  "GlobalAveragePool",
  "Relu",
  "Clip",
  "LeakyRelu",
  "Sigmoid",
  "Tanh",
  "HardSigmoid",
  "HardSwish",
  "BatchNormalization",
  "Resize",
  "Softmax",
]);
/** Ops whose quantized inputs should all be quantized (integer kernels take every operand as codes). */
const MULTI_INPUT_OPS = new Set(["Add", "Sub", "Mul", "Concat"]);
/** Activations a layer's output quantization can absorb. */
const FUSABLE_ACTS = new Set(["Relu", "Clip"]);
/** Ops that only move or select values: the output shares the input's parameters. */
const PASS_OPS = new Set(["MaxPool", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity"]);
/** More ops that only move values, which TFLite's int8 kernels require to keep their input's parameters. */
const TFLITE_PASS_OPS = new Set([
  ...PASS_OPS,
  "AveragePool",
  "Pad",
  "Slice",
  "Gather",
  "DepthToSpace",
  "SpaceToDepth",
  "Tile",
  "Expand",
]);
/** Ops whose output scale TFLite fixes: [scale, int8 zero point]. */
const FIXED_OUTPUT: Record<string, [number, number]> = {
  Sigmoid: [1 / 256, -128],
  Softmax: [1 / 256, -128],
  Tanh: [1 / 128, 0],
};

export interface Int8Options {
  activations: ActivationType;
  /** Activation ranges of the float model. */
  calibration: Calibration;
  /** Whether this node is to be quantized as int8 (mixed precision decides). */
  select: (n: Node) => boolean;
  /** Choose parameters TFLite's int8 kernels accept (see above). */
  tflite?: boolean;
}

export interface QuantizedLayer {
  readonly id: string;
  readonly op: string;
  readonly scheme: string;
  readonly detail: string;
}

export interface Int8Result {
  graph: Graph;
  layers: QuantizedLayer[];
  /** Activation parameters by original value name. */
  params: Map<string, AffineParams>;
  ranges: Map<string, Range>;
}

function isF32(g: Graph, v: string | null | undefined): v is string {
  if (!v) return false;
  const t = g.values[v]?.type;
  return t?.kind === "tensor" && t.dtype === "f32";
}

/** Which values get Q/DQ: own parameters, or shared with another value's. */
export function planActivations(
  g: Graph,
  select: (n: Node) => boolean,
  tflite = false,
): { own: Set<string>; share: Map<string, string>; layers: Map<string, LayerSpec> } {
  const { users } = graphIndex(g);
  const outputs = new Set(g.outputs);
  const own = new Set<string>();
  const layers = new Map<string, LayerSpec>();
  const isData = (v: string | null | undefined): v is string => isF32(g, v) && !g.constants[v];
  const quantizeOutput = (n: Node) => {
    const y = n.outputs[0];
    if (!isF32(g, y)) return;
    const us = users.get(y) ?? [];
    const act = us.length === 1 && !outputs.has(y) && FUSABLE_ACTS.has(us[0].op) && select(us[0])
      ? us[0]
      : undefined;
    own.add(act ? act.outputs[0] : y);
  };
  for (const n of g.nodes) {
    if (!select(n)) continue;
    if (LAYER_OPS.has(n.op)) {
      const spec = layerSpec(g, n);
      if (spec) layers.set(n.id, spec);
      else if (n.op !== "MatMul" || !isData(n.inputs[1])) continue;
      for (const x of n.inputs.slice(0, spec ? 1 : 2)) if (isData(x)) own.add(x);
      quantizeOutput(n);
    } else if (tflite && TFLITE_PASS_OPS.has(n.op)) {
      // Quantized before it, so the op runs on codes (a Pad at the input, say).
      const x = n.inputs[0];
      if (isData(x) && (n.op === "AveragePool" || g.inputs.includes(x))) own.add(x);
    } else if (OWN_OPS.has(n.op)) {
      if (MULTI_INPUT_OPS.has(n.op)) { for (const x of n.inputs) if (isData(x)) own.add(x); }
      quantizeOutput(n);
    }
  }
  const share = new Map<string, string>();
  const passOps = tflite ? TFLITE_PASS_OPS : PASS_OPS;
  for (const n of g.nodes) {
    if (!passOps.has(n.op) || !select(n)) continue;
    const x = n.inputs[0], y = n.outputs[0];
    if (!x || !isF32(g, y)) continue;
    const root = share.get(x) ?? (own.has(x) ? x : undefined);
    if (root) {
      share.set(y, root);
      own.delete(y);
    }
  }
  if (tflite) {
    // A Concat input takes the output's parameters when its value (with the values that only move it, as
    // a Reshape after a head) reaches nothing but this Concat: no layer's bias depends on them then.
    const concatRoots = new Set<string>();
    for (const n of g.nodes) {
      const y = n.outputs[0];
      if (n.op !== "Concat" || !select(n) || !y || !own.has(y)) continue;
      for (const x of n.inputs) {
        const root = x ? share.get(x) ?? (own.has(x) ? x : undefined) : undefined;
        if (!root || root === y || concatRoots.has(root)) continue;
        const group = [root, ...[...share].filter(([, r]) => r === root).map(([v]) => v)];
        const members = new Set(group);
        const onlyHere = group.every((v) =>
          !outputs.has(v) &&
          (users.get(v) ?? []).every((u) => u === n || (passOps.has(u.op) && members.has(u.outputs[0])))
        );
        if (!onlyHere) continue;
        for (const v of group) share.set(v, y);
        own.delete(root);
        concatRoots.add(y);
      }
    }
  }
  return { own, share, layers };
}

/** TFLite's fixed output parameters, in the activation type's terms (uint8 codes are int8 codes + 128). */
function fixedParams([scale, zp]: [number, number], type: ActivationType): AffineParams {
  return type === "i8"
    ? { scale, zeroPoint: zp, qmin: -128, qmax: 127 }
    : { scale, zeroPoint: zp + 128, qmin: 0, qmax: 255 };
}

const scalarF32 = (v: number) => numbersConstant("f32", [], [v]);

/** Inserts Q/DQ pairs and quantizes the layers' weights and biases. */
export function quantizeInt8(g: Graph, opts: Int8Options): Int8Result {
  const { own, share, layers } = planActivations(g, opts.select, opts.tflite);
  const ranges = opts.calibration.ranges(own);
  const params = new Map<string, AffineParams>();
  for (const v of own) {
    const r = ranges.get(v);
    if (r) params.set(v, activationParams(r, opts.activations));
  }
  if (opts.tflite) {
    for (const n of g.nodes) {
      const fixed = FIXED_OUTPUT[n.op], y = n.outputs[0];
      if (fixed && y && params.has(y)) params.set(y, fixedParams(fixed, opts.activations));
    }
  }
  for (const [v, root] of share) {
    const p = params.get(root);
    if (p) params.set(v, p);
  }

  const ed = new GraphEdit(g);
  const outputs = new Set(g.outputs);
  const codeType = opts.activations;
  const pairConsts = new Map<string, [string, string]>();
  const constsFor = (v: string, p: AffineParams): [string, string] => {
    const key = share.get(v) ?? v;
    let c = pairConsts.get(key);
    if (!c) {
      c = [
        ed.constant(`${key}_scale`, scalarF32(p.scale)),
        ed.constant(`${key}_zero_point`, numbersConstant(codeType, [], [p.zeroPoint])),
      ];
      pairConsts.set(key, c);
    }
    return c;
  };
  /** Q/DQ after `src` (the value as produced); uses of `v` then read the DQ output. */
  const pair = (v: string, src: string, from: string) => {
    const p = params.get(v)!;
    const [s, z] = constsFor(v, p);
    const [q] = ed.add("QuantizeLinear", [src, s, z], {}, `${v}_q`, { from: [from] });
    if (outputs.has(v)) ed.add("DequantizeLinear", [q, s, z], {}, `${v}_dq`, { outputs: [v], from: [from] });
    else ed.rename.set(v, ed.add("DequantizeLinear", [q, s, z], {}, `${v}_dq`, { from: [from] })[0]);
  };
  for (const v of g.inputs) if (params.has(v) && !outputs.has(v)) pair(v, v, v);

  const done: QuantizedLayer[] = [];
  for (const n of g.nodes) {
    const outs = n.outputs.map((o) => (o && params.has(o) && outputs.has(o) ? ed.fresh(`${o}_float`) : o));
    const spec = layers.get(n.id);
    if (spec) {
      const inputs = n.inputs.map((i) => ed.read(i));
      const perTensor = spec.axis === undefined;
      const xq = params.get(spec.x);
      const fit = spec.bias && xq && xq.scale > 0
        ? biasFittingScales(spec.bias, xq.scale, perTensor)
        : undefined;
      const wq = perTensor
        ? quantizeWeightsPerChannel(spec.wData, [1, spec.wData.length], 0, fit)
        : quantizeWeightsPerChannel(spec.wData, spec.weight.shape, spec.axis!, fit);
      const sShape = perTensor ? [] : [wq.scales.length];
      const ws = ed.constant(`${spec.w}_scale`, typedConstant("f32", sShape, wq.scales));
      const wz = ed.constant(
        `${spec.w}_zero_point`,
        typedConstant("i8", sShape, new Int8Array(wq.scales.length)),
      );
      const wc = ed.constant(`${spec.w}_quantized`, typedConstant("i8", spec.weight.shape, wq.codes));
      inputs[1] =
        ed.add("DequantizeLinear", [wc, ws, wz], perTensor ? {} : { axis: spec.axis! }, `${spec.w}_dq`, {
          from: [n.id],
        })[0];
      const xp = params.get(spec.x);
      let biasNote = "";
      if (spec.bias && xp) {
        const bq = quantizeBias(spec.bias, xp.scale, wq.scales);
        const bShape = perTensor ? [] : [spec.channels];
        const bsc = ed.constant(
          `${n.id}_bias_scale`,
          numbersConstant("f32", bShape, perTensor ? [bq.scales[0]] : bq.scales),
        );
        const bc = ed.constant(`${n.id}_bias_quantized`, typedConstant("i32", [spec.channels], bq.codes));
        inputs[2] = ed.add("DequantizeLinear", [bc, bsc], perTensor ? {} : { axis: 0 }, `${n.id}_bias_dq`, {
          from: [n.id],
        })[0];
        biasNote = ", bias i32";
      } else if (spec.bias) {
        const bc = ed.constant(`${n.id}_bias`, numbersConstant("f32", [spec.channels], spec.bias));
        inputs[2] = bc;
      }
      const attrs = n.op === "Gemm" ? { ...n.attrs, alpha: float(1), beta: float(1) } : n.attrs;
      ed.copy(n, { inputs, outputs: outs, attrs });
      done.push({
        id: n.id,
        op: n.op,
        scheme: "int8",
        detail: `w i8 ${perTensor ? "per tensor" : `per channel (axis ${spec.axis})`}${biasNote}`,
      });
    } else ed.copy(n, { outputs: outs });
    n.outputs.forEach((o, i) => {
      if (o && params.has(o)) pair(o, outs[i], n.id);
    });
  }
  return { graph: ed.finish(), layers: done, params, ranges };
}
