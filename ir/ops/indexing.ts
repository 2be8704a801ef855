/**
 * Op declarations: indexing ops (slicing, gathers and scatters, selection, sorting-based ops). Slice's
 * window arithmetic is exported so the kernel and inference agree.
 */
import { LatheError } from "../errors.ts";
import { a, defineOp, type InferContext, ins, opt } from "../op-registry.ts";
import { normalizeAxis } from "../shape-infer.ts";
import { type Dim, tensorType } from "../value-type.ts";

export interface SliceAxis {
  axis: number;
  start: number;
  step: number;
  count: number;
}

/**
 * Resolves Slice's starts/ends/axes/steps against static dims (numpy rules: negative indices count from the
 * end, out-of-range values clamp, INT64 extremes mean "to the end" in either direction).
 */
export function sliceAxes(
  dims: readonly Dim[],
  starts: readonly number[],
  ends: readonly number[],
  axes: readonly number[] | undefined,
  steps: readonly number[] | undefined,
): (SliceAxis | { axis: number; dynamic: true })[] {
  const r = dims.length;
  if (starts.length !== ends.length) {
    throw new LatheError("verify", `Slice has ${starts.length} starts and ${ends.length} ends`);
  }
  const ax = axes && axes.length ? axes : starts.map((_, i) => i);
  if (ax.length !== starts.length) {
    throw new LatheError("verify", `Slice has ${ax.length} axes for ${starts.length} starts`);
  }
  if (steps && steps.length && steps.length !== starts.length) {
    throw new LatheError("verify", `Slice has ${steps.length} steps for ${starts.length} starts`);
  }
  const seen = new Set<number>();
  return ax.map((raw, i) => {
    const axis = normalizeAxis(raw, r, "Slice axis");
    if (seen.has(axis)) throw new LatheError("verify", `Slice axis ${axis} repeats`);
    seen.add(axis);
    const step = steps && steps.length ? steps[i] : 1;
    if (step === 0) throw new LatheError("verify", "Slice step is 0");
    const dim = dims[axis];
    if (typeof dim !== "number") return { axis, dynamic: true as const };
    let s = starts[i], e = ends[i];
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (step > 0) {
      s = Math.min(Math.max(s, 0), dim);
      e = Math.min(Math.max(e, 0), dim);
    } else {
      s = Math.min(Math.max(s, -1), dim - 1);
      e = Math.min(Math.max(e, -1), dim - 1);
    }
    const count = Math.max(0, Math.ceil((e - s) / step));
    return { axis, start: s, step, count };
  });
}

defineOp({
  op: "Slice",
  inputs: ins("data", "starts", "ends", opt("axes"), opt("steps")),
  outputs: ins("output"),
  infer(ctx) {
    const x = ctx.tensor(0);
    if (!x.shape) return [x];
    const starts = ctx.ints(1), ends = ctx.ints(2);
    const axes = ctx.inputs[3] ? ctx.ints(3) : [];
    const steps = ctx.inputs[4] ? ctx.ints(4) : [];
    if (!starts || !ends || !axes || !steps) {
      if (axes && axes.length) {
        const set = new Set(axes.map((v) => normalizeAxis(v, x.shape!.length)));
        return [tensorType(x.dtype, x.shape.map((d, i) => (set.has(i) ? ctx.fresh() : d)))];
      }
      return [tensorType(x.dtype, x.shape.map(() => ctx.fresh()))];
    }
    const out: Dim[] = [...x.shape];
    for (const s of sliceAxes(x.shape, starts, ends, axes, steps)) {
      out[s.axis] = "dynamic" in s ? ctx.fresh() : s.count;
    }
    return [tensorType(x.dtype, out)];
  },
});

defineOp({
  op: "Gather",
  inputs: ins("data", "indices"),
  outputs: ins("output"),
  attrs: { axis: a.int(0) },
  infer(ctx) {
    const x = ctx.tensor(0), idx = ctx.tensor(1);
    if (!x.shape || !idx.shape) return [tensorType(x.dtype)];
    const axis = normalizeAxis(ctx.attrs.axis, x.shape.length, "Gather axis");
    return [tensorType(x.dtype, [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)])];
  },
});

defineOp({
  op: "GatherElements",
  inputs: ins("data", "indices"),
  outputs: ins("output"),
  attrs: { axis: a.int(0) },
  infer(ctx) {
    const x = ctx.tensor(0), idx = ctx.tensor(1);
    if (x.shape && idx.shape && x.shape.length !== idx.shape.length) {
      ctx.fail(`GatherElements indices rank ${idx.shape.length} differs from data rank ${x.shape.length}`);
    }
    return [tensorType(x.dtype, idx.shape)];
  },
});

defineOp({
  op: "GatherND",
  inputs: ins("data", "indices"),
  outputs: ins("output"),
  attrs: { batch_dims: a.int(0) },
  infer(ctx) {
    const x = ctx.tensor(0), idx = ctx.tensor(1);
    if (!x.shape || !idx.shape) return [tensorType(x.dtype)];
    const k = idx.shape[idx.shape.length - 1];
    const b: number = ctx.attrs.batch_dims;
    if (typeof k !== "number") return [tensorType(x.dtype)];
    if (b + k > x.shape.length) {
      ctx.fail(`GatherND index length ${k} + batch_dims ${b} exceeds data rank ${x.shape.length}`);
    }
    return [tensorType(x.dtype, [...idx.shape.slice(0, -1), ...x.shape.slice(b + k)])];
  },
});

const scatterInfer = { infer: (ctx: InferContext) => [ctx.tensor(0)] };

defineOp({
  op: "Scatter",
  inputs: ins("data", "indices", "updates"),
  outputs: ins("output"),
  attrs: { axis: a.int(0) },
  doc: "Deprecated alias of ScatterElements without reduction.",
  ...scatterInfer,
});

