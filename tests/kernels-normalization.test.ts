/**
 * Normalizations: hand-derived values from the ONNX definitions, and onnxruntime as an independent
 * reference on larger random-looking inputs.
 */
import assert from "node:assert/strict";
import { LatheError } from "../ir/errors.ts";
import type { Tensor } from "../runtime/tensor.ts";
import { compareTensors } from "./support/close.ts";
import { type NodeCase, type Operand, runLathe, runOnnxruntime, tensor } from "./support/ort-node.ts";

const f32 = (shape: number[], v: number[]) => tensor("f32", shape, v);
const op = (name: string, t: Tensor, constant = false): Operand => ({ name, tensor: t, constant });

function close(got: Tensor, shape: number[], want: number[], tol = 1e-5): void {
  assert.deepEqual([...got.shape], shape);
  const r = compareTensors(got, tensor("f64", shape, want), tol, tol);
  assert.ok(r.ok, r.message);
}

async function agreesWithOrt(c: NodeCase, tol = 1e-5): Promise<void> {
  const want = await runOnnxruntime(c);
  const got = runLathe(c);
  want.forEach((w, i) => {
    const r = compareTensors(got[i], w, tol, tol);
    assert.ok(r.ok, `${c.op} output ${i}: ${r.message}`);
  });
}

/** Deterministic, irregular test data. */
const wave = (n: number, k = 1) =>
  Array.from({ length: n }, (_, i) => Math.sin(i * 0.77 * k + 0.3) * 1.5 + (i % 5) * 0.2);

Deno.test("BatchNormalization in inference mode uses the given statistics", () => {
  const x = f32([1, 2, 1, 2], [1, 2, 3, 4]);
  const c: NodeCase = {
    op: "BatchNormalization",
    inputs: [
      op("x", x),
      op("s", f32([2], [1, 2])),
      op("b", f32([2], [0, 1])),
      op("m", f32([2], [1.5, 3.5])),
      op("v", f32([2], [0.25, 0.25])),
    ],
    attrs: { epsilon: 0 },
    outputs: 1,
  };
  // channel 0: (x - 1.5) / 0.5; channel 1: 2 (x - 3.5) / 0.5 + 1
  close(runLathe(c)[0], [1, 2, 1, 2], [-1, 1, -1, 3]);
});

Deno.test("BatchNormalization in training mode: batch statistics and running averages", () => {
  const x = f32([2, 1, 1, 1], [1, 3]);
  const [y, rm, rv] = runLathe({
    op: "BatchNormalization",
    inputs: [
      op("x", x),
      op("s", f32([1], [1])),
      op("b", f32([1], [0])),
      op("m", f32([1], [0])),
      op("v", f32([1], [3])),
    ],
    attrs: { epsilon: 0, training_mode: 1, momentum: 0.5 },
    outputs: 3,
  });
  // batch mean 2, population variance 1
  close(y, [2, 1, 1, 1], [-1, 1]);
  close(rm, [1], [0 * 0.5 + 2 * 0.5]);
  close(rv, [1], [3 * 0.5 + 1 * 0.5]);
});

Deno.test("InstanceNormalization normalizes each (n, c) plane", () => {
  const x = f32([1, 2, 4], [1, 2, 3, 4, 10, 10, 10, 10]);
  const y = runLathe({
    op: "InstanceNormalization",
    inputs: [op("x", x), op("s", f32([2], [2, 1])), op("b", f32([2], [1, 5]))],
    attrs: { epsilon: 0.25 },
    outputs: 1,
  })[0];
  // plane 0: mean 2.5, variance 1.25, + eps = 1.5; plane 1 is constant -> its bias.
  const inv = 1 / Math.sqrt(1.5);
  close(y, [1, 2, 4], [
    -1.5 * inv * 2 + 1,
    -0.5 * inv * 2 + 1,
    0.5 * inv * 2 + 1,
    1.5 * inv * 2 + 1,
    5,
    5,
    5,
    5,
  ]);
});

Deno.test("LayerNormalization: Y, Mean and InvStdDev for the last axis and for all axes", () => {
  const x = f32([2, 2], [1, 3, 2, 2]);
  const [y, mean, inv] = runLathe({
    op: "LayerNormalization",
    inputs: [op("x", x), op("s", f32([2], [2, 1])), op("b", f32([2], [0, 1]))],
    attrs: { epsilon: 0.5 },
    outputs: 3,
  });
  const i0 = 1 / Math.sqrt(1.5), i1 = 1 / Math.sqrt(0.5);
  close(y, [2, 2], [-i0 * 2, i0 + 1, 0, 1]);
  close(mean, [2, 1], [2, 2]);
  close(inv, [2, 1], [i0, i1]);
  assert.equal(mean.dtype, "f32");
  const [all, m0] = runLathe({
    op: "LayerNormalization",
    inputs: [op("x", x), op("s", f32([2, 2], [1, 1, 1, 1])), null],
    attrs: { axis: 0, epsilon: 0 },
    outputs: 2,
  });
  const s = 1 / Math.sqrt(0.5);
  close(all, [2, 2], [-s, s, 0, 0]);
  close(m0, [1, 1], [2]);
});

