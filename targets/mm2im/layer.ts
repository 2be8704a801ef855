/**
 * A TFLite int8 TRANSPOSE_CONV as MM2IM sees it: the MatMul of every input pixel's depth with the
 * O·KS·KS weight columns, fused with col2IM through the index map. The description checks what the
 * delegate (IsNodeSupportedByDelegate: int8 input and filter, int32 output shape and bias) and the
 * accelerator's buffers (SUP_KS, SUP_WGT_KS·SUP_DEPTH, SUP_DEPTH, PE_ACC_BUF_SIZE) accept, and says which
 * limit a refusal hit.
 */
import type { Constant } from "../../ir/constant.ts";
import { constantBytes } from "../../ir/constant.ts";
import { constantNumbers } from "../../ir/constant-values.ts";
import type { AffineQuant } from "../../ir/dtype.ts";
import { printDType, storageOf } from "../../ir/dtype.ts";
import type { Graph, Node } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import type { Col2ImGeometry } from "../../ir/ops/accel.ts";
import { windowAxis } from "../../ir/ops/tflite-geometry.ts";
import { isStaticShape, type TensorType } from "../../ir/value-type.ts";
import { integerArithmetic, perChannelMultipliers } from "../../runtime/tflite/requantize.ts";
import {
  PE_ACC_BUF_SIZE,
  PE_INPROWBUF_SIZE,
  PE_POUTDEXBUF_SIZE,
  PE_WGTCOLBUF_SIZE,
  SUP_DEPTH,
  SUP_KS,
  SUP_WGT_KS,
  UF,
} from "./descriptor.ts";

export interface TconvLayer {
  readonly node: Node;
  readonly input: string;
  readonly inType: TensorType;
  readonly outType: TensorType;
  readonly batch: number;
  readonly channels: number;
  readonly filters: number;
  readonly geo: Col2ImGeometry;
  readonly xZero: number;
  readonly outZero: number;
  /** [O, KS, KS, C] int8 codes. */
  readonly weights: Int8Array;
  readonly bias?: Int32Array;
  readonly multiplier: Int32Array;
  readonly shift: Int32Array;
  readonly output: string;
}

function tensorOf(g: Graph, v: string | null | undefined): TensorType | undefined {
  const t = v ? g.values[v]?.type : undefined;
  return t?.kind === "tensor" ? t : undefined;
}

function int8Affine(t: TensorType | undefined, what: string): AffineQuant | string {
  if (!t) return `${what} has no tensor type`;
  const d = t.dtype;
  if (typeof d === "string" || d.kind !== "affine" || d.storage !== "i8") {
    return `${what} is ${printDType(d)}; MM2IM takes int8 (TFLite int8 TRANSPOSE_CONV)`;
  }
  return d;
}

/** The layer's padded depth, weight-column rows per PE and the limits they must stay within, or the first one broken. */
export function mm2imLimits(ks: number, depth: number, oh: number, ow: number): true | string {
  if (ks > SUP_KS) {
    return `kernel ${ks}x${ks} exceeds SUP_KS ${SUP_KS}: a PE indexes at most ${PE_POUTDEXBUF_SIZE} taps`;
  }
  if (depth > SUP_DEPTH) {
    return `depth ${depth} exceeds SUP_DEPTH ${SUP_DEPTH}: the input-row buffer holds ${PE_INPROWBUF_SIZE} entries of ${UF} codes`;
  }
  const rows = ks * ks * Math.ceil(depth / UF);
  if (rows > PE_WGTCOLBUF_SIZE) {
    return `${ks}x${ks} kernel at depth ${depth} needs ${rows} weight-column rows of ${UF} codes per PE; the buffer holds ${PE_WGTCOLBUF_SIZE} (SUP_WGT_KS ${SUP_WGT_KS}² · SUP_DEPTH ${SUP_DEPTH} / UF)`;
  }
  if (oh * ow > PE_ACC_BUF_SIZE) {
    return `a ${oh}x${ow} output plane exceeds a PE's accumulation buffer of ${PE_ACC_BUF_SIZE} (PE_ACC_BUF_SIZE)`;
  }
  return true;
}

