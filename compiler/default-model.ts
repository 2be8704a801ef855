/**
 * The embedded default model: a small CNN with seeded weights, built in code so the README's main command
 * needs no download. Input f32[1,3,32,32]; two conv+relu stages, pooling, a classifier with 10 classes.
 */
import { GraphBuilder, modelOf, numbersConstant } from "../ir/builder.ts";
import type { Model } from "../ir/graph.ts";
import { Rng } from "../runtime/random.ts";

export const DEFAULT_MODEL_NAME = "lathe-default-cnn";

export function defaultModel(seed = 7): Model {
  const rng = new Rng(seed);
  const b = new GraphBuilder(DEFAULT_MODEL_NAME);
  // He-style scaling keeps activations at a healthy size through the layers.
  const weights = (name: string, shape: number[], fanIn: number) => {
    const n = shape.reduce((p, d) => p * d, 1);
    const s = Math.sqrt(2 / fanIn);
    return b.constant(name, numbersConstant("f32", shape, Array.from({ length: n }, () => rng.normal() * s)));
  };
  const bias = (name: string, n: number) =>
    b.constant(name, numbersConstant("f32", [n], Array.from({ length: n }, () => rng.uniform(-0.1, 0.1))));
  const x = b.input("image", "f32", [1, 3, 32, 32]);
  const c1 = b.op1("Conv", [x, weights("conv1.weight", [8, 3, 3, 3], 27), bias("conv1.bias", 8)], {
    pads: [1, 1, 1, 1],
    strides: [1, 1],
  }, "conv1");
  const r1 = b.op1("Relu", [c1], {}, "relu1");
  const p1 = b.op1("MaxPool", [r1], { kernel_shape: [2, 2], strides: [2, 2] }, "pool1");
  const c2 = b.op1("Conv", [p1, weights("conv2.weight", [16, 8, 3, 3], 72), bias("conv2.bias", 16)], {
    pads: [1, 1, 1, 1],
  }, "conv2");
  const r2 = b.op1("Relu", [c2], {}, "relu2");
  const gap = b.op1("GlobalAveragePool", [r2], {}, "gap");
  const flat = b.op1("Flatten", [gap], { axis: 1 }, "flat");
  const fc = b.op1(
    "Gemm",
    [flat, weights("fc.weight", [10, 16], 16), bias("fc.bias", 10)],
    { transB: 1 },
    "logits",
  );
  const prob = b.op1("Softmax", [fc], { axis: -1 }, "prob");
  return modelOf(b.build([prob]));
}
