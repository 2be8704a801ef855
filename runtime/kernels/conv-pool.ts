/**
 * Kernels: convolution and pooling. Float32 Conv runs on the SIMD GEMM engine: 1x1 convolutions multiply
 * the NCHW input directly, stride-1 2-D convolutions read taps from a padded copy of the input through an
 * offset table (no im2col), other shapes go through im2col; depthwise 3x3 has its own kernel. Other float
 * types and engines without SIMD use im2col with the portable GEMM. Spatial ranks 1-3 are normalized to
 * 3-D (leading unit dims) so each loop nest is written once.
 */
import { LatheError } from "../../ir/errors.ts";
import {
  forwardWindow as declaredWindow,
  transposeWindow as declaredTransposeWindow,
  unpoolSize,
  type Window,
} from "../../ir/ops/conv-pool.ts";
import { type KernelContext, registerKernel } from "../kernel-registry.ts";
import { expectTensor, type NumericArray, type RValue, Tensor, toNumbers } from "../tensor.ts";
import { gemmJS, type MatView, packedOperand, packPanels, sgemm } from "../gemm/sgemm.ts";
import { ArenaFull, MR, wasmEngine } from "../gemm/wasm-simd.ts";

function fail(reason: string): never {
  throw new LatheError("runtime", reason);
}

/** The declarations' window geometry, with its complaints about real sizes reported as runtime errors. */
function asRuntime<A extends unknown[], R>(f: (...args: A) => R): (...args: A) => R {
  return (...args) => {
    try {
      return f(...args);
    } catch (e) {
      if (e instanceof LatheError) throw new LatheError("runtime", e.reason, e.where, { cause: e });
      throw e;
    }
  };
}
const forwardWindow = asRuntime(declaredWindow);
const transposeWindow = asRuntime(declaredTransposeWindow);

/** Spatial geometry padded to three dims (D, H, W). */
interface Geo3 {
  readonly inp: readonly [number, number, number];
  readonly out: readonly [number, number, number];
  readonly k: readonly [number, number, number];
  readonly s: readonly [number, number, number];
  readonly d: readonly [number, number, number];
  readonly pb: readonly [number, number, number];
  readonly pe: readonly [number, number, number];
}

function to3(spatial: readonly number[], w: Window): Geo3 {
  const n = spatial.length;
  if (n < 1 || n > 3) throw new LatheError("unsupported", `${n} spatial dims (1 to 3 are supported)`);
  const pad = (v: readonly number[], fill: number) => {
    const r = [fill, fill, fill];
    for (let i = 0; i < n; i++) r[3 - n + i] = v[i];
    return r as unknown as [number, number, number];
  };
  return {
    inp: pad(spatial, 1),
    out: pad(w.out, 1),
    k: pad(w.kernel, 1),
    s: pad(w.strides, 1),
    d: pad(w.dilations, 1),
    pb: pad(w.padsBegin, 0),
    pe: pad(w.padsEnd, 0),
  };
}

const prod3 = (v: readonly [number, number, number]) => v[0] * v[1] * v[2];

/** Per axis and kernel tap: the input index each output position reads, or -1 in padding. */
function tapTable(inp: number, out: number, k: number, s: number, d: number, pb: number): Int32Array {
  const t = new Int32Array(k * out);
  for (let kk = 0; kk < k; kk++) {
    for (let o = 0; o < out; o++) {
      const i = o * s - pb + kk * d;
      t[kk * out + o] = i >= 0 && i < inp ? i : -1;
    }
  }
  return t;
}

/** Column matrix [C*KD*KH*KW x OD*OH*OW] of one image (rows ordered like W's [C, KD, KH, KW]). */
function im2col(
  x: ArrayLike<number>,
  xOff: number,
  C: number,
  g: Geo3,
  dst: NumericArray,
  dOff: number,
): void {
  const [D, H, W] = g.inp, [OD, OH, OW] = g.out, [KD, KH, KW] = g.k;
  const td = tapTable(D, OD, KD, g.s[0], g.d[0], g.pb[0]);
  const th = tapTable(H, OH, KH, g.s[1], g.d[1], g.pb[1]);
  const tw = tapTable(W, OW, KW, g.s[2], g.d[2], g.pb[2]);
  const isz = D * H * W;
  let p = dOff;
  for (let c = 0; c < C; c++) {
    const cb = xOff + c * isz;
    for (let kd = 0; kd < KD; kd++) {
      for (let kh = 0; kh < KH; kh++) {
        for (let kw = 0; kw < KW; kw++) {
          const twb = kw * OW;
          for (let od = 0; od < OD; od++) {
            const id = td[kd * OD + od];
            for (let oh = 0; oh < OH; oh++) {
              const ih = th[kh * OH + oh];
              if (id < 0 || ih < 0) {
                for (let ow = 0; ow < OW; ow++) dst[p++] = 0;
                continue;
              }
              const rb = cb + (id * H + ih) * W;
              for (let ow = 0; ow < OW; ow++) {
                const iw = tw[twb + ow];
                dst[p++] = iw >= 0 ? x[rb + iw] : 0;
              }
            }
          }
        }
      }
    }
  }
}

// ---- element type plumbing: f16/bf16 compute in f32, f64 in f64 ----

function bf16ToF32(bits: Uint16Array): Float32Array {
  const u = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i] << 16;
  return new Float32Array(u.buffer);
}

