/**
 * `dump`: every constant tensor of a model, dequantized to float32, as `.npy` files plus `index.json`
 * ([{name, source_type, shape, file}]). GGUF files are streamed: one tensor at a time, read and decoded in
 * slices of rows, so memory stays bounded by the slice, not the model. Other formats are imported and their
 * constants decoded (affine-quantized values as (q - zero_point) * scale; plain integers and bools widened).
 * String tensors and types Lathe cannot decode are listed as skipped with the reason.
 */
import { type Constant, constantBytes, constantCount } from "../ir/constant.ts";
import { type AffineQuant, printDType, storageOf } from "../ir/dtype.ts";
import { LatheError } from "../ir/errors.ts";
import { GGML_TYPES } from "../ir/ggml-type.ts";
import { canDequantize, dequantizeKernel } from "../runtime/ggml/dequantize.ts";
import { fromConstant, Tensor } from "../runtime/tensor.ts";
import { ensureDir, writeFileAtomic } from "./atomic-write.ts";
import { type GgufTensorInfo, openGguf } from "./gguf/reader.ts";
import { loadModel } from "./load-model.ts";
import { encodeNpy } from "./npy.ts";
import "./formats.ts";

export interface DumpEntry {
  name: string;
  source_type: string;
  shape: number[];
  file: string;
}

export interface DumpResult {
  out: string;
  tensors: DumpEntry[];
  skipped: { name: string; source_type: string; reason: string }[];
}

export interface DumpOptions {
  /** Called after each tensor is written (progress). */
  onTensor?: (done: number, total: number, name: string) => void;
  /** Bytes of float32 output decoded per slice when streaming GGUF (default 4 MiB). */
  sliceBytes?: number;
}

export async function dumpModel(path: string, out: string, opts: DumpOptions = {}): Promise<DumpResult> {
  await ensureDir(out);
  const result = (await isGguf(path)) ? await dumpGguf(path, out, opts) : await dumpImported(path, out, opts);
  await writeFileAtomic(`${out}/index.json`, JSON.stringify(result.tensors, null, 2) + "\n");
  return result;
}

async function isGguf(path: string): Promise<boolean> {
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { read: true });
  } catch (e) {
    throw new LatheError("io", `cannot open: ${(e as Error).message}`, { file: path });
  }
  try {
    const head = new Uint8Array(4);
    const n = await f.read(head);
    return n === 4 && head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46;
  } finally {
    f.close();
  }
}

/** A file name for a tensor: its name with anything unsafe replaced, numbered to stay unique. */
function fileName(name: string, used: Set<string>): string {
  const base = name.replace(/[^A-Za-z0-9_.-]/g, "_").replace(/^\.+/, "_").slice(0, 120) || "tensor";
  let f = `${base}.npy`;
  for (let i = 1; used.has(f); i++) f = `${base}_${i}.npy`;
  used.add(f);
  return f;
}

/** The `.npy` header of a float32 array of this shape (encodeNpy of an empty payload writes only it). */
function npyHeader(shape: readonly number[]): Uint8Array {
  return encodeNpy(new Tensor("f32", shape, new Float32Array(0)));
}

async function dumpGguf(path: string, out: string, opts: DumpOptions): Promise<DumpResult> {
  const h = await openGguf(path);
  const result: DumpResult = { out, tensors: [], skipped: [] };
  const used = new Set<string>(["index.json"]);
  try {
    const total = h.tensors.length;
    for (const [i, t] of h.tensors.entries()) {
      if (!canDequantize(t.typeId)) {
        result.skipped.push({
          name: t.name,
          source_type: t.type.name,
          reason: `no decoder for ${t.type.name}`,
        });
        continue;
      }
      const file = fileName(t.name, used);
      const shape = [...t.ne].reverse();
      await writeStreamed(`${out}/${file}`, shape, (write) => decodeSlices(path, t, opts.sliceBytes, write));
      result.tensors.push({ name: t.name, source_type: t.type.name, shape, file });
      opts.onTensor?.(i + 1, total, t.name);
    }
  } finally {
    h.close();
  }
  return result;
}

/** Reads a tensor in slices of whole rows (at least one block of the innermost dimension) and decodes each. */
async function decodeSlices(
  path: string,
  t: GgufTensorInfo,
  sliceBytes = 4 << 20,
  write: (f: Float32Array) => Promise<void>,
): Promise<void> {
  const info = GGML_TYPES.get(t.typeId)!;
  const rowLen = t.ne[0] ?? 1;
  const rows = rowLen === 0 ? 0 : t.elementCount / rowLen;
  // Rows long enough to exceed the slice are split at block boundaries.
  const unit = rowLen * 4 > sliceBytes
    ? Math.max(info.blockSize, Math.floor(sliceBytes / 4 / info.blockSize) * info.blockSize)
    : rowLen;
  const perSlice = unit === rowLen
    ? Math.max(1, Math.floor(sliceBytes / 4 / Math.max(rowLen, 1))) * rowLen
    : unit;
  const decode = dequantizeKernel(t.typeId);
  // One input and one output buffer per tensor, reused for every slice, so garbage does not pile up.
  const raw = new Uint8Array((Math.min(perSlice, rows * rowLen) / info.blockSize) * info.typeSize);
  const y = new Float32Array(Math.min(perSlice, rows * rowLen));
  const f = await Deno.open(path, { read: true });
  try {
    let done = 0;
    const count = rows * rowLen;
    await f.seek(t.fileOffset, Deno.SeekMode.Start);
    while (done < count) {
      const n = Math.min(perSlice, count - done);
      const bytes = raw.subarray(0, (n / info.blockSize) * info.typeSize);
      for (let got = 0; got < bytes.length;) {
        const r = await f.read(bytes.subarray(got));
        if (r === null || r === 0) {
          throw new LatheError("io", "file ended while reading tensor data", { file: path, field: t.name });
        }
        got += r;
      }
      const out = y.subarray(0, n);
      decode(bytes, 0, out, 0, n);
      await write(out);
      done += n;
    }
  } finally {
    f.close();
  }
}

