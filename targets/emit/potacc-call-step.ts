/**
 * The driver step of a PoTAcc `lathe.AccelCall` (kernel `pot-gemm`): the call's Program (rebuilt by its
 * target from the node's attributes) becomes `potacc_gemm` over a PotCall of tile loops when those loops
 * send the Program packet for packet (checked here against a model of the loops), else
 * `potacc_run_packets` over a table of the Program's packets. Operands are the call's inputs in order
 * (lane-interleaved input rows, packed 4-bit weight codes, column sums), each viewed as 32-bit words as the
 * DMA streams them; the output is the layer's int32 accumulators (cpp/potacc_driver.h).
 */
import {
  COMPUTE,
  CONFIG,
  FLAG_ORDER,
  KIND_PARAMS,
  KIND_ROWS,
  LOAD_INP,
  LOAD_WGT,
} from "../secda/protocol.ts";
import { POT_OPERANDS } from "../potacc/program.ts";
import { CODES_PER_WORD } from "../potacc/descriptor.ts";
import { getTarget } from "../registry.ts";
import type { Cmd, Program } from "../target.ts";
import { registerCallStep } from "./accel-call-step.ts";
import { cString, int32 } from "./cpp-literal.ts";
import type { StepContext } from "./step.ts";

/** The parameters of potacc_gemm's loops (PotCall). */
export interface PotLoop {
  readonly m: number;
  readonly n: number;
  readonly mp: number;
  readonly np: number;
  readonly kp: number;
  readonly flags: number;
  readonly mt: number;
  readonly nt: number;
  readonly weightsOuter: boolean;
}

const laneRows = (count: number, lane: number, lanes: number) =>
  count > lane ? Math.floor((count - lane + lanes - 1) / lanes) : 0;

/** The packets potacc_gemm sends for `s`, as the C++ loops build them. */
export function potLoopCmds(s: PotLoop, lanes: number): Cmd[] {
  const inRow = s.kp / 4, wRow = s.kp / CODES_PER_WORD;
  const inLane = Math.ceil(s.mp / lanes) * inRow, wLane = Math.ceil(s.np / lanes) * wRow;
  const cmds: Cmd[] = [];
  const push = (c: Cmd) => {
    cmds.push(
      cmds.length
        ? c
        : { ...c, opcode: c.opcode | CONFIG, header: [s.m, s.n, inRow, s.flags, 0, 0, 0, ...c.header] },
    );
  };
  const rows = (
    op: number,
    operand: number,
    laneWords: number,
    rowWords: number,
    r0: number,
    count: number,
  ) => {
    for (let l = 0; l < lanes; l++) {
      const r = laneRows(count, l, lanes);
      if (!r) continue;
      const offset = l * laneWords + Math.floor(r0 / lanes) * rowWords;
      push({
        opcode: op,
        header: [KIND_ROWS, r0, count, l],
        payload: [{ operand, offset, words: r * rowWords }],
        lane: l,
      });
    }
  };
  const loadWeights = (n0: number, count: number) => {
    rows(LOAD_WGT, POT_OPERANDS.weights, wLane, wRow, n0, count);
    push({
      opcode: LOAD_WGT,
      header: [KIND_PARAMS, n0, count, 0],
      payload: [{ operand: POT_OPERANDS.columnSums, offset: n0, words: count }],
      lane: 0,
    });
  };
  const loadInputs = (m0: number, count: number) =>
    rows(LOAD_INP, POT_OPERANDS.input, inLane, inRow, m0, count);
  const compute = (m0: number, mc: number, n0: number, nc: number) =>
    push({ opcode: COMPUTE, header: [m0, mc, n0, nc], payload: [], lane: 0, recvWords: mc * nc });
  const tile = (at: number, step: number, total: number) => Math.min(step, total - at);
  const mTiles = Math.ceil(s.mp / s.mt), nTiles = Math.ceil(s.np / s.nt);
  if (!s.weightsOuter) {
    if (nTiles === 1) loadWeights(0, s.np);
    for (let m0 = 0; m0 < s.mp; m0 += s.mt) {
      loadInputs(m0, tile(m0, s.mt, s.mp));
      for (let n0 = 0; n0 < s.np; n0 += s.nt) {
        if (nTiles > 1) loadWeights(n0, tile(n0, s.nt, s.np));
        compute(m0, tile(m0, s.mt, s.mp), n0, tile(n0, s.nt, s.np));
      }
    }
  } else {
    if (mTiles === 1) loadInputs(0, s.mp);
    for (let n0 = 0; n0 < s.np; n0 += s.nt) {
      loadWeights(n0, tile(n0, s.nt, s.np));
      for (let m0 = 0; m0 < s.mp; m0 += s.mt) {
        if (mTiles > 1) loadInputs(m0, tile(m0, s.mt, s.mp));
        compute(m0, tile(m0, s.mt, s.mp), n0, tile(n0, s.nt, s.np));
      }
    }
  }
  return cmds;
}