export function describeTconv(node: Node, g: Graph): TconvLayer | string {
  const at = resolveAttrs(node);
  const [shapeName, wName, xName, bName] = node.inputs;
  const xT = tensorOf(g, xName), wT = tensorOf(g, wName), yT = tensorOf(g, node.outputs[0]);
  const xq = int8Affine(xT, "the input");
  if (typeof xq === "string") return xq;
  const wq = int8Affine(wT, "the filter");
  if (typeof wq === "string") return wq;
  const yq = int8Affine(yT, "the output");
  if (typeof yq === "string") return yq;
  if (xq.scale.length !== 1 || yq.scale.length !== 1) return "input and output must be quantized per tensor";
  if (at.fused_activation_function !== "NONE") {
    return `fused activation ${at.fused_activation_function}: the PPU clamps to the int8 range only (LoadConfig carries no activation bounds)`;
  }
  if (integerArithmetic() !== "double-rounding") {
    return `the PPU computes TFLite's default double-rounding requantization; the runtime is set to ${integerArithmetic()} arithmetic`;
  }
  const sc = shapeName ? g.constants[shapeName] : undefined;
  if (!sc || storageOf(sc.dtype) !== "i32") return "the output shape is not an int32 constant";
  const wc = wName ? g.constants[wName] : undefined;
  if (!wc) return "the filter is not a constant";
  let bc: Constant | undefined;
  if (bName) {
    bc = g.constants[bName];
    if (!bc) return "the bias is not a constant";
    if (storageOf(bc.dtype) !== "i32") {
      return `the bias is ${printDType(bc.dtype)}; the accelerator adds int32 biases`;
    }
  }
  if (!xT || !isStaticShape(xT.shape) || !wT || !isStaticShape(wT.shape) || !yT || !isStaticShape(yT.shape)) {
    return "input, filter and output need static shapes";
  }
  const [N, IH, IW, C] = xT.shape as number[], [O, KH, KW, Cf] = wT.shape as number[];
  const [, OH, OW, Oy] = yT.shape as number[];
  if (xT.shape.length !== 4 || wT.shape.length !== 4 || yT.shape.length !== 4) {
    return "TRANSPOSE_CONV needs NHWC and OHWI";
  }
  if (Cf !== C || Oy !== O) {
    return `filter [${wT.shape}] does not match input [${xT.shape}] and output [${yT.shape}]`;
  }
  const os = constantNumbers(sc);
  if (os.length !== 4 || os[1] !== OH || os[2] !== OW) {
    return `output shape [${os}] disagrees with the output type`;
  }
  if (KH !== KW) return `kernel ${KH}x${KW} is not square: LoadConfig carries one kernel size ks`;
  if (wq.scale.length !== 1 && (wq.scale.length !== O || (wq.axis ?? 0) !== 0)) {
    return `filter scales are not per output channel (${wq.scale.length} for ${O})`;
  }
  let ay, ax;
  try {
    // TFLite pads as if the output were the input of a forward convolution (transpose_conv.cc).
    ay = windowAxis(at.padding, OH, KH, at.stride_h);
    ax = windowAxis(at.padding, OW, KW, at.stride_w);
  } catch (e) {
    return String((e as { reason?: string }).reason ?? e);
  }
  const limits = mm2imLimits(KH, C, OH, OW);
  if (limits !== true) return limits;
  const { multiplier, shift } = perChannelMultipliers(xq.scale[0], wq.scale, yq.scale[0], O);
  const wb = constantBytes(wc);
  const bias = bc ? new Int32Array(constantBytes(bc).slice().buffer) : undefined;
  return {
    node,
    input: xName!,
    inType: xT,
    outType: yT,
    batch: N,
    channels: C,
    filters: O,
    geo: {
      ih: IH,
      iw: IW,
      oh: OH,
      ow: OW,
      kh: KH,
      kw: KW,
      sh: at.stride_h,
      sw: at.stride_w,
      pt: ay.padBefore,
      pl: ax.padBefore,
    },
    xZero: xq.zeroPoint[0],
    outZero: yq.zeroPoint[0],
    weights: new Int8Array(wb.buffer, wb.byteOffset, wb.byteLength),
    bias,
    multiplier,
    shift,
    output: node.outputs[0],
  };
}
