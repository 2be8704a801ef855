/**
 * Post-training int8 quantization of a float `tfl` graph the way the TFLite converter writes int8 models
 * (formats.md §2.5), for the ops the target tests meet in converted generators: activations asymmetric
 * per tensor from ranges calibrated by running the float graph in Lathe's runtime on seeded inputs,
 * TRANSPOSE_CONV / CONV_2D filters symmetric per output channel on [−127, 127], int32 biases at
 * s_in·s_w[c], constant operands of ADD and MUL asymmetric per tensor, TANH and LOGISTIC outputs at their
 * fixed scales (1/128 and 1/256). The graph's interface becomes int8. (passes/quantize writes ONNX QDQ; it
 * has no TFLite int8 path yet.)
 */
import type { Constant } from "../../ir/constant.ts";
import type { AffineQuant } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import type { Graph, Node, ValueInfo } from "../../ir/graph.ts";
import { inferGraph } from "../../ir/infer.ts";
import { tensorType } from "../../ir/value-type.ts";
import { interpret } from "../../runtime/interpreter.ts";
import { Rng } from "../../runtime/random.ts";
import { fromConstant, Tensor } from "../../runtime/tensor.ts";
import "../../runtime/kernels/index.ts";

function activation([lo, hi]: [number, number]): AffineQuant {
  lo = Math.min(lo, 0);
  hi = Math.max(hi, 0);
  const scale = Math.fround(Math.max(hi - lo, 1e-6) / 255);
  const zp = Math.max(-128, Math.min(127, Math.round(-128 - lo / scale))) + 0;
  return { kind: "affine", storage: "i8", scale: [scale], zeroPoint: [zp] };
}

function f32(c: Constant): Float32Array {
  if (c.dtype !== "f32") throw new LatheError("usage", `expected an f32 constant, got ${JSON.stringify(c.dtype)}`);
  return fromConstant(c).data as Float32Array;
}

function perChannelSymmetric(c: Constant): Constant {
  const data = f32(c), channels = c.shape[0], inner = data.length / channels;
  const scale: number[] = [];
  const codes = new Int8Array(data.length);
  for (let o = 0; o < channels; o++) {
    let m = 0;
    for (let i = 0; i < inner; i++) m = Math.max(m, Math.abs(data[o * inner + i]));
    const s = Math.fround(Math.max(m, 1e-8) / 127);
    scale.push(s);
    for (let i = 0; i < inner; i++) {
      codes[o * inner + i] = Math.max(-127, Math.min(127, Math.round(data[o * inner + i] / s)));
    }
  }
  const dtype: AffineQuant = {
    kind: "affine",
    storage: "i8",
    scale,
    zeroPoint: scale.map(() => 0),
    axis: 0,
    qmin: -127,
    qmax: 127,
  };
  return { dtype, shape: c.shape, bytes: new Uint8Array(codes.buffer) };
}

function perTensorAsymmetric(c: Constant): Constant {
  const data = f32(c);
  let lo = 0, hi = 0;
  for (const v of data) (lo = Math.min(lo, v), hi = Math.max(hi, v));
  const q = activation([lo, hi]);
  const codes = Int8Array.from(
    data,
    (v) => Math.max(-128, Math.min(127, Math.round(v / q.scale[0]) + q.zeroPoint[0])),
  );
  return { dtype: q, shape: c.shape, bytes: new Uint8Array(codes.buffer) };
}

function biasInt32(c: Constant, inScale: number, wScales: readonly number[]): Constant {
  const data = f32(c);
  const scales = Array.from(data, (_, i) => inScale * wScales[wScales.length === 1 ? 0 : i]);
  const v = Int32Array.from(data, (x, i) => Math.round(x / scales[i]));
  const dtype: AffineQuant = { kind: "affine", storage: "i32", scale: scales, zeroPoint: scales.map(() => 0), axis: 0 };
  return { dtype, shape: c.shape, bytes: new Uint8Array(v.buffer) };
}

