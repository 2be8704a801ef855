/**
 * Op mappings one at a time, on small hand-built graphs: ONNX graphs run in onnxruntime (the reference)
 * against their TFLite conversion in LiteRT, and TFLite graphs run in LiteRT against their ONNX conversion in
 * onnxruntime. Each case also checks the form the mapping chose where the choice is the point (SAME versus
 * an explicit PAD, depthwise versus grouped, the TRANSPOSE_CONV crop fallback).
 */
import assert from "node:assert/strict";
import { exportOnnx } from "../compiler/onnx/export.ts";
import { exportTflite } from "../compiler/tflite/export.ts";
import { type AttrInit, GraphBuilder, modelOf } from "../ir/builder.ts";
import type { Model } from "../ir/graph.ts";
import "../ir/ops/index.ts";
import { onnxToTflite } from "../passes/convert/onnx-to-tflite.ts";
import { tfliteToOnnx } from "../passes/convert/tflite-to-onnx.ts";
import { Tensor } from "../runtime/tensor.ts";
import { liteRtLoadMessage, loadLiteRt, runLiteRt } from "./reference/litert.ts";
import { ortSession, runOrt } from "./reference/onnxruntime.ts";
import { closeness, seededFloats } from "./support/convert-compare.ts";

const liteRt = await loadLiteRt();
if (!liteRt) console.log(`convert-ops: LiteRT tests skipped: ${liteRtLoadMessage()}`);

const f = (value: number): AttrInit => ({ type: "float", value });
const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !liteRt, sanitizeOps: false, sanitizeResources: false, fn });

type Build = (b: GraphBuilder) => string[];

function weights(b: GraphBuilder, name: string, shape: number[], seed: number): string {
  return b.constantOf(name, "f32", shape, seededFloats(shape.reduce((p, d) => p * d, 1), seed));
}

/** An ONNX graph in onnxruntime against its TFLite conversion in LiteRT; returns the converted op counts. */
async function onnxCase(inputs: Record<string, number[]>, build: Build): Promise<Record<string, number>> {
  const b = new GraphBuilder();
  for (const [k, s] of Object.entries(inputs)) b.input(k, "f32", s);
  const g = b.build(build(b));
  const source: Model = modelOf(g, { format: "onnx", opsets: { "": 18 }, props: {} });
  const { model, report } = onnxToTflite(source);
  const feeds: Record<string, Tensor> = {};
  const lite: Float32Array[] = [];
  Object.entries(inputs).forEach(([k, s], i) => {
    const x = seededFloats(s.reduce((p, d) => p * d, 1), 100 + i);
    feeds[k] = new Tensor("f32", s, x);
    lite.push(x);
  });
  const want = await runOrt(await ortSession(exportOnnx(source)), feeds);
  const got = await runLiteRt(exportTflite(model), lite);
  g.outputs.forEach((o, k) => {
    assert.deepEqual(got[k].shape, [...want[o].shape], `${o} shape`);
    const r = closeness(got[k].data as Float32Array, want[o].data as Float32Array);
    assert.equal(
      r.bad,
      0,
      `${o}: ${r.bad}/${r.count} off, worst ${JSON.stringify(r.worst)}; ops ${
        JSON.stringify(report.target.ops)
      }`,
    );
  });
  return report.target.ops;
}

/** A TFLite graph in LiteRT against its ONNX conversion in onnxruntime; returns the converted op counts. */
async function tflCase(inputs: Record<string, number[]>, build: Build): Promise<Record<string, number>> {
  const b = new GraphBuilder();
  for (const [k, s] of Object.entries(inputs)) b.input(k, "f32", s);
  const g = b.build(build(b));
  const source: Model = modelOf(g, { format: "tflite", opsets: {}, props: {} });
  const { model, report } = tfliteToOnnx(source);
  const feeds: Record<string, Tensor> = {};
  const lite: Float32Array[] = [];
  Object.entries(inputs).forEach(([k, s], i) => {
    const x = seededFloats(s.reduce((p, d) => p * d, 1), 200 + i);
    feeds[k] = new Tensor("f32", s, x);
    lite.push(x);
  });
  const want = await runLiteRt(exportTflite(source), lite);
  const got = await runOrt(await ortSession(exportOnnx(model)), feeds);
  g.outputs.forEach((o, k) => {
    assert.deepEqual([...got[o].shape], want[k].shape, `${o} shape`);
    const r = closeness(got[o].data as Float32Array, want[k].data as Float32Array);
    assert.equal(
      r.bad,
      0,
      `${o}: ${r.bad}/${r.count} off, worst ${JSON.stringify(r.worst)}; ops ${
        JSON.stringify(report.target.ops)
      }`,
    );
  });
  return report.target.ops;
}

