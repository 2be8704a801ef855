/**
 * Element type conversion (Cast). Numbers convert the way typed-array stores do — floats round to nearest
 * even, integers truncate toward zero and wrap, NaN and infinities become 0 — which is C's static_cast
 * wherever that is defined. bf16 rounds to nearest even from f32; 4-bit targets saturate (as onnxruntime
 * does); bool is x != 0. Strings follow the ONNX Cast spec: "INF", "+INF", "-INF" and "NaN" in any case,
 * plain and scientific literals, and floats print as their shortest round-trip digits in numpy's layout.
 */
import type { ScalarDType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import type { Tensor, TypedArray } from "../tensor.ts";

type NumberArray = Exclude<TypedArray, BigInt64Array | BigUint64Array>;

/** bf16 bit patterns as f32 values. */
export function bf16ToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i] << 16;
  return out;
}

/** Values to bf16 bits: through f32, then round to nearest even; NaN stays a quiet NaN. */
export function toBf16(src: ArrayLike<number>, dst: Uint16Array): void {
  const f = src instanceof Float32Array ? src : Float32Array.from(src);
  const u = new Uint32Array(f.buffer, f.byteOffset, f.length);
  for (let i = 0; i < u.length; i++) {
    const x = u[i];
    dst[i] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
}

const SPECIAL: Record<string, number> = {
  "INF": Infinity,
  "+INF": Infinity,
  "-INF": -Infinity,
  "INFINITY": Infinity,
  "+INFINITY": Infinity,
  "-INFINITY": -Infinity,
  "NAN": NaN,
  "+NAN": NaN,
  "-NAN": NaN,
};

/** A numeric string's value; NaN for text that is not a number (which ONNX leaves undefined). */
export function parseNumber(s: string): number {
  const t = s.trim();
  if (t === "") return NaN;
  const special = SPECIAL[t.toUpperCase()];
  if (special !== undefined) return special;
  return Number(t);
}

const F32 = new Float32Array(1);
const F32_BITS = new Uint32Array(F32.buffer);
const U16 = new Uint16Array(1);
const roundTo: Record<string, (x: number) => number> = {
  f64: (x) => x,
  f32: Math.fround,
  f16: (x) => Math.f16round(x),
  bf16: (x) => {
    toBf16([x], U16);
    F32_BITS[0] = U16[0] << 16;
    return F32[0];
  },
};

/**
 * The text of a float of the given type: the fewest significant digits that read back to the same value,
 * positional for 1e-4 <= |x| < 1e16 ("0.039187793", "100.0") and scientific otherwise ("1e-05",
 * "1.5e+20"), as numpy prints; NaN and infinities as "NaN", "INF", "-INF".
 */
export function formatFloat(x: number, dtype: "f64" | "f32" | "f16" | "bf16" = "f64"): string {
  if (x !== x) return "NaN";
  if (x === Infinity) return "INF";
  if (x === -Infinity) return "-INF";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const round = roundTo[dtype];
  let exp = "";
  for (let p = 1; p <= 17; p++) {
    exp = x.toExponential(p - 1);
    if (round(Number(exp)) === x) break;
  }
  const neg = exp.startsWith("-");
  const [mant, e] = (neg ? exp.slice(1) : exp).split("e");
  const digits = mant.replace(".", "");
  const power = Number(e);
  let body: string;
  if (power >= -4 && power < 16) {
    if (power < 0) body = `0.${"0".repeat(-power - 1)}${digits}`;
    else if (digits.length <= power + 1) body = `${digits}${"0".repeat(power + 1 - digits.length)}.0`;
    else body = `${digits.slice(0, power + 1)}.${digits.slice(power + 1)}`;
  } else {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const mag = Math.abs(power);
    body = `${m}e${power < 0 ? "-" : "+"}${mag < 10 ? "0" : ""}${mag}`;
  }
  return neg ? `-${body}` : body;
}

type Kind = "float" | "int" | "big" | "bf16" | "bool" | "string" | "int4";

function kindOf(d: ScalarDType): Kind {
  switch (d) {
    case "f64":
    case "f32":
    case "f16":
      return "float";
    case "bf16":
      return "bf16";
    case "i64":
    case "u64":
      return "big";
    case "bool":
      return "bool";
    case "string":
      return "string";
    case "i4":
    case "u4":
      return "int4";
    default:
      return "int";
  }
}

/** Source elements as numbers, when that loses nothing the target could keep. */
function asNumbers(src: Tensor, kind: Kind): NumberArray {
  if (kind === "bf16") return bf16ToF32(src.data as Uint16Array);
  return src.data as NumberArray;
}

const INT_STRING = /^\s*[+-]?\d+\s*$/;

/** Converts every element of `src` into `dst` (same element count; dst's type is the target). */
export function castInto(src: Tensor, dst: Tensor): void {
  const from = src.dtype as ScalarDType, to = dst.dtype as ScalarDType;
  if (typeof src.dtype !== "string" || typeof dst.dtype !== "string") {
    throw new LatheError("unsupported", "Cast of quantized element types");
  }
  const fk = kindOf(from), tk = kindOf(to);
  const n = src.data.length;
  const out = dst.data;
  if (fk === "string") {
    castFromStrings(src.data as string[], to, tk, out);
    return;
  }
  if (tk === "string") {
    const o = out as string[];
    const s = src.data;
    if (fk === "float" || fk === "bf16") {
      const v = asNumbers(src, fk);
      const fd = from as "f64" | "f32" | "f16" | "bf16";
      for (let i = 0; i < n; i++) o[i] = formatFloat(v[i], fd);
    } else if (fk === "bool") { for (let i = 0; i < n; i++) o[i] = s[i] ? "True" : "False"; }
    else for (let i = 0; i < n; i++) o[i] = String(s[i]);
    return;
  }
  if (tk === "bool") {
    const o = out as Uint8Array;
    if (fk === "big") {
      const s = src.data as BigInt64Array;
      for (let i = 0; i < n; i++) o[i] = s[i] !== 0n ? 1 : 0;
    } else {
      const s = asNumbers(src, fk);
      for (let i = 0; i < n; i++) o[i] = s[i] !== 0 ? 1 : 0;
    }
    return;
  }
  if (tk === "big") {
    const o = out as BigInt64Array | BigUint64Array;
    if (fk === "big") {
      const s = src.data as BigInt64Array | BigUint64Array;
      const wrap = to === "u64" ? BigInt.asUintN : BigInt.asIntN;
      for (let i = 0; i < n; i++) o[i] = wrap(64, s[i]);
    } else numbersToBig(asNumbers(src, fk), o, to === "u64");
    return;
  }
  // Number targets: float, int, bf16, int4. Integer targets keep a 64-bit source's low bits exactly.
  const v = fk === "big"
    ? bigToNumbers(src.data as BigInt64Array | BigUint64Array, from === "u64", tk === "int" || tk === "int4")
    : asNumbers(src, fk);
  storeNumbers(v, to, tk, out as NumberArray);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const TWO_32 = 4294967296;
const TWO_63 = 2 ** 63;

/**
 * Numbers (truncated toward zero, non-finite to 0) into a 64-bit integer array. Values below 2^63 in
 * magnitude are written as two 32-bit halves, which spares a bigint per element; the rest wrap through
 * BigInt.
 */
function numbersToBig(v: ArrayLike<number>, o: BigInt64Array | BigUint64Array, unsigned: boolean): void {
  const n = v.length;
  const wrap = unsigned ? BigInt.asUintN : BigInt.asIntN;
  const words = LITTLE_ENDIAN ? new Int32Array(o.buffer, o.byteOffset, n * 2) : undefined;
  for (let i = 0; i < n; i++) {
    const x = v[i];
    if (!Number.isFinite(x)) o[i] = 0n;
    else {
      const t = Math.trunc(x);
      if (words && t < TWO_63 && t >= -TWO_63) {
        const hi = Math.floor(t / TWO_32);
        words[2 * i] = t - hi * TWO_32;
        words[2 * i + 1] = hi;
      } else o[i] = wrap(64, BigInt(t));
    }
  }
}

/**
 * 64-bit integers as numbers: the low 32 bits exactly when `low32` (integer targets wrap anyway), else the
 * nearest double, read from the two halves without making bigints.
 */
function bigToNumbers(s: BigInt64Array | BigUint64Array, unsigned: boolean, low32: boolean): Float64Array {
  const n = s.length;
  const f = new Float64Array(n);
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < n; i++) f[i] = low32 ? Number(BigInt.asIntN(32, s[i])) : Number(s[i]);
    return f;
  }
  const lo = new Uint32Array(s.buffer, s.byteOffset, n * 2);
  const hi = unsigned ? lo : new Int32Array(s.buffer, s.byteOffset, n * 2);
  if (low32) { for (let i = 0; i < n; i++) f[i] = lo[2 * i] | 0; }
  else for (let i = 0; i < n; i++) f[i] = hi[2 * i + 1] * TWO_32 + lo[2 * i];
  return f;
}

