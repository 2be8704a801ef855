/**
 * The ONNX importer: weights are views into the file, old opset forms are upgraded to the IR's (checked
 * against onnxruntime running the original old-opset model), and malformed models get Lathe's error.
 */
import assert from "node:assert/strict";
import { importOnnx, importOnnxFile } from "../compiler/onnx/import.ts";
import {
  type AttributeProto,
  AttributeType as AT,
  encodeModel,
  type NodeProto,
} from "../compiler/onnx/proto.ts";
import { LatheError } from "../ir/errors.ts";
import { assertValid } from "../ir/verify.ts";
import { compareTensors } from "../runtime/compare.ts";
import { interpret } from "../runtime/interpreter.ts";
import { Rng } from "../runtime/random.ts";
import { Tensor } from "../runtime/tensor.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { ortSession, runOrt } from "./reference/onnxruntime.ts";

type A = Partial<AttributeProto> & { name: string };
const ints = (name: string, v: number[]): A => ({ name, type: AT.INTS, ints: v });
const int = (name: string, v: number): A => ({ name, type: AT.INT, i: v });
const float = (name: string, v: number): A => ({ name, type: AT.FLOAT, f: v });
const str = (name: string, v: string): A => ({ name, type: AT.STRING, s: new TextEncoder().encode(v) });

function vi(name: string, shape: number[], elemType = 1) {
  return { name, type: { tensorType: { elemType, shape: { dim: shape.map((d) => ({ dimValue: d })) } } } };
}

/** A one-node model at an old opset, encoded with Lathe's wire layer (onnxruntime is the judge). */
function oldModel(
  opset: number,
  op: string,
  attrs: A[],
  inShapes: number[][],
  outCount = 1,
  extraInputs: { name: string; dims: number[]; f32: number[] }[] = [],
): Uint8Array {
  const inputs = inShapes.map((s, i) => vi(`x${i}`, s));
  const node = {
    input: [...inputs.map((v) => v.name), ...extraInputs.map((e) => e.name)],
    output: Array.from({ length: outCount }, (_, i) => `y${i}`),
    opType: op,
    attribute: attrs,
  } as unknown as NodeProto;
  return encodeModel({
    irVersion: opset >= 13 ? 7 : opset >= 11 ? 6 : 5,
    opsetImport: [{ domain: "", version: opset }],
    graph: {
      name: "g",
      node: [node],
      input: inputs,
      output: Array.from({ length: outCount }, (_, i) => ({ name: `y${i}` })),
      initializer: extraInputs.map((e) => ({
        name: e.name,
        dims: e.dims,
        dataType: 1,
        floatData: new Float32Array(e.f32),
      })),
    },
  } as any);
}

function seeded(shape: number[], seed: number): Tensor {
  const rng = new Rng(seed);
  return new Tensor(
    "f32",
    shape,
    Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => rng.uniform(-2, 2)),
  );
}

const UPGRADES: [
  string,
  number,
  string,
  A[],
  number[][],
  number?,
  { name: string; dims: number[]; f32: number[] }[]?,
][] = [
  ["Clip-10 min/max attributes", 10, "Clip", [float("min", -0.5), float("max", 0.75)], [[3, 4]]],
  ["Pad-10 pads attribute, reflect", 10, "Pad", [ints("pads", [0, 1, 0, 2]), str("mode", "reflect")], [[
    3,
    4,
  ]]],
  ["Pad-10 constant value", 10, "Pad", [ints("pads", [1, 0, 2, 1]), float("value", 1.5)], [[3, 4]]],
  ["Slice-9 attributes", 9, "Slice", [
    ints("starts", [1, 0]),
    ints("ends", [3, 1000000]),
    ints("axes", [0, 1]),
  ], [[4, 5]]],
  ["Squeeze-11 axes attribute", 11, "Squeeze", [ints("axes", [1])], [[3, 1, 4]]],
  ["Unsqueeze-11 axes attribute", 11, "Unsqueeze", [ints("axes", [0, -1])], [[3, 4]]],
  ["Split-11 split attribute", 11, "Split", [int("axis", 1), ints("split", [1, 3])], [[2, 4]], 2],
  ["Split-11 equal parts", 11, "Split", [int("axis", 0)], [[4, 3]], 2],
  ["ReduceMean-11 axes attribute", 11, "ReduceMean", [ints("axes", [1]), int("keepdims", 0)], [[3, 4, 5]]],
  ["ReduceSum-11 axes attribute", 11, "ReduceSum", [ints("axes", [0, 2])], [[3, 4, 5]]],
  ["ReduceMax-17 axes attribute", 17, "ReduceMax", [ints("axes", [-1])], [[3, 4, 5]]],
  ["Softmax-11 coerces to 2-D at axis 1", 11, "Softmax", [int("axis", 1)], [[2, 3, 4]]],
  ["LogSoftmax-11 default axis", 11, "LogSoftmax", [], [[2, 3, 4]]],
  ["TopK-9 k attribute", 9, "TopK", [int("k", 2)], [[3, 5]], 2],
  ["Dropout-10 ratio attribute (inference)", 10, "Dropout", [float("ratio", 0.3)], [[3, 4]]],
  ["Upsample-9 nearest", 9, "Upsample", [str("mode", "nearest")], [[1, 1, 2, 3]], 1, [{
    name: "scales",
    dims: [4],
    f32: [1, 1, 2, 3],
  }]],
];

