/**
 * Resize (ONNX opset 19+ semantics, following ONNX's reference implementation). Interpolation is separable:
 * every resized axis gets a table of taps (source index, weight) per output index, and the tensor is
 * resampled one axis at a time in float64. Nearest mode is a pure gather and works for every element type.
 */
import { LatheError } from "../../ir/errors.ts";
import { resizeDims } from "../../ir/ops/shape.ts";
import { normalizeAxis } from "../../ir/shape-infer.ts";
import { registerKernel } from "../kernel-registry.ts";
import { fromFloat64, toFloat64 } from "./float-view.ts";
import { checkedSize, dataArg, fail, optTensor, storageValue } from "./kernel-args.ts";
import { gatherAxes } from "./movement.ts";
import type { TypedArray } from "../tensor.ts";

interface AxisParams {
  inLen: number;
  outLen: number;
  scale: number;
  roiStart: number;
  roiEnd: number;
}

interface ResizeOptions {
  mode: string;
  ctm: string;
  nearestMode: string;
  cubicA: number;
  excludeOutside: boolean;
  antialias: boolean;
}

/** The source coordinate of output index x, or NaN when tf_crop_and_resize puts it outside the input. */
function sourceCoordinate(x: number, p: AxisParams, ctm: string): number {
  const { inLen, scale } = p;
  const outW = scale * inLen;
  switch (ctm) {
    case "half_pixel":
      return (x + 0.5) / scale - 0.5;
    case "half_pixel_symmetric": {
      const adjustment = p.outLen / outW;
      const offset = (inLen / 2) * (1 - adjustment);
      return offset + (x + 0.5) / scale - 0.5;
    }
    case "pytorch_half_pixel":
      return outW === 1 ? -0.5 : (x + 0.5) / scale - 0.5;
    case "align_corners":
      return outW === 1 ? 0 : (x * (inLen - 1)) / (outW - 1);
    case "asymmetric":
      return x / scale;
    case "tf_crop_and_resize": {
      const span = p.roiEnd - p.roiStart;
      let v = outW === 1 ? (span * (inLen - 1)) / 2 : (x * span * (inLen - 1)) / (outW - 1);
      v += p.roiStart * (inLen - 1);
      return v < 0 || v > inLen - 1 ? NaN : v;
    }
    default:
      fail(`unknown coordinate_transformation_mode '${ctm}'`);
  }
}

function nearestIndex(v: number, mode: string, inLen: number): number {
  let i: number;
  if (Number.isInteger(v)) i = v;
  else {
    const f = Math.floor(v), r = v - f;
    switch (mode) {
      case "round_prefer_floor":
        i = r <= 0.5 ? f : f + 1;
        break;
      case "round_prefer_ceil":
        i = r < 0.5 ? f : f + 1;
        break;
      case "floor":
        i = f;
        break;
      case "ceil":
        i = f + 1;
        break;
      default:
        fail(`unknown nearest_mode '${mode}'`);
    }
  }
  return i < 0 ? 0 : i >= inLen ? inLen - 1 : i;
}

function cubicWeight(x: number, A: number): number {
  x = Math.abs(x);
  if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
  if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return 0;
}

interface Taps {
  count: number;
  idx: Int32Array;
  w: Float64Array;
  outside: Uint8Array;
}

/**
 * Taps for linear or cubic interpolation. Neighbors of a source coordinate v sit around base = ceil(v) - 1
 * with ratio = v - base in (0, 1] (the reference prefers the left pixel); out-of-range neighbors clamp to
 * the edge, or get weight 0 with renormalisation under exclude_outside.
 */
function interpolationTaps(p: AxisParams, o: ResizeOptions): Taps {
  const cubic = o.mode === "cubic";
  const s = o.antialias ? Math.min(p.scale, 1) : 1;
  const start = cubic ? Math.floor(-2 / s) + 1 : Math.floor(-1 / s) + 1;
  const count = 2 - 2 * start;
  const idx = new Int32Array(p.outLen * count), w = new Float64Array(p.outLen * count);
  const outside = new Uint8Array(p.outLen);
  for (let x = 0; x < p.outLen; x++) {
    const v = sourceCoordinate(x, p, o.ctm);
    if (Number.isNaN(v)) {
      outside[x] = 1;
      continue;
    }
    const base = Math.ceil(v) - 1;
    const ratio = v - base;
    let sum = 0;
    for (let k = 0; k < count; k++) {
      const i = start + k;
      const d = (i - ratio) * s;
      let wt = cubic ? cubicWeight(d, o.cubicA) : Math.max(0, 1 - Math.abs(d));
      const src = base + i;
      if (o.excludeOutside && (src < 0 || src >= p.inLen)) wt = 0;
      idx[x * count + k] = src < 0 ? 0 : src >= p.inLen ? p.inLen - 1 : src;
      w[x * count + k] = wt;
      sum += wt;
    }
    // Plain linear and cubic weights already sum to 1; antialias and exclude_outside renormalise.
    if ((o.antialias || o.excludeOutside) && sum !== 0) {
      for (let k = 0; k < count; k++) w[x * count + k] /= sum;
    }
  }
  return { count, idx, w, outside };
}

