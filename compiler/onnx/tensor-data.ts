/**
 * The element bytes of an ONNX TensorProto, whichever way the file stored them (formats.md §3.2): raw_data
 * (returned as a view, never copied), the typed value fields (converted to little-endian packed bytes), or
 * external data (read from just the declared range of a file inside the model's folder).
 *
 * Every size is checked against the bytes actually present before anything is allocated, so a header
 * that declares a huge tensor in a small file fails with a LatheError instead of an allocation.
 */
import { isAbsolute, resolve, sep } from "node:path";
import { LatheError } from "../../ir/errors.ts";
import type { TensorProto } from "./proto.ts";

/** TensorProto.DataType codes (formats.md §3.2). */
export const OnnxDataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
  UINT2: 25,
  INT2: 26,
} as const;

const NAMES: string[] = [];
for (const [name, code] of Object.entries(OnnxDataType)) NAMES[code] = name;

/** The onnx.proto name of a data type code, or `dtype <n>` for codes this table does not know. */
export function onnxDataTypeName(code: number): string {
  return NAMES[code] ?? `dtype ${code}`;
}

/** Bits per element; 0 for STRING and UNDEFINED; undefined for unknown codes. */
export function onnxElementSize(dataType: number): number | undefined {
  switch (dataType) {
    case OnnxDataType.UNDEFINED:
    case OnnxDataType.STRING:
      return 0;
    case OnnxDataType.UINT2:
    case OnnxDataType.INT2:
      return 2;
    case OnnxDataType.UINT4:
    case OnnxDataType.INT4:
    case OnnxDataType.FLOAT4E2M1:
      return 4;
    case OnnxDataType.UINT8:
    case OnnxDataType.INT8:
    case OnnxDataType.BOOL:
    case OnnxDataType.FLOAT8E4M3FN:
    case OnnxDataType.FLOAT8E4M3FNUZ:
    case OnnxDataType.FLOAT8E5M2:
    case OnnxDataType.FLOAT8E5M2FNUZ:
    case OnnxDataType.FLOAT8E8M0:
      return 8;
    case OnnxDataType.UINT16:
    case OnnxDataType.INT16:
    case OnnxDataType.FLOAT16:
    case OnnxDataType.BFLOAT16:
      return 16;
    case OnnxDataType.FLOAT:
    case OnnxDataType.INT32:
    case OnnxDataType.UINT32:
      return 32;
    case OnnxDataType.INT64:
    case OnnxDataType.DOUBLE:
    case OnnxDataType.UINT64:
    case OnnxDataType.COMPLEX64:
      return 64;
    case OnnxDataType.COMPLEX128:
      return 128;
  }
  return undefined;
}

export interface TensorBytes {
  dataType: number;
  dims: number[];
  /** Little-endian packed elements; sub-byte types packed low bits first. Empty for STRING tensors. */
  bytes: Uint8Array;
  /** The elements of a STRING tensor, UTF-8 decoded. */
  strings?: string[];
}

export interface TensorDataContext {
  /** The model file, for error messages. */
  file: string;
  /** The folder external data paths are relative to (and must stay inside). */
  modelDir?: string;
}

/** Number of elements of a tensor with these dims; every dim ≥ 0 and the product a safe integer. */
export function elementCount(dims: readonly number[], where: { file?: string; field?: string }): number {
  let n = 1;
  for (let i = 0; i < dims.length; i++) {
    const d = dims[i];
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new LatheError("format", `dims[${i}] = ${d} is not a non-negative integer`, where);
    }
    n *= d;
    if (!Number.isSafeInteger(n)) {
      throw new LatheError("format", `dims [${dims.join(", ")}] hold more than 2^53 elements`, where);
    }
  }
  return n;
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

/**
 * Returns the tensor's element bytes. `raw_data` is returned as the same view the decoder produced;
 * typed value fields are converted into a new buffer; external data is read from disk.
 */
