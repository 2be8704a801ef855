/**
 * GGUF to IR for `general.architecture = "llama"`: the forward pass of a decoder over a token sequence,
 * input `tokens` i32 [T], output `logits` f32 [T, vocab], computed as llama.cpp computes it:
 *
 *   x = embed(tokens)
 *   per block: x += Wo · attn(rope(Wq·n), rope(Wk·n), Wv·n)  with n = rmsnorm(x) · attn_norm
 *              x += Wdown · (silu(Wgate·n) ⊙ Wup·n)          with n = rmsnorm(x) · ffn_norm
 *   logits = Woutput · (rmsnorm(x) · output_norm)            (Woutput tied to token_embd when absent)
 *
 * RoPE is llama.cpp's "normal" mode (adjacent pairs), the mode it uses for LLAMA. Weights stay in their
 * ggml types (`lathe.GgmlMatMul` quantizes activations as llama.cpp's CPU backend does). GGUF dims are
 * innermost-first, so an IR shape is `ne` reversed. Tensors imported from a path are read lazily.
 */
import "../../ir/ops/index.ts";
import { GraphBuilder } from "../../ir/builder.ts";
import type { Constant } from "../../ir/constant.ts";
import { LatheError, toSafeNumber } from "../../ir/errors.ts";
import { GGML_TYPES } from "../../ir/ggml-type.ts";
import type { Model, SourceMeta } from "../../ir/graph.ts";
import { canDequantize } from "../../runtime/ggml/dequantize.ts";
import { vecDotType } from "../../runtime/ggml/vec-dot.ts";
import { ggufText } from "./metadata.ts";
import { type GgufFile, type GgufTensorInfo, openGguf, parseGguf } from "./reader.ts";

export interface GgufImportOptions {
  /** Names the source in errors when importing bytes. */
  file?: string;
  /**
   * Attention arithmetic: "f16" is llama.cpp's default context (an f16 KV cache and CPU flash attention),
   * "f32" an f32 KV cache without flash attention. Default "f16".
   */
  attention?: "f16" | "f32";
  /** Activation quantizer for block-typed weights: "x86" (llama.cpp's x86 CPU backend, default) or "ref". */
  activations?: "x86" | "ref";
}

/** The architectures this importer builds graphs for. */
export const GGUF_ARCHITECTURES: readonly string[] = ["llama"];

/** Imports a GGUF model: from a path (header read, tensors loaded lazily) or from bytes (views, no copy). */
export async function importGguf(source: string | Uint8Array, opts: GgufImportOptions = {}): Promise<Model> {
  if (typeof source === "string") {
    const h = await openGguf(source);
    try {
      return ggufModel(h, (info) => lazyConstantData(source, info), opts);
    } finally {
      h.close();
    }
  }
  const f = parseGguf(source, opts.file);
  return ggufModel(f, (info) => ({ bytes: f.tensorBytes(info) }), opts);
}

type TensorData = Pick<Constant, "bytes" | "lazy">;

function lazyConstantData(path: string, info: GgufTensorInfo): TensorData {
  return {
    lazy: {
      source: path,
      offset: info.fileOffset,
      length: info.nbytes,
      load: () => readRange(path, info.fileOffset, info.nbytes, info.name),
    },
  };
}

function readRange(path: string, offset: number, length: number, field: string): Uint8Array {
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(path, { read: true });
  } catch (e) {
    throw new LatheError("io", `cannot open: ${(e as Error).message}`, { file: path, field }, { cause: e });
  }
  try {
    const out = new Uint8Array(length);
    f.seekSync(offset, Deno.SeekMode.Start);
    let got = 0;
    while (got < length) {
      const n = f.readSync(out.subarray(got));
      if (n === null || n === 0) {
        throw new LatheError("io", "file ended while reading tensor data", {
          file: path,
          offset: offset + got,
          field,
        });
      }
      got += n;
    }
    return out;
  } finally {
    f.close();
  }
}

/** Builds the model of a parsed GGUF file; `data` gives each used tensor's bytes (or lazy loader). */
export function ggufModel(
  f: GgufFile,
  data: (info: GgufTensorInfo) => TensorData,
  opts: GgufImportOptions = {},
): Model {
  const md = new Metadata(f);
  const arch = md.string("general.architecture");
  if (arch === undefined) {
    throw md.fail("general.architecture", "is missing; cannot tell what network the file holds");
  }
  if (!GGUF_ARCHITECTURES.includes(arch)) {
    throw new LatheError(
      "unsupported",
      `architecture "${arch}" is not supported (supported: ${GGUF_ARCHITECTURES.join(", ")})`,
      { file: f.file, field: "general.architecture" },
    );
  }
  const attention = opts.attention ?? "f16", activations = opts.activations ?? "x86";
  if (attention !== "f16" && attention !== "f32") {
    throw new LatheError("usage", `attention must be f16 or f32, got ${attention}`);
  }
  if (activations !== "x86" && activations !== "ref") {
    throw new LatheError("usage", `activations must be x86 or ref, got ${activations}`);
  }
  return buildLlama(f, md, arch, data, attention, activations);
}

