/**
 * A small seeded CNN with batch normalization and faulty copies of it, each made with one edit of the IR
 * (immer `produce`): the localization tests know exactly which node each fault sits in.
 */
import { produce } from "immer";
import type { Attr } from "../../ir/attr.ts";
import { GraphBuilder, numbersConstant } from "../../ir/builder.ts";
import type { Constant } from "../../ir/constant.ts";
import type { Graph, Node, ValueInfo } from "../../ir/graph.ts";
import { inferGraph } from "../../ir/infer.ts";
import { Rng } from "../../runtime/random.ts";
import { fromConstant } from "../../runtime/tensor.ts";

/** conv1 → bn1 → relu1 → pool1 → conv2 → bn2 → relu2 → conv3 → relu3 → gap → flat → fc → prob. */
export function smallCnn(seed = 11): Graph {
  const rng = new Rng(seed);
  const b = new GraphBuilder("small-cnn");
  const w = (name: string, shape: number[], fanIn: number) => {
    const n = shape.reduce((p, d) => p * d, 1);
    const s = Math.sqrt(2 / fanIn);
    return b.constant(name, numbersConstant("f32", shape, Array.from({ length: n }, () => rng.normal() * s)));
  };
  const vec = (name: string, n: number, lo: number, hi: number) =>
    b.constant(name, numbersConstant("f32", [n], Array.from({ length: n }, () => rng.uniform(lo, hi))));
  const x = b.input("image", "f32", [1, 3, 16, 16]);
  const c1 =
    b.op("Conv", [x, w("conv1.w", [8, 3, 3, 3], 27), vec("conv1.b", 8, -0.1, 0.1)], { pads: [1, 1, 1, 1] }, [
      "c1",
    ], "conv1")[0];
  const n1 = b.op(
    "BatchNormalization",
    [
      c1,
      vec("bn1.g", 8, 0.5, 1.5),
      vec("bn1.b", 8, -0.2, 0.2),
      vec("bn1.m", 8, -0.1, 0.1),
      vec("bn1.v", 8, 0.05, 0.2),
    ],
    { epsilon: 1e-5 },
    ["n1"],
    "bn1",
  )[0];
  const r1 = b.op("Relu", [n1], {}, ["r1"], "relu1")[0];
  const p1 = b.op("MaxPool", [r1], { kernel_shape: [2, 2], strides: [2, 2] }, ["p1"], "pool1")[0];
  const c2 = b.op(
    "Conv",
    [p1, w("conv2.w", [12, 8, 3, 3], 72), vec("conv2.b", 12, -0.1, 0.1)],
    { pads: [1, 1, 1, 1] },
    ["c2"],
    "conv2",
  )[0];
  const n2 = b.op(
    "BatchNormalization",
    [
      c2,
      vec("bn2.g", 12, 0.5, 1.5),
      vec("bn2.b", 12, -0.2, 0.2),
      vec("bn2.m", 12, -0.1, 0.1),
      vec("bn2.v", 12, 0.05, 0.2),
    ],
    { epsilon: 1e-5 },
    ["n2"],
    "bn2",
  )[0];
  const r2 = b.op("Relu", [n2], {}, ["r2"], "relu2")[0];
  const c3 = b.op(
    "Conv",
    [r2, w("conv3.w", [16, 12, 3, 3], 108), vec("conv3.b", 16, -0.1, 0.1)],
    { pads: [1, 1, 1, 1] },
    ["c3"],
    "conv3",
  )[0];
  const r3 = b.op("Relu", [c3], {}, ["r3"], "relu3")[0];
  const gap = b.op("GlobalAveragePool", [r3], {}, ["gap"], "gap")[0];
  const flat = b.op("Flatten", [gap], { axis: 1 }, ["flat"], "flat")[0];
  const fc = b.op(
    "Gemm",
    [flat, w("fc.w", [10, 16], 16), vec("fc.b", 10, -0.1, 0.1)],
    { transB: 1 },
    ["logits"],
    "fc",
  )[0];
  const prob = b.op("Softmax", [fc], { axis: -1 }, ["prob"], "softmax")[0];
  return b.build([prob]);
}

function nodeIndex(g: Graph, id: string): number {
  const i = g.nodes.findIndex((n) => n.id === id);
  if (i < 0) throw new Error(`no node ${id}`);
  return i;
}

