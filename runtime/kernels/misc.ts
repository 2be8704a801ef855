// Kernels: detection post-processing, Det, random generators and the preview.training optimizers.
import { isFloat } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { dtypeOfTensorProtoCode } from "../../ir/ops/tensor-proto-dtype.ts";
import { type KernelContext, registerKernel } from "../kernel-registry.ts";
import type { NumericArray, RValue, Tensor } from "../tensor.ts";
import { numberSink, readNumbers, tensorArg } from "./number-view.ts";

type Inputs = readonly (RValue | undefined)[];

function scalarArg(inputs: Inputs, i: number, what: string, fallback: number): number {
  if (inputs[i] === undefined) return fallback;
  const t = tensorArg(inputs, i, what);
  if (t.data.length !== 1) {
    throw new LatheError("runtime", `${what} must hold one value, has ${t.data.length}`);
  }
  return Number(t.data[0]);
}

/** Whether two boxes overlap by more than `threshold` (IoU); degenerate boxes never suppress. */
function overlapsAbove(b: NumericArray, i: number, j: number, center: boolean, threshold: number): boolean {
  let ay1: number, ax1: number, ay2: number, ax2: number, by1: number, bx1: number, by2: number, bx2: number;
  if (center) {
    // [x_center, y_center, width, height]
    ax1 = b[i] - b[i + 2] / 2,
      ax2 = b[i] + b[i + 2] / 2,
      ay1 = b[i + 1] - b[i + 3] / 2,
      ay2 = b[i + 1] + b[i + 3] / 2;
    bx1 = b[j] - b[j + 2] / 2,
      bx2 = b[j] + b[j + 2] / 2,
      by1 = b[j + 1] - b[j + 3] / 2,
      by2 = b[j + 1] + b[j + 3] / 2;
  } else {
    // [y1, x1, y2, x2] with either corner first.
    ay1 = Math.min(b[i], b[i + 2]),
      ay2 = Math.max(b[i], b[i + 2]),
      ax1 = Math.min(b[i + 1], b[i + 3]),
      ax2 = Math.max(b[i + 1], b[i + 3]);
    by1 = Math.min(b[j], b[j + 2]),
      by2 = Math.max(b[j], b[j + 2]),
      bx1 = Math.min(b[j + 1], b[j + 3]),
      bx2 = Math.max(b[j + 1], b[j + 3]);
  }
  const ih = Math.min(ay2, by2) - Math.max(ay1, by1), iw = Math.min(ax2, bx2) - Math.max(ax1, bx1);
  if (ih <= 0 || iw <= 0) return false;
  const inter = ih * iw;
  const aa = (ay2 - ay1) * (ax2 - ax1), ab = (by2 - by1) * (bx2 - bx1);
  const union = aa + ab - inter;
  if (aa <= 0 || ab <= 0 || union <= 0) return false;
  return inter / union > threshold;
}

