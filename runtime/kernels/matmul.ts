/**
 * Kernels: MatMul, Gemm, Einsum. Float32 (and f16/bf16, widened) multiplies on the SIMD GEMM engine;
 * f64 and integer types use the portable loop with double accumulation (integer results wrap to the
 * output type like the typed-array store does); i64/u64 use exact BigInt loops. Einsum reduces each
 * operand to the labels still needed and contracts pairs as batched matrix products.
 */
import type { DType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { einsumSizes, matmulShape, parseEinsum } from "../../ir/ops/matmul.ts";
import { broadcastShapes } from "../../ir/shape-infer.ts";
import { type KernelContext, registerKernel } from "../kernel-registry.ts";
import { expectTensor, type NumericArray, type RValue, Tensor } from "../tensor.ts";
import { type GemmEpilogue, gemmJS, type MatView, sgemm } from "../gemm/sgemm.ts";
import { MR } from "../gemm/wasm-simd.ts";

function fail(reason: string): never {
  throw new LatheError("runtime", reason);
}

type Compute = Float32Array | Float64Array;

function bf16ToF32(bits: Uint16Array): Float32Array {
  const u = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i] << 16;
  return new Float32Array(u.buffer);
}

function storeBf16(src: ArrayLike<number>, dst: Uint16Array): void {
  const f = new Float32Array(1), u = new Uint32Array(f.buffer);
  for (let i = 0; i < dst.length; i++) {
    f[0] = src[i];
    const x = u[0];
    dst[i] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
}

const isBig = (t: Tensor) => t.data instanceof BigInt64Array || t.data instanceof BigUint64Array;

/** Values in the compute type: f32 for f32/f16/bf16, f64 for everything else (exact for 32-bit ints). */
function computeData(t: Tensor): Compute {
  const d = t.data;
  if (d instanceof Float32Array) return d;
  if (t.dtype === "bf16") return bf16ToF32(d as Uint16Array);
  if (t.dtype === "f16") return Float32Array.from(d as ArrayLike<number>);
  if (d instanceof Float64Array) return d;
  if (d instanceof Array) return fail("string tensors cannot be multiplied");
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Float64Array.from(d, Number);
  return Float64Array.from(d as ArrayLike<number>);
}

/** Computes in the compute type and stores into a new tensor of `dtype`. */
function withOutput(
  ctx: KernelContext,
  dtype: DType,
  shape: readonly number[],
  f32: boolean,
  compute: (y: Compute) => void,
): Tensor {
  const y = ctx.alloc(dtype, shape);
  const d = y.data;
  if ((f32 && d instanceof Float32Array) || (!f32 && d instanceof Float64Array)) {
    compute(d as Compute);
    return y;
  }
  const tmp = f32 ? new Float32Array(d.length) : new Float64Array(d.length);
  compute(tmp);
  if (dtype === "bf16") storeBf16(tmp, d as Uint16Array);
  else if (d instanceof BigInt64Array) {
    for (let i = 0; i < d.length; i++) {
      d[i] = BigInt(Math.round(tmp[i]));
    }
  } else if (d instanceof BigUint64Array) {
    for (let i = 0; i < d.length; i++) d[i] = BigInt.asUintN(64, BigInt(Math.round(tmp[i])));
  } else (d as NumericArray).set(tmp);
  return y;
}

/**
 * C = A·B (+ epilogue) in the compute type. Float32 goes to the engine; with few rows and more columns the
 * product is taken transposed (C^T = B^T·A^T) so the wide operand is the packed one (a weight, kept packed
 * under bKey, for matrix-vector products).
 */
function matmulInto(
  M: number,
  N: number,
  K: number,
  a: MatView<Compute>,
  b: MatView<Compute>,
  c: MatView<Compute>,
  epi: GemmEpilogue = {},
  keys: { a?: Tensor; b?: Tensor } = {},
): void {
  if (!(c.data instanceof Float32Array)) {
    gemmJS(M, N, K, a, b, c as MatView<NumericArray>, epi);
    return;
  }
  const f = (v: MatView<Compute>) => v as MatView<Float32Array>;
  if (M < MR && N >= MR && !epi.rowBias) {
    sgemm(
      N,
      M,
      K,
      { data: f(b).data, off: b.off, rs: b.cs, cs: b.rs },
      { data: f(a).data, off: a.off, rs: a.cs, cs: a.rs },
      { data: c.data, off: c.off, rs: c.cs, cs: c.rs },
      { lo: epi.lo, hi: epi.hi },
      keys.b,
    );
  } else sgemm(M, N, K, f(a), f(b), f(c), epi, keys.a);
}

/** Exact i64/u64 product. */
function matmulBig(
  M: number,
  N: number,
  K: number,
  a: MatView<ArrayLike<bigint>>,
  b: MatView<ArrayLike<bigint>>,
  c: MatView<BigInt64Array | BigUint64Array>,
): void {
  const unsigned = c.data instanceof BigUint64Array;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0n;
      for (let k = 0; k < K; k++) {
        s += a.data[a.off + i * a.rs + k * a.cs] * b.data[b.off + k * b.rs + j * b.cs];
      }
      c.data[c.off + i * c.rs + j * c.cs] = unsigned ? BigInt.asUintN(64, s) : BigInt.asIntN(64, s);
    }
  }
}

