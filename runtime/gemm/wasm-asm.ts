/**
 * A small WebAssembly binary encoder: just the module sections and instructions the GEMM and convolution
 * kernels use (i32 arithmetic, f32 and v128 loads/stores, f32x4 arithmetic, the i16x8/i32x4 integer
 * instructions of the int8 GEMM, bulk memory, structured loops).
 * Kernels are generated in TypeScript with it, so tile sizes stay parameters and no build step or
 * assembler package is needed. Functions import one shared linear memory ("env", "mem").
 */

export type ValType = "i32" | "i64" | "f32" | "f64" | "v128";
const VALTYPE: Record<ValType, number> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** Operand of an instruction helper: a local index is read with local.get; a function emits itself. */
export type Expr = number | ((f: FuncBuilder) => void);

function uleb(out: number[], v: number): void {
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
}

function sleb(out: number[], v: number): void {
  v |= 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

// Opcodes, named as in the spec text format.
const OP = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  return: 0x0f,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Load: 0x28,
  f32Load: 0x2a,
  i32Load8S: 0x2c,
  i32Load8U: 0x2d,
  i32Store: 0x36,
  f32Store: 0x38,
  i32Store8: 0x3a,
  select: 0x1b,
  i64Const: 0x42,
  i64LtS: 0x53,
  i64Add: 0x7c,
  i64Mul: 0x7e,
  i64DivS: 0x7f,
  i32WrapI64: 0xa7,
  i64ExtendI32S: 0xac,
  i32Const: 0x41,
  f32Const: 0x43,
  i32Eqz: 0x45,
  i32Eq: 0x46,
  i32Ne: 0x47,
  i32LtS: 0x48,
  i32LtU: 0x49,
  i32GtS: 0x4a,
  i32LeS: 0x4c,
  i32GeS: 0x4e,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32DivS: 0x6d,
  i32And: 0x71,
  i32Or: 0x72,
  i32Shl: 0x74,
  i32ShrS: 0x75,
  i32Xor: 0x73,
  f32Add: 0x92,
  f32Mul: 0x94,
  f32Div: 0x95,
  f32Min: 0x96,
  f32Max: 0x97,
} as const;

/** SIMD opcodes (after the 0xfd prefix). */
export const SIMD = {
  load: 0x00,
  load8x8S: 0x01,
  load8x8U: 0x02,
  load32Splat: 0x09,
  store: 0x0b,
  const: 0x0c,
  shuffle: 0x0d,
  i16x8Splat: 0x10,
  i32x4Splat: 0x11,
  f32x4Splat: 0x13,
  f32x4ExtractLane: 0x1f,
  load32Lane: 0x56,
  store32Lane: 0x5a,
  store64Lane: 0x5b,
  v128Xor: 0x51,
  i16x8ExtendLowI8x16S: 0x87,
  i16x8ExtendHighI8x16S: 0x88,
  i16x8ExtendLowI8x16U: 0x89,
  i16x8ExtendHighI8x16U: 0x8a,
  i16x8Add: 0x8e,
  i16x8Sub: 0x91,
  i32x4Add: 0xae,
  i32x4Sub: 0xb1,
  i32x4Mul: 0xb5,
  i32x4DotI16x8S: 0xba,
  i32x4ExtmulLowI16x8S: 0xbc,
  i32x4ExtmulHighI16x8S: 0xbd,
  f64x2Splat: 0x14,
  i8x16NarrowI16x8S: 0x65,
  i8x16NarrowI16x8U: 0x66,
  i16x8NarrowI32x4S: 0x85,
  f32x4DemoteF64x2Zero: 0x5e,
  f32x4Nearest: 0x6a,
  f32x4Min: 0xe8,
  f64x2Add: 0xf0,
  f64x2Mul: 0xf2,
  i32x4TruncSatF32x4S: 0xf8,
  f64x2ConvertLowI32x4S: 0xfe,
  f32x4Lt: 0x43,
  v128Andnot: 0x4f,
  i32x4Shl: 0xab,
  f32x4Add: 0xe4,
  f32x4Sub: 0xe5,
  f32x4Mul: 0xe6,
  f32x4Max: 0xe9,
  f32x4Pmin: 0xea,
  f32x4Pmax: 0xeb,
  f32x4RelaxedMadd: 0x105,
} as const;

export class FuncBuilder {
  readonly code: number[] = [];
  private readonly localTypes: ValType[] = [];
  constructor(readonly params: readonly ValType[], readonly results: readonly ValType[] = []) {}

  /** A new local of the given type; returns its index. */
  local(t: ValType): number {
    this.localTypes.push(t);
    return this.params.length + this.localTypes.length - 1;
  }

  emit(...bytes: number[]): this {
    for (const b of bytes) this.code.push(b);
    return this;
  }

  expr(e: Expr): this {
    if (typeof e === "number") this.get(e);
    else e(this);
    return this;
  }