function f32ToBf16(src: ArrayLike<number>, dst: Uint16Array): void {
  const f = new Float32Array(1), u = new Uint32Array(f.buffer);
  for (let i = 0; i < dst.length; i++) {
    f[0] = src[i];
    const x = u[0];
    // Round to nearest even; NaN stays a quiet NaN.
    dst[i] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
}

/** The tensor's values as an array the float kernels can read (f32/f64 as is, f16/bf16 widened to f32). */
function floatData(t: Tensor): Float32Array | Float64Array {
  const d = t.data;
  if (d instanceof Float32Array || d instanceof Float64Array) return d;
  if (t.dtype === "bf16") return bf16ToF32(d as Uint16Array);
  if (t.dtype === "f16") return Float32Array.from(d as ArrayLike<number>);
  return fail(`expected a float tensor, got ${String(t.dtype)}`);
}

const widened = new WeakMap<Tensor, { data: Float32Array; probe: number }>();

/**
 * floatData for weights: f16/bf16 weights are widened once per tensor (weights are constants, so the same
 * tensor comes back every run); a sampled value guards against data changed in place.
 */
function weightData(t: Tensor): Float32Array | Float64Array {
  if (t.dtype !== "f16" && t.dtype !== "bf16") return floatData(t);
  const d = t.data as ArrayLike<number>;
  const probe = d.length ? Number(d[d.length >> 1]) + Number(d[0]) * 3 : 0;
  const hit = widened.get(t);
  if (hit && hit.probe === probe) return hit.data;
  const data = floatData(t) as Float32Array;
  widened.set(t, { data, probe });
  return data;
}

/** Computes into a scratch array of the compute type, then stores it into a new output tensor. */
function floatOutput(
  ctx: KernelContext,
  dtype: Tensor["dtype"],
  shape: readonly number[],
  compute: (out: Float32Array | Float64Array) => void,
): Tensor {
  const y = ctx.alloc(dtype, shape);
  const d = y.data;
  if (d instanceof Float32Array || d instanceof Float64Array) {
    compute(d);
    return y;
  }
  const tmp = new Float32Array(d.length);
  compute(tmp);
  if (dtype === "bf16") f32ToBf16(tmp, d as Uint16Array);
  else (d as Float16Array).set(tmp);
  return y;
}

// ---- Conv ----

interface ConvArgs {
  x: Float32Array | Float64Array;
  w: Float32Array | Float64Array;
  /** The weight tensor: a stable identity under which packed weights are kept. */
  wKey: Tensor;
  bias?: ArrayLike<number>;
  N: number;
  C: number;
  M: number;
  group: number;
  g: Geo3;
  rank: number;
  lo: number;
  hi: number;
}

function convArgs(
  inputs: readonly (RValue | undefined)[],
  ctx: KernelContext,
): { args: ConvArgs; outShape: number[]; dtype: Tensor["dtype"] } {
  const X = expectTensor(inputs[0], "X"), W = expectTensor(inputs[1], "W");
  const B = inputs[2] ? expectTensor(inputs[2], "B") : undefined;
  if (X.shape.length < 3) fail(`X must be [N, C, spatial...], is [${X.shape}]`);
  if (W.shape.length !== X.shape.length) fail(`W [${W.shape}] and X [${X.shape}] differ in rank`);
  if (W.dtype !== X.dtype) fail(`W is ${String(W.dtype)}, X is ${String(X.dtype)}`);
  const group = ctx.attrs.group as number;
  const [N, C] = X.shape, M = W.shape[0];
  if (!(group >= 1) || C !== W.shape[1] * group || M % group !== 0) {
    fail(`X has ${C} channels and W is [${W.shape}]: not valid for group ${group}`);
  }
  const wk = W.shape.slice(2);
  const ks = ctx.attrs.kernel_shape as readonly number[] | undefined;
  if (ks && ks.length && (ks.length !== wk.length || ks.some((k, i) => k !== wk[i]))) {
    fail(`kernel_shape [${ks}] does not match W [${W.shape}]`);
  }
  if (B && B.size !== M) fail(`B has ${B.size} values, expected ${M}`);
  const spatial = X.shape.slice(2);
  const win = forwardWindow(spatial, wk, ctx.attrs);
  const args: ConvArgs = {
    x: floatData(X),
    w: weightData(W),
    wKey: W,
    bias: B ? floatData(B) : undefined,
    N,
    C,
    M,
    group,
    g: to3(spatial, win),
    rank: spatial.length,
    lo: -Infinity,
    hi: Infinity,
  };
  return { args, outShape: [N, M, ...win.out], dtype: X.dtype };
}

/** Im2col + portable GEMM: any float type, any geometry. */
function convPortable(a: ConvArgs, y: Float32Array | Float64Array): void {
  const { N, C, M, group, g } = a;
  const Cg = C / group, Mg = M / group, KK = prod3(g.k), osz = prod3(g.out), isz = prod3(g.inp);
  const kdim = Cg * KK;
  const col = new Float64Array(kdim * osz);
  const epi = { lo: a.lo, hi: a.hi };
  for (let n = 0; n < N; n++) {
    for (let gi = 0; gi < group; gi++) {
      im2col(a.x, (n * C + gi * Cg) * isz, Cg, g, col, 0);
      const rowBias = a.bias ? Array.from({ length: Mg }, (_, m) => a.bias![gi * Mg + m]) : undefined;
      gemmJS(
        Mg,
        osz,
        kdim,
        { data: a.w, off: gi * Mg * kdim, rs: kdim, cs: 1 },
        { data: col, off: 0, rs: osz, cs: 1 },
        { data: y, off: (n * M + gi * Mg) * osz, rs: osz, cs: 1 },
        { ...epi, rowBias },
      );
    }
  }
}

/** Depthwise 3x3, stride 1 or 2, 2-D, on the SIMD engine. */
function isDepthwise3x3(a: ConvArgs): boolean {
  const { g } = a;
  return a.rank === 2 && a.group === a.C && a.M === a.C && g.k[1] === 3 && g.k[2] === 3 && g.d[1] === 1 &&
    g.d[2] === 1 && g.s[1] === g.s[2] && (g.s[1] === 1 || g.s[1] === 2);
}

function convDepthwiseSimd(a: ConvArgs, y: Float32Array): void {
  const eng = wasmEngine()!;
  const { arena, kernels } = eng;
  const { N, C, g } = a;
  const [, H, W] = g.inp, [, OH, OW] = g.out;
  const Hp = H + g.pb[1] + g.pe[1], Wp = W + g.pb[2] + g.pe[2];
  const isz = H * W, osz = OH * OW;
  const x = a.x as Float32Array, w = a.w as Float32Array;
  for (let n = 0; n < N; n++) {
    arena.reset();
    const pW = packedOperand(eng, a.wKey, "dw3x3", C * 9, (dst, at) => dst.set(w.subarray(0, C * 9), at));
    const pBias = arena.scratch(C * 4);
    const pX = arena.scratch(C * isz * 4);
    // One padded plane, plus the rows the last (paired) output row reads past it.
    const pPlane = arena.scratch((Hp + 3) * Wp * 4);
    // The paired output rows can run one row (and one vector) past the last channel.
    const pY = arena.scratch((C * osz + OW + 8) * 4);
    const f32 = arena.f32;
    if (a.bias) { for (let c = 0; c < C; c++) f32[(pBias >> 2) + c] = a.bias[c]; }
    else f32.fill(0, pBias >> 2, (pBias >> 2) + C);
    f32.set(x.subarray(n * C * isz, (n + 1) * C * isz), pX >> 2);
    const run = g.s[1] === 1 ? kernels.dw3x3s1 : kernels.dw3x3s2;
    run(pX, pPlane, pW, pBias, pY, C, H, W, Hp, Wp, g.pb[1], g.pb[2], OH, OW, a.lo, a.hi);
    y.set(arena.f32.subarray(pY >> 2, (pY >> 2) + C * osz), n * C * osz);
  }
}

/** Float32 convolution as one GEMM per group on the SIMD engine. */
function convSimd(a: ConvArgs, y: Float32Array): void {
  const eng = wasmEngine()!;
  const { arena, kernels } = eng;
  const { N, C, M, group, g } = a;
  const Cg = C / group, Mg = M / group, KK = prod3(g.k), osz = prod3(g.out), isz = prod3(g.inp);
  const kdim = Cg * KK, panels = Math.ceil(Mg / MR), rowsG = panels * MR;
  const x = a.x as Float32Array, w = a.w as Float32Array;
  const unit = (v: readonly number[]) => v.every((e) => e === 1);
  const noPad = g.pb.every((p) => p === 0) && g.pe.every((p) => p === 0);
  const pointwise = KK === 1 && unit(g.s) && noPad;
  // Convolutions over at most two spatial dims read their taps in place: from a padded copy of the image
  // (stride 1) or from its stride phases (space-to-depth), where every tap is a unit-stride shift.
  const taps = !pointwise && g.inp[0] === 1 && g.k[0] === 1;
  const [, H, W] = g.inp, [, OH, OW] = g.out, [, KH, KW] = g.k, [, sh, sw] = g.s, [, dh, dw] = g.d;
  const Hp = H + g.pb[1] + g.pe[1], Wp = W + g.pb[2] + g.pe[2];
  const Hq = Math.ceil(Hp / sh), Wq = Math.ceil(Wp / sw), phases = sh * sw, plane = Hq * Wq;
  const ncols = taps ? OH * Wq : osz;
  for (let n = 0; n < N; n++) {
    arena.reset();
    const pA = packedOperand(eng, a.wKey, `conv:${group}`, group * rowsG * kdim, (dst, at) => {
      for (let gi = 0; gi < group; gi++) {
        packPanels(dst, at + gi * rowsG * kdim, { data: w, off: gi * Mg * kdim, rs: kdim, cs: 1 }, Mg, kdim);
      }
    });
    const pBias = arena.scratch(group * rowsG * 4);
    let f32 = arena.f32;
    for (let gi = 0; gi < group; gi++) {
      const at = (pBias >> 2) + gi * rowsG;
      for (let m = 0; m < rowsG; m++) f32[at + m] = m < Mg && a.bias ? a.bias[gi * Mg + m] : 0;
    }
    const xn = x.subarray(n * C * isz, (n + 1) * C * isz);
    let pB: number, bStep: number, bGroup: number;
    if (pointwise) {
      pB = arena.scratch(C * isz * 4);
      arena.f32.set(xn, pB >> 2);
      bStep = isz * 4;
      bGroup = Cg * isz * 4;
    } else if (taps) {
      // Taps of the last output column read up to (KW-1)*dilation/stride past the last plane.
      const slack = (Math.floor(((KW - 1) * dw) / sw) + 8) * 4;
      const pX = arena.scratch(C * isz * 4 + slack);
      arena.f32.set(xn, pX >> 2);
      if (phases > 1) {
        pB = arena.scratch(C * phases * plane * 4 + slack);
        kernels.phaseSplit(pX, pB, C, H, W, sh, sw, Hq, Wq, g.pb[1], g.pb[2]);
      } else if (Hp !== H || Wp !== W) {
        pB = arena.scratch(C * plane * 4 + slack);
        kernels.pad(pX, pB, C, H, W, Hp, Wp, g.pb[1], g.pb[2], 0);
      } else pB = pX;
      const pOffs = arena.scratch(kdim * 4);
      const i32 = arena.i32;
      let o = pOffs >> 2;
      for (let c = 0; c < Cg; c++) {
        for (let kh = 0; kh < KH; kh++) {
          const ph = (kh * dh) % sh, r0 = Math.floor((kh * dh) / sh);
          for (let kw = 0; kw < KW; kw++) {
            const pw = (kw * dw) % sw, c0 = Math.floor((kw * dw) / sw);
            i32[o++] = ((c * phases + ph * sw + pw) * plane + r0 * Wq + c0) * 4;
          }
        }
      }
      bStep = pOffs;
      bGroup = Cg * phases * plane * 4;
    } else {
      pB = arena.scratch(C * KK * osz * 4);
      im2col(xn, 0, C, g, arena.f32, pB >> 2);
      bStep = osz * 4;
      bGroup = kdim * osz * 4;
    }
    const pC = arena.scratch(group * rowsG * ncols * 4);
    for (let gi = 0; gi < group; gi++) {
      const args = [
        pA + gi * rowsG * kdim * 4,
        pB + gi * bGroup,
        bStep,
        pC + gi * rowsG * ncols * 4,
        ncols * 4,
        panels,
        ncols,
        kdim,
        pBias + gi * rowsG * 4,
        a.lo,
        a.hi,
      ] as const;
      if (taps) kernels.gemmIndirect(...args);
      else kernels.gemmStrided(...args);
    }
    // Drop padding rows (MR) and columns (the padded image's extra width); in place, moving forward.
    if (taps && Wq !== OW) {
      for (let gi = 0; gi < group; gi++) {
        kernels.compact(pC + gi * rowsG * ncols * 4, pC + gi * Mg * osz * 4, Mg * OH, Wq * 4, OW * 4, OW * 4);
      }
    } else if (rowsG !== Mg) {
      for (let gi = 1; gi < group; gi++) {
        kernels.compact(pC + gi * rowsG * ncols * 4, pC + gi * Mg * osz * 4, 1, 0, 0, Mg * osz * 4);
      }
    }
    f32 = arena.f32;
    y.set(f32.subarray(pC >> 2, (pC >> 2) + M * osz), n * M * osz);
  }
}

/** Dense 3x3 stride-1 convolutions run as Winograd F(2x2, 3x3): 16 GEMMs with 4/9 of the multiplies. */
function isWinograd(a: ConvArgs): boolean {
  const { g } = a;
  return a.rank === 2 && a.group === 1 && g.k[1] === 3 && g.k[2] === 3 && g.s[1] === 1 && g.s[2] === 1 &&
    g.d[1] === 1 && g.d[2] === 1 && a.C >= 8 && a.M >= 8 && g.out[1] >= 2 && g.out[2] >= 2;
}

/** U = G g Gᵀ for every (m, c): 16 matrices [M x C], ξ-major, with G's rows g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2. */
function winogradFilters(w: Float32Array, M: number, C: number): Float32Array {
  const u = new Float32Array(16 * M * C);
  const gg = new Float64Array(12);
  for (let m = 0; m < M; m++) {
    for (let c = 0; c < C; c++) {
      const b = (m * C + c) * 9;
      for (let col = 0; col < 3; col++) {
        const g0 = w[b + col], g1 = w[b + 3 + col], g2 = w[b + 6 + col];
        gg[col] = g0;
        gg[3 + col] = (g0 + g1 + g2) / 2;
        gg[6 + col] = (g0 - g1 + g2) / 2;
        gg[9 + col] = g2;
      }
      for (let i = 0; i < 4; i++) {
        const u0 = gg[3 * i], u1 = gg[3 * i + 1], u2 = gg[3 * i + 2];
        const row = [u0, (u0 + u1 + u2) / 2, (u0 - u1 + u2) / 2, u2];
        for (let j = 0; j < 4; j++) u[((4 * i + j) * M + m) * C + c] = row[j];
      }
    }
  }
  return u;
}

function convWinograd(a: ConvArgs, y: Float32Array): void {
  const eng = wasmEngine()!;
  const { arena, kernels } = eng;
  const { N, C, M, g } = a;
  const [, H, W] = g.inp, [, OH, OW] = g.out;
  const TH = Math.ceil(OH / 2), TWp = Math.ceil(Math.ceil(OW / 2) / 4) * 4, T = TH * TWp;
  // The tiles read a 4x4 patch at (2th, 2tw): pad far enough for the last (partly unused) tiles.
  const Hp = Math.max(H + g.pb[1] + g.pe[1], 2 * TH + 2), Wp = Math.max(W + g.pb[2] + g.pe[2], 2 * TWp + 2);
  const panels = Math.ceil(M / MR), rows = panels * MR;
  const w = a.w as Float32Array, x = a.x as Float32Array;
  const isz = H * W, osz = OH * OW;
  const vBlock = (C * T + 16) * 4, mBlock = rows * T * 4;
  for (let n = 0; n < N; n++) {
    arena.reset();
    const pU = packedOperand(eng, a.wKey, "winograd", 16 * rows * C, (dst, at) => {
      const u = winogradFilters(w, M, C);
      for (let xi = 0; xi < 16; xi++) {
        packPanels(dst, at + xi * rows * C, { data: u, off: xi * M * C, rs: C, cs: 1 }, M, C);
      }
    });
    const pZero = arena.scratch(rows * 4);
    const pBias = arena.scratch(M * 4);
    const pX = arena.scratch(C * isz * 4);
    const pP = arena.scratch(C * Hp * Wp * 4);
    const pV = arena.scratch(16 * vBlock);
    const pM = arena.scratch(16 * mBlock);
    const pY = arena.scratch(M * 4 * T * 4);
    const f32 = arena.f32;
    f32.fill(0, pZero >> 2, (pZero >> 2) + rows);
    for (let m = 0; m < M; m++) f32[(pBias >> 2) + m] = a.bias ? a.bias[m] : 0;
    f32.set(x.subarray(n * C * isz, (n + 1) * C * isz), pX >> 2);
    kernels.pad(pX, pP, C, H, W, Hp, Wp, g.pb[1], g.pb[2], 0);
    kernels.winoInput(pP, pV, C, Hp, Wp, TH, TWp, vBlock);
    for (let xi = 0; xi < 16; xi++) {
      kernels.gemmStrided(
        pU + xi * rows * C * 4,
        pV + xi * vBlock,
        T * 4,
        pM + xi * mBlock,
        T * 4,
        panels,
        T,
        C,
        pZero,
        -Infinity,
        Infinity,
      );
    }
    kernels.winoOutput(pM, pY, pBias, M, TH, TWp, mBlock, a.lo, a.hi);
    kernels.compact2(pY, pY, M, OH, 2 * TWp * 4, 4 * T * 4, OW * 4);
    y.set(arena.f32.subarray(pY >> 2, (pY >> 2) + M * osz), n * M * osz);
  }
}

/** Depthwise (one input channel per group) without the engine: direct loops, no im2col. */
function convDepthwisePortable(a: ConvArgs, y: Float32Array | Float64Array): void {
  const { N, C, M, g } = a;
  const mult = M / C;
  const [D, H, W] = g.inp, [OD, OH, OW] = g.out, [KD, KH, KW] = g.k;
  const td = tapTable(D, OD, KD, g.s[0], g.d[0], g.pb[0]);
  const th = tapTable(H, OH, KH, g.s[1], g.d[1], g.pb[1]);
  const tw = tapTable(W, OW, KW, g.s[2], g.d[2], g.pb[2]);
  const isz = D * H * W, osz = OD * OH * OW, kk = KD * KH * KW;
  const { x, w, lo, hi } = a;
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const xb = (n * C + Math.floor(m / mult)) * isz, wb = m * kk;
      const b = a.bias ? a.bias[m] : 0;
      let p = (n * M + m) * osz;
      for (let od = 0; od < OD; od++) {
        for (let oh = 0; oh < OH; oh++) {
          for (let ow = 0; ow < OW; ow++) {
            let s = b;
            for (let kd = 0; kd < KD; kd++) {
              const id = td[kd * OD + od];
              if (id < 0) continue;
              for (let kh = 0; kh < KH; kh++) {
                const ih = th[kh * OH + oh];
                if (ih < 0) continue;
                const rb = xb + (id * H + ih) * W, wr = wb + (kd * KH + kh) * KW;
                for (let kw = 0; kw < KW; kw++) {
                  const iw = tw[kw * OW + ow];
                  if (iw >= 0) s += x[rb + iw] * w[wr + kw];
                }
              }
            }
            y[p++] = s < lo ? lo : s > hi ? hi : s;
          }
        }
      }
    }
  }
}

