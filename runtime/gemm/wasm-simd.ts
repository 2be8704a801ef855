/**
 * WebAssembly SIMD (f32x4) kernels for the float32 hot paths: a register-tiled GEMM micro-kernel driver,
 * depthwise 3x3 convolution, and the padding / row compaction copies around them. The module is generated
 * with wasm-asm.ts when first needed; it uses relaxed_madd (one fused multiply-add) where the engine
 * validates it and mul+add otherwise. All kernels work on one linear memory managed by WasmArena.
 */
import { LatheError } from "../../ir/errors.ts";
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
    g.set(
      pc,
      (g) =>
        g.add((g) => g.add(pC, (g) => g.mul((g) => g.mul(p, (g) => g.i32(MR)), ldc)), (g) => g.shl(j, 2)),
    );
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
  const c = f.local("i32"),
    h = f.local("i32"),
    d = f.local("i32"),
    row = f.local("i32"),
    plane = f.local("i32");
  const end = f.local("i32"), fillV = f.local("v128");
  f.set(plane, (g) => g.shl((g) => g.mul(Hp, Wp), 2));
  // Fill in whole vectors: the destination has slack after it.
  f.set(fillV, (g) => g.splat(value));
  f.set(end, (g) => g.add(dst, (g) => g.mul(C, plane)));
  f.forLoop(d, dst, end, (g) => g.i32(16), () => f.storeV(d, fillV));
  f.set(row, (g) => g.shl(W, 2));
  f.forLoop(c, (g) => g.i32(0), C, (g) => g.i32(1), () => {
    f.set(
      d,
      (g) =>
        g.add(
          (g) => g.add(dst, (g) => g.mul(c, plane)),
          (g) => g.shl((g) => g.add((g) => g.mul(top, Wp), left), 2),
        ),
    );
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
  const f = new FuncBuilder([
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
  ]);
  const [pIn, pOut, C, Hp, Wp, OH, OW, KH, KW, sh, dh, dw] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const c = f.local("i32"),
    oh = f.local("i32"),
    ow = f.local("i32"),
    kh = f.local("i32"),
    kw = f.local("i32");
  const rowB = f.local("i32"),
    xr = f.local("i32"),
    x = f.local("i32"),
    xk = f.local("i32"),
    po = f.local("i32");
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
      f.set(
        po,
        (g) =>
          g.sub(
            po,
            (g) =>
              g.shl((g) => g.sub((g) => g.and((g) => g.add(OW, (g) => g.i32(3)), (g) => g.i32(~3)), OW), 2),
          ),
      );
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

/** Copies `n` floats from src to dst: whole vectors, then single floats (never past the end). */
function copyFloats(
  f: FuncBuilder,
  dst: number,
  src: number,
  n: Expr,
  tmp: { i: number; end: number },
): void {
  f.set(tmp.end, (g) => g.and(n, (g) => g.i32(~3)));
  f.forLoop(tmp.i, (g) => g.i32(0), tmp.end, (g) => g.i32(4), () => {
    f.storeV(
      (g) => g.add(dst, (g) => g.shl(tmp.i, 2)),
      (g) => g.loadV((g) => g.add(src, (g) => g.shl(tmp.i, 2))),
    );
  });
  f.forLoop(tmp.i, tmp.end, n, (g) => g.i32(1), () => {
    f.storeF32(
      (g) => g.add(dst, (g) => g.shl(tmp.i, 2)),
      (g) => g.loadF32((g) => g.add(src, (g) => g.shl(tmp.i, 2))),
    );
  });
}

/**
 * Depthwise 3x3, stride 1 or 2, from unpadded planes (C x H x W). Each channel is copied into one padded
 * plane (Hp x Wp, image at (top, left)) whose zero border is written once per call: every channel has the
 * same geometry, so the border is never overwritten. Two output rows per step share their input rows; the
 * vector past a row's end spills into the next row (written later: columns run right to left) and the
 * row past an odd OH into the next channel or the slack the caller leaves.
 */
function dw3x3Fn(stride: 1 | 2, relaxed: boolean): FuncBuilder {
  const f = new FuncBuilder([
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "f32",
    "f32",
  ]);
  const [pX, pPlane, pW, pBias, pOut, C, H, W, Hp, Wp, top, left, OH, OW, lo, hi] = [
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
    12,
    13,
    14,
    15,
  ];
  const loV = f.local("v128"), hiV = f.local("v128");
  const w = Array.from({ length: 9 }, () => f.local("v128"));
  const biasV = f.local("v128"), accA = f.local("v128"), accB = f.local("v128"), part = f.local("v128");
  const v = [0, 1, 2, 3].map(() => f.local("v128"));
  const c = f.local("i32"), oh = f.local("i32"), ow = f.local("i32"), h = f.local("i32");
  const rowB = f.local("i32"), xr = f.local("i32"), q = f.local("i32"), owB = f.local("i32");
  const x = f.local("i32"),
    src = f.local("i32"),
    dst = f.local("i32"),
    end = f.local("i32"),
    outRow = f.local("i32");
  const tmp = { i: f.local("i32"), end: f.local("i32") };
  const zero = f.local("v128");
  f.set(loV, (g) => g.splat(lo)).set(hiV, (g) => g.splat(hi));
  f.set(rowB, (g) => g.shl(Wp, 2)).set(owB, (g) => g.shl(OW, 2));
  // Zero the plane and the rows past it that the last step reads.
  f.set(zero, (g) => g.splat((g) => g.f32(0)));
  f.set(end, (g) => g.add(pPlane, (g) => g.mul((g) => g.add(Hp, (g) => g.i32(3)), rowB)));
  f.forLoop(dst, pPlane, end, (g) => g.i32(16), () => f.storeV(dst, zero));
  f.set(src, pX).set(outRow, pOut);
  f.forLoop(c, (g) => g.i32(0), C, (g) => g.i32(1), () => {
    for (let i = 0; i < 9; i++) f.splatLoad(pW, i * 4).set(w[i]);
    f.splatLoad(pBias).set(biasV);
    f.inc(pW, (g) => g.i32(36)).inc(pBias, (g) => g.i32(4));
    f.set(dst, (g) => g.add(pPlane, (g) => g.shl((g) => g.add((g) => g.mul(top, Wp), left), 2)));
    f.forLoop(h, (g) => g.i32(0), H, (g) => g.i32(1), () => {
      copyFloats(f, dst, src, W, tmp);
      f.inc(src, (g) => g.shl(W, 2)).inc(dst, rowB);
    });
    f.forLoop(oh, (g) => g.i32(0), OH, (g) => g.i32(2), () => {
      f.set(xr, (g) => g.add(pPlane, (g) => g.mul((g) => g.mul(oh, (g) => g.i32(stride)), rowB)));
      // Right to left: the last vector of row A spills into the start of row B, written afterwards.
      f.forDown(
        ow,
        (g) => g.sub((g) => g.and((g) => g.add(OW, (g) => g.i32(3)), (g) => g.i32(~3)), (g) => g.i32(4)),
        4,
        () => {
          f.set(x, (g) => g.add(xr, (g) => g.shl(ow, stride === 1 ? 2 : 3)));
          f.set(accA, biasV).set(accB, biasV);
          // Input rows 0..2 feed row A; rows `stride`..stride+2 feed row B.
          const rows = stride === 1 ? 4 : 5;
          for (let r = 0; r < rows; r++) {
            if (stride === 1) {
              for (let kw = 0; kw < 3; kw++) f.loadV(x, kw * 4).set(v[kw]);
            } else {
              f.loadV(x, 0).set(v[0]).loadV(x, 16).set(v[1]).loadV(x, 8).set(v[2]).loadV(x, 24).set(v[3]);
              f.set(v[3], (g) => g.shuffle32(v[2], v[3], [0, 2, 4, 6]));
              f.set(v[2], (g) => g.shuffle32(v[0], v[1], [1, 3, 5, 7]));
              f.set(v[0], (g) => g.shuffle32(v[0], v[1], [0, 2, 4, 6]));
            }
            // Taps of this input row: columns 0, 1, 2 are v0, v1, v2 (stride 1) or v0, v2, v3 (stride 2).
            const cols = stride === 1 ? [v[0], v[1], v[2]] : [v[0], v[2], v[3]];
            // Each input row's three taps form their own short chain, added to the accumulator once.
            const rowSum = (kr: number, acc: number) => {
              f.expr(w[kr * 3]).expr(cols[0]).simd(SIMD.f32x4Mul).set(part);
              for (let kw = 1; kw < 3; kw++) {
                madd(f, w[kr * 3 + kw], cols[kw], part, relaxed);
                f.set(part);
              }
              f.expr(acc).expr(part).simd(SIMD.f32x4Add).set(acc);
            };
            if (r <= 2) rowSum(r, accA);
            const rb = r - stride;
            if (rb >= 0 && rb <= 2) rowSum(rb, accB);
            if (r < rows - 1) f.inc(x, rowB);
          }
          f.set(q, (g) => g.add(outRow, (g) => g.shl(ow, 2)));
          f.storeV(q, (g) => clamp(g, accA, loV, hiV));
          f.storeV((g) => g.add(q, owB), (g) => clamp(g, accB, loV, hiV));
        },
      );
      f.inc(outRow, (g) => g.shl(owB, 1));
    });
    // An odd OH computed one row past the channel; the next channel starts right after OH rows.
    f.set(outRow, (g) => g.sub(outRow, (g) => g.mul((g) => g.and(OH, (g) => g.i32(1)), owB)));
  });
  return f;
}

const SUB = 0xe5;

/**
 * Winograd F(2x2, 3x3) input transform, four tiles per vector: tile (th, tw) is the 4x4 patch of the
 * padded plane at (2th, 2tw); V = Bᵀ d B goes to block ξ (0..15) at pV + ξ*vBlock as a [C x T] matrix,
 * T = TH*TWp tiles (TWp a multiple of four). Planes are Hp x Wp with Hp >= 2TH+2, Wp >= 2TWp+2.
 */
function winoInputFn(): FuncBuilder {
  const f = new FuncBuilder(["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"]);
  const [pX, pV, C, Hp, Wp, TH, TWp, vBlock] = [0, 1, 2, 3, 4, 5, 6, 7];
  const c = f.local("i32"), th = f.local("i32"), tw = f.local("i32"), rowB = f.local("i32");
  const plane = f.local("i32"), base = f.local("i32"), out = f.local("i32"), T = f.local("i32");
  const l0 = f.local("v128"), l1 = f.local("v128"), m0 = f.local("v128"), m1 = f.local("v128");
  const d = Array.from({ length: 4 }, () => Array.from({ length: 4 }, () => f.local("v128")));
  const u = Array.from({ length: 4 }, () => Array.from({ length: 4 }, () => f.local("v128")));
  const op = (x: Expr, y: Expr, code: number) => (g: FuncBuilder) => g.expr(x).expr(y).simd(code);
  f.set(rowB, (g) => g.shl(Wp, 2));
  f.set(T, (g) => g.mul(TH, TWp));
  f.set(out, pV);
  f.forLoop(c, (g) => g.i32(0), C, (g) => g.i32(1), () => {
    f.set(plane, (g) => g.add(pX, (g) => g.mul((g) => g.mul(c, Hp), rowB)));
    f.forLoop(th, (g) => g.i32(0), TH, (g) => g.i32(1), () => {
      f.forLoop(tw, (g) => g.i32(0), TWp, (g) => g.i32(4), () => {
        f.set(
          base,
          (g) => g.add((g) => g.add(plane, (g) => g.mul((g) => g.shl(th, 1), rowB)), (g) => g.shl(tw, 3)),
        );
        for (let r = 0; r < 4; r++) {
          f.loadV(base, 0).set(l0).loadV(base, 16).set(l1).loadV(base, 8).set(m0).loadV(base, 24).set(m1);
          const e = d[r];
          f.set(e[0], (g) => g.shuffle32(l0, l1, [0, 2, 4, 6])).set(
            e[1],
            (g) => g.shuffle32(l0, l1, [1, 3, 5, 7]),
          );
          f.set(e[2], (g) => g.shuffle32(m0, m1, [0, 2, 4, 6])).set(
            e[3],
            (g) => g.shuffle32(m0, m1, [1, 3, 5, 7]),
          );
          // Row r times B: [d0 - d2, d1 + d2, d2 - d1, d1 - d3].
          f.set(u[r][0], op(e[0], e[2], SUB)).set(u[r][1], op(e[1], e[2], SIMD.f32x4Add));
          f.set(u[r][2], op(e[2], e[1], SUB)).set(u[r][3], op(e[1], e[3], SUB));
          if (r < 3) f.inc(base, rowB);
        }
        // Bᵀ times the rows, stored per ξ = 4i + j.
        for (let j = 0; j < 4; j++) {
          const col = [
            op(u[0][j], u[2][j], SUB),
            op(u[1][j], u[2][j], SIMD.f32x4Add),
            op(u[2][j], u[1][j], SUB),
            op(u[1][j], u[3][j], SUB),
          ];
          col.forEach((v, i) => {
            // Block offsets exceed a memarg constant only for huge blocks; add them explicitly.
            f.storeV((g) => g.add(out, (g) => g.mul(vBlock, (g) => g.i32(4 * i + j))), v);
          });
        }
        f.inc(out, (g) => g.i32(16));
      });
    });
  });
  return f;
}

/**
 * Winograd F(2x2, 3x3) output transform: Y = Aᵀ m A + bias, clamped, for M channels from blocks of [rows x T]
 * (row stride T) at pM + ξ*mBlock; writes 2x2 tiles into [M][2TH][2TWp] at pY.
 */
function winoOutputFn(): FuncBuilder {
  const f = new FuncBuilder(["i32", "i32", "i32", "i32", "i32", "i32", "i32", "f32", "f32"]);
  const [pM, pY, pBias, M, TH, TWp, mBlock, lo, hi] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const loV = f.local("v128"), hiV = f.local("v128"), bias = f.local("v128");
  const m = f.local("i32"),
    th = f.local("i32"),
    tw = f.local("i32"),
    src = f.local("i32"),
    dst = f.local("i32");
  const rowB = f.local("i32"), q = f.local("i32");
  const mv = Array.from({ length: 16 }, () => f.local("v128"));
  const sv = Array.from({ length: 8 }, () => f.local("v128"));
  const y = Array.from({ length: 4 }, () => f.local("v128"));
  const op = (x: Expr, z: Expr, code: number) => (g: FuncBuilder) => g.expr(x).expr(z).simd(code);
  f.set(loV, (g) => g.splat(lo)).set(hiV, (g) => g.splat(hi));
  f.set(rowB, (g) => g.shl(TWp, 3));
  f.set(src, pM);
  f.forLoop(m, (g) => g.i32(0), M, (g) => g.i32(1), () => {
    f.splatLoad((g) => g.add(pBias, (g) => g.shl(m, 2))).set(bias);
    f.set(dst, (g) => g.add(pY, (g) => g.mul((g) => g.mul(m, (g) => g.shl(TH, 1)), rowB)));
    f.forLoop(th, (g) => g.i32(0), TH, (g) => g.i32(1), () => {
      f.forLoop(tw, (g) => g.i32(0), TWp, (g) => g.i32(4), () => {
        for (let x = 0; x < 16; x++) {
          f.set(q, (g) => g.add(src, (g) => g.mul(mBlock, (g) => g.i32(x)))).loadV(q).set(mv[x]);
        }
        // Aᵀ m: s0j = m0j + m1j + m2j, s1j = m1j - m2j - m3j.
        for (let j = 0; j < 4; j++) {
          f.set(sv[j], op(op(mv[j], mv[4 + j], SIMD.f32x4Add), mv[8 + j], SIMD.f32x4Add));
          f.set(sv[4 + j], op(op(mv[4 + j], mv[8 + j], SUB), mv[12 + j], SUB));
        }
        // (Aᵀ m) A per row a: ya0 = sa0 + sa1 + sa2, ya1 = sa1 - sa2 - sa3.
        for (let a = 0; a < 2; a++) {
          const s0 = sv[4 * a], s1 = sv[4 * a + 1], s2 = sv[4 * a + 2], s3 = sv[4 * a + 3];
          f.set(y[2 * a], op(op(op(s0, s1, SIMD.f32x4Add), s2, SIMD.f32x4Add), bias, SIMD.f32x4Add));
          f.set(y[2 * a + 1], op(op(op(s1, s2, SUB), s3, SUB), bias, SIMD.f32x4Add));
          f.set(y[2 * a], (g) => clamp(g, y[2 * a], loV, hiV)).set(
            y[2 * a + 1],
            (g) => clamp(g, y[2 * a + 1], loV, hiV),
          );
        }
        // Interleave the two columns of each tile row: [t0c0, t0c1, t1c0, t1c1] and the next two tiles.
        for (let a = 0; a < 2; a++) {
          const at = (g: FuncBuilder) =>
            g.add(dst, (g) => g.add((g) => g.mul(rowB, (g) => g.i32(a)), (g) => g.shl(tw, 3)));
          f.storeV(at, (g) => g.shuffle32(y[2 * a], y[2 * a + 1], [0, 4, 1, 5]));
          f.storeV(at, (g) => g.shuffle32(y[2 * a], y[2 * a + 1], [2, 6, 3, 7]), 16);
        }
        f.inc(src, (g) => g.i32(16));
      });
      f.inc(dst, (g) => g.shl(rowB, 1));
    });
  });
  return f;
}

/** Planes of rows: `planes` x `rows` rows of `len` bytes with the given strides, packed densely at dst. */
function compact2Fn(): FuncBuilder {
  const f = new FuncBuilder(["i32", "i32", "i32", "i32", "i32", "i32", "i32"]);
  const [src, dst, planes, rows, srcRow, srcPlane, len] = [0, 1, 2, 3, 4, 5, 6];
  const pl = f.local("i32"), r = f.local("i32"), s = f.local("i32");
  f.forLoop(pl, (g) => g.i32(0), planes, (g) => g.i32(1), () => {
    f.set(s, (g) => g.add(src, (g) => g.mul(pl, srcPlane)));
    f.forLoop(r, (g) => g.i32(0), rows, (g) => g.i32(1), () => {
      f.memCopy(dst, s, len);
      f.inc(s, srcRow).inc(dst, len);
    });
  });
  return f;
}

export interface WasmKernels {
  readonly relaxed: boolean;
  gemmStrided(
    pA: number,
    pB: number,
    ldbBytes: number,
    pC: number,
    ldcBytes: number,
    mPanels: number,
    N: number,
    K: number,
    pBias: number,
    lo: number,
    hi: number,
  ): void;
  gemmIndirect(
    pA: number,
    pB: number,
    pOffs: number,
    pC: number,
    ldcBytes: number,
    mPanels: number,
    N: number,
    K: number,
    pBias: number,
    lo: number,
    hi: number,
  ): void;
  pad(
    src: number,
    dst: number,
    C: number,
    H: number,
    W: number,
    Hp: number,
    Wp: number,
    top: number,
    left: number,
    value: number,
  ): void;
  maxPool1(
    pIn: number,
    pOut: number,
    C: number,
    Hp: number,
    Wp: number,
    OH: number,
    OW: number,
    KH: number,
    KW: number,
    sh: number,
    dh: number,
    dw: number,
  ): void;
  maxPool2(
    pIn: number,
    pOut: number,
    C: number,
    Hp: number,
    Wp: number,
    OH: number,
    OW: number,
    KH: number,
    KW: number,
    sh: number,
    dh: number,
    dw: number,
  ): void;
  compact(src: number, dst: number, rows: number, srcStride: number, dstStride: number, len: number): void;
  winoInput(
    pX: number,
    pV: number,
    C: number,
    Hp: number,
    Wp: number,
    TH: number,
    TWp: number,
    vBlock: number,
  ): void;
  winoOutput(
    pM: number,
    pY: number,
    pBias: number,
    M: number,
    TH: number,
    TWp: number,
    mBlock: number,
    lo: number,
    hi: number,
  ): void;
  compact2(
    src: number,
    dst: number,
    planes: number,
    rows: number,
    srcRow: number,
    srcPlane: number,
    len: number,
  ): void;
  phaseSplit(
    src: number,
    dst: number,
    C: number,
    H: number,
    W: number,
    sh: number,
    sw: number,
    Hq: number,
    Wq: number,
    pt: number,
    pl: number,
  ): void;
  dw3x3s1(
    pX: number,
    pPlane: number,
    pW: number,
    pBias: number,
    pOut: number,
    C: number,
    H: number,
    W: number,
    Hp: number,
    Wp: number,
    top: number,
    left: number,
    OH: number,
    OW: number,
    lo: number,
    hi: number,
  ): void;
  dw3x3s2(
    pX: number,
    pPlane: number,
    pW: number,
    pBias: number,
    pOut: number,
    C: number,
    H: number,
    W: number,
    Hp: number,
    Wp: number,
    top: number,
    left: number,
    OH: number,
    OW: number,
    lo: number,
    hi: number,
  ): void;
}

function build(relaxed: boolean, memory: WebAssembly.Memory): WasmKernels {
  const bytes = assembleModule([
    { name: "gemmStrided", fn: gemmFn(false, relaxed) },
    { name: "gemmIndirect", fn: gemmFn(true, relaxed) },
    { name: "pad", fn: padFn() },
    { name: "compact", fn: compactFn() },
    { name: "phaseSplit", fn: phaseSplitFn() },
    { name: "winoInput", fn: winoInputFn() },
    { name: "winoOutput", fn: winoOutputFn() },
    { name: "compact2", fn: compact2Fn() },
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
const MAX_PAGES = 32767;

/** The kernel memory cannot hold a call's working set; callers fall back to the portable kernels. */
export class ArenaFull extends LatheError {
  constructor(bytes: number) {
    super("runtime", `the SIMD kernels' memory cannot grow to ${bytes} bytes`);
  }
}
const ALIGN = 64;
/** Past this many bytes of packed weights the cache starts over rather than growing without bound. */
const PERSIST_LIMIT = 1 << 30;

/**
 * The kernels' linear memory: a persistent region (packed weights, kept across calls) followed by a
 * scratch region that every kernel call starts over. Views are refreshed when the memory grows.
 */
export class WasmArena {
  // Below 2 GiB: the kernels compare addresses as signed i32.
  readonly memory = new WebAssembly.Memory({ initial: 256, maximum: MAX_PAGES });
  private persistTop = ALIGN;
  private scratchTop = ALIGN;
  /** Bumped when the persistent region is dropped; cached offsets from older generations are stale. */
  generation = 0;
  private f32View = new Float32Array(this.memory.buffer);
  private i32View = new Int32Array(this.memory.buffer);
  private i16View = new Int16Array(this.memory.buffer);
  private u8View = new Uint8Array(this.memory.buffer);
  private i8View = new Int8Array(this.memory.buffer);

  get f32(): Float32Array {
    if (this.f32View.buffer !== this.memory.buffer) this.refresh();
    return this.f32View;
  }
  get i32(): Int32Array {
    if (this.i32View.buffer !== this.memory.buffer) this.refresh();
    return this.i32View;
  }
  get i16(): Int16Array {
    if (this.i16View.buffer !== this.memory.buffer) this.refresh();
    return this.i16View;
  }
  get u8(): Uint8Array {
    if (this.u8View.buffer !== this.memory.buffer) this.refresh();
    return this.u8View;
  }
  get i8(): Int8Array {
    if (this.i8View.buffer !== this.memory.buffer) this.refresh();
    return this.i8View;
  }
  private refresh(): void {
    this.f32View = new Float32Array(this.memory.buffer);
    this.i32View = new Int32Array(this.memory.buffer);
    this.i16View = new Int16Array(this.memory.buffer);
    this.u8View = new Uint8Array(this.memory.buffer);
    this.i8View = new Int8Array(this.memory.buffer);
  }

  /** Starts a kernel call: all scratch space is free again. */
  reset(): void {
    this.scratchTop = this.persistTop;
  }

  private ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / 65536);
    if (have / 65536 + pages > MAX_PAGES) throw new ArenaFull(end);
    try {
      this.memory.grow(pages);
    } catch {
      throw new ArenaFull(end);
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
let enabled = true;

/** Turns the SIMD engine off (or back on) for this process: tests compare the portable kernels with it. */
export function setWasmEnabled(on: boolean): void {
  enabled = on;
}

/** The SIMD engine, or undefined where WebAssembly SIMD is unavailable (the JS kernels take over). */
export function wasmEngine(): WasmEngine | undefined {
  if (!enabled) return undefined;
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
