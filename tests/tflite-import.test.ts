/**
 * TFLite ↔ IR mapping: hand-written models (built as plain TfliteModel objects, serialized by the writer)
 * checked field by field against what the schema says they mean; sparse constants densified by hand and by
 * LiteRT; WHILE subgraphs as graph attributes run against LiteRT; export back to the same file contents;
 * and files whose flatbuffer is sound but whose graph is not, each refused with a LatheError.
 */
import assert from "node:assert/strict";
import "../compiler/formats.ts";
import { formatOf, importModelBytes } from "../compiler/load-model.ts";
import { exportTflite } from "../compiler/tflite/export.ts";
import { importTflite, type TfliteExtra } from "../compiler/tflite/import.ts";
import type {
  Operator,
  Options,
  Quantization,
  Sparsity,
  Tensor as TfTensor,
  TfliteModel,
} from "../compiler/tflite/model.ts";
import { attrNameOf, optionTableOf } from "../compiler/tflite/op-options.ts";
import { readTflite } from "../compiler/tflite/reader.ts";
import { SPARSITY_ATTRS } from "../compiler/tflite/sparsity.ts";
import { BUILTIN_CODE, type TensorTypeName } from "../compiler/tflite/schema.ts";
import { writeTflite } from "../compiler/tflite/writer.ts";
import { constantBytes } from "../ir/constant.ts";
import { graphsEqual } from "../ir/equal.ts";
import { LatheError } from "../ir/errors.ts";
import { getOp, registeredOps } from "../ir/op-registry.ts";
import { assertValid } from "../ir/verify.ts";
import { interpret } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { liteRtLoadMessage, loadLiteRt, runLiteRt } from "./reference/litert.ts";

// ---- building models by hand ------------------------------------------------------------------------

interface TensorInit {
  shape: number[];
  type?: TensorTypeName;
  signature?: number[];
  data?: Uint8Array;
  quant?: Partial<Quantization>;
  sparsity?: Sparsity;
}

class ModelBuilder {
  readonly m: TfliteModel = {
    version: 3,
    operatorCodes: [],
    subgraphs: [],
    description: "",
    buffers: [{ data: new Uint8Array(0), offset: 0, size: 0 }],
    metadataBuffer: [],
    metadata: [],
    signatureDefs: [],
    externalBufferGroups: [],
    externalBuffers: [],
  };

  subgraph(name = "main"): number {
    this.m.subgraphs.push({
      tensors: [],
      inputs: [],
      outputs: [],
      operators: [],
      name,
      debugMetadataIndex: -1,
    });
    return this.m.subgraphs.length - 1;
  }

  buffer(data: Uint8Array): number {
    this.m.buffers.push({ data, offset: 0, size: 0 });
    return this.m.buffers.length - 1;
  }

  tensor(sg: number, name: string, t: TensorInit): number {
    const q: Quantization | null = t.quant
      ? {
        min: new Float32Array(0),
        max: new Float32Array(0),
        scale: new Float32Array(0),
        zeroPoint: [],
        detailsType: 0,
        details: null,
        quantizedDimension: 0,
        ...t.quant,
      }
      : null;
    const tensor: TfTensor = {
      shape: t.shape,
      shapeSignature: t.signature ?? null,
      type: t.type ?? "FLOAT32",
      buffer: t.data ? this.buffer(t.data) : 0,
      name,
      quantization: q,
      isVariable: false,
      sparsity: t.sparsity ?? null,
      hasRank: false,
      variantTensors: [],
      externalBuffer: 0,
    };
    const list = this.m.subgraphs[sg].tensors;
    list.push(tensor);
    return list.length - 1;
  }

  opcode(name: string, version = 1, custom: string | null = null): number {
    const builtinCode = custom === null ? BUILTIN_CODE[name] : 32;
    let i = this.m.operatorCodes.findIndex((c) =>
      c.builtinCode === builtinCode && c.customCode === custom && c.version === version
    );
    if (i < 0) {
      this.m.operatorCodes.push({ builtinCode, customCode: custom, version });
      i = this.m.operatorCodes.length - 1;
    }
    return i;
  }

