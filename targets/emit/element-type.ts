/**
 * How IR element types appear in a driver: the C++ type of a buffer element, the numpy dtype of its .npy
 * file, and the integer range of 8-bit codes. Quantized types are their storage codes.
 */
import { type DType, printDType, type ScalarDType, storageOf } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { GGML_TYPES } from "../../ir/ggml-type.ts";

interface ElementInfo {
  readonly ctype: string;
  readonly npy: string;
  readonly bytes: number;
}

const ELEMENTS: Partial<Record<ScalarDType, ElementInfo>> = {
  f64: { ctype: "double", npy: "<f8", bytes: 8 },
  f32: { ctype: "float", npy: "<f4", bytes: 4 },
  i64: { ctype: "int64_t", npy: "<i8", bytes: 8 },
  u64: { ctype: "uint64_t", npy: "<u8", bytes: 8 },
  i32: { ctype: "int32_t", npy: "<i4", bytes: 4 },
  u32: { ctype: "uint32_t", npy: "<u4", bytes: 4 },
  i16: { ctype: "int16_t", npy: "<i2", bytes: 2 },
  // Half-precision values are their bits (ggml's f16 and bf16 tables); kernels decode them.
  f16: { ctype: "uint16_t", npy: "<f2", bytes: 2 },
  bf16: { ctype: "uint16_t", npy: "<u2", bytes: 2 },
  u16: { ctype: "uint16_t", npy: "<u2", bytes: 2 },
  i8: { ctype: "int8_t", npy: "|i1", bytes: 1 },
  u8: { ctype: "uint8_t", npy: "|u1", bytes: 1 },
  bool: { ctype: "uint8_t", npy: "|b1", bytes: 1 },
};

export function elementInfo(d: DType, what: string): ElementInfo & { storage: ScalarDType } {
  // ggml block types are their bytes (storageShape gives the byte shape).
  if (typeof d === "object" && d.kind === "ggml") return { ...ELEMENTS.u8!, storage: "u8" };
  const s = storageOf(d);
  const e = s ? ELEMENTS[s] : undefined;
  if (!s || !e) {
    throw new LatheError("unsupported", `${what} is ${printDType(d)}, which the driver has no C++ type for`);
  }
  return { ...e, storage: s };
}

/** The code range of 8-bit storage, or undefined for other types. */
export function codeRange(storage: ScalarDType): [number, number] | undefined {
  return storage === "i8" ? [-128, 127] : storage === "u8" ? [0, 255] : undefined;
}

/**
 * The shape of a value's storage: its own shape, except for a ggml block type, whose last axis becomes the
 * bytes of a row of blocks (so a value of Q8_K [8, 256] is u8 [8, 292]).
 */
export function storageShape(d: DType, shape: readonly number[], what: string): readonly number[] {
  if (typeof d !== "object" || d.kind !== "ggml") return shape;
  const info = GGML_TYPES.get(d.typeId);
  const last = shape[shape.length - 1];
  if (!info || !shape.length || last % info.blockSize !== 0) {
    throw new LatheError(
      "unsupported",
      `${what} is ${printDType(d)}[${shape}], whose rows are not whole blocks`,
    );
  }
  return [...shape.slice(0, -1), (last / info.blockSize) * info.typeSize];
}
