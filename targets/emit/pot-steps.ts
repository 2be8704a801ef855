/**
 * Driver steps for the power-of-two graph's CPU side (ir/ops/accel.ts, ir/ops/quant-compute.ts): the host
 * preparation around PoTAcc calls — uint8 codes re-centred to int8 (lathe.RecenterU8) and int32
 * accumulators to float32 (lathe.DequantizeAcc) — and the PoT convolutions the accelerator does not take
 * (depthwise lathe.ShiftConv), bit for bit as Lathe's runtime computes them. The weight codes, the scales
 * (rounded to float32 as the runtime rounds them) and the weight sums are prepared here.
 * C++: cpp/kernels/pot_host.h, shift_conv.h.
 */
import { constantNumbers } from "../../ir/constant-values.ts";
import { convGeometry } from "../../ir/ops/quantize.ts";
import { shiftProduct } from "../../runtime/kernels/quant-compute.ts";
import { fromConstant } from "../../runtime/tensor.ts";
import { codeRange } from "./element-type.ts";
import { hexFloat, int32 } from "./cpp-literal.ts";
import { registerStep, type StepContext } from "./step.ts";

registerStep("lathe.RecenterU8", (ctx: StepContext) => {
  const [x] = ctx.node.inputs, [y] = ctx.node.outputs;
  const t = ctx.tensor(x!), o = ctx.tensor(y);
  if (t.storage !== "u8" || o.storage !== "i8") {
    ctx.fail(`${t.storage} to ${o.storage}; it re-centres u8 to i8`);
  }
  ctx.include("kernels/pot_host.h");
  return [`lathe::recenter_u8(${ctx.ptr(x!)}, ${ctx.ptr(y)}, ${t.count});`];
});

registerStep("lathe.DequantizeAcc", (ctx: StepContext) => {
  const [x, s, b] = ctx.node.inputs, [y] = ctx.node.outputs;
  const xt = ctx.tensor(x!), st = ctx.tensor(s!);
  if (xt.storage !== "i32" || st.storage !== "f32") {
    ctx.fail("it takes int32 accumulators and float32 scales");
  }
  const C = xt.shape.length ? xt.shape[xt.shape.length - 1] : 1;
  if (st.count !== 1 && st.count !== C) ctx.fail(`${st.count} scales for ${C} channels`);
  if (b) {
    const bt = ctx.tensor(b);
    if (bt.storage !== "f32" || bt.count !== C) ctx.fail(`the bias must be ${C} float32 values`);
  }
  ctx.include("kernels/pot_host.h");
  const rows = C === 0 ? 0 : xt.count / C;
  return [
    `lathe::dequantize_acc(${ctx.ptr(x!)}, ${ctx.ptr(s!)}, ${st.count !== 1}, ${
      b ? ctx.ptr(b) : "nullptr"
    }, ` +
    `${ctx.ptr(y)}, ${rows}, ${C});`,
  ];
});