function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

registerKernel("MatMul", (inputs, ctx) => {
  const A = expectTensor(inputs[0], "A"), B = expectTensor(inputs[1], "B");
  if (A.dtype !== B.dtype) fail(`A is ${String(A.dtype)}, B is ${String(B.dtype)}`);
  if (A.shape.length === 0 || B.shape.length === 0) fail("MatMul operands must have rank >= 1");
  const outShape = matmulShape(A.shape, B.shape) as number[];
  const as = A.shape.length === 1 ? [1, A.shape[0]] : [...A.shape];
  const bs = B.shape.length === 1 ? [B.shape[0], 1] : [...B.shape];
  const M = as[as.length - 2], K = as[as.length - 1], N = bs[bs.length - 1];
  if (bs[bs.length - 2] !== K) fail(`inner dims differ: [${A.shape}] x [${B.shape}]`);
  const batch = broadcastShapes([as.slice(0, -2), bs.slice(0, -2)]) as number[];
  const nb = batch.reduce((p, d) => p * d, 1);
  // Per batch dim, the element stride of A and B (0 where the operand broadcasts).
  const bStr = (shape: number[]) => {
    const st = stridesOf(shape), lead = batch.length - (shape.length - 2);
    return batch.map((_, i) => (i < lead || shape[i - lead] === 1 ? 0 : st[i - lead]));
  };
  const sa = bStr(as), sb = bStr(bs);
  const offsets = (bi: number, st: number[]) => {
    let o = 0;
    for (let i = batch.length - 1; i >= 0; i--) {
      o += (bi % batch[i]) * st[i];
      bi = Math.floor(bi / batch[i]);
    }
    return o;
  };
  if (isBig(A)) {
    const y = ctx.alloc(A.dtype, outShape);
    for (let bi = 0; bi < nb; bi++) {
      matmulBig(M, N, K, { data: A.data as BigInt64Array, off: offsets(bi, sa), rs: K, cs: 1 }, {
        data: B.data as BigInt64Array,
        off: offsets(bi, sb),
        rs: N,
        cs: 1,
      }, { data: y.data as BigInt64Array, off: bi * M * N, rs: N, cs: 1 });
    }
    return [y];
  }
  const a = computeData(A), b = computeData(B);
  const f32 = a instanceof Float32Array;
  return [withOutput(ctx, A.dtype, outShape, f32, (y) => {
    // B shared by every batch and A's batches all distinct: one product with the batches stacked as rows.
    if (sb.every((s) => s === 0) && sa.every((s, i) => s !== 0 || batch[i] === 1)) {
      matmulInto(
        nb * M,
        N,
        K,
        { data: a, off: 0, rs: K, cs: 1 },
        { data: b, off: 0, rs: N, cs: 1 },
        {
          data: y,
          off: 0,
          rs: N,
          cs: 1,
        },
        {},
        { a: A, b: B },
      );
      return;
    }
    for (let bi = 0; bi < nb; bi++) {
      matmulInto(
        M,
        N,
        K,
        { data: a, off: offsets(bi, sa), rs: K, cs: 1 },
        { data: b, off: offsets(bi, sb), rs: N, cs: 1 },
        {
          data: y,
          off: bi * M * N,
          rs: N,
          cs: 1,
        },
        {},
        { a: A, b: B },
      );
    }
  })];
});

