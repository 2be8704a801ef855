/**
 * Lathe's float TFLite kernels against LiteRT (XNNPACK in WebAssembly), bit for bit, on one-layer models
 * whose inputs expose the summation order: values of magnitudes 2^-8..2^8 and both signs, so partial sums
 * cancel and every order or rounding change shows. Each case also checks that a plain float64
 * accumulation rounded once does NOT reproduce LiteRT, so bit equality is not an accident of the data.
 * A last model has sparse weights, which makes XNNPACK run its channel-first kernels.
 */
import assert from "node:assert/strict";
import { importTflite } from "../compiler/tflite/import.ts";
import type { Sparsity } from "../compiler/tflite/model.ts";
import { readTflite } from "../compiler/tflite/reader.ts";
import { writeTflite } from "../compiler/tflite/writer.ts";
import { Session } from "../runtime/interpreter.ts";
import { fma32 } from "../runtime/kernels/tflite-xnnpack-conv.ts";
import { planXnnpackLayout } from "../runtime/kernels/tflite-xnnpack-layout.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import "../passes/index.ts";
import { setWasmEnabled } from "../runtime/gemm/wasm-simd.ts";
import { Tensor } from "../runtime/tensor.ts";
import { liteRtLoadMessage, loadLiteRt, runLiteRt } from "./reference/litert.ts";
import { TfliteBuilder } from "./support/tflite-builder.ts";

const liteRt = await loadLiteRt();
if (!liteRt) console.log(`tflite-xnnpack-order: LiteRT comparisons skipped: ${liteRtLoadMessage()}`);

/** mulberry32 */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Values of both signs over 2^-8..2^8: sums of their products cancel heavily. */
function wide(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() - 0.5) * 2 ** Math.floor(r() * 17 - 8));
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

interface Case {
  bytes: Uint8Array;
  input: Float32Array;
  inShape: number[];
  /** float64 sums rounded once: differs from LiteRT when the order matters. */
  naive?: Float32Array;
}

async function runBoth(c: Case, plan = true) {
  const [want] = await runLiteRt(c.bytes, [c.input]);
  let model = importTflite(c.bytes, { file: "test.tflite" });
  // Without DENSIFY (folded into dense constants) the Session plans nothing channel-first.
  if (!plan) model = (await runPipeline(model, "constant-fold")).model;
  const g = model.graph;
  const out = new Session(g).run({ [g.inputs[0]]: new Tensor("f32", c.inShape, c.input) }, { check: true });
  const got = (out.outputs[g.outputs[0]] as Tensor).data as Float32Array;
  return { got, want: want.data as Float32Array, graph: g };
}

function assertBitEqual(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, what);
  let bad = 0, first = -1;
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i] + 0, want[i] + 0)) {
      bad++;
      if (first < 0) first = i;
    }
  }
  assert.equal(
    bad,
    0,
    `${what}: ${bad} of ${want.length} differ, first at ${first}: ${got[first]} vs ${want[first]}`,
  );
}

function assertOrderMatters(naive: Float32Array | undefined, want: Float32Array, what: string): void {
  if (!naive) return;
  let diff = 0;
  for (let i = 0; i < want.length; i++) if (naive[i] !== want[i]) diff++;
  assert.ok(diff > 0, `${what}: a float64 sum reproduces LiteRT, the case does not exercise the order`);
}

const FLOAT = "FLOAT32" as const;

/** CONV_2D [1,H,W,IC] * [OC,K,K,IC]; naive float64 reference computed here. */
function conv(
  H: number,
  W: number,
  IC: number,
  OC: number,
  K: number,
  stride: number,
  padding: "SAME" | "VALID",
  seed: number,
): Case {
  const b = new TfliteBuilder();
  const ins: number[] = [], outs: number[] = [];
  const inShape = [1, H, W, IC];
  const x = b.input({ shape: inShape, type: FLOAT }, ins);
  const wd = wide(OC * K * K * IC, seed), bd = wide(OC, seed + 1);
  const w = b.tensor({ shape: [OC, K, K, IC], type: FLOAT }, wd);
  const bias = b.tensor({ shape: [OC], type: FLOAT }, bd);
  const pad = padding === "SAME" ? Math.max(0, (Math.ceil(H / stride) - 1) * stride + K - H) : 0;
  const OH = padding === "SAME" ? Math.ceil(H / stride) : Math.floor((H - K) / stride) + 1;
  const OW = padding === "SAME" ? Math.ceil(W / stride) : Math.floor((W - K) / stride) + 1;
  const y = b.output({ shape: [1, OH, OW, OC], type: FLOAT }, outs);
  b.op("CONV_2D", [x, w, bias], [y], {
    padding,
    stride_w: stride,
    stride_h: stride,
    fused_activation_function: "NONE",
    dilation_w_factor: 1,
    dilation_h_factor: 1,
  });
  const input = wide(size(inShape), seed + 2);
  const naive = new Float32Array(OH * OW * OC);
  const pt = pad >> 1;
  for (let oy = 0; oy < OH; oy++) {
    for (let ox = 0; ox < OW; ox++) {
      for (let oc = 0; oc < OC; oc++) {
        let s = bd[oc];
        for (let ky = 0; ky < K; ky++) {
          for (let kx = 0; kx < K; kx++) {
            const iy = oy * stride - pt + ky, ix = ox * stride - pt + kx;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            for (let c = 0; c < IC; c++) {
              s += input[(iy * W + ix) * IC + c] * wd[((oc * K + ky) * K + kx) * IC + c];
            }
          }
        }
        naive[(oy * OW + ox) * OC + oc] = s;
      }
    }
  }
  return { bytes: b.finish(ins, outs), input, inShape, naive };
}

