/**
 * NHWC depthwise convolution (depth multiplier 1, channels a multiple of 4) in WebAssembly SIMD, on the
 * GEMM engine's linear memory. Per output pixel the bias is copied in, then every tap inside the image adds
 * input × weight over the channel vector (one fused multiply-add per four channels where the engine has
 * relaxed SIMD), then the fused-activation clamp runs. Other shapes use the JS kernel.
 */
import { assembleModule, FuncBuilder, I32, SIMD } from "../gemm/wasm-asm.ts";
import { wasmEngine } from "../gemm/wasm-simd.ts";

interface Kernel {
  dw(
    pX: number,
    pW: number,
    pB: number,
    pO: number,
    H: number,
    W: number,
    C: number,
    OH: number,
    OW: number,
    KH: number,
    KW: number,
    sh: number,
    sw: number,
    dh: number,
    dw: number,
    pt: number,
    pl: number,
    lo: number,
    hi: number,
  ): void;
}

function dwFn(relaxed: boolean): FuncBuilder {
  const f = new FuncBuilder([
    ...new Array<"i32">(17).fill("i32"),
    "f32",
    "f32",
  ]);
  const [pX, pW, pB, pO, H, W, C, OH, OW, KH, KW, sh, sw, dh, dw, pt, pl, lo, hi] = Array.from(
    { length: 19 },
    (_, i) => i,
  );
  const loV = f.local("v128"), hiV = f.local("v128");
  const oy = f.local("i32"),
    ox = f.local("i32"),
    ky = f.local("i32"),
    kx = f.local("i32"),
    cb = f.local("i32");
  const iy = f.local("i32"),
    ix = f.local("i32"),
    po = f.local("i32"),
    px = f.local("i32"),
    pw = f.local("i32");
  const pixB = f.local("i32"), rowB = f.local("i32"), tapRow = f.local("i32");
  f.set(loV, (g) => g.splat(lo)).set(hiV, (g) => g.splat(hi));
  f.set(pixB, (g) => g.shl(C, 2)).set(rowB, (g) => g.mul(W, pixB));
  f.set(po, pO);
  const inRange = (v: number, n: number) => (g: FuncBuilder) =>
    g.expr(v).i32(0).emit(I32.i32GeS).expr(v).expr(n).emit(I32.i32LtS).emit(I32.i32And);
  f.forLoop(oy, (g) => g.i32(0), OH, (g) => g.i32(1), () => {
    f.forLoop(ox, (g) => g.i32(0), OW, (g) => g.i32(1), () => {
      f.memCopy(po, pB, pixB);
      f.forLoop(ky, (g) => g.i32(0), KH, (g) => g.i32(1), () => {
        f.set(iy, (g) => g.add((g) => g.sub((g) => g.mul(oy, sh), pt), (g) => g.mul(ky, dh)));
        f.ifElse(inRange(iy, H), () => {
          f.set(tapRow, (g) => g.add(pX, (g) => g.mul(iy, rowB)));
          f.forLoop(kx, (g) => g.i32(0), KW, (g) => g.i32(1), () => {
            f.set(ix, (g) => g.add((g) => g.sub((g) => g.mul(ox, sw), pl), (g) => g.mul(kx, dw)));
            f.ifElse(inRange(ix, W), () => {
              f.set(px, (g) => g.add(tapRow, (g) => g.mul(ix, pixB)));
              f.set(pw, (g) => g.add(pW, (g) => g.mul((g) => g.add((g) => g.mul(ky, KW), kx), pixB)));
              f.forLoop(cb, (g) => g.i32(0), pixB, (g) => g.i32(16), () => {
                f.storeV((g) => g.add(po, cb), (g) => {
                  g.loadV((g) => g.add(px, cb)).loadV((g) => g.add(pw, cb));
                  if (relaxed) g.loadV((g) => g.add(po, cb)).simd(SIMD.f32x4RelaxedMadd);
                  else g.simd(SIMD.f32x4Mul).loadV((g) => g.add(po, cb)).simd(SIMD.f32x4Add);
                });
              });
            });
          });
        });
      });
      f.forLoop(cb, (g) => g.i32(0), pixB, (g) => g.i32(16), () => {
        f.storeV(
          (g) => g.add(po, cb),
          (g) => g.loadV((g) => g.add(po, cb)).get(loV).simd(SIMD.f32x4Pmax).get(hiV).simd(SIMD.f32x4Pmin),
        );
      });
      f.inc(po, pixB);
    });
  });
  return f;
}

let kernel: Kernel | null | undefined;

function instance(): Kernel | undefined {
  if (kernel !== undefined) return kernel ?? undefined;
  kernel = null;
  const eng = wasmEngine();
  if (!eng) return undefined;
  const mod = new WebAssembly.Module(
    assembleModule([{ name: "dw", fn: dwFn(eng.kernels.relaxed) }]) as BufferSource,
  );
  kernel = new WebAssembly.Instance(mod, { env: { mem: eng.arena.memory } }).exports as unknown as Kernel;
  return kernel;
}

export interface DepthwiseArgs {
  x: Float32Array;
  /** [KH, KW, C] */
  w: Float32Array;
  /** [C], zeros when the op has no bias. */
  bias: Float32Array;
  out: Float32Array;
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
  lo: number;
  hi: number;
}

/** Runs the SIMD kernel; false when it does not apply here (no SIMD engine, or C not a multiple of 4). */
export function depthwiseNhwcWasm(a: DepthwiseArgs): boolean {
  if (a.C % 4 !== 0) return false;
  const k = instance();
  const eng = wasmEngine();
  if (!k || !eng) return false;
  const { arena } = eng;
  const img = a.H * a.W * a.C, outImg = a.OH * a.OW * a.C;
  for (let n = 0; n < a.N; n++) {
    arena.reset();
    const pW = arena.scratch(a.w.length * 4), pB = arena.scratch(a.C * 4);
    const pX = arena.scratch(img * 4), pO = arena.scratch(outImg * 4);
    const mem = arena.f32;
    mem.set(a.w, pW >> 2);
    mem.set(a.bias, pB >> 2);
    mem.set(a.x.subarray(n * img, (n + 1) * img), pX >> 2);
    k.dw(
      pX,
      pW,
      pB,
      pO,
      a.H,
      a.W,
      a.C,
      a.OH,
      a.OW,
      a.KH,
      a.KW,
      a.sh,
      a.sw,
      a.dh,
      a.dw,
      a.pt,
      a.pl,
      a.lo,
      a.hi,
    );
    a.out.set(arena.f32.subarray(pO >> 2, (pO >> 2) + outImg), n * outImg);
  }
  return true;
}
