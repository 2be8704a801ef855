/**
 * C++ source text for values the emitter bakes into drivers: exact floating-point literals (C++17 hex
 * floats, so the compiler reads back the very double or float32 Lathe computed), integer arrays wrapped to
 * a fixed width, and identifiers and string literals made from IR names.
 */
import { LatheError } from "../../ir/errors.ts";

const view = new DataView(new ArrayBuffer(8));

/** A double as a C++ hex literal, exact ("0x1.8p+1", "-0x0p+0"); infinities and NaN as builtins. */
export function hexDouble(x: number): string {
  if (Number.isNaN(x)) return '__builtin_nan("")';
  if (x === Infinity) return "__builtin_inf()";
  if (x === -Infinity) return "(-__builtin_inf())";
  view.setFloat64(0, x);
  const hi = view.getUint32(0), lo = view.getUint32(4);
  const sign = hi >>> 31 ? "-" : "";
  const exp = (hi >>> 20) & 0x7ff;
  const mant = ((hi & 0xfffff).toString(16).padStart(5, "0") + lo.toString(16).padStart(8, "0")).replace(
    /0+$/,
    "",
  );
  if (exp === 0 && mant === "") return `${sign}0x0p+0`;
  const lead = exp === 0 ? "0" : "1";
  const e = exp === 0 ? -1022 : exp - 1023;
  return `${sign}0x${lead}${mant ? "." + mant : ""}p${e >= 0 ? "+" : ""}${e}`;
}

/** A float32 value (a number Math.fround leaves unchanged) as a C++ float literal. */
export function hexFloat(x: number): string {
  if (!Number.isNaN(x) && Math.fround(x) !== x) {
    throw new LatheError("verify", `${x} is not a float32 value`);
  }
  const d = hexDouble(x);
  return d.startsWith("0x") || d.startsWith("-0x") ? `${d}f` : `static_cast<float>(${d})`;
}

/** An int32 literal (INT32_MIN needs an expression). */
export function int32(v: number): string {
  if (!Number.isInteger(v) || v < -2147483648 || v > 4294967295) {
    throw new LatheError("verify", `${v} is not a 32-bit integer`);
  }
  return v === -2147483648 ? "INT32_MIN" : String(v);
}

/** Numbers as a brace list, wrapped every `perLine` items. */
export function braceList(items: readonly string[], perLine = 16, indent = "    "): string {
  if (items.length === 0) return "{}";
  if (items.length <= perLine) return `{${items.join(", ")}}`;
  const lines: string[] = [];
  for (let i = 0; i < items.length; i += perLine) {
    lines.push(indent + items.slice(i, i + perLine).join(", ") + ",");
  }
  return `{\n${lines.join("\n")}\n}`;
}

/** A C++ string literal. */
export function cString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += "\\" + ch;
    else if (c >= 0x20 && c < 0x7f) out += ch;
    else {
      for (const b of new TextEncoder().encode(ch)) out += `\\${b.toString(8).padStart(3, "0")}`;
    }
  }
  return out + '"';
}

/** A comment-safe rendering of an IR name (no comment terminators or newlines). */
export function commentText(s: string): string {
  return s.replace(/\*\//g, "*\\/").replace(/[\r\n]/g, " ");
}

/** An identifier from a hint: [A-Za-z0-9_], not starting with a digit. */
export function identifier(hint: string): string {
  const s = hint.replace(/[^A-Za-z0-9_]+/g, "_").replace(/^_+|_+$/g, "");
  return /^[0-9]/.test(s) || s === "" ? `v_${s}` : s;
}
