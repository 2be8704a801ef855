/**
 * Kernels of the elementwise family. Each op is a table entry: one expression per storage class, compiled
 * into a row loop (row-loop.ts) and driven over a broadcast plan (broadcast.ts).
 *
 * Storage classes: "float" (f64/f32/f16 computed in double and rounded once on store; bf16 widened to f32
 * first and rounded back at the end), "int" (8–32-bit integers as numbers; the typed-array store wraps, and
 * Mul uses Math.imul so 32-bit products stay exact), "big" (i64/u64 as bigints, wrapped with W), "bool"
 * (0/1 bytes) and "string".
 */
import type { DType } from "../../ir/dtype.ts";
import { printDType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { castTarget } from "../../ir/ops/elementwise.ts";
import { type KernelContext, registerKernel } from "../kernel-registry.ts";
import { expectTensor, type RValue, type Tensor } from "../tensor.ts";
import { broadcastStatic, forEachRow, planBroadcast } from "./broadcast.ts";
import { bf16ToF32, castInto, toBf16 } from "./convert.ts";
import { rowLoop } from "./row-loop.ts";

type Cls = "float" | "int" | "big" | "bool" | "string";
type Exprs = Partial<Record<Cls, string>>;
type Param = number | bigint;
type Elements = { [i: number]: any; readonly length: number };

function clsOf(d: DType): Cls | undefined {
  switch (d) {
    case "f64":
    case "f32":
    case "f16":
    case "bf16":
      return "float";
    case "i32":
    case "i16":
    case "i8":
    case "u32":
    case "u16":
    case "u8":
      return "int";
    case "i64":
    case "u64":
      return "big";
    case "bool":
      return "bool";
    case "string":
      return "string";
    default:
      return undefined;
  }
}

function exprFor(op: string, exprs: Exprs, d: DType): string {
  const c = clsOf(d);
  const e = c && exprs[c];
  if (!e) throw new LatheError("unsupported", `${op} does not take ${printDType(d)}`);
  return e;
}

/** A tensor's elements as the loops read them: bf16 widened to f32 unless `raw`. */
function elements(t: Tensor, raw = false): Elements {
  return t.dtype === "bf16" && !raw ? bf16ToF32(t.data as Uint16Array) : t.data;
}

function arrayName(x: Elements): string {
  return x.constructor.name;
}

function arg(inputs: readonly (RValue | undefined)[], i: number, op: string): Tensor {
  return expectTensor(inputs[i], `${op} input ${i}`);
}

interface RunOptions {
  params?: readonly Param[];
  /** Read bf16 as its bit patterns (pure selection, nothing computed). */
  raw?: boolean;
  /** The output shape, when the op fixes it (PRelu) rather than broadcasting. */
  outShape?: readonly number[];
}

/**
 * Evaluates `expr` over the broadcast of `operands` into a new tensor of type `outType`. `into` continues
 * a fold in an existing f32/number buffer whose shape is the output's.
 */
function evaluate(
  ctx: KernelContext,
  expr: string,
  operands: readonly Tensor[],
  outType: DType,
  opts: RunOptions = {},
): Tensor {
  const shapes = operands.map((t) => t.shape);
  const outShape = opts.outShape ?? broadcastStatic(shapes);
  const out = ctx.alloc(outType, outShape);
  const raw = opts.raw ?? false;
  const target: Elements = outType === "bf16" && !raw ? new Float32Array(out.data.length) : out.data;
  const data = operands.map((t) => elements(t, raw));
  applyInto(target, outShape, expr, data, shapes, outType === "u64", opts.params);
  if (target !== out.data) toBf16(target as Float32Array, out.data as Uint16Array);
  return out;
}

function applyInto(
  target: Elements,
  outShape: readonly number[],
  expr: string,
  data: readonly Elements[],
  shapes: readonly (readonly number[])[],
  unsigned64: boolean,
  params: readonly Param[] = [],
): void {
  const arity = data.length as 1 | 2 | 3;
  const key = `${data.map(arrayName).join(",")}->${arrayName(target)}`;
  const plan = planBroadcast(outShape, shapes);
  const n = plan.rowLength;
  const [s0, s1, s2] = plan.rowStrides;
  const loop = rowLoop(arity, expr, key, plan.rowStrides, unsigned64);
  const [d0, d1, d2] = data;
  const [p0, p1, p2] = params;
  forEachRow(plan, (io, o0, o1, o2) => loop(target, io, n, d0, o0, s0, d1, o1, s1, d2, o2, s2, p0, p1, p2));
}

// ---------------------------------------------------------------------------------------------------------
// Unary ops.

interface UnarySpec {
  exprs: Exprs | ((ctx: KernelContext) => Exprs);
  params?: (ctx: KernelContext, x: Tensor) => Param[];
  out?: DType;
}

function unary(op: string, spec: UnarySpec): void {
  registerKernel(op, (inputs, ctx) => {
    const x = arg(inputs, 0, op);
    const exprs = typeof spec.exprs === "function" ? spec.exprs(ctx) : spec.exprs;
    const expr = exprFor(op, exprs, x.dtype);
    return [evaluate(ctx, expr, [x], spec.out ?? x.dtype, { params: spec.params?.(ctx, x) })];
  });
}

/** The same expression for floats and small integers, and the bigint form. */
const numeric = (e: string, big?: string): Exprs => ({ float: e, int: e, ...(big ? { big } : {}) });
const float = (e: string): Exprs => ({ float: e });

unary("Abs", { exprs: numeric("Math.abs(a)", "(a < 0n ? W(-a) : a)") });
unary("Neg", { exprs: numeric("-a", "W(-a)") });
unary("Sign", { exprs: numeric("Math.sign(a)", "(a > 0n ? 1n : a < 0n ? W(-1n) : 0n)") });
unary("Reciprocal", { exprs: float("1 / a") });
unary("Sqrt", { exprs: float("Math.sqrt(a)") });
unary("Exp", { exprs: float("Math.exp(a)") });
unary("Log", { exprs: float("Math.log(a)") });
unary("Sin", { exprs: float("Math.sin(a)") });
unary("Cos", { exprs: float("Math.cos(a)") });
unary("Tan", { exprs: float("Math.tan(a)") });
unary("Asin", { exprs: float("Math.asin(a)") });
unary("Acos", { exprs: float("Math.acos(a)") });
unary("Atan", { exprs: float("Math.atan(a)") });
unary("Sinh", { exprs: float("Math.sinh(a)") });
unary("Cosh", { exprs: float("Math.cosh(a)") });
unary("Tanh", { exprs: float("Math.tanh(a)") });
unary("Asinh", { exprs: float("Math.asinh(a)") });
unary("Acosh", { exprs: float("Math.acosh(a)") });
unary("Atanh", { exprs: float("Math.atanh(a)") });
unary("Erf", { exprs: float("erf(a)") });
unary("Floor", { exprs: float("Math.floor(a)") });
unary("Ceil", { exprs: float("Math.ceil(a)") });
unary("Round", { exprs: float("roundEven(a)") });
unary("IsNaN", { exprs: float("(a !== a ? 1 : 0)"), out: "bool" });
unary("IsInf", {
  exprs: float("(a === Infinity ? p1 : a === -Infinity ? p0 : 0)"),
  params: (ctx) => [ctx.attrs.detect_negative ? 1 : 0, ctx.attrs.detect_positive ? 1 : 0],
  out: "bool",
});
unary("Not", { exprs: { bool: "(a ? 0 : 1)" } });
unary("BitwiseNot", { exprs: { int: "~a", big: "W(~a)" } });

// Activations.
unary("Relu", { exprs: numeric("(a < 0 ? 0 : a)", "(a < 0n ? 0n : a)") });
unary("LeakyRelu", { exprs: float("(a < 0 ? a * p0 : a)"), params: (ctx) => [ctx.attrs.alpha] });
unary("Elu", { exprs: float("(a < 0 ? p0 * Math.expm1(a) : a)"), params: (ctx) => [ctx.attrs.alpha] });
unary("Selu", {
  exprs: float("(a <= 0 ? p1 * p0 * Math.expm1(a) : p1 * a)"),
  params: (ctx) => [ctx.attrs.alpha, ctx.attrs.gamma],
});
unary("Celu", {
  exprs: float("(Math.max(0, a) + Math.min(0, p0 * Math.expm1(a / p0)))"),
  params: (ctx) => [ctx.attrs.alpha],
});
unary("HardSigmoid", {
  exprs: float("Math.max(0, Math.min(1, p0 * a + p1))"),
  params: (ctx) => [ctx.attrs.alpha, ctx.attrs.beta],
});
unary("HardSwish", { exprs: float("a * Math.max(0, Math.min(1, a / 6 + 0.5))") });
unary("Sigmoid", { exprs: float("sigmoid(a)") });
unary("Softplus", { exprs: float("softplus(a)") });
unary("Softsign", { exprs: float("a / (1 + Math.abs(a))") });
unary("ThresholdedRelu", { exprs: float("(a > p0 ? a : 0)"), params: (ctx) => [ctx.attrs.alpha] });
unary("Shrink", {
  exprs: {
    ...numeric("(a < -p1 ? a + p0 : a > p1 ? a - p0 : 0)"),
    big: "W(toBig(Number(a) < -p1 ? Number(a) + p0 : Number(a) > p1 ? Number(a) - p0 : 0))",
  },
  params: (ctx) => [ctx.attrs.bias, ctx.attrs.lambd],
});
unary("Gelu", {
  exprs: (ctx) => {
    const mode = ctx.attrs.approximate;
    if (mode === "none") return float("(0.5 * a * (1 + erf(a * Math.SQRT1_2)))");
    if (mode === "tanh") {
      return float("(0.5 * a * (1 + Math.tanh(0.7978845608028654 * (a + 0.044715 * a * a * a))))");
    }
    throw new LatheError("runtime", `Gelu approximate must be "none" or "tanh", is "${mode}"`);
  },
});
unary("Mish", { exprs: float("a * Math.tanh(softplus(a))") });

// ---------------------------------------------------------------------------------------------------------
// Binary ops.

function checkSameType(op: string, x: Tensor, y: Tensor): void {
  if (printDType(x.dtype) !== printDType(y.dtype)) {
    throw new LatheError(
      "runtime",
      `${op} inputs differ in type: ${printDType(x.dtype)} and ${printDType(y.dtype)}`,
    );
  }
}

function binary(op: string, exprs: Exprs | ((ctx: KernelContext) => Exprs), out?: DType): void {
  registerKernel(op, (inputs, ctx) => {
    const x = arg(inputs, 0, op), y = arg(inputs, 1, op);
    checkSameType(op, x, y);
    const e = exprFor(op, typeof exprs === "function" ? exprs(ctx) : exprs, x.dtype);
    return [evaluate(ctx, e, [x, y], out ?? x.dtype)];
  });
}

const all = (e: string): Exprs => ({ float: e, int: e, big: e, bool: e, string: e });

binary("Add", numeric("a + b", "W(a + b)"));
binary("Sub", numeric("a - b", "W(a - b)"));
binary("Mul", { float: "a * b", int: "Math.imul(a, b)", big: "W(a * b)" });
binary("Div", { float: "a / b", int: "idiv(a, b)", big: "W(bdiv(a, b))" });
binary(
  "Mod",
  (ctx) =>
    ctx.attrs.fmod
      ? { float: "a % b", int: "imodc(a, b)", big: "bmodc(a, b)" }
      : { float: "fpymod(a, b)", int: "ipymod(a, b)", big: "bpymod(a, b)" },
);
binary("BitShift", (ctx) => {
  const dir = ctx.attrs.direction;
  if (dir === "LEFT") return { int: "(b < 32 ? a << b : 0)", big: "(b < 64n ? W(a << b) : 0n)" };
  if (dir === "RIGHT") return { int: "(b < 32 ? a >>> b : 0)", big: "(b < 64n ? a >> b : 0n)" };
  throw new LatheError("runtime", `BitShift direction must be "LEFT" or "RIGHT", is "${dir}"`);
});
binary("And", { bool: "(a && b ? 1 : 0)" });
binary("Or", { bool: "(a || b ? 1 : 0)" });
binary("Xor", { bool: "(!a !== !b ? 1 : 0)" });
binary("BitwiseAnd", { int: "a & b", big: "a & b" });
binary("BitwiseOr", { int: "a | b", big: "a | b" });
binary("BitwiseXor", { int: "a ^ b", big: "a ^ b" });
binary("Equal", { ...all("(a === b ? 1 : 0)"), bool: "(!a === !b ? 1 : 0)" }, "bool");
binary("Less", numeric("(a < b ? 1 : 0)", "(a < b ? 1 : 0)"), "bool");
binary("Greater", numeric("(a > b ? 1 : 0)", "(a > b ? 1 : 0)"), "bool");
binary("LessOrEqual", numeric("(a <= b ? 1 : 0)", "(a <= b ? 1 : 0)"), "bool");
binary("GreaterOrEqual", numeric("(a >= b ? 1 : 0)", "(a >= b ? 1 : 0)"), "bool");

/** Pow's base and exponent types may differ; the expression depends on both, the result has the base's. */
const POW: Record<string, string> = {
  "float,float": "Math.pow(a, b)",
  "float,int": "Math.pow(a, b)",
  "float,big": "Math.pow(a, Number(b))",
  "int,float": "Math.pow(a, b)",
  "int,int": "ipow(a, b)",
  "int,big": "ipow(a, Number(b))",
  "big,float": "W(toBig(Math.pow(Number(a), b)))",
  "big,int": "W(bpow(a, BigInt(b)))",
  "big,big": "W(bpow(a, b))",
};
registerKernel("Pow", (inputs, ctx) => {
  const x = arg(inputs, 0, "Pow"), y = arg(inputs, 1, "Pow");
  const e = POW[`${clsOf(x.dtype)},${clsOf(y.dtype)}`];
  if (!e) throw new LatheError("unsupported", `Pow of ${printDType(x.dtype)} to ${printDType(y.dtype)}`);
  return [evaluate(ctx, e, [x, y], x.dtype)];
});

registerKernel("PRelu", (inputs, ctx) => {
  const x = arg(inputs, 0, "PRelu"), slope = arg(inputs, 1, "PRelu");
  checkSameType("PRelu", x, slope);
  const shape = broadcastStatic([x.shape, slope.shape]);
  if (shape.length !== x.shape.length || shape.some((d, i) => d !== x.shape[i])) {
    throw new LatheError("runtime", `PRelu slope [${slope.shape}] does not broadcast to X [${x.shape}]`);
  }
  const e = exprFor("PRelu", {
    float: "(a < 0 ? a * b : a)",
    int: "(a < 0 ? Math.imul(a, b) : a)",
    big: "(a < 0n ? W(a * b) : a)",
  }, x.dtype);
  return [evaluate(ctx, e, [x, slope], x.dtype, { outShape: x.shape })];
});

// ---------------------------------------------------------------------------------------------------------
// Variadic ops fold left to right into the output buffer; each step rounds to the output type, as
// onnxruntime's pairwise evaluation does.

function variadic(op: string, exprs: Exprs, finish?: Exprs): void {
  registerKernel(op, (inputs, ctx) => {
    if (inputs.length === 0) throw new LatheError("runtime", `${op} needs at least one input`);
    const xs = inputs.map((_, i) => arg(inputs, i, op));
    for (const t of xs) checkSameType(op, xs[0], t);
    const dtype = xs[0].dtype;
    const e = exprFor(op, exprs, dtype);
    const shapes = xs.map((t) => t.shape);
    const outShape = broadcastStatic(shapes);
    const out = ctx.alloc(dtype, outShape);
    const target: Elements = dtype === "bf16" ? new Float32Array(out.data.length) : out.data;
    const u64 = dtype === "u64";
    if (xs.length === 1) applyInto(target, outShape, "a", [elements(xs[0])], [shapes[0]], u64);
    else {
      applyInto(target, outShape, e, [elements(xs[0]), elements(xs[1])], [shapes[0], shapes[1]], u64);
      for (let i = 2; i < xs.length; i++) {
        applyInto(target, outShape, e, [target, elements(xs[i])], [outShape, shapes[i]], u64);
      }
    }
    if (finish) {
      applyInto(target, outShape, exprFor(op, finish, dtype), [target], [outShape], u64, [xs.length]);
    }
    if (target !== out.data) toBf16(target as Float32Array, out.data as Uint16Array);
    return [out];
  });
}

// NaN wins in Max and Min, as in numpy's maximum/minimum.
variadic("Max", { float: "(a !== a || a > b ? a : b)", int: "(a > b ? a : b)", big: "(a > b ? a : b)" });
variadic("Min", { float: "(a !== a || a < b ? a : b)", int: "(a < b ? a : b)", big: "(a < b ? a : b)" });
variadic("Sum", float("a + b"));
variadic("Mean", float("a + b"), float("a / p0"));

registerKernel("Where", (inputs, ctx) => {
  const c = arg(inputs, 0, "Where"), x = arg(inputs, 1, "Where"), y = arg(inputs, 2, "Where");
  checkSameType("Where", x, y);
  if (c.dtype !== "bool") {
    throw new LatheError("runtime", `Where condition must be bool, is ${printDType(c.dtype)}`);
  }
  return [evaluate(ctx, "(a ? b : c)", [c, x, y], x.dtype, { raw: true })];
});

// ---------------------------------------------------------------------------------------------------------
// Clip: min and max are optional scalar inputs; an absent bound is the type's extreme.

registerKernel("Clip", (inputs, ctx) => {
  const x = arg(inputs, 0, "Clip");
  const cls = clsOf(x.dtype);
  if (cls !== "float" && cls !== "int" && cls !== "big") {
    throw new LatheError("unsupported", `Clip does not take ${printDType(x.dtype)}`);
  }
  const bound = (i: number, fallback: Param): Param => {
    const v = inputs[i];
    if (v === undefined) return fallback;
    const t = expectTensor(v, `Clip input ${i}`);
    if (t.data.length !== 1) {
      throw new LatheError("runtime", `Clip input ${i} must be a scalar, has shape [${t.shape}]`);
    }
    checkSameType("Clip", x, t);
    return elements(t)[0];
  };
  const big = cls === "big";
  const lo = bound(1, big ? (x.dtype === "u64" ? 0n : -(2n ** 63n)) : -Infinity);
  const hi = bound(2, big ? (x.dtype === "u64" ? 2n ** 64n - 1n : 2n ** 63n - 1n) : Infinity);
  if (x.dtype === "f32") return [clipF32(x, lo as number, hi as number, ctx)];
  // When min > max every element becomes max (ONNX).
  const e = "(a < p0 ? (p0 > p1 ? p1 : p0) : a > p1 ? p1 : a)";
  return [evaluate(ctx, e, [x], x.dtype, { params: [lo, hi] })];
});

/** Clip of float32 (ReLU6 in every MobileNet): a plain loop, several times faster than the generic path. */
function clipF32(x: Tensor, lo: number, hi: number, ctx: KernelContext): Tensor {
  const out = ctx.alloc("f32", x.shape);
  const a = x.data as Float32Array, o = out.data as Float32Array;
  if (lo > hi) lo = hi; // ONNX: min > max makes every element max
  const n = a.length;
  for (let i = 0; i < n; i++) {
    const v = a[i];
    o[i] = v < lo ? lo : v > hi ? hi : v; // NaN passes through, as in the generic form
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Casts.

function cast(x: Tensor, to: DType, ctx: KernelContext): Tensor {
  const out = ctx.alloc(to, x.shape);
  castInto(x, out);
  return out;
}

registerKernel("Cast", (inputs, ctx) => {
  const x = arg(inputs, 0, "Cast");
  const to = castTarget(ctx.attrs.to);
  if (!to) throw new LatheError("unsupported", `Cast to TensorProto type ${ctx.attrs.to}`);
  return [cast(x, to, ctx)];
});

registerKernel("CastLike", (inputs, ctx) => {
  const x = arg(inputs, 0, "CastLike"), like = arg(inputs, 1, "CastLike");
  return [cast(x, like.dtype, ctx)];
});
