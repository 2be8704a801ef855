/**
 * Kernels: indexing ops. Index operands may be any integer type; negative indices count from the end of
 * their axis and anything still out of range is a runtime error, never a silent wrap.
 */
import { sliceAxes } from "../../ir/ops/indexing.ts";
import { normalizeAxis } from "../../ir/shape-infer.ts";
import { LatheError } from "../../ir/errors.ts";
import { type Kernel, type KernelContext, registerKernel } from "../kernel-registry.ts";
import type { RValue, Tensor, TypedArray } from "../tensor.ts";
import { fromFloat64, toFloat64 } from "./float-view.ts";
import { checkedSize, dataArg, fail, intValues, optTensor, scalarValue, tensorArg } from "./kernel-args.ts";
import { copyRun, gatherAxes, identityMap, stridesFor } from "./movement.ts";
import "./grid-sample.ts";

function axisOf(v: number, rank: number, what: string): number {
  try {
    return normalizeAxis(v, rank, what);
  } catch (e) {
    if (e instanceof LatheError) fail(e.reason);
    throw e;
  }
}

/** Index values as an Int32Array-sized numeric array, each checked against [-n, n). */
function indexValues(t: Tensor, n: number, what: string): Float64Array {
  const d = t.data;
  if (d instanceof Array) fail(`${what} must be integers, got strings`);
  const out = new Float64Array(d.length);
  for (let i = 0; i < d.length; i++) {
    let v = Number(d[i]);
    if (v < 0) v += n;
    if (!(v >= 0 && v < n)) fail(`${what} value ${d[i]} is out of range for a dimension of ${n}`);
    out[i] = v;
  }
  return out;
}

const prod = (s: readonly number[], from = 0, to = s.length) => {
  let p = 1;
  for (let i = from; i < to; i++) p *= s[i];
  return p;
};

registerKernel("Slice", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "data");
  const starts = intValues(tensorArg(inputs, 1, "starts"));
  const ends = intValues(tensorArg(inputs, 2, "ends"));
  const axesT = optTensor(inputs, 3), stepsT = optTensor(inputs, 4);
  let spec;
  try {
    spec = sliceAxes(
      x.shape,
      starts,
      ends,
      axesT ? intValues(axesT) : undefined,
      stepsT ? intValues(stepsT) : undefined,
    );
  } catch (e) {
    if (e instanceof LatheError) fail(e.reason);
    throw e;
  }
  const maps = x.shape.map((d) => identityMap(d));
  for (const s of spec) {
    if ("dynamic" in s) fail("Slice on a symbolic dimension");
    maps[s.axis] = identityMap(s.count, s.start, s.step);
  }
  const out = ctx.alloc(x.dtype, maps.map((m) => m.length));
  if (out.data.length) gatherAxes(out.data, x.data, x.shape, maps, undefined);
  return [out];
});

registerKernel("Gather", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "data"), it = tensorArg(inputs, 1, "indices");
  const axis = axisOf(ctx.attrs.axis, x.shape.length, "Gather axis");
  const n = x.shape[axis];
  const idx = indexValues(it, n, "Gather index");
  const shape = [...x.shape.slice(0, axis), ...it.shape, ...x.shape.slice(axis + 1)];
  checkedSize(shape);
  const out = ctx.alloc(x.dtype, shape);
  const outer = prod(x.shape, 0, axis), inner = prod(x.shape, axis + 1);
  const K = idx.length;
  const src = x.data as any, dst = out.data as any;
  for (let o = 0; o < outer; o++) {
    const sBase = o * n * inner, dBase = o * K * inner;
    if (inner === 1) { for (let k = 0; k < K; k++) dst[dBase + k] = src[sBase + idx[k]]; }
    else {for (let k = 0; k < K; k++) {
        copyRun(out.data, dBase + k * inner, x.data, sBase + idx[k] * inner, inner);
      }}
  }
  return [out];
});

