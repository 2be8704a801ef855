/**
 * The arithmetic of XNNPACK's channel-first (NCHW) float kernels, which LiteRT runs for the clusters that
 * sparse inference converts (tflite-xnnpack-layout.ts), on Lathe's NHWC tensors. These kernels
 * (WebAssembly SIMD builds: f32-dwconv2d-chw *_wasmsimd_x86_*, f32-conv-hwc2chw 3x3s2p1c3x4, f32-ibilinear-chw)
 * multiply and add separately (no fused multiply-add), and each fixes its own order of taps:
 *
 * - depthwise 3x3 and 5x5, stride 1: one accumulator from the bias; the middle kernel column first, then
 *   the columns to its left going outwards, then those to its right; rows top-down within a column;
 * - depthwise 3x3 and 5x5, stride 2: two accumulators (one from the bias, one from the first product)
 *   taking the taps alternately in a fixed order, added at the end;
 * - the 3x3 stride-2 convolution of 3 channels: from the bias, kernel columns, then channels, then rows;
 * - bilinear resize: vertical blends of the left and right columns first, then the horizontal blend, and
 *   at the right border the last two columns with weight 1 on the right one.
 *
 * Taps outside the image multiply a zero, as the kernels do with their zero rows and masks.
 */
import { type ConvGeometry, xnnDepthwiseSplit, xnnRowsGemm } from "./tflite-xnnpack-conv.ts";

const f = Math.fround;

/** [accumulator, ky, kx] per product, in the kernel's order. */
type Taps = readonly (readonly [0 | 1, number, number])[];

function columnsOutward(k: number): Taps {
  const mid = k >> 1, cols = [mid];
  for (let c = mid - 1; c >= 0; c--) cols.push(c);
  for (let c = mid + 1; c < k; c++) cols.push(c);
  return cols.flatMap((kx) => Array.from({ length: k }, (_, ky) => [0, ky, kx] as const));
}

const TAPS: Record<string, Taps> = {
  "3/1": columnsOutward(3),
  "5/1": columnsOutward(5),
  "3/2": [[1, 0, 1], [0, 1, 1], [0, 2, 1], [1, 0, 0], [0, 1, 0], [1, 2, 0], [0, 0, 2], [1, 1, 2], [0, 2, 2]],
  "5/2": [
    [1, 0, 2],
    [0, 1, 2],
    [0, 2, 2],
    [1, 3, 2],
    [0, 4, 2],
    [1, 0, 3],
    [0, 1, 3],
    [1, 2, 3],
    [0, 3, 3],
    [1, 4, 3],
    [0, 0, 0],
    [1, 1, 0],
    [0, 2, 0],
    [1, 3, 0],
    [0, 4, 0],
    [1, 0, 1],
    [0, 1, 1],
    [1, 2, 1],
    [0, 3, 1],
    [1, 4, 1],
    [0, 0, 4],
    [1, 1, 4],
    [0, 2, 4],
    [1, 3, 4],
    [0, 4, 4],
  ],
};

/** Whether chwDepthwise covers this depthwise convolution (square 3x3 or 5x5, equal strides 1 or 2). */
export function chwDepthwiseApplies(g: ConvGeometry): boolean {
  return g.KH === g.KW && g.sh === g.sw && g.dh === 1 && g.dw === 1 && TAPS[`${g.KH}/${g.sh}`] !== undefined;
}

/** Depthwise (multiplier 1) out[N, OH, OW, C] from x[N, H, W, C], w[KH, KW, C], in XNNPACK's NCHW order. */
export function chwDepthwise(
  g: ConvGeometry,
  x: Float32Array,
  wt: { data: Float32Array },
  bias: Float32Array | undefined,
  lo: number,
  hi: number,
  out: Float32Array,
): void {
  const taps = TAPS[`${g.KH}/${g.sh}`];
  // The two partial sums never meet before the end, so each may run its taps in one stretch.
  const split = (a: number) => taps.filter((t) => t[0] === a).map(([, ky, kx]) => [ky, kx] as const);
  if (xnnDepthwiseSplit(g, x, wt, bias, split(0), split(1), lo, hi, out)) return;
  const w = wt.data;
  const T = taps.length, C = g.C;
  const acc = new Uint8Array(T), dy = new Int32Array(T), dx = new Int32Array(T), wo = new Int32Array(T);
  taps.forEach(([a, ky, kx], t) => {
    acc[t] = a;
    dy[t] = ky;
    dx[t] = kx;
    wo[t] = (ky * g.KW + kx) * C;
  });
  const wv = new Float32Array(T);
  for (let n = 0; n < g.N; n++) {
    for (let c = 0; c < C; c++) {
      for (let t = 0; t < T; t++) wv[t] = w[wo[t] + c];
      const b = bias ? bias[c] : 0;
      for (let oy = 0; oy < g.OH; oy++) {
        const y0 = oy * g.sh - g.pt;
        for (let ox = 0; ox < g.OW; ox++) {
          const x0 = ox * g.sw - g.pl;
          let p0 = b, p1 = 0, first1 = true;
          for (let t = 0; t < T; t++) {
            const iy = y0 + dy[t], ix = x0 + dx[t];
            const v = iy >= 0 && iy < g.H && ix >= 0 && ix < g.W ? x[((n * g.H + iy) * g.W + ix) * C + c] : 0;
            const p = f(v * wv[t]);
            if (acc[t] === 0) p0 = f(p0 + p);
            else if (first1) {
              p1 = p;
              first1 = false;
            } else p1 = f(p1 + p);
          }
          if (!first1) p0 = f(p0 + p1);
          out[((n * g.OH + oy) * g.OW + ox) * C + c] = p0 < lo ? lo : p0 > hi ? hi : p0;
        }
      }
    }
  }
}