/** The graph with the first eighth of the weights of `conv` (in storage order) scaled by 1.5. */
export function changeWeights(g: Graph, conv: string): Graph {
  const n = g.nodes[nodeIndex(g, conv)];
  const name = n.inputs[1]!;
  const c = g.constants[name];
  const data = Float32Array.from(fromConstant(c).data as Float32Array);
  for (let i = 0; i < Math.ceil(data.length / 8); i++) data[i] *= 1.5;
  return produce(g, (d) => {
    (d.constants as Record<string, Constant>)[name] = {
      dtype: "f32",
      shape: c.shape,
      bytes: new Uint8Array(data.buffer),
    };
  });
}

export function setAttr(g: Graph, id: string, attr: string, value: Attr): Graph {
  return produce(g, (d) => {
    (d.nodes[nodeIndex(g, id)].attrs as Record<string, unknown>)[attr] = value;
  });
}

export function swapOp(g: Graph, id: string, op: string): Graph {
  return produce(g, (d) => {
    d.nodes[nodeIndex(g, id)].op = op;
  });
}

/** Removes a single-input node and wires its users to its input. */
export function dropNode(g: Graph, id: string): Graph {
  const n = g.nodes[nodeIndex(g, id)];
  const from = n.inputs[0]!, to = n.outputs[0];
  return produce(g, (d) => {
    d.nodes.splice(nodeIndex(g, id), 1);
    for (const u of d.nodes) u.inputs = u.inputs.map((i) => (i === to ? from : i));
    d.outputs = d.outputs.map((o) => (o === to ? from : o));
    delete d.values[to];
  });
}

/** The model reverses the channel order of its input before the first layer (a BGR model fed RGB). */
export function flipInputChannels(g: Graph): Graph {
  const input = g.inputs[0];
  const idx = numbersConstant("i64", [3], [2, 1, 0]);
  const flipped = produce(g, (d) => {
    (d.constants as Record<string, Constant>)["flip.indices"] = idx;
    (d.values as Record<string, ValueInfo>)["flip.indices"] = {
      type: { kind: "tensor", dtype: "i64", shape: [3] },
    };
    for (const u of d.nodes) u.inputs = u.inputs.map((i) => (i === input ? "image.bgr" : i));
    const gather: Node = {
      id: "flip",
      op: "Gather",
      inputs: [input, "flip.indices"],
      outputs: ["image.bgr"],
      attrs: { axis: { type: "int", value: 1 } },
    };
    (d.nodes as Node[]).unshift(gather);
  });
  return inferGraph(flipped);
}

/** The conv reads its weights stored as fp16 through a Cast (as a converter's fp16 weights do). */
export function fp16Weights(g: Graph, conv: string): Graph {
  const n = g.nodes[nodeIndex(g, conv)];
  const name = n.inputs[1]!;
  const c = g.constants[name];
  const f = fromConstant(c).data as Float32Array;
  const half = numbersConstant("f16", c.shape, f);
  const out = produce(g, (d) => {
    (d.constants as Record<string, Constant>)[`${name}.f16`] = half;
    (d.values as Record<string, ValueInfo>)[`${name}.f16`] = {
      type: { kind: "tensor", dtype: "f16", shape: [...c.shape] },
    };
    const i = nodeIndex(g, conv);
    d.nodes[i].inputs[1] = `${name}.f32`;
    const cast: Node = {
      id: `${conv}.cast`,
      op: "Cast",
      inputs: [`${name}.f16`],
      outputs: [`${name}.f32`],
      attrs: { to: { type: "int", value: 1 } },
    };
    (d.nodes as Node[]).splice(i, 0, cast);
  });
  return inferGraph(out);
}

/** Moves node `id` (single data input and output) to just after node `after`, which reads its output. */
export function moveAfter(g: Graph, id: string, after: string): Graph {
  const a = g.nodes[nodeIndex(g, id)], b = g.nodes[nodeIndex(g, after)];
  const x = a.inputs[0]!, ya = a.outputs[0], yb = b.outputs[0];
  if (b.inputs[0] !== ya) throw new Error(`${after} does not read ${id}`);
  // x → a → b → users  becomes  x → b → a → users (value names stay with their nodes).
  const out = produce(g, (d) => {
    const ia = nodeIndex(g, id), ib = nodeIndex(g, after);
    for (const u of d.nodes) if (u.id !== after) u.inputs = u.inputs.map((i) => (i === yb ? ya : i));
    d.outputs = d.outputs.map((o) => (o === yb ? ya : o));
    d.nodes[ib].inputs[0] = x;
    d.nodes[ia].inputs[0] = yb;
    const [na, nb] = [d.nodes[ia], d.nodes[ib]];
    d.nodes[ia] = nb;
    d.nodes[ib] = na;
  });
  return inferGraph(out);
}