  op(
    sg: number,
    name: string,
    inputs: number[],
    outputs: number[],
    options: Options | null = null,
    extra: Partial<Operator> & { version?: number; custom?: string } = {},
  ): Operator {
    const table = optionTableOf(name);
    const { version, custom, ...rest } = extra;
    const op: Operator = {
      opcodeIndex: this.opcode(name, version, custom ?? null),
      inputs,
      outputs,
      builtinOptionsType: options && table ? table.tag : 0,
      builtinOptions: options,
      customOptions: null,
      customOptionsFormat: 0,
      mutatingVariableInputs: [],
      intermediates: [],
      builtinOptions2Type: 0,
      builtinOptions2: null,
      debugMetadataIndex: -1,
      ...rest,
    };
    this.m.subgraphs[sg].operators.push(op);
    return op;
  }

  bytes(): Uint8Array {
    return writeTflite(this.m);
  }
}

const f32Bytes = (v: number[]) => new Uint8Array(Float32Array.from(v).buffer);
const i32Bytes = (v: number[]) => new Uint8Array(Int32Array.from(v).buffer);

function expectLatheError(fn: () => unknown, ...fragments: string[]): LatheError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof LatheError)) throw new Error(`expected a LatheError, got ${e}`, { cause: e });
    for (const f of fragments) assert.ok(e.message.includes(f), `"${e.message}" should mention "${f}"`);
    return e;
  }
  throw new Error(`expected a LatheError mentioning ${fragments.join(", ")}`);
}

const liteRt = await loadLiteRt();
if (!liteRt) console.log(`tflite-import: LiteRT tests skipped: ${liteRtLoadMessage()}`);

// ---- a quantized conv with a custom op after it ---------------------------------------------------------

function quantModel(): ModelBuilder {
  const b = new ModelBuilder();
  const sg = b.subgraph();
  const x = b.tensor(sg, "x", {
    shape: [1, 4, 4, 3],
    signature: [-1, 4, 4, 3],
    type: "UINT8",
    quant: { scale: Float32Array.of(0.5), zeroPoint: [128] },
  });
  const w = b.tensor(sg, "w", {
    shape: [2, 1, 1, 3],
    type: "INT8",
    data: Uint8Array.of(1, 2, 3, 255, 254, 253),
    quant: { scale: Float32Array.of(0.1, 0.2), zeroPoint: [0, 0], quantizedDimension: 0 },
  });
  const bias = b.tensor(sg, "b", {
    shape: [2],
    type: "INT32",
    data: i32Bytes([7, -7]),
    quant: { scale: Float32Array.of(0.05, 0.1), zeroPoint: [0, 0] },
  });
  // A second tensor also named "x": the value name must be made unique.
  const c = b.tensor(sg, "x", {
    shape: [1, 4, 4, 2],
    signature: [-1, 4, 4, 2],
    type: "UINT8",
    quant: {
      scale: Float32Array.of(0.25),
      zeroPoint: [3],
      min: Float32Array.of(-0.75),
      max: Float32Array.of(63),
    },
  });
  const y = b.tensor(sg, "y", {
    shape: [1, 4, 4, 2],
    type: "UINT8",
    quant: { scale: Float32Array.of(0.25), zeroPoint: [3] },
  });
  b.m.subgraphs[sg].inputs = [x];
  b.m.subgraphs[sg].outputs = [y];
  b.op(sg, "CONV_2D", [x, w, bias], [c], {
    padding: "VALID",
    stride_w: 1,
    stride_h: 1,
    fused_activation_function: "RELU6",
    dilation_w_factor: 1,
    dilation_h_factor: 1,
    quantized_bias_type: "FLOAT32",
  }, { version: 3 });
  b.op(sg, "CUSTOM", [c], [y], null, { custom: "MyOp", customOptions: Uint8Array.of(1, 2, 3, 250) });
  b.m.description = "hand written";
  b.m.metadata = [{ name: "min_runtime_version", buffer: b.buffer(new TextEncoder().encode("1.5.0\0\0\0")) }];
  b.m.signatureDefs = [{
    signatureKey: "serving_default",
    subgraphIndex: 0,
    inputs: [{ name: "image", tensorIndex: x }],
    outputs: [{ name: "scores", tensorIndex: y }],
  }];
  return b;
}

