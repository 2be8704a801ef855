/**
 * llama.cpp itself (libllama from npm:@node-llama-cpp/linux-x64@3.22.1), bound through Deno FFI, as the
 * reference for Lathe's GGUF llama graphs: it loads a GGUF file and returns the logits of every position of
 * one token sequence, computed on the CPU with one thread. `loadLlama()` answers a reason string instead of
 * a binding when the library cannot be loaded.
 *
 * Layouts (llama.h of this release):
 *   llama_batch { int32 n_tokens; llama_token* token; float* embd; llama_pos* pos; int32* n_seq_id;
 *                 llama_seq_id** seq_id; int8* logits }                                     (56 bytes)
 *   llama_model_params / llama_context_params are passed back exactly as the *_default_params() functions
 *   return them, except, for the f32-KV reference, llama_context_params' flash_attn_type (byte 52) and
 *   type_k / type_v (bytes 104 / 108). Those offsets are checked against their documented defaults (AUTO = -1,
 *   F16 = 1) before anything is written; a release with another layout is refused, not guessed at.
 * For tracing, llama_context_params.cb_eval / cb_eval_user_data (bytes 88 / 96, checked to be NULL by
 * default) take a callback that reads each computed tensor: ggml_tensor { int32 type @0; int64 ne[4] @16;
 * size_t nb[4] @48; void* data @248; char name[64] @256 } (ggml.h of this release).
 * The parameter structs travel by value in memory (they exceed 16 bytes), so declaring them larger than
 * their real size is safe both as a return (the caller's buffer) and as an argument (extra bytes unread).
 */
import { findGgmlLibDir, pinLibrary } from "./ggml.ts";

const PARAMS = { struct: Array<"u64">(64).fill("u64") } as const;
const BATCH = { struct: ["i32", "pointer", "pointer", "pointer", "pointer", "pointer", "pointer"] } as const;

