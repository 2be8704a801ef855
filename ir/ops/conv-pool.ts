/**
 * Op declarations: convolution and pooling (Conv, ConvTranspose, MaxPool, AveragePool, LpPool, the Global*
 * pools, MaxUnpool, Col2Im), latest ONNX opset semantics. The window geometry (auto_pad, pads, output
 * sizes) lives here too, so inference and the kernels resolve it the same way.
 */
import { isFloat, isInteger } from "../dtype.ts";
import { LatheError } from "../errors.ts";
import { a, defineOp, type InferContext, ins, opt } from "../op-registry.ts";
import { type Dim, type TensorType, tensorType } from "../value-type.ts";

export type AutoPad = "NOTSET" | "SAME_UPPER" | "SAME_LOWER" | "VALID";

/** A sliding window over the spatial dims, fully resolved. */
export interface Window {
  readonly kernel: readonly number[];
  readonly strides: readonly number[];
  readonly dilations: readonly number[];
  readonly padsBegin: readonly number[];
  readonly padsEnd: readonly number[];
  readonly out: readonly number[];
}

function fail(reason: string): never {
  throw new LatheError("verify", reason);
}

function autoPadOf(attrs: Readonly<Record<string, any>>): AutoPad {
  const s = String(attrs.auto_pad ?? "NOTSET");
  if (s !== "NOTSET" && s !== "SAME_UPPER" && s !== "SAME_LOWER" && s !== "VALID") {
    fail(`unknown auto_pad '${s}'`);
  }
  return s;
}

function listAttr(attrs: Readonly<Record<string, any>>, name: string, n: number, dflt: number): number[] {
  const v = attrs[name] as readonly number[] | undefined;
  if (v === undefined || v.length === 0) return new Array(n).fill(dflt);
  if (v.length !== n) fail(`${name} has ${v.length} entries, expected ${n}`);
  return [...v];
}

/**
 * Resolves a convolution or pooling window over `spatial` input sizes (forward direction: Conv, pools).
 * `kernel` comes from kernel_shape or the weight's shape. ceil_mode applies to pools only.
 */
export function forwardWindow(
  spatial: readonly number[],
  kernel: readonly number[],
  attrs: Readonly<Record<string, any>>,
  ceil = false,
): Window {
  const n = spatial.length;
  if (kernel.length !== n) fail(`kernel has rank ${kernel.length}, input has ${n} spatial dims`);
  const strides = listAttr(attrs, "strides", n, 1);
  const dilations = listAttr(attrs, "dilations", n, 1);
  const autoPad = autoPadOf(attrs);
  const pads = listAttr(attrs, "pads", 2 * n, 0);
  const padsBegin = pads.slice(0, n), padsEnd = pads.slice(n);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const k = kernel[i], s = strides[i], d = dilations[i], x = spatial[i];
    if (!(k >= 1) || !(s >= 1) || !(d >= 1)) {
      fail(`kernel ${k}, stride ${s} and dilation ${d} must be positive`);
    }
    if (padsBegin[i] < 0 || padsEnd[i] < 0) fail(`negative pads [${pads}]`);
    const eff = (k - 1) * d + 1;
    if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
      const o = Math.ceil(x / s);
      const total = Math.max(0, (o - 1) * s + eff - x);
      const small = Math.floor(total / 2);
      padsBegin[i] = autoPad === "SAME_UPPER" ? small : total - small;
      padsEnd[i] = total - padsBegin[i];
      out.push(o);
      continue;
    }
    if (autoPad === "VALID") padsBegin[i] = padsEnd[i] = 0;
    const span = x + padsBegin[i] + padsEnd[i] - eff;
    if (span < 0) fail(`window ${eff} is larger than the padded input ${x + padsBegin[i] + padsEnd[i]}`);
    let o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
    // In ceil mode a last window that would start in the end padding is dropped.
    if (ceil && (o - 1) * s >= x + padsBegin[i]) o--;
    out.push(o);
  }
  return { kernel, strides, dilations, padsBegin, padsEnd, out };
}

/**
 * ConvTranspose's window: output sizes from output_shape, auto_pad or pads, and the pads implied by an
 * explicit output size (SAME_UPPER puts the odd unit at the end; otherwise at the beginning).
 */
