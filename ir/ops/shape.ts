/**
 * Op declarations: shape and tensor-movement ops (ONNX semantics of the latest opset). The shape arithmetic
 * here is exported so kernels compute exactly the shapes inference promised.
 */
import type { DType } from "../dtype.ts";
import { LatheError } from "../errors.ts";
import { dtypeAttr } from "./dtype-code.ts";
import { a, defineOp, type InferContext, ins, many, opt } from "../op-registry.ts";
import { broadcastShapes, dimMul, normalizeAxis } from "../shape-infer.ts";
import { type Dim, isStaticShape, type Shape, type TensorType, tensorType } from "../value-type.ts";

/** Reshape's target: 0 copies the input dim (unless allowzero), -1 takes what is left. */
export function reshapeDims(
  input: Shape,
  target: readonly number[],
  allowzero: boolean,
  fresh?: () => string,
): Dim[] {
  let infer = -1;
  const out: Dim[] = target.map((t, i) => {
    if (t === -1) {
      if (infer >= 0) throw new LatheError("verify", "Reshape target has more than one -1");
      infer = i;
      return 1;
    }
    if (t < -1) throw new LatheError("verify", `Reshape target dim ${t} is invalid`);
    if (t === 0 && !allowzero) {
      if (i >= input.length) {
        throw new LatheError("verify", `Reshape copies dim ${i} of a rank-${input.length} input`);
      }
      return input[i];
    }
    return t;
  });
  if (infer >= 0 && allowzero && target.includes(0)) {
    throw new LatheError("verify", "Reshape with allowzero cannot combine 0 and -1");
  }
  const known = (s: readonly Dim[]) => s.every((d) => typeof d === "number");
  if (infer >= 0) {
    if (known(input) && known(out)) {
      const total = (input as number[]).reduce((p, d) => p * d, 1);
      const rest = (out as number[]).reduce((p, d) => p * d, 1);
      if (rest === 0 ? total !== 0 : total % rest !== 0) {
        throw new LatheError("verify", `cannot reshape [${input}] to [${target}]`);
      }
      out[infer] = rest === 0 ? 0 : total / rest;
    } else out[infer] = fresh ? fresh() : "?";
  } else if (known(input) && known(out)) {
    const total = (input as number[]).reduce((p, d) => p * d, 1);
    const want = (out as number[]).reduce((p, d) => p * d, 1);
    if (total !== want) {
      throw new LatheError("verify", `cannot reshape [${input}] (${total} elements) to [${out}]`);
    }
  }
  return out;
}

/** Squeeze's output dims; axes empty means every static 1. */
export function squeezeDims(input: Shape, axes: readonly number[] | undefined): Dim[] | undefined {
  const r = input.length;
  if (!axes || axes.length === 0) {
    if (!input.every((d) => typeof d === "number")) return undefined;
    return input.filter((d) => d !== 1);
  }
  const drop = new Set(axes.map((x) => normalizeAxis(x, r, "Squeeze axis")));
  for (const ax of drop) {
    if (typeof input[ax] === "number" && input[ax] !== 1) {
      throw new LatheError("verify", `Squeeze axis ${ax} has size ${input[ax]}, not 1`);
    }
  }
  return input.filter((_, i) => !drop.has(i));
}

export function unsqueezeDims(input: Shape, axes: readonly number[]): Dim[] {
  const r = input.length + axes.length;
  const norm = axes.map((x) => normalizeAxis(x, r, "Unsqueeze axis"));
  if (new Set(norm).size !== norm.length) throw new LatheError("verify", `Unsqueeze axes [${axes}] repeat`);
  const out: Dim[] = [];
  let k = 0;
  for (let i = 0; i < r; i++) out.push(norm.includes(i) ? 1 : input[k++]);
  return out;
}

