/**
 * The exact integer GEMM (runtime/gemm/igemm.ts): the WebAssembly SIMD kernel and the JS fallback against a
 * plain triple-loop reference (itself checked on hand-computed products), on random shapes with K odd and
 * not a multiple of 16, M and N off the tile sizes, per-row / per-column zero points, strided views, and
 * extreme codes whose sums wrap around int32. Also the NHWC depthwise kernel against direct loops.
 */
import assert from "node:assert/strict";
import {
  depthwiseNhwc,
  igemm,
  igemmJS,
  igemmSimdAvailable,
  IMR,
  INR,
  type IntArray,
  type IntOperand,
  requantChannels8,
  requantizePlanes8,
} from "../runtime/gemm/igemm.ts";
import { setWasmEnabled } from "../runtime/gemm/wasm-simd.ts";

/** Exact (A - za)(B - zb) by definition, wrapped to int32 with BigInt (no `| 0` shortcut). */
function reference(M: number, N: number, K: number, a: IntOperand, b: IntOperand): Int32Array {
  const zp = (z: IntOperand["zp"], i: number) => (z === undefined ? 0 : typeof z === "number" ? z : z[i]);
  const out = new Int32Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0n;
      for (let k = 0; k < K; k++) {
        const av = a.view.data[a.view.off + i * a.view.rs + k * a.view.cs] - zp(a.zp, i);
        const bv = b.view.data[b.view.off + k * b.view.rs + j * b.view.cs] - zp(b.zp, j);
        s += BigInt(av * bv);
      }
      out[i * N + j] = Number(BigInt.asIntN(32, s));
    }
  }
  return out;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function codes(kind: "i8" | "u8", n: number, rnd: () => number): Int8Array | Uint8Array {
  const out = kind === "i8" ? new Int8Array(n) : new Uint8Array(n);
  const lo = kind === "i8" ? -128 : 0;
  for (let i = 0; i < n; i++) out[i] = lo + Math.floor(rnd() * 256);
  return out;
}

function dense(data: IntArray, _rows: number, cols: number): IntOperand["view"] {
  return { data, off: 0, rs: cols, cs: 1 };
}

function run(M: number, N: number, K: number, a: IntOperand, b: IntOperand): Int32Array {
  const c = new Int32Array(M * N);
  igemm(M, N, K, a, b, { data: c, off: 0, rs: N });
  return c;
}

Deno.test("the triple-loop reference on hand-computed products and a wrapped sum", () => {
  // [[1,2],[3,4]]·[[5,6],[7,8]] = [[19,22],[43,50]].
  const a = { view: dense(Int8Array.from([1, 2, 3, 4]), 2, 2) };
  const b = { view: dense(Int8Array.from([5, 6, 7, 8]), 2, 2) };
  assert.deepEqual(Array.from(reference(2, 2, 2, a, b)), [19, 22, 43, 50]);
  // Zero points: A - 1 = [[0,1],[2,3]], B - [5, 6] per column = [[0,0],[2,2]] -> [[2,2],[6,6]].
  const az = { view: a.view, zp: 1 }, bz = { view: b.view, zp: [5, 6] };
  assert.deepEqual(Array.from(reference(2, 2, 2, az, bz)), [2, 2, 6, 6]);
  // 131073 products of (-128)(-128) = 2^31 + 2^14: wraps to -2^31 + 2^14.
  const K = 131073;
  const big = { view: dense(new Int8Array(K).fill(-128), 1, K) };
  const col = { view: dense(new Int8Array(K).fill(-128), K, 1) };
  assert.deepEqual(Array.from(reference(1, 1, K, big, col)), [-(2 ** 31) + 2 ** 14]);
});

Deno.test("SIMD igemm equals the reference on random shapes, zero points and types", () => {
  assert.ok(igemmSimdAvailable(), "WebAssembly SIMD is expected on Deno");
  const rnd = lcg(7);
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [1, 1, 2],
    [IMR, INR, 16],
    [IMR + 1, INR + 1, 17],
    [IMR - 1, INR - 1, 15],
    [3, 5, 7],
    [9, 13, 31],
    [17, 33, 64],
    [23, 40, 129],
    [64, 20, 300],
    [2, 100, 3],
    [130, 9, 27],
  ];
  for (const [M, N, K] of shapes) {
    for (const [ak, bk] of [["i8", "i8"], ["u8", "i8"], ["i8", "u8"], ["u8", "u8"]] as const) {
      const A = codes(ak, M * K, rnd), B = codes(bk, K * N, rnd);
      const zpA = ak === "u8" ? Math.floor(rnd() * 256) : Math.floor(rnd() * 256) - 128;
      const perRow = Int32Array.from({ length: M }, () => Math.floor(rnd() * 200) - 100);
      const perCol = Int32Array.from({ length: N }, () => Math.floor(rnd() * 200) - 50);
      for (const [za, zb] of [[0, 0], [zpA, 3], [perRow, perCol], [zpA, perCol]] as const) {
        const a = { view: dense(A, M, K), zp: za }, b = { view: dense(B, K, N), zp: zb };
        const want = reference(M, N, K, a, b);
        assert.deepEqual(run(M, N, K, a, b), want, `${M}x${N}x${K} ${ak}.${bk} zp ${typeof za}/${typeof zb}`);
      }
    }
  }
});