for (const [name, opset, op, attrs, shapes, outs = 1, extra = []] of UPGRADES) {
  Deno.test({
    name: `upgrade: ${name} computes what onnxruntime computes on the original`,
    sanitizeResources: false,
    fn: async () => {
      const bytes = oldModel(opset, op, attrs, shapes, outs, extra);
      const model = importOnnx(bytes, { file: `${op}-${opset}.onnx` });
      assertValid(model.graph);
      const inputs = Object.fromEntries(shapes.map((s, i) => [`x${i}`, seeded(s, 3 + i)]));
      const ours = interpret(model.graph, inputs, { check: true }).outputs;
      const ref = await runOrt(await ortSession(bytes), inputs);
      for (let i = 0; i < outs; i++) {
        const r = compareTensors(ours[`y${i}`] as Tensor, ref[`y${i}`], 1e-6, 1e-6);
        assert.ok(r.ok, `${name} output ${i}: ${r.message}`);
      }
    },
  });
}

Deno.test({
  name: "initializers are views into the file's bytes (no copy at import)",
  ignore: noCorpus(),
  fn: () => {
    const bytes = Deno.readFileSync(corpusPath("onnx/torch/mobilenet_v2.onnx"));
    const g = importOnnx(bytes).graph;
    const consts = Object.values(g.constants).filter((c) => c.bytes && c.bytes.length > 1024);
    assert.ok(consts.length > 50);
    for (const c of consts) assert.equal(c.bytes!.buffer, bytes.buffer);
  },
});

Deno.test({
  name: "If subgraphs import with outer-scope captures (silero-vad)",
  ignore: noCorpus(),
  fn: async () => {
    const g = (await importOnnxFile(corpusPath("onnx/silero-vad/silero_vad_v5.onnx"))).graph;
    const ifs = g.nodes.filter((n) => n.op === "If");
    assert.ok(ifs.length >= 1);
    assert.equal(ifs[0].attrs.then_branch.type, "graph");
    assertValid(g);
  },
});

Deno.test("malformed models get Lathe's error naming the file and the field", () => {
  const good = oldModel(13, "Relu", [], [[2, 2]]);
  const cases: [string, Uint8Array, RegExp][] = [
    ["truncated", good.subarray(0, good.length - 5), /bad\.onnx/],
    [
      "IR version 2",
      encodeModel({ irVersion: 2, opsetImport: [{ domain: "", version: 13 }], graph: { name: "g" } } as any),
      /IR version 2/,
    ],
    [
      "legacy broadcast",
      encodeModel({
        irVersion: 3,
        opsetImport: [{ domain: "", version: 6 }],
        graph: {
          name: "g",
          input: [vi("a", [2, 3]), vi("b", [2])],
          node: [{
            input: ["a", "b"],
            output: ["y"],
            opType: "Add",
            attribute: [int("broadcast", 1), int("axis", 0)],
          }],
          output: [{ name: "y" }],
        },
      } as any),
      /legacy broadcast with axis/,
    ],
    [
      "undefined input",
      encodeModel({
        irVersion: 7,
        opsetImport: [{ domain: "", version: 13 }],
        graph: {
          name: "g",
          node: [{ input: ["nope"], output: ["y"], opType: "Relu" }],
          output: [{ name: "y" }],
        },
      } as any),
      /nope is used before it is defined/,
    ],
    [
      "2^40 elements in a tiny file",
      encodeModel({
        irVersion: 7,
        opsetImport: [{ domain: "", version: 13 }],
        graph: {
          name: "g",
          initializer: [{ name: "w", dims: [1 << 20, 1 << 20], dataType: 1, rawData: new Uint8Array(16) }],
        },
      } as any),
      /raw_data has 16 bytes/,
    ],
  ];
  for (const [what, bytes, re] of cases) {
    assert.throws(() => importOnnx(bytes, { file: "bad.onnx" }), (e: unknown) => {
      assert.ok(e instanceof LatheError, `${what}: ${e}`);
      assert.match(e.message, re, what);
      assert.match(e.message, /bad\.onnx/, what);
      return true;
    });
  }
});
