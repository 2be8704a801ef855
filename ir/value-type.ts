/**
 * The type of an SSA value: a tensor (element type plus shape), a sequence of values, or an optional value.
 * Dimensions are numbers when static and strings when symbolic ("N", "batch"); a tensor whose rank is
 * unknown has no shape.
 */
import { type DType, dtypeEquals, parseDType, printDType } from "./dtype.ts";
import { LatheError } from "./errors.ts";

export type Dim = number | string;
export type Shape = readonly Dim[];

export interface TensorType {
  readonly kind: "tensor";
  readonly dtype: DType;
  readonly shape?: Shape;
}
export interface SequenceType {
  readonly kind: "sequence";
  readonly elem: ValueType;
}
export interface OptionalType {
  readonly kind: "optional";
  readonly elem: ValueType;
}
export type ValueType = TensorType | SequenceType | OptionalType;

export function tensorType(dtype: DType, shape?: Shape): TensorType {
  return shape === undefined ? { kind: "tensor", dtype } : { kind: "tensor", dtype, shape };
}

export function isStaticShape(s: Shape | undefined): s is readonly number[] {
  return s !== undefined && s.every((d) => typeof d === "number");
}

/** Number of elements of a static shape; undefined when symbolic or unknown. */
export function elementCount(s: Shape | undefined): number | undefined {
  if (!isStaticShape(s)) return undefined;
  let n = 1;
  for (const d of s) n *= d;
  return n;
}

export function valueTypeEquals(a: ValueType, b: ValueType): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === "tensor") {
    const bt = b as TensorType;
    if (!dtypeEquals(a.dtype, bt.dtype)) return false;
    if (a.shape === undefined || bt.shape === undefined) return a.shape === bt.shape;
    return a.shape.length === bt.shape.length && a.shape.every((d, i) => d === bt.shape![i]);
  }
  return valueTypeEquals(a.elem, (b as SequenceType | OptionalType).elem);
}

const SYMBOL = /^[A-Za-z_?][A-Za-z0-9_?'+*\-]*$/;

function printDim(d: Dim): string {
  if (typeof d === "number") return String(d);
  return SYMBOL.test(d) ? d : JSON.stringify(d);
}

/** `f32[1,3,224,224]`, `f32[N,?]`, `f32[*]` (unknown rank), `seq<f32[2]>`, `opt<f32[]>`. */
export function printValueType(t: ValueType): string {
  if (t.kind === "sequence") return `seq<${printValueType(t.elem)}>`;
  if (t.kind === "optional") return `opt<${printValueType(t.elem)}>`;
  const shape = t.shape === undefined ? "*" : t.shape.map(printDim).join(",");
  return `${printDType(t.dtype)}[${shape}]`;
}

export function parseValueType(text: string): ValueType {
  const s = text.trim();
  if (s.startsWith("seq<") && s.endsWith(">")) {
    return { kind: "sequence", elem: parseValueType(s.slice(4, -1)) };
  }
  if (s.startsWith("opt<") && s.endsWith(">")) {
    return { kind: "optional", elem: parseValueType(s.slice(4, -1)) };
  }
  if (!s.endsWith("]")) throw new LatheError("format", `bad value type '${text}'`);
  // The element type may itself contain brackets (q.affine<...,s=[..]>), so the shape is the last [...].
  const open = s.lastIndexOf("[");
  const dtype = parseDType(s.slice(0, open));
  const body = s.slice(open + 1, -1).trim();
  if (body === "*") return { kind: "tensor", dtype };
  if (body === "") return { kind: "tensor", dtype, shape: [] };
  const shape = splitDims(body).map((d): Dim => {
    if (/^-?\d+$/.test(d)) return Number(d);
    if (d.startsWith('"')) return JSON.parse(d);
    if (!SYMBOL.test(d)) throw new LatheError("format", `bad dimension '${d}' in '${text}'`);
    return d;
  });
  return { kind: "tensor", dtype, shape };
}

function splitDims(body: string): string[] {
  const out: string[] = [];
  let cur = "", inStr = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inStr) {
      cur += c;
      if (c === "\\") cur += body[++i];
      else if (c === '"') inStr = false;
    } else if (c === '"') {
      inStr = true;
      cur += c;
    } else if (c === ",") {
      out.push(cur.trim());
      cur = "";
    } else cur += c;
  }
  out.push(cur.trim());
  return out;
}