Deno.test("SIMD igemm: strided and transposed views, a kept (keyed) operand, an output with a row stride", () => {
  const rnd = lcg(11);
  const M = 10, N = 19, K = 37;
  // A read transposed out of a [K x M] buffer with an offset; B with a row stride wider than N.
  const At = codes("i8", K * M + 5, rnd), B = codes("u8", K * (N + 7) + 3, rnd);
  const a = { view: { data: At, off: 5, rs: 1, cs: M }, zp: -7 };
  const b = { view: { data: B, off: 3, rs: N + 7, cs: 1 }, zp: 128 };
  const want = reference(M, N, K, a, b);
  assert.deepEqual(run(M, N, K, a, b), want);
  // B as a weight: packed once under its key, reused on later calls, repacked when its data changes.
  const W = codes("i8", K * N, rnd);
  const key = { data: W };
  const bw = { view: { data: W, off: 0, rs: 1, cs: K }, zp: 0, key };
  const a2 = { view: dense(codes("i8", M * K, rnd), M, K), zp: 2 };
  for (let i = 0; i < 3; i++) assert.deepEqual(run(M, N, K, a2, bw), reference(M, N, K, a2, bw), `call ${i}`);
  W.fill(5);
  assert.deepEqual(run(M, N, K, a2, bw), reference(M, N, K, a2, bw), "after the weight changed");
  // Output rows with a stride and an offset; the gaps stay untouched.
  const c = new Int32Array(3 + M * (N + 4)).fill(-1);
  igemm(M, N, K, a, b, { data: c, off: 3, rs: N + 4 });
  for (let i = 0; i < M; i++) {
    assert.deepEqual(
      Array.from(c.subarray(3 + i * (N + 4), 3 + i * (N + 4) + N)),
      Array.from(want.subarray(i * N, i * N + N)),
    );
    assert.deepEqual(Array.from(c.subarray(3 + i * (N + 4) + N, 3 + (i + 1) * (N + 4))), [-1, -1, -1, -1]);
  }
});

Deno.test("igemm wraps like an int32 accumulator: extreme codes past 2^31", () => {
  // int8: (-128)(-128) = 16384 per product, 140000 products = 2293760000 > 2^31 - 1.
  const M = 3, N = 9, K = 140001;
  const A = new Int8Array(M * K).fill(-128), B = new Int8Array(K * N).fill(-128);
  A[5] = 127; // one different product keeps the rows distinct
  const a = { view: dense(A, M, K) }, b = { view: dense(B, K, N) };
  const want = reference(M, N, K, a, b);
  assert.notEqual(want[0], 16384 * K, "the reference wraps");
  assert.deepEqual(run(M, N, K, a, b), want);
  // uint8 codes 0 with zero points 255 on both sides: 65025 per product.
  const K2 = 40001;
  const ua = { view: dense(new Uint8Array(2 * K2), 2, K2), zp: 255 };
  const ub = { view: dense(new Uint8Array(K2 * 5), K2, 5), zp: 255 };
  const want2 = reference(2, 5, K2, ua, ub);
  assert.equal(want2[0], Number(BigInt.asIntN(32, 65025n * BigInt(K2))));
  assert.deepEqual(run(2, 5, K2, ua, ub), want2);
});

