/**
 * Lowering a convolution or fully connected layer to a SECDA GEMM call (accelerators.md §1.0 host
 * preparation): the activation becomes rows (lathe.Im2Col with the input zero point as the border code),
 * is padded to the design's row and depth multiples (lathe.PadTo), summed per row when the weights have a
 * zero point (lathe.ZeroPointSums, pre-scaled by −zp_w as the VM driver pre-scales input sums), and packed
 * four codes per word over the DMA lanes (lathe.LaneInterleave). What depends only on constants is done
 * at compile time: the weights padded and lane-interleaved into words, the bias with the gemmlowp
 * zero-point terms folded in, bias'[n] = bias[n] − zp_x·Σ_k w[n,k] + K·zp_x·zp_w, and the per-channel
 * requantization multipliers and shifts TFLite's Prepare would compute (PopulateConvolutionQuantization
 * Params, runtime/tflite/requantize.ts). The offloaded node's output keeps its name, so every user and
 * every comparison against the unpartitioned graph still finds it.
 *
 * Two requantizations: TFLite layers use the accelerator's PPU (TFLite's fixed-point arithmetic); ONNX
 * QLinearConv layers requantize with a float32 scale (onnxruntime's arithmetic), which that PPU does not
 * compute, so their call returns int32 accumulators and the host requantizes (lathe.RequantizeF32).
 */
import type { Attr } from "../../ir/attr.ts";
import { type Constant, constantBytes } from "../../ir/constant.ts";
import { constantNumbers } from "../../ir/constant-values.ts";
import type { AffineQuant, DType } from "../../ir/dtype.ts";
import { printDType, storageOf } from "../../ir/dtype.ts";
import type { Graph, Node, ValueInfo } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import { windowAxis } from "../../ir/ops/tflite-geometry.ts";
import { isStaticShape, type TensorType, tensorType } from "../../ir/value-type.ts";
import {
  activationRangeQuantized,
  integerArithmetic,
  legacyConvMultiplier,
  perChannelMultipliers,
} from "../../runtime/tflite/requantize.ts";
import type { GuardResult, Lowering, NameSource } from "../target.ts";
import { type GemmDesign, type GemmDims } from "./gemm-program.ts";

export interface Window {
  readonly kernel: readonly [number, number];
  readonly strides: readonly [number, number];
  readonly dilations: readonly [number, number];
  /** top, left, bottom, right */
  readonly pads: readonly [number, number, number, number];
}

type Requant =
  | {
    readonly kind: "tflite";
    readonly multiplier: Int32Array;
    readonly shift: Int32Array;
    readonly zero: number;
    readonly lo: number;
    readonly hi: number;
  }
  | { readonly kind: "f32"; readonly scale: Float32Array; readonly zeroPoint: string };

/** A layer as one GEMM: Y[m, n] = requant(Σ_k (X[m,k] − zp_x)(W[n,k] − zp_w) + bias[n]). */
export interface GemmLayer {
  readonly node: Node;
  readonly input: string;
  /** NHWC activation (windowed unless `window` is absent), NCHW (transposed first), or plain rows of k. */
  readonly layout: "nhwc" | "nchw" | "rows";
  readonly window?: Window;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly xZero: number;
  readonly xSigned: boolean;
  /** [n, k] codes, k in im2col order (tap-major, channel-minor). */
  readonly weights: Int8Array | Uint8Array;
  readonly wZero: number;
  readonly wSigned: boolean;
  readonly bias?: Int32Array;
  readonly requant: Requant;
  /** The result as the call produces it (NHWC, or [rows, n]) and the node's own output. */
  readonly callType: TensorType;
  readonly output: string;
}

const ACTIVATIONS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"];

function affine8(t: TensorType | undefined, what: string, types: readonly string[]): AffineQuant | string {
  if (!t) return `${what} has no tensor type`;
  const d = t.dtype;
  if (typeof d === "string" || d.kind !== "affine") {
    return `${what} is ${printDType(d)}; the datapath takes 8-bit affine codes (${types.join(", ")})`;
  }
  if (!types.includes(d.storage)) return `${what} is ${d.storage}; the datapath takes ${types.join(", ")}`;
  return d;
}

