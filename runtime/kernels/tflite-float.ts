/**
 * Float kernels of the `tfl` dialect. Where LiteRT's CPU path (the XNNPACK delegate) computes an op, the
 * kernel reproduces its float32 arithmetic operation for operation, so results are bit-identical to
 * LiteRT's rather than merely close: convolutions, depthwise convolutions and fully-connected layers in
 * XNNPACK's summation order (tflite-xnnpack-conv.ts; and its channel-first kernels where a model with sparse
 * weights runs channel-first, tflite-xnnpack-chw.ts, tflite-xnnpack-layout.ts), average pooling, mean,
 * bilinear resize, sigmoid, hard-swish and log as XNNPACK's kernels compute them. The other ops follow
 * TFLite's reference semantics (tensorflow/lite/kernels/internal/reference/*.h). These are the fallback
 * variant of each op: the integer kernels register variants that accept quantized operands, and a float
 * kernel refuses quantized ones.
 */
import type { AffineQuant, DType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import {
  fma32,
  xnnConv2d,
  xnnDeconv2d,
  xnnDepthwise,
  xnnFullyConnected,
  xnnMadd,
  xnnRowsGemm,
} from "./tflite-xnnpack-conv.ts";
import { xnnElu, xnnExp, xnnGelu, xnnSinCos, xnnTanh } from "./tflite-xnnpack-unary.ts";
import { xnnSoftmax } from "./tflite-xnnpack-softmax.ts";
import { xnnInnerReduceShape, xnnInnerReduceSum } from "./tflite-xnnpack-reduce.ts";
import { chwDepthwise, chwDepthwiseApplies, chwResizeBilinear, hwc2chwConv } from "./tflite-xnnpack-chw.ts";
import { type XnnLayout, XNNPACK_LAYOUT } from "./tflite-xnnpack-layout.ts";
import { type KernelContext, registerKernel } from "../kernel-registry.ts";
import { type RValue, Tensor, type TypedArray } from "../tensor.ts";
import { broadcastStatic, forEachRow, planBroadcast } from "./broadcast.ts";
import { rowLoop } from "./row-loop.ts";
import {
  activationRange,
  applyActivation,
  arg,
  axisOf,
  f32Arg,
  fail,
  intsOf,
  nhwc,
  runtimeAxis,
} from "./tflite-common.ts";

const FLOAT = { label: "float" };
type F32 = Tensor & { data: Float32Array };

function reg(op: string, k: (inputs: readonly (RValue | undefined)[], ctx: KernelContext) => RValue[]): void {
  registerKernel(`tfl.${op}`, k, FLOAT);
}

function optF32(inputs: readonly (RValue | undefined)[], i: number, what: string): F32 | undefined {
  return inputs[i] === undefined ? undefined : f32Arg(inputs, i, what);
}

/** Bias and fused activation over rows of `n` channels, in place. */
function biasActivate(out: Float32Array, n: number, bias: Float32Array | undefined, act: string): void {
  if (act === "TANH" || act === "SIGN_BIT") {
    if (bias) { for (let i = 0; i < out.length; i += n) for (let c = 0; c < n; c++) out[i + c] += bias[c]; }
    if (act === "TANH") applyActivation(out, act);
    else for (let i = 0; i < out.length; i++) out[i] = out[i] < 0 || Object.is(out[i], -0) ? 1 : 0;
    return;
  }
  const [lo, hi] = activationRange(act);
  if (!bias && lo === -Infinity && hi === Infinity) return;
  for (let i = 0; i < out.length; i += n) {
    for (let c = 0; c < n; c++) {
      let v = out[i + c];
      if (bias) v += bias[c];
      out[i + c] = v < lo ? lo : v > hi ? hi : v;
    }
  }
}

function checkBias(bias: F32 | undefined, n: number): Float32Array | undefined {
  if (!bias) return undefined;
  if (bias.data.length !== n) fail(`bias has ${bias.data.length} values for ${n} output channels`);
  return bias.data;
}

// ---- convolution -----------------------------------------------------------------------------------

reg("CONV_2D", (inputs, ctx) => {
  const x = f32Arg(inputs, 0, "input"), w = f32Arg(inputs, 1, "filter");
  const [N, H, W, C] = nhwc(x, "input"), [OC, KH, KW, IC] = nhwc(w, "filter");
  if (IC === 0 || C % IC !== 0) fail(`input has ${C} channels, the filter takes ${IC} per group`);
  const groups = C / IC;
  if (OC % groups !== 0) fail(`${OC} output channels do not split into ${groups} groups`);
  const biasT = optF32(inputs, 2, "bias");
  const bias = checkBias(biasT, OC);
  const at = ctx.attrs;
  const act: string = at.fused_activation_function;
  const ay = runtimeAxis(at.padding, H, KH, at.stride_h, at.dilation_h_factor);
  const ax = runtimeAxis(at.padding, W, KW, at.stride_w, at.dilation_w_factor);
  const OH = ay.out, OW = ax.out, P = OH * OW, K = KH * KW * IC;
  const out = ctx.alloc("f32", [N, OH, OW, OC]) as F32;
  const o = out.data;
  if (P === 0 || OC === 0) return [out];
  // LiteRT's arithmetic (XNNPACK's order, see tflite-xnnpack-conv.ts): bias first, then the products, then
  // the clamp; TANH and SIGN_BIT run after.
  const clampAct = act !== "TANH" && act !== "SIGN_BIT";
  const [lo, hi] = clampAct ? activationRange(act) : [-Infinity, Infinity];
  const geom = {
    N,
    H,
    W,
    C,
    OH,
    OW,
    KH,
    KW,
    sh: at.stride_h,
    sw: at.stride_w,
    dh: at.dilation_h_factor,
    dw: at.dilation_w_factor,
    pt: ay.padBefore,
    pl: ax.padBefore,
  };
  if (K === 0) {
    for (let i = 0; i < o.length; i += OC) for (let c = 0; c < OC; c++) o[i + c] = bias ? bias[c] : 0;
    biasActivate(o, OC, undefined, act);
    return [out];
  }
  // XNNPACK's sparse inference runs this convolution into channel-first layout, in its own order.
  if (ctx.analysis<XnnLayout>(XNNPACK_LAYOUT) === "hwc2chw" && groups === 1) {
    hwc2chwConv(geom, x.data, w, bias, OC, lo, hi, o);
  } else xnnConv2d(geom, x.data, w, bias, OC, groups, lo, hi, o);
  if (!clampAct) biasActivate(o, OC, undefined, act);
  return [out];
});

reg("DEPTHWISE_CONV_2D", (inputs, ctx) => {
  const x = f32Arg(inputs, 0, "input"), w = f32Arg(inputs, 1, "filter");
  const [N, H, W, C] = nhwc(x, "input"), [one, KH, KW, OC] = nhwc(w, "filter");
  if (one !== 1) fail(`depthwise filter must be [1, KH, KW, C], is [${w.shape}]`);
  if (C === 0 || OC % C !== 0) fail(`filter has ${OC} channels, not a multiple of the input's ${C}`);
  const mult = OC / C;
  const bias = checkBias(optF32(inputs, 2, "bias"), OC);
  const at = ctx.attrs;
  const dh = at.dilation_h_factor, dw = at.dilation_w_factor, sh = at.stride_h, sw = at.stride_w;
  const ay = runtimeAxis(at.padding, H, KH, sh, dh);
  const ax = runtimeAxis(at.padding, W, KW, sw, dw);
  const OH = ay.out, OW = ax.out;
  const out = ctx.alloc("f32", [N, OH, OW, OC]) as F32;
  const o = out.data;
  const tanh = at.fused_activation_function === "TANH";
  const [lo, hi] = tanh ? [-Infinity, Infinity] : activationRange(at.fused_activation_function);
  const geom = { N, H, W, C, OH, OW, KH, KW, sh, sw, dh, dw, pt: ay.padBefore, pl: ax.padBefore };
  if (mult === 1 && ctx.analysis<XnnLayout>(XNNPACK_LAYOUT) === "chw" && chwDepthwiseApplies(geom)) {
    chwDepthwise(geom, x.data, w, bias, lo, hi, o);
  } else xnnDepthwise(geom, x.data, w, bias, mult, lo, hi, o);
  if (tanh) applyActivation(o, "TANH");
  return [out];
});

reg("TRANSPOSE_CONV", (inputs, ctx) => {
  const shape = intsOf(arg(inputs, 0, "output_shape"));
  const w = f32Arg(inputs, 1, "weights"), x = f32Arg(inputs, 2, "input");
  const [N, IH, IW, IC] = nhwc(x, "input"), [OC, KH, KW, WC] = nhwc(w, "weights");
  if (shape.length !== 4 || shape.some((d) => !(d >= 0))) fail(`output shape [${shape}] is not 4 sizes`);
  const [ON, OH, OW, OCs] = shape;
  if (ON !== N || OCs !== OC || WC !== IC) {
    fail(`shapes do not agree: input [${x.shape}], weights [${w.shape}], output [${shape}]`);
  }
  const bias = checkBias(optF32(inputs, 3, "bias"), OC);
  const at = ctx.attrs;
  const sh = at.stride_h, sw = at.stride_w;
  const pt = runtimeAxis(at.padding, OH, KH, sh).padBefore,
    pl = runtimeAxis(at.padding, OW, KW, sw).padBefore;
  const out = ctx.alloc("f32", shape) as F32;
  const o = out.data;
  const act = at.fused_activation_function ?? "NONE";
  const clampAct = act !== "TANH" && act !== "SIGN_BIT";
  const [lo, hi] = clampAct ? activationRange(act) : [-Infinity, Infinity];
  xnnDeconv2d({ N, IH, IW, IC, OH, OW, OC, KH, KW, sh, sw, pt, pl }, x.data, w, bias, lo, hi, o);
  if (!clampAct) biasActivate(o, OC, undefined, act);
  return [out];
});

reg("FULLY_CONNECTED", (inputs, ctx) => {
  const x = f32Arg(inputs, 0, "input"), w = f32Arg(inputs, 1, "weights");
  if (w.shape.length !== 2) fail(`weights must be [units, depth], are [${w.shape}]`);
  const [U, D] = w.shape;
  if (D === 0 || x.data.length % D !== 0) fail(`${x.data.length} input values are not rows of ${D}`);
  const rows = x.data.length / D;
  const bias = checkBias(optF32(inputs, 2, "bias"), U);
  const at = ctx.attrs;
  if (at.weights_format !== "DEFAULT") {
    throw new LatheError("unsupported", `weights_format ${at.weights_format}`);
  }
  if (at.keep_num_dims && x.shape[x.shape.length - 1] !== D) {
    fail(`input depth ${x.shape[x.shape.length - 1]} is not ${D}`);
  }
  const shape = at.keep_num_dims ? [...x.shape.slice(0, -1), U] : [rows, U];
  const out = ctx.alloc("f32", shape) as F32;
  const o = out.data;
  if (rows === 0 || U === 0) return [out];
  const act = at.fused_activation_function;
  const clampAct = act !== "TANH" && act !== "SIGN_BIT";
  const [lo, hi] = clampAct ? activationRange(act) : [-Infinity, Infinity];
  xnnFullyConnected(x.data, w, bias, rows, U, D, lo, hi, o);
  if (!clampAct) biasActivate(o, U, undefined, act);
  return [out];
});

reg("BATCH_MATMUL", (inputs, ctx) => {
  const x = f32Arg(inputs, 0, "x"), y = f32Arg(inputs, 1, "y");
  if (x.shape.length < 2 || y.shape.length < 2) fail("BATCH_MATMUL operands need rank 2 or more");
  const adjX = !!ctx.attrs.adj_x, adjY = !!ctx.attrs.adj_y;
  const xr = x.shape.length, yr = y.shape.length;
  const [xa, xb] = [x.shape[xr - 2], x.shape[xr - 1]], [ya, yb] = [y.shape[yr - 2], y.shape[yr - 1]];
  const M = adjX ? xb : xa, K = adjX ? xa : xb, K2 = adjY ? yb : ya, N = adjY ? ya : yb;
  if (K !== K2) fail(`inner sizes ${K} and ${K2} differ`);
  const bx = x.shape.slice(0, -2), by = y.shape.slice(0, -2);
  const batch = broadcastStatic([bx, by]);
  const out = ctx.alloc("f32", [...batch, M, N]) as F32;
  const plan = planBroadcast(batch, [bx, by]);
  const count = batch.reduce((p, d) => p * d, 1);
  // Batch offsets of x and y (in matrices) for each output batch, via the broadcast plan's rows.
  const xo = new Int32Array(count), yo = new Int32Array(count);
  if (batch.length === 0) {
    xo[0] = 0;
    yo[0] = 0;
  } else {
    forEachRow(plan, (o, o0, o1) => {
      for (let i = 0; i < plan.rowLength; i++) {
        xo[o + i] = o0 + i * plan.rowStrides[0];
        yo[o + i] = o1 + i * plan.rowStrides[1];
      }
    });
  }
  // XNNPACK's batch matrix multiply: per output one multiply-add chain from 0 over k.
  const madd = xnnMadd(), fused = madd === fma32, xd = x.data, yd = y.data, o = out.data;
  const rows = adjX ? new Float32Array(M * K) : undefined;
  for (let b = 0; b < count; b++) {
    const xs = xo[b] * xa * xb, ys = yo[b] * ya * yb, dst = o.subarray(b * M * N, (b + 1) * M * N);
    if (K === 0) {
      dst.fill(0);
      continue;
    }
    let a = xd.subarray(xs, xs + M * K);
    if (rows) {
      for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) rows[m * K + k] = xd[xs + k * M + m];
      a = rows;
    }
    const at = adjY
      ? (n: number, k: number) => yd[ys + n * K + k]
      : (n: number, k: number) => yd[ys + k * N + n];
    if (xnnRowsGemm(a, M, K, y, `bmm:${b}:${adjY}`, at, undefined, N, -Infinity, Infinity, dst, fused)) {
      continue;
    }
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc = madd(a[m * K + k], at(n, k), acc);
        dst[m * N + n] = acc;
      }
    }
  }
  return [out];
});

