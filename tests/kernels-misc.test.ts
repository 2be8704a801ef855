/**
 * NonMaxSuppression, RoiAlign, MaxRoiPool, Det, the random generators and the preview.training
 * optimizers: hand-derived values, onnxruntime as an independent reference, and distribution checks for
 * the random ops (whose streams ONNX leaves to the implementation).
 */
import assert from "node:assert/strict";
import { LatheError } from "../ir/errors.ts";
import { getOp } from "../ir/op-registry.ts";
import type { Tensor } from "../runtime/tensor.ts";
import { compareTensors } from "./support/close.ts";
import { type NodeCase, type Operand, runLathe, runOnnxruntime, tensor } from "./support/ort-node.ts";

const f32 = (shape: number[], v: number[]) => tensor("f32", shape, v);
const i64 = (shape: number[], v: number[]) => tensor("i64", shape, v);
const op = (name: string, x: Tensor, constant = false): Operand => ({ name, tensor: x, constant });
const values = (x: Tensor) => Array.from(x.data as ArrayLike<number | bigint>, Number);

async function agreesWithOrt(c: NodeCase, tol = 1e-5): Promise<void> {
  const want = await runOnnxruntime(c);
  const got = runLathe(c);
  want.forEach((w, i) => {
    const r = compareTensors(got[i], w, tol, tol);
    assert.ok(r.ok, `${c.op} output ${i}: ${r.message}`);
  });
}

function rand(n: number, seed: number, scale = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 4294967296) * scale;
  });
}

function nms(
  boxes: Tensor,
  scores: Tensor,
  max: number,
  iou: number,
  score?: number,
  attrs = {},
): number[][] {
  const ins = [op("b", boxes), op("s", scores), op("m", i64([1], [max])), op("i", f32([1], [iou]))];
  if (score !== undefined) ins.push(op("t", f32([1], [score])));
  const y = runLathe({ op: "NonMaxSuppression", inputs: ins, attrs, outputs: 1 })[0];
  const v = values(y);
  return Array.from({ length: v.length / 3 }, (_, i) => v.slice(i * 3, i * 3 + 3));
}

Deno.test("NonMaxSuppression: IoU suppression, score threshold, limit, classes, formats", () => {
  // Boxes 0 and 1 overlap with IoU 0.9 / 1.1; box 2 is far away.
  const corners = f32([1, 3, 4], [0, 0, 1, 1, 0, 0.1, 1, 1.1, 0, 10, 1, 11]);
  const scores = f32([1, 1, 3], [0.9, 0.8, 0.7]);
  assert.deepEqual(nms(corners, scores, 3, 0.5), [[0, 0, 0], [0, 0, 2]]);
  assert.deepEqual(nms(corners, scores, 3, 0.9), [[0, 0, 0], [0, 0, 1], [0, 0, 2]]);
  assert.deepEqual(nms(corners, scores, 3, 0.5, 0.75), [[0, 0, 0]]);
  assert.deepEqual(nms(corners, scores, 1, 0.5), [[0, 0, 0]]);
  assert.deepEqual(nms(corners, scores, 0, 0.5), []);
  // The same boxes with corners swapped, and in center format [xc, yc, w, h].
  const flipped = f32([1, 3, 4], [1, 1, 0, 0, 1, 1.1, 0, 0.1, 1, 11, 0, 10]);
  assert.deepEqual(nms(flipped, scores, 3, 0.5), [[0, 0, 0], [0, 0, 2]]);
  const centers = f32([1, 3, 4], [0.5, 0.5, 1, 1, 0.6, 0.5, 1, 1, 10.5, 0.5, 1, 1]);
  assert.deepEqual(nms(centers, scores, 3, 0.5, undefined, { center_point_box: 1 }), [[0, 0, 0], [0, 0, 2]]);
  // Two classes rank the boxes differently.
  const two = f32([1, 2, 3], [0.9, 0.8, 0.7, 0.1, 0.95, 0.2]);
  assert.deepEqual(nms(corners, two, 2, 0.5), [[0, 0, 0], [0, 0, 2], [0, 1, 1], [0, 1, 2]]);
});

