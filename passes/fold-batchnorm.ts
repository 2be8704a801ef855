/**
 * BatchNormalization folded into the Conv or Gemm before it: y = (conv(x, w) + b - mean) * s + B with
 * s = scale / sqrt(var + eps) is conv(x, w * s) + ((b - mean) * s + B), per output channel.
 */
import type { Constant } from "../ir/constant.ts";
import { resolveAttrs } from "../ir/op-registry.ts";
import { fromConstant } from "../runtime/tensor.ts";
import { P, type ValueRef } from "./pattern.ts";
import { addCanonicalRules } from "./canonicalize.ts";
import { graphPass, registerPass } from "./pass-manager.ts";
import { applyRules, type Rewriter, rule } from "./rewrite.ts";

const f32 = (v: ValueRef | undefined) => (v?.constant && v.constant.dtype === "f32" ? (fromConstant(v.constant).data as Float32Array) : undefined);
const f32Const = (shape: readonly number[], data: Float32Array): Constant => ({ dtype: "f32", shape, bytes: new Uint8Array(data.buffer) });

/** Per-channel multiplier and offset of an inference-mode BatchNormalization with constant parameters. */
function bnAffine(bn: { scale: ValueRef; bias: ValueRef; mean: ValueRef; var: ValueRef }, eps: number): { s: Float32Array; t: Float32Array } | undefined {
  const sc = f32(bn.scale), bb = f32(bn.bias), mu = f32(bn.mean), va = f32(bn.var);
  if (!sc || !bb || !mu || !va) return undefined;
  const n = sc.length;
  if (bb.length !== n || mu.length !== n || va.length !== n) return undefined;
  const s = new Float32Array(n), t = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s[i] = sc[i] / Math.sqrt(va[i] + eps);
    t[i] = bb[i] - mu[i] * s[i];
  }
  return { s, t };
}

const bnOf = <Inner extends import("./pattern.ts").Pattern<any>>(inner: Inner) =>
  P.BatchNormalization(inner, P.const("scale"), P.const("bias"), P.const("mean"), P.const("var")).as("bn");

function foldIntoConv({ x, w, b, conv, bn, ...p }: any, rw: Rewriter) {
  if (bn.outputs.length > 1 && bn.outputs.slice(1).some(Boolean)) return undefined;
  const aff = bnAffine(p, resolveAttrs(bn).epsilon ?? 1e-5);
  const wd = f32(w);
  if (!aff || !wd) return undefined;
  const M = w.constant.shape[0];
  if (aff.s.length !== M) return undefined;
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

function foldIntoGemm({ x, w, c, gemm, bn, ...p }: any, rw: Rewriter) {
  if (bn.outputs.length > 1 && bn.outputs.slice(1).some(Boolean)) return undefined;
  const a = resolveAttrs(gemm);
  if (a.transA) return undefined;
  const aff = bnAffine(p, resolveAttrs(bn).epsilon ?? 1e-5);
  const wd = f32(w);
  if (!aff || !wd || w.constant.shape.length !== 2) return undefined;
  const [r, k] = w.constant.shape;
  const N = a.transB ? r : k;
  if (aff.s.length !== N) return undefined;
  const alpha = a.alpha ?? 1, beta = a.beta ?? 1;
  const w2 = new Float32Array(wd.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < k; j++) w2[i * k + j] = wd[i * k + j] * aff.s[a.transB ? i : j] * alpha;
  const cd = f32(c);
  if (c && (!cd || (cd.length !== N && cd.length !== 1))) return undefined;
  const c2 = new Float32Array(N);
  for (let n = 0; n < N; n++) c2[n] = (cd ? cd[cd.length === 1 ? 0 : n] * beta : 0) * aff.s[n] + aff.t[n];
  const nw = rw.constant(`${w.name}_bn`, f32Const(w.constant.shape, w2));
  const nc = rw.constant(`${gemm.id}_bias_bn`, f32Const([N], c2));
  return rw.op1("Gemm", [x, nw, nc], { transB: a.transB ?? 0 });
}

export const foldBatchNormRules = [
  rule("bn-into-conv", bnOf(P.Conv(P.var("x"), P.const("w"), P.opt(P.const("b"))).as("conv").oneUse()), foldIntoConv),
  rule("bn-into-gemm", bnOf(P.Gemm(P.var("x"), P.const("w"), P.opt(P.const("c"))).as("gemm").oneUse()), foldIntoGemm),
];

addCanonicalRules(foldBatchNormRules);

export const foldBatchNorm = registerPass(graphPass(
  "fold-batchnorm",
  "fold inference BatchNormalization into the Conv or Gemm before it",
  (g) => applyRules(g, foldBatchNormRules, { driver: "walk" }).graph,
  { rules: foldBatchNormRules },
));
