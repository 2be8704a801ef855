/**
 * GGUF metadata values (formats.md §1.1). Every value keeps its GGUF type so a file read and written back
 * is byte-identical: 64-bit integers stay bigint, numeric arrays are the matching typed array, and a string
 * whose bytes are not valid UTF-8 is kept as its raw bytes.
 */

export const GgufType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufTypeId = typeof GgufType[keyof typeof GgufType];

export const GGUF_TYPE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(GgufType).map(([k, v]) => [v, k]),
);

/** Bytes of one scalar of each fixed-size type. */
export const GGUF_SCALAR_SIZE: Readonly<Record<number, number>> = {
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

export function isGgufType(t: number): t is GgufTypeId {
  return Number.isInteger(t) && t >= 0 && t <= 12;
}

/** UTF-8 text, or the raw bytes when they are not valid UTF-8. */
export type GgufString = string | Uint8Array;

export type GgufNumericArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | BigUint64Array
  | BigInt64Array
  | Float64Array;

/** An ARRAY value: numeric element types as the matching typed array, BOOL as booleans. */
export interface GgufArray {
  readonly elemType: GgufTypeId;
  readonly items: GgufNumericArray | readonly boolean[] | readonly GgufString[] | readonly GgufArray[];
}

/** number for 8–32-bit ints and floats, bigint for 64-bit ints, boolean for BOOL. */
export type GgufValue = number | bigint | boolean | GgufString | GgufArray;

export interface GgufKV {
  readonly key: string;
  readonly type: GgufTypeId;
  readonly value: GgufValue;
}

/** The typed array class GGUF stores a numeric array element type in. */
export function typedArrayFor(
  elemType: number,
  buffer: ArrayBuffer,
  count: number,
): GgufNumericArray | undefined {
  switch (elemType) {
    case 0:
      return new Uint8Array(buffer, 0, count);
    case 1:
      return new Int8Array(buffer, 0, count);
    case 2:
      return new Uint16Array(buffer, 0, count);
    case 3:
      return new Int16Array(buffer, 0, count);
    case 4:
      return new Uint32Array(buffer, 0, count);
    case 5:
      return new Int32Array(buffer, 0, count);
    case 6:
      return new Float32Array(buffer, 0, count);
    case 10:
      return new BigUint64Array(buffer, 0, count);
    case 11:
      return new BigInt64Array(buffer, 0, count);
    case 12:
      return new Float64Array(buffer, 0, count);
  }
  return undefined;
}

/** Text of a GGUF string (lossy for the rare non-UTF-8 one, which keeps its bytes in the file model). */
export function ggufText(s: GgufString): string {
  return typeof s === "string" ? s : new TextDecoder("utf-8", { ignoreBOM: true }).decode(s);
}

/** A metadata value as plain JS for display and lookups: arrays become arrays, 64-bit ints stay bigint. */
export function ggufPlain(v: GgufValue): unknown {
  if (typeof v === "object" && !(v instanceof Uint8Array)) {
    return Array.from(v.items as ArrayLike<unknown>, (x) => ggufPlain(x as GgufValue));
  }
  return v instanceof Uint8Array ? ggufText(v) : v;
}