test("Conv: pads equal to TFLite's SAME become SAME; symmetric pads at stride 2 become PAD + VALID", async () => {
  // 3x3 stride 1 pads 1: SAME pads (1, 1). Stride 2 on 8: SAME pads (0, 1), ONNX's (1, 1) needs a PAD.
  const same = await onnxCase(
    { x: [1, 3, 8, 8] },
    (b) => [b.op1("Conv", ["x", weights(b, "w", [4, 3, 3, 3], 1)], { pads: [1, 1, 1, 1] })],
  );
  assert.equal(same["tfl.PAD"], undefined);
  const padded = await onnxCase(
    { x: [1, 3, 8, 8] },
    (b) => [b.op1("Conv", ["x", weights(b, "w", [4, 3, 3, 3], 2)], { pads: [1, 1, 1, 1], strides: [2, 2] })],
  );
  assert.equal(padded["tfl.PAD"], 1);
  // SAME_UPPER at stride 2 is TFLite's SAME exactly.
  const upper = await onnxCase(
    { x: [1, 3, 8, 8] },
    (
      b,
    ) => [
      b.op1("Conv", ["x", weights(b, "w", [4, 3, 3, 3], 3)], { auto_pad: "SAME_UPPER", strides: [2, 2] }),
    ],
  );
  assert.equal(upper["tfl.PAD"], undefined);
});

test("Conv: depthwise with a multiplier, grouped, dilated, and 1-D", async () => {
  const dw = await onnxCase({ x: [1, 4, 7, 7] }, (b) => [
    b.op1("Conv", ["x", weights(b, "w", [8, 1, 3, 3], 4), weights(b, "b", [8], 5)], {
      group: 4,
      pads: [1, 1, 1, 1],
    }),
  ]);
  assert.equal(dw["tfl.DEPTHWISE_CONV_2D"], 1);
  const grouped = await onnxCase(
    { x: [1, 4, 6, 6] },
    (b) => [b.op1("Conv", ["x", weights(b, "w", [6, 2, 3, 3], 6)], { group: 2 })],
  );
  assert.equal(grouped["tfl.CONV_2D"], 2);
  assert.equal(grouped["tfl.SPLIT"], 1);
  await onnxCase(
    { x: [1, 2, 9, 9] },
    (
      b,
    ) => [b.op1("Conv", ["x", weights(b, "w", [3, 2, 3, 3], 7)], { dilations: [2, 2], pads: [2, 2, 2, 2] })],
  );
  await onnxCase(
    { x: [1, 2, 20] },
    (b) => [b.op1("Conv", ["x", weights(b, "w", [3, 2, 5], 8)], { strides: [3], pads: [1, 2] })],
  );
});