Deno.test("import: types, quantization, names, symbolic dims, option attributes, custom ops", () => {
  const bytes = quantModel().bytes();
  const model = importTflite(bytes, { file: "quant.tflite" });
  const g = model.graph;
  assertValid(g);
  assert.equal(model.meta.format, "tflite");
  assert.deepEqual(g.inputs, ["x"]);
  assert.deepEqual(g.outputs, ["y"]);
  assert.deepEqual(g.values.x.type, {
    kind: "tensor",
    dtype: { kind: "affine", storage: "u8", scale: [0.5], zeroPoint: [128] },
    shape: ["in0_0", 4, 4, 3],
  });
  const w = g.constants.w;
  assert.deepEqual(w.dtype, {
    kind: "affine",
    storage: "i8",
    scale: [Math.fround(0.1), Math.fround(0.2)],
    zeroPoint: [0, 0],
    axis: 0,
  });
  // Zero-copy: the constant views the file's bytes.
  assert.equal(constantBytes(w).buffer, bytes.buffer);
  assert.deepEqual(Array.from(new Int8Array(constantBytes(w).slice().buffer)), [1, 2, 3, -1, -2, -3]);
  const [conv, custom] = g.nodes;
  assert.equal(conv.op, "tfl.CONV_2D");
  assert.deepEqual(conv.inputs, ["x", "w", "b"]);
  assert.deepEqual(conv.outputs, ["x_1"]);
  assert.deepEqual(conv.attrs.padding, { type: "string", value: "VALID" });
  assert.deepEqual(conv.attrs.fused_activation_function, { type: "string", value: "RELU6" });
  assert.deepEqual(conv.attrs.stride_h, { type: "int", value: 1 });
  assert.deepEqual(conv.attrs._version, { type: "int", value: 3 });
  // The conv's output keeps the file's quantization; its min/max travel in the extras.
  const t = g.values.x_1.type;
  assert.ok(
    t.kind === "tensor" && typeof t.dtype === "object" && t.dtype.kind === "affine" &&
      t.dtype.zeroPoint[0] === 3,
  );
  const extra = model.meta.extra!.tflite as TfliteExtra;
  assert.deepEqual(Array.from(extra.quantization[0].x_1.max), [63]);
  assert.equal(custom.op, "tfl.CUSTOM");
  assert.deepEqual(custom.attrs.custom_code, { type: "string", value: "MyOp" });
  const opts = custom.attrs.custom_options;
  assert.ok(opts.type === "tensor");
  assert.deepEqual(Array.from(constantBytes(opts.value)), [1, 2, 3, 250]);
  assert.deepEqual(extra.signatureDefs, [{
    signatureKey: "serving_default",
    subgraph: 0,
    inputs: [{ name: "image", value: "x" }],
    outputs: [{ name: "scores", value: "y" }],
  }]);
});

