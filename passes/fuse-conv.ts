/**
 * Conv + bias + activation fusion: an Add of a per-channel constant after a Conv becomes the Conv's bias,
 * and a following Relu, Clip, LeakyRelu, Sigmoid, Tanh or HardSigmoid becomes onnxruntime's FusedConv.
 */
import { type Constant, constantCount } from "../ir/constant.ts";
import { constantNumbers } from "../ir/constant-values.ts";
import type { Node } from "../ir/graph.ts";
import { resolveAttrs } from "../ir/op-registry.ts";
import { fromConstant } from "../runtime/tensor.ts";
import { addCanonicalRules } from "./canonicalize.ts";
import { type MatchContext, P, tensorTypeOf, type ValueRef } from "./pattern.ts";
import { graphPass, registerPass } from "./pass-manager.ts";
import { applyRules, rule } from "./rewrite.ts";

const f32Const = (shape: readonly number[], data: Float32Array): Constant => ({
  dtype: "f32",
  shape,
  bytes: new Uint8Array(data.buffer),
});

const outRank = (n: Node, ctx: MatchContext) => {
  const t = ctx.graph.values[n.outputs[0]]?.type;
  return t?.kind === "tensor" ? t.shape?.length : undefined;
};

/**
 * The per-channel values of a constant that broadcasts against an [N, M, ...] output without growing it:
 * shaped [M,1,...,1] or [1,M,1,...] (or all ones, a scalar), of rank at most the output's.
 */
function perChannel(c: ValueRef, M: number, rank: number | undefined): Float32Array | string {
  const k = c.constant!;
  if (k.dtype !== "f32") return `%${c.name} is not f32`;
  if (rank === undefined) return "the Conv's output rank is unknown";
  if (k.shape.length > rank) return `%${c.name} has a higher rank than the Conv output`;
  const aligned = [...new Array(rank - k.shape.length).fill(1), ...k.shape];
  const vals = fromConstant(k).data as Float32Array;
  if (aligned.every((d) => d === 1)) return new Float32Array(M).fill(vals[0]);
  if (aligned[1] !== M || aligned.some((d, i) => i !== 1 && d !== 1)) {
    return `%${c.name} [${k.shape}] is not per output channel`;
  }
  return vals;
}

const convBias = rule(
  "conv-add-bias",
  P.Add(P.Conv(P.var("x"), P.const("w"), P.opt(P.const("b"))).as("conv").oneUse(), P.const("c")).commutative()
    .where(({ w, b, c, conv }, ctx) => {
      if (b && b.constant!.dtype !== "f32") return "the Conv bias is not f32";
      const add = perChannel(c, w.constant!.shape[0], outRank(conv, ctx));
      return typeof add === "string" ? add : true;
    }),
  ({ x, w, b, c, conv }, rw) => {
    const M = w.constant!.shape[0];
    const add = perChannel(c, M, outRank(conv, rw.ctx)) as Float32Array;
    const old = b ? (fromConstant(b.constant!).data as Float32Array) : new Float32Array(M);
    const nb = new Float32Array(M);
    for (let m = 0; m < M; m++) nb[m] = old[m] + add[m];
    return rw.op1("Conv", [x, w, rw.constant(`${conv.id}_bias`, f32Const([M], nb))], conv.attrs);
  },
);

/** The activation a node computes, in FusedConv's terms, or why it has none. */
function activationOf(act: Node, ctx: MatchContext): { activation: string; params: number[] } | string {
  const attrs = resolveAttrs(act);
  switch (act.op) {
    case "Relu":
    case "Tanh":
    case "Sigmoid":
      return { activation: act.op, params: [] };
    case "LeakyRelu":
      return { activation: "LeakyRelu", params: [attrs.alpha ?? 0.01] };
    case "HardSigmoid":
      return { activation: "HardSigmoid", params: [attrs.alpha ?? 0.2, attrs.beta ?? 0.5] };
    case "Clip": {
      const bound = (i: number, dflt: number): number | undefined => {
        const v = act.inputs[i];
        if (!v) return dflt;
        const c = ctx.graph.constants[v];
        return c && !ctx.graph.inputs.includes(v) && constantCount(c) === 1
          ? constantNumbers(c)[0]
          : undefined;
      };
      // onnxruntime's FusedConv clamps to [min, max] with float limits when a bound is absent.
      const lo = bound(1, -3.4028234663852886e38), hi = bound(2, 3.4028234663852886e38);
      if (lo === undefined || hi === undefined) return "Clip bounds are not scalar constants";
      return { activation: "Clip", params: [lo, hi] };
    }
  }
  return `${act.op} is not a FusedConv activation`;
}

const convAct = rule(
  "conv-activation",
  P.op(["Relu", "Tanh", "Sigmoid", "LeakyRelu", "HardSigmoid", "Clip"], [
    P.Conv(P.var("x"), P.const("w"), P.opt(P.var("b"))).as("conv").oneUse(),
  ])
    .rest().as("act").where(({ x, act }, ctx) => {
      if (tensorTypeOf(x)?.dtype !== "f32") return "FusedConv takes f32";
      const f = activationOf(act, ctx);
      return typeof f === "string" ? f : true;
    }),
  ({ x, w, b, conv, act }, rw) => {
    const f = activationOf(act, rw.ctx) as { activation: string; params: number[] };
    return rw.op1("com.microsoft.FusedConv", b ? [x, w, b] : [x, w], {
      ...conv.attrs,
      activation: { type: "string", value: f.activation },
      activation_params: { type: "floats", value: f.params },
    });
  },
);

export const fuseConvRules = [convBias, convAct];
addCanonicalRules([convBias]);

export const fuseConv = registerPass(graphPass(
  "fuse-conv",
  "fold a per-channel Add into the Conv bias and fuse the following activation (FusedConv)",
  (g) => applyRules(g, fuseConvRules, { driver: "greedy" }).graph,
  { rules: fuseConvRules },
));
