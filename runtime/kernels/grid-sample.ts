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
  const xs = toFloat64(x), gs = toFloat64(grid);
  const ys = new Float64Array(out.data.length);
  const st = stridesFor(dims);
  const lo = dims.map(() => (align ? 0 : -0.5)), hi = dims.map((d) => (align ? d - 1 : d - 0.5));
  const taps1 = mode === "nearest" ? 1 : mode === "linear" ? 2 : 4;
  const tapIdx = dims.map(() => new Int32Array(taps1));
  const tapW = dims.map(() => new Float64Array(taps1));
  const tapOk = dims.map(() => new Uint8Array(taps1));
  const combos = taps1 ** k;
  const offs = new Int32Array(combos), ws = new Float64Array(combos);
  const coeff = new Float64Array(4);
  // A source index along dim j after the padding rule; -1 marks a zero pixel.
  const pixel = (i: number, j: number): number => {
    const d = dims[j];
    if (padding === "zeros") return i >= 0 && i < d ? i : -1;
    if (padding === "border") return i < 0 ? 0 : i >= d ? d - 1 : i;
    return Math.trunc(reflect(i, lo[j], hi[j]));
  };
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
        if (mode === "nearest") v = rint(v);
        // Cubic applies the padding rule to each tap only (PyTorch and onnxruntime; ONNX's reference also
        // clamps the coordinate, which only differs for grids outside [-1, 1]).
        if (mode !== "cubic" && (v < lo[j] || v > hi[j])) {
          if (padding === "border") v = Math.min(Math.max(v, 0), d - 1);
          else if (padding === "reflection") v = round(reflect(v, lo[j], hi[j]));
        }
        if (mode === "nearest") {
          const i = pixel(Math.trunc(v), j);
          tapIdx[j][0] = i < 0 ? 0 : i;
          tapOk[j][0] = i < 0 ? 0 : 1;
          tapW[j][0] = 1;
          continue;
        }
        const f = Math.floor(v), t = v - f;
        if (mode === "linear") {
          coeff[0] = 1 - t;
          coeff[1] = t;
        } else cubicCoeffs(t, coeff);
        const first = mode === "linear" ? f : f - 1;
        for (let q = 0; q < taps1; q++) {
          const i = pixel(first + q, j);
          tapIdx[j][q] = i < 0 ? 0 : i;
          tapOk[j][q] = i < 0 ? 0 : 1;
          tapW[j][q] = coeff[q];
        }
      }
      // Expand the per-dim taps into their product.
      let m = 0;
      for (let c = 0; c < combos; c++) {
        let rest = c, off = 0, w = 1, ok = true;
        for (let j = k - 1; j >= 0; j--) {
          const q = rest % taps1;
          rest = (rest - q) / taps1;
          if (!tapOk[j][q]) ok = false;
          off += tapIdx[j][q] * st[j];
          w *= tapW[j][q];
        }
        if (ok && w !== 0) {
          offs[m] = off;
          ws[m++] = w;
        }
      }
      for (let ch = 0; ch < C; ch++) {
        const base = (n * C + ch) * S;
        let acc = 0;
        for (let t = 0; t < m; t++) acc += ws[t] * xs[base + offs[t]];
        ys[(n * C + ch) * P + p] = acc;
      }
    }
  }
  fromFloat64(x.dtype, ys, out.data as TypedArray);
  return [out];
});
