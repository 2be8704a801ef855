/**
 * The power-of-two layers PoTAcc takes, as one GEMM each: lathe.ShiftConv (the PoT form of a convolution,
 * CONV_2D in the accelerator's terms) and lathe.ShiftMatMul (FULLY_CONNECTED), as the quantize pass writes
 * them (passes/quantize/pot.ts): 8-bit activation codes with a constant scale and zero point, 4-bit weight
 * codes whose decode table is the graph's `terms`, an f32 epilogue (per-channel scale, f32 bias).
 *
 * A layer is accepted when its codes decode as the v12 shift PE decodes them (the potacc-v12 table of its
 * method, pot-tables.ts), its convolution is one dense GEMM, and its tiles fit the buffers; a refusal names
 * what failed.
 */
import type { Constant } from "../../ir/constant.ts";
import { constantNumbers } from "../../ir/constant-values.ts";
import type { DType, PotQuant } from "../../ir/dtype.ts";
import { printDType, storageOf } from "../../ir/dtype.ts";
import type { Graph, Node } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import { convGeometry } from "../../ir/ops/quantize.ts";
import { isStaticShape, type TensorType } from "../../ir/value-type.ts";
import { type PotMethod, potTable, termsAttr } from "../../passes/quantize/pot-tables.ts";
import { fromConstant } from "../../runtime/tensor.ts";
import type { Window } from "../secda/gemm-lowering.ts";
import { POTACC_TABLE_VERSION, SHIFT_PES } from "./descriptor.ts";

/** Y = epilogue(Σ_k pe(X[m, k] − zp, W[n, k])) for an m × k activation and n × k 4-bit codes. */
export interface PotLayer {
  readonly node: Node;
  readonly kind: "conv" | "matmul";
  readonly input: string;
  readonly xType: TensorType;
  /** The activation's zero point as a code of its own type. */
  readonly xZero: number;
  /** u8 activations are re-centred to the PE's signed int8 on the host. */
  readonly recenter: boolean;
  /** Convolutions read NCHW and are windowed unless 1×1, stride 1, unpadded. */
  readonly window?: Window;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** [n, k] codes, one per byte, k in im2col order (tap-major, channel-minor). */
  readonly codes: Uint8Array;
  readonly method: PotMethod;
  /** f32(x_scale · w_scale[n]) per output channel. */
  readonly scale: Float32Array;
  readonly bias: string | null;
  /** The call's int32 result ([N, OH, OW, M] or the rows' leading dims × n) and the node's own output. */
  readonly callShape: readonly number[];
  readonly outShape: readonly number[];
  readonly output: string;
}

function tensorOf(g: Graph, v: string | null | undefined): TensorType | undefined {
  const t = v ? g.values[v]?.type : undefined;
  return t?.kind === "tensor" ? t : undefined;
}

function scalarConstant(g: Graph, v: string | null | undefined, what: string): number | string {
  const c = v ? g.constants[v] : undefined;
  if (!c || g.inputs.includes(v!)) return `${what} is not a constant`;
  const vals = constantNumbers(c);
  if (vals.length !== 1) return `${what} must be one value, has ${vals.length}`;
  return vals[0];
}

