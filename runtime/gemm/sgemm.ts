/**
 * Matrix multiply engine. Float32 runs on the WebAssembly SIMD micro-kernels (wasm-simd.ts) when the engine
 * has them: A is packed into MR-row panels (and kept packed across calls when it is a weight), B is read in
 * place, C gets a per-row bias and a clamp. Everything else (f64, f16, integers, or no SIMD) runs on the
 * portable loop in gemmJS.
 */
import type { NumericArray } from "../tensor.ts";
import { ArenaFull, MR, type WasmEngine, wasmEngine } from "./wasm-simd.ts";

/** A strided matrix view: element (i, j) is data[off + i*rs + j*cs]. */
export interface MatView<T extends ArrayLike<number | bigint> = ArrayLike<number>> {
  readonly data: T;
  readonly off: number;
  readonly rs: number;
  readonly cs: number;
}

/** Writes ceil(M/MR) panels of A (k-major within a panel, zero rows past M) at dst[dOff]. */
export function packPanels(dst: Float32Array, dOff: number, a: MatView, M: number, K: number): void {
  const { data, off, rs, cs } = a;
  const panels = Math.ceil(M / MR);
  for (let p = 0; p < panels; p++) {
    const base = dOff + p * K * MR;
    for (let r = 0; r < MR; r++) {
      const m = p * MR + r;
      let d = base + r;
      if (m >= M) {
        for (let k = 0; k < K; k++, d += MR) dst[d] = 0;
        continue;
      }
      let s = off + m * rs;
      if (cs === 1) { for (let k = 0; k < K; k++, d += MR) dst[d] = data[s + k]; }
      else for (let k = 0; k < K; k++, d += MR, s += cs) dst[d] = data[s];
    }
  }
}

/** Identity under which a packed operand is kept: a weight tensor (its data is checked by sampling). */
export interface PackKey {
  readonly data: ArrayLike<unknown>;
}

interface CacheEntry {
  generation: number;
  ptr: number;
  /** Times this key was packed without being kept; the second sighting makes it persistent. */
  seen: number;
  fingerprint: number;
}

const packCache = new WeakMap<object, Map<string, CacheEntry>>();

/** A few sampled values: a cheap guard against a cached key whose data changed in place. */
function fingerprint(data: ArrayLike<unknown>): number {
  const n = data.length;
  let h = n;
  for (let i = 0; i < 16 && n > 0; i++) {
    const v = Number(data[Math.floor((i * (n - 1)) / 15)]);
    h = Math.imul(h ^ Math.round(v * 65536), 0x9e3779b1) >>> 0;
  }
  return h;
}

/**
 * A byte offset to `floats` packed floats in the engine's memory, filled by `fill(view, floatOffset)`.
 * With a key (a weight tensor, stable across runs) the packed copy is kept after its second use; `variant`
 * distinguishes packings of the same key. Must be called before any scratch allocation of the call.
 */
export function packedOperand(
  eng: WasmEngine,
  key: PackKey | undefined,
  variant: string,
  floats: number,
  fill: (dst: Float32Array, at: number) => void,
): number {
  return packedBytes(eng, key, variant, floats * 4, (ptr) => fill(eng.arena.f32, ptr >> 2));
}

/** packedOperand for any element type: `fill(ptr)` writes `bytes` bytes at byte offset ptr. */
export function packedBytes(
  eng: WasmEngine,
  key: PackKey | undefined,
  variant: string,
  bytes: number,
  fill: (ptr: number) => void,
): number {
  const arena = eng.arena;
  if (!key) {
    const ptr = arena.scratch(bytes);
    fill(ptr);
    return ptr;
  }
  let byKey = packCache.get(key);
  if (!byKey) packCache.set(key, byKey = new Map());
  const fp = fingerprint(key.data);
  const hit = byKey.get(variant);
  if (hit && hit.generation === arena.generation && hit.ptr >= 0 && hit.fingerprint === fp) return hit.ptr;
  if (!hit || hit.seen < 1 || hit.fingerprint !== fp) {
    byKey.set(variant, { generation: -1, ptr: -1, seen: (hit?.seen ?? 0) + 1, fingerprint: fp });
    const ptr = arena.scratch(bytes);
    fill(ptr);
    return ptr;
  }
  const ptr = arena.persist(bytes);
  fill(ptr);
  byKey.set(variant, { generation: arena.generation, ptr, seen: hit.seen + 1, fingerprint: fp });
  return ptr;
}

export interface GemmEpilogue {
  /** Added to every element of row i (length >= M). */
  readonly rowBias?: ArrayLike<number>;
  readonly lo?: number;
  readonly hi?: number;
}

/**
 * C = A·B (+ row bias, clamped) for float32, A [M x K], B [K x N], C [M x N] as strided views. `aKey`
 * marks A as a weight worth keeping packed. Uses the SIMD engine when present.
 */
