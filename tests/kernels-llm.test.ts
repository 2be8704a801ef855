/**
 * Language-model kernels (ir/ops/llm.ts) against hand-derived values, and GgmlMatMul against the real ggml
 * (quantized weights from ggml_quantize_chunk, activations from ggml's own quantizers, products from ggml's
 * vec_dot kernels, through FFI).
 */
import assert from "node:assert/strict";
import { GraphBuilder } from "../ir/builder.ts";
import type { Constant } from "../ir/constant.ts";
import type { DType } from "../ir/dtype.ts";
import { LatheError } from "../ir/errors.ts";
import { GGML_TYPES } from "../ir/ggml-type.ts";
import { Session } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { type Ggml, loadGgml } from "./ffi/ggml.ts";

const loaded = loadGgml();
const ggml: Ggml | undefined = typeof loaded === "string" ? undefined : loaded;
if (!ggml) console.warn(`SKIP ggml FFI tests in kernels-llm: ${loaded}`);

const f32 = (a: number[]) => Float32Array.from(a);

/** Runs one node over constants and graph inputs; returns its output. */
function run1(
  op: string,
  inputs: ({ c: Constant } | { x: Tensor } | null)[],
  attrs: Record<string, number | string> = {},
): Tensor {
  const b = new GraphBuilder();
  const feeds: Record<string, Tensor> = {};
  const names = inputs.map((v, i) => {
    if (v === null) return null;
    if ("c" in v) return b.constant(`c${i}`, v.c);
    feeds[`x${i}`] = v.x;
    return b.input(`x${i}`, v.x.dtype, v.x.shape);
  });
  const y = b.op1(op, names, attrs);
  return new Session(b.build([y])).run(feeds, { check: true }).outputs[y] as Tensor;
}

function constOf(dtype: DType, shape: number[], bytes: Uint8Array): { c: Constant } {
  return { c: { dtype, shape, bytes } };
}
const x = (shape: number[], data: number[]) => ({ x: new Tensor("f32", shape, f32(data)) });

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number) {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i] - want[i]) <= tol, `element ${i}: ${got[i]} vs ${want[i]}`);
  }
}

// ------------------------------------------------------------------------------------------ RMSNorm

Deno.test("RMSNorm: x / sqrt(mean(x²) + eps) * w per row, a zero row stays zero", () => {
  const w = new Uint8Array(f32([1, 1, 2, 0.5]).buffer);
  const y = run1("lathe.RMSNorm", [x([2, 4], [1, 2, 3, 4, 0, 0, 0, 0]), constOf("f32", [4], w)], {
    epsilon: 1e-5,
  });
  const s = 1 / Math.sqrt(30 / 4 + 1e-5);
  close(y.data as Float32Array, [s, 2 * s, 6 * s, 2 * s, 0, 0, 0, 0], 1e-6);
});

Deno.test("RMSNorm without a weight, on a 3-D input", () => {
  const y = run1("lathe.RMSNorm", [x([1, 1, 2], [3, 4])], { epsilon: 0 });
  const s = 1 / Math.sqrt(12.5);
  close(y.data as Float32Array, [3 * s, 4 * s], 1e-6);
});

// ------------------------------------------------------------------------------------------ Rope

const c1 = Math.cos(1), s1 = Math.sin(1), c2 = Math.cos(0.01), s2 = Math.sin(0.01);

Deno.test("Rope normal mode rotates adjacent pairs by pos * base^(-2i/d)", () => {
  const y = run1("lathe.Rope", [x([2, 1, 4], [1, 2, 3, 4, 1, 2, 3, 4])], { base: 10000 });
  close(
    y.data as Float32Array,
    [1, 2, 3, 4, c1 - 2 * s1, s1 + 2 * c1, 3 * c2 - 4 * s2, 3 * s2 + 4 * c2],
    1e-6,
  );
});

Deno.test("Rope neox mode rotates (i, i + d/2)", () => {
  const y = run1("lathe.Rope", [x([2, 1, 4], [1, 2, 3, 4, 1, 2, 3, 4])], { base: 10000, mode: "neox" });
  close(
    y.data as Float32Array,
    [1, 2, 3, 4, c1 - 3 * s1, 2 * c2 - 4 * s2, s1 + 3 * c1, 2 * s2 + 4 * c2],
    1e-6,
  );
});

