/**
 * Sparse TFLite constants stay sparse: the importer keeps a DENSIFY node whose attributes hold the tensor's
 * SparsityParameters and whose operand holds the stored values, the kernel expands them at run time, export
 * writes the file's own sparse buffer, sparsity table and DENSIFY back, and ONNX conversion (which has no
 * sparse weights) expands them. References: CSR decoding written here from the schema's definition, the
 * hand-derived dense tensors, and LiteRT running the same files.
 */
import assert from "node:assert/strict";
import { exportTflite } from "../compiler/tflite/export.ts";
import { importTflite } from "../compiler/tflite/import.ts";
import type { Sparsity, Tensor as TfTensor, TfliteModel } from "../compiler/tflite/model.ts";
import { readTflite } from "../compiler/tflite/reader.ts";
import { BUILTIN_CODE } from "../compiler/tflite/schema.ts";
import { writeTflite } from "../compiler/tflite/writer.ts";
import { constantBytes } from "../ir/constant.ts";
import { graphsEqual } from "../ir/equal.ts";
import { LatheError } from "../ir/errors.ts";
import type { Graph, Model } from "../ir/graph.ts";
import { collectConstants, parseGraph, printGraph } from "../ir/text.ts";
import { assertValid } from "../ir/verify.ts";
import { foldConstants } from "../passes/constant-fold.ts";
import { tfliteToOnnx } from "../passes/convert/tflite-to-onnx.ts";
import { interpret } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { liteRtLoadMessage, loadLiteRt, runLiteRt } from "./reference/litert.ts";

const liteRt = await loadLiteRt();
if (!liteRt) console.log(`tflite-sparse: LiteRT comparisons skipped: ${liteRtLoadMessage()}`);

/** The same values with the same bits, whatever the typed array's offset. */
const bytesOf = (a: ArrayBufferView) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));

/** Plain vectors inside a sparsity table, for deepEqual across typed-array views. */
function plainSparsity(s: Sparsity | null) {
  return s && {
    traversalOrder: s.traversalOrder,
    blockMap: s.blockMap,
    dimMetadata: s.dimMetadata.map((d) => ({
      format: d.format,
      denseSize: d.denseSize,
      segments: d.arraySegments && [d.arraySegments.type, Array.from(d.arraySegments.values)],
      indices: d.arrayIndices && [d.arrayIndices.type, Array.from(d.arrayIndices.values)],
    })),
  };
}

// ---- a small fp16 model shaped like pose_detection's weights -----------------------------------------

/**
 * [4, 1, 1, 3] fp16 weights stored as three dense levels and a CSR last level with uint16 segments and
 * uint8 indices (pose_detection's layout): row 0 holds columns 0 and 2, row 1 none, row 2 column 1, row 3
 * all three.
 */
const W = {
  shape: [4, 1, 1, 3],
  segments: Uint16Array.of(0, 2, 2, 3, 6),
  indices: Uint8Array.of(0, 2, 1, 0, 1, 2),
  values: [0.5, -1.25, 2, 3.5, -0.125, 8],
  dense: [0.5, 0, -1.25, 0, 0, 0, 0, 2, 0, 3.5, -0.125, 8],
};

function sparsityOfW(): Sparsity {
  const dense = (n: number) => ({ format: 0, denseSize: n, arraySegments: null, arrayIndices: null });
  return {
    traversalOrder: [0, 1, 2, 3],
    blockMap: [],
    dimMetadata: [dense(4), dense(1), dense(1), {
      format: 1,
      denseSize: 0,
      arraySegments: { type: "uint16", values: W.segments.slice() },
      arrayIndices: { type: "uint8", values: W.indices.slice() },
    }],
  };
}