export function sgemm(
  M: number,
  N: number,
  K: number,
  a: MatView<Float32Array>,
  b: MatView<Float32Array>,
  c: MatView<Float32Array>,
  epi: GemmEpilogue = {},
  aKey?: PackKey,
): void {
  if (M === 0 || N === 0) return;
  const eng = wasmEngine();
  if (!eng || K === 0) {
    gemmJS(M, N, K, a, b, c, epi);
    return;
  }
  try {
    sgemmSimd(eng, M, N, K, a, b, c, epi, aKey);
  } catch (e) {
    if (!(e instanceof ArenaFull)) throw e;
    gemmJS(M, N, K, a, b, c, epi);
  }
}

function sgemmSimd(
  eng: WasmEngine,
  M: number,
  N: number,
  K: number,
  a: MatView<Float32Array>,
  b: MatView<Float32Array>,
  c: MatView<Float32Array>,
  epi: GemmEpilogue,
  aKey?: PackKey,
): void {
  const { arena, kernels } = eng;
  arena.reset();
  const panels = Math.ceil(M / MR);
  const pA = packedOperand(
    eng,
    aKey,
    `A:${a.off}:${a.rs}:${a.cs}:${M}:${K}`,
    panels * MR * K,
    (dst, at) => packPanels(dst, at, a, M, K),
  );
  const pBias = arena.scratch(panels * MR * 4);
  const f32 = arena.f32;
  const biasAt = pBias >> 2;
  if (epi.rowBias) { for (let i = 0; i < M; i++) f32[biasAt + i] = epi.rowBias[i]; }
  else f32.fill(0, biasAt, biasAt + M);
  f32.fill(0, biasAt + M, biasAt + panels * MR);
  // B must have contiguous columns in the engine's memory; a row stride up to 2N is copied as one span.
  let pB: number, ldb: number;
  if ((b.cs === 1 || N === 1) && b.rs >= N && b.rs <= 2 * N) {
    const span = (K - 1) * b.rs + N;
    pB = arena.scratch(span * 4);
    arena.f32.set(b.data.subarray(b.off, b.off + span), pB >> 2);
    ldb = b.rs;
  } else {
    pB = arena.scratch(K * N * 4);
    const dst = arena.f32, src = b.data, at = pB >> 2;
    ldb = N;
    if (b.cs === 1) {
      for (let k = 0; k < K; k++) dst.set(src.subarray(b.off + k * b.rs, b.off + k * b.rs + N), at + k * N);
    } else {
      for (let k = 0; k < K; k++) {
        let s = b.off + k * b.rs;
        for (let n = 0; n < N; n++, s += b.cs) dst[at + k * N + n] = src[s];
      }
    }
  }
  const pC = arena.scratch(panels * MR * N * 4);
  kernels.gemmStrided(
    pA,
    pB,
    ldb * 4,
    pC,
    N * 4,
    panels,
    N,
    K,
    pBias,
    epi.lo ?? -Infinity,
    epi.hi ?? Infinity,
  );
  copyOut(arena.f32, pC >> 2, M, N, c);
}

/** Copies a packed [M x N] result from the engine's memory into a strided view. */
export function copyOut(src: Float32Array, at: number, M: number, N: number, c: MatView<Float32Array>): void {
  const out = c.data;
  if (c.cs === 1 && (c.rs === N || M === 1)) {
    out.set(src.subarray(at, at + M * N), c.off);
  } else if (c.cs === 1) {
    for (let i = 0; i < M; i++) out.set(src.subarray(at + i * N, at + (i + 1) * N), c.off + i * c.rs);
  } else {
    for (let i = 0; i < M; i++) {
      let d = c.off + i * c.rs;
      const s = at + i * N;
      for (let j = 0; j < N; j++, d += c.cs) out[d] = src[s + j];
    }
  }
}

/**
 * Portable C = A·B (+ row bias, clamp) over any numeric arrays, accumulating in double precision per output
 * row (i-k-j order, so B and C rows stream). Used for non-f32 types and when SIMD is unavailable.
 */
export function gemmJS(
  M: number,
  N: number,
  K: number,
  a: MatView,
  b: MatView,
  c: MatView<NumericArray>,
  epi: GemmEpilogue = {},
): void {
  const row = new Float64Array(N);
  const lo = epi.lo ?? -Infinity, hi = epi.hi ?? Infinity;
  const clamp = lo !== -Infinity || hi !== Infinity;
  const A = a.data, B = b.data, C = c.data;
  for (let i = 0; i < M; i++) {
    row.fill(epi.rowBias ? epi.rowBias[i] : 0);
    for (let k = 0; k < K; k++) {
      const av = A[a.off + i * a.rs + k * a.cs];
      let s = b.off + k * b.rs;
      if (b.cs === 1) { for (let j = 0; j < N; j++) row[j] += av * B[s + j]; }
      else for (let j = 0; j < N; j++, s += b.cs) row[j] += av * B[s];
    }
    let d = c.off + i * c.rs;
    for (let j = 0; j < N; j++, d += c.cs) {
      let v = row[j];
      if (clamp) v = v < lo ? lo : v > hi ? hi : v;
      C[d] = v;
    }
  }
}