Deno.test("export writes back the file's contents: ops, versions, options, quantization, custom bytes, metadata", () => {
  const b = quantModel();
  const model = importTflite(b.bytes());
  const out = readTflite(exportTflite(model));
  const orig = b.m;
  assert.equal(out.description, "hand written");
  assert.deepEqual(out.metadata.map((m) => [m.name, new TextDecoder().decode(out.buffers[m.buffer].data)]), [[
    "min_runtime_version",
    "1.5.0\0\0\0",
  ]]);
  const g = out.subgraphs[0];
  const names = (list: number[]) => list.map((i) => g.tensors[i].name);
  assert.deepEqual(names(g.inputs), ["x"]);
  assert.deepEqual(names(g.outputs), ["y"]);
  assert.deepEqual(out.signatureDefs[0].inputs.map((s) => [s.name, g.tensors[s.tensorIndex].name]), [[
    "image",
    "x",
  ]]);
  const byName = new Map(g.tensors.map((t) => [t.name, t]));
  for (const t of orig.subgraphs[0].tensors) {
    const name = t.name === "x" && t.shape[3] === 2 ? "x_1" : t.name;
    const e = byName.get(name)!;
    assert.deepEqual(e.shape, t.shape, name);
    assert.deepEqual(e.shapeSignature, t.shapeSignature, name);
    assert.equal(e.type, t.type, name);
    assert.deepEqual(Array.from(e.quantization!.scale), Array.from(t.quantization!.scale), name);
    assert.deepEqual(e.quantization!.zeroPoint, t.quantization!.zeroPoint, name);
    assert.deepEqual(Array.from(e.quantization!.min), Array.from(t.quantization!.min), name);
    if (t.buffer) {
      assert.deepEqual(Array.from(out.buffers[e.buffer].data), Array.from(orig.buffers[t.buffer].data), name);
    }
  }
  const [conv, custom] = g.operators;
  assert.deepEqual(out.operatorCodes[conv.opcodeIndex], { builtinCode: 3, customCode: null, version: 3 });
  assert.deepEqual(conv.builtinOptions, orig.subgraphs[0].operators[0].builtinOptions);
  assert.deepEqual(out.operatorCodes[custom.opcodeIndex], {
    builtinCode: 32,
    customCode: "MyOp",
    version: 1,
  });
  assert.deepEqual(Array.from(custom.customOptions!), [1, 2, 3, 250]);
  const again = importTflite(exportTflite(model));
  const eq = graphsEqual(again.graph, model.graph, { namedUnknowns: true });
  assert.ok(eq.equal, eq.diff);
});

// ---- sparse constants ------------------------------------------------------------------------------

/** [3, 4] with CSR rows: row 0 has columns 1 and 3, row 1 nothing, row 2 column 0. */
const CSR: { shape: number[]; sparsity: Sparsity; values: number[]; dense: number[] } = {
  shape: [3, 4],
  sparsity: {
    traversalOrder: [0, 1],
    blockMap: [],
    dimMetadata: [
      { format: 0, denseSize: 3, arraySegments: null, arrayIndices: null },
      {
        format: 1,
        denseSize: 0,
        arraySegments: { type: "int32", values: Int32Array.of(0, 2, 2, 3) },
        arrayIndices: { type: "uint8", values: Uint8Array.of(1, 3, 0) },
      },
    ],
  },
  values: [5, 6, 7],
  dense: [0, 5, 0, 6, 0, 0, 0, 0, 7, 0, 0, 0],
};

/** [4, 4] in 2x2 blocks: block row 0 holds block column 1, block row 1 holds block column 0. */
const BLOCKS: typeof CSR = {
  shape: [4, 4],
  sparsity: {
    traversalOrder: [0, 1, 2, 3],
    blockMap: [0, 1],
    dimMetadata: [
      { format: 0, denseSize: 2, arraySegments: null, arrayIndices: null },
      {
        format: 1,
        denseSize: 0,
        arraySegments: { type: "uint16", values: Uint16Array.of(0, 1, 2) },
        arrayIndices: { type: "uint16", values: Uint16Array.of(1, 0) },
      },
      { format: 0, denseSize: 2, arraySegments: null, arrayIndices: null },
      { format: 0, denseSize: 2, arraySegments: null, arrayIndices: null },
    ],
  },
  values: [1, 2, 3, 4, 5, 6, 7, 8],
  dense: [0, 0, 1, 2, 0, 0, 3, 4, 5, 6, 0, 0, 7, 8, 0, 0],
};

function densifyModel(s: typeof CSR): ModelBuilder {
  const b = new ModelBuilder();
  const sg = b.subgraph();
  const x = b.tensor(sg, "x", { shape: s.shape });
  const sp = b.tensor(sg, "sparse", { shape: s.shape, data: f32Bytes(s.values), sparsity: s.sparsity });
  const d = b.tensor(sg, "dense", { shape: s.shape });
  const y = b.tensor(sg, "y", { shape: s.shape });
  b.m.subgraphs[sg].inputs = [x];
  b.m.subgraphs[sg].outputs = [y];
  b.op(sg, "DENSIFY", [sp], [d]);
  b.op(sg, "ADD", [x, d], [y], { fused_activation_function: "NONE", pot_scale_int16: true });
  return b;
}