function tensor(name: string, type: TfTensor["type"], shape: number[], buffer = 0): TfTensor {
  return {
    shape,
    shapeSignature: null,
    type,
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

/** y = x + DEQUANTIZE(DENSIFY(w)), with w sparse fp16. */
function smallModel(edit: (m: TfliteModel) => void = () => {}): Uint8Array {
  const w = tensor("w", "FLOAT16", W.shape, 1);
  w.sparsity = sparsityOfW();
  const op = (code: number, inputs: number[], outputs: number[]) => ({
    opcodeIndex: code,
    inputs,
    outputs,
    builtinOptionsType: 0,
    builtinOptions: null,
    customOptions: null,
    customOptionsFormat: 0,
    mutatingVariableInputs: [],
    intermediates: [],
    builtinOptions2Type: 0,
    builtinOptions2: null,
    debugMetadataIndex: -1,
  });
  const m: TfliteModel = {
    version: 3,
    operatorCodes: ["DENSIFY", "DEQUANTIZE", "ADD"].map((n) => ({
      builtinCode: BUILTIN_CODE[n],
      customCode: null,
      version: n === "DEQUANTIZE" ? 3 : 1,
    })),
    subgraphs: [{
      tensors: [
        tensor("x", "FLOAT32", W.shape),
        w,
        tensor("w_dense", "FLOAT16", W.shape),
        tensor("w_f32", "FLOAT32", W.shape),
        tensor("y", "FLOAT32", W.shape),
      ],
      inputs: [0],
      outputs: [4],
      operators: [op(0, [1], [2]), op(1, [2], [3]), op(2, [0, 3], [4])],
      name: "main",
      debugMetadataIndex: -1,
    }],
    description: "",
    buffers: [
      { data: new Uint8Array(0), offset: 0, size: 0 },
      { data: new Uint8Array(Float16Array.from(W.values).buffer), offset: 0, size: 0 },
    ],
    metadataBuffer: [],
    metadata: [],
    signatureDefs: [],
    externalBufferGroups: [],
    externalBuffers: [],
  };
  edit(m);
  return writeTflite(m);
}

const X = Float32Array.from({ length: 12 }, (_, i) => i / 4 - 1);
const runY = (g: Graph) =>
  Array.from((interpret(g, { x: new Tensor("f32", W.shape, X) }).outputs.y as Tensor).data as Float32Array);

Deno.test({
  name: "sparse fp16 weights: DENSIFY stays a node, runs as the hand-derived tensor, exports its encoding",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const bytes = smallModel();
    const model = importTflite(bytes);
    assertValid(model.graph);
    assert.deepEqual(model.graph.nodes.map((n) => n.op), ["tfl.DENSIFY", "tfl.DEQUANTIZE", "tfl.ADD"]);
    assert.deepEqual(model.graph.constants.w.shape, [6]);
    // Hand-derived: x + the dense weights (fp16 values that are exact in f32).
    const want = W.dense.map((v, i) => Math.fround(X[i] + v));
    assert.deepEqual(runY(model.graph), want);
    if (liteRt) assert.deepEqual(Array.from((await runLiteRt(bytes, [X]))[0].data), want);

    const out = exportTflite(model);
    const a = readTflite(bytes).subgraphs[0], b = readTflite(out);
    const w = b.subgraphs[0].tensors.find((t) => t.name === "w")!;
    assert.deepEqual(w.shape, W.shape);
    assert.equal(w.type, "FLOAT16");
    assert.deepEqual(plainSparsity(w.sparsity), plainSparsity(a.tensors[1].sparsity));
    assert.deepEqual(bytesOf(b.buffers[w.buffer].data), bytesOf(Float16Array.from(W.values)));
    assert.deepEqual(
      b.subgraphs[0].operators.map((o) => b.operatorCodes[o.opcodeIndex].builtinCode),
      ["DENSIFY", "DEQUANTIZE", "ADD"].map((n) => BUILTIN_CODE[n]),
    );
    const again = importTflite(out);
    const eq = graphsEqual(again.graph, model.graph, { namedUnknowns: true });
    assert.ok(eq.equal, eq.diff);
    if (liteRt) assert.deepEqual(Array.from((await runLiteRt(out, [X]))[0].data), want);
  },
});

Deno.test("the text form prints and parses a DENSIFY node's sparsity attributes back", () => {
  const g = importTflite(smallModel()).graph;
  const text = printGraph(g);
  assert.match(text, /dim_format=\["DENSE", "DENSE", "DENSE", "SPARSE_CSR"\]/);
  const back = parseGraph(text, { constants: collectConstants(g) });
  const eq = graphsEqual(back, g);
  assert.ok(eq.equal, eq.diff);
  assert.deepEqual(runY(back), runY(g));
});

Deno.test("constant folding expands DENSIFY; export then writes the weights dense", () => {
  const model = importTflite(smallModel());
  // DENSIFY and DEQUANTIZE both fold: ADD reads the hand-derived dense weights as f32.
  const folded = foldConstants(model.graph);
  assert.deepEqual(folded.nodes.map((n) => n.op), ["tfl.ADD"]);
  const w = folded.constants[folded.nodes[0].inputs[1]!];
  assert.deepEqual(w.shape, W.shape);
  assert.deepEqual(Array.from(new Float32Array(constantBytes(w).slice().buffer)), W.dense);
  const out = readTflite(exportTflite({ ...model, graph: folded }));
  assert.ok(out.subgraphs[0].tensors.every((t) => !t.sparsity));
});

Deno.test("a sparse layout that does not place every stored value is a LatheError at import", () => {
  const cases: [string, (m: TfliteModel) => void, string][] = [
    ["an extra stored value", (m) => {
      m.buffers[1].data = new Uint8Array(Float16Array.from([...W.values, 9]).buffer);
    }, "places 6 values, 7 are stored"],
    ["a missing stored value", (m) => {
      m.buffers[1].data = new Uint8Array(Float16Array.from(W.values.slice(0, 5)).buffer);
    }, "value 5 of 5 stored values"],
    ["an odd byte", (m) => {
      m.buffers[1].data = new Uint8Array(13);
    }, "not whole 2-byte elements"],
    ["a segment past the indices", (m) => {
      m.subgraphs[0].tensors[1].sparsity!.dimMetadata[3].arraySegments!.values[4] = 7;
    }, "segments run past"],
    ["a dense size that is not the dim", (m) => {
      m.subgraphs[0].tensors[1].sparsity!.dimMetadata[0].denseSize = 5;
    }, "dense with size 5"],
    ["the sparse tensor read directly", (m) => {
      m.subgraphs[0].operators[2].inputs = [0, 1];
    }, "sparse tensor used other than by DENSIFY"],
  ];
  for (const [what, edit, fragment] of cases) {
    assert.throws(
      () => importTflite(smallModel(edit), { file: "hostile.tflite" }),
      (e: unknown) =>
        e instanceof LatheError && e.message.includes(fragment) && e.message.includes("hostile"),
      what,
    );
  }
});

Deno.test("randomly edited sparsity tables import and run, or fail with a LatheError", () => {
  let seed = 7;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const pick = (n: number) => Math.floor(next() * n);
  const wild = () => [0, 1, 2, 3, 4, 5, 6, 255, 65535, -1, 1 << 30][pick(11)];
  let imported = 0, refused = 0;
  for (let i = 0; i < 400; i++) {
    const bytes = smallModel((m) => {
      const sp = m.subgraphs[0].tensors[1].sparsity!;
      for (let k = 0; k < 1 + (i % 3); k++) {
        const md = sp.dimMetadata[pick(sp.dimMetadata.length)];
        switch (pick(7)) {
          case 0:
            md.denseSize = wild();
            break;
          case 1:
            md.format = pick(3);
            break;
          case 2:
            if (md.arraySegments) md.arraySegments.values[pick(md.arraySegments.values.length)] = wild();
            break;
          case 3:
            if (md.arrayIndices) md.arrayIndices.values[pick(md.arrayIndices.values.length)] = wild();
            break;
          case 4:
            sp.traversalOrder[pick(4)] = wild();
            break;
          case 5:
            sp.blockMap.push(wild());
            break;
          default:
            md.arrayIndices = { type: "int32", values: Int32Array.of(wild(), wild()) };
        }
      }
    });
    try {
      const model = importTflite(bytes, { file: "edited.tflite" });
      runY(model.graph);
      const again = importTflite(exportTflite(model));
      const eq = graphsEqual(again.graph, model.graph);
      assert.ok(eq.equal, eq.diff);
      imported++;
    } catch (e) {
      if (!(e instanceof LatheError)) throw new Error(`case ${i}: ${e}`, { cause: e });
      refused++;
    }
  }
  console.log(`  400 edited tables: ${imported} imported, ran and round-tripped; ${refused} refused`);
  assert.ok(imported > 0 && refused > 0);
});

Deno.test("export refuses a graph whose sparse constant no longer fits its DENSIFY", () => {
  const model = importTflite(smallModel());
  const g = model.graph;
  const shortened: Model = {
    ...model,
    graph: {
      ...g,
      constants: { ...g.constants, w: { dtype: "f16", shape: [5], bytes: new Uint8Array(10) } },
    },
  };
  assert.throws(
    () => exportTflite(shortened),
    (e: unknown) => e instanceof LatheError && /of 5 stored values/.test(e.message),
  );
  const add = g.nodes[2];
  const readsStored: Model = {
    ...model,
    graph: { ...g, nodes: [g.nodes[0], g.nodes[1], { ...add, inputs: [add.inputs[0], "w"] }] },
  };
  assert.throws(
    () => exportTflite(readsStored),
    (e: unknown) => e instanceof LatheError && e.message.includes("holds sparse values for DENSIFY"),
  );
});

// ---- pose_detection ----------------------------------------------------------------------------------

const POSE = "tflite/mediapipe/pose_detection.tflite";

/** CSR decoding from the schema's definition, for the layout pose_detection uses (dense levels, CSR last). */
function decodeRowsCsr(shape: number[], s: Sparsity, values: Uint16Array): Uint16Array {
  const cols = shape[shape.length - 1];
  const rows = shape.slice(0, -1).reduce((p, d) => p * d, 1);
  const md = s.dimMetadata;
  assert.deepEqual(s.traversalOrder, shape.map((_, i) => i));
  assert.ok(md.slice(0, -1).every((d, i) => d.format === 0 && d.denseSize === shape[i]));
  const segs = md[md.length - 1].arraySegments!.values, idx = md[md.length - 1].arrayIndices!.values;
  const out = new Uint16Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let j = segs[r]; j < segs[r + 1]; j++) out[r * cols + idx[j]] = values[j];
  }
  return out;
}