function depthwise(H: number, C: number, K: number, stride: number, seed: number): Case {
  const b = new TfliteBuilder();
  const ins: number[] = [], outs: number[] = [];
  const inShape = [1, H, H, C];
  const x = b.input({ shape: inShape, type: FLOAT }, ins);
  const wd = wide(K * K * C, seed), bd = wide(C, seed + 1);
  const w = b.tensor({ shape: [1, K, K, C], type: FLOAT }, wd);
  const bias = b.tensor({ shape: [C], type: FLOAT }, bd);
  const O = Math.ceil(H / stride), pt = Math.max(0, (O - 1) * stride + K - H) >> 1;
  const y = b.output({ shape: [1, O, O, C], type: FLOAT }, outs);
  b.op("DEPTHWISE_CONV_2D", [x, w, bias], [y], {
    padding: "SAME",
    stride_w: stride,
    stride_h: stride,
    depth_multiplier: 1,
    fused_activation_function: "NONE",
    dilation_w_factor: 1,
    dilation_h_factor: 1,
  });
  const input = wide(size(inShape), seed + 2);
  const naive = new Float32Array(O * O * C);
  for (let oy = 0; oy < O; oy++) {
    for (let ox = 0; ox < O; ox++) {
      for (let c = 0; c < C; c++) {
        let s = bd[c];
        for (let ky = 0; ky < K; ky++) {
          for (let kx = 0; kx < K; kx++) {
            const iy = oy * stride - pt + ky, ix = ox * stride - pt + kx;
            if (iy >= 0 && iy < H && ix >= 0 && ix < H) {
              s += input[(iy * H + ix) * C + c] * wd[(ky * K + kx) * C + c];
            }
          }
        }
        naive[(oy * O + ox) * C + c] = s;
      }
    }
  }
  return { bytes: b.finish(ins, outs), input, inShape, naive };
}

function fullyConnected(rows: number, D: number, U: number, seed: number): Case {
  const b = new TfliteBuilder();
  const ins: number[] = [], outs: number[] = [];
  const inShape = [rows, D];
  const x = b.input({ shape: inShape, type: FLOAT }, ins);
  const wd = wide(U * D, seed), bd = wide(U, seed + 1);
  const w = b.tensor({ shape: [U, D], type: FLOAT }, wd);
  const bias = b.tensor({ shape: [U], type: FLOAT }, bd);
  const y = b.output({ shape: [rows, U], type: FLOAT }, outs);
  b.op("FULLY_CONNECTED", [x, w, bias], [y], {
    fused_activation_function: "NONE",
    weights_format: "DEFAULT",
    keep_num_dims: false,
    asymmetric_quantize_inputs: false,
  });
  const input = wide(size(inShape), seed + 2);
  const naive = new Float32Array(rows * U);
  for (let r = 0; r < rows; r++) {
    for (let u = 0; u < U; u++) {
      let s = bd[u];
      for (let d = 0; d < D; d++) s += input[r * D + d] * wd[u * D + d];
      naive[r * U + u] = s;
    }
  }
  return { bytes: b.finish(ins, outs), input, inShape, naive };
}

function resize(
  H: number,
  W: number,
  C: number,
  OH: number,
  OW: number,
  align: boolean,
  half: boolean,
): Case {
  const b = new TfliteBuilder();
  const ins: number[] = [], outs: number[] = [];
  const inShape = [1, H, W, C];
  const x = b.input({ shape: inShape, type: FLOAT }, ins);
  const sz = b.tensor({ shape: [2], type: "INT32" }, Int32Array.from([OH, OW]));
  const y = b.output({ shape: [1, OH, OW, C], type: FLOAT }, outs);
  b.op("RESIZE_BILINEAR", [x, sz], [y], { align_corners: align, half_pixel_centers: half }, 3);
  return { bytes: b.finish(ins, outs), input: wide(size(inShape), 7), inShape };
}

