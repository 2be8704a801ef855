/**
 * How a target value's elements line up with its paired source value's. Size-1 axes never change where an
 * element sits in memory, so relations are stated on the shapes with those axes dropped ("squeezed"): a
 * `perm` relation says source axis i (squeezed) is target axis perm[i] (squeezed); `reshape` says the two
 * hold the same elements in the same order under different shapes (Flatten against a RESHAPE). The identity
 * permutation covers every pair whose squeezed shapes are equal in order, e.g. [1,1280,1,1] against [1,1280].
 */
import { LatheError } from "../../ir/errors.ts";
import type { Dim } from "../../ir/value-type.ts";

export type Relation =
  | { readonly kind: "perm"; readonly perm: readonly number[] }
  | { readonly kind: "reshape" };

/** A permutation over full (unsqueezed) shapes: source axis i is target axis perm[i]. */
export type FullPerm = readonly number[];

/** NCHW source read from an NHWC target, and the other way round. */
export const NHWC_TO_NCHW: FullPerm = [0, 3, 1, 2];
export const NCHW_TO_NHWC: FullPerm = [0, 2, 3, 1];

function nonUnit(shape: readonly Dim[]): number[] {
  const axes: number[] = [];
  shape.forEach((d, i) => {
    if (d !== 1) axes.push(i);
  });
  return axes;
}

function dimsEqual(a: Dim, b: Dim): boolean {
  // Symbolic dims may bind to anything at run time, so they are compatible with every size.
  return typeof a !== "number" || typeof b !== "number" || a === b;
}

function count(shape: readonly Dim[]): number | undefined {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== "number") return undefined;
    n *= d;
  }
  return n;
}

/** A full-rank permutation hint restated on squeezed shapes, when it keeps every non-unit axis. */
export function squeezePerm(
  full: FullPerm,
  sShape: readonly Dim[],
  tShape: readonly Dim[],
): number[] | undefined {
  if (full.length !== sShape.length || full.length !== tShape.length) return undefined;
  const sAxes = nonUnit(sShape), tAxes = nonUnit(tShape);
  if (sAxes.length !== tAxes.length) return undefined;
  const tIndex = new Map(tAxes.map((a, i) => [a, i]));
  const out: number[] = [];
  for (const a of sAxes) {
    const j = tIndex.get(full[a]);
    if (j === undefined) return undefined;
    out.push(j);
  }
  return out;
}

/**
 * Every squeezed permutation under which the target's shape reads as the source's, in lexicographic order
 * (so equal-sized axes keep their relative order in the first one).
 */
export function candidatePerms(sShape: readonly Dim[], tShape: readonly Dim[], limit = 64): number[][] {
  const s = nonUnit(sShape).map((a) => sShape[a]), t = nonUnit(tShape).map((a) => tShape[a]);
  if (s.length !== t.length || s.length > 8) return [];
  const out: number[][] = [];
  const used = new Array<boolean>(t.length).fill(false);
  const cur: number[] = [];
  const walk = (i: number) => {
    if (out.length >= limit) return;
    if (i === s.length) {
      out.push([...cur]);
      return;
    }
    for (let j = 0; j < t.length; j++) {
      if (used[j] || !dimsEqual(s[i], t[j])) continue;
      used[j] = true;
      cur.push(j);
      walk(i + 1);
      cur.pop();
      used[j] = false;
    }
  };
  walk(0);
  return out;
}

export function isIdentity(p: readonly number[]): boolean {
  return p.every((x, i) => x === i);
}

/**
 * The relation between two shapes: the hint when the shapes allow it, else the identity, else the first
 * permutation in lexicographic order; a reshape when no permutation fits but the element counts agree.
 */
export function inferRelation(
  sShape: readonly Dim[],
  tShape: readonly Dim[],
  hint?: FullPerm,
): Relation | undefined {
  const cands = candidatePerms(sShape, tShape);
  if (cands.length) {
    if (hint) {
      const h = squeezePerm(hint, sShape, tShape);
      if (h && cands.some((c) => c.every((x, i) => x === h[i]))) return { kind: "perm", perm: h };
    }
    return { kind: "perm", perm: cands.find(isIdentity) ?? cands[0] };
  }
  const a = count(sShape), b = count(tShape);
  if (a !== undefined && a === b) return { kind: "reshape" };
  return undefined;
}

/** Whether reading through the relation leaves the element order unchanged. */
export function keepsOrder(r: Relation): boolean {
  return r.kind === "reshape" || isIdentity(r.perm);
}

/** A relation restated on full shapes, when it is a permutation and both ranks allow it. */
export function fullPerm(r: Relation, sShape: readonly Dim[], tShape: readonly Dim[]): number[] | undefined {
  if (r.kind !== "perm" || sShape.length !== tShape.length) return undefined;
  const sAxes = nonUnit(sShape), tAxes = nonUnit(tShape);
  const sUnit = sShape.map((_, i) => i).filter((i) => sShape[i] === 1);
  const tUnit = tShape.map((_, i) => i).filter((i) => tShape[i] === 1);
  const out = new Array<number>(sShape.length);
  sAxes.forEach((a, i) => (out[a] = tAxes[r.perm[i]]));
  // Unit axes pair in order; their placement does not move any element.
  sUnit.forEach((a, i) => (out[a] = tUnit[i]));
  return out;
}