Deno.test({
  name: "pose_detection: every sparse weight keeps its bytes and table, and expands as CSR decoding says",
  ignore: noCorpus(),
  fn() {
    const bytes = Deno.readFileSync(corpusPath(POSE));
    const original = readTflite(bytes);
    const model = importTflite(bytes, { file: POSE });
    const exported = readTflite(exportTflite(model));
    const a = original.subgraphs[0], b = exported.subgraphs[0];
    const sparse = a.tensors.filter((t) => t.sparsity);
    const densify = model.graph.nodes.filter((n) => n.op === "tfl.DENSIFY");
    assert.equal(densify.length, sparse.length);
    const code = (m: TfliteModel, o: { opcodeIndex: number }) => m.operatorCodes[o.opcodeIndex].builtinCode;
    assert.deepEqual(b.operators.map((o) => code(exported, o)), a.operators.map((o) => code(original, o)));
    let storedBytes = 0, denseBytes = 0;
    for (const t of sparse) {
      const u = b.tensors.find((x) => x.name === t.name)!;
      assert.deepEqual(u.shape, t.shape, t.name);
      assert.equal(u.type, t.type, t.name);
      assert.deepEqual(plainSparsity(u.sparsity), plainSparsity(t.sparsity), t.name);
      const orig = original.buffers[t.buffer].data;
      assert.deepEqual(bytesOf(exported.buffers[u.buffer].data), bytesOf(orig), t.name);
      storedBytes += orig.length;
      // The kernel's expansion against the reference decoding, bit for bit.
      const node = densify.find((n) => n.inputs[0] === t.name)!;
      const one: Graph = {
        name: "one",
        inputs: [],
        outputs: [node.outputs[0]],
        nodes: [node],
        values: { [node.outputs[0]]: model.graph.values[node.outputs[0]] },
        constants: { [t.name]: model.graph.constants[t.name] },
      };
      const got = interpret(one, {}).outputs[node.outputs[0]] as Tensor;
      const values = new Uint16Array(orig.slice().buffer);
      const want = decodeRowsCsr(t.shape, t.sparsity!, values);
      const f16 = got.data as Float16Array;
      const gotBits = new Uint16Array(f16.buffer, f16.byteOffset, want.length);
      assert.deepEqual(Array.from(gotBits), Array.from(want), t.name);
      denseBytes += want.byteLength;
    }
    console.log(
      `  pose_detection: ${sparse.length} sparse fp16 weights, ${storedBytes} stored bytes exported as read ` +
        `(${denseBytes} bytes dense)`,
    );
  },
});

Deno.test({
  name: "pose_detection: the imported graph prints and parses back to an equal graph",
  ignore: noCorpus(),
  fn() {
    const g = importTflite(Deno.readFileSync(corpusPath(POSE)), { file: POSE }).graph;
    const back = parseGraph(printGraph(g), { constants: collectConstants(g) });
    const eq = graphsEqual(back, g);
    assert.ok(eq.equal, eq.diff);
  },
});

Deno.test({
  name: "pose_detection converts to ONNX with its sparse weights expanded, and the report says so",
  ignore: noCorpus(),
  fn() {
    const model = importTflite(Deno.readFileSync(corpusPath(POSE)), { file: POSE });
    const { model: onnx, report } = tfliteToOnnx(model);
    assert.ok(!onnx.graph.nodes.some((n) => n.op.startsWith("tfl.")));
    const expanded = report.absorbed.filter((x) => x.op === "tfl.DENSIFY");
    assert.equal(expanded.length, 38);
    assert.ok(expanded.every((x) => x.why.includes("expanded into a dense constant")));
    assert.ok(report.notes.some((n) => n.startsWith("38 sparse weight tensor(s) written dense")));
  },
});
