/**
 * Driver steps for the ONNX ops a quantized ONNX model keeps on the CPU after partitioning (the quantize
 * pass's QuantizeLinear/DequantizeLinear around float MaxPool and Concat, depthwise QLinearConv, and
 * onnxruntime's QLinearAdd and QLinearGlobalAveragePool), bit for bit as Lathe's runtime computes them.
 * Scales and zero points must be constants; they are read here and baked into the driver, with what the
 * runtime derives from them in float32 (requantization multipliers, MLAS's ratios) computed the same way.
 * C++: cpp/kernels/onnx_quant.h, max_pool.h, concat.h.
 */
import { constantNumbers } from "../../ir/constant-values.ts";
import { forwardWindow } from "../../ir/ops/conv-pool.ts";
import { convGeometry } from "../../ir/ops/quantize.ts";
import { codeRange } from "./element-type.ts";
import { hexFloat, int32 } from "./cpp-literal.ts";
import { registerStep, type StepContext } from "./step.ts";

const f = Math.fround;

/** The values of a constant operand, or a refusal naming it. */
function constValues(ctx: StepContext, i: number, what: string): number[] {
  const name = ctx.node.inputs[i];
  if (!name) ctx.fail(`${what} is missing`);
  const c = ctx.constant(name);
  if (!c) ctx.fail(`${what} is not a constant`);
  return constantNumbers(c);
}

function scalar(ctx: StepContext, i: number, what: string, optional = false): number {
  if (optional && !ctx.node.inputs[i]) return 0;
  const v = constValues(ctx, i, what);
  if (v.length !== 1) ctx.fail(`${what} must be a single value`);
  return v[0];
}

function codes8(ctx: StepContext, name: string | null | undefined, what: string) {
  if (!name) ctx.fail(`${what} is missing`);
  const t = ctx.tensor(name);
  const r = codeRange(t.storage);
  if (!r) ctx.fail(`${what} is ${t.storage}; the driver takes 8-bit codes`);
  return { name, t, range: r };
}

/** Per tensor or per axis (QuantizeLinear/DequantizeLinear's `axis`); blocked layouts are refused. */
function layout(ctx: StepContext, shape: readonly number[], n: number) {
  if ((ctx.attrs.block_size ?? 0) > 0) ctx.fail("blocked quantization");
  if (n === 1 || shape.length === 0) return { channels: 1, inner: 1 };
  const axis = ctx.attrs.axis < 0 ? ctx.attrs.axis + shape.length : ctx.attrs.axis;
  if (!(axis >= 0 && axis < shape.length) || shape[axis] !== n) {
    ctx.fail(`${n} scales along axis ${ctx.attrs.axis}`);
  }
  return { channels: n, inner: shape.slice(axis + 1).reduce((p, d) => p * d, 1) };
}

