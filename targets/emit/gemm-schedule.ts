/**
 * A SECDA GEMM call's command stream as loops: the driver's `secda_gemm` (cpp/secda_gemm_driver.h) issues
 * tile loops from a handful of numbers (sizes, tile rows and weight rows, loop order) rather than one line
 * per packet. `gemmSchedule` finds those numbers for a Program and accepts them only when the loops, expanded
 * here exactly as the C++ runs them, reproduce the Program packet for packet; otherwise the emitter falls
 * back to a packet table.
 */
import type { Cmd, PayloadRef, Program } from "../target.ts";
import {
  COMPUTE,
  CONFIG,
  FLAG_ORDER,
  KIND_PARAMS,
  KIND_ROWS,
  KIND_SUMS,
  LOAD_INP,
  LOAD_WGT,
} from "../secda/protocol.ts";
import { CFG_PPU, CFG_SUMS } from "../secda/protocol.ts";
import { GEMM_OPERANDS } from "../secda/gemm-program.ts";

export interface GemmSchedule {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly mp: number;
  readonly np: number;
  readonly kp: number;
  readonly lanes: number;
  /** The CONFIG packet's words: flags, output zero point, activation bounds. */
  readonly flags: number;
  readonly zpOut: number;
  readonly actMin: number;
  readonly actMax: number;
  readonly mt: number;
  readonly nt: number;
  readonly weightsOuter: boolean;
}

const laneRows = (count: number, lane: number, lanes: number) =>
  count > lane ? Math.floor((count - lane + lanes - 1) / lanes) : 0;

/** The packets `secda_gemm` sends for a schedule, in order. */
export function expandSchedule(s: GemmSchedule): Cmd[] {
  const cmds: Cmd[] = [];
  const kw = s.kp / 4, lanes = s.lanes;
  const ppu = (s.flags & CFG_PPU) !== 0, sums = (s.flags & CFG_SUMS) !== 0;
  const inLaneWords = Math.ceil(s.mp / lanes) * kw, wLaneWords = Math.ceil(s.np / lanes) * kw;
  const send = (
    opcode: number,
    header: number[],
    payload: PayloadRef[],
    lane: number,
    recvWords?: number,
  ) => {
    if (cmds.length === 0) {
      opcode |= CONFIG;
      header = [s.m, s.n, kw, s.flags, s.zpOut, s.actMin, s.actMax, ...header];
    }
    cmds.push(
      recvWords === undefined
        ? { opcode, header, payload, lane }
        : { opcode, header, payload, lane, recvWords },
    );
  };
  const rowsPackets = (op: number, operand: number, laneWords: number, r0: number, count: number) => {
    for (let l = 0; l < lanes; l++) {
      const rows = laneRows(count, l, lanes);
      if (!rows) continue;
      send(op, [KIND_ROWS, r0, count, l], [{
        operand,
        offset: l * laneWords + (r0 / lanes) * kw,
        words: rows * kw,
      }], l);
    }
  };
  const loadWeights = (n0: number, count: number) => {
    rowsPackets(LOAD_WGT, GEMM_OPERANDS.weights, wLaneWords, n0, count);
    const runs: PayloadRef[] = [{ operand: GEMM_OPERANDS.bias, offset: n0, words: count }];
    if (ppu) {
      runs.push({ operand: GEMM_OPERANDS.multiplier, offset: n0, words: count });
      runs.push({ operand: GEMM_OPERANDS.shift, offset: n0, words: count });
    }
    send(LOAD_WGT, [KIND_PARAMS, n0, count, 0], runs, 0);
  };
  const loadInputs = (m0: number, count: number) => {
    rowsPackets(LOAD_INP, GEMM_OPERANDS.input, inLaneWords, m0, count);
    if (sums) {
      send(
        LOAD_INP,
        [KIND_SUMS, m0, count, 0],
        [{ operand: GEMM_OPERANDS.sums, offset: m0, words: count }],
        0,
      );
    }
  };
  const compute = (m0: number, mc: number, n0: number, nc: number) =>
    send(COMPUTE, [m0, mc, n0, nc], [], 0, ppu ? Math.ceil((mc * nc) / 4) : mc * nc);
  const tile = (s0: number, step: number, total: number) => Math.min(step, total - s0);
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

function sameCmd(a: Cmd, b: Cmd): boolean {
  if (a.opcode !== b.opcode || a.lane !== b.lane || (a.recvWords ?? 0) !== (b.recvWords ?? 0)) return false;
  if (a.header.length !== b.header.length || a.header.some((h, i) => h !== b.header[i])) return false;
  if (a.payload.length !== b.payload.length) return false;
  return a.payload.every((p, i) => {
    const q = b.payload[i];
    return p.operand === q.operand && p.offset === q.offset && p.words === q.words;
  });
}

export function sameStream(a: readonly Cmd[], b: readonly Cmd[]): boolean {
  return a.length === b.length && a.every((c, i) => sameCmd(c, b[i]));
}

/** The loops that reproduce a GEMM program, or why there are none. */
export function gemmSchedule(program: Program, lanes: number): GemmSchedule | string {
  if (program.kernel !== "gemm") return `kernel ${program.kernel} is not a GEMM`;
  const first = program.cmds[0];
  if (!first || !(first.opcode & CONFIG) || FLAG_ORDER[0].flag !== CONFIG) {
    return "the stream does not open with CONFIG";
  }
  const d = program.dims;
  for (const k of ["m", "n", "k", "mp", "np", "kp", "mt", "nt"]) {
    if (!Number.isSafeInteger(d[k]) || d[k] <= 0) return `the program has no dimension ${k}`;
  }
  const [m, n, kw, flags, zpOut, actMin, actMax] = first.header;
  if (m !== d.m || n !== d.n || kw * 4 !== d.kp) return "CONFIG disagrees with the program's dimensions";
  const base = {
    m,
    n,
    k: d.k,
    mp: d.mp,
    np: d.np,
    kp: d.kp,
    lanes,
    flags,
    zpOut,
    actMin,
    actMax,
    mt: d.mt,
    nt: d.nt,
  };
  for (const weightsOuter of [false, true]) {
    const s = { ...base, weightsOuter };
    if (sameStream(expandSchedule(s), program.cmds)) return s;
  }
  return "the stream is not one of secda_gemm's tile loops";
}