// ------------------------------------------------------------------------------------------ metadata

class Metadata {
  constructor(private readonly f: GgufFile) {}
  fail(key: string, reason: string, kind: "format" | "unsupported" = "format"): LatheError {
    return new LatheError(kind, `${key} ${reason}`, { file: this.f.file, field: key });
  }
  string(key: string): string | undefined {
    const kv = this.f.get(key);
    if (!kv) return undefined;
    if (kv.type !== 8) throw this.fail(key, "must be a STRING");
    return ggufText(kv.value as string | Uint8Array);
  }
  /** Any integer type; 64-bit values must fit a safe integer. */
  int(key: string): number | undefined {
    const kv = this.f.get(key);
    if (!kv) return undefined;
    const v = kv.value;
    if (typeof v === "bigint") return toSafeNumber(v, { file: this.f.file, field: key }, key);
    if (typeof v !== "number" || !Number.isInteger(v) || kv.type === 6 || kv.type === 12) {
      throw this.fail(key, "must be an integer");
    }
    return v;
  }
  /** A count in [min, max]. */
  count(key: string, min: number, max = 1 << 24): number | undefined {
    const v = this.int(key);
    if (v !== undefined && (v < min || v > max)) throw this.fail(key, `= ${v} is outside [${min}, ${max}]`);
    return v;
  }
  float(key: string): number | undefined {
    const kv = this.f.get(key);
    if (!kv) return undefined;
    if (kv.type !== 6 && kv.type !== 12) throw this.fail(key, "must be FLOAT32 or FLOAT64");
    return kv.value as number;
  }
}

// ------------------------------------------------------------------------------------------ llama

