/**
 * The GEMM call of the SECDA designs: its attributes, its operands, and the command stream the driver
 * sends (accelerators.md §1.0: "tiling lives in the driver", tile sizes from the buffer capacities).
 *
 * The call computes Y[m, n] = PPU(Σ_k X[m, k]·W[n, k] + bias'[n] + rowsum[m]) for the true sizes m × n;
 * X and W arrive padded to mp × kp and np × kp and interleaved over the DMA lanes, so a tile of rows
 * [r0, r0 + count) with r0 a multiple of the lane count is one contiguous run of words per lane.
 *
 * Loop order follows the VM driver (input rows loaded once per row tile, weight tiles streamed under it),
 * unless reloading the inputs under resident weights moves fewer words; when one tile holds every weight
 * row, the weights are loaded once.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Node } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import type { Cmd, PayloadRef, Program, TargetParams } from "../target.ts";
import {
  CFG_PPU,
  CFG_SUMS,
  CFG_W_SIGNED,
  CFG_X_SIGNED,
  COMPUTE,
  CONFIG,
  KIND_PARAMS,
  KIND_ROWS,
  KIND_SUMS,
  LOAD_INP,
  LOAD_WGT,
} from "./protocol.ts";

/** Operand positions of a GEMM AccelCall. */
export const GEMM_OPERANDS = { input: 0, weights: 1, bias: 2, multiplier: 3, shift: 4, sums: 5 } as const;

export interface GemmDims {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly mp: number;
  readonly np: number;
  readonly kp: number;
  readonly lanes: number;
  readonly xSigned: boolean;
  readonly wSigned: boolean;
  /** Requantize on the accelerator (TFLite's MultiplyByQuantizedMultiplier); off: int32 results. */
  readonly ppu: boolean;
  readonly sums: boolean;
  readonly zpOut: number;
  readonly actMin: number;
  readonly actMax: number;
}

export interface TilePlan {
  /** Rows and weight rows per tile (multiples of the lane count). */
  readonly mt: number;
  readonly nt: number;
  readonly order: "inputs-outer" | "weights-outer";
}

/** What differs between the SECDA GEMM designs: capacities and the PE organisation's cost. */
export interface GemmDesign {
  readonly params: TargetParams;
  /** The largest tiles the buffers hold, or the limit that one minimal tile already exceeds. */
  tiles(d: GemmDims): TilePlan | string;
  /** Cycles of one COMPUTE over an mt × nt tile of depth kp (padded sizes as sent). */
  computeCycles(mt: number, nt: number, kp: number): number;
  /** 32-bit SRAM words the PEs read for that COMPUTE. */
  computeSramReads(mt: number, nt: number, kp: number): number;
  /** Input and weight buffer capacity in words, checked by the functional model. */
  readonly inputWords: number;
  readonly weightWords: number;
  /** Rows of sums and channels of per-channel parameters the buffers hold. */
  readonly sumsRows: number;
  readonly paramRows: number;
}

export function gemmDimsOf(attrs: Readonly<Record<string, any>>): GemmDims {
  const num = (k: string) => {
    const v = attrs[k];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      throw new LatheError("verify", `GEMM call attribute ${k} must be a non-negative integer`);
    }
    return v;
  };
  const d: GemmDims = {
    m: num("m"),
    n: num("n"),
    k: num("k"),
    mp: num("mp"),
    np: num("np"),
    kp: num("kp"),
    lanes: num("lanes"),
    xSigned: !!attrs.x_signed,
    wSigned: !!attrs.w_signed,
    ppu: attrs.ppu === "tflite",
    sums: !!attrs.sums,
    zpOut: attrs.zp_out ?? 0,
    actMin: attrs.act_min ?? 0,
    actMax: attrs.act_max ?? 0,
  };
  if (d.mp < d.m || d.np < d.n || d.kp < d.k || d.kp % 4 !== 0 || d.np % 4 !== 0 || d.lanes < 1) {
    throw new LatheError(
      "verify",
      `GEMM call sizes m ${d.m}/${d.mp}, n ${d.n}/${d.np}, k ${d.k}/${d.kp} are inconsistent`,
    );
  }
  return d;
}

/** How many rows of a tile of `count` rows (starting at a multiple of `lanes`) lane `lane` carries. */
export function laneRows(count: number, lane: number, lanes: number): number {
  return Math.max(0, Math.ceil((count - lane) / lanes));
}

/**
 * Tiles of at most maxMt × maxNt (rounded down to the lane count) and the loop order that moves fewer words
 * over DMA: with inputs outer, weights reload per row tile unless one tile holds them all; with weights
 * outer, the reverse. Ties keep the VM driver's inputs-outer order.
 */
export function planTiles(d: GemmDims, maxMt: number, maxNt: number): TilePlan | string {
  const mt = Math.min(d.mp, Math.floor(maxMt / d.lanes) * d.lanes),
    nt = Math.min(d.np, Math.floor(maxNt / d.lanes) * d.lanes);
  if (mt < Math.min(d.mp, d.lanes) || mt <= 0) return `one tile of ${d.lanes} input rows does not fit`;
  if (nt < Math.min(d.np, d.lanes) || nt <= 0) return `one tile of ${d.lanes} weight rows does not fit`;
  const kw = d.kp / 4;
  const inWords = d.mp * kw, wWords = d.np * kw;
  const mTiles = Math.ceil(d.mp / mt), nTiles = Math.ceil(d.np / nt);
  const inputsOuter = inWords + (nTiles > 1 ? wWords * mTiles : wWords);
  const weightsOuter = wWords + (mTiles > 1 ? inWords * nTiles : inWords);
  return { mt, nt, order: weightsOuter < inputsOuter ? "weights-outer" : "inputs-outer" };
}

