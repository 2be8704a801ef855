/**
 * SCALE-Sim topology CSVs (formats.md §4.1, "Topology CSV"; `scalesim/topology_utils.py`), read into one
 * conv-shaped record per layer, and written back in the same form.
 *
 * * The first line is a header and is skipped, as SCALE-Sim does; a first line that looks like a layer is
 *   refused rather than silently dropped.
 * * conv rows: `name, IFMAP H, IFMAP W, Filter H, Filter W, Channels, Num Filter, Stride[, Stride W]`; one
 *   stride serves both axes. gemm rows: `name, M, N, K`, held as the conv row `[M, K, 1, K, 1, N, 1, 1]`.
 * * Rows end with a trailing comma. SCALE-Sim drops the last field of every row unconditionally, so a row
 *   without the comma loses its stride there (its own Resnet18.csv FC row does); here one trailing empty
 *   field is dropped when present, so both spellings read the same.
 * * A conv row whose name contains `DP` (case-sensitive, anywhere) is depthwise: SCALE-Sim expands it into
 *   `Channels` single-channel layers. They are identical, so the record keeps one with `copies = Channels`
 *   instead of materialising a layer per channel.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Model } from "../../ir/graph.ts";
import { gemmOf } from "./gemm-of.ts";

export interface TopologyLayer {
  readonly name: string;
  readonly ifmapH: number;
  readonly ifmapW: number;
  readonly filterH: number;
  readonly filterW: number;
  readonly channels: number;
  readonly numFilters: number;
  readonly strideH: number;
  readonly strideW: number;
  /**
   * How many times this layer runs back to back as separate SCALE-Sim layers: the channels of a DP row,
   * the groups of a grouped conv, the images of a batch. Reports sum cycles and accesses over the copies.
   */
  readonly copies: number;
  /** 1-based CSV line, when the layer came from a file. */
  readonly line?: number;
}

export type TopologyForm = "conv" | "gemm";

export interface ParseTopologyOptions {
  /** Named in errors. */
  file?: string;
  /** `auto` (default) reads a header `name, M, N, K` as gemm and anything else as conv, like `-i gemm`. */
  form?: TopologyForm | "auto";
}

const CONV_COLUMNS = [
  "Layer name",
  "IFMAP Height",
  "IFMAP Width",
  "Filter Height",
  "Filter Width",
  "Channels",
  "Num Filter",
  "Stride Height",
  "Stride Width",
];
const GEMM_COLUMNS = ["Layer name", "M", "N", "K"];

/** Per-field bound: far above any real layer, and low enough that products of a few fields stay exact. */
const MAX_FIELD = 2 ** 31 - 1;

export function parseTopology(text: string, opts: ParseTopologyOptions = {}): TopologyLayer[] {
  const lines = text.split("\n");
  const header = splitRow(lines[0] ?? "");
  const form = opts.form && opts.form !== "auto" ? opts.form : detectForm(header);
  const columns = form === "gemm" ? GEMM_COLUMNS : CONV_COLUMNS;
  const where = (line: number, col: number) => ({
    file: opts.file,
    field: `line ${line}, column ${col} (${header[col - 1]?.trim() || columns[col - 1] || "extra"})`,
  });
  if (header.length > 1 && /^\s*\d+\s*$/.test(header[1])) {
    throw new LatheError(
      "format",
      "the first line is a header and SCALE-Sim skips it, but it holds a layer; add a header row",
      where(1, 2),
    );
  }
  const layers: TopologyLayer[] = [];
  for (let i = 1; i < lines.length; i++) {
    const lineNo = i + 1;
    if (lines[i].trim() === "") continue;
    const f = splitRow(lines[i]);
    const name = f[0].trim();
    if (name === "") throw new LatheError("format", "layer name is empty", where(lineNo, 1));
    const want = form === "gemm" ? [4] : [8, 9];
    if (!want.includes(f.length)) {
      // Name the first missing column, or the first extra one.
      const col = f.length < want[0] ? f.length + 1 : want[want.length - 1] + 1;
      throw new LatheError(
        "format",
        `a ${form} row has ${want.join(" or ")} fields (${
          columns.slice(0, want[want.length - 1]).join(", ")
        }), this one has ${f.length}`,
        where(lineNo, col),
      );
    }
    const v: number[] = [];
    for (let c = 1; c < f.length; c++) {
      const s = f[c].trim();
      if (!/^\d+$/.test(s)) {
        throw new LatheError("format", `expected a positive integer, got '${s}'`, where(lineNo, c + 1));
      }
      const n = Number(s);
      if (n < 1 || n > MAX_FIELD) {
        throw new LatheError("format", `${s} is outside [1, ${MAX_FIELD}]`, where(lineNo, c + 1));
      }
      v.push(n);
    }
    let layer: TopologyLayer;
    if (form === "gemm") {
      const [m, n, k] = v;
      layer = {
        name,
        ifmapH: m,
        ifmapW: k,
        filterH: 1,
        filterW: k,
        channels: 1,
        numFilters: n,
        strideH: 1,
        strideW: 1,
        copies: 1,
        line: lineNo,
      };
    } else {
      const [ifmapH, ifmapW, filterH, filterW, channels, numFilters, strideH] = v;
      const strideW = v[7] ?? strideH;
      // SCALE-Sim asserts these (its "ISSUE #9 fix"): a window larger than the map has no output.
      if (filterH > ifmapH) {
        throw new LatheError(
          "format",
          `filter height ${filterH} exceeds IFMAP height ${ifmapH}`,
          where(lineNo, 4),
        );
      }
      if (filterW > ifmapW) {
        throw new LatheError(
          "format",
          `filter width ${filterW} exceeds IFMAP width ${ifmapW}`,
          where(lineNo, 5),
        );
      }
      const dp = name.includes("DP");
      layer = {
        name,
        ifmapH,
        ifmapW,
        filterH,
        filterW,
        channels: dp ? 1 : channels,
        numFilters,
        strideH,
        strideW,
        copies: dp ? channels : 1,
        line: lineNo,
      };
    }
    checkLayerSize(layer, { file: opts.file, field: `line ${lineNo}` });
    layers.push(layer);
  }
  return layers;
}