function tensorOf(g: Graph, v: string | null | undefined): TensorType | undefined {
  const t = v ? g.values[v]?.type : undefined;
  return t?.kind === "tensor" ? t : undefined;
}

function staticShapeOf(t: TensorType | undefined, what: string): number[] | string {
  if (!t || !isStaticShape(t.shape)) return `${what} has no static shape`;
  return [...t.shape];
}

function codesOf(c: Constant): Int8Array | Uint8Array {
  const b = constantBytes(c);
  return storageOf(c.dtype) === "i8" ? new Int8Array(b.buffer, b.byteOffset, b.byteLength) : b;
}

function int32sOf(c: Constant): Int32Array {
  const b = constantBytes(c);
  if (b.byteOffset % 4 === 0) return new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  return new Int32Array(b.slice().buffer);
}

function arithmeticGuard(): GuardResult {
  const a = integerArithmetic();
  return a === "double-rounding"
    ? true
    : `the PPU computes TFLite's default double-rounding requantization; the runtime is set to ${a} arithmetic`;
}

/** tfl.CONV_2D or tfl.FULLY_CONNECTED as a GEMM, or why not. */
export function tflGemm(node: Node, g: Graph, types: readonly string[]): GemmLayer | string {
  const at = resolveAttrs(node);
  const conv = node.op === "tfl.CONV_2D";
  const xT = tensorOf(g, node.inputs[0]), wT = tensorOf(g, node.inputs[1]), yT = tensorOf(g, node.outputs[0]);
  const xq = affine8(xT, "the input", types);
  if (typeof xq === "string") return xq;
  const wq = affine8(wT, "the filter", types);
  if (typeof wq === "string") return wq;
  const yq = affine8(yT, "the output", types);
  if (typeof yq === "string") return yq;
  if (xq.storage !== wq.storage) {
    return `${xq.storage} input with ${wq.storage} filter is not a TFLite 8-bit kernel`;
  }
  if (xq.scale.length !== 1 || yq.scale.length !== 1) return "input and output must be quantized per tensor";
  if (!ACTIVATIONS.includes(at.fused_activation_function)) {
    return `fused activation ${at.fused_activation_function} has no PPU clamp`;
  }
  const arith = arithmeticGuard();
  if (arith !== true) return arith;
  const wc = g.constants[node.inputs[1]!];
  const bName = node.inputs[2];
  const bc = bName ? g.constants[bName] : undefined;
  if (bName && !bc) return "the bias is not a constant";
  if (bc && storageOf(bc.dtype) !== "i32") {
    return `the bias is ${printDType(bc.dtype)}; the accelerator adds int32 biases`;
  }
  const xs = staticShapeOf(xT, "the input"),
    ws = staticShapeOf(wT, "the filter"),
    ys = staticShapeOf(yT, "the output");
  for (const s of [xs, ws, ys]) if (typeof s === "string") return s;
  const [xShape, wShape, yShape] = [xs as number[], ws as number[], ys as number[]];
  const wSigned = wq.storage === "i8";
  let window: Window | undefined, m: number, k: number, n: number, layout: GemmLayer["layout"];
  if (conv) {
    if (xShape.length !== 4 || wShape.length !== 4) return "CONV_2D needs NHWC input and OHWI filter";
    const [N, H, W, C] = xShape, [O, KH, KW, Cf] = wShape;
    if (Cf !== C) return `grouped convolution (input ${C} channels, filter ${Cf} per group) is not one GEMM`;
    const ay = windowAxis(at.padding, H, KH, at.stride_h, at.dilation_h_factor);
    const ax = windowAxis(at.padding, W, KW, at.stride_w, at.dilation_w_factor);
    window = {
      kernel: [KH, KW],
      strides: [at.stride_h, at.stride_w],
      dilations: [at.dilation_h_factor, at.dilation_w_factor],
      pads: [ay.padBefore, ax.padBefore, ay.padAfter, ax.padAfter],
    };
    if (
      KH === 1 && KW === 1 && at.stride_h === 1 && at.stride_w === 1 &&
      ay.padBefore + ay.padAfter + ax.padBefore + ax.padAfter === 0
    ) window = undefined;
    m = N * ay.out * ax.out;
    n = O;
    k = KH * KW * C;
    layout = window ? "nhwc" : "rows";
  } else {
    if (at.weights_format !== "DEFAULT") return `weights_format ${at.weights_format} is not a plain matrix`;
    if (wShape.length !== 2) return "FULLY_CONNECTED weights must be [units, depth]";
    [n, k] = wShape;
    const total = xShape.reduce((p, d) => p * d, 1);
    if (k === 0 || total % k !== 0) return `${total} input elements are not rows of ${k}`;
    m = total / k;
    layout = "rows";
  }
  // TFLite subtracts a filter zero point for uint8 convolutions and for every FULLY_CONNECTED.
  const wZero = conv
    ? (wq.storage === "u8" ? wq.zeroPoint[0] : 0)
    : wq.zeroPoint.length === 1
    ? wq.zeroPoint[0]
    : 0;
  if (wq.scale.length !== 1 && (wq.scale.length !== n || (wq.axis ?? 0) !== 0)) {
    return `filter scales are not per output channel (${wq.scale.length} for ${n})`;
  }
  let multiplier: Int32Array, shift: Int32Array;
  if ((conv ? xq.storage === "u8" : true) && wq.scale.length === 1) {
    const q = legacyConvMultiplier(xq.scale[0], wq.scale[0], yq.scale[0]);
    multiplier = new Int32Array(n).fill(q.multiplier);
    shift = new Int32Array(n).fill(q.shift);
  } else ({ multiplier, shift } = perChannelMultipliers(xq.scale[0], wq.scale, yq.scale[0], n));
  const [lo, hi] = activationRangeQuantized(at.fused_activation_function, yq);
  return {
    node,
    input: node.inputs[0]!,
    layout,
    window,
    m,
    n,
    k,
    xZero: xq.zeroPoint[0],
    xSigned: xq.storage === "i8",
    weights: codesOf(wc),
    wZero,
    wSigned,
    bias: bc ? int32sOf(bc) : undefined,
    requant: { kind: "tflite", multiplier, shift, zero: yq.zeroPoint[0], lo, hi },
    callType: tensorType(yT!.dtype, yShape),
    output: node.outputs[0],
  };
}