  get(i: number): this {
    this.code.push(OP.localGet);
    uleb(this.code, i);
    return this;
  }
  set(i: number, e?: Expr): this {
    if (e !== undefined) this.expr(e);
    this.code.push(OP.localSet);
    uleb(this.code, i);
    return this;
  }
  i32(v: number): this {
    this.code.push(OP.i32Const);
    sleb(this.code, v);
    return this;
  }
  /** An i64 constant (any safe integer). */
  i64(v: number): this {
    this.code.push(OP.i64Const);
    let x = BigInt(v);
    for (;;) {
      const b = Number(x & 0x7fn);
      x >>= 7n;
      if ((x === 0n && (b & 0x40) === 0) || (x === -1n && (b & 0x40) !== 0)) {
        this.code.push(b);
        return this;
      }
      this.code.push(b | 0x80);
    }
  }
  f32(v: number): this {
    this.code.push(OP.f32Const);
    const b = new Uint8Array(new Float32Array([v]).buffer);
    for (const x of b) this.code.push(x);
    return this;
  }

  private bin(op: number, x: Expr, y: Expr): this {
    return this.expr(x).expr(y).emit(op);
  }
  add(x: Expr, y: Expr): this {
    return this.bin(OP.i32Add, x, y);
  }
  sub(x: Expr, y: Expr): this {
    return this.bin(OP.i32Sub, x, y);
  }
  mul(x: Expr, y: Expr): this {
    return this.bin(OP.i32Mul, x, y);
  }
  and(x: Expr, y: Expr): this {
    return this.bin(OP.i32And, x, y);
  }
  shl(x: Expr, bits: number): this {
    return this.expr(x).i32(bits).emit(OP.i32Shl);
  }
  /** local i += e (i32). */
  inc(i: number, e: Expr): this {
    return this.add(i, e).set(i);
  }

  /** i32 load/store with a constant byte offset (alignment hint 4). */
  loadI32(addr: Expr, offset = 0): this {
    return this.expr(addr).emit(OP.i32Load).memarg(2, offset);
  }
  loadF32(addr: Expr, offset = 0): this {
    return this.expr(addr).emit(OP.f32Load).memarg(2, offset);
  }
  storeF32(addr: Expr, value: Expr, offset = 0): this {
    return this.expr(addr).expr(value).emit(OP.f32Store).memarg(2, offset);
  }

  simd(op: number): this {
    this.code.push(0xfd);
    uleb(this.code, op);
    return this;
  }
  memarg(alignLog2: number, offset: number): this {
    uleb(this.code, alignLog2);
    uleb(this.code, offset);
    return this;
  }
  /** Unaligned v128 load (alignment hint 1: x86 loads are unaligned anyway). */
  loadV(addr: Expr, offset = 0): this {
    return this.expr(addr).simd(SIMD.load).memarg(0, offset);
  }
  splatLoad(addr: Expr, offset = 0): this {
    return this.expr(addr).simd(SIMD.load32Splat).memarg(2, offset);
  }
  storeV(addr: Expr, value: Expr, offset = 0): this {
    return this.expr(addr).expr(value).simd(SIMD.store).memarg(0, offset);
  }
  /** Stores lane `lane` of a v128 as one f32. */
  storeLane(addr: Expr, value: Expr, lane: number, offset = 0): this {
    return this.expr(addr).expr(value).simd(SIMD.store32Lane).memarg(2, offset).emit(lane);
  }
  /** i32 store with a constant byte offset. */
  storeI32(addr: Expr, value: Expr, offset = 0): this {
    return this.expr(addr).expr(value).emit(OP.i32Store).memarg(0, offset);
  }
  /** One byte, sign- or zero-extended to i32. */
  loadByte(addr: Expr, signed: boolean, offset = 0): this {
    return this.expr(addr).emit(signed ? OP.i32Load8S : OP.i32Load8U).memarg(0, offset);
  }
  /** Eight bytes widened to i16x8 (v128.load8x8_s / _u). */
  loadExt8(addr: Expr, signed: boolean, offset = 0): this {
    return this.expr(addr).simd(signed ? SIMD.load8x8S : SIMD.load8x8U).memarg(0, offset);
  }
  /** i8x16.shuffle with byte lanes (0-15 from the first operand, 16-31 from the second). */
  shuffleBytes(x: Expr, y: Expr, lanes: readonly number[]): this {
    this.expr(x).expr(y).simd(SIMD.shuffle);
    for (const l of lanes) this.code.push(l);
    return this;
  }
  /** A binary SIMD instruction on two operands. */
  vop(op: number, x: Expr, y: Expr): this {
    return this.expr(x).expr(y).simd(op);
  }
  /** Replaces lane `lane` of a v128 with an f32 loaded from memory. */
  loadLane(addr: Expr, vec: Expr, lane: number, offset = 0): this {
    return this.expr(addr).expr(vec).simd(SIMD.load32Lane).memarg(2, offset).emit(lane);
  }
  /** memory.copy (memmove semantics). */
  memCopy(dst: Expr, src: Expr, bytes: Expr): this {
    return this.expr(dst).expr(src).expr(bytes).emit(0xfc, 10, 0, 0);
  }
  memFill(dst: Expr, byte: Expr, bytes: Expr): this {
    return this.expr(dst).expr(byte).expr(bytes).emit(0xfc, 11, 0);
  }
  splat(e: Expr): this {
    return this.expr(e).simd(SIMD.f32x4Splat);
  }
  /** i8x16.shuffle selecting f32 lanes (0-3 from the first operand, 4-7 from the second). */
  shuffle32(x: Expr, y: Expr, lanes: readonly number[]): this {
    this.expr(x).expr(y).simd(SIMD.shuffle);
    for (const l of lanes) for (let b = 0; b < 4; b++) this.code.push(l * 4 + b);
    return this;
  }

