/**
 * Convolution and pooling kernels against hand-derived values from the ONNX definitions. A direct
 * definition-level convolution (below) is checked against those hand values first and then serves as the
 * oracle for the fast paths (1x1 GEMM, stride-1 taps over a padded image, im2col, depthwise 3x3, groups,
 * 1-D and 3-D, batches) on seeded random data. The ONNX node suite covers the rest via the conformance
 * runner.
 */
import assert from "node:assert/strict";
import { GraphBuilder } from "../ir/builder.ts";
import type { DType } from "../ir/dtype.ts";
import type { TensorType } from "../ir/value-type.ts";
import { LatheError } from "../ir/errors.ts";
import { interpret, Session } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { compareArrays } from "./support/close.ts";
import { setWasmEnabled } from "../runtime/gemm/wasm-simd.ts";

type Attrs = Record<string, number | string | number[]>;

function f32(shape: number[], values: ArrayLike<number>): Tensor {
  return new Tensor("f32", shape, Float32Array.from(values));
}

function seeded(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

/** Runs one node with every operand a graph input; returns all outputs. */
function run(op: string, inputs: (Tensor | undefined)[], attrs: Attrs = {}, outputs = 1): Tensor[] {
  const b = new GraphBuilder();
  const names = inputs.map((t, i) => (t ? b.input(`in${i}`, t.dtype, t.shape) : null));
  const outs = b.op(op, names, attrs, outputs);
  const g = b.build(outs);
  const feeds: Record<string, Tensor> = {};
  inputs.forEach((t, i) => t && (feeds[`in${i}`] = t));
  const r = interpret(g, feeds, { check: true });
  return outs.map((o) => r.outputs[o] as Tensor);
}

function close(actual: Tensor, shape: number[], expected: ArrayLike<number>, rtol = 1e-5, atol = 1e-5): void {
  assert.deepEqual([...actual.shape], shape);
  const rep = compareArrays(actual.data as Float32Array, expected, rtol, atol);
  assert.ok(rep.ok, rep.message);
}

/**
 * Convolution straight from the definition: y[n,m,o...] = b[m] + sum over c in m's group and taps of
 * x[n,c,o*s - pad + k*d] * w[m,c,k]. Spatial rank 1-3.
 */
function referenceConv(
  x: Float32Array,
  xs: number[],
  w: Float32Array,
  ws: number[],
  bias: Float32Array | undefined,
  o: { group?: number; strides?: number[]; pads?: number[]; dilations?: number[] },
): { y: Float64Array; shape: number[] } {
  const n = xs.length - 2;
  const group = o.group ?? 1;
  const s = o.strides ?? new Array(n).fill(1), d = o.dilations ?? new Array(n).fill(1);
  const p = o.pads ?? new Array(2 * n).fill(0);
  const [N, C] = xs, M = ws[0], Cg = C / group, Mg = M / group;
  const sp = xs.slice(2), k = ws.slice(2);
  const out = sp.map((v, i) => Math.floor((v + p[i] + p[i + n] - ((k[i] - 1) * d[i] + 1)) / s[i]) + 1);
  const pad3 = (v: number[], f: number) => [...new Array(3 - n).fill(f), ...v];
  const [D, H, W] = pad3(sp, 1), [OD, OH, OW] = pad3(out, 1), [KD, KH, KW] = pad3(k, 1);
  const [sd, sh, sw] = pad3(s, 1), [dd, dh, dw] = pad3(d, 1);
  const [pd, ph, pw] = pad3(p.slice(0, n), 0);
  const y = new Float64Array(N * M * OD * OH * OW);
  let q = 0;
  for (let b = 0; b < N; b++) {
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      for (let od = 0; od < OD; od++) {
        for (let oh = 0; oh < OH; oh++) {
          for (let ow = 0; ow < OW; ow++) {
            let acc = bias ? bias[m] : 0;
            for (let c = 0; c < Cg; c++) {
              for (let kd = 0; kd < KD; kd++) {
                for (let kh = 0; kh < KH; kh++) {
                  for (let kw = 0; kw < KW; kw++) {
                    const id = od * sd - pd + kd * dd,
                      ih = oh * sh - ph + kh * dh,
                      iw = ow * sw - pw + kw * dw;
                    if (id < 0 || id >= D || ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                    const xi = (((b * C + g * Cg + c) * D + id) * H + ih) * W + iw;
                    const wi = (((m * Cg + c) * KD + kd) * KH + kh) * KW + kw;
                    acc += x[xi] * w[wi];
                  }
                }
              }
            }
            y[q++] = acc;
          }
        }
      }
    }
  }
  return { y, shape: [N, M, ...out] };
}

const iota = (n: number, from = 0) => Array.from({ length: n }, (_, i) => i + from);

Deno.test("reference convolution reproduces hand-computed values", () => {
  // 3x3 input 0..8, 2x2 ones kernel: the four window sums.
  let r = referenceConv(
    Float32Array.from(iota(9)),
    [1, 1, 3, 3],
    new Float32Array(4).fill(1),
    [1, 1, 2, 2],
    undefined,
    {},
  );
  assert.deepEqual([...r.y], [8, 12, 20, 24]);
  // 4x4 input 0..15, 3x3 ones, pad 1, stride 2: windows at (0,0),(0,2),(2,0),(2,2).
  r = referenceConv(
    Float32Array.from(iota(16)),
    [1, 1, 4, 4],
    new Float32Array(9).fill(1),
    [1, 1, 3, 3],
    undefined,
    {
      pads: [1, 1, 1, 1],
      strides: [2, 2],
    },
  );
  assert.deepEqual([...r.y], [10, 24, 51, 90]);
  // Two groups with dilation 2 along width: x[i] + x[i+2] and x[i] - x[i+2].
  r = referenceConv(
    Float32Array.from([1, 2, 3, 4, 5, 10, 20, 30, 40, 50]),
    [1, 2, 1, 5],
    Float32Array.from([1, 1, 1, -1]),
    [
      2,
      1,
      1,
      2,
    ],
    Float32Array.from([0.5, 0]),
    { group: 2, dilations: [1, 2] },
  );
  assert.deepEqual([...r.y], [4.5, 6.5, 8.5, -20, -20, -20]);
});

Deno.test("Conv: hand values for padding, strides, bias, groups, dilation", () => {
  close(run("Conv", [f32([1, 1, 3, 3], iota(9)), f32([1, 1, 2, 2], [1, 1, 1, 1]), f32([1], [1])])[0], [
    1,
    1,
    2,
    2,
  ], [
    9,
    13,
    21,
    25,
  ]);
  close(
    run("Conv", [f32([1, 1, 4, 4], iota(16)), f32([1, 1, 3, 3], new Array(9).fill(1))], {
      pads: [1, 1, 1, 1],
      strides: [2, 2],
    })[0],
    [1, 1, 2, 2],
    [10, 24, 51, 90],
  );
  close(
    run("Conv", [f32([1, 2, 1, 5], [1, 2, 3, 4, 5, 10, 20, 30, 40, 50]), f32([2, 1, 1, 2], [1, 1, 1, -1])], {
      group: 2,
      dilations: [1, 2],
    })[0],
    [1, 2, 1, 3],
    [4, 6, 8, -20, -20, -20],
  );
});

Deno.test("Conv: auto_pad SAME_UPPER pads at the end, SAME_LOWER at the start, VALID not at all (1-D)", () => {
  const x = f32([1, 1, 4], [1, 2, 3, 4]), w = f32([1, 1, 2], [1, 10]);
  close(run("Conv", [x, w], { auto_pad: "SAME_UPPER" })[0], [1, 1, 4], [21, 32, 43, 4]);
  close(run("Conv", [x, w], { auto_pad: "SAME_LOWER" })[0], [1, 1, 4], [10, 21, 32, 43]);
  close(run("Conv", [x, w], { auto_pad: "VALID", pads: [3, 3] })[0], [1, 1, 3], [21, 32, 43]);
  // Stride 2 with SAME_UPPER: ceil(5/2) = 3 outputs, total pad (3-1)*2 + 3 - 5 = 2 -> one each side.
  close(
    run("Conv", [f32([1, 1, 5], [1, 2, 3, 4, 5]), f32([1, 1, 3], [1, 1, 1])], {
      auto_pad: "SAME_UPPER",
      strides: [2],
    })[0],
    [1, 1, 3],
    [3, 9, 9],
  );
});

Deno.test("Conv: 3-D and kernel_shape inferred from W", () => {
  close(run("Conv", [f32([1, 1, 2, 2, 2], iota(8)), f32([1, 1, 2, 2, 2], new Array(8).fill(1))])[0], [
    1,
    1,
    1,
    1,
    1,
  ], [28]);
});

Deno.test("Conv: depthwise 3x3 counts valid taps (stride 1 and 2, padding 1)", () => {
  const C = 3, H = 7;
  const x = f32([1, C, H, H], new Array(C * H * H).fill(1));
  // Channel c's kernel is (c+1) everywhere and its bias c: y = (c+1)*taps + c.
  const w = f32([C, 1, 3, 3], iota(C).flatMap((c) => new Array(9).fill(c + 1)));
  const b = f32([C], iota(C));
  for (const s of [1, 2]) {
    const OH = Math.floor((H + 2 - 3) / s) + 1;
    const taps = (o: number) => (o * s === 0 || o * s === H - 1 ? 2 : 3);
    const want: number[] = [];
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < OH; i++) for (let j = 0; j < OH; j++) want.push((c + 1) * taps(i) * taps(j) + c);
    }
    close(run("Conv", [x, w, b], { group: C, pads: [1, 1, 1, 1], strides: [s, s] })[0], [1, C, OH, OH], want);
  }
});

