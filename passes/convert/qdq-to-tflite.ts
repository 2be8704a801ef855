/**
 * QDQ graphs (formats.md §3.4: QuantizeLinear → DequantizeLinear pairs on activations, int8 weights and
 * int32 biases behind a DequantizeLinear) to TFLite's int8 form, in three steps of the ONNX → TFLite
 * conversion:
 *
 *  1. `dequantizeConstants` (before canonicalization): each DequantizeLinear of constant codes becomes the
 *     float constant it computes, under the same name, and the codes are remembered by that name. Constant
 *     folding would do the same; remembering keeps the model's own codes and scales.
 *  2. `quantizedLayerRules` (with the spatial rules): a Conv, ConvTranspose, Gemm or MatMul whose weight is
 *     such a constant becomes its `tfl` op in NHWC with the weight as a DequantizeLinear of the permuted
 *     codes (OHWI with per-channel axis 0; depthwise [1, KH, KW, C] with axis 3). The float ops around keep
 *     their Q/DQ pairs, which layout propagation moves transposes through.
 *  3. `foldQdq` (last): the graph is `tfl` float ops between Q/DQ pairs. Walking it in order, each value
 *     known as DequantizeLinear(codes) is carried as those codes; an op whose float operands are all such
 *     values and whose output is quantized becomes the int8 op over the codes (affine-typed tensors), and
 *     the pairs disappear. Activations are int8 (uint8 parameters shift by 128). What stays float reads
 *     a DEQUANTIZE and feeds a QUANTIZE, so the float input and output keep theirs.
 *
 * TFLite's int8 kernels constrain parameters: ops that only move values (RESHAPE, TRANSPOSE, MAX_POOL_2D,
 * PAD, ...) and AVERAGE_POOL_2D and CONCATENATION keep the input's parameters; LOGISTIC and SOFTMAX output
 * scale 1/256 with zero point −128, TANH 1/128 with 0. Where the QDQ graph chose other parameters, the op
 * takes the required ones and a QUANTIZE (int8 → int8) requantizes to the graph's (the quantize pass's
 * `tflite` option chooses the required ones in the first place). Ops without int8 kernels here (PRELU,
 * RESIZE_BILINEAR, BATCH_MATMUL, ...) stay float between a DEQUANTIZE and a QUANTIZE.
 */
import type { AffineQuant } from "../../ir/dtype.ts";
import type { Constant } from "../../ir/constant.ts";
import { constantNumbers } from "../../ir/constant-values.ts";
import { LatheError } from "../../ir/errors.ts";
import { type Graph, graphIndex, type Node, type ValueInfo } from "../../ir/graph.ts";
import { forwardWindow, transposeWindow } from "../../ir/ops/conv-pool.ts";
import { windowAxis } from "../../ir/ops/tflite-geometry.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import { type TensorType, tensorType } from "../../ir/value-type.ts";
import { fromConstant } from "../../runtime/tensor.ts";
import { permuteConstant } from "../constant-permute.ts";
import { P, tensorTypeOf, type ValueRef } from "../pattern.ts";
import { activationParams, quantizeWeightsPerChannel, roundHalfEven } from "../quantize/affine.ts";
import { type Rewriter, type Rule, rule } from "../rewrite.ts";
import { intOperand } from "./operand-constants.ts";
import { padded, tflPadding, TO_NCHW, TO_NHWC } from "./onnx-to-tfl-spatial.ts";

// ---- 1. constant codes ---------------------------------------------------------------------------------

/** What a DequantizeLinear of constant codes said: codes in the source layout and their parameters. */
export interface QuantizedConstant {
  readonly codes: Constant;
  readonly scale: readonly number[];
  readonly zeroPoint: readonly number[];
  /** Axis of per-channel parameters (non-negative); undefined per tensor. */
  readonly axis?: number;
}

const CODE_TYPES = new Set(["i8", "u8", "i32"]);

/** The parameters of a DequantizeLinear whose codes are the constant `c`, or undefined if it has another form. */
function constantDq(g: Graph, n: Node): QuantizedConstant | undefined {
  const [x, s, z] = n.inputs;
  const c = x && !g.inputs.includes(x) ? g.constants[x] : undefined;
  const sc = s ? g.constants[s] : undefined;
  const zc = z ? g.constants[z] : undefined;
  if (!c || typeof c.dtype !== "string" || !CODE_TYPES.has(c.dtype) || !sc || sc.dtype !== "f32") return;
  if ((z && !zc) || (zc && zc.dtype !== c.dtype)) return;
  const at = resolveAttrs(n);
  if (at.block_size) return;
  const scale = constantNumbers(sc);
  const zeroPoint = zc ? constantNumbers(zc) : scale.map(() => 0);
  if (zeroPoint.length !== scale.length) return;
  if (scale.length === 1 && sc.shape.length <= 1) return { codes: c, scale, zeroPoint };
  const r = c.shape.length;
  const axis = at.axis < 0 ? at.axis + r : at.axis;
  if (sc.shape.length !== 1 || axis < 0 || axis >= r || c.shape[axis] !== scale.length) return;
  return { codes: c, scale, zeroPoint, axis };
}

