// Kernels: decoder-only language-model ops (ir/ops/llm.ts), with llama.cpp's CPU arithmetic: f32 steps
// rounded with Math.fround where ggml stores an f32, and sums that ggml keeps in double kept in double.
import { GGML_TYPES } from "../../ir/ggml-type.ts";
import { printDType } from "../../ir/dtype.ts";
import { dequantizeKernel } from "../ggml/dequantize.ts";
import { f32ToBf16Bits } from "../ggml/fp16.ts";
import { sgemm } from "../gemm/sgemm.ts";
import { quantizeKernel } from "../ggml/quantize.ts";
import { vecDotKernel, vecDotType } from "../ggml/vec-dot.ts";
import { x86ActivationQuantizer } from "../ggml/x86-activation.ts";
import { registerKernel } from "../kernel-registry.ts";
import type { Tensor } from "../tensor.ts";
import { fail, optTensor, tensorArg } from "./kernel-args.ts";

const fr = Math.fround;

/** The GGUF type id a weight tensor's bytes are in (f32, f16 and bf16 included). */
function ggmlTypeOf(t: Tensor, what: string): number {
  const d = t.dtype;
  if (d === "f32") return 0;
  if (d === "f16") return 1;
  if (d === "bf16") return 30;
  if (typeof d === "object" && d.kind === "ggml") return d.typeId;
  return fail(`${what} must be f32, f16, bf16 or a ggml block type, got ${printDType(d)}`);
}

