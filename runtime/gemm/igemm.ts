/**
 * Exact integer GEMM: C = (A - za)·(B - zb) with int32 accumulators that wrap like TFLite's and
 * onnxruntime's (every product and partial sum taken modulo 2^32). 8-bit operands (int8 or uint8, any zero
 * point per tensor, per row of A or per column of B) run on a WebAssembly SIMD micro-kernel: both operands
 * are packed with their zero points subtracted into int16 pairs along K, and i32x4.dot_i16x8_s multiplies
 * a pair of A (splat) by four columns' pairs of B. Modular arithmetic is a ring, so a wrapped pair sum
 * still gives the exact result mod 2^32. Everything else (and engines without SIMD) uses igemmJS.
 *
 * Packed layouts (int16, K2 = ceil(K/2) pairs, zero past K):
 *   A panels of IMR rows: element ((p·K2 + k2)·IMR + r)·2 + j = A[p·IMR + r][2·k2 + j] - za
 *   B: element (k2·Np + n)·2 + j = B[2·k2 + j][n] - zb, Np = N rounded up to INR
 */
import { assembleModule, FuncBuilder, I32, SIMD } from "./wasm-asm.ts";
import { ArenaFull, type WasmEngine, wasmEngine } from "./wasm-simd.ts";
import { packedBytes, type PackKey } from "./sgemm.ts";

/** Rows per micro-tile (and per packed A panel). */
export const IMR = 4;
/** Columns per micro-tile (two vectors of four int32 lanes). */
export const INR = 8;
const NV = INR / 4;

/** Integer codes of any width; the SIMD path takes 8-bit ones. */
export type IntArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;

/** A strided integer matrix: element (i, j) is data[off + i·rs + j·cs]. */
export interface IntView {
  readonly data: IntArray;
  readonly off: number;
  readonly rs: number;
  readonly cs: number;
}

/** One value for the whole operand, or one per row of A / per column of B. */
export type ZeroPoint = number | ArrayLike<number>;

export interface IntOperand {
  readonly view: IntView;
  readonly zp?: ZeroPoint;
  /** A weight worth keeping packed across calls (its tensor; the data is checked by sampling). */
  readonly key?: PackKey;
}

/** The int32 result: element (i, j) goes to data[off + i·rs + j]. */
export interface IntOut {
  readonly data: Int32Array;
  readonly off: number;
  readonly rs: number;
}

// ---- WebAssembly kernels -------------------------------------------------------------------------------

/**
 * C[panels·IMR x N8] (+)= A·B over packed operands; ldb and ldc in bytes, N8 a multiple of INR. Columns
 * outer, panels inner: an INR-column strip of B stays in L1 while A streams (the caller blocks A to fit L2).
 */
function igemmFn(): FuncBuilder {
  const f = new FuncBuilder(new Array<"i32">(9).fill("i32"));
  const [pA, pB, ldb, pC, ldc, mPanels, N8, K2, accumulate] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const j = f.local("i32"), p = f.local("i32"), k = f.local("i32");
  const pa = f.local("i32"), pb = f.local("i32"), pc = f.local("i32"), panelBytes = f.local("i32");
  const k4 = f.local("i32");
  const acc: number[][] = [];
  for (let r = 0; r < IMR; r++) acc.push(Array.from({ length: NV }, () => f.local("v128")));
  const bv = Array.from({ length: NV }, () => f.local("v128"));
  const av = f.local("v128");
  f.set(panelBytes, (g) => g.mul(K2, (g) => g.i32(IMR * 4)));
  f.set(k4, (g) => g.and(K2, (g) => g.i32(~3)));
  const step = (paOff: number) => {
    for (let v = 0; v < NV; v++) f.loadV(pb, v * 16).set(bv[v]);
    for (let r = 0; r < IMR; r++) {
      f.splatLoad(pa, paOff + r * 4).set(av);
      for (let v = 0; v < NV; v++) {
        f.get(acc[r][v]).vop(SIMD.i32x4DotI16x8S, av, bv[v]).simd(SIMD.i32x4Add).set(acc[r][v]);
      }
    }
    f.inc(pb, ldb);
  };
  f.forLoop(j, (g) => g.i32(0), N8, (g) => g.i32(INR), () => {
    f.forLoop(p, (g) => g.i32(0), mPanels, (g) => g.i32(1), () => {
      f.set(pa, (g) => g.add(pA, (g) => g.mul(p, panelBytes)));
      f.set(pb, (g) => g.add(pB, (g) => g.shl(j, 2)));
      f.set(
        pc,
        (g) =>
          g.add((g) => g.add(pC, (g) => g.mul((g) => g.mul(p, (g) => g.i32(IMR)), ldc)), (g) => g.shl(j, 2)),
      );
      f.ifElse(accumulate, () => {
        for (let r = 0; r < IMR; r++) {
          for (let v = 0; v < NV; v++) {
            f.loadV((g) => g.add(pc, (g) => g.mul(ldc, (g) => g.i32(r))), v * 16).set(acc[r][v]);
          }
        }
      }, () => {
        for (let r = 0; r < IMR; r++) {
          for (let v = 0; v < NV; v++) f.set(acc[r][v], (g) => g.i32(0).simd(SIMD.i32x4Splat));
        }
      });
      f.forLoop(k, (g) => g.i32(0), k4, (g) => g.i32(4), () => {
        for (let u = 0; u < 4; u++) step(u * IMR * 4);
        f.inc(pa, (g) => g.i32(4 * IMR * 4));
      });
      f.forLoop(k, k4, K2, (g) => g.i32(1), () => {
        step(0);
        f.inc(pa, (g) => g.i32(IMR * 4));
      });
      for (let r = 0; r < IMR; r++) {
        for (let v = 0; v < NV; v++) f.storeV(pc, acc[r][v], v * 16);
        f.inc(pc, ldc);
      }
    });
  });
  return f;
}

