/**
 * TFLite's sparse tensor layout (SparsityParameters: traversal order, block map, per-level DENSE or
 * SPARSE_CSR metadata) as `tfl.DENSIFY` carries it in its attributes, and the walk that finds where each
 * stored value lands in the dense row-major tensor. Importer, exporter and kernel all check a layout with
 * this one walk, so a layout the importer accepts is one the kernel can expand. Every index is checked and
 * each stored value is visited once, so a hostile layout can neither loop nor write out of bounds.
 */
import type { Constant } from "../../ir/constant.ts";
import { LatheError } from "../../ir/errors.ts";
import { fromConstant, type TypedArray } from "../tensor.ts";

/** One traversal level: dense with `denseSize` entries, or CSR with segments and indices. */
export interface SparseLevel {
  readonly dense: boolean;
  readonly denseSize: number;
  readonly segments: ArrayLike<number>;
  readonly indices: ArrayLike<number>;
}

export interface SparseLayout {
  /** The dense tensor's shape. */
  readonly shape: readonly number[];
  readonly traversalOrder: readonly number[];
  readonly blockMap: readonly number[];
  readonly levels: readonly SparseLevel[];
}

type Where = { file?: string; field?: string };

/** A dense tensor with more elements is refused rather than allocated. */
const MAX_DENSE_ELEMENTS = 1 << 28;
const MAX_LEVELS = 16;

/** The level formats as `tfl.DENSIFY`'s `dim_format` names them (the schema's DimensionType members). */
export const DIM_FORMATS = ["DENSE", "SPARSE_CSR"] as const;

/** The layout described by `tfl.DENSIFY`'s resolved attributes. */
export function layoutFromAttrs(attrs: Readonly<Record<string, unknown>>, where: Where = {}): SparseLayout {
  const fail = (reason: string): never => {
    throw new LatheError("verify", `DENSIFY: ${reason}`, where);
  };
  const list = <T>(k: string): readonly T[] => {
    const v = attrs[k] ?? [];
    if (!Array.isArray(v)) fail(`attribute ${k} is not a list`);
    return v as T[];
  };
  const formats = list<string>("dim_format"), sizes = list<number>("dense_size");
  const segments = list<Constant>("array_segments"), indices = list<Constant>("array_indices");
  const n = formats.length;
  if (sizes.length !== n || segments.length !== n || indices.length !== n) {
    fail(
      `${n} dim_format entries, ${sizes.length} dense_size, ${segments.length} array_segments and ` +
        `${indices.length} array_indices`,
    );
  }
  const levels = formats.map((f, i): SparseLevel => {
    if (!(DIM_FORMATS as readonly string[]).includes(f)) fail(`level ${i} has unknown format ${f}`);
    return {
      dense: f === "DENSE",
      denseSize: sizes[i],
      segments: indexValues(segments[i], `array_segments[${i}]`, fail),
      indices: indexValues(indices[i], `array_indices[${i}]`, fail),
    };
  });
  return {
    shape: list<number>("shape"),
    traversalOrder: list<number>("traversal_order"),
    blockMap: list<number>("block_map"),
    levels,
  };
}

/** TFLite index vectors are int32, uint16 or uint8. */
function indexValues(c: Constant, what: string, fail: (reason: string) => never): ArrayLike<number> {
  const d = c.dtype;
  if (d !== "i32" && d !== "u16" && d !== "u8") fail(`${what} is ${JSON.stringify(d)}, not i32, u16 or u8`);
  if (c.shape.length !== 1) fail(`${what} has shape [${c.shape}], not a vector`);
  return fromConstant(c).data as Int32Array | Uint16Array | Uint8Array;
}

function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * The dense row-major offset of each of the `stored` values, in storage order. Throws a format error naming
 * `where` when the layout is inconsistent or does not place exactly `stored` values.
 */