function bytesOf(t: Tensor): Uint8Array {
  const d = t.data as Uint8Array;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** Bytes of one row of `n` elements of a ggml type, checking that the row fills whole blocks. */
function rowBytes(typeId: number, n: number, what: string): number {
  const info = GGML_TYPES.get(typeId);
  if (!info) return fail(`${what}: unknown ggml type ${typeId}`);
  if (n % info.blockSize !== 0) {
    fail(`${what}: rows of ${n} do not fill whole ${info.name} blocks of ${info.blockSize}`);
  }
  return (n / info.blockSize) * info.typeSize;
}

function f32Arg(inputs: Parameters<typeof tensorArg>[0], i: number, what: string): Tensor {
  const t = tensorArg(inputs, i, what);
  if (t.dtype !== "f32") fail(`${what} must be f32, got ${printDType(t.dtype)}`);
  return t;
}

function indexAt(d: Int32Array | BigInt64Array, i: number): number {
  return typeof d[i] === "bigint" ? Number(d[i]) : (d[i] as number);
}

registerKernel("lathe.GgmlGather", (inputs, ctx) => {
  const table = tensorArg(inputs, 0, "table");
  const idx = tensorArg(inputs, 1, "indices");
  if (table.shape.length !== 2) fail(`table must have rank 2, has shape [${table.shape}]`);
  if (idx.dtype !== "i32" && idx.dtype !== "i64") fail(`indices must be i32 or i64`);
  const typeId = ggmlTypeOf(table, "table");
  const [rows, d] = table.shape;
  const rb = rowBytes(typeId, d, "table");
  const decode = dequantizeKernel(typeId);
  const src = bytesOf(table);
  const ix = idx.data as Int32Array | BigInt64Array;
  const out = ctx.alloc("f32", [...idx.shape, d]);
  const y = out.data as Float32Array;
  for (let t = 0; t < ix.length; t++) {
    let r = indexAt(ix, t);
    if (r < 0) r += rows;
    if (!(r >= 0 && r < rows)) fail(`index ${indexAt(ix, t)} is outside the table's ${rows} rows`);
    decode(src, r * rb, y, t * d, d);
  }
  return [out];
});

registerKernel("lathe.GgmlMatMul", (inputs, ctx) => {
  const x = f32Arg(inputs, 0, "X");
  const w = tensorArg(inputs, 1, "W");
  if (w.shape.length !== 2) fail(`W must have rank 2, has shape [${w.shape}]`);
  if (x.shape.length < 1) fail("X must have rank at least 1");
  const [n, k] = w.shape;
  if (x.shape[x.shape.length - 1] !== k) {
    fail(`X has ${x.shape[x.shape.length - 1]} columns, W [${w.shape}] expects ${k}`);
  }
  const m = k === 0 ? 0 : x.data.length / k;
  const out = ctx.alloc("f32", [...x.shape.slice(0, -1), n]);
  const y = out.data as Float32Array;
  const xs = x.data as Float32Array;
  const typeId = ggmlTypeOf(w, "W");
  if (k === 0) {
    y.fill(0);
    return [out];
  }
  if (typeId === 0 || typeId === 1) {
    // Yᵀ = W · Xᵀ on the shared GEMM engine, W kept packed across runs; f16 weights meet f16-rounded X.
    const act = typeId === 1 ? new Float32Array(Float16Array.from(xs)) : xs;
    const wv = { data: w.data as Float32Array, off: 0, rs: k, cs: 1 };
    sgemm(n, m, k, wv, { data: act, off: 0, rs: 1, cs: k }, { data: y, off: 0, rs: 1, cs: n }, {}, w);
    return [out];
  }
  if (typeId === 30) {
    matMulBf16(xs, w, y, m, n, k);
    return [out];
  }
  const wRow = rowBytes(typeId, k, "W");
  const actType = vecDotType(typeId);
  const aRow = rowBytes(actType, k, "activations");
  const actQuant = ctx.attrs.act_quant;
  if (actQuant !== "ref" && actQuant !== "x86") fail(`act_quant must be "ref" or "x86", got "${actQuant}"`);
  const quant = (actQuant === "x86" ? x86ActivationQuantizer(actType) : undefined) ?? quantizeKernel(actType);
  const dot = vecDotKernel(typeId);
  const act = new Uint8Array(m * aRow);
  for (let r = 0; r < m; r++) quant(xs, r * k, act, r * aRow, k);
  const wb = bytesOf(w);
  for (let j = 0; j < n; j++) {
    const wo = j * wRow;
    for (let r = 0; r < m; r++) y[r * n + j] = dot(k, wb, wo, act, r * aRow);
  }
  return [out];
});

/** bf16 weights: ggml rounds the activations to bf16 (its vec_dot_type); each weight row is widened once. */
function matMulBf16(xs: Float32Array, w: Tensor, y: Float32Array, m: number, n: number, k: number): void {
  const act = new Float32Array(xs.length);
  const actBits = new Uint32Array(act.buffer);
  for (let i = 0; i < xs.length; i++) actBits[i] = f32ToBf16Bits(xs[i]) << 16;
  const u16 = w.data as Uint16Array;
  const row = new Float32Array(k);
  const rowBits = new Uint32Array(row.buffer);
  for (let j = 0; j < n; j++) {
    const o = j * k;
    for (let i = 0; i < k; i++) rowBits[i] = u16[o + i] << 16;
    for (let r = 0; r < m; r++) {
      const a = r * k;
      let s = 0;
      for (let i = 0; i < k; i++) s += row[i] * act[a + i];
      y[r * n + j] = s;
    }
  }
}

registerKernel("lathe.RMSNorm", (inputs, ctx) => {
  const x = f32Arg(inputs, 0, "X");
  const w = optTensor(inputs, 1);
  if (x.shape.length < 1) fail("X must have rank at least 1");
  const d = x.shape[x.shape.length - 1];
  let ws: Float32Array | undefined;
  if (w) {
    if (w.data.length !== d) fail(`W has ${w.data.length} elements, X rows have ${d}`);
    ws = w.dtype === "f32" ? w.data as Float32Array : Float32Array.from(w.data as ArrayLike<number>);
  }
  const eps = fr(ctx.attrs.epsilon);
  const xs = x.data as Float32Array;
  const out = ctx.alloc("f32", x.shape);
  const y = out.data as Float32Array;
  const rows = d === 0 ? 0 : xs.length / d;
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let sum = 0;
    for (let i = 0; i < d; i++) sum += fr(xs[o + i] * xs[o + i]);
    const mean = fr(sum / d);
    const scale = fr(1 / fr(Math.sqrt(fr(mean + eps))));
    if (ws) { for (let i = 0; i < d; i++) y[o + i] = fr(xs[o + i] * scale) * ws[i]; }
    else for (let i = 0; i < d; i++) y[o + i] = xs[o + i] * scale;
  }
  return [out];
});

