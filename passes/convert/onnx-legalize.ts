/**
 * ONNX-to-ONNX rewrites that bring a graph to the ops the TFLite mapping knows: 1-D convolutions and pools
 * as 2-D ones over a unit height, HardSigmoid as Mul/Add/Clip, a BatchNormalization that nothing folded as
 * a per-channel Mul and Add, global pools as reductions, LayerNormalization as its reduction formula, the
 * erf form of GELU as Gelu, Sum and Mean as chains of Adds, InstanceNormalization as its formula, and the
 * activations without a TFLite builtin (ELU with alpha ≠ 1, SELU, CELU, Softsign, Mish, ThresholdedRelu) as
 * theirs. What they emit is still ONNX, so layout propagation
 * moves transposes through it before the ops map one to one.
 */
import type { Constant } from "../../ir/constant.ts";
import { constantNumbers } from "../../ir/constant-values.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import { fromConstant } from "../../runtime/tensor.ts";
import { P, tensorTypeOf, type ValueRef } from "../pattern.ts";
import { type Rewriter, rule } from "../rewrite.ts";
import { f32Operand, intOperand } from "./operand-constants.ts";

const rankOf = (v: ValueRef) => tensorTypeOf(v)?.shape?.length;
const f32Data = (c: Constant) => fromConstant(c).data as Float32Array;
const reshaped = (c: Constant, shape: readonly number[]): Constant => ({ ...c, shape });

/** Inserts a unit height: [N, C, L] → [N, C, 1, L], and the window attributes likewise. */
function as2d(attrs: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    if (k === "kernel_shape" || k === "strides" || k === "dilations") out[k] = v.length ? [1, ...v] : v;
    else if (k === "pads" || k === "output_padding") {
      out[k] = v.length === 2 ? [0, v[0], 0, v[1]] : v.length ? [0, ...v] : v;
    } else if (
      k === "auto_pad" || k === "group" || k === "ceil_mode" || k === "count_include_pad" ||
      k === "storage_order"
    ) out[k] = v;
  }
  return out;
}

function conv1d({ x, w, b, n }: any, rw: Rewriter) {
  const at = resolveAttrs(n);
  const wc = w.constant as Constant;
  const x4 = rw.op1("Unsqueeze", [x, intOperand(rw, "axes", "i64", [2])]);
  const w4 = rw.constant(`${w.name}_2d`, reshaped(wc, [wc.shape[0], wc.shape[1], 1, wc.shape[2]]));
  const y = rw.op1(n.op, [x4, w4, b ?? null], as2d(at));
  return rw.op1("Squeeze", [y, intOperand(rw, "axes", "i64", [2])]);
}

function pool1d({ x, n }: any, rw: Rewriter) {
  if (n.outputs[1]) return undefined;
  const x4 = rw.op1("Unsqueeze", [x, intOperand(rw, "axes", "i64", [2])]);
  const y = rw.op1(n.op, [x4], as2d(resolveAttrs(n)));
  return rw.op1("Squeeze", [y, intOperand(rw, "axes", "i64", [2])]);
}

function hardSigmoid({ x, n }: any, rw: Rewriter) {
  const at = resolveAttrs(n);
  const scaled = rw.op1("Mul", [x, f32Operand(rw, "alpha", [], [at.alpha ?? 0.2])]);
  const shifted = rw.op1("Add", [scaled, f32Operand(rw, "beta", [], [at.beta ?? 0.5])]);
  return rw.op1("Clip", [shifted, f32Operand(rw, "zero", [], [0]), f32Operand(rw, "one", [], [1])]);
}

/** y = x * s + t per channel (axis 1), s = scale / sqrt(var + eps), t = B - mean * s. */
function batchNorm({ x, scale, bias, mean, variance, bn }: any, rw: Rewriter) {
  if (bn.outputs.slice(1).some(Boolean) || resolveAttrs(bn).training_mode) return undefined;
  const rank = rankOf(x);
  const cs = [scale, bias, mean, variance].map((v: ValueRef) => v.constant!);
  if (rank === undefined || rank < 2 || cs.some((c) => c.dtype !== "f32")) return undefined;
  const [sc, bb, mu, va] = cs.map(f32Data);
  const eps = resolveAttrs(bn).epsilon ?? 1e-5;
  const C = sc.length;
  const s = new Float32Array(C), t = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    s[c] = sc[c] / Math.sqrt(va[c] + eps);
    t[c] = bb[c] - mu[c] * s[c];
  }
  const shape = [C, ...new Array(rank - 2).fill(1)];
  const y = rw.op1("Mul", [x, f32Operand(rw, `${bn.id}_scale`, shape, s)]);
  return rw.op1("Add", [y, f32Operand(rw, `${bn.id}_shift`, shape, t)]);
}

