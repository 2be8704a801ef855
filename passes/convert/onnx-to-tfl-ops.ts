/**
 * One-to-one (or one-to-few) mappings of ONNX ops to TFLite builtins, for the ops whose meaning does not
 * depend on layout (the spatial ones are in onnx-to-tfl-spatial.ts). Attributes that TFLite takes as tensors
 * become int32 constant operands; ONNX's int64 index constants become int32. A mapping that cannot express a
 * node records why, and the node stays for the report to list.
 */
import type { Constant } from "../../ir/constant.ts";
import { constantNumbers } from "../../ir/constant-values.ts";
import { type DType, printDType } from "../../ir/dtype.ts";
import type { Node } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import { type Dim, isStaticShape } from "../../ir/value-type.ts";
import { permuteConstant } from "../constant-permute.ts";
import { P, tensorTypeOf, type ValueRef } from "../pattern.ts";
import { type Replacement, type Rewriter, type Rule, rule } from "../rewrite.ts";
import { f32Operand, i32Scalar, intOperand } from "./operand-constants.ts";
import type { Declines } from "./report.ts";

const TFL_TYPE: Record<string, string> = {
  f32: "FLOAT32",
  f16: "FLOAT16",
  i32: "INT32",
  u8: "UINT8",
  i64: "INT64",
  bool: "BOOL",
  i16: "INT16",
  i8: "INT8",
  f64: "FLOAT64",
  u16: "UINT16",
  u32: "UINT32",
  u64: "UINT64",
};
const CAST_TO: Record<number, DType> = {
  1: "f32",
  2: "u8",
  3: "i8",
  4: "u16",
  5: "i16",
  6: "i32",
  7: "i64",
  9: "bool",
  10: "f16",
  11: "f64",
  12: "u32",
  13: "u64",
};

const UNARY: Record<string, string> = {
  Relu: "tfl.RELU",
  Sigmoid: "tfl.LOGISTIC",
  Tanh: "tfl.TANH",
  Exp: "tfl.EXP",
  Log: "tfl.LOG",
  Sqrt: "tfl.SQRT",
  Abs: "tfl.ABS",
  Neg: "tfl.NEG",
  Floor: "tfl.FLOOR",
  Ceil: "tfl.CEIL",
  Round: "tfl.ROUND",
  Sin: "tfl.SIN",
  Cos: "tfl.COS",
  Sign: "tfl.SIGN",
  HardSwish: "tfl.HARD_SWISH",
  Not: "tfl.LOGICAL_NOT",
};
const BINARY: Record<string, string> = {
  Add: "tfl.ADD",
  Sub: "tfl.SUB",
  Mul: "tfl.MUL",
  Div: "tfl.DIV",
  Equal: "tfl.EQUAL",
  Less: "tfl.LESS",
  LessOrEqual: "tfl.LESS_EQUAL",
  Greater: "tfl.GREATER",
  GreaterOrEqual: "tfl.GREATER_EQUAL",
  And: "tfl.LOGICAL_AND",
  Or: "tfl.LOGICAL_OR",
};
const REDUCE: Record<string, string> = {
  ReduceMean: "tfl.MEAN",
  ReduceMax: "tfl.REDUCE_MAX",
  ReduceMin: "tfl.REDUCE_MIN",
  ReduceSum: "tfl.SUM",
  ReduceProd: "tfl.REDUCE_PROD",
};

const shapeOf = (v: ValueRef) => tensorTypeOf(v)?.shape;
const dtypeOf = (v: ValueRef) => {
  const t = tensorTypeOf(v);
  return t ? printDType(t.dtype) : undefined;
};
const scalarValue = (v: ValueRef | undefined): number | undefined => {
  const c = v?.constant;
  if (!c || c.shape.reduce((p, d) => p * d, 1) !== 1 || typeof c.dtype !== "string" || c.dtype === "string") {
    return undefined;
  }
  return constantNumbers(c)[0];
};

/** ONNX int64 index data as TFLite's int32 (values past int32 have no TFLite form). */
function indexConstant(rw: Rewriter, v: ValueRef, normalizeBy?: number): ValueRef | undefined {
  const c = v.constant!;
  if (c.dtype === "i32" && normalizeBy === undefined) return v;
  const xs = constantNumbers(c).map((x) => (normalizeBy !== undefined && x < 0 ? x + normalizeBy : x));
  if (xs.some((x) => x < -(2 ** 31) || x >= 2 ** 31)) return undefined;
  return intOperand(rw, `${v.name}_i32`, "i32", xs, c.shape);
}

