/**
 * Decoder-only language-model ops, as llama.cpp computes them (GGUF import). Weights may be in a ggml block
 * type ({kind:"ggml"}), f32, f16 or bf16; activations are f32.
 *
 * - `lathe.GgmlGather`: rows of an embedding table, dequantized to f32 (ggml_get_rows).
 * - `lathe.GgmlMatMul`: X [.., K] times Wᵀ for W [N, K] → [.., N]. With a block-typed W the activations are
 *   first quantized to the weight type's vec_dot type and each product is ggml's vec_dot (formats.md §1.5);
 *   f16/bf16 weights meet activations rounded to the same type. `act_quant` picks the activation quantizer:
 *   "ref" is ggml's reference (and generic CPU build), "x86" the x86 SIMD backend's, which rounds Q8_0/Q8_1
 *   codes differently.
 * - `lathe.RMSNorm`: x / sqrt(mean(x²) + epsilon) * W over the last axis.
 * - `lathe.Rope`: rotary position embedding of X [T, H, d] at positions 0..T-1 (or the `positions` input).
 *   mode "normal" rotates adjacent pairs (2i, 2i+1), "neox" rotates (i, i + dims/2); pair i turns by
 *   pos * freq_scale * base^(-2i/dims) / freq_factors[i].
 * - `lathe.CausalAttention`: softmax(Q Kᵀ * scale + causal mask) V per head, Q [T, Hq, d], K [T, Hkv, d],
 *   V [T, Hkv, dv], where query head h reads key/value head floor(h / (Hq / Hkv)) (grouped-query attention).
 *   scale 0 means 1/sqrt(d). `precision` "f32" computes in f32; "f16" is llama.cpp's CPU flash attention
 *   over its default f16 KV cache: K and V rounded to f16, and below 64 queries (its tiled kernel's size)
 *   Q rounded to f16 too and V summed in an f16 accumulator with an online softmax.
 */
import { isFloat, printDType } from "../dtype.ts";
import { a, defineOp, type InferContext, ins, opt } from "../op-registry.ts";
import type { Dim, TensorType } from "../value-type.ts";
import { tensorType } from "../value-type.ts";

/** Element types a weight operand may have. */
function weightType(ctx: InferContext, i: number, what: string): TensorType {
  const t = ctx.tensor(i);
  const d = t.dtype;
  const ok = d === "f32" || d === "f16" || d === "bf16" || (typeof d === "object" && d.kind === "ggml");
  if (!ok) ctx.fail(`${what} must be f32, f16, bf16 or a ggml block type, got ${printDType(d)}`);
  return t;
}

function f32Input(ctx: InferContext, i: number, what: string): TensorType {
  const t = ctx.tensor(i);
  if (t.dtype !== "f32") ctx.fail(`${what} must be f32, got ${printDType(t.dtype)}`);
  return t;
}

function sameDim(x: Dim | undefined, y: Dim | undefined): boolean {
  return x === undefined || y === undefined || typeof x !== "number" || typeof y !== "number" || x === y;
}

function rank(ctx: InferContext, t: TensorType, r: number, what: string): void {
  if (t.shape && t.shape.length !== r) ctx.fail(`${what} must have rank ${r}, has shape [${t.shape}]`);
}

defineOp({
  op: "lathe.GgmlGather",
  inputs: ins("table", "indices"),
  outputs: ins("output"),
  infer(ctx) {
    const table = weightType(ctx, 0, "table");
    rank(ctx, table, 2, "table");
    const idx = ctx.tensor(1);
    if (idx.dtype !== "i32" && idx.dtype !== "i64") {
      ctx.fail(`indices must be i32 or i64, got ${printDType(idx.dtype)}`);
    }
    if (!idx.shape || !table.shape) return [tensorType("f32", undefined)];
    return [tensorType("f32", [...idx.shape, table.shape[1]])];
  },
  doc: "embedding rows table[indices] dequantized to f32",
});

defineOp({
  op: "lathe.GgmlMatMul",
  inputs: ins("X", "W"),
  outputs: ins("Y"),
  attrs: { act_quant: a.string("ref") },
  infer(ctx) {
    if (ctx.attrs.act_quant !== "ref" && ctx.attrs.act_quant !== "x86") {
      ctx.fail(`act_quant must be "ref" or "x86", got "${ctx.attrs.act_quant}"`);
    }
    const x = f32Input(ctx, 0, "X");
    const w = weightType(ctx, 1, "W");
    rank(ctx, w, 2, "W");
    if (x.shape && x.shape.length < 1) ctx.fail("X must have rank at least 1");
    if (!x.shape || !w.shape) return [tensorType("f32", undefined)];
    const k = x.shape[x.shape.length - 1];
    if (!sameDim(k, w.shape[1])) ctx.fail(`X has ${k} columns, W [${w.shape}] expects ${w.shape[1]}`);
    return [tensorType("f32", [...x.shape.slice(0, -1), w.shape[0]])];
  },
  doc: "X [.., K] × Wᵀ (W [N, K]) with llama.cpp's CPU arithmetic for the weight type",
});