registerKernel("Gemm", (inputs, ctx) => {
  const A = expectTensor(inputs[0], "A"), B = expectTensor(inputs[1], "B");
  const C = inputs[2] ? expectTensor(inputs[2], "C") : undefined;
  if (A.dtype !== B.dtype || (C && C.dtype !== A.dtype)) fail("A, B and C must share one element type");
  if (A.shape.length !== 2 || B.shape.length !== 2) fail(`A [${A.shape}] and B [${B.shape}] must be 2-D`);
  const { alpha, beta, transA, transB } = ctx.attrs as {
    alpha: number;
    beta: number;
    transA: number;
    transB: number;
  };
  const [M, K] = transA ? [A.shape[1], A.shape[0]] : A.shape;
  const [K2, N] = transB ? [B.shape[1], B.shape[0]] : B.shape;
  if (K !== K2) fail(`inner dims differ: A' is [${M},${K}], B' is [${K2},${N}]`);
  const av = { off: 0, rs: transA ? 1 : K, cs: transA ? M : 1 };
  const bv = { off: 0, rs: transB ? 1 : N, cs: transB ? K : 1 };
  // C's strides after broadcasting to [M, N] (0 along broadcast dims).
  let cr = 0, cc = 0;
  if (C) {
    const s = C.shape;
    if (s.length > 2) fail(`C [${s}] has rank > 2`);
    const rows = s.length === 2 ? s[0] : 1, cols = s.length >= 1 ? s[s.length - 1] : 1;
    if ((rows !== 1 && rows !== M) || (cols !== 1 && cols !== N)) {
      fail(`C [${s}] does not broadcast to [${M},${N}]`);
    }
    cr = rows === 1 ? 0 : cols;
    cc = cols === 1 ? 0 : 1;
  }
  const useC = !!C && beta !== 0;
  if (isBig(A)) {
    const y = ctx.alloc(A.dtype, [M, N]);
    const yd = y.data as BigInt64Array;
    matmulBig(M, N, K, { data: A.data as BigInt64Array, ...av }, { data: B.data as BigInt64Array, ...bv }, {
      data: yd,
      off: 0,
      rs: N,
      cs: 1,
    });
    const al = BigInt(Math.round(alpha)), be = BigInt(Math.round(beta));
    const cd = C?.data as BigInt64Array | undefined;
    const wrap = yd instanceof BigUint64Array
      ? (v: bigint) => BigInt.asUintN(64, v)
      : (v: bigint) => BigInt.asIntN(64, v);
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        yd[i * N + j] = wrap(al * yd[i * N + j] + (useC && cd ? be * cd[i * cr + j * cc] : 0n));
      }
    }
    return [y];
  }
  const a = computeData(A), b = computeData(B), c = C ? computeData(C) : undefined;
  const f32 = a instanceof Float32Array;
  return [withOutput(ctx, A.dtype, [M, N], f32, (y) => {
    // A bias that varies along rows only can ride in the GEMM's row bias.
    const rowBias = useC && alpha === 1 && cc === 0 && c
      ? (f32 ? new Float32Array(M) : new Float64Array(M)).map((_, i) => beta * c[i * cr])
      : undefined;
    matmulInto(M, N, K, { data: a, ...av }, { data: b, ...bv }, { data: y, off: 0, rs: N, cs: 1 }, {
      rowBias,
    }, {
      a: A,
      b: B,
    });
    if (rowBias) return;
    if (alpha !== 1) { for (let i = 0; i < M * N; i++) y[i] *= alpha; }
    if (useC && c) {
      for (let i = 0; i < M; i++) {
        const yb = i * N, cb = i * cr;
        if (beta === 1) { for (let j = 0; j < N; j++) y[yb + j] += c[cb + j * cc]; }
        else for (let j = 0; j < N; j++) y[yb + j] += beta * c[cb + j * cc];
      }
    }
  })];
});

// ---- Einsum ----

/** A strided view of an operand with one label per dim (repeated labels already merged into diagonals). */
interface LView {
  readonly data: Compute;
  readonly off: number;
  readonly labels: readonly number[];
  readonly strides: readonly number[];
}

function labelView(data: Compute, shape: readonly number[], labels: readonly number[]): LView {
  const st = stridesOf(shape);
  const ls: number[] = [], ss: number[] = [];
  labels.forEach((l, i) => {
    const at = ls.indexOf(l);
    if (at >= 0) {
      if (shape[i] !== shape[labels.indexOf(l)]) {
        fail(`einsum diagonal over dims of sizes ${shape[labels.indexOf(l)]} and ${shape[i]}`);
      }
      ss[at] += st[i];
    } else {
      ls.push(l);
      // A unit dim of a label that is larger elsewhere broadcasts.
      ss.push(shape[i] === 1 ? 0 : st[i]);
    }
  });
  return { data, off: 0, labels: ls, strides: ss };
}

/**
 * The view laid out contiguously over `out` labels (broadcasting labels it lacks), summing every label of
 * the view that `out` does not name.
 */
