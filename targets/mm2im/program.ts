/**
 * An MM2IM call and its command stream, as TileMM2IM (driver/mm2im_driver.h) issues it: LoadConfig once;
 * per group of up to PE_COUNT filters a LoadWeight of the group's KS·KS weight columns (each with its sum)
 * and its bias, crf and crx; then per image a StartSchedule and, per output row, the input pixels up to the
 * last one that contributes to that row (with their map rows) followed by StoreOutTileRow, which returns
 * the row's OW × filters requantized outputs (one per 32-bit word) and PE_COUNT + 1 trailing words.
 *
 * Which pixels a row needs comes from the col2IM map (the same function the host's lathe.Col2ImMap kernel
 * runs), so the stream, the functional model and the timing agree on it.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Node } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import type { Col2ImGeometry } from "../../ir/ops/accel.ts";
import { fillCol2ImMap } from "../../runtime/kernels/accel.ts";
import type { Cmd, Program } from "../target.ts";
import { MM2IM, PE_COUNT, STORE_TRAILER_WORDS, UF } from "./descriptor.ts";
import { mm2imLimits } from "./layer.ts";
import { LOAD_CON, LOAD_INP, LOAD_MAP, LOAD_WGT, SCHEDULE, STORE } from "./protocol.ts";

/** Operand positions of an MM2IM AccelCall. */
export const MM2IM_OPERANDS = {
  input: 0,
  map: 1,
  weights: 2,
  bias: 3,
  multiplier: 4,
  shift: 5,
} as const;

export interface Mm2imDims extends Col2ImGeometry {
  readonly batch: number;
  readonly depth: number;
  /** Depth padded to UF. */
  readonly kp: number;
  readonly filters: number;
  readonly outZero: number;
}

export function mm2imDimsOf(attrs: Readonly<Record<string, any>>): Mm2imDims {
  const keys = [
    "batch",
    "ih",
    "iw",
    "oh",
    "ow",
    "kh",
    "kw",
    "sh",
    "sw",
    "pt",
    "pl",
    "depth",
    "kp",
    "filters",
  ];
  const v: Record<string, number> = {};
  for (const k of keys) {
    const x = attrs[k];
    if (typeof x !== "number" || !Number.isSafeInteger(x) || x < 0) {
      throw new LatheError("verify", `MM2IM call attribute ${k} must be a non-negative integer`);
    }
    v[k] = x;
  }
  const d = { ...v, outZero: Number(attrs.out_zero ?? 0) } as unknown as Mm2imDims;
  if (d.kp % UF !== 0 || d.kp < d.depth || d.kh !== d.kw || d.sh < 1 || d.sw < 1 || d.kh < 1) {
    throw new LatheError(
      "verify",
      `MM2IM call sizes (depth ${d.depth}/${d.kp}, kernel ${d.kh}x${d.kw}) are inconsistent`,
    );
  }
  const limits = mm2imLimits(d.kh, d.depth, d.oh, d.ow);
  if (limits !== true) throw new LatheError("unsupported", limits);
  return d;
}

/** The map of a call's geometry and, per input pixel, how many of its taps land inside the output. */
export function mapOf(d: Col2ImGeometry): { map: Int32Array; pouts: Int32Array } {
  const taps = d.kh * d.kw;
  const map = new Int32Array(d.ih * d.iw * taps);
  fillCol2ImMap(d, map);
  const pouts = new Int32Array(d.ih * d.iw);
  for (let p = 0; p < pouts.length; p++) {
    let n = 0;
    for (let t = 0; t < taps; t++) if (map[p * taps + t] >= 0) n++;
    pouts[p] = n;
  }
  return { map, pouts };
}

/**
 * For each output row, the last input pixel (in row-major order) the row needs, made non-decreasing: the
 * driver's `oh_ends`, from which it sends pixels up to that one before storing the row.
 */
export function rowEnds(d: Col2ImGeometry, map: Int32Array): Int32Array {
  const taps = d.kh * d.kw;
  const ends = new Int32Array(d.oh).fill(-1);
  for (let p = 0; p < d.ih * d.iw; p++) {
    for (let t = 0; t < taps; t++) {
      const o = map[p * taps + t];
      if (o >= 0) {
        const oy = Math.floor(o / d.ow);
        if (p > ends[oy]) ends[oy] = p;
      }
    }
  }
  for (let oy = 1; oy < d.oh; oy++) if (ends[oy] < ends[oy - 1]) ends[oy] = ends[oy - 1];
  return ends;
}

