/**
 * The driver step of a BFP `lathe.AccelCall` (kernel `bfp-matmul`): the call's attributes (checked by
 * bfpDimsOf) become a BfpCall, and cpp/bfp_driver.h issues the Program's command stream from it — the
 * activation packet, then per M-tile LOAD_WGT, lanes 1..3's weight words and COMPUTE. Operands: the Q8_K
 * activation rows (the host's lathe.GgmlQuantize) and the preloaded weight lanes, both viewed as 32-bit
 * words as the DMA streams them; the output is the MatMul's f32 [.., M]. The step rebuilds the loop's
 * packets and refuses a Program that is not that loop (tests compare the packets sent with the Program's).
 */
import { bfpDimsOf, weightLayout } from "../bfp/program.ts";
import { blockWords, COMPUTE, CONFIG, LOAD_INP, LOAD_WGT, Q8_K_ID } from "../bfp/protocol.ts";
import { getTarget } from "../registry.ts";
import type { Cmd } from "../target.ts";
import { registerCallStep } from "./accel-call-step.ts";
import { cString } from "./cpp-literal.ts";
import type { StepContext } from "./step.ts";

/** The packets bfp_matmul sends for these attributes, as Cmds (same order, headers and payload runs). */
function loopCmds(attrs: Readonly<Record<string, any>>): Cmd[] {
  const d = bfpDimsOf(attrs);
  const layout = weightLayout(d), bw = layout.blockWords, knb = d.n * d.kb;
  const cmds: Cmd[] = [{
    opcode: CONFIG | LOAD_INP,
    header: [d.kb, d.m, d.n, d.variant, knb],
    payload: [{ operand: 0, offset: 0, words: knb * blockWords(Q8_K_ID) }],
    lane: 0,
  }];
  const at = new Array<number>(d.lanes).fill(0);
  for (let m0 = 0; m0 < d.m; m0 += d.tileM) {
    const mstep = Math.min(d.tileM, d.m - m0), kmb = mstep * d.kb;
    const sizes = at.map((_, l) => (kmb > l ? Math.ceil((kmb - l) / d.lanes) : 0) * bw);
    const run = (l: number) => ({ operand: 1, offset: l * layout.laneWords + at[l], words: sizes[l] });
    cmds.push({ opcode: LOAD_WGT, header: [kmb, bw, ...sizes], payload: sizes[0] ? [run(0)] : [], lane: 0 });
    for (let l = 1; l < d.lanes; l++) {
      if (sizes[l]) cmds.push({ opcode: 0, header: [], payload: [run(l)], lane: l });
    }
    cmds.push({
      opcode: COMPUTE,
      header: [kmb, knb, mstep, d.n],
      payload: [],
      lane: 0,
      recvWords: mstep * d.n,
    });
    sizes.forEach((s, l) => at[l] += s);
  }
  return cmds;
}

const sameCmd = (a: Cmd, b: Cmd) =>
  a.opcode === b.opcode && a.lane === b.lane && (a.recvWords ?? 0) === (b.recvWords ?? 0) &&
  a.header.join() === b.header.join() &&
  a.payload.map((p) => `${p.operand}:${p.offset}:${p.words}`).join() ===
    b.payload.map((p) => `${p.operand}:${p.offset}:${p.words}`).join();

registerCallStep("bfp-matmul", (ctx: StepContext) => {
  const program = getTarget(String(ctx.attrs.target)).programOf(ctx.node);
  const d = bfpDimsOf(ctx.attrs);
  const loop = loopCmds(ctx.attrs);
  if (loop.length !== program.cmds.length || loop.some((c, i) => !sameCmd(c, program.cmds[i]))) {
    ctx.fail("the Program is not bfp_matmul's tile loop");
  }
  if (ctx.node.inputs.length !== 2 || ctx.node.inputs.some((v) => !v)) {
    ctx.fail(`${ctx.node.inputs.length} operands; a BFP call has 2`);
  }
  const [x, w] = ctx.node.inputs as string[];
  const [y] = ctx.node.outputs;
  const yt = ctx.tensor(y);
  if (yt.dtype !== "f32" || yt.count !== d.m * d.n) {
    ctx.fail(`the output is not f32 with ${d.n} x ${d.m} values`);
  }
  const xBytes = ctx.tensor(x).count * ctx.tensor(x).bytes;
  if (xBytes !== d.n * d.kb * blockWords(Q8_K_ID) * 4) {
    ctx.fail(`operand ${x} is not ${d.n * d.kb} Q8_K super-blocks`);
  }
  const layout = weightLayout(d);
  const wt = ctx.tensor(w);
  if (wt.storage !== "u32" || wt.count !== d.lanes * layout.laneWords) {
    ctx.fail(`operand ${w} is not u32 [${d.lanes}, ${layout.laneWords}] weight lanes`);
  }
  ctx.include("bfp_driver.h");
  const tiles = layout.tiles.length;
  return [
    `// ${program.cmds.length} packets: activations, then ${tiles} M-tile${
      tiles === 1 ? "" : "s"
    } of ${d.tileM} rows (wgt_type ${d.variant})`,
    `static const lathe::BfpCall call = {${
      cString(program.id)
    }, ${d.m}, ${d.n}, ${d.kb}, ${d.variant}, ${d.tileM}, ${layout.laneWords}};`,
    `lathe::bfp_matmul(call, ${ctx.ptr(x, "uint32_t")}, ${ctx.ptr(w, "uint32_t")}, ${ctx.ptr(y)});`,
  ];
});
