/**
 * Element types. Plain element types are strings; quantized element types are objects that carry their
 * parameters, so a value's type alone says how to read its bytes (later issues add the arithmetic).
 */
import { LatheError } from "./errors.ts";
import { GGML_TYPES, ggmlTypeByName } from "./ggml-type.ts";

export const SCALAR_DTYPES = [
  "f64",
  "f32",
  "f16",
  "bf16",
  "i64",
  "i32",
  "i16",
  "i8",
  "u64",
  "u32",
  "u16",
  "u8",
  "i4",
  "u4",
  "bool",
  "string",
] as const;
export type ScalarDType = typeof SCALAR_DTYPES[number];

/** Integer storage types a quantized value may use. */
export type QuantStorage = "i32" | "i16" | "u16" | "i8" | "u8" | "i4" | "u4";

/**
 * real = (q - zeroPoint) * scale. Per tensor when `axis` is undefined (one scale), else one scale and
 * zero point per index along `axis`. qmin/qmax narrow the storage range (sub-byte activations in DQA,
 * TFLite's symmetric [-127, 127] weights).
 */
export interface AffineQuant {
  readonly kind: "affine";
  readonly storage: QuantStorage;
  readonly scale: readonly number[];
  readonly zeroPoint: readonly number[];
  readonly axis?: number;
  readonly qmin?: number;
  readonly qmax?: number;
}

/**
 * Power-of-two style codes: each stored code indexes `table`, giving a multiplier of the scale. The
 * table is data because PoTAcc's decode tables differ between accelerator versions (accelerators.md §4.1).
 */
export interface PotQuant {
  readonly kind: "pot";
  /** "pot" (single shift, QKeras), "apot" (sum of two shifts), "msq" (mixed) or a named variant. */
  readonly method: string;
  readonly bits: number;
  readonly table: readonly number[];
  readonly scale: readonly number[];
  readonly axis?: number;
}

/** A ggml block format by its GGUF type id (formats.md §1.2); the last dimension is the blocked one. */
export interface GgmlQuant {
  readonly kind: "ggml";
  readonly typeId: number;
}

/** OCP microscaling: `block` elements share one E8M0 scale. */
export interface MxQuant {
  readonly kind: "mx";
  readonly element: "int8" | "fp8_e4m3" | "fp8_e5m2" | "fp6_e3m2" | "fp6_e2m3" | "fp4_e2m1";
  readonly block: number;
}

export type QuantDType = AffineQuant | PotQuant | GgmlQuant | MxQuant;
export type DType = ScalarDType | QuantDType;

export function isScalar(d: DType): d is ScalarDType {
  return typeof d === "string";
}
export function isQuant(d: DType): d is QuantDType {
  return typeof d !== "string";
}
export function isFloat(d: DType): boolean {
  return d === "f64" || d === "f32" || d === "f16" || d === "bf16";
}
export function isInteger(d: DType): boolean {
  return typeof d === "string" && (d[0] === "i" || d[0] === "u");
}
export function isSigned(d: ScalarDType): boolean {
  return d[0] === "i" || isFloat(d);
}

/** Bits per element of a plain type (0 for string). Quantized types answer through storageBits. */
export function scalarBits(d: ScalarDType): number {
  switch (d) {
    case "f64":
    case "i64":
    case "u64":
      return 64;
    case "f32":
    case "i32":
    case "u32":
      return 32;
    case "f16":
    case "bf16":
    case "i16":
    case "u16":
      return 16;
    case "i8":
    case "u8":
    case "bool":
      return 8;
    case "i4":
    case "u4":
      return 4;
    case "string":
      return 0;
  }
}

/** The type a quantized value's codes are stored in (ggml and MX blocks have no per-element type). */
export function storageOf(d: DType): ScalarDType | undefined {
  if (typeof d === "string") return d;
  if (d.kind === "affine") return d.storage;
  if (d.kind === "pot") return d.bits <= 4 ? "u4" : "u8";
  return undefined;
}

/** Bytes that `count` elements of this type occupy in packed form, or undefined if not whole. */
export function byteSize(d: DType, count: number): number | undefined {
  if (typeof d === "string" || d.kind === "affine" || d.kind === "pot") {
    const bits = scalarBits(storageOf(d)!);
    return Math.ceil((count * bits) / 8);
  }
  if (d.kind === "ggml") {
    const info = GGML_TYPES.get(d.typeId);
    if (!info || count % info.blockSize) return undefined;
    return (count / info.blockSize) * info.typeSize;
  }
  const elemBits = d.element === "int8" || d.element.startsWith("fp8")
    ? 8
    : d.element.startsWith("fp6")
    ? 6
    : 4;
  if (count % d.block) return undefined;
  return (count / d.block) * (1 + (d.block * elemBits) / 8);
}