function runConv(a: ConvArgs, y: Float32Array | Float64Array): void {
  const f32 = a.x instanceof Float32Array && y instanceof Float32Array;
  const eng = f32 ? wasmEngine() : undefined;
  const depthwise = a.group === a.C && a.M % a.C === 0;
  try {
    if (eng && isDepthwise3x3(a)) return convDepthwiseSimd(a, y as Float32Array);
    if (eng && isWinograd(a)) return convWinograd(a, y as Float32Array);
    if (eng && !(depthwise && a.M === a.C)) return convSimd(a, y as Float32Array);
  } catch (e) {
    if (!(e instanceof ArenaFull)) throw e;
  }
  if (depthwise) convDepthwisePortable(a, y);
  else convPortable(a, y);
}

registerKernel("Conv", (inputs, ctx) => {
  const { args, outShape, dtype } = convArgs(inputs, ctx);
  if (outShape.some((d) => d === 0)) return [ctx.alloc(dtype, outShape)];
  return [floatOutput(ctx, dtype, outShape, (y) => runConv(args, y))];
});

/** The elementwise activation of FusedConv, applied after the convolution (and Z). */
function activate(y: Float32Array | Float64Array, act: string, params: readonly number[]): void {
  const n = y.length;
  switch (act) {
    case "Relu":
      for (let i = 0; i < n; i++) if (y[i] < 0) y[i] = 0;
      return;
    case "Clip": {
      const lo = params[0] ?? -Infinity, hi = params[1] ?? Infinity;
      for (let i = 0; i < n; i++) y[i] = y[i] < lo ? lo : y[i] > hi ? hi : y[i];
      return;
    }
    case "LeakyRelu": {
      const alpha = params[0] ?? 0.01;
      for (let i = 0; i < n; i++) if (y[i] < 0) y[i] *= alpha;
      return;
    }
    case "Sigmoid":
      for (let i = 0; i < n; i++) y[i] = 1 / (1 + Math.exp(-y[i]));
      return;
    case "Tanh":
      for (let i = 0; i < n; i++) y[i] = Math.tanh(y[i]);
      return;
    case "HardSigmoid": {
      const alpha = params[0] ?? 0.2, beta = params[1] ?? 0.5;
      for (let i = 0; i < n; i++) y[i] = Math.max(0, Math.min(1, alpha * y[i] + beta));
      return;
    }
    case "":
      return;
  }
  fail(`unsupported activation '${act}'`);
}

