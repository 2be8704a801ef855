/**
 * A PoTAcc GEMM call and the command stream its driver sends, in the SECDA packet protocol the v12 design
 * keeps (accelerators.md §1.0; acc_config.sc.h: LOAD_WGT 0x1, LOAD_INP 0x2, COMPUTE 0x4, CONFIG 0x8,
 * targets/secda/protocol.ts for the header layouts). What differs from the int8 VM:
 *  - weight rows are 4-bit codes, 8 to a 32-bit word (low nibble first), so a row of kp codes is kp/8 words
 *    on its lane (gemm_driver.h sends `data_length / 32` words per lane);
 *  - the per-column parameter run is the column sum −zp·Σ_k w[n, k] only: the PoT layers' epilogue is f32,
 *    so the PPU is off and COMPUTE returns int32 accumulators;
 *  - COMPUTE's results return over the 4 lanes, row r of the tile on lane r mod 4 (gemm_driver.h
 *    Store_Results reads dma_out0..3); `recvWords` counts them all;
 *  - CONFIG's flags word carries the bitstream's method in bits 4–5 (POT_METHOD_FLAG), which the functional
 *    model checks against its own.
 *
 * Tiles: as many input rows as the four global input banks hold (GINP_BUF_LEN words each, rows dealt
 * round-robin over the banks), as many weight columns as the units' weight buffers hold (column blocks of
 * 4 rows × kp codes dealt round-robin over the units, kp/4 64-bit entries a block) and the 2048-column sum
 * buffers; loop order as the SECDA GEMM driver (inputs outer) unless weights outer moves fewer words.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Node } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import type { PotMethod } from "../../passes/quantize/pot-tables.ts";
import { laneRows } from "../secda/gemm-program.ts";
import {
  CFG_X_SIGNED,
  COMPUTE,
  CONFIG,
  KIND_PARAMS,
  KIND_ROWS,
  LOAD_INP,
  LOAD_WGT,
} from "../secda/protocol.ts";
import type { Cmd, GuardResult, PayloadRef, Program, TargetParams } from "../target.ts";
import { BLOCK_WIDTH, CODES_PER_WORD, PARAM_COLUMNS, type PotaccBoardSpec, SHIFT_PES } from "./descriptor.ts";

/** Operand positions of a PoTAcc AccelCall. */
export const POT_OPERANDS = { input: 0, weights: 1, columnSums: 2 } as const;

/** CONFIG flags: the method code in bits 4–5. */
export const POT_METHOD_CODES: Readonly<Record<PotMethod, number>> = { pot: 1, msq: 2, apot: 3 };
export const POT_METHOD_FLAG = (m: PotMethod) => POT_METHOD_CODES[m] << 4;

export function methodOfFlags(flags: number): PotMethod | undefined {
  const code = (flags >> 4) & 3;
  return (Object.keys(POT_METHOD_CODES) as PotMethod[]).find((m) => POT_METHOD_CODES[m] === code);
}

/** One variant of the design: board, capacities, and the bitstream's method when it is fixed. */
export interface PotaccDesign {
  readonly params: TargetParams;
  readonly board: PotaccBoardSpec;
  readonly only?: PotMethod;
}

export interface PotDims {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly mp: number;
  readonly np: number;
  readonly kp: number;
  readonly lanes: number;
  readonly method: PotMethod;
}

export interface PotTilePlan {
  readonly mt: number;
  readonly nt: number;
  readonly order: "inputs-outer" | "weights-outer";
}

