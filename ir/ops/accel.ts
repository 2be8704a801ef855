/**
 * Host-side preparation for accelerator offload (accelerators.md §1.0, §7.3), as explicit graph nodes so
 * they can be scheduled, timed as CPU work and checked by the reference runtime: im2col with the input's
 * zero point as the border value, padding of a matrix to the hardware's row and depth multiples,
 * gemmlowp-style zero-point row sums, packing into 32-bit words split across DMA lanes, activation rows
 * quantized to a ggml block type (the Q8_K rows a BFP MatMul streams, accelerators.md §1.3), and the offloaded
 * call itself (`lathe.AccelCall`), whose kernel (registered by targets/) runs the target's functional model
 * over the command stream the target derives from the call's attributes.
 *
 * Matrices here are 8-bit codes: plain i8/u8 or affine-quantized types with 8-bit storage. A matrix view
 * takes an input of any rank as rows of `cols` elements, so a rank-4 activation can be a GEMM operand
 * without a separate Reshape.
 */
import { type DType, printDType, storageOf } from "../dtype.ts";
import { ggmlTypeByName } from "../ggml-type.ts";
import { a, defineOp, type InferContext, ins, many, opt } from "../op-registry.ts";
import { elementCount, type TensorType, tensorType, type ValueType } from "../value-type.ts";

function byteCodes(ctx: InferContext, i: number, what: string): TensorType {
  const t = ctx.tensor(i);
  const s = storageOf(t.dtype);
  if (s !== "i8" && s !== "u8") ctx.fail(`${what} must hold 8-bit codes, is ${printDType(t.dtype)}`);
  return t;
}

const ceilTo = (v: number, m: number) => (m > 1 ? Math.ceil(v / m) * m : v);

/** Rows and columns of an input seen as a matrix of `cols` columns (0: its last dimension). */
export function matrixView(shape: readonly number[], cols: number): { rows: number; cols: number } | string {
  const n = shape.reduce((p, d) => p * d, 1);
  const c = cols > 0 ? cols : shape.length ? shape[shape.length - 1] : 1;
  if (c <= 0) return n === 0 ? { rows: 0, cols: 0 } : `cannot view ${n} elements as rows of ${c}`;
  if (n % c !== 0) return `${n} elements are not rows of ${c}`;
  return { rows: n / c, cols: c };
}

function staticView(
  ctx: InferContext,
  t: TensorType,
  cols: number,
): { rows: number; cols: number } | undefined {
  if (elementCount(t.shape) === undefined) return undefined;
  const v = matrixView(t.shape as number[], cols);
  if (typeof v === "string") ctx.fail(v);
  return v;
}

/** Output size of one im2col axis with explicit padding. */
export function im2colAxis(
  size: number,
  kernel: number,
  stride: number,
  dilation: number,
  before: number,
  after: number,
): number {
  const eff = (kernel - 1) * dilation + 1;
  return Math.floor((size + before + after - eff) / stride) + 1;
}

defineOp({
  op: "lathe.Im2Col",
  doc:
    "NHWC patches as rows [N·OH·OW, KH·KW·C] (tap-major, channel-minor, like OHWI filters); taps outside the image read `fill`",
  inputs: ins("X"),
  outputs: ins("Y"),
  attrs: {
    kernel: a.required(a.ints()),
    strides: a.ints([1, 1]),
    dilations: a.ints([1, 1]),
    /** top, left, bottom, right */
    pads: a.ints([0, 0, 0, 0]),
    /** The code an out-of-image tap reads: the input's zero point, so it stands for real 0. */
    fill: a.int(0),
  },
  infer(ctx) {
    const x = byteCodes(ctx, 0, "Im2Col input");
    const at = ctx.attrs;
    const [kh, kw] = at.kernel as number[],
      [sh, sw] = at.strides as number[],
      [dh, dw] = at.dilations as number[];
    const [pt, pl, pb, pr] = at.pads as number[];
    if (![kh, kw, sh, sw, dh, dw].every((v) => Number.isInteger(v) && v >= 1)) {
      ctx.fail("kernel, strides and dilations must be positive");
    }
    if (![pt, pl, pb, pr].every((v) => Number.isInteger(v) && v >= 0)) {
      ctx.fail("pads must be four non-negative integers");
    }
    if (!x.shape) return [tensorType(x.dtype)];
    if (x.shape.length !== 4) ctx.fail(`Im2Col input must be NHWC, is [${x.shape}]`);
    const [n, h, w, c] = x.shape;
    const oh = typeof h === "number" ? im2colAxis(h, kh, sh, dh, pt, pb) : ctx.fresh();
    const ow = typeof w === "number" ? im2colAxis(w, kw, sw, dw, pl, pr) : ctx.fresh();
    if ((typeof oh === "number" && oh < 1) || (typeof ow === "number" && ow < 1)) {
      ctx.fail(`the window does not fit the input [${x.shape}]`);
    }
    const rows = [n, oh, ow].every((d) => typeof d === "number")
      ? (n as number) * (oh as number) * (ow as number)
      : ctx.fresh();
    const cols = typeof c === "number" ? kh * kw * c : ctx.fresh();
    return [tensorType(x.dtype, [rows, cols])];
  },
});

