/**
 * A BFP MatMul call's attributes and the command stream its driver sends (bfpp_acc v3 driver/acc_driver.h
 * `MM`, acc_driver_mt.h): Y[n, m] = Σ_k X[n, k]·W[m, k] for M weight rows and N activation rows.
 *
 * Input-stationary: one LOAD_INP|CONFIG packet on lane 0 sends all N·kb Q8_K activation super-blocks and
 * the call's shape and variant; then, per M-tile of tile_m weight rows (as many as SUP_KMB holds), a
 * LOAD_WGT packet on lane 0 with the lane sizes, the tile's super-blocks round-robin over the 4 lanes
 * (block i of the tile, row-major over rows × kb, on lane i mod 4), and a COMPUTE packet whose
 * mstep·N results stream back on lane 0. The weights operand is the driver's preloaded DMA region
 * (driver_interface.h `preloadWeights`): per lane, each tile's blocks back to back, so one tile is one
 * contiguous run per lane.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Node } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import type { Cmd, GuardResult, Program } from "../target.ts";
import { SECDA_BFP, SUP_KMB, SUP_KNB } from "./descriptor.ts";
import {
  blockWords,
  COMPUTE,
  CONFIG,
  LOAD_INP,
  LOAD_WGT,
  Q8_K_ID,
  QK_K,
  VARIANT_TYPE_IDS,
  variantName,
} from "./protocol.ts";

/** Operand positions of a BFP MatMul AccelCall. */
export const BFP_OPERANDS = { activations: 0, weights: 1 } as const;

export interface BfpDims {
  /** Weight rows (output features): the driver's M. */
  readonly m: number;
  /** Activation rows (tokens): the driver's N. */
  readonly n: number;
  readonly k: number;
  /** Super-blocks per row. */
  readonly kb: number;
  /** F-BFQ variant code 2..6 (Q2_K..Q6_K). */
  readonly variant: number;
  /** The previous offloaded call's variant in graph order (0: none), to record switches. */
  readonly prevVariant: number;
  readonly lanes: number;
  /** Weight rows per M-tile. */
  readonly tileM: number;
}

/** Weight rows one M-tile holds: the driver's roundDown(min(SUP_KMB, M·kb), kb) / kb. */
export function tileRows(m: number, kb: number): number {
  return Math.min(Math.floor(SUP_KMB / kb), m);
}

/**
 * The driver's DimCheck: the weight buffer must hold at least 2 weight rows of kb super-blocks, and every
 * activation row must fit the input buffer at once (N·kb ≤ SUP_KNB).
 */
export function dimCheck(m: number, n: number, k: number): GuardResult {
  if (k % QK_K !== 0) return `depth ${k} is not a whole number of ${QK_K}-element super-blocks`;
  const kb = k / QK_K;
  const rows = Math.floor(SUP_KMB / kb);
  if (rows < 2) {
    return `DimCheck: a weight row of ${kb} super-blocks leaves room for ${rows} row(s) in SUP_KMB ${SUP_KMB}; a tile needs at least 2`;
  }
  if (n * kb > SUP_KNB) {
    return `DimCheck: ${n} activation rows × ${kb} super-blocks = ${
      n * kb
    } super-blocks; the input buffer holds SUP_KNB ${SUP_KNB} and the whole activation matrix must fit`;
  }
  if (m < 1 || n < 1) return `empty MatMul (${m} weight rows, ${n} activation rows)`;
  return true;
}

export function bfpDimsOf(attrs: Readonly<Record<string, any>>): BfpDims {
  const num = (key: string) => {
    const v = attrs[key];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      throw new LatheError("verify", `BFP call attribute ${key} must be a non-negative integer`);
    }
    return v;
  };
  const m = num("m"), n = num("n"), k = num("k"), variant = num("wgt_type"), lanes = num("lanes");
  const prevVariant = attrs.prev_wgt_type === undefined ? 0 : num("prev_wgt_type");
  if (!VARIANT_TYPE_IDS[variant]) throw new LatheError("verify", `BFP call wgt_type ${variant} is not 2..6`);
  if (prevVariant !== 0 && !VARIANT_TYPE_IDS[prevVariant]) {
    throw new LatheError("verify", `BFP call prev_wgt_type ${prevVariant} is not 0 or 2..6`);
  }
  if (lanes !== SECDA_BFP.dma.lanes) {
    throw new LatheError("verify", `BFP call has ${lanes} lanes; the design has ${SECDA_BFP.dma.lanes}`);
  }
  const fits = dimCheck(m, n, k);
  if (fits !== true) throw new LatheError("unsupported", fits);
  const kb = k / QK_K;
  return { m, n, k, kb, variant, prevVariant, lanes, tileM: tileRows(m, kb) };
}

