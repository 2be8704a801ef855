/**
 * Normalizations: BatchNormalization (inference and training mode), InstanceNormalization,
 * LayerNormalization, GroupNormalization, LRN, MeanVarianceNormalization and LpNormalization.
 */
import { type DType, isFloat } from "../dtype.ts";
import { a, defineOp, type InferContext, ins, opt } from "../op-registry.ts";
import { normalizeAxis } from "../shape-infer.ts";
import { type TensorType, tensorType } from "../value-type.ts";
import { dtypeOfTensorProtoCode } from "./tensor-proto-dtype.ts";

function floatInput(ctx: InferContext, i: number): TensorType {
  const t = ctx.tensor(i);
  if (!isFloat(t.dtype)) ctx.fail(`input ${i} must be floating point`);
  return t;
}

function checkChannels(ctx: InferContext, x: TensorType, i: number, what: string): void {
  const t = ctx.tensor(i);
  const c = x.shape?.[1];
  if (
    t.shape && typeof c === "number" && t.shape.length === 1 && typeof t.shape[0] === "number" &&
    t.shape[0] !== c
  ) {
    ctx.fail(`${what} has ${t.shape[0]} elements, X has ${c} channels`);
  }
}

defineOp({
  op: "BatchNormalization",
  inputs: ins("X", "scale", "B", "input_mean", "input_var"),
  outputs: ins("Y", opt("running_mean"), opt("running_var")),
  attrs: { epsilon: a.float(1e-5), momentum: a.float(0.9), training_mode: a.int(0) },
  infer(ctx) {
    const x = floatInput(ctx, 0);
    for (let i = 1; i < 5; i++) checkChannels(ctx, x, i, ["", "scale", "B", "input_mean", "input_var"][i]);
    const mean = ctx.tensor(3), v = ctx.tensor(4);
    return [x, mean, v];
  },
});

defineOp({
  op: "InstanceNormalization",
  inputs: ins("input", "scale", "B"),
  outputs: ins("output"),
  attrs: { epsilon: a.float(1e-5) },
  infer(ctx) {
    const x = floatInput(ctx, 0);
    if (x.shape && x.shape.length < 2) ctx.fail("input must have shape [N, C, ...]");
    checkChannels(ctx, x, 1, "scale");
    checkChannels(ctx, x, 2, "B");
    return [x];
  },
});

/** The element type LayerNormalization and GroupNormalization compute in (and emit Mean/InvStdDev in). */
export function stashDType(code: number, fallback: DType): DType {
  const d = dtypeOfTensorProtoCode(code);
  return d && isFloat(d) ? d : fallback;
}

defineOp({
  op: "LayerNormalization",
  inputs: ins("X", "Scale", opt("B")),
  outputs: ins("Y", opt("Mean"), opt("InvStdDev")),
  attrs: { axis: a.int(-1), epsilon: a.float(1e-5), stash_type: a.int(1) },
  infer(ctx) {
    const x = floatInput(ctx, 0);
    const u = stashDType(ctx.attrs.stash_type, x.dtype);
    if (!x.shape) return [x, tensorType(u), tensorType(u)];
    const axis = normalizeAxis(ctx.attrs.axis, x.shape.length);
    const stats = tensorType(u, x.shape.map((d, i) => (i < axis ? d : 1)));
    return [x, stats, stats];
  },
});

defineOp({
  op: "GroupNormalization",
  inputs: ins("X", "scale", "bias"),
  outputs: ins("Y"),
  attrs: { epsilon: a.float(1e-5), num_groups: a.required(a.int()), stash_type: a.int(1) },
  infer(ctx) {
    const x = floatInput(ctx, 0);
    const g = ctx.attrs.num_groups;
    if (!(g > 0)) ctx.fail(`num_groups must be positive, is ${g}`);
    const c = x.shape?.[1];
    if (typeof c === "number" && c % g !== 0) ctx.fail(`${c} channels do not split into ${g} groups`);
    return [x];
  },
});

defineOp({
  op: "LRN",
  inputs: ins("X"),
  outputs: ins("Y"),
  attrs: { alpha: a.float(1e-4), beta: a.float(0.75), bias: a.float(1), size: a.required(a.int()) },
  infer(ctx) {
    const x = floatInput(ctx, 0);
    if (!(ctx.attrs.size > 0)) ctx.fail("size must be positive");
    return [x];
  },
});

defineOp({
  op: "MeanVarianceNormalization",
  inputs: ins("X"),
  outputs: ins("Y"),
  attrs: { axes: a.ints([0, 2, 3]) },
  infer(ctx) {
    const x = floatInput(ctx, 0);
    if (x.shape) { for (const ax of ctx.attrs.axes) normalizeAxis(ax, x.shape.length); }
    return [x];
  },
});

defineOp({
  op: "LpNormalization",
  inputs: ins("input"),
  outputs: ins("output"),
  attrs: { axis: a.int(-1), p: a.int(2) },
  infer(ctx) {
    const x = floatInput(ctx, 0);
    if (ctx.attrs.p !== 1 && ctx.attrs.p !== 2) ctx.fail(`p must be 1 or 2, is ${ctx.attrs.p}`);
    if (x.shape) normalizeAxis(ctx.attrs.axis, x.shape.length);
    return [x];
  },
});