registerKernel("com.microsoft.FusedConv", (inputs, ctx) => {
  const { args, outShape, dtype } = convArgs(inputs, ctx);
  const act = ctx.attrs.activation as string;
  const params = (ctx.attrs.activation_params as readonly number[] | undefined) ?? [];
  const Z = inputs[3] ? expectTensor(inputs[3], "Z") : undefined;
  if (
    Z &&
    (Z.dtype !== dtype || Z.shape.length !== outShape.length || Z.shape.some((d, i) => d !== outShape[i]))
  ) {
    fail(`Z [${Z.shape}] must match the output [${outShape}]`);
  }
  // Relu and Clip are a clamp in the GEMM epilogue when nothing is added after the convolution.
  const inKernel = !Z && (act === "Relu" || act === "Clip");
  if (inKernel) {
    args.lo = act === "Relu" ? 0 : params[0] ?? -Infinity;
    args.hi = act === "Relu" ? Infinity : params[1] ?? Infinity;
  }
  if (outShape.some((d) => d === 0)) return [ctx.alloc(dtype, outShape)];
  return [floatOutput(ctx, dtype, outShape, (y) => {
    runConv(args, y);
    if (Z) {
      const z = floatData(Z);
      for (let i = 0; i < y.length; i++) y[i] += z[i];
    }
    if (!inKernel) activate(y, act, params);
  })];
});