registerKernel("NonMaxSuppression", (inputs, ctx) => {
  const bT = tensorArg(inputs, 0, "boxes"), sT = tensorArg(inputs, 1, "scores");
  if (bT.shape.length !== 3 || bT.shape[2] !== 4) {
    throw new LatheError("runtime", `boxes must be [batch, boxes, 4], got [${bT.shape}]`);
  }
  const [B, S] = bT.shape;
  if (sT.shape.length !== 3 || sT.shape[0] !== B || sT.shape[2] !== S) {
    throw new LatheError("runtime", `scores [${sT.shape}] do not match boxes [${bT.shape}]`);
  }
  const C = sT.shape[1];
  const maxOut = scalarArg(inputs, 2, "max_output_boxes_per_class", 0);
  const iou = scalarArg(inputs, 3, "iou_threshold", 0);
  const hasScoreThr = inputs[4] !== undefined;
  const scoreThr = scalarArg(inputs, 4, "score_threshold", 0);
  const center = ctx.attrs.center_point_box !== 0;
  const boxes = readNumbers(bT), scores = readNumbers(sT);
  const picked: number[] = [];
  const order = new Int32Array(S);
  const chosen = new Int32Array(S);
  for (let b = 0; b < B && maxOut > 0; b++) {
    for (let c = 0; c < C; c++) {
      const so = (b * C + c) * S;
      let n = 0;
      for (let i = 0; i < S; i++) if (!hasScoreThr || scores[so + i] > scoreThr) order[n++] = i;
      // Highest score first; equal scores keep the lower box index first (onnxruntime's order).
      const cand = Array.from(order.subarray(0, n)).sort((p, q) => scores[so + q] - scores[so + p] || p - q);
      let k = 0;
      for (const i of cand) {
        if (k >= maxOut) break;
        let keep = true;
        for (let j = 0; j < k; j++) {
          if (overlapsAbove(boxes, (b * S + i) * 4, (b * S + chosen[j]) * 4, center, iou)) {
            keep = false;
            break;
          }
        }
        if (keep) {
          chosen[k++] = i;
          picked.push(b, c, i);
        }
      }
    }
  }
  const out = ctx.alloc("i64", [picked.length / 3, 3]);
  const d = out.data as BigInt64Array;
  for (let i = 0; i < picked.length; i++) d[i] = BigInt(picked[i]);
  return [out];
});

registerKernel("RoiAlign", (inputs, ctx) => {
  const xT = tensorArg(inputs, 0, "X"),
    rT = tensorArg(inputs, 1, "rois"),
    iT = tensorArg(inputs, 2, "batch_indices");
  if (xT.shape.length !== 4) throw new LatheError("runtime", `X must be [N, C, H, W], got [${xT.shape}]`);
  const [N, C, H, W] = xT.shape;
  if (rT.shape.length !== 2 || rT.shape[1] !== 4) {
    throw new LatheError("runtime", `rois must be [R, 4], got [${rT.shape}]`);
  }
  const R = rT.shape[0];
  if (iT.data.length !== R) throw new LatheError("runtime", `batch_indices must have ${R} elements`);
  const { output_height: PH, output_width: PW, sampling_ratio: sr, spatial_scale: scale, mode } = ctx.attrs;
  const halfPixel = ctx.attrs.coordinate_transformation_mode === "half_pixel";
  const isMax = mode === "max";
  if (!isMax && mode !== "avg") throw new LatheError("runtime", `unknown mode '${mode}'`);
  const x = readNumbers(xT), rois = readNumbers(rT), bi = readNumbers(iT);
  const sink = numberSink(ctx, xT.dtype, [R, C, PH, PW]);
  const y = sink.buf;
  const off = halfPixel ? 0.5 : 0;
  for (let r = 0; r < R; r++) {
    const b = bi[r];
    if (!(b >= 0 && b < N)) throw new LatheError("runtime", `batch index ${b} out of range`);
    const sw = rois[r * 4] * scale - off, sh = rois[r * 4 + 1] * scale - off;
    let rw = rois[r * 4 + 2] * scale - off - sw, rh = rois[r * 4 + 3] * scale - off - sh;
    if (!halfPixel) {
      // The legacy mode forces ROIs to be at least one pixel.
      rw = Math.max(rw, 1);
      rh = Math.max(rh, 1);
    }
    const binH = rh / PH, binW = rw / PW;
    const gh = sr > 0 ? sr : Math.ceil(rh / PH), gw = sr > 0 ? sr : Math.ceil(rw / PW);
    const count = Math.max(gh * gw, 1);
    for (let c = 0; c < C; c++) {
      const base = (b * C + c) * H * W;
      for (let ph = 0; ph < PH; ph++) {
        for (let pw = 0; pw < PW; pw++) {
          let acc = 0, first = true;
          for (let iy = 0; iy < gh; iy++) {
            const yy = sh + ph * binH + ((iy + 0.5) * binH) / gh;
            for (let ix = 0; ix < gw; ix++) {
              const xx = sw + pw * binW + ((ix + 0.5) * binW) / gw;
              let v1 = 0, v2 = 0, v3 = 0, v4 = 0;
              if (!(yy < -1 || yy > H || xx < -1 || xx > W)) {
                let sy = Math.max(yy, 0), sx = Math.max(xx, 0);
                let yl = Math.floor(sy), xl = Math.floor(sx), yh: number, xh: number;
                if (yl >= H - 1) {
                  yh = yl = H - 1;
                  sy = yl;
                } else yh = yl + 1;
                if (xl >= W - 1) {
                  xh = xl = W - 1;
                  sx = xl;
                } else xh = xl + 1;
                const ly = sy - yl, lx = sx - xl, hy = 1 - ly, hx = 1 - lx;
                v1 = hy * hx * x[base + yl * W + xl];
                v2 = hy * lx * x[base + yl * W + xh];
                v3 = ly * hx * x[base + yh * W + xl];
                v4 = ly * lx * x[base + yh * W + xh];
              }
              if (isMax) {
                // onnxruntime's max mode takes the largest weighted corner, not the interpolated value.
                const m = Math.max(v1, v2, v3, v4);
                acc = first ? m : Math.max(acc, m);
                first = false;
              } else acc += v1 + v2 + v3 + v4;
            }
          }
          y[((r * C + c) * PH + ph) * PW + pw] = isMax ? acc : acc / count;
        }
      }
    }
  }
  return [sink.done()];
});

