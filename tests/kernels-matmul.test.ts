/**
 * MatMul, Gemm and Einsum against hand-derived values. A definition-level matrix product (checked against
 * hand values first) is the oracle for larger seeded products that exercise the SIMD engine's tiles,
 * column tails, the transposed matrix-vector path and batch broadcasting.
 */
import assert from "node:assert/strict";
import { GraphBuilder } from "../ir/builder.ts";
import type { DType } from "../ir/dtype.ts";
import { LatheError } from "../ir/errors.ts";
import { parseEinsum } from "../ir/ops/matmul.ts";
import { interpret, Session } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { compareArrays } from "./support/close.ts";
import { sgemm } from "../runtime/gemm/sgemm.ts";
import { setWasmEnabled } from "../runtime/gemm/wasm-simd.ts";

type Attrs = Record<string, number | string | number[]>;

const f32 = (shape: number[], v: ArrayLike<number>) => new Tensor("f32", shape, Float32Array.from(v));
const f64 = (shape: number[], v: ArrayLike<number>) => new Tensor("f64", shape, Float64Array.from(v));

function seeded(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

function run(op: string, inputs: (Tensor | undefined)[], attrs: Attrs = {}): Tensor {
  const b = new GraphBuilder();
  const names = inputs.map((t, i) => (t ? b.input(`in${i}`, t.dtype, t.shape) : null));
  const out = b.op1(op, names, attrs);
  const feeds: Record<string, Tensor> = {};
  inputs.forEach((t, i) => t && (feeds[`in${i}`] = t));
  return interpret(b.build([out]), feeds, { check: true }).outputs[out] as Tensor;
}

function close(actual: Tensor, shape: number[], expected: ArrayLike<number>, rtol = 1e-5, atol = 1e-5): void {
  assert.deepEqual([...actual.shape], shape);
  const rep = compareArrays(actual.data as Float32Array, expected, rtol, atol);
  assert.ok(rep.ok, rep.message);
}

/** C[i][j] = sum_k A[i][k] B[k][j], row-major, in double precision. */
function referenceMatmul(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  M: number,
  K: number,
  N: number,
): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) c[i * N + j] += a[i * K + k] * b[k * N + j];
  }
  return c;
}

Deno.test("reference matmul reproduces a hand product", () => {
  assert.deepEqual([...referenceMatmul([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12], 2, 3, 2)], [
    58,
    64,
    139,
    154,
  ]);
});

Deno.test("MatMul: 2-D, 1-D operands, batch broadcast", () => {
  close(run("MatMul", [f32([2, 3], [1, 2, 3, 4, 5, 6]), f32([3, 2], [7, 8, 9, 10, 11, 12])]), [2, 2], [
    58,
    64,
    139,
    154,
  ]);
  close(run("MatMul", [f32([3], [1, 2, 3]), f32([3], [4, 5, 6])]), [], [32]);
  close(run("MatMul", [f32([2], [1, 2]), f32([2, 3], [1, 2, 3, 4, 5, 6])]), [3], [9, 12, 15]);
  close(run("MatMul", [f32([2, 3], [1, 2, 3, 4, 5, 6]), f32([3], [1, 1, 1])]), [2], [6, 15]);
  // A[i] = (i+1)·I, B[j] = [[j,1],[0,j]]: out[i][j] = (i+1)·B[j].
  const A = f32([2, 1, 2, 2], [1, 0, 0, 1, 2, 0, 0, 2]);
  const B = f32([3, 2, 2], [0, 1, 0, 0, 1, 1, 0, 1, 2, 1, 0, 2]);
  const want: number[] = [];
  for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) want.push(...[j, 1, 0, j].map((v) => (i + 1) * v));
  close(run("MatMul", [A, B]), [2, 3, 2, 2], want);
  // A 3-D batch against a shared 2-D B, and a shared A against a batched B.
  close(run("MatMul", [f32([2, 1, 2], [1, 2, 3, 4]), f32([2, 1], [10, 1])]), [2, 1, 1], [12, 34]);
  close(run("MatMul", [f32([1, 2], [1, 2]), f32([2, 2, 1], [1, 1, 3, 4])]), [2, 1, 1], [3, 11]);
});

