/**
 * ONNX opset migrations. The IR holds each op in its latest form; older models are rewritten on import:
 * arguments that moved from attributes to inputs (Clip 11, Pad 11, Slice 10, Squeeze/Unsqueeze/Split 13,
 * ReduceSum 13 and the other reductions 18, TopK 10, Dropout 12), renamed ops (Upsample to Resize) and
 * changed semantics (Softmax's coerce-to-2D before 13). Each rule is keyed by op and the first opset in which
 * the op has the latest form.
 */
import type { Attr } from "../../ir/attr.ts";
import type { Constant } from "../../ir/constant.ts";
import type { DType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { numbersConstant } from "../../ir/builder.ts";

export interface RawNode {
  id: string;
  op: string;
  inputs: (string | null)[];
  outputs: string[];
  attrs: Record<string, Attr>;
  name?: string;
  doc?: string;
}

export interface UpgradeContext {
  /** The opset version of the node's domain. */
  opset: number;
  /** Element type of a value when known (for constants made from attributes). */
  dtypeOf(value: string): DType | undefined;
  /** Adds a constant and returns its name. */
  addConstant(hint: string, c: Constant): string;
  fresh(hint: string): string;
  where: { file?: string; field?: string };
}

const i64 = (xs: readonly number[]) => numbersConstant("i64", [xs.length], xs);
const scalarOf = (dtype: DType | undefined, v: number): Constant =>
  numbersConstant(typeof dtype === "string" && dtype !== "string" && dtype !== "bool" ? dtype : "f32", [], [
    v,
  ]);

function take(n: RawNode, k: string): Attr | undefined {
  const a = n.attrs[k];
  delete n.attrs[k];
  return a;
}

/** Moves an ints attribute to input position `pos` as an i64 constant. */
function intsToInput(n: RawNode, ctx: UpgradeContext, attr: string, pos: number): void {
  const a = take(n, attr);
  while (n.inputs.length < pos) n.inputs.push(null);
  if (a && (a.type === "ints" || a.type === "int")) {
    const v = a.type === "int" ? [a.value] : a.value;
    n.inputs[pos] = ctx.addConstant(`${n.id}_${attr}`, i64(v));
  }
}

const REDUCE = [
  "ReduceMax",
  "ReduceMin",
  "ReduceMean",
  "ReduceProd",
  "ReduceL1",
  "ReduceL2",
  "ReduceLogSum",
  "ReduceLogSumExp",
  "ReduceSumSquare",
];

/** Returns the replacement nodes (usually just the node, rewritten in place). */
export function upgradeNode(n: RawNode, ctx: UpgradeContext): RawNode[] {
  const v = ctx.opset;
  switch (n.op) {
    case "Clip":
      if (v < 11) {
        const lo = take(n, "min"), hi = take(n, "max");
        const dt = n.inputs[0] ? ctx.dtypeOf(n.inputs[0]) : undefined;
        n.inputs[1] = lo ? ctx.addConstant(`${n.id}_min`, scalarOf(dt, lo.value as number)) : null;
        n.inputs[2] = hi ? ctx.addConstant(`${n.id}_max`, scalarOf(dt, hi.value as number)) : null;
        trimTail(n);
      }
      break;
    case "Pad":
      if (v < 11) {
        intsToInput(n, ctx, "pads", 1);
        const val = take(n, "value");
        const dt = n.inputs[0] ? ctx.dtypeOf(n.inputs[0]) : undefined;
        if (val && val.value !== 0) {
          n.inputs[2] = ctx.addConstant(`${n.id}_value`, scalarOf(dt, val.value as number));
        }
      }
      break;
    case "Slice":
      if (v < 10) {
        const axes = n.attrs.axes;
        intsToInput(n, ctx, "starts", 1);
        intsToInput(n, ctx, "ends", 2);
        if (axes) intsToInput(n, ctx, "axes", 3);
      }
      break;
    case "Squeeze":
    case "Unsqueeze":
      if (v < 13) intsToInput(n, ctx, "axes", 1);
      break;
    case "Split":
      if (v < 13) intsToInput(n, ctx, "split", 1);
      if (v < 18 && !n.inputs[1]) n.attrs.num_outputs = { type: "int", value: n.outputs.length };
      trimTail(n);
      break;
    case "ReduceSum":
      if (v < 13) intsToInput(n, ctx, "axes", 1);
      break;
    case "TopK":
      if (v < 10) {
        const k = take(n, "k");
        n.inputs[1] = ctx.addConstant(`${n.id}_k`, i64([k ? (k.value as number) : 1]));
      }
      break;
    case "Dropout":
      if (v < 12) {
        const r = take(n, "ratio");
        take(n, "is_test");
        if (r) n.inputs[1] = ctx.addConstant(`${n.id}_ratio`, scalarOf("f32", r.value as number));
      }
      break;
    case "Upsample": {
      const mode = take(n, "mode");
      const scales = take(n, "scales");
      const sc = scales
        ? ctx.addConstant(
          `${n.id}_scales`,
          numbersConstant("f32", [(scales.value as number[]).length], scales.value as number[]),
        )
        : n.inputs[1];
      n.op = "Resize";
      n.inputs = [n.inputs[0], null, sc ?? null];
      const m = mode?.value === "linear" || mode?.value === "bilinear" ? "linear" : "nearest";
      n.attrs.mode = { type: "string", value: m };
      n.attrs.coordinate_transformation_mode = { type: "string", value: "asymmetric" };
      if (m === "nearest") n.attrs.nearest_mode = { type: "string", value: "floor" };
      break;
    }
    case "Resize":
      if (v < 11) {
        // Resize-10 had (X, scales) and behaved as Upsample: asymmetric coordinates, floor for nearest.
        n.inputs = [n.inputs[0], null, n.inputs[1] ?? null];
        n.attrs.coordinate_transformation_mode = { type: "string", value: "asymmetric" };
        if ((n.attrs.mode?.value ?? "nearest") === "nearest") {
          n.attrs.nearest_mode = { type: "string", value: "floor" };
        }
      }
      break;
    case "BatchNormalization":
      if (v < 9) {
        const sp = take(n, "spatial");
        if (sp && sp.value === 0) {
          throw new LatheError(
            "unsupported",
            "BatchNormalization with spatial=0 (per-activation statistics)",
            { ...ctx.where, field: `node ${n.id} (BatchNormalization)` },
          );
        }
      }
      take(n, "consumed_inputs");
      break;
    case "Gemm":
    case "Add":
    case "Sub":
    case "Mul":
    case "Div":
    case "Pow":
      // Before opset 7, `broadcast=1` aligned B with A's trailing dims (numpy's rule) unless `axis` said
      // otherwise; only the axis form differs from today's semantics.
      if (v < 7 && n.attrs.broadcast?.value === 1 && n.attrs.axis !== undefined) {
        throw new LatheError("unsupported", `legacy broadcast with axis (opset ${v})`, {
          ...ctx.where,
          field: `node ${n.id} (${n.op})`,
        });
      }
      take(n, "broadcast");
      take(n, "axis");
      take(n, "consumed_inputs");
      break;
    case "Softmax":
    case "LogSoftmax":
    case "Hardmax":
      if (v < 13) return coerce2d(n, ctx);
      break;
    case "GridSample":
      if (v < 20) {
        const m = n.attrs.mode?.value;
        if (m === "bilinear") n.attrs.mode = { type: "string", value: "linear" };
        if (m === "bicubic") n.attrs.mode = { type: "string", value: "cubic" };
      }
      break;
    case "RoiAlign":
      // Before opset 16 RoiAlign behaved as today's output_half_pixel; the new default is half_pixel.
      if (v < 16 && !n.attrs.coordinate_transformation_mode) {
        n.attrs.coordinate_transformation_mode = { type: "string", value: "output_half_pixel" };
      }
      break;
    case "Scatter":
      // Deprecated at opset 11 in favour of ScatterElements, which computes the same without reduction.
      n.op = "ScatterElements";
      break;
    case "Scan":
      // Scan-8 is batch-major and takes sequence_lens first; the kernel runs that form when the first
      // operand is absent (no per-batch lengths).
      if (v < 9 && n.inputs[0]) {
        throw new LatheError("unsupported", `Scan-8 with sequence_lens`, {
          ...ctx.where,
          field: `node ${n.id} (Scan)`,
        });
      }
      break;
    case "DFT":
      if (v < 20) {
        const ax = take(n, "axis");
        while (n.inputs.length < 2) n.inputs.push(null);
        n.inputs[2] = ctx.addConstant(
          `${n.id}_axis`,
          numbersConstant("i64", [], [ax ? (ax.value as number) : 1]),
        );
      }
      break;
    default:
      if (REDUCE.includes(n.op) && v < 18) intsToInput(n, ctx, "axes", 1);
  }
  return [n];
}

function trimTail(n: RawNode) {
  while (n.inputs.length && n.inputs[n.inputs.length - 1] === null) n.inputs.pop();
}

/**
 * Before opset 13 these ops flattened the input to 2-D at `axis` (default 1) and worked on the second
 * dimension. Flatten, apply on the last axis, and restore the shape.
 */
function coerce2d(n: RawNode, ctx: UpgradeContext): RawNode[] {
  const axis = take(n, "axis");
  const ax = axis ? (axis.value as number) : 1;
  const x = n.inputs[0]!;
  const flat = ctx.fresh(`${n.id}_flat`), shape = ctx.fresh(`${n.id}_shape`), inner = ctx.fresh(`${n.id}_2d`);
  return [
    { id: `${n.id}_shape`, op: "Shape", inputs: [x], outputs: [shape], attrs: {} },
    {
      id: `${n.id}_flatten`,
      op: "Flatten",
      inputs: [x],
      outputs: [flat],
      attrs: { axis: { type: "int", value: ax } },
    },
    { ...n, inputs: [flat], outputs: [inner], attrs: { ...n.attrs, axis: { type: "int", value: 1 } } },
    { id: `${n.id}_restore`, op: "Reshape", inputs: [inner, shape], outputs: n.outputs, attrs: {} },
  ];
}