for (const [name, s] of [["CSR rows", CSR], ["2x2 blocks", BLOCKS]] as const) {
  Deno.test({
    name: `DENSIFY of a sparse constant (${name}) stays sparse through import and export; LiteRT agrees`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const bytes = densifyModel(s).bytes();
      const model = importTflite(bytes);
      assert.deepEqual(model.graph.nodes.map((n) => n.op), ["tfl.DENSIFY", "tfl.ADD"]);
      // The constant holds the stored values only; the node expands them at run time.
      const stored = model.graph.constants.sparse;
      assert.deepEqual(stored.shape, [s.values.length]);
      assert.deepEqual(Array.from(new Float32Array(constantBytes(stored).slice().buffer)), s.values);
      const n = s.dense.length;
      const x = Float32Array.from({ length: n }, (_, i) => i / 8);
      const ours = interpret(model.graph, { x: new Tensor("f32", s.shape, x) }).outputs.y as Tensor;
      assert.deepEqual(Array.from(ours.data as Float32Array), s.dense.map((v, i) => Math.fround(v + i / 8)));
      // Export writes the same sparse tensor and DENSIFY back.
      const out = readTflite(exportTflite(model));
      const sg = out.subgraphs[0];
      assert.equal(sg.operators.length, 2);
      const sp = sg.tensors.find((t) => t.name === "sparse")!;
      assert.deepEqual(sp.shape, s.shape);
      assert.deepEqual(sp.sparsity, s.sparsity);
      assert.deepEqual(Array.from(out.buffers[sp.buffer].data), Array.from(f32Bytes(s.values)));
      if (liteRt) {
        const [ref] = await runLiteRt(bytes, [x]);
        assert.deepEqual(Array.from(ref.data), Array.from(ours.data as Float32Array));
      }
    },
  });
}

// ---- subgraphs -----------------------------------------------------------------------------------

/** y = x; while (y < 10) y = y + 1.5 — cond and body are subgraphs 1 and 2. */
function whileModel(): ModelBuilder {
  const b = new ModelBuilder();
  const main = b.subgraph("main"), cond = b.subgraph("cond"), body = b.subgraph("body");
  const x = b.tensor(main, "x", { shape: [1] });
  const y = b.tensor(main, "y", { shape: [1] });
  b.m.subgraphs[main].inputs = [x];
  b.m.subgraphs[main].outputs = [y];
  b.op(main, "WHILE", [x], [y], { cond_subgraph_index: cond, body_subgraph_index: body });
  const ci = b.tensor(cond, "v", { shape: [1] });
  const ten = b.tensor(cond, "ten", { shape: [1], data: f32Bytes([10]) });
  const co = b.tensor(cond, "go", { shape: [1], type: "BOOL" });
  b.m.subgraphs[cond].inputs = [ci];
  b.m.subgraphs[cond].outputs = [co];
  b.op(cond, "LESS", [ci, ten], [co]);
  const bi = b.tensor(body, "v", { shape: [1] });
  const step = b.tensor(body, "step", { shape: [1], data: f32Bytes([1.5]) });
  const bo = b.tensor(body, "next", { shape: [1] });
  b.m.subgraphs[body].inputs = [bi];
  b.m.subgraphs[body].outputs = [bo];
  b.op(body, "ADD", [bi, step], [bo], { fused_activation_function: "NONE", pot_scale_int16: true });
  return b;
}