defineOp({
  op: "lathe.RMSNorm",
  inputs: ins("X", opt("W")),
  outputs: ins("Y"),
  attrs: { epsilon: a.float(1e-5) },
  infer(ctx) {
    const x = f32Input(ctx, 0, "X");
    if (x.shape && x.shape.length < 1) ctx.fail("X must have rank at least 1");
    if (ctx.inputs[1]) {
      const w = ctx.tensor(1);
      if (!isFloat(w.dtype)) ctx.fail(`W must be floating point, got ${printDType(w.dtype)}`);
      rank(ctx, w, 1, "W");
      if (x.shape && w.shape && !sameDim(x.shape[x.shape.length - 1], w.shape[0])) {
        ctx.fail(`W has ${w.shape[0]} elements, X rows have ${x.shape[x.shape.length - 1]}`);
      }
    }
    return [x];
  },
  doc: "x / sqrt(mean(x²) + epsilon) * W over the last axis (the mean of squares summed in double, as ggml)",
});

defineOp({
  op: "lathe.Rope",
  inputs: ins("X", opt("positions"), opt("freq_factors")),
  outputs: ins("Y"),
  attrs: { dims: a.int(0), base: a.float(10000), freq_scale: a.float(1), mode: a.string("normal") },
  infer(ctx) {
    const x = f32Input(ctx, 0, "X");
    rank(ctx, x, 3, "X");
    const { mode, dims } = ctx.attrs;
    if (mode !== "normal" && mode !== "neox") ctx.fail(`mode must be "normal" or "neox", got "${mode}"`);
    const d = x.shape?.[2];
    if (dims < 0 || dims % 2 !== 0 || (typeof d === "number" && dims > d)) {
      ctx.fail(`dims ${dims} must be even and at most the head size ${d}`);
    }
    if (typeof d === "number" && dims === 0 && d % 2 !== 0) ctx.fail(`head size ${d} is odd`);
    if (ctx.inputs[1]) {
      const p = ctx.tensor(1);
      if (p.dtype !== "i32" && p.dtype !== "i64") ctx.fail(`positions must be i32 or i64`);
      rank(ctx, p, 1, "positions");
    }
    if (ctx.inputs[2]) {
      const f = ctx.tensor(2);
      if (f.dtype !== "f32") ctx.fail("freq_factors must be f32");
      rank(ctx, f, 1, "freq_factors");
    }
    return [x];
  },
  doc: "rotary position embedding (llama.cpp's ggml_rope_ext without YaRN)",
});

defineOp({
  op: "lathe.CausalAttention",
  inputs: ins("Q", "K", "V"),
  outputs: ins("Y"),
  attrs: { scale: a.float(0), precision: a.string("f32") },
  infer(ctx) {
    if (ctx.attrs.precision !== "f32" && ctx.attrs.precision !== "f16") {
      ctx.fail(`precision must be "f32" or "f16", got "${ctx.attrs.precision}"`);
    }
    const q = f32Input(ctx, 0, "Q"), k = f32Input(ctx, 1, "K"), v = f32Input(ctx, 2, "V");
    rank(ctx, q, 3, "Q");
    rank(ctx, k, 3, "K");
    rank(ctx, v, 3, "V");
    if (!q.shape || !k.shape || !v.shape) return [tensorType("f32", undefined)];
    const [tq, hq, d] = q.shape, [tk, hk, dk] = k.shape, [tv, hv, dv] = v.shape;
    if (!sameDim(tq, tk) || !sameDim(tk, tv)) {
      ctx.fail(`Q, K and V must have the same length, got ${tq}, ${tk}, ${tv}`);
    }
    if (!sameDim(d, dk)) ctx.fail(`Q and K head sizes differ: ${d} and ${dk}`);
    if (!sameDim(hk, hv)) ctx.fail(`K and V head counts differ: ${hk} and ${hv}`);
    if (typeof hq === "number" && typeof hk === "number" && (hk === 0 || hq % hk !== 0)) {
      ctx.fail(`${hq} query heads do not divide into ${hk} key/value heads`);
    }
    return [tensorType("f32", [tq, hq, dv])];
  },
  doc: "softmax(Q·Kᵀ·scale + causal mask)·V per head with grouped-query sharing of K/V heads",
});