function sameCmds(a: readonly Cmd[], b: readonly Cmd[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i];
    return x.opcode === y.opcode && x.lane === y.lane && (x.recvWords ?? 0) === (y.recvWords ?? 0) &&
      x.header.length === y.header.length && x.header.every((h, j) => h === y.header[j]) &&
      x.payload.length === y.payload.length &&
      x.payload.every((p, j) =>
        p.operand === y.payload[j].operand && p.offset === y.payload[j].offset &&
        p.words === y.payload[j].words
      );
  });
}

/** The loops that send `program`, or why none do. */
export function potSchedule(program: Program, lanes: number): PotLoop | string {
  const first = program.cmds[0];
  if (!first || !(first.opcode & CONFIG)) return "the stream does not open with CONFIG";
  const d = program.dims;
  const need = ["m", "n", "mp", "np", "kp", "mt", "nt"] as const;
  if (need.some((k) => !Number.isSafeInteger(d[k]) || d[k] < (k === "mt" || k === "nt" ? 1 : 0))) {
    return "the Program's sizes are incomplete";
  }
  for (const weightsOuter of [false, true]) {
    const s: PotLoop = {
      m: d.m,
      n: d.n,
      mp: d.mp,
      np: d.np,
      kp: d.kp,
      flags: first.header[3],
      mt: d.mt,
      nt: d.nt,
      weightsOuter,
    };
    if (sameCmds(potLoopCmds(s, lanes), program.cmds)) return s;
  }
  return "the stream is not one of potacc_gemm's tile loops";
}

registerCallStep("pot-gemm", (ctx: StepContext) => {
  const target = getTarget(String(ctx.attrs.target));
  const program = target.programOf(ctx.node);
  const lanes = target.params.dma.lanes;
  const [y] = ctx.node.outputs;
  const yt = ctx.tensor(y);
  if (yt.storage !== "i32") ctx.fail(`the output is ${yt.storage}; a PoTAcc call returns int32 accumulators`);
  if (yt.count !== program.dims.m * program.dims.n) {
    ctx.fail(`the output holds ${yt.count} values for a ${program.dims.m} x ${program.dims.n} call`);
  }
  if (ctx.node.inputs.length !== 3) ctx.fail(`${ctx.node.inputs.length} operands; a PoTAcc call has 3`);
  ctx.include("potacc_driver.h");
  const ops = ctx.node.inputs.map((v) => (v ? ctx.ptr(v, "uint32_t") : "nullptr"));
  const lines = [`const uint32_t* const ops[3] = {${ops.join(", ")}};`];
  const s = ctx.options.packetTables ? "packet tables requested" : potSchedule(program, lanes);
  if (typeof s !== "string") {
    const fields = [s.m, s.n, s.mp, s.np, s.kp, s.flags, s.mt, s.nt].map(int32);
    lines.unshift(
      `// ${program.cmds.length} packets: ${program.dims.mTiles} x ${program.dims.nTiles} tiles of ${s.mt} x ${s.nt}, ` +
        `${s.weightsOuter ? "weights" : "inputs"} outer`,
      `static const lathe::potacc::PotCall call = {${cString(program.id)}, ${
        fields.join(", ")
      }, ${s.weightsOuter}};`,
    );
    lines.push(`lathe::potacc::potacc_gemm(call, ops, ${ctx.ptr(y)});`);
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
    if (c.recvWords && tileAt < 0) ctx.fail("a packet expects results without a COMPUTE");
    const tile = c.recvWords ? c.header.slice(tileAt, tileAt + 4) : [0, 0, 0, 0];
    if (c.recvWords && c.recvWords !== tile[1] * tile[3]) {
      ctx.fail(`a COMPUTE of ${tile[1]} x ${tile[3]} expects ${c.recvWords} words`);
    }
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
  const rName = ctx.table("lathe::potacc::PayloadRun", runs.length ? runs : ["{0, 0, 0}"], "runs");
  const pName = ctx.table("lathe::potacc::Packet", packets, "packets");
  lines.unshift(`// ${program.cmds.length} packets from a table (${s})`);
  lines.push(
    `lathe::potacc::potacc_run_packets(${
      cString(program.id)
    }, ${program.dims.m}, ${program.dims.n}, ${pName}, ` +
      `${packets.length}, ${hName}, ${rName}, ops, ${ctx.ptr(y)});`,
  );
  return lines;
});