/** C's round(): halves away from zero. */
function roundAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

registerKernel("MaxRoiPool", (inputs, ctx) => {
  const xT = tensorArg(inputs, 0, "X"), rT = tensorArg(inputs, 1, "rois");
  if (xT.shape.length !== 4) throw new LatheError("runtime", `X must be [N, C, H, W], got [${xT.shape}]`);
  const [N, C, H, W] = xT.shape;
  if (rT.shape.length !== 2 || rT.shape[1] !== 5) {
    throw new LatheError("runtime", `rois must be [R, 5], got [${rT.shape}]`);
  }
  const R = rT.shape[0];
  const [PH, PW] = ctx.attrs.pooled_shape as number[];
  const scale = ctx.attrs.spatial_scale;
  const x = readNumbers(xT), rois = readNumbers(rT);
  const sink = numberSink(ctx, xT.dtype, [R, C, PH, PW]);
  const y = sink.buf;
  for (let r = 0; r < R; r++) {
    const b = rois[r * 5];
    if (!(b >= 0 && b < N) || !Number.isInteger(b)) {
      throw new LatheError("runtime", `batch index ${b} out of range`);
    }
    const sw = roundAway(rois[r * 5 + 1] * scale), sh = roundAway(rois[r * 5 + 2] * scale);
    const ew = roundAway(rois[r * 5 + 3] * scale), eh = roundAway(rois[r * 5 + 4] * scale);
    const binH = Math.max(eh - sh + 1, 1) / PH, binW = Math.max(ew - sw + 1, 1) / PW;
    for (let c = 0; c < C; c++) {
      const base = (b * C + c) * H * W;
      for (let ph = 0; ph < PH; ph++) {
        const h0 = Math.min(Math.max(Math.floor(ph * binH) + sh, 0), H);
        const h1 = Math.min(Math.max(Math.ceil((ph + 1) * binH) + sh, 0), H);
        for (let pw = 0; pw < PW; pw++) {
          const w0 = Math.min(Math.max(Math.floor(pw * binW) + sw, 0), W);
          const w1 = Math.min(Math.max(Math.ceil((pw + 1) * binW) + sw, 0), W);
          let m = h1 <= h0 || w1 <= w0 ? 0 : -Infinity;
          for (let h = h0; h < h1; h++) {
            for (let w = w0; w < w1; w++) if (x[base + h * W + w] > m) m = x[base + h * W + w];
          }
          y[((r * C + c) * PH + ph) * PW + pw] = m;
        }
      }
    }
  }
  return [sink.done()];
});

