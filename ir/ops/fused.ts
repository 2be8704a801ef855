/**
 * Fused ops the canonical passes produce. `com.microsoft.FusedConv` is onnxruntime's contrib op (Conv with an
 * activation applied to its output), so fused graphs still export to ONNX that onnxruntime runs.
 */
import { a, defineOp, getOp, ins, opt } from "../op-registry.ts";

export const FUSED_ACTIVATIONS = ["Relu", "Tanh", "Sigmoid", "LeakyRelu", "Clip", "HardSigmoid"] as const;

const conv = getOp("Conv");

defineOp({
  op: "com.microsoft.FusedConv",
  inputs: ins("X", "W", opt("B"), opt("Z")),
  outputs: ins("Y"),
  attrs: {
    ...(conv?.attrs ?? {}),
    activation: a.string("Relu"),
    activation_params: a.floats([]),
  },
  infer: (ctx) => {
    const c = getOp("Conv")!;
    return c.infer!(ctx);
  },
  doc: "Conv followed by an activation (Relu, Tanh, Sigmoid, LeakyRelu [alpha], Clip [min, max], HardSigmoid [alpha, beta])",
});
