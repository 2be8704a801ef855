/**
 * The driver step of lathe.Col2ImMap, the host preparation of an MM2IM call: the output index map computed
 * on the CPU per inference, as the delegate's col2im_mapping does (kernels/col2im_map.h), so its cost is
 * the driver's as it is in the timing report.
 */
import { col2ImGeometry } from "../../ir/ops/accel.ts";
import { int32 } from "./cpp-literal.ts";
import { registerStep, type StepContext } from "./step.ts";

registerStep("lathe.Col2ImMap", (ctx: StepContext) => {
  const [y] = ctx.node.outputs;
  const g = col2ImGeometry(ctx.attrs);
  if (typeof g === "string") ctx.fail(g);
  const t = ctx.tensor(y);
  if (t.storage !== "i32" || t.count !== g.ih * g.iw * g.kh * g.kw) {
    ctx.fail(`the map is ${t.storage}[${t.shape}], not i32[${g.ih * g.iw}, ${g.kh * g.kw}]`);
  }
  // Entries are oy·ow + ox in int32, as the runtime's Int32Array holds them.
  if (g.oh * g.ow > 2 ** 31 - 1) ctx.fail(`a ${g.oh}x${g.ow} output does not index in int32`);
  ctx.include("kernels/col2im_map.h");
  const p = [g.ih, g.iw, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl].map(int32).join(", ");
  return [
    `static const lathe::Col2ImParams p = {${p}};`,
    `lathe::col2im_map(${ctx.ptr(y)}, p);`,
  ];
});