const INTERLEAVE_LO = [0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23];
const INTERLEAVE_HI = [8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31];

/**
 * Packs B from rows of bytes (B[k][n] at src + k·rs + n) minus zp: rows 2k2 and 2k2+1 interleave into
 * int16 pairs at dst + k2·ldb. Writes N rounded up to 8 columns (reading up to 7 bytes past a row).
 */
function packB8Fn(signed: boolean): FuncBuilder {
  const f = new FuncBuilder(new Array<"i32">(7).fill("i32"));
  const [src, rs, K, N, dst, ldb, zp] = [0, 1, 2, 3, 4, 5, 6];
  const kk = f.local("i32"), n = f.local("i32"), r0 = f.local("i32"), d = f.local("i32"), k1 = f.local("i32");
  const zpV = f.local("v128"), a = f.local("v128"), b = f.local("v128"), zero = f.local("v128");
  f.set(zpV, (g) => g.get(zp).simd(SIMD.i16x8Splat));
  f.set(zero, (g) => g.i32(0).simd(SIMD.i32x4Splat));
  f.set(r0, src).set(d, dst);
  const body = (second: boolean) => {
    f.forLoop(n, (g) => g.i32(0), N, (g) => g.i32(8), () => {
      f.set(a, (g) => g.loadExt8((g) => g.add(r0, n), signed).get(zpV).simd(SIMD.i16x8Sub));
      if (second) {
        f.set(
          b,
          (g) => g.loadExt8((g) => g.add((g) => g.add(r0, rs), n), signed).get(zpV).simd(SIMD.i16x8Sub),
        );
      } else f.set(b, zero);
      f.set(k1, (g) => g.add(d, (g) => g.shl(n, 2)));
      f.storeV(k1, (g) => g.shuffleBytes(a, b, INTERLEAVE_LO));
      f.storeV(k1, (g) => g.shuffleBytes(a, b, INTERLEAVE_HI), 16);
    });
  };
  f.forLoop(kk, (g) => g.i32(0), K, (g) => g.i32(2), () => {
    f.ifElse((g) => g.add(kk, (g) => g.i32(1)).get(K).emit(I32.i32LtS), () => body(true), () => body(false));
    f.inc(r0, (g) => g.shl(rs, 1));
    f.inc(d, ldb);
  });
  return f;
}

/**
 * Packs `panels` panels of A from rows of bytes (A[i][k] at src + i·rs + k) minus zp; rows past M are
 * zero. Eight bytes (four pairs) at a time while they stay within the row, then pair by pair.
 */
function packA8Fn(signed: boolean): FuncBuilder {
  const f = new FuncBuilder(new Array<"i32">(7).fill("i32"));
  const [src, rs, M, K, dst, zp, panels] = [0, 1, 2, 3, 4, 5, 6];
  const p = f.local("i32"), r = f.local("i32"), row = f.local("i32"), s = f.local("i32"), d = f.local("i32");
  const k = f.local("i32"), kFull = f.local("i32"), K2 = f.local("i32"), panelBytes = f.local("i32");
  const lo = f.local("i32"), hi = f.local("i32");
  const zpV = f.local("v128"), v = f.local("v128");
  const PAIR = IMR * 4;
  f.set(zpV, (g) => g.get(zp).simd(SIMD.i16x8Splat));
  f.set(K2, (g) => g.add(K, (g) => g.i32(1)).i32(1).emit(I32.i32ShrS));
  f.set(kFull, (g) => g.and(K, (g) => g.i32(~7)));
  f.set(panelBytes, (g) => g.mul(K2, (g) => g.i32(PAIR)));
  f.forLoop(p, (g) => g.i32(0), panels, (g) => g.i32(1), () => {
    f.forLoop(r, (g) => g.i32(0), (g) => g.i32(IMR), (g) => g.i32(1), () => {
      f.set(row, (g) => g.add((g) => g.mul(p, (g) => g.i32(IMR)), r));
      f.set(d, (g) => g.add((g) => g.add(dst, (g) => g.mul(p, panelBytes)), (g) => g.shl(r, 2)));
      f.ifElse((g) => g.get(row).get(M).emit(I32.i32LtS), () => {
        f.set(s, (g) => g.add(src, (g) => g.mul(row, rs)));
        f.forLoop(k, (g) => g.i32(0), kFull, (g) => g.i32(8), () => {
          f.set(v, (g) => g.loadExt8((g) => g.add(s, k), signed).get(zpV).simd(SIMD.i16x8Sub));
          for (let t = 0; t < 4; t++) f.storeLane(d, v, t, t * PAIR);
          f.inc(d, (g) => g.i32(4 * PAIR));
        });
        f.forLoop(k, kFull, K, (g) => g.i32(2), () => {
          f.set(lo, (g) => g.loadByte((g) => g.add(s, k), signed).get(zp).emit(I32.i32Sub));
          f.ifElse(
            (g) => g.add(k, (g) => g.i32(1)).get(K).emit(I32.i32LtS),
            () => f.set(hi, (g) => g.loadByte((g) => g.add(s, k), signed, 1).get(zp).emit(I32.i32Sub)),
            () => f.set(hi, (g) => g.i32(0)),
          );
          f.storeI32(d, (g) => g.and(lo, (g) => g.i32(0xffff)).expr((g) => g.shl(hi, 16)).emit(I32.i32Or));
          f.inc(d, (g) => g.i32(PAIR));
        });
      }, () => {
        f.forLoop(k, (g) => g.i32(0), K2, (g) => g.i32(1), () => {
          f.storeI32(d, (g) => g.i32(0));
          f.inc(d, (g) => g.i32(PAIR));
        });
      });
    });
  });
  return f;
}

