/**
 * Driver steps for the decoder-only language-model ops a GGUF llama keeps on the CPU (ir/ops/llm.ts) and the
 * BFP host preparation (lathe.GgmlQuantize), computed as Lathe's runtime does (runtime/kernels/llm.ts,
 * runtime/ggml/*, which follow ggml's scalar reference kernels): GgmlGather dequantizes table rows of any
 * block type the runtime decodes, GgmlMatMul with block-typed weights quantizes the activations (the x86 or
 * reference quantizer `act_quant` names) and takes ggml's vec_dot per output, RMSNorm, Rope (its cos/sin
 * computed here with the runtime's own expressions, since V8's Math.cos/sin are not the C library's) and
 * CausalAttention (f32, or llama.cpp's f16 KV cache and flash attention). Values in ggml block types are
 * their bytes in the driver (a row of blocks per last-axis row). C++: cpp/kernels/llm_ops.h, ggml_*.h.
 */
import { constantNumbers } from "../../ir/constant-values.ts";
import type { DType } from "../../ir/dtype.ts";
import { GGML_TYPES, ggmlTypeByName } from "../../ir/ggml-type.ts";
import { cString, hexFloat } from "./cpp-literal.ts";
import { registerStep, type StepContext } from "./step.ts";

const fr = Math.fround;

/** Types cpp/kernels/ggml_dequant.h decodes. */
const DEQUANTIZED = new Set([0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 30]);
/** Weight types ggml_vec_dot.h multiplies, with their activation (vec_dot) type. */
const VEC_DOT: ReadonlyMap<number, number> = new Map([
  [2, 8],
  [3, 9],
  [6, 8],
  [7, 9],
  [8, 8],
  [10, 15],
  [11, 15],
  [12, 15],
  [13, 15],
  [14, 15],
]);

function typeIdOf(d: DType): number | undefined {
  if (d === "f32") return 0;
  if (d === "f16") return 1;
  if (d === "bf16") return 30;
  return typeof d === "object" && d.kind === "ggml" ? d.typeId : undefined;
}

/** The value's shape in elements (the driver's static type of a block-typed value counts bytes). */
function elementShape(ctx: StepContext, name: string): readonly number[] {
  const c = ctx.constant(name);
  if (c) return c.shape;
  const t = ctx.graph.values[name]?.type;
  if (t?.kind !== "tensor" || !t.shape || t.shape.some((d) => typeof d !== "number")) {
    ctx.fail(`value ${name} has no static shape`);
  }
  return t.shape as number[];
}

/** Bytes of a row of `n` elements of a ggml type. */
function rowBytes(ctx: StepContext, typeId: number, n: number, what: string): number {
  const info = GGML_TYPES.get(typeId);
  if (!info) ctx.fail(`${what}: unknown ggml type ${typeId}`);
  if (n % info.blockSize !== 0) ctx.fail(`${what}: rows of ${n} do not fill whole ${info.name} blocks`);
  return (n / info.blockSize) * info.typeSize;
}

function f32Value(ctx: StepContext, name: string | null | undefined, what: string): string {
  if (!name) ctx.fail(`${what} is missing`);
  if (ctx.tensor(name).dtype !== "f32") ctx.fail(`${what} must be f32`);
  return name;
}

function indexType(ctx: StepContext, name: string, what: string): string {
  const s = ctx.tensor(name).storage;
  if (s !== "i32" && s !== "i64") ctx.fail(`${what} must be i32 or i64`);
  return s === "i32" ? "int32_t" : "int64_t";
}

registerStep("lathe.GgmlGather", (ctx: StepContext) => {
  const [table, idx] = ctx.node.inputs, [y] = ctx.node.outputs;
  if (!table || !idx) ctx.fail("table and indices are required");
  const typeId = typeIdOf(ctx.tensor(table).dtype);
  if (typeId === undefined || !DEQUANTIZED.has(typeId)) ctx.fail("the table's type has no C++ decoder");
  const shape = elementShape(ctx, table);
  if (shape.length !== 2) ctx.fail(`the table must have rank 2, has [${shape}]`);
  const [rows, d] = shape;
  const rb = rowBytes(ctx, typeId, d, "table");
  const it = indexType(ctx, idx, "indices");
  f32Value(ctx, y, "the output");
  ctx.include("kernels/llm_ops.h");
  return [
    `lathe::llm::gather<${it}>(${cString(ctx.node.id)}, ${typeId}, ${
      ctx.ptr(table, "uint8_t")
    }, ${rows}, ${d}, ${rb}, ` +
    `${ctx.ptr(idx)}, ${ctx.tensor(idx).count}, ${ctx.ptr(y)});`,
  ];
});

