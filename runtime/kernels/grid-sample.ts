/**
 * GridSample over any number of spatial dims (ONNX opset 20 semantics, which is PyTorch's grid_sample):
 * grid coordinates are normalised to [-1, 1] and listed innermost dim first (x, y, z). The taps of each
 * output position (source offsets and weights) are computed once and reused for every channel.
 */
import { registerKernel } from "../kernel-registry.ts";
import type { TypedArray } from "../tensor.ts";
import { fromFloat64, toFloat64 } from "./float-view.ts";
import { dataArg, fail, tensorArg } from "./kernel-args.ts";
import { stridesFor } from "./movement.ts";

/** Folds x into [lo, hi] by reflecting at the borders as often as needed. */
function reflect(x: number, lo: number, hi: number): number {
  const range = hi - lo;
  if (range <= 0) return lo;
  if (x < lo) {
    const dx = lo - x;
    const n = Math.trunc(dx / range), r = dx - n * range;
    return n % 2 === 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    const dx = x - hi;
    const n = Math.trunc(dx / range), r = dx - n * range;
    return n % 2 === 0 ? hi - r : lo + r;
  }
  return x;
}

/** A source index along one dim after the padding rule (0 zeros, 1 border, 2 reflection); -1 is a zero pixel. */
function pixelIndex(i: number, d: number, pad: number, lo: number, hi: number): number {
  if (i >= 0 && i < d) return i;
  if (pad === 0) return -1;
  if (pad === 1) return i < 0 ? 0 : d - 1;
  return Math.trunc(reflect(i, lo, hi));
}