export function transposeWindow(
  spatial: readonly number[],
  kernel: readonly number[],
  attrs: Readonly<Record<string, any>>,
): Window & { outputPadding: readonly number[] } {
  const n = spatial.length;
  if (kernel.length !== n) fail(`kernel has rank ${kernel.length}, input has ${n} spatial dims`);
  const strides = listAttr(attrs, "strides", n, 1);
  const dilations = listAttr(attrs, "dilations", n, 1);
  const outputPadding = listAttr(attrs, "output_padding", n, 0);
  const autoPad = autoPadOf(attrs);
  const pads = listAttr(attrs, "pads", 2 * n, 0);
  const given = attrs.output_shape as readonly number[] | undefined;
  if (given && given.length > 0 && given.length < n) fail(`output_shape [${given}] has fewer than ${n} dims`);
  const padsBegin = pads.slice(0, n), padsEnd = pads.slice(n);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const k = kernel[i], s = strides[i], d = dilations[i];
    if (!(k >= 1) || !(s >= 1) || !(d >= 1)) {
      fail(`kernel ${k}, stride ${s} and dilation ${d} must be positive`);
    }
    const full = s * (spatial[i] - 1) + outputPadding[i] + (k - 1) * d + 1;
    let o: number | undefined;
    if (given && given.length > 0) o = given[given.length - n + i];
    else if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") o = spatial[i] * s;
    if (o !== undefined) {
      const total = Math.max(0, full - o);
      const small = Math.floor(total / 2);
      padsBegin[i] = autoPad === "SAME_UPPER" ? small : total - small;
      padsEnd[i] = total - padsBegin[i];
    } else {
      if (autoPad === "VALID") padsBegin[i] = padsEnd[i] = 0;
      o = full - padsBegin[i] - padsEnd[i];
    }
    if (!(o >= 0)) fail(`ConvTranspose output size ${o} is negative`);
    out.push(o);
  }
  return { kernel, strides, dilations, padsBegin, padsEnd, out, outputPadding };
}

function spatialOf(ctx: InferContext, t: TensorType, what: string): readonly Dim[] | undefined {
  if (!t.shape) return undefined;
  if (t.shape.length < 3) ctx.fail(`${what} must have rank >= 3 (N, C, spatial...), has [${t.shape}]`);
  return t.shape.slice(2);
}

function staticOrUndefined(dims: readonly Dim[]): number[] | undefined {
  return dims.every((d) => typeof d === "number") ? (dims as number[]) : undefined;
}

function checkFloat(ctx: InferContext, t: TensorType, what = "X"): void {
  if (!isFloat(t.dtype)) ctx.fail(`${what} must be a float tensor, is ${String(t.dtype)}`);
}

/** Output dims of a forward window, symbolic where the input size is symbolic. */
function forwardOut(
  ctx: InferContext,
  spatial: readonly Dim[],
  kernel: readonly number[],
  ceil = false,
): Dim[] {
  const known = staticOrUndefined(spatial);
  if (known) return [...forwardWindow(known, kernel, ctx.attrs, ceil).out];
  // Per dim: resolve with a stand-in size where the dim is known, a fresh symbol where it is not.
  const probe = spatial.map((d) => (typeof d === "number" ? d : Math.max(...kernel) * 64));
  const w = forwardWindow(probe, kernel, ctx.attrs, ceil);
  return spatial.map((d, i) => (typeof d === "number" ? w.out[i] : ctx.fresh()));
}

function kernelShapeAttr(ctx: InferContext, n: number | undefined): number[] {
  const k = ctx.attrs.kernel_shape as readonly number[] | undefined;
  if (!k || k.length === 0) ctx.fail("kernel_shape is required");
  if (n !== undefined && k.length !== n) ctx.fail(`kernel_shape [${k}] does not match ${n} spatial dims`);
  return [...k];
}

function convInfer(ctx: InferContext): TensorType[] {
  const x = ctx.tensor(0), w = ctx.tensor(1);
  checkFloat(ctx, x);
  if (w.dtype !== x.dtype) ctx.fail(`W is ${String(w.dtype)}, X is ${String(x.dtype)}`);
  const group = ctx.attrs.group as number;
  if (!(group >= 1)) ctx.fail(`group ${group} must be >= 1`);
  if (!x.shape || !w.shape) return [tensorType(x.dtype)];
  const spatial = spatialOf(ctx, x, "X")!;
  if (w.shape.length !== x.shape.length) ctx.fail(`W [${w.shape}] and X [${x.shape}] differ in rank`);
  const c = x.shape[1], wc = w.shape[1];
  if (typeof c === "number" && typeof wc === "number" && c !== wc * group) {
    ctx.fail(`X has ${c} channels, W expects ${wc} x group ${group}`);
  }
  const m = w.shape[0];
  if (typeof m === "number" && m % group !== 0) {
    ctx.fail(`${m} output channels do not split into ${group} groups`);
  }
  const ks = ctx.attrs.kernel_shape as readonly number[] | undefined;
  const wk = w.shape.slice(2);
  const kernel = ks && ks.length ? [...ks] : staticOrUndefined(wk);
  if (!kernel) return [tensorType(x.dtype, [x.shape[0], m, ...spatial.map(() => ctx.fresh())])];
  return [tensorType(x.dtype, [x.shape[0], m, ...forwardOut(ctx, spatial, kernel)])];
}

