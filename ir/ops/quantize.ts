/**
 * Quantization ops (formats.md §3.4): QuantizeLinear / DequantizeLinear (per tensor, per axis, blocked),
 * DynamicQuantizeLinear, the integer matmuls and convolutions (QLinearMatMul, MatMulInteger, QLinearConv,
 * ConvInteger) and onnxruntime's weight-only com.microsoft.MatMulNBits.
 */
import { type DType, isFloat, printDType, type ScalarDType } from "../dtype.ts";
import { LatheError } from "../errors.ts";
import { a, defineOp, type InferContext, ins, opt } from "../op-registry.ts";
import { broadcastShapes } from "../shape-infer.ts";
import { type Dim, type Shape, type TensorType, tensorType } from "../value-type.ts";
import { dtypeOfTensorProtoCode } from "./tensor-proto-dtype.ts";

/** Integer ranges of the types QuantizeLinear may produce. */
export const QUANT_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  u8: [0, 255],
  i8: [-128, 127],
  u16: [0, 65535],
  i16: [-32768, 32767],
  u4: [0, 15],
  i4: [-8, 7],
  i32: [-2147483648, 2147483647],
};

/** The plain storage type of a (possibly affine-typed) integer value. */
export function codeType(d: DType): ScalarDType | undefined {
  if (typeof d === "string") return d;
  return d.kind === "affine" ? d.storage : undefined;
}

/** QuantizeLinear's output type: the zero point's type, else `output_dtype`, else u8. */
export function quantizeOutputDType(zp: DType | undefined, outputDtype: number): ScalarDType {
  let d: ScalarDType | undefined;
  if (zp !== undefined) d = codeType(zp);
  else if (outputDtype) d = dtypeOfTensorProtoCode(outputDtype);
  else d = "u8";
  if (!d || d === "i32" || !QUANT_RANGES[d]) {
    throw new LatheError(
      "unsupported",
      `QuantizeLinear to ${zp !== undefined ? printDType(zp) : `dtype code ${outputDtype}`}`,
    );
  }
  return d;
}

function intInput(ctx: InferContext, i: number, what: string): TensorType {
  const t = ctx.tensor(i);
  const c = codeType(t.dtype);
  if (!c || !QUANT_RANGES[c]) ctx.fail(`${what} must be an integer tensor, is ${printDType(t.dtype)}`);
  return t;
}

defineOp({
  op: "QuantizeLinear",
  inputs: ins("x", "y_scale", opt("y_zero_point")),
  outputs: ins("y"),
  attrs: {
    axis: a.int(1),
    saturate: a.int(1),
    block_size: a.int(0),
    output_dtype: a.int(0),
    precision: a.int(0),
  },
  infer(ctx) {
    const x = ctx.tensor(0);
    if (!isFloat(x.dtype) && x.dtype !== "i32") ctx.fail(`cannot quantize ${printDType(x.dtype)}`);
    const zp = ctx.inputs[2] ? ctx.tensor(2).dtype : undefined;
    let d: ScalarDType | undefined;
    try {
      d = quantizeOutputDType(zp, ctx.attrs.output_dtype);
    } catch (e) {
      ctx.fail((e as LatheError).reason);
    }
    return [tensorType(d!, x.shape)];
  },
});

defineOp({
  op: "DequantizeLinear",
  inputs: ins("x", "x_scale", opt("x_zero_point")),
  outputs: ins("y"),
  attrs: { axis: a.int(1), block_size: a.int(0), output_dtype: a.int(0) },
  infer(ctx) {
    const x = intInput(ctx, 0, "x");
    const scale = ctx.tensor(1);
    if (!isFloat(scale.dtype)) ctx.fail("x_scale must be floating point");
    let d: DType = scale.dtype;
    if (ctx.attrs.output_dtype) {
      const o = dtypeOfTensorProtoCode(ctx.attrs.output_dtype);
      if (!o || !isFloat(o)) ctx.fail(`output_dtype ${ctx.attrs.output_dtype} is not a float type`);
      d = o!;
    }
    return [tensorType(d, x.shape)];
  },
});