Deno.test("Conv: fast paths (SIMD engine and portable) agree with the reference convolution", () => {
  const cases: {
    xs: number[];
    ws: number[];
    group?: number;
    strides?: number[];
    pads?: number[];
    dilations?: number[];
  }[] = [
    { xs: [1, 16, 9, 9], ws: [24, 16, 1, 1] }, // pointwise GEMM
    { xs: [2, 7, 10, 11], ws: [13, 7, 3, 3], pads: [1, 1, 1, 1] }, // taps over a padded image, 2 images
    { xs: [1, 5, 9, 8], ws: [6, 5, 3, 2], pads: [2, 0, 1, 1], dilations: [2, 1] }, // asymmetric pads, dilation
    { xs: [1, 4, 12, 12], ws: [9, 4, 3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, // im2col
    { xs: [1, 6, 8, 8], ws: [6, 2, 3, 3], group: 3, pads: [1, 1, 1, 1] }, // grouped, 2 outputs per group
    { xs: [1, 8, 9, 13], ws: [8, 1, 3, 3], group: 8, pads: [1, 1, 1, 1] }, // depthwise s1
    { xs: [1, 8, 14, 15], ws: [8, 1, 3, 3], group: 8, pads: [0, 1, 1, 0], strides: [2, 2] }, // depthwise s2
    { xs: [1, 4, 10, 10], ws: [8, 1, 5, 5], group: 4, pads: [2, 2, 2, 2] }, // channel multiplier 2
    { xs: [1, 3, 11, 11], ws: [5, 3, 1, 1], strides: [2, 2] }, // strided 1x1
    { xs: [2, 3, 17], ws: [4, 3, 5], pads: [2, 1], strides: [1] }, // 1-D
    { xs: [1, 2, 4, 5, 6], ws: [3, 2, 2, 3, 2], pads: [1, 0, 1, 0, 1, 1] }, // 3-D
    { xs: [2, 9, 13, 7], ws: [10, 9, 3, 3], pads: [1, 0, 1, 2] }, // Winograd, odd sizes, asymmetric pads
    { xs: [1, 16, 6, 21], ws: [8, 16, 3, 3] }, // Winograd without padding
    { xs: [1, 8, 3, 3], ws: [9, 8, 3, 3], pads: [1, 1, 1, 1] }, // Winograd, a single tile row
    { xs: [1, 3, 19, 20], ws: [7, 3, 5, 3], strides: [3, 2], pads: [2, 1, 2, 1], dilations: [1, 2] }, // stride phases
  ];
  for (const c of cases) {
    const x = seeded(c.xs.reduce((p, d) => p * d), 11), w = seeded(c.ws.reduce((p, d) => p * d), 12);
    const b = seeded(c.ws[0], 13);
    const ref = referenceConv(x, c.xs, w, c.ws, b, c);
    const attrs: Attrs = {};
    if (c.group) attrs.group = c.group;
    if (c.strides) attrs.strides = c.strides;
    if (c.pads) attrs.pads = c.pads;
    if (c.dilations) attrs.dilations = c.dilations;
    for (const simd of [true, false]) {
      setWasmEnabled(simd);
      try {
        const y = run("Conv", [f32(c.xs, x), f32(c.ws, w), f32([c.ws[0]], b)], attrs)[0];
        close(y, ref.shape, ref.y, 1e-4, 1e-5);
      } finally {
        setWasmEnabled(true);
      }
    }
  }
});

Deno.test("Conv: packed weights stay correct across runs and when the weights change", () => {
  const b = new GraphBuilder();
  b.input("x", "f32", [1, 8, 6, 6]);
  const ws = [12, 8, 3, 3];
  const w = seeded(12 * 8 * 9, 21);
  b.constantOf("w", "f32", ws, w);
  const y = b.op1("Conv", ["x", "w"], { pads: [1, 1, 1, 1] });
  const s = new Session(b.build([y]));
  for (let i = 0; i < 4; i++) {
    const x = seeded(8 * 36, 30 + i);
    const ref = referenceConv(x, [1, 8, 6, 6], w, ws, undefined, { pads: [1, 1, 1, 1] });
    close(s.run({ x: f32([1, 8, 6, 6], x) }).outputs[y] as Tensor, ref.shape, ref.y, 1e-4, 1e-5);
  }
  // Weights as a graph input: a different tensor every run must not hit the packed copy of another.
  for (let i = 0; i < 3; i++) {
    const w2 = seeded(12 * 8 * 9, 40 + i), x = seeded(8 * 36, 50);
    const ref = referenceConv(x, [1, 8, 6, 6], w2, ws, undefined, { pads: [1, 1, 1, 1] });
    close(
      run("Conv", [f32([1, 8, 6, 6], x), f32(ws, w2)], { pads: [1, 1, 1, 1] })[0],
      ref.shape,
      ref.y,
      1e-4,
      1e-5,
    );
  }
});

Deno.test("Conv: f64 and f16 inputs, NaN propagation, empty batch", () => {
  const y64 = run("Conv", [
    new Tensor("f64", [1, 1, 3, 3], Float64Array.from(iota(9))),
    new Tensor("f64", [1, 1, 2, 2], Float64Array.from([1, 1, 1, 1])),
  ])[0];
  assert.equal(y64.dtype, "f64");
  assert.deepEqual([...y64.data as Float64Array], [8, 12, 20, 24]);
  const y16 = run("Conv", [
    new Tensor("f16", [1, 1, 3, 3], Float16Array.from(iota(9))),
    new Tensor("f16", [1, 1, 2, 2], Float16Array.from([1, 1, 1, 1])),
  ])[0];
  assert.equal(y16.dtype, "f16");
  assert.deepEqual([...y16.data as Float16Array], [8, 12, 20, 24]);
  const xs = iota(16).map((v) => (v === 5 ? NaN : v));
  const yn = run("Conv", [f32([1, 1, 4, 4], xs), f32([1, 1, 2, 2], [1, 1, 1, 1])])[0].data as Float32Array;
  // Windows covering (1,1): the first two of row 0 and the first of row 1.
  assert.deepEqual([...yn].map(Number.isNaN), [true, true, false, true, true, false, false, false, false]);
  const empty = run("Conv", [f32([0, 2, 4, 4], []), f32([3, 2, 3, 3], seeded(54, 1))])[0];
  assert.deepEqual([...empty.shape], [0, 3, 2, 2]);
});

Deno.test("Conv: bad shapes raise LatheError", () => {
  assert.throws(
    () => run("Conv", [f32([1, 3, 4, 4], seeded(48, 1)), f32([2, 2, 3, 3], seeded(36, 2))]),
    LatheError,
  );
  assert.throws(() => run("Conv", [f32([1, 1, 2, 2], iota(4)), f32([1, 1, 3, 3], iota(9))]), LatheError);
});

Deno.test("FusedConv: Relu and Clip in the epilogue, Z added before the activation", () => {
  const x = f32([1, 1, 3, 3], iota(9)), w = f32([1, 1, 2, 2], [1, -1, 1, -1]);
  // Window sums of x[i]-x[i+1] pairs: each is -2.
  close(run("com.microsoft.FusedConv", [x, w, f32([1], [5])], { activation: "Relu" })[0], [1, 1, 2, 2], [
    3,
    3,
    3,
    3,
  ]);
  close(run("com.microsoft.FusedConv", [x, w], { activation: "Relu" })[0], [1, 1, 2, 2], [0, 0, 0, 0]);
  close(
    run("com.microsoft.FusedConv", [x, w, f32([1], [3])], {
      activation: "Clip",
      activation_params: [0, 0.5],
    })[0],
    [
      1,
      1,
      2,
      2,
    ],
    [0.5, 0.5, 0.5, 0.5],
  );
  const z = f32([1, 1, 2, 2], [1, 2, 3, 4]);
  close(run("com.microsoft.FusedConv", [x, w, undefined, z], { activation: "Relu" })[0], [1, 1, 2, 2], [
    0,
    0,
    1,
    2,
  ]);
  close(
    run("com.microsoft.FusedConv", [x, w, undefined, z], {
      activation: "LeakyRelu",
      activation_params: [0.5],
    })[0],
    [
      1,
      1,
      2,
      2,
    ],
    [-0.5, 0, 1, 2],
  );
});

Deno.test("ConvTranspose: strides, output_padding, pads, output_shape (1-D)", () => {
  const x = f32([1, 1, 2], [1, 2]), w = f32([1, 1, 3], [1, 1, 1]);
  // Each input spreads over three outputs starting at i*stride.
  close(run("ConvTranspose", [x, w])[0], [1, 1, 4], [1, 3, 3, 2]);
  close(run("ConvTranspose", [x, w], { strides: [2] })[0], [1, 1, 5], [1, 1, 3, 2, 2]);
  close(run("ConvTranspose", [x, w], { strides: [2], output_padding: [1] })[0], [1, 1, 6], [
    1,
    1,
    3,
    2,
    2,
    0,
  ]);
  close(run("ConvTranspose", [x, w], { strides: [2], pads: [1, 1] })[0], [1, 1, 3], [1, 3, 2]);
  close(run("ConvTranspose", [x, w, f32([1], [10])], { strides: [2], output_shape: [4] })[0], [1, 1, 4], [
    11,
    13,
    12,
    12,
  ]);
  // Two groups, two output channels per group, with dilation 2: taps land two apart.
  const y = run("ConvTranspose", [f32([1, 2, 1], [1, 10]), f32([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8])], {
    group: 2,
    dilations: [2],
  })[0];
  close(y, [1, 4, 3], [1, 0, 2, 3, 0, 4, 50, 0, 60, 70, 0, 80]);
});

Deno.test("MaxPool: values, Indices in both storage orders, ceil mode, padding, dilation, u8, NaN", () => {
  const x = f32([1, 1, 4, 4], iota(16));
  const [y, i] = run("MaxPool", [x], { kernel_shape: [2, 2], strides: [2, 2] }, 2);
  close(y, [1, 1, 2, 2], [5, 7, 13, 15]);
  assert.deepEqual([...i.data as BigInt64Array], [5n, 7n, 13n, 15n]);
  const [, ic] = run("MaxPool", [x], { kernel_shape: [2, 2], strides: [2, 2], storage_order: 1 }, 2);
  // Column-major position of (h, w) is w*H + h.
  assert.deepEqual([...ic.data as BigInt64Array], [5n, 13n, 7n, 15n]);
  // Second image offsets the indices by its size.
  const [, i2] = run("MaxPool", [f32([2, 1, 2, 2], [1, 4, 3, 2, 5, 0, 9, 1])], { kernel_shape: [2, 2] }, 2);
  assert.deepEqual([...i2.data as BigInt64Array], [1n, 6n]);
  const x5 = f32([1, 1, 5, 5], iota(25));
  close(run("MaxPool", [x5], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 })[0], [1, 1, 3, 3], [
    6,
    8,
    9,
    16,
    18,
    19,
    21,
    23,
    24,
  ]);
  close(run("MaxPool", [x5], { kernel_shape: [2, 2], strides: [2, 2] })[0], [1, 1, 2, 2], [6, 8, 16, 18]);
  // Padding never wins, even against negative values.
  const neg = f32([1, 1, 2, 2], [-4, -3, -2, -1]);
  close(run("MaxPool", [neg], { kernel_shape: [2, 2], pads: [1, 1, 1, 1] })[0], [1, 1, 3, 3], [
    -4,
    -3,
    -3,
    -2,
    -1,
    -1,
    -2,
    -1,
    -1,
  ]);
  close(run("MaxPool", [x5], { kernel_shape: [2, 2], dilations: [2, 2] })[0], [1, 1, 3, 3], [
    12,
    13,
    14,
    17,
    18,
    19,
    22,
    23,
    24,
  ]);
  const u8 = run("MaxPool", [new Tensor("u8", [1, 1, 2, 3], Uint8Array.from([1, 200, 3, 4, 5, 255]))], {
    kernel_shape: [2, 2],
  })[0];
  assert.equal(u8.dtype, "u8");
  assert.deepEqual([...u8.data as Uint8Array], [200, 255]);
  const nan =
    run("MaxPool", [f32([1, 1, 1, 4], [1, NaN, 3, 4])], { kernel_shape: [1, 2], strides: [1, 2] })[0];
  assert.ok(Number.isNaN((nan.data as Float32Array)[0]));
  assert.equal((nan.data as Float32Array)[1], 4);
});

Deno.test("AveragePool: count_include_pad, ceil mode, SAME_UPPER; LpPool", () => {
  const ones = f32([1, 1, 3, 3], new Array(9).fill(1));
  close(
    run("AveragePool", [ones], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] })[0],
    [1, 1, 3, 3],
    new Array(9).fill(1),
  );
  close(
    run("AveragePool", [ones], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], count_include_pad: 1 })[0],
    [1, 1, 3, 3],
    [4, 6, 4, 6, 9, 6, 4, 6, 4].map((v) => v / 9),
  );
  const x = f32([1, 1, 1, 5], [1, 2, 3, 4, 5]);
  // Ceil mode: the last window holds only the 5.
  close(run("AveragePool", [x], { kernel_shape: [1, 2], strides: [1, 2], ceil_mode: 1 })[0], [1, 1, 1, 3], [
    1.5,
    3.5,
    5,
  ]);
  close(run("AveragePool", [x], { kernel_shape: [1, 2], auto_pad: "SAME_UPPER" })[0], [1, 1, 1, 5], [
    1.5,
    2.5,
    3.5,
    4.5,
    5,
  ]);
  close(run("LpPool", [f32([1, 1, 4], [3, 4, -6, 8])], { kernel_shape: [2], strides: [2] })[0], [1, 1, 2], [
    5,
    10,
  ]);
  close(run("LpPool", [f32([1, 1, 4], [3, -4, 6, 8])], { kernel_shape: [2], strides: [2], p: 1 })[0], [
    1,
    1,
    2,
  ], [7, 14]);
});