function globalPool({ x, n }: any, rw: Rewriter) {
  const rank = rankOf(x);
  if (rank === undefined || rank < 3) return undefined;
  const axes = Array.from({ length: rank - 2 }, (_, i) => i + 2);
  return rw.op1(n.op === "GlobalAveragePool" ? "ReduceMean" : "ReduceMax", [
    x,
    intOperand(rw, "axes", "i64", axes),
  ], { keepdims: 1 });
}

function layerNorm({ x, scale, bias, n }: any, rw: Rewriter) {
  if (n.outputs.slice(1).some(Boolean)) return undefined;
  const rank = rankOf(x);
  const at = resolveAttrs(n);
  if (rank === undefined || tensorTypeOf(x)?.dtype !== "f32") return undefined;
  const axis = at.axis < 0 ? at.axis + rank : at.axis;
  const axes = intOperand(rw, "axes", "i64", Array.from({ length: rank - axis }, (_, i) => axis + i));
  const mean = rw.op1("ReduceMean", [x, axes], { keepdims: 1 });
  const d = rw.op1("Sub", [x, mean]);
  const v = rw.op1("ReduceMean", [rw.op1("Mul", [d, d]), axes], { keepdims: 1 });
  const std = rw.op1("Sqrt", [rw.op1("Add", [v, f32Operand(rw, "eps", [], [at.epsilon ?? 1e-5])])]);
  const y = rw.op1("Mul", [rw.op1("Div", [d, std]), scale]);
  return bias ? rw.op1("Add", [y, bias]) : y;
}

const near = (c: ValueRef, v: number) => {
  const k = c.constant!;
  if (k.dtype !== "f32" || k.shape.some((d) => d !== 1)) return false;
  return Math.abs(constantNumbers(k)[0] - v) <= 1e-6 * Math.abs(v);
};

/** x * 0.5 * (1 + erf(x / sqrt 2)), as torch exports nn.GELU. */
function erfGelu({ x, x2, s, one, half }: any, rw: Rewriter) {
  if (x.name !== x2.name || !near(s, Math.SQRT2) || !near(one, 1) || !near(half, 0.5)) return undefined;
  return rw.op1("Gelu", [x], { approximate: "none" });
}

function sumChain({ n }: any, rw: Rewriter) {
  const xs = n.inputs.filter(Boolean) as string[];
  if (xs.length < 2 && n.op === "Sum") return xs.length === 1 ? xs[0] : undefined;
  let acc: ValueRef | string = xs[0];
  for (const v of xs.slice(1)) acc = rw.op1("Add", [acc, v]);
  return n.op === "Mean" ? rw.op1("Mul", [acc, f32Operand(rw, "inv_n", [], [1 / xs.length])]) : acc;
}

const scalar = (rw: Rewriter, hint: string, v: number) => f32Operand(rw, hint, [], [v]);

/** alpha·(exp(x) − 1) for x ≤ 0, x above: TFLite's ELU has alpha 1 only. */
function eluFormula(rw: Rewriter, x: ValueRef, alpha: number): ValueRef {
  const neg = rw.op1("Mul", [
    rw.op1("Sub", [rw.op1("Exp", [x]), scalar(rw, "one", 1)]),
    scalar(rw, "alpha", alpha),
  ]);
  return rw.op1("Where", [rw.op1("Greater", [x, scalar(rw, "zero", 0)]), x, neg]);
}