export function mm2imProgram(attrs: Readonly<Record<string, any>>, id: string): Program {
  const d = mm2imDimsOf(attrs);
  const taps = d.kh * d.kw, rowWords = d.kp / 4, pixels = d.ih * d.iw;
  const { map, pouts } = mapOf(d);
  const ends = rowEnds(d, map);
  const cmds: Cmd[] = [];
  cmds.push({
    opcode: LOAD_CON,
    header: [d.kp / UF, d.ow, taps, pixels, d.outZero, d.oh, d.ow, d.kh, d.sh, d.sw, d.pt, d.pl, d.iw],
    payload: [],
    lane: 0,
  });
  let effectivePixelTaps = 0;
  for (let p = 0; p < pixels; p++) effectivePixelTaps += pouts[p];
  for (let o3 = 0; o3 < d.filters; o3 += PE_COUNT) {
    const fs = Math.min(PE_COUNT, d.filters - o3);
    cmds.push({
      opcode: LOAD_WGT,
      header: [fs * taps, d.kp / UF, fs],
      payload: [
        {
          operand: MM2IM_OPERANDS.weights,
          offset: o3 * taps * (rowWords + 1),
          words: fs * taps * (rowWords + 1),
        },
        { operand: MM2IM_OPERANDS.bias, offset: o3, words: fs },
        { operand: MM2IM_OPERANDS.multiplier, offset: o3, words: fs },
        { operand: MM2IM_OPERANDS.shift, offset: o3 / 4, words: Math.ceil(fs / 4) },
      ],
      lane: 0,
    });
    for (let n = 0; n < d.batch; n++) {
      cmds.push({ opcode: SCHEDULE, header: [], payload: [], lane: 0 });
      let next = 0;
      for (let oy = 0; oy < d.oh; oy++) {
        const end = ends[oy];
        if (end >= next) {
          const rows = end + 1 - next, first = n * pixels + next;
          cmds.push({
            opcode: LOAD_INP | LOAD_MAP | SCHEDULE,
            header: [rows, d.kp / UF, first, next, rows],
            payload: [
              { operand: MM2IM_OPERANDS.input, offset: first * rowWords, words: rows * rowWords },
              { operand: MM2IM_OPERANDS.map, offset: next * taps, words: rows * taps },
            ],
            lane: 0,
          });
          next = end + 1;
        }
        const last = oy === d.oh - 1;
        cmds.push({
          opcode: STORE | (last ? 0 : SCHEDULE),
          header: [oy * d.ow, d.ow],
          payload: [],
          lane: 0,
          recvWords: d.ow * fs + STORE_TRAILER_WORDS,
        });
      }
    }
  }
  const effective = d.batch * effectivePixelTaps * d.depth * d.filters;
  const all = d.batch * pixels * taps * d.depth * d.filters;
  return {
    target: MM2IM.name,
    kernel: "mm2im",
    id,
    operands: [
      {
        role: "input pixels, int8 depth padded to UF (4 codes a word)",
        dtype: "u32",
        shape: [1, d.batch * pixels * rowWords],
      },
      { role: "col2IM index map (output pixel or −1)", dtype: "i32", shape: [pixels, taps] },
      {
        role: "weight columns with their sums −zp·Σw",
        dtype: "u32",
        shape: [d.filters * taps, rowWords + 1],
      },
      { role: "bias", dtype: "i32", shape: [d.filters] },
      { role: "requant multiplier (crf)", dtype: "i32", shape: [d.filters] },
      { role: "requant shift (crx, int8 4 a word)", dtype: "u32", shape: [Math.ceil(d.filters / 4)] },
    ],
    cmds,
    dims: {
      batch: d.batch,
      ih: d.ih,
      iw: d.iw,
      oh: d.oh,
      ow: d.ow,
      ks: d.kh,
      sh: d.sh,
      sw: d.sw,
      pt: d.pt,
      pl: d.pl,
      depth: d.depth,
      kp: d.kp,
      filters: d.filters,
      groups: Math.ceil(d.filters / PE_COUNT),
      // IOM's MatMul computes every pixel × tap × depth × filter; MM2IM skips the cropped taps.
      macsAll: all,
      macsEffective: effective,
      macsAvoided: all - effective,
      /** The int32 MatMul result IOM stores before col2IM; MM2IM accumulates in place instead. */
      iomBufferWords: d.batch * pixels * taps * d.filters,
    },
  };
}

const programs = new WeakMap<Node, Program>();

export function mm2imProgramOf(call: Node): Program {
  let p = programs.get(call);
  if (!p) {
    const at = resolveAttrs(call);
    p = mm2imProgram(at, String(at.program));
    programs.set(call, p);
  }
  return p;
}