// ---- pooling -------------------------------------------------------------------------------------------

for (const kind of ["MAX", "AVERAGE", "L2"] as const) {
  reg(`${kind}_POOL_2D`, (inputs, ctx) => {
    const x = f32Arg(inputs, 0, "input");
    const [N, H, W, C] = nhwc(x, "input");
    const at = ctx.attrs;
    const FH = at.filter_height, FW = at.filter_width, sh = at.stride_h, sw = at.stride_w;
    const ay = runtimeAxis(at.padding, H, FH, sh), ax = runtimeAxis(at.padding, W, FW, sw);
    const OH = ay.out, OW = ax.out;
    const out = ctx.alloc("f32", [N, OH, OW, C]) as F32;
    const o = out.data, xd = x.data;
    if (kind === "AVERAGE") {
      xnnAveragePool(xd, [N, H, W, C], FH, FW, sh, sw, ay.padBefore, ax.padBefore, OH, OW, o);
      applyActivation(o, at.fused_activation_function);
      return [out];
    }
    const acc = new Float64Array(C);
    for (let n = 0; n < N; n++) {
      for (let oy = 0; oy < OH; oy++) {
        const y0 = Math.max(0, oy * sh - ay.padBefore), y1 = Math.min(H, oy * sh - ay.padBefore + FH);
        for (let ox = 0; ox < OW; ox++) {
          const x0 = Math.max(0, ox * sw - ax.padBefore), x1 = Math.min(W, ox * sw - ax.padBefore + FW);
          acc.fill(kind === "MAX" ? -Infinity : 0);
          for (let iy = y0; iy < y1; iy++) {
            for (let ix = x0; ix < x1; ix++) {
              const s = ((n * H + iy) * W + ix) * C;
              if (kind === "MAX") {
                for (let c = 0; c < C; c++) if (xd[s + c] > acc[c]) acc[c] = xd[s + c];
              } else {for (let c = 0; c < C; c++) {
                  acc[c] = Math.fround(acc[c] + Math.fround(xd[s + c] * xd[s + c]));
                }}
            }
          }
          // Padding taps do not count: the divisor is the number of taps inside the image.
          const count = (y1 - y0) * (x1 - x0);
          const d = ((n * OH + oy) * OW + ox) * C;
          for (let c = 0; c < C; c++) {
            o[d + c] = kind === "MAX" ? acc[c] : Math.sqrt(Math.fround(acc[c] / count));
          }
        }
      }
    }
    applyActivation(o, at.fused_activation_function);
    return [out];
  });
}

