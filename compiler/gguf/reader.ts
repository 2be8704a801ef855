/**
 * GGUF v2/v3 reader (formats.md §1.1). `openGguf` reads only the header region through a file handle, in
 * bounded windows, so a multi-GB model is inspected without loading it; tensor bytes are read on demand.
 * `parseGguf` does the same over bytes already in memory.
 *
 * Every count and length is checked against the bytes that remain before anything is allocated, and each
 * failure is a LatheError naming the field and its byte offset. Rules ggml enforces that Lathe only warns
 * about (names of 64+ bytes, tensors not packed in order) are reported in `notes`.
 */
import { LatheError, toSafeNumber } from "../../ir/errors.ts";
import { GGML_TYPES, type GgmlTypeInfo } from "../../ir/ggml-type.ts";
import type { DType } from "../../ir/dtype.ts";
import {
  GGUF_SCALAR_SIZE,
  GGUF_TYPE_NAMES,
  type GgufArray,
  type GgufKV,
  type GgufString,
  type GgufTypeId,
  type GgufValue,
  isGgufType,
  typedArrayFor,
} from "./metadata.ts";

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_DIMS. */
export const GGUF_MAX_DIMS = 4;
/** ggml's GGML_MAX_NAME: names must be shorter. */
export const GGML_MAX_NAME = 64;
/** Nesting depth past which an array of arrays is taken as hostile rather than data. */
const MAX_ARRAY_DEPTH = 8;

export interface GgufTensorInfo {
  readonly name: string;
  /** ggml's ne: ne[0] is the innermost (contiguous) dimension, so a [out, in] matrix has ne = [in, out]. */
  readonly ne: readonly number[];
  readonly typeId: number;
  readonly type: GgmlTypeInfo;
  /** The IR element type: plain for F32/F16/BF16/F64/I*, a ggml block type otherwise. */
  readonly dtype: DType;
  /** Offset of the data relative to the data section, as stored. */
  readonly offset: number;
  /** Absolute offset of the data in the file. */
  readonly fileOffset: number;
  readonly nbytes: number;
  readonly elementCount: number;
}

export interface GgufFile {
  readonly file?: string;
  readonly version: number;
  readonly alignment: number;
  /** In file order. */
  readonly metadata: readonly GgufKV[];
  readonly tensors: readonly GgufTensorInfo[];
  /** Start of the tensor data section (aligned; equals the header end when there are no tensors). */
  readonly dataOffset: number;
  readonly fileSize: number;
  /** Things ggml would reject or warn about that Lathe accepts. */
  readonly notes: readonly string[];
  /** The metadata entry with this key. */
  get(key: string): GgufKV | undefined;
}

export interface GgufInMemory extends GgufFile {
  /** A view (no copy) of one tensor's bytes. */
  tensorBytes(info: GgufTensorInfo): Uint8Array;
}

export interface GgufHandle extends GgufFile {
  /** Reads one tensor's bytes from the file. */
  readTensorBytes(info: GgufTensorInfo): Promise<Uint8Array>;
  close(): void;
  [Symbol.dispose](): void;
}

// ------------------------------------------------------------------------------------------ byte sources

/** Random access to the file's bytes; a returned view is valid until the next read. */
interface ByteSource {
  readonly size: number;
  read(pos: number, len: number): Uint8Array;
}

class MemorySource implements ByteSource {
  constructor(private readonly bytes: Uint8Array) {}
  get size(): number {
    return this.bytes.length;
  }
  read(pos: number, len: number): Uint8Array {
    return this.bytes.subarray(pos, pos + len);
  }
}

/** Reads through a window so header parsing touches the file in large sequential chunks. */
class FileSource implements ByteSource {
  private buf: Uint8Array;
  private start = 0;
  private end = 0;
  constructor(private readonly f: Deno.FsFile, readonly size: number, private readonly path: string) {
    this.buf = new Uint8Array(Math.min(1 << 20, Math.max(size, 1)));
  }
  read(pos: number, len: number): Uint8Array {
    if (pos >= this.start && pos + len <= this.end) {
      return this.buf.subarray(pos - this.start, pos - this.start + len);
    }
    // Callers have checked pos + len against the file size, so this allocation is bounded by real bytes.
    if (len > this.buf.length) this.buf = new Uint8Array(len);
    const want = Math.min(this.buf.length, this.size - pos);
    readFully(this.f, pos, this.buf.subarray(0, want), this.path);
    this.start = pos;
    this.end = pos + want;
    return this.buf.subarray(0, len);
  }
}