const SYMBOLS = {
  llama_backend_init: { parameters: [], result: "void" },
  llama_log_set: { parameters: ["pointer", "pointer"], result: "void" },
  llama_model_default_params: { parameters: [], result: PARAMS },
  llama_context_default_params: { parameters: [], result: PARAMS },
  llama_model_load_from_file: { parameters: ["buffer", PARAMS], result: "pointer" },
  llama_model_free: { parameters: ["pointer"], result: "void" },
  llama_init_from_model: { parameters: ["pointer", PARAMS], result: "pointer" },
  llama_free: { parameters: ["pointer"], result: "void" },
  llama_set_n_threads: { parameters: ["pointer", "i32", "i32"], result: "void" },
  llama_model_get_vocab: { parameters: ["pointer"], result: "pointer" },
  llama_vocab_n_tokens: { parameters: ["pointer"], result: "i32" },
  llama_decode: { parameters: ["pointer", BATCH], result: "i32" },
  llama_get_logits_ith: { parameters: ["pointer", "i32"], result: "pointer" },
  llama_get_memory: { parameters: ["pointer"], result: "pointer" },
  llama_memory_clear: { parameters: ["pointer", "bool"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

export interface LlamaRunOptions {
  /**
   * An f32 KV cache without flash attention, instead of llama.cpp's default context (f16 KV cache, flash
   * attention chosen automatically, which the CPU backend takes).
   */
  f32Kv?: boolean;
}

export interface LlamaLogits {
  vocab: number;
  /** [tokens, vocab], row-major. */
  logits: Float32Array;
}

/** A loaded model and context, reused across decodes (for benchmarks). */
export interface LlamaSession {
  readonly vocab: number;
  /** Clears the KV cache and decodes `tokens` as one sequence from position 0; logits of every position. */
  decode(tokens: readonly number[]): Float32Array;
  close(): void;
}

/** Every contiguous f32 tensor llama.cpp computed, by name, in the order computed (names repeat). */
export type LlamaTrace = Map<string, { ne: number[]; data: Float32Array }[]>;

export interface Llama {
  readonly dir: string;
  /** Decodes `tokens` like `logits` and records the intermediate tensors. */
  trace(modelPath: string, tokens: readonly number[], opts?: LlamaRunOptions): LlamaTrace;
  /** Logits of every position of `tokens` decoded as one sequence from position 0. */
  logits(modelPath: string, tokens: readonly number[], opts?: LlamaRunOptions): LlamaLogits;
  session(modelPath: string, opts?: LlamaRunOptions): LlamaSession;
  /** Whether the file loads as a model (llama.cpp's own validation). */
  loads(modelPath: string): boolean;
}

let cached: Llama | string | undefined;

/** The binding, or why it cannot be loaded. Loaded once per process. */
export function loadLlama(): Llama | string {
  if (cached === undefined) {
    try {
      cached = open();
    } catch (e) {
      cached = `libllama could not be loaded: ${e instanceof Error ? e.message : e}`;
    }
  }
  return cached;
}

function findLib(dir: string, pattern: RegExp): string | undefined {
  for (const e of Deno.readDirSync(dir)) if (pattern.test(e.name)) return dir + e.name;
  return undefined;
}

const ptr = (a: ArrayBufferView) => BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(a as Uint8Array)));
const cstr = (s: string) => new TextEncoder().encode(s + "\0");

function open(): Llama | string {
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    return `llama.cpp reference binaries are linux-x64 only (this is ${Deno.build.os}-${Deno.build.arch})`;
  }
  const dir = findGgmlLibDir();
  if (!dir) return "@node-llama-cpp/linux-x64 is not installed (run deno install in the repo root)";
  const ggmlPath = findLib(dir, /^libggml(\.v[\d.]+)?\.so$/);
  const llamaPath = findLib(dir, /^libllama(\.v[\d.]+)?\.so$/);
  if (!ggmlPath || !llamaPath) return `no libggml / libllama in ${dir}`;
  const ggml = Deno.dlopen(ggmlPath, {
    ggml_backend_load_all_from_path: { parameters: ["buffer"], result: "void" },
    ggml_backend_dev_count: { parameters: [], result: "usize" },
  });
  // The CPU backend is a plugin (one library per instruction set); ggml picks the best for this machine.
  ggml.symbols.ggml_backend_load_all_from_path(cstr(dir));
  if (Number(ggml.symbols.ggml_backend_dev_count()) < 1) return `ggml found no CPU backend in ${dir}`;
  pinLibrary(dir + "libggml-base.so");
  const lib = Deno.dlopen(llamaPath, SYMBOLS);
  const L = lib.symbols;
  const quiet = new Deno.UnsafeCallback(
    { parameters: ["i32", "pointer", "pointer"], result: "void" } as const,
    () => {},
  );
  L.llama_log_set(quiet.pointer, null);
  L.llama_backend_init();

  const contextParams = (f32Kv: boolean): Uint8Array => {
    const cp = L.llama_context_default_params();
    if (!f32Kv) return cp;
    const dv = new DataView(cp.buffer, cp.byteOffset, cp.byteLength);
    if (dv.getInt32(52, true) !== -1 || dv.getInt32(104, true) !== 1 || dv.getInt32(108, true) !== 1) {
      throw new Error(
        "llama_context_params layout differs from the one this binding knows (flash_attn_type, type_k)",
      );
    }
    dv.setInt32(52, 0, true); // LLAMA_FLASH_ATTN_TYPE_DISABLED
    dv.setInt32(104, 0, true); // GGML_TYPE_F32
    dv.setInt32(108, 0, true);
    return cp;
  };

  const session = (
    path: string,
    opts: LlamaRunOptions = {},
    evalCallback?: Deno.PointerValue,
  ): LlamaSession => {
    const model = L.llama_model_load_from_file(cstr(path), L.llama_model_default_params());
    if (!model) throw new Error(`llama.cpp could not load ${path}`);
    const cp = contextParams(opts.f32Kv ?? false);
    if (evalCallback) {
      const dv = new DataView(cp.buffer, cp.byteOffset, cp.byteLength);
      if (dv.getBigUint64(88, true) !== 0n || dv.getBigUint64(96, true) !== 0n) {
        L.llama_model_free(model);
        throw new Error("llama_context_params layout differs from the one this binding knows (cb_eval)");
      }
      dv.setBigUint64(88, BigInt(Deno.UnsafePointer.value(evalCallback)), true);
    }
    const ctx = L.llama_init_from_model(model, cp);
    if (!ctx) {
      L.llama_model_free(model);
      throw new Error("llama_init_from_model failed");
    }
    L.llama_set_n_threads(ctx, 1, 1);
    const cdv = new DataView(cp.buffer, cp.byteOffset, cp.byteLength);
    const maxTokens = Math.min(cdv.getUint32(0, true), cdv.getUint32(8, true));
    const vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(model));
    const memory = L.llama_get_memory(ctx);
    let open = true;
    return {
      vocab,
      decode(tokens) {
        if (!open) throw new Error("session closed");
        const t = tokens.length;
        if (t < 1 || t > maxTokens) {
          throw new Error(`${t} tokens: the default context takes 1 to ${maxTokens}`);
        }
        L.llama_memory_clear(memory, true);
        const tok = Int32Array.from(tokens), pos = new Int32Array(t), nSeq = new Int32Array(t).fill(1);
        for (let i = 0; i < t; i++) pos[i] = i;
        const seq0 = new Int32Array(1);
        const seqIds = new BigUint64Array(t).fill(ptr(seq0));
        const want = new Int8Array(t).fill(1);
        const batch = new Uint8Array(56);
        const bv = new DataView(batch.buffer);
        bv.setInt32(0, t, true);
        bv.setBigUint64(8, ptr(tok), true);
        bv.setBigUint64(16, 0n, true);
        bv.setBigUint64(24, ptr(pos), true);
        bv.setBigUint64(32, ptr(nSeq), true);
        bv.setBigUint64(40, ptr(seqIds), true);
        bv.setBigUint64(48, ptr(want), true);
        const rc = L.llama_decode(ctx, batch);
        if (rc !== 0) throw new Error(`llama_decode returned ${rc}`);
        const logits = new Float32Array(t * vocab);
        for (let i = 0; i < t; i++) {
          const row = L.llama_get_logits_ith(ctx, i);
          if (!row) throw new Error(`no logits for position ${i}`);
          new Deno.UnsafePointerView(row).copyInto(logits.subarray(i * vocab, (i + 1) * vocab));
        }
        return logits;
      },
      close() {
        if (!open) return;
        open = false;
        L.llama_free(ctx);
        L.llama_model_free(model);
      },
    };
  };

  return {
    dir,
    loads(path) {
      const model = L.llama_model_load_from_file(cstr(path), L.llama_model_default_params());
      if (model) L.llama_model_free(model);
      return model !== null;
    },
    logits(path, tokens, opts = {}) {
      const sess = session(path, opts);
      try {
        return { vocab: sess.vocab, logits: sess.decode(tokens) };
      } finally {
        sess.close();
      }
    },
    session,
    trace(path, tokens, opts = {}) {
      const seen: LlamaTrace = new Map();
      const cb = new Deno.UnsafeCallback(
        { parameters: ["pointer", "bool", "pointer"], result: "bool" } as const,
        (t, ask) => {
          if (ask || !t) return true;
          const v = new Deno.UnsafePointerView(t);
          const ne = [0, 1, 2, 3].map((i) => Number(v.getBigInt64(16 + 8 * i)));
          const nb = [0, 1, 2, 3].map((i) => Number(v.getBigUint64(48 + 8 * i)));
          const data = v.getPointer(248);
          const n = ne[0] * ne[1] * ne[2] * ne[3];
          const contiguous = nb[0] === 4 && nb[1] === 4 * ne[0] && nb[2] === nb[1] * ne[1] &&
            nb[3] === nb[2] * ne[2];
          if (v.getInt32(0) !== 0 || !data || !contiguous || !(n > 0 && n < 1 << 24)) return true;
          const a = new Float32Array(n);
          new Deno.UnsafePointerView(data).copyInto(a);
          const name = Deno.UnsafePointerView.getCString(t, 256);
          const list = seen.get(name) ?? [];
          list.push({ ne, data: a });
          seen.set(name, list);
          return true;
        },
      );
      try {
        const sess = session(path, opts, cb.pointer);
        try {
          sess.decode(tokens);
        } finally {
          sess.close();
        }
      } finally {
        cb.close();
      }
      return seen;
    },
  };
}