/** (code − zero point) · scale in f32, as DequantizeLinear computes it. */
function dequantized(q: QuantizedConstant): Constant {
  const codes = fromConstant(q.codes).data as Int8Array | Uint8Array | Int32Array;
  const shape = q.codes.shape;
  const out = new Float32Array(codes.length);
  if (q.axis === undefined) {
    const s = q.scale[0], z = q.zeroPoint[0];
    for (let i = 0; i < codes.length; i++) out[i] = Math.fround((codes[i] - z) * s);
  } else {
    const dim = shape[q.axis];
    let inner = 1;
    for (let i = q.axis + 1; i < shape.length; i++) inner *= shape[i];
    for (let i = 0; i < codes.length; i++) {
      const c = Math.floor(i / inner) % dim;
      out[i] = Math.fround((codes[i] - q.zeroPoint[c]) * q.scale[c]);
    }
  }
  return { dtype: "f32", shape, bytes: new Uint8Array(out.buffer) };
}

/**
 * Each DequantizeLinear of constant codes replaced by the float constant it computes, named as its output;
 * the map gives the codes behind each such constant.
 */
export function dequantizeConstants(g: Graph): { graph: Graph; quantized: Map<string, QuantizedConstant> } {
  const quantized = new Map<string, QuantizedConstant>();
  const outputs = new Set(g.outputs);
  const constants: Record<string, Constant> = { ...g.constants };
  const values: Record<string, ValueInfo> = { ...g.values };
  const nodes: Node[] = [];
  for (const n of g.nodes) {
    const q = n.op === "DequantizeLinear" && !outputs.has(n.outputs[0]) ? constantDq(g, n) : undefined;
    if (!q) {
      nodes.push(n);
      continue;
    }
    const o = n.outputs[0];
    const c = dequantized(q);
    constants[o] = c;
    values[o] = { ...g.values[o], type: tensorType("f32", c.shape) };
    quantized.set(o, q);
  }
  if (!quantized.size) return { graph: g, quantized };
  return { graph: { ...g, nodes, constants, values }, quantized };
}

// ---- 2. layers with quantized weights -----------------------------------------------------------------

const shapeOf = (v: ValueRef) => tensorTypeOf(v)?.shape;
const transpose = (rw: Rewriter, x: ValueRef | string, perm: number[]) => rw.op1("Transpose", [x], { perm });

/**
 * DequantizeLinear of the codes permuted by `perm` (none: as they are); the per-channel axis moves with
 * them. Undefined when the parameters lie along another axis than `channelAxis` of the source layout.
 */
function weightDq(
  rw: Rewriter,
  name: string,
  q: QuantizedConstant,
  perm: number[] | undefined,
  channelAxis: number,
): ValueRef | undefined {
  if (q.axis !== undefined && q.axis !== channelAxis) return undefined;
  const codes = rw.constant(`${name}_codes`, perm ? permuteConstant(q.codes, perm) : q.codes);
  const perChannel = q.axis !== undefined;
  const n = q.scale.length;
  const shape = perChannel ? [n] : [];
  const scale = rw.constant(`${name}_scale`, numbers("f32", shape, q.scale));
  const zp = rw.constant(`${name}_zero_point`, numbers(q.codes.dtype as "i8", shape, q.zeroPoint));
  const axis = perChannel ? (perm ? perm.indexOf(q.axis!) : q.axis!) : 0;
  return rw.op1("DequantizeLinear", [codes, scale, zp], perChannel ? { axis } : {});
}

/** A bias operand: its codes behind a DequantizeLinear when it had them, the float constant, or none. */
function biasOperand(
  rw: Rewriter,
  b: ValueRef | undefined,
  quantized: ReadonlyMap<string, QuantizedConstant>,
  channels: number,
): ValueRef | null | undefined {
  if (!b) return null;
  const q = quantized.get(b.name);
  const count = b.constant ? b.constant.shape.reduce((p, d) => p * d, 1) : -1;
  if (count !== channels) return undefined;
  if (q) {
    const flat = {
      ...q,
      codes: { ...q.codes, shape: [channels] },
      ...(q.axis !== undefined ? { axis: 0 } : {}),
    };
    return weightDq(rw, b.name, flat, undefined, 0);
  }
  if (b.constant?.dtype !== "f32") return undefined;
  return b.constant.shape.length === 1
    ? b
    : rw.constant(`${b.name}_flat`, { ...b.constant, shape: [channels] });
}

