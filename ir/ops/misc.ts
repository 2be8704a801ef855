/**
 * Assorted ops: detection post-processing (NonMaxSuppression, RoiAlign, MaxRoiPool), Det, the random
 * generators (impure: never folded or merged) and the ai.onnx.preview.training optimizers.
 */
import { type DType, isFloat } from "../dtype.ts";
import { a, defineOp, type InferContext, ins, many, opt } from "../op-registry.ts";
import { tensorType, type ValueType } from "../value-type.ts";
import { dtypeOfTensorProtoCode } from "./tensor-proto-dtype.ts";

defineOp({
  op: "NonMaxSuppression",
  inputs: ins(
    "boxes",
    "scores",
    opt("max_output_boxes_per_class"),
    opt("iou_threshold"),
    opt("score_threshold"),
  ),
  outputs: ins("selected_indices"),
  attrs: { center_point_box: a.int(0) },
  infer(ctx) {
    const b = ctx.tensor(0), s = ctx.tensor(1);
    if (b.shape && (b.shape.length !== 3 || (typeof b.shape[2] === "number" && b.shape[2] !== 4))) {
      ctx.fail("boxes must be [batch, boxes, 4]");
    }
    if (s.shape && s.shape.length !== 3) ctx.fail("scores must be [batch, classes, boxes]");
    return [tensorType("i64", [ctx.fresh("nms"), 3])];
  },
});

defineOp({
  op: "RoiAlign",
  inputs: ins("X", "rois", "batch_indices"),
  outputs: ins("Y"),
  attrs: {
    coordinate_transformation_mode: a.string("half_pixel"),
    mode: a.string("avg"),
    output_height: a.int(1),
    output_width: a.int(1),
    sampling_ratio: a.int(0),
    spatial_scale: a.float(1),
  },
  infer(ctx) {
    const x = ctx.tensor(0), r = ctx.tensor(1);
    if (!isFloat(x.dtype)) ctx.fail("X must be floating point");
    if (x.shape && x.shape.length !== 4) ctx.fail("X must be [N, C, H, W]");
    const { mode, coordinate_transformation_mode: ct } = ctx.attrs;
    if (mode !== "avg" && mode !== "max") ctx.fail(`unknown mode '${mode}'`);
    if (ct !== "half_pixel" && ct !== "output_half_pixel") {
      ctx.fail(`unknown coordinate_transformation_mode '${ct}'`);
    }
    return [
      tensorType(x.dtype, [
        r.shape?.[0] ?? ctx.fresh(),
        x.shape?.[1] ?? ctx.fresh(),
        ctx.attrs.output_height,
        ctx.attrs.output_width,
      ]),
    ];
  },
});

defineOp({
  op: "MaxRoiPool",
  inputs: ins("X", "rois"),
  outputs: ins("Y"),
  attrs: { pooled_shape: a.required(a.ints()), spatial_scale: a.float(1) },
  infer(ctx) {
    const x = ctx.tensor(0), r = ctx.tensor(1);
    if (!isFloat(x.dtype)) ctx.fail("X must be floating point");
    const ps = ctx.attrs.pooled_shape;
    if (ps.length !== 2 || !(ps[0] > 0 && ps[1] > 0)) ctx.fail("pooled_shape must be two positive sizes");
    return [tensorType(x.dtype, [r.shape?.[0] ?? ctx.fresh(), x.shape?.[1] ?? ctx.fresh(), ps[0], ps[1]])];
  },
});

defineOp({
  op: "Det",
  inputs: ins("X"),
  outputs: ins("Y"),
  infer(ctx) {
    const x = ctx.tensor(0);
    if (!isFloat(x.dtype)) ctx.fail("X must be floating point");
    if (!x.shape) return [tensorType(x.dtype)];
    if (x.shape.length < 2) ctx.fail("X must be [..., M, M]");
    const [m, n] = x.shape.slice(-2);
    if (typeof m === "number" && typeof n === "number" && m !== n) {
      ctx.fail(`matrices are ${m}x${n}, not square`);
    }
    return [tensorType(x.dtype, x.shape.slice(0, -2))];
  },
});

/** A random op's element type from its `dtype` attribute, defaulting to `fallback`. */
function randomDType(ctx: InferContext, fallback: DType): DType {
  const code = ctx.attrs.dtype;
  if (code === undefined) return fallback;
  const d = dtypeOfTensorProtoCode(code);
  if (!d) ctx.fail(`dtype ${code} is not supported`);
  return d;
}

function floatDType(ctx: InferContext, fallback: DType): DType {
  const d = randomDType(ctx, fallback);
  if (!isFloat(d)) ctx.fail("random values must be floating point");
  return d;
}

