/**
 * TFLite's fused forms after a conversion: a RELU, RELU6 or RELU_N1_TO_1 after an op with a
 * fused_activation_function slot (and no other user) moves into that slot, a RESHAPE of a RESHAPE reads the
 * first one's input, a TRANSPOSE of a TRANSPOSE is one (or none), and an ADD of a constant vector
 * after a FULLY_CONNECTED without bias becomes its bias. Both keep the provenance of the two nodes.
 */
import { numbersConstant } from "../../ir/builder.ts";
import { constantNumbers } from "../../ir/constant-values.ts";
import type { Node } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import { P, tensorTypeOf } from "../pattern.ts";
import { type Rewriter, rule } from "../rewrite.ts";
import { creditAll } from "./report.ts";

/** Ops whose option table has fused_activation_function. */
export const FUSABLE = [
  "tfl.CONV_2D",
  "tfl.DEPTHWISE_CONV_2D",
  "tfl.TRANSPOSE_CONV",
  "tfl.FULLY_CONNECTED",
  "tfl.ADD",
  "tfl.SUB",
  "tfl.MUL",
  "tfl.DIV",
  "tfl.AVERAGE_POOL_2D",
  "tfl.MAX_POOL_2D",
  "tfl.CONCATENATION",
];
const ACTIVATION: Record<string, string> = {
  "tfl.RELU": "RELU",
  "tfl.RELU6": "RELU6",
  "tfl.RELU_N1_TO_1": "RELU_N1_TO_1",
};

function fuseActivation({ p, act }: { p: Node; act: Node }, rw: Rewriter) {
  if (resolveAttrs(p).fused_activation_function !== "NONE" || p.outputs.length !== 1) return undefined;
  // Integer ADD/MUL clamp through the same field, but only float data is converted here.
  if (tensorTypeOf(rw.ref(p.outputs[0]))?.dtype !== "f32") return undefined;
  const y = rw.op1(p.op, p.inputs.map((i) => i), {
    ...p.attrs,
    fused_activation_function: { type: "string", value: ACTIVATION[act.op] },
  });
  creditAll(rw, [p, act]);
  return y;
}

function fcBias({ fc, c, add }: { fc: Node; c: any; add: Node }, rw: Rewriter) {
  const w = tensorTypeOf(rw.ref(fc.inputs[1]!))?.shape;
  const k = c.constant;
  if (fc.inputs[2] || !w || typeof w[0] !== "number" || k.dtype !== "f32") return undefined;
  const units = w[0];
  if (
    k.shape.reduce((p: number, d: number) => p * d, 1) !== units ||
    k.shape.slice(0, -1).some((d: number) => d !== 1)
  ) return undefined;
  if (resolveAttrs(add).fused_activation_function !== "NONE") return undefined;
  const bias = rw.constant(`${c.name}_bias`, { ...k, shape: [units] });
  const y = rw.op1("tfl.FULLY_CONNECTED", [fc.inputs[0], fc.inputs[1], bias], fc.attrs);
  creditAll(rw, [fc, add]);
  return y;
}

function transposeChain({ x, p1, p2, t }: any, rw: Rewriter) {
  const a = constantNumbers(p1.constant), b = constantNumbers(p2.constant);
  const p = b.map((i) => a[i]);
  if (p.every((v, i) => v === i)) return x;
  const y = rw.op1("tfl.TRANSPOSE", [x, rw.constant(`${t.id}_perm`, numbersConstant("i32", [p.length], p))]);
  return y;
}

export const tflFuseRules = [
  rule(
    "transpose-chain",
    P.op("tfl.TRANSPOSE", [P.op("tfl.TRANSPOSE", [P.var("x"), P.const("p1")]).oneUse(), P.const("p2")]).as(
      "t",
    ),
    transposeChain,
  ),
  rule(
    "reshape-chain",
    P.op("tfl.RESHAPE", [P.op("tfl.RESHAPE", [P.var("x"), P.any()]).oneUse(), P.const("s")]).as("r"),
    ({ x, s, r }, rw) => {
      const c = creditAll;
      const y = rw.op1("tfl.RESHAPE", [x, s]);
      c(rw, [r]);
      return y;
    },
  ),
  rule(
    "fuse-activation",
    P.op(Object.keys(ACTIVATION), [P.op(FUSABLE, []).rest().as("p").oneUse()]).as("act"),
    fuseActivation as any,
  ),
  rule(
    "fc-bias",
    P.op("tfl.ADD", [P.op("tfl.FULLY_CONNECTED", []).rest().as("fc").oneUse(), P.const("c")], {
      commutative: true,
    }).as("add"),
    fcBias as any,
  ),
];