/** Splits on commas and drops the one trailing empty field a SCALE-Sim row ends with. */
function splitRow(line: string): string[] {
  const f = line.replace(/\r$/, "").split(",");
  if (f.length > 1 && f[f.length - 1].trim() === "") f.pop();
  return f;
}

function detectForm(header: string[]): TopologyForm {
  return header.length === 4 && header[1].trim().toUpperCase() === "M" &&
      header[3].trim().toUpperCase() === "K"
    ? "gemm"
    : "conv";
}

/** Output size without padding, SCALE-Sim's `ceil((H − R + S)/S)`. */
export function ofmapDims(l: TopologyLayer): { h: number; w: number } {
  return {
    h: Math.ceil((l.ifmapH - l.filterH + l.strideH) / l.strideH),
    w: Math.ceil((l.ifmapW - l.filterW + l.strideW) / l.strideW),
  };
}

/** Refuses layers whose MAC count (copies included) would not be an exact double. */
export function checkLayerSize(l: TopologyLayer, where: { file?: string; field?: string }): void {
  const { h, w } = ofmapDims(l);
  const macs = h * w * l.numFilters * l.filterH * l.filterW * l.channels * l.copies;
  if (!(macs <= Number.MAX_SAFE_INTEGER)) {
    throw new LatheError("format", `layer ${l.name} has more than 2^53 MACs`, where);
  }
}

/**
 * Writes layers as a SCALE-Sim conv topology (header, trailing commas). A depthwise layer (one channel,
 * several copies) becomes a DP row; other repeated layers (groups, batch) are written once per copy with
 * a `_<i>` suffix, since the format has no repeat count.
 */
export function formatTopologyCsv(layers: readonly TopologyLayer[]): string {
  const out = [CONV_COLUMNS.join(", ") + ","];
  const row = (name: string, l: TopologyLayer, channels: number) =>
    `${name},${l.ifmapH},${l.ifmapW},${l.filterH},${l.filterW},${channels},${l.numFilters},${l.strideH},${l.strideW},`;
  for (const l of layers) {
    const name = l.name.replaceAll(",", "_");
    if (l.copies === 1) {
      out.push(row(name.includes("DP") ? name.replaceAll("DP", "dp") : name, l, l.channels));
    } else if (l.channels === 1) out.push(row(name.includes("DP") ? name : `${name}_DP`, l, l.copies));
    else {for (let i = 0; i < l.copies; i++) {
        out.push(row(`${name.replaceAll("DP", "dp")}_${i}`, l, l.channels));
      }}
  }
  return out.join("\n") + "\n";
}

export interface ModelTopology {
  readonly layers: TopologyLayer[];
  /** Nodes that do MAC work but have no GEMM view here (symbolic shapes, 3-D convs, ...), with why. */
  readonly skipped: { node: string; op: string; reason: string }[];
}

/** The layers of a model's main graph that an array would run, in graph order (see gemm-of.ts). */
export function topologyOf(model: Model): ModelTopology {
  const layers: TopologyLayer[] = [];
  const skipped: ModelTopology["skipped"] = [];
  for (const n of model.graph.nodes) {
    const r = gemmOf(model.graph, n);
    if (r === undefined) continue;
    if ("reason" in r) skipped.push({ node: n.id, op: n.op, reason: r.reason });
    else layers.push(r);
  }
  return { layers, skipped };
}
