/**
 * The `tfl` dialect: TFLite builtin ops with TFLite's own semantics (NHWC activations, OHWI convolution
 * filters, [1, KH, KW, C·mult] depthwise filters, fused activations). Op keys are `tfl.<BUILTIN_NAME>`;
 * attributes are the option table's fields under the schema's snake_case names with the schema's defaults
 * (enums as their member names, bools as 0/1). `_version` keeps the operator code version for round trips.
 *
 * Quantized outputs carry scales that only the file knows, so when an op sees a quantized operand its
 * inference leaves the output type to the declared one (importers always declare it).
 */
import type { DType } from "../dtype.ts";
import {
  a,
  type AttrSpec,
  defineOp,
  type InferContext,
  ins,
  many,
  type OperandSpec,
  opt,
} from "../op-registry.ts";
import { broadcastShapes } from "../shape-infer.ts";
import { type Dim, type Shape, type TensorType, tensorType, type ValueType } from "../value-type.ts";
import { resolveStridedSlice, windowAxis } from "./tflite-geometry.ts";

type Infer = (ctx: InferContext) => (ValueType | undefined)[];

const ACT = a.string("NONE");
const PADDING = a.string("SAME");

/** Option-field specs shared by several ops. */
const ARITH = { fused_activation_function: ACT };
const ADD_SUB = { fused_activation_function: ACT, pot_scale_int16: a.int(1) };
const POOL = {
  padding: PADDING,
  stride_w: a.int(0),
  stride_h: a.int(0),
  filter_width: a.int(0),
  filter_height: a.int(0),
  fused_activation_function: ACT,
};
const REDUCER = { keep_dims: a.int(0) };

function isQuantized(d: DType): boolean {
  return typeof d !== "string";
}

/** Any operand quantized: the output type is the declared one. */
function quantizedOperand(ctx: InferContext): boolean {
  return ctx.inputs.some((t) => t?.kind === "tensor" && isQuantized(t.dtype));
}

interface Decl {
  inputs: (string | OperandSpec)[];
  outputs?: (string | OperandSpec)[];
  attrs?: Record<string, AttrSpec>;
  infer?: Infer;
  /** Inference still runs with quantized operands (the output type does not depend on their scales). */
  quantAware?: boolean;
  impure?: boolean;
}

function tfl(name: string, d: Decl): void {
  const infer = d.infer;
  defineOp({
    op: `tfl.${name}`,
    inputs: ins(...d.inputs),
    outputs: ins(...(d.outputs ?? ["output"])),
    attrs: { ...d.attrs, _version: a.int(1) },
    impure: d.impure,
    infer: infer &&
      ((ctx) => {
        if (!d.quantAware && quantizedOperand(ctx)) return [];
        return infer(ctx) as ValueType[];
      }),
  });
}

const shaped = (dtype: DType, shape: Shape | undefined): TensorType => tensorType(dtype, shape);

/** Output dim of a window along one axis, symbolic when the input is. */
function windowDim(
  ctx: InferContext,
  padding: string,
  size: Dim,
  k: Dim,
  stride: number,
  dilation = 1,
): Dim {
  if (typeof size !== "number" || typeof k !== "number") return ctx.fresh();
  try {
    return windowAxis(padding, size, k, stride, dilation).out;
  } catch (e) {
    return ctx.fail((e as Error & { reason?: string }).reason ?? String(e));
  }
}

function rank4(ctx: InferContext, i: number, what: string): Shape | undefined {
  const s = ctx.tensor(i).shape;
  if (s && s.length !== 4) ctx.fail(`${what} must have rank 4, has [${s}]`);
  return s;
}

function sameAsInput(ctx: InferContext): ValueType[] {
  const t = ctx.tensor(0);
  return [shaped(t.dtype, t.shape)];
}

function broadcastInfer(dtype?: DType): Infer {
  return (ctx) => {
    const ts = ctx.inputs.map((_, i) => ctx.tensor(i));
    const dt = dtype ?? ts[ts.length > 2 ? 1 : 0].dtype;
    if (ts.some((t) => !t.shape)) return [tensorType(dt)];
    try {
      return [tensorType(dt, broadcastShapes(ts.map((t) => t.shape!), ctx.fresh))];
    } catch (e) {
      return ctx.fail((e as { reason?: string }).reason ?? String(e));
    }
  };
}