/** One unary or pooling op on [1, H, W, C]. */
function single(
  op: string,
  inShape: number[],
  outShape: number[],
  options: Record<string, unknown> | null,
  extra?: { shape: number[]; data: Int32Array },
): Case {
  const b = new TfliteBuilder();
  const ins: number[] = [], outs: number[] = [];
  const x = b.input({ shape: inShape, type: FLOAT }, ins);
  const more = extra ? [b.tensor({ shape: extra.shape, type: "INT32" }, extra.data)] : [];
  const y = b.output({ shape: outShape, type: FLOAT }, outs);
  b.op(op, [x, ...more], [y], options as never);
  // Sums of these cancel; the unary ops see a range that covers their saturating ends.
  return { bytes: b.finish(ins, outs), input: wide(size(inShape), 11), inShape };
}

const pool = (H: number, C: number, F: number, s: number, padding: string) =>
  single("AVERAGE_POOL_2D", [1, H, H, C], [
    1,
    padding === "SAME" ? Math.ceil(H / s) : Math.floor((H - F) / s) + 1,
    padding === "SAME" ? Math.ceil(H / s) : Math.floor((H - F) / s) + 1,
    C,
  ], {
    padding,
    stride_w: s,
    stride_h: s,
    filter_width: F,
    filter_height: F,
    fused_activation_function: "NONE",
  });

/** Depthwise with a depth multiplier and dilation (VALID), or a grouped CONV_2D: no naive reference. */
function depthwiseMore(C: number, mult: number, dil: number): Case {
  const b = new TfliteBuilder();
  const ins: number[] = [], outs: number[] = [];
  const H = 9, K = 3, O = H - (K - 1) * dil, OC = C * mult, inShape = [1, H, H, C];
  const x = b.input({ shape: inShape, type: FLOAT }, ins);
  const w = b.tensor({ shape: [1, K, K, OC], type: FLOAT }, wide(K * K * OC, 3));
  const bias = b.tensor({ shape: [OC], type: FLOAT }, wide(OC, 4));
  const y = b.output({ shape: [1, O, O, OC], type: FLOAT }, outs);
  b.op("DEPTHWISE_CONV_2D", [x, w, bias], [y], {
    padding: "VALID",
    stride_w: 1,
    stride_h: 1,
    depth_multiplier: mult,
    fused_activation_function: "NONE",
    dilation_w_factor: dil,
    dilation_h_factor: dil,
  });
  return { bytes: b.finish(ins, outs), input: wide(size(inShape), 5), inShape };
}

function groupedConv(): Case {
  const b = new TfliteBuilder();
  const ins: number[] = [], outs: number[] = [];
  const inShape = [1, 6, 6, 8];
  const x = b.input({ shape: inShape, type: FLOAT }, ins);
  const w = b.tensor({ shape: [6, 3, 3, 4], type: FLOAT }, wide(6 * 36, 8));
  const bias = b.tensor({ shape: [6], type: FLOAT }, wide(6, 9));
  const y = b.output({ shape: [1, 6, 6, 6], type: FLOAT }, outs);
  b.op("CONV_2D", [x, w, bias], [y], {
    padding: "SAME",
    stride_w: 1,
    stride_h: 1,
    fused_activation_function: "RELU6",
    dilation_w_factor: 1,
    dilation_h_factor: 1,
  });
  return { bytes: b.finish(ins, outs), input: wide(size(inShape), 10), inShape };
}

