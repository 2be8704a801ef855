/**
 * The op equivalence table that lets two graphs of different dialects be compared node by node. Every node
 * plays one role:
 * - `layout`: moves data without computing (Transpose, Reshape, TFLite's RESHAPE): both sides skip it and
 *   the layout relation between paired values absorbs it;
 * - `convert`: keeps values up to precision (Cast, Quantize/Dequantize): skipped, but precision evidence;
 * - `compute`: one or more events, each a class such as `conv` or `relu`. A TFLite op with a fused
 *   activation is two events (`conv`, then `relu`), so it pairs with an ONNX Conv followed by a Relu;
 * - `aux`: shape arithmetic and other non-float values, which do not take part.
 * Classes in one family (the activations, the clamps) may stand in for each other: such a pairing is a
 * substitution, which localization reports as a wrong op when the values diverge there.
 */
import type { Graph, Node } from "../../ir/graph.ts";
import { opDomain, opName } from "../../ir/graph.ts";
import { constantNumbers } from "../../ir/constant-values.ts";

export interface EventClass {
  readonly cls: string;
  readonly family: string;
}

export type NodeRole =
  | { readonly kind: "layout" }
  | { readonly kind: "convert" }
  | { readonly kind: "aux" }
  | { readonly kind: "compute"; readonly events: readonly EventClass[] };

/** [class, family, ONNX ops (default domain or domain.Name), TFLite builtin names]. */
const TABLE: readonly (readonly [string, string, readonly string[], readonly string[]])[] = [
  ["conv", "conv", ["Conv", "com.microsoft.FusedConv", "ConvInteger", "QLinearConv"], [
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "CONV_3D",
  ]],
  ["conv-transpose", "conv", ["ConvTranspose"], ["TRANSPOSE_CONV"]],
  ["dense", "dense", ["Gemm", "MatMul", "MatMulInteger", "QLinearMatMul", "com.microsoft.FusedMatMul"], [
    "FULLY_CONNECTED",
    "BATCH_MATMUL",
  ]],
  ["max-pool", "pool", ["MaxPool"], ["MAX_POOL_2D"]],
  ["avg-pool", "pool", ["AveragePool"], ["AVERAGE_POOL_2D"]],
  ["l2-pool", "pool", ["LpPool"], ["L2_POOL_2D"]],
  ["mean", "reduce", ["GlobalAveragePool", "ReduceMean"], ["MEAN"]],
  ["reduce-max", "reduce", ["GlobalMaxPool", "ReduceMax"], ["REDUCE_MAX"]],
  ["reduce-min", "reduce", ["ReduceMin"], ["REDUCE_MIN"]],
  ["reduce-sum", "reduce", ["ReduceSum"], ["SUM"]],
  ["reduce-prod", "reduce", ["ReduceProd"], ["REDUCE_PROD"]],
  ["relu", "activation", ["Relu"], ["RELU"]],
  ["relu6", "activation", [], ["RELU6"]],
  ["relu-n1-1", "activation", [], ["RELU_N1_TO_1"]],
  ["relu-0-1", "activation", [], ["RELU_0_TO_1"]],
  ["sigmoid", "activation", ["Sigmoid"], ["LOGISTIC"]],
  ["tanh", "activation", ["Tanh"], ["TANH"]],
  ["leaky-relu", "activation", ["LeakyRelu"], ["LEAKY_RELU"]],
  ["prelu", "activation", ["PRelu"], ["PRELU"]],
  ["hard-swish", "activation", ["HardSwish"], ["HARD_SWISH"]],
  ["hard-sigmoid", "activation", ["HardSigmoid"], []],
  ["elu", "activation", ["Elu"], ["ELU"]],
  ["selu", "activation", ["Selu"], []],
  ["celu", "activation", ["Celu"], []],
  ["gelu", "activation", ["Gelu", "com.microsoft.Gelu", "com.microsoft.FastGelu"], ["GELU"]],
  ["softplus", "activation", ["Softplus"], []],
  ["softsign", "activation", ["Softsign"], []],
  ["mish", "activation", ["Mish"], []],
  ["softmax", "softmax", ["Softmax"], ["SOFTMAX"]],
  ["log-softmax", "softmax", ["LogSoftmax"], ["LOG_SOFTMAX"]],
  ["add", "arith", ["Add", "Sum"], ["ADD", "ADD_N"]],
  ["sub", "arith", ["Sub"], ["SUB"]],
  ["mul", "arith", ["Mul"], ["MUL"]],
  ["div", "arith", ["Div"], ["DIV"]],
  ["pow", "arith", ["Pow"], ["POW"]],
  ["square", "arith", [], ["SQUARE"]],
  ["squared-difference", "arith", [], ["SQUARED_DIFFERENCE"]],
  ["max", "clamp", ["Max"], ["MAXIMUM"]],
  ["min", "clamp", ["Min"], ["MINIMUM"]],
  ["clip", "clamp", ["Clip"], []],
  ["exp", "unary", ["Exp"], ["EXP"]],
  ["log", "unary", ["Log"], ["LOG"]],
  ["sqrt", "unary", ["Sqrt"], ["SQRT"]],
  ["rsqrt", "unary", [], ["RSQRT"]],
  ["reciprocal", "unary", ["Reciprocal"], []],
  ["abs", "unary", ["Abs"], ["ABS"]],
  ["neg", "unary", ["Neg"], ["NEG"]],
  ["floor", "unary", ["Floor"], ["FLOOR"]],
  ["ceil", "unary", ["Ceil"], ["CEIL"]],
  ["round", "unary", ["Round"], ["ROUND"]],
  ["sin", "unary", ["Sin"], ["SIN"]],
  ["cos", "unary", ["Cos"], ["COS"]],
  ["erf", "unary", ["Erf"], []],
  ["sign", "unary", ["Sign"], ["SIGN"]],
  ["concat", "concat", ["Concat"], ["CONCATENATION", "PACK"]],
  ["split", "split", ["Split"], ["SPLIT", "SPLIT_V", "UNPACK"]],
  ["slice", "slice", ["Slice"], ["SLICE", "STRIDED_SLICE"]],
  ["gather", "gather", ["Gather"], ["GATHER"]],
  ["gather-nd", "gather", ["GatherND"], ["GATHER_ND"]],
  ["pad", "pad", ["Pad"], ["PAD", "PADV2", "MIRROR_PAD"]],
  ["resize", "resize", ["Resize", "Upsample"], ["RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"]],
  ["depth-to-space", "depth-to-space", ["DepthToSpace"], ["DEPTH_TO_SPACE"]],
  ["space-to-depth", "space-to-depth", ["SpaceToDepth"], ["SPACE_TO_DEPTH"]],
  ["batch-norm", "norm", ["BatchNormalization"], []],
  ["instance-norm", "norm", ["InstanceNormalization"], []],
  ["layer-norm", "norm", ["LayerNormalization"], []],
  ["l2-norm", "norm", ["LpNormalization"], ["L2_NORMALIZATION"]],
  ["lrn", "norm", ["LRN"], ["LOCAL_RESPONSE_NORMALIZATION"]],
  ["tile", "tile", ["Tile"], ["TILE"]],
  ["expand", "expand", ["Expand"], ["BROADCAST_TO"]],
  ["where", "where", ["Where"], ["SELECT", "SELECT_V2"]],
];