/** A scalar or one-element constant operand (EXPAND_DIMS's axis, ARG_MAX's axis, SPLIT's axis). */
function scalarOperand(ctx: InferContext, i: number): number | undefined {
  const v = ctx.ints(i);
  if (v === undefined) return undefined;
  if (v.length !== 1) ctx.fail(`operand ${i} must hold one value, holds ${v.length}`);
  return v[0];
}

function axisIn(ctx: InferContext, axis: number, rank: number): number {
  const r = axis < 0 ? axis + rank : axis;
  if (r < 0 || r >= rank) ctx.fail(`axis ${axis} out of range for rank ${rank}`);
  return r;
}

function tensorTypeDType(name: unknown): DType | undefined {
  switch (name) {
    case "FLOAT32":
      return "f32";
    case "FLOAT16":
      return "f16";
    case "INT32":
      return "i32";
    case "UINT8":
      return "u8";
    case "INT64":
      return "i64";
    case "BOOL":
      return "bool";
    case "INT16":
      return "i16";
    case "INT8":
      return "i8";
    case "FLOAT64":
      return "f64";
    default:
      return undefined;
  }
}

// ---- elementwise -------------------------------------------------------------------------------------

for (
  const name of [
    "RELU",
    "RELU6",
    "RELU_N1_TO_1",
    "RELU_0_TO_1",
    "LOGISTIC",
    "TANH",
    "HARD_SWISH",
    "EXP",
    "LOG",
    "SQRT",
    "RSQRT",
    "ABS",
    "NEG",
    "SIN",
    "COS",
    "FLOOR",
    "CEIL",
    "ROUND",
    "SQUARE",
    "ELU",
    "SIGN",
    "LOG_SOFTMAX",
    "ZEROS_LIKE",
  ]
) tfl(name, { inputs: ["input"], infer: sameAsInput });

tfl("LEAKY_RELU", { inputs: ["input"], attrs: { alpha: a.float(0) }, infer: sameAsInput });
tfl("GELU", { inputs: ["input"], attrs: { approximate: a.int(0) }, infer: sameAsInput });
tfl("SOFTMAX", { inputs: ["input"], attrs: { beta: a.float(0) }, infer: sameAsInput });
tfl("L2_NORMALIZATION", { inputs: ["input"], attrs: ARITH, infer: sameAsInput });
tfl("LOGICAL_NOT", { inputs: ["input"], infer: sameAsInput });

