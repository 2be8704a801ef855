/**
 * TFLite flatbuffer reader/writer. References: field ids typed in by hand from formats.md §2.2–2.4 (and
 * driven through the flatbuffers runtime directly, not through our code), LiteRT (TFLite's own runtime,
 * npm @litertjs/core) for I/O metadata and outputs, and hand-computed results for a tiny model.
 */
import assert from "node:assert/strict";
import { Builder, ByteBuffer } from "flatbuffers";
import { LatheError } from "../ir/errors.ts";
import type { Buffer as TfliteBuffer, Options, Tensor, TfliteModel } from "../compiler/tflite/model.ts";
import { readTflite } from "../compiler/tflite/reader.ts";
import { writeTflite } from "../compiler/tflite/writer.ts";
import { inspectLiteRt, liteRtLoadMessage, loadLiteRt, runLiteRt } from "./reference/litert.ts";

const SHARED = new URL("../../shared/", import.meta.url);
const CORPUS = new URL("corpus/tflite/", SHARED);
const hasCorpus = (() => {
  try {
    return Deno.statSync(CORPUS).isDirectory;
  } catch {
    return false;
  }
})();
if (!hasCorpus) console.log(`tflite-schema: ${CORPUS.pathname} not found; corpus tests are skipped`);

const CORPUS_FILES = [
  "coral/mobilenet_ssd_v2_coco_quant_postprocess.tflite",
  "mediapipe/face_detection_short_range.tflite",
  "mediapipe/hand_landmark_lite.tflite",
  "mediapipe/object_detection_ssd_mobilenetv2_oidv4_fp16.tflite",
  "mediapipe/palm_detection_lite.tflite",
  "mediapipe/pose_detection.tflite",
  "mediapipe/selfie_segmentation.tflite",
  "openwakeword/alexa_v0.1.tflite",
  "openwakeword/embedding_model.tflite",
  "openwakeword/melspectrogram.tflite",
];
const corpusBytes = (name: string) => Deno.readFileSync(new URL(name, CORPUS));

/** Asserts that `fn` throws a LatheError whose message contains every fragment. */
function assertLatheError(fn: () => unknown, ...fragments: string[]): LatheError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof LatheError)) throw new Error(`expected a LatheError, got ${e}`, { cause: e });
    for (const f of fragments) assert.ok(e.message.includes(f), `"${e.message}" should mention "${f}"`);
    return e;
  }
  throw new Error(`expected a LatheError mentioning ${fragments.join(", ")}`);
}

/** mulberry32: a tiny seeded generator so LiteRT inputs are reproducible. */
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

// ---- raw flatbuffer navigation with the flatbuffers runtime and hand-typed field ids -------------------

/** Field ids from formats.md §2.2, typed here so the test does not trust compiler/tflite/schema.ts. */
const ID = {
  model: { version: 0, operatorCodes: 1, subgraphs: 2, description: 3, buffers: 4 },
  subgraph: { tensors: 0, inputs: 1, outputs: 2, operators: 3, name: 4 },
  tensor: { shape: 0, type: 1, buffer: 2, name: 3, quantization: 4 },
  operator: { opcodeIndex: 0, inputs: 1, outputs: 2, optionsType: 3, options: 4 },
  opcode: { deprecated: 0, custom: 1, version: 2, builtin: 3 },
  quant: { scale: 2, zeroPoint: 3, quantizedDimension: 6 },
  buffer: { data: 0 },
};

class Raw {
  readonly bb: ByteBuffer;
  constructor(bytes: Uint8Array) {
    this.bb = new ByteBuffer(bytes);
  }
  root(): number {
    return this.bb.__indirect(0);
  }
  fieldPos(table: number, id: number): number {
    const o = this.bb.__offset(table, 4 + 2 * id);
    if (!o) throw new Error(`field ${id} absent`);
    return table + o;
  }
  has(table: number, id: number): boolean {
    return this.bb.__offset(table, 4 + 2 * id) !== 0;
  }
  child(table: number, id: number): number {
    return this.bb.__indirect(this.fieldPos(table, id));
  }
  vectorLength(table: number, id: number): number {
    return this.bb.__vector_len(this.fieldPos(table, id));
  }
  /** Position of element i of a vector of `size`-byte elements. */
  element(table: number, id: number, i: number, size = 4): number {
    return this.bb.__vector(this.fieldPos(table, id)) + size * i;
  }
  tableAt(table: number, id: number, i: number): number {
    return this.bb.__indirect(this.element(table, id, i));
  }
  /** The u32 length word of a vector field. */
  vectorLengthPos(table: number, id: number): number {
    return this.bb.__indirect(this.fieldPos(table, id));
  }
  string(table: number, id: number): string {
    return this.bb.__string(this.fieldPos(table, id)) as string;
  }
}