Deno.test("Global pools", () => {
  const x = f32([1, 2, 2, 2], [1, 2, 3, 4, -1, -2, -3, -4]);
  close(run("GlobalAveragePool", [x])[0], [1, 2, 1, 1], [2.5, -2.5]);
  close(run("GlobalMaxPool", [x])[0], [1, 2, 1, 1], [4, -1]);
  close(run("GlobalLpPool", [f32([1, 1, 2], [3, 4])])[0], [1, 1, 1], [5]);
});

Deno.test("MaxUnpool scatters by index, with and without output_shape", () => {
  const x = f32([1, 1, 2, 2], [5, 6, 7, 8]);
  const idx = new Tensor("i64", [1, 1, 2, 2], BigInt64Array.from([5n, 7n, 13n, 15n]));
  const want4 = new Array(16).fill(0);
  want4[5] = 5, want4[7] = 6, want4[13] = 7, want4[15] = 8;
  close(run("MaxUnpool", [x, idx], { kernel_shape: [2, 2], strides: [2, 2] })[0], [1, 1, 4, 4], want4);
  // A larger output keeps each value at its (h, w) of the 4x4 unpooled image.
  const shape = new Tensor("i64", [4], BigInt64Array.from([1n, 1n, 5n, 5n]));
  const want5 = new Array(25).fill(0);
  want5[6] = 5, want5[8] = 6, want5[16] = 7, want5[18] = 8;
  close(run("MaxUnpool", [x, idx, shape], { kernel_shape: [2, 2], strides: [2, 2] })[0], [1, 1, 5, 5], want5);
  const bad = new Tensor("i64", [1, 1, 2, 2], BigInt64Array.from([5n, 7n, 13n, 16n]));
  assert.throws(() => run("MaxUnpool", [x, bad], { kernel_shape: [2, 2], strides: [2, 2] }), LatheError);
});

