/**
 * WebAssembly SIMD (f32x4) kernels for the float32 hot paths: a register-tiled GEMM micro-kernel driver,
 * depthwise 3x3 convolution, and the padding / row compaction copies around them. The module is generated
 * with wasm-asm.ts when first needed; it uses relaxed_madd (one fused multiply-add) where the engine
 * validates it and mul+add otherwise. All kernels work on one linear memory managed by WasmArena.
 */
import { assembleModule, type Expr, FuncBuilder, I32, SIMD } from "./wasm-asm.ts";

/** Rows per micro-tile (and per packed A panel). */
export const MR = 6;
/** Columns per micro-tile: NV vectors of four. */
export const NR = 8;
const NV = NR / 4;

function madd(f: FuncBuilder, a: Expr, b: Expr, c: Expr, relaxed: boolean): void {
  if (relaxed) f.expr(a).expr(b).expr(c).simd(SIMD.f32x4RelaxedMadd);
  else f.expr(a).expr(b).simd(SIMD.f32x4Mul).expr(c).simd(SIMD.f32x4Add);
}

/**
 * pmax/pmin clamp: a NaN accumulator stays NaN (the comparison is false), and ±Infinity bounds are no-ops.
 */
function clamp(f: FuncBuilder, v: Expr, lo: number, hi: number): void {
  f.expr(v).get(lo).simd(SIMD.f32x4Pmax).get(hi).simd(SIMD.f32x4Pmin);
}

/**
 * C[MRpad x N] = A·B + bias (per row), clamped to [lo, hi]. A is packed in MR-row panels, k-major
 * (panel p holds A[p*MR + r][k] at (p*K + k)*MR + r). B row k starts at pB + k*bArg bytes (strided) or at
 * pB + offs[k] bytes with offs an i32 table at bArg (indirect: convolution taps over a padded image).
 * Columns are contiguous within a row. The N % NR tail uses an MR x 1 kernel across rows.
 */