/** Round half to even, as nearbyint does. */
function rint(x: number): number {
  const f = Math.floor(x), d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

function cubicCoeffs(t: number, out: Float64Array): void {
  const A = -0.75;
  const w = (x: number) => {
    x = Math.abs(x);
    if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
    if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    return 0;
  };
  out[0] = w(t + 1);
  out[1] = w(t);
  out[2] = w(1 - t);
  out[3] = w(2 - t);
}

/** The common case, 2-D bilinear, without the per-dim tap tables of the general path. */
function bilinear2d(
  xs: ArrayLike<number>,
  gs: ArrayLike<number>,
  ys: Float64Array | Float32Array,
  N: number,
  C: number,
  H: number,
  W: number,
  P: number,
  align: boolean,
  pad: number,
  round: (v: number) => number,
): void {
  const S = H * W;
  const loX = align ? 0 : -0.5,
    hiX = align ? W - 1 : W - 0.5,
    loY = align ? 0 : -0.5,
    hiY = align ? H - 1 : H - 0.5;
  for (let n = 0; n < N; n++) {
    for (let p = 0; p < P; p++) {
      const g = (n * P + p) * 2;
      const gx = gs[g], gy = gs[g + 1];
      let x = align ? round(round(round(gx + 1) / 2) * (W - 1)) : round(round(round((gx + 1) * W) - 1) / 2);
      let y = align ? round(round(round(gy + 1) / 2) * (H - 1)) : round(round(round((gy + 1) * H) - 1) / 2);
      if (x < loX || x > hiX) {
        x = pad === 1 ? Math.min(Math.max(x, 0), W - 1) : pad === 2 ? round(reflect(x, loX, hiX)) : x;
      }
      if (y < loY || y > hiY) {
        y = pad === 1 ? Math.min(Math.max(y, 0), H - 1) : pad === 2 ? round(reflect(y, loY, hiY)) : y;
      }
      const x0 = Math.floor(x), y0 = Math.floor(y);
      const tx = x - x0, ty = y - y0;
      const ix0 = pixelIndex(x0, W, pad, loX, hiX), ix1 = pixelIndex(x0 + 1, W, pad, loX, hiX);
      const iy0 = pixelIndex(y0, H, pad, loY, hiY), iy1 = pixelIndex(y0 + 1, H, pad, loY, hiY);
      const v00 = iy0 >= 0 && ix0 >= 0,
        v01 = iy0 >= 0 && ix1 >= 0,
        v10 = iy1 >= 0 && ix0 >= 0,
        v11 = iy1 >= 0 && ix1 >= 0;
      const w00 = (1 - ty) * (1 - tx), w01 = (1 - ty) * tx, w10 = ty * (1 - tx), w11 = ty * tx;
      const o00 = iy0 * W + ix0, o01 = iy0 * W + ix1, o10 = iy1 * W + ix0, o11 = iy1 * W + ix1;
      if (v00 && v01 && v10 && v11) {
        for (let ch = 0, base = n * C * S, o = n * C * P + p; ch < C; ch++, base += S, o += P) {
          ys[o] = w00 * xs[base + o00] + w01 * xs[base + o01] + w10 * xs[base + o10] + w11 * xs[base + o11];
        }
        continue;
      }
      // Zero padding: out-of-range pixels contribute nothing (and are never read).
      for (let ch = 0, base = n * C * S, o = n * C * P + p; ch < C; ch++, base += S, o += P) {
        let acc = 0;
        if (v00) acc += w00 * xs[base + o00];
        if (v01) acc += w01 * xs[base + o01];
        if (v10) acc += w10 * xs[base + o10];
        if (v11) acc += w11 * xs[base + o11];
        ys[o] = acc;
      }
    }
  }
}

registerKernel("GridSample", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "X"), grid = tensorArg(inputs, 1, "grid");
  const r = x.shape.length;
  const k = r - 2;
  if (k < 1) fail(`GridSample needs rank >= 3, got [${x.shape}]`);
  if (grid.shape.length !== r || grid.shape[r - 1] !== k || grid.shape[0] !== x.shape[0]) {
    fail(`GridSample grid [${grid.shape}] does not match input [${x.shape}]`);
  }
  const modeAttr: string = ctx.attrs.mode;
  const mode = modeAttr === "bilinear" ? "linear" : modeAttr === "bicubic" ? "cubic" : modeAttr;
  if (mode !== "linear" && mode !== "nearest" && mode !== "cubic") {
    fail(`unknown GridSample mode '${modeAttr}'`);
  }
  const padding: string = ctx.attrs.padding_mode;
  if (padding !== "zeros" && padding !== "border" && padding !== "reflection") {
    fail(`unknown padding_mode '${padding}'`);
  }
  const align = ctx.attrs.align_corners !== 0;
  const round = x.dtype === "f64" ? (v: number) => v : Math.fround;
  const [N, C] = x.shape;
  const dims = x.shape.slice(2);
  const outSpatial = grid.shape.slice(1, -1);
  const P = outSpatial.reduce((p, d) => p * d, 1);
  const out = ctx.alloc(x.dtype, [N, C, ...outSpatial]);
  if (out.data.length === 0) return [out];
  const S = dims.reduce((p, d) => p * d, 1);
  // Float data is read and written in place; other types go through float64.
  const inPlace = (x.data instanceof Float32Array || x.data instanceof Float64Array) &&
    x.data.constructor === out.data.constructor;
  const xs = inPlace ? (x.data as Float64Array) : toFloat64(x), gs = toFloat64(grid);
  const ys = inPlace ? (out.data as Float64Array) : new Float64Array(out.data.length);
  const st = stridesFor(dims);
  const lo = dims.map(() => (align ? 0 : -0.5)), hi = dims.map((d) => (align ? d - 1 : d - 0.5));
  const T = mode === "nearest" ? 1 : mode === "linear" ? 2 : 4;
  const pad = padding === "zeros" ? 0 : padding === "border" ? 1 : 2;
  // Per dim j, tap q: source index (or -1 for a zero pixel) and weight, at [j * 4 + q].
  const tapIdx = new Int32Array(k * 4), tapW = new Float64Array(k * 4);
  const combos = T ** k;
  const offs = new Int32Array(combos), ws = new Float64Array(combos);
  const coeff = new Float64Array(4);
  const q = new Int32Array(k);
  if (k === 2 && T === 2) {
    bilinear2d(xs, gs, ys, N, C, dims[0], dims[1], P, align, pad, round);
    if (inPlace) return [out];
    fromFloat64(x.dtype, ys, out.data as TypedArray);
    return [out];
  }
  for (let n = 0; n < N; n++) {
    for (let p = 0; p < P; p++) {
      const g = (n * P + p) * k;
      for (let j = 0; j < k; j++) {
        // Grid lists coordinates innermost first, so dim j reads entry k-1-j.
        const d = dims[j];
        const norm = gs[g + k - 1 - j];
        // Coordinates are computed in the element type (float32 for f32), as ONNX's reference and
        // onnxruntime do: it decides which pixel nearest mode picks at .5 boundaries.
        let v = align
          ? round((round(round(norm + 1) / 2)) * (d - 1))
          : round(round(round((norm + 1) * d) - 1) / 2);
        if (T === 1) v = rint(v);
        // Cubic applies the padding rule to each tap only (PyTorch and onnxruntime; ONNX's reference also
        // clamps the coordinate, which only differs for grids outside [-1, 1]).
        if (T !== 4 && (v < lo[j] || v > hi[j])) {
          if (pad === 1) v = Math.min(Math.max(v, 0), d - 1);
          else if (pad === 2) v = round(reflect(v, lo[j], hi[j]));
        }
        if (T === 1) {
          tapIdx[j * 4] = pixelIndex(Math.trunc(v), d, pad, lo[j], hi[j]);
          tapW[j * 4] = 1;
          continue;
        }
        const f = Math.floor(v), t = v - f;
        if (T === 2) {
          coeff[0] = 1 - t;
          coeff[1] = t;
        } else cubicCoeffs(t, coeff);
        const first = T === 2 ? f : f - 1;
        for (let u = 0; u < T; u++) {
          tapIdx[j * 4 + u] = pixelIndex(first + u, d, pad, lo[j], hi[j]);
          tapW[j * 4 + u] = coeff[u];
        }
      }
      // The product of the per-dim taps, dropping zero pixels and zero weights.
      let m = 0;
      q.fill(0);
      for (let c = 0; c < combos; c++) {
        let off = 0, w = 1;
        for (let j = 0; j < k; j++) {
          const i = tapIdx[j * 4 + q[j]];
          if (i < 0) {
            w = 0;
            break;
          }
          off += i * st[j];
          w *= tapW[j * 4 + q[j]];
        }
        if (w !== 0) {
          offs[m] = off;
          ws[m++] = w;
        }
        for (let j = k - 1; j >= 0; j--) {
          if (++q[j] < T) break;
          q[j] = 0;
        }
      }
      for (let ch = 0, base = n * C * S, o = n * C * P + p; ch < C; ch++, base += S, o += P) {
        let acc = 0;
        for (let t = 0; t < m; t++) acc += ws[t] * xs[base + offs[t]];
        ys[o] = acc;
      }
    }
  }
  if (inPlace) return [out];
  fromFloat64(x.dtype, ys, out.data as TypedArray);
  return [out];
});
