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
  if (n > 16 && !(dst instanceof Array) && !(src instanceof Array)) {
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

/**
 * out[o0,..,ok] = src[maps[0][o0],..,maps[k][ok]], or `fill` where any map entry is -1. Serves Slice, Pad,
 * Tile, Expand, CenterCropPad and nearest Resize: each is a per-axis index map. The innermost axis is
 * copied as runs wherever its map is consecutive.
 */
export function gatherAxes(
  dst: Storage,
  src: Storage,
  srcShape: readonly number[],
  maps: readonly Int32Array[],
  fill: unknown,
): void {
  const r = srcShape.length;
  if (r === 0) {
    dst[0] = src[0] as any;
    return;
  }
  const strides = stridesFor(srcShape);
  const outShape = maps.map((m) => m.length);
  for (const d of outShape) if (d === 0) return;
  const last = maps[r - 1];
  const m = last.length;
  // Runs of the innermost map: [outStart, srcStart, length] triples, src -1 for fill.
  const runs: number[] = [];
  for (let o = 0; o < m;) {
    const s0 = last[o];
    let len = 1;
    if (s0 < 0) { while (o + len < m && last[o + len] < 0) len++; }
    else while (o + len < m && last[o + len] === s0 + len) len++;
    runs.push(o, s0, len);
    o += len;
  }
  const singleRun = runs.length === 3 && runs[1] >= 0;
  const outer = outShape.slice(0, r - 1).reduce((p, d) => p * d, 1);
  const idx = new Int32Array(r - 1);
  const d = dst as any, s = src as any;
  let base = 0, dead = 0;
  // base = sum of maps[a][idx[a]] * strides[a] over outer axes; dead counts outer axes mapped to -1.
  for (let a = 0; a < r - 1; a++) {
    const v = maps[a][0];
    if (v < 0) dead++;
    else base += v * strides[a];
  }
  let p = 0;
  for (let row = 0; row < outer; row++) {
    if (dead > 0) {
      d.fill(fill, p, p + m);
    } else if (singleRun) {
      copyRun(dst, p, src, base + runs[1], m);
    } else {
      for (let k = 0; k < runs.length; k += 3) {
        const o = runs[k], sv = runs[k + 1], len = runs[k + 2];
        if (sv < 0) d.fill(fill, p + o, p + o + len);
        else if (len > 16) copyRun(dst, p + o, src, base + sv, len);
        else for (let t = 0; t < len; t++) d[p + o + t] = s[base + sv + t];
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

/** Cache-blocked [rows, cols] -> [cols, rows] at offset `off` of both arrays. */
function transpose2d(dst: Storage, src: Storage, off: number, rows: number, cols: number): void {
  const d = dst as any, s = src as any;
  const B = 32;
  for (let i0 = 0; i0 < rows; i0 += B) {
    const i1 = Math.min(rows, i0 + B);
    for (let j0 = 0; j0 < cols; j0 += B) {
      const j1 = Math.min(cols, j0 + B);
      for (let i = i0; i < i1; i++) {
        const si = off + i * cols;
        for (let j = j0; j < j1; j++) d[off + j * rows + i] = s[si + j];
      }
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