// ---- ConvTranspose ----

/** Module-level column buffer, grown on demand, so repeated runs do not allocate. */
let colBuffer = new Float32Array(0);

registerKernel("ConvTranspose", (inputs, ctx) => {
  const X = expectTensor(inputs[0], "X"), W = expectTensor(inputs[1], "W");
  const B = inputs[2] ? expectTensor(inputs[2], "B") : undefined;
  if (X.shape.length < 3 || W.shape.length !== X.shape.length) {
    fail(`X [${X.shape}] and W [${W.shape}] do not fit`);
  }
  const group = ctx.attrs.group as number;
  const [N, C] = X.shape;
  if (!(group >= 1) || W.shape[0] !== C || C % group !== 0) {
    fail(`W [${W.shape}] does not fit ${C} channels, group ${group}`);
  }
  const Mg = W.shape[1], M = Mg * group, Cg = C / group;
  const wk = W.shape.slice(2);
  const ks = ctx.attrs.kernel_shape as readonly number[] | undefined;
  if (ks && ks.length && (ks.length !== wk.length || ks.some((k, i) => k !== wk[i]))) {
    fail(`kernel_shape [${ks}] does not match W [${W.shape}]`);
  }
  if (B && B.size !== M) fail(`B has ${B.size} values, expected ${M}`);
  const spatial = X.shape.slice(2);
  const win = transposeWindow(spatial, wk, ctx.attrs);
  const g = to3(spatial, win);
  const outShape = [N, M, ...win.out];
  const x = floatData(X), w = floatData(W), bias = B ? floatData(B) : undefined;
  const isz = prod3(g.inp), osz = prod3(g.out), kk = prod3(g.k), rows = Mg * kk;
  return [floatOutput(ctx, X.dtype, outShape, (y) => {
    const simd = x instanceof Float32Array && !!wasmEngine();
    if (colBuffer.length < rows * isz) colBuffer = new Float32Array(rows * isz);
    const col = simd ? colBuffer : new Float64Array(rows * isz);
    for (let n = 0; n < N; n++) {
      for (let gi = 0; gi < group; gi++) {
        // col [Mg*kk x isz] = W_g^T [Mg*kk x Cg] · X_g [Cg x isz]
        const a = { data: w, off: gi * Cg * rows, rs: 1, cs: rows };
        const b = { data: x, off: (n * C + gi * Cg) * isz, rs: isz, cs: 1 };
        const c = { data: col, off: 0, rs: isz, cs: 1 };
        if (simd) {
          sgemm(
            rows,
            isz,
            Cg,
            a as MatView<Float32Array>,
            b as MatView<Float32Array>,
            c as MatView<Float32Array>,
            {},
            W,
          );
        } else gemmJS(rows, isz, Cg, a, b, c);
        col2im(col, Mg, g, y, (n * M + gi * Mg) * osz, bias, gi * Mg);
      }
    }
  })];
});