defineOp({
  op: "Conv",
  inputs: ins("X", "W", opt("B")),
  outputs: ins("Y"),
  attrs: {
    auto_pad: a.string("NOTSET"),
    dilations: a.ints(),
    group: a.int(1),
    kernel_shape: a.ints(),
    pads: a.ints(),
    strides: a.ints(),
  },
  infer: convInfer,
});

/**
 * onnxruntime's contrib FusedConv: act(Conv(X, W, B) + Z). Relu and Clip run inside the GEMM epilogue;
 * the other activations after it. A fusion pass can target it to drop separate activation nodes.
 */
export const FUSED_ACTIVATIONS = ["Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid"] as const;

defineOp({
  op: "com.microsoft.FusedConv",
  inputs: ins("X", "W", opt("B"), opt("Z")),
  outputs: ins("Y"),
  attrs: {
    auto_pad: a.string("NOTSET"),
    dilations: a.ints(),
    group: a.int(1),
    kernel_shape: a.ints(),
    pads: a.ints(),
    strides: a.ints(),
    activation: a.string(""),
    activation_params: a.floats(),
  },
  infer(ctx) {
    const act = ctx.attrs.activation as string;
    if (act !== "" && !(FUSED_ACTIVATIONS as readonly string[]).includes(act)) {
      ctx.fail(`unsupported activation '${act}'`);
    }
    return convInfer(ctx);
  },
});

defineOp({
  op: "ConvTranspose",
  inputs: ins("X", "W", opt("B")),
  outputs: ins("Y"),
  attrs: {
    auto_pad: a.string("NOTSET"),
    dilations: a.ints(),
    group: a.int(1),
    kernel_shape: a.ints(),
    output_padding: a.ints(),
    output_shape: a.ints(),
    pads: a.ints(),
    strides: a.ints(),
  },
  infer(ctx) {
    const x = ctx.tensor(0), w = ctx.tensor(1);
    checkFloat(ctx, x);
    const group = ctx.attrs.group as number;
    if (!(group >= 1)) ctx.fail(`group ${group} must be >= 1`);
    if (!x.shape || !w.shape) return [tensorType(x.dtype)];
    const spatial = spatialOf(ctx, x, "X")!;
    if (w.shape.length !== x.shape.length) ctx.fail(`W [${w.shape}] and X [${x.shape}] differ in rank`);
    const m = typeof w.shape[1] === "number" ? w.shape[1] * group : ctx.fresh();
    const ks = ctx.attrs.kernel_shape as readonly number[] | undefined;
    const kernel = ks && ks.length ? [...ks] : staticOrUndefined(w.shape.slice(2));
    const known = staticOrUndefined(spatial);
    if (!kernel || !known) return [tensorType(x.dtype, [x.shape[0], m, ...spatial.map(() => ctx.fresh())])];
    return [tensorType(x.dtype, [x.shape[0], m, ...transposeWindow(known, kernel, ctx.attrs).out])];
  },
});

const poolAttrs = {
  auto_pad: a.string("NOTSET"),
  ceil_mode: a.int(0),
  dilations: a.ints(),
  kernel_shape: a.required(a.ints()),
  pads: a.ints(),
  strides: a.ints(),
};

function poolInfer(ctx: InferContext, allowInts: boolean): TensorType {
  const x = ctx.tensor(0);
  if (!isFloat(x.dtype) && !(allowInts && (x.dtype === "i8" || x.dtype === "u8"))) {
    ctx.fail(`X must be a float${allowInts ? ", i8 or u8" : ""} tensor, is ${String(x.dtype)}`);
  }
  if (!x.shape) return tensorType(x.dtype);
  const spatial = spatialOf(ctx, x, "X")!;
  const kernel = kernelShapeAttr(ctx, spatial.length);
  return tensorType(x.dtype, [
    x.shape[0],
    x.shape[1],
    ...forwardOut(ctx, spatial, kernel, ctx.attrs.ceil_mode === 1),
  ]);
}

