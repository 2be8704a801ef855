/**
 * Float softmax over the last axis as LiteRT's CPU path computes it (XNNPACK's softmax operator): the row
 * maximum, then f32-raddstoreexpminusmax (rr2_p5: e^(x−max) from a rounded power of two and a degree-5
 * polynomial in the two-step range-reduced remainder, flushed to 0 below the denormal cutoff) storing each
 * exponential while summing them, then one multiply of every exponential by the float32 reciprocal of the
 * sum. The multiply-adds are the engine's: f32x4.relaxed_madd in a WebAssembly kernel where the engine
 * has relaxed SIMD (the instruction LiteRT's build uses, lowered the same way by the same engine), mul
 * then add without it; the JavaScript fallback (no WebAssembly) computes the same chain with an exactly
 * rounded float32 fused multiply-add.
 */
import { assembleModule, FuncBuilder, I32, SIMD } from "../gemm/wasm-asm.ts";
import { ArenaFull, type WasmEngine, wasmEngine } from "../gemm/wasm-simd.ts";
import { xnnMadd } from "./tflite-xnnpack-conv.ts";

const f = Math.fround;
const bitsF32 = new Float32Array(1), bitsI32 = new Int32Array(bitsF32.buffer);

// The kernel's hex-float constants, exactly (each is a float32).
const LOG2E = 1.4426950216293335;
const MAGIC = 12583039; // 2^23 + 2^22 + 127
const MINUS_LN2_HI = -0.693145751953125;
const MINUS_LN2_LO = -1.428606765330187e-06;
const C5 = 0.008289290592074394;
const C4 = 0.04189782217144966;
const C3 = 0.16667652130126953;
const C2 = 0.4999915063381195;
const C1 = 0.9999997019767761;
const DENORM_CUTOFF = -87.33654022216797;

/**
 * out = softmax(x) row by row over rows of `d`. The sum follows the kernel's lanes: element i goes to lane
 * i mod 4 while whole groups of four remain, the lanes are folded as (l0 + l2) + (l1 + l3), then a last
 * pair is added as its own sum and a last single element after it.
 */
export function xnnSoftmax(x: Float32Array, o: Float32Array, d: number): void {
  const eng = wasmEngine();
  if (eng && x.length > 0 && d > 0) {
    try {
      softmaxWasm(eng, x, o, d);
      return;
    } catch (e) {
      if (!(e instanceof ArenaFull)) throw e;
    }
  }
  softmaxJS(x, o, d);
}

interface Kernels {
  softmax(pX: number, pO: number, rows: number, d: number): void;
}

let kernels: { eng: WasmEngine; k: Kernels } | undefined;

function instance(eng: WasmEngine): Kernels {
  if (kernels?.eng === eng) return kernels.k;
  const mod = new WebAssembly.Module(
    assembleModule([{ name: "softmax", fn: softmaxFn(eng.kernels.relaxed) }]) as BufferSource,
  );
  const k = new WebAssembly.Instance(mod, { env: { mem: eng.arena.memory } }).exports as unknown as Kernels;
  kernels = { eng, k };
  return k;
}

function softmaxWasm(eng: WasmEngine, x: Float32Array, o: Float32Array, d: number): void {
  const k = instance(eng), { arena } = eng, n = x.length;
  arena.reset();
  const pX = arena.scratch(n * 4), pO = arena.scratch(n * 4);
  arena.f32.set(x, pX >> 2);
  k.softmax(pX, pO, n / d, d);
  o.set(arena.f32.subarray(pO >> 2, (pO >> 2) + n));
}

