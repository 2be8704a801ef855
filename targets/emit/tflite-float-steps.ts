/**
 * Float32 tfl.ADD, tfl.SUB and tfl.MUL with their fused clamp activations (runtime/kernels/tflite-float.ts
 * `binary`), for the float islands a converted model keeps between DEQUANTIZE and QUANTIZE (a folded
 * BatchNormalization's scale and shift after a quantized layer). Each result is the float32 operation
 * correctly rounded, as the runtime's double arithmetic stored into a Float32Array is; then the clamp.
 * C++: kernels/tfl_float_arith.h (built with -ffp-contract=off, so nothing is fused).
 */
import { hexFloat } from "./cpp-literal.ts";
import type { StepContext } from "./step.ts";
import { broadcastLiteral } from "./tflite-steps.ts";

const CLAMPS: Readonly<Record<string, readonly [number, number]>> = {
  NONE: [-Infinity, Infinity],
  RELU: [0, Infinity],
  RELU6: [0, 6],
  RELU_N1_TO_1: [-1, 1],
};

/** Whether the node's operands are float32 (the float kernels take it, not the integer ones). */
export function floatOperands(ctx: StepContext): boolean {
  const [a] = ctx.node.inputs;
  return !!a && ctx.tensor(a).dtype === "f32";
}

export function floatBinary(ctx: StepContext, op: "add" | "sub" | "mul"): string[] {
  const [an, bn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  if (!an || !bn) ctx.fail("an operand is missing");
  const a = ctx.tensor(an), b = ctx.tensor(bn), y = ctx.tensor(yn);
  if (a.dtype !== "f32" || b.dtype !== "f32" || y.dtype !== "f32") ctx.fail("operands must all be float32");
  const act = String(ctx.attrs.fused_activation_function ?? "NONE");
  const clamp = CLAMPS[act];
  if (!clamp) ctx.fail(`fused activation ${act} on float32 (the driver clamps only)`);
  ctx.include("kernels/tfl_float_arith.h");
  return [
    `static const lathe::Broadcast bc = ${broadcastLiteral(ctx, a.shape, b.shape, y.shape)};`,
    `lathe::tfl_float_binary<lathe::FloatOp::k${op[0].toUpperCase()}${op.slice(1)}>(${ctx.ptr(an)}, ${
      ctx.ptr(bn)
    }, ${ctx.ptr(yn)}, bc, ${hexFloat(clamp[0])}, ${hexFloat(clamp[1])});`,
  ];
}