const LAYOUT = new Set([
  "Transpose",
  "Reshape",
  "Flatten",
  "Squeeze",
  "Unsqueeze",
  "Identity",
  "Dropout",
  "tfl.RESHAPE",
  "tfl.SQUEEZE",
  "tfl.EXPAND_DIMS",
  "tfl.TRANSPOSE",
]);
const CONVERT = new Set([
  "Cast",
  "CastLike",
  "QuantizeLinear",
  "DequantizeLinear",
  "tfl.CAST",
  "tfl.QUANTIZE",
  "tfl.DEQUANTIZE",
]);

const BY_OP = new Map<string, EventClass>();
for (const [cls, family, onnx, tfl] of TABLE) {
  for (const op of onnx) BY_OP.set(op, { cls, family });
  for (const op of tfl) BY_OP.set(`tfl.${op}`, { cls, family });
}

/** Fused activation names of TFLite options and of onnxruntime's FusedConv. */
const FUSED: Record<string, EventClass> = {
  RELU: { cls: "relu", family: "activation" },
  RELU6: { cls: "relu6", family: "activation" },
  RELU_N1_TO_1: { cls: "relu-n1-1", family: "activation" },
  TANH: { cls: "tanh", family: "activation" },
  SIGN_BIT: { cls: "sign", family: "unary" },
  Relu: { cls: "relu", family: "activation" },
  Sigmoid: { cls: "sigmoid", family: "activation" },
  Tanh: { cls: "tanh", family: "activation" },
  LeakyRelu: { cls: "leaky-relu", family: "activation" },
  HardSigmoid: { cls: "hard-sigmoid", family: "activation" },
};

/** The class of an op without looking at its operands (for tables and messages). */
export function opClass(op: string): EventClass {
  const known = BY_OP.get(op);
  if (known) return known;
  // Unknown ops pair by name across dialects: tfl.REDUCE_ANY and ReduceAny both become "reduceany".
  const cls = opName(op).replaceAll("_", "").toLowerCase();
  return { cls: opDomain(op) && !op.startsWith("tfl.") ? `${opDomain(op)}.${cls}` : cls, family: cls };
}

