/**
 * The kernel of `lathe.AccelCall`: the call's target rebuilds its program from the node's attributes and
 * its functional model runs it on the operands. Registered here rather than in runtime/, which knows no
 * targets; importing targets/ registers it.
 */
import type { ValueType } from "../ir/value-type.ts";
import { isStaticShape } from "../ir/value-type.ts";
import { LatheError } from "../ir/errors.ts";
import { registerKernel } from "../runtime/kernel-registry.ts";
import { expectTensor, type Tensor } from "../runtime/tensor.ts";
import { getTarget } from "./registry.ts";

registerKernel("lathe.AccelCall", (inputs, ctx) => {
  const target = getTarget(String(ctx.attrs.target));
  const program = target.programOf(ctx.node);
  const t = ctx.attrs.out_type as ValueType;
  if (t.kind !== "tensor" || !isStaticShape(t.shape)) {
    throw new LatheError("runtime", "an accelerator call needs a static output type");
  }
  const operands = inputs.map((
    v,
    i,
  ) => (v === undefined ? undefined : expectTensor(v, `operand ${i}`))) as (Tensor | undefined)[];
  const out = ctx.alloc(t.dtype, t.shape);
  target.functional(program, operands as Tensor[], out, ctx.attrs);
  return [out];
});
