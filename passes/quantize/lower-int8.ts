/**
 * QDQ form → integer ops (formats.md §3.4). A layer between DequantizeLinear inputs and a QuantizeLinear
 * output becomes the one integer op that computes it: Conv → QLinearConv (with the int32 bias), MatMul →
 * QLinearMatMul, Gemm → a 1×1 QLinearConv; Add and GlobalAveragePool → onnxruntime's com.microsoft.QLinearAdd
 * and QLinearGlobalAveragePool, the integer ops its own QDQ fusion picks. A Relu or Clip between the layer and
 * the QuantizeLinear goes away when the quantizer's saturation already clips at the same bounds, which
 * makes the result identical. What has no integer op here (ConvTranspose, Concat, ...) stays in QDQ form,
 * which is still valid ONNX; the QDQ graph itself is what `quantize` exports.
 */
import { constantNumbers } from "../../ir/constant-values.ts";
import { numbersConstant } from "../../ir/builder.ts";
import type { Constant } from "../../ir/constant.ts";
import type { Node } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import { fromConstant } from "../../runtime/tensor.ts";
import { P, type ValueRef } from "../pattern.ts";
import { graphPass, registerPass } from "../pass-manager.ts";
import { applyRules, type Rewriter, rule } from "../rewrite.ts";
import { roundHalfEven } from "./affine.ts";

const RANGE: Record<string, [number, number]> = { u8: [0, 255], i8: [-128, 127] };

const dq = (q: string, s: string, z: string) => P.DequantizeLinear(P.var(q), P.const(s), P.const(z));
const dqConst = (q: string, s: string, z: string) => P.DequantizeLinear(P.const(q), P.const(s), P.const(z));
const dqBias = P.DequantizeLinear(P.const("bq"), P.const("bs"));

const scalar = (v: ValueRef) => constantNumbers(v.constant!)[0];

/** The codes QuantizeLinear would give `v` with scale `s` and zero point `z`, saturated. */
function codeOf(v: number, s: number, z: number, type: string): number {
  const [lo, hi] = RANGE[type];
  const q = roundHalfEven(Math.fround(v / s)) + z;
  return q < lo ? lo : q > hi ? hi : q;
}

/** Whether dropping the activation before Q(·; ys, yz) leaves every code unchanged. */
function activationRedundant(
  act: Node | undefined,
  ys: ValueRef,
  yz: ValueRef,
  g: { constants: Record<string, Constant> },
): boolean {
  if (!act) return true;
  const type = String(yz.constant!.dtype);
  if (!RANGE[type]) return false;
  const s = scalar(ys), z = scalar(yz), [qmin, qmax] = RANGE[type];
  if (act.op === "Relu") return codeOf(0, s, z, type) <= qmin;
  if (act.op !== "Clip") return false;
  const lo = act.inputs[1] ? g.constants[act.inputs[1]] : undefined,
    hi = act.inputs[2] ? g.constants[act.inputs[2]] : undefined;
  if ((act.inputs[1] && !lo) || (act.inputs[2] && !hi)) return false;
  const okLo = !lo || codeOf(constantNumbers(lo)[0], s, z, type) <= qmin;
  const okHi = !hi || codeOf(constantNumbers(hi)[0], s, z, type) >= qmax;
  return okLo && okHi;
}

/** Weight and bias layout checks: a per-channel weight scale along axis 0 with zero points all 0. */
function perChannelOk(
  wq: ValueRef,
  ws: ValueRef,
  wz: ValueRef,
  dqNode: Node | undefined,
  axis: number,
): boolean {
  const n = ws.constant!.shape.reduce((p, d) => p * d, 1);
  if (wz.constant!.dtype !== "i8" && wz.constant!.dtype !== "u8") return false;
  if (n === 1) return true;
  const a = dqNode ? resolveAttrs(dqNode).axis ?? 1 : 1;
  return a === axis && wq.constant!.shape[axis] === n;
}

function lowerConv(c: any, rw: Rewriter) {
  const { xq, xs, xz, wq, ws, wz, bq, bs, ys, yz, conv, act, wdq } = c;
  if (!activationRedundant(act, ys, yz, rw.ctx.graph)) return undefined;
  if (!perChannelOk(wq, ws, wz, wdq, 0)) return undefined;
  if (bq && !biasScaleMatches(bs, xs, ws)) return undefined;
  const ins = [xq, xs, xz, wq, ws, wz, ys, yz, ...(bq ? [bq] : [])];
  return rw.op1("QLinearConv", ins, conv.attrs);
}

/** QLinearConv assumes the bias scale is s_x·s_w; anything else cannot be folded in exactly. */
function biasScaleMatches(bs: ValueRef, xs: ValueRef, ws: ValueRef): boolean {
  const b = constantNumbers(bs.constant!), w = constantNumbers(ws.constant!), x = scalar(xs);
  if (b.length !== w.length && b.length !== 1) return false;
  for (let i = 0; i < b.length; i++) if (Math.fround(x * w[w.length === 1 ? 0 : i]) !== b[i]) return false;
  return true;
}

function lowerMatMul(c: any, rw: Rewriter) {
  const { aq, as_, az, wq, ws, wz, ys, yz, act, wdq } = c;
  if (!activationRedundant(act, ys, yz, rw.ctx.graph)) return undefined;
  if (wq.constant.shape.length !== 2 || !perChannelOk(wq, ws, wz, wdq, 1)) return undefined;
  return rw.op1("QLinearMatMul", [aq, as_, az, wq, ws, wz, ys, yz]);
}

/**
 * Gemm as a 1×1 QLinearConv between two Reshapes: the same integer accumulation, the int32 bias, and one
 * requantization multiply, which is what onnxruntime's QGemm computes (a MatMulInteger chain would
 * round twice).
 */