/** Calls visit(flatIndexPosition, dataOffsetWithoutAxis) over every position of `shape`. */
function forEachPosition(
  shape: readonly number[],
  dataStrides: readonly number[],
  axis: number,
  visit: (i: number, base: number) => void,
): void {
  const r = shape.length;
  const total = prod(shape);
  if (total === 0) return;
  const idx = new Int32Array(r);
  let base = 0;
  for (let i = 0; i < total; i++) {
    visit(i, base);
    for (let a = r - 1; a >= 0; a--) {
      const st = a === axis ? 0 : dataStrides[a];
      base += st;
      if (++idx[a] < shape[a]) break;
      base -= st * shape[a];
      idx[a] = 0;
    }
  }
}

function elementsCheck(x: Tensor, it: Tensor, axis: number, what: string): void {
  if (it.shape.length !== x.shape.length) {
    fail(`${what} indices rank ${it.shape.length} differs from data rank ${x.shape.length}`);
  }
  for (let a = 0; a < x.shape.length; a++) {
    if (a !== axis && it.shape[a] > x.shape[a]) {
      fail(`${what} indices [${it.shape}] exceed data [${x.shape}] on axis ${a}`);
    }
  }
}

registerKernel("GatherElements", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "data"), it = tensorArg(inputs, 1, "indices");
  const axis = axisOf(ctx.attrs.axis, x.shape.length, "GatherElements axis");
  elementsCheck(x, it, axis, "GatherElements");
  const idx = indexValues(it, x.shape[axis], "GatherElements index");
  const out = ctx.alloc(x.dtype, it.shape);
  const strides = stridesFor(x.shape);
  const sa = strides[axis];
  const src = x.data as any, dst = out.data as any;
  forEachPosition(it.shape, strides, axis, (i, base) => {
    dst[i] = src[base + idx[i] * sa];
  });
  return [out];
});

registerKernel("GatherND", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "data"), it = tensorArg(inputs, 1, "indices");
  const b: number = ctx.attrs.batch_dims;
  const ir = it.shape.length;
  if (ir < 1) fail("GatherND indices must have rank >= 1");
  const k = it.shape[ir - 1];
  if (b < 0 || b >= ir || b + k > x.shape.length) {
    fail(`GatherND batch_dims ${b} and index length ${k} do not fit data [${x.shape}]`);
  }
  for (let i = 0; i < b; i++) {
    if (it.shape[i] !== x.shape[i]) {
      fail(`GatherND batch dim ${i} differs: ${it.shape[i]} vs ${x.shape[i]}`);
    }
  }
  const shape = [...it.shape.slice(0, -1), ...x.shape.slice(b + k)];
  const out = ctx.alloc(x.dtype, shape);
  const batch = prod(x.shape, 0, b);
  const perBatch = prod(it.shape, b, ir - 1);
  const slice = prod(x.shape, b + k);
  const batchStride = prod(x.shape, b);
  const strides = stridesFor(x.shape);
  const iv = it.data as ArrayLike<number | bigint>;
  for (let bi = 0; bi < batch; bi++) {
    for (let j = 0; j < perBatch; j++) {
      const row = (bi * perBatch + j) * k;
      let off = bi * batchStride;
      for (let t = 0; t < k; t++) {
        const n = x.shape[b + t];
        let v = Number(iv[row + t]);
        if (v < 0) v += n;
        if (!(v >= 0 && v < n)) fail(`GatherND index ${iv[row + t]} is out of range for a dimension of ${n}`);
        off += v * strides[b + t];
      }
      copyRun(out.data, (bi * perBatch + j) * slice, x.data, off, slice);
    }
  }
  return [out];
});

type Reduce = (old: any, upd: any) => any;
const REDUCTIONS: Record<string, Reduce | undefined> = {
  none: undefined,
  add: (a, b) => a + b,
  mul: (a, b) => a * b,
  max: (a, b) => (b > a ? b : a),
  min: (a, b) => (b < a ? b : a),
};

function reductionOf(name: string, data: Tensor): Reduce | undefined {
  if (!(name in REDUCTIONS)) fail(`unknown reduction '${name}'`);
  const f = REDUCTIONS[name];
  if (f && data.dtype === "bool") {
    // Booleans stored as 0/1: add is or, mul is and.
    if (name === "add") return (a, b) => (a || b ? 1 : 0);
    if (name === "mul") return (a, b) => (a && b ? 1 : 0);
  }
  if (f && data.dtype === "string") fail(`reduction ${name} on strings`);
  return f;
}

