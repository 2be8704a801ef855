/**
 * Driver steps for the `tfl` ops a partition leaves on the CPU, on 8-bit codes, bit for bit as Lathe's
 * runtime computes them (runtime/kernels/tflite-int.ts, TFLite's default double-rounding build). What
 * TFLite's Prepare computes is computed here at compile time with the runtime's own primitives
 * (runtime/tflite/requantize.ts, fixed-point.ts) and baked into the driver: per-channel multipliers and
 * shifts, activation clamp bounds, ADD's per-operand scaled tables, MEAN's folded multiplier, SOFTMAX's
 * float32 exponent table. Ops whose 8-bit result depends on the code alone (LOGISTIC, TANH, HARD_SWISH,
 * 8-bit QUANTIZE) get the 256-entry table TFLite builds, evaluated by running the runtime's kernel on every
 * code. The C++ kernels (cpp/kernels/tfl_*.h) run the integer inner loops.
 */
import { type AffineQuant, printDType } from "../../ir/dtype.ts";
import { constantNumbers } from "../../ir/constant-values.ts";
import type { Graph, Node } from "../../ir/graph.ts";
import { windowAxis } from "../../ir/ops/tflite-geometry.ts";
import { tensorType } from "../../ir/value-type.ts";
import { Session } from "../../runtime/interpreter.ts";
import { Tensor } from "../../runtime/tensor.ts";
import { multiplyByQuantizedMultiplier } from "../../runtime/tflite/fixed-point.ts";
import {
  activationRangeQuantized,
  integerArithmetic,
  legacyConvMultiplier,
  perChannelMultipliers,
  quantizeMultiplier,
  roundHalfAway,
  storageRange,
} from "../../runtime/tflite/requantize.ts";
import "../../runtime/kernels/index.ts";
import { codeRange } from "./element-type.ts";
import { hexDouble, hexFloat, int32 } from "./cpp-literal.ts";
import { registerStep, type StaticTensor, type StepContext } from "./step.ts";
import { floatBinary, floatOperands } from "./tflite-float-steps.ts";

interface QOperand {
  readonly name: string;
  readonly t: StaticTensor;
  readonly q: AffineQuant;
}

function quant(ctx: StepContext, name: string | null | undefined, what: string): QOperand {
  if (!name) ctx.fail(`${what} is missing`);
  const t = ctx.tensor(name);
  const d = t.dtype;
  if (typeof d === "string" || d.kind !== "affine") {
    ctx.fail(`${what} is ${printDType(d)}, not affine-quantized`);
  }
  return { name, t, q: d };
}

/** An 8-bit affine operand (the driver's integer kernels take int8 and uint8 codes). */
function codes8(ctx: StepContext, name: string | null | undefined, what: string): QOperand {
  const o = quant(ctx, name, what);
  if (!codeRange(o.t.storage)) {
    ctx.fail(`${what} is ${o.t.storage}; the driver's integer kernels take 8-bit codes`);
  }
  return o;
}

function perTensor(ctx: StepContext, q: AffineQuant, what: string): [number, number] {
  if (q.scale.length !== 1) ctx.fail(`${what} must be quantized per tensor`);
  return [q.scale[0], q.zeroPoint[0]];
}

function doubleRounding(ctx: StepContext): void {
  const a = integerArithmetic();
  if (a !== "double-rounding") {
    ctx.fail(`the driver computes TFLite's default double-rounding arithmetic; the runtime is set to ${a}`);
  }
}

const qm = (m: number) => quantizeMultiplier(m);

function ints(values: ArrayLike<number>): string[] {
  return Array.from(values, (v) => int32(v));
}

/** Bias: an int32 constant (or absent), as a pointer expression. */
function biasPtr(ctx: StepContext, name: string | null | undefined, channels: number): string {
  if (!name) return "nullptr";
  const t = ctx.tensor(name);
  if (t.storage !== "i32") ctx.fail(`the bias is ${t.storage}; the 8-bit kernels add int32 biases`);
  if (t.count !== channels) ctx.fail(`the bias has ${t.count} values for ${channels} channels`);
  return ctx.ptr(name, "int32_t");
}