defineOp({
  op: "lathe.PadTo",
  doc:
    "a matrix view padded with `value` to whole multiples of rows and columns (accelerator tile multiples)",
  inputs: ins("X"),
  outputs: ins("Y"),
  attrs: { cols: a.int(0), row_multiple: a.int(1), col_multiple: a.int(1), value: a.int(0) },
  infer(ctx) {
    const x = byteCodes(ctx, 0, "PadTo input");
    const at = ctx.attrs;
    if (!(at.row_multiple >= 1 && at.col_multiple >= 1)) ctx.fail("multiples must be positive");
    const v = staticView(ctx, x, at.cols);
    if (!v) return [tensorType(x.dtype, [ctx.fresh(), ctx.fresh()])];
    return [tensorType(x.dtype, [ceilTo(v.rows, at.row_multiple), ceilTo(v.cols, at.col_multiple)])];
  },
});

defineOp({
  op: "lathe.ZeroPointSums",
  doc:
    "i32 per row: multiplier · Σ codes of the row (gemmlowp offset term; the driver pre-scales by the other operand's zero point)",
  inputs: ins("X"),
  outputs: ins("S"),
  attrs: { cols: a.int(0), multiplier: a.int(1) },
  infer(ctx) {
    const x = byteCodes(ctx, 0, "ZeroPointSums input");
    const v = staticView(ctx, x, ctx.attrs.cols);
    return [tensorType("i32", [v ? v.rows : ctx.fresh()])];
  },
});

defineOp({
  op: "lathe.LaneInterleave",
  doc:
    "rows of 8-bit codes packed four to a little-endian 32-bit word, row r on lane r mod lanes: u32[lanes, ceil(rows/lanes)·cols/4]",
  inputs: ins("X"),
  outputs: ins("Y"),
  attrs: { lanes: a.int(4), cols: a.int(0) },
  infer(ctx) {
    const x = byteCodes(ctx, 0, "LaneInterleave input");
    const lanes = ctx.attrs.lanes;
    if (!(Number.isInteger(lanes) && lanes >= 1)) ctx.fail(`lanes must be a positive integer, is ${lanes}`);
    const v = staticView(ctx, x, ctx.attrs.cols);
    if (!v) return [tensorType("u32", [lanes, ctx.fresh()])];
    if (v.cols % 4 !== 0) {
      ctx.fail(`rows of ${v.cols} codes do not fill whole 32-bit words (pad the depth to 4 first)`);
    }
    return [tensorType("u32", [lanes, Math.ceil(v.rows / lanes) * (v.cols / 4)])];
  },
});

defineOp({
  op: "lathe.RequantizeF32",
  doc:
    "int32 accumulators to 8-bit codes as onnxruntime's QLinearConv does: rint(f32(acc·scale[c])) + zp, clamped; c is the last axis",
  inputs: ins("X", "scale", "zero_point"),
  outputs: ins("Y"),
  infer(ctx) {
    const x = ctx.tensor(0), s = ctx.tensor(1), z = ctx.tensor(2);
    if (x.dtype !== "i32") ctx.fail(`accumulators must be i32, are ${printDType(x.dtype)}`);
    if (s.dtype !== "f32") ctx.fail(`scale must be f32, is ${printDType(s.dtype)}`);
    if (z.dtype !== "i8" && z.dtype !== "u8") {
      ctx.fail(`zero point must be i8 or u8, is ${printDType(z.dtype)}`);
    }
    return [tensorType(z.dtype as DType, x.shape)];
  },
});

defineOp({
  op: "lathe.GgmlQuantize",
  doc:
    "f32 rows quantized to a ggml block type with ggml's reference quantizer (quantize_row_*_ref); the last axis is blocked",
  inputs: ins("X"),
  outputs: ins("Y"),
  attrs: { type: a.string("Q8_K") },
  infer(ctx) {
    const x = ctx.tensor(0);
    if (x.dtype !== "f32") ctx.fail(`GgmlQuantize input must be f32, is ${printDType(x.dtype)}`);
    const info = ggmlTypeByName(String(ctx.attrs.type));
    if (!info || info.blockSize === 1) ctx.fail(`type ${ctx.attrs.type} is not a ggml block type`);
    const k = x.shape?.[x.shape.length - 1];
    if (x.shape && x.shape.length < 1) ctx.fail("GgmlQuantize input must have rank at least 1");
    if (typeof k === "number" && k % info!.blockSize !== 0) {
      ctx.fail(`rows of ${k} do not fill whole ${info!.name} blocks of ${info!.blockSize}`);
    }
    return [tensorType({ kind: "ggml", typeId: info!.id }, x.shape)];
  },
});