function buildLlama(
  f: GgufFile,
  md: Metadata,
  arch: string,
  data: (info: GgufTensorInfo) => TensorData,
  attention: "f16" | "f32",
  activations: "x86" | "ref",
): Model {
  const k = (s: string) => `${arch}.${s}`;
  const byName = new Map(f.tensors.map((t) => [t.name, t]));
  const where = (field: string) => ({ file: f.file, field });

  const tensor = (name: string): GgufTensorInfo => {
    const t = byName.get(name);
    if (!t) throw new LatheError("format", `tensor ${name} is missing`, where(name));
    return t;
  };
  /** Checks a tensor's IR shape (ne reversed) against what the hyperparameters call for. */
  const expect = (t: GgufTensorInfo, shape: readonly number[]) => {
    const got = [...t.ne].reverse();
    while (got.length > shape.length && got[0] === 1) got.shift();
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      throw new LatheError("format", `has shape [${got}], expected [${shape}]`, where(t.name));
    }
  };

  const embd = tensor("token_embd.weight");
  const eNe = embd.ne;
  if (eNe.length !== 2) throw new LatheError("format", `must be 2-D, has ne [${eNe}]`, where(embd.name));
  const [dModel, vocab] = eNe;
  const nEmbd = md.count(k("embedding_length"), 1);
  if (nEmbd !== undefined && nEmbd !== dModel) {
    throw md.fail(k("embedding_length"), `= ${nEmbd} but token_embd.weight rows have ${dModel} elements`);
  }
  if (dModel < 1 || vocab < 1) {
    throw new LatheError("format", `has an empty dimension (ne [${eNe}])`, where(embd.name));
  }
  const nLayer = md.count(k("block_count"), 0);
  if (nLayer === undefined) throw md.fail(k("block_count"), "is missing");
  const nHead = md.count(k("attention.head_count"), 1);
  if (nHead === undefined) throw md.fail(k("attention.head_count"), "is missing");
  const nHeadKv = md.count(k("attention.head_count_kv"), 1) ?? nHead;
  if (nHead % nHeadKv !== 0) {
    throw md.fail(k("attention.head_count_kv"), `= ${nHeadKv} does not divide head_count ${nHead}`);
  }
  const headK = md.count(k("attention.key_length"), 1) ?? dModel / nHead;
  const headV = md.count(k("attention.value_length"), 1) ?? dModel / nHead;
  if (!Number.isInteger(headK) || !Number.isInteger(headV)) {
    throw md.fail(k("attention.head_count"), `= ${nHead} does not divide embedding_length ${dModel}`);
  }
  const ropeDims = md.count(k("rope.dimension_count"), 1) ?? headK;
  if (ropeDims % 2 !== 0 || ropeDims > headK) {
    throw md.fail(k("rope.dimension_count"), `= ${ropeDims} must be even and at most the head size ${headK}`);
  }
  const eps = md.float(k("attention.layer_norm_rms_epsilon")) ?? 1e-5;
  if (!(eps >= 0 && eps < 1)) {
    throw md.fail(k("attention.layer_norm_rms_epsilon"), `= ${eps} is not a small non-negative number`);
  }
  const base = md.float(k("rope.freq_base")) ?? 10000;
  if (!(base > 0 && Number.isFinite(base))) throw md.fail(k("rope.freq_base"), `= ${base} must be positive`);
  const freqScale = ropeFreqScale(md, k);
  const nExpert = md.count(k("expert_count"), 0) ?? 0;
  if (nExpert > 0 || byName.has("blk.0.ffn_gate_inp.weight")) {
    throw new LatheError(
      "unsupported",
      `mixture-of-experts llama (${nExpert} experts) is not supported`,
      where(k("expert_count")),
    );
  }
  const vocabKey = md.count(k("vocab_size"), 1, 1 << 30);
  if (vocabKey !== undefined && vocabKey !== vocab) {
    throw md.fail(k("vocab_size"), `= ${vocabKey} but token_embd.weight has ${vocab} rows`);
  }

  const b = new GraphBuilder(md.string("general.name") ?? "llama");
  const used = new Set<string>();
  const constant = (t: GgufTensorInfo, use: "matmul" | "gather" | "norm"): string => {
    const info = GGML_TYPES.get(t.typeId)!;
    const ok = use === "norm"
      ? t.dtype === "f32" || t.dtype === "f16" || t.dtype === "bf16"
      : use === "gather"
      ? canDequantize(t.typeId)
      : t.typeId === 0 || t.typeId === 1 || t.typeId === 30 || hasVecDot(t.typeId);
    if (!ok) {
      throw new LatheError(
        "unsupported",
        `${info.name} is not supported for a ${use} operand`,
        where(t.name),
      );
    }
    if (used.has(t.name)) return t.name;
    used.add(t.name);
    b.constant(t.name, { dtype: t.dtype, shape: [...t.ne].reverse(), ...data(t) });
    return t.name;
  };
  const optional = (name: string, shape: readonly number[]): GgufTensorInfo | undefined => {
    const t = byName.get(name);
    if (t) expect(t, shape);
    return t;
  };
  const linear = (x: string, name: string, shape: readonly number[], id: string): string => {
    const w = tensor(`${name}.weight`);
    expect(w, shape);
    let y = op(b, "lathe.GgmlMatMul", [x, constant(w, "matmul")], { act_quant: activations }, id);
    const bias = optional(`${name}.bias`, [shape[0]]);
    if (bias) y = op(b, "Add", [y, constant(bias, "norm")], {}, `${id}.bias`);
    return y;
  };
  const reshape = (x: string, dims: number[], id: string): string => {
    const s = `${id}.shape`;
    b.constantOf(s, "i64", [dims.length], dims);
    return op(b, "Reshape", [x, s], {}, id);
  };

  const tokens = b.input("tokens", "i32", ["T"]);
  let x = op(b, "lathe.GgmlGather", [constant(embd, "gather"), tokens], {}, "embed");
  const rope = { dims: ropeDims, base, freq_scale: freqScale, mode: "normal" };
  const ropeFreqs = byName.get("rope_freqs.weight");
  if (ropeFreqs) expect(ropeFreqs, [ropeDims / 2]);
  if (ropeFreqs && ropeFreqs.dtype !== "f32") {
    throw new LatheError("unsupported", "rope_freqs.weight must be F32", where(ropeFreqs.name));
  }
  const ff = ropeFreqs ? constant(ropeFreqs, "norm") : null;
  for (let l = 0; l < nLayer; l++) {
    const p = `blk.${l}`;
    let h = opNorm(b, x, tensor(`${p}.attn_norm.weight`), `${p}.attn_norm`);
    const q = linear(h, `${p}.attn_q`, [nHead * headK, dModel], `${p}.q`);
    const kk = linear(h, `${p}.attn_k`, [nHeadKv * headK, dModel], `${p}.k`);
    const v = linear(h, `${p}.attn_v`, [nHeadKv * headV, dModel], `${p}.v`);
    const qr = op(b, "lathe.Rope", [reshape(q, [0, nHead, headK], `${p}.q3`), null, ff], rope, `${p}.q_rope`);
    const kr = op(
      b,
      "lathe.Rope",
      [reshape(kk, [0, nHeadKv, headK], `${p}.k3`), null, ff],
      rope,
      `${p}.k_rope`,
    );
    const v3 = reshape(v, [0, nHeadKv, headV], `${p}.v3`);
    const att = op(b, "lathe.CausalAttention", [qr, kr, v3], {
      scale: 1 / Math.sqrt(headK),
      precision: attention,
    }, `${p}.attn`);
    const o = linear(reshape(att, [0, nHead * headV], `${p}.attn2`), `${p}.attn_output`, [
      dModel,
      nHead * headV,
    ], `${p}.o`);
    x = op(b, "Add", [x, o], {}, `${p}.attn_res`);
    h = opNorm(b, x, tensor(`${p}.ffn_norm.weight`), `${p}.ffn_norm`);
    const gateW = tensor(`${p}.ffn_gate.weight`);
    const nFf = gateW.ne.length === 2 ? gateW.ne[1] : -1;
    const gate = linear(h, `${p}.ffn_gate`, [nFf, dModel], `${p}.gate`);
    const up = linear(h, `${p}.ffn_up`, [nFf, dModel], `${p}.up`);
    const sig = op(b, "Sigmoid", [gate], {}, `${p}.gate_sigmoid`);
    const silu = op(b, "Mul", [gate, sig], {}, `${p}.gate_silu`);
    const prod = op(b, "Mul", [silu, up], {}, `${p}.swiglu`);
    const down = linear(prod, `${p}.ffn_down`, [dModel, nFf], `${p}.down`);
    x = op(b, "Add", [x, down], {}, `${p}.ffn_res`);
  }
  x = opNorm(b, x, tensor("output_norm.weight"), "output_norm");
  const out = byName.get("output.weight");
  if (out) expect(out, [vocab, dModel]);
  const head = out ? constant(out, "matmul") : constant(embd, "matmul");
  op(b, "lathe.GgmlMatMul", [x, head], { act_quant: activations }, "output", "logits");
  const graph = b.build(["logits"]);

  const props: Record<string, string> = {};
  for (const kv of f.metadata) {
    if (kv.key.startsWith("general.") && kv.type === 8) {
      props[kv.key] = ggufText(kv.value as string | Uint8Array);
    }
  }
  const meta: SourceMeta = {
    format: "gguf",
    opsets: { "": 21 },
    ...(props["general.name"] ? { doc: props["general.name"] } : {}),
    props,
    ...(f.file ? { path: f.file } : {}),
    extra: { gguf: { version: f.version, alignment: f.alignment, metadata: f.metadata } },
  };
  return { graph, meta };

  function opNorm(bb: GraphBuilder, xx: string, w: GgufTensorInfo, id: string): string {
    expect(w, [dModel]);
    return op(bb, "lathe.RMSNorm", [xx, constant(w, "norm")], { epsilon: eps }, id);
  }
}