function numbers(dtype: "f32" | "i8" | "u8" | "i32", shape: number[], values: readonly number[]): Constant {
  const arr = dtype === "f32"
    ? Float32Array.from(values)
    : dtype === "i8"
    ? Int8Array.from(values)
    : dtype === "u8"
    ? Uint8Array.from(values)
    : Int32Array.from(values);
  return { dtype, shape, bytes: new Uint8Array(arr.buffer) };
}

/**
 * Conv, ConvTranspose, Gemm and MatMul whose weights had codes: their `tfl` op over a DequantizeLinear of
 * the codes in TFLite's layout. Run beside the float spatial rules (which take what these decline).
 */
export function quantizedLayerRules(quantized: ReadonlyMap<string, QuantizedConstant>): Rule[] {
  /** Static NCHW input dims, or undefined (the float rule then says why). */
  const nchw = (x: ValueRef): [number | string, number, number, number] | undefined => {
    const s = shapeOf(x);
    if (!s || s.length !== 4 || s.slice(1).some((d) => typeof d !== "number")) return undefined;
    return s as [number | string, number, number, number];
  };

  function conv({ x, w, b, n }: any, rw: Rewriter) {
    const q = quantized.get(w.name);
    const s = nchw(x);
    if (!q || !s || q.codes.shape.length !== 4) return undefined;
    const at = resolveAttrs(n);
    const [M, cg, kh, kw] = q.codes.shape;
    const group: number = at.group;
    const depthwise = group !== 1 && cg === 1 && group === s[1] && M % group === 0;
    if (group !== 1 && !depthwise) return undefined; // grouped: the float rule splits it into groups
    const filter = weightDq(rw, w.name, q, depthwise ? [1, 2, 3, 0] : [0, 2, 3, 1], 0);
    const bias = biasOperand(rw, b, quantized, M);
    if (!filter || bias === undefined) return undefined;
    const win = forwardWindow([s[2], s[3]], [kh, kw], at);
    const pad = tflPadding([s[2], s[3]], win);
    const input = padded(rw, transpose(rw, x, TO_NHWC), pad, 0);
    const attrs = {
      padding: pad.padding,
      stride_h: win.strides[0],
      stride_w: win.strides[1],
      dilation_h_factor: win.dilations[0],
      dilation_w_factor: win.dilations[1],
    };
    const y = depthwise
      ? rw.op1("tfl.DEPTHWISE_CONV_2D", [input, filter, bias], { ...attrs, depth_multiplier: M / group })
      : rw.op1("tfl.CONV_2D", [input, filter, bias], attrs);
    return transpose(rw, y, TO_NCHW);
  }

  function convTranspose({ x, w, b, n }: any, rw: Rewriter) {
    const q = quantized.get(w.name);
    const s = nchw(x);
    if (!q || !s || typeof s[0] !== "number" || q.codes.shape.length !== 4) return undefined;
    const at = resolveAttrs(n);
    if (at.group !== 1) return undefined;
    const [, cout, kh, kw] = q.codes.shape;
    const win = transposeWindow([s[2], s[3]], [kh, kw], at);
    if (win.dilations.some((d) => d !== 1)) return undefined;
    const filter = weightDq(rw, w.name, q, [1, 2, 3, 0], 1);
    const bias = biasOperand(rw, b, quantized, cout);
    if (!filter || bias === undefined) return undefined;
    const out = win.out;
    // As the float rule: TFLite crops at the SAME or VALID pad of a forward window from the output size.
    const fits = (p: "SAME" | "VALID") =>
      out.every((o, i) => {
        try {
          return windowAxis(p, o, win.kernel[i], win.strides[i]).padBefore === win.padsBegin[i];
        } catch {
          return false;
        }
      });
    const padding = fits("SAME") ? "SAME" : fits("VALID") ? "VALID" : undefined;
    const xt = transpose(rw, x, TO_NHWC);
    const attrs = (p: string) => ({ padding: p, stride_h: win.strides[0], stride_w: win.strides[1] });
    let y: ValueRef;
    if (padding) {
      const shape = intOperand(rw, "output_shape", "i32", [s[0], out[0], out[1], cout]);
      y = rw.op1("tfl.TRANSPOSE_CONV", [shape, filter, xt, bias], attrs(padding));
    } else {
      const full = [0, 1].map((i) => ((s[2 + i] as number) - 1) * win.strides[i] + win.kernel[i]);
      if (out.some((o, i) => win.padsBegin[i] + o > full[i])) return undefined;
      const shape = intOperand(rw, "output_shape", "i32", [s[0], full[0], full[1], cout]);
      const wide = rw.op1("tfl.TRANSPOSE_CONV", [shape, filter, xt, bias], attrs("VALID"));
      y = rw.op1("tfl.STRIDED_SLICE", [
        wide,
        intOperand(rw, "begin", "i32", [0, win.padsBegin[0], win.padsBegin[1], 0]),
        intOperand(rw, "end", "i32", [s[0], win.padsBegin[0] + out[0], win.padsBegin[1] + out[1], cout]),
        intOperand(rw, "strides", "i32", [1, 1, 1, 1]),
      ]);
    }
    return transpose(rw, y, TO_NCHW);
  }

  function gemm({ a, b, c, n }: any, rw: Rewriter) {
    const q = quantized.get(b.name);
    const sa = shapeOf(a);
    const at = resolveAttrs(n);
    if (!q || q.codes.shape.length !== 2 || sa?.length !== 2 || at.transA) return undefined;
    if ((at.alpha ?? 1) !== 1 || (c && (at.beta ?? 1) !== 1)) return undefined;
    const transB = !!at.transB;
    const N = q.codes.shape[transB ? 0 : 1];
    const w = weightDq(rw, b.name, q, transB ? undefined : [1, 0], transB ? 0 : 1);
    const bias = biasOperand(rw, c, quantized, N);
    if (!w || bias === undefined) return undefined;
    return rw.op1("tfl.FULLY_CONNECTED", [a, w, bias]);
  }

  function matMul({ a, b }: any, rw: Rewriter) {
    const q = quantized.get(b.name);
    const sa = shapeOf(a);
    if (!q || q.codes.shape.length !== 2 || !sa || sa.length < 2) return undefined;
    const w = weightDq(rw, b.name, q, [1, 0], 1);
    if (!w) return undefined;
    return rw.op1("tfl.FULLY_CONNECTED", [a, w, null], { keep_num_dims: sa.length > 2 ? 1 : 0 });
  }

  const benefit = { benefit: 2 };
  return [
    rule("quantized-conv", P.Conv(P.var("x"), P.const("w"), P.opt(P.var("b"))).as("n"), conv, benefit),
    rule(
      "quantized-conv-transpose",
      P.ConvTranspose(P.var("x"), P.const("w"), P.opt(P.var("b"))).as("n"),
      convTranspose,
      benefit,
    ),
    rule("quantized-gemm", P.Gemm(P.var("a"), P.const("b"), P.opt(P.var("c"))).as("n"), gemm, benefit),
    rule("quantized-matmul", P.MatMul(P.var("a"), P.const("b")).as("n"), matMul, benefit),
  ];
}