// ---- a tiny model, written by hand -----------------------------------------------------------------

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

function tensor(name: string, shape: number[], buffer = 0): Tensor {
  return {
    shape,
    shapeSignature: null,
    type: "FLOAT32",
    buffer,
    name,
    quantization: null,
    isVariable: false,
    sparsity: null,
    hasRank: false,
    variantTensors: [],
    externalBuffer: 0,
  };
}

function emptyBuffer(): TfliteBuffer {
  return { data: new Uint8Array(0), offset: 0, size: 0 };
}

/** y = relu(x + [1, -2, 3, -4]) as one ADD with a fused RELU. */
function tinyModel(): TfliteModel {
  return {
    version: 3,
    operatorCodes: [{ builtinCode: 0, customCode: null, version: 1 }],
    subgraphs: [{
      tensors: [tensor("x", [1, 4]), tensor("c", [1, 4], 1), tensor("y", [1, 4])],
      inputs: [0],
      outputs: [2],
      operators: [{
        opcodeIndex: 0,
        inputs: [0, 1],
        outputs: [2],
        builtinOptionsType: 11,
        builtinOptions: { fused_activation_function: "RELU", pot_scale_int16: true },
        customOptions: null,
        customOptionsFormat: 0,
        mutatingVariableInputs: [],
        intermediates: [],
        builtinOptions2Type: 0,
        builtinOptions2: null,
        debugMetadataIndex: -1,
      }],
      name: "main",
      debugMetadataIndex: -1,
    }],
    description: "tiny",
    buffers: [emptyBuffer(), { data: f32Bytes([1, -2, 3, -4]), offset: 0, size: 0 }, emptyBuffer()],
    metadataBuffer: [],
    metadata: [],
    signatureDefs: [],
    externalBufferGroups: [],
    externalBuffers: [],
  };
}

function modified(edit: (m: TfliteModel) => void): Uint8Array {
  const m = tinyModel();
  edit(m);
  return writeTflite(m);
}

// ---- spec-level tests ----------------------------------------------------------------------------