function lowerGemm(c: any, rw: Rewriter) {
  const { aq, as_, az, wq, ws, wz, bq, bs, ys, yz, gemm, act, wdq } = c;
  const a = resolveAttrs(gemm);
  if (a.transA || (a.alpha ?? 1) !== 1 || (a.beta ?? 1) !== 1) return undefined;
  if (!activationRedundant(act, ys, yz, rw.ctx.graph)) return undefined;
  const axis = a.transB ? 0 : 1;
  const shape = wq.constant.shape;
  if (shape.length !== 2 || !perChannelOk(wq, ws, wz, wdq, axis)) return undefined;
  if (bq && !biasScaleMatches(bs, as_, ws)) return undefined;
  const xt = rw.ref(aq.name).type;
  if (xt?.kind !== "tensor" || xt.shape?.length !== 2) return undefined;
  const [N, K] = a.transB ? shape : [shape[1], shape[0]];
  const src = fromConstant(wq.constant).data as Int8Array | Uint8Array;
  const codes = new (src.constructor as Int8ArrayConstructor)(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      codes[n * K + k] = a.transB ? src[n * K + k] : src[k * N + n];
    }
  }
  const w4 = rw.constant(`${wq.name}_1x1`, {
    dtype: wq.constant.dtype,
    shape: [N, K, 1, 1],
    bytes: new Uint8Array(codes.buffer),
  });
  const x4 = rw.op1("Reshape", [
    aq,
    rw.constant(`${gemm.id}_nchw`, numbersConstant("i64", [4], [0, K, 1, 1])),
  ]);
  const y4 = rw.op1("QLinearConv", [x4, as_, az, w4, ws, wz, ys, yz, ...(bq ? [bq] : [])], {
    kernel_shape: [1, 1],
  });
  return rw.op1("Reshape", [y4, rw.constant(`${gemm.id}_nc`, numbersConstant("i64", [2], [0, N]))]);
}

/** onnxruntime's integer Add (com.microsoft.QLinearAdd), for equal shapes or a single-value B. */
function lowerAdd(c: any, rw: Rewriter) {
  const { aq, as_, az, bq, bs, bz, ys, yz } = c;
  const ta = rw.ref(aq.name).type, tb = rw.ref(bq.name).type;
  if (ta?.kind !== "tensor" || tb?.kind !== "tensor" || !ta.shape || !tb.shape) return undefined;
  const sameType = String(ta.dtype) === String(tb.dtype) && String(ta.dtype) === String(yz.constant.dtype);
  const count = (s: readonly (number | string)[]) =>
    s.reduce((p: number, d) => p * (typeof d === "number" ? d : NaN), 1);
  if (!sameType || (JSON.stringify(ta.shape) !== JSON.stringify(tb.shape) && count(tb.shape) !== 1)) {
    return undefined;
  }
  return rw.op1("com.microsoft.QLinearAdd", [aq, as_, az, bq, bs, bz, ys, yz]);
}

function lowerGlobalAveragePool(c: any, rw: Rewriter) {
  const { xq, xs, xz, ys, yz } = c;
  return rw.op1("com.microsoft.QLinearGlobalAveragePool", [xq, xs, xz, ys, yz], { channels_last: 0 });
}

type Act = "none" | "Relu" | "Clip";
function withAct<C>(inner: any, act: Act): any {
  if (act === "none") return inner;
  if (act === "Relu") return P.Relu(inner).as("act").oneUse();
  return P.Clip(inner, P.opt(P.const("lo")), P.opt(P.const("hi"))).as("act").oneUse();
}

const convPattern = P.Conv(
  dq("xq", "xs", "xz"),
  dqConst("wq", "ws", "wz").as("wdq"),
  P.opt(dqBias),
).as("conv").oneUse();
const matmulPattern = P.MatMul(dq("aq", "as_", "az"), dqConst("wq", "ws", "wz").as("wdq")).as("mm").oneUse();
const gemmPattern = P.Gemm(dq("aq", "as_", "az"), dqConst("wq", "ws", "wz").as("wdq"), P.opt(dqBias)).as(
  "gemm",
).oneUse();

const q = (inner: any) => P.QuantizeLinear(inner, P.const("ys"), P.const("yz"));

const addPattern = P.Add(dq("aq", "as_", "az"), dq("bq", "bs", "bz")).oneUse();
const gapPattern = P.GlobalAveragePool(dq("xq", "xs", "xz")).oneUse();

export const lowerInt8Rules = [
  rule("qlinear-add", q(addPattern), lowerAdd),
  rule("qlinear-global-average-pool", q(gapPattern), lowerGlobalAveragePool),
  ...(["none", "Relu", "Clip"] as Act[]).flatMap((act) => [
    rule(
      `qlinear-conv${act === "none" ? "" : `-${act.toLowerCase()}`}`,
      q(withAct(convPattern, act)),
      lowerConv,
    ),
    rule(
      `qlinear-matmul${act === "none" ? "" : `-${act.toLowerCase()}`}`,
      q(withAct(matmulPattern, act)),
      lowerMatMul,
    ),
    rule(
      `qlinear-gemm${act === "none" ? "" : `-${act.toLowerCase()}`}`,
      q(withAct(gemmPattern, act)),
      lowerGemm,
    ),
  ]),
];

export const lowerInt8 = registerPass(graphPass(
  "lower-int8",
  "QDQ layers to integer ops: QLinearConv, QLinearMatMul, Gemm as 1x1 QLinearConv, onnxruntime's QLinearAdd and QLinearGlobalAveragePool",
  (g) => applyRules(g, lowerInt8Rules, { driver: "walk" }).graph,
  { rules: lowerInt8Rules },
));