const CASES: [string, () => Case][] = [
  ["CONV_2D 3x3 SAME stride 1", () => conv(9, 7, 5, 13, 3, 1, "SAME", 10)],
  ["CONV_2D 3x3 SAME stride 2", () => conv(10, 9, 3, 8, 3, 2, "SAME", 20)],
  ["CONV_2D 5x5 VALID", () => conv(9, 9, 4, 6, 5, 1, "VALID", 30)],
  ["CONV_2D 1x1", () => conv(6, 5, 40, 17, 1, 1, "VALID", 40)],
  ["DEPTHWISE_CONV_2D 3x3 stride 1, 6 channels", () => depthwise(9, 6, 3, 1, 50)],
  ["DEPTHWISE_CONV_2D 5x5 stride 2, 8 channels", () => depthwise(11, 8, 5, 2, 60)],
  ["DEPTHWISE_CONV_2D 3x3 stride 2, 20 channels", () => depthwise(8, 20, 3, 2, 70)],
  ["DEPTHWISE_CONV_2D multiplier 2", () => depthwiseMore(5, 2, 1)],
  ["DEPTHWISE_CONV_2D dilation 2", () => depthwiseMore(7, 1, 2)],
  ["CONV_2D two groups, RELU6", () => groupedConv()],
  ["FULLY_CONNECTED one row", () => fullyConnected(1, 64, 9, 80)],
  ["FULLY_CONNECTED five rows", () => fullyConnected(5, 37, 12, 90)],
  ["RESIZE_BILINEAR half-pixel centers", () => resize(4, 5, 6, 7, 9, false, true)],
  ["RESIZE_BILINEAR align corners", () => resize(5, 3, 4, 8, 7, true, false)],
  ["RESIZE_BILINEAR legacy", () => resize(3, 4, 5, 7, 10, false, false)],
  ["AVERAGE_POOL_2D global 20x20", () => pool(20, 5, 20, 1, "VALID")],
  ["AVERAGE_POOL_2D 3x3 SAME", () => pool(7, 6, 3, 1, "SAME")],
  ["MEAN over height and width", () =>
    single("MEAN", [1, 9, 8, 7], [1, 1, 1, 7], { keep_dims: true }, {
      shape: [2],
      data: Int32Array.from([1, 2]),
    })],
  ["LOGISTIC", () => single("LOGISTIC", [1, 6, 7, 8], [1, 6, 7, 8], null)],
  ["HARD_SWISH", () => single("HARD_SWISH", [1, 6, 7, 8], [1, 6, 7, 8], null)],
  ["LOG", () => {
    const c = single("LOG", [1, 6, 7, 8], [1, 6, 7, 8], null);
    return { ...c, input: c.input.map(Math.abs) };
  }],
];

interface Const {
  shape: number[];
  data: Float32Array | Int32Array;
}

/** One op on a float input and constant operands (before the input when `constFirst`). */
function oneOp(
  op: string,
  inShape: number[],
  outShape: number[],
  options: Record<string, unknown> | null,
  input: Float32Array,
  consts: Const[] = [],
  constFirst = false,
): Case {
  const b = new TfliteBuilder();
  const ins: number[] = [], outs: number[] = [];
  const x = b.input({ shape: inShape, type: FLOAT }, ins);
  const cs = consts.map((c) =>
    b.tensor({ shape: c.shape, type: c.data instanceof Int32Array ? "INT32" : FLOAT }, c.data)
  );
  const y = b.output({ shape: outShape, type: FLOAT }, outs);
  b.op(op, constFirst ? [...cs, x] : [x, ...cs], [y], options as never);
  return { bytes: b.finish(ins, outs), input, inShape };
}

/** Values of magnitude 2^-3..2^3: the transcendental kernels' whole curve, saturation included. */
const moderate = (n: number, seed: number) => wide(n, seed).map((v) => v * 2 ** -5);

/** SUM or MEAN over `axes`, with a float64 reference rounded once. */
function reduction(op: "SUM" | "MEAN", shape: number[], axes: number[], seed = 21): Case {
  const input = wide(size(shape), seed);
  const outShape = shape.map((d, i) => axes.includes(i) ? 1 : d);
  const c = oneOp(op, shape, outShape, { keep_dims: true }, input, [{
    shape: [axes.length],
    data: Int32Array.from(axes),
  }]);
  const naive = new Float64Array(size(outShape));
  const strides = shape.map((_, i) => size(shape.slice(i + 1)));
  const ostrides = outShape.map((_, i) => size(outShape.slice(i + 1)));
  for (let i = 0; i < input.length; i++) {
    let o = 0;
    shape.forEach((_, k) => {
      if (!axes.includes(k)) o += (Math.floor(i / strides[k]) % shape[k]) * ostrides[k];
    });
    naive[o] += input[i];
  }
  const count = size(axes.map((a) => shape[a]));
  return { ...c, naive: Float32Array.from(naive, (v) => op === "MEAN" ? v / count : v) };
}

/** BATCH_MATMUL of the input [B, M, K] (or [B, K, M] with adj_x) by a constant [K, N]. */
function batchMatmul(B: number, M: number, K: number, N: number, adjX: boolean): Case {
  const input = wide(B * M * K, 31), y = wide(K * N, 32);
  const inShape = adjX ? [B, K, M] : [B, M, K];
  const c = oneOp("BATCH_MATMUL", inShape, [B, M, N], { adj_x: adjX, adj_y: false }, input, [{
    shape: [K, N],
    data: y,
  }]);
  const naive = new Float32Array(B * M * N);
  for (let b = 0; b < B; b++) {
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += input[b * M * K + (adjX ? k * M + m : m * K + k)] * y[k * N + n];
        naive[(b * M + m) * N + n] = s;
      }
    }
  }
  return { ...c, naive };
}

