/**
 * Elementwise ops: unary math, binary arithmetic and comparison with multidirectional broadcasting,
 * variadic Max/Min/Sum/Mean, Where, Cast/CastLike and the activation functions. Declared in their latest
 * ONNX opset form; each declaration lists the element types the ONNX type constraints allow, so a graph
 * that applies Sqrt to integers fails verification instead of at run time.
 */
import { isScalar, printDType, type ScalarDType } from "../dtype.ts";
import { a, defineOp, type InferContext, ins, many, opt } from "../op-registry.ts";
import { broadcastShapes } from "../shape-infer.ts";
import { type Shape, type TensorType, tensorType, type ValueType } from "../value-type.ts";
import { dtypeOfTensorProtoCode } from "./tensor-proto-dtype.ts";

const FLOATS: readonly ScalarDType[] = ["f64", "f32", "f16", "bf16"];
const SIGNED_INTS: readonly ScalarDType[] = ["i64", "i32", "i16", "i8"];
const UNSIGNED_INTS: readonly ScalarDType[] = ["u64", "u32", "u16", "u8"];
const INTS: readonly ScalarDType[] = [...SIGNED_INTS, ...UNSIGNED_INTS];
const NUMERIC: readonly ScalarDType[] = [...FLOATS, ...INTS];
const SIGNED: readonly ScalarDType[] = [...FLOATS, ...SIGNED_INTS];
const BOOL: readonly ScalarDType[] = ["bool"];
const ANY: readonly ScalarDType[] = [...NUMERIC, "bool", "string"];

/** The element type of input i, checked against the op's allowed set. */
function elemType(ctx: InferContext, i: number, allowed: readonly ScalarDType[]): ScalarDType {
  const t = ctx.tensor(i);
  if (!isScalar(t.dtype) || !allowed.includes(t.dtype)) {
    ctx.fail(
      `input ${i} has element type ${printDType(t.dtype)}; ${ctx.node.op} takes ${allowed.join(", ")}`,
    );
  }
  return t.dtype;
}

/** Broadcast shape of the given input types; undefined when any rank is unknown. */
function broadcastOf(ctx: InferContext, types: readonly TensorType[]): Shape | undefined {
  if (types.some((t) => t.shape === undefined)) return undefined;
  try {
    return broadcastShapes(types.map((t) => t.shape!), () => ctx.fresh());
  } catch {
    ctx.fail(`shapes ${types.map((t) => `[${t.shape!.join(",")}]`).join(", ")} do not broadcast`);
  }
}

function sameTypes(ctx: InferContext, count: number): void {
  const first = ctx.tensor(0).dtype;
  for (let i = 1; i < count; i++) {
    const d = ctx.tensor(i).dtype;
    if (printDType(d) !== printDType(first)) {
      ctx.fail(`input ${i} is ${printDType(d)} but input 0 is ${printDType(first)}; the types must match`);
    }
  }
}

function unary(
  op: string,
  allowed: readonly ScalarDType[],
  attrs = {},
  out?: ScalarDType,
  doc?: string,
): void {
  defineOp({
    op,
    inputs: ins("X"),
    outputs: ins("Y"),
    attrs,
    doc,
    infer(ctx) {
      const d = elemType(ctx, 0, allowed);
      return [tensorType(out ?? d, ctx.tensor(0).shape)];
    },
  });
}

function binary(op: string, allowed: readonly ScalarDType[], out?: ScalarDType, attrs = {}): void {
  defineOp({
    op,
    inputs: ins("A", "B"),
    outputs: ins("C"),
    attrs,
    infer(ctx) {
      const d = elemType(ctx, 0, allowed);
      sameTypes(ctx, 2);
      return [tensorType(out ?? d, broadcastOf(ctx, [ctx.tensor(0), ctx.tensor(1)]))];
    },
  });
}

function variadic(op: string, allowed: readonly ScalarDType[]): void {
  defineOp({
    op,
    inputs: ins(many("data_0")),
    outputs: ins("result"),
    infer(ctx) {
      if (ctx.inputs.length === 0) ctx.fail(`${op} needs at least one input`);
      const d = elemType(ctx, 0, allowed);
      sameTypes(ctx, ctx.inputs.length);
      const types = ctx.inputs.map((_, i) => ctx.tensor(i));
      return [tensorType(d, broadcastOf(ctx, types))];
    },
  });
}

// Unary math.
for (const op of ["Abs", "Sign"]) unary(op, NUMERIC);
unary("Neg", SIGNED);
for (
  const op of [
    "Reciprocal",
    "Sqrt",
    "Exp",
    "Log",
    "Sin",
    "Cos",
    "Tan",
    "Asin",
    "Acos",
    "Atan",
    "Sinh",
    "Cosh",
    "Tanh",
    "Asinh",
    "Acosh",
    "Atanh",
    "Erf",
    "Floor",
    "Ceil",
    "Round",
  ]
) unary(op, FLOATS);
unary("IsNaN", FLOATS, {}, "bool");
unary("IsInf", FLOATS, { detect_negative: a.int(1), detect_positive: a.int(1) }, "bool");
unary("Not", BOOL);
unary("BitwiseNot", INTS);

// Binary arithmetic, logic and comparison.
for (const op of ["Add", "Sub", "Mul", "Div"]) binary(op, NUMERIC);
binary("Mod", NUMERIC, undefined, { fmod: a.int(0) });
binary("BitShift", UNSIGNED_INTS, undefined, { direction: a.required(a.string()) });
for (const op of ["And", "Or", "Xor"]) binary(op, BOOL);
for (const op of ["BitwiseAnd", "BitwiseOr", "BitwiseXor"]) binary(op, INTS);
binary("Equal", [...NUMERIC, "bool", "string"], "bool");
for (const op of ["Less", "Greater", "LessOrEqual", "GreaterOrEqual"]) binary(op, NUMERIC, "bool");