registerKernel("lathe.Rope", (inputs, ctx) => {
  const x = f32Arg(inputs, 0, "X");
  const posT = optTensor(inputs, 1);
  const ffT = optTensor(inputs, 2);
  if (x.shape.length !== 3) fail(`X must have rank 3 [T, heads, head size], has shape [${x.shape}]`);
  const [t, heads, hd] = x.shape;
  const dims = ctx.attrs.dims === 0 ? hd : ctx.attrs.dims;
  if (dims % 2 !== 0 || dims > hd || dims < 0) {
    fail(`dims ${dims} must be even and at most the head size ${hd}`);
  }
  const neox = ctx.attrs.mode === "neox";
  if (!neox && ctx.attrs.mode !== "normal") fail(`unknown rope mode ${ctx.attrs.mode}`);
  if (posT && posT.data.length !== t) fail(`positions has ${posT.data.length} elements for ${t} rows`);
  if (posT && posT.dtype !== "i32" && posT.dtype !== "i64") fail("positions must be i32 or i64");
  const half = dims / 2;
  let ff: Float32Array | undefined;
  if (ffT) {
    if (ffT.dtype !== "f32" || ffT.data.length < half) {
      fail(`freq_factors must be f32 with at least ${half} elements`);
    }
    ff = ffT.data as Float32Array;
  }
  const thetaScale = fr(Math.pow(fr(ctx.attrs.base), fr(-2 / dims)));
  const freqScale = fr(ctx.attrs.freq_scale);
  const cos = new Float32Array(half), sin = new Float32Array(half);
  const xs = x.data as Float32Array;
  const out = ctx.alloc("f32", x.shape);
  const y = out.data as Float32Array;
  for (let p = 0; p < t; p++) {
    let theta = fr(posT ? indexAt(posT.data as Int32Array | BigInt64Array, p) : p);
    for (let i = 0; i < half; i++) {
      const a = fr(freqScale * (ff ? fr(theta / ff[i]) : theta));
      cos[i] = Math.cos(a);
      sin[i] = Math.sin(a);
      theta = fr(theta * thetaScale);
    }
    for (let h = 0; h < heads; h++) {
      const o = (p * heads + h) * hd;
      for (let i = 0; i < half; i++) {
        const i0 = neox ? o + i : o + 2 * i;
        const i1 = neox ? i0 + half : i0 + 1;
        const x0 = xs[i0], x1 = xs[i1], c = cos[i], s = sin[i];
        y[i0] = fr(x0 * c) - fr(x1 * s);
        y[i1] = fr(x0 * s) + fr(x1 * c);
      }
      for (let i = dims; i < hd; i++) y[o + i] = xs[o + i];
    }
  }
  return [out];
});

registerKernel("lathe.CausalAttention", (inputs, ctx) => {
  const q = f32Arg(inputs, 0, "Q"), k = f32Arg(inputs, 1, "K"), v = f32Arg(inputs, 2, "V");
  if (q.shape.length !== 3 || k.shape.length !== 3 || v.shape.length !== 3) {
    fail("Q, K and V must have rank 3");
  }
  const [t, hq, d] = q.shape, [tk, hk, dk] = k.shape, [tv, hv, dv] = v.shape;
  if (tk !== t || tv !== t) fail(`Q, K and V must have the same length, got ${t}, ${tk}, ${tv}`);
  if (dk !== d) fail(`Q and K head sizes differ: ${d} and ${dk}`);
  if (hv !== hk) fail(`K and V head counts differ: ${hk} and ${hv}`);
  if (hk === 0 ? hq !== 0 : hq % hk !== 0) fail(`${hq} query heads do not divide into ${hk} key/value heads`);
  const precision = ctx.attrs.precision;
  if (precision !== "f32" && precision !== "f16") {
    fail(`precision must be "f32" or "f16", got "${precision}"`);
  }
  const dims: AttentionDims = { t, hq, hk, d, dv, group: hk === 0 ? 1 : hq / hk };
  const scale = fr(ctx.attrs.scale === 0 ? 1 / Math.sqrt(d) : ctx.attrs.scale);
  const out = ctx.alloc("f32", [t, hq, dv]);
  const y = out.data as Float32Array;
  const qs = q.data as Float32Array, ks = k.data as Float32Array, vs = v.data as Float32Array;
  if (precision === "f32") attendF32(qs, ks, vs, y, dims, scale);
  else if (t >= FA_TILE_QUERIES) attendF32(qs, toF16(ks), toF16(vs), y, dims, scale);
  else attendF16(toF16(qs), toF16(ks), toF16(vs), y, dims, scale);
  return [out];
});

/**
 * From this many queries on, llama.cpp's CPU flash attention runs its tiled kernel (GGML_FA_TILE_Q), which
 * keeps Q in f32 and sums V in f32: only the cache's f16 rounding of K and V remains.
 */
const FA_TILE_QUERIES = 64;

interface AttentionDims {
  t: number;
  hq: number;
  hk: number;
  d: number;
  dv: number;
  /** Query heads per key/value head. */
  group: number;
}

/** Values rounded to f16 and widened back (an f16 KV cache, or Q converted for an f16 dot product). */
function toF16(x: Float32Array): Float32Array {
  return new Float32Array(new Float16Array(x));
}