Deno.test("Rope with dims below the head size, explicit positions and frequency factors", () => {
  const pos = { x: new Tensor("i64", [2], BigInt64Array.of(5n, 0n)) };
  const ff = { x: new Tensor("f32", [1], f32([2])) };
  const y = run1("lathe.Rope", [x([2, 2, 4], [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8]), pos, ff], {
    dims: 2,
  });
  // Pair 0 turns by 5 / 2 at position 5; the last two elements of each head are copied.
  const c = Math.cos(2.5), s = Math.sin(2.5);
  const want = [c - 2 * s, s + 2 * c, 3, 4, 5 * c - 6 * s, 5 * s + 6 * c, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8];
  close(y.data as Float32Array, want, 1e-6);
});

Deno.test("Rope refuses an odd rotation size", () => {
  assert.throws(() => run1("lathe.Rope", [x([1, 1, 4], [1, 2, 3, 4])], { dims: 3 }), LatheError);
});

// ------------------------------------------------------------------------------------------ attention

function attentionCase(precision: string): Tensor {
  // T=2, two query heads sharing one key/value head, head size 2, scale 1.
  const q = x([2, 2, 2], [1, 0, 0, 1, 1, 0, 0, 2]);
  const k = x([2, 1, 2], [1, 0, 0, 1]);
  const v = x([2, 1, 2], [1, 2, 3, 4]);
  return run1("lathe.CausalAttention", [q, k, v], { scale: 1, precision });
}

function attentionWant(): number[] {
  const e = Math.E, e2 = e * e;
  const a0 = e / (e + 1), a1 = 1 / (e + 1); // head 0 at t=1: scores 1, 0
  const b0 = 1 / (1 + e2), b1 = e2 / (1 + e2); // head 1 at t=1: scores 0, 2
  return [1, 2, 1, 2, a0 + 3 * a1, 2 * a0 + 4 * a1, b0 + 3 * b1, 2 * b0 + 4 * b1];
}

Deno.test("CausalAttention (f32): the first query sees only the first key; grouped heads share K and V", () => {
  close(attentionCase("f32").data as Float32Array, attentionWant(), 1e-6);
});

Deno.test("CausalAttention (f16, llama.cpp flash attention): the same within f16 rounding", () => {
  close(attentionCase("f16").data as Float32Array, attentionWant(), 4e-3);
});

Deno.test("CausalAttention refuses query heads that do not divide into key/value heads", () => {
  const q = x([1, 3, 2], [1, 0, 1, 0, 1, 0]), k = x([1, 2, 2], [1, 0, 1, 0]);
  assert.throws(() => run1("lathe.CausalAttention", [q, k, k]), LatheError);
});

Deno.test("CausalAttention scale 0 means 1/sqrt(head size)", () => {
  // Two keys with scores 2 and 0 before scaling; head size 4 gives scale 1/2, so weights e/(e+1), 1/(e+1).
  const q = x([2, 1, 4], [0, 0, 0, 0, 1, 1, 0, 0]);
  const k = x([2, 1, 4], [1, 1, 0, 0, 0, 0, 0, 0]);
  const v = x([2, 1, 1], [10, 0]);
  const y = run1("lathe.CausalAttention", [q, k, v]);
  close(y.data as Float32Array, [10, 10 * Math.E / (Math.E + 1)], 1e-5);
});

// ------------------------------------------------------------------------------------------ GgmlGather

/** A Q8_0 table of two rows of 32: scale 0.5 (f16 0x3800), codes j - 16 and -j. */
function q8Table(): Uint8Array {
  const b = new Uint8Array(2 * 34);
  for (let r = 0; r < 2; r++) {
    b[r * 34] = 0x00;
    b[r * 34 + 1] = 0x38;
    for (let j = 0; j < 32; j++) b[r * 34 + 2 + j] = (r === 0 ? j - 16 : -j) & 0xff;
  }
  return b;
}

Deno.test("GgmlGather decodes Q8_0 rows; negative indices count from the end", () => {
  const idx = { x: new Tensor("i64", [3], BigInt64Array.of(1n, 0n, -1n)) };
  const y = run1("lathe.GgmlGather", [constOf({ kind: "ggml", typeId: 8 }, [2, 32], q8Table()), idx]);
  const row0 = Array.from({ length: 32 }, (_, j) => (j - 16) / 2),
    row1 = Array.from({ length: 32 }, (_, j) => (0 - j) / 2);
  assert.deepEqual(y.shape, [3, 32]);
  assert.deepEqual(Array.from(y.data as Float32Array), [...row1, ...row0, ...row1]);
});

