/**
 * TFLite builtins as ONNX ops. NHWC spatial ops become Transpose(NHWC→NCHW), the ONNX op, and
 * Transpose(NCHW→NHWC), for layout propagation to cancel between neighbours; filters are permuted at
 * conversion time (OHWI → OIHW, [1,KH,KW,C·m] → [C·m,1,KH,KW]); SAME/VALID become explicit pads computed
 * from static shapes; a fused activation becomes its own op after the node; int32 operands TFLite keeps as
 * tensors (axes, paddings, shapes) become ONNX's int64 inputs or attributes. DEQUANTIZE of an fp16 or
 * affine-quantized constant folds into an f32 constant first (`dequantizeRules`).
 */
import { numbersConstant } from "../../ir/builder.ts";
import type { Constant } from "../../ir/constant.ts";
import { constantNumbers } from "../../ir/constant-values.ts";
import { printDType } from "../../ir/dtype.ts";
import type { Node } from "../../ir/graph.ts";
import { resolveStridedSlice, windowAxis } from "../../ir/ops/tflite-geometry.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import { isStaticShape } from "../../ir/value-type.ts";
import { alloc, fromConstant, toConstant, type TypedArray } from "../../runtime/tensor.ts";
import { layoutFromAttrs, scatter, sparsePositions } from "../../runtime/tflite/densify.ts";
import { permuteConstant } from "../constant-permute.ts";
import { P, tensorTypeOf, type ValueRef } from "../pattern.ts";
import { type Replacement, type Rewriter, type Rule, rule } from "../rewrite.ts";
import { f32Operand, intOperand } from "./operand-constants.ts";
import type { Declines } from "./report.ts";

const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];
const ONNX_TYPE: Record<string, number> = {
  FLOAT32: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  FLOAT64: 11,
  UINT32: 12,
  UINT64: 13,
};
const DTYPE_CODE: Record<string, number> = {
  f32: 1,
  u8: 2,
  i8: 3,
  u16: 4,
  i16: 5,
  i32: 6,
  i64: 7,
  bool: 9,
  f16: 10,
  f64: 11,
  u32: 12,
  u64: 13,
};

const UNARY: Record<string, string> = {
  "tfl.RELU": "Relu",
  "tfl.LOGISTIC": "Sigmoid",
  "tfl.TANH": "Tanh",
  "tfl.HARD_SWISH": "HardSwish",
  "tfl.EXP": "Exp",
  "tfl.LOG": "Log",
  "tfl.SQRT": "Sqrt",
  "tfl.ABS": "Abs",
  "tfl.NEG": "Neg",
  "tfl.SIN": "Sin",
  "tfl.COS": "Cos",
  "tfl.FLOOR": "Floor",
  "tfl.CEIL": "Ceil",
  "tfl.ROUND": "Round",
  "tfl.ELU": "Elu",
  "tfl.SIGN": "Sign",
  "tfl.LOGICAL_NOT": "Not",
};
const BINARY: Record<string, string> = {
  "tfl.ADD": "Add",
  "tfl.SUB": "Sub",
  "tfl.MUL": "Mul",
  "tfl.DIV": "Div",
  "tfl.MAXIMUM": "Max",
  "tfl.MINIMUM": "Min",
  "tfl.POW": "Pow",
  "tfl.LESS": "Less",
  "tfl.LESS_EQUAL": "LessOrEqual",
  "tfl.GREATER": "Greater",
  "tfl.GREATER_EQUAL": "GreaterOrEqual",
  "tfl.EQUAL": "Equal",
  "tfl.LOGICAL_AND": "And",
  "tfl.LOGICAL_OR": "Or",
};
const REDUCE: Record<string, string> = {
  "tfl.MEAN": "ReduceMean",
  "tfl.SUM": "ReduceSum",
  "tfl.REDUCE_MAX": "ReduceMax",
  "tfl.REDUCE_MIN": "ReduceMin",
  "tfl.REDUCE_PROD": "ReduceProd",
};
/** TFLite's clamping activations as Clip bounds. */
const CLAMP: Record<string, [number, number]> = { RELU6: [0, 6], RELU_N1_TO_1: [-1, 1], RELU_0_TO_1: [0, 1] };

const shapeOf = (v: ValueRef | undefined) => (v ? tensorTypeOf(v)?.shape : undefined);
const i64 = (rw: Rewriter, hint: string, xs: readonly number[]) => intOperand(rw, hint, "i64", xs);
const transpose = (rw: Rewriter, x: ValueRef | string, perm: number[]) => rw.op1("Transpose", [x], { perm });