/**
 * Composes a source-side Transpose (out axis i = in axis q[i]) into a full relation P (source axis i =
 * target axis P[i]) between the transpose's input and some target value.
 */
export function throughSourceTranspose(p: FullPerm, q: readonly number[]): number[] | undefined {
  if (p.length !== q.length) return undefined;
  return q.map((a) => p[a]);
}

/** Composes a target-side Transpose (out axis j = in axis r[j]). */
export function throughTargetTranspose(p: FullPerm, r: readonly number[]): number[] | undefined {
  if (p.length !== r.length) return undefined;
  const inv = new Array<number>(r.length);
  r.forEach((a, j) => (inv[a] = j));
  return p.map((a) => inv[a]);
}

/**
 * Target data read in the source's layout. `tShape` is the target's runtime shape; the result has the
 * source's element order. Returns the input array when the relation keeps the order.
 */
export function toSourceOrder<T extends Float64Array | Float32Array>(
  data: T,
  tShape: readonly number[],
  r: Relation,
  sShape: readonly number[],
): T {
  if (keepsOrder(r)) return data;
  const perm = (r as { perm: readonly number[] }).perm;
  const tAxes = nonUnit(tShape);
  const tDims = tAxes.map((a) => tShape[a]);
  const sDims = perm.map((j) => tDims[j]);
  const sq = nonUnit(sShape).map((a) => sShape[a]);
  if (sq.length !== sDims.length || sq.some((d, i) => d !== sDims[i])) {
    throw new LatheError("runtime", `relation [${perm}] does not map [${tShape}] onto [${sShape}]`);
  }
  const rank = tDims.length;
  const tStrides = new Array<number>(rank);
  let acc = 1;
  for (let i = rank - 1; i >= 0; i--) {
    tStrides[i] = acc;
    acc *= tDims[i];
  }
  // Stride in the target of each source axis, walked with an odometer over the source's index space.
  const step = perm.map((j) => tStrides[j]);
  const out = new (data.constructor as { new (n: number): T })(data.length);
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  const n = data.length;
  const last = rank - 1;
  if (rank === 0) {
    out[0] = data[0];
    return out;
  }
  const inner = sDims[last], innerStep = step[last];
  for (let o = 0; o < n; o += inner) {
    let s = src;
    for (let k = 0; k < inner; k++, s += innerStep) out[o + k] = data[s];
    for (let a = last - 1; a >= 0; a--) {
      idx[a]++;
      src += step[a];
      if (idx[a] < sDims[a]) break;
      src -= step[a] * sDims[a];
      idx[a] = 0;
    }
  }
  return out;
}

/** Source data written in the target's layout (the inverse of toSourceOrder), for feeding inputs. */
export function toTargetOrder<T extends Float64Array | Float32Array>(
  data: T,
  sShape: readonly number[],
  r: Relation,
  tShape: readonly number[],
): T {
  if (keepsOrder(r)) return data;
  const perm = (r as { perm: readonly number[] }).perm;
  const inv = new Array<number>(perm.length);
  perm.forEach((j, i) => (inv[j] = i));
  return toSourceOrder(data, sShape, { kind: "perm", perm: inv }, tShape);
}

export function describeRelation(r: Relation | undefined): string {
  if (!r) return "incompatible";
  if (r.kind === "reshape") return "reshape";
  return isIdentity(r.perm) ? "same order" : `perm [${r.perm.join(",")}]`;
}

/** A full transpose (out axis i = in axis q[i]) of row-major data; returns the data and its new shape. */
export function transposeData<T extends Float64Array | Float32Array>(
  data: T,
  shape: readonly number[],
  q: readonly number[],
): { data: T; shape: number[] } {
  const out = q.map((a) => shape[a]);
  const p = squeezePerm(q, out, shape);
  if (!p) throw new LatheError("runtime", `[${q}] is not a permutation of [${shape}]`);
  return { data: toSourceOrder(data, shape, { kind: "perm", perm: p }, out), shape: out };
}

/** Row-major data reversed along one axis (the channel order of an image, an input-channel axis). */
export function reverseAxis(d: Float64Array, shape: readonly number[], axis: number): Float64Array {
  let inner = 1;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  const n = shape[axis], outer = d.length / (inner * n);
  const out = new Float64Array(d.length);
  for (let o = 0; o < outer; o++) {
    for (let a = 0; a < n; a++) {
      const src = (o * n + a) * inner, dst = (o * n + (n - 1 - a)) * inner;
      for (let i = 0; i < inner; i++) out[dst + i] = d[src + i];
    }
  }
  return out;
}
