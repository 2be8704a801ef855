/**
 * Driver steps for the host preparation nodes a partition leaves before and after accelerator calls
 * (ir/ops/accel.ts): im2col, padding to tile multiples, zero-point row sums, lane interleaving, and the
 * float32 requantization of int32 accumulators (ONNX QLinearConv layers). C++: kernels/host_prep.h,
 * kernels/requantize_f32.h.
 */
import { constantNumbers } from "../../ir/constant-values.ts";
import { im2colAxis, matrixView } from "../../ir/ops/accel.ts";
import { codeRange } from "./element-type.ts";
import { int32 } from "./cpp-literal.ts";
import { registerStep, type StepContext } from "./step.ts";

const HOST_PREP = "kernels/host_prep.h";

function codes(ctx: StepContext, name: string) {
  const t = ctx.tensor(name);
  if (!codeRange(t.storage)) ctx.fail(`${name} holds ${t.storage}, not 8-bit codes`);
  return t;
}

function matrix(ctx: StepContext, name: string, cols: number): { rows: number; cols: number } {
  const v = matrixView(ctx.tensor(name).shape, cols);
  if (typeof v === "string") ctx.fail(v);
  return v;
}

registerStep("lathe.Im2Col", (ctx: StepContext) => {
  const [x] = ctx.node.inputs, [y] = ctx.node.outputs;
  const t = codes(ctx, x!);
  if (t.shape.length !== 4) ctx.fail(`the input must be NHWC, is [${t.shape}]`);
  const [N, H, W, C] = t.shape;
  const a = ctx.attrs;
  const [KH, KW] = a.kernel as number[], [sh, sw] = a.strides as number[], [dh, dw] = a.dilations as number[];
  const [pt, pl, pb, pr] = a.pads as number[];
  const OH = im2colAxis(H, KH, sh, dh, pt, pb), OW = im2colAxis(W, KW, sw, dw, pl, pr);
  if (OH < 1 || OW < 1) ctx.fail(`the window does not fit the input [${t.shape}]`);
  ctx.include(HOST_PREP);
  const p = [N, H, W, C, KH, KW, OH, OW, sh, sw, dh, dw, pt, pl, a.fill].map(int32).join(", ");
  return [
    `static const lathe::Im2ColParams p = {${p}};`,
    `lathe::im2col(${ctx.ptr(x!)}, ${ctx.ptr(y)}, p);`,
  ];
});

registerStep("lathe.PadTo", (ctx: StepContext) => {
  const [x] = ctx.node.inputs, [y] = ctx.node.outputs;
  codes(ctx, x!);
  const { rows, cols } = matrix(ctx, x!, ctx.attrs.cols);
  const rm = ctx.attrs.row_multiple as number, cm = ctx.attrs.col_multiple as number;
  const R = Math.ceil(rows / rm) * rm, Cp = Math.ceil(cols / cm) * cm;
  ctx.include(HOST_PREP);
  return [
    `lathe::pad_to(${ctx.ptr(x!)}, ${ctx.ptr(y)}, ${rows}, ${cols}, ${R}, ${Cp}, ${int32(ctx.attrs.value)});`,
  ];
});

registerStep("lathe.ZeroPointSums", (ctx: StepContext) => {
  const [x] = ctx.node.inputs, [y] = ctx.node.outputs;
  codes(ctx, x!);
  const { rows, cols } = matrix(ctx, x!, ctx.attrs.cols);
  ctx.include(HOST_PREP);
  return [
    `lathe::zero_point_sums(${ctx.ptr(x!)}, ${ctx.ptr(y)}, ${rows}, ${cols}, ${
      int32(ctx.attrs.multiplier)
    });`,
  ];
});

registerStep("lathe.LaneInterleave", (ctx: StepContext) => {
  const [x] = ctx.node.inputs, [y] = ctx.node.outputs;
  codes(ctx, x!);
  const { rows, cols } = matrix(ctx, x!, ctx.attrs.cols);
  if (cols % 4 !== 0) ctx.fail(`rows of ${cols} codes do not fill whole 32-bit words`);
  ctx.include(HOST_PREP);
  return [`lathe::lane_interleave(${ctx.ptr(x!)}, ${ctx.ptr(y)}, ${rows}, ${cols}, ${ctx.attrs.lanes});`];
});

registerStep("lathe.RequantizeF32", (ctx: StepContext) => {
  const [x, s, z] = ctx.node.inputs, [y] = ctx.node.outputs;
  const xt = ctx.tensor(x!), st = ctx.tensor(s!), yt = ctx.tensor(y);
  if (xt.storage !== "i32" || st.storage !== "f32") ctx.fail("it takes i32 accumulators and f32 scales");
  const zc = ctx.constant(z);
  if (!zc) ctx.fail("the zero point is not a constant");
  const zp = constantNumbers(zc);
  if (zp.length !== 1) ctx.fail("the zero point must be one value");
  const range = codeRange(yt.storage);
  if (!range) ctx.fail(`the output is ${yt.storage}, not 8-bit codes`);
  const C = xt.shape.length ? xt.shape[xt.shape.length - 1] : 1;
  if (st.count !== 1 && st.count !== C) ctx.fail(`${st.count} scales for ${C} channels`);
  ctx.include("kernels/requantize_f32.h");
  return [
    `lathe::requantize_f32(${ctx.ptr(x!)}, ${ctx.ptr(s!)}, ${st.count !== 1}, ${
      ctx.ptr(y)
    }, ${xt.count}, ${C}, ` +
    `${int32(zp[0])}, ${range[0]}, ${range[1]});`,
  ];
});