/** The kernel's float32 constants (hex-float literals in the source), exactly. */
const SIGMOID = {
  magic: 12583039.0,
  minusLog2e: -1.4426950216293335,
  ln2Hi: 0.693145751953125,
  ln2Lo: 1.428606765330187e-06,
  c5: -0.008289290592074394,
  c4: 0.04189782217144966,
  c3: -0.16667652130126953,
  c2: 0.4999915063381195,
  c1: -0.9999997019767761,
  cutoff: 87.33654022216797,
};
const bitsF32 = new Float32Array(1), bitsI32 = new Int32Array(bitsF32.buffer);

/**
 * XNNPACK's float sigmoid (rr2_p5_div): e ≈ exp(-|x|) from a rounded power of two and a degree-5
 * polynomial in two-step range-reduced t, f = e / (e + 1), zero past the denormal cutoff, 1 − f for
 * x ≥ 0 — with its multiply-adds as the engine does them.
 */
function xnnSigmoid(xd: Float32Array, o: Float32Array): void {
  const f = Math.fround, madd = xnnMadd(), k = SIGMOID;
  for (let i = 0; i < xd.length; i++) {
    const x = xd[i], z = Math.abs(x);
    let n = madd(z, k.minusLog2e, k.magic);
    bitsF32[0] = n;
    bitsI32[0] <<= 23;
    const s = bitsF32[0];
    n = f(n - k.magic);
    let t = madd(n, k.ln2Hi, z);
    t = madd(n, k.ln2Lo, t);
    let p = madd(t, k.c5, k.c4);
    p = madd(t, p, k.c3);
    p = madd(t, p, k.c2);
    p = madd(t, p, k.c1);
    t = f(t * s);
    const e = madd(t, p, s);
    let r = f(e / f(e + 1));
    if (z > k.cutoff) r = 0;
    // The sign bit picks: x < 0 (and -0) keeps f, otherwise 1 − f.
    o[i] = x < 0 || Object.is(x, -0) ? r : f(1 - r);
  }
}

const LOG_K = {
  sqrt2: Math.fround(1.4142134190),
  sqrt1_2: Math.fround(7.0710688829e-01),
  alpha3: Math.fround(1.824996918440e-01),
  beta2: Math.fround(0.599170029163),
  beta3: Math.fround(0.049584995955),
  ln2: Math.fround(Math.LN2),
};

