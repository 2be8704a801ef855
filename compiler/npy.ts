/**
 * NumPy `.npy` files, format 1.0 (and reading 2.0/3.0 headers), C order, little-endian. Each element type
 * is written as its own numpy dtype.
 */
import type { ScalarDType } from "../ir/dtype.ts";
import { LatheError } from "../ir/errors.ts";
import { arrayCtor, shapeSize, Tensor, type TypedArray } from "../runtime/tensor.ts";
import { writeFileAtomic } from "./atomic-write.ts";

const DESCR: Partial<Record<ScalarDType, string>> = {
  f64: "<f8",
  f32: "<f4",
  f16: "<f2",
  i64: "<i8",
  u64: "<u8",
  i32: "<i4",
  u32: "<u4",
  i16: "<i2",
  u16: "<u2",
  i8: "|i1",
  u8: "|u1",
  bool: "|b1",
};
const FROM_DESCR = new Map(Object.entries(DESCR).map(([k, v]) => [v.slice(1), k as ScalarDType]));

export function encodeNpy(t: Tensor): Uint8Array {
  let dtype = typeof t.dtype === "string" ? t.dtype : undefined;
  let data = t.data as TypedArray;
  if (dtype === "bf16") {
    // numpy has no bfloat16: widen to float32 exactly.
    const f = new Float32Array(data.length);
    const u = new Uint32Array(f.buffer);
    for (let i = 0; i < data.length; i++) u[i] = (data[i] as number) << 16;
    dtype = "f32";
    data = f;
  } else if (dtype === "i4" || dtype === "u4") dtype = dtype === "i4" ? "i8" : "u8";
  const descr = dtype ? DESCR[dtype] : undefined;
  if (!descr) throw new LatheError("unsupported", `cannot write ${JSON.stringify(t.dtype)} as .npy`);
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += " ".repeat(pad % 64) + "\n";
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

export function decodeNpy(bytes: Uint8Array, file = "<npy>"): Tensor {
  const where = (field: string, offset?: number) => ({ file, field, offset });
  if (bytes.length < 10 || bytes[0] !== 0x93 || String.fromCharCode(...bytes.subarray(1, 6)) !== "NUMPY") {
    throw new LatheError("format", "not a .npy file (bad magic)", where("magic", 0));
  }
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + hlen > bytes.length) {
    throw new LatheError("format", `header length ${hlen} past end`, where("header_len", 8));
  }
  const header = new TextDecoder().decode(bytes.subarray(start, start + hlen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) {
    throw new LatheError("format", `unreadable header '${header.trim()}'`, where("header", start));
  }
  if (fortran === "True") throw new LatheError("unsupported", "Fortran-order arrays", where("fortran_order"));
  if (descr.startsWith(">")) throw new LatheError("unsupported", "big-endian arrays", where("descr"));
  const dtype = FROM_DESCR.get(descr.slice(1));
  if (!dtype) throw new LatheError("unsupported", `numpy dtype ${descr}`, where("descr"));
  const shape = shapeText.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new LatheError("format", `bad shape (${shapeText})`, where("shape"));
  }
  const n = shapeSize(shape);
  const ctor = arrayCtor(dtype);
  const need = n * ctor.BYTES_PER_ELEMENT;
  const dataStart = start + hlen;
  if (!Number.isSafeInteger(need) || dataStart + need > bytes.length) {
    throw new LatheError(
      "format",
      `shape (${shapeText}) needs ${need} bytes, file has ${bytes.length - dataStart}`,
      where("data", dataStart),
    );
  }
  const copy = bytes.slice(dataStart, dataStart + need);
  return new Tensor(dtype, shape, new ctor(copy.buffer, 0, n));
}

export async function readNpy(path: string): Promise<Tensor> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new LatheError("io", `cannot read: ${(e as Error).message}`, { file: path });
  }
  return decodeNpy(bytes, path);
}

export async function writeNpy(path: string, t: Tensor): Promise<void> {
  await writeFileAtomic(path, encodeNpy(t));
}