/**
 * Scatters columns [Mg*KD*KH*KW x input positions] into the output image (transposed convolution): output
 * position = input*stride - padBegin + tap*dilation. The output starts at the bias.
 */
function col2im(
  col: ArrayLike<number>,
  Mg: number,
  g: Geo3,
  y: NumericArray,
  yOff: number,
  bias: ArrayLike<number> | undefined,
  biasOff: number,
): void {
  const [D, H, W] = g.inp, [OD, OH, OW] = g.out, [KD, KH, KW] = g.k;
  // Reversed roles: here the "input" of the tap table is the output image.
  const td = tapTable(OD, D, KD, g.s[0], g.d[0], g.pb[0]);
  const th = tapTable(OH, H, KH, g.s[1], g.d[1], g.pb[1]);
  const tw = tapTable(OW, W, KW, g.s[2], g.d[2], g.pb[2]);
  const osz = OD * OH * OW;
  for (let m = 0; m < Mg; m++) y.fill(bias ? bias[biasOff + m] : 0, yOff + m * osz, yOff + (m + 1) * osz);
  let p = 0;
  for (let m = 0; m < Mg; m++) {
    const yb = yOff + m * osz;
    for (let kd = 0; kd < KD; kd++) {
      for (let kh = 0; kh < KH; kh++) {
        for (let kw = 0; kw < KW; kw++) {
          for (let id = 0; id < D; id++) {
            const od = td[kd * D + id];
            for (let ih = 0; ih < H; ih++) {
              const oh = th[kh * H + ih];
              if (od < 0 || oh < 0) {
                p += W;
                continue;
              }
              const rb = yb + (od * OH + oh) * OW;
              for (let iw = 0; iw < W; iw++, p++) {
                const ow = tw[kw * W + iw];
                if (ow >= 0) y[rb + ow] += col[p];
              }
            }
          }
        }
      }
    }
  }
}

// ---- Col2Im ----

registerKernel("Col2Im", (inputs, ctx) => {
  const X = expectTensor(inputs[0], "input");
  const image = toNumbers(expectTensor(inputs[1], "image_shape"));
  const block = toNumbers(expectTensor(inputs[2], "block_shape"));
  if (X.shape.length !== 3) fail(`input must be [N, C*prod(block), L], is [${X.shape}]`);
  if (image.length !== block.length) {
    fail(`image_shape [${image}] and block_shape [${block}] differ in length`);
  }
  const kk = block.reduce((p, d) => p * d, 1);
  const [N, CK, L] = X.shape;
  if (kk <= 0 || CK % kk !== 0) fail(`${CK} is not a multiple of the block size ${kk}`);
  const C = CK / kk;
  // The columns are those of a forward window over the image; check L against it.
  const win = forwardWindow(image, block, ctx.attrs);
  const cols = win.out.reduce((p, d) => p * d, 1);
  if (cols !== L) fail(`L is ${L}, but the image and block give ${cols} blocks`);
  // Col2Im is ConvTranspose's scatter with the block grid as the input image.
  const g = to3(win.out, { ...win, out: image });
  const x = floatData(X);
  const osz = prod3(g.out);
  return [floatOutput(ctx, X.dtype, [N, C, ...image], (y) => {
    for (let n = 0; n < N; n++) {
      col2im(x.subarray(n * CK * L, (n + 1) * CK * L), C, g, y, n * C * osz, undefined, 0);
    }
  })];
});

// ---- pooling ----

interface PoolSetup {
  X: Tensor;
  g: Geo3;
  NC: number;
  outShape: number[];
}

