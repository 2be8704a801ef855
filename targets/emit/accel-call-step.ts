/**
 * The driver step of a `lathe.AccelCall`, dispatched on the call's kernel (`gemm`, `pot-gemm`, `mm2im`, …):
 * each kernel's step turns the call's Program into C++ that sends the same packets over acc_hw.h.
 */
import { registerStep, type StepContext, type StepEmitter } from "./step.ts";

const callSteps = new Map<string, StepEmitter>();

export function registerCallStep(kernel: string, emit: StepEmitter): void {
  if (callSteps.has(kernel)) throw new Error(`driver step for ${kernel} calls registered twice`);
  callSteps.set(kernel, emit);
}

registerStep("lathe.AccelCall", (ctx: StepContext) => {
  const kernel = String(ctx.attrs.kernel);
  const emit = callSteps.get(kernel);
  if (!emit) {
    ctx.fail(`kernel ${kernel} has no driver step (steps exist for ${[...callSteps.keys()].join(", ")})`);
  }
  return emit(ctx);
});