tfl("ADD", { inputs: ["x", "y"], attrs: ADD_SUB, infer: broadcastInfer() });
tfl("SUB", { inputs: ["x", "y"], attrs: ADD_SUB, infer: broadcastInfer() });
tfl("MUL", { inputs: ["x", "y"], attrs: ARITH, infer: broadcastInfer() });
tfl("DIV", { inputs: ["x", "y"], attrs: ARITH, infer: broadcastInfer() });
for (const name of ["MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "POW", "FLOOR_DIV", "FLOOR_MOD", "ATAN2"]) {
  tfl(name, { inputs: ["x", "y"], infer: broadcastInfer() });
}
tfl("PRELU", { inputs: ["input", "alpha"], infer: broadcastInfer() });
for (const name of ["LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL", "EQUAL", "NOT_EQUAL"]) {
  tfl(name, { inputs: ["x", "y"], infer: broadcastInfer("bool"), quantAware: true });
}
tfl("LOGICAL_AND", { inputs: ["x", "y"], infer: broadcastInfer("bool") });
tfl("LOGICAL_OR", { inputs: ["x", "y"], infer: broadcastInfer("bool") });
tfl("SELECT", { inputs: ["condition", "x", "y"], infer: broadcastInfer() });
tfl("SELECT_V2", { inputs: ["condition", "x", "y"], infer: broadcastInfer() });

tfl("CAST", {
  inputs: ["input"],
  attrs: { in_data_type: a.string("FLOAT32"), out_data_type: a.string("FLOAT32") },
  quantAware: true,
  infer(ctx) {
    // Converters often omit CastOptions; then only the declared output type says what the target is.
    const to = ctx.node.attrs.out_data_type ? tensorTypeDType(ctx.attrs.out_data_type) : undefined;
    return to ? [shaped(to, ctx.tensor(0).shape)] : [];
  },
});
tfl("QUANTIZE", { inputs: ["input"], infer: () => [] });
tfl("DEQUANTIZE", {
  inputs: ["input"],
  quantAware: true,
  infer: (ctx) => [shaped("f32", ctx.tensor(0).shape)],
});

// ---- convolution, pooling, fully connected ------------------------------------------------------------

const CONV = {
  padding: PADDING,
  stride_w: a.int(0),
  stride_h: a.int(0),
  fused_activation_function: ACT,
  dilation_w_factor: a.int(1),
  dilation_h_factor: a.int(1),
  quantized_bias_type: a.string("FLOAT32"),
};

tfl("CONV_2D", {
  inputs: ["input", "filter", opt("bias")],
  attrs: CONV,
  infer(ctx) {
    const x = rank4(ctx, 0, "CONV_2D input"), w = rank4(ctx, 1, "CONV_2D filter");
    const dt = ctx.tensor(0).dtype;
    if (!x || !w) return [tensorType(dt)];
    const at = ctx.attrs;
    if (typeof x[3] === "number" && typeof w[3] === "number" && (w[3] === 0 || x[3] % w[3] !== 0)) {
      ctx.fail(`input has ${x[3]} channels, the filter takes ${w[3]} per group`);
    }
    const oh = windowDim(ctx, at.padding, x[1], w[1], at.stride_h, at.dilation_h_factor);
    const ow = windowDim(ctx, at.padding, x[2], w[2], at.stride_w, at.dilation_w_factor);
    return [tensorType(dt, [x[0], oh, ow, w[0]])];
  },
});

tfl("DEPTHWISE_CONV_2D", {
  inputs: ["input", "filter", opt("bias")],
  attrs: {
    padding: PADDING,
    stride_w: a.int(0),
    stride_h: a.int(0),
    depth_multiplier: a.int(0),
    fused_activation_function: ACT,
    dilation_w_factor: a.int(1),
    dilation_h_factor: a.int(1),
  },
  infer(ctx) {
    const x = rank4(ctx, 0, "DEPTHWISE_CONV_2D input"), w = rank4(ctx, 1, "DEPTHWISE_CONV_2D filter");
    const dt = ctx.tensor(0).dtype;
    if (!x || !w) return [tensorType(dt)];
    if (typeof x[3] === "number" && typeof w[3] === "number" && (x[3] === 0 || w[3] % x[3] !== 0)) {
      ctx.fail(`filter has ${w[3]} channels, not a multiple of the input's ${x[3]}`);
    }
    const at = ctx.attrs;
    const oh = windowDim(ctx, at.padding, x[1], w[1], at.stride_h, at.dilation_h_factor);
    const ow = windowDim(ctx, at.padding, x[2], w[2], at.stride_w, at.dilation_w_factor);
    return [tensorType(dt, [x[0], oh, ow, w[3]])];
  },
});

tfl("TRANSPOSE_CONV", {
  inputs: ["output_shape", "weights", "input", opt("bias")],
  attrs: {
    padding: PADDING,
    stride_w: a.int(0),
    stride_h: a.int(0),
    fused_activation_function: ACT,
    quantized_bias_type: a.string("FLOAT32"),
  },
  infer(ctx) {
    const dt = ctx.tensor(2).dtype;
    const shape = ctx.ints(0);
    if (!shape) return [tensorType(dt, [ctx.fresh(), ctx.fresh(), ctx.fresh(), ctx.fresh()])];
    if (shape.length !== 4 || shape.some((d) => d < 0)) ctx.fail(`output shape [${shape}] is not 4 sizes`);
    return [tensorType(dt, shape)];
  },
});

tfl("FULLY_CONNECTED", {
  inputs: ["input", "weights", opt("bias")],
  attrs: {
    fused_activation_function: ACT,
    weights_format: a.string("DEFAULT"),
    keep_num_dims: a.int(0),
    asymmetric_quantize_inputs: a.int(0),
    quantized_bias_type: a.string("FLOAT32"),
  },
  infer(ctx) {
    const x = ctx.tensor(0), w = ctx.tensor(1).shape;
    if (!x.shape || !w) return [tensorType(x.dtype)];
    if (w.length !== 2) ctx.fail(`weights must have rank 2, have [${w}]`);
    const units = w[0], depth = w[1];
    if (ctx.attrs.keep_num_dims) {
      const last = x.shape[x.shape.length - 1];
      if (typeof last === "number" && typeof depth === "number" && last !== depth) {
        ctx.fail(`input depth ${last} differs from the weights' ${depth}`);
      }
      return [tensorType(x.dtype, [...x.shape.slice(0, -1), units])];
    }
    if (x.shape.every((d) => typeof d === "number") && typeof depth === "number") {
      const total = (x.shape as number[]).reduce((p, d) => p * d, 1);
      if (depth === 0 || total % depth !== 0) ctx.fail(`${total} input elements are not rows of ${depth}`);
      return [tensorType(x.dtype, [total / depth, units])];
    }
    if (x.shape.length === 2) return [tensorType(x.dtype, [x.shape[0], units])];
    return [tensorType(x.dtype, [ctx.fresh(), units])];
  },
});

for (const name of ["AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"]) {
  tfl(name, {
    inputs: ["input"],
    attrs: POOL,
    infer(ctx) {
      const x = rank4(ctx, 0, `${name} input`);
      const dt = ctx.tensor(0).dtype;
      if (!x) return [tensorType(dt)];
      const at = ctx.attrs;
      const oh = windowDim(ctx, at.padding, x[1], at.filter_height, at.stride_h);
      const ow = windowDim(ctx, at.padding, x[2], at.filter_width, at.stride_w);
      return [tensorType(dt, [x[0], oh, ow, x[3]])];
    },
  });
}

tfl("BATCH_MATMUL", {
  inputs: ["x", "y"],
  attrs: { adj_x: a.int(0), adj_y: a.int(0), asymmetric_quantize_inputs: a.int(0) },
  infer(ctx) {
    const x = ctx.tensor(0), y = ctx.tensor(1).shape;
    if (!x.shape || !y) return [tensorType(x.dtype)];
    if (x.shape.length < 2 || y.length < 2) ctx.fail("BATCH_MATMUL operands need rank 2 or more");
    const xr = x.shape.length, yr = y.length;
    const m = ctx.attrs.adj_x ? x.shape[xr - 1] : x.shape[xr - 2];
    const kx = ctx.attrs.adj_x ? x.shape[xr - 2] : x.shape[xr - 1];
    const ky = ctx.attrs.adj_y ? y[yr - 1] : y[yr - 2];
    const n = ctx.attrs.adj_y ? y[yr - 2] : y[yr - 1];
    if (typeof kx === "number" && typeof ky === "number" && kx !== ky) {
      ctx.fail(`inner sizes ${kx} and ${ky} differ`);
    }
    const batch = broadcastShapes([x.shape.slice(0, -2), y.slice(0, -2)], ctx.fresh);
    return [tensorType(x.dtype, [...batch, m, n])];
  },
});

// ---- shape and movement ----------------------------------------------------------------------------

/** TFLite RESHAPE's target: the shape operand when it is an int32 vector, else the new_shape option. */
export function reshapeTarget(
  shapeOperand: readonly number[] | undefined,
  operandRank: number | undefined,
  newShape: readonly number[] | undefined,
): readonly number[] | undefined {
  if (shapeOperand !== undefined && operandRank === 1) return shapeOperand;
  return newShape;
}

tfl("RESHAPE", {
  inputs: ["input", opt("shape")],
  attrs: { new_shape: a.ints() },
  infer(ctx) {
    const x = ctx.tensor(0);
    const shapeType = ctx.inputs[1] ? ctx.tensor(1) : undefined;
    const target = reshapeTarget(
      ctx.inputs[1] ? ctx.ints(1) : undefined,
      shapeType?.shape?.length,
      ctx.node.attrs.new_shape ? ctx.attrs.new_shape : undefined,
    );
    if (!target) {
      const len = shapeType?.shape?.[0];
      return [
        tensorType(
          x.dtype,
          typeof len === "number" ? Array.from({ length: len }, () => ctx.fresh()) : undefined,
        ),
      ];
    }
    const out: Dim[] = [...target];
    const stretch = target.indexOf(-1);
    if (target.some((d, i) => d < -1 || (d === -1 && i !== stretch))) {
      ctx.fail(`bad reshape target [${target}]`);
    }
    const known = x.shape?.every((d) => typeof d === "number");
    if (known) {
      const total = (x.shape as number[]).reduce((p, d) => p * d, 1);
      const rest = target.reduce((p, d) => (d === -1 ? p : p * d), 1);
      if (stretch >= 0) {
        if (rest === 0 || total % rest !== 0) ctx.fail(`cannot reshape [${x.shape}] to [${target}]`);
        out[stretch] = total / rest;
      } else if (rest !== total) ctx.fail(`cannot reshape [${x.shape}] (${total} elements) to [${target}]`);
    } else if (stretch >= 0) out[stretch] = ctx.fresh();
    return [tensorType(x.dtype, out)];
  },
});

tfl("SQUEEZE", {
  inputs: ["input"],
  attrs: { squeeze_dims: a.ints([]) },
  infer(ctx) {
    const x = ctx.tensor(0);
    if (!x.shape) return [tensorType(x.dtype)];
    const dims: readonly number[] = ctx.attrs.squeeze_dims ?? [];
    if (dims.length === 0) {
      if (!x.shape.every((d) => typeof d === "number")) return [tensorType(x.dtype)];
      return [tensorType(x.dtype, x.shape.filter((d) => d !== 1))];
    }
    const drop = new Set(dims.map((d) => axisIn(ctx, d, x.shape!.length)));
    for (const d of drop) {
      if (typeof x.shape[d] === "number" && x.shape[d] !== 1) {
        ctx.fail(`cannot squeeze dim ${d} of size ${x.shape[d]}`);
      }
    }
    return [tensorType(x.dtype, x.shape.filter((_, i) => !drop.has(i)))];
  },
});

tfl("EXPAND_DIMS", {
  inputs: ["input", "axis"],
  infer(ctx) {
    const x = ctx.tensor(0);
    const axis = scalarOperand(ctx, 1);
    if (!x.shape) return [tensorType(x.dtype)];
    if (axis === undefined) return [tensorType(x.dtype, [...x.shape.map(() => ctx.fresh()), ctx.fresh()])];
    const at = axisIn(ctx, axis, x.shape.length + 1);
    return [tensorType(x.dtype, [...x.shape.slice(0, at), 1, ...x.shape.slice(at)])];
  },
});

tfl("TRANSPOSE", {
  inputs: ["input", "perm"],
  infer(ctx) {
    const x = ctx.tensor(0);
    if (!x.shape) return [tensorType(x.dtype)];
    const perm = ctx.ints(1);
    if (!perm) return [tensorType(x.dtype, x.shape.map(() => ctx.fresh()))];
    const r = x.shape.length;
    const p = perm.map((v) => axisIn(ctx, v, r));
    if (p.length !== r || new Set(p).size !== r) ctx.fail(`perm [${perm}] is not a permutation of ${r} axes`);
    return [tensorType(x.dtype, p.map((i) => x.shape![i]))];
  },
});

function sumDims(ctx: InferContext, dims: readonly Dim[]): Dim {
  return dims.every((d) => typeof d === "number")
    ? (dims as number[]).reduce((p, d) => p + d, 0)
    : ctx.fresh();
}

tfl("CONCATENATION", {
  inputs: [many("values")],
  attrs: { axis: a.int(0), fused_activation_function: ACT },
  infer(ctx) {
    const ts = ctx.inputs.map((_, i) => ctx.tensor(i));
    const first = ts[0];
    if (ts.some((t) => !t.shape)) return [tensorType(first.dtype)];
    const r = first.shape!.length;
    const axis = axisIn(ctx, ctx.attrs.axis, r);
    const out = [...first.shape!];
    for (const t of ts) {
      if (t.shape!.length !== r) ctx.fail(`operands have ranks ${r} and ${t.shape!.length}`);
    }
    out[axis] = sumDims(ctx, ts.map((t) => t.shape![axis]));
    return [tensorType(first.dtype, out)];
  },
});

tfl("PACK", {
  inputs: [many("values")],
  attrs: { values_count: a.int(0), axis: a.int(0) },
  infer(ctx) {
    const x = ctx.tensor(0);
    if (!x.shape) return [tensorType(x.dtype)];
    const at = axisIn(ctx, ctx.attrs.axis, x.shape.length + 1);
    return [tensorType(x.dtype, [...x.shape.slice(0, at), ctx.inputs.length, ...x.shape.slice(at)])];
  },
});

tfl("UNPACK", {
  inputs: ["input"],
  outputs: [many("outputs")],
  attrs: { num: a.int(0), axis: a.int(0) },
  infer(ctx) {
    const x = ctx.tensor(0);
    const n = ctx.node.outputs.length;
    if (!x.shape) return ctx.node.outputs.map(() => tensorType(x.dtype));
    const at = axisIn(ctx, ctx.attrs.axis, x.shape.length);
    if (typeof x.shape[at] === "number" && x.shape[at] !== n) {
      ctx.fail(`unpacking ${x.shape[at]} values into ${n} outputs`);
    }
    const shape = x.shape.filter((_, i) => i !== at);
    return ctx.node.outputs.map(() => tensorType(x.dtype, shape));
  },
});

tfl("SPLIT", {
  inputs: ["axis", "input"],
  outputs: [many("outputs")],
  attrs: { num_splits: a.int(0) },
  infer(ctx) {
    const x = ctx.tensor(1);
    const n = ctx.node.outputs.length;
    const axis = scalarOperand(ctx, 0);
    if (!x.shape || axis === undefined) return ctx.node.outputs.map(() => tensorType(x.dtype));
    const at = axisIn(ctx, axis, x.shape.length);
    const d = x.shape[at];
    if (typeof d === "number" && d % n !== 0) ctx.fail(`cannot split ${d} into ${n} equal parts`);
    const part = typeof d === "number" ? d / n : ctx.fresh();
    return ctx.node.outputs.map(() => tensorType(x.dtype, x.shape!.map((v, i) => (i === at ? part : v))));
  },
});

tfl("SPLIT_V", {
  inputs: ["input", "size_splits", "axis"],
  outputs: [many("outputs")],
  attrs: { num_splits: a.int(0) },
  infer(ctx) {
    const x = ctx.tensor(0);
    const sizes = ctx.ints(1), axis = scalarOperand(ctx, 2);
    if (!x.shape || axis === undefined || !sizes) return ctx.node.outputs.map(() => tensorType(x.dtype));
    const at = axisIn(ctx, axis, x.shape.length);
    if (sizes.length !== ctx.node.outputs.length) {
      ctx.fail(`${sizes.length} sizes for ${ctx.node.outputs.length} outputs`);
    }
    const d = x.shape[at];
    const fill = sizes.indexOf(-1);
    const parts: Dim[] = [...sizes];
    if (fill >= 0) {
      const rest = sizes.reduce((p, s, i) => (i === fill ? p : p + s), 0);
      parts[fill] = typeof d === "number" ? d - rest : ctx.fresh();
    }
    return parts.map((p) => tensorType(x.dtype, x.shape!.map((v, i) => (i === at ? p : v))));
  },
});

function padInfer(ctx: InferContext): ValueType[] {
  const x = ctx.tensor(0);
  if (!x.shape) return [tensorType(x.dtype)];
  const pads = ctx.ints(1);
  if (!pads) return [tensorType(x.dtype, x.shape.map(() => ctx.fresh()))];
  if (pads.length !== 2 * x.shape.length) ctx.fail(`${pads.length / 2} pad pairs for rank ${x.shape.length}`);
  return [tensorType(
    x.dtype,
    x.shape.map((d, i) => {
      const extra = pads[2 * i] + pads[2 * i + 1];
      return typeof d === "number" ? d + extra : extra === 0 ? d : ctx.fresh();
    }),
  )];
}
tfl("PAD", { inputs: ["input", "paddings"], infer: padInfer });
tfl("PADV2", { inputs: ["input", "paddings", opt("constant_values")], infer: padInfer });
tfl("MIRROR_PAD", { inputs: ["input", "paddings"], attrs: { mode: a.string("REFLECT") }, infer: padInfer });

tfl("STRIDED_SLICE", {
  inputs: ["input", "begin", "end", opt("strides")],
  attrs: {
    begin_mask: a.int(0),
    end_mask: a.int(0),
    ellipsis_mask: a.int(0),
    new_axis_mask: a.int(0),
    shrink_axis_mask: a.int(0),
    offset: a.int(0),
  },
  infer(ctx) {
    const x = ctx.tensor(0);
    const begin = ctx.ints(1), end = ctx.ints(2);
    const strides = ctx.inputs[3] ? ctx.ints(3) : begin?.map(() => 1);
    if (!x.shape || !begin || !end || !strides) return [tensorType(x.dtype)];
    try {
      return [
        tensorType(
          x.dtype,
          resolveStridedSlice<Dim>(x.shape, begin, end, strides, ctx.attrs as any, ctx.fresh).outShape,
        ),
      ];
    } catch (e) {
      return ctx.fail((e as { reason?: string }).reason ?? String(e));
    }
  },
});

tfl("SLICE", {
  inputs: ["input", "begin", "size"],
  infer(ctx) {
    const x = ctx.tensor(0);
    const begin = ctx.ints(1), size = ctx.ints(2);
    if (!x.shape) return [tensorType(x.dtype)];
    if (!begin || !size) return [tensorType(x.dtype, x.shape.map(() => ctx.fresh()))];
    if (begin.length !== x.shape.length || size.length !== x.shape.length) {
      ctx.fail("begin and size must have one entry per axis");
    }
    return [tensorType(
      x.dtype,
      x.shape.map((d, i) => {
        if (size[i] >= 0) return size[i];
        return typeof d === "number" ? d - begin[i] : ctx.fresh();
      }),
    )];
  },
});

tfl("GATHER", {
  inputs: ["params", "indices"],
  attrs: { axis: a.int(0), batch_dims: a.int(0) },
  infer(ctx) {
    const p = ctx.tensor(0), idx = ctx.tensor(1).shape;
    if (!p.shape || !idx) return [tensorType(p.dtype)];
    const axis = axisIn(ctx, ctx.attrs.axis, p.shape.length);
    let bd = ctx.attrs.batch_dims as number;
    if (bd < 0) bd += idx.length;
    if (bd < 0 || bd > axis) ctx.fail(`batch_dims ${ctx.attrs.batch_dims} out of range`);
    return [tensorType(p.dtype, [...p.shape.slice(0, axis), ...idx.slice(bd), ...p.shape.slice(axis + 1)])];
  },
});

tfl("GATHER_ND", {
  inputs: ["params", "indices"],
  infer(ctx) {
    const p = ctx.tensor(0), idx = ctx.tensor(1).shape;
    if (!p.shape || !idx) return [tensorType(p.dtype)];
    const k = idx[idx.length - 1];
    if (typeof k !== "number") return [tensorType(p.dtype)];
    if (k > p.shape.length) ctx.fail(`index depth ${k} exceeds the params rank ${p.shape.length}`);
    return [tensorType(p.dtype, [...idx.slice(0, -1), ...p.shape.slice(k)])];
  },
});

tfl("TILE", {
  inputs: ["input", "multiples"],
  infer(ctx) {
    const x = ctx.tensor(0);
    if (!x.shape) return [tensorType(x.dtype)];
    const m = ctx.ints(1);
    if (!m) return [tensorType(x.dtype, x.shape.map(() => ctx.fresh()))];
    if (m.length !== x.shape.length) ctx.fail(`${m.length} multiples for rank ${x.shape.length}`);
    return [
      tensorType(
        x.dtype,
        x.shape.map((d, i) => (typeof d === "number" ? d * m[i] : m[i] === 1 ? d : ctx.fresh())),
      ),
    ];
  },
});

tfl("BROADCAST_TO", {
  inputs: ["input", "shape"],
  infer(ctx) {
    const x = ctx.tensor(0);
    const s = ctx.ints(1);
    if (!s || !x.shape) return [tensorType(x.dtype)];
    try {
      return [tensorType(x.dtype, broadcastShapes([x.shape, s], ctx.fresh))];
    } catch (e) {
      return ctx.fail((e as { reason?: string }).reason ?? String(e));
    }
  },
});

tfl("SHAPE", {
  inputs: ["input"],
  attrs: { out_type: a.string("FLOAT32") },
  quantAware: true,
  infer(ctx) {
    const x = ctx.tensor(0);
    const dt = ctx.attrs.out_type === "INT64" ? "i64" : ctx.attrs.out_type === "INT32" ? "i32" : undefined;
    if (!dt) return [];
    return [tensorType(dt, x.shape ? [x.shape.length] : [ctx.fresh()])];
  },
});

function reduceInfer(ctx: InferContext): ValueType[] {
  const x = ctx.tensor(0);
  const axes = ctx.ints(1);
  const keep = !!ctx.attrs.keep_dims;
  if (!x.shape) return [tensorType(x.dtype)];
  const r = x.shape.length;
  if (!axes) return [tensorType(x.dtype, keep ? x.shape.map(() => ctx.fresh()) : undefined)];
  const set = new Set(axes.map((v) => axisIn(ctx, v, r)));
  const out: Dim[] = [];
  x.shape.forEach((d, i) => {
    if (!set.has(i)) out.push(d);
    else if (keep) out.push(1);
  });
  return [tensorType(x.dtype, out)];
}
for (const name of ["MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "REDUCE_ANY", "REDUCE_ALL"]) {
  tfl(name, { inputs: ["input", "axes"], attrs: REDUCER, infer: reduceInfer });
}

for (const name of ["ARG_MAX", "ARG_MIN"]) {
  tfl(name, {
    inputs: ["input", "axis"],
    attrs: { output_type: a.string("FLOAT32") },
    quantAware: true,
    infer(ctx) {
      const x = ctx.tensor(0);
      const dt = ctx.attrs.output_type === "INT32"
        ? "i32"
        : ctx.attrs.output_type === "INT64"
        ? "i64"
        : undefined;
      if (!dt) return [];
      const axis = scalarOperand(ctx, 1);
      if (!x.shape || axis === undefined) return [tensorType(dt)];
      const at = axisIn(ctx, axis, x.shape.length);
      return [tensorType(dt, x.shape.filter((_, i) => i !== at))];
    },
  });
}

function resizeInfer(ctx: InferContext): ValueType[] {
  const x = rank4(ctx, 0, "resize input");
  const dt = ctx.tensor(0).dtype;
  const size = ctx.ints(1);
  if (!x) return [tensorType(dt)];
  if (!size) return [tensorType(dt, [x[0], ctx.fresh(), ctx.fresh(), x[3]])];
  if (size.length !== 2) ctx.fail(`size must hold 2 values, holds ${size.length}`);
  return [tensorType(dt, [x[0], size[0], size[1], x[3]])];
}
tfl("RESIZE_BILINEAR", {
  inputs: ["input", "size"],
  attrs: { new_height: a.int(0), new_width: a.int(0), align_corners: a.int(0), half_pixel_centers: a.int(0) },
  infer: resizeInfer,
});
tfl("RESIZE_NEAREST_NEIGHBOR", {
  inputs: ["input", "size"],
  attrs: { align_corners: a.int(0), half_pixel_centers: a.int(0) },
  infer: resizeInfer,
});

function blockDims(ctx: InferContext, toSpace: boolean): ValueType[] {
  const x = rank4(ctx, 0, "input");
  const dt = ctx.tensor(0).dtype;
  const b = ctx.attrs.block_size as number;
  if (!(b >= 1)) ctx.fail(`block_size ${b} must be positive`);
  if (!x) return [tensorType(dt)];
  const mul = (d: Dim, k: number): Dim => (typeof d === "number" ? d * k : ctx.fresh());
  const div = (d: Dim, k: number): Dim => {
    if (typeof d !== "number") return ctx.fresh();
    if (d % k !== 0) ctx.fail(`dim ${d} is not a multiple of ${k}`);
    return d / k;
  };
  return toSpace
    ? [tensorType(dt, [x[0], mul(x[1], b), mul(x[2], b), div(x[3], b * b)])]
    : [tensorType(dt, [x[0], div(x[1], b), div(x[2], b), mul(x[3], b * b)])];
}
tfl("DEPTH_TO_SPACE", {
  inputs: ["input"],
  attrs: { block_size: a.int(0) },
  infer: (ctx) => blockDims(ctx, true),
});
tfl("SPACE_TO_DEPTH", {
  inputs: ["input"],
  attrs: { block_size: a.int(0) },
  infer: (ctx) => blockDims(ctx, false),
});

// ---- opaque and structural ops -----------------------------------------------------------------------

/** A custom op: the code names it, the options are its FlexBuffer (or other) bytes, kept verbatim. */
tfl("CUSTOM", {
  inputs: [many("inputs")],
  outputs: [many("outputs")],
  attrs: { custom_code: a.required(a.string()), custom_options: a.tensor(), custom_options_format: a.int(0) },
});

/**
 * Expands a sparse constant. `input` holds the stored values in traversal order (a vector); the attributes
 * are the tensor's SparsityParameters, kept so that export writes the file's own encoding back: the dense
 * `shape`, then per traversal level its `dim_format` (DENSE or SPARSE_CSR), `dense_size` (dense levels)
 * and `array_segments`/`array_indices` (sparse levels: i32, u16 or u8 vectors; empty on dense levels).
 */
tfl("DENSIFY", {
  inputs: ["input"],
  attrs: {
    shape: a.required(a.ints()),
    traversal_order: a.ints([]),
    block_map: a.ints([]),
    dim_format: a.strings([]),
    dense_size: a.ints([]),
    array_segments: a.tensors(),
    array_indices: a.tensors(),
  },
  infer: (ctx) => [shaped(ctx.tensor(0).dtype, ctx.attrs.shape as number[])],
});

tfl("WHILE", {
  inputs: [many("inputs")],
  outputs: [many("outputs")],
  attrs: { cond_subgraph: a.graph(), body_subgraph: a.graph() },
});
tfl("IF", {
  inputs: ["cond", many("inputs")],
  outputs: [many("outputs")],
  attrs: { then_subgraph: a.graph(), else_subgraph: a.graph() },
});
tfl("CALL_ONCE", { inputs: [], outputs: [], attrs: { init_subgraph: a.graph() } });