// ---- 3. the int8 graph ---------------------------------------------------------------------------------

/** How an op becomes int8 (see the module comment). */
type Kind =
  | "layer" // weights and bias from constants; output parameters free
  | "free" // any output parameters (elementwise arithmetic, MEAN, activations)
  | "fixed" // TFLite's fixed output parameters
  | "move" // moves or selects codes: output = input parameters, exact without a QuantizeLinear after
  | "same"; // output = input parameters, but rounds (AVERAGE_POOL_2D), or requantizes inputs (CONCATENATION)

interface Form {
  kind: Kind;
  /** Operand indices holding activations; the others pass through (shapes, axes, paddings). */
  data: (n: Node) => number[];
}

const first = () => [0];
const all = (n: Node) => n.inputs.map((_, i) => i);
const FORMS: Record<string, Form> = {
  "tfl.CONV_2D": { kind: "layer", data: first },
  "tfl.DEPTHWISE_CONV_2D": { kind: "layer", data: first },
  "tfl.FULLY_CONNECTED": { kind: "layer", data: first },
  "tfl.TRANSPOSE_CONV": { kind: "layer", data: () => [2] },
  "tfl.ADD": { kind: "free", data: () => [0, 1] },
  "tfl.SUB": { kind: "free", data: () => [0, 1] },
  "tfl.MUL": { kind: "free", data: () => [0, 1] },
  "tfl.MEAN": { kind: "free", data: first },
  "tfl.RELU": { kind: "free", data: first },
  "tfl.RELU6": { kind: "free", data: first },
  "tfl.RELU_N1_TO_1": { kind: "free", data: first },
  "tfl.HARD_SWISH": { kind: "free", data: first },
  "tfl.LOGISTIC": { kind: "fixed", data: first },
  "tfl.SOFTMAX": { kind: "fixed", data: first },
  "tfl.TANH": { kind: "fixed", data: first },
  "tfl.AVERAGE_POOL_2D": { kind: "same", data: first },
  "tfl.CONCATENATION": { kind: "same", data: all },
  "tfl.MAX_POOL_2D": { kind: "move", data: first },
  "tfl.RESHAPE": { kind: "move", data: first },
  "tfl.TRANSPOSE": { kind: "move", data: first },
  "tfl.SQUEEZE": { kind: "move", data: first },
  "tfl.EXPAND_DIMS": { kind: "move", data: first },
  "tfl.PAD": { kind: "move", data: first },
  "tfl.PADV2": { kind: "move", data: first },
  "tfl.STRIDED_SLICE": { kind: "move", data: first },
  "tfl.SLICE": { kind: "move", data: first },
  "tfl.GATHER": { kind: "move", data: first },
  "tfl.DEPTH_TO_SPACE": { kind: "move", data: first },
  "tfl.SPACE_TO_DEPTH": { kind: "move", data: first },
  "tfl.RESIZE_NEAREST_NEIGHBOR": { kind: "move", data: first },
  "tfl.SPLIT": { kind: "move", data: () => [1] },
  "tfl.SPLIT_V": { kind: "move", data: first },
  "tfl.TILE": { kind: "move", data: first },
  "tfl.BROADCAST_TO": { kind: "move", data: first },
};
const FIXED: Record<string, [number, number]> = {
  "tfl.LOGISTIC": [1 / 256, -128],
  "tfl.SOFTMAX": [1 / 256, -128],
  "tfl.TANH": [1 / 128, 0],
};
/** Operands the int8 kernels take as quantized constants: [weight index, bias index, quantized dimension]. */
const LAYER_OPERANDS: Record<string, [number, number, number]> = {
  "tfl.CONV_2D": [1, 2, 0],
  "tfl.DEPTHWISE_CONV_2D": [1, 2, 3],
  "tfl.FULLY_CONNECTED": [1, 2, 0],
  "tfl.TRANSPOSE_CONV": [1, 3, 0],
};