/** f32 values of a dequantized constant (fp16, or affine int codes with per-tensor or per-axis scales). */
export function dequantized(c: Constant): Constant | undefined {
  const d = c.dtype;
  if (d === "f16") {
    const src = fromConstant(c).data as Float16Array;
    return { dtype: "f32", shape: c.shape, bytes: new Uint8Array(Float32Array.from(src).buffer) };
  }
  if (typeof d === "string" || d.kind !== "affine") return undefined;
  const q = fromConstant(c).data as Int8Array | Uint8Array | Int16Array | Int32Array;
  const out = new Float32Array(q.length);
  const axis = d.axis;
  const inner = axis === undefined ? q.length : c.shape.slice(axis + 1).reduce((p, x) => p * x, 1);
  const dim = axis === undefined ? 1 : c.shape[axis];
  for (let i = 0; i < q.length; i++) {
    const k = axis === undefined ? 0 : Math.floor(i / inner) % dim;
    out[i] = (q[i] - (d.zeroPoint[k] ?? 0)) * d.scale[k];
  }
  return { dtype: "f32", shape: c.shape, bytes: new Uint8Array(out.buffer) };
}

/** The dense constant a `tfl.DENSIFY` of a sparse constant expands to. */
export function densified(c: Constant, attrs: Readonly<Record<string, unknown>>): Constant {
  const layout = layoutFromAttrs(attrs);
  const x = fromConstant(c);
  const pos = sparsePositions(layout, x.data.length);
  const out = alloc(c.dtype, layout.shape);
  scatter(pos, x.data as TypedArray, out.data as TypedArray);
  return toConstant(out);
}

/** ONNX has no sparse weights: DENSIFY of a constant becomes the dense constant. */
export const densifyRules = [
  rule(
    "densify-constant",
    P.op("tfl.DENSIFY", [P.const("c")]).as("n"),
    ({ c, n }, rw) => rw.constant(`${c.name}_dense`, densified(c.constant!, resolveAttrs(n))),
  ),
];

export const dequantizeRules = [
  rule("dequantize-constant", P.op("tfl.DEQUANTIZE", [P.const("c")]), ({ c }, rw) => {
    const f = dequantized(c.constant!);
    return f ? rw.constant(`${c.name}_f32`, f) : undefined;
  }),
];