function storeNumbers(v: ArrayLike<number>, to: ScalarDType, tk: Kind, out: NumberArray): void {
  const n = v.length;
  if (tk === "bf16") toBf16(v, out as Uint16Array);
  else if (tk === "int4") {
    const lo = to === "i4" ? -8 : 0, hi = to === "i4" ? 7 : 15;
    for (let i = 0; i < n; i++) {
      const x = Math.trunc(v[i]);
      out[i] = x !== x ? 0 : x < lo ? lo : x > hi ? hi : x;
    }
  } else if (v instanceof Array) { for (let i = 0; i < n; i++) out[i] = v[i]; }
  else out.set(v as NumberArray);
}

function castFromStrings(s: string[], to: ScalarDType, tk: Kind, out: TypedArray | string[]): void {
  const n = s.length;
  if (tk === "string") {
    for (let i = 0; i < n; i++) (out as string[])[i] = s[i];
    return;
  }
  if (tk === "bool") {
    const o = out as Uint8Array;
    for (let i = 0; i < n; i++) {
      const t = s[i].trim().toLowerCase();
      o[i] = t === "true" ? 1 : t === "false" ? 0 : parseNumber(t) !== 0 ? 1 : 0;
    }
    return;
  }
  if (tk === "big") {
    const o = out as BigInt64Array | BigUint64Array;
    const wrap = to === "u64" ? BigInt.asUintN : BigInt.asIntN;
    for (let i = 0; i < n; i++) {
      if (INT_STRING.test(s[i])) o[i] = wrap(64, BigInt(s[i].trim()));
      else {
        const x = parseNumber(s[i]);
        o[i] = Number.isFinite(x) ? wrap(64, BigInt(Math.trunc(x))) : 0n;
      }
    }
    return;
  }
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    // Integer literals beyond 2^53 keep their low bits for integer targets.
    v[i] = tk === "int" && INT_STRING.test(s[i]) && s[i].length > 15
      ? Number(BigInt.asIntN(32, BigInt(s[i].trim())))
      : parseNumber(s[i]);
  }
  storeNumbers(v, to, tk, out as NumberArray);
}
