/**
 * GGUF v3 writer, laid out as ggml writes: KV pairs in the given order, tensor infos, zero padding to the
 * alignment, then each tensor's bytes padded to the alignment, with offsets packed in order. A file read
 * with reader.ts and written back is byte-identical when it was laid out that way.
 *
 * Tensor bytes may be supplied lazily (a function returning the bytes), so a large model is streamed one
 * tensor at a time. The file is written under a temporary name and renamed into place when complete.
 */
import { LatheError } from "../../ir/errors.ts";
import { GGML_TYPES } from "../../ir/ggml-type.ts";
import {
  GGUF_SCALAR_SIZE,
  GGUF_TYPE_NAMES,
  type GgufArray,
  type GgufKV,
  type GgufString,
  type GgufValue,
  isGgufType,
} from "./metadata.ts";
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_MAX_DIMS } from "./reader.ts";

export interface GgufTensorInput {
  readonly name: string;
  /** ggml's ne (innermost first). */
  readonly ne: readonly number[];
  readonly typeId: number;
  /** The tensor's bytes in its ggml type, or a function producing them when they are written. */
  readonly data: Uint8Array | (() => Uint8Array | Promise<Uint8Array>);
}

export interface GgufWriteInput {
  readonly metadata: readonly GgufKV[];
  readonly tensors: readonly GgufTensorInput[];
}

interface Layout {
  header: Uint8Array;
  alignment: number;
  nbytes: number[];
}

/** Growable little-endian byte buffer for the header. */
class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private dv = new DataView(this.buf.buffer);
  length = 0;
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  u32(v: number): void {
    this.ensure(4);
    this.dv.setUint32(this.length, v, true);
    this.length += 4;
  }
  u64(v: number | bigint): void {
    this.ensure(8);
    this.dv.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  scalar(type: number, v: number | bigint | boolean): void {
    const n = GGUF_SCALAR_SIZE[type];
    this.ensure(n);
    const o = this.length, dv = this.dv;
    switch (type) {
      case 0:
        dv.setUint8(o, v as number);
        break;
      case 1:
        dv.setInt8(o, v as number);
        break;
      case 2:
        dv.setUint16(o, v as number, true);
        break;
      case 3:
        dv.setInt16(o, v as number, true);
        break;
      case 4:
        dv.setUint32(o, v as number, true);
        break;
      case 5:
        dv.setInt32(o, v as number, true);
        break;
      case 6:
        dv.setFloat32(o, v as number, true);
        break;
      case 7:
        dv.setUint8(o, v ? 1 : 0);
        break;
      case 10:
        dv.setBigUint64(o, BigInt(v), true);
        break;
      case 11:
        dv.setBigInt64(o, BigInt(v), true);
        break;
      case 12:
        dv.setFloat64(o, v as number, true);
        break;
    }
    this.length += n;
  }
  string(s: GgufString): void {
    const b = typeof s === "string" ? encoder.encode(s) : s;
    this.u64(b.length);
    this.bytes(b);
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}
const encoder = new TextEncoder();

const INT_RANGE: Record<number, [number, number]> = {
  0: [0, 0xff],
  1: [-0x80, 0x7f],
  2: [0, 0xffff],
  3: [-0x8000, 0x7fff],
  4: [0, 0xffffffff],
  5: [-0x80000000, 0x7fffffff],
};
const BIG_RANGE: Record<number, [bigint, bigint]> = {
  10: [0n, 0xffffffffffffffffn],
  11: [-0x8000000000000000n, 0x7fffffffffffffffn],
};

function bad(reason: string, field: string): LatheError {
  return new LatheError("usage", reason, { field });
}

function writeScalar(w: ByteWriter, type: number, v: unknown, field: string): void {
  if (type in INT_RANGE) {
    const [lo, hi] = INT_RANGE[type];
    if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
      throw bad(
        `${GGUF_TYPE_NAMES[type]} value must be an integer in [${lo}, ${hi}], got ${String(v)}`,
        field,
      );
    }
  } else if (type in BIG_RANGE) {
    const [lo, hi] = BIG_RANGE[type];
    const ok = (typeof v === "bigint" || (typeof v === "number" && Number.isSafeInteger(v))) &&
      BigInt(v as number | bigint) >= lo && BigInt(v as number | bigint) <= hi;
    if (!ok) throw bad(`${GGUF_TYPE_NAMES[type]} value out of range: ${String(v)}`, field);
  } else if (type === 7) {
    if (typeof v !== "boolean") throw bad(`BOOL value must be a boolean, got ${typeof v}`, field);
  } else if (typeof v !== "number") {
    throw bad(`${GGUF_TYPE_NAMES[type]} value must be a number, got ${typeof v}`, field);
  }
  w.scalar(type, v as number | bigint | boolean);
}