export function tflToOnnxRules(declines: Declines): Rule[] {
  type Build = (n: Node, rw: Rewriter, ins: (ValueRef | undefined)[]) => Replacement;
  const rules: Rule[] = [];
  const map = (ops: string | string[], build: Build) => {
    for (const op of typeof ops === "string" ? [ops] : ops) {
      rules.push(rule(op.slice(4).toLowerCase(), P.op(op, []).rest().as("n"), ({ n }, rw) => {
        const quantized = [...n.inputs, ...n.outputs].some((v: string | null) => {
          const t = v ? tensorTypeOf(rw.ref(v)) : undefined;
          return t !== undefined && typeof t.dtype !== "string";
        });
        // Custom and control-flow ops decline with their own reason.
        if (
          quantized &&
          !["tfl.DEQUANTIZE", "tfl.CUSTOM", "tfl.WHILE", "tfl.IF", "tfl.CALL_ONCE"].includes(n.op)
        ) return declines.of(n, "quantized operands: only float TFLite models convert to ONNX here");
        const act = resolveAttrs(n).fused_activation_function;
        if (act !== undefined && act !== "NONE" && act !== "RELU" && act !== "TANH" && !CLAMP[act]) {
          return declines.of(n, `fused activation ${act} has no ONNX op`);
        }
        const y = build(n, rw, n.inputs.map((i: string | null) => (i ? rw.ref(i) : undefined)));
        return y === undefined || act === undefined ? y : activation(rw, y as ValueRef, act);
      }));
    }
  };
  const staticOut = (n: Node, rw: Rewriter, k = 0): number[] | undefined => {
    const s = shapeOf(rw.ref(n.outputs[k]));
    return isStaticShape(s) ? [...s] : undefined;
  };
  const reshapeTo = (rw: Rewriter, x: ValueRef | string, shape: readonly number[]) =>
    rw.op1("Reshape", [x, i64(rw, "shape", shape)]);
  /** Static NHWC sizes, or a recorded reason. */
  const nhwc = (n: Node, x: ValueRef | undefined) => {
    const s = shapeOf(x);
    if (!isStaticShape(s) || s.length !== 4) {
      return declines.of(
        n,
        `needs a static NHWC input (has [${s ?? "?"}]); bind symbolic dims with --dim/--shape`,
      );
    }
    return s;
  };
  /** A filter as ONNX wants it: a permuted constant, or a Transpose of a computed one. */
  const filterOf = (rw: Rewriter, w: ValueRef, perm: number[]) =>
    w.constant && w.constant.dtype === "f32"
      ? rw.constant(`${w.name}_onnx`, permuteConstant(w.constant, perm))
      : transpose(rw, w, perm);

  for (const [op, to] of Object.entries(UNARY)) map(op, (_n, rw, [x]) => rw.op1(to, [x!]));
  for (const [op, [lo, hi]] of Object.entries(CLAMP)) map(`tfl.${op}`, (_n, rw, [x]) => clip(rw, x!, lo, hi));
  map("tfl.RSQRT", (_n, rw, [x]) => rw.op1("Reciprocal", [rw.op1("Sqrt", [x!])]));
  map("tfl.SQUARE", (_n, rw, [x]) => rw.op1("Mul", [x!, x!]));
  map("tfl.LEAKY_RELU", (n, rw, [x]) => rw.op1("LeakyRelu", [x!], { alpha: resolveAttrs(n).alpha }));
  map(
    "tfl.GELU",
    (n, rw, [x]) => rw.op1("Gelu", [x!], { approximate: resolveAttrs(n).approximate ? "tanh" : "none" }),
  );
  map(["tfl.SOFTMAX", "tfl.LOG_SOFTMAX"], (n, rw, [x]) => {
    const beta = n.op === "tfl.SOFTMAX" ? resolveAttrs(n).beta : 1;
    const y = beta === 1 ? x! : rw.op1("Mul", [x!, f32Operand(rw, "beta", [], [beta])]);
    return rw.op1(n.op === "tfl.SOFTMAX" ? "Softmax" : "LogSoftmax", [y], { axis: -1 });
  });
  map("tfl.L2_NORMALIZATION", (_n, rw, [x]) => {
    const sum = rw.op1("ReduceSum", [rw.op1("Mul", [x!, x!]), i64(rw, "axes", [-1])], { keepdims: 1 });
    const norm = rw.op1("Max", [rw.op1("Sqrt", [sum]), f32Operand(rw, "eps", [], [1e-6])]);
    return rw.op1("Div", [x!, norm]);
  });
  map("tfl.ZEROS_LIKE", (n, rw, [x]) => {
    const s = staticOut(n, rw);
    const t = tensorTypeOf(x!);
    if (!s || !t || typeof t.dtype !== "string" || t.dtype === "string") {
      return declines.of(n, "needs a static numeric input");
    }
    return rw.constant(
      `${n.id}_zeros`,
      numbersConstant(t.dtype, s, new Array(s.reduce((p, d) => p * d, 1)).fill(0)),
    );
  });
  for (const [op, to] of Object.entries(BINARY)) map(op, (_n, rw, [x, y]) => rw.op1(to, [x!, y!]));
  map("tfl.NOT_EQUAL", (_n, rw, [x, y]) => rw.op1("Not", [rw.op1("Equal", [x!, y!])]));
  map("tfl.SQUARED_DIFFERENCE", (_n, rw, [x, y]) => {
    const d = rw.op1("Sub", [x!, y!]);
    return rw.op1("Mul", [d, d]);
  });
  map("tfl.FLOOR_DIV", (n, rw, [x, y]) => {
    const t = tensorTypeOf(x!);
    if (!t || (t.dtype !== "f32" && t.dtype !== "f16")) {
      return declines.of(n, "integer FLOOR_DIV (ONNX's integer Div truncates)");
    }
    return rw.op1("Floor", [rw.op1("Div", [x!, y!])]);
  });
  map("tfl.FLOOR_MOD", (n, rw, [x, y]) => {
    const t = tensorTypeOf(x!);
    if (!t) return declines.of(n, "operand of unknown type");
    if (t.dtype === "f32") {
      return rw.op1("Sub", [x!, rw.op1("Mul", [rw.op1("Floor", [rw.op1("Div", [x!, y!])]), y!])]);
    }
    return rw.op1("Mod", [x!, y!], { fmod: 0 });
  });
  map("tfl.PRELU", (_n, rw, [x, a]) => rw.op1("PRelu", [x!, a!]));
  map(["tfl.SELECT", "tfl.SELECT_V2"], (n, rw, [c, x, y]) => {
    if (n.op === "tfl.SELECT" && shapeOf(c)?.length !== shapeOf(x)?.length) {
      return declines.of(n, "SELECT with a lower-rank condition");
    }
    return rw.op1("Where", [c!, x!, y!]);
  });
  map("tfl.CAST", (n, rw, [x]) => {
    const t = tensorTypeOf(rw.ref(n.outputs[0]));
    const code = t && typeof t.dtype === "string"
      ? DTYPE_CODE[t.dtype]
      : ONNX_TYPE[resolveAttrs(n).out_data_type];
    return code ? rw.op1("Cast", [x!], { to: code }) : declines.of(n, "cast to a type ONNX has no code for");
  });
  map("tfl.DEQUANTIZE", (n, rw, [x]) => {
    const t = tensorTypeOf(x!);
    if (t?.dtype === "f16") return rw.op1("Cast", [x!], { to: 1 });
    return declines.of(
      n,
      `DEQUANTIZE of a computed ${t ? printDType(t.dtype) : "?"} tensor (only constants fold)`,
    );
  });
  map("tfl.QUANTIZE", (n) => declines.of(n, "QUANTIZE: only float TFLite models convert to ONNX here"));

  map("tfl.CONV_2D", (n, rw, [x, w, b]) => {
    const s = nhwc(n, x);
    const ws = shapeOf(w);
    if (!s || !isStaticShape(ws)) return s && declines.of(n, "the filter shape must be static");
    const at = resolveAttrs(n);
    const [, kh, kw, cin] = ws;
    const pads = samePads(at.padding, s, [kh, kw], [at.stride_h, at.stride_w], [
      at.dilation_h_factor,
      at.dilation_w_factor,
    ]);
    const y = rw.op1("Conv", [transpose(rw, x!, TO_NCHW), filterOf(rw, w!, [0, 3, 1, 2]), b ?? null], {
      kernel_shape: [kh, kw],
      strides: [at.stride_h, at.stride_w],
      dilations: [at.dilation_h_factor, at.dilation_w_factor],
      pads,
      group: s[3] / cin,
    });
    return transpose(rw, y, TO_NHWC);
  });
  map("tfl.DEPTHWISE_CONV_2D", (n, rw, [x, w, b]) => {
    const s = nhwc(n, x);
    const ws = shapeOf(w);
    if (!s || !isStaticShape(ws)) return s && declines.of(n, "the filter shape must be static");
    const at = resolveAttrs(n);
    const [, kh, kw] = ws;
    const pads = samePads(at.padding, s, [kh, kw], [at.stride_h, at.stride_w], [
      at.dilation_h_factor,
      at.dilation_w_factor,
    ]);
    const y = rw.op1("Conv", [transpose(rw, x!, TO_NCHW), filterOf(rw, w!, [3, 0, 1, 2]), b ?? null], {
      kernel_shape: [kh, kw],
      strides: [at.stride_h, at.stride_w],
      dilations: [at.dilation_h_factor, at.dilation_w_factor],
      pads,
      group: s[3],
    });
    return transpose(rw, y, TO_NHWC);
  });
  map("tfl.TRANSPOSE_CONV", (n, rw, [outShape, w, x, b]) => {
    const s = nhwc(n, x);
    const ws = shapeOf(w);
    if (!s || !isStaticShape(ws) || !outShape?.constant) {
      return s && declines.of(n, "needs a static filter and a constant output shape");
    }
    const at = resolveAttrs(n);
    const [, kh, kw] = ws;
    const out = constantNumbers(outShape.constant);
    const k = [kh, kw], st = [at.stride_h, at.stride_w];
    const begin: number[] = [], end: number[] = [], extra: number[] = [];
    for (let i = 0; i < 2; i++) {
      const pb = windowAxis(at.padding, out[1 + i], k[i], st[i]).padBefore;
      const full = (s[1 + i] - 1) * st[i] + k[i];
      const pe = full - out[1 + i] - pb;
      begin.push(pb);
      end.push(Math.max(pe, 0));
      extra.push(Math.max(-pe, 0));
    }
    const y = rw.op1(
      "ConvTranspose",
      [transpose(rw, x!, TO_NCHW), filterOf(rw, w!, [3, 0, 1, 2]), b ?? null],
      {
        kernel_shape: k,
        strides: st,
        pads: [...begin, ...end],
        ...(extra.some((e) => e > 0) ? { output_padding: extra } : {}),
      },
    );
    return transpose(rw, y, TO_NHWC);
  });
  map("tfl.FULLY_CONNECTED", (n, rw, [x, w, b]) => {
    const s = shapeOf(x), ws = shapeOf(w);
    if (!s || !isStaticShape(ws) || ws.length !== 2) {
      return declines.of(n, "weights must have a static [units, depth] shape");
    }
    const at = resolveAttrs(n);
    if (at.weights_format !== "DEFAULT") return declines.of(n, `weights_format ${at.weights_format}`);
    const depth = ws[1];
    if (at.keep_num_dims) {
      const y = rw.op1("MatMul", [x!, filterOf(rw, w!, [1, 0])]);
      return b ? rw.op1("Add", [y, b]) : y;
    }
    let x2: ValueRef = x!;
    if (!(s.length === 2 && s[1] === depth)) {
      if (!isStaticShape(s)) return declines.of(n, "a symbolic input that must be flattened to rows");
      x2 = reshapeTo(rw, x!, [s.reduce((p, d) => p * d, 1) / depth, depth]);
    }
    return rw.op1("Gemm", [x2, w!, b ?? null], { transB: 1 });
  });
  map(["tfl.MAX_POOL_2D", "tfl.AVERAGE_POOL_2D", "tfl.L2_POOL_2D"], (n, rw, [x]) => {
    const s = nhwc(n, x);
    if (!s) return undefined;
    const at = resolveAttrs(n);
    const k = [at.filter_height, at.filter_width], st = [at.stride_h, at.stride_w];
    const attrs = { kernel_shape: k, strides: st, pads: samePads(at.padding, s, k, st, [1, 1]) };
    const xt = transpose(rw, x!, TO_NCHW);
    let y: ValueRef;
    if (n.op === "tfl.MAX_POOL_2D") y = rw.op1("MaxPool", [xt], attrs);
    else if (n.op === "tfl.AVERAGE_POOL_2D") {
      y = rw.op1("AveragePool", [xt], { ...attrs, count_include_pad: 0 });
    } else {y = rw.op1("Sqrt", [
        rw.op1("AveragePool", [rw.op1("Mul", [xt, xt])], { ...attrs, count_include_pad: 0 }),
      ]);}
    return transpose(rw, y, TO_NHWC);
  });
  map(["tfl.RESIZE_BILINEAR", "tfl.RESIZE_NEAREST_NEIGHBOR"], (n, rw, [x]) => {
    const s = nhwc(n, x);
    const out = staticOut(n, rw);
    if (!s || !out) return s && declines.of(n, "the output size must be static");
    const at = resolveAttrs(n);
    const linear = n.op === "tfl.RESIZE_BILINEAR";
    const ct = at.align_corners
      ? "align_corners"
      : at.half_pixel_centers
      ? (linear ? "half_pixel" : "tf_half_pixel_for_nn")
      : "asymmetric";
    const nearest = at.align_corners ? "round_prefer_ceil" : "floor";
    const sizes = i64(rw, "sizes", [s[0], s[3], out[1], out[2]]);
    const y = rw.op1("Resize", [transpose(rw, x!, TO_NCHW), null, null, sizes], {
      mode: linear ? "linear" : "nearest",
      coordinate_transformation_mode: ct,
      ...(linear ? {} : { nearest_mode: nearest }),
    });
    return transpose(rw, y, TO_NHWC);
  });
  map(["tfl.DEPTH_TO_SPACE", "tfl.SPACE_TO_DEPTH"], (n, rw, [x]) => {
    const op = n.op === "tfl.DEPTH_TO_SPACE" ? "DepthToSpace" : "SpaceToDepth";
    const y = rw.op1(op, [transpose(rw, x!, TO_NCHW)], {
      blocksize: resolveAttrs(n).block_size,
      ...(op === "DepthToSpace" ? { mode: "DCR" } : {}),
    });
    return transpose(rw, y, TO_NHWC);
  });

  map(["tfl.RESHAPE", "tfl.SQUEEZE", "tfl.EXPAND_DIMS"], (n, rw, [x, arg]) => {
    const out = staticOut(n, rw);
    if (out) return reshapeTo(rw, x!, out);
    if (n.op === "tfl.EXPAND_DIMS" && arg?.constant) {
      return rw.op1("Unsqueeze", [x!, i64(rw, "axes", constantNumbers(arg.constant))]);
    }
    if (n.op === "tfl.SQUEEZE") {
      const dims: number[] = resolveAttrs(n).squeeze_dims ?? [];
      return dims.length
        ? rw.op1("Squeeze", [x!, i64(rw, "axes", dims)])
        : declines.of(n, "SQUEEZE of every unit dim of a symbolic shape");
    }
    if (n.op === "tfl.RESHAPE") {
      const target = arg?.constant && shapeOf(arg)?.length === 1
        ? constantNumbers(arg.constant)
        : resolveAttrs(n).new_shape;
      if (target && target.length && !target.includes(0)) return reshapeTo(rw, x!, target);
    }
    return declines.of(n, "the target shape is neither static nor constant");
  });
  map(
    "tfl.TRANSPOSE",
    (n, rw, [x, perm]) =>
      perm?.constant
        ? transpose(rw, x!, constantNumbers(perm.constant))
        : declines.of(n, "perm must be constant"),
  );
  map("tfl.CONCATENATION", (n, rw, xs) => rw.op1("Concat", xs as ValueRef[], { axis: resolveAttrs(n).axis }));
  map("tfl.PACK", (n, rw, xs) => {
    const axis = resolveAttrs(n).axis;
    return rw.op1("Concat", xs.map((x) => rw.op1("Unsqueeze", [x!, i64(rw, "axes", [axis])])), { axis });
  });
  map("tfl.UNPACK", (n, rw, [x]) => {
    const s = shapeOf(x);
    if (!s) return declines.of(n, "input of unknown rank");
    const axis = resolveAttrs(n).axis < 0 ? resolveAttrs(n).axis + s.length : resolveAttrs(n).axis;
    const k = n.outputs.length;
    const parts = rw.op("Split", [x!, i64(rw, "split", new Array(k).fill(1))], { axis }, k);
    return parts.map((p) => rw.op1("Squeeze", [p, i64(rw, "axes", [axis])]));
  });
  map(["tfl.SPLIT", "tfl.SPLIT_V"], (n, rw, ins) => {
    const x = n.op === "tfl.SPLIT" ? ins[1]! : ins[0]!;
    const axisV = n.op === "tfl.SPLIT" ? ins[0] : ins[2];
    const s = shapeOf(x);
    if (!axisV?.constant || !s) return declines.of(n, "the axis must be constant");
    const a = constantNumbers(axisV.constant)[0];
    const axis = a < 0 ? a + s.length : a;
    const sizes = n.outputs.map((o) => shapeOf(rw.ref(o))?.[axis]);
    if (sizes.some((d) => typeof d !== "number")) return declines.of(n, "split sizes must be static");
    return rw.op("Split", [x, i64(rw, "split", sizes as number[])], { axis }, n.outputs.length);
  });
  map(["tfl.PAD", "tfl.PADV2", "tfl.MIRROR_PAD"], (n, rw, [x, paddings, value]) => {
    if (!paddings?.constant) return declines.of(n, "paddings must be constant");
    const p = constantNumbers(paddings.constant);
    const r = p.length / 2;
    const pads = [
      ...Array.from({ length: r }, (_, i) => p[2 * i]),
      ...Array.from({ length: r }, (_, i) => p[2 * i + 1]),
    ];
    if (n.op === "tfl.MIRROR_PAD") {
      if (resolveAttrs(n).mode !== "REFLECT") {
        return declines.of(n, "SYMMETRIC mirror padding has no ONNX mode");
      }
      return rw.op1("Pad", [x!, i64(rw, "pads", pads)], { mode: "reflect" });
    }
    return rw.op1("Pad", [x!, i64(rw, "pads", pads), value ?? null]);
  });
  map("tfl.STRIDED_SLICE", (n, rw, [x, begin, end, strides]) => {
    const s = shapeOf(x);
    const out = staticOut(n, rw);
    if (!isStaticShape(s) || !out || !begin?.constant || !end?.constant || (strides && !strides.constant)) {
      return declines.of(n, "needs a static input and constant begin, end and strides");
    }
    const bs = constantNumbers(begin.constant), es = constantNumbers(end.constant);
    const ss = strides ? constantNumbers(strides.constant!) : bs.map(() => 1);
    const r = resolveStridedSlice<number>(s, bs, es, ss, resolveAttrs(n) as any);
    const starts: number[] = [], ends: number[] = [], axes: number[] = [], steps: number[] = [];
    r.axes.forEach((ax, i) => {
      if (ax.start === 0 && ax.step === 1 && ax.count === s[i]) return;
      const stop = ax.start + ax.count * ax.step;
      starts.push(ax.start);
      ends.push(stop < 0 ? -Number.MAX_SAFE_INTEGER : stop);
      axes.push(i);
      steps.push(ax.step);
    });
    let y: ValueRef = x!;
    if (axes.length) {
      y = rw.op1("Slice", [
        x!,
        i64(rw, "starts", starts),
        i64(rw, "ends", ends),
        i64(rw, "axes", axes),
        i64(rw, "steps", steps),
      ]);
    }
    const sliced = r.axes.map((ax) => ax.count);
    return sliced.length === out.length && sliced.every((d, i) => d === out[i]) && y !== x
      ? y
      : reshapeTo(rw, y, out);
  });
  map("tfl.SLICE", (n, rw, [x, begin, size]) => {
    const s = shapeOf(x);
    if (!isStaticShape(s) || !begin?.constant || !size?.constant) {
      return declines.of(n, "needs a static input and constant begin and size");
    }
    const b = constantNumbers(begin.constant), z = constantNumbers(size.constant);
    return rw.op1("Slice", [
      x!,
      i64(rw, "starts", b),
      i64(rw, "ends", z.map((v, i) => (v < 0 ? s[i] : b[i] + v))),
    ]);
  });
  map("tfl.GATHER", (n, rw, [x, idx]) => {
    const at = resolveAttrs(n);
    if (at.batch_dims) return declines.of(n, "GATHER with batch_dims");
    return rw.op1("Gather", [x!, idx!], { axis: at.axis });
  });
  map("tfl.GATHER_ND", (_n, rw, [x, idx]) => rw.op1("GatherND", [x!, idx!]));
  map(
    "tfl.TILE",
    (
      n,
      rw,
      [x, m],
    ) => (m?.constant
      ? rw.op1("Tile", [x!, i64(rw, "repeats", constantNumbers(m.constant))])
      : declines.of(n, "multiples must be constant")),
  );
  map(
    "tfl.BROADCAST_TO",
    (
      n,
      rw,
      [x, sh],
    ) => (sh?.constant
      ? rw.op1("Expand", [x!, i64(rw, "shape", constantNumbers(sh.constant))])
      : declines.of(n, "the shape must be constant")),
  );
  map("tfl.SHAPE", (n, rw, [x]) => {
    const y = rw.op1("Shape", [x!]);
    return resolveAttrs(n).out_type === "INT32" ? rw.op1("Cast", [y], { to: 6 }) : y;
  });
  map(Object.keys(REDUCE), (n, rw, [x, axes]) => {
    if (!axes?.constant) return declines.of(n, "axes must be constant");
    return rw.op1(REDUCE[n.op], [x!, i64(rw, "axes", constantNumbers(axes.constant))], {
      keepdims: resolveAttrs(n).keep_dims ? 1 : 0,
    });
  });
  map(["tfl.ARG_MAX", "tfl.ARG_MIN"], (n, rw, [x, axis]) => {
    if (!axis?.constant) return declines.of(n, "the axis must be constant");
    const y = rw.op1(n.op === "tfl.ARG_MAX" ? "ArgMax" : "ArgMin", [x!], {
      axis: constantNumbers(axis.constant)[0],
      keepdims: 0,
    });
    return resolveAttrs(n).output_type === "INT32" ? rw.op1("Cast", [y], { to: 6 }) : y;
  });
  map("tfl.BATCH_MATMUL", (n, rw, [x, y]) => {
    const at = resolveAttrs(n);
    const swap = (v: ValueRef) => {
      const r = shapeOf(v)?.length ?? 0;
      return transpose(
        rw,
        v,
        Array.from({ length: r }, (_, i) => (i === r - 2 ? r - 1 : i === r - 1 ? r - 2 : i)),
      );
    };
    if ((at.adj_x && !shapeOf(x)) || (at.adj_y && !shapeOf(y))) {
      return declines.of(n, "adjoint of an operand of unknown rank");
    }
    return rw.op1("MatMul", [at.adj_x ? swap(x!) : x!, at.adj_y ? swap(y!) : y!]);
  });
  map(["tfl.REDUCE_ANY", "tfl.REDUCE_ALL"], (n, rw, [x, axes]) => {
    if (!axes?.constant) return declines.of(n, "axes must be constant");
    // ONNX reductions take numbers: any is a max and all a min over 0/1.
    const op = n.op === "tfl.REDUCE_ANY" ? "ReduceMax" : "ReduceMin";
    const y = rw.op1(op, [rw.op1("Cast", [x!], { to: 6 }), i64(rw, "axes", constantNumbers(axes.constant))], {
      keepdims: resolveAttrs(n).keep_dims ? 1 : 0,
    });
    return rw.op1("Cast", [y], { to: 9 });
  });
  map("tfl.ATAN2", (n, rw, [y, x]) => {
    if (tensorTypeOf(x!)?.dtype !== "f32") return declines.of(n, "ATAN2 of non-f32 operands");
    // atan2(y, x) = 2·atan(y / (r + x)) with r = |(x, y)|. Where r + x = 0 (y = ±0, x ≤ 0) it is ±π for
    // x < 0 (the sign of y's zero, seen through 1/y) and y itself for x = +0.
    const r = rw.op1("Sqrt", [rw.op1("Add", [rw.op1("Mul", [x!, x!]), rw.op1("Mul", [y!, y!])])]);
    const den = rw.op1("Add", [r, x!]);
    const zero = f32Operand(rw, "zero", [], [0]);
    const t = rw.op1("Mul", [rw.op1("Atan", [rw.op1("Div", [y!, den])]), f32Operand(rw, "two", [], [2])]);
    const negZero = rw.op1("Less", [rw.op1("Div", [f32Operand(rw, "one", [], [1]), y!]), zero]);
    const pi = rw.op1("Where", [
      negZero,
      f32Operand(rw, "minus_pi", [], [-Math.PI]),
      f32Operand(rw, "pi", [], [Math.PI]),
    ]);
    const edge = rw.op1("Where", [rw.op1("Less", [x!, zero]), pi, y!]);
    return rw.op1("Where", [rw.op1("Equal", [den, zero]), edge, t]);
  });
  map(
    "tfl.DENSIFY",
    (n) => declines.of(n, "DENSIFY of a computed tensor (only sparse constants expand)"),
  );
  // MediaPipe's Convolution2DTransposeBias (selfie segmentation's last layer): TRANSPOSE_CONV with the
  // operands in CONV_2D's order (input, OHWI filter, bias) and its parameters as a raw C struct in the
  // custom options: {padding (1 SAME, 2 VALID), stride_w, stride_h} as little-endian int32. The output size
  // is the input's times the stride (SAME) or (input - 1) * stride + kernel (VALID).
  map("tfl.CUSTOM", (n, rw, [x, w, b]) => {
    const at = resolveAttrs(n);
    if (at.custom_code !== "Convolution2DTransposeBias") {
      return declines.of(n, `custom op ${JSON.stringify(at.custom_code)} has no ONNX form`);
    }
    const s = nhwc(n, x);
    const ws = shapeOf(w);
    if (!s) return s;
    const opt = at.custom_options as { bytes?: Uint8Array } | undefined;
    if (!opt?.bytes || opt.bytes.byteLength < 12 || !isStaticShape(ws) || ws.length !== 4) {
      return declines.of(n, "needs 12 bytes of options and a static OHWI filter");
    }
    const dv = new DataView(opt.bytes.buffer, opt.bytes.byteOffset, 12);
    const padding = ({ 1: "SAME", 2: "VALID" } as Record<number, string>)[dv.getInt32(0, true)];
    const st = [dv.getInt32(8, true), dv.getInt32(4, true)];
    if (!padding || !(st[0] >= 1 && st[1] >= 1)) {
      return declines.of(n, `options padding ${dv.getInt32(0, true)}, strides [${st}]`);
    }
    const k = [ws[1], ws[2]];
    const begin: number[] = [], end: number[] = [];
    for (let i = 0; i < 2; i++) {
      const out = padding === "SAME" ? s[1 + i] * st[i] : (s[1 + i] - 1) * st[i] + k[i];
      const pb = windowAxis(padding, out, k[i], st[i]).padBefore;
      begin.push(pb);
      end.push((s[1 + i] - 1) * st[i] + k[i] - out - pb);
    }
    if (end.some((e) => e < 0)) return declines.of(n, "an output larger than the full transposed window");
    const y = rw.op1(
      "ConvTranspose",
      [transpose(rw, x!, TO_NCHW), filterOf(rw, w!, [3, 0, 1, 2]), b ?? null],
      { kernel_shape: k, strides: st, pads: [...begin, ...end] },
    );
    return transpose(rw, y, TO_NHWC);
  });
  map(
    ["tfl.WHILE", "tfl.IF", "tfl.CALL_ONCE"],
    (n) => declines.of(n, `${n.op.slice(4)} (control flow) is not converted`),
  );

  return rules;
}

/** ONNX pads [top, left, bottom, right] for TFLite's SAME or VALID over an NHWC input. */
function samePads(
  padding: string,
  s: readonly number[],
  k: readonly number[],
  st: readonly number[],
  dil: readonly number[],
): number[] {
  const ax = [0, 1].map((i) => windowAxis(padding, s[1 + i], k[i], st[i], dil[i]));
  return [ax[0].padBefore, ax[1].padBefore, ax[0].padAfter, ax[1].padAfter];
}

function clip(rw: Rewriter, x: ValueRef, lo: number, hi: number): ValueRef {
  return rw.op1("Clip", [x, f32Operand(rw, "lo", [], [lo]), f32Operand(rw, "hi", [], [hi])]);
}

function activation(rw: Rewriter, y: ValueRef, act: string): ValueRef {
  if (act === "NONE") return y;
  if (act === "RELU") return rw.op1("Relu", [y]);
  if (act === "TANH") return rw.op1("Tanh", [y]);
  const [lo, hi] = CLAMP[act];
  return clip(rw, y, lo, hi);
}
