/**
 * ONNX export. References: onnxruntime-node (it loads the exported bytes and must compute what it computes
 * on the original file, and what the conformance suite's numpy reference says), the importer on the
 * exported bytes (it must give back the first import's graph), and hand-read bytes of the suite's
 * SequenceProto/OptionalProto test files.
 */
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import {
  exportOnnx,
  exportOnnxParts,
  irVersionFor,
  requiredOpset,
  writeOnnxFile,
} from "../compiler/onnx/export.ts";
import { importOnnx, importOnnxFile } from "../compiler/onnx/import.ts";
import { decodeModel } from "../compiler/onnx/proto.ts";
import { decodeTestValue, readTestValue } from "../compiler/onnx/test-data.ts";
import { graphsEqual } from "../ir/equal.ts";
import { LatheError } from "../ir/errors.ts";
import type { Graph, Model, Node } from "../ir/graph.ts";
import { usersOf } from "../ir/graph.ts";
import type { ValueType } from "../ir/value-type.ts";
import { compareArrays, compareTensors } from "../runtime/compare.ts";
import { Rng } from "../runtime/random.ts";
import { OptionalValue, type RValue, Sequence, Tensor, type TypedArray } from "../runtime/tensor.ts";
import { CORPUS_DIR, HAVE_CORPUS, noCorpus } from "./support/corpus.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

const NODE_DIR = `${CORPUS_DIR}onnx-node-suite/node/`;

// onnxruntime-common stores float16 tensors as Float16Array when the global exists (it does in Deno), but
// the native binding reads those as empty under Deno's N-API. Its one-time type check runs at the first
// Tensor; hiding Float16Array for that moment makes it keep float16 data as Uint16Array bit patterns.
{
  const g = globalThis as Any;
  const f16 = g.Float16Array;
  g.Float16Array = undefined;
  try {
    new ort.Tensor("float32", new Float32Array(1), [1]);
  } finally {
    g.Float16Array = f16;
  }
}
const ORT_OPTS: ort.InferenceSession.SessionOptions = { logSeverityLevel: 4 };

function walk(dir: string, out: string[] = []): string[] {
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) walk(p, out);
    else if (e.name.endsWith(".onnx")) out.push(p);
  }
  return out.sort();
}

// ---------------------------------------------------------------------------------------------------
// Runtime values ↔ onnxruntime tensors

const ORT_TYPE: Record<string, string> = {
  f32: "float32",
  f64: "float64",
  f16: "float16",
  i64: "int64",
  i32: "int32",
  i16: "int16",
  i8: "int8",
  u64: "uint64",
  u32: "uint32",
  u16: "uint16",
  u8: "uint8",
  bool: "bool",
  string: "string",
};
const FROM_ORT: Record<string, string> = Object.fromEntries(Object.entries(ORT_TYPE).map(([k, v]) => [v, k]));

/** The value as an onnxruntime tensor, or a reason it cannot be one. */
function toOrt(v: RValue): ort.Tensor | string {
  if (!(v instanceof Tensor)) return `${v.constructor.name} values cannot be fed to onnxruntime-node`;
  const type = typeof v.dtype === "string" ? ORT_TYPE[v.dtype] : undefined;
  if (!type) return `onnxruntime-node has no ${JSON.stringify(v.dtype)} tensors`;
  if (type === "string") return new ort.Tensor("string", v.data as string[], [...v.shape]);
  const d = v.data as TypedArray;
  // float16 goes in as its bit patterns, which every onnxruntime-node version accepts.
  const data = type === "float16" ? new Uint16Array(d.buffer, d.byteOffset, d.length) : d;
  return new ort.Tensor(type as Any, data as Any, [...v.shape]);
}

function fromOrt(t: ort.Tensor): Tensor {
  const dtype = FROM_ORT[t.type];
  if (!dtype) throw new Error(`onnxruntime output of type ${t.type}`);
  let data = t.data as Any;
  if (dtype === "f16" && !(data instanceof Float16Array)) {
    data = new Float16Array(data.buffer, data.byteOffset, data.length);
  }
  return new Tensor(dtype as Any, [...t.dims], data);
}