function writeValue(w: ByteWriter, type: number, v: GgufValue, field: string): void {
  if (type === 8) {
    if (typeof v !== "string" && !(v instanceof Uint8Array)) {
      throw bad("STRING value must be a string", field);
    }
    w.string(v);
    return;
  }
  if (type !== 9) {
    writeScalar(w, type, v, field);
    return;
  }
  const arr = v as GgufArray;
  if (typeof arr !== "object" || arr === null || !("elemType" in arr) || !isGgufType(arr.elemType)) {
    throw bad("ARRAY value must be { elemType, items }", field);
  }
  const items = arr.items as ArrayLike<unknown>;
  w.u32(arr.elemType);
  w.u64(items.length);
  const size = GGUF_SCALAR_SIZE[arr.elemType];
  if (size && ArrayBuffer.isView(items) && !(items instanceof DataView)) {
    const view = items as Exclude<GgufArray["items"], readonly unknown[]>;
    if (view.BYTES_PER_ELEMENT !== size) {
      throw bad(`${GGUF_TYPE_NAMES[arr.elemType]} array given as ${view.constructor.name}`, field);
    }
    w.bytes(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    return;
  }
  for (let i = 0; i < items.length; i++) writeValue(w, arr.elemType, items[i] as GgufValue, `${field}[${i}]`);
}

/** Checks the input and builds the header (everything before the tensor data, padding included). */
export function layoutGguf(input: GgufWriteInput): Layout {
  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(3);
  w.u64(input.tensors.length);
  w.u64(input.metadata.length);
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const keys = new Set<string>();
  input.metadata.forEach((kv, i) => {
    const f = `metadata[${i}](${kv.key})`;
    if (!kv.key) throw bad("empty key", `metadata[${i}].key`);
    if (keys.has(kv.key)) throw bad("duplicate key", f);
    keys.add(kv.key);
    if (!isGgufType(kv.type)) throw bad(`unknown value type ${kv.type}`, f);
    if (kv.key === "general.alignment") {
      const v = kv.value;
      if (kv.type !== 4 || typeof v !== "number" || v <= 0 || (v & (v - 1)) !== 0) {
        throw bad("general.alignment must be a UINT32 power of two", f);
      }
      alignment = v;
    }
    w.string(kv.key);
    w.u32(kv.type);
    writeValue(w, kv.type, kv.value, f);
  });
  const names = new Set<string>();
  const nbytes: number[] = [];
  let offset = 0;
  input.tensors.forEach((t, i) => {
    const f = `tensors[${i}](${t.name})`;
    if (names.has(t.name)) throw bad("duplicate tensor name", f);
    names.add(t.name);
    const type = GGML_TYPES.get(t.typeId);
    if (!type) throw bad(`unknown ggml type id ${t.typeId}`, f);
    if (t.ne.length > GGUF_MAX_DIMS) throw bad(`${t.ne.length} dims exceed ${GGUF_MAX_DIMS}`, f);
    let count = 1;
    for (const n of t.ne) {
      if (!Number.isSafeInteger(n) || n < 0) throw bad(`bad dimension ${n}`, f);
      count *= n;
    }
    if (!Number.isSafeInteger(count)) throw bad("element count overflows a safe integer", f);
    if ((t.ne[0] ?? 1) % type.blockSize !== 0) {
      throw bad(`ne[0] = ${t.ne[0]} does not fill whole ${type.name} blocks of ${type.blockSize}`, f);
    }
    const n = (count / type.blockSize) * type.typeSize;
    w.string(t.name);
    w.u32(t.ne.length);
    for (const d of t.ne) w.u64(d);
    w.u32(t.typeId);
    w.u64(offset);
    nbytes.push(n);
    offset += n + pad(n, alignment);
  });
  if (input.tensors.length > 0) w.bytes(new Uint8Array(pad(w.length, alignment)));
  return { header: w.result(), alignment, nbytes };
}

function pad(n: number, alignment: number): number {
  return (alignment - (n % alignment)) % alignment;
}

async function tensorData(t: GgufTensorInput, expected: number, i: number): Promise<Uint8Array> {
  const data = typeof t.data === "function" ? await t.data() : t.data;
  if (!(data instanceof Uint8Array) || data.length !== expected) {
    const got = data instanceof Uint8Array ? `${data.length} bytes` : typeof data;
    throw bad(`data is ${got}, expected ${expected} bytes`, `tensors[${i}](${t.name}).data`);
  }
  return data;
}

/** Serializes to one byte array (for tests and small files). */
export async function serializeGguf(input: GgufWriteInput): Promise<Uint8Array> {
  const { header, alignment, nbytes } = layoutGguf(input);
  const total = header.length + nbytes.reduce((s, n) => s + n + pad(n, alignment), 0);
  const out = new Uint8Array(total);
  out.set(header);
  let o = header.length;
  for (let i = 0; i < input.tensors.length; i++) {
    out.set(await tensorData(input.tensors[i], nbytes[i], i), o);
    o += nbytes[i] + pad(nbytes[i], alignment);
  }
  return out;
}

/** Writes a GGUF file, streaming tensor data, via a temporary file renamed into place. */
export async function writeGguf(path: string, input: GgufWriteInput): Promise<void> {
  const { header, alignment, nbytes } = layoutGguf(input);
  // Same temporary naming as compiler/atomic-write.ts, which cannot stream.
  const tmp = `${path}.${Deno.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  let f: Deno.FsFile | undefined;
  try {
    f = await Deno.open(tmp, { write: true, createNew: true });
    await writeAll(f, header);
    const zeros = new Uint8Array(alignment);
    for (let i = 0; i < input.tensors.length; i++) {
      await writeAll(f, await tensorData(input.tensors[i], nbytes[i], i));
      await writeAll(f, zeros.subarray(0, pad(nbytes[i], alignment)));
    }
    f.close();
    f = undefined;
    await Deno.rename(tmp, path);
  } catch (e) {
    f?.close();
    await Deno.remove(tmp).catch(() => {});
    if (e instanceof LatheError) throw e;
    throw new LatheError("io", `cannot write: ${(e as Error).message}`, { file: path }, { cause: e });
  }
}

async function writeAll(f: Deno.FsFile, b: Uint8Array): Promise<void> {
  let o = 0;
  while (o < b.length) o += await f.write(b.subarray(o));
}