Deno.test("MatMul: element types f64, f16, i32, i64, u8 wrap", () => {
  const sq = [1, 2, 3, 4], want = [7, 10, 15, 22];
  const y64 = run("MatMul", [f64([2, 2], sq), f64([2, 2], sq)]);
  assert.equal(y64.dtype, "f64");
  assert.deepEqual([...y64.data as Float64Array], want);
  const h = (v: number[]) => new Tensor("f16", [2, 2], Float16Array.from(v));
  assert.deepEqual([...run("MatMul", [h(sq), h(sq)]).data as Float16Array], want);
  const i = (v: number[]) => new Tensor("i32", [2, 2], Int32Array.from(v));
  assert.deepEqual([...run("MatMul", [i(sq), i(sq)]).data as Int32Array], want);
  const l = (v: number[]) => new Tensor("i64", [2, 2], BigInt64Array.from(v.map(BigInt)));
  assert.deepEqual([...run("MatMul", [l(sq), l(sq)]).data as BigInt64Array], want.map(BigInt));
  // i64 stays exact beyond 2^53: (2^40 + 1)^2 = 2^80 + 2^41 + 1 wraps to 2^41 + 1.
  const big = new Tensor("i64", [1, 1], BigInt64Array.from([2n ** 40n + 1n]));
  assert.equal((run("MatMul", [big, big]).data as BigInt64Array)[0], 2n ** 41n + 1n);
  const u = new Tensor("u8", [1, 2], Uint8Array.from([200, 100]));
  const u2 = new Tensor("u8", [2, 1], Uint8Array.from([2, 1]));
  // 500 mod 256.
  assert.equal((run("MatMul", [u, u2]).data as Uint8Array)[0], 244);
});

Deno.test("MatMul: engine tiles, tails, matrix-vector and batches agree with the reference", () => {
  for (
    const [M, K, N] of [[1, 70, 33], [3, 5, 9], [4, 8, 8], [5, 17, 23], [13, 64, 40], [37, 3, 101], [
      64,
      300,
      1,
    ], [2, 129, 257]]
  ) {
    const a = seeded(M * K, M), b = seeded(K * N, N);
    for (const simd of [true, false]) {
      setWasmEnabled(simd);
      try {
        close(
          run("MatMul", [f32([M, K], a), f32([K, N], b)]),
          [M, N],
          referenceMatmul(a, b, M, K, N),
          1e-4,
          1e-5,
        );
      } finally {
        setWasmEnabled(true);
      }
    }
  }
  // Batched A with a constant B kept packed across runs.
  const bw = seeded(24 * 10, 7);
  const g = new GraphBuilder();
  g.input("a", "f32", [3, 5, 24]);
  g.constantOf("w", "f32", [24, 10], bw);
  const y = g.op1("MatMul", ["a", "w"]);
  const s = new Session(g.build([y]));
  for (let r = 0; r < 3; r++) {
    const a = seeded(3 * 5 * 24, 100 + r);
    close(
      s.run({ a: f32([3, 5, 24], a) }).outputs[y] as Tensor,
      [3, 5, 10],
      referenceMatmul(a, bw, 15, 24, 10),
      1e-4,
      1e-5,
    );
  }
});

Deno.test("sgemm honours strided views and the row bias / clamp epilogue", () => {
  // A^T stored [K x M], B with a row stride wider than N, C written into a wider buffer.
  const M = 6, K = 5, N = 11;
  const at = seeded(K * M, 1), bw = seeded(K * 16, 2);
  const a = new Float64Array(M * K), b = new Float64Array(K * N);
  for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) a[i * K + k] = at[k * M + i];
  for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) b[k * N + j] = bw[k * 16 + j];
  const ref = referenceMatmul(a, b, M, K, N);
  const c = new Float32Array(M * 20).fill(7);
  const bias = Float32Array.from({ length: M }, (_, i) => i / 10);
  sgemm(M, N, K, { data: at, off: 0, rs: 1, cs: M }, { data: bw, off: 0, rs: 16, cs: 1 }, {
    data: c,
    off: 0,
    rs: 20,
    cs: 1,
  }, {
    rowBias: bias,
    lo: -0.1,
    hi: 0.2,
  });
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < 20; j++) {
      const want = j < N ? Math.min(0.2, Math.max(-0.1, ref[i * N + j] + bias[i])) : 7;
      assert.ok(Math.abs(c[i * 20 + j] - want) < 1e-5, `C[${i}][${j}] = ${c[i * 20 + j]}, want ${want}`);
    }
  }
});