function sameTerms(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Which method and decode the layer's codes need, or why the v12 PE cannot compute them. */
function potWeights(
  node: Node,
  g: Graph,
  wName: string | null | undefined,
  only: PotMethod | undefined,
): { c: Constant; q: PotQuant; method: PotMethod } | string {
  const c = wName ? g.constants[wName] : undefined;
  if (!c) return "the weights are not a constant";
  const q = c.dtype as DType;
  if (typeof q === "string" || q.kind !== "pot") {
    return `the weights are ${printDType(q)}, not power-of-two codes`;
  }
  if (q.bits !== 4) return `${q.bits}-bit codes; the PE reads 4-bit codes (WEIGHT_WIDTH 4)`;
  const method = q.method as PotMethod;
  if (!(method in SHIFT_PES)) return `method ${q.method} has no shift PE (QKeras pot, MSQ msq, APoT apot)`;
  const spec = SHIFT_PES[method];
  if (only && method !== only) {
    return `the bitstream is built for ${SHIFT_PES[only].label} (${
      SHIFT_PES[only].define
    }); this layer's codes are ${spec.label}`;
  }
  const table = potTable(method, POTACC_TABLE_VERSION);
  const terms = resolveAttrs(node).terms as number[];
  if (!sameTerms(terms, termsAttr(table))) {
    return `the codes were quantized for another decode table (terms [${terms}]); the v12 ${spec.label} PE decodes ${table.name} [${
      termsAttr(table)
    }]`;
  }
  if (q.axis !== undefined && q.axis !== 0) return "weight scales must be per output channel (axis 0)";
  return { c, q, method };
}

/** lathe.ShiftConv or lathe.ShiftMatMul as one PoTAcc GEMM, or why not. */
export function describePotLayer(node: Node, g: Graph, only?: PotMethod): PotLayer | string {
  const conv = node.op === "lathe.ShiftConv";
  const [xName, sName, zName, wName, bName] = node.inputs;
  const xT = tensorOf(g, xName), yT = tensorOf(g, node.outputs[0]);
  if (!xT || !isStaticShape(xT.shape)) return "the activation has no static shape";
  if (!yT || !isStaticShape(yT.shape)) return "the output has no static shape";
  const xs = storageOf(xT.dtype);
  if (xs !== "u8" && xs !== "i8") {
    return `the activation is ${printDType(xT.dtype)}; the PE reads 8-bit codes (ACTIVATION_WIDTH 8)`;
  }
  const sx = scalarConstant(g, sName, conv ? "x_scale" : "a_scale");
  if (typeof sx === "string") return sx;
  const zx = scalarConstant(g, zName, conv ? "x_zero_point" : "a_zero_point");
  if (typeof zx === "string") return zx;
  const w = potWeights(node, g, wName, only);
  if (typeof w === "string") return w;
  if (bName) {
    const bc = g.constants[bName];
    if (!bc || g.inputs.includes(bName)) return "the bias is not a constant";
    if (bc.dtype !== "f32") return `the bias is ${printDType(bc.dtype)}, expected f32`;
  }
  const wShape = w.c.shape;
  const n = wShape[0];
  if (w.q.scale.length !== 1 && w.q.scale.length !== n) {
    return `${w.q.scale.length} weight scales for ${n} channels`;
  }
  const scale = new Float32Array(n);
  for (let i = 0; i < n; i++) scale[i] = Math.fround(sx * w.q.scale[w.q.scale.length === 1 ? 0 : i]);
  const raw = fromConstant(w.c).data as Uint8Array;
  if (raw.length !== wShape.reduce((p, d) => p * d, 1)) {
    return "the weight constant's codes do not fill its shape";
  }
  const xShape = xT.shape as number[], outShape = yT.shape as number[];
  const base = {
    node,
    input: xName!,
    xType: xT,
    xZero: zx,
    recenter: xs === "u8",
    method: w.method,
    scale,
    bias: bName ?? null,
    outShape,
    output: node.outputs[0],
  };
  if (!conv) {
    if (wShape.length !== 2) return "ShiftMatMul weights must be [N, K]";
    const k = wShape[1];
    if (xShape[xShape.length - 1] !== k) return `the activation's last dimension is not K = ${k}`;
    const m = xShape.reduce((p, d) => p * d, 1) / k;
    return { ...base, kind: "matmul", m, n, k, codes: raw, callShape: [...xShape.slice(0, -1), n] };
  }
  const at = resolveAttrs(node);
  if (at.group !== 1) {
    return `group ${at.group} convolution is not one GEMM; the shift PEs take dense CONV_2D`;
  }
  if (xShape.length !== 4 || wShape.length !== 4) {
    return "only 2-D convolutions (NCHW, [M, C, kH, kW]) are lowered";
  }
  const [N, C, H, W] = xShape, [, Cw, KH, KW] = wShape;
  if (Cw !== C) return `the filter takes ${Cw} channels, the input has ${C}`;
  let geo;
  try {
    geo = convGeometry([H, W], [KH, KW], at);
  } catch (e) {
    return String((e as { reason?: string }).reason ?? e);
  }
  const [OH, OW] = geo.outSize;
  const pads = [
    geo.padBegin[0],
    geo.padBegin[1],
    (OH - 1) * geo.strides[0] + (KH - 1) * geo.dilations[0] + 1 -
    H - geo.padBegin[0],
    (OW - 1) * geo.strides[1] + (KW - 1) * geo.dilations[1] + 1 - W - geo.padBegin[1],
  ];
  // A window that ends before the padded edge needs no padding after it.
  const window: Window = {
    kernel: [KH, KW],
    strides: [geo.strides[0], geo.strides[1]],
    dilations: [geo.dilations[0], geo.dilations[1]],
    pads: [pads[0], pads[1], Math.max(0, pads[2]), Math.max(0, pads[3])],
  };
  const pointwise = KH === 1 && KW === 1 && window.strides.every((s) => s === 1) &&
    window.pads.every((p) => p === 0);
  // OIHW codes to rows of K = KH·KW·C in im2col order.
  const K = KH * KW * C, taps = KH * KW;
  const codes = new Uint8Array(n * K);
  for (let o = 0; o < n; o++) {
    for (let c = 0; c < C; c++) {
      for (let t = 0; t < taps; t++) codes[o * K + t * C + c] = raw[(o * C + c) * taps + t];
    }
  }
  return {
    ...base,
    kind: "conv",
    window: pointwise ? undefined : window,
    m: N * OH * OW,
    n,
    k: K,
    codes,
    callShape: [N, OH, OW, n],
  };
}