Deno.test("the JS fallback (engine off) and wider code types equal the reference", () => {
  const rnd = lcg(3);
  setWasmEnabled(false);
  try {
    for (const [M, N, K] of [[1, 1, 1], [5, 7, 9], [13, 3, 40]] as const) {
      const a = { view: dense(codes("u8", M * K, rnd), M, K), zp: 200 };
      const b = {
        view: dense(codes("i8", K * N, rnd), K, N),
        zp: Int32Array.from({ length: N }, (_, j) => j - 3),
      };
      assert.equal(igemmSimdAvailable(), false);
      assert.deepEqual(run(M, N, K, a, b), reference(M, N, K, a, b));
      const c = new Int32Array(M * N);
      igemmJS(M, N, K, a, b, { data: c, off: 0, rs: N });
      assert.deepEqual(c, reference(M, N, K, a, b));
    }
    const K = 70000;
    const a = { view: dense(new Int8Array(K).fill(-128), 1, K) },
      b = { view: dense(new Int8Array(K).fill(-128), K, 1) };
    assert.deepEqual(run(1, 1, K, a, b), reference(1, 1, K, a, b));
  } finally {
    setWasmEnabled(true);
  }
  // int16 codes take the engine's JS packers; int32 codes the JS loop.
  const M = 6, N = 11, K = 21;
  const A16 = Int16Array.from({ length: M * K }, () => Math.floor(rnd() * 65536) - 32768);
  const B32 = Int32Array.from({ length: K * N }, () => Math.floor(rnd() * 2000) - 1000);
  const a = { view: dense(A16, M, K) },
    b = { view: dense(Int8Array.from(B32.map((v) => v >> 3)), K, N), zp: 1 };
  assert.deepEqual(run(M, N, K, a, b), reference(M, N, K, a, b));
  const b32 = { view: dense(B32, K, N), zp: 5 };
  assert.deepEqual(run(M, N, K, a, b32), reference(M, N, K, a, b32));
  // K = 0 gives zeros.
  assert.deepEqual(
    Array.from(
      run(2, 2, 0, { view: dense(new Int8Array(0), 2, 0) }, { view: dense(new Int8Array(0), 0, 2) }),
    ),
    [0, 0, 0, 0],
  );
});

Deno.test("depthwiseNhwc equals direct loops: padding, strides, dilation, odd channel counts", () => {
  const rnd = lcg(5);
  const cases = [
    { H: 7, W: 9, C: 13, K: 3, s: 1, d: 1, p: 1, kind: "i8" as const },
    { H: 8, W: 8, C: 16, K: 3, s: 2, d: 1, p: 1, kind: "u8" as const },
    { H: 6, W: 11, C: 5, K: 3, s: 1, d: 2, p: 2, kind: "i8" as const },
    { H: 10, W: 10, C: 24, K: 5, s: 2, d: 1, p: 0, kind: "u8" as const },
    { H: 3, W: 4, C: 8, K: 1, s: 1, d: 1, p: 0, kind: "i8" as const },
  ];
  for (const t of cases) {
    const { H, W, C, K } = t;
    const OH = Math.floor((H + 2 * t.p - t.d * (K - 1) - 1) / t.s) + 1;
    const OW = Math.floor((W + 2 * t.p - t.d * (K - 1) - 1) / t.s) + 1;
    const x = codes(t.kind, 2 + H * W * C, rnd);
    const zp = t.kind === "u8" ? 131 : -9;
    const w = Int16Array.from({ length: K * K * C }, () => Math.floor(rnd() * 255) - 127);
    const want = new Int32Array(OH * OW * C);
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        for (let c = 0; c < C; c++) {
          let s = 0;
          for (let ky = 0; ky < K; ky++) {
            for (let kx = 0; kx < K; kx++) {
              const iy = oy * t.s - t.p + ky * t.d, ix = ox * t.s - t.p + kx * t.d;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              s += (x[2 + (iy * W + ix) * C + c] - zp) * w[(ky * K + kx) * C + c];
            }
          }
          want[(oy * OW + ox) * C + c] = s;
        }
      }
    }
    const got = new Int32Array(OH * OW * C);
    const ok = depthwiseNhwc({
      x,
      xOff: 2,
      xZp: zp,
      H,
      W,
      C,
      w,
      KH: K,
      KW: K,
      OH,
      OW,
      sh: t.s,
      sw: t.s,
      dh: t.d,
      dw: t.d,
      pt: t.p,
      pl: t.p,
    }, got);
    assert.ok(ok);
    assert.deepEqual(got, want, JSON.stringify(t));
  }
});

/** gemmlowp's SaturatingRoundingDoublingHighMul and RoundingDivideByPOT by definition, in BigInt. */
function tfliteRequant(
  acc: number,
  bias: number,
  m: number,
  shift: number,
  zp: number,
  lo: number,
  hi: number,
) {
  let x = BigInt.asIntN(32, BigInt(acc) + BigInt(bias));
  if (shift > 0) x = BigInt.asIntN(32, x << BigInt(shift));
  const ab = x * BigInt(m);
  let v = (ab + (ab >= 0n ? 1n << 30n : 1n - (1n << 30n))) / (1n << 31n);
  const e = BigInt(Math.max(0, -shift));
  const mask = (1n << e) - 1n;
  const threshold = (mask >> 1n) + (v < 0n ? 1n : 0n);
  v = (v >> e) + ((v & mask) > threshold ? 1n : 0n);
  const r = Number(v) + zp;
  return r < lo ? lo : r > hi ? hi : r;
}

