/**
 * Lowering a power-of-two layer to a PoTAcc call (accelerators.md §1.0 host preparation, §1.5):
 *  - the activation becomes rows: NCHW to NHWC (Transpose), u8 codes re-centred to the PE's signed int8
 *    (lathe.RecenterU8, zero point − 128), patches (lathe.Im2Col, the zero point as the border code), padded
 *    to rows of 4 and depth of 16 (lathe.PadTo, zeros: a zero activation contributes nothing whatever the
 *    weight code) and packed four codes a word over the 4 DMA lanes (lathe.LaneInterleave);
 *  - at compile time: the 4-bit codes in im2col order, padded, packed 8 a word and lane-interleaved, and the
 *    column sums −zp'·Σ_k w[n, k] (zp' the re-centred zero point, w the code's signed multiplier), which fold
 *    the zero point into one per-column constant: Σ_k pe(x'_k, w_k) − zp'·Σ_k w_k = Σ_k (x_k − zp)·w_k;
 *  - after the call: int32 accumulators to f32 with the layer's scale and bias (lathe.DequantizeAcc), and
 *    back to NCHW for a convolution. The offloaded node's output keeps its name.
 */
import type { Attr } from "../../ir/attr.ts";
import type { Constant } from "../../ir/constant.ts";
import type { DType } from "../../ir/dtype.ts";
import type { Graph, Node, ValueInfo } from "../../ir/graph.ts";
import { recenteredType } from "../../ir/ops/accel.ts";
import { type TensorType, tensorType } from "../../ir/value-type.ts";
import { codeMultipliers, potTable } from "../../passes/quantize/pot-tables.ts";
import type { Lowering, NameSource } from "../target.ts";
import { BLOCK_DEPTH, BLOCK_WIDTH, CODES_PER_WORD, POTACC_TABLE_VERSION } from "./descriptor.ts";
import type { PotLayer } from "./layer.ts";
import type { PotaccDesign, PotDims } from "./program.ts";

const ceilTo = (v: number, m: number) => Math.ceil(v / m) * m;
export const LANES = 4;

export function potLayerDims(l: PotLayer): PotDims {
  return {
    m: l.m,
    n: l.n,
    k: l.k,
    mp: ceilTo(l.m, BLOCK_WIDTH),
    np: ceilTo(l.n, BLOCK_WIDTH),
    kp: ceilTo(l.k, BLOCK_DEPTH),
    lanes: LANES,
    method: l.method,
  };
}

/**
 * Rows of 4-bit codes padded to rowsP × colsP (code 0 in the padding: padded rows are never returned and
 * padded depth meets zero activations), 8 codes a little-endian word with the first code in the low nibble,
 * row r on lane r mod lanes.
 */
export function packCodeLanes(
  codes: Uint8Array,
  rows: number,
  cols: number,
  rowsP: number,
  colsP: number,
  lanes: number,
): Uint32Array {
  const rowWords = colsP / CODES_PER_WORD, perLane = Math.ceil(rowsP / lanes);
  const out = new Uint32Array(lanes * perLane * rowWords);
  for (let r = 0; r < rows; r++) {
    const base = ((r % lanes) * perLane + Math.floor(r / lanes)) * rowWords;
    for (let k = 0; k < cols; k++) out[base + (k >> 3)] |= (codes[r * cols + k] & 15) << ((k & 7) * 4);
  }
  return out;
}

/** −zp'·Σ_k w[n, k] per column in int32, padded to np: the zero-point term of each column. */
export function columnSums(l: PotLayer, np: number): Int32Array {
  const mult = codeMultipliers(potTable(l.method, POTACC_TABLE_VERSION));
  const zp = l.recenter ? l.xZero - 128 : l.xZero;
  const out = new Int32Array(np);
  for (let o = 0; o < l.n; o++) {
    let s = 0;
    for (let i = o * l.k, e = i + l.k; i < e; i++) s += mult[l.codes[i]];
    out[o] = Math.imul(-zp, s);
  }
  return out;
}