/** Min and max of every value over `batches` seeded standard-normal inputs. */
function calibrate(g: Graph, batches: number, seed: number): Map<string, [number, number]> {
  const ranges = new Map<string, [number, number]>();
  const note = (name: string, d: Float32Array) => {
    let lo = Infinity, hi = -Infinity;
    for (const v of d) (lo = Math.min(lo, v), hi = Math.max(hi, v));
    const r = ranges.get(name);
    ranges.set(name, r ? [Math.min(r[0], lo), Math.max(r[1], hi)] : [lo, hi]);
  };
  const rng = new Rng(seed);
  for (let b = 0; b < batches; b++) {
    const inputs: Record<string, Tensor> = {};
    for (const name of g.inputs) {
      const t = g.values[name].type;
      if (t.kind !== "tensor" || !t.shape) throw new LatheError("usage", `input ${name} needs a static shape`);
      const shape = t.shape as number[];
      const x = new Tensor("f32", shape, Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => rng.normal()));
      inputs[name] = x;
      note(name, x.data as Float32Array);
    }
    interpret(g, inputs, {
      observe: (name, v) => {
        if (v instanceof Tensor && v.data instanceof Float32Array) note(name, v.data);
      },
    });
  }
  return ranges;
}

export function quantizeTflInt8(g: Graph, opts: { batches?: number; seed?: number } = {}): Graph {
  const ranges = calibrate(g, opts.batches ?? 8, opts.seed ?? 11);
  const types = new Map<string, AffineQuant>();
  const values: Record<string, ValueInfo> = {};
  const constants: Record<string, Constant> = {};
  const shapeOf = (v: string) => {
    const t = g.values[v]?.type;
    return t?.kind === "tensor" ? t.shape as number[] : undefined;
  };
  for (const name of g.inputs) {
    const q = activation(ranges.get(name)!);
    types.set(name, q);
    values[name] = { type: tensorType(q, shapeOf(name)) };
  }
  const constant = (name: string, c: Constant) => {
    constants[name] = c;
    values[name] = { type: tensorType(c.dtype, c.shape) };
  };
  const nodes: Node[] = [];
  for (const n of g.nodes) {
    const out = n.outputs[0];
    const actIn = n.inputs.find((i) => i && !g.constants[i])!;
    const xq = types.get(actIn);
    if (!xq) throw new LatheError("usage", `${n.id}: input ${actIn} has no quantized type`);
    let q: AffineQuant;
    switch (n.op) {
      case "tfl.TRANSPOSE_CONV":
      case "tfl.CONV_2D": {
        const wi = 1, bi = n.op === "tfl.TRANSPOSE_CONV" ? 3 : 2;
        const w = perChannelSymmetric(g.constants[n.inputs[wi]!]);
        constant(n.inputs[wi]!, w);
        const b = n.inputs[bi];
        if (b) constant(b, biasInt32(g.constants[b], xq.scale[0], (w.dtype as AffineQuant).scale));
        if (n.op === "tfl.TRANSPOSE_CONV") constant(n.inputs[0]!, g.constants[n.inputs[0]!]);
        q = activation(ranges.get(out)!);
        break;
      }
      case "tfl.ADD":
      case "tfl.MUL":
        for (const i of n.inputs) if (i && g.constants[i]) constant(i, perTensorAsymmetric(g.constants[i]));
        q = activation(ranges.get(out)!);
        break;
      case "tfl.TANH":
        q = { kind: "affine", storage: "i8", scale: [1 / 128], zeroPoint: [0] };
        break;
      case "tfl.LOGISTIC":
        q = { kind: "affine", storage: "i8", scale: [1 / 256], zeroPoint: [-128] };
        break;
      case "tfl.RESHAPE":
        for (const i of n.inputs) if (i && g.constants[i]) constant(i, g.constants[i]);
        q = xq;
        break;
      default:
        throw new LatheError("unsupported", `int8 PTQ of ${n.op} (${n.id}) is not written`);
    }
    types.set(out, q);
    values[out] = { type: tensorType(q, shapeOf(out)) };
    nodes.push(n);
  }
  return inferGraph({ ...g, nodes, values, constants });
}