/** ONNX QLinearConv (NCHW, group 1, constant quantization parameters) as a GEMM, or why not. */
export function qlinearConvGemm(node: Node, g: Graph, types: readonly string[]): GemmLayer | string {
  const at = resolveAttrs(node);
  const ins = node.inputs;
  const xT = tensorOf(g, ins[0]), wT = tensorOf(g, ins[3]), yT = tensorOf(g, node.outputs[0]);
  const code = (t: TensorType | undefined, what: string) => {
    const s = t && typeof t.dtype === "string" ? t.dtype : undefined;
    return s && types.includes(s)
      ? s
      : `${what} is ${t ? printDType(t.dtype) : "untyped"}; the datapath takes ${types.join(", ")}`;
  };
  const xs = code(xT, "x"), wsd = code(wT, "w"), ysd = code(yT, "y");
  for (const r of [xs, wsd, ysd]) if (!types.includes(r)) return r;
  if (at.group !== 1) return `group ${at.group} convolution is not one GEMM`;
  if (at.auto_pad !== "NOTSET" && at.auto_pad !== "VALID") return `auto_pad ${at.auto_pad} is not lowered`;
  const consts = [1, 2, 3, 4, 5, 6, 7].map((i) => (ins[i] ? g.constants[ins[i]!] : undefined));
  const names = ["x_scale", "x_zero_point", "w", "w_scale", "w_zero_point", "y_scale", "y_zero_point"];
  for (let i = 0; i < consts.length; i++) if (!consts[i]) return `${names[i]} is not a constant`;
  const [xsC, xzC, wC, wsC, wzC, ysC] = consts as Constant[];
  const bc = ins[8] ? g.constants[ins[8]!] : undefined;
  if (ins[8] && !bc) return "B is not a constant";
  if (bc && bc.dtype !== "i32") return `B is ${printDType(bc.dtype)}, expected i32`;
  const xShape = staticShapeOf(xT, "x"), wShape = staticShapeOf(wT, "w"), yShape = staticShapeOf(yT, "y");
  for (const s of [xShape, wShape, yShape]) if (typeof s === "string") return s;
  const [N, C] = xShape as number[], [O, Cw, KH, KW] = wShape as number[], [, , OH, OW] = yShape as number[];
  if ((xShape as number[]).length !== 4 || (wShape as number[]).length !== 4) {
    return "only 2-D convolutions are lowered";
  }
  if (Cw !== C) return `filter takes ${Cw} channels, input has ${C}`;
  const wz = constantNumbers(wzC);
  if (wz.some((z) => z !== wz[0])) {
    return "per-channel weight zero points need per-channel row sums, which the design lacks";
  }
  const xScale = constantNumbers(xsC), yScale = constantNumbers(ysC), wScale = constantNumbers(wsC);
  if (xScale.length !== 1 || yScale.length !== 1 || constantNumbers(xzC).length !== 1) {
    return "x and y must be quantized per tensor";
  }
  if (wScale.length !== 1 && wScale.length !== O) return `${wScale.length} weight scales for ${O} channels`;
  const pads = (at.pads as number[]).length ? at.pads as number[] : [0, 0, 0, 0];
  const strides = (at.strides as number[]).length ? at.strides as number[] : [1, 1];
  const dil = (at.dilations as number[]).length ? at.dilations as number[] : [1, 1];
  // OIHW filter to rows of K = KH·KW·C in im2col order (tap-major, channel-minor).
  const src = codesOf(wC);
  const wRows = wsd === "i8" ? new Int8Array(O * KH * KW * C) : new Uint8Array(O * KH * KW * C);
  for (let o = 0; o < O; o++) {
    for (let c = 0; c < C; c++) {
      for (let t = 0; t < KH * KW; t++) wRows[(o * KH * KW + t) * C + c] = src[(o * C + c) * KH * KW + t];
    }
  }
  const f = Math.fround;
  const scale = new Float32Array(O);
  for (let o = 0; o < O; o++) scale[o] = f(f(xScale[0] * wScale[wScale.length === 1 ? 0 : o]) / yScale[0]);
  // A 1x1, stride-1, unpadded window is the NHWC activation itself, row by row.
  const pointwise = KH === 1 && KW === 1 && strides.every((v) => v === 1) && pads.every((v) => v === 0);
  return {
    node,
    input: ins[0]!,
    layout: "nchw",
    window: pointwise ? undefined : {
      kernel: [KH, KW],
      strides: [strides[0], strides[1]],
      dilations: [dil[0], dil[1]],
      pads: [pads[0], pads[1], pads[2], pads[3]],
    },
    m: N * OH * OW,
    n: O,
    k: KH * KW * C,
    xZero: constantNumbers(xzC)[0],
    xSigned: xs === "i8",
    weights: wRows,
    wZero: wz[0],
    wSigned: wsd === "i8",
    bias: bc ? int32sOf(bc) : undefined,
    requant: { kind: "f32", scale, zeroPoint: ins[7]! },
    callType: tensorType("i32", [N, OH, OW, O]),
    output: node.outputs[0],
  };
}

