/**
 * Ops that compute on quantized operands the way particular hardware does (passes/quantize/ produces them):
 *  - lathe.BlockMatMul / lathe.BlockConv: weights in a ggml block type or an OCP MX format, activations
 *    quantized per row to the type llama.cpp pairs with the weight type (formats.md §1.5), block dot
 *    products as ggml computes them;
 *  - lathe.ShiftMatMul / lathe.ShiftConv: 4-bit power-of-two weight codes (sign + 3-bit magnitude) times
 *    8-bit activation codes, each product a sum of at most two shifted copies of the activation, as
 *    PoTAcc's shift PE computes it (accelerators.md §4.1); `terms` is the accelerator's decode table;
 *  - lathe.DqaQuantize: DQA's sub-byte activation quantizer (accelerators.md §1.8);
 *  - com.microsoft.QLinearAdd / QLinearGlobalAveragePool: onnxruntime's integer Add and global average
 *    pool, the ops its QDQ fusion produces, so a lowered graph computes what onnxruntime computes.
 */
import { type DType, isFloat, printDType } from "../dtype.ts";
import { GGML_TYPES } from "../ggml-type.ts";
import { a, defineOp, type InferContext, ins, opt } from "../op-registry.ts";
import { type Dim, type TensorType, tensorType } from "../value-type.ts";
import { codeType, convGeometry, QUANT_RANGES } from "./quantize.ts";

/** Elements per block of a block-quantized weight type, or undefined for other types. */
export function weightBlockSize(d: DType): number | undefined {
  if (typeof d === "string") return undefined;
  if (d.kind === "ggml") return GGML_TYPES.get(d.typeId)?.blockSize;
  if (d.kind === "mx") return d.block;
  return undefined;
}

function blockWeight(ctx: InferContext, i: number): { w: TensorType; block: number } {
  const w = ctx.tensor(i);
  const block = weightBlockSize(w.dtype);
  if (!block) ctx.fail(`weights must be a ggml block type or an MX format, are ${printDType(w.dtype)}`);
  if (w.shape && w.shape.length !== 2) ctx.fail("block weights must be [N, K] (K blocked)");
  const k = w.shape?.[1];
  if (typeof k === "number" && k % block! !== 0) {
    ctx.fail(`K = ${k} is not a whole number of blocks of ${block}`);
  }
  return { w, block: block! };
}

function floatInput(ctx: InferContext, i: number, what: string): TensorType {
  const t = ctx.tensor(i);
  if (t.dtype !== "f32") ctx.fail(`${what} must be f32, is ${printDType(t.dtype)}`);
  return t;
}

function codesInput(ctx: InferContext, i: number, what: string): TensorType {
  const t = ctx.tensor(i);
  const c = codeType(t.dtype);
  if (c !== "u8" && c !== "i8") ctx.fail(`${what} must be u8 or i8 codes, is ${printDType(t.dtype)}`);
  return t;
}

function biasInput(ctx: InferContext, i: number, n: Dim | undefined): void {
  if (!ctx.inputs[i]) return;
  const b = floatInput(ctx, i, "B");
  const len = b.shape?.length === 1 ? b.shape[0] : undefined;
  if (b.shape && b.shape.length !== 1) ctx.fail("B must be 1-D");
  if (typeof len === "number" && typeof n === "number" && len !== n) {
    ctx.fail(`B has ${len} elements, expected ${n}`);
  }
}

/** Output shape of a 2-D convolution with `m` filters of `kernel` over x [N, C, H, W]. */
function conv2dShape(ctx: InferContext, x: TensorType, m: Dim, kernel: readonly number[]): Dim[] | undefined {
  if (!x.shape) return undefined;
  if (x.shape.length !== 4) ctx.fail("x must be [N, C, H, W]");
  const spatial = x.shape.slice(2);
  const out: Dim[] = [x.shape[0], m];
  if (spatial.every((d) => typeof d === "number")) {
    out.push(...convGeometry(spatial as number[], kernel, ctx.attrs).outSize);
  } else out.push(ctx.fresh(), ctx.fresh());
  return out;
}

const CONV2D_ATTRS = {
  auto_pad: a.string("NOTSET"),
  dilations: a.ints([]),
  group: a.int(1),
  kernel_shape: a.required(a.ints()),
  pads: a.ints([]),
  strides: a.ints([]),
};

