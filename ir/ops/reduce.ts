/**
 * Reductions and their relatives: the Reduce* family (axes as an optional i64 input, opset 18 form),
 * ArgMax/ArgMin, Softmax/LogSoftmax/Hardmax (opset 13 single-axis semantics) and the two classification
 * losses built on them.
 */
import { isFloat } from "../dtype.ts";
import { LatheError } from "../errors.ts";
import { a, defineOp, type InferContext, ins, opt } from "../op-registry.ts";
import { normalizeAxis } from "../shape-infer.ts";
import { type Dim, tensorType, type ValueType } from "../value-type.ts";

export const REDUCE_OPS = [
  "ReduceSum",
  "ReduceMean",
  "ReduceMax",
  "ReduceMin",
  "ReduceProd",
  "ReduceL1",
  "ReduceL2",
  "ReduceLogSum",
  "ReduceLogSumExp",
  "ReduceSumSquare",
] as const;

/**
 * The reduced axes (sorted, non-negative) given the axes operand's values; all axes when the operand is
 * empty and noop_with_empty_axes is 0, none when it is 1.
 */
function reducedAxes(axes: readonly number[], rank: number, noopWithEmpty: number): number[] {
  if (axes.length === 0) return noopWithEmpty ? [] : Array.from({ length: rank }, (_, i) => i);
  const out = axes.map((x) => normalizeAxis(x, rank, "reduce axis"));
  const sorted = [...new Set(out)].sort((x, y) => x - y);
  if (sorted.length !== out.length) throw new LatheError("verify", `duplicate reduce axes [${axes}]`);
  return sorted;
}

function inferReduce(ctx: InferContext): ValueType[] {
  const x = ctx.tensor(0);
  if (x.dtype === "string") ctx.fail("reductions need numeric input");
  const keep = ctx.attrs.keepdims !== 0;
  const noop = ctx.attrs.noop_with_empty_axes;
  let axes: number[] | undefined = [];
  if (ctx.inputs[1]) {
    const at = ctx.tensor(1);
    if (at.dtype !== "i64") ctx.fail("axes must be i64");
    axes = at.shape?.length === 1 && at.shape[0] === 0 ? [] : ctx.ints(1);
  }
  if (!x.shape) return [tensorType(x.dtype)];
  const rank = x.shape.length;
  if (axes === undefined) {
    // Data-dependent axes: with keepdims the rank is known but not which dims become 1.
    return [
      keep ? tensorType(x.dtype, x.shape.map((d) => (d === 1 ? 1 : ctx.fresh()))) : tensorType(x.dtype),
    ];
  }
  const red = reducedAxes(axes, rank, noop);
  if (red.length === 0 && noop) return [x];
  const set = new Set(red);
  const shape: Dim[] = [];
  x.shape.forEach((d, i) => {
    if (!set.has(i)) shape.push(d);
    else if (keep) shape.push(1);
  });
  return [tensorType(x.dtype, shape)];
}

for (const op of REDUCE_OPS) {
  defineOp({
    op,
    inputs: ins("data", opt("axes")),
    outputs: ins("reduced"),
    attrs: { keepdims: a.int(1), noop_with_empty_axes: a.int(0) },
    infer: inferReduce,
  });
}

function inferArg(ctx: InferContext): ValueType[] {
  const x = ctx.tensor(0);
  if (!x.shape) return [tensorType("i64")];
  const axis = normalizeAxis(ctx.attrs.axis, x.shape.length);
  const shape = ctx.attrs.keepdims !== 0
    ? x.shape.map((d, i) => (i === axis ? 1 : d))
    : x.shape.filter((_, i) => i !== axis);
  return [tensorType("i64", shape)];
}

for (const op of ["ArgMax", "ArgMin"]) {
  defineOp({
    op,
    inputs: ins("data"),
    outputs: ins("reduced"),
    attrs: { axis: a.int(0), keepdims: a.int(1), select_last_index: a.int(0) },
    infer: inferArg,
  });
}

function inferSoftmaxLike(ctx: InferContext): ValueType[] {
  const x = ctx.tensor(0);
  if (!isFloat(x.dtype)) ctx.fail("needs a floating-point input");
  if (x.shape) normalizeAxis(ctx.attrs.axis, x.shape.length);
  return [x];
}

for (const op of ["Softmax", "LogSoftmax", "Hardmax"]) {
  defineOp({
    op,
    inputs: ins("input"),
    outputs: ins("output"),
    attrs: { axis: a.int(-1) },
    infer: inferSoftmaxLike,
  });
}

function inferLoss(ctx: InferContext, withLogProb: boolean): ValueType[] {
  const x = ctx.tensor(0);
  const t = ctx.tensor(1);
  if (!isFloat(x.dtype)) ctx.fail("scores must be floating point");
  if (t.dtype !== "i64" && t.dtype !== "i32") ctx.fail("target must be i32 or i64");
  const reduction = ctx.attrs.reduction;
  if (reduction !== "none" && reduction !== "sum" && reduction !== "mean") {
    ctx.fail(`unknown reduction '${reduction}'`);
  }
  if (x.shape && x.shape.length < 2) ctx.fail("scores must have shape [N, C, ...]");
  let loss: ValueType;
  if (reduction !== "none") loss = tensorType(x.dtype, []);
  else if (t.shape) loss = tensorType(x.dtype, t.shape);
  else if (x.shape) loss = tensorType(x.dtype, x.shape.filter((_, i) => i !== 1));
  else loss = tensorType(x.dtype);
  return withLogProb ? [loss, x] : [loss];
}

defineOp({
  op: "NegativeLogLikelihoodLoss",
  inputs: ins("input", "target", opt("weight")),
  outputs: ins("loss"),
  attrs: { reduction: a.string("mean"), ignore_index: a.int() },
  infer: (ctx) => inferLoss(ctx, false),
});

defineOp({
  op: "SoftmaxCrossEntropyLoss",
  inputs: ins("scores", "labels", opt("weights")),
  outputs: ins("output", opt("log_prob")),
  attrs: { reduction: a.string("mean"), ignore_index: a.int() },
  infer: (ctx) => inferLoss(ctx, true),
});
