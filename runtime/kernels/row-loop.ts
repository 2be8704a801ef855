/**
 * Elementwise row loops compiled from expression text. A loop written once and handed a per-element
 * function calls that function through one shared call site, which V8 cannot inline once several ops use
 * it; compiling one loop per (expression, array types) keeps every loop monomorphic with the expression
 * inlined. Expressions are fixed strings from the kernel tables in this folder, never user data.
 *
 * In an expression `a`, `b`, `c` are the operands' elements, `p0`..`p2` scalar parameters, `W(x)` wraps a
 * bigint to the 64-bit output type, and the helpers below are in scope by name.
 */
import { LatheError } from "../../ir/errors.ts";
import { erf } from "./erf.ts";

type Elements = { [i: number]: any; readonly length: number };

/** Writes `n` results to `o[io..]`, reading operand k from index `ik` and stepping by `sk`. */
export type RowLoop = (
  o: Elements,
  io: number,
  n: number,
  A: Elements,
  ia: number,
  sa: number,
  B?: Elements,
  ib?: number,
  sb?: number,
  C?: Elements,
  ic?: number,
  sc?: number,
  p0?: number | bigint,
  p1?: number | bigint,
  p2?: number | bigint,
) => void;

function divideByZero(): never {
  throw new LatheError("runtime", "integer division by zero");
}

/** Helpers expressions may call; plain top-level functions, so V8 inlines them into the loops. */
const HELPERS = {
  erf,
  /** Round half to even (numpy's rint), keeping -0. */
  roundEven(x: number): number {
    const r = Math.round(x);
    return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
  },
  sigmoid(x: number): number {
    if (x >= 0) return 1 / (1 + Math.exp(-x));
    const e = Math.exp(x);
    return e / (1 + e);
  },
  /** log(1 + e^x) without overflow for large x or loss for very negative x. */
  softplus(x: number): number {
    return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
  },
  /** Integer division truncating toward zero (C, onnxruntime). */
  idiv(x: number, y: number): number {
    if (y === 0) divideByZero();
    return Math.trunc(x / y);
  },
  bdiv(x: bigint, y: bigint): bigint {
    if (y === 0n) divideByZero();
    return x / y;
  },
  /** Remainder with the dividend's sign (C fmod). */
  imodc(x: number, y: number): number {
    if (y === 0) divideByZero();
    return x % y;
  },
  bmodc(x: bigint, y: bigint): bigint {
    if (y === 0n) divideByZero();
    return x % y;
  },
  /** Remainder with the divisor's sign (Python / numpy mod). */
  fpymod(x: number, y: number): number {
    const r = x % y;
    return r !== 0 && (r < 0) !== (y < 0) ? r + y : r;
  },
  ipymod(x: number, y: number): number {
    if (y === 0) divideByZero();
    const r = x % y;
    return r !== 0 && (r < 0) !== (y < 0) ? r + y : r;
  },
  bpymod(x: bigint, y: bigint): bigint {
    if (y === 0n) divideByZero();
    const r = x % y;
    return r !== 0n && (r < 0n) !== (y < 0n) ? r + y : r;
  },
  /**
   * Integer power with 32-bit wraparound (exact where doubles would round). Negative exponents follow
   * truncation of the real result: only bases 1 and -1 give non-zero.
   */
  ipow(x: number, e: number): number {
    if (e < 0) return x === 1 ? 1 : x === -1 ? (e % 2 === 0 ? 1 : -1) : 0;
    if (!Number.isFinite(e)) return Math.pow(x, e);
    let r = 1, base = x | 0;
    e = Math.floor(e);
    while (e > 0) {
      if (e % 2 === 1) r = Math.imul(r, base);
      base = Math.imul(base, base);
      e = Math.floor(e / 2);
    }
    return r;
  },
  /** The same in 64 bits: square-and-multiply keeps every step wrapped, so huge exponents stay cheap. */
  bpow(x: bigint, e: bigint): bigint {
    if (e < 0n) return x === 1n ? 1n : x === -1n ? (e % 2n === 0n ? 1n : -1n) : 0n;
    let r = 1n, base = x;
    while (e > 0n) {
      if (e & 1n) r = BigInt.asUintN(64, r * base);
      base = BigInt.asUintN(64, base * base);
      e >>= 1n;
    }
    return r;
  },
  /** A double as a bigint the way typed-array stores treat numbers: truncated; NaN and infinities to 0. */
  toBig(x: number): bigint {
    return Number.isFinite(x) ? BigInt(Math.trunc(x)) : 0n;
  },
  wrapI64(x: bigint): bigint {
    return BigInt.asIntN(64, x);
  },
  wrapU64(x: bigint): bigint {
    return BigInt.asUintN(64, x);
  },
};

const cache = new Map<string, RowLoop>();

/**
 * The compiled loop for an expression over operands stored in the given array classes (`key` names them,
 * so each compiled loop only ever sees one combination). `strides` are the operands' row strides: a
 * stride of 0 reads the operand once before the loop, 1 walks it with a bare increment, anything else
 * steps by the stride argument. `unsigned64` picks W's wrapping.
 */
export function rowLoop(
  arity: 1 | 2 | 3,
  expr: string,
  key: string,
  strides: readonly number[],
  unsigned64 = false,
): RowLoop {
  const kinds = strides.slice(0, arity).map((s) => (s === 0 ? 0 : s === 1 ? 1 : 2));
  const id = `${arity}|${kinds.join("")}|${unsigned64 ? "u" : "i"}|${key}|${expr}`;
  let loop = cache.get(id);
  if (loop) return loop;
  const names = Object.keys(HELPERS).join(", ");
  const ops = [["a", "A", "ia", "sa"], ["b", "B", "ib", "sb"], ["c", "C", "ic", "sc"]].slice(0, arity);
  const before = ops.map(([v, arr, i], j) => (kinds[j] === 0 ? `const ${v} = ${arr}[${i}];` : "")).join(" ");
  const inside = ops.map(([v, arr, i, s], j) =>
    kinds[j] === 0
      ? ""
      : kinds[j] === 1
      ? `const ${v} = ${arr}[${i}++];`
      : `const ${v} = ${arr}[${i}]; ${i} += ${s};`
  ).join(" ");
  const src = `"use strict";
const { ${names} } = H;
const W = ${unsigned64 ? "wrapU64" : "wrapI64"};
return function loop(o, io, n, A, ia, sa, B, ib, sb, C, ic, sc, p0, p1, p2) {
  ${before}
  for (let k = io, end = io + n; k < end; k++) { ${inside} o[k] = ${expr}; }
};`;
  loop = new Function("H", src)(HELPERS) as RowLoop;
  cache.set(id, loop);
  return loop;
}