test("pools: MaxPool ceil_mode, AveragePool with and without counting pads, global pools", async () => {
  await onnxCase(
    { x: [1, 3, 7, 7] },
    (b) => [b.op1("MaxPool", ["x"], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 })],
  );
  await onnxCase(
    { x: [1, 3, 8, 8] },
    (b) => [b.op1("MaxPool", ["x"], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] })],
  );
  const excl = await onnxCase(
    { x: [1, 3, 7, 7] },
    (b) => [b.op1("AveragePool", ["x"], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] })],
  );
  assert.equal(excl["tfl.PAD"], undefined, "SAME excludes the pads as count_include_pad=0 does");
  const incl = await onnxCase(
    { x: [1, 3, 7, 7] },
    (b) => [b.op1("AveragePool", ["x"], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], count_include_pad: 1 })],
  );
  assert.equal(incl["tfl.PAD"], 1);
  await onnxCase(
    { x: [1, 3, 8, 8] },
    (b) => [b.op1("AveragePool", ["x"], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] })],
  );
  await onnxCase(
    { x: [1, 3, 7, 7] },
    (b) => [b.op1("AveragePool", ["x"], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 })],
  );
  await onnxCase(
    { x: [1, 3, 5, 6] },
    (b) => [b.op1("GlobalAveragePool", ["x"]), b.op1("GlobalMaxPool", ["x"])],
  );
});

test("ConvTranspose: SAME-shaped, VALID-shaped, and cropped pads", async () => {
  const same = await onnxCase(
    { x: [1, 3, 4, 4] },
    (
      b,
    ) => [
      b.op1("ConvTranspose", ["x", weights(b, "w", [3, 2, 4, 4], 9)], {
        strides: [2, 2],
        pads: [1, 1, 1, 1],
      }),
    ],
  );
  assert.equal(same["tfl.STRIDED_SLICE"], undefined);
  await onnxCase(
    { x: [1, 3, 1, 1] },
    (b) => [b.op1("ConvTranspose", ["x", weights(b, "w", [3, 5, 4, 4], 10), weights(b, "b", [5], 11)], {})],
  );
  const cropped = await onnxCase(
    { x: [1, 2, 3, 3] },
    (
      b,
    ) => [
      b.op1("ConvTranspose", ["x", weights(b, "w", [2, 2, 3, 3], 12)], {
        strides: [2, 2],
        pads: [2, 0, 0, 2],
      }),
    ],
  );
  assert.equal(cropped["tfl.STRIDED_SLICE"], 1);
});

test("elementwise and shape ops between NHWC layers keep their meaning (axes, pads, broadcasts move)", async () => {
  const ops = await onnxCase({ x: [1, 4, 6, 6], y: [1, 4, 6, 6] }, (b) => {
    const c1 = b.op1("Conv", ["x", weights(b, "w1", [4, 4, 1, 1], 13)]);
    const c2 = b.op1("Conv", ["y", weights(b, "w2", [4, 4, 1, 1], 14)]);
    const cat = b.op1("Concat", [c1, c2], { axis: 1 });
    const hs = b.op1("HardSigmoid", [cat], { alpha: f(0.25), beta: f(0.4) });
    const pad = b.op1("Pad", [hs, b.constantOf("pads", "i64", [8], [0, 0, 1, 2, 0, 0, 2, 1])], {
      mode: "reflect",
    });
    const mean = b.op1("ReduceMean", [pad, b.constantOf("axes", "i64", [2], [2, 3])], { keepdims: 0 });
    const sm = b.op1("Softmax", [b.op1("Conv", [pad, weights(b, "w3", [3, 8, 3, 3], 15)])], { axis: 1 });
    return [mean, sm];
  });
  // One per NCHW input, one for the NCHW softmax output: the channel softmax runs on the NHWC last axis.
  assert.equal(ops["tfl.TRANSPOSE"] ?? 0, 3);
});