export function tensorBytes(t: TensorProto, ctx: TensorDataContext): TensorBytes {
  const label = t.name ? `tensor "${t.name}"` : "tensor";
  const where = { file: ctx.file, field: label };
  const dataType = t.dataType ?? OnnxDataType.UNDEFINED;
  const bits = onnxElementSize(dataType);
  if (bits === undefined) throw new LatheError("unsupported", `unknown data_type ${dataType}`, where);
  if (dataType === OnnxDataType.UNDEFINED) throw new LatheError("format", "data_type is UNDEFINED", where);
  const dims = t.dims;
  const count = elementCount(dims, where);

  if (dataType === OnnxDataType.STRING) {
    if (t.stringData.length !== count) {
      throw new LatheError(
        "format",
        `STRING tensor with dims [${
          dims.join(", ")
        }] needs ${count} string_data entries, has ${t.stringData.length}`,
        where,
      );
    }
    return { dataType, dims, bytes: new Uint8Array(0), strings: t.stringData.map((s) => utf8.decode(s)) };
  }

  if (count > Math.floor(Number.MAX_SAFE_INTEGER / bits)) {
    throw new LatheError("format", `dims [${dims.join(", ")}] are too large to address in bytes`, where);
  }
  const byteLength = Math.ceil((count * bits) / 8);
  const typedEntries = t.floatData.length + t.int32Data.length + t.int64Data.length + t.doubleData.length +
    t.uint64Data.length + t.stringData.length;

  if (t.dataLocation === 1) {
    if (t.rawData !== undefined || typedEntries) {
      throw new LatheError("format", "external tensor also holds inline values", where);
    }
    return { dataType, dims, bytes: readExternal(t, byteLength, ctx, label) };
  }
  if (t.dataLocation !== undefined && t.dataLocation !== 0) {
    throw new LatheError("format", `unknown data_location ${t.dataLocation}`, where);
  }

  if (t.rawData !== undefined) {
    if (typedEntries) throw new LatheError("format", "tensor holds both raw_data and typed values", where);
    if (t.rawData.length !== byteLength) {
      throw new LatheError(
        "format",
        `raw_data has ${t.rawData.length} bytes, but ${onnxDataTypeName(dataType)} dims [${
          dims.join(", ")
        }] need ${byteLength}`,
        { file: ctx.file, offset: t.rawDataOffset, field: `${label}.raw_data` },
      );
    }
    return { dataType, dims, bytes: t.rawData };
  }
  return { dataType, dims, bytes: fromTypedFields(t, dataType, bits, count, byteLength, where) };
}

function fromTypedFields(
  t: TensorProto,
  dataType: number,
  bits: number,
  count: number,
  byteLength: number,
  where: { file: string; field: string },
): Uint8Array {
  const D = OnnxDataType;
  let source: ArrayLike<number | bigint>;
  let fieldName: string;
  let perEntry = 1; // elements per field entry
  let entryWidth = 0; // bytes written per entry for int32_data
  switch (dataType) {
    case D.FLOAT:
    case D.COMPLEX64:
      source = t.floatData;
      fieldName = "float_data";
      break;
    case D.DOUBLE:
    case D.COMPLEX128:
      source = t.doubleData;
      fieldName = "double_data";
      break;
    case D.INT64:
      source = t.int64Data;
      fieldName = "int64_data";
      break;
    case D.UINT32:
    case D.UINT64:
      source = t.uint64Data;
      fieldName = "uint64_data";
      break;
    default:
      source = t.int32Data;
      fieldName = "int32_data";
      if (bits === 4) perEntry = 2;
      else if (bits === 2) perEntry = 4;
      entryWidth = bits < 8 ? 1 : bits / 8;
  }
  const isComplex = dataType === D.COMPLEX64 || dataType === D.COMPLEX128;
  const expected = isComplex ? count * 2 : Math.ceil(count / perEntry);
  if (source.length !== expected) {
    const other = [
      ["float_data", t.floatData],
      ["int32_data", t.int32Data],
      ["int64_data", t.int64Data],
      ["double_data", t.doubleData],
      ["uint64_data", t.uint64Data],
      ["string_data", t.stringData],
    ].find(([name, a]) => name !== fieldName && (a as ArrayLike<unknown>).length > 0);
    const reason = source.length === 0 && other
      ? `${onnxDataTypeName(dataType)} tensor stores its values in ${other[0]}, expected ${fieldName}`
      : count > 0 && source.length === 0
      ? `${onnxDataTypeName(dataType)} tensor with dims [${t.dims.join(", ")}] has no data`
      : `${fieldName} has ${source.length} entries, but ${onnxDataTypeName(dataType)} dims [${
        t.dims.join(", ")
      }] need ${expected}`;
    throw new LatheError("format", reason, where);
  }

  const out = new Uint8Array(byteLength);
  const dv = new DataView(out.buffer);
  switch (fieldName) {
    case "float_data": {
      const src = t.floatData;
      for (let i = 0; i < src.length; i++) dv.setFloat32(i * 4, src[i], true);
      break;
    }
    case "double_data": {
      const src = t.doubleData;
      for (let i = 0; i < src.length; i++) dv.setFloat64(i * 8, src[i], true);
      break;
    }
    case "int64_data": {
      const src = t.int64Data;
      for (let i = 0; i < src.length; i++) dv.setBigInt64(i * 8, src[i], true);
      break;
    }
    case "uint64_data": {
      const src = t.uint64Data;
      if (bits === 32) {
        for (let i = 0; i < src.length; i++) dv.setUint32(i * 4, Number(BigInt.asUintN(32, src[i])), true);
      } else {
        for (let i = 0; i < src.length; i++) dv.setBigUint64(i * 8, src[i], true);
      }
      break;
    }
    default: {
      const src = t.int32Data;
      if (entryWidth === 4) {
        for (let i = 0; i < src.length; i++) dv.setInt32(i * 4, src[i], true);
      } else if (entryWidth === 2) {
        for (let i = 0; i < src.length; i++) dv.setUint16(i * 2, src[i] & 0xffff, true);
      } else {
        // One byte per entry: 8-bit values, or sub-byte values already packed into a byte per entry.
        for (let i = 0; i < src.length; i++) out[i] = src[i] & 0xff;
        if (bits < 8) {
          // Bits past the last element of the final byte must be zero, as in raw_data.
          const tail = (count * bits) % 8;
          if (tail) out[byteLength - 1] &= (1 << tail) - 1;
        }
      }
    }
  }
  return out;
}