/**
 * XNNPACK's float log (rational_3_3_div, mul then add): x·√2 split into its exponent e and a mantissa m in
 * [1, 2); with u = m/√2 − 1, log x ≈ e·ln 2 + u(1 + u(1 + α₃u)) / (1 + u(1.5 + u(β₂ + β₃u))). The exponent
 * comes from the bits as the kernel takes it (zero, negatives, infinities and NaN included).
 */
function xnnLog(xd: Float32Array, o: Float32Array): void {
  const f = Math.fround, k = LOG_K;
  for (let i = 0; i < xd.length; i++) {
    const v = f(xd[i] * k.sqrt2);
    bitsF32[0] = v === 0 ? -0 : v;
    const bits = bitsI32[0];
    // Sign and exponent shifted into the mantissa of 256.0 (0x43800000), then 383 taken off.
    bitsI32[0] = ((bits & 0xff800000) >> 8) | 0x43800000;
    const e = f(bitsF32[0] - 383);
    bitsI32[0] = (bits & 0x007fffff) | 0x3f800000;
    const u = f(f(bitsF32[0] * k.sqrt1_2) - 1);
    let p = f(f(u * k.alpha3) + 1);
    p = f(f(u * p) + 1);
    p = f(u * p);
    let q = f(f(u * k.beta3) + k.beta2);
    q = f(f(u * q) + 1.5);
    q = f(f(u * q) + 1);
    o[i] = f(f(e * k.ln2) + f(p / q));
  }
}

/**
 * XNNPACK's average pool: the window's taps column by column (kx outer, ky inner; taps outside the image
 * read zeros), summed nine at a time as ((t2+t3)+(t4+t5)) + (((t0+t1)+t8)+(t6+t7)) onto the running total,
 * then one multiply by the float32 reciprocal of the taps inside the image.
 */
function xnnAveragePool(
  xd: Float32Array,
  [N, H, W, C]: readonly number[],
  FH: number,
  FW: number,
  sh: number,
  sw: number,
  pt: number,
  pl: number,
  OH: number,
  OW: number,
  o: Float32Array,
): void {
  const f = Math.fround, T = FH * FW;
  const offs = new Int32Array(T), v = new Float32Array(9);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        let count = 0, t = 0;
        for (let kx = 0; kx < FW; kx++) {
          const ix = ox * sw - pl + kx;
          for (let ky = 0; ky < FH; ky++, t++) {
            const iy = oy * sh - pt + ky;
            const inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
            offs[t] = inside ? ((n * H + iy) * W + ix) * C : -1;
            if (inside) count++;
          }
        }
        const scale = f(1 / count), d = ((n * OH + oy) * OW + ox) * C;
        for (let c = 0; c < C; c++) {
          let acc = 0;
          for (let g = 0; g < T; g += 9) {
            for (let k = 0; k < 9; k++) {
              const at = g + k < T ? offs[g + k] : -1;
              v[k] = at < 0 ? 0 : xd[at + c];
            }
            const s018 = f(f(v[0] + v[1]) + v[8]),
              s23 = f(v[2] + v[3]),
              s45 = f(v[4] + v[5]),
              s67 = f(v[6] + v[7]);
            acc = f(acc + f(f(s23 + s45) + f(s018 + s67)));
          }
          o[d + c] = acc * scale;
        }
      }
    }
  }
}

// ---- elementwise -----------------------------------------------------------------------------------

function arrayName(d: TypedArray | string[]): string {
  return d.constructor.name;
}

/** y = f(x) over a tensor of one of the given element types. */
function unary(
  op: string,
  exprs: Partial<Record<string, string>>,
  param?: (ctx: KernelContext) => number,
): void {
  reg(op, (inputs, ctx) => {
    const x = arg(inputs, 0, "input");
    const expr = typeof x.dtype === "string" ? exprs[x.dtype] : undefined;
    if (!expr) {
      throw new LatheError("unsupported", `${op} of ${JSON.stringify(x.dtype)} in the float kernels`);
    }
    const out = ctx.alloc(x.dtype, x.shape);
    const loop = rowLoop(1, expr, `${arrayName(x.data)}->${arrayName(out.data)}`, [1]);
    loop(out.data, 0, out.data.length, x.data, 0, 1, undefined, 0, 0, undefined, 0, 0, param?.(ctx));
    return [out];
  });
}

const f = (e: string) => ({ f32: e });
const fi = (e: string, i: string) => ({ f32: e, i32: i });

unary("RELU", f("a < 0 ? 0 : a"));
unary("RELU6", f("a < 0 ? 0 : a > 6 ? 6 : a"));
unary("RELU_N1_TO_1", f("a < -1 ? -1 : a > 1 ? 1 : a"));
unary("RELU_0_TO_1", f("a < 0 ? 0 : a > 1 ? 1 : a"));
reg("LOGISTIC", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  if (x.dtype !== "f32") {
    throw new LatheError("unsupported", `LOGISTIC of ${JSON.stringify(x.dtype)} in the float kernels`);
  }
  const out = ctx.alloc("f32", x.shape) as F32;
  xnnSigmoid(x.data as Float32Array, out.data);
  return [out];
});
/** A float32 elementwise op computed by `fn(x, out)`. */
function f32Unary(op: string, fn: (x: Float32Array, o: Float32Array, ctx: KernelContext) => void): void {
  reg(op, (inputs, ctx) => {
    const x = arg(inputs, 0, "input");
    if (x.dtype !== "f32") {
      throw new LatheError("unsupported", `${op} of ${JSON.stringify(x.dtype)} in the float kernels`);
    }
    const out = ctx.alloc("f32", x.shape) as F32;
    fn(x.data as Float32Array, out.data, ctx);
    return [out];
  });
}
f32Unary("TANH", xnnTanh);
// XNNPACK's form: clamp(x·(1/6) + 1/2, 0, 1)·x with the first step a multiply-add.
reg("HARD_SWISH", (inputs, ctx) => {
  const x = f32Arg(inputs, 0, "input");
  const out = ctx.alloc("f32", x.shape) as F32;
  const madd = xnnMadd(), sixth = Math.fround(1 / 6), xd = x.data, o = out.data;
  for (let i = 0; i < xd.length; i++) {
    const v = madd(xd[i], sixth, 0.5);
    o[i] = (v < 0 ? 0 : v > 1 ? 1 : v) * xd[i];
  }
  return [out];
});
f32Unary("EXP", xnnExp);
reg("LOG", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  if (x.dtype !== "f32") {
    throw new LatheError("unsupported", `LOG of ${JSON.stringify(x.dtype)} in the float kernels`);
  }
  const out = ctx.alloc("f32", x.shape) as F32;
  xnnLog(x.data as Float32Array, out.data);
  return [out];
});
unary("SQRT", f("Math.sqrt(a)"));
// XNNPACK (WebAssembly): 1 / sqrtf(x), the square root rounded to float32 first.
unary("RSQRT", f("1 / Math.fround(Math.sqrt(a))"));
unary("ABS", fi("Math.abs(a)", "Math.abs(a)"));
unary("NEG", fi("-a", "-a"));
f32Unary("SIN", (x, o) => xnnSinCos(x, o, false));
f32Unary("COS", (x, o) => xnnSinCos(x, o, true));
unary("FLOOR", f("Math.floor(a)"));
unary("CEIL", f("Math.ceil(a)"));
unary("ROUND", f("roundEven(a)"));
unary("SQUARE", fi("a * a", "Math.imul(a, a)"));
f32Unary("ELU", (x, o) => xnnElu(x, o, xnnMadd()));
unary("SIGN", fi("a > 0 ? 1 : a < 0 ? -1 : a", "a > 0 ? 1 : a < 0 ? -1 : 0"));
unary("LOGICAL_NOT", { bool: "a ? 0 : 1" });
unary("LEAKY_RELU", f("a > 0 ? a : a * p0"), (ctx) => Math.fround(ctx.attrs.alpha));
f32Unary("GELU", (x, o, ctx) => xnnGelu(x, o, !!ctx.attrs.approximate));