/** Blocks lane `lane` carries of a tile of `count` blocks dealt round-robin from lane 0. */
export function laneBlocks(count: number, lane: number, lanes: number): number {
  return Math.max(0, Math.ceil((count - lane) / lanes));
}

export interface WeightLayout {
  /** Words per lane in the weights operand (lane 0 carries the most). */
  readonly laneWords: number;
  /** [tile][lane]: where the tile's run starts in the lane, in words. */
  readonly offsets: readonly (readonly number[])[];
  /** Weight rows [start, count) of each tile. */
  readonly tiles: readonly (readonly [number, number])[];
  readonly blockWords: number;
}

export function weightLayout(d: BfpDims): WeightLayout {
  const bw = blockWords(VARIANT_TYPE_IDS[d.variant]);
  const at = new Array<number>(d.lanes).fill(0);
  const offsets: number[][] = [], tiles: [number, number][] = [];
  for (let m0 = 0; m0 < d.m; m0 += d.tileM) {
    const mstep = Math.min(d.tileM, d.m - m0);
    tiles.push([m0, mstep]);
    offsets.push([...at]);
    for (let l = 0; l < d.lanes; l++) at[l] += laneBlocks(mstep * d.kb, l, d.lanes) * bw;
  }
  return { laneWords: at[0], offsets, tiles, blockWords: bw };
}

/** The command stream of one call. */
export function bfpProgram(attrs: Readonly<Record<string, any>>, id: string): Program {
  const d = bfpDimsOf(attrs);
  const layout = weightLayout(d);
  const bw = layout.blockWords, iw = blockWords(Q8_K_ID);
  const knb = d.n * d.kb;
  const cmds: Cmd[] = [{
    opcode: CONFIG | LOAD_INP,
    header: [d.kb, d.m, d.n, d.variant, knb],
    payload: [{ operand: BFP_OPERANDS.activations, offset: 0, words: knb * iw }],
    lane: 0,
  }];
  layout.tiles.forEach(([, mstep], t) => {
    const kmb = mstep * d.kb;
    const sizes = Array.from({ length: d.lanes }, (_, l) => laneBlocks(kmb, l, d.lanes) * bw);
    const run = (l: number) => ({
      operand: BFP_OPERANDS.weights,
      offset: l * layout.laneWords + layout.offsets[t][l],
      words: sizes[l],
    });
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
  });
  return {
    target: SECDA_BFP.name,
    kernel: "bfp-matmul",
    id,
    operands: [
      { role: "Q8_K activation rows (73 words a super-block)", dtype: "q.ggml<Q8_K>", shape: [d.n, d.k] },
      {
        role: `${variantName(d.variant)} weight super-blocks (${bw} words each), per lane per tile`,
        dtype: "u32",
        shape: [d.lanes, layout.laneWords],
      },
    ],
    cmds,
    dims: {
      m: d.m,
      n: d.n,
      k: d.k,
      kb: d.kb,
      tile_m: d.tileM,
      m_tiles: layout.tiles.length,
      wgt_type: d.variant,
      prev_wgt_type: d.prevVariant,
      variant_switch: d.prevVariant !== 0 && d.prevVariant !== d.variant ? 1 : 0,
      block_words: bw,
      lanes: d.lanes,
    },
  };
}

const programs = new WeakMap<Node, Program>();

/** A call's program, built once per node. */
export function bfpProgramOf(call: Node): Program {
  let p = programs.get(call);
  if (!p) {
    const at = resolveAttrs(call);
    p = bfpProgram(at, String(at.program));
    programs.set(call, p);
  }
  return p;
}
