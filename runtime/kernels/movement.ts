/**
 * Element movement shared by the shape and indexing kernels. Everything works on any storage (typed arrays
 * of every width, BigInt arrays, string arrays) because it only copies elements, and copies contiguous runs
 * with set/subarray where the layout allows.
 */
import type { TypedArray } from "../tensor.ts";

export type Storage = TypedArray | string[];

/** dst[dOff..dOff+n) = src[sOff..sOff+n); both of the same storage class. */
export function copyRun(dst: Storage, dOff: number, src: Storage, sOff: number, n: number): void {
  if (n <= 0) return;
  // set/subarray pays for a view object per call; below ~48 elements a plain loop is faster.
  if (n > 48 && !(dst instanceof Array) && !(src instanceof Array)) {
    (dst as any).set((src as any).subarray(sOff, sOff + n), dOff);
    return;
  }
  const d = dst as any, s = src as any;
  for (let i = 0; i < n; i++) d[dOff + i] = s[sOff + i];
}

export function fillRun(dst: Storage, dOff: number, n: number, v: unknown): void {
  if (n <= 0) return;
  (dst as any).fill(v, dOff, dOff + n);
}

export function stridesFor(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** True when map is 0, 1, ..., n-1 over a source axis of size n. */
function isFullIdentity(map: Int32Array, n: number): boolean {
  if (map.length !== n) return false;
  for (let i = 0; i < n; i++) if (map[i] !== i) return false;
  return true;
}

/**
 * Merges trailing axis pairs whose combined map stays cheap to run: an inner axis read whole and in order
 * (Slice of leading axes, Pad of the outer ones) or two broadcast axes (Expand). Longer innermost maps mean
 * longer copy runs and fewer rows.
 */
function mergeTrailing(srcShape: number[], maps: Int32Array[]): void {
  while (maps.length >= 2) {
    const r = maps.length;
    const a = maps[r - 2], b = maps[r - 1];
    const n = srcShape[r - 1];
    const len = a.length * b.length;
    if (len > 1 << 16) return;
    const bothBroadcast = srcShape[r - 2] === 1 && n === 1;
    if (!bothBroadcast && !(isFullIdentity(b, n) && !a.includes(-1))) return;
    const m = new Int32Array(len);
    for (let i = 0, p = 0; i < a.length; i++) {
      const base = a[i] * n;
      for (let j = 0; j < b.length; j++) m[p++] = base + b[j];
    }
    srcShape.splice(r - 2, 2, srcShape[r - 2] * n);
    maps.splice(r - 2, 2, m);
  }
}

/**
 * out[o0,..,ok] = src[maps[0][o0],..,maps[k][ok]], or `fill` where any map entry is -1. Serves Slice, Pad,
 * Tile, Expand, CenterCropPad and nearest Resize: each is a per-axis index map. The innermost map is cut
 * into runs (consecutive: copied with set/subarray; repeated: filled; constant stride: one tight loop).
 */
export function gatherAxes(
  dst: Storage,
  src: Storage,
  srcShapeIn: readonly number[],
  mapsIn: readonly Int32Array[],
  fill: unknown,
): void {
  if (srcShapeIn.length === 0) {
    dst[0] = src[0] as any;
    return;
  }
  for (const m of mapsIn) if (m.length === 0) return;
  const srcShape = [...srcShapeIn], maps = [...mapsIn];
  mergeTrailing(srcShape, maps);
  const r = srcShape.length;
  const strides = stridesFor(srcShape);
  const last = maps[r - 1];
  const m = last.length;
  // Runs of the innermost map as (outStart, srcStart, length, step); srcStart -1 means the fill value.
  const runs: number[] = [];
  for (let o = 0; o < m;) {
    const s0 = last[o];
    let len = 1, step = 0;
    if (s0 < 0) { while (o + len < m && last[o + len] < 0) len++; }
    else if (o + 1 < m && last[o + 1] >= 0) {
      step = last[o + 1] - s0;
      while (o + len < m && last[o + len] === s0 + len * step) len++;
    }
    runs.push(o, s0, len, step);
    o += len;
  }
  const nr = runs.length;
  const outer = maps.slice(0, r - 1).reduce((p, mp) => p * mp.length, 1);
  const idx = new Int32Array(r - 1);
  const d = dst as any, s = src as any;
  let base = 0, dead = 0;
  // base = sum of maps[a][idx[a]] * strides[a] over outer axes; dead counts outer axes mapped to -1.
  for (let a = 0; a < r - 1; a++) {
    const v = maps[a][0];
    if (v < 0) dead++;
    else base += v * strides[a];
  }
  // Short runs on average (nearest upsampling, strided slices): one indexed loop beats per-run calls.
  const perElement = nr / 4 > m / 8;
  const hasFill = perElement && last.includes(-1);
  let p = 0;
  for (let row = 0; row < outer; row++) {
    if (dead > 0) d.fill(fill, p, p + m);
    else if (perElement) {
      if (hasFill) { for (let t = 0; t < m; t++) d[p + t] = last[t] < 0 ? fill : s[base + last[t]]; }
      else for (let t = 0; t < m; t++) d[p + t] = s[base + last[t]];
    } else {
      for (let k = 0; k < nr; k += 4) {
        const o = p + runs[k], sv = runs[k + 1], len = runs[k + 2], step = runs[k + 3];
        if (sv < 0) d.fill(fill, o, o + len);
        else if (step === 1) copyRun(dst, o, src, base + sv, len);
        else if (step === 0 && len > 1) d.fill(s[base + sv], o, o + len);
        else for (let t = 0, q = base + sv; t < len; t++, q += step) d[o + t] = s[q];
      }
    }
    p += m;
    // Advance the odometer over the outer axes, keeping base and dead incremental.
    for (let a = r - 2; a >= 0; a--) {
      const map = maps[a];
      const old = map[idx[a]];
      if (old < 0) dead--;
      else base -= old * strides[a];
      if (++idx[a] < map.length) {
        const nv = map[idx[a]];
        if (nv < 0) dead++;
        else base += nv * strides[a];
        break;
      }
      idx[a] = 0;
      const nv = map[0];
      if (nv < 0) dead++;
      else base += nv * strides[a];
    }
  }
}

/**
 * Drops size-1 axes and merges axes that stay adjacent under the permutation, so NCHW→NHWC becomes a
 * batched 2-D transpose and a no-op permutation becomes a copy.
 */
export function canonicalPermutation(
  shape: readonly number[],
  perm: readonly number[],
): { shape: number[]; perm: number[] } {
  const keep = perm.filter((p) => shape[p] !== 1);
  // Group consecutive entries of keep that are consecutive input axes.
  const groups: number[][] = [];
  for (const p of keep) {
    const g = groups[groups.length - 1];
    if (g && g[g.length - 1] + 1 === p) g.push(p);
    else groups.push([p]);
  }
  const order = [...groups].sort((x, y) => x[0] - y[0]);
  const newShape = order.map((g) => g.reduce((acc, ax) => acc * shape[ax], 1));
  const newPerm = groups.map((g) => order.indexOf(g));
  return { shape: newShape, perm: newPerm };
}

/** dst = transpose(src) for a row-major src of `shape`. */
export function transposeInto(
  dst: Storage,
  src: Storage,
  shape: readonly number[],
  perm: readonly number[],
): void {
  const total = shape.reduce((p, d) => p * d, 1);
  if (total === 0) return;
  const c = canonicalPermutation(shape, perm);
  const r = c.perm.length;
  if (r <= 1) {
    copyRun(dst, 0, src, 0, total);
    return;
  }
  // Batched 2-D transpose: [..., A, B] -> [..., B, A] with the leading axes in place.
  let lead = 0;
  while (lead < r && c.perm[lead] === lead) lead++;
  if (lead === r - 2 && c.perm[r - 2] === r - 1 && c.perm[r - 1] === r - 2) {
    const rows = c.shape[r - 2], cols = c.shape[r - 1];
    const batch = total / (rows * cols);
    for (let b = 0; b < batch; b++) transpose2d(dst, src, b * rows * cols, rows, cols);
    return;
  }
  const inStrides = stridesFor(c.shape);
  const outShape = c.perm.map((p) => c.shape[p]);
  const st = c.perm.map((p) => inStrides[p]);
  const d = dst as any, s = src as any;
  const inner = outShape[r - 1], innerStride = st[r - 1];
  if (innerStride === 1) {
    // The innermost axis stays innermost: copy runs.
    gatherRows(dst, src, outShape, st, (p, base) => copyRun(dst, p, src, base, inner));
    return;
  }
  gatherRows(dst, src, outShape, st, (p, base) => {
    for (let i = 0, q = base; i < inner; i++, q += innerStride) d[p + i] = s[q];
  });
}

/** Iterates the rows of an output of `outShape` with source strides `st`, calling row(outOffset, srcBase). */
function gatherRows(
  _dst: Storage,
  _src: Storage,
  outShape: readonly number[],
  st: readonly number[],
  row: (p: number, base: number) => void,
): void {
  const r = outShape.length;
  const inner = outShape[r - 1];
  const outer = outShape.slice(0, r - 1).reduce((p, d) => p * d, 1);
  const idx = new Int32Array(r - 1);
  let base = 0;
  for (let k = 0, p = 0; k < outer; k++, p += inner) {
    row(p, base);
    for (let a = r - 2; a >= 0; a--) {
      base += st[a];
      if (++idx[a] < outShape[a]) break;
      base -= st[a] * outShape[a];
      idx[a] = 0;
    }
  }
}

/**
 * [rows, cols] -> [cols, rows] at offset `off` of both arrays. Column blocks keep the output block in
 * cache; four source rows per pass write four consecutive outputs per column.
 */
function transpose2d(dst: Storage, src: Storage, off: number, rows: number, cols: number): void {
  const d = dst as any, s = src as any;
  const B = Math.max(16, Math.floor(16384 / rows));
  for (let j0 = 0; j0 < cols; j0 += B) {
    const j1 = Math.min(cols, j0 + B);
    let i = 0;
    for (; i + 4 <= rows; i += 4) {
      const r0 = off + i * cols, r1 = r0 + cols, r2 = r1 + cols, r3 = r2 + cols;
      for (let j = j0, p = off + j0 * rows + i; j < j1; j++, p += rows) {
        d[p] = s[r0 + j];
        d[p + 1] = s[r1 + j];
        d[p + 2] = s[r2 + j];
        d[p + 3] = s[r3 + j];
      }
    }
    for (; i < rows; i++) {
      const r = off + i * cols;
      for (let j = j0, p = off + j0 * rows + i; j < j1; j++, p += rows) d[p] = s[r + j];
    }
  }
}

/** The flat offsets that broadcasting `shape` to `outShape` reads, as per-axis maps for gatherAxes. */
export function broadcastMaps(shape: readonly number[], outShape: readonly number[]): Int32Array[] {
  const r = outShape.length;
  const off = r - shape.length;
  return outShape.map((d, i) => {
    const m = new Int32Array(d);
    const src = i - off < 0 ? 1 : shape[i - off];
    if (src !== 1) { for (let k = 0; k < d; k++) m[k] = k; }
    return m;
  }).slice(0, r);
}

export function identityMap(n: number, start = 0, step = 1): Int32Array {
  const m = new Int32Array(n);
  for (let i = 0; i < n; i++) m[i] = start + i * step;
  return m;
}