registerKernel("Det", (inputs, ctx) => {
  const xT = tensorArg(inputs, 0, "X");
  if (!isFloat(xT.dtype)) throw new LatheError("runtime", "X must be floating point");
  const r = xT.shape.length;
  if (r < 2 || xT.shape[r - 1] !== xT.shape[r - 2]) {
    throw new LatheError("runtime", `X must be [..., M, M], got [${xT.shape}]`);
  }
  const n = xT.shape[r - 1];
  const x = readNumbers(xT);
  const outShape = xT.shape.slice(0, -2);
  const sink = numberSink(ctx, xT.dtype, outShape);
  const count = outShape.reduce((p, d) => p * d, 1);
  const m = new Float64Array(n * n);
  for (let t = 0; t < count; t++) {
    m.set(x.subarray(t * n * n, (t + 1) * n * n));
    // LU decomposition with partial pivoting; the determinant is the signed product of the pivots.
    let det = 1;
    for (let col = 0; col < n && det !== 0; col++) {
      let p = col, best = Math.abs(m[col * n + col]);
      for (let i = col + 1; i < n; i++) {
        const v = Math.abs(m[i * n + col]);
        if (v > best) {
          best = v;
          p = i;
        }
      }
      if (best === 0) {
        det = 0;
        break;
      }
      if (p !== col) {
        for (let j = 0; j < n; j++) {
          const tmp = m[col * n + j];
          m[col * n + j] = m[p * n + j];
          m[p * n + j] = tmp;
        }
        det = -det;
      }
      const piv = m[col * n + col];
      det *= piv;
      for (let i = col + 1; i < n; i++) {
        const f = m[i * n + col] / piv;
        if (f === 0) continue;
        for (let j = col + 1; j < n; j++) m[i * n + j] -= f * m[col * n + j];
      }
    }
    sink.buf[t] = det;
  }
  return [sink.done()];
});

/**
 * A small seeded generator (SplitMix32 steps into 53-bit doubles). ONNX leaves the random stream to the
 * implementation, so only the distribution and reproducibility for a fixed seed are promised.
 */
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  private u32(): number {
    this.s = (this.s + 0x9e3779b9) >>> 0;
    let z = this.s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    return ((this.u32() >>> 5) * 67108864 + (this.u32() >>> 6)) / 9007199254740992;
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
}

/** The node's `seed` attribute when given (same seed, same values), else the run's per-node seed. */
function rngFor(ctx: KernelContext): Rng {
  const s = ctx.attrs.seed;
  if (s === undefined) return new Rng(ctx.seed);
  const bits = new Uint32Array(new Float64Array([s]).buffer);
  return new Rng(Math.imul(bits[0] ^ 0x5bd1e995, 0x27d4eb2d) ^ bits[1]);
}

function dtypeAttr(ctx: KernelContext, fallback: Tensor["dtype"]): Tensor["dtype"] {
  const code = ctx.attrs.dtype;
  if (code === undefined) return fallback;
  const d = dtypeOfTensorProtoCode(code);
  if (!d) throw new LatheError("runtime", `dtype ${code} is not supported`);
  return d;
}

function shapeAttr(ctx: KernelContext): number[] {
  const s = ctx.attrs.shape as number[];
  if (!s.every((d) => Number.isInteger(d) && d >= 0)) throw new LatheError("runtime", `bad shape [${s}]`);
  return [...s];
}

registerKernel("Bernoulli", (inputs, ctx) => {
  const p = tensorArg(inputs, 0, "input");
  const pv = readNumbers(p);
  const rng = rngFor(ctx);
  const sink = numberSink(ctx, dtypeAttr(ctx, p.dtype), p.shape);
  for (let i = 0; i < pv.length; i++) sink.buf[i] = rng.next() < pv[i] ? 1 : 0;
  return [sink.done()];
});