export function transposePerm(rank: number, perm: readonly number[] | undefined): number[] {
  if (!perm || perm.length === 0) return Array.from({ length: rank }, (_, i) => rank - 1 - i);
  if (perm.length !== rank) {
    throw new LatheError("verify", `Transpose perm [${perm}] has the wrong length for rank ${rank}`);
  }
  const p = perm.map((x) => normalizeAxis(x, rank, "Transpose perm entry"));
  if (new Set(p).size !== rank) {
    throw new LatheError("verify", `Transpose perm [${perm}] is not a permutation`);
  }
  return p;
}

/** Split sizes: the split input, else num_outputs parts of ceil(dim/n) with a smaller last part. */
export function splitSizes(
  dim: number,
  split: readonly number[] | undefined,
  outputs: number,
  numOutputs?: number,
): number[] {
  if (split && split.length > 0) {
    if (split.length !== outputs) {
      throw new LatheError("verify", `Split has ${split.length} sizes for ${outputs} outputs`);
    }
    if (split.some((s) => s < 0)) throw new LatheError("verify", `Split sizes [${split}] are negative`);
    const sum = split.reduce((p, s) => p + s, 0);
    if (sum !== dim) throw new LatheError("verify", `Split sizes [${split}] do not sum to ${dim}`);
    return [...split];
  }
  const n = numOutputs ?? outputs;
  if (n <= 0) throw new LatheError("verify", `Split into ${n} parts`);
  if (numOutputs === undefined && dim % n !== 0) {
    throw new LatheError("verify", `Split cannot divide ${dim} into ${n} equal parts`);
  }
  const chunk = Math.ceil(dim / n);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Math.max(0, Math.min(chunk, dim - i * chunk)));
  return out;
}

/** Begin and end pads per axis of the input (pads may be negative: cropping). */
export function padAmounts(
  rank: number,
  pads: readonly number[],
  axes: readonly number[] | undefined,
): { begin: number[]; end: number[] } {
  const ax = axes && axes.length
    ? axes.map((x) => normalizeAxis(x, rank, "Pad axis"))
    : Array.from({ length: rank }, (_, i) => i);
  if (pads.length !== 2 * ax.length) {
    throw new LatheError("verify", `Pad needs ${2 * ax.length} pads, got ${pads.length}`);
  }
  const begin = new Array<number>(rank).fill(0), end = new Array<number>(rank).fill(0);
  ax.forEach((d, i) => {
    begin[d] = pads[i];
    end[d] = pads[i + ax.length];
  });
  return { begin, end };
}

/** Shape's [start, end) window over the dims, clamped. */
export function shapeWindow(rank: number, start: number, end: number | undefined): [number, number] {
  const clamp = (x: number) => Math.min(rank, Math.max(0, x < 0 ? x + rank : x));
  const s = clamp(start), e = clamp(end ?? rank);
  return [s, Math.max(s, e)];
}

export function rangeLength(start: number, limit: number, delta: number): number {
  if (delta === 0) throw new LatheError("verify", "Range delta is 0");
  const n = Math.ceil((limit - start) / delta);
  return Number.isFinite(n) ? Math.max(0, n) : 0;
}

/** Output dims of Resize from constant scales or sizes (the rules of ONNX's reference). */
export function resizeDims(
  input: readonly number[],
  scales: readonly number[] | undefined,
  sizes: readonly number[] | undefined,
  axes: readonly number[] | undefined,
  policy: string,
): { dims: number[]; scales: number[] } {
  const r = input.length;
  const ax = axes && axes.length
    ? axes.map((x) => normalizeAxis(x, r, "Resize axis"))
    : Array.from({ length: r }, (_, i) => i);
  const outScales = new Array<number>(r).fill(1);
  const dims = [...input];
  if (sizes && sizes.length) {
    if (sizes.length !== ax.length) {
      throw new LatheError("verify", `Resize sizes has ${sizes.length} entries for ${ax.length} axes`);
    }
    ax.forEach((d, i) => {
      dims[d] = sizes[i];
      outScales[d] = sizes[i] / input[d];
    });
    if (policy !== "stretch") {
      if (policy !== "not_larger" && policy !== "not_smaller") {
        throw new LatheError("verify", `unknown keep_aspect_ratio_policy '${policy}'`);
      }
      const pick = ax.map((d) => outScales[d]);
      const s = policy === "not_larger" ? Math.min(...pick) : Math.max(...pick);
      for (const d of ax) {
        outScales[d] = s;
        dims[d] = Math.floor(s * input[d] + 0.5);
      }
    }
  } else if (scales && scales.length) {
    if (scales.length !== ax.length) {
      throw new LatheError("verify", `Resize scales has ${scales.length} entries for ${ax.length} axes`);
    }
    ax.forEach((d, i) => {
      if (!(scales[i] > 0)) throw new LatheError("verify", `Resize scale ${scales[i]} is not positive`);
      outScales[d] = scales[i];
      dims[d] = Math.floor(input[d] * scales[i]);
    });
  } else throw new LatheError("verify", "Resize needs scales or sizes");
  return { dims, scales: outScales };
}