function readFully(f: Deno.FsFile, pos: number, into: Uint8Array, path: string): void {
  f.seekSync(pos, Deno.SeekMode.Start);
  let got = 0;
  while (got < into.length) {
    const n = f.readSync(into.subarray(got));
    if (n === null || n === 0) {
      throw new LatheError("io", `file ended at byte ${pos + got} while reading ${into.length} bytes`, {
        file: path,
        offset: pos + got,
      });
    }
    got += n;
  }
}

// ------------------------------------------------------------------------------------------ cursor

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

class Cursor {
  pos = 0;
  private readonly scratch = new DataView(new ArrayBuffer(8));
  constructor(private readonly src: ByteSource, private readonly file: string | undefined) {}

  fail(
    reason: string,
    field: string,
    offset = this.pos,
    kind: "format" | "unsupported" = "format",
  ): LatheError {
    return new LatheError(kind, reason, { file: this.file, offset, field });
  }
  get remaining(): number {
    return this.src.size - this.pos;
  }
  /** Bytes [pos, pos+n) after checking they exist; advances. */
  take(n: number, field: string): Uint8Array {
    if (n > this.remaining) {
      throw this.fail(
        `needs ${n} bytes but only ${this.remaining} remain (file is ${this.src.size} bytes)`,
        field,
      );
    }
    const v = this.src.read(this.pos, n);
    this.pos += n;
    return v;
  }
  private fixed(n: number, field: string): DataView {
    const b = this.take(n, field);
    const dv = this.scratch;
    for (let i = 0; i < n; i++) dv.setUint8(i, b[i]);
    return dv;
  }
  u8(field: string): number {
    return this.take(1, field)[0];
  }
  u32(field: string): number {
    return this.fixed(4, field).getUint32(0, true);
  }
  u64(field: string): bigint {
    return this.fixed(8, field).getBigUint64(0, true);
  }
  /** A u64 that must fit a safe integer (counts, lengths, offsets). */
  size64(field: string): number {
    const at = this.pos;
    return toSafeNumber(this.u64(field), { file: this.file, offset: at, field }, field);
  }
  scalar(type: number, field: string): number | bigint | boolean {
    const dv = this.fixed(GGUF_SCALAR_SIZE[type], field);
    switch (type) {
      case 0:
        return dv.getUint8(0);
      case 1:
        return dv.getInt8(0);
      case 2:
        return dv.getUint16(0, true);
      case 3:
        return dv.getInt16(0, true);
      case 4:
        return dv.getUint32(0, true);
      case 5:
        return dv.getInt32(0, true);
      case 6:
        return dv.getFloat32(0, true);
      case 7: {
        const b = dv.getUint8(0);
        if (b > 1) throw this.fail(`BOOL must be 0 or 1, got ${b}`, field, this.pos - 1);
        return b === 1;
      }
      case 10:
        return dv.getBigUint64(0, true);
      case 11:
        return dv.getBigInt64(0, true);
      default:
        return dv.getFloat64(0, true);
    }
  }
  /** A GGUF string; `strict` demands UTF-8 (keys, names), otherwise invalid UTF-8 is kept as bytes. */
  string(field: string, strict: boolean): GgufString {
    const at = this.pos;
    const len = this.size64(`${field}.length`);
    if (len > this.remaining) {
      throw this.fail(
        `string length ${len} runs past the end of the file (${this.remaining} bytes remain)`,
        field,
        at,
      );
    }
    const bytes = this.take(len, field);
    try {
      return utf8.decode(bytes);
    } catch {
      if (strict) throw this.fail("is not valid UTF-8", field, at + 8);
      return bytes.slice();
    }
  }
}