/** Activations with no TFLite builtin, as their formulas. */
function activationFormula({ x, n }: any, rw: Rewriter) {
  if (tensorTypeOf(x)?.dtype !== "f32") return undefined;
  const at = resolveAttrs(n);
  switch (n.op) {
    case "Elu":
      return (at.alpha ?? 1) === 1 ? undefined : eluFormula(rw, x, at.alpha);
    case "Selu":
      return rw.op1("Mul", [
        eluFormula(rw, x, at.alpha ?? 1.67326319217681884765625),
        scalar(rw, "gamma", at.gamma ?? 1.05070102214813232421875),
      ]);
    case "Celu": {
      const a = at.alpha ?? 1;
      if (a === 1) return rw.op1("Elu", [x]);
      return rw.op1("Mul", [
        eluFormula(rw, rw.op1("Div", [x, scalar(rw, "alpha", a)]), 1),
        scalar(rw, "alpha", a),
      ]);
    }
    case "Softsign":
      return rw.op1("Div", [x, rw.op1("Add", [rw.op1("Abs", [x]), scalar(rw, "one", 1)])]);
    case "Mish": {
      const softplus = rw.op1("Log", [rw.op1("Add", [rw.op1("Exp", [x]), scalar(rw, "one", 1)])]);
      return rw.op1("Mul", [x, rw.op1("Tanh", [softplus])]);
    }
    case "ThresholdedRelu":
      return rw.op1("Where", [
        rw.op1("Greater", [x, scalar(rw, "alpha", at.alpha ?? 1)]),
        x,
        scalar(rw, "zero", 0),
      ]);
  }
  return undefined;
}

/** (x − mean) / sqrt(var + eps) · scale + B over each channel's spatial extent. */
function instanceNorm({ x, scale, bias, n }: any, rw: Rewriter) {
  const rank = rankOf(x);
  if (rank === undefined || rank < 3 || !scale.constant || !bias.constant) return undefined;
  const axes = intOperand(rw, "axes", "i64", Array.from({ length: rank - 2 }, (_, i) => i + 2));
  const mean = rw.op1("ReduceMean", [x, axes], { keepdims: 1 });
  const d = rw.op1("Sub", [x, mean]);
  const v = rw.op1("ReduceMean", [rw.op1("Mul", [d, d]), axes], { keepdims: 1 });
  const std = rw.op1("Sqrt", [rw.op1("Add", [v, scalar(rw, "eps", resolveAttrs(n).epsilon ?? 1e-5)])]);
  const C = scale.constant.shape[0];
  const shape = [C, ...new Array(rank - 2).fill(1)];
  const y = rw.op1("Mul", [
    rw.op1("Div", [d, std]),
    rw.constant(`${scale.name}_c11`, reshaped(scale.constant, shape)),
  ]);
  return rw.op1("Add", [y, rw.constant(`${bias.name}_c11`, reshaped(bias.constant, shape))]);
}

const erfPart = P.Add(P.Erf(P.Div(P.var("x2"), P.const("s"))), P.const("one")).commutative();

export const legalizeRules = [
  rule("conv1d-as-2d", P.Conv(P.var("x").rank(3), P.const("w"), P.opt(P.var("b"))).as("n"), conv1d),
  rule("pool1d-as-2d", P.op(["MaxPool", "AveragePool"], [P.var("x").rank(3)]).as("n"), pool1d),
  rule("hard-sigmoid", P.HardSigmoid(P.var("x")).as("n"), hardSigmoid),
  rule(
    "batchnorm-affine",
    P.BatchNormalization(P.var("x"), P.const("scale"), P.const("bias"), P.const("mean"), P.const("variance"))
      .as("bn"),
    batchNorm,
  ),
  rule(
    "global-pool-as-reduce",
    P.op(["GlobalAveragePool", "GlobalMaxPool"], [P.var("x")]).as("n"),
    globalPool,
  ),
  rule(
    "layernorm-formula",
    P.LayerNormalization(P.var("x"), P.var("scale"), P.opt(P.var("bias"))).as("n"),
    layerNorm,
  ),
  rule("erf-gelu", P.Mul(P.Mul(P.var("x"), erfPart).commutative(), P.const("half")).commutative(), erfGelu),
  rule(
    "erf-gelu-half-first",
    P.Mul(P.var("x"), P.Mul(erfPart, P.const("half")).commutative()).commutative(),
    erfGelu,
  ),
  rule(
    "gather-index-cast",
    P.Gather(P.var("data"), P.Cast(P.var("idx").dtype("i32")).oneUse()).as("n"),
    ({ data, idx, n }, rw) => rw.op1("Gather", [data, idx], n.attrs),
  ),
  rule("sum-as-adds", P.op(["Sum", "Mean"], []).rest().as("n"), sumChain),
  rule(
    "activation-formula",
    P.op(["Elu", "Selu", "Celu", "Softsign", "Mish", "ThresholdedRelu"], [P.var("x")]).as("n"),
    activationFormula,
  ),
  rule(
    "instancenorm-formula",
    P.InstanceNormalization(P.var("x"), P.var("scale"), P.var("bias")).as("n"),
    instanceNorm,
  ),
];