export const ceilTo = (v: number, m: number) => Math.ceil(v / m) * m;

/** The GEMM dimensions a layer has on a design (padded sizes included). */
export function layerDims(design: GemmDesign, l: GemmLayer): GemmDims {
  const { pad, dma } = design.params;
  const lo = l.requant.kind === "tflite" ? l.requant.lo : 0,
    hi = l.requant.kind === "tflite" ? l.requant.hi : 0;
  return {
    m: l.m,
    n: l.n,
    k: l.k,
    mp: ceilTo(l.m, pad.rows),
    np: ceilTo(l.n, pad.cols),
    kp: ceilTo(l.k, pad.depth),
    lanes: dma.lanes,
    xSigned: l.xSigned,
    wSigned: l.wSigned,
    ppu: l.requant.kind === "tflite",
    sums: l.wZero !== 0,
    zpOut: l.requant.kind === "tflite" ? l.requant.zero : 0,
    actMin: lo,
    actMax: hi,
  };
}

/** Whether the layer's tiles fit the design's buffers. */
export function fitGuard(design: GemmDesign, l: GemmLayer): GuardResult {
  const t = design.tiles(layerDims(design, l));
  return typeof t === "string" ? t : true;
}

/** Rows of `cols` codes padded to rowsP × colsP and interleaved over lanes, as 32-bit words. */
export function packLanes(
  codes: Int8Array | Uint8Array,
  rows: number,
  cols: number,
  rowsP: number,
  colsP: number,
  lanes: number,
): Uint32Array {
  const perLane = Math.ceil(rowsP / lanes);
  const out = new Uint32Array(lanes * perLane * (colsP / 4));
  const bytes = new Uint8Array(out.buffer);
  const src = new Uint8Array(codes.buffer, codes.byteOffset, codes.byteLength);
  for (let r = 0; r < rows; r++) {
    bytes.set(
      src.subarray(r * cols, (r + 1) * cols),
      ((r % lanes) * perLane + Math.floor(r / lanes)) * colsP,
    );
  }
  return out;
}