const int8 = (scale: number, zeroPoint: number): AffineQuant => ({
  kind: "affine",
  storage: "i8",
  scale: [scale],
  zeroPoint: [zeroPoint],
});
const sameQuant = (a: AffineQuant, b: AffineQuant) =>
  a.storage === b.storage && a.scale.length === b.scale.length && a.scale.every((s, i) => s === b.scale[i]) &&
  a.zeroPoint.every((z, i) => z === b.zeroPoint[i]);

/** A value whose float form is DequantizeLinear(codes): the codes' value and parameters. */
interface Coded {
  readonly codes: string;
  readonly q: AffineQuant;
  /** Provenance of the DEQUANTIZE that materializes the float value. */
  readonly from?: readonly string[];
}

/**
 * The int8 TFLite graph of a `tfl` float graph with Q/DQ pairs (step 3 of the module comment). Q/DQ nodes
 * of forms TFLite has no int8 counterpart for (per-axis activations, blocked) are left as they are.
 */
export function foldQdq(g: Graph): Graph {
  if (!g.nodes.some((n) => n.op === "QuantizeLinear" || n.op === "DequantizeLinear")) return g;
  return new Int8Builder(g).build();
}

class Int8Builder {
  private readonly ix;
  private readonly nodes: Node[] = [];
  private readonly constants: Record<string, Constant>;
  private readonly values: Record<string, ValueInfo>;
  private readonly coded = new Map<string, Coded>();
  /** QuantizeLinear outputs that name the codes of another value. */
  private readonly alias = new Map<string, string>();
  /** DequantizeLinear of constant codes (weights the rules of step 2 built), by output. */
  private readonly constDq = new Map<string, QuantizedConstant>();
  private readonly materialized = new Set<string>();
  private readonly used = new Set<string>();
  private k = 0;

  constructor(private readonly g: Graph) {
    this.ix = graphIndex(g);
    this.constants = { ...g.constants };
    this.values = { ...g.values };
    for (const v of Object.keys(g.values)) this.used.add(v);
    for (const n of g.nodes) {
      this.used.add(n.id);
      for (const o of n.outputs) if (o) this.used.add(o);
    }
  }

  build(): Graph {
    for (const n of this.g.nodes) this.visit(n);
    for (const o of this.g.outputs) this.materialize(o);
    const g: Graph = { ...this.g, nodes: this.nodes, constants: this.constants, values: this.values };
    return pruneUnused(g);
  }

  private fresh(hint: string): string {
    let n = hint;
    while (this.used.has(n)) n = `${hint}_${this.k++}`;
    this.used.add(n);
    return n;
  }

  private read(v: string | null): string | null {
    return v === null ? null : this.alias.get(v) ?? v;
  }

  private staticShape(v: string): readonly number[] | undefined {
    const t = this.values[v]?.type ?? this.g.values[v]?.type;
    const s = t?.kind === "tensor" ? t.shape : undefined;
    return s && s.every((d) => typeof d === "number") ? s as number[] : undefined;
  }

  /** The shape of a value already known to be static (codes made from a static value). */
  private shape(v: string): readonly number[] {
    const s = this.staticShape(v);
    if (!s) throw new LatheError("verify", `value ${v} has no static shape`);
    return s;
  }