Deno.test("NonMaxSuppression agrees with onnxruntime on random boxes", async () => {
  const B = 2, S = 30, C = 3;
  const r = rand(B * S * 4, 5, 10);
  const boxes = f32([B, S, 4], r.map((v, i) => (i % 4 >= 2 ? v * 0.4 + r[i - 2] : v)));
  const scores = f32([B, C, S], rand(B * C * S, 9));
  for (const [max, iou, thr] of [[5, 0.3, 0.2], [100, 0.6, 0], [3, 0, 0.5]]) {
    await agreesWithOrt({
      op: "NonMaxSuppression",
      opset: 11,
      inputs: [
        op("b", boxes),
        op("s", scores),
        op("m", i64([1], [max])),
        op("i", f32([1], [iou])),
        op("t", f32([1], [thr])),
      ],
      outputs: 1,
    }, 0);
  }
});

Deno.test("RoiAlign agrees with onnxruntime in both modes and coordinate conventions", async () => {
  const X = f32([2, 3, 8, 9], rand(432, 3, 4));
  const rois = f32([4, 4], [0, 0, 8, 7, 1.5, 2.2, 6.1, 5.9, 3, 1, 3.5, 7.9, -1, -2, 10, 4]);
  const bi = i64([4], [0, 1, 1, 0]);
  for (const mode of ["avg", "max"]) {
    for (const ct of ["half_pixel", "output_half_pixel"]) {
      for (const sampling_ratio of [0, 2]) {
        await agreesWithOrt({
          op: "RoiAlign",
          opset: 16,
          inputs: [op("x", X), op("r", rois), op("i", bi)],
          attrs: {
            mode,
            coordinate_transformation_mode: ct,
            sampling_ratio,
            output_height: 3,
            output_width: 4,
            spatial_scale: 0.75,
          },
          outputs: 1,
        });
      }
    }
  }
});

Deno.test("RoiAlign averages bilinear samples (hand check)", () => {
  // 2x2 image, one ROI covering it with one sample at the center (1, 1) in half_pixel terms (0.5, 0.5).
  const X = f32([1, 1, 2, 2], [0, 1, 2, 3]);
  const y = runLathe({
    op: "RoiAlign",
    inputs: [op("x", X), op("r", f32([1, 4], [0, 0, 2, 2])), op("i", i64([1], [0]))],
    attrs: { sampling_ratio: 1 },
    outputs: 1,
  })[0];
  assert.deepEqual([...y.shape], [1, 1, 1, 1]);
  assert.ok(Math.abs((y.data[0] as number) - 1.5) < 1e-6);
});

Deno.test("MaxRoiPool takes the maximum of each rounded bin", async () => {
  const X = f32([1, 1, 4, 4], Array.from({ length: 16 }, (_, i) => i));
  const y = runLathe({
    op: "MaxRoiPool",
    inputs: [op("x", X), op("r", f32([1, 5], [0, 0, 0, 3, 3]))],
    attrs: { pooled_shape: [2, 2] },
    outputs: 1,
  })[0];
  // bins of 2x2 over the full 4x4 image
  assert.deepEqual(values(y), [5, 7, 13, 15]);
  await agreesWithOrt({
    op: "MaxRoiPool",
    opset: 13,
    inputs: [
      op("x", f32([2, 2, 7, 6], rand(168, 4, 3))),
      op("r", f32([3, 5], [0, 0.4, 1.2, 4.6, 5.5, 1, 2, 0, 9, 3, 1, 3.2, 3.1, 3.4, 3.3])),
    ],
    attrs: { pooled_shape: [3, 2], spatial_scale: 0.9 },
    outputs: 1,
  });
});