const same = (ctx: InferContext) => [ctx.tensor(0)];
const withShape = (t: TensorType, shape: Shape | undefined, dtype: DType = t.dtype) =>
  tensorType(dtype, shape);

defineOp({
  op: "Identity",
  inputs: ins("input"),
  outputs: ins("output"),
  infer: (ctx) => [ctx.inputs[0]!],
});

defineOp({
  op: "Dropout",
  inputs: ins("data", opt("ratio"), opt("training_mode")),
  outputs: ins("output", opt("mask")),
  attrs: { seed: a.int() },
  impure: true,
  doc: "Identity at inference; in training mode drops with numpy's legacy generator seeded by `seed`.",
  infer(ctx) {
    const x = ctx.tensor(0);
    return [x, tensorType("bool", x.shape)];
  },
});

defineOp({
  op: "Reshape",
  inputs: ins("data", "shape"),
  outputs: ins("reshaped"),
  attrs: { allowzero: a.int(0) },
  infer(ctx) {
    const x = ctx.tensor(0);
    const target = ctx.ints(1);
    if (target && x.shape) {
      return [withShape(x, reshapeDims(x.shape, target, ctx.attrs.allowzero === 1, ctx.fresh))];
    }
    if (target && !target.includes(0) && !target.includes(-1)) return [withShape(x, target)];
    const st = ctx.tensor(1).shape;
    if (st && st.length === 1 && typeof st[0] === "number") {
      return [withShape(x, Array.from({ length: st[0] }, () => ctx.fresh()))];
    }
    return [withShape(x, undefined)];
  },
});

defineOp({
  op: "Flatten",
  inputs: ins("input"),
  outputs: ins("output"),
  attrs: { axis: a.int(1) },
  infer(ctx) {
    const x = ctx.tensor(0);
    if (!x.shape) return [withShape(x, undefined)];
    const r = x.shape.length;
    const axis = ctx.attrs.axis < 0 ? ctx.attrs.axis + r : ctx.attrs.axis;
    if (axis < 0 || axis > r) ctx.fail(`Flatten axis ${ctx.attrs.axis} out of range for rank ${r}`);
    const left = x.shape.slice(0, axis).reduce<Dim>((p, d) => dimMul(p, d), 1);
    const right = x.shape.slice(axis).reduce<Dim>((p, d) => dimMul(p, d), 1);
    return [withShape(x, [left, right])];
  },
});

defineOp({
  op: "Squeeze",
  inputs: ins("data", opt("axes")),
  outputs: ins("squeezed"),
  infer(ctx) {
    const x = ctx.tensor(0);
    const axes = ctx.inputs[1] ? ctx.ints(1) : [];
    if (!x.shape || !axes) return [withShape(x, undefined)];
    return [withShape(x, squeezeDims(x.shape, axes))];
  },
});