  private declare(v: string, q: AffineQuant, shape: readonly number[]): void {
    this.values[v] = { type: tensorType(q, shape) as TensorType };
  }

  /** Per-tensor activation parameters of a Q or DQ node, as int8. */
  private activationQuant(n: Node): AffineQuant | undefined {
    const [, s, z] = n.inputs;
    const sc = s ? this.g.constants[s] : undefined;
    const zc = z ? this.g.constants[z] : undefined;
    if (!sc || sc.dtype !== "f32" || sc.shape.reduce((p, d) => p * d, 1) !== 1) return undefined;
    if (z && (!zc || zc.shape.reduce((p, d) => p * d, 1) !== 1)) return undefined;
    if (resolveAttrs(n).block_size) return undefined;
    const zdt = zc ? zc.dtype : "u8";
    if (zdt !== "i8" && zdt !== "u8") return undefined;
    const zp = zc ? constantNumbers(zc)[0] : 0;
    return int8(constantNumbers(sc)[0], zdt === "u8" ? zp - 128 : zp);
  }

  private emit(n: Node): void {
    this.nodes.push(n);
  }

  /** The float value `v` written by a DEQUANTIZE of its codes, once, for readers that stay float. */
  private materialize(v: string | null): void {
    if (!v || this.materialized.has(v)) return;
    const w = this.constDq.get(v);
    if (w) {
      this.materialized.add(v);
      this.constants[v] = dequantized(w);
      return;
    }
    const c = this.coded.get(v);
    if (!c) return;
    this.materialized.add(v);
    this.emit({
      id: this.fresh(`${v}_dequantize`),
      op: "tfl.DEQUANTIZE",
      inputs: [c.codes],
      outputs: [v],
      attrs: {},
      ...(c.from ? { from: c.from } : {}),
    });
    this.values[v] = { type: tensorType("f32", this.shape(c.codes)) };
  }

  /** Codes of `c` with parameters `q`: the same value, or a QUANTIZE (int8 → int8) that requantizes it. */
  private requantized(c: Coded, q: AffineQuant, from: readonly string[] | undefined, into?: string): string {
    if (sameQuant(c.q, q) && !into) return c.codes;
    const out = into ?? this.fresh(`${c.codes}_requantized`);
    this.emit({
      id: this.fresh(`${out}_quantize`),
      op: "tfl.QUANTIZE",
      inputs: [c.codes],
      outputs: [out],
      attrs: {},
      ...(from ? { from } : {}),
    });
    this.declare(out, q, this.shape(c.codes));
    return out;
  }

  private visit(n: Node): void {
    if (n.op === "DequantizeLinear") {
      const src = n.inputs[0];
      if (src && src in this.g.constants) {
        const q = constantDq(this.g, n);
        if (q) {
          this.constDq.set(n.outputs[0], q);
          return;
        }
      } else {
        const q = this.activationQuant(n);
        if (q && src) {
          this.coded.set(n.outputs[0], { codes: this.read(src)!, q, from: n.from ?? [n.id] });
          return;
        }
      }
    } else if (n.op === "QuantizeLinear") {
      const q = this.activationQuant(n);
      const v = n.inputs[0];
      if (q && v && this.staticShape(v)) {
        const out = n.outputs[0];
        const c = this.coded.get(v);
        if (c && sameQuant(c.q, q)) {
          if (c.codes !== out) this.alias.set(out, c.codes);
          return;
        }
        if (c) {
          this.requantized(c, q, n.from ?? [n.id], out);
          return;
        }
        this.materialize(v);
        this.emit({ ...n, op: "tfl.QUANTIZE", inputs: [this.read(v)], attrs: {} });
        this.declare(out, q, this.shape(v));
        return;
      }
    } else if (FORMS[n.op] && this.int8Op(n, FORMS[n.op])) return;
    for (const i of n.inputs) this.materialize(i);
    this.emit({ ...n, inputs: n.inputs.map((i) => this.read(i)) });
  }

  /** The QuantizeLinear users of `v` and their parameters, when every user is one. */
  private quantizedUsers(v: string): AffineQuant[] | undefined {
    if (this.g.outputs.includes(v)) return undefined;
    const users = this.ix.users.get(v) ?? [];
    if (!users.length) return undefined;
    const qs: AffineQuant[] = [];
    for (const u of users) {
      const q = u.op === "QuantizeLinear" && u.inputs[0] === v ? this.activationQuant(u) : undefined;
      if (!q) return undefined;
      qs.push(q);
    }
    return qs;
  }