/** A copy of data in a fresh buffer (scatters start from the input and must not mutate it). */
function cloneInto(ctx: KernelContext, x: Tensor): Tensor {
  const out = ctx.alloc(x.dtype, x.shape);
  copyRun(out.data, 0, x.data, 0, x.data.length);
  return out;
}

const scatterElements: Kernel = (inputs: readonly (RValue | undefined)[], ctx: KernelContext) => {
  const x = dataArg(inputs, 0, "data"),
    it = tensorArg(inputs, 1, "indices"),
    u = dataArg(inputs, 2, "updates");
  const axis = axisOf(ctx.attrs.axis, x.shape.length, "ScatterElements axis");
  elementsCheck(x, it, axis, "ScatterElements");
  if (u.shape.length !== it.shape.length || u.shape.some((d, i) => d !== it.shape[i])) {
    fail(`ScatterElements updates [${u.shape}] differ from indices [${it.shape}]`);
  }
  const idx = indexValues(it, x.shape[axis], "ScatterElements index");
  const red = reductionOf(ctx.attrs.reduction ?? "none", x);
  const out = cloneInto(ctx, x);
  const strides = stridesFor(x.shape);
  const sa = strides[axis];
  const dst = out.data as any, upd = u.data as any;
  forEachPosition(it.shape, strides, axis, (i, base) => {
    const o = base + idx[i] * sa;
    dst[o] = red ? red(dst[o], upd[i]) : upd[i];
  });
  return [out];
};
registerKernel("ScatterElements", scatterElements);
registerKernel("Scatter", scatterElements);

registerKernel("ScatterND", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "data"),
    it = tensorArg(inputs, 1, "indices"),
    u = dataArg(inputs, 2, "updates");
  const ir = it.shape.length;
  if (ir < 1) fail("ScatterND indices must have rank >= 1");
  const k = it.shape[ir - 1];
  if (k > x.shape.length) fail(`ScatterND index length ${k} exceeds data rank ${x.shape.length}`);
  const want = [...it.shape.slice(0, -1), ...x.shape.slice(k)];
  if (u.shape.length !== want.length || u.shape.some((d, i) => d !== want[i])) {
    fail(`ScatterND updates [${u.shape}] should be [${want}]`);
  }
  const red = reductionOf(ctx.attrs.reduction, x);
  const out = cloneInto(ctx, x);
  const count = prod(it.shape, 0, ir - 1);
  const slice = prod(x.shape, k);
  const strides = stridesFor(x.shape);
  const iv = it.data as ArrayLike<number | bigint>;
  const dst = out.data as any, upd = u.data as any;
  for (let j = 0; j < count; j++) {
    let off = 0;
    for (let t = 0; t < k; t++) {
      const n = x.shape[t];
      let v = Number(iv[j * k + t]);
      if (v < 0) v += n;
      if (!(v >= 0 && v < n)) {
        fail(`ScatterND index ${iv[j * k + t]} is out of range for a dimension of ${n}`);
      }
      off += v * strides[t];
    }
    if (!red) copyRun(out.data, off, u.data, j * slice, slice);
    else for (let i = 0; i < slice; i++) dst[off + i] = red(dst[off + i], upd[j * slice + i]);
  }
  return [out];
});

registerKernel("OneHot", (inputs, ctx) => {
  const it = tensorArg(inputs, 0, "indices"),
    dt = tensorArg(inputs, 1, "depth"),
    vt = dataArg(inputs, 2, "values");
  const depth = Math.trunc(scalarValue(dt, "depth"));
  if (!(depth >= 0)) fail(`OneHot depth ${depth} is negative`);
  if (vt.data.length !== 2) fail(`OneHot values must have 2 elements, has ${vt.data.length}`);
  const r = it.shape.length + 1;
  const axis = axisOf(ctx.attrs.axis, r, "OneHot axis");
  const shape = [...it.shape];
  shape.splice(axis, 0, depth);
  checkedSize(shape);
  const out = ctx.alloc(vt.dtype, shape);
  const dst = out.data as any;
  const off = vt.data[0], on = vt.data[1];
  dst.fill(off);
  const outer = prod(it.shape, 0, axis), inner = prod(it.shape, axis);
  const iv = it.data as ArrayLike<number | bigint>;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let v = Math.trunc(Number(iv[o * inner + i]));
      if (v < 0) v += depth;
      if (v >= 0 && v < depth) dst[(o * depth + v) * inner + i] = on;
    }
  }
  return [out];
});