defineOp({
  op: "Unsqueeze",
  inputs: ins("data", "axes"),
  outputs: ins("expanded"),
  infer(ctx) {
    const x = ctx.tensor(0);
    const axes = ctx.ints(1);
    if (!x.shape || !axes) return [withShape(x, undefined)];
    return [withShape(x, unsqueezeDims(x.shape, axes))];
  },
});

defineOp({
  op: "Transpose",
  inputs: ins("data"),
  outputs: ins("transposed"),
  attrs: { perm: a.ints([]) },
  infer(ctx) {
    const x = ctx.tensor(0);
    if (!x.shape) return [withShape(x, undefined)];
    const p = transposePerm(x.shape.length, ctx.attrs.perm);
    return [withShape(x, p.map((i) => x.shape![i]))];
  },
});

defineOp({
  op: "Concat",
  inputs: [many("inputs")],
  outputs: ins("concat_result"),
  attrs: { axis: a.required(a.int()) },
  infer(ctx) {
    const ts = ctx.inputs.map((_, i) => ctx.tensor(i));
    if (ts.length === 0) ctx.fail("Concat needs at least one input");
    const shaped = ts.find((t) => t.shape);
    if (!shaped || ts.some((t) => !t.shape)) {
      return [withShape(ts[0], shaped ? shaped.shape!.map(() => ctx.fresh()) : undefined)];
    }
    const r = shaped.shape!.length;
    const axis = normalizeAxis(ctx.attrs.axis, r, "Concat axis");
    const out: Dim[] = [...shaped.shape!];
    let total: Dim = 0;
    for (const t of ts) {
      if (t.shape!.length !== r) ctx.fail(`Concat inputs have ranks ${t.shape!.length} and ${r}`);
      t.shape!.forEach((d, i) => {
        if (i === axis) return;
        if (typeof d === "number" && typeof out[i] === "number" && d !== out[i]) {
          ctx.fail(`Concat inputs differ in dim ${i}: ${d} vs ${out[i]}`);
        }
        if (typeof out[i] !== "number" && typeof d === "number") out[i] = d;
      });
      const d = t.shape![axis];
      total = typeof total === "number" && typeof d === "number" ? total + d : ctx.fresh();
    }
    out[axis] = total;
    return [withShape(ts[0], out)];
  },
});

defineOp({
  op: "Split",
  inputs: ins("input", opt("split")),
  outputs: [many("outputs")],
  attrs: { axis: a.int(0), num_outputs: a.int() },
  infer(ctx) {
    const x = ctx.tensor(0);
    const n = ctx.node.outputs.length;
    if (!x.shape) return ctx.node.outputs.map(() => withShape(x, undefined));
    const axis = normalizeAxis(ctx.attrs.axis, x.shape.length, "Split axis");
    const dim = x.shape[axis];
    const split = ctx.inputs[1] ? ctx.ints(1) : [];
    let sizes: Dim[];
    if (split && split.length) sizes = typeof dim === "number" ? splitSizes(dim, split, n) : split;
    else if (typeof dim === "number" && split) sizes = splitSizes(dim, undefined, n, ctx.attrs.num_outputs);
    else sizes = ctx.node.outputs.map(() => ctx.fresh());
    return sizes.map((s) => withShape(x, x.shape!.map((d, i) => (i === axis ? s : d))));
  },
});

defineOp({
  op: "Expand",
  inputs: ins("input", "shape"),
  outputs: ins("output"),
  infer(ctx) {
    const x = ctx.tensor(0);
    const target = ctx.ints(1);
    if (target && x.shape) return [withShape(x, broadcastShapes([x.shape, target], ctx.fresh))];
    const st = ctx.tensor(1).shape;
    if (x.shape && st && typeof st[0] === "number") {
      return [withShape(x, Array.from({ length: Math.max(st[0], x.shape.length) }, () => ctx.fresh()))];
    }
    return [withShape(x, undefined)];
  },
});