defineOp({
  op: "lathe.BlockMatMul",
  inputs: ins("A", "W", opt("B")),
  outputs: ins("Y"),
  doc: "Y[..., n] = dot(quantize_row(A[..., :]), W[n, :]) + B[n]; A's rows are zero-padded to W's K.",
  infer(ctx) {
    const x = floatInput(ctx, 0, "A");
    const { w } = blockWeight(ctx, 1);
    const n = w.shape?.[0];
    biasInput(ctx, 2, n);
    if (!x.shape || !w.shape) return [tensorType("f32")];
    const k = x.shape[x.shape.length - 1], kp = w.shape[1];
    if (typeof k === "number" && typeof kp === "number" && k > kp) {
      ctx.fail(`A has K = ${k}, the weights hold ${kp}`);
    }
    return [tensorType("f32", [...x.shape.slice(0, -1), n!])];
  },
});

defineOp({
  op: "lathe.BlockConv",
  inputs: ins("X", "W", opt("B")),
  outputs: ins("Y"),
  attrs: CONV2D_ATTRS,
  doc: "2-D convolution as im2col rows (C/group · kH · kW, zero-padded to W's K) times block weights [M, K].",
  infer(ctx) {
    const x = floatInput(ctx, 0, "X");
    const { w } = blockWeight(ctx, 1);
    const m = w.shape?.[0] ?? ctx.fresh();
    const kernel = ctx.attrs.kernel_shape as number[];
    if (kernel.length !== 2) ctx.fail("kernel_shape must have 2 entries");
    biasInput(ctx, 2, m);
    const c = x.shape?.[1], kp = w.shape?.[1];
    if (
      typeof c === "number" && typeof kp === "number" && (c / ctx.attrs.group) * kernel[0] * kernel[1] > kp
    ) {
      ctx.fail(`a patch of ${c / ctx.attrs.group}x${kernel[0]}x${kernel[1]} does not fit K = ${kp}`);
    }
    const out = conv2dShape(ctx, x, m, kernel);
    return [out ? tensorType("f32", out) : tensorType("f32")];
  },
});

function potWeight(ctx: InferContext, i: number): TensorType {
  const w = ctx.tensor(i);
  if (typeof w.dtype === "string" || w.dtype.kind !== "pot") {
    ctx.fail(`W must be power-of-two codes, is ${printDType(w.dtype)}`);
  }
  const d = w.dtype as Extract<DType, { kind: "pot" }>;
  if (d.bits !== 4 || d.table.length !== 16) {
    ctx.fail("PoT weights must be 4-bit codes with a 16-entry table");
  }
  const terms = ctx.attrs.terms as number[];
  if (terms.length !== 16) ctx.fail("terms must list two shifts (or -1) for each of the 8 magnitude codes");
  if (d.axis !== undefined && d.axis !== 0) ctx.fail("PoT weight scales must be per tensor or along axis 0");
  return w;
}

const SHIFT_ATTRS = { terms: a.required(a.ints()) };

defineOp({
  op: "lathe.ShiftMatMul",
  inputs: ins("A", "a_scale", "a_zero_point", "W", opt("B")),
  outputs: ins("Y"),
  attrs: SHIFT_ATTRS,
  doc: "Y[..., n] = a_scale · s_w[n] · Σ_k pe(A[..., k], W[n, k]) − zp·Σ_k |W| + B[n], pe a shift-and-add.",
  infer(ctx) {
    const x = codesInput(ctx, 0, "A");
    floatInput(ctx, 1, "a_scale");
    codesInput(ctx, 2, "a_zero_point");
    const w = potWeight(ctx, 3);
    if (w.shape && w.shape.length !== 2) ctx.fail("W must be [N, K]");
    const n = w.shape?.[0];
    biasInput(ctx, 4, n);
    if (!x.shape || !w.shape) return [tensorType("f32")];
    const k = x.shape[x.shape.length - 1];
    if (typeof k === "number" && typeof w.shape[1] === "number" && k !== w.shape[1]) {
      ctx.fail(`A has K = ${k}, W has ${w.shape[1]}`);
    }
    return [tensorType("f32", [...x.shape.slice(0, -1), n!])];
  },
});

defineOp({
  op: "lathe.ShiftConv",
  inputs: ins("X", "x_scale", "x_zero_point", "W", opt("B")),
  outputs: ins("Y"),
  attrs: { ...CONV2D_ATTRS, kernel_shape: a.ints([]), ...SHIFT_ATTRS },
  doc: "2-D convolution of 8-bit activation codes with 4-bit power-of-two weight codes [M, C/group, kH, kW].",
  infer(ctx) {
    const x = codesInput(ctx, 0, "X");
    floatInput(ctx, 1, "x_scale");
    codesInput(ctx, 2, "x_zero_point");
    const w = potWeight(ctx, 3);
    if (w.shape && w.shape.length !== 4) ctx.fail("W must be [M, C/group, kH, kW]");
    const m = w.shape?.[0] ?? ctx.fresh();
    biasInput(ctx, 4, m);
    if (!w.shape || !w.shape.every((d) => typeof d === "number")) return [tensorType("f32")];
    const out = conv2dShape(ctx, x, m, (w.shape as number[]).slice(2));
    return [out ? tensorType("f32", out) : tensorType("f32")];
  },
});