  /** Emits `n` as an int8 op if its operands and users allow; false leaves it float. */
  private int8Op(n: Node, form: Form): boolean {
    const data = form.data(n);
    const at = resolveAttrs(n);
    const ins = data.map((i) => n.inputs[i]);
    const coded = ins.map((v) => (v ? this.coded.get(v) : undefined));
    const outs = n.outputs;
    if (outs.some((o) => !o || !this.staticShape(o))) return false;
    const users = outs.map((o) => (o ? this.quantizedUsers(o) : undefined));
    const quantizedOut = users.every((u) => u !== undefined);
    let outQ: AffineQuant;
    const inputs: (string | null)[] = n.inputs.map((i) => this.read(i));
    const pending: (() => void)[] = [];
    switch (form.kind) {
      case "move":
      case "same": {
        if (coded.some((c) => !c)) return false;
        if (form.kind === "same" && !quantizedOut) return false;
        if (n.op === "tfl.CONCATENATION") {
          if (at.fused_activation_function !== "NONE") return false;
          outQ = users[0]?.[0] ?? coded[0]!.q;
          data.forEach((i, k) => pending.push(() => (inputs[i] = this.requantized(coded[k]!, outQ, n.from))));
        } else {
          outQ = coded[0]!.q;
          data.forEach((i, k) => (inputs[i] = coded[k]!.codes));
        }
        if (n.op === "tfl.PADV2" && n.inputs[2]) {
          const pad = this.quantizedScalar(n.inputs[2], outQ);
          if (!pad) return false;
          inputs[2] = pad;
        }
        break;
      }
      case "fixed": {
        if (coded.some((c) => !c) || !quantizedOut) return false;
        const [s, z] = FIXED[n.op];
        outQ = int8(s, z);
        data.forEach((i, k) => (inputs[i] = coded[k]!.codes));
        break;
      }
      case "free": {
        if (!quantizedOut) return false;
        outQ = users[0]![0];
        for (const [k, i] of data.entries()) {
          const v = n.inputs[i];
          if (coded[k]) inputs[i] = coded[k]!.codes;
          else if (v && data.length > 1 && this.g.constants[v]?.dtype === "f32") {
            // A constant operand of a binary op: quantized per tensor over its own range.
            inputs[i] = this.quantizedOperand(v);
          } else return false;
        }
        break;
      }
      case "layer": {
        const x = coded[0];
        if (!x || !quantizedOut) return false;
        outQ = users[0]![0];
        const [wi, bi, dim] = LAYER_OPERANDS[n.op];
        const w = this.filter(n.inputs[wi], dim);
        if (!w) return false;
        const channels = this.shape(n.inputs[wi]!)[dim];
        const bias = this.bias(n.inputs[bi] ?? null, x.q.scale[0], w.q, channels);
        if (!bias) return false;
        inputs[data[0]] = x.codes;
        inputs[wi] = w.name;
        if (bi < inputs.length) inputs[bi] = bias;
        else inputs.push(bias);
        break;
      }
    }
    for (const p of pending) p();
    const outputs = outs.map((o, k) => {
      const qs = users[k];
      // The codes take the name of a QuantizeLinear with the same parameters when there is one.
      const same = qs?.findIndex((q) => sameQuant(q, outQ)) ?? -1;
      const name = same >= 0 ? (this.ix.users.get(o) ?? [])[same].outputs[0] : this.fresh(`${o}_int8`);
      this.declare(name, outQ, this.shape(o));
      this.coded.set(o, { codes: name, q: outQ, from: n.from ?? [n.id] });
      return name;
    });
    this.emit({ ...n, inputs, outputs });
    return true;
  }

  /** A float scalar operand as an int8 constant with `q`'s parameters (PADV2's pad value). */
  private quantizedScalar(v: string, q: AffineQuant): string | undefined {
    const c = this.g.constants[v];
    if (!c || c.dtype !== "f32" || c.shape.reduce((p, d) => p * d, 1) !== 1) return undefined;
    const x = constantNumbers(c)[0];
    const code = Math.max(-128, Math.min(127, roundHalfEven(x / q.scale[0]) + q.zeroPoint[0]));
    const name = this.fresh(`${v}_int8`);
    this.constants[name] = { dtype: q, shape: c.shape, bytes: new Uint8Array(Int8Array.of(code).buffer) };
    this.values[name] = { type: tensorType(q, c.shape) };
    return name;
  }

  /** A float constant operand of ADD/SUB/MUL quantized per tensor over its own range. */
  private quantizedOperand(v: string): string {
    const c = this.g.constants[v];
    const x = fromConstant(c).data as Float32Array;
    let lo = 0, hi = 0;
    for (let i = 0; i < x.length; i++) {
      if (x[i] < lo) lo = x[i];
      if (x[i] > hi) hi = x[i];
    }
    const p = activationParams({ lo, hi }, "i8");
    const q = int8(p.scale, p.zeroPoint);
    const codes = new Int8Array(x.length);
    for (let i = 0; i < x.length; i++) {
      codes[i] = Math.max(-128, Math.min(127, roundHalfEven(Math.fround(x[i] / p.scale)) + p.zeroPoint));
    }
    const name = this.fresh(`${v}_int8`);
    this.constants[name] = { dtype: q, shape: c.shape, bytes: new Uint8Array(codes.buffer) };
    this.values[name] = { type: tensorType(q, c.shape) };
    return name;
  }