export function sparsePositions(layout: SparseLayout, stored: number, where: Where = {}): Int32Array {
  const fail = (reason: string): never => {
    throw new LatheError("format", `sparse tensor: ${reason}`, where);
  };
  const { shape, traversalOrder: order, blockMap } = layout;
  const rank = shape.length;
  const n = order.length;
  if (n > MAX_LEVELS) fail(`${n} traversal levels`);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`bad dense shape [${shape}]`);
  if (n - rank < 0 || blockMap.length !== n - rank) {
    fail(`traversal order has ${n} entries and block map ${blockMap.length} for rank ${rank}`);
  }
  if (layout.levels.length !== n) fail(`${layout.levels.length} dim_metadata entries for ${n} levels`);
  const seen = new Array<boolean>(n).fill(false);
  for (const d of order) {
    if (!Number.isInteger(d) || d < 0 || d >= n || seen[d]) {
      fail(`traversal order [${order}] is not a permutation`);
    }
    seen[d] = true;
  }
  for (let i = 0; i < rank; i++) {
    if (order[i] >= rank) fail(`traversal order [${order}] mixes block dims into the first ${rank}`);
  }
  const count = product(shape);
  if (count > MAX_DENSE_ELEMENTS) fail(`dense form of [${shape}] would have ${count} elements`);

  // Block size per original dim (1 when not blocked), taken from the dense level of its block dim.
  const blockSize = new Array<number>(rank).fill(1);
  blockMap.forEach((d, j) => {
    if (!Number.isInteger(d) || d < 0 || d >= rank) fail(`block map entry ${d} out of range`);
    const md = layout.levels[order.indexOf(rank + j)];
    if (!md.dense) fail("sparse block dimensions are not supported");
    if (!(md.denseSize > 0) || shape[d] % md.denseSize !== 0) {
      fail(`block size ${md.denseSize} does not divide dim ${shape[d]}`);
    }
    blockSize[d] = md.denseSize;
  });
  // Size of each expanded dim (blocked outer dims, then the block dims) and the dense step along it.
  const strides = new Array<number>(rank);
  for (let d = rank - 1, acc = 1; d >= 0; d--) {
    strides[d] = acc;
    acc *= shape[d];
  }
  const expanded = new Array<number>(n), step = new Array<number>(n);
  for (let e = 0; e < n; e++) {
    const d = e < rank ? e : blockMap[e - rank];
    expanded[e] = e < rank ? shape[e] / blockSize[e] : blockSize[d];
    step[e] = e < rank ? strides[e] * blockSize[e] : strides[d];
  }

  const levels = layout.levels.map((md, i) => {
    const e = order[i];
    if (md.dense) {
      if (md.denseSize !== expanded[e]) {
        fail(`level ${i} is dense with size ${md.denseSize}, the dim has ${expanded[e]}`);
      }
      return { ...md, e };
    }
    const segs = md.segments, idx = md.indices;
    if (segs.length === 0) fail(`level ${i} is sparse without segments`);
    if (segs[0] < 0 || segs[segs.length - 1] > idx.length) {
      fail(`level ${i} segments run past its ${idx.length} indices`);
    }
    for (let k = 1; k < segs.length; k++) if (segs[k] < segs[k - 1]) fail(`level ${i} segments decrease`);
    for (let k = 0; k < idx.length; k++) {
      if (idx[k] < 0 || idx[k] >= expanded[e]) fail(`level ${i} index ${idx[k]} out of range`);
    }
    return { ...md, e };
  });

  const pos = new Int32Array(stored);
  let placed = 0;
  const put = (value: number, offset: number) => {
    if (value >= stored) fail(`value ${value} of ${stored} stored values`);
    pos[value] = offset;
    placed++;
  };
  // Each level's entries are reached from one parent entry each, so every stored value is visited once.
  const walk = (level: number, prev: number, offset: number): void => {
    const L = levels[level];
    const st = step[L.e];
    const leaf = level === n - 1;
    if (L.dense) {
      for (let c = 0; c < L.denseSize; c++) {
        if (leaf) put(prev * L.denseSize + c, offset + c * st);
        else walk(level + 1, prev * L.denseSize + c, offset + c * st);
      }
      return;
    }
    if (prev + 1 >= L.segments.length) fail(`level ${level} has no segment ${prev}`);
    for (let j = L.segments[prev]; j < L.segments[prev + 1]; j++) {
      if (leaf) put(j, offset + L.indices[j] * st);
      else walk(level + 1, j, offset + L.indices[j] * st);
    }
  };
  if (n === 0) put(0, 0);
  else walk(0, 0, 0);
  if (placed !== stored) fail(`the layout places ${placed} values, ${stored} are stored`);
  return pos;
}

/** Same-width unsigned views, so values move as bit patterns (NaN payloads and -0 included). */
function bits(a: TypedArray): Uint8Array | Uint16Array | Uint32Array | BigUint64Array {
  const n = a.length;
  switch (a.BYTES_PER_ELEMENT) {
    case 1:
      return new Uint8Array(a.buffer, a.byteOffset, n);
    case 2:
      return new Uint16Array(a.buffer, a.byteOffset, n);
    case 4:
      return new Uint32Array(a.buffer, a.byteOffset, n);
    default:
      return new BigUint64Array(a.buffer, a.byteOffset, n);
  }
}

/** Writes `values[i]` to `out[pos[i]]`; the rest of `out` is left as it is (zero when freshly allocated). */
export function scatter(pos: Int32Array, values: TypedArray, out: TypedArray): void {
  const v = bits(values), o = bits(out);
  if (v.BYTES_PER_ELEMENT !== o.BYTES_PER_ELEMENT) {
    throw new LatheError("runtime", "sparse values and dense tensor differ in element width");
  }
  if (v instanceof BigUint64Array) {
    const oo = o as BigUint64Array;
    for (let i = 0; i < pos.length; i++) oo[pos[i]] = v[i];
    return;
  }
  const oo = o as Uint8Array | Uint16Array | Uint32Array;
  for (let i = 0; i < pos.length; i++) oo[pos[i]] = v[i];
}