function uniform(ctx: KernelContext, dtype: Tensor["dtype"], shape: readonly number[]): Tensor {
  const rng = rngFor(ctx);
  const { low, high } = ctx.attrs;
  const sink = numberSink(ctx, dtype, shape);
  for (let i = 0; i < sink.buf.length; i++) sink.buf[i] = low + (high - low) * rng.next();
  return sink.done();
}

function normal(ctx: KernelContext, dtype: Tensor["dtype"], shape: readonly number[]): Tensor {
  const rng = rngFor(ctx);
  const { mean, scale } = ctx.attrs;
  const sink = numberSink(ctx, dtype, shape);
  for (let i = 0; i < sink.buf.length; i++) sink.buf[i] = mean + scale * rng.normal();
  return sink.done();
}

registerKernel("RandomUniform", (_inputs, ctx) => [uniform(ctx, dtypeAttr(ctx, "f32"), shapeAttr(ctx))]);
registerKernel("RandomNormal", (_inputs, ctx) => [normal(ctx, dtypeAttr(ctx, "f32"), shapeAttr(ctx))]);
registerKernel("RandomUniformLike", (inputs, ctx) => {
  const x = tensorArg(inputs, 0, "input");
  return [uniform(ctx, dtypeAttr(ctx, x.dtype), x.shape)];
});
registerKernel("RandomNormalLike", (inputs, ctx) => {
  const x = tensorArg(inputs, 0, "input");
  return [normal(ctx, dtypeAttr(ctx, x.dtype), x.shape)];
});

registerKernel("Multinomial", (inputs, ctx) => {
  const x = tensorArg(inputs, 0, "input");
  if (x.shape.length !== 2) {
    throw new LatheError("runtime", `input must be [batch, classes], got [${x.shape}]`);
  }
  const [B, K] = x.shape;
  const n = ctx.attrs.sample_size;
  if (!(n >= 0)) throw new LatheError("runtime", `sample_size must be non-negative, is ${n}`);
  const dtype = dtypeAttr(ctx, "i32");
  if (dtype !== "i32" && dtype !== "i64") throw new LatheError("runtime", "dtype must be int32 or int64");
  const lv = readNumbers(x);
  const rng = rngFor(ctx);
  const sink = numberSink(ctx, dtype, [B, n]);
  const cdf = new Float64Array(K);
  for (let b = 0; b < B; b++) {
    // Inputs are unnormalized log-probabilities.
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, lv[b * K + k]);
    let total = 0;
    for (let k = 0; k < K; k++) cdf[k] = total += Math.exp(lv[b * K + k] - m);
    for (let s = 0; s < n; s++) {
      const u = rng.next() * total;
      let lo = 0, hi = K - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cdf[mid] > u) hi = mid;
        else lo = mid + 1;
      }
      sink.buf[b * n + s] = lo;
    }
  }
  return [sink.done()];
});

/** R, T and the n tensors of each input group for an optimizer node. */
function optimizerArgs(inputs: Inputs, groups: number) {
  const R = scalarArg(inputs, 0, "R", NaN), T = scalarArg(inputs, 1, "T", NaN);
  const rest = inputs.length - 2;
  if (rest <= 0 || rest % groups !== 0) {
    throw new LatheError("runtime", `expects R, T and ${groups} equal groups of tensors`);
  }
  const n = rest / groups;
  const group = (g: number, i: number) => tensorArg(inputs, 2 + g * n + i, "optimizer operand");
  return { R, T, n, group };
}

function sameSize(ts: Tensor[]): void {
  for (const t of ts) {
    if (!isFloat(t.dtype)) throw new LatheError("runtime", "optimizer tensors must be floating point");
    if (t.data.length !== ts[0].data.length) {
      throw new LatheError("runtime", "optimizer tensors of one group differ in size");
    }
  }
}