function poolSetup(inputs: readonly (RValue | undefined)[], ctx: KernelContext): PoolSetup {
  const X = expectTensor(inputs[0], "X");
  if (X.shape.length < 3) fail(`X must be [N, C, spatial...], is [${X.shape}]`);
  const spatial = X.shape.slice(2);
  const kernel = ctx.attrs.kernel_shape as readonly number[];
  const win = forwardWindow(spatial, kernel, ctx.attrs, ctx.attrs.ceil_mode === 1);
  return {
    X,
    g: to3(spatial, win),
    NC: X.shape[0] * X.shape[1],
    outShape: [X.shape[0], X.shape[1], ...win.out],
  };
}

/**
 * Calls visit(outIndex, inputBase) and, per valid tap, tap(inputIndex) for every window: the traversal
 * shared by the pools, with padding taps skipped.
 */
function poolLoop(
  g: Geo3,
  NC: number,
  begin: (o: number) => void,
  tap: (i: number) => void,
  end: (o: number, od: number, oh: number, ow: number) => void,
): void {
  const [D, H, W] = g.inp, [OD, OH, OW] = g.out, [KD, KH, KW] = g.k;
  const td = tapTable(D, OD, KD, g.s[0], g.d[0], g.pb[0]);
  const th = tapTable(H, OH, KH, g.s[1], g.d[1], g.pb[1]);
  const tw = tapTable(W, OW, KW, g.s[2], g.d[2], g.pb[2]);
  const isz = D * H * W;
  let o = 0;
  for (let nc = 0; nc < NC; nc++) {
    const xb = nc * isz;
    for (let od = 0; od < OD; od++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++, o++) {
          begin(o);
          for (let kd = 0; kd < KD; kd++) {
            const id = td[kd * OD + od];
            if (id < 0) continue;
            for (let kh = 0; kh < KH; kh++) {
              const ih = th[kh * OH + oh];
              if (ih < 0) continue;
              const rb = xb + (id * H + ih) * W;
              for (let kw = 0; kw < KW; kw++) {
                const iw = tw[kw * OW + ow];
                if (iw >= 0) tap(rb + iw);
              }
            }
          }
          end(o, od, oh, ow);
        }
      }
    }
  }
}

/** 2-D float32 max pooling on the SIMD engine (horizontal stride 1 or 2); false when it does not apply. */
function maxPoolSimd(x: Float32Array, y: Float32Array, g: Geo3, NC: number): boolean {
  const eng = wasmEngine();
  if (!eng || g.inp[0] !== 1 || g.k[0] !== 1 || (g.s[2] !== 1 && g.s[2] !== 2)) return false;
  const { arena, kernels } = eng;
  const [, H, W] = g.inp, [, OH, OW] = g.out, [, KH, KW] = g.k;
  // Ceil mode can take the last window past the end padding: pad far enough for every window.
  const Hp = Math.max(H + g.pb[1] + g.pe[1], (OH - 1) * g.s[1] + (KH - 1) * g.d[1] + 1);
  const Wp = Math.max(W + g.pb[2] + g.pe[2], (OW - 1) * g.s[2] + (KW - 1) * g.d[2] + 1);
  const padded = Hp !== H || Wp !== W;
  arena.reset();
  const pX = arena.scratch(NC * H * W * 4);
  const pP = padded ? arena.scratch(NC * Hp * Wp * 4) : pX;
  const pY = arena.scratch(NC * OH * OW * 4);
  arena.f32.set(x.subarray(0, NC * H * W), pX >> 2);
  if (padded) kernels.pad(pX, pP, NC, H, W, Hp, Wp, g.pb[1], g.pb[2], -Infinity);
  const run = g.s[2] === 1 ? kernels.maxPool1 : kernels.maxPool2;
  run(pP, pY, NC, Hp, Wp, OH, OW, KH, KW, g.s[1], g.d[1], g.d[2]);
  y.set(arena.f32.subarray(pY >> 2, (pY >> 2) + NC * OH * OW));
  return true;
}

registerKernel("MaxPool", (inputs, ctx) => {
  const { X, g, NC, outShape } = poolSetup(inputs, ctx);
  const wantIdx = ctx.node.outputs.length > 1 && !!ctx.node.outputs[1];
  const y = ctx.alloc(X.dtype, outShape);
  const x = X.data as NumericArray, yd = y.data as NumericArray;
  if (X.dtype === "bf16") fail("MaxPool on bf16 is not supported");
  try {
    if (!wantIdx && x instanceof Float32Array && maxPoolSimd(x, yd as Float32Array, g, NC)) return [y];
  } catch (e) {
    if (!(e instanceof ArenaFull)) throw e;
  }
  const idx = wantIdx ? ctx.alloc("i64", outShape) : undefined;
  const id = idx?.data as BigInt64Array | undefined;
  const [D, H, W] = g.inp;
  const isz = D * H * W;
  const colMajor = ctx.attrs.storage_order === 1;
  let m = 0, at = -1;
  poolLoop(g, NC, () => {
    m = -Infinity;
    at = -1;
  }, (i) => {
    const v = x[i];
    if (at < 0 || v > m || (v !== v && m === m)) {
      m = v;
      at = i;
    }
  }, (o) => {
    yd[o] = at < 0 ? (x instanceof Uint8Array ? 0 : x instanceof Int8Array ? -128 : -Infinity) : m;
    if (id) {
      if (at < 0) id[o] = -1n;
      else if (!colMajor) id[o] = BigInt(at);
      else {
        // Column-major within the image: the last spatial dim varies slowest.
        const nc = Math.floor(at / isz), r = at - nc * isz;
        const dd = Math.floor(r / (H * W)), hh = Math.floor((r % (H * W)) / W), ww = r % W;
        id[o] = BigInt(nc * isz + (ww * H + hh) * D + dd);
      }
    }
  });
  return idx ? [y, idx] : [y];
});

/** Per output position along one axis: taps inside the padded extent (count_include_pad's divisor). */
function paddedCounts(
  inp: number,
  out: number,
  k: number,
  s: number,
  d: number,
  pb: number,
  pe: number,
): Int32Array {
  const t = new Int32Array(out);
  for (let o = 0; o < out; o++) {
    let c = 0;
    for (let kk = 0; kk < k; kk++) {
      const i = o * s - pb + kk * d;
      if (i >= -pb && i < inp + pe) c++;
    }
    t[o] = c;
  }
  return t;
}