function isIdentity(t: Taps, p: AxisParams): boolean {
  if (p.inLen !== p.outLen) return false;
  for (let x = 0; x < p.outLen; x++) {
    if (t.outside[x]) return false;
    let acc = 0;
    for (let k = 0; k < t.count; k++) {
      const wt = t.w[x * t.count + k];
      if (wt === 0) continue;
      if (t.idx[x * t.count + k] !== x) return false;
      acc += wt;
    }
    if (acc !== 1) return false;
  }
  return true;
}

/** Resamples axis `axis` of src (shape `shape`) into dst with the given taps. */
function resampleAxis(
  src: Float64Array,
  shape: readonly number[],
  axis: number,
  t: Taps,
  outLen: number,
  extrapolation: number,
): Float64Array {
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = shape[axis];
  const dst = new Float64Array(outer * outLen * inner);
  for (let ob = 0; ob < outer; ob++) {
    const sOuter = ob * n * inner;
    for (let x = 0; x < outLen; x++) {
      const dBase = (ob * outLen + x) * inner;
      if (t.outside[x]) {
        dst.fill(extrapolation, dBase, dBase + inner);
        continue;
      }
      for (let k = 0; k < t.count; k++) {
        const wt = t.w[x * t.count + k];
        if (wt === 0) continue;
        const sBase = sOuter + t.idx[x * t.count + k] * inner;
        if (inner === 1) dst[dBase] += wt * src[sBase];
        else for (let i = 0; i < inner; i++) dst[dBase + i] += wt * src[sBase + i];
      }
    }
  }
  return dst;
}

/**
 * The common image case (only H and W resized, float data): every output reads its taps straight from the
 * input and writes straight to the output, with no float64 staging.
 */
function resizeLastTwo(
  src: Float32Array,
  dst: Float32Array,
  inShape: readonly number[],
  outShape: readonly number[],
  th: Taps | undefined,
  tw: Taps | undefined,
  extrapolation: number,
): void {
  const r = inShape.length;
  const H = inShape[r - 2], W = inShape[r - 1], OH = outShape[r - 2], OW = outShape[r - 1];
  const planes = inShape.slice(0, r - 2).reduce((p, d) => p * d, 1);
  const id = (n: number): Taps => ({
    count: 1,
    idx: Int32Array.from({ length: n }, (_, i) => i),
    w: new Float64Array(n).fill(1),
    outside: new Uint8Array(n),
  });
  const ty = th ?? id(H), tx = tw ?? id(W);
  const cy = ty.count, cx = tx.count;
  const yw = ty.w, yi = ty.idx, yout = ty.outside, xw = tx.w, xi = tx.idx, xout = tx.outside;
  const anyOutX = xout.includes(1);
  // One output row at a time: blend the source rows the row's taps name, then sample them along x.
  const row = new Float64Array(W);
  for (let pl = 0; pl < planes; pl++) {
    const sp = pl * H * W, dp = pl * OH * OW;
    for (let oy = 0; oy < OH; oy++) {
      const drow = dp + oy * OW;
      if (yout[oy]) {
        dst.fill(extrapolation, drow, drow + OW);
        continue;
      }
      row.fill(0);
      for (let ky = 0; ky < cy; ky++) {
        const wy = yw[oy * cy + ky];
        if (wy === 0) continue;
        const srow = sp + yi[oy * cy + ky] * W;
        for (let i = 0; i < W; i++) row[i] += wy * src[srow + i];
      }
      if (cx === 2 && !anyOutX) {
        for (let ox = 0, t = 0; ox < OW; ox++, t += 2) {
          dst[drow + ox] = xw[t] * row[xi[t]] + xw[t + 1] * row[xi[t + 1]];
        }
        continue;
      }
      for (let ox = 0; ox < OW; ox++) {
        if (xout[ox]) {
          dst[drow + ox] = extrapolation;
          continue;
        }
        let acc = 0;
        for (let kx = 0, t = ox * cx; kx < cx; kx++, t++) acc += xw[t] * row[xi[t]];
        dst[drow + ox] = acc;
      }
    }
  }
}