Deno.test("Col2Im sums overlapping blocks", () => {
  // 3x3 image, 2x2 blocks at stride 1: four blocks; with all ones, each pixel counts its covering blocks.
  const x = f32([1, 4, 4], new Array(16).fill(1));
  const image = new Tensor("i64", [2], BigInt64Array.from([3n, 3n]));
  const block = new Tensor("i64", [2], BigInt64Array.from([2n, 2n]));
  close(run("Col2Im", [x, image, block])[0], [1, 1, 3, 3], [1, 2, 1, 2, 4, 2, 1, 2, 1]);
  // Distinct values: block l's element (kh, kw) lands at (bh+kh, bw+kw).
  const y = run("Col2Im", [f32([1, 4, 4], iota(16)), image, block])[0];
  // Row r of the input is block element r; column l is block l = (l>>1, l&1).
  close(y, [1, 1, 3, 3], [0, 1 + 4, 5, 2 + 8, 3 + 6 + 9 + 12, 7 + 13, 10, 11 + 14, 15]);
});

Deno.test("pool and conv declarations infer output shapes", () => {
  const b = new GraphBuilder();
  b.input("x", "f32" as DType, ["N", 3, 15, 16]);
  b.constantOf("w", "f32", [8, 3, 3, 3], seeded(216, 1));
  const c = b.op1("Conv", ["x", "w"], { strides: [2, 2], auto_pad: "SAME_LOWER" });
  const p = b.op1("MaxPool", [c], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 });
  const t = b.op1("ConvTranspose", [p, "w2"], { strides: [2, 2] });
  b.constantOf("w2", "f32", [8, 4, 3, 3], seeded(288, 2));
  const g = b.build([c, p, t]);
  const shape = (v: string) => (g.values[v].type as TensorType).shape;
  assert.deepEqual(shape(c), ["N", 8, 8, 8]);
  assert.deepEqual(shape(p), ["N", 8, 4, 4]);
  assert.deepEqual(shape(t), ["N", 4, 9, 9]);
});

