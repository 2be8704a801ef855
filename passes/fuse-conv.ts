/**
 * Conv + bias + activation fusion: an Add of a per-channel constant after a Conv becomes the Conv's bias,
 * and a following Relu, Clip, LeakyRelu, Sigmoid, Tanh or HardSigmoid becomes onnxruntime's FusedConv.
 */
import type { Constant } from "../ir/constant.ts";
import { constantNumbers } from "../ir/constant-values.ts";
import { resolveAttrs } from "../ir/op-registry.ts";
import { fromConstant } from "../runtime/tensor.ts";
import { addCanonicalRules } from "./canonicalize.ts";
import { P, tensorTypeOf, type ValueRef } from "./pattern.ts";
import { graphPass, registerPass } from "./pass-manager.ts";
import { applyRules, rule } from "./rewrite.ts";

const f32Const = (shape: readonly number[], data: Float32Array): Constant => ({ dtype: "f32", shape, bytes: new Uint8Array(data.buffer) });

/** The per-channel values of a constant shaped [M,1,...,1] or [1,M,1,...] against an NC... output, or a scalar. */
function perChannel(c: ValueRef, M: number, outRank: number): Float32Array | undefined {
  const k = c.constant;
  if (!k || k.dtype !== "f32") return undefined;
  const shape = k.shape;
  const vals = fromConstant(k).data as Float32Array;
  if (vals.length === 1) return new Float32Array(M).fill(vals[0]);
  if (vals.length !== M) return undefined;
  // Align to the output's rank: the M must sit on axis 1, every other dim 1.
  const aligned = [...new Array(Math.max(0, outRank - shape.length)).fill(1), ...shape];
  if (aligned.length !== outRank || aligned[1] !== M || aligned.some((d, i) => i !== 1 && d !== 1)) return undefined;
  return vals;
}

const convBias = rule(
  "conv-add-bias",
  P.Add(P.Conv(P.var("x"), P.const("w"), P.opt(P.const("b"))).as("conv").oneUse(), P.const("c")).commutative(),
  ({ x, w, b, c, conv }, rw) => {
    const M = w.constant!.shape[0];
    const rank = tensorTypeOf(rw.ref(conv.outputs[0]))?.shape?.length ?? 0;
    const add = perChannel(c, M, rank);
    if (!add || (b && b.constant?.dtype !== "f32")) return undefined;
    const old = b ? (fromConstant(b.constant!).data as Float32Array) : new Float32Array(M);
    const nb = new Float32Array(M);
    for (let m = 0; m < M; m++) nb[m] = old[m] + add[m];
    return rw.op1("Conv", [x, w, rw.constant(`${conv.id}_bias`, f32Const([M], nb))], conv.attrs);
  },
);

/** The activation a node computes, in FusedConv's terms, or undefined. */
function activationOf(act: { op: string; inputs: readonly (string | null)[] }, attrs: Record<string, any>, constant: (v: string) => Constant | undefined): { activation: string; params: number[] } | undefined {
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
      const lo = act.inputs[1] ? constant(act.inputs[1]) : undefined, hi = act.inputs[2] ? constant(act.inputs[2]) : undefined;
      if ((act.inputs[1] && !lo) || (act.inputs[2] && !hi)) return undefined;
      return { activation: "Clip", params: [lo ? constantNumbers(lo)[0] : -3.4028234663852886e38, hi ? constantNumbers(hi)[0] : 3.4028234663852886e38] };
    }
  }
  return undefined;
}

const convAct = rule(
  "conv-activation",
  P.op(["Relu", "Tanh", "Sigmoid", "LeakyRelu", "HardSigmoid", "Clip"], [P.Conv(P.var("x"), P.const("w"), P.opt(P.var("b"))).as("conv").oneUse()]).rest().as("act"),
  ({ x, w, b, conv, act }, rw) => {
    const f = activationOf(act, resolveAttrs(act), (v) => rw.ctx.graph.constants[v]);
    if (!f || tensorTypeOf(x)?.dtype !== "f32") return undefined;
    return rw.op1("com.microsoft.FusedConv", b ? [x, w, b] : [x, w], { ...conv.attrs, activation: { type: "string", value: f.activation }, activation_params: { type: "floats", value: f.params } });
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