defineOp({
  op: "lathe.DqaQuantize",
  inputs: ins("X"),
  outputs: ins("Y"),
  attrs: { bits: a.int(3), extra: a.int(3), important: a.ints([]), axis: a.int(1) },
  doc:
    "Per (batch, channel): delta = max|x| / 2^(bits+extra−1), q = clamp(round(x/delta)) on bits+extra bits, " +
    "code = q >> extra; channels listed in `important` keep q, the others code << extra.",
  infer(ctx) {
    const x = floatInput(ctx, 0, "X");
    const { bits, extra } = ctx.attrs;
    if (!(bits >= 2 && bits <= 8) || !(extra >= 0 && extra <= 8)) {
      ctx.fail(`bits ${bits} and extra ${extra} must be in [2, 8] and [0, 8]`);
    }
    if (x.shape && x.shape.length < 2) ctx.fail("X must have a channel axis");
    return [x];
  },
});

function scalarParam(ctx: InferContext, i: number, what: string, float: boolean): void {
  const t = ctx.tensor(i);
  if (float ? !isFloat(t.dtype) : !QUANT_RANGES[codeType(t.dtype) ?? ""]) {
    ctx.fail(`${what} has type ${printDType(t.dtype)}`);
  }
  if (t.shape && t.shape.reduce((p: number, d) => p * (typeof d === "number" ? d : 2), 1) !== 1) {
    ctx.fail(`${what} must be a single value`);
  }
}

defineOp({
  op: "com.microsoft.QLinearAdd",
  inputs: ins(
    "A",
    "A_scale",
    opt("A_zero_point"),
    "B",
    "B_scale",
    opt("B_zero_point"),
    "C_scale",
    opt("C_zero_point"),
  ),
  outputs: ins("C"),
  doc: "onnxruntime's integer Add: C = round(A·(sA/sC) + B·(sB/sC) + zC − (sA/sC·zA + sB/sC·zB)) in f32.",
  infer(ctx) {
    const x = codesInput(ctx, 0, "A"), y = codesInput(ctx, 3, "B");
    if (codeType(x.dtype) !== codeType(y.dtype)) ctx.fail("A and B must have the same code type");
    for (const [i, w, f] of [[1, "A_scale", true], [4, "B_scale", true], [6, "C_scale", true]] as const) {
      scalarParam(ctx, i, w, f);
    }
    for (const [i, w] of [[2, "A_zero_point"], [5, "B_zero_point"], [7, "C_zero_point"]] as const) {
      if (ctx.inputs[i]) scalarParam(ctx, i, w, false);
    }
    const count = (t: TensorType) =>
      t.shape?.every((d) => typeof d === "number")
        ? (t.shape as number[]).reduce((p, d) => p * d, 1)
        : undefined;
    if (count(y) !== 1 && x.shape && y.shape && JSON.stringify(x.shape) !== JSON.stringify(y.shape)) {
      ctx.fail("B must have A's shape or be a single value (broadcasting is not implemented)");
    }
    return [tensorType(codeType(x.dtype)!, x.shape)];
  },
});

defineOp({
  op: "com.microsoft.QLinearGlobalAveragePool",
  inputs: ins("X", "x_scale", "x_zero_point", "y_scale", "y_zero_point"),
  outputs: ins("Y"),
  attrs: { channels_last: a.int(0) },
  infer(ctx) {
    const x = codesInput(ctx, 0, "X");
    scalarParam(ctx, 1, "x_scale", true);
    scalarParam(ctx, 2, "x_zero_point", false);
    scalarParam(ctx, 3, "y_scale", true);
    scalarParam(ctx, 4, "y_zero_point", false);
    if (!x.shape) return [tensorType(codeType(x.dtype)!)];
    if (x.shape.length < 3) ctx.fail("X must have spatial dims");
    const last = ctx.attrs.channels_last;
    const out = x.shape.map((d, i) => (i === 0 || (last ? i === x.shape!.length - 1 : i === 1) ? d : 1));
    return [tensorType(codeType(x.dtype)!, out)];
  },
});
