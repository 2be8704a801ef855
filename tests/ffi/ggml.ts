/**
 * The real ggml (libggml-base / libggml-cpu from npm:@node-llama-cpp/linux-x64@3.22.1), bound through
 * Deno FFI. Only tests and benches use it, as the independent reference for Lathe's GGUF reader and
 * block codecs. `loadGgml()` answers a reason string instead of a binding when the library is absent.
 *
 * Struct layouts are those of this release's ggml.h / ggml-cpu.h:
 *   ggml_type_traits     { const char* type_name; int64 blck_size; int64 blck_size_interleave;
 *                          size_t type_size; bool is_quantized; to_float; from_float_ref }
 *   ggml_type_traits_cpu { from_float; vec_dot; enum ggml_type vec_dot_type; int64 nrows }
 */

const PKG = "@node-llama-cpp/linux-x64";
const PKG_DIR_PREFIX = "@node-llama-cpp+linux-x64@";

type Ptr = Deno.PointerValue;

const BASE_SYMBOLS = {
  ggml_get_type_traits: { parameters: ["i32"], result: "pointer" },
  ggml_quantize_chunk: {
    parameters: ["i32", "buffer", "buffer", "i64", "i64", "i64", "pointer"],
    result: "usize",
  },
  ggml_fp32_to_fp16: { parameters: ["f32"], result: "u16" },
  dequantize_row_q8_K: { parameters: ["buffer", "buffer", "i64"], result: "void" },
  quantize_row_q8_K_ref: { parameters: ["buffer", "buffer", "i64"], result: "void" },
  gguf_init_from_file: { parameters: ["buffer", { struct: ["u8", "pointer"] }], result: "pointer" },
  gguf_free: { parameters: ["pointer"], result: "void" },
  gguf_get_version: { parameters: ["pointer"], result: "u32" },
  gguf_get_alignment: { parameters: ["pointer"], result: "usize" },
  gguf_get_data_offset: { parameters: ["pointer"], result: "usize" },
  gguf_get_n_kv: { parameters: ["pointer"], result: "i64" },
  gguf_get_key: { parameters: ["pointer", "i64"], result: "pointer" },
  gguf_get_kv_type: { parameters: ["pointer", "i64"], result: "i32" },
  gguf_get_arr_type: { parameters: ["pointer", "i64"], result: "i32" },
  gguf_get_arr_n: { parameters: ["pointer", "i64"], result: "usize" },
  gguf_get_arr_data: { parameters: ["pointer", "i64"], result: "pointer" },
  gguf_get_arr_str: { parameters: ["pointer", "i64", "usize"], result: "pointer" },
  gguf_get_val_data: { parameters: ["pointer", "i64"], result: "pointer" },
  gguf_get_val_str: { parameters: ["pointer", "i64"], result: "pointer" },
  gguf_get_n_tensors: { parameters: ["pointer"], result: "i64" },
  gguf_get_tensor_name: { parameters: ["pointer", "i64"], result: "pointer" },
  gguf_get_tensor_type: { parameters: ["pointer", "i64"], result: "i32" },
  gguf_get_tensor_offset: { parameters: ["pointer", "i64"], result: "usize" },
  gguf_get_tensor_size: { parameters: ["pointer", "i64"], result: "usize" },
  gguf_get_tensor_ne: { parameters: ["pointer", "i64"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

const VEC_DOT_DEF = {
  parameters: ["i32", "buffer", "usize", "buffer", "usize", "buffer", "usize", "i32"],
  result: "void",
} as const;
const TO_FLOAT_DEF = { parameters: ["buffer", "buffer", "i64"], result: "void" } as const;
const FROM_FLOAT_DEF = { parameters: ["buffer", "buffer", "i64"], result: "void" } as const;

/** The scalar reference kernels the x64 baseline variant exports, by weight type id. */
const GENERIC_VEC_DOT: Record<number, string> = {
  2: "ggml_vec_dot_q4_0_q8_0_generic",
  3: "ggml_vec_dot_q4_1_q8_1_generic",
  6: "ggml_vec_dot_q5_0_q8_0_generic",
  7: "ggml_vec_dot_q5_1_q8_1_generic",
  8: "ggml_vec_dot_q8_0_q8_0_generic",
  10: "ggml_vec_dot_q2_K_q8_K_generic",
  11: "ggml_vec_dot_q3_K_q8_K_generic",
  12: "ggml_vec_dot_q4_K_q8_K_generic",
  13: "ggml_vec_dot_q5_K_q8_K_generic",
  14: "ggml_vec_dot_q6_K_q8_K_generic",
  20: "ggml_vec_dot_iq4_nl_q8_0_generic",
  23: "ggml_vec_dot_iq4_xs_q8_K_generic",
  39: "ggml_vec_dot_mxfp4_q8_0_generic",
};

const CPU_SYMBOLS = {
  ggml_cpu_init: { parameters: [], result: "void" },
  ggml_get_type_traits_cpu: { parameters: ["i32"], result: "pointer" },
  ggml_backend_score: { parameters: [], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

type ToFloatFn = Deno.UnsafeFnPointer<typeof TO_FLOAT_DEF>;
type FromFloatFn = Deno.UnsafeFnPointer<typeof FROM_FLOAT_DEF>;
type VecDotFn = Deno.UnsafeFnPointer<typeof VEC_DOT_DEF>;

export interface GgmlTypeTraits {
  readonly name: string;
  readonly blckSize: number;
  readonly typeSize: number;
  readonly isQuantized: boolean;
}

export interface GgufRefKV {
  readonly key: string;
  readonly type: number;
  readonly arrType?: number;
  /** Scalars as JS values (64-bit ints as bigint), arrays as arrays of those, strings as strings. */
  readonly value: unknown;
}
export interface GgufRefTensor {
  readonly name: string;
  readonly type: number;
  readonly ne: readonly number[];
  readonly offset: number;
  readonly size: number;
}
export interface GgufRef {
  readonly version: number;
  readonly alignment: number;
  readonly dataOffset: number;
  readonly kv: readonly GgufRefKV[];
  readonly tensors: readonly GgufRefTensor[];
}

export interface Ggml {
  readonly dir: string;
  /** The CPU variant ggml itself would pick for this machine (highest backend score). */
  readonly cpuVariant: string;
  traits(typeId: number): GgmlTypeTraits;
  /** ggml's to_float for the type (dequantize_row_q8_K for Q8_K, a copy for F32). */
  toFloat(typeId: number, src: Uint8Array, n: number, dst?: Float32Array): Float32Array;
  /** ggml's from_float_ref (quantize_row_q8_K_ref for Q8_K). */
  fromFloatRef(typeId: number, src: Float32Array, dst?: Uint8Array): Uint8Array;
  quantizeChunk(typeId: number, src: Float32Array, nrows: number, nPerRow: number): Uint8Array;
  /** The CPU backend's from_float (SIMD where the variant has it), as used on matmul activations. */
  cpuFromFloat(typeId: number, src: Float32Array, dst?: Uint8Array): Uint8Array;
  /** vec_dot_type of the CPU backend's traits. */
  vecDotType(typeId: number): number;
  /** The CPU backend's vec_dot (the picked variant's SIMD kernel). */
  vecDot(typeId: number, n: number, x: Uint8Array, y: Uint8Array): number;
  /** ggml's scalar reference kernel `ggml_vec_dot_*_generic` (from the baseline x64 variant). */
  vecDotGeneric(typeId: number, n: number, x: Uint8Array, y: Uint8Array): number;
  /** What ggml's own GGUF reader reports for a file, or null when ggml rejects it. */
  readGguf(path: string): GgufRef | null;
  close(): void;
}

/** Finds the folder holding libggml-base.so, or undefined. */
export function findGgmlLibDir(): string | undefined {
  const candidates: string[] = [];
  const env = Deno.env.get("LATHE_GGML_LIB_DIR");
  if (env) candidates.push(env);
  try {
    const url = import.meta.resolve(PKG);
    if (url.startsWith("file:")) candidates.push(new URL("../bins/linux-x64/", url).pathname);
  } catch {
    // Not resolvable: fall back to scanning node_modules.
  }
  const deno = new URL("../../node_modules/.deno/", import.meta.url).pathname;
  try {
    for (const e of Deno.readDirSync(deno)) {
      if (e.name.startsWith(PKG_DIR_PREFIX)) {
        candidates.push(`${deno}${e.name}/node_modules/${PKG}/bins/linux-x64/`);
      }
    }
  } catch {
    // No node_modules/.deno.
  }
  for (const c of candidates) {
    const dir = c.endsWith("/") ? c : c + "/";
    try {
      if (Deno.statSync(dir + "libggml-base.so").isFile) return dir;
    } catch {
      // Try the next candidate.
    }
  }
  return undefined;
}

/**
 * Keeps a library loaded for the life of the process (dlopen with RTLD_NODELETE, handle never closed).
 * Test files share one process under `deno test --parallel`, and Deno closes a worker's libraries when it
 * ends; were libggml-base unloaded and loaded again, its static initializer would run a second time and
 * abort the process (GGML_ASSERT(prev != ggml_uncaught_exception) in ggml.cpp).
 */
export function pinLibrary(path: string): void {
  const RTLD_NOW = 2, RTLD_NODELETE = 0x1000;
  const libc = Deno.dlopen("libc.so.6", { dlopen: { parameters: ["buffer", "i32"], result: "pointer" } });
  try {
    if (!libc.symbols.dlopen(new TextEncoder().encode(path + "\0"), RTLD_NOW | RTLD_NODELETE)) {
      throw new Error(`dlopen(${path}) failed`);
    }
  } finally {
    libc.close();
  }
}

let cached: Ggml | string | undefined;

/** The ggml binding, or the reason it cannot be loaded. Loaded once per process. */
export function loadGgml(): Ggml | string {
  if (cached === undefined) {
    try {
      cached = open();
    } catch (e) {
      cached = `ggml library could not be loaded: ${e instanceof Error ? e.message : e}`;
    }
  }
  return cached;
}

function open(): Ggml | string {
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    return `ggml reference binaries are linux-x64 only (this is ${Deno.build.os}-${Deno.build.arch})`;
  }
  const dir = findGgmlLibDir();
  if (!dir) return `${PKG} is not installed (run deno install in the repo root)`;
  pinLibrary(dir + "libggml-base.so");
  const base = Deno.dlopen(dir + "libggml-base.so", BASE_SYMBOLS);
  const b = base.symbols;

  // Pick the CPU variant as ggml's loader does: the highest backend score.
  let best: { name: string; score: number } = { name: "", score: 0 };
  for (const e of Deno.readDirSync(dir)) {
    if (!/^libggml-cpu-.*\.so$/.test(e.name)) continue;
    const lib = Deno.dlopen(dir + e.name, { ggml_backend_score: CPU_SYMBOLS.ggml_backend_score });
    const score = lib.symbols.ggml_backend_score();
    lib.close();
    if (score > best.score) best = { name: e.name, score };
  }
  if (!best.name) return `no CPU variant of ggml in ${dir} runs on this machine`;
  const cpu = Deno.dlopen(dir + best.name, CPU_SYMBOLS);
  cpu.symbols.ggml_cpu_init();
  const genericSyms: Record<string, typeof VEC_DOT_DEF> = {};
  for (const s of Object.values(GENERIC_VEC_DOT)) genericSyms[s] = VEC_DOT_DEF;
  const x64 = Deno.dlopen(dir + "libggml-cpu-x64.so", {
    ...genericSyms,
    ggml_cpu_init: CPU_SYMBOLS.ggml_cpu_init,
  });
  // The baseline build has no F16C, so its f16 lookups go through tables this fills.
  x64.symbols.ggml_cpu_init();

  const traitsCache = new Map<number, { t: GgmlTypeTraits; toFloat?: ToFloatFn; fromRef?: FromFloatFn }>();
  const cpuCache = new Map<number, { fromFloat?: FromFloatFn; vecDot?: VecDotFn; vecDotType: number }>();

  const traitsOf = (typeId: number) => {
    let c = traitsCache.get(typeId);
    if (!c) {
      const p = b.ggml_get_type_traits(typeId);
      if (!p) throw new Error(`ggml has no traits for type ${typeId}`);
      const v = new Deno.UnsafePointerView(p);
      const namePtr = v.getPointer(0);
      const t: GgmlTypeTraits = {
        name: namePtr ? Deno.UnsafePointerView.getCString(namePtr) : "",
        blckSize: Number(v.getBigInt64(8)),
        typeSize: Number(v.getBigUint64(24)),
        isQuantized: v.getUint8(32) !== 0,
      };
      const tf = v.getPointer(40), fr = v.getPointer(48);
      c = {
        t,
        toFloat: tf ? new Deno.UnsafeFnPointer(tf as Deno.PointerObject<any>, TO_FLOAT_DEF) : undefined,
        fromRef: fr ? new Deno.UnsafeFnPointer(fr as Deno.PointerObject<any>, FROM_FLOAT_DEF) : undefined,
      };
      traitsCache.set(typeId, c);
    }
    return c;
  };
  const cpuOf = (typeId: number) => {
    let c = cpuCache.get(typeId);
    if (!c) {
      const p = cpu.symbols.ggml_get_type_traits_cpu(typeId);
      if (!p) throw new Error(`ggml-cpu has no traits for type ${typeId}`);
      const v = new Deno.UnsafePointerView(p);
      const ff = v.getPointer(0), vd = v.getPointer(8);
      c = {
        fromFloat: ff ? new Deno.UnsafeFnPointer(ff as Deno.PointerObject<any>, FROM_FLOAT_DEF) : undefined,
        vecDot: vd ? new Deno.UnsafeFnPointer(vd as Deno.PointerObject<any>, VEC_DOT_DEF) : undefined,
        vecDotType: v.getInt32(16),
      };
      cpuCache.set(typeId, c);
    }
    return c;
  };
  const bytesFor = (typeId: number, n: number) => {
    const t = traitsOf(typeId).t;
    if (n % t.blckSize) throw new Error(`${n} elements do not fill blocks of ${t.name}`);
    return (n / t.blckSize) * t.typeSize;
  };
  const result = new Float32Array(1);

  return {
    dir,
    cpuVariant: best.name,
    traits: (typeId) => traitsOf(typeId).t,
    toFloat(typeId, src, n, dst) {
      const out = dst ?? new Float32Array(n);
      if (src.length < bytesFor(typeId, n) || out.length < n) throw new Error("toFloat: buffers too small");
      if (typeId === 0) out.set(new Float32Array(src.slice(0, 4 * n).buffer));
      else if (typeId === 15) b.dequantize_row_q8_K(src, out, BigInt(n));
      else {
        const f = traitsOf(typeId).toFloat;
        if (!f) throw new Error(`ggml has no to_float for type ${typeId}`);
        f.call(src, out, BigInt(n));
      }
      return out;
    },
    fromFloatRef(typeId, src, dst) {
      const out = dst ?? new Uint8Array(bytesFor(typeId, src.length));
      if (typeId === 15) b.quantize_row_q8_K_ref(src, out, BigInt(src.length));
      else {
        const f = traitsOf(typeId).fromRef;
        if (!f) throw new Error(`ggml has no from_float_ref for type ${typeId}`);
        f.call(src, out, BigInt(src.length));
      }
      return out;
    },
    quantizeChunk(typeId, src, nrows, nPerRow) {
      // ggml aborts the process (GGML_ASSERT) for the activation-only types.
      if (typeId === 9 || typeId === 15) throw new Error(`ggml_quantize_chunk does not take type ${typeId}`);
      const out = new Uint8Array(bytesFor(typeId, nrows * nPerRow));
      b.ggml_quantize_chunk(typeId, src, out, 0n, BigInt(nrows), BigInt(nPerRow), null);
      return out;
    },
    cpuFromFloat(typeId, src, dst) {
      const out = dst ?? new Uint8Array(bytesFor(typeId, src.length));
      const f = cpuOf(typeId).fromFloat;
      if (!f) throw new Error(`ggml-cpu has no from_float for type ${typeId}`);
      f.call(src, out, BigInt(src.length));
      return out;
    },
    vecDotType: (typeId) => cpuOf(typeId).vecDotType,
    vecDot(typeId, n, x, y) {
      const f = cpuOf(typeId).vecDot;
      if (!f) throw new Error(`ggml-cpu has no vec_dot for type ${typeId}`);
      f.call(n, result, 0n, x, 0n, y, 0n, 1);
      return result[0];
    },
    vecDotGeneric(typeId, n, x, y) {
      const name = GENERIC_VEC_DOT[typeId];
      if (!name) throw new Error(`no generic vec_dot bound for type ${typeId}`);
      (x64.symbols as unknown as Record<string, (...a: unknown[]) => void>)[name](
        n,
        result,
        0n,
        x,
        0n,
        y,
        0n,
        1,
      );
      return result[0];
    },
    readGguf: (path) => readGgufRef(b, path),
    close() {
      x64.close();
      cpu.close();
      base.close();
      cached = undefined;
    },
  };
}

function cstr(p: Ptr): string {
  return p ? Deno.UnsafePointerView.getCString(p) : "";
}

/** Reads one scalar of GGUF value type `t` at p + off. */
function scalarAt(v: Deno.UnsafePointerView, t: number, off: number): unknown {
  switch (t) {
    case 0:
      return v.getUint8(off);
    case 1:
      return v.getInt8(off);
    case 2:
      return v.getUint16(off);
    case 3:
      return v.getInt16(off);
    case 4:
      return v.getUint32(off);
    case 5:
      return v.getInt32(off);
    case 6:
      return v.getFloat32(off);
    case 7:
      return v.getUint8(off) !== 0;
    case 10:
      return v.getBigUint64(off);
    case 11:
      return v.getBigInt64(off);
    case 12:
      return v.getFloat64(off);
  }
  throw new Error(`not a scalar GGUF type ${t}`);
}
const SCALAR_SIZE: Record<number, number> = {
  0: 1,
  1: 1,
  2: 2,
  3: 2,
  4: 4,
  5: 4,
  6: 4,
  7: 1,
  10: 8,
  11: 8,
  12: 8,
};

function readGgufRef(b: Deno.DynamicLibrary<typeof BASE_SYMBOLS>["symbols"], path: string): GgufRef | null {
  const params = new Uint8Array(16);
  params[0] = 1; // no_alloc; ctx = NULL: only the metadata is read
  const ctx = b.gguf_init_from_file(new TextEncoder().encode(path + "\0"), params);
  if (!ctx) return null;
  try {
    const kv: GgufRefKV[] = [];
    const nKv = Number(b.gguf_get_n_kv(ctx));
    for (let i = 0; i < nKv; i++) {
      const key = cstr(b.gguf_get_key(ctx, BigInt(i)));
      const type = b.gguf_get_kv_type(ctx, BigInt(i));
      if (type === 8) kv.push({ key, type, value: cstr(b.gguf_get_val_str(ctx, BigInt(i))) });
      else if (type === 9) {
        const arrType = b.gguf_get_arr_type(ctx, BigInt(i));
        const n = Number(b.gguf_get_arr_n(ctx, BigInt(i)));
        const items: unknown[] = [];
        if (arrType === 8) {
          for (let j = 0; j < n; j++) items.push(cstr(b.gguf_get_arr_str(ctx, BigInt(i), BigInt(j))));
        } else if (n > 0) {
          const v = new Deno.UnsafePointerView(b.gguf_get_arr_data(ctx, BigInt(i))!);
          for (let j = 0; j < n; j++) items.push(scalarAt(v, arrType, j * SCALAR_SIZE[arrType]));
        }
        kv.push({ key, type, arrType, value: items });
      } else {
        kv.push({
          key,
          type,
          value: scalarAt(new Deno.UnsafePointerView(b.gguf_get_val_data(ctx, BigInt(i))!), type, 0),
        });
      }
    }
    const tensors: GgufRefTensor[] = [];
    const nT = Number(b.gguf_get_n_tensors(ctx));
    for (let i = 0; i < nT; i++) {
      const nev = new Deno.UnsafePointerView(b.gguf_get_tensor_ne(ctx, BigInt(i))!);
      tensors.push({
        name: cstr(b.gguf_get_tensor_name(ctx, BigInt(i))),
        type: b.gguf_get_tensor_type(ctx, BigInt(i)),
        ne: [0, 8, 16, 24].map((o) => Number(nev.getBigInt64(o))),
        offset: Number(b.gguf_get_tensor_offset(ctx, BigInt(i))),
        size: Number(b.gguf_get_tensor_size(ctx, BigInt(i))),
      });
    }
    return {
      version: b.gguf_get_version(ctx),
      alignment: Number(b.gguf_get_alignment(ctx)),
      dataOffset: Number(b.gguf_get_data_offset(ctx)),
      kv,
      tensors,
    };
  } finally {
    b.gguf_free(ctx);
  }
}
