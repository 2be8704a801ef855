/**
 * Constant tensor data. Imported weights are views into the source file's bytes (never copied at import),
 * or lazy ranges of a file read on first use (ONNX external data, large GGUF tensors).
 */
import { byteSize, type DType, printDType } from "./dtype.ts";
import { LatheError } from "./errors.ts";

export interface LazyBytes {
  /** Where the bytes live, for messages and round trips. */
  readonly source: string;
  readonly offset: number;
  readonly length: number;
  readonly load: () => Uint8Array;
}

export interface Constant {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Little-endian, row-major, packed (4-bit types two per byte, low nibble first; bool one byte). */
  readonly bytes?: Uint8Array;
  readonly lazy?: LazyBytes;
  /** String tensors only. */
  readonly strings?: readonly string[];
}

export function constantCount(c: Constant): number {
  let n = 1;
  for (const d of c.shape) n *= d;
  return n;
}

const loaded = new WeakMap<LazyBytes, Uint8Array>();

/** The packed bytes of a constant, loading lazy data once. */
export function constantBytes(c: Constant): Uint8Array {
  if (c.bytes) return c.bytes;
  if (c.lazy) {
    let b = loaded.get(c.lazy);
    if (!b) {
      b = c.lazy.load();
      if (b.length !== c.lazy.length) {
        throw new LatheError("io", `expected ${c.lazy.length} bytes, read ${b.length}`, {
          file: c.lazy.source,
        });
      }
      loaded.set(c.lazy, b);
    }
    return b;
  }
  if (c.strings) return new Uint8Array(0);
  throw new LatheError("verify", `constant ${printDType(c.dtype)}[${c.shape}] has no data`);
}

export function constantByteLength(c: Constant): number {
  if (c.bytes) return c.bytes.length;
  if (c.lazy) return c.lazy.length;
  return 0;
}

/** Checks that the byte length matches dtype and shape; importers call this before building a graph. */
export function checkConstant(c: Constant, where: { file?: string; field?: string }): void {
  const n = constantCount(c);
  if (!Number.isSafeInteger(n) || c.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new LatheError("format", `bad shape [${c.shape}]`, where);
  }
  if (c.dtype === "string") {
    if (!c.strings || c.strings.length !== n) {
      throw new LatheError("format", `string tensor of ${n} elements has ${c.strings?.length ?? 0}`, where);
    }
    return;
  }
  const want = byteSize(c.dtype, n);
  if (want === undefined) {
    throw new LatheError("format", `${n} elements do not fill whole blocks of ${printDType(c.dtype)}`, where);
  }
  const have = constantByteLength(c);
  if (have !== want) {
    throw new LatheError(
      "format",
      `${printDType(c.dtype)}[${c.shape}] needs ${want} bytes, has ${have}`,
      where,
    );
  }
}

export function constantsEqual(a: Constant, b: Constant): boolean {
  if (printDType(a.dtype) !== printDType(b.dtype)) return false;
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) return false;
  if (a.strings || b.strings) {
    return !!a.strings && !!b.strings && a.strings.every((s, i) => s === b.strings![i]);
  }
  const x = constantBytes(a), y = constantBytes(b);
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}