/** Writes a float32 `.npy` whose data arrives in pieces, under a temporary name renamed when complete. */
async function writeStreamed(
  path: string,
  shape: readonly number[],
  produce: (write: (f: Float32Array) => Promise<void>) => Promise<void>,
): Promise<void> {
  const tmp = `${path}.${Deno.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  let f: Deno.FsFile | undefined;
  try {
    f = await Deno.open(tmp, { write: true, createNew: true });
    const file = f;
    await writeAll(file, npyHeader(shape));
    await produce((y) => writeAll(file, new Uint8Array(y.buffer, y.byteOffset, y.byteLength)));
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

async function dumpImported(path: string, out: string, opts: DumpOptions): Promise<DumpResult> {
  const model = await loadModel(path);
  const result: DumpResult = { out, tensors: [], skipped: [] };
  const used = new Set<string>(["index.json"]);
  const entries = Object.entries(model.graph.constants);
  for (const [i, [name, c]] of entries.entries()) {
    const type = printDType(c.dtype);
    let values: Float32Array;
    try {
      values = toFloat32(c);
    } catch (e) {
      if (!(e instanceof LatheError)) throw e;
      result.skipped.push({ name, source_type: type, reason: e.reason });
      continue;
    }
    const file = fileName(name, used);
    await writeFileAtomic(`${out}/${file}`, encodeNpy(new Tensor("f32", c.shape, values)));
    result.tensors.push({ name, source_type: type, shape: [...c.shape], file });
    opts.onTensor?.(i + 1, entries.length, name);
  }
  return result;
}

/** A constant's values as float32. */
export function toFloat32(c: Constant): Float32Array {
  const d = c.dtype;
  if (d === "string") throw new LatheError("unsupported", "string tensors have no float value");
  if (typeof d === "object" && d.kind === "ggml") {
    if (!canDequantize(d.typeId)) {
      throw new LatheError("unsupported", `no decoder for ${GGML_TYPES.get(d.typeId)?.name ?? d.typeId}`);
    }
    const n = constantCount(c);
    const y = new Float32Array(n);
    dequantizeKernel(d.typeId)(constantBytes(c), 0, y, 0, n);
    return y;
  }
  if (typeof d === "object" && d.kind !== "affine") {
    throw new LatheError("unsupported", `decoding ${printDType(d)} is not implemented`);
  }
  const t = fromConstant(c);
  const src = t.data;
  const n = src.length;
  const y = new Float32Array(n);
  if (d === "bf16") {
    const bits = new Uint32Array(y.buffer);
    for (let i = 0; i < n; i++) bits[i] = (src[i] as number) << 16;
    return y;
  }
  if (typeof d === "object") return affineToFloat(d, src as ArrayLike<number>, c.shape, y);
  if (storageOf(d) === "i64" || storageOf(d) === "u64") {
    for (let i = 0; i < n; i++) y[i] = Number(src[i]);
  } else {
    for (let i = 0; i < n; i++) y[i] = src[i] as number;
  }
  return y;
}

function affineToFloat(
  q: AffineQuant,
  codes: ArrayLike<number>,
  shape: readonly number[],
  y: Float32Array,
): Float32Array {
  const n = y.length;
  if (q.axis === undefined) {
    const s = q.scale[0] ?? 1, z = q.zeroPoint[0] ?? 0;
    for (let i = 0; i < n; i++) y[i] = (codes[i] - z) * s;
    return y;
  }
  const axis = q.axis < 0 ? q.axis + shape.length : q.axis;
  if (axis < 0 || axis >= shape.length) {
    throw new LatheError("format", `quantization axis ${q.axis} outside rank ${shape.length}`);
  }
  let inner = 1;
  for (let k = axis + 1; k < shape.length; k++) inner *= shape[k];
  const dim = shape[axis];
  if (q.scale.length !== dim) throw new LatheError("format", `${q.scale.length} scales for ${dim} channels`);
  for (let i = 0; i < n; i++) {
    const ch = Math.floor(i / inner) % dim;
    y[i] = (codes[i] - (q.zeroPoint[ch] ?? 0)) * q.scale[ch];
  }
  return y;
}