registerKernel("Compress", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "input"), c = tensorArg(inputs, 1, "condition");
  if (c.shape.length !== 1) fail(`Compress condition must be 1-D, got [${c.shape}]`);
  const cond = c.data as ArrayLike<number | bigint>;
  const flat = ctx.attrs.axis === undefined;
  const shape = flat ? [x.data.length] : x.shape;
  const axis = flat ? 0 : axisOf(ctx.attrs.axis, x.shape.length, "Compress axis");
  const n = shape[axis];
  if (cond.length > n) fail(`Compress condition has ${cond.length} entries for a dimension of ${n}`);
  const keep: number[] = [];
  for (let i = 0; i < cond.length; i++) if (cond[i]) keep.push(i);
  const outShape = shape.map((d, i) => (i === axis ? keep.length : d));
  const out = ctx.alloc(x.dtype, outShape);
  const outer = prod(shape, 0, axis), inner = prod(shape, axis + 1);
  let p = 0;
  for (let o = 0; o < outer; o++) {
    for (const i of keep) {
      copyRun(out.data, p, x.data, (o * n + i) * inner, inner);
      p += inner;
    }
  }
  return [out];
});

registerKernel("NonZero", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "X");
  const d = x.data as any;
  const n = d.length;
  const shape = x.shape.length ? x.shape : [1];
  const r = shape.length;
  let nnz = 0;
  // Loose comparison so bigint zeros and numeric zeros both count as zero (and NaN as non-zero).
  for (let i = 0; i < n; i++) if (d[i] != 0) nnz++;
  const out = ctx.alloc("i64", [r, nnz]);
  const o = out.data as BigInt64Array;
  const strides = stridesFor(shape);
  let col = 0;
  for (let i = 0; i < n; i++) {
    if (d[i] == 0) continue;
    let rem = i;
    for (let a = 0; a < r; a++) {
      const q = Math.floor(rem / strides[a]);
      rem -= q * strides[a];
      o[a * nnz + col] = BigInt(q);
    }
    col++;
  }
  return [out];
});

/**
 * TopK's order: larger (or smaller) values first, NaN above every number, equal values by smaller index.
 * Returns true when (a at index ia) comes before (b at index ib).
 */
function before(a: any, ia: number, b: any, ib: number, largest: boolean): boolean {
  const an = a !== a, bn = b !== b;
  if (an || bn) {
    if (an && bn) return ia < ib;
    return an === largest;
  }
  if (a === b) return ia < ib;
  return largest ? a > b : a < b;
}

/** Restores the heap below position i; the root is the element that comes last in TopK's order. */
function siftDown(heap: Int32Array, size: number, i: number, line: any, largest: boolean): void {
  for (;;) {
    const l = 2 * i + 1, r = l + 1;
    let w = i;
    if (l < size && before(line[heap[w]], heap[w], line[heap[l]], heap[l], largest)) w = l;
    if (r < size && before(line[heap[w]], heap[w], line[heap[r]], heap[r], largest)) w = r;
    if (w === i) return;
    const t = heap[i];
    heap[i] = heap[w];
    heap[w] = t;
    i = w;
  }
}