Deno.test("Gemm: alpha, beta, transposes and every C broadcast", () => {
  const A = f32([2, 2], [1, 2, 3, 4]), B = f32([2, 2], [5, 6, 7, 8]);
  // AB = [[19,22],[43,50]]
  close(run("Gemm", [A, B]), [2, 2], [19, 22, 43, 50]);
  close(run("Gemm", [A, B, f32([2], [1, 2])], { alpha: 2, beta: 0.5 }), [2, 2], [38.5, 45, 86.5, 101]);
  close(run("Gemm", [f32([2, 2], [1, 3, 2, 4]), B], { transA: 1 }), [2, 2], [19, 22, 43, 50]);
  close(run("Gemm", [A, f32([2, 2], [5, 7, 6, 8])], { transB: 1 }), [2, 2], [19, 22, 43, 50]);
  close(run("Gemm", [A, B, f32([], [1])]), [2, 2], [20, 23, 44, 51]);
  close(run("Gemm", [A, B, f32([2, 1], [10, 20])]), [2, 2], [29, 32, 63, 70]);
  close(run("Gemm", [A, B, f32([2, 1], [10, 20])], { beta: 2 }), [2, 2], [39, 42, 83, 90]);
  close(run("Gemm", [A, B, f32([2, 2], [1, 2, 3, 4])], { beta: -1 }), [2, 2], [18, 20, 40, 46]);
  close(run("Gemm", [A, B, f32([1, 2], [1, 2])], { beta: 0 }), [2, 2], [19, 22, 43, 50]);
  const l = (v: number[]) => new Tensor("i64", [2, 2], BigInt64Array.from(v.map(BigInt)));
  const yl = run("Gemm", [
    l([1, 2, 3, 4]),
    l([5, 6, 7, 8]),
    new Tensor("i64", [2], BigInt64Array.from([1n, 2n])),
  ], { alpha: 2 });
  assert.deepEqual([...yl.data as BigInt64Array], [39n, 46n, 87n, 102n]);
  const yd = run("Gemm", [f64([2, 2], [1, 2, 3, 4]), f64([2, 2], [5, 6, 7, 8]), f64([2, 1], [0.1, 0.2])]);
  assert.equal(yd.dtype, "f64");
  close(yd, [2, 2], [19.1, 22.1, 43.2, 50.2], 1e-15, 1e-14);
});

Deno.test("Gemm: a Linear layer (one row, transB, bias per column) matches the reference", () => {
  const K = 64, N = 40;
  const x = seeded(K, 1), w = seeded(N * K, 2), bias = seeded(N, 3);
  const wt = new Float64Array(K * N);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) wt[k * N + n] = w[n * K + k];
  const ref = referenceMatmul(x, wt, 1, K, N).map((v, j) => v + bias[j]);
  close(
    run("Gemm", [f32([1, K], x), f32([N, K], w), f32([N], bias)], { transB: 1 }),
    [1, N],
    ref,
    1e-4,
    1e-5,
  );
});

Deno.test("Gemm and MatMul reject mismatched shapes", () => {
  assert.throws(() => run("MatMul", [f32([2, 3], seeded(6, 1)), f32([2, 3], seeded(6, 2))]), LatheError);
  assert.throws(() => run("Gemm", [f32([2, 3], seeded(6, 1)), f32([2, 3], seeded(6, 2))]), LatheError);
  assert.throws(
    () => run("Gemm", [f32([2, 2], [1, 2, 3, 4]), f32([2, 2], [1, 2, 3, 4]), f32([3], [1, 2, 3])]),
    LatheError,
  );
});