function softmaxJS(x: Float32Array, o: Float32Array, d: number): void {
  const madd = xnnMadd();
  const rows = d === 0 ? 0 : x.length / d, full = d & ~3;
  for (let r = 0; r < rows; r++) {
    const s0 = r * d;
    let m = -Infinity;
    for (let i = 0; i < d; i++) if (x[s0 + i] > m) m = x[s0 + i];
    let l0 = 0, l1 = 0, l2 = 0, l3 = 0;
    for (let i = 0; i < d; i++) {
      const v = f(x[s0 + i] - m);
      let n = madd(v, LOG2E, MAGIC);
      bitsF32[0] = n;
      bitsI32[0] <<= 23;
      const s = bitsF32[0];
      n = f(n - MAGIC);
      let t = madd(n, MINUS_LN2_HI, v);
      t = madd(n, MINUS_LN2_LO, t);
      let p = madd(C5, t, C4);
      p = madd(p, t, C3);
      p = madd(p, t, C2);
      p = madd(p, t, C1);
      t = f(t * s);
      const e = v < DENORM_CUTOFF ? 0 : madd(t, p, s);
      o[s0 + i] = e;
      if (i < full) {
        switch (i & 3) {
          case 0:
            l0 = f(l0 + e);
            break;
          case 1:
            l1 = f(l1 + e);
            break;
          case 2:
            l2 = f(l2 + e);
            break;
          default:
            l3 = f(l3 + e);
        }
      }
    }
    let sum = f(f(l0 + l2) + f(l1 + l3));
    if (d & 2) sum = f(sum + f(o[s0 + full] + o[s0 + full + 1]));
    if (d & 1) sum = f(sum + o[s0 + d - 1]);
    const scale = f(1 / sum);
    for (let i = 0; i < d; i++) o[s0 + i] = f(o[s0 + i] * scale);
  }
}

/**
 * softmax(pX, pO, rows, d): rows of d floats at byte address pX, results at pO. Reads up to three floats
 * past a row's end (the arena's slack), writes only the row.
 */