Deno.test("Det by hand (pivoting, singular, batched) and against onnxruntime", async () => {
  const d = (shape: number[], v: number[]) =>
    values(runLathe({ op: "Det", inputs: [op("x", f32(shape, v))], outputs: 1 })[0]);
  assert.deepEqual(d([2, 2], [1, 2, 3, 4]), [-2]);
  assert.deepEqual(d([2, 2], [0, 1, 1, 0]), [-1]);
  assert.deepEqual(d([3, 3], [2, 0, 0, 0, 3, 0, 0, 0, 4]), [24]);
  assert.deepEqual(d([3, 3], [1, 2, 3, 2, 4, 6, 0, 1, 1]), [0]);
  assert.deepEqual(d([2, 2, 2], [1, 0, 0, 1, 2, 1, 1, 2]), [1, 3]);
  await agreesWithOrt({
    op: "Det",
    opset: 11,
    inputs: [op("x", f32([3, 5, 5], rand(75, 7, 2).map((v) => v - 1)))],
    outputs: 1,
  }, 1e-4);
  assert.throws(
    () => runLathe({ op: "Det", inputs: [op("x", f32([2, 3], [1, 2, 3, 4, 5, 6]))], outputs: 1 }),
    LatheError,
  );
});

Deno.test("random ops are impure, reproducible with a seed, and have the right range and moments", () => {
  for (
    const o of [
      "RandomUniform",
      "RandomNormal",
      "RandomUniformLike",
      "RandomNormalLike",
      "Bernoulli",
      "Multinomial",
    ]
  ) {
    assert.equal(getOp(o)?.impure, true, o);
  }
  const n = 20000;
  const u = (seed: number) =>
    runLathe({
      op: "RandomUniform",
      inputs: [],
      attrs: { shape: [n], low: -2, high: 3, seed: { type: "float", value: seed } },
      outputs: 1,
    })[0];
  const a = values(u(1)), b = values(u(1)), c = values(u(2));
  assert.deepEqual(a, b, "same seed, same values");
  assert.notDeepEqual(a, c);
  assert.ok(a.every((v) => v >= -2 && v < 3));
  const mean = a.reduce((p, v) => p + v, 0) / n;
  assert.ok(Math.abs(mean - 0.5) < 0.05, `uniform mean ${mean}`);
  const g = runLathe({
    op: "RandomNormal",
    inputs: [],
    attrs: { shape: [100, 200], mean: 1, scale: 2, dtype: 11 },
    outputs: 1,
  })[0];
  assert.equal(g.dtype, "f64");
  assert.deepEqual([...g.shape], [100, 200]);
  const gv = values(g), gm = gv.reduce((p, v) => p + v, 0) / n;
  const sd = Math.sqrt(gv.reduce((p, v) => p + (v - gm) ** 2, 0) / n);
  assert.ok(Math.abs(gm - 1) < 0.06 && Math.abs(sd - 2) < 0.06, `normal mean ${gm} sd ${sd}`);
  const like = runLathe({
    op: "RandomUniformLike",
    inputs: [op("x", tensor("f16", [3, 4], new Array(12).fill(0)))],
    outputs: 1,
  })[0];
  assert.equal(like.dtype, "f16");
  assert.deepEqual([...like.shape], [3, 4]);
});

Deno.test("Bernoulli and Multinomial follow their probabilities", () => {
  const n = 20000;
  const p = f32([n], Array.from({ length: n }, (_, i) => (i < 100 ? 0 : i < 200 ? 1 : 0.3)));
  const y = values(runLathe({ op: "Bernoulli", inputs: [op("p", p)], outputs: 1 })[0]);
  assert.ok(y.slice(0, 100).every((v) => v === 0) && y.slice(100, 200).every((v) => v === 1));
  const ones = y.slice(200).reduce((s, v) => s + v, 0) / (n - 200);
  assert.ok(Math.abs(ones - 0.3) < 0.02, `Bernoulli(0.3) frequency ${ones}`);
  const bools = runLathe({
    op: "Bernoulli",
    inputs: [op("p", f32([4], [1, 1, 0, 0]))],
    attrs: { dtype: 9 },
    outputs: 1,
  })[0];
  assert.equal(bools.dtype, "bool");
  assert.deepEqual(values(bools), [1, 1, 0, 0]);
  const logits = f32([2, 2], [Math.log(0.25), Math.log(0.75), 0, -200]);
  const m = runLathe({
    op: "Multinomial",
    inputs: [op("x", logits)],
    attrs: { sample_size: 5000, dtype: 7 },
    outputs: 1,
  })[0];
  assert.equal(m.dtype, "i64");
  assert.deepEqual([...m.shape], [2, 5000]);
  const mv = values(m);
  const freq1 = mv.slice(0, 5000).reduce((s, v) => s + v, 0) / 5000;
  assert.ok(Math.abs(freq1 - 0.75) < 0.03, `class 1 frequency ${freq1}`);
  assert.ok(mv.slice(5000).every((v) => v === 0));
});