function reduceTo(v: LView, out: readonly number[], sizes: Map<number, number>, f32: boolean): LView {
  const outSizes = out.map((l) => sizes.get(l)!);
  const outStr = out.map((l) => {
    const i = v.labels.indexOf(l);
    return i < 0 ? 0 : v.strides[i];
  });
  const sumLabels = v.labels.filter((l) => !out.includes(l));
  const sumSizes = sumLabels.map((l) => sizes.get(l)!);
  const sumStr = sumLabels.map((l) => v.strides[v.labels.indexOf(l)]);
  const total = outSizes.reduce((p, d) => p * d, 1), inner = sumSizes.reduce((p, d) => p * d, 1);
  const res = f32 ? new Float32Array(total) : new Float64Array(total);
  const src = v.data;
  const oi = new Array(out.length).fill(0), si = new Array(sumLabels.length).fill(0);
  let base = v.off;
  for (let p = 0; p < total; p++) {
    let s = 0, q = base;
    if (inner > 0) {
      si.fill(0);
      for (let t = 0; t < inner; t++) {
        s += src[q];
        // Odometer over the summed labels.
        for (let d = sumLabels.length - 1; d >= 0; d--) {
          q += sumStr[d];
          if (++si[d] < sumSizes[d]) break;
          q -= sumStr[d] * sumSizes[d];
          si[d] = 0;
        }
      }
    }
    res[p] = s;
    for (let d = out.length - 1; d >= 0; d--) {
      base += outStr[d];
      if (++oi[d] < outSizes[d]) break;
      base -= outStr[d] * outSizes[d];
      oi[d] = 0;
    }
  }
  return { data: res, off: 0, labels: [...out], strides: stridesOf(outSizes) };
}

/** x·y over the labels they share that `keep` does not need; labels in `keep` survive. */
function contract(x: LView, y: LView, keep: Set<number>, sizes: Map<number, number>, f32: boolean): LView {
  const inY = new Set(y.labels), inX = new Set(x.labels);
  const batch = x.labels.filter((l) => keep.has(l) && inY.has(l));
  const ms = x.labels.filter((l) => keep.has(l) && !inY.has(l));
  const ns = y.labels.filter((l) => keep.has(l) && !inX.has(l));
  const ks = x.labels.filter((l) => !keep.has(l) && inY.has(l));
  const size = (ls: number[]) => ls.reduce((p, l) => p * sizes.get(l)!, 1);
  const xp = reduceTo(x, [...batch, ...ms, ...ks], sizes, f32);
  const yp = reduceTo(y, [...batch, ...ks, ...ns], sizes, f32);
  const nb = size(batch), M = size(ms), K = size(ks), N = size(ns);
  const res = f32 ? new Float32Array(nb * M * N) : new Float64Array(nb * M * N);
  for (let b = 0; b < nb; b++) {
    matmulInto(M, N, K, { data: xp.data, off: b * M * K, rs: K, cs: 1 }, {
      data: yp.data,
      off: b * K * N,
      rs: N,
      cs: 1,
    }, {
      data: res,
      off: b * M * N,
      rs: N,
      cs: 1,
    });
  }
  const labels = [...batch, ...ms, ...ns];
  return { data: res, off: 0, labels, strides: stridesOf(labels.map((l) => sizes.get(l)!)) };
}

registerKernel("Einsum", (inputs: readonly (RValue | undefined)[], ctx) => {
  const ts = inputs.map((v, i) => expectTensor(v, `input ${i}`));
  if (ts.length === 0) fail("Einsum needs at least one input");
  const dtype = ts[0].dtype;
  if (ts.some((t) => t.dtype !== dtype)) fail("Einsum inputs must share one element type");
  const spec = parseEinsum(ctx.attrs.equation as string, ts.map((t) => t.shape.length));
  const sizes = einsumSizes(spec, ts.map((t) => t.shape));
  const f32 = ts[0].data instanceof Float32Array || dtype === "f16" || dtype === "bf16";
  const views = ts.map((t, i) => labelView(computeData(t), t.shape, spec.inputs[i]));
  const outShape = spec.output.map((l) => sizes.get(l)!);
  return [withOutput(ctx, dtype, outShape, f32, (y) => {
    const needed = (from: number) => {
      const s = new Set(spec.output);
      for (let i = from; i < views.length; i++) for (const l of views[i].labels) s.add(l);
      return s;
    };
    // Labels no later step needs are summed out of an operand before it is multiplied.
    const trim = (v: LView, keep: Set<number>, other?: LView) => {
      const want = v.labels.filter((l) => keep.has(l) || other?.labels.includes(l));
      return want.length < v.labels.length ? reduceTo(v, want, sizes, f32) : v;
    };
    let acc = views[0];
    for (let i = 1; i < views.length; i++) {
      const keep = needed(i + 1);
      const x = trim(acc, keep, views[i]), z = trim(views[i], keep, acc);
      acc = contract(x, z, keep, sizes, f32);
    }
    const r = reduceTo(acc, spec.output, sizes, f32);
    y.set(r.data);
  })];
});