defineOp({
  op: "ScatterElements",
  inputs: ins("data", "indices", "updates"),
  outputs: ins("output"),
  attrs: { axis: a.int(0), reduction: a.string("none") },
  ...scatterInfer,
});

defineOp({
  op: "ScatterND",
  inputs: ins("data", "indices", "updates"),
  outputs: ins("output"),
  attrs: { reduction: a.string("none") },
  ...scatterInfer,
});

defineOp({
  op: "OneHot",
  inputs: ins("indices", "depth", "values"),
  outputs: ins("output"),
  attrs: { axis: a.int(-1) },
  infer(ctx) {
    const idx = ctx.tensor(0), vals = ctx.tensor(2);
    if (!idx.shape) return [tensorType(vals.dtype)];
    const r = idx.shape.length + 1;
    const axis = normalizeAxis(ctx.attrs.axis, r, "OneHot axis");
    const depth = ctx.floats(1);
    const out: Dim[] = [...idx.shape];
    out.splice(axis, 0, depth ? Math.trunc(depth[0]) : ctx.fresh());
    return [tensorType(vals.dtype, out)];
  },
});

defineOp({
  op: "Compress",
  inputs: ins("input", "condition"),
  outputs: ins("output"),
  attrs: { axis: a.int() },
  infer(ctx) {
    const x = ctx.tensor(0);
    if (ctx.attrs.axis === undefined) return [tensorType(x.dtype, [ctx.fresh()])];
    if (!x.shape) return [x];
    const axis = normalizeAxis(ctx.attrs.axis, x.shape.length, "Compress axis");
    return [tensorType(x.dtype, x.shape.map((d, i) => (i === axis ? ctx.fresh() : d)))];
  },
});

defineOp({
  op: "NonZero",
  inputs: ins("X"),
  outputs: ins("Y"),
  infer(ctx) {
    const x = ctx.tensor(0);
    return [tensorType("i64", [x.shape ? x.shape.length : ctx.fresh(), ctx.fresh()])];
  },
});

defineOp({
  op: "TopK",
  inputs: ins("X", "K"),
  outputs: ins("Values", "Indices"),
  attrs: { axis: a.int(-1), largest: a.int(1), sorted: a.int(1) },
  infer(ctx) {
    const x = ctx.tensor(0);
    if (!x.shape) return [x, tensorType("i64")];
    const axis = normalizeAxis(ctx.attrs.axis, x.shape.length, "TopK axis");
    const k = ctx.ints(1);
    const kd = k ? k[0] : ctx.fresh();
    if (k && typeof x.shape[axis] === "number" && (k[0] < 0 || k[0] > (x.shape[axis] as number))) {
      ctx.fail(`TopK k=${k[0]} is out of range for axis size ${x.shape[axis]}`);
    }
    const shape = x.shape.map((d, i) => (i === axis ? kd : d));
    return [tensorType(x.dtype, shape), tensorType("i64", shape)];
  },
});

defineOp({
  op: "Unique",
  inputs: ins("X"),
  outputs: ins("Y", opt("indices"), opt("inverse_indices"), opt("counts")),
  attrs: { axis: a.int(), sorted: a.int(1) },
  infer(ctx) {
    const x = ctx.tensor(0);
    const u = ctx.fresh("unique");
    if (ctx.attrs.axis === undefined) {
      const n = x.shape && x.shape.every((d) => typeof d === "number")
        ? x.shape.reduce((p: number, d) => p * (d as number), 1)
        : ctx.fresh();
      return [
        tensorType(x.dtype, [u]),
        tensorType("i64", [u]),
        tensorType("i64", [n]),
        tensorType("i64", [u]),
      ];
    }
    if (!x.shape) {
      return [
        tensorType(x.dtype),
        tensorType("i64", [u]),
        tensorType("i64", [ctx.fresh()]),
        tensorType("i64", [u]),
      ];
    }
    const axis = normalizeAxis(ctx.attrs.axis, x.shape.length, "Unique axis");
    return [
      tensorType(x.dtype, x.shape.map((d, i) => (i === axis ? u : d))),
      tensorType("i64", [u]),
      tensorType("i64", [x.shape[axis]]),
      tensorType("i64", [u]),
    ];
  },
});

defineOp({
  op: "ReverseSequence",
  inputs: ins("input", "sequence_lens"),
  outputs: ins("Y"),
  attrs: { batch_axis: a.int(1), time_axis: a.int(0) },
  infer: (ctx) => [ctx.tensor(0)],
});

defineOp({
  op: "CumSum",
  inputs: ins("x", "axis"),
  outputs: ins("y"),
  attrs: { exclusive: a.int(0), reverse: a.int(0) },
  infer: (ctx) => [ctx.tensor(0)],
});

defineOp({
  op: "GridSample",
  inputs: ins("X", "grid"),
  outputs: ins("Y"),
  attrs: { align_corners: a.int(0), mode: a.string("linear"), padding_mode: a.string("zeros") },
  infer(ctx) {
    const x = ctx.tensor(0), g = ctx.tensor(1);
    if (!x.shape || !g.shape) return [tensorType(x.dtype)];
    if (g.shape.length !== x.shape.length) {
      ctx.fail(`GridSample grid rank ${g.shape.length} differs from input rank ${x.shape.length}`);
    }
    const k = g.shape[g.shape.length - 1];
    if (typeof k === "number" && k !== x.shape.length - 2) {
      ctx.fail(`GridSample grid last dim ${k} should be ${x.shape.length - 2}`);
    }
    return [tensorType(x.dtype, [x.shape[0], x.shape[1], ...g.shape.slice(1, -1)])];
  },
});