Deno.test("GgmlGather reads f16 tables and rejects an index past the end", () => {
  const table = constOf("f16", [2, 2], new Uint8Array(Float16Array.of(1, 2, 3, 4).buffer));
  const y = run1("lathe.GgmlGather", [table, { x: new Tensor("i32", [1], Int32Array.of(1)) }]);
  assert.deepEqual(Array.from(y.data as Float32Array), [3, 4]);
  assert.throws(
    () => run1("lathe.GgmlGather", [table, { x: new Tensor("i32", [1], Int32Array.of(2)) }]),
    LatheError,
  );
});

// ------------------------------------------------------------------------------------------ GgmlMatMul

Deno.test("GgmlMatMul with f32 weights: X · Wᵀ", () => {
  const w = constOf("f32", [3, 2], new Uint8Array(f32([1, 2, 3, 4, 5, 6]).buffer));
  const y = run1("lathe.GgmlMatMul", [x([2, 2], [1, 1, 0.5, -1]), w]);
  assert.deepEqual(y.shape, [2, 3]);
  assert.deepEqual(Array.from(y.data as Float32Array), [3, 7, 11, -1.5, -2.5, -3.5]);
});

Deno.test("GgmlMatMul with f16 weights rounds the activations to f16 (llama.cpp's vec_dot_type)", () => {
  // 1.0001 is not an f16 value: it rounds to 1 (f16 spacing at 1 is 2^-10).
  const w = constOf("f16", [1, 1], new Uint8Array(Float16Array.of(1).buffer));
  assert.deepEqual(Array.from(run1("lathe.GgmlMatMul", [x([1, 1], [1.0001]), w]).data as Float32Array), [1]);
  const w32 = constOf("f32", [1, 1], new Uint8Array(f32([1]).buffer));
  assert.deepEqual(Array.from(run1("lathe.GgmlMatMul", [x([1, 1], [1.0001]), w32]).data as Float32Array), [
    Math.fround(1.0001),
  ]);
});

Deno.test("GgmlMatMul with bf16 weights rounds the activations to bf16", () => {
  // bf16 keeps 8 significant bits: 1.001 rounds to 1; 3 * 1 + 0.5 * 2 = 4.
  const w = constOf("bf16", [1, 2], new Uint8Array(Uint16Array.of(0x4040, 0x4000).buffer));
  assert.deepEqual(Array.from(run1("lathe.GgmlMatMul", [x([1, 2], [1.001, 0.5]), w]).data as Float32Array), [
    4,
  ]);
});

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MATMUL_TYPES = [2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 20, 23, 39];

for (const actQuant of ["ref", "x86"] as const) {
  Deno.test({
    name: `GgmlMatMul equals ggml's vec_dot over ggml-quantized weights (activations: ${actQuant})`,
    ignore: !ggml,
    fn() {
      const g = ggml!;
      if (actQuant === "x86" && /-(x64|sse42)\.so$/.test(g.cpuVariant)) {
        console.warn(`  skipped: ggml's CPU variant ${g.cpuVariant} has no AVX quantizer`);
        return;
      }
      const rnd = mulberry32(7);
      const k = 256, n = 5, m = 3;
      const xs = Float32Array.from({ length: m * k }, (_, i) => (rnd() - 0.5) * (i % 17 === 0 ? 8 : 1));
      const ws = Float32Array.from({ length: n * k }, () => rnd() - 0.5);
      for (const typeId of MATMUL_TYPES) {
        const name = GGML_TYPES.get(typeId)!.name;
        const wq = g.quantizeChunk(typeId, ws, n, k);
        const y = run1("lathe.GgmlMatMul", [
          x([m, k], Array.from(xs)),
          constOf({ kind: "ggml", typeId }, [n, k], wq),
        ], {
          act_quant: actQuant,
        });
        const actType = g.vecDotType(typeId);
        const rowBytes = wq.length / n;
        for (let r = 0; r < m; r++) {
          const xr = xs.slice(r * k, (r + 1) * k);
          const act = actQuant === "ref" ? g.fromFloatRef(actType, xr) : g.cpuFromFloat(actType, xr);
          for (let j = 0; j < n; j++) {
            const want = g.vecDotGeneric(typeId, k, wq.slice(j * rowBytes, (j + 1) * rowBytes), act);
            assert.equal((y.data as Float32Array)[r * n + j], want, `${name} row ${r} col ${j}`);
          }
        }
      }
    },
  });
}

Deno.test("GgmlMatMul refuses a row length that does not fill the weight's blocks", () => {
  const w = constOf({ kind: "ggml", typeId: 8 }, [1, 32], q8Table().subarray(0, 34));
  assert.throws(() => run1("lathe.GgmlMatMul", [x([1, 16], new Array(16).fill(1)), w]), LatheError);
});