// onnxruntime as the reference for attribute combinations the node suite does not cover.
const ORT_CASES: [string, number[][], Attrs, number][] = [
  ["AveragePool", [[1, 2, 7, 8]], {
    kernel_shape: [3, 3],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
    ceil_mode: 1,
    count_include_pad: 1,
  }, 1],
  ["AveragePool", [[1, 2, 9, 9]], {
    kernel_shape: [2, 3],
    strides: [2, 1],
    dilations: [2, 2],
    pads: [1, 0, 1, 2],
  }, 1],
  ["AveragePool", [[1, 2, 9, 9]], {
    kernel_shape: [2, 3],
    dilations: [2, 2],
    pads: [1, 0, 1, 2],
    count_include_pad: 1,
  }, 1],
  ["MaxPool", [[1, 2, 9, 10]], {
    kernel_shape: [3, 2],
    strides: [2, 3],
    dilations: [2, 1],
    pads: [1, 1, 2, 0],
    ceil_mode: 1,
  }, 2],
  [
    "MaxPool",
    [[2, 3, 6, 7, 5]],
    { kernel_shape: [2, 3, 2], strides: [1, 2, 2], pads: [0, 1, 1, 1, 1, 0] },
    2,
  ],
  ["LpPool", [[1, 2, 8, 8]], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], p: 3 }, 1],
  ["ConvTranspose", [[1, 4, 5, 6], [4, 3, 3, 2], [6]], {
    group: 2,
    strides: [2, 3],
    dilations: [2, 1],
    pads: [1, 0, 0, 1],
    output_padding: [1, 2],
  }, 1],
  ["ConvTranspose", [[2, 3, 5, 5], [3, 2, 4, 4]], { strides: [2, 2], auto_pad: "SAME_LOWER" }, 1],
  ["ConvTranspose", [[1, 2, 4, 4], [2, 3, 3, 3]], { strides: [3, 3], output_shape: [13, 11] }, 1],
  ["Conv", [[1, 6, 15, 14], [6, 2, 3, 3]], { group: 3, strides: [2, 2], auto_pad: "SAME_UPPER" }, 1],
  ["Conv", [[1, 24, 10, 10], [32, 24, 3, 3], [32]], { pads: [0, 1, 1, 0] }, 1],
  ["GlobalLpPool", [[1, 3, 4, 5]], { p: 3 }, 1],
];