/** TRANSPOSE_CONV [1,H,W,IC] → [1,OH,OW,OC] with a bias, against a float64 scatter. */
function transposeConv(
  H: number,
  W: number,
  IC: number,
  OC: number,
  K: number,
  stride: number | [number, number],
  pad: string,
  data?: { input: Float32Array; w: Float32Array; bias: Float32Array },
): Case {
  const [sh, sw] = typeof stride === "number" ? [stride, stride] : stride;
  const OH = pad === "SAME" ? H * sh : (H - 1) * sh + K, OW = pad === "SAME" ? W * sw : (W - 1) * sw + K;
  const { input, w, bias } = data ??
    { input: wide(H * W * IC, 41), w: wide(OC * K * K * IC, 42), bias: wide(OC, 43) };
  const b = new TfliteBuilder();
  const ins: number[] = [], outs: number[] = [];
  const shape = b.tensor({ shape: [4], type: "INT32" }, Int32Array.from([1, OH, OW, OC]));
  const wt = b.tensor({ shape: [OC, K, K, IC], type: FLOAT }, w);
  const x = b.input({ shape: [1, H, W, IC], type: FLOAT }, ins);
  const bt = b.tensor({ shape: [OC], type: FLOAT }, bias);
  const y = b.output({ shape: [1, OH, OW, OC], type: FLOAT }, outs);
  b.op("TRANSPOSE_CONV", [shape, wt, x, bt], [y], {
    padding: pad,
    stride_w: sw,
    stride_h: sh,
    fused_activation_function: "NONE",
  }, 4);
  const pt = pad === "SAME" ? Math.max(0, (H - 1) * sh + K - OH) >> 1 : 0;
  const pl = pad === "SAME" ? Math.max(0, (W - 1) * sw + K - OW) >> 1 : 0;
  const acc = new Float64Array(OH * OW * OC);
  for (let p = 0; p < OH * OW; p++) for (let oc = 0; oc < OC; oc++) acc[p * OC + oc] = bias[oc];
  for (let iy = 0; iy < H; iy++) {
    for (let ix = 0; ix < W; ix++) {
      for (let ky = 0; ky < K; ky++) {
        for (let kx = 0; kx < K; kx++) {
          const oy = iy * sh - pt + ky, ox = ix * sw - pl + kx;
          if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) continue;
          for (let oc = 0; oc < OC; oc++) {
            for (let c = 0; c < IC; c++) {
              acc[(oy * OW + ox) * OC + oc] += input[(iy * W + ix) * IC + c] *
                w[((oc * K + ky) * K + kx) * IC + c];
            }
          }
        }
      }
    }
  }
  return { bytes: b.finish(ins, outs), input, inShape: [1, H, W, IC], naive: Float32Array.from(acc) };
}

const U = [1, 6, 7, 37], UN = size(U);