registerStep("QuantizeLinear", (ctx: StepContext) => {
  const [xn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  const x = ctx.tensor(xn!);
  if (x.storage !== "f32") ctx.fail(`the input is ${x.storage}; the driver quantizes float32`);
  const y = codes8(ctx, yn, "the output");
  const s = constValues(ctx, 1, "y_scale");
  const z = ctx.node.inputs[2] ? constValues(ctx, 2, "y_zero_point") : new Array(s.length).fill(0);
  if (z.length !== s.length) ctx.fail("zero point and scale differ in length");
  const l = layout(ctx, x.shape, s.length);
  const sName = ctx.table("float", s.map(hexFloat), "scale"),
    zName = ctx.table("int32_t", z.map(int32), "zero_point");
  ctx.include("kernels/onnx_quant.h");
  return [
    `lathe::quantize_linear(${ctx.ptr(xn!)}, ${
      ctx.ptr(yn)
    }, ${x.count}, ${sName}, ${zName}, ${l.channels}, ${l.inner}, ` +
    `${y.range[0]}, ${y.range[1]});`,
  ];
});

registerStep("DequantizeLinear", (ctx: StepContext) => {
  const [xn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  // int32 codes (a bias the quantize pass left for a float consumer) with zero point 0: (x - 0) * scale
  // cannot overflow, so the 8-bit kernel's int32 arithmetic is exact for them too.
  const wide = !!xn && ctx.tensor(xn).storage === "i32" &&
    (!ctx.node.inputs[2] || constValues(ctx, 2, "x_zero_point").every((z) => z === 0));
  const x = wide ? { t: ctx.tensor(xn!) } : codes8(ctx, xn, "the input");
  if (ctx.tensor(yn).storage !== "f32") ctx.fail("the driver dequantizes to float32");
  const s = constValues(ctx, 1, "x_scale");
  if (ctx.tensor(ctx.node.inputs[1]!).storage !== "f32") ctx.fail("x_scale must be float32");
  const z = ctx.node.inputs[2] ? constValues(ctx, 2, "x_zero_point") : new Array(s.length).fill(0);
  if (z.length !== s.length) ctx.fail("zero point and scale differ in length");
  const l = layout(ctx, x.t.shape, s.length);
  const sName = ctx.table("float", s.map(hexFloat), "scale"),
    zName = ctx.table("int32_t", z.map(int32), "zero_point");
  ctx.include("kernels/onnx_quant.h");
  return [
    `lathe::dequantize_linear(${ctx.ptr(xn!)}, ${
      ctx.ptr(yn)
    }, ${x.t.count}, ${sName}, ${zName}, ${l.channels}, ${l.inner});`,
  ];
});

registerStep("QLinearConv", (ctx: StepContext) => {
  const ins = ctx.node.inputs, [yn] = ctx.node.outputs;
  const x = codes8(ctx, ins[0], "x"), w = codes8(ctx, ins[3], "w"), y = codes8(ctx, yn, "y");
  if (x.t.shape.length !== 4 || w.t.shape.length !== 4) ctx.fail("only 2-D convolutions (NCHW) are emitted");
  const [N, C, H, W] = x.t.shape, [M, Cg, KH, KW] = w.t.shape;
  const group = ctx.attrs.group;
  if (!(group > 0) || C !== Cg * group || M % group !== 0) {
    ctx.fail(`${C} channels, ${M} filters of ${Cg}, group ${group}`);
  }
  const g = convGeometry([H, W], [KH, KW], ctx.attrs);
  const xs = scalar(ctx, 1, "x_scale"), xz = scalar(ctx, 2, "x_zero_point");
  const ws = constValues(ctx, 4, "w_scale"), wz = constValues(ctx, 5, "w_zero_point");
  const ys = scalar(ctx, 6, "y_scale"), yz = scalar(ctx, 7, "y_zero_point");
  if (ws.length !== 1 && ws.length !== M) ctx.fail(`${ws.length} weight scales for ${M} filters`);
  if (wz.length !== 1 && wz.length !== M) ctx.fail(`${wz.length} weight zero points for ${M} filters`);
  let bias = "nullptr";
  if (ins[8]) {
    const b = ctx.tensor(ins[8]);
    if (b.storage !== "i32" || b.count !== M) ctx.fail(`B must be ${M} int32 values`);
    bias = ctx.ptr(ins[8], "int32_t");
  }
  const mult = Array.from({ length: M }, (_, m) => hexFloat(f(f(xs * ws[ws.length === 1 ? 0 : m]) / ys)));
  const wzp = Array.from({ length: M }, (_, m) => int32(wz[wz.length === 1 ? 0 : m]));
  const p = [
    N,
    C,
    H,
    W,
    M,
    Cg,
    group,
    KH,
    KW,
    g.outSize[0],
    g.outSize[1],
    g.strides[0],
    g.strides[1],
    g.dilations[0],
    g.dilations[1],
    g.padBegin[0],
    g.padBegin[1],
    xz,
    yz,
    y.range[0],
    y.range[1],
  ].map(int32);
  const mName = ctx.table("float", mult, "multiplier"), zName = ctx.table("int32_t", wzp, "w_zero_point");
  ctx.include("kernels/onnx_quant.h");
  return [
    `static const lathe::QConvParams p = {${p.join(", ")}};`,
    `lathe::qlinear_conv(${ctx.ptr(x.name)}, ${ctx.ptr(w.name)}, ${zName}, ${bias}, ${mName}, ${
      ctx.ptr(y.name)
    }, p);`,
  ];
});

registerStep("com.microsoft.QLinearAdd", (ctx: StepContext) => {
  const ins = ctx.node.inputs, [yn] = ctx.node.outputs;
  const a = codes8(ctx, ins[0], "A"), b = codes8(ctx, ins[3], "B"), y = codes8(ctx, yn, "C");
  const sA = scalar(ctx, 1, "A_scale"), sB = scalar(ctx, 4, "B_scale"), sC = scalar(ctx, 6, "C_scale");
  const zA = scalar(ctx, 2, "A_zero_point", true), zB = scalar(ctx, 5, "B_zero_point", true);
  const zC = scalar(ctx, 7, "C_zero_point", true);
  const scalarB = b.t.count === 1;
  if (!scalarB && b.t.count !== a.t.count) ctx.fail("B must have A's shape or be a single value");
  if (scalarB && !ctx.constant(ins[3])) ctx.fail("a single-value B must be a constant");
  // MLAS: ratios and the fixed part in float32 (a constant scalar B folds into the fixed part).
  const rAC = f(sA / sC), rBC = f(sB / sC);
  let fixed = f(zC - f(f(rAC * zA) + f(rBC * zB)));
  if (scalarB) fixed = f(fixed + f(constantNumbers(ctx.constant(ins[3])!)[0] * rBC));
  ctx.include("kernels/onnx_quant.h");
  return [
    `lathe::qlinear_add(${ctx.ptr(a.name)}, ${ctx.ptr(b.name)}, ${
      ctx.ptr(y.name)
    }, ${a.t.count}, ${scalarB}, ` +
    `${hexFloat(rAC)}, ${hexFloat(rBC)}, ${hexFloat(fixed)}, ${y.range[0]}, ${y.range[1]});`,
  ];
});

registerStep("com.microsoft.QLinearGlobalAveragePool", (ctx: StepContext) => {
  const [xn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  const x = codes8(ctx, xn, "X");
  codes8(ctx, yn, "Y");
  const sx = scalar(ctx, 1, "x_scale"), zx = scalar(ctx, 2, "x_zero_point");
  const sy = scalar(ctx, 3, "y_scale"), zy = scalar(ctx, 4, "y_zero_point");
  const last = ctx.attrs.channels_last === 1;
  const r = x.t.shape.length;
  if (r < 3) ctx.fail("X must have spatial dims");
  const N = x.t.shape[0], C = last ? x.t.shape[r - 1] : x.t.shape[1];
  const image = x.t.count / Math.max(N * C, 1);
  const scale = f(sx / f(sy * image));
  ctx.include("kernels/onnx_quant.h");
  return [
    `lathe::qlinear_global_average_pool(${ctx.ptr(x.name)}, ${ctx.ptr(yn)}, ${N}, ${C}, ${image}, ${last}, ${
      int32(zx)
    }, ` +
    `${int32(zy)}, ${hexFloat(scale)}, ${x.range[0]}, ${x.range[1]});`,
  ];
});

registerStep("MaxPool", (ctx: StepContext) => {
  const [xn] = ctx.node.inputs, [yn, idx] = ctx.node.outputs;
  if (idx) ctx.fail("the Indices output is not emitted");
  const x = ctx.tensor(xn!);
  if (x.shape.length !== 4) ctx.fail("only 2-D pooling (NCHW) is emitted");
  if (x.storage !== "f32" && x.storage !== "i8" && x.storage !== "u8") ctx.fail(`MaxPool on ${x.storage}`);
  const [N, C, H, W] = x.shape;
  const win = forwardWindow([H, W], ctx.attrs.kernel_shape, ctx.attrs, ctx.attrs.ceil_mode === 1);
  const p = [
    N * C,
    H,
    W,
    win.out[0],
    win.out[1],
    win.kernel[0],
    win.kernel[1],
    win.strides[0],
    win.strides[1],
    win.dilations[0],
    win.dilations[1],
    win.padsBegin[0],
    win.padsBegin[1],
  ].map(int32);
  const empty = x.storage === "f32" ? "-__builtin_inff()" : x.storage === "i8" ? "-128" : "0";
  ctx.include("kernels/max_pool.h");
  return [
    `static const lathe::MaxPoolParams p = {${p.join(", ")}};`,
    `lathe::max_pool_nchw(${ctx.ptr(xn!)}, ${ctx.ptr(yn)}, p, static_cast<${x.ctype}>(${empty}));`,
  ];
});

registerStep("Concat", (ctx: StepContext) => {
  const [yn] = ctx.node.outputs;
  const y = ctx.tensor(yn);
  const r = y.shape.length;
  const axis = ctx.attrs.axis < 0 ? ctx.attrs.axis + r : ctx.attrs.axis;
  if (!(axis >= 0 && axis < r)) ctx.fail(`axis ${ctx.attrs.axis} out of range`);
  const outer = y.shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const size = y.bytes;
  const runs = ctx.node.inputs.map((n, i) => {
    if (!n) ctx.fail(`input ${i} is missing`);
    const t = ctx.tensor(n);
    if (t.storage !== y.storage) ctx.fail("operands differ in element type");
    return `{${ctx.ptr(n)}, ${(t.count / Math.max(1, outer)) * size}}`;
  });
  ctx.include("kernels/concat.h");
  return [
    `const lathe::ConcatRun runs[${runs.length}] = {${runs.join(", ")}};`,
    `lathe::concat_bytes(runs, ${runs.length}, ${ctx.ptr(yn)}, ${outer}, ${
      (y.count / Math.max(1, outer)) * size
    });`,
  ];
});