async function runOrt(
  model: string | Uint8Array,
  feeds: Record<string, ort.Tensor>,
  outputs: readonly string[],
): Promise<Tensor[]> {
  const s = await ort.InferenceSession.create(model as Any, ORT_OPTS);
  try {
    const r = await s.run(feeds);
    return outputs.map((o) => {
      if (!r[o]) throw new Error(`onnxruntime gave no output ${o}`);
      return fromOrt(r[o] as ort.Tensor);
    });
  } finally {
    await s.release();
  }
}

// ---------------------------------------------------------------------------------------------------
// Corpus models: import → export → onnxruntime gives the same outputs; re-import gives the same graph

/** Inputs that need values a uniform [-1, 1) tensor cannot give: shapes for symbolic dims, rates. */
const INPUT_PLANS: Record<string, Record<string, { shape?: number[]; values?: number[] }>> = {
  "silero_vad_v5.onnx": {
    input: { shape: [1, 512] },
    state: { shape: [2, 1, 128] },
    sr: { values: [16000] },
  },
  "melspectrogram.onnx": { input: { shape: [1, 1280] } },
  "ch_ppocr_mobile_v2.0_cls_infer.onnx": { x: { shape: [1, 3, 48, 192] } },
};

function seededInputs(g: Graph, file: string, seed: number): Record<string, Tensor> {
  const plan = INPUT_PLANS[file.slice(file.lastIndexOf("/") + 1)] ?? {};
  const rng = new Rng(seed);
  const out: Record<string, Tensor> = {};
  for (const name of g.inputs) {
    if (g.constants[name]) continue; // an overridable default keeps its value
    const t = g.values[name]?.type;
    if (t?.kind !== "tensor" || !t.shape) throw new Error(`${file}: input ${name} has no tensor shape`);
    const p = plan[name] ?? {};
    // Symbolic batch dims become 1; other symbolic dims must be planned.
    const shape = p.shape ?? (p.values ? [] : t.shape.map((d, i) => {
      if (typeof d === "number") return d;
      if (i === 0) return 1;
      throw new Error(`${file}: input ${name} has symbolic dim ${d} without a plan`);
    }));
    const n = shape.reduce((a, b) => a * b, 1);
    if (t.dtype === "f32") {
      const data = new Float32Array(n);
      if (p.values) data.set(p.values);
      else for (let i = 0; i < n; i++) data[i] = rng.uniform(-1, 1);
      out[name] = new Tensor("f32", shape, data);
    } else if (t.dtype === "i64" || t.dtype === "i32") {
      // Indices into a Gather table stay inside it.
      const gather = usersOf(g, name).find((u) => u.op === "Gather" && u.inputs[1] === name);
      const table = gather?.inputs[0] ? g.constants[gather.inputs[0]] : undefined;
      const hi = table ? table.shape[0] : 10;
      const vals = Array.from({ length: n }, (_, i) => p.values?.[i] ?? rng.int(0, hi));
      out[name] = t.dtype === "i64"
        ? new Tensor("i64", shape, BigInt64Array.from(vals.map(BigInt)))
        : new Tensor("i32", shape, Int32Array.from(vals));
    } else if (t.dtype === "bool") {
      out[name] = new Tensor("bool", shape, Uint8Array.from({ length: n }, () => rng.int(0, 2)));
    } else throw new Error(`${file}: no plan for ${t.dtype} input ${name}`);
  }
  return out;
}

function ortFeeds(values: Record<string, RValue>): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(values)) {
    const t = toOrt(v);
    if (typeof t === "string") throw new Error(`input ${k}: ${t}`);
    feeds[k] = t;
  }
  return feeds;
}

const corpusModels = HAVE_CORPUS ? walk(`${CORPUS_DIR}onnx`) : [];

