/**
 * One form for fully connected layers: a 2-D MatMul with a constant weight followed by an Add of a bias
 * becomes a Gemm (what exporters emit for Linear with a 2-D input), and a Gemm's alpha and beta are folded
 * into its constants so targets see alpha = beta = 1.
 */
import type { Constant } from "../ir/constant.ts";
import { resolveAttrs } from "../ir/op-registry.ts";
import { fromConstant } from "../runtime/tensor.ts";
import { addCanonicalRules } from "./canonicalize.ts";
import { P, tensorTypeOf } from "./pattern.ts";
import { graphPass, registerPass } from "./pass-manager.ts";
import { applyRules, rule } from "./rewrite.ts";

const scaled = (c: Constant, k: number): Constant => {
  const d = fromConstant(c).data as Float32Array;
  const o = new Float32Array(d.length);
  for (let i = 0; i < d.length; i++) o[i] = d[i] * k;
  return { dtype: "f32", shape: c.shape, bytes: new Uint8Array(o.buffer) };
};

export const gemmRules = [
  rule(
    "matmul-add-to-gemm",
    P.Add(P.MatMul(P.var("x").rank(2), P.const("w").rank(2)).oneUse(), P.const("b")).commutative().where(
      ({ x, w, b }) => {
        if (tensorTypeOf(x)?.dtype !== "f32" || w.constant!.dtype !== "f32" || b.constant!.dtype !== "f32") {
          return "not all f32";
        }
        // Gemm's C broadcasts unidirectionally to [M, N]: a bias of [N] or [1, N] (or a scalar) fits.
        const N = w.constant!.shape[1], bs = b.constant!.shape;
        const fits = bs.length === 0 || (bs.length === 1 && bs[0] === N) ||
          (bs.length === 2 && bs[0] === 1 && bs[1] === N);
        return fits || `the bias [${bs}] is not [${N}] or [1, ${N}]`;
      },
    ),
    ({ x, w, b }, rw) => rw.op1("Gemm", [x, w, b]),
  ),
  rule(
    "gemm-fold-alpha-beta",
    P.Gemm(P.var("a"), P.const("b"), P.opt(P.const("c"))).as("g").where(({ b, c, g }) => {
      const at = resolveAttrs(g);
      if ((at.alpha ?? 1) === 1 && ((at.beta ?? 1) === 1 || !c)) return "alpha and beta are already 1";
      return b.constant!.dtype === "f32" && (!c || c.constant!.dtype === "f32")
        ? true
        : "the constants are not f32";
    }),
    ({ a, b, c, g }, rw) => {
      const at = resolveAttrs(g);
      const alpha = at.alpha ?? 1, beta = at.beta ?? 1;
      const nb = alpha === 1 ? b : rw.constant(`${b.name}_alpha`, scaled(b.constant!, alpha));
      const attrs = { transA: at.transA ?? 0, transB: at.transB ?? 0 };
      if (!c) return rw.op1("Gemm", [a, nb], attrs);
      return rw.op1("Gemm", [
        a,
        nb,
        beta === 1 ? c : rw.constant(`${c.name}_beta`, scaled(c.constant!, beta)),
      ], attrs);
    },
  ),
];
addCanonicalRules(gemmRules);

export const gemmCanonical = registerPass(graphPass(
  "gemm-canonical",
  "MatMul + bias Add as Gemm; Gemm alpha and beta folded into its constants",
  (g) => applyRules(g, gemmRules, { driver: "greedy" }).graph,
  { rules: gemmRules },
));