const TR = "ai.onnx.preview.training";
const scalarR = (v: number) => op("R", f32([], [v]));
const scalarT = (v: number) => op("T", i64([], [v]));

Deno.test("Adagrad, Momentum and Adam follow their update rules (hand values)", () => {
  // Adagrad: r = 1 / (1 + 1 * 1) = 0.5; H = 7 + 9 = 16; X = 1 - 0.5 * 3 / 4.
  const [xa, ha] = runLathe({
    op: "Adagrad",
    domain: TR,
    inputs: [scalarR(1), scalarT(1), op("X", f32([1], [1])), op("G", f32([1], [3])), op("H", f32([1], [7]))],
    attrs: { decay_factor: 1, epsilon: 0 },
    outputs: 2,
  });
  assert.deepEqual([values(xa), values(ha)], [[0.625], [16]]);
  const momentum = (mode: string, T: number) =>
    runLathe({
      op: "Momentum",
      domain: TR,
      inputs: [
        scalarR(0.125),
        scalarT(T),
        op("X", f32([1], [1])),
        op("G", f32([1], [1])),
        op("V", f32([1], [2])),
      ],
      attrs: { alpha: 0.5, beta: 2, mode, norm_coefficient: 0 },
      outputs: 2,
    }).map(values);
  // V = 0.5 * 2 + 2 * 1 = 3; standard X = 1 - 0.125 * 3; nesterov X = 1 - 0.125 * (1 + 0.5 * 3).
  assert.deepEqual(momentum("standard", 1), [[0.625], [3]]);
  assert.deepEqual(momentum("nesterov", 1), [[0.6875], [3]]);
  // At T = 0 the gradient enters with weight 1: V = 1 + 1.
  assert.deepEqual(momentum("standard", 0), [[0.75], [2]]);
  const [xn, vn, hn] = runLathe({
    op: "Adam",
    domain: TR,
    inputs: [
      scalarR(0.5),
      scalarT(0),
      op("X", f32([1], [1])),
      op("G", f32([1], [2])),
      op("V", f32([1], [0])),
      op("H", f32([1], [0])),
    ],
    attrs: { alpha: 0.5, beta: 0.75, epsilon: 0, norm_coefficient_post: 0.5 },
    outputs: 3,
  }).map(values);
  // V = 0.5 * 2 = 1; H = 0.25 * 4 = 1; X = 1 - 0.5 * 1 / 1 = 0.5, then * (1 - 0.5).
  assert.deepEqual([xn, vn, hn], [[0.25], [1], [1]]);
  // Bias correction at T = 2: R * sqrt(1 - 0.75^2) / (1 - 0.5^2).
  const [x2] = runLathe({
    op: "Adam",
    domain: TR,
    inputs: [
      scalarR(0.5),
      scalarT(2),
      op("X", f32([1], [1])),
      op("G", f32([1], [2])),
      op("V", f32([1], [0])),
      op("H", f32([1], [0])),
    ],
    attrs: { alpha: 0.5, beta: 0.75, epsilon: 0 },
    outputs: 3,
  }).map(values);
  assert.ok(Math.abs(x2[0] - (1 - (0.5 * Math.sqrt(1 - 0.5625)) / 0.75)) < 1e-6);
});
