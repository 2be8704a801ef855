/**
 * ggml block codecs: Lathe beside ggml (through FFI) in the same run. Each dequantize group decodes 2^20
 * elements, i.e. 4 MiB of f32 output: GB/s = 4.19 / (time per iteration in ms). Each dot group is one
 * 2^20-element row against an already quantized activation row (2^20 multiply-adds), beside ggml's SIMD
 * kernel (of the CPU variant ggml would pick) and its scalar reference kernel.
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

// One row of 2^20 elements per call, so the FFI call cost (about 2 µs) does not hide ggml's kernel time.
for (const t of [2, 12]) {
  const name = GGML_TYPES.get(t)!.name;
  const act = vecDotType(t);
  const wq = typeof ggml !== "string"
    ? ggml.quantizeChunk(t, values(N, 2), N / 4096, 4096)
    : quantize(t, values(N, 2));
  const aq = quantize(act, values(N, 3));
  const kernel = vecDotKernel(t);
  const group = `vec_dot ${name}×${GGML_TYPES.get(act)!.name}, 2^20 elements`;
  let sink = 0;
  if (typeof ggml !== "string") {
    Deno.bench({
      name: `${name} vec_dot ggml (${ggml.cpuVariant})`,
      group,
      baseline: true,
      fn: () => void (sink += ggml.vecDot(t, N, wq, aq)),
    });
    Deno.bench({
      name: `${name} vec_dot ggml generic (scalar C)`,
      group,
      fn: () => void (sink += ggml.vecDotGeneric(t, N, wq, aq)),
    });
  }
  Deno.bench({ name: `${name} vec_dot lathe`, group, fn: () => void (sink += kernel(N, wq, 0, aq, 0)) });
}