Deno.test("reader decodes a flatbuffer built field by field from the spec", () => {
  // Built with the flatbuffers Builder directly, using the ids and defaults in formats.md §2.2–2.4.
  const b = new Builder(256);
  const shape = (dims: number[]) => {
    b.startVector(4, dims.length, 4);
    for (let i = dims.length - 1; i >= 0; i--) b.addInt32(dims[i]);
    return b.endVector();
  };
  const ints = shape;
  // Conv2DOptions: padding(0)=VALID, stride_w(1)=2, stride_h(2)=3, activation(3)=RELU6; dilations absent.
  b.startObject(7);
  b.addFieldInt8(0, 1, 0);
  b.addFieldInt32(1, 2, 0);
  b.addFieldInt32(2, 3, 0);
  b.addFieldInt8(3, 3, 0);
  const conv = b.endObject();
  // QuantizationParameters: scale [0.5], zero_point int64 [-5], quantized_dimension absent.
  b.startVector(4, 1, 4);
  b.addFloat32(0.5);
  const scale = b.endVector();
  b.startVector(8, 1, 8);
  b.addInt64(-5n);
  const zp = b.endVector();
  b.startObject(7);
  b.addFieldOffset(2, scale, 0);
  b.addFieldOffset(3, zp, 0);
  const quant = b.endObject();
  const tensors = [
    ["in", [1, 5, 5, 1], 0],
    ["w", [1, 1, 1, 1], 1],
    ["out", [1, 2, 2, 1], 0],
  ].map(([name, dims, buffer], i) => {
    const n = b.createString(name as string);
    const s = shape(dims as number[]);
    b.startObject(11);
    b.addFieldOffset(0, s, 0);
    b.addFieldInt8(1, 9, 0); // INT8
    b.addFieldInt32(2, buffer as number, 0);
    b.addFieldOffset(3, n, 0);
    if (i === 1) b.addFieldOffset(4, quant, 0);
    return b.endObject();
  });
  const vecOf = (offs: number[]) => {
    b.startVector(4, offs.length, 4);
    for (let i = offs.length - 1; i >= 0; i--) b.addOffset(offs[i]);
    return b.endVector();
  };
  const opInputs = ints([0, 1, -1]);
  const opOutputs = ints([2]);
  b.startObject(14);
  b.addFieldInt32(0, 1, 0); // opcode_index
  b.addFieldOffset(1, opInputs, 0);
  b.addFieldOffset(2, opOutputs, 0);
  b.addFieldInt8(3, 1, 0); // builtin_options_type = Conv2DOptions
  b.addFieldOffset(4, conv, 0); // builtin_options: the slot after the type
  const op = b.endObject();
  const sgTensors = vecOf(tensors);
  const sgInputs = ints([0]);
  const sgOutputs = ints([2]);
  const sgOps = vecOf([op]);
  b.startObject(6);
  b.addFieldOffset(0, sgTensors, 0);
  b.addFieldOffset(1, sgInputs, 0);
  b.addFieldOffset(2, sgOutputs, 0);
  b.addFieldOffset(3, sgOps, 0);
  const sg = b.endObject();
  // OperatorCode 0: GELU (150) as schema 3a writes it: byte field 127, int32 field 150. Code 1: a v3 file
  // setting only the byte field to CONV_2D (3).
  b.startObject(4);
  b.addFieldInt8(0, 127, 0);
  b.addFieldInt32(3, 150, 0);
  const gelu = b.endObject();
  b.startObject(4);
  b.addFieldInt8(0, 3, 0);
  b.addFieldInt32(2, 2, 1);
  const convCode = b.endObject();
  b.startVector(1, 1, 16);
  b.addInt8(-7);
  const weight = b.endVector();
  b.startObject(3);
  const buf0 = b.endObject();
  b.startObject(3);
  b.addFieldOffset(0, weight, 0);
  const buf1 = b.endObject();
  const codes = vecOf([gelu, convCode]);
  const subgraphs = vecOf([sg]);
  const buffers = vecOf([buf0, buf1]);
  const desc = b.createString("hand built");
  b.startObject(10);
  b.addFieldInt32(0, 3, 0);
  b.addFieldOffset(1, codes, 0);
  b.addFieldOffset(2, subgraphs, 0);
  b.addFieldOffset(3, desc, 0);
  b.addFieldOffset(4, buffers, 0);
  b.finish(b.endObject(), "TFL3");
  const m = readTflite(b.asUint8Array());

  assert.equal(m.version, 3);
  assert.equal(m.description, "hand built");
  assert.deepEqual(m.operatorCodes, [
    { builtinCode: 150, customCode: null, version: 1 },
    { builtinCode: 3, customCode: null, version: 2 },
  ]);
  const g = m.subgraphs[0];
  assert.deepEqual(g.tensors.map((t) => [t.name, t.shape, t.type, t.buffer]), [
    ["in", [1, 5, 5, 1], "INT8", 0],
    ["w", [1, 1, 1, 1], "INT8", 1],
    ["out", [1, 2, 2, 1], "INT8", 0],
  ]);
  assert.deepEqual(Array.from(g.tensors[1].quantization!.scale), [0.5]);
  assert.deepEqual(g.tensors[1].quantization!.zeroPoint, [-5]);
  assert.equal(g.tensors[1].quantization!.quantizedDimension, 0);
  assert.equal(g.tensors[0].quantization, null);
  const o = g.operators[0];
  assert.deepEqual([o.opcodeIndex, o.inputs, o.outputs, o.builtinOptionsType], [1, [0, 1, -1], [2], 1]);
  assert.deepEqual(o.builtinOptions, {
    padding: "VALID",
    stride_w: 2,
    stride_h: 3,
    fused_activation_function: "RELU6",
    dilation_w_factor: 1,
    dilation_h_factor: 1,
    quantized_bias_type: "FLOAT32",
  });
  assert.equal(m.buffers[0].data.length, 0);
  assert.deepEqual(Array.from(m.buffers[1].data), [0xf9]);
});