for (const file of corpusModels.length ? corpusModels : ["(corpus absent)"]) {
  const rel = file.slice(CORPUS_DIR.length);
  Deno.test({
    name: `export ${rel}: onnxruntime gives the original's outputs, re-import gives the same graph`,
    ignore: noCorpus(),
    async fn() {
      const m = await importOnnxFile(file);
      const t0 = performance.now();
      const bytes = exportOnnx(m);
      const ms = performance.now() - t0;
      const again = importOnnx(bytes, { file: `${rel} (exported)` });
      const t1 = performance.now();
      const eq = graphsEqual(m.graph, again.graph, { ignoreIds: true });
      const eqMs = performance.now() - t1;
      assert.ok(eq.equal, `re-imported graph differs: ${eq.diff}`);

      const feeds = ortFeeds(seededInputs(m.graph, file, 7));
      const want = await runOrt(file, feeds, m.graph.outputs);
      const got = await runOrt(bytes, feeds, m.graph.outputs);
      let worst = 0;
      want.forEach((w, i) => {
        assert.ok(
          w.size > 0 && (w.data as Float32Array).some((x) => x !== 0),
          `${rel} output ${i} is trivial`,
        );
        const r = compareTensors(got[i], w, 1e-6, 1e-6);
        assert.ok(r.ok, `output ${m.graph.outputs[i]}: ${r.message}`);
        worst = Math.max(worst, r.maxAbs);
      });
      const mp = decodeModel(bytes, rel);
      const opset = mp.opsetImport.find((o) => !o.domain)?.version;
      console.log(
        `  ${rel}: opset ${m.meta.opsets[""]}→${opset}, IR ${m.meta.irVersion}→${mp.irVersion}, ` +
          `${(bytes.length / 1024).toFixed(0)} KB in ${ms.toFixed(0)} ms, graphsEqual ${
            eqMs.toFixed(0)
          } ms, max |Δ| ${worst}`,
      );
    },
  });
}

// ---------------------------------------------------------------------------------------------------
// Node conformance suite through export

interface SuiteResult {
  pass: string[];
  /** onnxruntime disagrees with the reference, and the exported model computes what the original does. */
  matchOriginal: string[];
  fail: string[];
  cantRun: string[];
  notEqual: string[];
}

async function caseValues(dir: string, g: Graph, prefix: "input" | "output"): Promise<RValue[]> {
  const data = `${dir}/test_data_set_0`;
  const files = [...Deno.readDirSync(data)].map((e) => e.name).filter((n) => n.startsWith(`${prefix}_`));
  files.sort((a, b) => Number(/\d+/.exec(a)![0]) - Number(/\d+/.exec(b)![0]));
  const names = prefix === "input" ? g.inputs : g.outputs;
  const out: RValue[] = [];
  for (let i = 0; i < files.length; i++) {
    out.push((await readTestValue(`${data}/${files[i]}`, g.values[names[i]]?.type)).value);
  }
  return out;
}

function compareAll(
  got: Tensor[],
  want: RValue[],
  names: readonly string[],
  rtol = 1e-4,
  atol = 1e-5,
): string | undefined {
  for (let i = 0; i < want.length; i++) {
    const w = want[i];
    if (!(w instanceof Tensor)) return `output ${names[i]} is a ${w.constructor.name}`;
    if (JSON.stringify(got[i].dtype) !== JSON.stringify(w.dtype)) {
      return `output ${names[i]}: dtype ${got[i].dtype} != ${w.dtype}`;
    }
    const r = compareTensors(got[i], w, rtol, atol);
    if (!r.ok) return `output ${names[i]}: ${r.message}`;
  }
  return undefined;
}

