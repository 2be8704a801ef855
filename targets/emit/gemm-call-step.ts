/**
 * The driver step of a SECDA GEMM `lathe.AccelCall` (kernel `gemm`): the call's Program (rebuilt by its target from the node's
 * attributes) becomes `secda_gemm` over a GemmCall of tile loops when the loops reproduce it packet for
 * packet (gemm-schedule.ts), else `secda_run_packets` over a table of the Program's packets. Operands are
 * the call's inputs in order (lane-interleaved rows, packed weights, folded bias, multipliers, shifts, row
 * sums), each viewed as 32-bit words as the DMA streams them.
 */
import { CFG_PPU, COMPUTE, CONFIG, FLAG_ORDER } from "../secda/protocol.ts";
import { getTarget } from "../registry.ts";
import { cString, int32 } from "./cpp-literal.ts";
import { gemmSchedule } from "./gemm-schedule.ts";
import { registerCallStep } from "./accel-call-step.ts";
import type { StepContext } from "./step.ts";

registerCallStep("gemm", (ctx: StepContext) => {
  const a = ctx.attrs;
  const target = getTarget(String(a.target));
  const program = target.programOf(ctx.node);
  const [y] = ctx.node.outputs;
  const yt = ctx.tensor(y);
  const ppu = program.cmds.length > 0 && (program.cmds[0].header[3] & CFG_PPU) !== 0;
  if (ppu ? yt.storage !== "i8" && yt.storage !== "u8" : yt.storage !== "i32") {
    ctx.fail(`the output is ${yt.storage}; the call returns ${ppu ? "8-bit codes" : "int32 accumulators"}`);
  }
  ctx.include("secda_gemm_driver.h");
  const ops = ctx.node.inputs.map((v) => (v ? ctx.ptr(v, "uint32_t") : "nullptr"));
  while (ops.length < 6) ops.push("nullptr");
  if (ops.length > 6) ctx.fail(`${ops.length} operands; a GEMM call has 6`);
  const lines = [`const uint32_t* const ops[6] = {${ops.join(", ")}};`];
  const s = ctx.options.packetTables
    ? "packet tables requested"
    : gemmSchedule(program, target.params.dma.lanes);
  if (typeof s !== "string") {
    const fields = [s.m, s.n, s.k, s.mp, s.np, s.kp, s.flags, s.zpOut, s.actMin, s.actMax, s.mt, s.nt].map(
      int32,
    );
    lines.unshift(
      `// ${program.cmds.length} packets: ${program.dims.mTiles} x ${program.dims.nTiles} tiles of ${s.mt} x ${s.nt}, ` +
        `${s.weightsOuter ? "weights" : "inputs"} outer`,
      `static const lathe::GemmCall call = {${cString(program.id)}, ${
        fields.join(", ")
      }, ${s.weightsOuter}};`,
    );
    lines.push(`lathe::secda_gemm(call, ops, ${ctx.ptr(y)});`);
    return lines;
  }
  // A packet table: header words and payload runs in shared arrays, one record per packet.
  const headers: string[] = [], runs: string[] = [], packets: string[] = [];
  for (const c of program.cmds) {
    let tileAt = -1, at = 0;
    for (const f of FLAG_ORDER) {
      if (!(c.opcode & f.flag)) continue;
      if (f.flag === COMPUTE) tileAt = at;
      at += f.headerWords;
    }
    const tile = c.recvWords && tileAt >= 0 ? c.header.slice(tileAt, tileAt + 4) : [0, 0, 0, 0];
    if (c.recvWords && tileAt < 0) ctx.fail("a packet expects results without a COMPUTE");
    packets.push(
      `{${
        [
          c.opcode,
          c.lane,
          headers.length,
          c.header.length,
          runs.length,
          c.payload.length,
          c.recvWords ?? 0,
          ...tile,
        ]
          .map((v) => int32(v >>> 0)).join(", ")
      }}`,
    );
    headers.push(...c.header.map((h) => int32(h >>> 0)));
    for (const p of c.payload) runs.push(`{${p.operand}, ${p.offset}, ${p.words}}`);
  }
  if (!(program.cmds[0]?.opcode & CONFIG)) ctx.fail("the stream does not open with CONFIG");
  const hName = ctx.table("uint32_t", headers.length ? headers : ["0"], "headers");
  const rName = ctx.table("lathe::PayloadRun", runs.length ? runs : ["{0, 0, 0}"], "runs");
  const pName = ctx.table("lathe::Packet", packets, "packets");
  lines.unshift(`// ${program.cmds.length} packets from a table (${s})`);
  lines.push(
    `lathe::secda_run_packets(${
      cString(program.id)
    }, ${program.dims.m}, ${program.dims.n}, ${ppu}, ${pName}, ` +
      `${packets.length}, ${hName}, ${rName}, ops, ${ctx.ptr(y)});`,
  );
  return lines;
});