interface BinarySpec {
  f32?: string;
  i32?: string;
  i64?: string;
  /** The output type when it is not the operands' (comparisons give bool). */
  out?: DType;
  activation?: boolean;
}

function binary(op: string, spec: BinarySpec): void {
  reg(op, (inputs, ctx) => {
    const x = arg(inputs, 0, "x"), y = arg(inputs, 1, "y");
    if (typeof x.dtype !== "string" || x.dtype !== y.dtype) {
      throw new LatheError(
        "unsupported",
        `${op} of ${JSON.stringify(x.dtype)} and ${JSON.stringify(y.dtype)} in the float kernels`,
      );
    }
    const expr = (spec as Record<string, string | undefined>)[x.dtype === "bool" ? "i32" : x.dtype];
    if (!expr || (x.dtype === "bool" && !spec.out)) {
      throw new LatheError("unsupported", `${op} of ${x.dtype}`);
    }
    const shape = broadcastStatic([x.shape, y.shape]);
    const out = ctx.alloc(spec.out ?? x.dtype, shape);
    const plan = planBroadcast(shape, [x.shape, y.shape]);
    const n = plan.rowLength, [s0, s1] = plan.rowStrides;
    const loop = rowLoop(
      2,
      expr,
      `${arrayName(x.data)},${arrayName(y.data)}->${arrayName(out.data)}`,
      plan.rowStrides,
    );
    forEachRow(plan, (o, o0, o1) => loop(out.data, o, n, x.data, o0, s0, y.data, o1, s1));
    if (spec.activation && x.dtype === "f32") {
      applyActivation(out.data as Float32Array, ctx.attrs.fused_activation_function);
    } else if (spec.activation && ctx.attrs.fused_activation_function !== "NONE") {
      throw new LatheError(
        "unsupported",
        `${op} of ${x.dtype} with a fused ${ctx.attrs.fused_activation_function}`,
      );
    }
    return [out];
  });
}

binary("ADD", { f32: "a + b", i32: "(a + b) | 0", i64: "W(a + b)", activation: true });
binary("SUB", { f32: "a - b", i32: "(a - b) | 0", i64: "W(a - b)", activation: true });
binary("MUL", { f32: "a * b", i32: "Math.imul(a, b)", i64: "W(a * b)", activation: true });
binary("DIV", { f32: "a / b", i32: "idiv(a, b)", activation: true });
binary("MAXIMUM", { f32: "a > b || a !== a ? a : b", i32: "a > b ? a : b", i64: "a > b ? a : b" });
binary("MINIMUM", { f32: "a < b || a !== a ? a : b", i32: "a < b ? a : b", i64: "a < b ? a : b" });
binary("SQUARED_DIFFERENCE", {
  f32: "Math.fround(a - b) * Math.fround(a - b)",
  i32: "Math.imul(a - b, a - b)",
});
binary("POW", { f32: "Math.pow(a, b)", i32: "ipow(a, b)" });
binary("FLOOR_DIV", {
  f32: "Math.floor(a / b)",
  i32: "Math.floor(idiv(a, b) - (a % b !== 0 && (a < 0) !== (b < 0) ? 1 : 0))",
});
binary("FLOOR_MOD", { f32: "fpymod(a, b)", i32: "ipymod(a, b)" });
binary("ATAN2", { f32: "Math.atan2(a, b)" });
binary("PRELU", { f32: "a >= 0 ? a : a * b" });
for (
  const [op, cmp] of [
    ["LESS", "<"],
    ["LESS_EQUAL", "<="],
    ["GREATER", ">"],
    ["GREATER_EQUAL", ">="],
    ["EQUAL", "==="],
    ["NOT_EQUAL", "!=="],
  ]
) {
  const e = `a ${cmp} b ? 1 : 0`;
  binary(op, { f32: e, i32: e, i64: e, out: "bool" });
}
binary("LOGICAL_AND", { i32: "a && b ? 1 : 0", out: "bool" });
binary("LOGICAL_OR", { i32: "a || b ? 1 : 0", out: "bool" });

for (const op of ["SELECT", "SELECT_V2"]) {
  reg(op, (inputs, ctx) => {
    const c = arg(inputs, 0, "condition"), x = arg(inputs, 1, "x"), y = arg(inputs, 2, "y");
    if (c.dtype !== "bool") fail(`condition is ${JSON.stringify(c.dtype)}, not bool`);
    if (JSON.stringify(x.dtype) !== JSON.stringify(y.dtype)) fail("x and y differ in type");
    // SELECT (v1) also takes a rank-1 condition that picks whole rows of x and y.
    const cShape = op === "SELECT" && c.shape.length === 1 && x.shape.length > 1
      ? [c.shape[0], ...x.shape.slice(1).map(() => 1)]
      : c.shape;
    const shape = broadcastStatic([cShape, x.shape, y.shape]);
    const out = ctx.alloc(x.dtype, shape);
    const plan = planBroadcast(shape, [cShape, x.shape, y.shape]);
    const n = plan.rowLength, [s0, s1, s2] = plan.rowStrides;
    const loop = rowLoop(
      3,
      "a ? b : c",
      `${arrayName(c.data)},${arrayName(x.data)}->${arrayName(out.data)}`,
      plan.rowStrides,
    );
    forEachRow(plan, (o, o0, o1, o2) => loop(out.data, o, n, c.data, o0, s0, x.data, o1, s1, y.data, o2, s2));
    return [out];
  });
}