function parseDecimal(s: string | undefined, key: string, where: { file: string; field: string }): number {
  if (s === undefined) return -1;
  if (!/^[0-9]{1,16}$/.test(s) || !Number.isSafeInteger(Number(s))) {
    throw new LatheError(
      "format",
      `external_data ${key} "${s}" is not a non-negative decimal integer`,
      where,
    );
  }
  return Number(s);
}

function readExternal(t: TensorProto, byteLength: number, ctx: TensorDataContext, label: string): Uint8Array {
  const where = { file: ctx.file, field: `${label}.external_data` };
  const kv = new Map<string, string>();
  for (const e of t.externalData) kv.set(e.key ?? "", e.value ?? "");
  const location = kv.get("location");
  if (!location) throw new LatheError("format", "external data has no location", where);
  if (ctx.modelDir === undefined) {
    throw new LatheError("usage", `external data "${location}" needs the model's folder`, where);
  }
  if (isAbsolute(location) || location.includes("\0")) {
    throw new LatheError("format", `external data path "${location}" must be relative to the model`, where);
  }
  let dir: string, path: string;
  try {
    dir = Deno.realPathSync(ctx.modelDir);
  } catch (e) {
    throw new LatheError("io", `cannot resolve the model folder "${ctx.modelDir}"`, where, { cause: e });
  }
  try {
    path = Deno.realPathSync(resolve(dir, location));
  } catch (e) {
    throw new LatheError("io", `external data file "${location}" cannot be opened`, where, { cause: e });
  }
  if (!path.startsWith(dir.endsWith(sep) ? dir : dir + sep)) {
    throw new LatheError(
      "format",
      `external data path "${location}" resolves to "${path}", outside the model's folder "${dir}"`,
      where,
    );
  }
  const offset = Math.max(0, parseDecimal(kv.get("offset"), "offset", where));
  const declared = parseDecimal(kv.get("length"), "length", where);
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (e) {
    throw new LatheError("io", `external data file "${location}" cannot be opened`, where, { cause: e });
  }
  try {
    const info = file.statSync();
    if (!info.isFile) throw new LatheError("format", `external data path "${location}" is not a file`, where);
    const length = declared >= 0 ? declared : info.size - offset;
    if (offset > info.size || length > info.size - offset) {
      throw new LatheError(
        "format",
        `external data range offset ${offset} length ${length} runs past the end of "${location}" (${info.size} bytes)`,
        where,
      );
    }
    if (length !== byteLength) {
      throw new LatheError(
        "format",
        `external data has ${length} bytes, but ${onnxDataTypeName(t.dataType ?? 0)} dims [${
          t.dims.join(", ")
        }] need ${byteLength}`,
        where,
      );
    }
    const out = new Uint8Array(length);
    file.seekSync(offset, Deno.SeekMode.Start);
    let done = 0;
    while (done < length) {
      const n = file.readSync(out.subarray(done));
      if (n === null || n === 0) {
        throw new LatheError(
          "io",
          `external data file "${location}" ended early at byte ${offset + done}`,
          where,
        );
      }
      done += n;
    }
    return out;
  } finally {
    file.close();
  }
}