export function potDimsOf(attrs: Readonly<Record<string, any>>): PotDims {
  const num = (k: string) => {
    const v = attrs[k];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      throw new LatheError("verify", `PoTAcc call attribute ${k} must be a non-negative integer`);
    }
    return v;
  };
  const method = attrs.method as PotMethod;
  if (!(method in SHIFT_PES)) {
    throw new LatheError("verify", `PoTAcc call method '${attrs.method}' is unknown`);
  }
  const d: PotDims = {
    m: num("m"),
    n: num("n"),
    k: num("k"),
    mp: num("mp"),
    np: num("np"),
    kp: num("kp"),
    lanes: num("lanes"),
    method,
  };
  if (
    d.mp < d.m || d.np < d.n || d.kp < d.k || d.kp % 16 !== 0 || d.np % BLOCK_WIDTH !== 0 ||
    d.mp % BLOCK_WIDTH !== 0 || d.lanes !== 4
  ) {
    throw new LatheError(
      "verify",
      `PoTAcc call sizes m ${d.m}/${d.mp}, n ${d.n}/${d.np}, k ${d.k}/${d.kp}, lanes ${d.lanes} are inconsistent`,
    );
  }
  return d;
}

/** Input rows the global input banks hold at depth kp, and weight columns the units and sum buffers hold. */
export function potCapacity(design: PotaccDesign, kp: number): { maxMt: number; maxNt: number } {
  const b = design.board, entries = kp / 4;
  return {
    maxMt: Math.floor(b.ginpBufLen / entries) * 4,
    maxNt: Math.min(Math.floor(b.wgtBufLen / entries) * BLOCK_WIDTH * b.units, PARAM_COLUMNS),
  };
}

/** Tiles for a call, or the buffer a minimal tile (4 rows, 4 columns) already overflows. */
export function potTiles(
  design: PotaccDesign,
  d: Pick<PotDims, "mp" | "np" | "kp" | "k">,
): PotTilePlan | string {
  const { maxMt, maxNt } = potCapacity(design, d.kp);
  const b = design.board;
  if (maxMt < BLOCK_WIDTH) {
    return `depth ${d.k} (${d.kp / 4} words a row): one input row per bank needs ${
      d.kp / 4
    } words, a global input bank holds ${b.ginpBufLen} (GINP_BUF_LEN)`;
  }
  if (maxNt < BLOCK_WIDTH) {
    return `depth ${d.k}: a block of 4 weight rows needs ${
      d.kp / 4
    } 64-bit entries, a unit's weight buffer holds ${b.wgtBufLen} (WGT_BUF_LEN)`;
  }
  const mt = Math.min(d.mp, Math.floor(maxMt / BLOCK_WIDTH) * BLOCK_WIDTH);
  const nt = Math.min(d.np, Math.floor(maxNt / BLOCK_WIDTH) * BLOCK_WIDTH);
  const inWords = d.mp * (d.kp / 4), wWords = d.np * (d.kp / CODES_PER_WORD);
  const mTiles = Math.ceil(d.mp / mt), nTiles = Math.ceil(d.np / nt);
  const inputsOuter = inWords + (nTiles > 1 ? wWords * mTiles : wWords);
  const weightsOuter = wWords + (mTiles > 1 ? inWords * nTiles : inWords);
  return { mt, nt, order: weightsOuter < inputsOuter ? "weights-outer" : "inputs-outer" };
}

export function potFitGuard(design: PotaccDesign, d: Pick<PotDims, "mp" | "np" | "kp" | "k">): GuardResult {
  const t = potTiles(design, d);
  return typeof t === "string" ? t : true;
}

function ranges(total: number, step: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s < total; s += step) out.push([s, Math.min(step, total - s)]);
  return out;
}