test("matrix and sequence ops: Gemm, MatMul, LayerNormalization, erf GELU, Slice, Split, Gather", async () => {
  await onnxCase({ x: [3, 5] }, (b) => [
    b.op1("Gemm", ["x", weights(b, "w", [5, 4], 16), weights(b, "c", [4], 17)], {
      alpha: f(0.5),
      beta: f(2),
    }),
  ]);
  await onnxCase({ x: [2, 3, 5], y: [2, 5, 4] }, (b) => [b.op1("MatMul", ["x", "y"])]);
  const ln = await onnxCase({ x: [2, 3, 8] }, (b) => [
    b.op1("LayerNormalization", ["x", weights(b, "s", [8], 18), weights(b, "b", [8], 19)], {
      axis: -1,
      epsilon: f(1e-5),
    }, "y"),
  ]);
  assert.equal(ln["tfl.MEAN"], 2);
  const gelu = await onnxCase({ x: [2, 6] }, (b) => {
    const d = b.op1("Div", ["x", b.constantOf("r2", "f32", [], [Math.SQRT2])]);
    const e = b.op1("Add", [b.op1("Erf", [d]), b.constantOf("one", "f32", [], [1])]);
    return [b.op1("Mul", [b.op1("Mul", ["x", e]), b.constantOf("half", "f32", [], [0.5])])];
  });
  assert.deepEqual(gelu, { "tfl.GELU": 1 });
  await onnxCase({ x: [4, 10] }, (b) => {
    const c = (name: string, v: number[]) => b.constantOf(name, "i64", [v.length], v);
    const s = b.op1("Slice", ["x", c("st", [-1, 1]), c("en", [-100, 9]), c("ax", [1, 0]), c("sp", [-2, 3])]);
    const parts = b.op("Split", ["x", c("sz", [3, 7])], { axis: 1 }, 2);
    const g = b.op1("Gather", ["x", c("ix", [3, -1, 0])], { axis: 0 });
    return [s, ...parts, g];
  });
});

test("Resize: bilinear half_pixel and align_corners, nearest asymmetric", async () => {
  const sizes = (b: GraphBuilder) => b.constantOf("sizes", "i64", [4], [1, 2, 10, 12]);
  await onnxCase(
    { x: [1, 2, 5, 6] },
    (b) => [b.op1("Resize", ["x", null, null, sizes(b)], { mode: "linear" })],
  );
  await onnxCase(
    { x: [1, 2, 5, 6] },
    (
      b,
    ) => [
      b.op1("Resize", ["x", null, null, sizes(b)], {
        mode: "linear",
        coordinate_transformation_mode: "align_corners",
      }),
    ],
  );
  await onnxCase({ x: [1, 2, 5, 6] }, (b) => [
    b.op1("Resize", ["x", null, null, sizes(b)], {
      mode: "nearest",
      coordinate_transformation_mode: "asymmetric",
      nearest_mode: "floor",
    }),
  ]);
});

test("TFLite → ONNX: convolutions with fused activations, TRANSPOSE_CONV, pools and SAME padding", async () => {
  const ops = await tflCase({ x: [1, 9, 9, 3] }, (b) => {
    const c = b.op1("tfl.CONV_2D", ["x", weights(b, "w", [4, 3, 3, 3], 20), weights(b, "b", [4], 21)], {
      padding: "SAME",
      stride_h: 2,
      stride_w: 2,
      fused_activation_function: "RELU6",
    });
    const d = b.op1("tfl.DEPTHWISE_CONV_2D", [
      c,
      weights(b, "dw", [1, 3, 3, 8], 22),
      weights(b, "db", [8], 23),
    ], {
      padding: "VALID",
      stride_h: 1,
      stride_w: 1,
      depth_multiplier: 2,
      fused_activation_function: "RELU",
    });
    const p = b.op1("tfl.AVERAGE_POOL_2D", [d], {
      padding: "SAME",
      stride_h: 2,
      stride_w: 2,
      filter_height: 3,
      filter_width: 3,
    });
    const t = b.op1("tfl.TRANSPOSE_CONV", [
      b.constantOf("os", "i32", [4], [1, 4, 4, 2]),
      weights(b, "tw", [2, 3, 3, 8], 24),
      p,
    ], {
      padding: "SAME",
      stride_h: 2,
      stride_w: 2,
    });
    return [
      b.op1("tfl.MAX_POOL_2D", [t], {
        padding: "SAME",
        stride_h: 2,
        stride_w: 2,
        filter_height: 2,
        filter_width: 2,
        fused_activation_function: "RELU_N1_TO_1",
      }),
    ];
  });
  assert.equal(ops.Conv, 2);
  assert.equal(ops.ConvTranspose, 1);
});

