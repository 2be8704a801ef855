/**
 * Float32 convolutions and fully-connected layers in the exact arithmetic of LiteRT's CPU path (the
 * XNNPACK delegate, WebAssembly build), so Lathe's TFLite float results are bit-identical to LiteRT's
 * rather than merely close: accumulated rounding over a deep network otherwise leaves near-zero outputs
 * of a model whose outputs reach hundreds off by more than 1e-5.
 *
 * XNNPACK's f32 GEMM / IGEMM micro-kernels give every output element one accumulator that starts at the
 * bias and takes one multiply-add per product: kernel taps in row-major (ky, kx) order, input channels
 * within a tap. Its depthwise kernels also start at the bias but walk the taps column-major (kx outer,
 * ky inner). Taps outside the image read a zero row (the product is +0, so the sum is unchanged but a
 * -0 accumulator becomes +0). The fused activation is a clamp after the sum. Where the engine has relaxed
 * SIMD, the multiply-add is f32x4.relaxed_madd — the instruction LiteRT's relaxed-SIMD build uses, which
 * the same engine lowers the same way (a fused multiply-add on x86 with FMA3); otherwise mul then add,
 * as in LiteRT's plain-SIMD build. Without WebAssembly the JS fallback computes the same chain with an
 * exactly rounded float32 fused multiply-add.
 */
import { assembleModule, FuncBuilder, I32, SIMD } from "../gemm/wasm-asm.ts";
import { packedOperand } from "../gemm/sgemm.ts";
import { ArenaFull, type WasmEngine, wasmEngine } from "../gemm/wasm-simd.ts";

/** Pixels per IGEMM tile. */
const MR = 4;
/** Output channels per IGEMM tile (two vectors). */
const NR = 8;

interface Kernels {
  igemm(
    pInd: number,
    pW: number,
    pBias: number,
    pO: number,
    pBlocks: number,
    T: number,
    IC: number,
    ocBlocks: number,
    lo: number,
    hi: number,
  ): void;
  /** igemm with the product rounded before the add (XNNPACK's plain-SIMD kernels). */
  igemmMul(
    pInd: number,
    pW: number,
    pBias: number,
    pO: number,
    pBlocks: number,
    T: number,
    IC: number,
    ocBlocks: number,
    lo: number,
    hi: number,
  ): void;
  /**
   * Depthwise with mul then add and two partial sums: per pixel T0 taps into the sum that starts at the
   * bias, then T1 taps into a second sum (started by its first product), added last.
   */
  dwSplit(
    pInd: number,
    pW: number,
    pBias: number,
    pO: number,
    P: number,
    T0: number,
    T1: number,
    C4: number,
    lo: number,
    hi: number,
  ): void;
  dw(
    pInd: number,
    pW: number,
    pBias: number,
    pO: number,
    P: number,
    T: number,
    C4: number,
    lo: number,
    hi: number,
  ): void;
}

/**
 * igemm: pInd holds, per pixel (rows padded to whole tiles) and tap, the byte address of IC input floats;
 * pW holds ocBlocks blocks of [T][IC][NR] weights; pBias NR*ocBlocks floats; pO rows of NR*ocBlocks floats.
 */