Deno.test("Einsum: transpose, sums, inner, outer, diagonal, trace", () => {
  const m = f64([2, 3], [1, 2, 3, 4, 5, 6]);
  close(run("Einsum", [m], { equation: "ij->ji" }), [3, 2], [1, 4, 2, 5, 3, 6]);
  close(run("Einsum", [m], { equation: "ij->i" }), [2], [6, 15]);
  close(run("Einsum", [m], { equation: "ij->" }), [], [21]);
  close(run("Einsum", [m], { equation: "ij" }), [2, 3], [1, 2, 3, 4, 5, 6]);
  close(run("Einsum", [m], { equation: "ji" }), [3, 2], [1, 4, 2, 5, 3, 6]);
  close(run("Einsum", [f64([3], [1, 2, 3]), f64([3], [4, 5, 6])], { equation: "i,i" }), [], [32]);
  close(run("Einsum", [f64([2], [1, 2]), f64([3], [1, 10, 100])], { equation: "i,j->ij" }), [2, 3], [
    1,
    10,
    100,
    2,
    20,
    200,
  ]);
  const sq = f64([3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  close(run("Einsum", [sq], { equation: "ii->i" }), [3], [1, 5, 9]);
  close(run("Einsum", [sq], { equation: "ii" }), [], [15]);
  close(run("Einsum", [sq, sq], { equation: "ij,ij->ij" }), [3, 3], [1, 4, 9, 16, 25, 36, 49, 64, 81]);
  close(
    run("Einsum", [f64([3], [1, 2, 3]), f64([3], [1, 2, 3]), f64([3], [1, 2, 3])], { equation: "i,i,i->" }),
    [],
    [36],
  );
});

Deno.test("Einsum: matrix products, batch, ellipsis broadcast, chains", () => {
  const a = f32([2, 3], [1, 2, 3, 4, 5, 6]), b = f32([3, 2], [7, 8, 9, 10, 11, 12]);
  close(run("Einsum", [a, b], { equation: "ij,jk" }), [2, 2], [58, 64, 139, 154]);
  close(run("Einsum", [a, b], { equation: "ij,jk->ki" }), [2, 2], [58, 139, 64, 154]);
  // Batch of two: the second batch is the first times 2 on the left.
  const ba = f32([2, 2, 3], [1, 2, 3, 4, 5, 6, 2, 4, 6, 8, 10, 12]),
    bb = f32([2, 3, 2], [7, 8, 9, 10, 11, 12, 7, 8, 9, 10, 11, 12]);
  close(run("Einsum", [ba, bb], { equation: "bij,bjk->bik" }), [2, 2, 2], [
    58,
    64,
    139,
    154,
    116,
    128,
    278,
    308,
  ]);
  // Ellipsis: a batch of two against one shared matrix (broadcast).
  close(run("Einsum", [ba, b], { equation: "...ij,jk->...ik" }), [2, 2, 2], [
    58,
    64,
    139,
    154,
    116,
    128,
    278,
    308,
  ]);
  close(run("Einsum", [ba, f32([1, 3, 2], [7, 8, 9, 10, 11, 12])], { equation: "...ij,...jk->...ik" }), [
    2,
    2,
    2,
  ], [
    58,
    64,
    139,
    154,
    116,
    128,
    278,
    308,
  ]);
  // (A·B)·I = A·B through a three-operand chain.
  close(run("Einsum", [a, b, f32([2, 2], [1, 0, 0, 1])], { equation: "ij,jk,kl->il" }), [2, 2], [
    58,
    64,
    139,
    154,
  ]);
  // Batch diagonal: per batch, the diagonal of a 2x2.
  close(run("Einsum", [f64([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8])], { equation: "...ii->...i" }), [2, 2], [
    1,
    4,
    5,
    8,
  ]);
  // A label summed in one operand only: sum_j a[i][j] * sum_k c[k].
  close(run("Einsum", [a, f32([2], [1, 2])], { equation: "ij,k->i" }), [2], [18, 45]);
});

Deno.test("Einsum equation parsing: implicit output, ellipsis ranks, errors", () => {
  const c = (s: string) => s.charCodeAt(0);
  assert.deepEqual(parseEinsum("ba,ac", [2, 2]).output, [c("b"), c("c")]);
  const e = parseEinsum("...ij,j->...i", [4, 1]);
  assert.equal(e.inputs[0].length, 4);
  assert.equal(e.output.length, 3);
  assert.throws(() => parseEinsum("ij->k", [2]), LatheError);
  assert.throws(() => parseEinsum("ij,jk->ik", [2]), LatheError);
  assert.throws(() => parseEinsum("ijk->i", [2]), LatheError);
  assert.throws(() => parseEinsum("ij->ii", [2]), LatheError);
});

Deno.test("MatMul output dtype follows inputs (declarations)", () => {
  const b = new GraphBuilder();
  b.input("a", "f32" as DType, ["B", 7, 5]);
  b.input("w", "f32" as DType, [5]);
  const y = b.op1("MatMul", ["a", "w"]);
  const g = b.build([y]);
  assert.deepEqual((g.values[y].type as { shape?: unknown }).shape, ["B", 7]);
});

Deno.test("Gemm and MatMul broadcasts agree with onnxruntime", async () => {
  const { exportOnnx } = await import("../compiler/onnx/export.ts");
  const { modelOf } = await import("../ir/builder.ts");
  const { ortSession, runOrt } = await import("./reference/onnxruntime.ts");
  const float = (value: number) => ({ type: "float" as const, value });
  const cases: [string, number[][], Record<string, unknown>][] = [
    ["Gemm", [[5, 7], [9, 7], [5, 1]], { transB: 1, alpha: float(0.5), beta: float(2) }],
    ["Gemm", [[7, 5], [7, 9], [9]], { transA: 1 }],
    ["Gemm", [[1, 40], [30, 40], [1, 30]], { transB: 1 }],
    ["MatMul", [[2, 1, 3, 5], [4, 5, 6]], {}],
    ["MatMul", [[3, 1, 1, 64], [2, 64, 20]], {}],
  ];
  for (const [op, shapes, attrs] of cases) {
    const b = new GraphBuilder();
    const feeds: Record<string, Tensor> = {};
    const names = shapes.map((s, i) => {
      feeds[`x${i}`] = f32(s, seeded(s.reduce((p, d) => p * d, 1), 3 + i));
      return b.input(`x${i}`, "f32", s);
    });
    const out = b.op1(op, names, attrs as Attrs);
    const g = b.build([out]);
    const mine = interpret(g, feeds, { check: true }).outputs[out] as Tensor;
    const ref = (await runOrt(await ortSession(exportOnnx(modelOf(g)), 1), feeds))[out];
    assert.deepEqual([...mine.shape], [...ref.shape]);
    const rep = compareArrays(mine.data as Float32Array, ref.data as Float32Array, 1e-4, 1e-5);
    assert.ok(rep.ok, `${op}: ${rep.message}`);
  }
});