defineOp({
  op: "DynamicQuantizeLinear",
  inputs: ins("x"),
  outputs: ins("y", "y_scale", "y_zero_point"),
  infer(ctx) {
    const x = ctx.tensor(0);
    if (x.dtype !== "f32") ctx.fail("x must be f32");
    return [tensorType("u8", x.shape), tensorType("f32", []), tensorType("u8", [])];
  },
});

/** numpy matmul shape rule, with 1-D operands promoted and their added dims removed again. */
export function matmulShape(
  ctx: InferContext,
  as: Shape | undefined,
  bs: Shape | undefined,
): Shape | undefined {
  if (!as || !bs) return undefined;
  if (as.length === 0 || bs.length === 0) ctx.fail("matmul operands must have rank >= 1");
  const a2 = as.length === 1 ? [1, as[0]] : as;
  const b2 = bs.length === 1 ? [bs[0], 1] : bs;
  const k1 = a2[a2.length - 1], k2 = b2[b2.length - 2];
  if (typeof k1 === "number" && typeof k2 === "number" && k1 !== k2) {
    ctx.fail(`inner dims ${k1} and ${k2} differ`);
  }
  const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)], () => ctx.fresh());
  const out: Dim[] = [...batch];
  if (as.length > 1) out.push(a2[a2.length - 2]);
  if (bs.length > 1) out.push(b2[b2.length - 1]);
  return out;
}

defineOp({
  op: "QLinearMatMul",
  inputs: ins("a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale", "y_zero_point"),
  outputs: ins("y"),
  infer(ctx) {
    const x = intInput(ctx, 0, "a"), w = intInput(ctx, 3, "b");
    const y = intInput(ctx, 7, "y_zero_point");
    return [tensorType(codeType(y.dtype)!, matmulShape(ctx, x.shape, w.shape))];
  },
});

defineOp({
  op: "MatMulInteger",
  inputs: ins("A", "B", opt("a_zero_point"), opt("b_zero_point")),
  outputs: ins("Y"),
  infer(ctx) {
    const x = intInput(ctx, 0, "A"), w = intInput(ctx, 1, "B");
    return [tensorType("i32", matmulShape(ctx, x.shape, w.shape))];
  },
});

/** Resolved geometry of an N-d convolution over static shapes. */
export interface ConvGeometry {
  readonly inSize: readonly number[];
  readonly kernel: readonly number[];
  readonly strides: readonly number[];
  readonly dilations: readonly number[];
  readonly padBegin: readonly number[];
  readonly outSize: readonly number[];
}

/** Conv output sizes and begin pads from the ONNX attributes (auto_pad, pads, strides, dilations). */
export function convGeometry(
  inSize: readonly number[],
  kernel: readonly number[],
  attrs: Readonly<Record<string, any>>,
): ConvGeometry {
  const n = inSize.length;
  const fill = (
    v: readonly number[] | undefined,
    d: number,
  ) => (v && v.length ? [...v] : new Array<number>(n).fill(d));
  const strides = fill(attrs.strides, 1), dilations = fill(attrs.dilations, 1);
  const pads = fill(attrs.pads, 0);
  if (strides.length !== n || dilations.length !== n || (pads.length !== 2 * n && attrs.pads?.length)) {
    throw new LatheError("verify", `strides/dilations/pads do not match ${n} spatial dims`);
  }
  if (attrs.kernel_shape?.length && attrs.kernel_shape.some((k: number, i: number) => k !== kernel[i])) {
    throw new LatheError(
      "verify",
      `kernel_shape [${attrs.kernel_shape}] does not match the weights [${kernel}]`,
    );
  }
  const mode = attrs.auto_pad ?? "NOTSET";
  const padBegin: number[] = [], outSize: number[] = [];
  for (let i = 0; i < n; i++) {
    const eff = (kernel[i] - 1) * dilations[i] + 1;
    if (!(strides[i] > 0) || !(dilations[i] > 0)) {
      throw new LatheError("verify", "strides and dilations must be positive");
    }
    let begin: number, end: number;
    if (mode === "SAME_UPPER" || mode === "SAME_LOWER") {
      const out = Math.ceil(inSize[i] / strides[i]);
      const total = Math.max(0, (out - 1) * strides[i] + eff - inSize[i]);
      begin = mode === "SAME_UPPER" ? Math.floor(total / 2) : Math.ceil(total / 2);
      end = total - begin;
    } else if (mode === "VALID") {
      begin = end = 0;
    } else if (mode === "NOTSET") {
      begin = pads.length === 2 * n ? pads[i] : 0;
      end = pads.length === 2 * n ? pads[i + n] : 0;
    } else throw new LatheError("verify", `unknown auto_pad '${mode}'`);
    const o = Math.floor((inSize[i] + begin + end - eff) / strides[i]) + 1;
    if (o < 0) throw new LatheError("verify", `kernel larger than the padded input along spatial dim ${i}`);
    padBegin.push(begin);
    outSize.push(o);
  }
  return { inSize, kernel, strides, dilations, padBegin, outSize };
}