function gemmFn(indirect: boolean, relaxed: boolean): FuncBuilder {
  const f = new FuncBuilder(["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "f32", "f32"]);
  const [pA, pB, bArg, pC, ldc, mPanels, N, K, pBias, lo, hi] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const loV = f.local("v128"), hiV = f.local("v128");
  const j = f.local("i32"), p = f.local("i32"), k = f.local("i32");
  const pa = f.local("i32"), pb = f.local("i32"), pc = f.local("i32"), po = f.local("i32");
  const pbj = f.local("i32"), nMain = f.local("i32"), panelBytes = f.local("i32"), bias = f.local("i32");
  const acc: number[][] = [];
  for (let r = 0; r < MR; r++) acc.push(Array.from({ length: NV }, () => f.local("v128")));
  const bv = Array.from({ length: NV }, () => f.local("v128"));
  const av = f.local("v128");
  const TV = Math.ceil(MR / 4);
  const tail = Array.from({ length: TV }, () => f.local("v128"));
  const bs = f.local("v128");

  f.set(loV, (g) => g.splat(lo)).set(hiV, (g) => g.splat(hi));
  f.set(nMain, (g) => g.get(N).i32(~(NR - 1)).emit(I32.i32And));
  f.set(panelBytes, (g) => g.mul(K, (g) => g.i32(MR * 4)));
  const kEnd4 = f.local("i32");
  f.set(kEnd4, (g) => g.and(K, (g) => g.i32(~3)));

  const rowB = (g: FuncBuilder) => {
    // pb = address of B[k][j] for the current k.
    if (indirect) g.set(pb, (g) => g.add(pbj, (g) => g.loadI32(po)));
  };
  const advanceB = (g: FuncBuilder) => {
    if (indirect) g.inc(po, (g) => g.i32(4));
    else g.inc(pb, bArg);
  };
  const startPanel = (g: FuncBuilder) => {
    g.set(pa, (g) => g.add(pA, (g) => g.mul(p, panelBytes)));
    g.set(pc, (g) => g.add((g) => g.add(pC, (g) => g.mul((g) => g.mul(p, (g) => g.i32(MR)), ldc)), (g) => g.shl(j, 2)));
    g.set(bias, (g) => g.add(pBias, (g) => g.mul(p, (g) => g.i32(MR * 4))));
    g.set(pbj, (g) => g.add(pB, (g) => g.shl(j, 2)));
    if (indirect) g.set(po, bArg);
    else g.set(pb, pbj);
  };

  // Main tiles: MR x NR.
  f.forLoop(j, (g) => g.i32(0), nMain, (g) => g.i32(NR), () => {
    f.forLoop(p, (g) => g.i32(0), mPanels, (g) => g.i32(1), () => {
      startPanel(f);
      for (let r = 0; r < MR; r++) {
        f.splatLoad(bias, r * 4).set(acc[r][0]);
        for (let v = 1; v < NV; v++) f.set(acc[r][v], acc[r][0]);
      }
      // One step of k; A's offset within the unrolled group is a constant of the load.
      const step = (paOff: number) => {
        rowB(f);
        for (let v = 0; v < NV; v++) f.loadV(pb, v * 16).set(bv[v]);
        for (let r = 0; r < MR; r++) {
          f.splatLoad(pa, paOff + r * 4).set(av);
          for (let v = 0; v < NV; v++) {
            madd(f, av, bv[v], acc[r][v], relaxed);
            f.set(acc[r][v]);
          }
        }
        advanceB(f);
      };
      f.forLoop(k, (g) => g.i32(0), kEnd4, (g) => g.i32(4), () => {
        for (let u = 0; u < 4; u++) step(u * MR * 4);
        f.inc(pa, (g) => g.i32(4 * MR * 4));
      });
      f.forLoop(k, kEnd4, K, (g) => g.i32(1), () => {
        step(0);
        f.inc(pa, (g) => g.i32(MR * 4));
      });
      for (let r = 0; r < MR; r++) {
        for (let v = 0; v < NV; v++) f.storeV(pc, (g) => clamp(g, acc[r][v], loV, hiV), v * 16);
        f.inc(pc, ldc);
      }
    });
  });

  // Tail columns, one at a time: the vector runs down the MR rows of the panel. Four accumulators over
  // consecutive k keep the FMA latency off the critical path (this is the matrix-vector kernel).
  const more = [1, 2, 3].map(() => Array.from({ length: TV }, () => f.local("v128")));
  const tailStep = (accs: number[], paOff: number) => {
    rowB(f);
    f.splatLoad(pb).set(bs);
    for (let t = 0; t < TV; t++) {
      // The last vector of a panel whose MR is not a multiple of four overreads into the next k;
      // those lanes are never stored.
      madd(f, (g) => g.loadV(pa, paOff + t * 16), bs, accs[t], relaxed);
      f.set(accs[t]);
    }
    advanceB(f);
  };
  f.forLoop(j, nMain, N, (g) => g.i32(1), () => {
    f.forLoop(p, (g) => g.i32(0), mPanels, (g) => g.i32(1), () => {
      startPanel(f);
      for (let t = 0; t < TV; t++) {
        f.loadV(bias, t * 16).set(tail[t]);
        for (const m of more) f.set(m[t], (g) => g.splat((g) => g.f32(0)));
      }
      f.forLoop(k, (g) => g.i32(0), kEnd4, (g) => g.i32(4), () => {
        tailStep(tail, 0);
        more.forEach((m, u) => tailStep(m, (u + 1) * MR * 4));
        f.inc(pa, (g) => g.i32(4 * MR * 4));
      });
      f.forLoop(k, kEnd4, K, (g) => g.i32(1), () => {
        tailStep(tail, 0);
        f.inc(pa, (g) => g.i32(MR * 4));
      });
      for (let t = 0; t < TV; t++) {
        for (const m of more) f.expr(tail[t]).expr(m[t]).simd(SIMD.f32x4Add).set(tail[t]);
        f.set(tail[t], (g) => clamp(g, tail[t], loV, hiV));
      }
      for (let r = 0; r < MR; r++) {
        f.storeLane(pc, tail[r >> 2], r & 3);
        f.inc(pc, ldc);
      }
    });
  });
  return f;
}

/**
 * Splits C planes of H x W into stride phases: plane (c, ph, pw) of Hq x Wq holds padded-image pixel
 * (i*sh + ph, j*sw + pw), zero outside the image. Convolution taps then read each phase with unit stride.
 */
function phaseSplitFn(): FuncBuilder {
  const f = new FuncBuilder(["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"]);
  const [src, dst, C, H, W, sh, sw, Hq, Wq, pt, pl] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const c = f.local("i32"), ph = f.local("i32"), pw = f.local("i32"), i = f.local("i32"), j = f.local("i32");
  const r = f.local("i32"), q = f.local("i32"), plane = f.local("i32"), row = f.local("i32");
  f.forLoop(c, (g) => g.i32(0), C, (g) => g.i32(1), () => {
    f.set(plane, (g) => g.add(src, (g) => g.shl((g) => g.mul((g) => g.mul(c, H), W), 2)));
    f.forLoop(ph, (g) => g.i32(0), sh, (g) => g.i32(1), () => {
      f.forLoop(pw, (g) => g.i32(0), sw, (g) => g.i32(1), () => {
        f.forLoop(i, (g) => g.i32(0), Hq, (g) => g.i32(1), () => {
          f.set(r, (g) => g.sub((g) => g.add((g) => g.mul(i, sh), ph), pt));
          // Rows outside the image are zero; inside, each column checks its own range.
          f.ifElse(
            (g) => g.expr(r).i32(0).emit(I32.i32GeS).expr(r).expr(H).emit(I32.i32LtS).emit(I32.i32And),
            () => {
              f.set(row, (g) => g.add(plane, (g) => g.shl((g) => g.mul(r, W), 2)));
              f.forLoop(j, (g) => g.i32(0), Wq, (g) => g.i32(1), () => {
                f.set(q, (g) => g.sub((g) => g.add((g) => g.mul(j, sw), pw), pl));
                f.ifElse(
                  (g) => g.expr(q).i32(0).emit(I32.i32GeS).expr(q).expr(W).emit(I32.i32LtS).emit(I32.i32And),
                  () => f.storeF32(dst, (g) => g.loadF32((g) => g.add(row, (g) => g.shl(q, 2)))),
                  () => f.storeF32(dst, (g) => g.f32(0)),
                );
                f.inc(dst, (g) => g.i32(4));
              });
            },
            () => {
              f.memFill(dst, (g) => g.i32(0), (g) => g.shl(Wq, 2));
              f.inc(dst, (g) => g.shl(Wq, 2));
            },
          );
        });
      });
    });
  });
  return f;
}

/** Copies C planes of H x W into planes of Hp x Wp at (top, left) filled with `value` elsewhere. */
function padFn(): FuncBuilder {
  const f = new FuncBuilder(["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "f32"]);
  const [src, dst, C, H, W, Hp, Wp, top, left, value] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const c = f.local("i32"), h = f.local("i32"), d = f.local("i32"), row = f.local("i32"), plane = f.local("i32");
  const end = f.local("i32"), fillV = f.local("v128");
  f.set(plane, (g) => g.shl((g) => g.mul(Hp, Wp), 2));
  // Fill in whole vectors: the destination has slack after it.
  f.set(fillV, (g) => g.splat(value));
  f.set(end, (g) => g.add(dst, (g) => g.mul(C, plane)));
  f.forLoop(d, dst, end, (g) => g.i32(16), () => f.storeV(d, fillV));
  f.set(row, (g) => g.shl(W, 2));
  f.forLoop(c, (g) => g.i32(0), C, (g) => g.i32(1), () => {
    f.set(d, (g) => g.add((g) => g.add(dst, (g) => g.mul(c, plane)), (g) => g.shl((g) => g.add((g) => g.mul(top, Wp), left), 2)));
    f.forLoop(h, (g) => g.i32(0), H, (g) => g.i32(1), () => {
      f.memCopy(d, src, row);
      f.inc(src, row);
      f.inc(d, (g) => g.shl(Wp, 2));
    });
  });
  return f;
}

/**
 * 2-D max pooling over padded planes (Hp x Wp per channel, padding already -Infinity): any kernel, any
 * vertical stride and dilation, horizontal stride 1 or 2 (four outputs per vector; the last vector of a
 * row spills into the next row like the depthwise kernel).
 */
function maxPoolFn(stride: 1 | 2): FuncBuilder {
  const f = new FuncBuilder(["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"]);
  const [pIn, pOut, C, Hp, Wp, OH, OW, KH, KW, sh, dh, dw] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const c = f.local("i32"), oh = f.local("i32"), ow = f.local("i32"), kh = f.local("i32"), kw = f.local("i32");
  const rowB = f.local("i32"), xr = f.local("i32"), x = f.local("i32"), xk = f.local("i32"), po = f.local("i32");
  const plane = f.local("i32"), dhB = f.local("i32"), dwB = f.local("i32");
  const acc = f.local("v128"), v0 = f.local("v128"), v1 = f.local("v128");
  f.set(rowB, (g) => g.shl(Wp, 2));
  f.set(dhB, (g) => g.mul(dh, rowB)).set(dwB, (g) => g.shl(dw, 2));
  f.set(po, pOut);
  f.forLoop(c, (g) => g.i32(0), C, (g) => g.i32(1), () => {
    f.set(plane, (g) => g.add(pIn, (g) => g.mul((g) => g.mul(c, Hp), rowB)));
    f.forLoop(oh, (g) => g.i32(0), OH, (g) => g.i32(1), () => {
      f.set(xr, (g) => g.add(plane, (g) => g.mul((g) => g.mul(oh, sh), rowB)));
      f.forLoop(ow, (g) => g.i32(0), OW, (g) => g.i32(4), () => {
        f.set(x, (g) => g.add(xr, (g) => g.shl(ow, stride === 1 ? 2 : 3)));
        f.set(acc, (g) => g.splat((g) => g.f32(-Infinity)));
        f.forLoop(kh, (g) => g.i32(0), KH, (g) => g.i32(1), () => {
          f.set(xk, x);
          f.forLoop(kw, (g) => g.i32(0), KW, (g) => g.i32(1), () => {
            if (stride === 1) f.expr(acc).loadV(xk).simd(SIMD.f32x4Max).set(acc);
            else {
              f.loadV(xk).set(v0).loadV(xk, 16).set(v1);
              f.expr(acc).shuffle32(v0, v1, [0, 2, 4, 6]).simd(SIMD.f32x4Max).set(acc);
            }
            f.inc(xk, dwB);
          });
          f.inc(x, dhB);
        });
        f.storeV(po, acc);
        f.inc(po, (g) => g.i32(16));
      });
      f.set(po, (g) => g.sub(po, (g) => g.shl((g) => g.sub((g) => g.and((g) => g.add(OW, (g) => g.i32(3)), (g) => g.i32(~3)), OW), 2)));
    });
  });
  return f;
}

/** Moves `rows` rows of `len` bytes from a stride of srcStride to dstStride (memmove per row). */
function compactFn(): FuncBuilder {
  const f = new FuncBuilder(["i32", "i32", "i32", "i32", "i32", "i32"]);
  const [src, dst, rows, srcStride, dstStride, len] = [0, 1, 2, 3, 4, 5];
  const r = f.local("i32");
  f.forLoop(r, (g) => g.i32(0), rows, (g) => g.i32(1), () => {
    f.memCopy(dst, src, len);
    f.inc(src, srcStride);
    f.inc(dst, dstStride);
  });
  return f;
}

/**
 * Depthwise 3x3 over padded planes (Hp x Wp per channel), stride 1 or 2, output C x OH x OW with four
 * outputs per vector. The last vector of a row may spill into the next row, which is written afterwards;
 * the caller leaves slack after the last plane.
 */
function dw3x3Fn(stride: 1 | 2, relaxed: boolean): FuncBuilder {
  const f = new FuncBuilder(["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "f32", "f32"]);
  const [pIn, pW, pBias, pOut, C, Hp, Wp, OH, OW, lo, hi] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const loV = f.local("v128"), hiV = f.local("v128");
  const w = Array.from({ length: 9 }, () => f.local("v128"));
  const biasV = f.local("v128"), acc = f.local("v128");
  const v0 = f.local("v128"), v1 = f.local("v128"), u0 = f.local("v128"), u1 = f.local("v128");
  const c = f.local("i32"), oh = f.local("i32"), ow = f.local("i32");
  const plane = f.local("i32"), rowB = f.local("i32"), xr = f.local("i32"), po = f.local("i32");
  const x0 = f.local("i32"), x1 = f.local("i32"), x2 = f.local("i32");
  f.set(loV, (g) => g.splat(lo)).set(hiV, (g) => g.splat(hi));
  f.set(rowB, (g) => g.shl(Wp, 2));
  f.set(po, pOut);
  f.forLoop(c, (g) => g.i32(0), C, (g) => g.i32(1), () => {
    for (let i = 0; i < 9; i++) f.splatLoad(pW, i * 4).set(w[i]);
    f.splatLoad(pBias).set(biasV);
    f.inc(pW, (g) => g.i32(36)).inc(pBias, (g) => g.i32(4));
    f.set(plane, (g) => g.add(pIn, (g) => g.mul((g) => g.mul(c, Hp), rowB)));
    f.forLoop(oh, (g) => g.i32(0), OH, (g) => g.i32(1), () => {
      f.set(xr, (g) => g.add(plane, (g) => g.mul((g) => g.mul(oh, (g) => g.i32(stride)), rowB)));
      f.forLoop(ow, (g) => g.i32(0), OW, (g) => g.i32(4), () => {
        f.set(x0, (g) => g.add(xr, (g) => g.shl(ow, stride === 1 ? 2 : 3)));
        f.set(x1, (g) => g.add(x0, rowB)).set(x2, (g) => g.add(x1, rowB));
        f.set(acc, biasV);
        [x0, x1, x2].forEach((x, kh) => {
          if (stride === 1) {
            for (let kw = 0; kw < 3; kw++) {
              madd(f, w[kh * 3 + kw], (g) => g.loadV(x, kw * 4), acc, relaxed);
              f.set(acc);
            }
          } else {
            f.loadV(x, 0).set(v0).loadV(x, 16).set(v1).loadV(x, 8).set(u0).loadV(x, 24).set(u1);
            madd(f, w[kh * 3], (g) => g.shuffle32(v0, v1, [0, 2, 4, 6]), acc, relaxed);
            f.set(acc);
            madd(f, w[kh * 3 + 1], (g) => g.shuffle32(v0, v1, [1, 3, 5, 7]), acc, relaxed);
            f.set(acc);
            madd(f, w[kh * 3 + 2], (g) => g.shuffle32(u0, u1, [0, 2, 4, 6]), acc, relaxed);
            f.set(acc);
          }
        });
        f.storeV(po, (g) => clamp(g, acc, loV, hiV));
        f.inc(po, (g) => g.i32(16));
      });
      // Rewind the spill of the last vector: the next row starts right after OW outputs.
      f.set(po, (g) => g.sub(po, (g) => g.shl((g) => g.sub((g) => g.and((g) => g.add(OW, (g) => g.i32(3)), (g) => g.i32(~3)), OW), 2)));
    });
  });
  return f;
}

export interface WasmKernels {
  readonly relaxed: boolean;
  gemmStrided(pA: number, pB: number, ldbBytes: number, pC: number, ldcBytes: number, mPanels: number, N: number, K: number, pBias: number, lo: number, hi: number): void;
  gemmIndirect(pA: number, pB: number, pOffs: number, pC: number, ldcBytes: number, mPanels: number, N: number, K: number, pBias: number, lo: number, hi: number): void;
  pad(src: number, dst: number, C: number, H: number, W: number, Hp: number, Wp: number, top: number, left: number, value: number): void;
  maxPool1(pIn: number, pOut: number, C: number, Hp: number, Wp: number, OH: number, OW: number, KH: number, KW: number, sh: number, dh: number, dw: number): void;
  maxPool2(pIn: number, pOut: number, C: number, Hp: number, Wp: number, OH: number, OW: number, KH: number, KW: number, sh: number, dh: number, dw: number): void;
  compact(src: number, dst: number, rows: number, srcStride: number, dstStride: number, len: number): void;
  phaseSplit(src: number, dst: number, C: number, H: number, W: number, sh: number, sw: number, Hq: number, Wq: number, pt: number, pl: number): void;
  dw3x3s1(pIn: number, pW: number, pBias: number, pOut: number, C: number, Hp: number, Wp: number, OH: number, OW: number, lo: number, hi: number): void;
  dw3x3s2(pIn: number, pW: number, pBias: number, pOut: number, C: number, Hp: number, Wp: number, OH: number, OW: number, lo: number, hi: number): void;
}

function build(relaxed: boolean, memory: WebAssembly.Memory): WasmKernels {
  const bytes = assembleModule([
    { name: "gemmStrided", fn: gemmFn(false, relaxed) },
    { name: "gemmIndirect", fn: gemmFn(true, relaxed) },
    { name: "pad", fn: padFn() },
    { name: "compact", fn: compactFn() },
    { name: "phaseSplit", fn: phaseSplitFn() },
    { name: "maxPool1", fn: maxPoolFn(1) },
    { name: "maxPool2", fn: maxPoolFn(2) },
    { name: "dw3x3s1", fn: dw3x3Fn(1, relaxed) },
    { name: "dw3x3s2", fn: dw3x3Fn(2, relaxed) },
  ]);
  const mod = new WebAssembly.Module(bytes as BufferSource);
  const inst = new WebAssembly.Instance(mod, { env: { mem: memory } });
  return { relaxed, ...(inst.exports as unknown as Omit<WasmKernels, "relaxed">) };
}

/** Tests and benches can force the portable path with LATHE_NO_WASM=1. */
function disabledByEnv(): boolean {
  try {
    return Deno.env.get("LATHE_NO_WASM") === "1";
  } catch {
    return false;
  }
}

const SLACK = 4096;
const ALIGN = 64;
/** Past this many bytes of packed weights the cache starts over rather than growing without bound. */
const PERSIST_LIMIT = 1 << 30;

/**
 * The kernels' linear memory: a persistent region (packed weights, kept across calls) followed by a
 * scratch region that every kernel call starts over. Views are refreshed when the memory grows.
 */
export class WasmArena {
  readonly memory = new WebAssembly.Memory({ initial: 256 });
  private persistTop = ALIGN;
  private scratchTop = ALIGN;
  /** Bumped when the persistent region is dropped; cached offsets from older generations are stale. */
  generation = 0;
  private f32View = new Float32Array(this.memory.buffer);
  private i32View = new Int32Array(this.memory.buffer);

  get f32(): Float32Array {
    if (this.f32View.buffer !== this.memory.buffer) this.refresh();
    return this.f32View;
  }
  get i32(): Int32Array {
    if (this.i32View.buffer !== this.memory.buffer) this.refresh();
    return this.i32View;
  }
  private refresh(): void {
    this.f32View = new Float32Array(this.memory.buffer);
    this.i32View = new Int32Array(this.memory.buffer);
  }

  /** Starts a kernel call: all scratch space is free again. */
  reset(): void {
    this.scratchTop = this.persistTop;
  }

  private ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / 65536);
    try {
      this.memory.grow(pages);
    } catch {
      throw new RangeError(`cannot grow kernel memory to ${end} bytes`);
    }
  }

  /** Scratch bytes (aligned, with slack after them for vector overreads); returns a byte offset. */
  scratch(bytes: number): number {
    const at = this.scratchTop;
    const end = at + Math.ceil((bytes + SLACK) / ALIGN) * ALIGN;
    this.ensure(end);
    this.scratchTop = end;
    return at;
  }

  /** Persistent bytes; only valid right after reset() (no scratch in use). */
  persist(bytes: number): number {
    if (this.persistTop + bytes > PERSIST_LIMIT) {
      this.persistTop = ALIGN;
      this.generation++;
    }
    const at = this.persistTop;
    const end = at + Math.ceil((bytes + SLACK) / ALIGN) * ALIGN;
    this.ensure(end);
    this.persistTop = end;
    this.scratchTop = end;
    return at;
  }
}

export interface WasmEngine {
  readonly kernels: WasmKernels;
  readonly arena: WasmArena;
}

let engine: WasmEngine | null | undefined;

/** The SIMD engine, or undefined where WebAssembly SIMD is unavailable (the JS kernels take over). */
export function wasmEngine(): WasmEngine | undefined {
  if (engine !== undefined) return engine ?? undefined;
  engine = null;
  if (disabledByEnv() || typeof WebAssembly === "undefined") return undefined;
  const arena = new WasmArena();
  for (const relaxed of [true, false]) {
    try {
      engine = { kernels: build(relaxed, arena.memory), arena };
      break;
    } catch {
      // Relaxed SIMD (or SIMD altogether) is not supported here; try the next variant.
    }
  }
  return engine ?? undefined;
}