/** Multipliers of a convolution-like op: TFLite's legacy float product for uint8 per-tensor, else per channel. */
function convMultipliers(x: AffineQuant, w: AffineQuant, y: AffineQuant, channels: number, legacy: boolean) {
  if (legacy && w.scale.length === 1) {
    const m = legacyConvMultiplier(x.scale[0], w.scale[0], y.scale[0]);
    return {
      multiplier: new Int32Array(channels).fill(m.multiplier),
      shift: new Int32Array(channels).fill(m.shift),
    };
  }
  return perChannelMultipliers(x.scale[0], w.scale, y.scale[0], channels);
}

function convLike(ctx: StepContext, depthwise: boolean): string[] {
  doubleRounding(ctx);
  const [xn, wn, bn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  const x = codes8(ctx, xn, "the input"),
    w = codes8(ctx, wn, "the filter"),
    y = codes8(ctx, yn, "the output");
  if (x.t.storage !== y.t.storage) ctx.fail(`${x.t.storage} input with ${y.t.storage} output`);
  if (x.q.scale.length !== 1 || y.q.scale.length !== 1) {
    ctx.fail("input and output must be quantized per tensor");
  }
  if (x.t.shape.length !== 4 || w.t.shape.length !== 4) ctx.fail("input and filter must be rank 4");
  const [N, H, W, C] = x.t.shape;
  const a = ctx.attrs;
  let O: number, KH: number, KW: number, Cf: number, groups: number;
  if (depthwise) {
    const [one, kh, kw, oc] = w.t.shape;
    if (one !== 1 || C === 0 || oc % C !== 0) {
      ctx.fail(`filter [${w.t.shape}] does not fit ${C} input channels`);
    }
    [O, KH, KW, Cf, groups] = [oc, kh, kw, 1, C];
  } else {
    [O, KH, KW, Cf] = w.t.shape;
    if (Cf === 0 || C % Cf !== 0 || O % (C / Cf) !== 0) {
      ctx.fail(`filter [${w.t.shape}] does not fit ${C} channels`);
    }
    groups = C / Cf;
  }
  const dh = a.dilation_h_factor ?? 1, dw = a.dilation_w_factor ?? 1;
  const ay = windowAxis(a.padding, H, KH, a.stride_h, dh), ax = windowAxis(a.padding, W, KW, a.stride_w, dw);
  const { multiplier, shift } = convMultipliers(x.q, w.q, y.q, O, x.t.storage === "u8");
  const [lo, hi] = activationRangeQuantized(a.fused_activation_function, y.q);
  // TFLite subtracts a filter zero point for uint8 filters only (int8 filters are symmetric).
  const wZero = w.t.storage === "u8" ? w.q.zeroPoint[0] : 0;
  const p = [
    N,
    H,
    W,
    C,
    O,
    KH,
    KW,
    Cf,
    groups,
    ay.out,
    ax.out,
    a.stride_h,
    a.stride_w,
    dh,
    dw,
    ay.padBefore,
    ax.padBefore,
    x.q.zeroPoint[0],
    wZero,
    y.q.zeroPoint[0],
    lo,
    hi,
  ].map(int32);
  const mName = ctx.table("int32_t", ints(multiplier), "multiplier");
  const sName = ctx.table("int32_t", ints(shift), "shift");
  ctx.include("kernels/tfl_conv.h");
  const fn = depthwise ? "tfl_depthwise_conv2d" : "tfl_conv2d";
  return [
    `static const lathe::ConvParams p = {${p.join(", ")}};`,
    `lathe::${fn}(${ctx.ptr(x.name)}, ${ctx.ptr(w.name)}, ${biasPtr(ctx, bn, O)}, ${mName}, ${sName}, ${
      ctx.ptr(y.name)
    }, p);`,
  ];
}

registerStep("tfl.CONV_2D", (ctx: StepContext) => convLike(ctx, false));
registerStep("tfl.DEPTHWISE_CONV_2D", (ctx: StepContext) => convLike(ctx, true));

registerStep("tfl.FULLY_CONNECTED", (ctx: StepContext) => {
  doubleRounding(ctx);
  const [xn, wn, bn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  const x = codes8(ctx, xn, "the input"),
    w = codes8(ctx, wn, "the weights"),
    y = codes8(ctx, yn, "the output");
  if (ctx.attrs.weights_format !== "DEFAULT") ctx.fail(`weights_format ${ctx.attrs.weights_format}`);
  if (w.t.shape.length !== 2) ctx.fail(`weights must be rank 2, are [${w.t.shape}]`);
  const [U, K] = w.t.shape;
  if (K === 0 || x.t.count % K !== 0) ctx.fail(`${x.t.count} input elements are not rows of ${K}`);
  const [lo, hi] = activationRangeQuantized(ctx.attrs.fused_activation_function, y.q);
  // fully_connected.cc: the legacy float-product multiplier unless the weights are per channel.
  const { multiplier, shift } = convMultipliers(x.q, w.q, y.q, U, w.q.scale.length === 1);
  const wZero = w.q.zeroPoint.length === 1 ? w.q.zeroPoint[0] : 0;
  const mName = ctx.table("int32_t", ints(multiplier), "multiplier");
  const sName = ctx.table("int32_t", ints(shift), "shift");
  ctx.include("kernels/tfl_fully_connected.h");
  return [
    `lathe::tfl_fully_connected(${ctx.ptr(x.name)}, ${ctx.ptr(w.name)}, ${
      biasPtr(ctx, bn, U)
    }, ${mName}, ${sName}, ` +
    `${ctx.ptr(y.name)}, ${x.t.count / K}, ${K}, ${U}, ${int32(x.q.zeroPoint[0])}, ${int32(wZero)}, ` +
    `${int32(y.q.zeroPoint[0])}, ${lo}, ${hi});`,
  ];
});

/** Numpy broadcasting of two shapes: the output rank ≤ 6 and each operand's strides (0 where broadcast). */
export function broadcastLiteral(
  ctx: StepContext,
  a: readonly number[],
  b: readonly number[],
  out: readonly number[],
) {
  const r = Math.max(1, out.length);
  if (r > 6) ctx.fail(`rank ${out.length} broadcasting (the driver takes up to 6)`);
  const full = out.length ? [...out] : [1];
  const strides = (s: readonly number[]) => {
    const padded = [...new Array(r - s.length).fill(1), ...s];
    const st = new Array<number>(r).fill(0);
    let acc = 1;
    for (let d = r - 1; d >= 0; d--) {
      if (padded[d] !== 1 && padded[d] !== full[d]) ctx.fail(`[${s}] does not broadcast to [${out}]`);
      st[d] = padded[d] === 1 && full[d] !== 1 ? 0 : acc;
      acc *= padded[d];
    }
    return st;
  };
  const pad6 = (v: number[]) => `{${[...v, ...new Array(6 - v.length).fill(0)].join(", ")}}`;
  return `{${r}, ${pad6(full)}, {${pad6(strides(a))}, ${pad6(strides(b))}}}`;
}

function addSub(ctx: StepContext, negate: boolean): string[] {
  if (floatOperands(ctx)) return floatBinary(ctx, negate ? "sub" : "add");
  doubleRounding(ctx);
  const [an, bn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  const a = codes8(ctx, an, "x"), b = codes8(ctx, bn, "y"), y = codes8(ctx, yn, "the output");
  if (a.t.storage !== b.t.storage || a.t.storage !== y.t.storage) {
    ctx.fail("operands must share one storage type");
  }
  const [s1, z1] = perTensor(ctx, a.q, "x"),
    [s2, z2] = perTensor(ctx, b.q, "y"),
    [so, zo] = perTensor(ctx, y.q, "output");
  const [lo, hi] = activationRangeQuantized(ctx.attrs.fused_activation_function, y.q);
  // add.cc Prepare, 8-bit: inputs scaled by 2^20 and by s_i / (2·max(s1, s2)); the output by the rest.
  const leftShift = 20;
  const twiceMax = 2 * Math.max(s1, s2);
  const in1 = qm(s1 / twiceMax), in2raw = qm(s2 / twiceMax);
  const in2 = negate ? { multiplier: -in2raw.multiplier, shift: in2raw.shift } : in2raw;
  const out = qm(twiceMax / Math.fround(2 ** leftShift * so));
  const [cmin] = codeRange(a.t.storage)!;
  const table = (z: number, m: { multiplier: number; shift: number }) =>
    Array.from(
      { length: 256 },
      (_, c) =>
        int32(multiplyByQuantizedMultiplier(((cmin + c - z) * (1 << leftShift)) | 0, m.multiplier, m.shift)),
    );
  const t1 = ctx.table("int32_t", table(z1, in1), "scaled_x");
  const t2 = ctx.table("int32_t", table(z2, in2), "scaled_y");
  ctx.include("kernels/tfl_arith.h");
  return [
    `static const lathe::Broadcast bc = ${broadcastLiteral(ctx, a.t.shape, b.t.shape, y.t.shape)};`,
    `lathe::tfl_add(${ctx.ptr(a.name)}, ${ctx.ptr(b.name)}, ${ctx.ptr(y.name)}, bc, ${t1}, ${t2}, ` +
    `${int32(out.multiplier)}, ${int32(out.shift)}, ${int32(zo)}, ${lo}, ${hi}, ${cmin});`,
  ];
}

registerStep("tfl.ADD", (ctx: StepContext) => addSub(ctx, false));
registerStep("tfl.SUB", (ctx: StepContext) => addSub(ctx, true));

registerStep("tfl.MUL", (ctx: StepContext) => {
  if (floatOperands(ctx)) return floatBinary(ctx, "mul");
  doubleRounding(ctx);
  const [an, bn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  const a = codes8(ctx, an, "x"), b = codes8(ctx, bn, "y"), y = codes8(ctx, yn, "the output");
  if (a.t.storage !== b.t.storage || a.t.storage !== y.t.storage) {
    ctx.fail("operands must share one storage type");
  }
  const [s1, z1] = perTensor(ctx, a.q, "x"),
    [s2, z2] = perTensor(ctx, b.q, "y"),
    [so, zo] = perTensor(ctx, y.q, "output");
  const [lo, hi] = activationRangeQuantized(ctx.attrs.fused_activation_function, y.q);
  const m = qm((s1 * s2) / so);
  ctx.include("kernels/tfl_arith.h");
  return [
    `static const lathe::Broadcast bc = ${broadcastLiteral(ctx, a.t.shape, b.t.shape, y.t.shape)};`,
    `lathe::tfl_mul(${ctx.ptr(a.name)}, ${ctx.ptr(b.name)}, ${ctx.ptr(y.name)}, bc, ${int32(z1)}, ${
      int32(z2)
    }, ` +
    `${int32(m.multiplier)}, ${int32(m.shift)}, ${int32(zo)}, ${lo}, ${hi});`,
  ];
});

for (const kind of ["AVERAGE", "MAX"] as const) {
  registerStep(`tfl.${kind}_POOL_2D`, (ctx: StepContext) => {
    const [xn] = ctx.node.inputs, [yn] = ctx.node.outputs;
    const x = codes8(ctx, xn, "the input"), y = codes8(ctx, yn, "the output");
    if (x.t.shape.length !== 4) ctx.fail("the input must be NHWC");
    const [N, H, W, C] = x.t.shape;
    const a = ctx.attrs;
    const ay = windowAxis(a.padding, H, a.filter_height, a.stride_h);
    const ax = windowAxis(a.padding, W, a.filter_width, a.stride_w);
    // A window wholly in the padding has no taps (the runtime refuses it).
    if (
      ay.padBefore >= a.filter_height || ax.padBefore >= a.filter_width || ay.padAfter >= a.filter_height ||
      ax.padAfter >= a.filter_width
    ) ctx.fail("a pooling window covers no input");
    const [lo, hi] = activationRangeQuantized(a.fused_activation_function, y.q);
    const p = [
      N,
      H,
      W,
      C,
      a.filter_height,
      a.filter_width,
      ay.out,
      ax.out,
      a.stride_h,
      a.stride_w,
      ay.padBefore,
      ax.padBefore,
      lo,
      hi,
    ].map(int32);
    ctx.include("kernels/tfl_pool.h");
    return [
      `static const lathe::PoolParams p = {${p.join(", ")}};`,
      `lathe::tfl_pool<${x.t.ctype}, ${kind === "MAX"}>(${ctx.ptr(x.name)}, ${ctx.ptr(y.name)}, p);`,
    ];
  });
}

registerStep("tfl.MEAN", (ctx: StepContext) => {
  doubleRounding(ctx);
  const [xn, an] = ctx.node.inputs, [yn] = ctx.node.outputs;
  const x = codes8(ctx, xn, "the input"), y = codes8(ctx, yn, "the output");
  const axesC = ctx.constant(an);
  if (!axesC) ctx.fail("the axes are not a constant");
  const r = x.t.shape.length;
  if (r > 6) ctx.fail(`rank ${r} (the driver takes up to 6)`);
  const axes = new Set(constantNumbers(axesC).map((v) => (v < 0 ? v + r : v)));
  for (const v of axes) if (!(v >= 0 && v < r)) ctx.fail(`axis ${v} out of range`);
  const [si, zi] = perTensor(ctx, x.q, "input"), [so, zo] = perTensor(ctx, y.q, "output");
  let count = 1;
  for (const v of axes) count *= x.t.shape[v];
  const base = qm(si / so);
  // mean.cc: 1/count folded into the multiplier with shift = floor(log2 count), clamped as TFLite does.
  let shift = 0;
  while (2 ** (shift + 1) <= count) shift++;
  shift = Math.min(shift, 32, 31 + base.shift);
  const multiplier = count === 0 ? 0 : Number((BigInt(base.multiplier) << BigInt(shift)) / BigInt(count));
  const reduced = x.t.shape.map((d, i) => (axes.has(i) ? 1 : d));
  const outStride = new Array<number>(r).fill(0);
  let acc = 1;
  for (let d = r - 1; d >= 0; d--) {
    outStride[d] = axes.has(d) ? 0 : acc;
    acc *= reduced[d];
  }
  const shape = r ? [...x.t.shape] : [1];
  const stride = r ? outStride : [0];
  const pad6 = (v: number[]) => `{${[...v, ...new Array(6 - v.length).fill(0)].join(", ")}}`;
  const [qmin, qmax] = storageRange(y.t.storage);
  ctx.include("kernels/tfl_mean.h");
  return [
    `static const lathe::ReduceShape rs = {${shape.length}, ${pad6(shape)}, ${pad6(stride)}};`,
    `lathe::tfl_mean(${ctx.ptr(x.name)}, ${ctx.ptr(y.name)}, rs, ${y.t.count}, ${count}, ${int32(zi)}, ${
      int32(multiplier)
    }, ` +
    `${int32(base.shift - shift)}, ${int32(zo)}, ${qmin}, ${qmax});`,
  ];
});

registerStep("tfl.CONCATENATION", (ctx: StepContext) => {
  const [yn] = ctx.node.outputs;
  const y = codes8(ctx, yn, "the output");
  if (ctx.attrs.fused_activation_function !== "NONE") {
    ctx.fail(`fused ${ctx.attrs.fused_activation_function}`);
  }
  const xs = ctx.node.inputs.map((n, i) => codes8(ctx, n, `value ${i}`));
  if (xs.some((x) => x.t.storage !== y.t.storage)) ctx.fail("operands must share the output's storage type");
  const r = y.t.shape.length;
  const axis = ctx.attrs.axis < 0 ? ctx.attrs.axis + r : ctx.attrs.axis;
  if (!(axis >= 0 && axis < r)) ctx.fail(`axis ${ctx.attrs.axis} out of range`);
  const outer = y.t.shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const inner = y.t.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const [so, zo] = perTensor(ctx, y.q, "output");
  const invOut = Math.fround(1 / so);
  const parts = xs.map((x) => {
    const [s, z] = perTensor(ctx, x.q, "value");
    if (x.t.shape.length !== r) ctx.fail(`[${x.t.shape}] does not concatenate into [${y.t.shape}]`);
    const same = s === so && z === zo;
    // ConcatenationWithScaling: float32 scale and bias.
    const scale = Math.fround(s * invOut), bias = Math.fround(-z * scale);
    return `{${ctx.ptr(x.name)}, ${x.t.shape[axis] * inner}, ${same}, ${hexFloat(scale)}, ${hexFloat(bias)}}`;
  });
  const [qmin, qmax] = storageRange(y.t.storage);
  ctx.include("kernels/tfl_concat.h");
  return [
    `const lathe::ConcatPart parts[${parts.length}] = {${parts.join(", ")}};`,
    `lathe::tfl_concat(parts, ${parts.length}, ${ctx.ptr(y.name)}, ${outer}, ${y.t.shape[axis] * inner}, ${
      int32(zo)
    }, ` +
    `${qmin}, ${qmax});`,
  ];
});

/** The runtime kernel of `node` applied to every 8-bit code: TFLite's lookup table for a code-wise op. */
function codeTable(ctx: StepContext, x: QOperand, y: QOperand): number[] {
  const [cmin] = codeRange(x.t.storage)!;
  const codes = new Tensor(x.t.dtype, [256], x.t.storage === "i8" ? new Int8Array(256) : new Uint8Array(256));
  for (let c = 0; c < 256; c++) (codes.data as Int8Array)[c] = cmin + c;
  const node: Node = { ...ctx.node, inputs: ["x"], outputs: ["y"] };
  const g: Graph = {
    name: "code_table",
    inputs: ["x"],
    outputs: ["y"],
    nodes: [node],
    values: { x: { type: tensorType(x.t.dtype, [256]) }, y: { type: tensorType(y.t.dtype, [256]) } },
    constants: {},
  };
  const out = new Session(g).run({ x: codes }).outputs.y;
  if (!(out instanceof Tensor) || out.data.length !== 256) ctx.fail("the runtime gave no table");
  return Array.from(out.data as Int8Array);
}

function lutStep(ctx: StepContext): string[] {
  doubleRounding(ctx);
  const [xn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  const x = codes8(ctx, xn, "the input"), y = codes8(ctx, yn, "the output");
  perTensor(ctx, x.q, "input");
  perTensor(ctx, y.q, "output");
  const table = ctx.table("int32_t", ints(codeTable(ctx, x, y)), "table");
  ctx.include("kernels/lut.h");
  return [
    `lathe::lut8(${ctx.ptr(x.name)}, ${ctx.ptr(y.name)}, ${x.t.count}, ${table}, ${
      codeRange(x.t.storage)![0]
    });`,
  ];
}

registerStep("tfl.LOGISTIC", lutStep);
registerStep("tfl.TANH", lutStep);
registerStep("tfl.HARD_SWISH", lutStep);

for (
  const [op, actMin, actMax] of [["RELU", 0, Infinity], ["RELU6", 0, 6], ["RELU_N1_TO_1", -1, 1]] as const
) {
  registerStep(`tfl.${op}`, (ctx: StepContext) => {
    doubleRounding(ctx);
    const [xn] = ctx.node.inputs, [yn] = ctx.node.outputs;
    const x = codes8(ctx, xn, "the input"), y = codes8(ctx, yn, "the output");
    const [si, zi] = perTensor(ctx, x.q, "input"), [so, zo] = perTensor(ctx, y.q, "output");
    const [qmin, qmax] = storageRange(y.t.storage);
    // QuantizedReluX: the activation's bounds quantized in float with the output's parameters.
    const lo = Math.max(qmin, zo + roundHalfAway(Math.fround(actMin / so)));
    const hi = actMax === Infinity ? qmax : Math.min(qmax, zo + roundHalfAway(Math.fround(actMax / so)));
    const m = qm(Math.fround(si / so));
    ctx.include("kernels/tfl_relu.h");
    return [
      `lathe::tfl_relu(${ctx.ptr(x.name)}, ${ctx.ptr(y.name)}, ${x.t.count}, ${int32(zi)}, ${
        int32(m.multiplier)
      }, ` +
      `${int32(m.shift)}, ${int32(zo)}, ${lo}, ${hi});`,
    ];
  });
}

registerStep("tfl.SOFTMAX", (ctx: StepContext) => {
  const [xn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  const x = codes8(ctx, xn, "the input"), y = codes8(ctx, yn, "the output");
  const [si] = perTensor(ctx, x.q, "input"), [so, zo] = perTensor(ctx, y.q, "output");
  const depth = x.t.shape.length ? x.t.shape[x.t.shape.length - 1] : 1;
  if (depth === 0) ctx.fail("an empty softmax axis");
  // PopulateSoftmaxLookupTable: table[255 − d] = expf(−s·β·d), in float32.
  const beta = Math.fround(ctx.attrs.beta);
  const scale = Math.fround(-si * beta);
  const t = new Array<number>(256);
  for (let v = 0; v <= 255; v++) t[255 - v] = Math.fround(Math.exp(Math.fround(scale * v)));
  const table = ctx.table("float", t.map(hexFloat), "exp");
  const [qmin, qmax] = storageRange(y.t.storage);
  ctx.include("kernels/tfl_softmax.h");
  return [
    `lathe::tfl_softmax(${ctx.ptr(x.name)}, ${ctx.ptr(y.name)}, ${x.t.count / depth}, ${depth}, ${table}, ` +
    `${hexDouble(so)}, ${int32(zo)}, ${qmin}, ${qmax}, ${y.t.storage === "u8"});`,
  ];
});

/** Per-tensor or per-axis parameters as (scales, zero points, channels, inner) for QUANTIZE/DEQUANTIZE. */
function axisParams(ctx: StepContext, q: AffineQuant, shape: readonly number[]) {
  if (q.axis === undefined || q.scale.length === 1) {
    return { scales: [hexDouble(q.scale[0])], zps: [int32(q.zeroPoint[0])], channels: 1, inner: 1 };
  }
  const axis = q.axis < 0 ? q.axis + shape.length : q.axis;
  if (!(axis >= 0 && axis < shape.length) || shape[axis] !== q.scale.length) {
    ctx.fail(`${q.scale.length} scales along axis ${q.axis} of [${shape}]`);
  }
  return {
    scales: q.scale.map(hexDouble),
    zps: q.zeroPoint.map(int32),
    channels: q.scale.length,
    inner: shape.slice(axis + 1).reduce((p, d) => p * d, 1),
  };
}

registerStep("tfl.QUANTIZE", (ctx: StepContext) => {
  const [xn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  const y = codes8(ctx, yn, "the output");
  const xt = ctx.tensor(xn!);
  if (xt.storage === "f32") {
    const p = axisParams(ctx, y.q, y.t.shape);
    const s = ctx.table("double", p.scales, "scale"), z = ctx.table("int32_t", p.zps, "zero_point");
    const [qmin, qmax] = storageRange(y.t.storage);
    ctx.include("kernels/tfl_quantize.h");
    return [
      `lathe::tfl_quantize(${ctx.ptr(xn!)}, ${
        ctx.ptr(yn)
      }, ${y.t.count}, ${s}, ${z}, ${p.channels}, ${p.inner}, ` +
      `${qmin}, ${qmax});`,
    ];
  }
  return lutStep(ctx);
});

registerStep("tfl.DEQUANTIZE", (ctx: StepContext) => {
  const [xn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  const x = codes8(ctx, xn, "the input");
  if (ctx.tensor(yn).storage !== "f32") ctx.fail("the output must be f32");
  const p = axisParams(ctx, x.q, x.t.shape);
  const s = ctx.table("double", p.scales, "scale"), z = ctx.table("int32_t", p.zps, "zero_point");
  ctx.include("kernels/tfl_quantize.h");
  return [
    `lathe::tfl_dequantize(${ctx.ptr(x.name)}, ${
      ctx.ptr(yn)
    }, ${x.t.count}, ${s}, ${z}, ${p.channels}, ${p.inner});`,
  ];
});
