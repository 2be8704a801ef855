/**
 * Runtime values: tensors over typed arrays, sequences and optionals. Storage per element type:
 * f16 uses Float16Array, bf16 its bit patterns in a Uint16Array, i64/u64 BigInt arrays, bool a Uint8Array of
 * 0/1, i4/u4 one element per byte (unpacked), affine/PoT quantized values their integer codes, and ggml/MX
 * block formats their raw block bytes (the shape stays the logical one).
 */
import { type Constant, constantBytes, constantCount } from "../ir/constant.ts";
import { byteSize, type DType, printDType, type ScalarDType, storageOf } from "../ir/dtype.ts";
import { LatheError } from "../ir/errors.ts";

export type TypedArray =
  | Float64Array
  | Float32Array
  | Float16Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array;

export type NumericArray = Exclude<TypedArray, BigInt64Array | BigUint64Array>;

export class Tensor {
  constructor(
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly data: TypedArray | string[],
  ) {}
  get size(): number {
    return this.data.length;
  }
}

export class Sequence {
  constructor(readonly items: readonly RValue[], readonly elemDType?: DType) {}
}

export class OptionalValue {
  constructor(readonly value: RValue | undefined, readonly elemDType?: DType) {}
}

export type RValue = Tensor | Sequence | OptionalValue;

type Ctor = {
  new (n: number): TypedArray;
  new (b: ArrayBufferLike, off: number, len: number): TypedArray;
  BYTES_PER_ELEMENT: number;
};

const CTORS: Record<Exclude<ScalarDType, "string">, Ctor> = {
  f64: Float64Array,
  f32: Float32Array,
  f16: Float16Array as unknown as Ctor,
  bf16: Uint16Array,
  i64: BigInt64Array,
  u64: BigUint64Array,
  i32: Int32Array,
  u32: Uint32Array,
  i16: Int16Array,
  u16: Uint16Array,
  i8: Int8Array,
  u8: Uint8Array,
  i4: Int8Array,
  u4: Uint8Array,
  bool: Uint8Array,
} as Record<Exclude<ScalarDType, "string">, Ctor>;

/** The typed-array class that stores elements of a type (Uint8Array for block formats). */
export function arrayCtor(dtype: DType): Ctor {
  const s = storageOf(dtype);
  if (s === undefined) return Uint8Array;
  if (s === "string") throw new LatheError("runtime", "string tensors have no typed array");
  return CTORS[s];
}

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function alloc(dtype: DType, shape: readonly number[]): Tensor {
  if (dtype === "string") return new Tensor(dtype, shape, new Array<string>(shapeSize(shape)).fill(""));
  return new Tensor(dtype, shape, new (arrayCtor(dtype))(storageLength(dtype, shape)));
}

/** Typed-array length for a tensor: the element count, or bytes for block formats. */
export function storageLength(dtype: DType, shape: readonly number[]): number {
  const n = shapeSize(shape);
  if (typeof dtype !== "string" && (dtype.kind === "ggml" || dtype.kind === "mx")) {
    return byteSizeOrThrow(dtype, n);
  }
  return n;
}

function byteSizeOrThrow(dtype: DType, n: number): number {
  const b = byteSize(dtype, n);
  if (b === undefined) {
    throw new LatheError("runtime", `${n} elements do not fill whole blocks of ${printDType(dtype)}`);
  }
  return b;
}

const materialized = new WeakMap<Constant, Tensor>();

/** A constant as a tensor: an aligned view of its bytes when possible, one copy otherwise (cached). */
export function fromConstant(c: Constant): Tensor {
  let t = materialized.get(c);
  if (t) return t;
  if (c.dtype === "string") {
    t = new Tensor("string", c.shape, [...(c.strings ?? [])]);
  } else {
    const bytes = constantBytes(c);
    const ctor = arrayCtor(c.dtype);
    const s = storageOf(c.dtype);
    if (s === "i4" || s === "u4") {
      const n = constantCount(c);
      const out = new ctor(n) as Int8Array | Uint8Array;
      for (let i = 0; i < n; i++) {
        const byte = bytes[i >> 1];
        const nib = i & 1 ? byte >> 4 : byte & 15;
        out[i] = s === "i4" && nib > 7 ? nib - 16 : nib;
      }
      t = new Tensor(c.dtype, c.shape, out);
    } else {
      const bpe = ctor.BYTES_PER_ELEMENT;
      const len = bytes.byteLength / bpe;
      let data: TypedArray;
      if (bytes.byteOffset % bpe === 0) data = new ctor(bytes.buffer, bytes.byteOffset, len);
      else {
        const copy = new Uint8Array(bytes.byteLength);
        copy.set(bytes);
        data = new ctor(copy.buffer, 0, len);
      }
      t = new Tensor(c.dtype, c.shape, data);
    }
  }
  materialized.set(c, t);
  return t;
}

/** A tensor as constant data (packs 4-bit types), e.g. for constant folding and export. */
export function toConstant(t: Tensor): Constant {
  if (t.dtype === "string") return { dtype: "string", shape: t.shape, strings: [...(t.data as string[])] };
  const s = storageOf(t.dtype);
  const d = t.data as TypedArray;
  if (s === "i4" || s === "u4") {
    const n = d.length;
    const out = new Uint8Array(Math.ceil(n / 2));
    for (let i = 0; i < n; i++) out[i >> 1] |= ((d[i] as number) & 15) << ((i & 1) * 4);
    return { dtype: t.dtype, shape: t.shape, bytes: out };
  }
  if (s === "bool") {
    const out = new Uint8Array(d.length);
    for (let i = 0; i < d.length; i++) out[i] = d[i] ? 1 : 0;
    return { dtype: t.dtype, shape: t.shape, bytes: out };
  }
  return { dtype: t.dtype, shape: t.shape, bytes: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) };
}

export function expectTensor(v: RValue | undefined, what: string): Tensor {
  if (v instanceof Tensor) return v;
  throw new LatheError(
    "runtime",
    `${what} must be a tensor, got ${v === undefined ? "nothing" : v.constructor.name}`,
  );
}

/** Elements of a small integer tensor (shape operands, axes) as numbers. */
export function toNumbers(t: Tensor): number[] {
  const d = t.data;
  const out = new Array<number>(d.length);
  for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
  return out;
}