Deno.test("LayerNormalization broadcasts a lower-rank Scale and matches onnxruntime", async () => {
  const x = f32([2, 3, 4], wave(24));
  await agreesWithOrt({
    op: "LayerNormalization",
    opset: 17,
    inputs: [op("x", x), op("s", f32([4], [1, -2, 0.5, 3])), op("b", f32([4], [0, 1, 2, 3]))],
    outputs: 3,
  });
  await agreesWithOrt({
    op: "LayerNormalization",
    opset: 17,
    inputs: [op("x", x), op("s", f32([3, 4], wave(12, 2))), null],
    attrs: { axis: 1 },
    outputs: 3,
  });
});

Deno.test("GroupNormalization with per-channel scale (opset 21)", async () => {
  const x = f32([1, 4, 1, 1], [1, 2, 3, 5]);
  const c: NodeCase = {
    op: "GroupNormalization",
    opset: 21,
    inputs: [op("x", x), op("s", f32([4], [1, 1, 2, 2])), op("b", f32([4], [0, 0, 1, 1]))],
    attrs: { num_groups: 2, epsilon: 0 },
    outputs: 1,
  };
  // group 0 = {1, 2}: mean 1.5, std 0.5; group 1 = {3, 5}: mean 4, std 1.
  close(runLathe(c)[0], [1, 4, 1, 1], [-1, 1, -1, 3]);
  const big: NodeCase = {
    op: "GroupNormalization",
    opset: 21,
    inputs: [
      op("x", f32([2, 6, 3, 2], wave(72))),
      op("s", f32([6], wave(6, 3))),
      op("b", f32([6], wave(6, 5))),
    ],
    attrs: { num_groups: 3 },
    outputs: 1,
  };
  await agreesWithOrt(big, 1e-4);
  assert.throws(() => runLathe({ ...big, attrs: { num_groups: 4 } }), LatheError);
});

Deno.test("LRN over a channel window", async () => {
  const x = f32([1, 3, 1, 1], [1, 2, 3]);
  // size 3, alpha/size = 1, beta 1, bias 1: sums of squares over {0,1}, {0,1,2}, {1,2}.
  const y = runLathe({
    op: "LRN",
    inputs: [op("x", x)],
    attrs: { size: 3, alpha: 3, beta: 1, bias: 1 },
    outputs: 1,
  })[0];
  close(y, [1, 3, 1, 1], [1 / 6, 2 / 15, 3 / 14]);
  // An even size puts the extra channel after: windows {0,1}, {1,2}, {2}.
  const even = runLathe({
    op: "LRN",
    inputs: [op("x", x)],
    attrs: { size: 2, alpha: 2, beta: 1, bias: 1 },
    outputs: 1,
  })[0];
  close(even, [1, 3, 1, 1], [1 / 6, 2 / 14, 3 / 10]);
  // onnxruntime accepts odd sizes only.
  for (const size of [1, 3, 5]) {
    await agreesWithOrt({
      op: "LRN",
      opset: 13,
      inputs: [op("x", f32([2, 5, 2, 3], wave(60)))],
      attrs: { size, alpha: 0.01, beta: 0.6, bias: 2.5 },
      outputs: 1,
    });
  }
});

Deno.test("MeanVarianceNormalization over the default axes", async () => {
  const x = f32([1, 1, 1, 4], [1, 2, 3, 4]);
  const sd = Math.sqrt(1.25);
  close(runLathe({ op: "MeanVarianceNormalization", inputs: [op("x", x)], outputs: 1 })[0], [1, 1, 1, 4], [
    -1.5 / sd,
    -0.5 / sd,
    0.5 / sd,
    1.5 / sd,
  ]);
  await agreesWithOrt({
    op: "MeanVarianceNormalization",
    opset: 13,
    inputs: [op("x", f32([2, 3, 2, 2], wave(24)))],
    attrs: { axes: [1, 3] },
    outputs: 1,
  });
});

Deno.test("LpNormalization with p = 1 and 2, and a zero vector", async () => {
  const x = f32([2, 2], [3, 4, 0, 0]);
  close(runLathe({ op: "LpNormalization", inputs: [op("x", x)], outputs: 1 })[0], [2, 2], [0.6, 0.8, 0, 0]);
  close(runLathe({ op: "LpNormalization", inputs: [op("x", x)], attrs: { p: 1 }, outputs: 1 })[0], [2, 2], [
    3 / 7,
    4 / 7,
    0,
    0,
  ]);
  await agreesWithOrt({ op: "LpNormalization", opset: 13, inputs: [op("x", x)], outputs: 1 });
  await agreesWithOrt({
    op: "LpNormalization",
    opset: 13,
    inputs: [op("x", f32([3, 4, 2], wave(24)))],
    attrs: { axis: 1, p: 1 },
    outputs: 1,
  });
  assert.throws(
    () => runLathe({ op: "LpNormalization", inputs: [op("x", x)], attrs: { p: 3 }, outputs: 1 }),
    LatheError,
  );
});