/** One node with a readable id; its output is named after the id unless given. */
function op(
  b: GraphBuilder,
  kind: string,
  inputs: (string | null)[],
  attrs: Record<string, number | string>,
  id: string,
  out = id,
): string {
  return b.op(kind, inputs, attrs, [out], id)[0];
}

function hasVecDot(typeId: number): boolean {
  try {
    vecDotType(typeId);
    return true;
  } catch {
    return false;
  }
}

/** llama.cpp's frequency scale: 1 / the linear scaling factor; YaRN and LongRoPE are not implemented. */
function ropeFreqScale(md: Metadata, k: (s: string) => string): number {
  const type = md.string(k("rope.scaling.type")) ?? "none";
  if (type !== "none" && type !== "linear") {
    throw md.fail(
      k("rope.scaling.type"),
      `= "${type}" is not supported (only none and linear)`,
      "unsupported",
    );
  }
  const factor = md.float(k("rope.scaling.factor")) ?? md.float(k("rope.scale_linear")) ?? 0;
  if (type === "none" && md.string(k("rope.scaling.type")) !== undefined) return 1;
  if (!(factor >= 0 && Number.isFinite(factor))) {
    throw md.fail(k("rope.scaling.factor"), `= ${factor} is not a scale`);
  }
  return factor === 0 ? 1 : 1 / factor;
}