export function isLayoutOp(op: string): boolean {
  return LAYOUT.has(op);
}
export function isConvertOp(op: string): boolean {
  return CONVERT.has(op);
}

function constantScalar(g: Graph, v: string | null | undefined): number | undefined {
  if (!v) return undefined;
  const c = g.constants[v];
  if (!c) return undefined;
  try {
    const xs = constantNumbers(c, 16);
    return xs.length === 1 ? xs[0] : undefined;
  } catch {
    return undefined;
  }
}

/** Clip with constant bounds is a named activation when the bounds are ReLU's or ReLU6's. */
function clipClass(n: Node, g: Graph): EventClass {
  const lo = n.inputs[1] ? constantScalar(g, n.inputs[1]) : -Infinity;
  const hi = n.inputs[2] ? constantScalar(g, n.inputs[2]) : Infinity;
  if (lo === 0 && hi === 6) return { cls: "relu6", family: "activation" };
  if (lo === 0 && hi === Infinity) return { cls: "relu", family: "activation" };
  if (lo === -1 && hi === 1) return { cls: "relu-n1-1", family: "activation" };
  return { cls: "clip", family: "clamp" };
}

/**
 * The role a node plays. `isData(value)` says whether a value carries activations (is computed from a
 * graph input); nodes that read no data are constant arithmetic and take no part.
 */
export function nodeRole(n: Node, g: Graph, isData: (v: string) => boolean): NodeRole {
  const dataIn = n.inputs.some((v) => v && isData(v));
  if (!dataIn) return { kind: "aux" };
  if (LAYOUT.has(n.op)) return { kind: "layout" };
  if (CONVERT.has(n.op)) return { kind: "convert" };
  const floatOut = n.outputs.some((o) => o && isFloatValue(g, o));
  if (!floatOut) return { kind: "aux" };
  let base = BY_OP.get(n.op) ?? opClass(n.op);
  if (n.op === "Clip") base = clipClass(n, g);
  // x·x and x^2 are one square in every dialect (TFLite writes Pow(x, 2) as MUL(x, x)).
  if ((n.op === "Mul" || n.op === "tfl.MUL") && n.inputs[0] && n.inputs[0] === n.inputs[1]) {
    base = { cls: "square", family: "arith" };
  }
  if ((n.op === "Pow" || n.op === "tfl.POW") && constantScalar(g, n.inputs[1]) === 2) {
    base = { cls: "square", family: "arith" };
  }
  const events: EventClass[] = [base];
  if (n.op === "com.microsoft.FusedConv") {
    if (n.inputs[3]) events.push({ cls: "add", family: "arith" });
    const act = n.attrs.activation?.value;
    if (typeof act === "string" && act) {
      const params = n.attrs.activation_params?.value as readonly number[] | undefined;
      if (act === "Clip" && params?.[0] === 0 && params?.[1] === 6) {
        events.push({ cls: "relu6", family: "activation" });
      } else events.push(FUSED[act] ?? { cls: act.toLowerCase(), family: "activation" });
    }
  }
  const fused = n.op.startsWith("tfl.") ? n.attrs.fused_activation_function?.value : undefined;
  if (typeof fused === "string" && fused !== "NONE" && fused !== "") {
    events.push(FUSED[fused] ?? { cls: fused.toLowerCase(), family: "activation" });
  }
  return { kind: "compute", events };
}

export function isFloatValue(g: Graph, v: string): boolean {
  const t = g.values[v]?.type;
  if (!t || t.kind !== "tensor") return false;
  const d = t.dtype;
  return typeof d !== "string" || d === "f32" || d === "f16" || d === "bf16" || d === "f64";
}

/** Ops that work on spatial axes: their NCHW and NHWC forms differ in layout. */
export const SPATIAL_CLASSES: ReadonlySet<string> = new Set([
  "conv",
  "conv-transpose",
  "max-pool",
  "avg-pool",
  "l2-pool",
  "resize",
  "depth-to-space",
  "space-to-depth",
  "lrn",
  "batch-norm",
  "instance-norm",
]);

/** Classes whose operands may come in either order. */
export const COMMUTATIVE_CLASSES: ReadonlySet<string> = new Set(["add", "mul", "max", "min"]);

/** Classes that hold learned weights the matcher compares modulo layout. */
export const WEIGHTED_CLASSES: ReadonlySet<string> = new Set(["conv", "conv-transpose", "dense"]);

/** Ops whose input layout convention is NHWC (TFLite's spatial ops). */
export function dialectOf(op: string): "tfl" | "onnx" {
  return op.startsWith("tfl.") ? "tfl" : "onnx";
}