function inferIntConv(ctx: InferContext, x: TensorType, w: TensorType, dtype: ScalarDType): TensorType {
  if (!x.shape || !w.shape) return tensorType(dtype);
  if (x.shape.length < 3 || w.shape.length !== x.shape.length) {
    ctx.fail("x must be [N, C, ...] and w [M, C/group, ...]");
  }
  const spatial = x.shape.slice(2), kernel = w.shape.slice(2);
  const out: Dim[] = [x.shape[0], w.shape[0]];
  if (spatial.every((d) => typeof d === "number") && kernel.every((d) => typeof d === "number")) {
    out.push(...convGeometry(spatial as number[], kernel as number[], ctx.attrs).outSize);
  } else for (let i = 0; i < spatial.length; i++) out.push(ctx.fresh());
  const c = x.shape[1], cg = w.shape[1];
  if (typeof c === "number" && typeof cg === "number" && c !== cg * ctx.attrs.group) {
    ctx.fail(`x has ${c} channels, weights expect ${cg} x group ${ctx.attrs.group}`);
  }
  return tensorType(dtype, out);
}

const CONV_ATTRS = {
  auto_pad: a.string("NOTSET"),
  dilations: a.ints([]),
  group: a.int(1),
  kernel_shape: a.ints([]),
  pads: a.ints([]),
  strides: a.ints([]),
};

defineOp({
  op: "QLinearConv",
  inputs: ins(
    "x",
    "x_scale",
    "x_zero_point",
    "w",
    "w_scale",
    "w_zero_point",
    "y_scale",
    "y_zero_point",
    opt("B"),
  ),
  outputs: ins("y"),
  attrs: CONV_ATTRS,
  infer(ctx) {
    const x = intInput(ctx, 0, "x"), w = intInput(ctx, 3, "w"), y = intInput(ctx, 7, "y_zero_point");
    return [inferIntConv(ctx, x, w, codeType(y.dtype)!)];
  },
});

defineOp({
  op: "ConvInteger",
  inputs: ins("x", "w", opt("x_zero_point"), opt("w_zero_point")),
  outputs: ins("y"),
  attrs: CONV_ATTRS,
  infer(ctx) {
    return [inferIntConv(ctx, intInput(ctx, 0, "x"), intInput(ctx, 1, "w"), "i32")];
  },
});

defineOp({
  op: "com.microsoft.MatMulNBits",
  inputs: ins("A", "B", "scales", opt("zero_points"), opt("g_idx"), opt("bias")),
  outputs: ins("Y"),
  attrs: {
    K: a.required(a.int()),
    N: a.required(a.int()),
    bits: a.int(4),
    block_size: a.required(a.int()),
    accuracy_level: a.int(0),
  },
  infer(ctx) {
    const x = ctx.tensor(0);
    if (!isFloat(x.dtype)) ctx.fail("A must be floating point");
    const { K, N, bits, block_size: bs } = ctx.attrs;
    if (!(bits >= 2 && bits <= 8)) ctx.fail(`bits must be in [2, 8], is ${bits}`);
    if (!(bs >= 16) || (bs & (bs - 1)) !== 0) ctx.fail(`block_size must be a power of two >= 16, is ${bs}`);
    if (!(K > 0) || !(N > 0)) ctx.fail("K and N must be positive");
    if (!x.shape) return [tensorType(x.dtype)];
    const k = x.shape[x.shape.length - 1];
    if (typeof k === "number" && k !== K) ctx.fail(`A's last dim ${k} is not K = ${K}`);
    return [tensorType(x.dtype, [...x.shape.slice(0, -1), N])];
  },
});