Deno.test("conv and pool attribute combinations agree with onnxruntime", async () => {
  const { exportOnnx } = await import("../compiler/onnx/export.ts");
  const { modelOf } = await import("../ir/builder.ts");
  const { ortSession, runOrt } = await import("./reference/onnxruntime.ts");
  for (const [op, shapes, attrs, nOut] of ORT_CASES) {
    const b = new GraphBuilder();
    const feeds: Record<string, Tensor> = {};
    const names = shapes.map((s, i) => {
      feeds[`x${i}`] = f32(s, seeded(s.reduce((p, d) => p * d, 1), 7 + i));
      return b.input(`x${i}`, "f32", s);
    });
    const outs = b.op(op, names, attrs, nOut);
    const g = b.build(outs);
    const mine = interpret(g, feeds, { check: true }).outputs;
    const ref = await runOrt(await ortSession(exportOnnx(modelOf(g)), 1), feeds);
    for (const o of outs) {
      const t = mine[o] as Tensor, r = ref[o];
      assert.deepEqual([...t.shape], [...r.shape], `${op} ${JSON.stringify(attrs)}`);
      const rep = compareArrays(t.data as Float32Array, r.data as Float32Array, 1e-4, 1e-5);
      assert.ok(rep.ok, `${op} ${JSON.stringify(attrs)}: ${rep.message}`);
    }
  }
});