/**
 * Depthwise convolution over an NHWC image of 8-bit codes, depth multiplier 1: acc[pix][c] =
 * Σ_taps (x - zp)·w, int32 (wrapping). The image is pre-padded (Hp x Wp, padding holds the zero point, so
 * it contributes nothing); weights are int16 [KH·KW][Cp], Cp = C rounded up to 8; the accumulators are
 * [OH·OW][Cp]. Eight channels per step: two extended multiplies into two i32x4 accumulators per tap.
 */
function dwFn(signed: boolean): FuncBuilder {
  const f = new FuncBuilder(new Array<"i32">(15).fill("i32"));
  const [pX, Wp, C, Cp, pW, pO, OH, OW, KH, KW, sh, sw, dh, dw, zp] = Array.from(
    { length: 15 },
    (_, i) => i,
  );
  const oy = f.local("i32"),
    ox = f.local("i32"),
    ky = f.local("i32"),
    kx = f.local("i32"),
    c = f.local("i32");
  const po = f.local("i32"), xPix = f.local("i32"), xt = f.local("i32"), wt = f.local("i32");
  const rowB = f.local("i32"), tapRow = f.local("i32"), xr = f.local("i32"), wRow = f.local("i32");
  const zpV = f.local("v128"), x = f.local("v128"), w = f.local("v128");
  const a0 = f.local("v128"), a1 = f.local("v128");
  f.set(zpV, (g) => g.get(zp).simd(SIMD.i16x8Splat));
  f.set(rowB, (g) => g.mul(Wp, C));
  f.set(po, pO);
  f.forLoop(oy, (g) => g.i32(0), OH, (g) => g.i32(1), () => {
    f.forLoop(ox, (g) => g.i32(0), OW, (g) => g.i32(1), () => {
      // The window's top-left input pixel.
      f.set(
        xPix,
        (g) =>
          g.add(
            (g) => g.add(pX, (g) => g.mul((g) => g.mul(oy, sh), rowB)),
            (g) => g.mul((g) => g.mul(ox, sw), C),
          ),
      );
      f.forLoop(c, (g) => g.i32(0), C, (g) => g.i32(8), () => {
        f.set(a0, (g) => g.i32(0).simd(SIMD.i32x4Splat)).set(a1, a0);
        f.set(xr, (g) => g.add(xPix, c));
        f.set(wRow, (g) => g.add(pW, (g) => g.shl(c, 1)));
        f.forLoop(ky, (g) => g.i32(0), KH, (g) => g.i32(1), () => {
          f.set(xt, xr).set(wt, wRow);
          f.forLoop(kx, (g) => g.i32(0), KW, (g) => g.i32(1), () => {
            f.set(x, (g) => g.loadExt8(xt, signed).get(zpV).simd(SIMD.i16x8Sub));
            f.set(w, (g) => g.loadV(wt));
            f.set(a0, (g) => g.get(a0).vop(SIMD.i32x4ExtmulLowI16x8S, x, w).simd(SIMD.i32x4Add));
            f.set(a1, (g) => g.get(a1).vop(SIMD.i32x4ExtmulHighI16x8S, x, w).simd(SIMD.i32x4Add));
            f.inc(xt, (g) => g.mul(dw, C));
            f.inc(wt, (g) => g.shl(Cp, 1));
          });
          f.inc(xr, (g) => g.mul(dh, rowB));
          f.set(wRow, wt);
        });
        f.set(tapRow, (g) => g.add(po, (g) => g.shl(c, 2)));
        f.storeV(tapRow, a0);
        f.storeV(tapRow, a1, 16);
      });
      f.inc(po, (g) => g.shl(Cp, 2));
    });
  });
  return f;
}

/**
 * ONNX-style requantization of one plane: out[i] = saturate(rint(fround((acc[i] + bias)·mult)) + zp) as
 * 8-bit codes, eight at a time. The product is taken in f64 and demoted to f32 exactly as Math.fround
 * does; the clamp to [lo, hi] = [qmin - zp, qmax - zp] happens on the rounded float, so the conversion
 * never saturates. Writes up to 7 bytes past n (the next plane, or slack).
 */
function requantFn(signedOut: boolean): FuncBuilder {
  const f = new FuncBuilder(["i32", "i32", "i32", "f64", "i32", "i32", "f32", "f32"]);
  const [pAcc, pOut, n, mult, bias, zp, lo, hi] = [0, 1, 2, 3, 4, 5, 6, 7];
  const i = f.local("i32");
  const multV = f.local("v128"), biasV = f.local("v128"), zpV = f.local("v128"), loV = f.local("v128");
  const hiV = f.local("v128"), v = f.local("v128"), q0 = f.local("v128"), q1 = f.local("v128");
  const d0 = f.local("v128"), d1 = f.local("v128");
  f.set(multV, (g) => g.get(mult).simd(SIMD.f64x2Splat));
  f.set(biasV, (g) => g.get(bias).simd(SIMD.i32x4Splat));
  f.set(zpV, (g) => g.get(zp).simd(SIMD.i32x4Splat));
  f.set(loV, (g) => g.splat(lo)).set(hiV, (g) => g.splat(hi));
  const HIGH_TO_LOW = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];
  const half = (dst: number, src: (g: FuncBuilder) => void) => {
    f.set(dst, (g) => {
      src(g);
      g.simd(SIMD.f64x2ConvertLowI32x4S).get(multV).simd(SIMD.f64x2Mul);
      g.simd(SIMD.f32x4DemoteF64x2Zero);
    });
  };
  const quad = (dst: number, offset: number) => {
    // The bias adds in int32 and wraps, as onnxruntime's int32 accumulators do.
    f.set(v, (g) => g.loadV((g) => g.add(pAcc, (g) => g.shl(i, 2)), offset).get(biasV).simd(SIMD.i32x4Add));
    half(d0, (g) => g.get(v));
    half(d1, (g) => g.shuffleBytes(v, v, HIGH_TO_LOW));
    f.set(dst, (g) => {
      g.shuffle32(d0, d1, [0, 1, 4, 5]).simd(SIMD.f32x4Nearest);
      g.get(loV).simd(SIMD.f32x4Max).get(hiV).simd(SIMD.f32x4Min);
      g.simd(SIMD.i32x4TruncSatF32x4S).get(zpV).simd(SIMD.i32x4Add);
    });
  };
  f.forLoop(i, (g) => g.i32(0), n, (g) => g.i32(8), () => {
    quad(q0, 0);
    quad(q1, 16);
    f.add(pOut, i).vop(SIMD.i16x8NarrowI32x4S, q0, q1).set(v);
    f.vop(signedOut ? SIMD.i8x16NarrowI16x8S : SIMD.i8x16NarrowI16x8U, v, v);
    f.simd(SIMD.store64Lane).memarg(0, 0).emit(0);
  });
  return f;
}

