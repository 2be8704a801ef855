/**
 * Lathe's ggml block codecs against the real ggml (libggml from @node-llama-cpp/linux-x64, via FFI):
 * quantized bytes must be identical, dequantized f32 bit-identical, and dot products equal to ggml's
 * scalar reference kernels. Skips with a message when the library is not installed.
 */
import assert from "node:assert/strict";
import { GGML_TYPES } from "../ir/ggml-type.ts";
import { dequantize } from "../runtime/ggml/dequantize.ts";
import { quantize } from "../runtime/ggml/quantize.ts";
import { vecDot, vecDotType } from "../runtime/ggml/vec-dot.ts";
import { openGguf } from "../compiler/gguf/reader.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { type Ggml, loadGgml } from "./ffi/ggml.ts";

const loaded = loadGgml();
const ggml: Ggml | undefined = typeof loaded === "string" ? undefined : loaded;
if (!ggml) console.warn(`SKIP ggml FFI tests: ${loaded}`);
const noGgml = !ggml;

const name = (t: number) => GGML_TYPES.get(t)!.name;

// ------------------------------------------------------------------------------------------ inputs

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

function gaussian(rnd: () => number): number {
  return Math.sqrt(-2 * Math.log(rnd() + 1e-300)) * Math.cos(2 * Math.PI * rnd());
}

/**
 * f32 rows of 256 (one K-quant super-block, eight 32-blocks) with a different character each: gaussian
 * at many scales, zeros, a lone spike, ±max f32, f16 extremes, tiny and subnormal values, constants,
 * values on rounding ties, heavy tails and one-signed data.
 */
function testRows(seed: number): Float32Array {
  const rnd = mulberry32(seed);
  const rows: number[][] = [];
  const row = (f: (i: number) => number) => rows.push(Array.from({ length: 256 }, (_, i) => f(i)));
  for (const s of [1, 1e-3, 1e3, 0.02, 7.5]) row(() => gaussian(rnd) * s);
  row(() => 0);
  row((i) => (i === 77 ? -3.25 : 0));
  row((i) => (i % 97 === 5 ? 3.4028234663852886e38 * (i % 2 ? -1 : 1) : gaussian(rnd)));
  row((i) => (i % 2 ? 65504 : -65504) * (i % 3 === 0 ? 0.5 : 1));
  row(() => gaussian(rnd) * 1e-30);
  row(() => gaussian(rnd) * 1e-42); // subnormal f32
  row(() => 0.1);
  row(() => -2.5);
  row((i) => ((i % 64) - 32) * 0.5); // many exact ties for round/truncate steps
  row((i) => ((i % 32) - 16) / 127 * 3);
  row(() => Math.abs(gaussian(rnd)) + 0.5); // all positive: K-quant mins at zero
  row(() => -Math.abs(gaussian(rnd)) - 0.5);
  row(() => gaussian(rnd) ** 3);
  row((i) => (i < 128 ? gaussian(rnd) : gaussian(rnd) * 1e-4)); // sub-blocks with very different scales
  for (let k = 0; k < 12; k++) {
    const s = Math.exp(gaussian(rnd) * 3);
    row(() => (rnd() < 0.1 ? gaussian(rnd) * 10 : gaussian(rnd)) * s);
  }
  const out = new Float32Array(rows.length * 256);
  rows.forEach((r, i) => out.set(r, i * 256));
  return out;
}

/** Random block bytes with f16 scale fields kept finite, plus blocks with extreme scales. */
function randomBlockBytes(typeId: number, nBlocks: number, seed: number): Uint8Array {
  const info = GGML_TYPES.get(typeId)!;
  const rnd = mulberry32(seed);
  const b = new Uint8Array(nBlocks * info.typeSize);
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(rnd() * 256);
  const f16At = F16_FIELDS[typeId] ?? [];
  const extremes = [0x7bff, 0xfbff, 0x0001, 0x8001, 0x0400, 0x0000, 0x8000, 0x3c00];
  for (let blk = 0; blk < nBlocks; blk++) {
    for (const o of f16At) {
      const at = blk * info.typeSize + o;
      let h = b[at] | (b[at + 1] << 8);
      if ((h & 0x7c00) === 0x7c00) h &= 0xbfff; // no inf/NaN scales: compare numbers, not NaN payloads
      if (blk < extremes.length) h = extremes[(blk + o) % extremes.length];
      b[at] = h & 0xff;
      b[at + 1] = h >> 8;
    }
    if (typeId === 15) { // Q8_K: f32 d at 0
      const dv = new DataView(b.buffer, blk * info.typeSize, 4);
      dv.setFloat32(0, gaussian(rnd) * Math.exp(gaussian(rnd) * 4), true);
    }
  }
  return b;
}