Deno.test("requantChannels8 is TFLite's double-rounding MultiplyByQuantizedMultiplier, per channel", () => {
  const rnd = lcg(21);
  const O = 11, rows = 37;
  const accs = [0, 1, -1, 2147483647, -2147483648, 2097152, -2097153, 1073741824, -999999999];
  const acc = Int32Array.from(
    { length: rows * O },
    (_, i) => i < accs.length ? accs[i] : Math.floor((rnd() - 0.5) * 2 ** (8 + Math.floor(rnd() * 24))),
  );
  const shifts = [-31, -20, -9, -1, 0, 1, 3, -5, -12, 2, -7];
  const multiplier = Int32Array.from(
    { length: O },
    (_, o) => (o === 0 ? 2147483647 : 2 ** 30 + Math.floor(rnd() * 2 ** 30)),
  );
  const shift = Int32Array.from(shifts);
  const bias = Int32Array.from(
    { length: O },
    (_, o) => (o === 1 ? 2147483647 : Math.floor((rnd() - 0.5) * 2e5)),
  );
  for (const [kind, zp, lo, hi] of [["i8", -3, -128, 127], ["u8", 140, 0, 255], ["i8", 5, 5, 127]] as const) {
    const y = kind === "i8" ? new Int8Array(rows * O + 4) : new Uint8Array(rows * O + 4);
    y.fill(77);
    assert.ok(requantChannels8(acc, rows, O, { multiplier, shift, bias, zp, lo, hi }, y, 2));
    for (let i = 0; i < rows * O; i++) {
      const o = i % O;
      const want = tfliteRequant(acc[i], bias[o], multiplier[o], shift[o], zp, lo, hi);
      assert.equal(y[2 + i], want, `${kind} acc ${acc[i]} channel ${o}`);
    }
    assert.deepEqual([y[0], y[1], y[rows * O + 2], y[rows * O + 3]], [77, 77, 77, 77], "outside untouched");
  }
});

Deno.test("requantizePlanes8 is rint(fround((acc + bias, wrapped to int32)·mult)) + zp, saturated, per plane", () => {
  const rnd = lcg(22);
  const M = 3, outCount = 21;
  const acc = Int32Array.from(
    { length: 2 * M * outCount },
    (_, i) =>
      i === 0
        ? 2147483647
        : i === 1
        ? -2147483648
        : Math.floor((rnd() - 0.5) * 2 ** (4 + Math.floor(rnd() * 20))),
  );
  // Ties: with mult 0.5 an odd accumulator lands exactly on .5.
  acc[5] = 5, acc[6] = 7, acc[7] = -5, acc[8] = -7;
  // The bias add leaves int32 and wraps: -2^31 - 1234 becomes 2^31 - 1234; 2^31 - 1 + 77 becomes -2^31 + 76.
  acc[outCount] = -2147483648, acc[2 * outCount] = 2147483647;
  const mults = Float64Array.from([0.5, Math.fround(0.0123), Math.fround(3.7)]);
  const biases = Int32Array.from([0, -1234, 77]);
  const rint = (v: number) => {
    const r = Math.floor(v), d = v - r;
    return d > 0.5 ? r + 1 : d < 0.5 ? r : r % 2 === 0 ? r : r + 1;
  };
  for (const [kind, zp, qmin, qmax] of [["u8", 128, 0, 255], ["i8", -2, -128, 127]] as const) {
    const y = kind === "i8" ? new Int8Array(acc.length) : new Uint8Array(acc.length);
    assert.ok(requantizePlanes8(acc, M, outCount, mults, biases, zp, qmin, qmax, y));
    for (let i = 0; i < acc.length; i++) {
      const m = Math.floor(i / outCount) % M;
      const r = rint(Math.fround(((acc[i] + biases[m]) | 0) * mults[m])) + zp;
      assert.equal(y[i], r < qmin ? qmin : r > qmax ? qmax : r, `${kind} element ${i}`);
    }
  }
  // A non-finite multiplier is left to the caller's loop.
  assert.equal(
    requantizePlanes8(
      acc,
      M,
      outCount,
      Float64Array.from([NaN, 1, 1]),
      biases,
      0,
      0,
      255,
      new Uint8Array(acc.length),
    ),
    false,
  );
});