Deno.test("writer output read back through the flatbuffers runtime with spec field ids", () => {
  const m = tinyModel();
  m.operatorCodes.push({ builtinCode: 150, customCode: null, version: 2 }); // GELU, > 127
  const bytes = writeTflite(m);
  assert.equal(new TextDecoder().decode(bytes.subarray(4, 8)), "TFL3");
  const r = new Raw(bytes);
  const root = r.root();
  assert.equal(r.bb.readUint32(r.fieldPos(root, ID.model.version)), 3);
  assert.equal(r.string(root, ID.model.description), "tiny");
  const gelu = r.tableAt(root, ID.model.operatorCodes, 1);
  assert.equal(r.bb.readInt8(r.fieldPos(gelu, ID.opcode.deprecated)), 127);
  assert.equal(r.bb.readInt32(r.fieldPos(gelu, ID.opcode.builtin)), 150);
  assert.equal(r.bb.readInt32(r.fieldPos(gelu, ID.opcode.version)), 2);
  const sg = r.tableAt(root, ID.model.subgraphs, 0);
  assert.equal(r.string(sg, ID.subgraph.name), "main");
  const c = r.tableAt(sg, ID.subgraph.tensors, 1);
  assert.equal(r.string(c, ID.tensor.name), "c");
  assert.equal(r.bb.readUint32(r.fieldPos(c, ID.tensor.buffer)), 1);
  const op = r.tableAt(sg, ID.subgraph.operators, 0);
  assert.equal(r.bb.readUint8(r.fieldPos(op, ID.operator.optionsType)), 11); // AddOptions
  const add = r.child(op, ID.operator.options);
  assert.equal(r.bb.readInt8(r.fieldPos(add, 0)), 1); // RELU
  assert.ok(!r.has(add, 1), "pot_scale_int16 = true is the default and is omitted");
  // Constant data: the [ubyte] vector, 16-byte aligned in the file (force_align: 16).
  const buf1 = r.tableAt(root, ID.model.buffers, 1);
  const dataStart = r.element(buf1, ID.buffer.data, 0, 1);
  assert.equal(dataStart % 16, 0);
  assert.deepEqual(
    Array.from(bytes.subarray(dataStart, dataStart + 16)),
    Array.from(f32Bytes([1, -2, 3, -4])),
  );
  // Empty buffers carry no data vector: TFLite would take a present one for a 0-byte constant.
  assert.ok(!r.has(r.tableAt(root, ID.model.buffers, 0), ID.buffer.data));
});

Deno.test("round trip keeps every decoded field of the tiny model, inline and external", () => {
  const m = tinyModel();
  const back = readTflite(writeTflite(m));
  assert.deepEqual(back, m);
  const ext = writeTflite(m, { externalBuffers: true });
  const e = readTflite(ext);
  assert.deepEqual(Array.from(e.buffers[1].data), Array.from(m.buffers[1].data));
  assert.ok(e.buffers[1].offset > 1 && e.buffers[1].offset % 16 === 0);
  assert.equal(e.buffers[1].size, 16);
  assert.equal(e.buffers[1].offset + 16, ext.length, "external data sits after the flatbuffer");
  assert.deepEqual(readTflite(writeTflite(e)), m);
});

Deno.test("option tables round trip: stride order, defaults, vectors, int64, sparsity", () => {
  const m = tinyModel();
  const op = m.subgraphs[0].operators[0];
  const cases: [number, Options][] = [
    [2, {
      padding: "SAME",
      stride_w: 1,
      stride_h: 4,
      depth_multiplier: 3,
      fused_activation_function: "TANH",
      dilation_w_factor: 2,
      dilation_h_factor: 1,
    }],
    [17, { new_shape: [] }],
    [17, { new_shape: null }],
    [32, {
      begin_mask: 5,
      end_mask: 0,
      ellipsis_mask: 0,
      new_axis_mask: 2,
      shrink_axis_mask: 1,
      offset: true,
    }],
    [114, { seed: -(2n ** 62n), seed2: 7n }],
    [115, { boundaries: new Float32Array([0.5, 1.5]) }],
    [37, { in_data_type: "INT8", out_data_type: "FLOAT16" }],
  ];
  for (const [tag, options] of cases) {
    op.builtinOptionsType = tag;
    op.builtinOptions = options;
    assert.deepEqual(readTflite(writeTflite(m)).subgraphs[0].operators[0].builtinOptions, options);
  }
  m.subgraphs[0].tensors[1].sparsity = {
    traversalOrder: [0, 1],
    blockMap: [],
    dimMetadata: [
      { format: 0, denseSize: 1, arraySegments: null, arrayIndices: null },
      {
        format: 1,
        denseSize: 0,
        arraySegments: { type: "uint8", values: new Uint8Array([0, 2]) },
        arrayIndices: { type: "uint16", values: new Uint16Array([1, 3]) },
      },
    ],
  };
  m.buffers[1].data = f32Bytes([-2, -4]);
  assert.deepEqual(
    readTflite(writeTflite(m)).subgraphs[0].tensors[1].sparsity,
    m.subgraphs[0].tensors[1].sparsity,
  );
});

Deno.test("unknown union tags are kept by position and refused by the writer", () => {
  const bytes = writeTflite(tinyModel());
  const r = new Raw(bytes);
  const op = r.tableAt(r.tableAt(r.root(), ID.model.subgraphs, 0), ID.subgraph.operators, 0);
  bytes[r.fieldPos(op, ID.operator.optionsType)] = 200;
  const m = readTflite(bytes);
  const options = m.subgraphs[0].operators[0].builtinOptions as { unknownTag: number; tableOffset: number };
  assert.equal(options.unknownTag, 200);
  assert.equal(options.tableOffset, r.child(op, ID.operator.options));
  assertLatheError(() => writeTflite(m), "union tag 200", "builtin_options");
});