/** The 3x3 stride-2 convolution XNNPACK runs into NCHW (conv-hwc2chw): w is [OC, 3, 3, IC]. */
export function hwc2chwConv(
  g: ConvGeometry,
  x: Float32Array,
  wt: { data: Float32Array },
  bias: Float32Array | undefined,
  OC: number,
  lo: number,
  hi: number,
  out: Float32Array,
): void {
  const IC = g.C, KH = g.KH, KW = g.KW, K = KH * KW * IC, P = g.OH * g.OW, w = wt.data;
  // Patches in the kernel's (kx, channel, ky) order make it a GEMM with one chain per output.
  const rows = new Float32Array(P * K);
  let done = true;
  for (let n = 0; n < g.N && done; n++) {
    let d = 0;
    for (let oy = 0; oy < g.OH; oy++) {
      for (let ox = 0; ox < g.OW; ox++) {
        for (let kx = 0; kx < KW; kx++) {
          const ix = ox * g.sw - g.pl + kx;
          for (let c = 0; c < IC; c++) {
            for (let ky = 0; ky < KH; ky++) {
              const iy = oy * g.sh - g.pt + ky;
              rows[d++] = iy >= 0 && iy < g.H && ix >= 0 && ix < g.W
                ? x[((n * g.H + iy) * g.W + ix) * IC + c]
                : 0;
            }
          }
        }
      }
    }
    const at = (oc: number, k: number) => {
      const kx = Math.floor(k / (IC * KH)), c = Math.floor(k / KH) % IC, ky = k % KH;
      return w[((oc * KH + ky) * KW + kx) * IC + c];
    };
    done = xnnRowsGemm(
      rows,
      P,
      K,
      wt,
      `hwc2chw:${KH}:${KW}:${IC}`,
      at,
      bias,
      OC,
      lo,
      hi,
      out.subarray(n * P * OC),
      false,
    );
  }
  if (done) return;
  for (let n = 0; n < g.N; n++) {
    for (let oy = 0; oy < g.OH; oy++) {
      for (let ox = 0; ox < g.OW; ox++) {
        const d = ((n * g.OH + oy) * g.OW + ox) * OC;
        for (let oc = 0; oc < OC; oc++) {
          let acc = bias ? bias[oc] : 0;
          for (let kx = 0; kx < KW; kx++) {
            const ix = ox * g.sw - g.pl + kx;
            for (let c = 0; c < IC; c++) {
              for (let ky = 0; ky < KH; ky++) {
                const iy = oy * g.sh - g.pt + ky;
                const v = iy >= 0 && iy < g.H && ix >= 0 && ix < g.W
                  ? x[((n * g.H + iy) * g.W + ix) * IC + c]
                  : 0;
                acc = f(acc + f(w[((oc * KH + ky) * KW + kx) * IC + c] * v));
              }
            }
          }
          out[d + oc] = acc < lo ? lo : acc > hi ? hi : acc;
        }
      }
    }
  }
}

/** Bilinear resize as XNNPACK's channel-first kernel computes it (input width and height above 1). */
export function chwResizeBilinear(
  xd: Float32Array,
  [N, H, W, C]: readonly number[],
  OH: number,
  OW: number,
  align: boolean,
  half: boolean,
  o: Float32Array,
): void {
  const axis = (inSize: number, outSize: number, shiftLast: boolean) => {
    const adj = align && outSize !== 1 ? 1 : 0;
    const scale = f((inSize - adj) / (outSize - adj));
    const last = inSize - 1;
    const lo = new Int32Array(outSize), hi = new Int32Array(outSize), alpha = new Float32Array(outSize);
    const offset = f(f(0.5 * scale) - 0.5);
    for (let i = 0; i < outSize; i++) {
      let v = f(i * scale);
      v = half && !align ? Math.min(Math.max(f(v + offset), 0), last) : Math.min(v, last);
      let top = Math.trunc(v);
      let a = f(v - top);
      if (shiftLast && top === last) {
        top--;
        a = 1;
      }
      lo[i] = top;
      hi[i] = shiftLast ? top + 1 : Math.min(top + 1, last);
      alpha[i] = a;
    }
    return { lo, hi, alpha };
  };
  const ys = axis(H, OH, false), xs = axis(W, OW, true);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      const av = ys.alpha[oy], r0 = (n * H + ys.lo[oy]) * W, r1 = (n * H + ys.hi[oy]) * W;
      for (let ox = 0; ox < OW; ox++) {
        const ah = xs.alpha[ox];
        const tl = (r0 + xs.lo[ox]) * C, tr = (r0 + xs.hi[ox]) * C;
        const bl = (r1 + xs.lo[ox]) * C, br = (r1 + xs.hi[ox]) * C;
        const d = ((n * OH + oy) * OW + ox) * C;
        for (let k = 0; k < C; k++) {
          const l = f(xd[tl + k] + f(f(xd[bl + k] - xd[tl + k]) * av));
          const r = f(xd[tr + k] + f(f(xd[br + k] - xd[tr + k]) * av));
          o[d + k] = f(l + f(f(r - l) * ah));
        }
      }
    }
  }
}