registerStep("lathe.ShiftConv", (ctx: StepContext) => {
  const [xn, xsn, xzn, wn, bn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  const xt = ctx.tensor(xn!);
  if (!codeRange(xt.storage)) ctx.fail(`X holds ${xt.storage}, not 8-bit codes`);
  const wc = ctx.constant(wn);
  if (!wc) ctx.fail("W is not a constant");
  const wt = fromConstant(wc);
  if (typeof wt.dtype === "string" || wt.dtype.kind !== "pot") ctx.fail("W does not hold power-of-two codes");
  const q = wt.dtype;
  const scalarConst = (name: string | null | undefined, what: string) => {
    const c = ctx.constant(name);
    if (!c) ctx.fail(`${what} is not a constant`);
    const v = constantNumbers(c);
    if (v.length !== 1) ctx.fail(`${what} must be a single value`);
    return v[0];
  };
  const sx = scalarConst(xsn, "x_scale"), zx = scalarConst(xzn, "x_zero_point");
  if (xt.shape.length !== 4 || wt.shape.length !== 4) {
    ctx.fail("X must be [N, C, H, W] and W [M, C/group, kH, kW]");
  }
  const [N, C, H, W] = xt.shape, [M, Cg, KH, KW] = wt.shape;
  const group = ctx.attrs.group as number;
  if (!(group > 0) || C !== Cg * group || M % group) {
    ctx.fail(`${C} channels, ${M} filters of ${Cg}, group ${group}`);
  }
  const g = convGeometry([H, W], [KH, KW], ctx.attrs);
  const [OH, OW] = g.outSize, [sh, sw] = g.strides, [dh, dw] = g.dilations;
  const PH = Math.max(H + g.padBegin[0], (OH - 1) * sh + (KH - 1) * dh + 1),
    PW = Math.max(W + g.padBegin[1], (OW - 1) * sw + (KW - 1) * dw + 1);
  const terms = ctx.attrs.terms as number[];
  if (terms.length !== 16 || terms.some((t) => !Number.isInteger(t) || t < -1 || t > 15)) {
    ctx.fail("terms must be 16 shifts in [-1, 15]");
  }
  const s1: number[] = [], s2: number[] = [], m1: number[] = [], m2: number[] = [], sign: number[] = [];
  const mult: number[] = [];
  for (let c = 0; c < 16; c++) {
    const m = c & 7, t1 = terms[2 * m], t2 = terms[2 * m + 1];
    s1.push(Math.max(t1, 0)), s2.push(Math.max(t2, 0));
    m1.push(t1 >= 0 ? -1 : 0), m2.push(t2 >= 0 ? -1 : 0);
    sign.push(c & 8 ? -1 : 1);
    mult.push(shiftProduct(1, c, terms));
  }
  if (q.scale.length !== 1 && q.scale.length !== M) {
    ctx.fail(`${q.scale.length} weight scales for ${M} filters`);
  }
  const codes = wt.data as Uint8Array;
  const per = Cg * KH * KW;
  const scales: string[] = [], sums: string[] = [];
  for (let m = 0; m < M; m++) {
    scales.push(hexFloat(Math.fround(sx * q.scale[q.scale.length === 1 ? 0 : m])));
    let s = 0;
    for (let i = m * per; i < (m + 1) * per; i++) s += mult[codes[i]];
    sums.push(`${s}`);
  }
  if (bn) {
    const bt = ctx.tensor(bn);
    if (bt.storage !== "f32" || bt.count !== M) ctx.fail(`the bias must be ${M} float32 values`);
  }
  const yt = ctx.tensor(yn);
  if (yt.storage !== "f32" || yt.count !== N * M * OH * OW) ctx.fail("Y must be float32 [N, M, OH, OW]");
  const codeTable = ctx.table("uint8_t", [...codes].map(String), "codes");
  const scaleTable = ctx.table("float", scales, "scale");
  const sumTable = ctx.table("int64_t", sums, "wsum");
  const list = (v: number[]) => `{${v.join(", ")}}`;
  const p = [
    N,
    C,
    H,
    W,
    M,
    Cg,
    KH,
    KW,
    OH,
    OW,
    sh,
    sw,
    dh,
    dw,
    g.padBegin[0],
    g.padBegin[1],
    PH,
    PW,
    group,
    zx,
  ]
    .map(int32);
  ctx.include("kernels/shift_conv.h");
  return [
    `static const lathe::ShiftConvParams p = {${p.join(", ")}};`,
    `static const lathe::ShiftTerms d = {${list(s1)}, ${list(s2)}, ${list(m1)}, ${list(m2)}, ${list(sign)}};`,
    `lathe::shift_conv(${ctx.ptr(xn!)}, ${codeTable}, d, ${scaleTable}, ${sumTable}, ${
      bn ? ctx.ptr(bn) : "nullptr"
    }, ` +
    `${ctx.ptr(yn)}, p);`,
  ];
});