/**
 * TFLite's default (double-rounding) requantization of int32 accumulator rows into 8-bit codes, per
 * channel: x = acc + bias (int32, wrapping); x <<= max(shift, 0); SaturatingRoundingDoublingHighMul(x, m)
 * in i64 with C's truncating division; RoundingDivideByPOT(·, max(-shift, 0)); + zp; clamp to [lo, hi].
 * Multipliers are non-negative (quantizeMultiplier's), so the INT32_MIN² saturation never arises.
 */
function requantRowsFn(): FuncBuilder {
  const f = new FuncBuilder(new Array<"i32">(11).fill("i32"));
  const [pC, ldc, rows, O, pMult, pShift, pBias, zp, lo, hi, pOut] = Array.from({ length: 11 }, (_, i) => i);
  const p = f.local("i32"), o = f.local("i32"), src = f.local("i32"), dst = f.local("i32");
  const x = f.local("i32"),
    v = f.local("i32"),
    sh = f.local("i32"),
    e = f.local("i32"),
    mask = f.local("i32");
  const ab = f.local("i64");
  const at = (base: number) => (g: FuncBuilder) => g.add(base, (g) => g.shl(o, 2));
  f.forLoop(p, (g) => g.i32(0), rows, (g) => g.i32(1), () => {
    f.set(src, (g) => g.add(pC, (g) => g.mul(p, ldc)));
    f.set(dst, (g) => g.add(pOut, (g) => g.mul(p, O)));
    f.forLoop(o, (g) => g.i32(0), O, (g) => g.i32(1), () => {
      f.set(x, (g) => g.add((g) => g.loadI32(at(src)), (g) => g.loadI32(at(pBias))));
      f.set(sh, (g) => g.loadI32(at(pShift)));
      // x << max(sh, 0)
      f.set(x, (g) => {
        g.get(x).get(sh).i32(0).get(sh).i32(0).emit(I32.i32GtS).emit(I32.select).emit(I32.i32Shl);
      });
      f.set(ab, (g) => {
        g.get(x).emit(I32.i64ExtendI32S).loadI32(at(pMult)).emit(I32.i64ExtendI32S).emit(I32.i64Mul);
      });
      // + (ab >= 0 ? 2^30 : 1 - 2^30), then / 2^31 truncating toward zero.
      f.set(ab, (g) => {
        g.get(ab).i64(1 - 2 ** 30).i64(2 ** 30).get(ab).i64(0).emit(I32.i64LtS).emit(I32.select);
        g.emit(I32.i64Add).i64(2 ** 31).emit(I32.i64DivS);
      });
      f.set(v, (g) => g.get(ab).emit(I32.i32WrapI64));
      // RoundingDivideByPOT by e = max(-sh, 0).
      f.set(e, (g) => {
        g.i32(0).get(sh).emit(I32.i32Sub).i32(0).i32(0).get(sh).emit(I32.i32Sub).i32(0).emit(I32.i32GtS);
        g.emit(I32.select);
      });
      f.set(mask, (g) => g.i32(1).get(e).emit(I32.i32Shl).i32(1).emit(I32.i32Sub));
      f.set(v, (g) => {
        g.get(v).get(e).emit(I32.i32ShrS);
        g.and(v, mask).get(mask).i32(1).emit(I32.i32ShrS).get(v).i32(0).emit(I32.i32LtS).emit(I32.i32Add);
        g.emit(I32.i32GtS).emit(I32.i32Add);
      });
      f.set(v, (g) => g.add(v, zp));
      f.set(v, (g) => g.get(lo).get(v).get(v).get(lo).emit(I32.i32LtS).emit(I32.select));
      f.set(v, (g) => g.get(hi).get(v).get(v).get(hi).emit(I32.i32GtS).emit(I32.select));
      f.add(dst, o).get(v).emit(I32.i32Store8).memarg(0, 0);
    });
  });
  return f;
}

interface IntKernels {
  igemm(
    pA: number,
    pB: number,
    ldb: number,
    pC: number,
    ldc: number,
    mPanels: number,
    N8: number,
    K2: number,
    accumulate: number,
  ): void;
  packB8s(src: number, rs: number, K: number, N: number, dst: number, ldb: number, zp: number): void;
  packB8u(src: number, rs: number, K: number, N: number, dst: number, ldb: number, zp: number): void;
  packA8s(src: number, rs: number, M: number, K: number, dst: number, zp: number, panels: number): void;
  packA8u(src: number, rs: number, M: number, K: number, dst: number, zp: number, panels: number): void;
  dw8s(...args: number[]): void;
  dw8u(...args: number[]): void;
  rq8s(...args: number[]): void;
  rq8u(...args: number[]): void;
  rqRows(...args: number[]): void;
}

let kernels: { eng: WasmEngine; k: IntKernels } | null | undefined;