// ---- hostile input ---------------------------------------------------------------------------------

Deno.test("hostile: header, identifier and truncation", () => {
  assertLatheError(() => readTflite(new Uint8Array(3)), "too short");
  const good = writeTflite(tinyModel());
  const wrongId = good.slice();
  wrongId.set([0x54, 0x46, 0x4c, 0x32], 4); // "TFL2"
  assertLatheError(() => readTflite(wrongId), `"TFL2"`, "TFL3");
  // Every proper prefix must fail cleanly (most tables sit near the end of the file).
  for (let n = 0; n < good.length; n++) {
    try {
      readTflite(good.subarray(0, n));
    } catch (e) {
      if (!(e instanceof LatheError)) throw new Error(`prefix of ${n} bytes: ${e}`);
      continue;
    }
    throw new Error(`prefix of ${n} bytes was accepted`);
  }
});

Deno.test("hostile: bad vtable and table offsets", () => {
  const good = writeTflite(tinyModel());
  const r = new Raw(good);
  const root = r.root();
  const rootOffset = good.slice();
  new DataView(rootOffset.buffer).setUint32(0, good.length + 100, true);
  assertLatheError(() => readTflite(rootOffset), "model", "outside the file");
  const vtable = good.slice();
  new DataView(vtable.buffer).setInt32(root, -(good.length + 8), true);
  assertLatheError(() => readTflite(vtable), "model", "vtable");
  const sg = r.tableAt(root, ID.model.subgraphs, 0);
  const fieldOff = good.slice();
  // The root's vtable entry for `subgraphs` now points far past the end of the small table.
  const rootVt = root - r.bb.readInt32(root);
  new DataView(fieldOff.buffer).setUint16(rootVt + 4 + 2 * ID.model.subgraphs, 60000, true);
  assertLatheError(() => readTflite(fieldOff), "model.subgraphs", "field offset 60000");
  const vtSize = good.slice();
  new DataView(vtSize.buffer).setUint16(rootVt, 3, true);
  assertLatheError(() => readTflite(vtSize), "model", "bad vtable size 3");
  const vec = good.slice();
  const op = r.tableAt(sg, ID.subgraph.operators, 0);
  const lenPos = r.vectorLengthPos(op, ID.operator.inputs);
  new DataView(vec.buffer).setUint32(lenPos, 100000, true);
  assertLatheError(
    () => readTflite(vec),
    "subgraphs[0].operators[0].inputs",
    "vector length 100000",
    `byte ${lenPos}`,
  );
});

Deno.test("hostile: indices out of range", () => {
  assertLatheError(
    () => readTflite(modified((m) => m.subgraphs[0].tensors[1].buffer = 9)),
    "subgraphs[0].tensors[1].buffer",
    "buffer index 9 out of range (3 buffers)",
  );
  assertLatheError(
    () => readTflite(modified((m) => m.subgraphs[0].operators[0].inputs = [0, 7])),
    "subgraphs[0].operators[0].inputs[1]",
    "tensor index 7 out of range (3 tensors)",
  );
  assertLatheError(
    () => readTflite(modified((m) => m.subgraphs[0].operators[0].outputs = [-2])),
    "subgraphs[0].operators[0].outputs[0]",
    "tensor index -2",
  );
  assertLatheError(
    () => readTflite(modified((m) => m.subgraphs[0].inputs = [-1])),
    "subgraphs[0].inputs[0]",
    "tensor index -1",
  );
  assertLatheError(
    () => readTflite(modified((m) => m.subgraphs[0].operators[0].opcodeIndex = 4)),
    "subgraphs[0].operators[0].opcode_index",
    "opcode index 4 out of range (1 operator codes)",
  );
  // -1 marks an omitted optional input and is accepted.
  const ok = readTflite(modified((m) => m.subgraphs[0].operators[0].inputs = [0, 1, -1]));
  assert.deepEqual(ok.subgraphs[0].operators[0].inputs, [0, 1, -1]);
});

