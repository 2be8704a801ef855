/**
 * BatchNormalization folded into the Conv or Gemm before it: y = (conv(x, w) + b - mean) * s + B with
 * s = scale / sqrt(var + eps) is conv(x, w * s) + ((b - mean) * s + B), per output channel. Only the
 * inference form folds: training mode normalizes with the batch's own statistics.
 */
import type { Constant } from "../ir/constant.ts";
import type { Node } from "../ir/graph.ts";
import { resolveAttrs } from "../ir/op-registry.ts";
import { fromConstant } from "../runtime/tensor.ts";
import { P, type Pattern, type ValueRef } from "./pattern.ts";
import { addCanonicalRules } from "./canonicalize.ts";
import { graphPass, registerPass } from "./pass-manager.ts";
import { applyRules, type Rewriter, rule } from "./rewrite.ts";

const f32 = (
  v: ValueRef | undefined,
) => (v?.constant && v.constant.dtype === "f32"
  ? (fromConstant(v.constant).data as Float32Array)
  : undefined);
const f32Const = (shape: readonly number[], data: Float32Array): Constant => ({
  dtype: "f32",
  shape,
  bytes: new Uint8Array(data.buffer),
});

interface BnCaptures {
  bn: Node;
  scale: ValueRef;
  bias: ValueRef;
  mean: ValueRef;
  var: ValueRef;
}

/** Why a BatchNormalization with `channels` outputs per position cannot fold, or true. */
function bnFoldable(c: BnCaptures, channels: number | undefined): true | string {
  if (resolveAttrs(c.bn).training_mode) return "training_mode is set (batch statistics)";
  if (c.bn.outputs.slice(1).some(Boolean)) return "running statistics outputs are requested";
  for (const k of ["scale", "bias", "mean", "var"] as const) {
    const v = c[k].constant!;
    if (v.dtype !== "f32") return `${k} is not f32`;
    if (channels !== undefined && v.shape.reduce((p, d) => p * d, 1) !== channels) {
      return `${k} does not have ${channels} values`;
    }
  }
  return true;
}

/** Per-channel multiplier and offset of an inference-mode BatchNormalization. */
function bnAffine(c: BnCaptures): { s: Float32Array; t: Float32Array } {
  const eps: number = resolveAttrs(c.bn).epsilon ?? 1e-5;
  const sc = f32(c.scale)!, bb = f32(c.bias)!, mu = f32(c.mean)!, va = f32(c.var)!;
  const n = sc.length;
  const s = new Float32Array(n), t = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s[i] = sc[i] / Math.sqrt(va[i] + eps);
    t[i] = bb[i] - mu[i] * s[i];
  }
  return { s, t };
}

const bnOf = <C extends Record<string, unknown>>(inner: Pattern<C>) =>
  P.BatchNormalization(inner, P.const("scale"), P.const("bias"), P.const("mean"), P.const("var")).as("bn");

function convFoldable({ w, b, ...c }: any): true | string {
  if (w.constant.dtype !== "f32") return "the weight is not f32";
  if (b && b.constant.dtype !== "f32") return "the bias is not f32";
  return bnFoldable(c, w.constant.shape[0]);
}

function foldIntoConv({ x, w, b, conv, ...c }: any, rw: Rewriter) {
  const aff = bnAffine(c);
  const wd = f32(w)!;
  const M = w.constant.shape[0];
  const per = wd.length / M;
  const w2 = new Float32Array(wd.length);
  for (let m = 0; m < M; m++) for (let k = 0; k < per; k++) w2[m * per + k] = wd[m * per + k] * aff.s[m];
  const bd = f32(b);
  const b2 = new Float32Array(M);
  for (let m = 0; m < M; m++) b2[m] = (bd ? bd[m] : 0) * aff.s[m] + aff.t[m];
  const nw = rw.constant(`${w.name}_bn`, f32Const(w.constant.shape, w2));
  const nb = rw.constant(`${conv.id}_bias_bn`, f32Const([M], b2));
  return rw.op1(conv.op, [x, nw, nb], conv.attrs);
}

function gemmFoldable({ w, c: bias, gemm, ...c }: any): true | string {
  const a = resolveAttrs(gemm);
  if (a.transA) return "transA is set";
  if (w.constant.dtype !== "f32" || w.constant.shape.length !== 2) {
    return "the weight is not a 2-D f32 constant";
  }
  const N = a.transB ? w.constant.shape[0] : w.constant.shape[1];
  // C broadcasts to [M, N]; only a bias constant along N (or a scalar) folds per channel.
  if (bias) {
    const cs: readonly number[] = bias.constant.shape;
    const perN = cs.length === 0 || (cs.length === 1 && (cs[0] === N || cs[0] === 1)) ||
      (cs.length === 2 && cs[0] === 1 && (cs[1] === N || cs[1] === 1));
    if (bias.constant.dtype !== "f32" || !perN) return `C [${cs}] is not an f32 bias along the ${N} outputs`;
  }
  return bnFoldable(c, N);
}

function foldIntoGemm({ x, w, c: bias, gemm, ...c }: any, rw: Rewriter) {
  const a = resolveAttrs(gemm);
  const aff = bnAffine(c);
  const wd = f32(w)!;
  const [r, k] = w.constant.shape;
  const N = a.transB ? r : k;
  const alpha = a.alpha ?? 1, beta = a.beta ?? 1;
  const w2 = new Float32Array(wd.length);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < k; j++) w2[i * k + j] = wd[i * k + j] * aff.s[a.transB ? i : j] * alpha;
  }
  const cd = f32(bias);
  const c2 = new Float32Array(N);
  for (let n = 0; n < N; n++) c2[n] = (cd ? cd[cd.length === 1 ? 0 : n] * beta : 0) * aff.s[n] + aff.t[n];
  const nw = rw.constant(`${w.name}_bn`, f32Const(w.constant.shape, w2));
  const nc = rw.constant(`${gemm.id}_bias_bn`, f32Const([N], c2));
  return rw.op1("Gemm", [x, nw, nc], { transB: a.transB ?? 0 });
}

export const foldBatchNormRules = [
  rule(
    "bn-into-conv",
    bnOf(P.Conv(P.var("x"), P.const("w"), P.opt(P.const("b"))).as("conv").oneUse()).where(convFoldable),
    foldIntoConv,
  ),
  rule(
    "bn-into-gemm",
    bnOf(P.Gemm(P.var("x"), P.const("w"), P.opt(P.const("c"))).as("gemm").oneUse()).where(gemmFoldable),
    foldIntoGemm,
  ),
];

addCanonicalRules(foldBatchNormRules);

export const foldBatchNorm = registerPass(graphPass(
  "fold-batchnorm",
  "fold inference BatchNormalization into the Conv or Gemm before it",
  (g) => applyRules(g, foldBatchNormRules, { driver: "walk" }).graph,
  { rules: foldBatchNormRules },
));