/** The integer kernels on the shared engine's memory, or undefined without WebAssembly SIMD. */
function intKernels(): { eng: WasmEngine; k: IntKernels } | undefined {
  const eng = wasmEngine();
  if (!eng) return undefined;
  if (kernels !== undefined && (kernels === null || kernels.eng === eng)) return kernels ?? undefined;
  try {
    const bytes = assembleModule([
      { name: "igemm", fn: igemmFn() },
      { name: "packB8s", fn: packB8Fn(true) },
      { name: "packB8u", fn: packB8Fn(false) },
      { name: "packA8s", fn: packA8Fn(true) },
      { name: "packA8u", fn: packA8Fn(false) },
      { name: "dw8s", fn: dwFn(true) },
      { name: "dw8u", fn: dwFn(false) },
      { name: "rq8s", fn: requantFn(true) },
      { name: "rq8u", fn: requantFn(false) },
      { name: "rqRows", fn: requantRowsFn() },
    ]);
    const mod = new WebAssembly.Module(bytes as BufferSource);
    const inst = new WebAssembly.Instance(mod, { env: { mem: eng.arena.memory } });
    kernels = { eng, k: inst.exports as unknown as IntKernels };
  } catch {
    kernels = null;
  }
  return kernels ?? undefined;
}

/** Whether the SIMD integer kernels are available (tests compare both paths). */
export function igemmSimdAvailable(): boolean {
  return intKernels() !== undefined;
}

// ---- packing --------------------------------------------------------------------------------------------

function zpAt(zp: ZeroPoint | undefined, i: number): number {
  return zp === undefined ? 0 : typeof zp === "number" ? zp : zp[i];
}

/** Packs A (JS, any strided integer view; per-row zero points) at dst[at]. */
export function packA16(
  dst: Int16Array,
  at: number,
  a: IntView,
  zp: ZeroPoint | undefined,
  M: number,
  K: number,
): void {
  const { data, off, rs, cs } = a;
  const K2 = (K + 1) >> 1, panels = Math.ceil(M / IMR);
  for (let p = 0; p < panels; p++) {
    for (let r = 0; r < IMR; r++) {
      const m = p * IMR + r;
      let d = at + (p * K2 * IMR + r) * 2;
      if (m >= M) {
        for (let k2 = 0; k2 < K2; k2++, d += 2 * IMR) dst[d] = dst[d + 1] = 0;
        continue;
      }
      const z = zpAt(zp, m);
      let s = off + m * rs;
      for (let k = 0; k < K; k += 2, d += 2 * IMR, s += 2 * cs) {
        dst[d] = data[s] - z;
        dst[d + 1] = k + 1 < K ? data[s + cs] - z : 0;
      }
    }
  }
}

/** Packs B (JS, any strided integer view; per-column zero points) at dst[at], Np columns. */
export function packB16(
  dst: Int16Array,
  at: number,
  b: IntView,
  zp: ZeroPoint | undefined,
  K: number,
  N: number,
  Np: number,
): void {
  const { data, off, rs, cs } = b;
  const K2 = (K + 1) >> 1;
  for (let k2 = 0; k2 < K2; k2++) {
    const k = 2 * k2, two = k + 1 < K;
    const s0 = off + k * rs;
    let d = at + k2 * Np * 2;
    for (let n = 0; n < N; n++, d += 2) {
      const z = zpAt(zp, n), s = s0 + n * cs;
      dst[d] = data[s] - z;
      dst[d + 1] = two ? data[s + rs] - z : 0;
    }
    for (let n = N; n < Np; n++, d += 2) dst[d] = dst[d + 1] = 0;
  }
}

function isBytes(d: IntArray): d is Int8Array | Uint8Array {
  return d instanceof Int8Array || d instanceof Uint8Array;
}

/** Whether every code minus its zero point fits int16 (the packed element type). */
function fitsInt16(o: IntOperand, n: number): boolean {
  const d = o.view.data;
  let lo: number, hi: number;
  if (d instanceof Int8Array) [lo, hi] = [-128, 127];
  else if (d instanceof Uint8Array) [lo, hi] = [0, 255];
  else if (d instanceof Int16Array) [lo, hi] = [-32768, 32767];
  else return false;
  const zp = o.zp;
  const ok = (z: number) => Number.isInteger(z) && lo - z >= -32768 && hi - z <= 32767;
  if (zp === undefined || typeof zp === "number") return ok(zp ?? 0);
  if (zp.length < n) return false;
  for (let i = 0; i < n; i++) if (!ok(zp[i])) return false;
  return true;
}

/** Byte rows the SIMD packers read directly: unit column step and one zero point. */
function byteRows(o: IntOperand): boolean {
  return o.key === undefined && isBytes(o.view.data) && o.view.cs === 1 && typeof (o.zp ?? 0) === "number";
}

/**
 * Copies `rows` rows of `len` bytes (row stride rs) into the engine's scratch; returns [ptr, rs there].
 * A stride up to twice the length is copied as one span.
 */
function stageBytes(eng: WasmEngine, v: IntView, rows: number, len: number): [number, number] {
  const arena = eng.arena;
  const src = v.data as Int8Array | Uint8Array;
  const u8 = new Uint8Array(src.buffer, src.byteOffset, src.length);
  if (v.rs >= len && v.rs <= 2 * len) {
    const span = (rows - 1) * v.rs + len;
    const ptr = arena.scratch(span);
    arena.u8.set(u8.subarray(v.off, v.off + span), ptr);
    return [ptr, v.rs];
  }
  const ptr = arena.scratch(rows * len);
  const dst = arena.u8;
  for (let i = 0; i < rows; i++) {
    dst.set(u8.subarray(v.off + i * v.rs, v.off + i * v.rs + len), ptr + i * len);
  }
  return [ptr, len];
}

function zpKey(zp: ZeroPoint | undefined): string {
  return zp === undefined ? "0" : typeof zp === "number" ? String(zp) : Array.from(zp).join(",");
}