Deno.test("hostile: negative, huge and inconsistent shapes", () => {
  assertLatheError(
    () => readTflite(modified((m) => m.subgraphs[0].tensors[0].shape = [1, -4])),
    "subgraphs[0].tensors[0].shape",
    "negative dimension -4",
  );
  const big = 2 ** 31 - 1;
  assertLatheError(
    () => readTflite(modified((m) => m.subgraphs[0].tensors[2].shape = [big, big, big])),
    "subgraphs[0].tensors[2].shape",
    "more than 2^53 elements",
  );
  assertLatheError(
    () => readTflite(modified((m) => m.subgraphs[0].tensors[1].shape = [1, 5])),
    "subgraphs[0].tensors[1].buffer",
    "holds 16 bytes but shape [1,5] of FLOAT32 needs 20",
  );
  assertLatheError(
    () => readTflite(modified((m) => m.subgraphs[0].tensors[0].shapeSignature = [-1, -3])),
    "shape_signature",
    "dimension -3",
  );
  assertLatheError(
    () =>
      readTflite(modified((m) => {
        m.subgraphs[0].tensors[0].quantization = {
          min: new Float32Array(0),
          max: new Float32Array(0),
          scale: new Float32Array([1, 2, 3]),
          zeroPoint: [0, 0, 0],
          detailsType: 0,
          details: null,
          quantizedDimension: 1,
        };
      })),
    "subgraphs[0].tensors[0].quantization",
    "3 scales along dimension 1 of size 4",
  );
});

Deno.test("hostile: control flow subgraph indices (range, self reference, cycles)", () => {
  const withWhile = (cond: number, body: number, extraSubgraphs: number) =>
    modified((m) => {
      m.operatorCodes.push({ builtinCode: 119, customCode: null, version: 1 });
      const callee = () => ({ ...structuredClone(m.subgraphs[0]), operators: [] });
      for (let i = 0; i < extraSubgraphs; i++) m.subgraphs.push(callee());
      m.subgraphs[0].operators.push({
        ...m.subgraphs[0].operators[0],
        opcodeIndex: 1,
        builtinOptionsType: 93, // WhileOptions
        builtinOptions: { cond_subgraph_index: cond, body_subgraph_index: body },
      });
    });
  const fine = readTflite(withWhile(1, 2, 2));
  assert.deepEqual(fine.subgraphs[0].operators[1].builtinOptions, {
    cond_subgraph_index: 1,
    body_subgraph_index: 2,
  });
  assertLatheError(
    () => readTflite(withWhile(1, 5, 2)),
    "subgraphs[0].operators[1].builtin_options.body_subgraph_index",
    "subgraph index 5 out of range (3 subgraphs)",
  );
  assertLatheError(() => readTflite(withWhile(1, -1, 2)), "subgraph index -1 out of range");
  assertLatheError(() => readTflite(withWhile(0, 1, 1)), "subgraph call cycle 0 -> 0");
  // A two-step cycle: subgraph 1 calls back into 0 through CALL_ONCE.
  const twoStep = modified((m) => {
    m.operatorCodes.push({ builtinCode: 31, customCode: null, version: 1 }); // CALL
    const sub = structuredClone(m.subgraphs[0]);
    m.subgraphs[0].operators.push({
      ...m.subgraphs[0].operators[0],
      opcodeIndex: 1,
      builtinOptionsType: 16,
      builtinOptions: { subgraph: 1 },
    });
    sub.operators = [{
      ...sub.operators[0],
      opcodeIndex: 1,
      builtinOptionsType: 103,
      builtinOptions: { init_subgraph_index: 0 },
    }];
    m.subgraphs.push(sub);
  });
  assertLatheError(() => readTflite(twoStep), "subgraph call cycle 0 -> 1 -> 0");
});