test("TFLite → ONNX: shape and movement ops", async () => {
  await tflCase({ x: [2, 6, 4], y: [2, 4, 3] }, (b) => {
    const i32 = (name: string, v: number[], shape = [v.length]) => b.constantOf(name, "i32", shape, v);
    const bmm = b.op1("tfl.BATCH_MATMUL", ["x", "x"], { adj_y: 1 });
    const ss = b.op1("tfl.STRIDED_SLICE", [
      "x",
      i32("b", [1, 5, 0]),
      i32("e", [2, 0, 4]),
      i32("s", [1, -2, 1]),
    ], { shrink_axis_mask: 1 });
    const sv = b.op("tfl.SPLIT_V", ["x", i32("sz", [1, 3, 2]), b.constantOf("ax", "i32", [], [1])], {
      num_splits: 3,
    }, 3);
    const fc = b.op1("tfl.FULLY_CONNECTED", ["y", weights(b, "fw", [5, 3], 25), weights(b, "fb", [5], 26)], {
      keep_num_dims: 1,
    });
    const sq = b.op1("tfl.SQUARED_DIFFERENCE", [
      "x",
      b.op1("tfl.MEAN", ["x", i32("ma", [2])], { keep_dims: 1 }),
    ]);
    const l2 = b.op1("tfl.L2_NORMALIZATION", [sq]);
    const pack = b.op1("tfl.PACK", [sv[0], sv[0]], { values_count: 2, axis: 1 });
    const sm = b.op1("tfl.SOFTMAX", [bmm], { beta: f(0.5) });
    return [sm, ss, sv[1], sv[2], fc, l2, pack];
  });
  await tflCase({ x: [1, 4, 6, 8] }, (b) => {
    const d2s = b.op1("tfl.DEPTH_TO_SPACE", ["x"], { block_size: 2 });
    const rz = b.op1("tfl.RESIZE_BILINEAR", [d2s, b.constantOf("sz", "i32", [2], [11, 7])], {
      half_pixel_centers: 1,
    });
    const nn = b.op1("tfl.RESIZE_NEAREST_NEIGHBOR", ["x", b.constantOf("sz2", "i32", [2], [8, 12])], {
      half_pixel_centers: 1,
    });
    const pad = b.op1("tfl.PAD", [rz, b.constantOf("pd", "i32", [4, 2], [0, 0, 1, 0, 0, 2, 1, 1])]);
    return [pad, nn];
  });
});

test("activations and normalizations without a TFLite builtin map to their formulas", async () => {
  const ops = await onnxCase({ x: [2, 3, 4, 5], y: [2, 3, 4, 5] }, (b) => [
    b.op1("Selu", ["x"]),
    b.op1("Softsign", ["x"]),
    b.op1("Mish", ["x"]),
    b.op1("ThresholdedRelu", ["x"], { alpha: f(0.3) }),
    b.op1("Celu", ["x"], { alpha: f(2) }),
    b.op1("Elu", ["x"], { alpha: f(0.5) }),
    b.op1("Mean", ["x", "y"]),
    b.op1("InstanceNormalization", ["x", weights(b, "s", [3], 30), weights(b, "b", [3], 31)], {
      epsilon: f(1e-5),
    }),
  ]);
  assert.ok(ops["tfl.SELECT_V2"] >= 4);
});

test("TFLite → ONNX: ATAN2 (all four quadrants and the axis) and REDUCE_ANY", async () => {
  await tflCase({ y: [3, 8], x: [3, 8] }, (b) => {
    const zero = b.constantOf("z", "f32", [], [0]);
    // Rows of the inputs with y forced to 0 reach the x ≤ 0 edge.
    const mask = b.constantOf("m", "f32", [3, 1], [1, 0, 1]);
    const a = b.op1("tfl.ATAN2", [b.op1("tfl.MUL", ["y", mask]), "x"]);
    const any = b.op1(
      "tfl.REDUCE_ANY",
      [b.op1("tfl.LESS", ["x", zero]), b.constantOf("ax", "i32", [1], [1])],
      { keep_dims: 1 },
    );
    return [a, b.op1("tfl.CAST", [any], { in_data_type: "BOOL", out_data_type: "FLOAT32" })];
  });
});