defineOp({
  op: "Bernoulli",
  inputs: ins("input"),
  outputs: ins("output"),
  attrs: { dtype: a.int(), seed: a.float() },
  impure: true,
  infer(ctx) {
    const x = ctx.tensor(0);
    if (!isFloat(x.dtype)) ctx.fail("probabilities must be floating point");
    return [tensorType(randomDType(ctx, x.dtype), x.shape)];
  },
});

defineOp({
  op: "RandomUniform",
  inputs: [],
  outputs: ins("output"),
  attrs: { dtype: a.int(1), high: a.float(1), low: a.float(0), seed: a.float(), shape: a.required(a.ints()) },
  impure: true,
  infer: (ctx) => [tensorType(floatDType(ctx, "f32"), ctx.attrs.shape)],
});

defineOp({
  op: "RandomNormal",
  inputs: [],
  outputs: ins("output"),
  attrs: {
    dtype: a.int(1),
    mean: a.float(0),
    scale: a.float(1),
    seed: a.float(),
    shape: a.required(a.ints()),
  },
  impure: true,
  infer: (ctx) => [tensorType(floatDType(ctx, "f32"), ctx.attrs.shape)],
});

defineOp({
  op: "RandomUniformLike",
  inputs: ins("input"),
  outputs: ins("output"),
  attrs: { dtype: a.int(), high: a.float(1), low: a.float(0), seed: a.float() },
  impure: true,
  infer(ctx) {
    const x = ctx.tensor(0);
    return [tensorType(floatDType(ctx, x.dtype), x.shape)];
  },
});

defineOp({
  op: "RandomNormalLike",
  inputs: ins("input"),
  outputs: ins("output"),
  attrs: { dtype: a.int(), mean: a.float(0), scale: a.float(1), seed: a.float() },
  impure: true,
  infer(ctx) {
    const x = ctx.tensor(0);
    return [tensorType(floatDType(ctx, x.dtype), x.shape)];
  },
});

defineOp({
  op: "Multinomial",
  inputs: ins("input"),
  outputs: ins("output"),
  attrs: { dtype: a.int(6), sample_size: a.int(1), seed: a.float() },
  impure: true,
  infer(ctx) {
    const x = ctx.tensor(0);
    if (!isFloat(x.dtype)) ctx.fail("input must be floating point");
    const d = randomDType(ctx, "i32");
    if (d !== "i32" && d !== "i64") ctx.fail("dtype must be int32 or int64");
    if (x.shape && x.shape.length !== 2) ctx.fail("input must be [batch, classes]");
    return [tensorType(d, [x.shape?.[0] ?? ctx.fresh(), ctx.attrs.sample_size])];
  },
});

/**
 * The optimizers take (R, T, then groups of per-tensor inputs) and return groups of updated tensors; each
 * output group mirrors the types of the X group (and its state groups) in order.
 */
function inferOptimizer(ctx: InferContext, inGroups: number, outGroups: number): ValueType[] {
  const rest = ctx.inputs.length - 2;
  if (rest <= 0 || rest % inGroups !== 0) ctx.fail(`expects R, T and ${inGroups} equal groups of tensors`);
  const n = rest / inGroups;
  if (ctx.node.outputs.length !== n * outGroups) {
    ctx.fail(`expects ${n * outGroups} outputs for ${n} tensors`);
  }
  const out: ValueType[] = [];
  const stateFirst = inGroups - outGroups;
  for (let g = 0; g < outGroups; g++) {
    const src = g === 0 ? 0 : stateFirst + g;
    for (let i = 0; i < n; i++) out.push(ctx.tensor(2 + src * n + i));
  }
  return out;
}

const TRAINING = "ai.onnx.preview.training";

defineOp({
  op: `${TRAINING}.Adagrad`,
  inputs: ins("R", "T", many("inputs")),
  outputs: ins(many("outputs")),
  attrs: { decay_factor: a.float(0), epsilon: a.float(1e-6), norm_coefficient: a.float(0) },
  // X, G, H in; X_new, H_new out.
  infer: (ctx) => inferOptimizer(ctx, 3, 2),
});

defineOp({
  op: `${TRAINING}.Momentum`,
  inputs: ins("R", "T", many("inputs")),
  outputs: ins(many("outputs")),
  attrs: {
    alpha: a.required(a.float()),
    beta: a.required(a.float()),
    mode: a.required(a.string()),
    norm_coefficient: a.required(a.float()),
  },
  // X, G, V in; X_new, V_new out.
  infer: (ctx) => inferOptimizer(ctx, 3, 2),
});

defineOp({
  op: `${TRAINING}.Adam`,
  inputs: ins("R", "T", many("inputs")),
  outputs: ins(many("outputs")),
  attrs: {
    alpha: a.float(0.9),
    beta: a.float(0.999),
    epsilon: a.float(1e-6),
    norm_coefficient: a.float(0),
    norm_coefficient_post: a.float(0),
  },
  // X, G, V, H in; X_new, V_new, H_new out.
  infer: (ctx) => inferOptimizer(ctx, 4, 3),
});