// ------------------------------------------------------------------------------------------ parsing

function parse(src: ByteSource, file: string | undefined): Omit<GgufFile, "get"> {
  const c = new Cursor(src, file);
  const magic = c.u32("header.magic");
  if (magic !== GGUF_MAGIC) {
    const shown = [...src.read(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    throw c.fail(`not a GGUF file (magic bytes ${shown}, expected 47 47 55 46 "GGUF")`, "header.magic", 0);
  }
  const version = c.u32("header.version");
  if ((version & 0xffff) === 0 && version !== 0) {
    throw c.fail(
      `big-endian GGUF (version ${
        version >>> 24
      } with its bytes swapped); only little-endian files are supported`,
      "header.version",
      4,
      "unsupported",
    );
  }
  if (version === 1) {
    throw c.fail("GGUF v1 is not supported (ggml dropped it)", "header.version", 4, "unsupported");
  }
  if (version < 1 || version > 3) {
    throw c.fail(`unknown GGUF version ${version} (supported: 2, 3)`, "header.version", 4, "unsupported");
  }
  const tensorCount = c.size64("header.tensor_count");
  const kvCount = c.size64("header.metadata_kv_count");
  // Smallest possible entries: a KV is a key length, one key byte, a type and a 1-byte value; a tensor
  // info is a name length, n_dims, a type and an offset.
  if (kvCount * 14 > c.remaining) {
    throw c.fail(
      `metadata_kv_count ${kvCount} cannot fit in the ${c.remaining} bytes that remain`,
      "header",
      16,
    );
  }
  if (tensorCount * 24 > c.remaining) {
    throw c.fail(
      `tensor_count ${tensorCount} cannot fit in the ${c.remaining} bytes that remain`,
      "header",
      8,
    );
  }

  const notes: string[] = [];
  const metadata: GgufKV[] = [];
  const keys = new Map<string, number>();
  const valueAt: number[] = [];
  for (let i = 0; i < kvCount; i++) {
    const at = c.pos;
    const key = c.string(`metadata[${i}].key`, true) as string;
    const f = `metadata[${i}](${key})`;
    if (key.length === 0) throw c.fail("empty key", `metadata[${i}].key`, at);
    if (keys.has(key)) throw c.fail(`duplicate key (first at metadata[${keys.get(key)}])`, f, at);
    keys.set(key, i);
    const typeAt = c.pos;
    const type = c.u32(`${f}.type`);
    if (!isGgufType(type)) throw c.fail(`unknown value type ${type}`, `${f}.type`, typeAt);
    valueAt.push(c.pos);
    metadata.push({ key, type, value: readValue(c, type, `${f}.value`, 0) });
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const alignIndex = keys.get("general.alignment");
  if (alignIndex !== undefined) {
    const alignKv = metadata[alignIndex];
    const v = alignKv.value;
    if (alignKv.type !== 4 || typeof v !== "number" || v === 0 || (v & (v - 1)) !== 0) {
      throw c.fail(
        `general.alignment must be a UINT32 power of two, got ${GGUF_TYPE_NAMES[alignKv.type]} ${String(v)}`,
        `metadata[${alignIndex}](general.alignment).value`,
        valueAt[alignIndex],
      );
    }
    alignment = v;
  }

  interface Raw {
    name: string;
    ne: number[];
    type: GgmlTypeInfo;
    offset: number;
    nbytes: number;
    count: number;
    /** Where the offset field is, for errors about the data range. */
    at: number;
  }
  const raw: Raw[] = [];
  const names = new Map<string, number>();
  for (let i = 0; i < tensorCount; i++) {
    const at = c.pos;
    const name = c.string(`tensor_info[${i}].name`, true) as string;
    const f = `tensor_info[${i}](${name})`;
    if (names.has(name)) {
      throw c.fail(`duplicate tensor name (first at tensor_info[${names.get(name)}])`, f, at);
    }
    names.set(name, i);
    if (new TextEncoder().encode(name).length >= GGML_MAX_NAME) {
      notes.push(`${f}: name is ${name.length} bytes; ggml rejects names of ${GGML_MAX_NAME} bytes or more`);
    }
    const dimsAt = c.pos;
    const nDims = c.u32(`${f}.n_dims`);
    if (nDims > GGUF_MAX_DIMS) {
      throw c.fail(`n_dims ${nDims} exceeds ${GGUF_MAX_DIMS}`, `${f}.n_dims`, dimsAt);
    }
    const ne: number[] = [];
    const ne0At = c.pos;
    let count = 1;
    for (let d = 0; d < nDims; d++) {
      const neAt = c.pos;
      const n = c.size64(`${f}.ne[${d}]`);
      count *= n;
      if (!Number.isSafeInteger(count)) {
        throw c.fail("element count overflows a safe integer", `${f}.ne[${d}]`, neAt);
      }
      ne.push(n);
    }
    const typeAt = c.pos;
    const typeId = c.u32(`${f}.type`);
    const type = GGML_TYPES.get(typeId);
    if (!type) throw c.fail(`unknown ggml type id ${typeId}`, `${f}.type`, typeAt);
    if ((ne[0] ?? 1) % type.blockSize !== 0) {
      throw c.fail(
        `ne[0] = ${ne[0] ?? 1} does not fill whole ${type.name} blocks of ${type.blockSize}`,
        `${f}.ne[0]`,
        ne0At,
      );
    }
    const offAt = c.pos;
    const offset = c.size64(`${f}.offset`);
    if (offset % alignment !== 0) {
      throw c.fail(`offset ${offset} is not a multiple of the alignment ${alignment}`, `${f}.offset`, offAt);
    }
    const nbytes = (count / type.blockSize) * type.typeSize;
    raw.push({ name, ne, type, offset, nbytes, count, at: offAt });
  }

  const headerEnd = c.pos;
  const dataOffset = tensorCount > 0
    ? headerEnd + ((alignment - (headerEnd % alignment)) % alignment)
    : headerEnd;
  const fileSize = src.size;
  const tensors: GgufTensorInfo[] = raw.map((r, i) => {
    const fileOffset = dataOffset + r.offset;
    if (fileOffset + r.nbytes > fileSize) {
      throw c.fail(
        `data [${fileOffset}, ${fileOffset + r.nbytes}) runs past the end of the file (${fileSize} bytes)`,
        `tensor_info[${i}](${r.name}).offset`,
        r.at,
      );
    }
    return {
      name: r.name,
      ne: r.ne,
      typeId: r.type.id,
      type: r.type,
      dtype: dtypeOfGgml(r.type.id),
      offset: r.offset,
      fileOffset,
      nbytes: r.nbytes,
      elementCount: r.count,
    };
  });

  const byOffset = tensors.map((t, i) => [t, i] as const).sort((a, b) => a[0].offset - b[0].offset);
  for (let k = 1; k < byOffset.length; k++) {
    const [prev, pi] = byOffset[k - 1], [cur, ci] = byOffset[k];
    if (cur.offset < prev.offset + prev.nbytes) {
      throw c.fail(
        `data overlaps tensor_info[${pi}](${prev.name}) at [${prev.offset}, ${prev.offset + prev.nbytes})`,
        `tensor_info[${ci}](${cur.name}).offset`,
        raw[ci].at,
      );
    }
  }
  let expected = 0;
  for (const t of tensors) {
    if (t.offset !== expected) {
      notes.push(`${t.name}: offset ${t.offset}, ggml expects tensors packed in order (offset ${expected})`);
      break;
    }
    expected += t.nbytes + ((alignment - (t.nbytes % alignment)) % alignment);
  }
  return { file, version, alignment, metadata, tensors, dataOffset, fileSize, notes };
}

function readValue(c: Cursor, type: GgufTypeId, field: string, depth: number): GgufValue {
  if (type === 8) return c.string(field, false);
  if (type !== 9) return c.scalar(type, field);
  const at = c.pos;
  const elemType = c.u32(`${field}.type`);
  if (!isGgufType(elemType)) throw c.fail(`unknown array element type ${elemType}`, `${field}.type`, at);
  const countAt = c.pos;
  const count = c.size64(`${field}.count`);
  const minSize = elemType === 8 ? 8 : elemType === 9 ? 12 : GGUF_SCALAR_SIZE[elemType];
  if (count * minSize > c.remaining) {
    throw c.fail(
      `array of ${count} ${GGUF_TYPE_NAMES[elemType]} cannot fit in the ${c.remaining} bytes that remain`,
      `${field}.count`,
      countAt,
    );
  }
  if (elemType === 9) {
    if (depth >= MAX_ARRAY_DEPTH) throw c.fail(`arrays nested deeper than ${MAX_ARRAY_DEPTH}`, field, at);
    const items: GgufArray[] = [];
    for (let j = 0; j < count; j++) items.push(readValue(c, 9, `${field}[${j}]`, depth + 1) as GgufArray);
    return { elemType, items };
  }
  if (elemType === 8) {
    const items: GgufString[] = [];
    for (let j = 0; j < count; j++) items.push(c.string(`${field}[${j}]`, false));
    return { elemType, items };
  }
  if (elemType === 7) {
    const items: boolean[] = [];
    for (let j = 0; j < count; j++) items.push(c.scalar(7, `${field}[${j}]`) as boolean);
    return { elemType, items };
  }
  const bytes = c.take(count * minSize, field).slice();
  return { elemType, items: typedArrayFor(elemType, bytes.buffer, count)! };
}

/** The IR element type of a ggml tensor type. */
export function dtypeOfGgml(typeId: number): DType {
  switch (typeId) {
    case 0:
      return "f32";
    case 1:
      return "f16";
    case 24:
      return "i8";
    case 25:
      return "i16";
    case 26:
      return "i32";
    case 27:
      return "i64";
    case 28:
      return "f64";
    case 30:
      return "bf16";
  }
  return { kind: "ggml", typeId };
}

function withLookup<T extends Omit<GgufFile, "get">>(f: T): T & { get(key: string): GgufKV | undefined } {
  const byKey = new Map(f.metadata.map((kv) => [kv.key, kv]));
  return Object.assign(f, { get: (key: string) => byKey.get(key) });
}

// ------------------------------------------------------------------------------------------ entry points

/** Parses a GGUF file held in memory; tensor bytes are views into `bytes`. */
export function parseGguf(bytes: Uint8Array, file?: string): GgufInMemory {
  const f = withLookup(parse(new MemorySource(bytes), file));
  return Object.assign(f, {
    tensorBytes: (info: GgufTensorInfo) => bytes.subarray(info.fileOffset, info.fileOffset + info.nbytes),
  });
}

/** Opens a GGUF file, reading only its header; call close() (or use `using`) when done. */
export function openGguf(path: string): Promise<GgufHandle> {
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(path, { read: true });
  } catch (e) {
    return Promise.reject(
      new LatheError("io", `cannot open: ${(e as Error).message}`, { file: path }, { cause: e }),
    );
  }
  try {
    const size = f.statSync().size;
    const parsed = withLookup(parse(new FileSource(f, size, path), path));
    let closed = false;
    const close = () => {
      if (!closed) {
        closed = true;
        f.close();
      }
    };
    const handle: GgufHandle = Object.assign(parsed, {
      async readTensorBytes(info: GgufTensorInfo): Promise<Uint8Array> {
        if (closed) {
          throw new LatheError("usage", "readTensorBytes after close", { file: path, field: info.name });
        }
        const out = new Uint8Array(info.nbytes);
        await f.seek(info.fileOffset, Deno.SeekMode.Start);
        let got = 0;
        while (got < out.length) {
          const n = await f.read(out.subarray(got));
          if (n === null || n === 0) {
            throw new LatheError("io", `file ended while reading tensor data`, {
              file: path,
              offset: info.fileOffset + got,
              field: info.name,
            });
          }
          got += n;
        }
        return out;
      },
      close,
      [Symbol.dispose]: close,
    });
    return Promise.resolve(handle);
  } catch (e) {
    f.close();
    return Promise.reject(e);
  }
}