Deno.test("hostile: external buffers, aliased offsets, random corruption", () => {
  const ext = writeTflite(tinyModel(), { externalBuffers: true });
  const r = new Raw(ext);
  const buf1 = r.tableAt(r.root(), ID.model.buffers, 1);
  const past = ext.slice();
  new DataView(past.buffer).setBigUint64(r.fieldPos(buf1, 1), BigInt(ext.length - 8), true);
  assertLatheError(() => readTflite(past), "buffers[1]", "runs past the end of the file");
  const huge = ext.slice();
  new DataView(huge.buffer).setBigUint64(r.fieldPos(buf1, 1), 2n ** 62n, true);
  assertLatheError(() => readTflite(huge), "buffers[1].offset", "does not fit in a safe integer");

  // 2000 tensors sharing one 20000-entry shape vector: tiny file, 40M elements if decoded naively.
  const b = new Builder(1024);
  b.startVector(4, 20000, 4);
  for (let i = 0; i < 20000; i++) b.addInt32(1);
  const shape = b.endVector();
  const tensors: number[] = [];
  for (let i = 0; i < 2000; i++) {
    b.startObject(11);
    b.addFieldOffset(0, shape, 0);
    tensors.push(b.endObject());
  }
  b.startVector(4, tensors.length, 4);
  for (let i = tensors.length - 1; i >= 0; i--) b.addOffset(tensors[i]);
  const tv = b.endVector();
  b.startObject(6);
  b.addFieldOffset(0, tv, 0);
  const sg = b.endObject();
  b.startVector(4, 1, 4);
  b.addOffset(sg);
  const sgs = b.endVector();
  b.startObject(3);
  const buf0 = b.endObject();
  b.startVector(4, 1, 4);
  b.addOffset(buf0);
  const bufs = b.endVector();
  b.startObject(10);
  b.addFieldOffset(2, sgs, 0);
  b.addFieldOffset(4, bufs, 0);
  b.finish(b.endObject(), "TFL3");
  assertLatheError(() => readTflite(b.asUint8Array()), "aliased offsets");

  // Random single-byte corruption: each mutant either parses or fails with a LatheError.
  const good = writeTflite(tinyModel());
  const next = rng(1234);
  let rejected = 0;
  for (let i = 0; i < 3000; i++) {
    const bad = good.slice();
    for (let k = 0; k < 1 + (i % 3); k++) bad[Math.floor(next() * bad.length)] = Math.floor(next() * 256);
    try {
      readTflite(bad);
    } catch (e) {
      if (!(e instanceof LatheError)) throw new Error(`mutant ${i}: ${e}`, { cause: e });
      rejected++;
    }
  }
  assert.ok(rejected > 100, `only ${rejected} of 3000 mutants were rejected`);
});

// ---- corpus ----------------------------------------------------------------------------------------

Deno.test({
  name: "corpus: read(write(read(file))) equals read(file); read timings",
  ignore: !hasCorpus,
  fn() {
    for (const name of CORPUS_FILES) {
      const bytes = corpusBytes(name);
      const m = readTflite(bytes, { file: name });
      assert.deepEqual(readTflite(writeTflite(m)), m, name);
      const ext = readTflite(writeTflite(m, { externalBuffers: true }));
      assert.deepEqual(ext.buffers.map((b) => b.data), m.buffers.map((b) => b.data), `${name} external`);
      assert.deepEqual(ext.subgraphs, m.subgraphs, `${name} external`);
    }
    for (
      const name of CORPUS_FILES.slice(0, 1).concat(
        "mediapipe/object_detection_ssd_mobilenetv2_oidv4_fp16.tflite",
      )
    ) {
      const bytes = corpusBytes(name);
      for (let i = 0; i < 5; i++) readTflite(bytes);
      const times: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        readTflite(bytes);
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      console.log(`read ${name} (${bytes.length} bytes): median ${times[10].toFixed(2)} ms`);
    }
  },
});

Deno.test({
  name: "corpus: structure the reader reports (ops, quantization, sparsity)",
  ignore: !hasCorpus,
  fn() {
    const coral = readTflite(corpusBytes(CORPUS_FILES[0]));
    const post = coral.operatorCodes.find((c) => c.builtinCode === 32);
    assert.equal(post?.customCode, "TFLite_Detection_PostProcess");
    const input = coral.subgraphs[0].tensors[coral.subgraphs[0].inputs[0]];
    assert.equal(input.type, "UINT8");
    assert.deepEqual([input.quantization?.scale[0], input.quantization?.zeroPoint], [0.0078125, [128]]);
    // pose_detection carries sparse constant tensors that DENSIFY expands.
    const pose = readTflite(corpusBytes("mediapipe/pose_detection.tflite"));
    const sparse = pose.subgraphs[0].tensors.filter((t) => t.sparsity);
    assert.ok(sparse.length > 0);
    for (const t of sparse) assert.equal(t.sparsity!.traversalOrder.length, t.sparsity!.dimMetadata.length);
  },
});

const liteRt = await loadLiteRt();
if (!liteRt) console.log(`tflite-schema: LiteRT tests skipped: ${liteRtLoadMessage()}`);

const DTYPES: Record<string, string> = { FLOAT32: "float32", INT32: "int32", UINT8: "uint8" };

Deno.test({
  name: "LiteRT: every corpus model loads; I/O names, shapes and dtypes match the reader",
  ignore: !liteRt || !hasCorpus,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    for (const name of CORPUS_FILES) {
      const bytes = corpusBytes(name);
      const m = readTflite(bytes);
      const info = await inspectLiteRt(bytes);
      const g = m.subgraphs[0];
      // With a signature, LiteRT names tensors by their signature aliases.
      const sig = m.signatureDefs[0];
      const describe = (indices: number[], maps?: { name: string; tensorIndex: number }[]) =>
        (maps ?? indices.map((i) => ({ name: g.tensors[i].name, tensorIndex: i }))).map((
          { name, tensorIndex },
        ) => ({
          name,
          shape: g.tensors[tensorIndex].shape,
          dtype: DTYPES[g.tensors[tensorIndex].type],
        }));
      assert.deepEqual(info.inputs, describe(g.inputs, sig?.inputs), name);
      assert.deepEqual(info.outputs, describe(g.outputs, sig?.outputs), name);
    }
  },
});