  block(body: () => void): this {
    this.code.push(OP.block, 0x40);
    body();
    this.code.push(OP.end);
    return this;
  }
  /** if (cond) then [else]. */
  ifElse(cond: Expr, then: () => void, otherwise?: () => void): this {
    this.expr(cond);
    this.code.push(OP.if, 0x40);
    then();
    if (otherwise) {
      this.code.push(OP.else);
      otherwise();
    }
    this.code.push(OP.end);
    return this;
  }
  /**
   * for (i = from; i < to; i += step) body. `to` is re-read each iteration, so pass a local. The body may
   * nest further loops; it must not branch out of this one.
   */
  forLoop(i: number, from: Expr, to: Expr, step: Expr, body: () => void): this {
    this.set(i, from);
    this.code.push(OP.block, 0x40, OP.loop, 0x40);
    this.expr(i).expr(to).emit(OP.i32GeS, OP.brIf, 1);
    body();
    this.inc(i, step);
    this.code.push(OP.br, 0, OP.end, OP.end);
    return this;
  }

  /** for (i = from; i >= 0; i -= step) body (signed i32). */
  forDown(i: number, from: Expr, step: number, body: () => void): this {
    this.set(i, from);
    this.code.push(OP.block, 0x40, OP.loop, 0x40);
    this.expr(i).i32(0).emit(OP.i32LtS, OP.brIf, 1);
    body();
    this.sub(i, (g) => g.i32(step)).set(i);
    this.code.push(OP.br, 0, OP.end, OP.end);
    return this;
  }

  /** The function body (locals + code + end) as encoded in the code section. */
  encodeBody(): number[] {
    const body: number[] = [];
    // Locals run-length encoded by consecutive type.
    const groups: [number, ValType][] = [];
    for (const t of this.localTypes) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    uleb(body, groups.length);
    for (const [n, t] of groups) {
      uleb(body, n);
      body.push(VALTYPE[t]);
    }
    body.push(...this.code, OP.end);
    const out: number[] = [];
    uleb(out, body.length);
    return out.concat(body);
  }
}

export const I32 = OP;

/** Assembles functions into a module importing memory env.mem (at least `minPages` 64 KiB pages). */
export function assembleModule(
  funcs: readonly { name: string; fn: FuncBuilder }[],
  minPages = 1,
): Uint8Array {
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const section = (id: number, content: number[]) => {
    out.push(id);
    uleb(out, content.length);
    for (const b of content) out.push(b);
  };
  const str = (s: string, to: number[]) => {
    const b = new TextEncoder().encode(s);
    uleb(to, b.length);
    for (const x of b) to.push(x);
  };
  // One type per function keeps the encoder simple.
  const types: number[] = [];
  uleb(types, funcs.length);
  for (const { fn } of funcs) {
    types.push(0x60);
    uleb(types, fn.params.length);
    for (const p of fn.params) types.push(VALTYPE[p]);
    uleb(types, fn.results.length);
    for (const r of fn.results) types.push(VALTYPE[r]);
  }
  section(1, types);
  const imports: number[] = [1];
  str("env", imports);
  str("mem", imports);
  imports.push(0x02, 0x00);
  uleb(imports, minPages);
  section(2, imports);
  const fsec: number[] = [];
  uleb(fsec, funcs.length);
  funcs.forEach((_, i) => uleb(fsec, i));
  section(3, fsec);
  const exp: number[] = [];
  uleb(exp, funcs.length);
  funcs.forEach(({ name }, i) => {
    str(name, exp);
    exp.push(0x00);
    uleb(exp, i);
  });
  section(7, exp);
  const code: number[] = [];
  uleb(code, funcs.length);
  for (const { fn } of funcs) for (const b of fn.encodeBody()) code.push(b);
  section(10, code);
  return new Uint8Array(out);
}