/** bias[n] − zp_x·Σ_k w[n,k] + K·zp_x·zp_w, in int32 as the accelerator adds it, padded to np. */
export function foldedBias(l: GemmLayer, np: number): Int32Array {
  const out = new Int32Array(np);
  const K = l.k, w = l.weights;
  const kzz = Math.imul(Math.imul(K, l.xZero), l.wZero);
  for (let o = 0; o < l.n; o++) {
    let s = 0;
    for (let i = o * K, e = i + K; i < e; i++) s += w[i];
    out[o] = ((l.bias ? l.bias[o] : 0) - Math.imul(l.xZero, s) + kzz) | 0;
  }
  return out;
}

const i32Constant = (v: Int32Array): Constant => ({
  dtype: "i32",
  shape: [v.length],
  bytes: new Uint8Array(v.buffer, v.byteOffset, v.byteLength),
});

/** Host preparation nodes, the packed constants and the call that replace the layer. */
export function lowerGemmLayer(design: GemmDesign, l: GemmLayer, g: Graph, names: NameSource): Lowering {
  const d = layerDims(design, l);
  const target = design.params.name;
  const id = l.node.id;
  const nodes: Node[] = [];
  const constants: Record<string, Constant> = {};
  const values: Record<string, ValueInfo> = {};
  const from = l.node.from ?? [id];
  const inType = tensorOf(g, l.input)!;
  const emit = (
    op: string,
    inputs: (string | null)[],
    attrs: Record<string, Attr>,
    type: TensorType,
    name?: string,
  ): string => {
    const out = name ?? names.value(`${id}/${op.slice(op.indexOf(".") + 1).toLowerCase()}`);
    nodes.push({
      id: names.node(`${id}/${op.slice(op.indexOf(".") + 1)}`),
      op,
      inputs,
      outputs: [out],
      attrs,
      from,
    });
    values[out] = { type };
    return out;
  };
  const ints = (v: readonly number[]): Attr => ({ type: "ints", value: v });
  const int = (v: number): Attr => ({ type: "int", value: v });
  const codeType: DType = inType.dtype;
  let rows = l.input;
  if (l.layout === "nchw") {
    const [N, C, H, W] = inType.shape as number[];
    rows = emit("Transpose", [rows], { perm: ints([0, 2, 3, 1]) }, tensorType(codeType, [N, H, W, C]));
  }
  if (l.window) {
    const w = l.window;
    rows = emit("lathe.Im2Col", [rows], {
      kernel: ints(w.kernel),
      strides: ints(w.strides),
      dilations: ints(w.dilations),
      pads: ints(w.pads),
      fill: int(l.xZero),
    }, tensorType(codeType, [l.m, l.k]));
  }
  let cols = l.k;
  if (d.mp !== l.m || d.kp !== l.k) {
    rows = emit("lathe.PadTo", [rows], {
      cols: int(l.k),
      row_multiple: int(design.params.pad.rows),
      col_multiple: int(design.params.pad.depth),
      value: int(0),
    }, tensorType(codeType, [d.mp, d.kp]));
  }
  cols = d.kp;
  const sums = d.sums
    ? emit(
      "lathe.ZeroPointSums",
      [rows],
      { cols: int(cols), multiplier: int(-l.wZero) },
      tensorType("i32", [d.mp]),
    )
    : null;
  const lanes = d.lanes;
  const packed = emit(
    "lathe.LaneInterleave",
    [rows],
    { lanes: int(lanes), cols: int(cols) },
    tensorType("u32", [lanes, Math.ceil(d.mp / lanes) * (d.kp / 4)]),
  );
  const constant = (hint: string, c: Constant) => {
    const name = names.value(`${id}/${hint}`);
    constants[name] = c;
    values[name] = { type: tensorType(c.dtype, c.shape) };
    return name;
  };
  const wWords = packLanes(l.weights, l.n, l.k, d.np, d.kp, lanes);
  const wName = constant("weights.packed", {
    dtype: "u32",
    shape: [lanes, wWords.length / lanes],
    bytes: new Uint8Array(wWords.buffer),
  });
  const bName = constant("bias.folded", i32Constant(foldedBias(l, d.np)));
  let mName: string | null = null, sName: string | null = null;
  if (l.requant.kind === "tflite") {
    const mult = new Int32Array(d.np), shift = new Int32Array(d.np);
    mult.set(l.requant.multiplier);
    shift.set(l.requant.shift);
    mName = constant("requant.multiplier", i32Constant(mult));
    sName = constant("requant.shift", i32Constant(shift));
  }
  const finalName = l.layout === "nchw" ? undefined : l.output;
  const callAttrs: Record<string, Attr> = {
    target: { type: "string", value: target },
    kernel: { type: "string", value: "gemm" },
    program: { type: "string", value: id },
    out_type: { type: "type", value: l.callType },
    m: int(d.m),
    n: int(d.n),
    k: int(d.k),
    mp: int(d.mp),
    np: int(d.np),
    kp: int(d.kp),
    lanes: int(lanes),
    x_signed: int(d.xSigned ? 1 : 0),
    w_signed: int(d.wSigned ? 1 : 0),
    ppu: { type: "string", value: d.ppu ? "tflite" : "none" },
    sums: int(d.sums ? 1 : 0),
    zp_out: int(d.zpOut),
    act_min: int(d.actMin),
    act_max: int(d.actMax),
  };
  const callId = names.node(`${id}/AccelCall`);
  const callOut = finalName ?? names.value(`${id}/acc`);
  nodes.push({
    id: callId,
    op: "lathe.AccelCall",
    inputs: [packed, wName, bName, mName, sName, sums],
    outputs: [callOut],
    attrs: callAttrs,
    from,
  });
  values[callOut] = { type: l.callType };
  if (l.requant.kind === "f32") {
    const [N, OH, OW, O] = l.callType.shape as number[];
    const zpType = tensorOf(g, l.requant.zeroPoint)!.dtype;
    const sc = constant("requant.scale", {
      dtype: "f32",
      shape: [O],
      bytes: new Uint8Array(l.requant.scale.buffer.slice(0)),
    });
    const q = emit(
      "lathe.RequantizeF32",
      [callOut, sc, l.requant.zeroPoint],
      {},
      tensorType(zpType, [N, OH, OW, O]),
    );
    emit("Transpose", [q], { perm: ints([0, 3, 1, 2]) }, tensorType(zpType, [N, O, OH, OW]), l.output);
  }
  return { nodes, constants, values, call: callId };
}