registerStep("lathe.GgmlMatMul", (ctx: StepContext) => {
  const [xn, wn] = ctx.node.inputs, [y] = ctx.node.outputs;
  const x = f32Value(ctx, xn, "X");
  if (!wn) ctx.fail("W is missing");
  const typeId = typeIdOf(ctx.tensor(wn).dtype);
  const act = typeId === undefined ? undefined : VEC_DOT.get(typeId);
  if (act === undefined) {
    ctx.fail(
      `W is ${
        typeId === undefined ? "not a weight type" : GGML_TYPES.get(typeId)?.name
      }; the driver multiplies block-typed weights (F32/F16/BF16 go through the runtime's GEMM engine, whose summation order is not mirrored)`,
    );
  }
  const aq = ctx.attrs.act_quant;
  if (aq !== "ref" && aq !== "x86") ctx.fail(`act_quant must be "ref" or "x86", got "${aq}"`);
  const ws = elementShape(ctx, wn);
  if (ws.length !== 2) ctx.fail(`W must have rank 2, has [${ws}]`);
  const [n, k] = ws;
  const xt = ctx.tensor(x);
  if (k === 0 || xt.shape[xt.shape.length - 1] !== k) ctx.fail(`X [${xt.shape}] does not have ${k} columns`);
  const m = xt.count / k;
  f32Value(ctx, y, "Y");
  ctx.include("kernels/llm_ops.h");
  return [
    `lathe::llm::matmul(${typeId}, ${aq === "x86"}, ${ctx.ptr(x)}, ${ctx.ptr(wn, "uint8_t")}, ${
      ctx.ptr(y)
    }, ${m}, ${n}, ${k}, ` +
    `${rowBytes(ctx, typeId!, k, "W")}, ${rowBytes(ctx, act, k, "activations")});`,
  ];
});

registerStep("lathe.GgmlQuantize", (ctx: StepContext) => {
  const [xn] = ctx.node.inputs, [y] = ctx.node.outputs;
  const x = f32Value(ctx, xn, "the input");
  const info = ggmlTypeByName(String(ctx.attrs.type));
  const fn = info?.id === 15
    ? "quantize_row_q8_k(%x, %y, %k)"
    : info?.id === 8
    ? "quantize_row_q8_ref(%x, %y, %k, false)"
    : info?.id === 9
    ? "quantize_row_q8_ref(%x, %y, %k, true)"
    : undefined;
  if (!info || !fn) ctx.fail(`quantization to ${ctx.attrs.type} has no C++ kernel (Q8_K, Q8_0, Q8_1 do)`);
  const xt = ctx.tensor(x);
  const k = xt.shape[xt.shape.length - 1];
  if (!xt.shape.length || k === 0) ctx.fail("the input has no rows");
  const rb = rowBytes(ctx, info.id, k, "the input");
  const rows = xt.count / k;
  if (ctx.tensor(y).count * ctx.tensor(y).bytes !== rows * rb) {
    ctx.fail(`the output is not ${rows} rows of ${rb} bytes`);
  }
  ctx.include("kernels/ggml_quantize.h");
  const call = fn.replace("%x", "x + r * k").replace("%y", "q + r * rb").replace("%k", "k");
  return [
    `const float* const x = ${ctx.ptr(x)};`,
    `uint8_t* const q = ${ctx.ptr(y, "uint8_t")};`,
    `const int64_t k = ${k}, rb = ${rb};`,
    `for (int64_t r = 0; r < ${rows}; r++) lathe::ggml::${call};`,
  ];
});

registerStep("lathe.RMSNorm", (ctx: StepContext) => {
  const [xn, wn] = ctx.node.inputs, [y] = ctx.node.outputs;
  const x = f32Value(ctx, xn, "X");
  const xt = ctx.tensor(x);
  if (!xt.shape.length) ctx.fail("X must have rank at least 1");
  const d = xt.shape[xt.shape.length - 1];
  if (wn) {
    f32Value(ctx, wn, "W");
    if (ctx.tensor(wn).count !== d) ctx.fail(`W has ${ctx.tensor(wn).count} elements, X rows have ${d}`);
  }
  f32Value(ctx, y, "Y");
  ctx.include("kernels/llm_ops.h");
  return [
    `lathe::llm::rms_norm(${ctx.ptr(x)}, ${wn ? ctx.ptr(wn) : "nullptr"}, ${ctx.ptr(y)}, ${
      d ? xt.count / d : 0
    }, ${d}, ${hexFloat(fr(ctx.attrs.epsilon))});`,
  ];
});