/** A rank-2 f32 constant transposed ([K, N] → [N, K], FULLY_CONNECTED's weight layout). */
function transposed2d(c: Constant): Constant {
  return permuteConstant(c, [1, 0]);
}

export function opRules(declines: Declines): Rule[] {
  /** Operands by position; an absent optional operand is undefined despite the type. */
  type Build = (n: Node, rw: Rewriter, ins: ValueRef[]) => Replacement;
  const rules: Rule[] = [];
  const map = (ops: string | string[], build: Build) => {
    for (const op of typeof ops === "string" ? [ops] : ops) {
      rules.push(
        rule(
          op,
          P.op(op, []).rest().as("n"),
          ({ n }, rw) =>
            build(n, rw, n.inputs.map((i: string | null) => (i ? rw.ref(i) : undefined)) as ValueRef[]),
        ),
      );
    }
  };
  const staticOut = (n: Node, rw: Rewriter, k = 0): number[] | undefined => {
    const s = shapeOf(rw.ref(n.outputs[k]));
    return isStaticShape(s) ? [...s] : undefined;
  };
  const reshapeTo = (rw: Rewriter, x: ValueRef | string, shape: readonly number[]) =>
    rw.op1("tfl.RESHAPE", [x, intOperand(rw, "shape", "i32", shape)]);

  for (const [op, to] of Object.entries(UNARY)) map(op, (_n, rw, [x]) => rw.op1(to, [x]));
  map("LeakyRelu", (n, rw, [x]) => rw.op1("tfl.LEAKY_RELU", [x], { alpha: resolveAttrs(n).alpha ?? 0.01 }));
  map("Elu", (n, rw, [x]) => {
    const alpha = resolveAttrs(n).alpha ?? 1;
    return alpha === 1
      ? rw.op1("tfl.ELU", [x])
      : declines.of(n, `TFLite's ELU has alpha 1, this one ${alpha}`);
  });
  map(
    "Gelu",
    (n, rw, [x]) => rw.op1("tfl.GELU", [x], { approximate: resolveAttrs(n).approximate === "tanh" ? 1 : 0 }),
  );
  map(
    "Erf",
    (n) =>
      declines.of(n, "TFLite has no erf (the erf form of GELU maps to GELU; this Erf is not part of one)"),
  );
  map("Reciprocal", (_n, rw, [x]) => rw.op1("tfl.DIV", [f32Operand(rw, "one", [], [1]), x]));
  map(
    "Softplus",
    (_n, rw, [x]) =>
      rw.op1("tfl.LOG", [rw.op1("tfl.ADD", [rw.op1("tfl.EXP", [x]), f32Operand(rw, "one", [], [1])])]),
  );
  map(["Identity", "Dropout"], (n, rw, [x]) => {
    if (n.outputs[1]) return declines.of(n, "Dropout's mask output");
    const s = shapeOf(x!);
    return isStaticShape(s)
      ? reshapeTo(rw, x!, s)
      : declines.of(n, "an identity of a value with a symbolic shape");
  });

  for (const [op, to] of Object.entries(BINARY)) {
    map(op, (n, rw, [x, y]) => {
      if (dtypeOf(x!) !== dtypeOf(y!)) return declines.of(n, "operands differ in type");
      return rw.op1(to, [x, y]);
    });
  }
  map("Pow", (_n, rw, [x, y]) => {
    const e = scalarValue(y);
    if (e === 2) return rw.op1("tfl.MUL", [x, x]);
    if (e === 0.5) return rw.op1("tfl.SQRT", [x]);
    return rw.op1("tfl.POW", [x, y]);
  });
  map(["Max", "Min"], (n, rw, xs) => {
    const to = n.op === "Max" ? "tfl.MAXIMUM" : "tfl.MINIMUM";
    if (xs.length === 1) return reshapeTo(rw, xs[0]!, staticOut(n, rw) ?? []);
    let acc = xs[0]!;
    for (const v of xs.slice(1)) acc = rw.op1(to, [acc, v]);
    return acc;
  });
  map("PRelu", (_n, rw, [x, s]) => rw.op1("tfl.PRELU", [x, s]));
  map("Where", (_n, rw, [c, x, y]) => rw.op1("tfl.SELECT_V2", [c, x, y]));
  map("Clip", (n, rw, [x, lo, hi]) => {
    const l = lo ? scalarValue(lo) : -Infinity, h = hi ? scalarValue(hi) : Infinity;
    const big = (v: number | undefined) => v !== undefined && v >= 3.4e38;
    if (l === 0 && (h === Infinity || big(h))) return rw.op1("tfl.RELU", [x]);
    if (l === 0 && h === 6) return rw.op1("tfl.RELU6", [x]);
    if (l === -1 && h === 1) return rw.op1("tfl.RELU_N1_TO_1", [x]);
    let y: ValueRef = x!;
    if (hi && !big(h)) y = rw.op1("tfl.MINIMUM", [y, hi]);
    if (lo && !(l !== undefined && l <= -3.4e38)) y = rw.op1("tfl.MAXIMUM", [y, lo]);
    return y === x ? reshapeTo(rw, x!, staticOut(n, rw) ?? []) : y;
  });
  map("Cast", (n, rw, [x]) => {
    const to = CAST_TO[resolveAttrs(n).to];
    const from = dtypeOf(x!);
    if (!to || !from || !TFL_TYPE[from] || !TFL_TYPE[to as string]) {
      return declines.of(n, `cast from ${from} to ${to ? printDType(to) : "?"}`);
    }
    return rw.op1("tfl.CAST", [x], { in_data_type: TFL_TYPE[from], out_data_type: TFL_TYPE[to as string] });
  });

  map("Transpose", (n, rw, [x]) => {
    const r = shapeOf(x!)?.length;
    if (r === undefined) return declines.of(n, "input of unknown rank");
    const given: number[] | undefined = resolveAttrs(n).perm;
    const perm = given?.length ? given : Array.from({ length: r }, (_, i) => r - 1 - i);
    return rw.op1("tfl.TRANSPOSE", [x, intOperand(rw, "perm", "i32", perm)]);
  });
  map(["Reshape", "Flatten", "Squeeze", "Unsqueeze"], (n, rw, [x, arg]) => {
    const out = staticOut(n, rw);
    if (out) return reshapeTo(rw, x!, out);
    if (n.op === "Reshape" && arg?.constant) {
      const target = constantNumbers(arg.constant);
      const s = shapeOf(x!);
      const at = resolveAttrs(n);
      const dims = target.map((d, i) => (d === 0 && !at.allowzero ? s?.[i] : d));
      if (dims.every((d) => typeof d === "number")) return reshapeTo(rw, x!, dims as number[]);
    }
    if (n.op === "Squeeze" && arg?.constant) {
      return rw.op1("tfl.SQUEEZE", [x], { squeeze_dims: constantNumbers(arg.constant) });
    }
    if (n.op === "Unsqueeze" && arg?.constant && arg.constant.shape[0] === 1) {
      return rw.op1("tfl.EXPAND_DIMS", [x, i32Scalar(rw, "axis", constantNumbers(arg.constant)[0])]);
    }
    return declines.of(
      n,
      "the target shape is neither static nor a constant TFLite can take; bind symbolic dims with --dim/--shape",
    );
  });
  map("Concat", (n, rw, xs) => {
    const r = shapeOf(xs[0]!)?.length;
    if (r === undefined) return declines.of(n, "operands of unknown rank");
    const axis: number = resolveAttrs(n).axis;
    return rw.op1("tfl.CONCATENATION", xs.filter(Boolean) as ValueRef[], {
      axis: axis < 0 ? axis + r : axis,
    });
  });
  map("Split", (n, rw, [x]) => {
    const r = shapeOf(x!)?.length;
    if (r === undefined) return declines.of(n, "input of unknown rank");
    const a: number = resolveAttrs(n).axis;
    const axis = a < 0 ? a + r : a;
    const sizes = n.outputs.map((o) => shapeOf(rw.ref(o))?.[axis]);
    if (sizes.some((d) => typeof d !== "number")) return declines.of(n, "split sizes must be static");
    const k = n.outputs.length;
    if (sizes.every((d) => d === sizes[0])) {
      return rw.op("tfl.SPLIT", [i32Scalar(rw, "axis", axis), x], { num_splits: k }, k);
    }
    return rw.op(
      "tfl.SPLIT_V",
      [x, intOperand(rw, "size_splits", "i32", sizes as number[]), i32Scalar(rw, "axis", axis)],
      { num_splits: k },
      k,
    );
  });
  map("Slice", (n, rw, [x, starts, ends, axes, steps]) => slice(n, rw, x!, starts, ends, axes, steps));
  map("Gather", (n, rw, [x, idx]) => {
    const s = shapeOf(x!);
    if (!s) return declines.of(n, "params of unknown rank");
    const a: number = resolveAttrs(n).axis;
    const axis = a < 0 ? a + s.length : a;
    let indices = idx!;
    if (idx!.constant) {
      const dim = s[axis];
      const v = indexConstant(rw, idx!, typeof dim === "number" ? dim : undefined);
      if (!v) return declines.of(n, "indices beyond int32");
      indices = v;
    }
    return rw.op1("tfl.GATHER", [x, indices], { axis });
  });
  map("GatherND", (n, rw, [x, idx]) => {
    if (resolveAttrs(n).batch_dims) return declines.of(n, "GatherND with batch_dims");
    const indices = idx!.constant ? indexConstant(rw, idx!) : idx;
    return indices ? rw.op1("tfl.GATHER_ND", [x, indices]) : declines.of(n, "indices beyond int32");
  });
  map("Pad", (n, rw, [x, pads, value, axes]) => {
    const r = shapeOf(x!)?.length;
    if (r === undefined || !pads?.constant || (axes && !axes.constant)) {
      return declines.of(n, "pads must be constant over a known rank");
    }
    const p = constantNumbers(pads.constant);
    const ax = axes
      ? constantNumbers(axes.constant!).map((v) => (v < 0 ? v + r : v))
      : Array.from({ length: r }, (_, i) => i);
    const pairs: number[] = new Array(2 * r).fill(0);
    ax.forEach((a, i) => {
      pairs[2 * a] = p[i];
      pairs[2 * a + 1] = p[i + ax.length];
    });
    if (pairs.some((v) => v < 0)) return declines.of(n, "negative pads (crops) have no TFLite PAD form");
    const paddings = intOperand(rw, "paddings", "i32", pairs, [r, 2]);
    const mode = resolveAttrs(n).mode;
    if (mode === "reflect") return rw.op1("tfl.MIRROR_PAD", [x, paddings], { mode: "REFLECT" });
    if (mode !== "constant") return declines.of(n, `pad mode ${mode} has no TFLite form`);
    const v = value ? scalarValue(value) : 0;
    if (v === undefined) return declines.of(n, "the pad value must be constant");
    return v === 0 ? rw.op1("tfl.PAD", [x, paddings]) : rw.op1("tfl.PADV2", [x, paddings, value]);
  });
  map(
    Object.keys(REDUCE),
    (n, rw, [x, axes]) =>
      reduce(
        n,
        rw,
        x!,
        axes,
        (y, a) => rw.op1(REDUCE[n.op], [y, a], { keep_dims: resolveAttrs(n).keepdims ?? 1 }),
      ),
  );
  map(
    "ReduceSumSquare",
    (n, rw, [x, axes]) =>
      reduce(
        n,
        rw,
        x!,
        axes,
        (y, a) =>
          rw.op1("tfl.SUM", [rw.op1("tfl.MUL", [y, y]), a], { keep_dims: resolveAttrs(n).keepdims ?? 1 }),
      ),
  );
  map(
    "ReduceL2",
    (n, rw, [x, axes]) =>
      reduce(n, rw, x!, axes, (y, a) =>
        rw.op1("tfl.SQRT", [
          rw.op1("tfl.SUM", [rw.op1("tfl.MUL", [y, y]), a], { keep_dims: resolveAttrs(n).keepdims ?? 1 }),
        ])),
  );
  map(
    "ReduceL1",
    (n, rw, [x, axes]) =>
      reduce(
        n,
        rw,
        x!,
        axes,
        (y, a) =>
          rw.op1("tfl.SUM", [rw.op1("tfl.ABS", [y]), a], { keep_dims: resolveAttrs(n).keepdims ?? 1 }),
      ),
  );
  map(["Softmax", "LogSoftmax"], (n, rw, [x]) => {
    const r = shapeOf(x!)?.length;
    if (r === undefined) return declines.of(n, "input of unknown rank");
    const a: number = resolveAttrs(n).axis ?? -1;
    const axis = a < 0 ? a + r : a;
    const apply = (v: ValueRef) =>
      n.op === "Softmax" ? rw.op1("tfl.SOFTMAX", [v], { beta: 1 }) : rw.op1("tfl.LOG_SOFTMAX", [v]);
    if (axis === r - 1) return apply(x!);
    // TFLite normalizes over the last axis only: swap the axis there and back.
    const perm = Array.from({ length: r }, (_, i) => (i === axis ? r - 1 : i === r - 1 ? axis : i));
    const p = () => intOperand(rw, "perm", "i32", perm);
    return rw.op1("tfl.TRANSPOSE", [apply(rw.op1("tfl.TRANSPOSE", [x, p()])), p()]);
  });
  map("MatMul", (n, rw, [a, b]) => {
    const sa = shapeOf(a!), sb = shapeOf(b!);
    if (!sa || !sb || sa.length < 2) return declines.of(n, "MatMul operands of rank below 2 or unknown");
    if (b!.constant && sb.length === 2 && b!.constant.dtype === "f32") {
      const w = rw.constant(`${b!.name}_nk`, transposed2d(b!.constant));
      return rw.op1("tfl.FULLY_CONNECTED", [a, w, null], { keep_num_dims: sa.length > 2 ? 1 : 0 });
    }
    if (sb.length < 2) return declines.of(n, "a rank-1 right operand");
    return rw.op1("tfl.BATCH_MATMUL", [a, b]);
  });
  map("Gemm", (n, rw, [a, b, c]) => {
    const at = resolveAttrs(n);
    if ((at.alpha ?? 1) !== 1 || (c && (at.beta ?? 1) !== 1)) {
      return declines.of(n, "Gemm with alpha or beta not 1 (canonicalize folds them into constant operands)");
    }
    let x: ValueRef = a!;
    if (at.transA) x = rw.op1("tfl.TRANSPOSE", [x, intOperand(rw, "perm", "i32", [1, 0])]);
    const sb = shapeOf(b!);
    if (!sb || sb.length !== 2) return declines.of(n, "B must have rank 2");
    const N = (at.transB ? sb[0] : sb[1]) as Dim;
    let bias: ValueRef | null = null;
    if (c) {
      const cs = shapeOf(c);
      if (c.constant && typeof N === "number" && c.constant.dtype === "f32") {
        const vals = constantNumbers(c.constant);
        if (vals.length === N) bias = rw.constant(`${c.name}_n`, { ...c.constant, shape: [N] });
        else if (vals.length === 1) {
          bias = f32Operand(rw, `${c.name}_n`, [N], new Float32Array(N).fill(vals[0]));
        }
      }
      if (!bias && !(cs && cs.length <= 2)) return declines.of(n, "C must broadcast to [M, N]");
    }
    let y: ValueRef;
    if (b!.constant && b!.constant.dtype === "f32") {
      const w = at.transB ? b! : rw.constant(`${b!.name}_nk`, transposed2d(b!.constant));
      y = rw.op1("tfl.FULLY_CONNECTED", [x, w, bias]);
    } else {
      y = rw.op1("tfl.BATCH_MATMUL", [x, b], { adj_y: at.transB ? 1 : 0 });
      if (bias) y = rw.op1("tfl.ADD", [y, bias]);
    }
    if (c && !bias) y = rw.op1("tfl.ADD", [y, c]);
    return y;
  });
  map(["ArgMax", "ArgMin"], (n, rw, [x]) => {
    const r = shapeOf(x!)?.length;
    const at = resolveAttrs(n);
    if (r === undefined) return declines.of(n, "input of unknown rank");
    if (at.select_last_index) return declines.of(n, "select_last_index");
    const axis = at.axis < 0 ? at.axis + r : at.axis;
    const y = rw.op1(n.op === "ArgMax" ? "tfl.ARG_MAX" : "tfl.ARG_MIN", [
      x,
      intOperand(rw, "axis", "i32", [axis]),
    ], { output_type: "INT64" });
    return at.keepdims ?? 1 ? rw.op1("tfl.EXPAND_DIMS", [y, i32Scalar(rw, "axis", axis)]) : y;
  });
  map("Expand", (n, rw, [x]) => {
    const out = staticOut(n, rw);
    return out
      ? rw.op1("tfl.BROADCAST_TO", [x, intOperand(rw, "shape", "i32", out)])
      : declines.of(n, "the expanded shape must be static");
  });
  map("Tile", (n, rw, [x, reps]) => {
    if (!reps?.constant) return declines.of(n, "repeats must be constant");
    return rw.op1("tfl.TILE", [x, intOperand(rw, "multiples", "i32", constantNumbers(reps.constant))]);
  });
  map("Shape", (n, rw, [x]) => {
    const at = resolveAttrs(n);
    if ((at.start ?? 0) !== 0 || at.end !== undefined) return declines.of(n, "Shape with start or end");
    return rw.op1("tfl.SHAPE", [x], { out_type: "INT64" });
  });

  /** Reduction axes as int32 (none: every axis, unless noop_with_empty_axes makes it an identity). */
  function reduce(
    n: Node,
    rw: Rewriter,
    x: ValueRef,
    axes: ValueRef | undefined,
    build: (x: ValueRef, axes: ValueRef) => ValueRef,
  ): Replacement {
    const r = shapeOf(x)?.length;
    if (r === undefined) return declines.of(n, "input of unknown rank");
    if (axes && !axes.constant) return declines.of(n, "axes must be constant");
    const list = axes ? constantNumbers(axes.constant!).map((a) => (a < 0 ? a + r : a)) : [];
    if (list.length === 0) {
      if (resolveAttrs(n).noop_with_empty_axes) return reshapeTo(rw, x, staticOut(n, rw) ?? []);
      for (let i = 0; i < r; i++) list.push(i);
    }
    return build(x, intOperand(rw, "axes", "i32", list));
  }

  /** ONNX Slice as STRIDED_SLICE over every axis (static sizes on the sliced axes). */
  function slice(
    n: Node,
    rw: Rewriter,
    x: ValueRef,
    starts?: ValueRef,
    ends?: ValueRef,
    axes?: ValueRef,
    steps?: ValueRef,
  ): Replacement {
    const s = shapeOf(x);
    if (!s) return declines.of(n, "input of unknown rank");
    if (![starts, ends, axes, steps].every((v) => !v || v.constant)) {
      return declines.of(n, "starts, ends, axes and steps must be constant");
    }
    const st = constantNumbers(starts!.constant!), en = constantNumbers(ends!.constant!);
    const r = s.length;
    const ax = axes ? constantNumbers(axes.constant!).map((a) => (a < 0 ? a + r : a)) : st.map((_, i) => i);
    const sp = steps ? constantNumbers(steps.constant!) : st.map(() => 1);
    const begin = new Array(r).fill(0), end = new Array(r).fill(0), stride = new Array(r).fill(1);
    let beginMask = 0, endMask = 0;
    for (let i = 0; i < r; i++) {
      const k = ax.indexOf(i);
      if (k < 0) {
        beginMask |= 1 << i;
        endMask |= 1 << i;
        continue;
      }
      const dim = s[i];
      if (typeof dim !== "number") return declines.of(n, `slicing symbolic dim ${i}`);
      const step = sp[k];
      if (step === 0) return declines.of(n, "step 0");
      const norm = (v: number) => (v < 0 ? v + dim : v);
      let b: number, e: number;
      if (step > 0) {
        b = Math.min(Math.max(norm(st[k]), 0), dim);
        e = Math.min(Math.max(norm(en[k]), 0), dim);
      } else {
        b = Math.min(Math.max(norm(st[k]), -1), dim - 1);
        e = Math.min(Math.max(norm(en[k]), -1), dim - 1);
        // An end before index 0 has no non-negative form; TFLite's end mask runs to the start.
        if (e < 0) endMask |= 1 << i;
      }
      begin[i] = b;
      end[i] = e;
      stride[i] = step;
    }
    return rw.op1("tfl.STRIDED_SLICE", [
      x,
      intOperand(rw, "begin", "i32", begin),
      intOperand(rw, "end", "i32", end),
      intOperand(rw, "strides", "i32", stride),
    ], { begin_mask: beginMask, end_mask: endMask });
  }

  return rules;
}