const bytesOf = (a: Int32Array | Uint32Array | Float32Array) =>
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export function lowerPotLayer(design: PotaccDesign, l: PotLayer, _g: Graph, names: NameSource): Lowering {
  const d = potLayerDims(l);
  const id = l.node.id;
  const from = l.node.from ?? [id];
  const nodes: Node[] = [];
  const constants: Record<string, Constant> = {};
  const values: Record<string, ValueInfo> = {};
  const ints = (v: readonly number[]): Attr => ({ type: "ints", value: v });
  const int = (v: number): Attr => ({ type: "int", value: v });
  const emit = (
    op: string,
    inputs: (string | null)[],
    attrs: Record<string, Attr>,
    type: TensorType,
    name?: string,
  ): string => {
    const short = op.slice(op.indexOf(".") + 1);
    const out = name ?? names.value(`${id}/${short.toLowerCase()}`);
    nodes.push({ id: names.node(`${id}/${short}`), op, inputs, outputs: [out], attrs, from });
    values[out] = { type };
    return out;
  };
  const constant = (hint: string, c: Constant) => {
    const name = names.value(`${id}/${hint}`);
    constants[name] = c;
    values[name] = { type: tensorType(c.dtype, c.shape) };
    return name;
  };
  let rows = l.input;
  let codeType: DType = l.xType.dtype;
  const xShape = l.xType.shape as number[];
  let shape = xShape;
  if (l.kind === "conv") {
    const [N, C, H, W] = xShape;
    shape = [N, H, W, C];
    rows = emit("Transpose", [rows], { perm: ints([0, 2, 3, 1]) }, tensorType(codeType, shape));
  }
  let zero = l.xZero;
  if (l.recenter) {
    codeType = recenteredType(codeType);
    zero -= 128;
    rows = emit("lathe.RecenterU8", [rows], {}, tensorType(codeType, shape));
  }
  if (l.window) {
    const w = l.window;
    rows = emit("lathe.Im2Col", [rows], {
      kernel: ints(w.kernel),
      strides: ints(w.strides),
      dilations: ints(w.dilations),
      pads: ints(w.pads),
      fill: int(zero),
    }, tensorType(codeType, [l.m, l.k]));
  }
  if (d.mp !== l.m || d.kp !== l.k) {
    rows = emit("lathe.PadTo", [rows], {
      cols: int(l.k),
      row_multiple: int(BLOCK_WIDTH),
      col_multiple: int(BLOCK_DEPTH),
      value: int(0),
    }, tensorType(codeType, [d.mp, d.kp]));
  }
  const packed = emit(
    "lathe.LaneInterleave",
    [rows],
    { lanes: int(LANES), cols: int(d.kp) },
    tensorType("u32", [LANES, (d.mp / LANES) * (d.kp / 4)]),
  );
  const wWords = packCodeLanes(l.codes, l.n, l.k, d.np, d.kp, LANES);
  const wName = constant("weights.pot4", {
    dtype: "u32",
    shape: [LANES, wWords.length / LANES],
    bytes: bytesOf(wWords),
  });
  const sums = columnSums(l, d.np);
  const sName = constant("column.sums", { dtype: "i32", shape: [d.np], bytes: bytesOf(sums) });
  const callType = tensorType("i32", l.callShape);
  const callOut = names.value(`${id}/acc`);
  const callId = names.node(`${id}/AccelCall`);
  nodes.push({
    id: callId,
    op: "lathe.AccelCall",
    inputs: [packed, wName, sName],
    outputs: [callOut],
    attrs: {
      target: { type: "string", value: design.params.name },
      kernel: { type: "string", value: "pot-gemm" },
      program: { type: "string", value: id },
      out_type: { type: "type", value: callType },
      m: int(d.m),
      n: int(d.n),
      k: int(d.k),
      mp: int(d.mp),
      np: int(d.np),
      kp: int(d.kp),
      lanes: int(LANES),
      method: { type: "string", value: d.method },
    },
    from,
  });
  values[callOut] = { type: callType };
  const scale = constant("scale", { dtype: "f32", shape: [l.n], bytes: bytesOf(l.scale) });
  if (l.kind === "matmul") {
    emit("lathe.DequantizeAcc", [callOut, scale, l.bias], {}, tensorType("f32", l.outShape), l.output);
  } else {
    const f = emit("lathe.DequantizeAcc", [callOut, scale, l.bias], {}, tensorType("f32", l.callShape));
    emit("Transpose", [f], { perm: ints([0, 3, 1, 2]) }, tensorType("f32", l.outShape), l.output);
  }
  return { nodes, constants, values, call: callId };
}