/** Scores, softmax and the weighted sum of V in f32, sums kept in double. */
function attendF32(
  qs: Float32Array,
  ks: Float32Array,
  vs: Float32Array,
  y: Float32Array,
  a: AttentionDims,
  scale: number,
) {
  const { t, hq, hk, d, dv, group } = a;
  const p = new Float32Array(t);
  const acc = new Float64Array(dv);
  for (let h = 0; h < hq; h++) {
    const g = Math.floor(h / group);
    for (let i = 0; i < t; i++) {
      const qo = (i * hq + h) * d;
      let max = -Infinity;
      for (let j = 0; j <= i; j++) {
        const ko = (j * hk + g) * d;
        let s = 0;
        for (let c = 0; c < d; c++) s += qs[qo + c] * ks[ko + c];
        const sc = fr(fr(s) * scale);
        p[j] = sc;
        if (sc > max) max = sc;
      }
      let sum = 0;
      for (let j = 0; j <= i; j++) {
        const e = fr(Math.exp(p[j] - max));
        p[j] = e;
        sum += e;
      }
      const inv = fr(1 / sum);
      acc.fill(0);
      for (let j = 0; j <= i; j++) {
        const pj = fr(p[j] * inv);
        const vo = (j * hk + g) * dv;
        for (let c = 0; c < dv; c++) acc[c] += pj * vs[vo + c];
      }
      const yo = (i * hq + h) * dv;
      for (let c = 0; c < dv; c++) y[yo + c] = acc[c];
    }
  }
}

/**
 * llama.cpp's CPU flash attention over an f16 KV cache (ggml_compute_forward_flash_attn_ext_f16_one_chunk):
 * Q, K and V arrive rounded to f16; keys are visited in order with an online softmax, and the weighted sum
 * of V is kept in an f16 accumulator that is rescaled whenever the running maximum grows. Each step rounds
 * where ggml's does (an f16 update is an f32 multiply-add rounded to f16; exponents of f32 differences), and
 * Q·K is summed in the order of ggml_vec_dot_f16's AVX-512 code, so the result matches llama.cpp bit for bit
 * on such machines.
 */
function attendF16(
  qs: Float32Array,
  ks: Float32Array,
  vs: Float32Array,
  y: Float32Array,
  a: AttentionDims,
  scale: number,
) {
  const { t, hq, hk, d, dv, group } = a;
  const acc = new Float16Array(dv);
  const lanes = new Float32Array(DOT_STEP);
  for (let h = 0; h < hq; h++) {
    const g = Math.floor(h / group);
    for (let i = 0; i < t; i++) {
      const qo = (i * hq + h) * d;
      let sum = 0, max = -Infinity;
      acc.fill(0);
      for (let j = 0; j <= i; j++) {
        const s = fr(dotF16(qs, qo, ks, (j * hk + g) * d, d, lanes) * scale);
        let ms = 1, w = 1;
        if (s > max) {
          ms = fr(Math.exp(fr(max - s)));
          max = s;
          for (let c = 0; c < dv; c++) acc[c] = fr(acc[c] * ms);
        } else {
          w = fr(Math.exp(fr(s - max)));
        }
        const vo = (j * hk + g) * dv;
        for (let c = 0; c < dv; c++) acc[c] = fr(acc[c] + vs[vo + c] * w);
        sum = fr(fr(sum * ms) + w);
      }
      const inv = sum === 0 ? 0 : fr(1 / sum);
      const yo = (i * hq + h) * dv;
      for (let c = 0; c < dv; c++) y[yo + c] = acc[c] * inv;
    }
  }
}

/** ggml_vec_dot_f16 with AVX-512: 4 accumulators of 16 f32 lanes over blocks of 64, then a halving reduce. */
const DOT_LANES = 16, DOT_ARR = 4, DOT_STEP = DOT_LANES * DOT_ARR;

/** Dot product of two rows of f16 values (held as f32); products of f16 values are exact in f32. */
function dotF16(
  x: Float32Array,
  xo: number,
  z: Float32Array,
  zo: number,
  n: number,
  lanes: Float32Array,
): number {
  const np = n - (n % DOT_STEP);
  lanes.fill(0);
  for (let b = 0; b < np; b += DOT_STEP) {
    for (let e = 0; e < DOT_STEP; e++) lanes[e] = fr(lanes[e] + x[xo + b + e] * z[zo + b + e]);
  }
  for (let w = DOT_ARR >> 1; w > 0; w >>= 1) {
    for (let e = 0; e < w * DOT_LANES; e++) lanes[e] = fr(lanes[e] + lanes[e + w * DOT_LANES]);
  }
  for (let w = DOT_LANES >> 1; w > 0; w >>= 1) {
    for (let e = 0; e < w; e++) lanes[e] = fr(lanes[e] + lanes[e + w]);
  }
  let sum = lanes[0];
  for (let c = np; c < n; c++) sum += x[xo + c] * z[zo + c];
  return fr(sum);
}