  /**
   * The int8 filter along quantized dimension `dim`: the codes of a DequantizeLinear when they are
   * symmetric int8 along that dimension (or per tensor), else the float filter quantized per channel.
   */
  private filter(v: string | null, dim: number): { name: string; q: AffineQuant } | undefined {
    if (!v) return undefined;
    const dq = this.constDq.get(v);
    const shape = this.staticShape(v);
    if (!shape || (!dq && !(v in this.g.constants))) return undefined;
    let codes: Int8Array, scale: number[];
    if (
      dq && dq.codes.dtype === "i8" && dq.zeroPoint.every((z) => z === 0) &&
      (dq.axis === undefined || dq.axis === dim)
    ) {
      codes = fromConstant(dq.codes).data as Int8Array;
      scale = [...dq.scale];
    } else {
      const c = dq ? dequantized(dq) : this.g.constants[v];
      if (!c || c.dtype !== "f32") return undefined;
      const wq = quantizeWeightsPerChannel(fromConstant(c).data as Float32Array, shape, dim);
      codes = wq.codes;
      scale = [...wq.scales];
    }
    const q: AffineQuant = {
      kind: "affine",
      storage: "i8",
      scale,
      zeroPoint: scale.map(() => 0),
      ...(scale.length > 1 ? { axis: dim } : {}),
    };
    const name = this.fresh(`${v}_int8`);
    this.constants[name] = {
      dtype: q,
      shape,
      bytes: new Uint8Array(codes.buffer, codes.byteOffset, codes.byteLength),
    };
    this.values[name] = { type: tensorType(q, shape) };
    return { name, q };
  }

  /**
   * The int32 bias with scale s_x·s_w per channel: the codes of a DequantizeLinear when their scales are
   * those (within TFLite's tolerance), else the float bias (or zeros) quantized to them.
   */
  private bias(v: string | null, sx: number, w: AffineQuant, channels: number): string | undefined {
    const want = Array.from(
      { length: channels },
      (_, c) => Math.fround(sx * w.scale[w.scale.length === 1 ? 0 : c]),
    );
    const dq = v ? this.constDq.get(v) : undefined;
    let codes: Int32Array | undefined;
    if (dq && dq.codes.dtype === "i32" && dq.zeroPoint.every((z) => z === 0)) {
      const fits = want.every((s, c) => Math.abs(dq.scale[dq.scale.length === 1 ? 0 : c] - s) <= 1e-6 * s);
      if (fits) codes = fromConstant(dq.codes).data as Int32Array;
    }
    if (!codes) {
      codes = new Int32Array(channels);
      if (v) {
        const c = dq ? dequantized(dq) : this.g.constants[v];
        if (!c || c.dtype !== "f32" || c.shape.reduce((p, d) => p * d, 1) !== channels) return undefined;
        const b = fromConstant(c).data as Float32Array;
        for (let i = 0; i < channels; i++) {
          const r = want[i] > 0 ? roundHalfEven(b[i] / want[i]) : 0;
          codes[i] = Math.max(-2147483648, Math.min(2147483647, r));
        }
      }
    }
    const q: AffineQuant = {
      kind: "affine",
      storage: "i32",
      scale: w.scale.length === 1 ? [want[0]] : want,
      zeroPoint: w.scale.length === 1 ? [0] : want.map(() => 0),
      ...(w.scale.length > 1 ? { axis: 0 } : {}),
    };
    const name = this.fresh(v ? `${v}_int32` : "bias_int32");
    this.constants[name] = {
      dtype: q,
      shape: [channels],
      bytes: new Uint8Array(codes.buffer, codes.byteOffset, codes.byteLength),
    };
    this.values[name] = { type: tensorType(q, [channels]) };
    return name;
  }
}

/** Drops constants and value types nothing refers to any more (the float weights the codes replaced). */
function pruneUnused(g: Graph): Graph {
  const live = new Set<string>([...g.inputs, ...g.outputs]);
  for (const n of g.nodes) {
    for (const i of n.inputs) if (i) live.add(i);
    for (const o of n.outputs) if (o) live.add(o);
  }
  const constants: Record<string, Constant> = {};
  for (const [k, c] of Object.entries(g.constants)) if (live.has(k)) constants[k] = c;
  const values: Record<string, ValueInfo> = {};
  for (const [k, v] of Object.entries(g.values)) if (live.has(k)) values[k] = v;
  return { ...g, constants, values };
}