function ranges(total: number, step: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s < total; s += step) out.push([s, Math.min(step, total - s)]);
  return out;
}

/** The command stream of one GEMM call. */
export function gemmProgram(design: GemmDesign, attrs: Readonly<Record<string, any>>, id: string): Program {
  const d = gemmDimsOf(attrs);
  const plan = design.tiles(d);
  if (typeof plan === "string") {
    throw new LatheError("unsupported", `GEMM ${id} does not fit ${design.params.name}: ${plan}`);
  }
  const { lanes } = d;
  const kw = d.kp / 4;
  const inputLaneWords = Math.ceil(d.mp / lanes) * kw, weightLaneWords = Math.ceil(d.np / lanes) * kw;
  const cmds: Cmd[] = [];
  const rowsPacket = (op: number, operand: number, laneWords: number, r0: number, count: number) => {
    for (let l = 0; l < lanes; l++) {
      const rows = laneRows(count, l, lanes);
      if (!rows) continue;
      const ref: PayloadRef = { operand, offset: l * laneWords + (r0 / lanes) * kw, words: rows * kw };
      cmds.push({ opcode: op, header: [KIND_ROWS, r0, count, l], payload: [ref], lane: l });
    }
  };
  const loadWeights = (n0: number, count: number) => {
    rowsPacket(LOAD_WGT, GEMM_OPERANDS.weights, weightLaneWords, n0, count);
    const params: PayloadRef[] = [{ operand: GEMM_OPERANDS.bias, offset: n0, words: count }];
    if (d.ppu) {
      params.push({ operand: GEMM_OPERANDS.multiplier, offset: n0, words: count }, {
        operand: GEMM_OPERANDS.shift,
        offset: n0,
        words: count,
      });
    }
    cmds.push({ opcode: LOAD_WGT, header: [KIND_PARAMS, n0, count, 0], payload: params, lane: 0 });
  };
  const loadInputs = (m0: number, count: number) => {
    rowsPacket(LOAD_INP, GEMM_OPERANDS.input, inputLaneWords, m0, count);
    if (d.sums) {
      cmds.push({
        opcode: LOAD_INP,
        header: [KIND_SUMS, m0, count, 0],
        payload: [{ operand: GEMM_OPERANDS.sums, offset: m0, words: count }],
        lane: 0,
      });
    }
  };
  const compute = (m0: number, mc: number, n0: number, nc: number) => {
    const results = d.ppu ? Math.ceil((mc * nc) / 4) : mc * nc;
    cmds.push({ opcode: COMPUTE, header: [m0, mc, n0, nc], payload: [], lane: 0, recvWords: results });
  };
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
  // CONFIG rides on the first packet (one packet may carry several flags).
  const flags = (d.xSigned ? CFG_X_SIGNED : 0) | (d.wSigned ? CFG_W_SIGNED : 0) | (d.ppu ? CFG_PPU : 0) |
    (d.sums ? CFG_SUMS : 0);
  const first = cmds[0];
  cmds[0] = {
    ...first,
    opcode: first.opcode | CONFIG,
    header: [d.m, d.n, kw, flags, d.zpOut, d.actMin, d.actMax, ...first.header],
  };
  const absent = { role: "(absent)", dtype: "none", shape: [] as number[] };
  const operands = [
    { role: "input rows (lane-interleaved)", dtype: "u32", shape: [lanes, inputLaneWords] },
    { role: "weight rows (lane-interleaved)", dtype: "u32", shape: [lanes, weightLaneWords] },
    { role: "bias with zero-point terms", dtype: "i32", shape: [d.np] },
    d.ppu ? { role: "requant multiplier", dtype: "i32", shape: [d.np] } : absent,
    d.ppu ? { role: "requant shift", dtype: "i32", shape: [d.np] } : absent,
    d.sums ? { role: "input row sums", dtype: "i32", shape: [d.mp] } : absent,
  ];
  return {
    target: design.params.name,
    kernel: "gemm",
    id,
    operands,
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
    },
  };
}

const programs = new WeakMap<Node, Program>();

/** A GEMM call's program, built once per node. */
export function gemmProgramOf(design: GemmDesign, call: Node): Program {
  let p = programs.get(call);
  if (!p) {
    p = gemmProgram(design, resolveAttrs(call), String(resolveAttrs(call).program));
    programs.set(call, p);
  }
  return p;
}

export interface Capacities {
  readonly inputWords: number;
  readonly weightWords: number;
  readonly sumsRows: number;
  readonly paramRows: number;
  /** How the sources name each buffer, for refusals. */
  readonly inputLabel: string;
  readonly weightLabel: string;
}

/** Tiles bounded by the buffers; a refusal names the buffer a minimal tile overflows. */
export function capacityTiles(d: GemmDims, c: Capacities): TilePlan | string {
  const kw = d.kp / 4;
  const maxMt = Math.min(Math.floor(c.inputWords / kw), c.sumsRows);
  const maxNt = Math.min(Math.floor(c.weightWords / kw), c.paramRows);
  const needRows = Math.min(d.mp, d.lanes), needCols = Math.min(d.np, d.lanes);
  if (maxMt < needRows) {
    return `depth ${d.k} (${kw} words a row): ${needRows} input rows need ${
      needRows * kw
    } words, the input buffer holds ${c.inputWords} (${c.inputLabel})`;
  }
  if (maxNt < needCols) {
    return `depth ${d.k} (${kw} words a row): ${needCols} weight rows need ${
      needCols * kw
    } words, the weight buffer holds ${c.weightWords} (${c.weightLabel})`;
  }
  return planTiles(d, maxMt, maxNt);
}