defineOp({
  op: "lathe.AccelCall",
  doc:
    "one offloaded call: the target's functional model runs the command stream of `kernel` over the prepared operands",
  inputs: ins(many("operands")),
  outputs: ins("Y"),
  attrs: {
    target: a.required(a.string()),
    kernel: a.required(a.string()),
    /** Names the call's program in reports and emitted drivers. */
    program: a.required(a.string()),
    out_type: a.required(a.type()),
  },
  infer(ctx) {
    const t = ctx.attrs.out_type as ValueType;
    if (t.kind !== "tensor") ctx.fail("out_type must be a tensor type");
    return [t];
  },
});

defineOp({
  op: "lathe.RecenterU8",
  doc:
    "u8 codes as the i8 codes c − 128 (the top bit flipped), so an unsigned activation enters a signed 8-bit datapath; an affine type's zero point moves by −128 with it",
  inputs: ins("X"),
  outputs: ins("Y"),
  infer(ctx) {
    const x = ctx.tensor(0);
    if (storageOf(x.dtype) !== "u8") ctx.fail(`RecenterU8 takes u8 codes, not ${printDType(x.dtype)}`);
    return [tensorType(recenteredType(x.dtype), x.shape)];
  },
});

/** The i8 type of u8 codes re-centred by −128. */
export function recenteredType(d: DType): DType {
  if (typeof d === "string" || d.kind !== "affine") return "i8";
  // The u8 code range [qmin, qmax], if narrowed, does not carry over: drop it rather than shift it.
  const { qmin: _qmin, qmax: _qmax, ...rest } = d;
  return { ...rest, storage: "i8", zeroPoint: d.zeroPoint.map((z) => z - 128) };
}

defineOp({
  op: "lathe.DequantizeAcc",
  doc:
    "int32 accumulators to f32 the way the power-of-two layers finish (lathe.ShiftConv, lathe.ShiftMatMul): y = f32(f32(acc·scale[c]) + B[c]), c the last axis",
  inputs: ins("X", "scale", opt("B")),
  outputs: ins("Y"),
  infer(ctx) {
    const x = ctx.tensor(0), s = ctx.tensor(1);
    if (x.dtype !== "i32") ctx.fail(`accumulators must be i32, are ${printDType(x.dtype)}`);
    if (s.dtype !== "f32") ctx.fail(`scale must be f32, is ${printDType(s.dtype)}`);
    if (ctx.inputs[2] !== undefined && ctx.tensor(2).dtype !== "f32") ctx.fail("B must be f32");
    return [tensorType("f32", x.shape)];
  },
});

defineOp({
  op: "lathe.Col2ImMap",
  doc:
    "the col2IM output index map of a transposed convolution: row p (input pixel iy·IW+ix), column t (kernel tap ky·KW+kx) holds the output pixel oy·OW+ox the product lands on, oy = iy·sh − pad_top + ky, or −1 where the padding crops it",
  inputs: [],
  outputs: ins("Y"),
  attrs: {
    /** [IH, IW] */
    input: a.required(a.ints()),
    /** [OH, OW] */
    output: a.required(a.ints()),
    kernel: a.required(a.ints()),
    strides: a.ints([1, 1]),
    /** The crop before the first output row and column: top, left. */
    pads: a.ints([0, 0]),
  },
  infer(ctx) {
    const g = col2ImGeometry(ctx.attrs);
    if (typeof g === "string") return ctx.fail(g);
    return [tensorType("i32", [g.ih * g.iw, g.kh * g.kw])];
  },
});

export interface Col2ImGeometry {
  readonly ih: number;
  readonly iw: number;
  readonly oh: number;
  readonly ow: number;
  readonly kh: number;
  readonly kw: number;
  readonly sh: number;
  readonly sw: number;
  readonly pt: number;
  readonly pl: number;
}

/** The Col2ImMap attributes checked, or why they do not describe a transposed convolution. */
export function col2ImGeometry(at: Readonly<Record<string, any>>): Col2ImGeometry | string {
  const pairs = [at.input, at.output, at.kernel, at.strides, at.pads] as number[][];
  if (pairs.some((p) => !Array.isArray(p) || p.length !== 2 || !p.every((v) => Number.isSafeInteger(v)))) {
    return "input, output, kernel, strides and pads must be two integers each";
  }
  const [[ih, iw], [oh, ow], [kh, kw], [sh, sw], [pt, pl]] = pairs;
  if (![ih, iw, oh, ow, kh, kw, sh, sw].every((v) => v >= 1)) {
    return "sizes, kernel and strides must be positive";
  }
  if (pt < 0 || pl < 0) return "pads must be non-negative";
  if (ih * iw * kh * kw > 2 ** 28) return `a map of ${ih * iw} × ${kh * kw} entries is too large`;
  return { ih, iw, oh, ow, kh, kw, sh, sw, pt, pl };
}