registerStep("lathe.Rope", (ctx: StepContext) => {
  const [xn, posn, ffn] = ctx.node.inputs, [y] = ctx.node.outputs;
  const x = f32Value(ctx, xn, "X");
  const xt = ctx.tensor(x);
  if (xt.shape.length !== 3) ctx.fail(`X must have rank 3 [T, heads, head size], has [${xt.shape}]`);
  const [t, heads, hd] = xt.shape;
  const dims: number = ctx.attrs.dims === 0 ? hd : ctx.attrs.dims;
  if (dims % 2 !== 0 || dims > hd || dims < 0) ctx.fail(`dims ${dims} must be even and at most ${hd}`);
  const mode = ctx.attrs.mode;
  if (mode !== "neox" && mode !== "normal") ctx.fail(`unknown rope mode ${mode}`);
  const half = dims / 2;
  // The angles and their cos/sin as the runtime computes them, at compile time: positions and frequency
  // factors must be constants (or absent).
  let pos: number[] | undefined;
  if (posn) {
    const c = ctx.constant(posn);
    if (!c) ctx.fail("positions computed at run time: the driver's cos/sin tables are compiled");
    pos = constantNumbers(c);
    if (pos.length !== t) ctx.fail(`positions has ${pos.length} elements for ${t} rows`);
  }
  let ff: Float32Array | undefined;
  if (ffn) {
    const c = ctx.constant(ffn);
    if (!c || c.dtype !== "f32") ctx.fail("freq_factors must be an f32 constant");
    ff = Float32Array.from(constantNumbers(c));
    if (ff.length < half) ctx.fail(`freq_factors has fewer than ${half} elements`);
  }
  const thetaScale = fr(Math.pow(fr(ctx.attrs.base), fr(-2 / dims)));
  const freqScale = fr(ctx.attrs.freq_scale);
  const cos = new Float32Array(t * half), sin = new Float32Array(t * half);
  for (let p = 0; p < t; p++) {
    let theta = fr(pos ? pos[p] : p);
    for (let i = 0; i < half; i++) {
      const a = fr(freqScale * (ff ? fr(theta / ff[i]) : theta));
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
      theta = fr(theta * thetaScale);
    }
  }
  f32Value(ctx, y, "Y");
  ctx.include("kernels/llm_ops.h");
  if (!half) return [`std::memcpy(${ctx.ptr(y)}, ${ctx.ptr(x)}, ${xt.count} * sizeof(float));`];
  const c = ctx.table("float", [...cos].map(hexFloat), "rope_cos");
  const s = ctx.table("float", [...sin].map(hexFloat), "rope_sin");
  return [
    `lathe::llm::rope(${ctx.ptr(x)}, ${ctx.ptr(y)}, ${t}, ${heads}, ${hd}, ${dims}, ${
      mode === "neox"
    }, ${c}, ${s});`,
  ];
});

registerStep("lathe.CausalAttention", (ctx: StepContext) => {
  const [qn, kn, vn] = ctx.node.inputs, [y] = ctx.node.outputs;
  const q = f32Value(ctx, qn, "Q"), k = f32Value(ctx, kn, "K"), v = f32Value(ctx, vn, "V");
  const [qt, kt, vt] = [q, k, v].map((n) => ctx.tensor(n));
  if (qt.shape.length !== 3 || kt.shape.length !== 3 || vt.shape.length !== 3) {
    ctx.fail("Q, K and V must have rank 3");
  }
  const [t, hq, d] = qt.shape, [tk, hk, dk] = kt.shape, [tv, hv, dv] = vt.shape;
  if (tk !== t || tv !== t || dk !== d || hv !== hk || hk === 0 || hq % hk !== 0) {
    ctx.fail(`Q [${qt.shape}], K [${kt.shape}], V [${vt.shape}] do not fit together`);
  }
  const precision = ctx.attrs.precision;
  if (precision !== "f32" && precision !== "f16") ctx.fail(`precision must be "f32" or "f16"`);
  const scale = fr(ctx.attrs.scale === 0 ? 1 / Math.sqrt(d) : ctx.attrs.scale);
  f32Value(ctx, y, "Y");
  ctx.include("kernels/llm_ops.h");
  return [
    `const lathe::llm::AttentionDims dims = {${t}, ${hq}, ${hk}, ${d}, ${dv}, ${hq / hk}};`,
    `lathe::llm::causal_attention(${ctx.ptr(q)}, ${ctx.ptr(k)}, ${ctx.ptr(v)}, ${ctx.ptr(y)}, dims, ${
      hexFloat(scale)
    }, ${precision === "f16"});`,
  ];
});