registerKernel("ai.onnx.preview.training.Adagrad", (inputs, ctx) => {
  const { R, T, n, group } = optimizerArgs(inputs, 3);
  const { decay_factor: decay, epsilon: eps, norm_coefficient: lambda } = ctx.attrs;
  const r = R / (1 + T * decay);
  const xs: Tensor[] = [], hs: Tensor[] = [];
  for (let i = 0; i < n; i++) {
    const X = group(0, i), G = group(1, i), H = group(2, i);
    sameSize([X, G, H]);
    const x = readNumbers(X), g = readNumbers(G), h = readNumbers(H);
    const xo = numberSink(ctx, X.dtype, X.shape), ho = numberSink(ctx, H.dtype, H.shape);
    for (let k = 0; k < x.length; k++) {
      const gr = lambda * x[k] + g[k];
      const hn = h[k] + gr * gr;
      ho.buf[k] = hn;
      xo.buf[k] = x[k] - (r * gr) / (Math.sqrt(hn) + eps);
    }
    xs.push(xo.done());
    hs.push(ho.done());
  }
  return [...xs, ...hs];
});

registerKernel("ai.onnx.preview.training.Momentum", (inputs, ctx) => {
  const { R, T, n, group } = optimizerArgs(inputs, 3);
  const { alpha, beta, mode, norm_coefficient: lambda } = ctx.attrs;
  if (mode !== "standard" && mode !== "nesterov") throw new LatheError("runtime", `unknown mode '${mode}'`);
  // The first step (T = 0) takes the plain gradient as its velocity.
  const b = T > 0 ? beta : 1;
  const xs: Tensor[] = [], vs: Tensor[] = [];
  for (let i = 0; i < n; i++) {
    const X = group(0, i), G = group(1, i), V = group(2, i);
    sameSize([X, G, V]);
    const x = readNumbers(X), g = readNumbers(G), v = readNumbers(V);
    const xo = numberSink(ctx, X.dtype, X.shape), vo = numberSink(ctx, V.dtype, V.shape);
    for (let k = 0; k < x.length; k++) {
      const gr = lambda * x[k] + g[k];
      const vn = alpha * v[k] + b * gr;
      vo.buf[k] = vn;
      xo.buf[k] = mode === "standard" ? x[k] - R * vn : x[k] - R * (gr + alpha * vn);
    }
    xs.push(xo.done());
    vs.push(vo.done());
  }
  return [...xs, ...vs];
});

registerKernel("ai.onnx.preview.training.Adam", (inputs, ctx) => {
  const { R, T, n, group } = optimizerArgs(inputs, 4);
  const { alpha, beta, epsilon: eps, norm_coefficient: lambda, norm_coefficient_post: post } = ctx.attrs;
  const rAdj = T > 0 ? (R * Math.sqrt(1 - Math.pow(beta, T))) / (1 - Math.pow(alpha, T)) : R;
  const xs: Tensor[] = [], vs: Tensor[] = [], hs: Tensor[] = [];
  for (let i = 0; i < n; i++) {
    const X = group(0, i), G = group(1, i), V = group(2, i), H = group(3, i);
    sameSize([X, G, V, H]);
    const x = readNumbers(X), g = readNumbers(G), v = readNumbers(V), h = readNumbers(H);
    const xo = numberSink(ctx, X.dtype, X.shape),
      vo = numberSink(ctx, V.dtype, V.shape),
      ho = numberSink(ctx, H.dtype, H.shape);
    for (let k = 0; k < x.length; k++) {
      const gr = lambda * x[k] + g[k];
      const vn = alpha * v[k] + (1 - alpha) * gr;
      const hn = beta * h[k] + (1 - beta) * gr * gr;
      vo.buf[k] = vn;
      ho.buf[k] = hn;
      xo.buf[k] = (1 - post) * (x[k] - (rAdj * vn) / (Math.sqrt(hn) + eps));
    }
    xs.push(xo.done());
    vs.push(vo.done());
    hs.push(ho.done());
  }
  return [...xs, ...vs, ...hs];
});