CASES.push(
  ["TANH", () => oneOp("TANH", U, U, null, moderate(UN, 51))],
  ["EXP", () => oneOp("EXP", U, U, null, moderate(UN, 52))],
  ["GELU", () => oneOp("GELU", U, U, { approximate: false }, moderate(UN, 53))],
  ["GELU approximate", () => oneOp("GELU", U, U, { approximate: true }, moderate(UN, 54))],
  ["RSQRT", () => oneOp("RSQRT", U, U, null, wide(UN, 55).map(Math.abs))],
  ["ELU", () => oneOp("ELU", U, U, null, moderate(UN, 64))],
  ["SIN", () => oneOp("SIN", U, U, null, moderate(UN, 65))],
  ["SOFTMAX over 37", () => oneOp("SOFTMAX", U, U, { beta: 1 }, moderate(UN, 56))],
  ["SOFTMAX over 1000", () => oneOp("SOFTMAX", [3, 1000], [3, 1000], { beta: 1 }, moderate(3000, 57))],
  ["SOFTMAX over 42", () => oneOp("SOFTMAX", [5, 42], [5, 42], { beta: 1 }, moderate(210, 58))],
  ["LOG_SOFTMAX", () => oneOp("LOG_SOFTMAX", U, U, null, moderate(UN, 59))],
  [
    "L2_NORMALIZATION",
    () => oneOp("L2_NORMALIZATION", U, U, { fused_activation_function: "NONE" }, wide(UN, 60)),
  ],
  [
    "SQUARED_DIFFERENCE",
    () => oneOp("SQUARED_DIFFERENCE", U, U, null, wide(UN, 61), [{ shape: U, data: wide(UN, 62) }]),
  ],
  [
    "REDUCE_PROD over the last axis",
    () =>
      oneOp("REDUCE_PROD", U, [1, 6, 7, 1], { keep_dims: true }, moderate(UN, 63), [{
        shape: [1],
        data: Int32Array.of(3),
      }]),
  ],
  ["SUM over the last axis", () => reduction("SUM", [1, 6, 7, 37], [3])],
  ["MEAN over the last axis", () => reduction("MEAN", [3, 5, 77], [2])],
  ["SUM over everything", () => reduction("SUM", [1, 6, 7, 37], [0, 1, 2, 3], 11)],
  ["MEAN over axes 1 and 3", () => reduction("MEAN", [2, 6, 7, 35], [1, 3])],
  ["BATCH_MATMUL", () => batchMatmul(2, 9, 37, 11, false)],
  ["BATCH_MATMUL adj_x", () => batchMatmul(3, 4, 17, 9, true)],
  ["TRANSPOSE_CONV 3x3 stride 2 SAME", () => transposeConv(5, 6, 7, 9, 3, 2, "SAME")],
  ["TRANSPOSE_CONV 4x4 stride 2 SAME", () => transposeConv(4, 4, 16, 8, 4, 2, "SAME")],
  ["TRANSPOSE_CONV 2x2 stride 2 VALID", () => transposeConv(4, 3, 8, 12, 2, 2, "VALID")],
  ["TRANSPOSE_CONV 3x3 strides 2, 1 SAME", () => transposeConv(4, 5, 6, 7, 3, [2, 1], "SAME")],
  ["TRANSPOSE_CONV 5x5 stride 3 SAME", () => transposeConv(3, 4, 5, 6, 5, 3, "SAME")],
  // Stride above the kernel: XNNPACK runs one convolution over every tap rather than subconvolutions.
  ["TRANSPOSE_CONV 2x2 stride 3 VALID", () => transposeConv(3, 4, 6, 5, 2, 3, "VALID")],
  [
    "SOFTMAX over 39, past the underflow cutoff",
    () => oneOp("SOFTMAX", [4, 39], [4, 39], { beta: 1 }, wide(156, 66)),
  ],
  ["SOFTMAX over 3", () => oneOp("SOFTMAX", [9, 3], [9, 3], { beta: 1 }, moderate(27, 67))],
);

/** Runs `fn` with the WebAssembly engine off: the JavaScript kernels (exact float32 FMA) take over. */
async function withoutWasm<T>(fn: () => Promise<T>): Promise<T> {
  setWasmEnabled(false);
  try {
    return await fn();
  } finally {
    setWasmEnabled(true);
  }
}

for (const [name, make] of CASES) {
  Deno.test({
    name: `xnnpack order: ${name} is bit-identical to LiteRT`,
    ignore: !liteRt,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const c = make();
      const { got, want } = await runBoth(c);
      assertOrderMatters(c.naive, want, name);
      assertBitEqual(got, want, name);
      const js = await withoutWasm(() => runBoth(c));
      assertBitEqual(js.got, want, `${name} (JavaScript kernels)`);
    },
  });
}

/**
 * A model with sparse 1x1 weights: LiteRT runs input → PAD → 3x3 stride-2 convolution (into NCHW) →
 * depthwise 3x3 → sparse 1x1 → depthwise 5x5 stride 2 (fused PAD) → depthwise 3x3 stride 2 → bilinear
 * resize → DEPTH_TO_SPACE (back to NHWC) channel-first.
 */