/** Panels of A per kernel call: the block of A one call streams stays within about half of L2. */
const A_BLOCK_BYTES = 256 * 1024;

/** Runs the SIMD GEMM; C stays in the arena ([M x Np] int32 at pC) unless `c` is given. */
function igemmSimd(
  eng: WasmEngine,
  k: IntKernels,
  M: number,
  N: number,
  K: number,
  a: IntOperand,
  b: IntOperand,
  c: IntOut | undefined,
): { pC: number; Np: number } {
  const arena = eng.arena;
  arena.reset();
  const K2 = (K + 1) >> 1, panels = Math.ceil(M / IMR), Np = Math.ceil(N / INR) * INR;
  const aBytes = panels * K2 * IMR * 4, bBytes = K2 * Np * 4;
  const packA = (ptr: number) => {
    if (byteRows(a)) {
      const [src, rs] = stageBytes(eng, a.view, M, K);
      const fn = a.view.data instanceof Int8Array ? k.packA8s : k.packA8u;
      fn(src, rs, M, K, ptr, (a.zp as number | undefined) ?? 0, panels);
    } else packA16(arena.i16, ptr >> 1, a.view, a.zp, M, K);
  };
  const packB = (ptr: number) => {
    if (byteRows(b)) {
      const [src, rs] = stageBytes(eng, b.view, K, N);
      const fn = b.view.data instanceof Int8Array ? k.packB8s : k.packB8u;
      fn(src, rs, K, N, ptr, Np * 4, (b.zp as number | undefined) ?? 0);
    } else packB16(arena.i16, ptr >> 1, b.view, b.zp, K, N, Np);
  };
  const v = (o: IntOperand, side: string) => `${side}:${o.view.off}:${o.view.rs}:${o.view.cs}:${zpKey(o.zp)}`;
  // Only one operand can be persistent in a call (persist() must precede all scratch).
  let pA: number, pB: number;
  if (b.key && !a.key) {
    pB = packedBytes(eng, b.key, `${v(b, "B")}:${K}:${N}`, bBytes, packB);
    pA = packedBytes(eng, undefined, "", aBytes, packA);
  } else {
    pA = packedBytes(eng, a.key, `${v(a, "A")}:${M}:${K}`, aBytes, packA);
    pB = packedBytes(eng, undefined, "", bBytes, packB);
  }
  const pC = arena.scratch(panels * IMR * Np * 4);
  const ldc = Np * 4;
  const block = Math.max(1, Math.floor(A_BLOCK_BYTES / Math.max(1, K2 * IMR * 4)));
  for (let p0 = 0; p0 < panels; p0 += block) {
    const n = Math.min(block, panels - p0);
    k.igemm(pA + p0 * K2 * IMR * 4, pB, Np * 4, pC + p0 * IMR * ldc, ldc, n, Np, K2, 0);
  }
  if (c) {
    const i32 = arena.i32, at = pC >> 2, out = c.data;
    if (c.rs === Np) out.set(i32.subarray(at, at + (M - 1) * Np + N), c.off);
    else for (let i = 0; i < M; i++) out.set(i32.subarray(at + i * Np, at + i * Np + N), c.off + i * c.rs);
  }
  return { pC, Np };
}

/** Per-row requantization of an integer GEMM into 8-bit codes (see requantizePlanes8). */
export interface RowRequant {
  readonly mults: Float64Array;
  /** int32 biases, added to the accumulators with int32 wrapping. */
  readonly biases: Int32Array;
  readonly zp: number;
  readonly qmin: number;
  readonly qmax: number;
}

/**
 * y[yOff + i·N + j] = saturate(rint(fround((C[i][j] + bias[i])·mult[i])) + zp) with C = (A - za)·(B - zb)
 * in int32, without the accumulators leaving the engine's memory. False (nothing written) when the
 * engine cannot take the operands or a multiplier is not finite; callers then run igemm and their own loop.
 */
export function igemmRequant8(
  M: number,
  N: number,
  K: number,
  a: IntOperand,
  b: IntOperand,
  rq: RowRequant,
  y: Int8Array | Uint8Array,
  yOff: number,
): boolean {
  if (M === 0 || N === 0 || K === 0) return false;
  for (let m = 0; m < M; m++) {
    if (!Number.isFinite(rq.mults[m])) return false;
  }
  const ik = fitsInt16(a, M) && fitsInt16(b, N) ? intKernels() : undefined;
  if (!ik) return false;
  try {
    const { pC, Np } = igemmSimd(ik.eng, ik.k, M, N, K, a, b, undefined);
    const arena = ik.eng.arena;
    const pOut = arena.scratch(M * N);
    const fn = y instanceof Int8Array ? ik.k.rq8s : ik.k.rq8u;
    const { mults, biases, zp, qmin, qmax } = rq;
    // Row by row in order: each row's overrun (up to 7 bytes) is rewritten by the next row.
    for (let m = 0; m < M; m++) {
      fn(pC + m * Np * 4, pOut + m * N, N, mults[m], biases[m], zp, qmin - zp, qmax - zp);
    }
    new Uint8Array(y.buffer, y.byteOffset, y.length).set(arena.u8.subarray(pOut, pOut + M * N), yOff);
    return true;
  } catch (e) {
    if (!(e instanceof ArenaFull)) throw e;
    return false;
  }
}

/**
 * Portable exact int32 GEMM: each output row accumulates in doubles (exact: |products| < 2^31 and fewer
 * than 2^22 of them), then `| 0` wraps it to int32 as the hardware accumulator would.
 */