async function runSuiteCase(name: string, res: SuiteResult): Promise<void> {
  const dir = NODE_DIR + name;
  let m: Model;
  try {
    m = await importOnnxFile(`${dir}/model.onnx`);
  } catch {
    return; // the importer's own tests report these
  }
  const g = m.graph;
  let bytes: Uint8Array;
  try {
    bytes = exportOnnx(m);
  } catch (e) {
    res.fail.push(`${name}: export: ${(e as Error).message}`);
    return;
  }
  try {
    const eq = graphsEqual(g, importOnnx(bytes, { file: name }).graph, { ignoreIds: true });
    if (!eq.equal) res.notEqual.push(`${name}: ${eq.diff}`);
  } catch (e) {
    res.notEqual.push(`${name}: re-import: ${(e as Error).message}`);
  }
  const inputs = await caseValues(dir, g, "input");
  const want = await caseValues(dir, g, "output");
  const feeds: Record<string, ort.Tensor> = {};
  for (let i = 0; i < inputs.length; i++) {
    const t = toOrt(inputs[i]);
    if (typeof t === "string") return void res.cantRun.push(`${name}: ${t}`);
    feeds[g.inputs[i]] = t;
  }
  const unrepresentable = want.find((w) => !(w instanceof Tensor) || typeof toOrt(w) === "string");
  if (unrepresentable) return void res.cantRun.push(`${name}: output ${toOrtReason(unrepresentable)}`);
  const outNames = g.outputs.slice(0, want.length);
  const attempt = async (model: string | Uint8Array) => {
    try {
      return await runOrt(model, feeds, outNames);
    } catch (e) {
      return `onnxruntime: ${String(e).slice(0, 240)}`;
    }
  };
  const exported = await attempt(bytes);
  const why = typeof exported === "string" ? exported : compareAll(exported, want, outNames);
  if (!why) return void res.pass.push(name);
  // The original file tells whether onnxruntime itself can do this case.
  const original = await attempt(`${dir}/model.onnx`);
  if (typeof original === "string") return void res.cantRun.push(`${name}: original file too: ${original}`);
  const originalWhy = compareAll(original, want, outNames);
  if (!originalWhy) return void res.fail.push(`${name}: ${why}`);
  // onnxruntime disagrees with the reference on the original too; then the exported model must at least
  // compute what onnxruntime computes on the original, unless onnxruntime is not repeatable here (random ops).
  if (typeof exported === "string") return void res.fail.push(`${name}: ${why}`);
  if (!compareAll(exported, original, outNames, 1e-6, 1e-6)) return void res.matchOriginal.push(name);
  const again = await attempt(`${dir}/model.onnx`);
  if (typeof again !== "string" && compareAll(again, original, outNames, 0, 0)) {
    return void res.cantRun.push(`${name}: onnxruntime is not repeatable and disagrees with the reference`);
  }
  res.fail.push(`${name}: differs from onnxruntime on the original file (${originalWhy})`);
}

function toOrtReason(v: RValue): string {
  const t = toOrt(v);
  return typeof t === "string" ? t : "";
}

Deno.test({
  name: "node suite: exported models run in onnxruntime and match the expected outputs",
  ignore: noCorpus(),
  async fn() {
    const res: SuiteResult = { pass: [], matchOriginal: [], fail: [], cantRun: [], notEqual: [] };
    const names = [...Deno.readDirSync(NODE_DIR)].filter((e) => e.isDirectory).map((e) => e.name).sort();
    for (const n of names) await runSuiteCase(n, res);
    console.log(
      `  node suite via export: ${res.pass.length} pass, ${res.matchOriginal.length} match onnxruntime on the ` +
        `original (which misses the reference), ${res.fail.length} fail, ${res.cantRun.length} cannot run in ` +
        `onnxruntime, ${res.notEqual.length} re-imports differ (of ${names.length} cases)`,
    );
    for (const f of res.fail) console.log(`  FAIL ${f}`);
    for (const f of res.notEqual) console.log(`  NOT EQUAL ${f}`);
    if (Deno.env.get("LATHE_VERBOSE")) {
      for (const f of res.matchOriginal) console.log(`  MATCHES ORIGINAL ${f}`);
      for (const f of res.cantRun) console.log(`  CANNOT RUN ${f}`);
    }
    assert.ok(res.pass.length > 800, `only ${res.pass.length} cases pass`);
    assert.ok(
      res.matchOriginal.length + res.cantRun.length + res.pass.length + res.fail.length <= names.length,
    );
    assert.deepEqual(res.notEqual, []);
    assert.deepEqual(res.fail, []);
  },
});

// ---------------------------------------------------------------------------------------------------
// Opsets, IR versions, external data

function tinyModel(opset: number, nodes: Node[], extra: Partial<Graph> = {}): Model {
  return {
    graph: {
      name: "t",
      inputs: ["x"],
      outputs: ["y"],
      nodes,
      values: {
        x: { type: { kind: "tensor", dtype: "f32", shape: [2, 3] } },
        y: { type: { kind: "tensor", dtype: "f32", shape: [1, 2, 3] } },
      },
      constants: {},
      ...extra,
    },
    meta: { format: "onnx", irVersion: 4, opsets: { "": opset }, props: { note: "hand-built" } },
  };
}

const i64c = (xs: number[]) => ({
  dtype: "i64" as const,
  shape: [xs.length],
  bytes: new Uint8Array(BigInt64Array.from(xs.map(BigInt)).buffer),
});