export function dtypeEquals(a: DType, b: DType): boolean {
  if (a === b) return true;
  if (typeof a === "string" || typeof b === "string") return false;
  return printDType(a) === printDType(b);
}

const num = (v: number) => (Object.is(v, -0) ? "-0" : String(v));
const list = (v: readonly number[]) => `[${v.map(num).join(",")}]`;

/** Text form; parseDType(printDType(d)) equals d. */
export function printDType(d: DType): string {
  if (typeof d === "string") return d;
  switch (d.kind) {
    case "affine": {
      const p: string[] = [d.storage];
      if (d.axis !== undefined) p.push(`axis=${d.axis}`);
      p.push(`s=${d.axis === undefined ? num(d.scale[0]) : list(d.scale)}`);
      p.push(`zp=${d.axis === undefined ? num(d.zeroPoint[0]) : list(d.zeroPoint)}`);
      if (d.qmin !== undefined) p.push(`qmin=${d.qmin}`);
      if (d.qmax !== undefined) p.push(`qmax=${d.qmax}`);
      return `q.affine<${p.join(",")}>`;
    }
    case "pot": {
      const p: string[] = [d.method, `bits=${d.bits}`];
      if (d.axis !== undefined) p.push(`axis=${d.axis}`);
      p.push(`s=${d.axis === undefined ? num(d.scale[0]) : list(d.scale)}`, `table=${list(d.table)}`);
      return `q.pot<${p.join(",")}>`;
    }
    case "ggml":
      return `q.ggml<${GGML_TYPES.get(d.typeId)?.name ?? d.typeId}>`;
    case "mx":
      return `q.mx<${d.element},block=${d.block}>`;
  }
}

export function parseDType(text: string): DType {
  const t = text.trim();
  if ((SCALAR_DTYPES as readonly string[]).includes(t)) return t as ScalarDType;
  const m = /^q\.(affine|pot|ggml|mx)<(.*)>$/s.exec(t);
  if (!m) throw new LatheError("format", `unknown element type '${text}'`);
  const parts = splitTop(m[2]);
  const kv = new Map<string, string>();
  const pos: string[] = [];
  for (const p of parts) {
    const eq = p.indexOf("=");
    if (eq < 0) pos.push(p.trim());
    else kv.set(p.slice(0, eq).trim(), p.slice(eq + 1).trim());
  }
  const nums = (s: string | undefined): number[] => {
    if (s === undefined) throw new LatheError("format", `element type '${text}' lacks a field`);
    const body = s.startsWith("[") ? s.slice(1, -1) : s;
    const out = body.split(",").filter((x) => x.trim() !== "").map((x) => Number(x));
    if (out.some((x) => Number.isNaN(x) && !/nan/i.test(body))) {
      throw new LatheError("format", `bad number list '${s}' in '${text}'`);
    }
    return out;
  };
  const optInt = (k: string) => (kv.has(k) ? Number(kv.get(k)) : undefined);
  switch (m[1]) {
    case "affine": {
      const axis = optInt("axis");
      const q: AffineQuant = {
        kind: "affine",
        storage: pos[0] as QuantStorage,
        scale: nums(kv.get("s")),
        zeroPoint: nums(kv.get("zp")),
        ...(axis !== undefined ? { axis } : {}),
        ...(kv.has("qmin") ? { qmin: optInt("qmin") } : {}),
        ...(kv.has("qmax") ? { qmax: optInt("qmax") } : {}),
      };
      return q;
    }
    case "pot": {
      const axis = optInt("axis");
      return {
        kind: "pot",
        method: pos[0],
        bits: Number(kv.get("bits")),
        ...(axis !== undefined ? { axis } : {}),
        scale: nums(kv.get("s")),
        table: nums(kv.get("table")),
      };
    }
    case "ggml": {
      const info = ggmlTypeByName(pos[0]) ?? GGML_TYPES.get(Number(pos[0]));
      if (!info) throw new LatheError("format", `unknown ggml type '${pos[0]}'`);
      return { kind: "ggml", typeId: info.id };
    }
    default:
      return { kind: "mx", element: pos[0] as MxQuant["element"], block: Number(kv.get("block")) };
  }
}

/** Splits on commas that are not inside brackets. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0, start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "[" || c === "<") depth++;
    else if (c === "]" || c === ">") depth--;
    else if (c === "," && depth === 0) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out.filter((x) => x.trim() !== "");
}
