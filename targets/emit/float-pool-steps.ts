/**
 * Driver step for float32 GlobalAveragePool (the classifier head a power-of-two CNN keeps on the CPU after
 * its last shift convolution), bit for bit as Lathe's runtime computes it. C++: cpp/kernels/global_pool_f32.h.
 */
import { registerStep, type StepContext } from "./step.ts";

registerStep("GlobalAveragePool", (ctx: StepContext) => {
  const [x] = ctx.node.inputs, [y] = ctx.node.outputs;
  const t = ctx.tensor(x!), o = ctx.tensor(y);
  if (t.dtype !== "f32" || o.dtype !== "f32") ctx.fail("the driver emits GlobalAveragePool on float32");
  if (t.shape.length < 2) ctx.fail(`X must have rank >= 2, is [${t.shape}]`);
  const planes = t.shape[0] * t.shape[1], size = t.shape.slice(2).reduce((p, d) => p * d, 1);
  if (size === 0 && planes > 0) ctx.fail("an empty spatial extent");
  ctx.include("kernels/global_pool_f32.h");
  return [`lathe::global_average_pool_f32(${ctx.ptr(x!)}, ${ctx.ptr(y)}, ${planes}, ${size});`];
});