Deno.test("export raises the opset to where the IR form of each op exists, and follows with the IR version", async () => {
  // Unsqueeze with an axes input exists from opset 13 on (onnx Changelog, Unsqueeze-13).
  const unsq: Node = { id: "u", op: "Unsqueeze", inputs: ["x", "axes"], outputs: ["y"], attrs: {} };
  const m = tinyModel(9, [unsq], {
    constants: { axes: i64c([0]) },
    values: {
      x: { type: { kind: "tensor", dtype: "f32", shape: [2, 3] } },
      axes: { type: { kind: "tensor", dtype: "i64", shape: [1] } },
      y: { type: { kind: "tensor", dtype: "f32", shape: [1, 2, 3] } },
    },
  });
  const parts = exportOnnxParts(m);
  assert.equal(parts.opset, 13);
  assert.equal(parts.irVersion, 7);
  const mp = decodeModel(parts.model, "t");
  assert.equal(mp.irVersion, 7);
  assert.deepEqual(mp.opsetImport.map((o) => [o.domain, o.version]), [["", 13]]);
  assert.deepEqual(mp.metadataProps.map((p) => [p.key, p.value]), [["note", "hand-built"]]);
  assert.equal(mp.graph!.node[0].name, "u");
  // onnxruntime runs it: [2,3] → [1,2,3] with the same elements.
  const x = new ort.Tensor("float32", Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
  const [y] = await runOrt(parts.model, { x }, ["y"]);
  assert.deepEqual(y.shape, [1, 2, 3]);
  assert.deepEqual([...y.data as Float32Array], [1, 2, 3, 4, 5, 6]);
  // Asking for an opset below the op's form is refused.
  assert.throws(
    () => exportOnnx(m, { opset: 12 }),
    (e) => e instanceof LatheError && /Unsqueeze.*13/.test(e.message),
  );
  // A reduction with an axes input needs 18; GridSample's "linear" mode 20.
  const rm: Node = { id: "r", op: "ReduceMean", inputs: ["x", "axes"], outputs: ["y"], attrs: {} };
  assert.equal(requiredOpset(tinyModel(13, [rm]).graph).opset, 18);
  const gs: Node = {
    id: "g",
    op: "GridSample",
    inputs: ["x", "x"],
    outputs: ["y"],
    attrs: { mode: { type: "string", value: "linear" } },
  };
  assert.equal(requiredOpset(tinyModel(16, [gs]).graph).opset, 20);
  assert.throws(() => exportOnnx(tinyModel(16, [gs]), { maxOpset: 19 }), LatheError);
  // Scatter was deprecated in opset 11: with an op that needs 13 there is no opset for both.
  const sc: Node = { id: "s", op: "Scatter", inputs: ["x", "i", "x"], outputs: ["z"], attrs: {} };
  assert.throws(
    () => exportOnnx(tinyModel(9, [sc, unsq], { constants: m.graph.constants, values: m.graph.values })),
    (e) => e instanceof LatheError && /Scatter.*opset 11 dropped.*Unsqueeze/.test(e.message),
  );
  assert.equal(exportOnnxParts(tinyModel(9, [sc])).opset, 9);
  // IR versions from onnx's versioning table.
  assert.deepEqual([7, 9, 11, 13, 15, 17, 18, 19, 20, 21].map(irVersionFor), [3, 4, 6, 7, 8, 8, 8, 9, 9, 10]);
});

Deno.test("before IR 4, initializers are listed as graph inputs too", () => {
  const add: Node = { id: "a", op: "Add", inputs: ["x", "w"], outputs: ["y"], attrs: {} };
  const m: Model = {
    ...tinyModel(7, [add]),
    meta: { format: "onnx", irVersion: 3, opsets: { "": 7 }, props: {} },
  };
  const w = { dtype: "f32" as const, shape: [3], bytes: new Uint8Array(Float32Array.from([1, 2, 3]).buffer) };
  const g: Graph = {
    ...m.graph,
    constants: { w },
    values: {
      ...m.graph.values,
      w: { type: { kind: "tensor", dtype: "f32", shape: [3] } },
      y: { type: { kind: "tensor", dtype: "f32", shape: [2, 3] } },
    },
  };
  const mp = decodeModel(exportOnnx({ ...m, graph: g }), "t");
  assert.equal(mp.irVersion, 3);
  assert.deepEqual(mp.graph!.input.map((v) => v.name), ["x", "w"]);
  assert.deepEqual(mp.graph!.initializer.map((t) => t.name), ["w"]);
  const back = importOnnx(exportOnnx({ ...m, graph: g }));
  assert.deepEqual(back.graph.inputs, ["x"]);
});

Deno.test({
  name: "writeOnnxFile with external data: onnxruntime reads the data file and gives the same outputs",
  ignore: noCorpus(),
  async fn() {
    const file = `${CORPUS_DIR}onnx/torch/squeezenet1_1.onnx`;
    const m = await importOnnxFile(file);
    const dir = await Deno.makeTempDir();
    try {
      await writeOnnxFile(`${dir}/sq.onnx`, m, { externalData: { file: "sq.data", threshold: 4096 } });
      const modelSize = (await Deno.stat(`${dir}/sq.onnx`)).size;
      const dataSize = (await Deno.stat(`${dir}/sq.data`)).size;
      assert.ok(modelSize < 200_000 && dataSize > 4_000_000, `model ${modelSize} B, data ${dataSize} B`);
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["sq.data", "sq.onnx"]);
      const feeds = ortFeeds(seededInputs(m.graph, file, 3));
      const [want] = await runOrt(file, feeds, m.graph.outputs);
      const [got] = await runOrt(`${dir}/sq.onnx`, feeds, m.graph.outputs);
      const r = compareArrays(got.data as Float32Array, want.data as Float32Array, 0, 0);
      assert.ok(r.ok, r.message);
      const again = await importOnnxFile(`${dir}/sq.onnx`);
      const eq = graphsEqual(m.graph, again.graph, { ignoreIds: true });
      assert.ok(eq.equal, eq.diff);
      // Exporting the model read back from external data writes its weights inline again.
      const [inline] = await runOrt(exportOnnx(again), feeds, m.graph.outputs);
      assert.ok(compareArrays(inline.data as Float32Array, want.data as Float32Array, 0, 0).ok);
      assert.throws(() => exportOnnx(m, { externalData: { file: "x.data" } }), LatheError);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ---------------------------------------------------------------------------------------------------
// graphsEqual

Deno.test("graphsEqual finds a changed constant byte, attribute, edge and type, and can ignore ids", () => {
  const w = { dtype: "f32" as const, shape: [64], bytes: new Uint8Array(256).fill(1) };
  const base: Graph = {
    name: "g",
    inputs: ["x"],
    outputs: ["y"],
    nodes: [{ id: "n0", op: "Add", inputs: ["x", "w"], outputs: ["y"], attrs: {}, name: "add" }],
    values: {
      x: { type: { kind: "tensor", dtype: "f32", shape: [64] } },
      w: { type: { kind: "tensor", dtype: "f32", shape: [64] } },
      y: { type: { kind: "tensor", dtype: "f32", shape: [64] } },
    },
    constants: { w },
  };
  assert.deepEqual(graphsEqual(base, base), { equal: true });
  const bytes = new Uint8Array(256).fill(1);
  bytes[201] = 2;
  const r1 = graphsEqual(base, { ...base, constants: { w: { ...w, bytes } } });
  assert.equal(r1.equal, false);
  assert.match(r1.diff!, /constant %w: byte 201 differs/);
  const renamed: Graph = { ...base, nodes: [{ ...base.nodes[0], id: "other", name: "x2" }] };
  assert.equal(graphsEqual(base, renamed).equal, false);
  assert.equal(graphsEqual(base, renamed, { ignoreIds: true }).equal, true);
  const withAttr: Graph = { ...base, nodes: [{ ...base.nodes[0], attrs: { k: { type: "int", value: 1 } } }] };
  assert.match(graphsEqual(base, withAttr).diff!, /k=1/);
  const swapped: Graph = { ...base, nodes: [{ ...base.nodes[0], inputs: ["w", "x"] }] };
  assert.equal(graphsEqual(base, swapped, { ignoreIds: true }).equal, false);
  const retyped: Graph = {
    ...base,
    values: { ...base.values, y: { type: { kind: "tensor", dtype: "f16", shape: [64] } } },
  };
  assert.match(graphsEqual(base, retyped).diff!, /f16/);
  // Unknown dims are anonymous unless asked.
  const u1: Graph = {
    ...base,
    values: { ...base.values, y: { type: { kind: "tensor", dtype: "f32", shape: ["?3"] } } },
  };
  const u2: Graph = {
    ...base,
    values: { ...base.values, y: { type: { kind: "tensor", dtype: "f32", shape: ["?u0"] } } },
  };
  assert.equal(graphsEqual(u1, u2).equal, true);
  assert.equal(graphsEqual(u1, u2, { namedUnknowns: true }).equal, false);
  const sym: Graph = {
    ...base,
    values: { ...base.values, y: { type: { kind: "tensor", dtype: "f32", shape: ["N"] } } },
  };
  assert.equal(graphsEqual(u1, sym).equal, false);
});

// ---------------------------------------------------------------------------------------------------
// SequenceProto / OptionalProto test data (values read by hand from the files' bytes)

const seqOf = (t: ValueType): ValueType => ({ kind: "sequence", elem: t });
const optOf = (t: ValueType): ValueType => ({ kind: "optional", elem: t });
const i64 = (shape?: number[]): ValueType => ({ kind: "tensor", dtype: "i64", ...(shape ? { shape } : {}) });
const f32 = (shape?: number[]): ValueType => ({ kind: "tensor", dtype: "f32", ...(shape ? { shape } : {}) });

const suiteData = (c: string, f: string) => `${NODE_DIR}${c}/test_data_set_0/${f}`;

Deno.test({
  name: "readTestValue reads the suite's SequenceProto and OptionalProto files",
  ignore: noCorpus(),
  async fn() {
    // 0a08 "sequence" 1001 (TENSOR) 1a26 {dims 4, INT64, raw 1..4} 1a1e {dims 3, raw 5..7} 1a16 {dims 2, raw 8,9}
    const s =
      (await readTestValue(suiteData("test_sequence_insert_at_back", "input_0.pb"), seqOf(i64()))).value;
    assert.ok(s instanceof Sequence);
    assert.deepEqual(s.items.map((t) => [...(t as Tensor).shape]), [[4], [3], [2]]);
    assert.deepEqual(s.items.map((t) => [...((t as Tensor).data as BigInt64Array)].map(Number)), [
      [1, 2, 3, 4],
      [5, 6, 7],
      [8, 9],
    ]);
    assert.equal(s.elemDType, "i64");

    // 0a0e "optional_input" 1000: elem_type UNDEFINED, the empty optional.
    const e = await readTestValue(suiteData("test_optional_has_element_empty", "input_0.pb"), optOf(f32()));
    assert.equal(e.name, "optional_input");
    assert.ok(e.value instanceof OptionalValue && e.value.value === undefined);

    // 1001 TENSOR, 1a16 {dims 4, FLOAT, raw 1,2,3,4}
    const o =
      (await readTestValue(suiteData("test_optional_has_element", "input_0.pb"), optOf(f32([4])))).value;
    assert.ok(o instanceof OptionalValue && o.value instanceof Tensor);
    assert.deepEqual([...(o.value.data as Float32Array)], [1, 2, 3, 4]);

    // 0a06 "opt_in" 1003 (SEQUENCE) 2a1e {elem TENSOR, {dims 5, FLOAT, raw 1..5}}
    const os = (await readTestValue(suiteData("test_identity_opt", "input_0.pb"), optOf(seqOf(f32())))).value;
    assert.ok(os instanceof OptionalValue && os.value instanceof Sequence);
    assert.deepEqual([...((os.value.items[0] as Tensor).data as Float32Array)], [1, 2, 3, 4, 5]);

    // A declared type that contradicts the file is a format error, not a wrong value.
    await assert.rejects(
      readTestValue(suiteData("test_identity_opt", "input_0.pb"), optOf(f32())),
      (err) => err instanceof LatheError && err.kind === "format",
    );
    // Bare tensors still read without a type: 1009 (BOOL) 4204 "cond" 4a01 00.
    const b = decodeTestValue(Deno.readFileSync(suiteData("test_if_opt", "input_0.pb")), "cond.pb");
    assert.ok(b.value instanceof Tensor && b.value.dtype === "bool" && (b.value.data as Uint8Array)[0] === 0);
    assert.equal(b.name, "cond");
  },
});