function softmaxFn(relaxed: boolean): FuncBuilder {
  const g = new FuncBuilder(["i32", "i32", "i32", "i32"]);
  const [pX, pO, rows, d] = [0, 1, 2, 3];
  const r = g.local("i32"), i = g.local("i32"), rowX = g.local("i32"), rowO = g.local("i32");
  const fullB = g.local("i32"), rowB = g.local("i32"), rem = g.local("i32");
  const m = g.local("f32"), sum = g.local("f32"), scale = g.local("f32");
  const vm = g.local("v128"), vacc = g.local("v128"), vsc = g.local("v128");
  const vv = g.local("v128"), vn = g.local("v128"), vs = g.local("v128"), vt = g.local("v128");
  const vp = g.local("v128"), ve = g.local("v128");
  const k = Object.fromEntries(
    ["log2e", "magic", "hi", "lo", "c5", "c4", "c3", "c2", "c1", "cut"].map((n) => [n, g.local("v128")]),
  );
  const consts: [number, number][] = [
    [k.log2e, LOG2E],
    [k.magic, MAGIC],
    [k.hi, MINUS_LN2_HI],
    [k.lo, MINUS_LN2_LO],
    [k.c5, C5],
    [k.c4, C4],
    [k.c3, C3],
    [k.c2, C2],
    [k.c1, C1],
    [k.cut, DENORM_CUTOFF],
  ];
  for (const [l, v] of consts) g.set(l, (h) => h.splat((h) => h.f32(v)));
  /** dst = a·b + c, fused where relaxed. */
  const madd = (dst: number, a: number, b: number, c: number) => {
    if (relaxed) g.get(a).get(b).get(c).simd(SIMD.f32x4RelaxedMadd);
    else g.get(a).get(b).simd(SIMD.f32x4Mul).get(c).simd(SIMD.f32x4Add);
    g.set(dst);
  };
  /** ve = e^(v − max) of the four floats at addr, 0 below the cutoff; vv keeps x − max. */
  const exp = (addr: (h: FuncBuilder) => void) => {
    g.set(vv, (h) => h.vop(SIMD.f32x4Sub, (h) => h.loadV(addr), vm));
    madd(vn, vv, k.log2e, k.magic);
    g.set(vs, (h) => h.get(vn).i32(23).simd(SIMD.i32x4Shl));
    g.set(vn, (h) => h.vop(SIMD.f32x4Sub, vn, k.magic));
    madd(vt, vn, k.hi, vv);
    madd(vt, vn, k.lo, vt);
    madd(vp, k.c5, vt, k.c4);
    madd(vp, vp, vt, k.c3);
    madd(vp, vp, vt, k.c2);
    madd(vp, vp, vt, k.c1);
    g.set(vt, (h) => h.vop(SIMD.f32x4Mul, vt, vs));
    madd(ve, vt, vp, vs);
    g.set(ve, (h) => h.get(ve).vop(SIMD.f32x4Lt, vv, k.cut).simd(SIMD.v128Andnot));
  };
  const lane = (v: number, l: number) => (h: FuncBuilder) => h.get(v).simd(SIMD.f32x4ExtractLane).emit(l);
  g.set(rowB, (h) => h.shl(d, 2));
  g.set(fullB, (h) => h.and(rowB, (h) => h.i32(-16)));
  g.set(rem, (h) => h.and(d, (h) => h.i32(3)));
  g.forLoop(r, (h) => h.i32(0), rows, (h) => h.i32(1), () => {
    g.set(rowX, (h) => h.add(pX, (h) => h.mul(r, rowB)));
    g.set(rowO, (h) => h.add(pO, (h) => h.mul(r, rowB)));
    // The maximum: any order gives the same value (a NaN anywhere makes every output NaN either way).
    g.set(vm, (h) => h.splat((h) => h.f32(-Infinity)));
    g.forLoop(i, (h) => h.i32(0), fullB, (h) => h.i32(16), () => {
      g.set(vm, (h) => h.vop(SIMD.f32x4Max, vm, (h) => h.loadV((h) => h.add(rowX, i))));
    });
    g.set(m, (h) => h.expr(lane(vm, 0)).expr(lane(vm, 1)).emit(I32.f32Max));
    g.set(m, (h) => h.get(m).expr(lane(vm, 2)).emit(I32.f32Max).expr(lane(vm, 3)).emit(I32.f32Max));
    g.forLoop(i, fullB, rowB, (h) => h.i32(4), () => {
      g.set(m, (h) => h.get(m).loadF32((h) => h.add(rowX, i)).emit(I32.f32Max));
    });
    g.set(vm, (h) => h.splat(m));
    // Exponentials, stored and summed lane by lane over whole groups of four.
    g.set(vacc, (h) => h.splat((h) => h.f32(0)));
    g.forLoop(i, (h) => h.i32(0), fullB, (h) => h.i32(16), () => {
      exp((h) => h.add(rowX, i));
      g.storeV((h) => h.add(rowO, i), ve);
      g.set(vacc, (h) => h.vop(SIMD.f32x4Add, vacc, ve));
    });
    g.set(sum, (h) =>
      h.expr(lane(vacc, 0)).expr(lane(vacc, 2)).emit(I32.f32Add)
        .expr(lane(vacc, 1)).expr(lane(vacc, 3)).emit(I32.f32Add).emit(I32.f32Add));
    // The last one to three: a pair added as its own sum, then a single.
    g.ifElse(rem, () => {
      exp((h) => h.add(rowX, fullB));
      g.storeLane((h) => h.add(rowO, fullB), ve, 0);
      g.ifElse((h) => h.get(rem).i32(2).emit(I32.i32GeS), () => {
        g.storeLane((h) => h.add(rowO, fullB), ve, 1, 4);
        g.set(sum, (h) => h.get(sum).expr(lane(ve, 0)).expr(lane(ve, 1)).emit(I32.f32Add).emit(I32.f32Add));
      });
      g.ifElse((h) => h.get(rem).i32(1).emit(I32.i32Eq), () => {
        g.set(sum, (h) => h.get(sum).expr(lane(ve, 0)).emit(I32.f32Add));
      });
      g.ifElse((h) => h.get(rem).i32(3).emit(I32.i32Eq), () => {
        g.storeLane((h) => h.add(rowO, fullB), ve, 2, 8);
        g.set(sum, (h) => h.get(sum).expr(lane(ve, 2)).emit(I32.f32Add));
      });
    });
    g.set(scale, (h) => h.f32(1).get(sum).emit(I32.f32Div));
    g.set(vsc, (h) => h.splat(scale));
    g.forLoop(i, (h) => h.i32(0), fullB, (h) => h.i32(16), () => {
      g.storeV(
        (h) => h.add(rowO, i),
        (h) => h.vop(SIMD.f32x4Mul, (h) => h.loadV((h) => h.add(rowO, i)), vsc),
      );
    });
    g.forLoop(i, fullB, rowB, (h) => h.i32(4), () => {
      g.storeF32((h) => h.add(rowO, i), (h) => h.loadF32((h) => h.add(rowO, i)).get(scale).emit(I32.f32Mul));
    });
  });
  return g;
}