registerKernel("TopK", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "X");
  const k = Math.trunc(scalarValue(tensorArg(inputs, 1, "K"), "K"));
  const axis = axisOf(ctx.attrs.axis, x.shape.length, "TopK axis");
  const n = x.shape[axis];
  if (!(k >= 0 && k <= n)) fail(`TopK k=${k} is out of range for axis size ${n}`);
  if (x.data instanceof Array) fail("TopK on strings");
  const largest = ctx.attrs.largest !== 0;
  const shape = x.shape.map((d, i) => (i === axis ? k : d));
  const vOut = ctx.alloc(x.dtype, shape), iOut = ctx.alloc("i64", shape);
  const outer = prod(x.shape, 0, axis), inner = prod(x.shape, axis + 1);
  const src = x.data as any, dv = vOut.data as any, di = iOut.data as BigInt64Array;
  const vals: any = x.dtype === "bf16" ? toFloat64(x) : src;
  const big = src instanceof BigInt64Array || src instanceof BigUint64Array;
  const copy: any = big ? new Array(n) : new Float64Array(n);
  // A contiguous line of a typed array is scanned in place (a view), others are gathered first.
  const inPlace = inner === 1 && !(vals instanceof Array);
  const heap = new Int32Array(k);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      let line: any = copy;
      if (inPlace) line = vals.subarray(base, base + n);
      else for (let t = 0; t < n; t++) copy[t] = vals[base + t * inner];
      // Selection with a k-heap whose root is the current worst; later indices never win ties.
      let size = 0;
      for (; size < k; size++) {
        heap[size] = size;
        for (let c = size; c > 0;) {
          const p = (c - 1) >> 1;
          if (!before(line[heap[p]], heap[p], line[heap[c]], heap[c], largest)) break;
          const tmp = heap[p];
          heap[p] = heap[c];
          heap[c] = tmp;
          c = p;
        }
      }
      if (k > 0) {
        // Most elements lose to the current worst: one comparison decides unless a NaN is involved.
        let thr = line[heap[0]];
        for (let t = k; t < n; t++) {
          const v = line[t];
          if (
            (largest ? v > thr : v < thr) || ((v !== v || thr !== thr) && before(v, t, thr, heap[0], largest))
          ) {
            heap[0] = t;
            siftDown(heap, size, 0, line, largest);
            thr = line[heap[0]];
          }
        }
      }
      const picked = Array.from(heap.subarray(0, size)).sort((
        a,
        b,
      ) => (before(line[a], a, line[b], b, largest) ? -1 : 1));
      const ob = o * k * inner + i;
      for (let t = 0; t < k; t++) {
        dv[ob + t * inner] = src[base + picked[t] * inner];
        di[ob + t * inner] = BigInt(picked[t]);
      }
    }
  }
  return [vOut, iOut];
});

/** Lexicographic order over slices (Unique with an axis), numbers and strings by value. */
function compareValues(a: any, b: any): number {
  if (a === b) return 0;
  if (a !== a) return b !== b ? 0 : 1;
  if (b !== b) return -1;
  return a < b ? -1 : 1;
}

registerKernel("Unique", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "X");
  const flat = ctx.attrs.axis === undefined;
  const shape = flat ? [x.data.length] : x.shape;
  const axis = flat ? 0 : axisOf(ctx.attrs.axis, x.shape.length, "Unique axis");
  const n = shape[axis];
  const outer = prod(shape, 0, axis), inner = prod(shape, axis + 1);
  const src = x.data as any;
  // A slice is the set of elements with one index along the axis.
  const sliceVals = (i: number): any[] => {
    const v = new Array(outer * inner);
    for (let o = 0, p = 0; o < outer; o++) {
      for (let t = 0; t < inner; t++) v[p++] = src[(o * n + i) * inner + t];
    }
    return v;
  };
  const keyOf = (i: number): unknown => {
    if (flat || (outer === 1 && inner === 1)) return src[i];
    return sliceVals(i).map((
      v,
    ) => (typeof v === "number"
      ? (Object.is(v, -0) ? "0" : String(v))
      : typeof v === "bigint"
      ? `${v}n`
      : JSON.stringify(v))
    ).join(",");
  };
  const groupOf = new Map<unknown, number>();
  const first: number[] = [], counts: number[] = [];
  const inverse = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const key = keyOf(i);
    let g = groupOf.get(key);
    if (g === undefined) {
      g = first.length;
      groupOf.set(key, g);
      first.push(i);
      counts.push(0);
    }
    counts[g]++;
    inverse[i] = g;
  }
  let order = first.map((_, g) => g);
  if (ctx.attrs.sorted !== 0) {
    const slices = first.map((i) => (flat ? [src[i]] : sliceVals(i)));
    order = order.sort((g, h) => {
      const a = slices[g], b = slices[h];
      for (let t = 0; t < a.length; t++) {
        const c = compareValues(a[t], b[t]);
        if (c !== 0) return c;
      }
      return 0;
    });
  }
  const rank = new Array<number>(order.length);
  order.forEach((g, pos) => (rank[g] = pos));
  const u = order.length;
  const yShape = shape.map((d, i) => (i === axis ? u : d));
  const y = ctx.alloc(x.dtype, yShape);
  for (let o = 0; o < outer; o++) {
    for (let pos = 0; pos < u; pos++) {
      copyRun(y.data, (o * u + pos) * inner, x.data, (o * n + first[order[pos]]) * inner, inner);
    }
  }
  const i64 = (vals: number[]) => {
    const t = ctx.alloc("i64", [vals.length]);
    const d = t.data as BigInt64Array;
    for (let i = 0; i < vals.length; i++) d[i] = BigInt(vals[i]);
    return t;
  };
  return [
    y,
    i64(order.map((g) => first[g])),
    i64(inverse.map((g) => rank[g])),
    i64(order.map((g) => counts[g])),
  ];
});