defineOp({
  op: "MaxPool",
  inputs: ins("X"),
  outputs: ins("Y", opt("Indices")),
  attrs: { ...poolAttrs, storage_order: a.int(0) },
  infer(ctx) {
    const y = poolInfer(ctx, true);
    return [y, tensorType("i64", y.shape)];
  },
});

defineOp({
  op: "AveragePool",
  inputs: ins("X"),
  outputs: ins("Y"),
  attrs: { ...poolAttrs, count_include_pad: a.int(0) },
  infer: (ctx) => [poolInfer(ctx, false)],
});

defineOp({
  op: "LpPool",
  inputs: ins("X"),
  outputs: ins("Y"),
  attrs: { ...poolAttrs, p: a.int(2) },
  infer: (ctx) => [poolInfer(ctx, false)],
});

function globalInfer(ctx: InferContext): TensorType[] {
  const x = ctx.tensor(0);
  checkFloat(ctx, x);
  if (!x.shape) return [tensorType(x.dtype)];
  if (x.shape.length < 2) ctx.fail(`X must have rank >= 2, has [${x.shape}]`);
  return [tensorType(x.dtype, [x.shape[0], x.shape[1], ...x.shape.slice(2).map(() => 1)])];
}

defineOp({ op: "GlobalAveragePool", inputs: ins("X"), outputs: ins("Y"), infer: globalInfer });
defineOp({ op: "GlobalMaxPool", inputs: ins("X"), outputs: ins("Y"), infer: globalInfer });
defineOp({
  op: "GlobalLpPool",
  inputs: ins("X"),
  outputs: ins("Y"),
  attrs: { p: a.int(2) },
  infer: globalInfer,
});

/** MaxUnpool's default output size per spatial dim. */
export function unpoolSize(inp: number, k: number, s: number, padBegin: number, padEnd: number): number {
  return (inp - 1) * s + k - padBegin - padEnd;
}

defineOp({
  op: "MaxUnpool",
  inputs: ins("X", "I", opt("output_shape")),
  outputs: ins("output"),
  attrs: { kernel_shape: a.required(a.ints()), pads: a.ints(), strides: a.ints() },
  infer(ctx) {
    const x = ctx.tensor(0), idx = ctx.tensor(1);
    checkFloat(ctx, x);
    if (idx.dtype !== "i64") ctx.fail(`I must be i64, is ${String(idx.dtype)}`);
    if (ctx.inputs[2]) {
      const os = ctx.ints(2);
      if (os) return [tensorType(x.dtype, os)];
      const r = ctx.tensor(2).shape?.[0];
      return [
        tensorType(x.dtype, typeof r === "number" ? Array.from({ length: r }, () => ctx.fresh()) : undefined),
      ];
    }
    if (!x.shape) return [tensorType(x.dtype)];
    const spatial = spatialOf(ctx, x, "X")!;
    const k = kernelShapeAttr(ctx, spatial.length);
    const strides = listAttr(ctx.attrs, "strides", spatial.length, 1);
    const pads = listAttr(ctx.attrs, "pads", 2 * spatial.length, 0);
    const n = spatial.length;
    const out = spatial.map((d, i) =>
      typeof d === "number" ? unpoolSize(d, k[i], strides[i], pads[i], pads[i + n]) : ctx.fresh()
    );
    return [tensorType(x.dtype, [x.shape[0], x.shape[1], ...out])];
  },
});

defineOp({
  op: "Col2Im",
  inputs: ins("input", "image_shape", "block_shape"),
  outputs: ins("output"),
  attrs: { dilations: a.ints(), pads: a.ints(), strides: a.ints() },
  infer(ctx) {
    const x = ctx.tensor(0);
    if (!isFloat(x.dtype) && !isInteger(x.dtype)) ctx.fail(`input must be numeric, is ${String(x.dtype)}`);
    const image = ctx.ints(1), block = ctx.ints(2);
    const n = ctx.tensor(1).shape?.[0];
    if (!x.shape || typeof n !== "number") return [tensorType(x.dtype)];
    if (x.shape.length !== 3) ctx.fail(`input must be [N, C*prod(block), L], is [${x.shape}]`);
    let c: Dim = ctx.fresh();
    if (block && typeof x.shape[1] === "number") {
      const b = block.reduce((p, d) => p * d, 1);
      if (b <= 0 || x.shape[1] % b !== 0) ctx.fail(`${x.shape[1]} is not a multiple of the block size ${b}`);
      c = x.shape[1] / b;
    }
    return [tensorType(x.dtype, [x.shape[0], c, ...(image ?? Array.from({ length: n }, () => ctx.fresh()))])];
  },
});
