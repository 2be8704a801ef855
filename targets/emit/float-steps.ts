/**
 * Driver steps for the float32 ops a quantized model keeps on the CPU around its 8-bit islands (the
 * activations, arithmetic, softmax and batch normalization the int8 pipeline leaves in float), computed as
 * Lathe's runtime does: each element in double from float32 operands and rounded to float32 once, with the
 * runtime kernel's expression written out as a C++ lambda (runtime/kernels/elementwise.ts, reduce.ts,
 * normalization.ts). Math.exp and Math.tanh come from cpp/kernels/js_math.h, which reproduces V8's.
 * C++: cpp/kernels/float_ops.h.
 */
import { constantNumbers } from "../../ir/constant-values.ts";
import { hexDouble } from "./cpp-literal.ts";
import { registerStep, type StaticTensor, type StepContext } from "./step.ts";
import { broadcastLiteral } from "./tflite-steps.ts";

function f32(ctx: StepContext, name: string | null | undefined, what: string): StaticTensor {
  if (!name) ctx.fail(`${what} is missing`);
  const t = ctx.tensor(name);
  if (t.dtype !== "f32") {
    ctx.fail(`${what} is ${typeof t.dtype === "string" ? t.dtype : "quantized"}; the step takes float32`);
  }
  return t;
}

/** A C++ double literal of a parameter the runtime reads as a JS number. */
const lit = (v: number) => hexDouble(v);

/** Unary ops on float32, or on float64 (computed the same way, with no rounding at the end). */
function unaryStep(op: string, body: (ctx: StepContext) => string): void {
  registerStep(op, (ctx: StepContext) => {
    const [xn] = ctx.node.inputs, [yn] = ctx.node.outputs;
    if (!xn) ctx.fail("the input is missing");
    const x = ctx.tensor(xn);
    const wide = x.dtype === "f64" && ctx.tensor(yn).dtype === "f64";
    if (!wide) f32(ctx, xn, "the input"), f32(ctx, yn, "the output");
    ctx.include("kernels/float_ops.h");
    return [
      `lathe::map_${wide ? "f64" : "f32"}(${ctx.ptr(xn)}, ${ctx.ptr(yn)}, ${x.count}, [](double a) { return ${
        body(ctx)
      }; });`,
    ];
  });
}

unaryStep("Relu", () => "a < 0 ? 0.0 : a");
unaryStep("LeakyRelu", (ctx) => `a < 0 ? a * ${lit(ctx.attrs.alpha)} : a`);
unaryStep(
  "HardSigmoid",
  (ctx) => `lathe::js_max(0.0, lathe::js_min(1.0, ${lit(ctx.attrs.alpha)} * a + ${lit(ctx.attrs.beta)}))`,
);
unaryStep("HardSwish", () => "a * lathe::js_max(0.0, lathe::js_min(1.0, a / 6 + 0.5))");
unaryStep("Sigmoid", () => "lathe::js_sigmoid(a)");
unaryStep("Tanh", () => "lathe::js_tanh(a)");
unaryStep("Neg", () => "-a");
unaryStep("Abs", () => "std::fabs(a)");
unaryStep("Sqrt", () => "std::sqrt(a)");
unaryStep("Reciprocal", () => "1 / a");
unaryStep("Exp", () => "lathe::js_exp(a)");

/** A scalar bound of Clip: a float32 constant, or the open end when absent. */
function clipBound(ctx: StepContext, i: number, open: number): number {
  const n = ctx.node.inputs[i];
  if (!n) return open;
  f32(ctx, n, `input ${i}`);
  const c = ctx.constant(n);
  if (!c) ctx.fail(`input ${i} is not a constant`);
  const v = constantNumbers(c);
  if (v.length !== 1) ctx.fail(`input ${i} must be a single value`);
  return v[0];
}

