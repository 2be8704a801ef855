/**
 * A small seeded model holding at least one op every mutation kind targets (BatchNormalization, LeakyRelu,
 * MaxPool, Resize, Max with a constant, Relu, Softmax), so each kind can be exercised where the corpus
 * models (mobilenet_v2 has none of these) give it nothing to act on.
 */
import { GraphBuilder, modelOf, numbersConstant } from "../../ir/builder.ts";
import type { Model } from "../../ir/graph.ts";
import { Rng } from "../../runtime/random.ts";

export function mutationTargetsModel(seed = 5): Model {
  const rng = new Rng(seed);
  const b = new GraphBuilder("mutation-targets");
  const w = (name: string, shape: number[], fanIn: number) => {
    const n = shape.reduce((p, d) => p * d, 1);
    const s = Math.sqrt(2 / fanIn);
    return b.constant(name, numbersConstant("f32", shape, Array.from({ length: n }, () => rng.normal() * s)));
  };
  const vec = (name: string, n: number, lo: number, hi: number) =>
    b.constant(name, numbersConstant("f32", [n], Array.from({ length: n }, () => rng.uniform(lo, hi))));
  const x = b.input("image", "f32", [1, 3, 16, 16]);
  const c1 = b.op1("Conv", [x, w("conv1.w", [8, 3, 3, 3], 27), vec("conv1.b", 8, -0.1, 0.1)], {
    pads: [1, 1, 1, 1],
  }, "c1");
  // Means stay positive so that reading them as variances is defined (the swap the parameters kind makes).
  const n1 = b.op1(
    "BatchNormalization",
    [
      c1,
      vec("bn1.g", 8, 0.5, 1.5),
      vec("bn1.b", 8, -0.2, 0.2),
      vec("bn1.m", 8, 0.05, 0.3),
      vec("bn1.v", 8, 0.05, 0.2),
    ],
    { epsilon: 1e-5 },
    "n1",
  );
  const l1 = b.op1("LeakyRelu", [n1], { alpha: 0.1 }, "l1");
  const p1 = b.op1("MaxPool", [l1], { kernel_shape: [2, 2], strides: [2, 2] }, "p1");
  const scales = b.constant("up.scales", numbersConstant("f32", [4], [1, 1, 2, 2]));
  const up = b.op1("Resize", [p1, null, scales], {
    mode: "nearest",
    coordinate_transformation_mode: "asymmetric",
    nearest_mode: "floor",
  }, "up");
  const c2 = b.op1("Conv", [up, w("conv2.w", [12, 8, 3, 3], 72), vec("conv2.b", 12, -0.1, 0.1)], {
    pads: [1, 1, 1, 1],
  }, "c2");
  const r2 = b.op1("Relu", [c2], {}, "r2");
  const floor = b.constant("floor", numbersConstant("f32", [], [0.05]));
  const m2 = b.op1("Max", [r2, floor], {}, "m2");
  const gap = b.op1("GlobalAveragePool", [m2], {}, "gap");
  const flat = b.op1("Flatten", [gap], { axis: 1 }, "flat");
  const fc = b.op1(
    "Gemm",
    [flat, w("fc.w", [10, 12], 12), vec("fc.b", 10, -0.3, 0.3)],
    { transB: 1 },
    "logits",
  );
  const prob = b.op1("Softmax", [fc], { axis: -1 }, "prob");
  const g = b.build([prob]);
  // Ids that read like an exported model's node names.
  return modelOf({
    ...g,
    nodes: g.nodes.map((n) => ({
      ...n,
      id: `${n.op.toLowerCase()}_${n.outputs[0]}`,
      name: `${n.op.toLowerCase()}_${n.outputs[0]}`,
    })),
  });
}