defineOp({
  op: "Tile",
  inputs: ins("input", "repeats"),
  outputs: ins("output"),
  infer(ctx) {
    const x = ctx.tensor(0);
    const reps = ctx.ints(1);
    if (!x.shape) return [withShape(x, undefined)];
    if (!reps) return [withShape(x, x.shape.map(() => ctx.fresh()))];
    if (reps.length !== x.shape.length) {
      ctx.fail(`Tile has ${reps.length} repeats for rank ${x.shape.length}`);
    }
    return [withShape(x, x.shape.map((d, i) => dimMul(d, reps[i])))];
  },
});

defineOp({
  op: "Pad",
  inputs: ins("data", opt("pads"), opt("constant_value"), opt("axes")),
  outputs: ins("output"),
  attrs: { mode: a.string("constant") },
  infer(ctx) {
    const x = ctx.tensor(0);
    if (!x.shape) return [withShape(x, undefined)];
    const pads = ctx.inputs[1] ? ctx.ints(1) : [];
    const axes = ctx.inputs[3] ? ctx.ints(3) : undefined;
    if (!pads || (ctx.inputs[3] && !axes)) return [withShape(x, x.shape.map(() => ctx.fresh()))];
    const { begin, end } = padAmounts(
      x.shape.length,
      pads.length ? pads : new Array(2 * (axes?.length || x.shape.length)).fill(0),
      axes,
    );
    return [
      withShape(
        x,
        x.shape.map((
          d,
          i,
        ) => (begin[i] === 0 && end[i] === 0
          ? d
          : typeof d === "number"
          ? d + begin[i] + end[i]
          : ctx.fresh())
        ),
      ),
    ];
  },
});

defineOp({
  op: "Shape",
  inputs: ins("data"),
  outputs: ins("shape"),
  attrs: { start: a.int(0), end: a.int() },
  infer(ctx) {
    const x = ctx.tensor(0);
    if (!x.shape) return [tensorType("i64", [ctx.fresh()])];
    const [s, e] = shapeWindow(x.shape.length, ctx.attrs.start, ctx.attrs.end);
    return [tensorType("i64", [e - s])];
  },
});

defineOp({
  op: "Size",
  inputs: ins("data"),
  outputs: ins("size"),
  infer: () => [tensorType("i64", [])],
});

defineOp({
  op: "ConstantOfShape",
  inputs: ins("input"),
  outputs: ins("output"),
  attrs: { value: a.tensor() },
  infer(ctx) {
    const dtype: DType = ctx.attrs.value?.dtype ?? "f32";
    const dims = ctx.ints(0);
    if (dims) return [tensorType(dtype, dims)];
    const st = ctx.tensor(0).shape;
    if (st && typeof st[0] === "number") {
      return [tensorType(dtype, Array.from({ length: st[0] }, () => ctx.fresh()))];
    }
    return [tensorType(dtype)];
  },
});

defineOp({
  op: "Range",
  inputs: ins("start", "limit", "delta"),
  outputs: ins("output"),
  infer(ctx) {
    const t = ctx.tensor(0);
    const s = ctx.floats(0), l = ctx.floats(1), d = ctx.floats(2);
    if (s && l && d) return [withShape(t, [rangeLength(s[0], l[0], d[0])])];
    return [withShape(t, [ctx.fresh()])];
  },
});

defineOp({
  op: "EyeLike",
  inputs: ins("input"),
  outputs: ins("output"),
  attrs: { dtype: a.int(), k: a.int(0) },
  infer(ctx) {
    const x = ctx.tensor(0);
    if (x.shape && x.shape.length !== 2) ctx.fail(`EyeLike needs a 2-D input, got rank ${x.shape.length}`);
    return [
      withShape(
        x,
        x.shape,
        ctx.attrs.dtype !== undefined ? dtypeAttr(ctx.attrs.dtype, "EyeLike dtype") : x.dtype,
      ),
    ];
  },
});