/** The command stream of one PoTAcc call. */
export function potProgram(design: PotaccDesign, attrs: Readonly<Record<string, any>>, id: string): Program {
  const d = potDimsOf(attrs);
  const plan = potTiles(design, d);
  if (typeof plan === "string") {
    throw new LatheError("unsupported", `PoTAcc call ${id} does not fit ${design.params.name}: ${plan}`);
  }
  if (design.only && design.only !== d.method) {
    throw new LatheError(
      "unsupported",
      `PoTAcc call ${id} needs the ${SHIFT_PES[d.method].label} PE; ${design.params.name} is built for ${
        SHIFT_PES[design.only].label
      }`,
    );
  }
  const { lanes } = d;
  const inRow = d.kp / 4, wRow = d.kp / CODES_PER_WORD;
  const inputLaneWords = Math.ceil(d.mp / lanes) * inRow, weightLaneWords = Math.ceil(d.np / lanes) * wRow;
  const cmds: Cmd[] = [];
  const rowsPacket = (
    op: number,
    operand: number,
    laneWords: number,
    rowWords: number,
    r0: number,
    count: number,
  ) => {
    for (let l = 0; l < lanes; l++) {
      const rows = laneRows(count, l, lanes);
      if (!rows) continue;
      const ref: PayloadRef = {
        operand,
        offset: l * laneWords + (r0 / lanes) * rowWords,
        words: rows * rowWords,
      };
      cmds.push({ opcode: op, header: [KIND_ROWS, r0, count, l], payload: [ref], lane: l });
    }
  };
  const loadWeights = (n0: number, count: number) => {
    rowsPacket(LOAD_WGT, POT_OPERANDS.weights, weightLaneWords, wRow, n0, count);
    cmds.push({
      opcode: LOAD_WGT,
      header: [KIND_PARAMS, n0, count, 0],
      payload: [{ operand: POT_OPERANDS.columnSums, offset: n0, words: count }],
      lane: 0,
    });
  };
  const loadInputs = (m0: number, count: number) =>
    rowsPacket(LOAD_INP, POT_OPERANDS.input, inputLaneWords, inRow, m0, count);
  const compute = (m0: number, mc: number, n0: number, nc: number) =>
    cmds.push({ opcode: COMPUTE, header: [m0, mc, n0, nc], payload: [], lane: 0, recvWords: mc * nc });
  const mTiles = ranges(d.mp, plan.mt), nTiles = ranges(d.np, plan.nt);
  if (plan.order === "inputs-outer") {
    if (nTiles.length === 1) loadWeights(...nTiles[0]);
    for (const [m0, mc] of mTiles) {
      loadInputs(m0, mc);
      for (const [n0, nc] of nTiles) {
        if (nTiles.length > 1) loadWeights(n0, nc);
        compute(m0, mc, n0, nc);
      }
    }
  } else {
    if (mTiles.length === 1) loadInputs(...mTiles[0]);
    for (const [n0, nc] of nTiles) {
      loadWeights(n0, nc);
      for (const [m0, mc] of mTiles) {
        if (mTiles.length > 1) loadInputs(m0, mc);
        compute(m0, mc, n0, nc);
      }
    }
  }
  const first = cmds[0];
  cmds[0] = {
    ...first,
    opcode: first.opcode | CONFIG,
    header: [d.m, d.n, inRow, CFG_X_SIGNED | POT_METHOD_FLAG(d.method), 0, 0, 0, ...first.header],
  };
  return {
    target: design.params.name,
    kernel: "pot-gemm",
    id,
    operands: [
      { role: "input rows, signed 8-bit (lane-interleaved)", dtype: "u32", shape: [lanes, inputLaneWords] },
      {
        role: "weight rows, 4-bit PoT codes 8 per word (lane-interleaved)",
        dtype: "u32",
        shape: [lanes, weightLaneWords],
      },
      { role: "column sums −zp·Σw", dtype: "i32", shape: [d.np] },
    ],
    cmds,
    dims: {
      m: d.m,
      n: d.n,
      k: d.k,
      mp: d.mp,
      np: d.np,
      kp: d.kp,
      mt: plan.mt,
      nt: plan.nt,
      mTiles: mTiles.length,
      nTiles: nTiles.length,
      method: POT_METHOD_CODES[d.method],
      productBits: SHIFT_PES[d.method].productBits,
    },
  };
}

const programs = new WeakMap<Node, Program>();

export function potProgramOf(design: PotaccDesign, call: Node): Program {
  let p = programs.get(call);
  if (!p) {
    const at = resolveAttrs(call);
    p = potProgram(design, at, String(at.program));
    programs.set(call, p);
  }
  return p;
}