defineOp({
  op: "Pow",
  inputs: ins("X", "Y"),
  outputs: ins("Z"),
  doc: "Base and exponent may differ in type; the result has the base's type.",
  infer(ctx) {
    const d = elemType(ctx, 0, NUMERIC);
    elemType(ctx, 1, NUMERIC);
    return [tensorType(d, broadcastOf(ctx, [ctx.tensor(0), ctx.tensor(1)]))];
  },
});

for (const op of ["Max", "Min"]) variadic(op, NUMERIC);
for (const op of ["Sum", "Mean"]) variadic(op, FLOATS);

defineOp({
  op: "Where",
  inputs: ins("condition", "X", "Y"),
  outputs: ins("output"),
  infer(ctx) {
    elemType(ctx, 0, BOOL);
    const d = elemType(ctx, 1, ANY);
    const x = ctx.tensor(1), y = ctx.tensor(2);
    if (printDType(y.dtype) !== printDType(x.dtype)) {
      ctx.fail(`X is ${printDType(x.dtype)} but Y is ${printDType(y.dtype)}`);
    }
    return [tensorType(d, broadcastOf(ctx, [ctx.tensor(0), x, y]))];
  },
});

// Casts. `to` is a TensorProto.DataType code as ONNX writes it; saturate and round_mode only affect 8-bit
// float targets, which Lathe has no element type for, and are declared so attributes round-trip.
const castAttrs = { saturate: a.int(1), round_mode: a.string("up") };
const CASTABLE: readonly ScalarDType[] = [...ANY, "i4", "u4"];

/** The element type a Cast node converts to. */
export function castTarget(to: number): ScalarDType | undefined {
  const d = dtypeOfTensorProtoCode(to);
  return d !== undefined && CASTABLE.includes(d) ? d : undefined;
}

defineOp({
  op: "Cast",
  inputs: ins("input"),
  outputs: ins("output"),
  attrs: { to: a.required(a.int()), ...castAttrs },
  infer(ctx) {
    elemType(ctx, 0, CASTABLE);
    const to = castTarget(ctx.attrs.to);
    if (!to) return ctx.fail(`Cast to TensorProto type ${ctx.attrs.to} is not supported`);
    return [tensorType(to, ctx.tensor(0).shape)];
  },
});

defineOp({
  op: "CastLike",
  inputs: ins("input", "target_type"),
  outputs: ins("output"),
  attrs: castAttrs,
  infer(ctx) {
    elemType(ctx, 0, CASTABLE);
    const to = elemType(ctx, 1, CASTABLE);
    return [tensorType(to, ctx.tensor(0).shape)];
  },
});

// Activations.
unary("Relu", [...FLOATS, ...SIGNED_INTS]);
unary("LeakyRelu", FLOATS, { alpha: a.float(0.01) });
unary("Elu", FLOATS, { alpha: a.float(1) });
unary("Selu", FLOATS, {
  alpha: a.float(1.67326319217681884765625),
  gamma: a.float(1.05070102214813232421875),
});
unary("Celu", FLOATS, { alpha: a.float(1) });
unary("HardSigmoid", FLOATS, { alpha: a.float(0.2), beta: a.float(0.5) });
unary("HardSwish", FLOATS);
unary("Sigmoid", FLOATS);
unary("Softplus", FLOATS);
unary("Softsign", FLOATS);
unary("ThresholdedRelu", FLOATS, { alpha: a.float(1) });
unary("Shrink", NUMERIC, { bias: a.float(0), lambd: a.float(0.5) });
unary("Gelu", FLOATS, { approximate: a.string("none") });
unary("Mish", FLOATS);

defineOp({
  op: "PRelu",
  inputs: ins("X", "slope"),
  outputs: ins("Y"),
  doc: "slope broadcasts to X's shape (unidirectionally).",
  infer(ctx) {
    const d = elemType(ctx, 0, [...FLOATS, "i32", "i64", "u32", "u64"]);
    sameTypes(ctx, 2);
    const x = ctx.tensor(0), s = ctx.tensor(1);
    const b = broadcastOf(ctx, [x, s]);
    if (b && x.shape && b.length !== x.shape.length) {
      ctx.fail(`slope [${s.shape}] does not broadcast to X [${x.shape}]`);
    }
    return [tensorType(d, x.shape)];
  },
});

defineOp({
  op: "Clip",
  inputs: ins("input", opt("min"), opt("max")),
  outputs: ins("output"),
  doc: "min and max are optional scalar inputs; when min > max every element becomes max.",
  infer(ctx) {
    const d = elemType(ctx, 0, NUMERIC);
    for (const i of [1, 2]) {
      const t: ValueType | undefined = ctx.inputs[i];
      if (!t) continue;
      const bound = ctx.tensor(i);
      if (printDType(bound.dtype) !== d) {
        ctx.fail(`input ${i} is ${printDType(bound.dtype)}, input 0 is ${d}`);
      }
      if (bound.shape && bound.shape.some((x) => typeof x === "number" && x !== 1)) {
        ctx.fail(`input ${i} must be a scalar, has shape [${bound.shape}]`);
      }
    }
    return [tensorType(d, ctx.tensor(0).shape)];
  },
});