// ---- normalization over the last axis ----------------------------------------------------------------

function lastAxisRows(x: Tensor): [number, number] {
  const d = x.shape.length ? x.shape[x.shape.length - 1] : 1;
  return [d === 0 ? 0 : x.data.length / d, d];
}

reg("SOFTMAX", (inputs, ctx) => {
  const x = f32Arg(inputs, 0, "input");
  const out = ctx.alloc("f32", x.shape) as F32;
  const beta = Math.fround(ctx.attrs.beta);
  const [rows, d] = lastAxisRows(x);
  const xd = x.data, o = out.data;
  // XNNPACK takes softmax with beta 1 only.
  if (beta === 1) {
    xnnSoftmax(xd, o, d);
    return [out];
  }
  for (let r = 0; r < rows; r++) {
    const s = r * d;
    let m = -Infinity;
    for (let i = 0; i < d; i++) if (xd[s + i] > m) m = xd[s + i];
    // TFLite's kernel (Eigen, not vectorized here): expf((x − max)·beta), an in-order float32 sum, and
    // a multiply by its float32 reciprocal.
    let sum = 0;
    for (let i = 0; i < d; i++) {
      const e = Math.fround(Math.exp(Math.fround(Math.fround(xd[s + i] - m) * beta)));
      o[s + i] = e;
      sum = Math.fround(sum + e);
    }
    const scale = Math.fround(1 / sum);
    for (let i = 0; i < d; i++) o[s + i] *= scale;
  }
  return [out];
});

reg("LOG_SOFTMAX", (inputs, ctx) => {
  const x = f32Arg(inputs, 0, "input");
  const out = ctx.alloc("f32", x.shape) as F32;
  const [rows, d] = lastAxisRows(x);
  const xd = x.data, o = out.data;
  for (let r = 0; r < rows; r++) {
    const s = r * d;
    let m = -Infinity;
    for (let i = 0; i < d; i++) if (xd[s + i] > m) m = xd[s + i];
    // TFLite's kernel in float32: expf of x − max summed in order, logf of the sum, (x − max) − log.
    let sum = 0;
    for (let i = 0; i < d; i++) sum = Math.fround(sum + Math.fround(Math.exp(Math.fround(xd[s + i] - m))));
    const log = Math.fround(Math.log(sum));
    for (let i = 0; i < d; i++) o[s + i] = Math.fround(xd[s + i] - m) - log;
  }
  return [out];
});

const L2_EPSILON = Math.fround(1e-6);

reg("L2_NORMALIZATION", (inputs, ctx) => {
  const x = f32Arg(inputs, 0, "input");
  const out = ctx.alloc("f32", x.shape) as F32;
  const [rows, d] = lastAxisRows(x);
  const xd = x.data, o = out.data;
  for (let r = 0; r < rows; r++) {
    const s = r * d;
    // TFLite's kernel: the squares summed in float32 in order, sqrtf, then one division per element.
    let sq = 0;
    for (let i = 0; i < d; i++) sq = Math.fround(sq + Math.fround(xd[s + i] * xd[s + i]));
    const norm = Math.max(Math.fround(Math.sqrt(sq)), L2_EPSILON);
    for (let i = 0; i < d; i++) o[s + i] = xd[s + i] / norm;
  }
  applyActivation(o, ctx.attrs.fused_activation_function);
  return [out];
});

// ---- reductions ----------------------------------------------------------------------------------

/** Offsets of every element of the sub-box spanned by `axes` (the other axes at 0). */
function boxOffsets(shape: readonly number[], axes: readonly number[]): Int32Array {
  const strides = new Array<number>(shape.length);
  for (let i = shape.length - 1, acc = 1; i >= 0; i--) {
    strides[i] = acc;
    acc *= shape[i];
  }
  let count = 1;
  for (const a of axes) count *= shape[a];
  const out = new Int32Array(count);
  const idx = new Array<number>(axes.length).fill(0);
  let off = 0;
  for (let i = 0; i < count; i++) {
    out[i] = off;
    for (let k = axes.length - 1; k >= 0; k--) {
      const a = axes[k];
      off += strides[a];
      if (++idx[k] < shape[a]) break;
      off -= idx[k] * strides[a];
      idx[k] = 0;
    }
  }
  return out;
}

type ReduceKind = "mean" | "sum" | "max" | "min" | "prod" | "any" | "all";

/**
 * Whether XNNPACK sums this reduction row by row: the reduced axes (ignoring axes of size 1) form one
 * block that leaves out the innermost axis. Reductions over the innermost axis use other kernels.
 */
function xnnRowReduction(shape: readonly number[], axes: readonly number[]): boolean {
  const big = shape.map((d, i) => d !== 1 ? i : -1).filter((i) => i >= 0);
  const red = big.filter((i) => axes.includes(i));
  if (red.length === 0) return true;
  const first = big.indexOf(red[0]);
  return big.slice(first, first + red.length).every((i, k) => i === red[k]) &&
    red[red.length - 1] !== big[big.length - 1];
}