Deno.test({
  name: "WHILE: cond and body subgraphs become graph attributes, run, and export back",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const bytes = whileModel().bytes();
    const model = importTflite(bytes);
    assertValid(model.graph);
    const w = model.graph.nodes[0];
    assert.equal(w.op, "tfl.WHILE");
    assert.ok(w.attrs.cond_subgraph.type === "graph" && w.attrs.cond_subgraph.value.name === "cond");
    assert.ok(
      w.attrs.body_subgraph.type === "graph" && w.attrs.body_subgraph.value.nodes[0].op === "tfl.ADD",
    );
    const x = Float32Array.of(0.5);
    const ours = interpret(model.graph, { x: new Tensor("f32", [1], x) }).outputs.y as Tensor;
    assert.deepEqual(Array.from(ours.data as Float32Array), [11]);
    const exported = exportTflite(model);
    const out = readTflite(exported);
    assert.deepEqual(out.subgraphs.map((s) => s.name), ["main", "cond", "body"]);
    assert.deepEqual(out.subgraphs[0].operators[0].builtinOptions, {
      cond_subgraph_index: 1,
      body_subgraph_index: 2,
    });
    const eq = graphsEqual(importTflite(exported).graph, model.graph, { namedUnknowns: true });
    assert.ok(eq.equal, eq.diff);
    if (liteRt) {
      for (const file of [bytes, exported]) {
        assert.deepEqual(Array.from((await runLiteRt(file, [x]))[0].data), [11]);
      }
    }
  },
});

// ---- well-formed flatbuffers, broken graphs ----------------------------------------------------------

/** x → RELU → a → RELU → y, with hooks to break it. */
function chain(edit: (b: ModelBuilder, t: { x: number; a: number; y: number }) => void): Uint8Array {
  const b = new ModelBuilder();
  const sg = b.subgraph();
  const x = b.tensor(sg, "x", { shape: [2] });
  const a = b.tensor(sg, "a", { shape: [2] });
  const y = b.tensor(sg, "y", { shape: [2] });
  b.m.subgraphs[sg].inputs = [x];
  b.m.subgraphs[sg].outputs = [y];
  b.op(sg, "RELU", [x], [a]);
  b.op(sg, "RELU", [a], [y]);
  edit(b, { x, a, y });
  return b.bytes();
}

Deno.test("the importer refuses graphs that break TFLite's rules, with a LatheError naming the place", () => {
  const ops = (b: ModelBuilder) => b.m.subgraphs[0].operators;
  const cases: [string, Uint8Array, string[]][] = [
    ["produced twice", chain((b, t) => (ops(b)[1].outputs = [t.a])), ["produced twice", "operators[1]"]],
    ["read before produced", chain((b, t) => (ops(b)[0].inputs = [t.y])), [
      "read before an operator produces it",
    ]],
    ["no data, no producer", chain((b) => ops(b).splice(0, 1)), ["no data, no producer"]],
    [
      "output with data",
      chain((b, t) => (b.m.subgraphs[0].tensors[t.a].buffer = b.buffer(f32Bytes([1, 2])))),
      ["also has constant data"],
    ],
    ["input twice", chain((b, t) => (b.m.subgraphs[0].inputs = [t.x, t.x])), ["listed twice"]],
    ["intermediates", chain((b, t) => (ops(b)[0].intermediates = [t.a])), ["intermediate"]],
    ["builtin with custom options", chain((b) => (ops(b)[0].customOptions = Uint8Array.of(1))), [
      "custom options",
    ]],
    ["unknown builtin", chain((b) => (b.m.operatorCodes[0].builtinCode = 400)), [
      "unknown builtin operator code 400",
    ]],
    [
      "DENSIFY of a dense tensor",
      chain((b, t) => {
        const c = b.tensor(0, "c", { shape: [2], data: f32Bytes([1, 2]) });
        b.op(0, "DENSIFY", [c], [t.a]);
        b.m.subgraphs[0].operators = [ops(b)[2], ops(b)[1]];
      }),
      ["DENSIFY of a tensor that is not a sparse constant"],
    ],
    [
      "sparse index out of range",
      (() => {
        const s = structuredClone(CSR);
        (s.sparsity.dimMetadata[1].arrayIndices!.values as Uint8Array)[2] = 9;
        return densifyModel(s).bytes();
      })(),
      ["sparse tensor", "index 9 out of range"],
    ],
    [
      "sparse segments past the indices",
      (() => {
        const s = structuredClone(CSR);
        (s.sparsity.dimMetadata[1].arraySegments!.values as Int32Array)[3] = 50;
        return densifyModel(s).bytes();
      })(),
      ["sparse tensor", "segments run past"],
    ],
    [
      "sparse constant used directly",
      chain((b, t) => {
        const c = b.tensor(0, "c", { shape: CSR.shape, data: f32Bytes(CSR.values), sparsity: CSR.sparsity });
        ops(b)[1].inputs = [t.a, c];
      }),
      ["sparse tensor used other than by DENSIFY"],
    ],
    [
      "string tensor count",
      chain((b, t) => {
        const s = new Uint8Array(16);
        new DataView(s.buffer).setInt32(0, 5, true);
        const c = b.tensor(0, "s", { shape: [2], type: "STRING", data: s });
        ops(b)[1].inputs = [t.a, c];
      }),
      ["string tensor", "5 strings"],
    ],
    ["complex tensor", chain((b, t) => (b.m.subgraphs[0].tensors[t.x].type = "COMPLEX64")), [
      "tensor type COMPLEX64",
    ]],
  ];
  for (const [name, bytes, fragments] of cases) {
    const e = expectLatheError(() => importTflite(bytes, { file: `${name}.tflite` }), ...fragments);
    assert.ok(e.message.includes(`${name}.tflite`), `${name}: ${e.message} names the file`);
  }
});