registerKernel("Resize", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "X");
  const roiT = optTensor(inputs, 1, true);
  const scalesT = optTensor(inputs, 2, true);
  const sizesT = optTensor(inputs, 3, true);
  const a = ctx.attrs;
  const r = x.shape.length;
  const scalesIn = scalesT ? Array.from(toFloat64(scalesT)) : undefined;
  const sizesIn = sizesT ? Array.from(sizesT.data as ArrayLike<number | bigint>, Number) : undefined;
  let res: { dims: number[]; scales: number[] };
  try {
    res = resizeDims(x.shape, scalesIn, sizesIn, a.axes, a.keep_aspect_ratio_policy);
  } catch (e) {
    if (e instanceof LatheError) throw new LatheError("runtime", e.reason);
    throw e;
  }
  const { dims, scales } = res;
  checkedSize(dims);
  const axes: number[] = a.axes.length
    ? a.axes.map((v: number) => normalizeAxis(v, r))
    : x.shape.map((_, i) => i);
  const roiStart = new Array<number>(r).fill(0), roiEnd = new Array<number>(r).fill(1);
  if (roiT) {
    const roi = toFloat64(roiT);
    if (roi.length !== 2 * axes.length) fail(`Resize roi has ${roi.length} values for ${axes.length} axes`);
    axes.forEach((d, i) => {
      roiStart[d] = roi[i];
      roiEnd[d] = roi[axes.length + i];
    });
  }
  const opts: ResizeOptions = {
    mode: a.mode,
    ctm: a.coordinate_transformation_mode,
    nearestMode: a.nearest_mode,
    cubicA: a.cubic_coeff_a,
    excludeOutside: a.exclude_outside !== 0,
    antialias: a.antialias !== 0,
  };
  if (opts.ctm === "tf_crop_and_resize" && !roiT) fail("tf_crop_and_resize needs the roi input");
  const out = ctx.alloc(x.dtype, dims);
  if (out.data.length === 0) return [out];
  if (x.data.length === 0) fail(`cannot resize an empty tensor [${x.shape}] to [${dims}]`);
  const params = (d: number): AxisParams => ({
    inLen: x.shape[d],
    outLen: dims[d],
    scale: scales[d],
    roiStart: roiStart[d],
    roiEnd: roiEnd[d],
  });

  if (opts.mode === "nearest") {
    if (opts.antialias) fail("antialias is not defined for nearest mode");
    const maps = dims.map((len, d) => {
      const p = params(d);
      const m = new Int32Array(len);
      for (let o = 0; o < len; o++) {
        const v = sourceCoordinate(o, p, opts.ctm);
        m[o] = Number.isNaN(v) ? -1 : nearestIndex(v, opts.nearestMode, p.inLen);
      }
      return m;
    });
    gatherAxes(out.data, x.data, x.shape, maps, storageValue(out.data, a.extrapolation_value));
    return [out];
  }
  if (opts.mode !== "linear" && opts.mode !== "cubic") fail(`unknown Resize mode '${opts.mode}'`);
  if (x.data instanceof Array) fail("cannot interpolate strings");
  const taps = x.shape.map((_, d) => {
    const t = interpolationTaps(params(d), opts);
    return isIdentity(t, params(d)) ? undefined : t;
  });
  const direct = x.data instanceof Float32Array || x.data instanceof Float64Array ||
    x.data instanceof Float16Array;
  if (direct && r >= 2 && taps.slice(0, r - 2).every((t) => t === undefined)) {
    resizeLastTwo(
      x.data as Float32Array,
      out.data as Float32Array,
      x.shape,
      dims,
      taps[r - 2],
      taps[r - 1],
      a.extrapolation_value,
    );
    return [out];
  }
  let cur = toFloat64(x);
  const shape = [...x.shape];
  // Innermost axes first, as the reference does; identity axes (scale 1, no crop) are skipped.
  for (let d = r - 1; d >= 0; d--) {
    const t = taps[d];
    if (!t) continue;
    cur = resampleAxis(cur, shape, d, t, dims[d], a.extrapolation_value);
    shape[d] = dims[d];
  }
  fromFloat64(x.dtype, cur, out.data as TypedArray);
  return [out];
});
