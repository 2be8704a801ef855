/**
 * Driver steps that only move elements (any element type, quantized codes included): reshapes are copies
 * of the bytes (the shape lives in the value's static type), transposes walk the permuted strides, and
 * constant padding fills with the zero point of a quantized type (or 0, or PADV2's constant). C++:
 * cpp/kernels/transpose.h, pad.h.
 */
import { constantNumbers } from "../../ir/constant-values.ts";
import { registerStep, type StepContext } from "./step.ts";

function copyStep(ctx: StepContext): string[] {
  const [xn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  const x = ctx.tensor(xn!), y = ctx.tensor(yn);
  if (x.count !== y.count || x.storage !== y.storage) {
    ctx.fail(`[${x.shape}] ${x.storage} is not [${y.shape}] ${y.storage}`);
  }
  return [`std::memcpy(${ctx.ptr(yn)}, ${ctx.ptr(xn!)}, ${x.count} * sizeof(${x.ctype}));`];
}

for (
  const op of [
    "tfl.RESHAPE",
    "tfl.SQUEEZE",
    "tfl.EXPAND_DIMS",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Identity",
  ]
) {
  registerStep(op, copyStep);
}

const pad6 = (v: readonly number[]) => `{${[...v, ...new Array(6 - v.length).fill(0)].join(", ")}}`;

/** y = transpose(x, perm) as a TransposeShape literal. */
export function transposeLiteral(
  ctx: StepContext,
  shape: readonly number[],
  perm: readonly number[],
): string {
  const r = shape.length;
  if (r > 6) ctx.fail(`rank ${r} transpose (the driver takes up to 6)`);
  if (perm.length !== r || new Set(perm).size !== r || perm.some((p) => !(p >= 0 && p < r))) {
    ctx.fail(`perm [${perm}] is not a permutation of ${r} axes`);
  }
  const inStride = new Array<number>(r);
  let acc = 1;
  for (let d = r - 1; d >= 0; d--) {
    inStride[d] = acc;
    acc *= shape[d];
  }
  if (r === 0) return `{1, ${pad6([1])}, ${pad6([1])}}`;
  return `{${r}, ${pad6(perm.map((p) => shape[p]))}, ${pad6(perm.map((p) => inStride[p]))}}`;
}

function transposeStep(ctx: StepContext, perm: readonly number[]): string[] {
  const [xn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  const x = ctx.tensor(xn!);
  const p = perm.map((v) => (v < 0 ? v + x.shape.length : v));
  ctx.include("kernels/transpose.h");
  return [
    `static const lathe::TransposeShape ts = ${transposeLiteral(ctx, x.shape, p)};`,
    `lathe::transpose_nd(${ctx.ptr(xn!)}, ${ctx.ptr(yn)}, ts);`,
  ];
}

registerStep("Transpose", (ctx: StepContext) => {
  const r = ctx.tensor(ctx.node.inputs[0]!).shape.length;
  const perm = (ctx.attrs.perm as number[] | undefined)?.length
    ? ctx.attrs.perm as number[]
    : Array.from({ length: r }, (_, i) => r - 1 - i);
  return transposeStep(ctx, perm);
});

registerStep("tfl.TRANSPOSE", (ctx: StepContext) => {
  const c = ctx.constant(ctx.node.inputs[1]);
  if (!c) ctx.fail("perm is not a constant");
  return transposeStep(ctx, constantNumbers(c));
});

function padStep(ctx: StepContext, fill: number): string[] {
  const [xn, pn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  const x = ctx.tensor(xn!), y = ctx.tensor(yn);
  const pc = ctx.constant(pn);
  if (!pc) ctx.fail("the paddings are not a constant");
  const v = constantNumbers(pc);
  const r = x.shape.length;
  if (v.length !== 2 * r || v.some((p) => p < 0)) ctx.fail(`paddings [${v}] do not fit rank ${r}`);
  if (r > 6) ctx.fail(`rank ${r} padding (the driver takes up to 6)`);
  const before = Array.from({ length: r }, (_, i) => v[2 * i]);
  const out = x.shape.map((d, i) => d + v[2 * i] + v[2 * i + 1]);
  if (out.some((d, i) => d !== y.shape[i])) ctx.fail(`padding [${x.shape}] by [${v}] is not [${y.shape}]`);
  const sh = r ? x.shape : [1];
  ctx.include("kernels/pad.h");
  return [
    `static const lathe::PadShape ps = {${sh.length}, ${pad6(sh)}, ${pad6(r ? before : [0])}, ${
      pad6(r ? out : [1])
    }};`,
    `lathe::pad_nd(${ctx.ptr(xn!)}, ${ctx.ptr(yn)}, ps, static_cast<${x.ctype}>(${fill}));`,
  ];
}

function zeroOf(ctx: StepContext, name: string): number {
  const d = ctx.tensor(name).dtype;
  return typeof d !== "string" && d.kind === "affine" ? d.zeroPoint[0] : 0;
}

registerStep("tfl.PAD", (ctx: StepContext) => padStep(ctx, zeroOf(ctx, ctx.node.inputs[0]!)));

registerStep("tfl.PADV2", (ctx: StepContext) => {
  const cn = ctx.node.inputs[2];
  if (!cn) return padStep(ctx, zeroOf(ctx, ctx.node.inputs[0]!));
  const c = ctx.constant(cn);
  if (!c) ctx.fail("constant_values is not a constant");
  const v = constantNumbers(c);
  if (v.length !== 1 || !Number.isInteger(v[0])) ctx.fail("constant_values must be one integer code");
  return padStep(ctx, v[0]);
});