function sparseModel(): Case {
  const b = new TfliteBuilder();
  const ins: number[] = [], outs: number[] = [];
  const inShape = [1, 16, 16, 3];
  const x = b.input({ shape: inShape, type: FLOAT }, ins);
  let seed = 100;
  const t = (shape: number[]) => b.tensor({ shape, type: FLOAT });
  const pads = (p: number) =>
    b.tensor({ shape: [4, 2], type: "INT32" }, Int32Array.from([0, 0, p, p, p, p, 0, 0]));
  const convOpts = (stride: number, padding: string) => ({
    padding,
    stride_w: stride,
    stride_h: stride,
    fused_activation_function: "NONE",
    dilation_w_factor: 1,
    dilation_h_factor: 1,
  });
  const dw = (input: number, H: number, C: number, K: number, stride: number, padding: string) => {
    const w = b.tensor({ shape: [1, K, K, C], type: FLOAT }, wide(K * K * C, seed++));
    const bias = b.tensor({ shape: [C], type: FLOAT }, wide(C, seed++));
    const O = padding === "SAME" ? Math.ceil(H / stride) : Math.floor((H - K) / stride) + 1;
    const y = t([1, O, O, C]);
    b.op("DEPTHWISE_CONV_2D", [input, w, bias], [y], { ...convOpts(stride, padding), depth_multiplier: 1 });
    return y;
  };
  const p0 = t([1, 18, 18, 3]);
  b.op("PAD", [x, pads(1)], [p0]);
  const w0 = b.tensor({ shape: [8, 3, 3, 3], type: FLOAT }, wide(8 * 27, seed++));
  const b0 = b.tensor({ shape: [8], type: FLOAT }, wide(8, seed++));
  const c0 = t([1, 8, 8, 8]);
  b.op("CONV_2D", [p0, w0, b0], [c0], convOpts(2, "VALID"));
  const d1 = dw(c0, 8, 8, 3, 1, "SAME");
  // Sparse [16,1,1,8]: 2 of 8 weights per row nonzero (XNNPACK wants over two thirds zeros), stored
  // row-compressed.
  const nz = wide(16 * 2, seed++), cols = new Int32Array(32), segs = new Int32Array(17);
  for (let r = 0; r < 16; r++) {
    segs[r + 1] = 2 * (r + 1);
    [r % 8, (r + 3) % 8].sort((a, b) => a - b).forEach((c, k) => (cols[2 * r + k] = c));
  }
  const sparseW = b.tensor({ shape: [32], type: FLOAT, name: "sparse_w" }, nz);
  const denseW = t([16, 1, 1, 8]);
  b.op("DENSIFY", [sparseW], [denseW]);
  const b1 = b.tensor({ shape: [16], type: FLOAT }, wide(16, seed++));
  const c1 = t([1, 8, 8, 16]);
  b.op("CONV_2D", [d1, denseW, b1], [c1], convOpts(1, "VALID"));
  const p2 = t([1, 12, 12, 16]);
  b.op("PAD", [c1, pads(2)], [p2]);
  const d2 = dw(p2, 12, 16, 5, 2, "VALID");
  const p3 = t([1, 6, 6, 16]);
  b.op("PAD", [d2, pads(1)], [p3]);
  const d3 = dw(p3, 6, 16, 3, 2, "VALID");
  const sz = b.tensor({ shape: [2], type: "INT32" }, Int32Array.from([5, 5]));
  const r = t([1, 5, 5, 16]);
  b.op("RESIZE_BILINEAR", [d3, sz], [r], { align_corners: false, half_pixel_centers: true }, 3);
  const y = b.output({ shape: [1, 10, 10, 4], type: FLOAT }, outs);
  b.op("DEPTH_TO_SPACE", [r], [y], { block_size: 2 });
  const m = readTflite(b.finish(ins, outs));
  const sg = m.subgraphs[0];
  const st = sg.tensors.find((x) => x.name === "sparse_w")!;
  st.shape = [16, 1, 1, 8];
  const sparsity: Sparsity = {
    traversalOrder: [0, 1, 2, 3],
    blockMap: [],
    dimMetadata: [
      { format: 0, denseSize: 16, arraySegments: null, arrayIndices: null },
      { format: 0, denseSize: 1, arraySegments: null, arrayIndices: null },
      { format: 0, denseSize: 1, arraySegments: null, arrayIndices: null },
      {
        format: 1,
        denseSize: 0,
        arraySegments: { type: "int32", values: segs },
        arrayIndices: { type: "int32", values: cols },
      },
    ],
  };
  st.sparsity = sparsity;
  return { bytes: writeTflite(m), input: wide(size(inShape), 5), inShape };
}

Deno.test({
  name: "xnnpack order: a model with sparse weights runs channel-first, bit-identical to LiteRT",
  ignore: !liteRt,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const c = sparseModel();
    const { got, want, graph } = await runBoth(c);
    const plan = [...planXnnpackLayout(graph)].map(([n, l]) => `${n.op}:${l}`).sort();
    assert.deepEqual(plan, [
      "tfl.CONV_2D:chw",
      "tfl.CONV_2D:hwc2chw",
      "tfl.DEPTHWISE_CONV_2D:chw",
      "tfl.DEPTHWISE_CONV_2D:chw",
      "tfl.DEPTHWISE_CONV_2D:chw",
      "tfl.DEPTH_TO_SPACE:chw",
      "tfl.RESIZE_BILINEAR:chw",
    ]);
    assertBitEqual(got, want, "sparse model");
    const js = await withoutWasm(() => runBoth(c));
    assertBitEqual(js.got, want, "sparse model (JavaScript kernels)");
    // Control: the channel-last order (no plan) does not reproduce LiteRT here.
    const nhwc = await runBoth(c, false);
    assert.ok(nhwc.got.some((v, i) => v !== want[i]), "the NHWC order also matches: the case shows nothing");
  },
});