registerKernel("ReverseSequence", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "input"), lt = tensorArg(inputs, 1, "sequence_lens");
  const bAxis: number = ctx.attrs.batch_axis, tAxis: number = ctx.attrs.time_axis;
  if (x.shape.length < 2) fail(`ReverseSequence needs rank >= 2, got [${x.shape}]`);
  if (!((bAxis === 0 && tAxis === 1) || (bAxis === 1 && tAxis === 0))) {
    fail(`batch_axis ${bAxis} and time_axis ${tAxis} must be 0 and 1`);
  }
  const B = x.shape[bAxis], T = x.shape[tAxis];
  const lens = intValues(lt);
  if (lens.length !== B) fail(`sequence_lens has ${lens.length} entries for batch ${B}`);
  const inner = prod(x.shape, 2);
  const out = ctx.alloc(x.dtype, x.shape);
  const at = (t: number, b: number) => (tAxis === 0 ? t * B + b : b * T + t) * inner;
  for (let b = 0; b < B; b++) {
    const L = lens[b];
    if (!(L >= 0 && L <= T)) fail(`sequence length ${L} is outside [0, ${T}]`);
    for (let t = 0; t < T; t++) copyRun(out.data, at(t, b), x.data, at(t < L ? L - 1 - t : t, b), inner);
  }
  return [out];
});

registerKernel("CumSum", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "x");
  const axis = axisOf(scalarValue(tensorArg(inputs, 1, "axis"), "axis"), x.shape.length, "CumSum axis");
  const exclusive = ctx.attrs.exclusive !== 0, reverse = ctx.attrs.reverse !== 0;
  const n = x.shape[axis];
  const outer = prod(x.shape, 0, axis), inner = prod(x.shape, axis + 1);
  const out = ctx.alloc(x.dtype, x.shape);
  const big = x.data instanceof BigInt64Array || x.data instanceof BigUint64Array;
  const narrow = x.dtype === "bf16";
  const src: any = narrow ? toFloat64(x) : x.data;
  const dst: any = narrow ? new Float64Array(src.length) : out.data;
  const acc: any = big ? new Array(inner) : new Float64Array(inner);
  const zero = big ? 0n : 0;
  for (let o = 0; o < outer; o++) {
    acc.fill(zero);
    for (let s = 0; s < n; s++) {
      const i = reverse ? n - 1 - s : s;
      const off = (o * n + i) * inner;
      for (let t = 0; t < inner; t++) {
        const v = src[off + t];
        if (exclusive) {
          dst[off + t] = acc[t];
          acc[t] += v;
        } else {
          acc[t] += v;
          dst[off + t] = acc[t];
        }
      }
    }
  }
  if (narrow) fromFloat64(x.dtype, dst, out.data as TypedArray);
  return [out];
});