function reduce(op: string, kind: ReduceKind): void {
  reg(op, (inputs, ctx) => {
    const x = arg(inputs, 0, "input");
    const okType = kind === "any" || kind === "all"
      ? x.dtype === "bool"
      : x.dtype === "f32" || x.dtype === "i32";
    if (!okType || (kind === "mean" && x.dtype !== "f32")) {
      throw new LatheError("unsupported", `${op} of ${JSON.stringify(x.dtype)} in the float kernels`);
    }
    const r = x.shape.length;
    const axes = [...new Set(intsOf(arg(inputs, 1, "axes")).map((a) => axisOf(a, r)))].sort((p, q) => p - q);
    const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
    const shape: number[] = [];
    x.shape.forEach((d, i) => {
      if (!axes.includes(i)) shape.push(d);
      else if (ctx.attrs.keep_dims) shape.push(1);
    });
    const out = ctx.alloc(x.dtype, shape);
    const base = boxOffsets(x.shape, kept), red = boxOffsets(x.shape, axes);
    const xd = x.data as Float32Array | Int32Array | Uint8Array,
      o = out.data as Float32Array | Int32Array | Uint8Array;
    const R = red.length;
    if ((kind === "sum" || kind === "mean") && x.dtype === "f32" && xnnRowReduction(x.shape, axes)) {
      // XNNPACK's reduction over outer axes (rdsum): one float32 sum over the reduced rows in order, then
      // one multiply by the float32 reciprocal of the count.
      const scale = kind === "mean" ? Math.fround(1 / R) : 1;
      for (let i = 0; i < base.length; i++) {
        const b = base[i];
        let acc = 0;
        for (let j = 0; j < R; j++) acc = Math.fround(acc + xd[b + red[j]]);
        o[i] = acc * scale;
      }
      return [out];
    }
    const folded = (kind === "sum" || kind === "mean") && x.dtype === "f32"
      ? xnnInnerReduceShape(x.shape, axes)
      : undefined;
    if (folded) {
      xnnInnerReduceSum(xd as Float32Array, folded, kind === "mean", o as Float32Array);
      return [out];
    }
    for (let i = 0; i < base.length; i++) {
      const b = base[i];
      let acc: number;
      switch (kind) {
        case "sum":
        case "mean":
          acc = 0;
          for (let j = 0; j < R; j++) acc += xd[b + red[j]];
          if (kind === "mean") acc /= R;
          break;
        case "prod":
          // TFLite's reference reduction: a float32 product in order.
          acc = 1;
          if (x.dtype === "f32") { for (let j = 0; j < R; j++) acc = Math.fround(acc * xd[b + red[j]]); }
          else for (let j = 0; j < R; j++) acc *= xd[b + red[j]];
          break;
        case "max":
          acc = x.dtype === "f32" ? -Infinity : -2147483648;
          for (let j = 0; j < R; j++) if (xd[b + red[j]] > acc) acc = xd[b + red[j]];
          break;
        case "min":
          acc = x.dtype === "f32" ? Infinity : 2147483647;
          for (let j = 0; j < R; j++) if (xd[b + red[j]] < acc) acc = xd[b + red[j]];
          break;
        case "any":
          acc = 0;
          for (let j = 0; j < R && !acc; j++) if (xd[b + red[j]]) acc = 1;
          break;
        case "all":
          acc = 1;
          for (let j = 0; j < R && acc; j++) if (!xd[b + red[j]]) acc = 0;
          break;
      }
      o[i] = acc;
    }
    return [out];
  });
}
reduce("MEAN", "mean");
reduce("SUM", "sum");
reduce("REDUCE_MAX", "max");
reduce("REDUCE_MIN", "min");
reduce("REDUCE_PROD", "prod");
reduce("REDUCE_ANY", "any");
reduce("REDUCE_ALL", "all");

for (const [op, better] of [["ARG_MAX", 1], ["ARG_MIN", -1]] as const) {
  reg(op, (inputs, ctx) => {
    const x = arg(inputs, 0, "input");
    const axisT = intsOf(arg(inputs, 1, "axis"));
    if (axisT.length !== 1) fail(`axis must hold one value, holds ${axisT.length}`);
    if (x.data instanceof Array || x.data instanceof BigInt64Array || x.data instanceof BigUint64Array) {
      throw new LatheError("unsupported", `${op} of ${JSON.stringify(x.dtype)}`);
    }
    const axis = axisOf(axisT[0], x.shape.length);
    const t = ctx.outputTypes[0];
    const outType = t?.kind === "tensor" && (t.dtype === "i32" || t.dtype === "i64")
      ? t.dtype
      : ctx.attrs.output_type === "INT32"
      ? "i32"
      : "i64";
    const shape = x.shape.filter((_, i) => i !== axis);
    const out = ctx.alloc(outType, shape);
    const D = x.shape[axis];
    const inner = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
    const outer = x.shape.slice(0, axis).reduce((p, d) => p * d, 1);
    const xd = x.data, o = out.data;
    for (let a = 0; a < outer; a++) {
      for (let i = 0; i < inner; i++) {
        let best = 0, bv = xd[a * D * inner + i] as number;
        for (let k = 1; k < D; k++) {
          const v = xd[(a * D + k) * inner + i] as number;
          if (better > 0 ? v > bv : v < bv) (best = k, bv = v);
        }
        if (o instanceof BigInt64Array) o[a * inner + i] = BigInt(best);
        else (o as Int32Array)[a * inner + i] = best;
      }
    }
    return [out];
  });
}

// ---- resize --------------------------------------------------------------------------------------

/**
 * XNNPACK's f32 bilinear resize (what LiteRT runs on CPU): source coordinates and weights in float32
 * (half-pixel centers clamped into the image), and per channel t = tl + (tr − tl)·α_x,
 * b = bl + (br − bl)·α_x, out = t + (b − t)·α_y, each a multiply-add as the convolutions do it (madd).
 */
function xnnResizeBilinear(
  xd: Float32Array,
  [N, H, W, C]: number[],
  OH: number,
  OW: number,
  align: boolean,
  half: boolean,
  o: Float32Array,
): void {
  const f = Math.fround;
  const madd = xnnMadd();
  const axis = (inSize: number, outSize: number) => {
    const adj = align && outSize !== 1 ? 1 : 0;
    const scale = f((inSize - adj) / (outSize - adj));
    const last = inSize - 1;
    const lo = new Int32Array(outSize), hi = new Int32Array(outSize), alpha = new Float32Array(outSize);
    const offset = f(f(0.5 * scale) - 0.5);
    for (let i = 0; i < outSize; i++) {
      let v = f(i * scale);
      if (half && !align) v = Math.min(Math.max(f(v + offset), 0), last);
      const top = Math.trunc(v);
      lo[i] = top;
      hi[i] = Math.min(top + 1, last);
      alpha[i] = f(v - top);
    }
    return { lo, hi, alpha };
  };
  const ys = axis(H, OH), xs = axis(W, OW);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      const av = ys.alpha[oy], r0 = (n * H + ys.lo[oy]) * W, r1 = (n * H + ys.hi[oy]) * W;
      for (let ox = 0; ox < OW; ox++) {
        const ah = xs.alpha[ox];
        const tl = (r0 + xs.lo[ox]) * C, tr = (r0 + xs.hi[ox]) * C;
        const bl = (r1 + xs.lo[ox]) * C, br = (r1 + xs.hi[ox]) * C;
        const d = ((n * OH + oy) * OW + ox) * C;
        for (let k = 0; k < C; k++) {
          const t = madd(f(xd[tr + k] - xd[tl + k]), ah, xd[tl + k]);
          const b = madd(f(xd[br + k] - xd[bl + k]), ah, xd[bl + k]);
          o[d + k] = madd(f(b - t), av, t);
        }
      }
    }
  }
}