/**
 * In-place edits of an original file (not through our writer) for the two models LiteRT.js cannot run
 * as shipped: it has no input-resize call, and it preallocates outputs by their static shape.
 */
function runnableOriginal(name: string): Uint8Array {
  const bytes = corpusBytes(name).slice();
  const r = new Raw(bytes);
  const sg = r.tableAt(r.root(), ID.model.subgraphs, 0);
  if (name.endsWith("melspectrogram.tflite")) {
    // Input is [1, 1] with signature [-1, -1]; 512 samples (one STFT window) keeps every static shape.
    const input = r.tableAt(sg, ID.subgraph.tensors, r.bb.readInt32(r.element(sg, ID.subgraph.inputs, 0)));
    r.bb.writeInt32(r.element(input, ID.tensor.shape, 1), 512);
  }
  if (name.endsWith("postprocess.tflite")) {
    // The detection post-process outputs have shape [] (sized at run time): LiteRT.js compiles the model
    // but its run() traps with "memory access out of bounds". Expose the post-process inputs (raw box
    // encodings and class scores) as the graph outputs instead; the custom op still runs.
    const op = r.tableAt(sg, ID.subgraph.operators, r.vectorLength(sg, ID.subgraph.operators) - 1);
    const boxes = r.bb.readInt32(r.element(op, ID.operator.inputs, 0));
    const scores = r.bb.readInt32(r.element(op, ID.operator.inputs, 1));
    r.bb.writeUint32(r.vectorLengthPos(sg, ID.subgraph.outputs), 2);
    r.bb.writeInt32(r.element(sg, ID.subgraph.outputs, 0), boxes);
    r.bb.writeInt32(r.element(sg, ID.subgraph.outputs, 1), scores);
  }
  return bytes;
}

function seededInputs(info: { shape: readonly number[]; dtype: string }[], seed: number) {
  const next = rng(seed);
  return info.map(({ shape, dtype }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    if (dtype === "uint8") return Uint8Array.from({ length: n }, () => Math.floor(next() * 256));
    if (dtype === "int32") return Int32Array.from({ length: n }, () => Math.floor(next() * 16));
    return Float32Array.from({ length: n }, () => next() * 2 - 1);
  });
}

Deno.test({
  name: "LiteRT: written models give bit-identical outputs to the original files",
  ignore: !liteRt || !hasCorpus,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    for (const [k, name] of CORPUS_FILES.entries()) {
      const original = runnableOriginal(name);
      const m = readTflite(original);
      const info = await inspectLiteRt(original);
      const inputs = seededInputs(info.inputs, 1000 + k);
      const want = await runLiteRt(original, inputs);
      const variants: [string, Uint8Array][] = [["inline", writeTflite(m)]];
      // External placement for two models keeps the run short; the flatbuffer side is covered above.
      if (k < 2) variants.push(["external", writeTflite(m, { externalBuffers: true })]);
      for (const [how, bytes] of variants) {
        const got = await runLiteRt(bytes, inputs);
        assert.equal(got.length, want.length);
        for (let i = 0; i < want.length; i++) {
          assert.deepEqual(got[i].shape, want[i].shape, `${name} ${how} output ${i}`);
          assert.equal(got[i].dtype, want[i].dtype);
          const a = new Uint8Array(want[i].data.buffer, want[i].data.byteOffset, want[i].data.byteLength);
          const b = new Uint8Array(got[i].data.buffer, got[i].data.byteOffset, got[i].data.byteLength);
          assert.ok(
            a.length > 0 && a.every((v, j) => v === b[j]) && a.length === b.length,
            `${name} ${how} output ${i}`,
          );
        }
      }
    }
  },
});

Deno.test({
  name: "LiteRT: the tiny hand-written model computes relu(x + c)",
  ignore: !liteRt,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const x = new Float32Array([0.5, 0.5, -5, 5]);
    for (const bytes of [writeTflite(tinyModel()), writeTflite(tinyModel(), { externalBuffers: true })]) {
      const [y] = await runLiteRt(bytes, [x]);
      assert.deepEqual(Array.from(y.data), [1.5, 0, 0, 1]);
    }
  },
});
