/**
 * The driver step of an MM2IM `lathe.AccelCall` (kernel `mm2im`): the call's geometry (the attributes its
 * Program is built from, checked by mm2imDimsOf) becomes an Mm2imCall, and cpp/mm2im_driver.h issues the
 * Program's command stream from it: TileMM2IM's loops over filter groups, images and output rows, with the
 * rows' input ranges read from the host's col2IM map. Operands are the call's inputs in order (packed input
 * pixels, map, weight columns with sums, bias, multipliers, shifts), each viewed as 32-bit words as the DMA
 * streams them; the output is the layer's int8 NHWC tensor. Every MM2IM Program is this loop, so the
 * `packetTables` option has nothing to replace here (tests compare the packets with the Program's).
 */
import { getTarget } from "../registry.ts";
import { mm2imDimsOf } from "../mm2im/program.ts";
import { registerCallStep } from "./accel-call-step.ts";
import { cString, int32 } from "./cpp-literal.ts";
import type { StepContext } from "./step.ts";

registerCallStep("mm2im", (ctx: StepContext) => {
  const d = mm2imDimsOf(ctx.attrs);
  const program = getTarget(String(ctx.attrs.target)).programOf(ctx.node);
  const [y] = ctx.node.outputs;
  const yt = ctx.tensor(y);
  if (yt.storage !== "i8") ctx.fail(`the output is ${yt.storage}; the call returns int8 codes`);
  const want = [d.batch, d.oh, d.ow, d.filters];
  if (yt.shape.join() !== want.join()) ctx.fail(`the output is [${yt.shape}], the call writes [${want}]`);
  if (ctx.node.inputs.length !== 6 || ctx.node.inputs.some((v) => !v)) {
    ctx.fail(`${ctx.node.inputs.length} operands; an MM2IM call has 6`);
  }
  const [x, map] = ctx.node.inputs as string[];
  const words = (v: string) => ctx.tensor(v).count * ctx.tensor(v).bytes / 4;
  const pixels = d.ih * d.iw, taps = d.kh * d.kw;
  if (words(x) !== d.batch * pixels * d.kp / 4) {
    ctx.fail(`input ${x} is not ${d.batch * pixels} packed pixels`);
  }
  if (ctx.tensor(map).storage !== "i32" || ctx.tensor(map).count !== pixels * taps) {
    ctx.fail(`map ${map} is not i32[${pixels}, ${taps}]`);
  }
  ctx.include("mm2im_driver.h");
  const ops = (ctx.node.inputs as string[]).map((v) => ctx.ptr(v, "uint32_t"));
  const fields = [
    d.batch,
    d.ih,
    d.iw,
    d.oh,
    d.ow,
    d.kh,
    d.sh,
    d.sw,
    d.pt,
    d.pl,
    d.depth,
    d.kp,
    d.filters,
  ].map(int32);
  return [
    `// ${program.cmds.length} packets: ${program.dims.groups} filter groups x ${d.batch} images x ${d.oh} output rows`,
    `static const lathe::Mm2imCall call = {${cString(program.id)}, ${fields.join(", ")}, ${
      int32(d.outZero)
    }};`,
    `const uint32_t* const ops[6] = {${ops.join(", ")}};`,
    `lathe::mm2im_call(call, ops, ${ctx.ptr(y, "int8_t")});`,
  ];
});