/** Byte offsets of f16 fields in each block. */
const F16_FIELDS: Record<number, number[]> = {
  1: [0],
  2: [0],
  3: [0, 2],
  6: [0],
  7: [0, 2],
  8: [0],
  9: [0, 2],
  10: [80, 82],
  11: [108],
  12: [0, 2],
  13: [0, 2],
  14: [208],
  20: [0],
  23: [0],
};

/** Index of the first element whose bit pattern differs (both NaN counts as equal), or -1. */
function firstBitDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) {
    if (ua[i] !== ub[i] && !(a[i] !== a[i] && b[i] !== b[i])) return i;
  }
  return -1;
}

function firstByteDifference(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

// ------------------------------------------------------------------------------------------ quantizers

const QUANTIZED = [1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 30, 39];
const INPUT = testRows(20240601);

for (const t of QUANTIZED) {
  Deno.test({
    name: `ggml ${name(t)}: quantize is byte-identical to ggml's from_float_ref`,
    ignore: noGgml,
    fn() {
      const info = GGML_TYPES.get(t)!;
      const mine = quantize(t, INPUT);
      const ref = ggml!.fromFloatRef(t, INPUT);
      const i = firstByteDifference(mine, ref);
      assert.equal(
        i,
        -1,
        `first difference in block ${Math.floor(i / info.typeSize)} byte ${i % info.typeSize}`,
      );
      if (t !== 9 && t !== 15) {
        // ggml_quantize_chunk (what llama-quantize calls without an imatrix) takes the same path.
        assert.equal(firstByteDifference(mine, ggml!.quantizeChunk(t, INPUT, INPUT.length / 256, 256)), -1);
      }
    },
  });
}

// ------------------------------------------------------------------------------------------ dequantizers

const DEQUANTIZED = [0, 1, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 15, 20, 23, 30, 39];

for (const t of DEQUANTIZED) {
  Deno.test({
    name: `ggml ${name(t)}: dequantize is bit-identical to ggml's to_float`,
    ignore: noGgml,
    fn() {
      const info = GGML_TYPES.get(t)!;
      const n = 256 * 64;
      const bytes = randomBlockBytes(t, n / info.blockSize, 1000 + t);
      const i = firstBitDifference(dequantize(t, bytes, n), ggml!.toFloat(t, bytes, n));
      assert.equal(i, -1, `first difference at element ${i}`);
      // And on blocks ggml itself quantized from real-looking data.
      if (t !== 0 && t !== 15) {
        const q = ggml!.quantizeChunk(t, INPUT, INPUT.length / 256, 256);
        assert.equal(
          firstBitDifference(dequantize(t, q, INPUT.length), ggml!.toFloat(t, q, INPUT.length)),
          -1,
        );
      }
    },
  });
}

Deno.test({
  name: "ggml Q8_1: dequantize equals ggml's Q8_0 to_float of the same d and qs",
  ignore: noGgml,
  fn() {
    // ggml has no to_float for Q8_1; its values are defined as those of Q8_0 with the same d and qs.
    const q81 = ggml!.fromFloatRef(9, INPUT);
    const nb = INPUT.length / 32;
    const q80 = new Uint8Array(nb * 34);
    for (let b = 0; b < nb; b++) {
      q80.set(q81.subarray(36 * b, 36 * b + 2), 34 * b);
      q80.set(q81.subarray(36 * b + 4, 36 * b + 36), 34 * b + 2);
    }
    assert.equal(
      firstBitDifference(dequantize(9, q81, INPUT.length), ggml!.toFloat(8, q80, INPUT.length)),
      -1,
    );
  },
});

Deno.test({
  name: "ggml corpus: every tiny-llama tensor dequantizes bit-identically to ggml's to_float",
  ignore: noGgml || noCorpus(),
  async fn() {
    const seen = new Map<string, number>();
    for (const file of ["F32", "F16", "Q4_0", "Q4_K_M", "Q6_K", "Q8_0"]) {
      using h = await openGguf(corpusPath(`gguf/tiny-llama/tiny-llama-${file}.gguf`));
      for (const info of h.tensors) {
        const bytes = await h.readTensorBytes(info);
        const i = firstBitDifference(
          dequantize(info.typeId, bytes, info.elementCount),
          ggml!.toFloat(info.typeId, bytes, info.elementCount),
        );
        assert.equal(i, -1, `${file}: ${info.name} (${info.type.name}) differs at element ${i}`);
        seen.set(info.type.name, (seen.get(info.type.name) ?? 0) + 1);
      }
    }
    console.log(`  tensors checked by type: ${[...seen].map(([k, v]) => `${k} ${v}`).join(", ")}`);
    assert.deepEqual([...seen.keys()].sort(), ["F16", "F32", "Q4_0", "Q4_K", "Q6_K", "Q8_0"]);
  },
});

// ------------------------------------------------------------------------------------------ dot products

const WEIGHTS = [2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 20, 23, 39];

Deno.test({
  name: "ggml vec_dot: equal to ggml's scalar kernels, within f32 reassociation of its SIMD kernels",
  ignore: noGgml,
  fn() {
    const rnd = mulberry32(7);
    const n = 4096;
    const report: string[] = [];
    let worstRel = 0;
    for (const t of WEIGHTS) {
      const act = vecDotType(t);
      assert.equal(act, ggml!.vecDotType(t), `${name(t)} pairs with ${name(act)} in ggml too`);
      let maxAbs = 0, maxRel = 0;
      for (let trial = 0; trial < 20; trial++) {
        const w = new Float32Array(n), a = new Float32Array(n);
        const sw = Math.exp(gaussian(rnd) * 2), sa = Math.exp(gaussian(rnd) * 2);
        for (let i = 0; i < n; i++) {
          w[i] = gaussian(rnd) * sw;
          a[i] = gaussian(rnd) * sa;
        }
        // Weights and activations both quantized by ggml, so only the kernels are compared.
        const wq = ggml!.quantizeChunk(t, w, 1, n);
        const aq = ggml!.fromFloatRef(act, a);
        const mine = vecDot(t, n, wq, aq);
        const generic = ggml!.vecDotGeneric(t, n, wq, aq);
        assert.ok(Object.is(mine, generic), `${name(t)} trial ${trial}: ${mine} vs ggml generic ${generic}`);
        const simd = ggml!.vecDot(t, n, wq, aq);
        // The SIMD kernels sum the same integer block sums in another f32 order: bound by the magnitude
        // of the summed terms, not of the (possibly cancelling) result.
        const scale = Math.abs(ggml!.vecDotGeneric(t, n, wq, absRow(act, aq)));
        const d = Math.abs(mine - simd);
        maxAbs = Math.max(maxAbs, d);
        maxRel = Math.max(maxRel, d / Math.max(Math.abs(simd), 1e-30));
        assert.ok(d <= 1e-5 * Math.max(scale, Math.abs(simd)), `${name(t)}: ${mine} vs SIMD ${simd}`);
      }
      worstRel = Math.max(worstRel, maxRel);
      report.push(`${name(t)}×${name(act)} max|Δ| ${maxAbs.toExponential(2)} rel ${maxRel.toExponential(2)}`);
    }
    console.log(`  vs ${ggml!.cpuVariant} SIMD vec_dot (exact vs generic):\n    ${report.join("\n    ")}`);
  },
});

/** The activation row with |q| and the same scales, for a magnitude bound on the dot product. */
function absRow(act: number, bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const s8 = new Int8Array(out.buffer);
  const [size, qsAt, qsLen] = act === 8 ? [34, 2, 32] : act === 9 ? [36, 4, 32] : [292, 4, 256];
  for (let b = 0; b < out.length / size; b++) {
    for (let j = 0; j < qsLen; j++) {
      s8[b * size + qsAt + j] = Math.abs(Math.max(-127, s8[b * size + qsAt + j]));
    }
    if (act === 15) { // bsums must match the new qs
      for (let g = 0; g < 16; g++) {
        let s = 0;
        for (let j = 0; j < 16; j++) s += s8[b * size + 4 + 16 * g + j];
        new DataView(out.buffer).setInt16(b * size + 260 + 2 * g, s, true);
      }
    }
  }
  return out;
}