reg("RESIZE_BILINEAR", (inputs, ctx) => {
  const x = f32Arg(inputs, 0, "input");
  const [N, H, W, C] = nhwc(x, "input");
  const size = intsOf(arg(inputs, 1, "size"));
  if (size.length !== 2 || size.some((d) => !(d >= 0))) fail(`size [${size}] is not 2 sizes`);
  const [OH, OW] = size;
  const align = !!ctx.attrs.align_corners, half = !!ctx.attrs.half_pixel_centers;
  if (align && half) fail("align_corners and half_pixel_centers cannot both be set");
  const out = ctx.alloc("f32", [N, OH, OW, C]) as F32;
  if (ctx.analysis<XnnLayout>(XNNPACK_LAYOUT) === "chw" && H > 1 && W > 1) {
    chwResizeBilinear(x.data, [N, H, W, C], OH, OW, align, half, out.data);
  } else xnnResizeBilinear(x.data, [N, H, W, C], OH, OW, align, half, out.data);
  return [out];
});

// ---- conversions ---------------------------------------------------------------------------------

/**
 * Tensors that show up as the same object on every run are constants (or derived from them); their
 * dequantized form is computed once into a buffer the interpreter's pool never recycles.
 */
const seen = new WeakSet<Tensor>();
const dequantized = new WeakMap<Tensor, Tensor>();

reg("DEQUANTIZE", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  const cached = dequantized.get(x);
  if (cached) return [cached];
  const persistent = seen.has(x);
  seen.add(x);
  const n = x.data.length;
  const out = persistent
    ? new Tensor("f32", x.shape, new Float32Array(n + 1).subarray(0, n))
    : ctx.alloc("f32", x.shape);
  dequantizeInto(x, out.data as Float32Array);
  if (persistent) dequantized.set(x, out);
  return [out];
});

function dequantizeInto(x: Tensor, o: Float32Array): void {
  const d = x.dtype;
  if (d === "f16" || d === "f32") {
    o.set(x.data as Float16Array | Float32Array);
    return;
  }
  if (typeof d === "string" || d.kind !== "affine") {
    throw new LatheError("unsupported", `DEQUANTIZE of ${JSON.stringify(d)}`);
  }
  const q = x.data as Int8Array | Uint8Array | Int16Array | Int32Array;
  if (d.axis === undefined) {
    const s = d.scale[0], z = d.zeroPoint[0];
    for (let i = 0; i < q.length; i++) o[i] = (q[i] - z) * s;
    return;
  }
  const axis = axisOf(d.axis, x.shape.length);
  const D = x.shape[axis], inner = x.shape.slice(axis + 1).reduce((p, v) => p * v, 1);
  if (d.scale.length !== D) fail(`${d.scale.length} scales along an axis of ${D}`);
  for (let i = 0; i < q.length; i++) {
    const c = Math.floor(i / inner) % D;
    o[i] = (q[i] - d.zeroPoint[c]) * Math.fround(d.scale[c]);
  }
}

/** Half away from zero, as TfLiteRound. */
function roundAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

const STORAGE_RANGE: Record<string, [number, number]> = {
  i8: [-128, 127],
  u8: [0, 255],
  i16: [-32768, 32767],
  u16: [0, 65535],
  i32: [-2147483648, 2147483647],
  i4: [-8, 7],
  u4: [0, 15],
};

reg("QUANTIZE", (inputs, ctx) => {
  const x = f32Arg(inputs, 0, "input");
  const t = ctx.outputTypes[0];
  if (t?.kind !== "tensor" || typeof t.dtype === "string" || t.dtype.kind !== "affine") {
    throw new LatheError("unsupported", "QUANTIZE needs an affine quantized output type");
  }
  const q: AffineQuant = t.dtype;
  const [smin, smax] = STORAGE_RANGE[q.storage];
  const lo = q.qmin ?? smin, hi = q.qmax ?? smax;
  const out = ctx.alloc(q, x.shape);
  const o = out.data as Int8Array, xd = x.data;
  const axis = q.axis === undefined ? -1 : axisOf(q.axis, x.shape.length);
  const D = axis < 0 ? 1 : x.shape[axis];
  const inner = axis < 0 ? 1 : x.shape.slice(axis + 1).reduce((p, v) => p * v, 1);
  for (let i = 0; i < xd.length; i++) {
    const c = axis < 0 ? 0 : Math.floor(i / inner) % D;
    const v = roundAway(Math.fround(xd[i] / Math.fround(q.scale[c]))) + q.zeroPoint[c];
    o[i] = v < lo ? lo : v > hi ? hi : v;
  }
  return [out];
});

reg("CAST", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  const t = ctx.outputTypes[0];
  const to = t?.kind === "tensor" ? t.dtype : undefined;
  if (typeof to !== "string" || typeof x.dtype !== "string" || to === "string" || x.dtype === "string") {
    throw new LatheError("unsupported", `CAST from ${JSON.stringify(x.dtype)} to ${JSON.stringify(to)}`);
  }
  const out = ctx.alloc(to, x.shape);
  const src = x.data as TypedArray, dst = out.data as TypedArray;
  const big = dst instanceof BigInt64Array || dst instanceof BigUint64Array;
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (to === "bool") dst[i] = v ? 1 : 0;
    else if (big) {
      (dst as BigInt64Array)[i] = typeof v === "bigint" ? v : BigInt(Number.isFinite(v) ? Math.trunc(v) : 0);
    } else (dst as Float32Array)[i] = typeof v === "bigint" ? Number(v) : v;
  }
  return [out];
});

// ---- custom ops ----------------------------------------------------------------------------------

registerKernel("tfl.CUSTOM", (_inputs, ctx) => {
  throw new LatheError("unsupported", `custom op ${ctx.attrs.custom_code} has no Lathe kernel`);
}, { label: "custom" });