function blockInfer(ctx: InferContext, toSpace: boolean): TensorType[] {
  const x = ctx.tensor(0);
  const b: number = ctx.attrs.blocksize;
  if (!(b > 0)) ctx.fail(`blocksize ${b} must be positive`);
  if (!x.shape) return [withShape(x, undefined)];
  if (x.shape.length !== 4) ctx.fail(`${ctx.node.op} needs a 4-D input, got rank ${x.shape.length}`);
  const [n, c, h, w] = x.shape;
  if (toSpace) {
    if (typeof c === "number" && c % (b * b)) ctx.fail(`channels ${c} not divisible by blocksize² ${b * b}`);
    return [withShape(x, [n, typeof c === "number" ? c / (b * b) : ctx.fresh(), dimMul(h, b), dimMul(w, b)])];
  }
  const div = (d: Dim) => {
    if (typeof d !== "number") return ctx.fresh();
    if (d % b) ctx.fail(`spatial dim ${d} not divisible by blocksize ${b}`);
    return d / b;
  };
  return [withShape(x, [n, dimMul(c, b * b), div(h), div(w)])];
}

defineOp({
  op: "DepthToSpace",
  inputs: ins("input"),
  outputs: ins("output"),
  attrs: { blocksize: a.required(a.int()), mode: a.string("DCR") },
  infer: (ctx) => blockInfer(ctx, true),
});

defineOp({
  op: "SpaceToDepth",
  inputs: ins("input"),
  outputs: ins("output"),
  attrs: { blocksize: a.required(a.int()) },
  infer: (ctx) => blockInfer(ctx, false),
});

defineOp({
  op: "Trilu",
  inputs: ins("input", opt("k")),
  outputs: ins("output"),
  attrs: { upper: a.int(1) },
  infer: same,
});

defineOp({
  op: "CenterCropPad",
  inputs: ins("input_data", "shape"),
  outputs: ins("output_data"),
  attrs: { axes: a.ints([]) },
  infer(ctx) {
    const x = ctx.tensor(0);
    if (!x.shape) return [withShape(x, undefined)];
    const target = ctx.ints(1);
    const r = x.shape.length;
    const axes: number[] = ctx.attrs.axes.length
      ? ctx.attrs.axes.map((v: number) => normalizeAxis(v, r, "CenterCropPad axis"))
      : x.shape.map((_, i) => i);
    const out: Dim[] = [...x.shape];
    axes.forEach((d, i) => (out[d] = target ? target[i] : ctx.fresh()));
    if (target && target.length !== axes.length) {
      ctx.fail(`CenterCropPad shape has ${target.length} dims for ${axes.length} axes`);
    }
    return [withShape(x, out)];
  },
});

defineOp({
  op: "Resize",
  inputs: ins("X", opt("roi"), opt("scales"), opt("sizes")),
  outputs: ins("Y"),
  attrs: {
    antialias: a.int(0),
    axes: a.ints([]),
    coordinate_transformation_mode: a.string("half_pixel"),
    cubic_coeff_a: a.float(-0.75),
    exclude_outside: a.int(0),
    extrapolation_value: a.float(0),
    keep_aspect_ratio_policy: a.string("stretch"),
    mode: a.string("nearest"),
    nearest_mode: a.string("round_prefer_floor"),
  },
  infer(ctx) {
    const x = ctx.tensor(0);
    if (!x.shape) return [withShape(x, undefined)];
    const scales = ctx.inputs[2] ? ctx.floats(2) : [];
    const sizes = ctx.inputs[3] ? ctx.ints(3) : [];
    if (isStaticShape(x.shape) && scales && sizes && (scales.length || sizes.length)) {
      const { dims } = resizeDims(x.shape, scales, sizes, ctx.attrs.axes, ctx.attrs.keep_aspect_ratio_policy);
      return [withShape(x, dims)];
    }
    const r = x.shape.length;
    const axes = ctx.attrs.axes.length
      ? ctx.attrs.axes.map((v: number) => normalizeAxis(v, r))
      : x.shape.map((_, i) => i);
    return [withShape(x, x.shape.map((d, i) => (axes.includes(i) ? ctx.fresh() : d)))];
  },
});