/**
 * TRANSPOSE_CONV 3x3 stride 2 on mostly zero input: output channel 0 has bias -0 and weights negative on
 * the taps (even ky, even kx) and positive elsewhere; channel 1 has one infinite weight at tap (1, 1).
 * XNNPACK's subconvolutions leave every other phase's taps out of a chain, so the (even, even) phase of
 * channel 0 keeps -0 where all its inputs are +0, and the infinity makes NaNs in one phase only; a chain
 * over all nine taps would add +0 (and 0·∞) everywhere.
 */
function transposeConvZerosAndInfinity(): Case {
  const H = 3, W = 4, IC = 2, OC = 3, K = 3;
  const input = new Float32Array(H * W * IC);
  input[5] = 1.5;
  input[18] = -0.75;
  input[11] = -0;
  const w = wide(OC * K * K * IC, 71).map(Math.abs);
  for (let ky = 0; ky < K; ky++) {
    for (let kx = 0; kx < K; kx++) {
      for (let c = 0; c < IC; c++) if (ky % 2 === 0 && kx % 2 === 0) w[(ky * K + kx) * IC + c] *= -1;
    }
  }
  w[((1 * K + 1) * K + 1) * IC] = Infinity;
  const bias = Float32Array.of(-0, 0.5, -0);
  const c = transposeConv(H, W, IC, OC, K, 2, "SAME", { input, w, bias });
  return { ...c, naive: undefined };
}

Deno.test({
  name: "xnnpack order: TRANSPOSE_CONV keeps LiteRT's signed zeros and NaNs (taps of one phase per chain)",
  ignore: !liteRt,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const c = transposeConvZerosAndInfinity();
    const { got, want } = await runBoth(c);
    const OC = 3;
    const negZeros = want.filter((v, i) => i % OC === 0 && Object.is(v, -0)).length;
    const nans = want.filter((v, i) => i % OC === 1 && Number.isNaN(v)).length;
    // The control: both effects show, and channel 1 is not NaN everywhere.
    assert.ok(negZeros > 0, "LiteRT gave no -0: the case does not exercise the taps left out");
    assert.ok(nans > 0 && nans < want.length / OC, `channel 1 has ${nans} NaNs of ${want.length / OC}`);
    const strict = (a: Float32Array, what: string) => {
      const bad = [...want].findIndex((v, i) => !Object.is(a[i], v));
      const show = (v: number) => Object.is(v, -0) ? "-0" : String(v);
      assert.equal(bad, -1, `${what}: first difference at ${bad}: ${show(a[bad])} vs ${show(want[bad])}`);
    };
    strict(got, "WebAssembly kernels");
    strict((await withoutWasm(() => runBoth(c))).got, "JavaScript kernels");
  },
});

Deno.test("fma32 rounds once: a*b + c lands just above a float32 midpoint that float64 rounds onto", () => {
  // a*b = -2^-24 + 2^-54 exactly; c = 1 + 2^-23; the exact sum 1 + 2^-24 + 2^-54 is above the midpoint
  // between 1 and 1 + 2^-23, so it rounds up; in float64 it rounds to the midpoint, which then ties to 1.
  const a = 1 + 2 ** -15, b = -(2 ** -24) * (1 - 2 ** -15), c = 1 + 2 ** -23;
  assert.equal(Math.fround(a), a);
  assert.equal(Math.fround(b), b);
  assert.equal(Math.fround(a * b + c), 1);
  assert.equal(fma32(a, b, c), 1 + 2 ** -23);
  assert.equal(fma32(-a, -b, -c), -(1 + 2 ** -23));
  // Exact cases and plain rounding: 3*5+7 = 22; (1+2^-23)^2 = 1 + 2^-22 + 2^-46 loses its 2^-46; minus 1
  // it is 2^-22·(1 + 2^-24), a tie that goes to the even 2^-22.
  assert.equal(fma32(3, 5, 7), 22);
  assert.equal(fma32(1 + 2 ** -23, 1 + 2 ** -23, 0), 1 + 2 ** -22);
  assert.equal(fma32(1 + 2 ** -23, 1 + 2 ** -23, -1), 2 ** -22);
});