function igemmFn(relaxed: boolean): FuncBuilder {
  const f = new FuncBuilder(["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "f32", "f32"]);
  const [pInd, pW, pBias, pO, pBlocks, T, IC, ocBlocks, lo, hi] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const loV = f.local("v128"), hiV = f.local("v128");
  const b = f.local("i32"), pb = f.local("i32"), t = f.local("i32"), k = f.local("i32");
  const pw = f.local("i32"), pi = f.local("i32"), po = f.local("i32"), icB = f.local("i32");
  const tapB = f.local("i32"), rowB = f.local("i32"), blockB = f.local("i32");
  const ar = Array.from({ length: MR }, () => f.local("i32"));
  const acc = Array.from({ length: MR }, () => [f.local("v128"), f.local("v128")]);
  const w0 = f.local("v128"), w1 = f.local("v128"), s = f.local("v128");
  f.set(loV, (g) => g.splat(lo)).set(hiV, (g) => g.splat(hi));
  f.set(icB, (g) => g.shl(IC, 2));
  f.set(tapB, (g) => g.shl(T, 2));
  f.set(rowB, (g) => g.mul(ocBlocks, (g) => g.i32(NR * 4)));
  f.set(blockB, (g) => g.mul((g) => g.mul(T, IC), (g) => g.i32(NR * 4)));
  const fma = (a: number, w: number, c: number) => {
    if (relaxed) f.get(a).get(w).get(c).simd(SIMD.f32x4RelaxedMadd);
    else f.get(a).get(w).simd(SIMD.f32x4Mul).get(c).simd(SIMD.f32x4Add);
    f.set(c);
  };
  f.forLoop(b, (g) => g.i32(0), ocBlocks, (g) => g.i32(1), () => {
    f.forLoop(pb, (g) => g.i32(0), pBlocks, (g) => g.i32(1), () => {
      for (let r = 0; r < MR; r++) {
        f.set(acc[r][0], (g) => g.loadV((g) => g.add(pBias, (g) => g.shl(b, 5))));
        f.set(acc[r][1], (g) => g.loadV((g) => g.add(pBias, (g) => g.shl(b, 5)), 16));
      }
      f.set(pw, (g) => g.add(pW, (g) => g.mul(b, blockB)));
      f.set(pi, (g) => g.add(pInd, (g) => g.mul((g) => g.mul(pb, (g) => g.i32(MR)), tapB)));
      f.forLoop(t, (g) => g.i32(0), T, (g) => g.i32(1), () => {
        for (let r = 0; r < MR; r++) {
          f.set(ar[r], (g) => g.loadI32((g) => g.add(pi, (g) => g.mul(tapB, (g) => g.i32(r)))));
        }
        f.forLoop(k, (g) => g.i32(0), icB, (g) => g.i32(4), () => {
          f.set(w0, (g) => g.loadV(pw)).set(w1, (g) => g.loadV(pw, 16));
          for (let r = 0; r < MR; r++) {
            f.set(s, (g) => g.splatLoad((g) => g.add(ar[r], k)));
            fma(s, w0, acc[r][0]);
            fma(s, w1, acc[r][1]);
          }
          f.inc(pw, (g) => g.i32(NR * 4));
        });
        f.inc(pi, (g) => g.i32(4));
      });
      f.set(
        po,
        (g) =>
          g.add(
            (g) => g.add(pO, (g) => g.mul((g) => g.mul(pb, (g) => g.i32(MR)), rowB)),
            (g) => g.shl(b, 5),
          ),
      );
      for (let r = 0; r < MR; r++) {
        for (let v = 0; v < 2; v++) {
          f.storeV(
            po,
            (g) => g.get(acc[r][v]).get(loV).simd(SIMD.f32x4Pmax).get(hiV).simd(SIMD.f32x4Pmin),
            v * 16,
          );
        }
        f.inc(po, rowB);
      }
    });
  });
  return f;
}

/**
 * dw: per output pixel, pInd holds T tap addresses (column-major taps); pW is [T][C4] weights, pBias C4
 * floats, pO rows of C4 floats (C4 a multiple of four).
 */
function dwFn(relaxed: boolean): FuncBuilder {
  const f = new FuncBuilder(["i32", "i32", "i32", "i32", "i32", "i32", "i32", "f32", "f32"]);
  const [pInd, pW, pBias, pO, P, T, C4, lo, hi] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const loV = f.local("v128"), hiV = f.local("v128");
  const p = f.local("i32"), cb = f.local("i32"), t = f.local("i32"), pi = f.local("i32"), pw = f.local("i32");
  const po = f.local("i32"), cB = f.local("i32"), tapB = f.local("i32");
  const acc = f.local("v128");
  f.set(loV, (g) => g.splat(lo)).set(hiV, (g) => g.splat(hi));
  f.set(cB, (g) => g.shl(C4, 2));
  f.set(tapB, (g) => g.shl(T, 2));
  f.set(po, pO);
  f.forLoop(p, (g) => g.i32(0), P, (g) => g.i32(1), () => {
    f.forLoop(cb, (g) => g.i32(0), cB, (g) => g.i32(16), () => {
      f.set(acc, (g) => g.loadV((g) => g.add(pBias, cb)));
      f.set(pi, (g) => g.add(pInd, (g) => g.mul(p, tapB)));
      f.set(pw, (g) => g.add(pW, cb));
      f.forLoop(t, (g) => g.i32(0), T, (g) => g.i32(1), () => {
        f.loadV((g) => g.add((g) => g.loadI32(pi), cb)).loadV(pw);
        if (relaxed) f.get(acc).simd(SIMD.f32x4RelaxedMadd);
        else f.simd(SIMD.f32x4Mul).get(acc).simd(SIMD.f32x4Add);
        f.set(acc);
        f.inc(pi, (g) => g.i32(4));
        f.inc(pw, cB);
      });
      f.storeV(
        (g) => g.add(po, cb),
        (g) => g.get(acc).get(loV).simd(SIMD.f32x4Pmax).get(hiV).simd(SIMD.f32x4Pmin),
      );
    });
    f.inc(po, cB);
  });
  return f;
}

/** dwSplit: pInd holds T0+T1 tap addresses per pixel, pW [T0+T1][C4] weights in the same order. */
function dwSplitFn(): FuncBuilder {
  const f = new FuncBuilder(["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "f32", "f32"]);
  const [pInd, pW, pBias, pO, P, T0, T1, C4, lo, hi] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const loV = f.local("v128"), hiV = f.local("v128");
  const p = f.local("i32"), cb = f.local("i32"), t = f.local("i32"), pi = f.local("i32"), pw = f.local("i32");
  const po = f.local("i32"), cB = f.local("i32"), tapB = f.local("i32");
  const acc = f.local("v128"), acc1 = f.local("v128");
  f.set(loV, (g) => g.splat(lo)).set(hiV, (g) => g.splat(hi));
  f.set(cB, (g) => g.shl(C4, 2));
  f.set(tapB, (g) => g.shl((g) => g.add(T0, T1), 2));
  f.set(po, pO);
  const product = (g: FuncBuilder) =>
    g.loadV((g) => g.add((g) => g.loadI32(pi), cb)).loadV(pw).simd(SIMD.f32x4Mul);
  const next = () => f.inc(pi, (g) => g.i32(4)).inc(pw, cB);
  f.forLoop(p, (g) => g.i32(0), P, (g) => g.i32(1), () => {
    f.forLoop(cb, (g) => g.i32(0), cB, (g) => g.i32(16), () => {
      f.set(acc, (g) => g.loadV((g) => g.add(pBias, cb)));
      f.set(pi, (g) => g.add(pInd, (g) => g.mul(p, tapB)));
      f.set(pw, (g) => g.add(pW, cb));
      f.forLoop(t, (g) => g.i32(0), T0, (g) => g.i32(1), () => {
        f.set(acc, (g) => g.get(acc).expr(product).simd(SIMD.f32x4Add));
        next();
      });
      f.ifElse((g) => g.get(T1).i32(0).emit(I32.i32GtS), () => {
        f.set(acc1, product);
        next();
        f.forLoop(t, (g) => g.i32(1), T1, (g) => g.i32(1), () => {
          f.set(acc1, (g) => g.get(acc1).expr(product).simd(SIMD.f32x4Add));
          next();
        });
        f.set(acc, (g) => g.get(acc).get(acc1).simd(SIMD.f32x4Add));
      });
      f.storeV(
        (g) => g.add(po, cb),
        (g) => g.get(acc).get(loV).simd(SIMD.f32x4Pmax).get(hiV).simd(SIMD.f32x4Pmin),
      );
    });
    f.inc(po, cB);
  });
  return f;
}

let kernels: Kernels | null | undefined;

function instance(eng: WasmEngine): Kernels {
  if (kernels) return kernels;
  const relaxed = eng.kernels.relaxed;
  const mod = new WebAssembly.Module(
    assembleModule([
      { name: "igemm", fn: igemmFn(relaxed) },
      { name: "igemmMul", fn: igemmFn(false) },
      { name: "dw", fn: dwFn(relaxed) },
      { name: "dwSplit", fn: dwSplitFn() },
    ]) as BufferSource,
  );
  kernels = new WebAssembly.Instance(mod, { env: { mem: eng.arena.memory } }).exports as unknown as Kernels;
  return kernels;
}

// ---- exact float32 fused multiply-add (the JS fallback) -------------------------------------------------

/**
 * round32(a*b + c) for float32 a, b, c, rounded once. a*b is exact in float64; the float64 sum can round,
 * and rounding that again to float32 differs from one rounding only when the float64 sum lands exactly
 * on a float32 midpoint while its rounding error is nonzero — then the error says which way to go.
 */
export function fma32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = Math.fround(s);
  if (r === s) return r;
  const bb = s - p;
  const err = (p - (s - bb)) + (c - bb);
  if (err === 0) return r;
  const other = 2 * s - r;
  if (other !== r && Math.fround(other) === other && (err > 0) === (other > r)) return other;
  return r;
}

// ---- convolution as XNNPACK computes it ---------------------------------------------------------------

/** A convolution's geometry, NHWC input and output, OHWI filter (IC per group). */
export interface ConvGeometry {
  N: number;
  H: number;
  W: number;
  C: number;
  OH: number;
  OW: number;
  KH: number;
  KW: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  pt: number;
  pl: number;
}

/**
 * out[N, OH, OW, OC] = conv(x, w[OC, KH, KW, IC]) + bias, clamped to [lo, hi], with `groups` groups of IC
 * input and OC/groups output channels. `w` is the weight tensor's identity for the packing cache.
 */
export function xnnConv2d(
  g: ConvGeometry,
  x: Float32Array,
  w: { data: Float32Array },
  bias: Float32Array | undefined,
  OC: number,
  groups: number,
  lo: number,
  hi: number,
  out: Float32Array,
): void {
  const eng = wasmEngine();
  if (eng) {
    try {
      convWasm(eng, g, x, w, bias, OC, groups, lo, hi, out);
      return;
    } catch (e) {
      if (!(e instanceof ArenaFull)) throw e;
    }
  }
  convJS(g, x, w.data, bias, OC, groups, lo, hi, out, !eng || eng.kernels.relaxed);
}

function convWasm(
  eng: WasmEngine,
  g: ConvGeometry,
  x: Float32Array,
  w: { data: Float32Array },
  bias: Float32Array | undefined,
  OC: number,
  groups: number,
  lo: number,
  hi: number,
  out: Float32Array,
): void {
  const k = instance(eng);
  const { arena } = eng;
  const IC = g.C / groups, OCg = OC / groups, T = g.KH * g.KW, K = T * IC;
  const ocBlocks = Math.ceil(OCg / NR), OCp = ocBlocks * NR;
  const P = g.OH * g.OW, pBlocks = Math.ceil(P / MR), Pp = pBlocks * MR;
  const img = g.H * g.W * g.C;
  for (let n = 0; n < g.N; n++) {
    for (let gr = 0; gr < groups; gr++) {
      arena.reset();
      const pW = packedOperand(eng, w, `xnn-igemm:${gr}:${OCg}:${K}`, ocBlocks * K * NR, (dst, at) => {
        dst.fill(0, at, at + ocBlocks * K * NR);
        const wd = w.data;
        for (let oc = 0; oc < OCg; oc++) {
          const blk = at + Math.floor(oc / NR) * K * NR + (oc % NR);
          const src = (gr * OCg + oc) * K;
          for (let kk = 0; kk < K; kk++) dst[blk + kk * NR] = wd[src + kk];
        }
      });
      const pBias = arena.scratch(OCp * 4);
      const pZero = arena.scratch(IC * 4);
      const pX = arena.scratch(img * 4);
      const pInd = arena.scratch(Pp * T * 4);
      const pO = arena.scratch(Pp * OCp * 4);
      const f32 = arena.f32, i32 = arena.i32;
      const bAt = pBias >> 2;
      f32.fill(0, bAt, bAt + OCp);
      if (bias) f32.set(bias.subarray(gr * OCg, (gr + 1) * OCg), bAt);
      f32.fill(0, pZero >> 2, (pZero >> 2) + IC);
      f32.set(x.subarray(n * img, (n + 1) * img), pX >> 2);
      fillConvIndirection(i32, pInd >> 2, g, pX + gr * IC * 4, pZero, P, Pp, T);
      k.igemm(pInd, pW, pBias, pO, pBlocks, T, IC, ocBlocks, lo, hi);
      const src = arena.f32, oAt = pO >> 2, base = n * P * OC + gr * OCg;
      if (OCp === OC) out.set(src.subarray(oAt, oAt + P * OC), base);
      else {
        for (let p = 0; p < P; p++) {
          out.set(src.subarray(oAt + p * OCp, oAt + p * OCp + OCg), base + p * OC);
        }
      }
    }
  }
}

/** Per pixel, T byte addresses in (ky, kx) order; padded taps and pixels past P read the zero row. */
function fillConvIndirection(
  i32: Int32Array,
  at: number,
  g: ConvGeometry,
  pX: number,
  pZero: number,
  P: number,
  Pp: number,
  T: number,
): void {
  const pixB = g.C * 4;
  let d = at;
  for (let oy = 0; oy < g.OH; oy++) {
    for (let ox = 0; ox < g.OW; ox++) {
      for (let ky = 0; ky < g.KH; ky++) {
        const iy = oy * g.sh - g.pt + ky * g.dh;
        for (let kx = 0; kx < g.KW; kx++) {
          const ix = ox * g.sw - g.pl + kx * g.dw;
          i32[d++] = iy >= 0 && iy < g.H && ix >= 0 && ix < g.W ? pX + (iy * g.W + ix) * pixB : pZero;
        }
      }
    }
  }
  i32.fill(pZero, d, d + (Pp - P) * T);
}

function convJS(
  g: ConvGeometry,
  x: Float32Array,
  wd: Float32Array,
  bias: Float32Array | undefined,
  OC: number,
  groups: number,
  lo: number,
  hi: number,
  out: Float32Array,
  fused: boolean,
): void {
  const IC = g.C / groups, OCg = OC / groups, K = g.KH * g.KW * IC;
  let o = 0;
  for (let n = 0; n < g.N; n++) {
    for (let oy = 0; oy < g.OH; oy++) {
      for (let ox = 0; ox < g.OW; ox++) {
        for (let oc = 0; oc < OC; oc++) {
          const gr = Math.floor(oc / OCg);
          let acc = bias ? bias[oc] : 0;
          let wo = oc * K;
          for (let ky = 0; ky < g.KH; ky++) {
            const iy = oy * g.sh - g.pt + ky * g.dh;
            for (let kx = 0; kx < g.KW; kx++, wo += IC) {
              const ix = ox * g.sw - g.pl + kx * g.dw;
              const inside = iy >= 0 && iy < g.H && ix >= 0 && ix < g.W;
              const xo = ((n * g.H + iy) * g.W + ix) * g.C + gr * IC;
              for (let c = 0; c < IC; c++) {
                const v = inside ? x[xo + c] : 0;
                acc = fused ? fma32(v, wd[wo + c], acc) : Math.fround(acc + Math.fround(v * wd[wo + c]));
              }
            }
          }
          out[o++] = acc < lo ? lo : acc > hi ? hi : acc;
        }
      }
    }
  }
}

/**
 * Depthwise out[N, OH, OW, C*mult] from x[N, H, W, C] and w[1, KH, KW, C*mult]. With multiplier 1 the taps
 * go column-major (XNNPACK's depthwise kernels); with a larger multiplier XNNPACK runs a grouped
 * convolution (one input channel per group), whose taps go row-major.
 */
export function xnnDepthwise(
  g: ConvGeometry,
  x: Float32Array,
  w: { data: Float32Array },
  bias: Float32Array | undefined,
  mult: number,
  lo: number,
  hi: number,
  out: Float32Array,
): void {
  const eng = wasmEngine();
  if (mult === 1 && eng) {
    try {
      depthwiseWasm(eng, g, x, w, bias, lo, hi, out);
      return;
    } catch (e) {
      if (!(e instanceof ArenaFull)) throw e;
    }
  }
  const fused = !eng || eng.kernels.relaxed;
  if (mult !== 1) {
    // OHWI view of the grouped convolution: output channel c*mult+m has filter w[0, ky, kx, c*mult+m].
    const OC = g.C * mult, T = g.KH * g.KW;
    const wg = new Float32Array(OC * T);
    for (let t = 0; t < T; t++) for (let oc = 0; oc < OC; oc++) wg[oc * T + t] = w.data[t * OC + oc];
    convJS(g, x, wg, bias, OC, g.C, lo, hi, out, fused);
    return;
  }
  depthwiseJS(g, x, w.data, bias, lo, hi, out, fused);
}

function depthwiseWasm(
  eng: WasmEngine,
  g: ConvGeometry,
  x: Float32Array,
  w: { data: Float32Array },
  bias: Float32Array | undefined,
  lo: number,
  hi: number,
  out: Float32Array,
): void {
  const k = instance(eng);
  const { arena } = eng;
  const C = g.C, C4 = Math.ceil(C / 4) * 4, T = g.KH * g.KW, P = g.OH * g.OW;
  const img = g.H * g.W * C;
  for (let n = 0; n < g.N; n++) {
    arena.reset();
    const pW = packedOperand(eng, w, `xnn-dw:${C}:${g.KH}:${g.KW}`, T * C4, (dst, at) => {
      dst.fill(0, at, at + T * C4);
      // Tap j of the column-major order is (ky, kx) = (j % KH, floor(j / KH)).
      for (let j = 0; j < T; j++) {
        const ky = j % g.KH, kx = Math.floor(j / g.KH);
        dst.set(w.data.subarray((ky * g.KW + kx) * C, (ky * g.KW + kx + 1) * C), at + j * C4);
      }
    });
    const pBias = arena.scratch(C4 * 4);
    const pZero = arena.scratch(C4 * 4);
    const pX = arena.scratch(img * 4);
    const pInd = arena.scratch(P * T * 4);
    const pO = arena.scratch(P * C4 * 4);
    const f32 = arena.f32, i32 = arena.i32;
    f32.fill(0, pBias >> 2, (pBias >> 2) + C4);
    if (bias) f32.set(bias, pBias >> 2);
    f32.fill(0, pZero >> 2, (pZero >> 2) + C4);
    f32.set(x.subarray(n * img, (n + 1) * img), pX >> 2);
    const pixB = C * 4;
    let d = pInd >> 2;
    for (let oy = 0; oy < g.OH; oy++) {
      for (let ox = 0; ox < g.OW; ox++) {
        for (let kx = 0; kx < g.KW; kx++) {
          const ix = ox * g.sw - g.pl + kx * g.dw;
          const colOk = ix >= 0 && ix < g.W;
          for (let ky = 0; ky < g.KH; ky++) {
            const iy = oy * g.sh - g.pt + ky * g.dh;
            i32[d++] = colOk && iy >= 0 && iy < g.H ? pX + (iy * g.W + ix) * pixB : pZero;
          }
        }
      }
    }
    k.dw(pInd, pW, pBias, pO, P, T, C4, lo, hi);
    const src = arena.f32, oAt = pO >> 2, base = n * P * C;
    if (C4 === C) out.set(src.subarray(oAt, oAt + P * C), base);
    else for (let p = 0; p < P; p++) out.set(src.subarray(oAt + p * C4, oAt + p * C4 + C), base + p * C);
  }
}

function depthwiseJS(
  g: ConvGeometry,
  x: Float32Array,
  wd: Float32Array,
  bias: Float32Array | undefined,
  lo: number,
  hi: number,
  out: Float32Array,
  fused: boolean,
): void {
  const C = g.C;
  let o = 0;
  for (let n = 0; n < g.N; n++) {
    for (let oy = 0; oy < g.OH; oy++) {
      for (let ox = 0; ox < g.OW; ox++) {
        for (let c = 0; c < C; c++) {
          let acc = bias ? bias[c] : 0;
          for (let kx = 0; kx < g.KW; kx++) {
            const ix = ox * g.sw - g.pl + kx * g.dw;
            for (let ky = 0; ky < g.KH; ky++) {
              const iy = oy * g.sh - g.pt + ky * g.dh;
              const inside = iy >= 0 && iy < g.H && ix >= 0 && ix < g.W;
              const v = inside ? x[((n * g.H + iy) * g.W + ix) * C + c] : 0;
              const wv = wd[(ky * g.KW + kx) * C + c];
              acc = fused ? fma32(v, wv, acc) : Math.fround(acc + Math.fround(v * wv));
            }
          }
          out[o++] = acc < lo ? lo : acc > hi ? hi : acc;
        }
      }
    }
  }
}

/**
 * out[P, OC] = bias + rows[P, K]·wᵀ, one chain per output in k order, where w[oc][k] = weightAt(oc, k)
 * (packed once per `key` and `variant`); with `fused` false the product is rounded before the add.
 * False when the SIMD engine is not there (the caller computes it another way).
 */
export function xnnRowsGemm(
  rows: Float32Array,
  P: number,
  K: number,
  key: { data: ArrayLike<unknown> },
  variant: string,
  weightAt: (oc: number, k: number) => number,
  bias: Float32Array | undefined,
  OC: number,
  lo: number,
  hi: number,
  out: Float32Array,
  fused: boolean,
): boolean {
  const eng = wasmEngine();
  if (!eng) return false;
  try {
    const k = instance(eng);
    const { arena } = eng;
    const ocBlocks = Math.ceil(OC / NR), OCp = ocBlocks * NR;
    const pBlocks = Math.ceil(P / MR), Pp = pBlocks * MR;
    arena.reset();
    const pW = packedOperand(eng, key, variant, ocBlocks * K * NR, (dst, at) => {
      dst.fill(0, at, at + ocBlocks * K * NR);
      for (let oc = 0; oc < OC; oc++) {
        const blk = at + Math.floor(oc / NR) * K * NR + (oc % NR);
        for (let kk = 0; kk < K; kk++) dst[blk + kk * NR] = weightAt(oc, kk);
      }
    });
    const pBias = arena.scratch(OCp * 4), pA = arena.scratch(Pp * K * 4);
    const pInd = arena.scratch(Pp * 4), pO = arena.scratch(Pp * OCp * 4);
    const f32 = arena.f32, i32 = arena.i32;
    f32.fill(0, pBias >> 2, (pBias >> 2) + OCp);
    if (bias) f32.set(bias.subarray(0, OC), pBias >> 2);
    f32.set(rows.subarray(0, P * K), pA >> 2);
    f32.fill(0, (pA >> 2) + P * K, (pA >> 2) + Pp * K);
    for (let p = 0; p < Pp; p++) i32[(pInd >> 2) + p] = pA + p * K * 4;
    (fused ? k.igemm : k.igemmMul)(pInd, pW, pBias, pO, pBlocks, 1, K, ocBlocks, lo, hi);
    const src = arena.f32, oAt = pO >> 2;
    if (OCp === OC) out.set(src.subarray(oAt, oAt + P * OC));
    else for (let p = 0; p < P; p++) out.set(src.subarray(oAt + p * OCp, oAt + p * OCp + OC), p * OC);
    return true;
  } catch (e) {
    if (e instanceof ArenaFull) return false;
    throw e;
  }
}

/**
 * Depthwise (multiplier 1) with mul then add: from the bias over taps0 ([ky, kx] in order), plus a second
 * sum over taps1 started by its first product, added last. False without the SIMD engine.
 */
export function xnnDepthwiseSplit(
  g: ConvGeometry,
  x: Float32Array,
  w: { data: Float32Array },
  bias: Float32Array | undefined,
  taps0: readonly (readonly [number, number])[],
  taps1: readonly (readonly [number, number])[],
  lo: number,
  hi: number,
  out: Float32Array,
): boolean {
  const eng = wasmEngine();
  if (!eng) return false;
  try {
    const k = instance(eng);
    const { arena } = eng;
    const C = g.C, C4 = Math.ceil(C / 4) * 4, taps = [...taps0, ...taps1], T = taps.length, P = g.OH * g.OW;
    const img = g.H * g.W * C, variant = `xnn-dw-split:${C}:${g.KW}:${taps.map(([a, b]) => a * g.KW + b)}`;
    for (let n = 0; n < g.N; n++) {
      arena.reset();
      const pW = packedOperand(eng, w, variant, T * C4, (dst, at) => {
        dst.fill(0, at, at + T * C4);
        taps.forEach(([ky, kx], j) => {
          const s = (ky * g.KW + kx) * C;
          dst.set(w.data.subarray(s, s + C), at + j * C4);
        });
      });
      const pBias = arena.scratch(C4 * 4), pZero = arena.scratch(C4 * 4), pX = arena.scratch(img * 4);
      const pInd = arena.scratch(P * T * 4), pO = arena.scratch(P * C4 * 4);
      const f32 = arena.f32, i32 = arena.i32;
      f32.fill(0, pBias >> 2, (pBias >> 2) + C4);
      if (bias) f32.set(bias, pBias >> 2);
      f32.fill(0, pZero >> 2, (pZero >> 2) + C4);
      f32.set(x.subarray(n * img, (n + 1) * img), pX >> 2);
      const dy = Int32Array.from(taps, (t) => t[0]), dx = Int32Array.from(taps, (t) => t[1]);
      let d = pInd >> 2;
      for (let oy = 0; oy < g.OH; oy++) {
        for (let ox = 0; ox < g.OW; ox++) {
          for (let t = 0; t < T; t++) {
            const iy = oy * g.sh - g.pt + dy[t], ix = ox * g.sw - g.pl + dx[t];
            i32[d++] = iy >= 0 && iy < g.H && ix >= 0 && ix < g.W ? pX + (iy * g.W + ix) * C * 4 : pZero;
          }
        }
      }
      k.dwSplit(pInd, pW, pBias, pO, P, taps0.length, taps1.length, C4, lo, hi);
      const src = arena.f32, oAt = pO >> 2, base = n * P * C;
      if (C4 === C) out.set(src.subarray(oAt, oAt + P * C), base);
      else for (let p = 0; p < P; p++) out.set(src.subarray(oAt + p * C4, oAt + p * C4 + C), base + p * C);
    }
    return true;
  } catch (e) {
    if (e instanceof ArenaFull) return false;
    throw e;
  }
}

/** FULLY_CONNECTED: out[rows, U] = x[rows, D] · w[U, D]ᵀ + bias, clamped: a GEMM with one tap. */
export function xnnFullyConnected(
  x: Float32Array,
  w: { data: Float32Array },
  bias: Float32Array | undefined,
  rows: number,
  U: number,
  D: number,
  lo: number,
  hi: number,
  out: Float32Array,
): void {
  const g: ConvGeometry = {
    N: 1,
    H: rows,
    W: 1,
    C: D,
    OH: rows,
    OW: 1,
    KH: 1,
    KW: 1,
    sh: 1,
    sw: 1,
    dh: 1,
    dw: 1,
    pt: 0,
    pl: 0,
  };
  xnnConv2d(g, x, w, bias, U, 1, lo, hi, out);
}

function mulAdd(a: number, b: number, c: number): number {
  return Math.fround(Math.fround(a * b) + c);
}

/**
 * The scalar multiply-add round32(a·b + c) LiteRT's build uses here: fused where the engine has relaxed
 * SIMD (or has no WebAssembly), else the product rounded first.
 */
export function xnnMadd(): (a: number, b: number, c: number) => number {
  const eng = wasmEngine();
  return !eng || eng.kernels.relaxed ? fma32 : mulAdd;
}

// ---- deconvolution (TRANSPOSE_CONV) as XNNPACK computes it ----------------------------------------------

/** A deconvolution's geometry: NHWC input and output, OHWI filter; output pixel (oy, ox) reads input
 * (iy, ix) through tap (ky, kx) when iy·sh = oy + pt − ky and ix·sw = ox + pl − kx. */
export interface DeconvGeometry {
  N: number;
  IH: number;
  IW: number;
  IC: number;
  OH: number;
  OW: number;
  OC: number;
  KH: number;
  KW: number;
  sh: number;
  sw: number;
  pt: number;
  pl: number;
}

/** Output rows and columns that share one list of taps, and those taps in chain order. */
interface DeconvPhase {
  oy: number[];
  ox: number[];
  ky: number[];
  kx: number[];
}

const range = (from: number, to: number, step: number) => {
  const r: number[] = [];
  for (let i = from; i < to; i += step) r.push(i);
  return r;
};

/**
 * XNNPACK splits a strided deconvolution (stride above 1, no larger than the kernel) into one
 * subconvolution per kernel offset (ky mod sh, kx mod sw): its output pixels are those the offset's taps
 * can reach, and their chains take only those taps, (ky, kx) row-major, a tap with no input pixel reading
 * zeros. Otherwise every output pixel takes every tap. Leaving a tap out changes nothing but signed zeros
 * and NaNs (0·∞), so the split is part of the arithmetic, and it spares the stride² zero taps.
 */
function deconvPhases(g: DeconvGeometry): DeconvPhase[] {
  const all = (n: number) => range(0, n, 1);
  if (Math.max(g.sh, g.sw) === 1 || g.sh > g.KH || g.sw > g.KW) {
    const ky: number[] = [], kx: number[] = [];
    for (let y = 0; y < g.KH; y++) for (let x = 0; x < g.KW; x++) ky.push(y), kx.push(x);
    return [{ oy: all(g.OH), ox: all(g.OW), ky, kx }];
  }
  const mod = (a: number, m: number) => ((a % m) + m) % m;
  const phases: DeconvPhase[] = [];
  for (let dy = 0; dy < g.sh; dy++) {
    for (let dx = 0; dx < g.sw; dx++) {
      const ky: number[] = [], kx: number[] = [];
      for (let y = dy; y < g.KH; y += g.sh) for (let x = dx; x < g.KW; x += g.sw) ky.push(y), kx.push(x);
      const oy = range(mod(dy - g.pt, g.sh), g.OH, g.sh), ox = range(mod(dx - g.pl, g.sw), g.OW, g.sw);
      if (oy.length > 0 && ox.length > 0) phases.push({ oy, ox, ky, kx });
    }
  }
  return phases;
}

/** The input pixel index (n·IH + iy)·IW + ix that tap (ky, kx) of output (oy, ox) reads, or -1. */
function deconvSource(g: DeconvGeometry, n: number, oy: number, ox: number, ky: number, kx: number): number {
  const y = oy + g.pt - ky, x = ox + g.pl - kx;
  if (y < 0 || x < 0 || y % g.sh !== 0 || x % g.sw !== 0) return -1;
  const iy = y / g.sh, ix = x / g.sw;
  return iy < g.IH && ix < g.IW ? (n * g.IH + iy) * g.IW + ix : -1;
}

/**
 * out[N, OH, OW, OC] = deconv(x, w[OC, KH, KW, IC]) + bias, clamped to [lo, hi]: per output pixel one
 * multiply-add chain from the bias over its phase's taps, IC input channels within a tap.
 */
export function xnnDeconv2d(
  g: DeconvGeometry,
  x: Float32Array,
  w: { data: Float32Array },
  bias: Float32Array | undefined,
  lo: number,
  hi: number,
  out: Float32Array,
): void {
  if (g.N * g.OH * g.OW * g.OC === 0) return;
  const phases = deconvPhases(g);
  const eng = wasmEngine();
  if (eng && g.IC > 0) {
    try {
      deconvWasm(eng, g, phases, x, w, bias, lo, hi, out);
      return;
    } catch (e) {
      if (!(e instanceof ArenaFull)) throw e;
    }
  }
  deconvJS(g, phases, x, w.data, bias, lo, hi, out, !eng || eng.kernels.relaxed);
}

function deconvWasm(
  eng: WasmEngine,
  g: DeconvGeometry,
  phases: DeconvPhase[],
  x: Float32Array,
  w: { data: Float32Array },
  bias: Float32Array | undefined,
  lo: number,
  hi: number,
  out: Float32Array,
): void {
  const k = instance(eng), { arena } = eng;
  const { IC, OC } = g, ocBlocks = Math.ceil(OC / NR), OCp = ocBlocks * NR;
  // Every phase's weights in one packed operand: [phase][ocBlock][tap][IC][NR].
  const at: number[] = [];
  let floats = 0;
  for (const ph of phases) at.push(floats), floats += ocBlocks * ph.ky.length * IC * NR;
  const img = g.IH * g.IW * IC, wd = w.data, KHW = g.KH * g.KW;
  const variant = `xnn-deconv:${g.KH}x${g.KW}/${g.sh}x${g.sw}:${OC}:${IC}`;
  for (let n = 0; n < g.N; n++) {
    arena.reset();
    const pW = packedOperand(eng, w, variant, floats, (dst, base) => {
      dst.fill(0, base, base + floats);
      phases.forEach((ph, i) => {
        const T = ph.ky.length, K = T * IC;
        for (let oc = 0; oc < OC; oc++) {
          const blk = base + at[i] + Math.floor(oc / NR) * K * NR + (oc % NR);
          for (let t = 0; t < T; t++) {
            const src = (oc * KHW + ph.ky[t] * g.KW + ph.kx[t]) * IC;
            for (let c = 0; c < IC; c++) dst[blk + (t * IC + c) * NR] = wd[src + c];
          }
        }
      });
    });
    let maxInd = 0, maxPix = 0;
    for (const ph of phases) {
      const Pp = Math.ceil((ph.oy.length * ph.ox.length) / MR) * MR;
      maxInd = Math.max(maxInd, Pp * ph.ky.length);
      maxPix = Math.max(maxPix, Pp);
    }
    const pBias = arena.scratch(OCp * 4), pZero = arena.scratch(IC * 4), pX = arena.scratch(img * 4);
    const pInd = arena.scratch(maxInd * 4), pO = arena.scratch(maxPix * OCp * 4);
    const f32 = arena.f32, i32 = arena.i32;
    f32.fill(0, pBias >> 2, (pBias >> 2) + OCp);
    if (bias) f32.set(bias.subarray(0, OC), pBias >> 2);
    f32.fill(0, pZero >> 2, (pZero >> 2) + IC);
    f32.set(x.subarray(n * img, (n + 1) * img), pX >> 2);
    phases.forEach((ph, i) => {
      const T = ph.ky.length, P = ph.oy.length * ph.ox.length, pBlocks = Math.ceil(P / MR);
      let d = pInd >> 2;
      for (const oy of ph.oy) {
        for (const ox of ph.ox) {
          for (let t = 0; t < T; t++) {
            // The batch offset is in pX already: address pixels of image 0.
            const s = deconvSource(g, 0, oy, ox, ph.ky[t], ph.kx[t]);
            i32[d++] = s < 0 ? pZero : pX + s * IC * 4;
          }
        }
      }
      i32.fill(pZero, d, d + (pBlocks * MR - P) * T);
      k.igemm(pInd, pW + at[i] * 4, pBias, pO, pBlocks, T, IC, ocBlocks, lo, hi);
      const src = arena.f32;
      let p = pO >> 2;
      for (const oy of ph.oy) {
        const row = (n * g.OH + oy) * g.OW;
        for (const ox of ph.ox) {
          const o = (row + ox) * OC;
          for (let c = 0; c < OC; c++) out[o + c] = src[p + c];
          p += OCp;
        }
      }
    });
  }
}

function deconvJS(
  g: DeconvGeometry,
  phases: DeconvPhase[],
  x: Float32Array,
  wd: Float32Array,
  bias: Float32Array | undefined,
  lo: number,
  hi: number,
  out: Float32Array,
  fused: boolean,
): void {
  const { IC, OC } = g, KHW = g.KH * g.KW;
  for (const ph of phases) {
    const T = ph.ky.length, src = new Int32Array(T);
    for (let n = 0; n < g.N; n++) {
      for (const oy of ph.oy) {
        for (const ox of ph.ox) {
          for (let t = 0; t < T; t++) src[t] = deconvSource(g, n, oy, ox, ph.ky[t], ph.kx[t]) * IC;
          const o = ((n * g.OH + oy) * g.OW + ox) * OC;
          for (let oc = 0; oc < OC; oc++) {
            let acc = bias ? bias[oc] : 0;
            for (let t = 0; t < T; t++) {
              const wo = (oc * KHW + ph.ky[t] * g.KW + ph.kx[t]) * IC, xo = src[t];
              for (let c = 0; c < IC; c++) {
                const v = xo < 0 ? 0 : x[xo + c], wv = wd[wo + c];
                acc = fused ? fma32(v, wv, acc) : Math.fround(acc + Math.fround(v * wv));
              }
            }
            out[o + oc] = acc < lo ? lo : acc > hi ? hi : acc;
          }
        }
      }
    }
  }
}
