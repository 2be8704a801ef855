/**
 * Lowering a TRANSPOSE_CONV to an MM2IM call. On the host, per inference: the input's depth padded to UF
 * (lathe.PadTo, zeros: padded depth meets zero weights) and packed four codes a word for the one DMA lane
 * (lathe.LaneInterleave), and the col2IM output index map (lathe.Col2ImMap, an explicit node so its CPU
 * cost is counted and the reference runtime checks it). At compile time, what the delegate's Prepare and
 * preload_weights compute: the filters as KS·KS weight columns per filter (OHWI rows, depth padded to UF,
 * four codes a word) each followed by its sum −zp_x·Σ_c w (the input offset folded per column, added for
 * every product the map keeps), the int32 bias, and TFLite's per-channel multipliers (crf) and shifts
 * (crx, int8 four a word). The call writes the node's int8 NHWC output under its name.
 */
import type { Attr } from "../../ir/attr.ts";
import type { Constant } from "../../ir/constant.ts";
import type { Graph, Node, ValueInfo } from "../../ir/graph.ts";
import { tensorType } from "../../ir/value-type.ts";
import type { Lowering, NameSource } from "../target.ts";
import { MM2IM, UF } from "./descriptor.ts";
import type { TconvLayer } from "./layer.ts";

const ceilTo = (v: number, m: number) => Math.ceil(v / m) * m;
const bytesOf = (a: Int32Array | Uint32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Weight columns [O·KS·KS rows, kp/4 code words + 1 sum word], rows in OHWI order. */
export function weightColumns(l: TconvLayer, kp: number): Uint32Array {
  const C = l.channels, rows = l.filters * l.geo.kh * l.geo.kw, rowWords = kp / 4;
  const out = new Uint32Array(rows * (rowWords + 1));
  const bytes = new Int8Array(out.buffer);
  const sums = new Int32Array(out.buffer);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < C; c++) {
      const v = l.weights[r * C + c];
      bytes[r * (rowWords + 1) * 4 + c] = v;
      s += v;
    }
    sums[r * (rowWords + 1) + rowWords] = Math.imul(-l.xZero, s);
  }
  return out;
}

export function lowerTconv(l: TconvLayer, _g: Graph, names: NameSource): Lowering {
  const id = l.node.id;
  const from = l.node.from ?? [id];
  const kp = ceilTo(l.channels, UF);
  const nodes: Node[] = [];
  const constants: Record<string, Constant> = {};
  const values: Record<string, ValueInfo> = {};
  const int = (v: number): Attr => ({ type: "int", value: v });
  const ints = (v: readonly number[]): Attr => ({ type: "ints", value: v });
  const emit = (
    op: string,
    inputs: (string | null)[],
    attrs: Record<string, Attr>,
    type: ValueInfo["type"],
  ) => {
    const short = op.slice(op.indexOf(".") + 1);
    const out = names.value(`${id}/${short.toLowerCase()}`);
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
  const g = l.geo, pixels = l.batch * g.ih * g.iw, taps = g.kh * g.kw;
  let rows = l.input;
  if (kp !== l.channels) {
    rows = emit("lathe.PadTo", [rows], {
      cols: int(l.channels),
      row_multiple: int(1),
      col_multiple: int(UF),
      value: int(0),
    }, tensorType(l.inType.dtype, [pixels, kp]));
  }
  const packed = emit(
    "lathe.LaneInterleave",
    [rows],
    { lanes: int(1), cols: int(kp) },
    tensorType("u32", [1, (pixels * kp) / 4]),
  );
  const map = emit("lathe.Col2ImMap", [], {
    input: ints([g.ih, g.iw]),
    output: ints([g.oh, g.ow]),
    kernel: ints([g.kh, g.kw]),
    strides: ints([g.sh, g.sw]),
    pads: ints([g.pt, g.pl]),
  }, tensorType("i32", [g.ih * g.iw, taps]));
  const cols = weightColumns(l, kp);
  const wName = constant("weight.columns", {
    dtype: "u32",
    shape: [l.filters * taps, kp / 4 + 1],
    bytes: bytesOf(cols),
  });
  const bias = l.bias ?? new Int32Array(l.filters);
  const bName = constant("bias", { dtype: "i32", shape: [l.filters], bytes: bytesOf(bias.slice()) });
  const mName = constant("requant.multiplier", {
    dtype: "i32",
    shape: [l.filters],
    bytes: bytesOf(l.multiplier.slice()),
  });
  const shifts = new Uint32Array(Math.ceil(l.filters / 4));
  const sb = new Int8Array(shifts.buffer);
  for (let o = 0; o < l.filters; o++) sb[o] = l.shift[o];
  const sName = constant("requant.shift", { dtype: "u32", shape: [shifts.length], bytes: bytesOf(shifts) });
  const callId = names.node(`${id}/AccelCall`);
  nodes.push({
    id: callId,
    op: "lathe.AccelCall",
    inputs: [packed, map, wName, bName, mName, sName],
    outputs: [l.output],
    attrs: {
      target: { type: "string", value: MM2IM.name },
      kernel: { type: "string", value: "mm2im" },
      program: { type: "string", value: id },
      out_type: { type: "type", value: l.outType },
      batch: int(l.batch),
      ih: int(g.ih),
      iw: int(g.iw),
      oh: int(g.oh),
      ow: int(g.ow),
      kh: int(g.kh),
      kw: int(g.kw),
      sh: int(g.sh),
      sw: int(g.sw),
      pt: int(g.pt),
      pl: int(g.pl),
      depth: int(l.channels),
      kp: int(kp),
      filters: int(l.filters),
      out_zero: int(l.outZero),
    },
    from,
  });
  values[l.output] = { type: l.outType };
  return { nodes, constants, values, call: callId };
}
