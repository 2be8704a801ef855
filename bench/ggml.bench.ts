/**
 * ggml block codecs: Lathe beside ggml (through FFI) in the same run. Each dequantize group decodes 2^20
 * elements (4 MiB of f32 output), so GB/s = 4.194 / (time per iteration in ms) / 1000... i.e. 4 MiB over
 * the reported time. The dot groups compute 256 rows × 4096 (a 4096→256 matrix-vector product) with the
 * activation row already quantized, against ggml's SIMD kernel (the CPU variant ggml would pick) and its
 * scalar reference kernel.
 */
import { GGML_TYPES } from "../ir/ggml-type.ts";
import { dequantizeKernel } from "../runtime/ggml/dequantize.ts";
import { quantize } from "../runtime/ggml/quantize.ts";
import { vecDotKernel, vecDotType } from "../runtime/ggml/vec-dot.ts";
import { loadGgml } from "../tests/ffi/ggml.ts";

const ggml = loadGgml();
if (typeof ggml === "string") console.warn(`ggml baselines skipped: ${ggml}`);

function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296 - 0.5) * 2 * (1 + (i % 7));
  }
  return out;
}

const N = 1 << 20;
const x = values(N, 1);
const dst = new Float32Array(N);
for (const t of [1, 30, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 15, 20, 23, 39]) {
  const name = GGML_TYPES.get(t)!.name;
  const bytes = typeof ggml !== "string" && t !== 15
    ? ggml.quantizeChunk(t, x, N / 256, 256)
    : quantize(t, x);
  const kernel = dequantizeKernel(t);
  const group = `dequantize ${name}`;
  if (typeof ggml !== "string") {
    Deno.bench({
      name: `${name} to_float ggml`,
      group,
      baseline: true,
      fn: () => void ggml.toFloat(t, bytes, N, dst),
    });
  }
  Deno.bench({ name: `${name} dequantize lathe`, group, fn: () => kernel(bytes, 0, dst, 0, N) });
}

const K = 4096, ROWS = 256;
for (const t of [2, 12]) {
  const name = GGML_TYPES.get(t)!.name;
  const act = vecDotType(t);
  const info = GGML_TYPES.get(t)!;
  const rowBytes = (K / info.blockSize) * info.typeSize;
  const w = values(K * ROWS, 2);
  const wq = typeof ggml !== "string" ? ggml.quantizeChunk(t, w, ROWS, K) : quantize(t, w);
  const aq = quantize(act, values(K, 3));
  const rows = Array.from({ length: ROWS }, (_, r) => wq.subarray(r * rowBytes, (r + 1) * rowBytes));
  const out = new Float32Array(ROWS);
  const kernel = vecDotKernel(t);
  const group = `vec_dot ${name}×${GGML_TYPES.get(act)!.name} ${ROWS}×${K}`;
  if (typeof ggml !== "string") {
    Deno.bench({
      name: `${name} vec_dot ggml (${ggml.cpuVariant})`,
      group,
      baseline: true,
      fn: () => {
        for (let r = 0; r < ROWS; r++) out[r] = ggml.vecDot(t, K, rows[r], aq);
      },
    });
    Deno.bench({
      name: `${name} vec_dot ggml generic (scalar)`,
      group,
      fn: () => {
        for (let r = 0; r < ROWS; r++) out[r] = ggml.vecDotGeneric(t, K, rows[r], aq);
      },
    });
  }
  Deno.bench({
    name: `${name} vec_dot lathe`,
    group,
    fn: () => {
      for (let r = 0; r < ROWS; r++) out[r] = kernel(K, wq, r * rowBytes, aq, 0);
    },
  });
}