registerStep("Clip", (ctx: StepContext) => {
  const [xn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  const x = f32(ctx, xn, "the input");
  let lo = clipBound(ctx, 1, -Infinity);
  const hi = clipBound(ctx, 2, Infinity);
  if (lo > hi) lo = hi; // ONNX: min > max makes every element max
  ctx.include("kernels/float_ops.h");
  // NaN passes through, as in the runtime's loop.
  return [
    `lathe::map_f32(${ctx.ptr(xn!)}, ${ctx.ptr(yn)}, ${x.count}, [](double a) { return a < ${lit(lo)} ? ${
      lit(lo)
    } : a > ${lit(hi)} ? ${lit(hi)} : a; });`,
  ];
});

function binaryStep(op: string, expr: string): void {
  registerStep(op, (ctx: StepContext) => {
    const [an, bn] = ctx.node.inputs, [yn] = ctx.node.outputs;
    const a = f32(ctx, an, "A"), b = f32(ctx, bn, "B"), y = f32(ctx, yn, "the output");
    ctx.include("kernels/float_ops.h");
    return [
      `static const lathe::Broadcast bc = ${broadcastLiteral(ctx, a.shape, b.shape, y.shape)};`,
      `lathe::zip_f32(${ctx.ptr(an!)}, ${ctx.ptr(bn!)}, ${
        ctx.ptr(yn)
      }, bc, [](double a, double b) { return ${expr}; });`,
    ];
  });
}

binaryStep("Add", "a + b");
binaryStep("Sub", "a - b");
binaryStep("Mul", "a * b");
binaryStep("Div", "a / b");
binaryStep("PRelu", "a < 0 ? a * b : a");

/** Variadic Max/Min/Sum fold left to right into the output, each step rounded to float32. */
function variadicStep(op: string, expr: string): void {
  registerStep(op, (ctx: StepContext) => {
    const ins = ctx.node.inputs, [yn] = ctx.node.outputs;
    const y = f32(ctx, yn, "the output");
    const xs = ins.map((n, i) => ({ n: n!, t: f32(ctx, n, `input ${i}`) }));
    if (xs.length === 0) ctx.fail("no inputs");
    ctx.include("kernels/float_ops.h");
    const fn = `[](double a, double b) { return ${expr}; }`;
    if (xs.length === 1) {
      if (xs[0].t.count !== y.count) ctx.fail("one input of another shape than the output");
      return [`lathe::map_f32(${ctx.ptr(xs[0].n)}, ${ctx.ptr(yn)}, ${y.count}, [](double a) { return a; });`];
    }
    const lines = [
      `static const lathe::Broadcast bc1 = ${broadcastLiteral(ctx, xs[0].t.shape, xs[1].t.shape, y.shape)};`,
      `lathe::zip_f32(${ctx.ptr(xs[0].n)}, ${ctx.ptr(xs[1].n)}, ${ctx.ptr(yn)}, bc1, ${fn});`,
    ];
    for (let i = 2; i < xs.length; i++) {
      lines.push(
        `static const lathe::Broadcast bc${i} = ${broadcastLiteral(ctx, y.shape, xs[i].t.shape, y.shape)};`,
        `lathe::zip_f32(${ctx.ptr(yn)}, ${ctx.ptr(xs[i].n)}, ${ctx.ptr(yn)}, bc${i}, ${fn});`,
      );
    }
    return lines;
  });
}

// NaN wins, as in the runtime (numpy's maximum/minimum).
variadicStep("Max", "a != a || a > b ? a : b");
variadicStep("Min", "a != a || a < b ? a : b");
variadicStep("Sum", "a + b");

registerStep("Softmax", (ctx: StepContext) => {
  const [xn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  const x = f32(ctx, xn, "the input");
  f32(ctx, yn, "the output");
  const r = x.shape.length;
  const axis = ctx.attrs.axis < 0 ? ctx.attrs.axis + r : ctx.attrs.axis;
  if (!(axis >= 0 && axis < Math.max(r, 1))) ctx.fail(`axis ${ctx.attrs.axis} out of range`);
  const outer = x.shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const dim = r ? x.shape[axis] : 1;
  const inner = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  ctx.include("kernels/float_ops.h");
  return [`lathe::softmax_f32(${ctx.ptr(xn!)}, ${ctx.ptr(yn)}, ${outer}, ${dim}, ${inner});`];
});

registerStep("BatchNormalization", (ctx: StepContext) => {
  const ins = ctx.node.inputs, [yn, ...stats] = ctx.node.outputs;
  if (ctx.attrs.training_mode) ctx.fail("training mode");
  if (stats.some(Boolean)) ctx.fail("the running statistics outputs are not emitted");
  const x = f32(ctx, ins[0], "X");
  f32(ctx, yn, "Y");
  if (x.shape.length < 2) ctx.fail(`X [${x.shape}] has no channel axis`);
  const [n, c] = x.shape;
  const s = x.shape.slice(2).reduce((p, d) => p * d, 1);
  const per = (i: number, what: string) => {
    const name = ins[i];
    f32(ctx, name, what);
    const k = ctx.constant(name);
    if (!k) ctx.fail(`${what} is not a constant`);
    const v = constantNumbers(k);
    if (v.length !== c) ctx.fail(`${what} has ${v.length} values for ${c} channels`);
    return v;
  };
  const scale = per(1, "scale"), bias = per(2, "B"), mean = per(3, "input_mean"), vr = per(4, "input_var");
  // The runtime's per-channel factors, in the same double arithmetic (Math.sqrt is correctly rounded).
  const eps: number = ctx.attrs.epsilon;
  const mul = scale.map((sc, ch) => sc / Math.sqrt(vr[ch] + eps));
  const add = bias.map((b, ch) => b - mean[ch] * mul[ch]);
  const mName = ctx.table("double", mul.map(lit), "mul"), aName = ctx.table("double", add.map(lit), "add");
  ctx.include("kernels/float_ops.h");
  return [
    `lathe::channel_affine_f32(${ctx.ptr(ins[0]!)}, ${ctx.ptr(yn)}, ${n}, ${c}, ${s}, ${mName}, ${aName});`,
  ];
});