Deno.test("mutated files import or fail with a LatheError, never another error", () => {
  const base = quantModel().bytes();
  let seed = 12345, imported = 0, refused = 0;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  for (let i = 0; i < 600; i++) {
    const bytes = base.slice();
    for (let k = 0; k < 1 + (i % 4); k++) bytes[next() % bytes.length] = next() & 255;
    try {
      const m = importTflite(bytes, { file: "mutant" });
      exportTflite(m);
      imported++;
    } catch (e) {
      if (!(e instanceof LatheError)) throw new Error(`mutant ${i}: ${e}`, { cause: e });
      refused++;
    }
  }
  console.log(`  600 mutants: ${imported} imported and re-exported, ${refused} refused with a LatheError`);
});

// ---- declarations agree with the schema -------------------------------------------------------------

Deno.test("every tfl op declaration has exactly its option table's fields, with the schema's defaults", () => {
  const ops = registeredOps().filter((o) => o.startsWith("tfl."));
  assert.ok(ops.length >= 90, `${ops.length} tfl ops declared`);
  for (const op of ops) {
    const decl = getOp(op)!;
    const table = optionTableOf(op.slice(4));
    // DENSIFY's other attributes describe its sparse operand's encoding, not option fields.
    const declared = Object.keys(decl.attrs ?? {}).filter((k) =>
      k !== "_version" && !k.startsWith("custom_") && !(op === "tfl.DENSIFY" && SPARSITY_ATTRS.has(k))
    ).sort();
    const fields = (table?.spec.fields ?? []).map((f) => attrNameOf(f.name, !!f.subgraph)).sort();
    assert.deepEqual(declared, fields, op);
    for (const f of table?.spec.fields ?? []) {
      const spec = decl.attrs![attrNameOf(f.name, !!f.subgraph)];
      if (f.subgraph || f.kind.startsWith("[") || f.kind === "string") continue;
      const want = f.enumNames
        ? f.enumNames[Number(f.default ?? 0)]
        : f.kind === "bool"
        ? (f.default === true ? 1 : 0)
        : Number(f.default ?? 0);
      assert.deepEqual(spec.default, want, `${op}.${f.name}`);
    }
  }
});

Deno.test("the model loader recognizes TFLite by its identifier and by its extension", async () => {
  const bytes = chain(() => {});
  assert.equal(formatOf("model.bin", bytes.subarray(0, 16)), "tflite");
  assert.equal(formatOf("model.tflite"), "tflite");
  const m = await importModelBytes(bytes, "model.bin");
  assert.equal(m.meta.format, "tflite");
  assert.deepEqual(m.graph.nodes.map((n) => n.op), ["tfl.RELU", "tfl.RELU"]);
});