export function igemmJS(M: number, N: number, K: number, a: IntOperand, b: IntOperand, c: IntOut): void {
  const row = new Float64Array(N);
  const bz = new Float64Array(N);
  for (let n = 0; n < N; n++) bz[n] = zpAt(b.zp, n);
  const A = a.view.data, B = b.view.data, C = c.data;
  const { off: ao, rs: ars, cs: acs } = a.view, { off: bo, rs: brs, cs: bcs } = b.view;
  for (let i = 0; i < M; i++) {
    row.fill(0);
    const za = zpAt(a.zp, i);
    for (let k = 0; k < K; k++) {
      const av = A[ao + i * ars + k * acs] - za;
      if (av === 0) continue;
      let s = bo + k * brs;
      for (let n = 0; n < N; n++, s += bcs) row[n] += av * (B[s] - bz[n]);
    }
    const d = c.off + i * c.rs;
    for (let n = 0; n < N; n++) C[d + n] = row[n] | 0;
  }
}

/**
 * C = (A - za)·(B - zb) exactly, int32 wrapping. A is M x K, B is K x N, C gets M rows of N. A keyed
 * operand (a weight) is packed once and kept.
 */
export function igemm(M: number, N: number, K: number, a: IntOperand, b: IntOperand, c: IntOut): void {
  if (M === 0 || N === 0) return;
  if (K === 0) {
    for (let i = 0; i < M; i++) c.data.fill(0, c.off + i * c.rs, c.off + i * c.rs + N);
    return;
  }
  const ik = fitsInt16(a, M) && fitsInt16(b, N) ? intKernels() : undefined;
  if (!ik) {
    igemmJS(M, N, K, a, b, c);
    return;
  }
  try {
    igemmSimd(ik.eng, ik.k, M, N, K, a, b, c);
  } catch (e) {
    if (!(e instanceof ArenaFull)) throw e;
    igemmJS(M, N, K, a, b, c);
  }
}

// ---- depthwise ------------------------------------------------------------------------------------------

/** A depthwise convolution over NHWC 8-bit codes (one image, depth multiplier 1). */
export interface DepthwiseNhwc {
  readonly x: Int8Array | Uint8Array;
  /** Offset of the image in x. */
  readonly xOff: number;
  readonly xZp: number;
  readonly H: number;
  readonly W: number;
  readonly C: number;
  /** Filter taps minus their zero point, [KH][KW][C] (a view is fine). */
  readonly w: ArrayLike<number>;
  readonly wKey?: PackKey;
  readonly KH: number;
  readonly KW: number;
  readonly OH: number;
  readonly OW: number;
  readonly sh: number;
  readonly sw: number;
  readonly dh: number;
  readonly dw: number;
  readonly pt: number;
  readonly pl: number;
}

/**
 * acc[(oy·OW + ox)·C + c] = Σ (x - xZp)·w over the window (padding contributes zero), int32 wrapping.
 * Returns false when the SIMD engine is unavailable or the working set does not fit (callers then use
 * their own loops).
 */
export function depthwiseNhwc(d: DepthwiseNhwc, acc: Int32Array): boolean {
  const ik = intKernels();
  if (!ik || d.C === 0 || d.OH === 0 || d.OW === 0) return false;
  const n = d.KH * d.KW * d.C;
  if (d.w.length < n) return false;
  for (let t = 0; t < n; t++) {
    const v = d.w[t];
    if (!(v >= -32768 && v <= 32767 && v === Math.trunc(v))) return false;
  }
  const z = d.xZp;
  if (!(d.x instanceof Int8Array ? z >= -128 && z <= 127 : z >= 0 && z <= 255)) return false;
  try {
    depthwiseSimd(ik.eng, ik.k, d, acc);
    return true;
  } catch (e) {
    if (!(e instanceof ArenaFull)) throw e;
    return false;
  }
}

function depthwiseSimd(eng: WasmEngine, k: IntKernels, d: DepthwiseNhwc, acc: Int32Array): void {
  const { H, W, C, KH, KW, OH, OW, sh, sw, dh, dw, pt, pl } = d;
  const arena = eng.arena;
  arena.reset();
  const Cp = Math.ceil(C / 8) * 8, taps = KH * KW;
  const pW = packedBytes(eng, d.wKey, `dw:${KH}:${KW}:${C}`, taps * Cp * 2, (ptr) => {
    const w16 = arena.i16, at = ptr >> 1;
    for (let t = 0; t < taps; t++) {
      for (let c = 0; c < C; c++) w16[at + t * Cp + c] = d.w[t * C + c];
      for (let c = C; c < Cp; c++) w16[at + t * Cp + c] = 0;
    }
  });
  // The padded image covers every tap of every output (rows and columns past the image hold the zero point).
  const Hp = Math.max(pt + H, (OH - 1) * sh + (KH - 1) * dh + 1);
  const Wp = Math.max(pl + W, (OW - 1) * sw + (KW - 1) * dw + 1);
  const pX = arena.scratch(Hp * Wp * C + 16);
  const u8 = arena.u8;
  const src = new Uint8Array(d.x.buffer, d.x.byteOffset, d.x.length);
  const zpByte = d.xZp & 0xff;
  const rowBytes = Wp * C;
  if (pt === 0 && pl === 0 && Wp === W && Hp === H) u8.set(src.subarray(d.xOff, d.xOff + H * W * C), pX);
  else {
    u8.fill(zpByte, pX, pX + Hp * rowBytes);
    for (let y = 0; y < H; y++) {
      const s = d.xOff + y * W * C;
      u8.set(src.subarray(s, s + W * C), pX + (y + pt) * rowBytes + pl * C);
    }
  }
  const pO = arena.scratch(OH * OW * Cp * 4);
  const fn = d.x instanceof Int8Array ? k.dw8s : k.dw8u;
  fn(pX, Wp, C, Cp, pW, pO, OH, OW, KH, KW, sh, sw, dh, dw, d.xZp);
  const i32 = arena.i32, at = pO >> 2;
  if (Cp === C) acc.set(i32.subarray(at, at + OH * OW * C));
  else {
    for (let p = 0; p < OH * OW; p++) acc.set(i32.subarray(at + p * Cp, at + p * Cp + C), p * C);
  }
}