registerKernel("AveragePool", (inputs, ctx) => {
  const { X, g, NC, outShape } = poolSetup(inputs, ctx);
  const x = floatData(X);
  const include = ctx.attrs.count_include_pad === 1;
  const cd = paddedCounts(g.inp[0], g.out[0], g.k[0], g.s[0], g.d[0], g.pb[0], g.pe[0]);
  const ch = paddedCounts(g.inp[1], g.out[1], g.k[1], g.s[1], g.d[1], g.pb[1], g.pe[1]);
  const cw = paddedCounts(g.inp[2], g.out[2], g.k[2], g.s[2], g.d[2], g.pb[2], g.pe[2]);
  return [floatOutput(ctx, X.dtype, outShape, (y) => {
    let sum = 0, cnt = 0;
    poolLoop(g, NC, () => {
      sum = 0;
      cnt = 0;
    }, (i) => {
      sum += x[i];
      cnt++;
    }, (o, od, oh, ow) => {
      const div = include ? cd[od] * ch[oh] * cw[ow] : cnt;
      y[o] = div > 0 ? sum / div : NaN;
    });
  })];
});

registerKernel("LpPool", (inputs, ctx) => {
  const { X, g, NC, outShape } = poolSetup(inputs, ctx);
  const x = floatData(X);
  const p = ctx.attrs.p as number;
  if (!(p >= 1)) fail(`p must be >= 1, is ${p}`);
  return [floatOutput(ctx, X.dtype, outShape, (y) => {
    let sum = 0;
    poolLoop(g, NC, () => (sum = 0), (i) => {
      const v = Math.abs(x[i]);
      sum += p === 2 ? v * v : p === 1 ? v : v ** p;
    }, (o) => {
      y[o] = p === 2 ? Math.sqrt(sum) : p === 1 ? sum : sum ** (1 / p);
    });
  })];
});

function globalPool(
  inputs: readonly (RValue | undefined)[],
  ctx: KernelContext,
  reduce: (x: ArrayLike<number>, from: number, to: number) => number,
): Tensor {
  const X = expectTensor(inputs[0], "X");
  if (X.shape.length < 2) fail(`X must have rank >= 2, is [${X.shape}]`);
  const [N, C] = X.shape;
  const sp = X.shape.slice(2);
  const isz = sp.reduce((p, d) => p * d, 1);
  const x = floatData(X);
  return floatOutput(ctx, X.dtype, [N, C, ...sp.map(() => 1)], (y) => {
    for (let i = 0; i < N * C; i++) y[i] = reduce(x, i * isz, (i + 1) * isz);
  });
}

registerKernel("GlobalAveragePool", (inputs, ctx) => [
  globalPool(inputs, ctx, (x, a, b) => {
    let s = 0;
    for (let i = a; i < b; i++) s += x[i];
    return b > a ? s / (b - a) : NaN;
  }),
]);

registerKernel("GlobalMaxPool", (inputs, ctx) => [
  globalPool(inputs, ctx, (x, a, b) => {
    let m = -Infinity;
    for (let i = a; i < b; i++) if (x[i] > m || x[i] !== x[i]) m = x[i];
    return m;
  }),
]);

registerKernel("GlobalLpPool", (inputs, ctx) => {
  const p = ctx.attrs.p as number;
  if (!(p >= 1)) fail(`p must be >= 1, is ${p}`);
  return [
    globalPool(inputs, ctx, (x, a, b) => {
      let s = 0;
      for (let i = a; i < b; i++) s += Math.abs(x[i]) ** p;
      return s ** (1 / p);
    }),
  ];
});

registerKernel("MaxUnpool", (inputs, ctx) => {
  const X = expectTensor(inputs[0], "X"), I = expectTensor(inputs[1], "I");
  if (X.shape.length < 3) fail(`X must be [N, C, spatial...], is [${X.shape}]`);
  if (I.size !== X.size || I.dtype !== "i64") fail(`I must be i64 with one index per value of X`);
  const n = X.shape.length - 2;
  const k = ctx.attrs.kernel_shape as readonly number[];
  if (k.length !== n) fail(`kernel_shape [${k}] does not match ${n} spatial dims`);
  const s = (ctx.attrs.strides as number[] | undefined)?.length ? ctx.attrs.strides : new Array(n).fill(1);
  const p = (ctx.attrs.pads as number[] | undefined)?.length ? ctx.attrs.pads : new Array(2 * n).fill(0);
  // Indices address the default unpooled shape; an explicit output_shape pads (or crops) it at the end.
  const base = [
    X.shape[0],
    X.shape[1],
    ...X.shape.slice(2).map((d, i) => unpoolSize(d, k[i], s[i], p[i], p[i + n])),
  ];
  let outShape = base;
  if (inputs[2]) {
    outShape = toNumbers(expectTensor(inputs[2], "output_shape"));
    if (outShape.length !== X.shape.length || outShape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      fail(`output_shape [${outShape}] does not fit X [${X.shape}]`);
    }
  }
  const x = floatData(X), idx = I.data as BigInt64Array;
  const total = base.reduce((a, d) => a * d, 1);
  const same = outShape.every((d, i) => d === base[i]);
  const outStr = outShape.map((_, i) => outShape.slice(i + 1).reduce((a, d) => a * d, 1));
  return [floatOutput(ctx, X.dtype, outShape, (y) => {
    y.fill(0);
    for (let i = 0; i < x.length; i++) {
      let t = Number(idx[i]);
      if (!(t >= 0 && t < total)) fail(`index ${t} is outside the unpooled output of ${total} elements`);
      if (!same) {
        let at = 0, inside = true;
        for (let d = base.length - 1; d >= 0; d--) {
          const c = t % base[d];
          t = Math.floor(t / base[d]);
          if (c >= outShape[d]) inside = false;
          at += c * outStr[d];
        }
        if (!inside) continue;
        t = at;
      }
      y[t] = x[i];
    }
  })];
});