// ---- requantization ------------------------------------------------------------------------------------

/**
 * y[i] = saturate(rint(fround((acc[i] + bias[m])·mult[m])) + zp) for planes of outCount accumulators,
 * channel m = plane mod M, 8-bit codes (onnxruntime's QLinearConv / QLinearMatMul output arithmetic).
 * False when the engine is unavailable or a multiplier is not finite (callers then use their JS loop,
 * whose NaN handling this kernel does not reproduce).
 */
export function requantizePlanes8(
  acc: Int32Array,
  M: number,
  outCount: number,
  mults: Float64Array,
  biases: Int32Array,
  zp: number,
  qmin: number,
  qmax: number,
  y: Int8Array | Uint8Array,
): boolean {
  const ik = intKernels();
  if (!ik || outCount === 0) return false;
  for (let m = 0; m < M; m++) if (!Number.isFinite(mults[m])) return false;
  const { eng, k } = ik;
  try {
    const arena = eng.arena;
    arena.reset();
    const pAcc = arena.scratch(acc.length * 4), pOut = arena.scratch(acc.length);
    arena.i32.set(acc, pAcc >> 2);
    const fn = y instanceof Int8Array ? k.rq8s : k.rq8u;
    const planes = acc.length / outCount;
    for (let p = 0; p < planes; p++) {
      const m = p % M;
      fn(
        pAcc + p * outCount * 4,
        pOut + p * outCount,
        outCount,
        mults[m],
        biases[m],
        zp,
        qmin - zp,
        qmax - zp,
      );
    }
    const out = new Uint8Array(y.buffer, y.byteOffset, y.length);
    out.set(arena.u8.subarray(pOut, pOut + acc.length));
    return true;
  } catch (e) {
    if (!(e instanceof ArenaFull)) throw e;
    return false;
  }
}

/** TFLite per-channel requantization parameters (default double-rounding arithmetic). */
export interface ChannelRequant {
  readonly multiplier: Int32Array;
  readonly shift: Int32Array;
  /** Per-channel int32 bias values, or undefined. */
  readonly bias?: ArrayLike<number>;
  readonly zp: number;
  readonly lo: number;
  readonly hi: number;
}

function stageRequant(eng: WasmEngine, O: number, rq: ChannelRequant): [number, number, number] | undefined {
  if (rq.multiplier.length < O || rq.shift.length < O) return undefined;
  for (let o = 0; o < O; o++) {
    const b = rq.bias ? rq.bias[o] : 0;
    if (!(b >= -2147483648 && b <= 2147483647 && b === Math.trunc(b))) return undefined;
    if (rq.multiplier[o] < 0 || rq.shift[o] > 31 || rq.shift[o] < -31) return undefined;
  }
  const arena = eng.arena;
  const pMult = arena.scratch(O * 4), pShift = arena.scratch(O * 4), pBias = arena.scratch(O * 4);
  const i32 = arena.i32;
  i32.set(rq.multiplier.subarray(0, O), pMult >> 2);
  i32.set(rq.shift.subarray(0, O), pShift >> 2);
  for (let o = 0; o < O; o++) i32[(pBias >> 2) + o] = rq.bias ? rq.bias[o] : 0;
  return [pMult, pShift, pBias];
}

/**
 * TFLite-style y[yOff + i·N + j] = requant_j(C[i][j] + bias[j]) with C = (A - za)·(B - zb) in int32 and
 * per-column (output channel) multipliers: the GEMM and the requantization run back to back in the engine's
 * memory. False (nothing written) when the engine cannot take it; callers then use igemm and their loop.
 */
export function igemmRequantChannels8(
  M: number,
  N: number,
  K: number,
  a: IntOperand,
  b: IntOperand,
  rq: ChannelRequant,
  y: Int8Array | Uint8Array,
  yOff: number,
): boolean {
  if (M === 0 || N === 0 || K === 0) return false;
  const ik = fitsInt16(a, M) && fitsInt16(b, N) ? intKernels() : undefined;
  if (!ik) return false;
  try {
    const { pC, Np } = igemmSimd(ik.eng, ik.k, M, N, K, a, b, undefined);
    const staged = stageRequant(ik.eng, N, rq);
    if (!staged) return false;
    const arena = ik.eng.arena;
    const pOut = arena.scratch(M * N);
    ik.k.rqRows(pC, Np * 4, M, N, staged[0], staged[1], staged[2], rq.zp, rq.lo, rq.hi, pOut);
    new Uint8Array(y.buffer, y.byteOffset, y.length).set(arena.u8.subarray(pOut, pOut + M * N), yOff);
    return true;
  } catch (e) {
    if (!(e instanceof ArenaFull)) throw e;
    return false;
  }
}

/** The requantization of igemmRequantChannels8 over accumulator rows [rows][O] already computed. */
export function requantChannels8(
  acc: Int32Array,
  rows: number,
  O: number,
  rq: ChannelRequant,
  y: Int8Array | Uint8Array,
  yOff: number,
): boolean {
  const ik = intKernels();
  if (!ik || rows * O === 0) return false;
  try {
    const arena = ik.eng.arena;
    arena.reset();
    const staged = stageRequant(ik.eng, O, rq);
    if (!staged) return false;
    const pC = arena.scratch(rows * O * 4), pOut = arena.scratch(rows * O);
    arena.i32.set(acc.subarray(0, rows * O), pC >> 2);
    ik.k.rqRows(pC, O * 4, rows, O, staged[0], staged[1], staged[2], rq.zp, rq.lo, rq.hi, pOut);
    new Uint8Array(y.buffer, y.byteOffset, y.length).set(arena.u8.subarray(pOut, pOut + rows * O), yOff);
    return true;
  } catch (e) {
    if (!(e instanceof ArenaFull)) throw e;
    return false;
  }
}
