/**
 * The ONNX wire layer against independent references: the `onnx-proto` package (protobufjs code generated
 * from onnx.proto) for decoding and encoding, onnxruntime for the bytes of tensors and re-encoded models,
 * and hand-built byte strings (spec-derived, written here with a separate mini-encoder) for hostile input.
 */
import assert from "node:assert/strict";
import * as onnxProtoModule from "onnx-proto";
import * as ort from "onnxruntime-node";
import { LatheError } from "../ir/errors.ts";
import {
  decodeModel,
  decodeTensor,
  encodeModel,
  encodeTensor,
  type GraphProto,
  type ModelProto,
  type TensorProto,
} from "../compiler/onnx/proto.ts";
import {
  OnnxDataType,
  onnxDataTypeName,
  onnxElementSize,
  tensorBytes,
} from "../compiler/onnx/tensor-data.ts";

const SHARED = new URL("../../shared/", import.meta.url);
const CORPUS = new URL("corpus/", SHARED);
const hasCorpus = (() => {
  try {
    return Deno.statSync(new URL("onnx/", CORPUS)).isDirectory;
  } catch {
    return false;
  }
})();
if (!hasCorpus) console.log(`onnx-proto tests: ${CORPUS.pathname} is absent, corpus tests are skipped`);

// deno-lint-ignore no-explicit-any
const ref: any = (onnxProtoModule as any).onnx ?? (onnxProtoModule as any).default.onnx;

// ---------------------------------------------------------------------------------------------------
// Corpus listing

function walk(dir: string, out: string[], pred: (name: string) => boolean): string[] {
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) walk(p, out, pred);
    else if (e.isFile && pred(e.name)) out.push(p);
  }
  return out;
}

function corpusModels(): string[] {
  return walk(new URL("onnx", CORPUS).pathname, [], (n) => n.endsWith(".onnx")).sort();
}

function nodeSuiteCases(): string[] {
  const dir = new URL("onnx-node-suite/node", CORPUS).pathname;
  return [...Deno.readDirSync(dir)].filter((e) => e.isDirectory).map((e) => `${dir}/${e.name}`).sort();
}

// ---------------------------------------------------------------------------------------------------
// Normalization: both decoders' outputs map to the same plain shape (absent = undefined, int64 = string,
// bytes = length + FNV-1a hash), so deepStrictEqual compares them field by field.

// deno-lint-ignore no-explicit-any
type Any = any;

function own(o: Any, k: string): Any {
  return o != null && Object.hasOwn(o, k) ? o[k] : undefined;
}

function i64(v: Any): string | undefined {
  if (v === undefined || v === null) return undefined;
  return typeof v === "object" ? BigInt(v.toString()).toString() : BigInt(v).toString();
}

function bytesId(b: Any): string | undefined {
  if (b === undefined || b === null) return undefined;
  const u = b as Uint8Array;
  let h = 0x811c9dc5;
  for (let i = 0; i < u.length; i++) h = Math.imul(h ^ u[i], 0x01000193);
  return `${u.length}:${(h >>> 0).toString(16)}`;
}

function nums(a: Any): number[] {
  return Array.from(a ?? [], (x: Any) => Number(x));
}

function normTensor(t: Any, isRef: boolean): Any {
  if (t === undefined || t === null) return undefined;
  const get = (k: string) => isRef ? own(t, k) : t[k];
  const raw = get("rawData");
  return {
    name: get("name") ?? "",
    dataType: get("dataType") ?? 0,
    dims: (t.dims ?? []).map(i64),
    rawData: raw && raw.length ? bytesId(raw) : undefined,
    floatData: nums(t.floatData),
    int32Data: nums(t.int32Data),
    int64Data: Array.from(t.int64Data ?? [], i64),
    doubleData: nums(t.doubleData),
    uint64Data: Array.from(t.uint64Data ?? [], (v: Any) => i64(typeof v === "object" ? v.toString() : v)),
    stringData: (t.stringData ?? []).map(bytesId),
    dataLocation: get("dataLocation") ?? 0,
    externalData: (t.externalData ?? []).map((e: Any) => [e.key, e.value]),
  };
}

function normType(tp: Any, isRef: boolean): Any {
  if (tp === undefined || tp === null) return undefined;
  const get = (o: Any, k: string) => isRef ? own(o, k) : o?.[k];
  const shape = (s: Any) =>
    s === undefined ? undefined : s.dim.map((d: Any) => ({
      v: i64(get(d, "dimValue")),
      p: get(d, "dimParam"),
    }));
  const tensor = (x: Any) =>
    x === undefined ? undefined : { elem: get(x, "elemType"), shape: shape(get(x, "shape")) };
  return {
    tensor: tensor(get(tp, "tensorType")),
    sparse: tensor(get(tp, "sparseTensorType")),
    seq: normType(get(get(tp, "sequenceType"), "elemType"), isRef),
    opt: normType(get(get(tp, "optionalType"), "elemType"), isRef),
    map: get(tp, "mapType") === undefined ? undefined : {
      key: get(get(tp, "mapType"), "keyType"),
      value: normType(get(get(tp, "mapType"), "valueType"), isRef),
    },
  };
}

function normGraph(g: Any, isRef: boolean): Any {
  if (g === undefined || g === null) return undefined;
  const get = (o: Any, k: string) => isRef ? own(o, k) : o?.[k];
  const vi = (v: Any) => ({ name: get(v, "name") ?? "", type: normType(get(v, "type"), isRef) });
  return {
    name: get(g, "name") ?? "",
    node: g.node.map((n: Any) => ({
      opType: get(n, "opType") ?? "",
      domain: get(n, "domain") ?? "",
      name: get(n, "name") ?? "",
      input: [...n.input],
      output: [...n.output],
      attribute: n.attribute.map((a: Any) => ({
        name: get(a, "name"),
        type: get(a, "type") ?? 0,
        f: get(a, "f"),
        i: i64(get(a, "i")),
        s: bytesId(get(a, "s")),
        t: normTensor(get(a, "t"), isRef),
        g: normGraph(get(a, "g"), isRef),
        floats: nums(a.floats),
        ints: Array.from(a.ints, i64),
        strings: a.strings.map(bytesId),
        tensors: a.tensors.map((t: Any) => normTensor(t, isRef)),
        graphs: a.graphs.map((x: Any) => normGraph(x, isRef)),
      })),
    })),
    initializer: g.initializer.map((t: Any) => normTensor(t, isRef)),
    sparseInitializer: g.sparseInitializer.length,
    input: g.input.map(vi),
    output: g.output.map(vi),
    valueInfo: g.valueInfo.map(vi),
  };
}

function normModel(m: Any, isRef: boolean): Any {
  const get = (k: string) => isRef ? own(m, k) : m[k];
  return {
    irVersion: i64(get("irVersion")),
    producerName: get("producerName"),
    producerVersion: get("producerVersion"),
    modelVersion: i64(get("modelVersion")),
    opsetImport: m.opsetImport.map((o: Any) => [own(o, "domain") ?? "", i64(own(o, "version"))]),
    metadataProps: m.metadataProps.map((e: Any) => [e.key, e.value]),
    functions: m.functions.length,
    graph: normGraph(get("graph"), isRef),
  };
}

/** Our structure with decoder-only properties removed, for comparing two decodes of ours. */
function strip(m: Any): Any {
  return JSON.parse(JSON.stringify(m, (k, v) => {
    if (k === "rawDataOffset") return undefined;
    if (typeof v === "bigint") return `${v}n`;
    if (v instanceof Uint8Array) return bytesId(v);
    if (ArrayBuffer.isView(v)) return Array.from(v as Any, (x: Any) => typeof x === "bigint" ? `${x}n` : x);
    return v;
  }));
}

function allTensors(g: GraphProto | undefined, out: TensorProto[] = []): TensorProto[] {
  if (!g) return out;
  out.push(...g.initializer);
  for (const n of g.node) {
    for (const a of n.attribute) {
      if (a.t) out.push(a.t);
      out.push(...a.tensors);
      if (a.g) allTensors(a.g, out);
      for (const sg of a.graphs) allTensors(sg, out);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Decoding against onnx-proto

Deno.test({
  name: "onnx corpus models decode the same as onnx-proto",
  ignore: !hasCorpus,
  fn() {
    const files = corpusModels();
    assert.ok(files.length >= 9, `expected the 9 corpus ONNX models, found ${files.length}`);
    let nodes = 0, subgraphs = 0;
    for (const f of files) {
      const bytes = Deno.readFileSync(f);
      const ours = decodeModel(bytes, f);
      const theirs = ref.ModelProto.decode(bytes);
      assert.deepStrictEqual(normModel(ours, false), normModel(theirs, true), f);
      nodes += ours.graph!.node.length;
      for (const n of ours.graph!.node) for (const a of n.attribute) if (a.g) subgraphs++;
      // raw_data is a view into the file at the recorded offset.
      for (const t of allTensors(ours.graph)) {
        if (!t.rawData) continue;
        assert.equal(t.rawData.buffer, bytes.buffer);
        assert.equal(t.rawData.byteOffset, t.rawDataOffset);
        const tb = tensorBytes(t, { file: f });
        assert.equal(tb.bytes, t.rawData);
      }
    }
    assert.ok(nodes > 500, `corpus node count ${nodes}`);
    assert.ok(subgraphs > 0, "silero-vad's If subgraphs were decoded");
  },
});

function tensorOnlyIo(m: ModelProto): boolean {
  const g = m.graph!;
  const inits = new Set(g.initializer.map((t) => t.name));
  return [...g.input.filter((v) => !inits.has(v.name)), ...g.output].every((v) => v.type?.tensorType);
}

Deno.test({
  name: "onnx node-suite models and their .pb tensors decode the same as onnx-proto",
  ignore: !hasCorpus,
  fn() {
    const cases = nodeSuiteCases();
    let models = 0, pbs = 0;
    for (const dir of cases) {
      const f = `${dir}/model.onnx`;
      const bytes = Deno.readFileSync(f);
      const ours = decodeModel(bytes, f);
      assert.deepStrictEqual(normModel(ours, false), normModel(ref.ModelProto.decode(bytes), true), f);
      models++;
      if (!tensorOnlyIo(ours)) continue; // SEQUENCE / OPTIONAL cases store other messages in .pb files
      for (const pb of walk(dir, [], (n) => n.endsWith(".pb"))) {
        const pbBytes = Deno.readFileSync(pb);
        const t = decodeTensor(pbBytes, pb);
        assert.deepStrictEqual(normTensor(t, false), normTensor(ref.TensorProto.decode(pbBytes), true), pb);
        pbs++;
      }
    }
    assert.ok(models >= 100, `decoded ${models} node-suite models`);
    assert.ok(pbs >= 200, `decoded ${pbs} .pb tensors`);
    console.log(`node suite: ${models} models, ${pbs} .pb tensors match onnx-proto`);
  },
});

// ---------------------------------------------------------------------------------------------------
// Round trip

Deno.test({
  name: "encode(decode(model)) decodes to the same structure, also per onnx-proto",
  ignore: !hasCorpus,
  fn() {
    const files = [
      ...corpusModels(),
      ...nodeSuiteCases().filter((_, i) => i % 4 === 0).map((d) => `${d}/model.onnx`),
    ];
    for (const f of files) {
      const bytes = Deno.readFileSync(f);
      const first = decodeModel(bytes, f);
      const encoded = encodeModel(first);
      const second = decodeModel(encoded, `${f} (re-encoded)`);
      assert.deepStrictEqual(strip(second), strip(first), f);
      assert.deepStrictEqual(
        normModel(ref.ModelProto.decode(encoded), true),
        normModel(ref.ModelProto.decode(bytes), true),
        `${f}: onnx-proto reads the re-encoded file as the original`,
      );
    }
    for (const dir of nodeSuiteCases().slice(0, 60)) {
      for (const pb of walk(dir, [], (n) => n === "input_0.pb")) {
        const b = Deno.readFileSync(pb);
        const t = decodeTensor(b, pb);
        if (!tensorOnlyIo(decodeModel(Deno.readFileSync(`${dir}/model.onnx`), dir))) continue;
        assert.deepStrictEqual(
          normTensor(ref.TensorProto.decode(encodeTensor(t)), true),
          normTensor(t, false),
          pb,
        );
      }
    }
  },
});

function seededInput(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 * 2 - 1;
  }
  return out;
}

Deno.test({
  name: "onnxruntime runs the re-encoded squeezenet1_1 with the same output as the original",
  ignore: !hasCorpus,
  async fn() {
    const f = new URL("onnx/torch/squeezenet1_1.onnx", CORPUS).pathname;
    const original = Deno.readFileSync(f);
    const reencoded = encodeModel(decodeModel(original, f));
    const input = new ort.Tensor("float32", seededInput(3 * 224 * 224, 42), [1, 3, 224, 224]);
    const a = await ort.InferenceSession.create(original);
    const b = await ort.InferenceSession.create(reencoded);
    const ya = (await a.run({ [a.inputNames[0]]: input }))[a.outputNames[0]];
    const yb = (await b.run({ [b.inputNames[0]]: input }))[b.outputNames[0]];
    assert.deepStrictEqual(yb.dims, ya.dims);
    assert.deepStrictEqual(yb.data, ya.data);
    assert.ok((ya.data as Float32Array).some((v) => v !== 0));
    await a.release();
    await b.release();
  },
});

// ---------------------------------------------------------------------------------------------------
// tensorBytes against onnxruntime and hand values

const ORT_TYPE: Record<number, string> = {
  [OnnxDataType.FLOAT]: "float32",
  [OnnxDataType.DOUBLE]: "float64",
  [OnnxDataType.INT64]: "int64",
  [OnnxDataType.INT32]: "int32",
  [OnnxDataType.INT16]: "int16",
  [OnnxDataType.INT8]: "int8",
  [OnnxDataType.UINT8]: "uint8",
  [OnnxDataType.UINT16]: "uint16",
  [OnnxDataType.UINT32]: "uint32",
  [OnnxDataType.UINT64]: "uint64",
  [OnnxDataType.BOOL]: "bool",
  [OnnxDataType.FLOAT16]: "float16",
};

const ARRAY_OF: Record<string, Any> = {
  float32: Float32Array,
  float64: Float64Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
  float16: Uint16Array,
};

function ortTensor(dataType: number, dims: number[], bytes: Uint8Array): ort.Tensor {
  const type = ORT_TYPE[dataType];
  const Ctor = ARRAY_OF[type];
  const copy = bytes.slice();
  return new ort.Tensor(type as Any, new Ctor(copy.buffer, 0, copy.length / Ctor.BYTES_PER_ELEMENT), dims);
}

function ortBytes(t: ort.Tensor): Uint8Array {
  const d = t.data as Any;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

Deno.test({
  name: "node-suite .pb bytes fed to onnxruntime reproduce the expected output bytes",
  ignore: !hasCorpus,
  async fn() {
    // Deterministic elementwise and shape ops, where onnxruntime must agree with the numpy reference.
    const ops =
      /^test_(abs|add|sub|mul|div|neg|relu|sigmoid|tanh|exp|sqrt|transpose|reshape|concat|matmul|where|equal|greater|less|not|and|or|cast_FLOAT_to_|castlike|clip|gather_|identity$|flatten|squeeze|unsqueeze|slice|tile|pow|max_|min_|sum_|mean_|floor|ceil|sign|reciprocal|softmax|argmax|reduce_sum_)/;
    let ran = 0;
    const skipped: string[] = [];
    for (const dir of nodeSuiteCases()) {
      const name = dir.slice(dir.lastIndexOf("/") + 1);
      if (!ops.test(name)) continue;
      const modelBytes = Deno.readFileSync(`${dir}/model.onnx`);
      const m = decodeModel(modelBytes, dir);
      if (!tensorOnlyIo(m)) continue;
      const data = `${dir}/test_data_set_0`;
      const read = (p: string) => tensorBytes(decodeTensor(Deno.readFileSync(p), p), { file: p });
      const inputs = walk(data, [], (n) => n.startsWith("input_")).sort().map(read);
      const outputs = walk(data, [], (n) => n.startsWith("output_")).sort().map(read);
      if ([...inputs, ...outputs].some((t) => !ORT_TYPE[t.dataType])) continue;
      let session: ort.InferenceSession, result: ort.InferenceSession.OnnxValueMapType;
      const feeds: Record<string, ort.Tensor> = {};
      try {
        session = await ort.InferenceSession.create(modelBytes, { logSeverityLevel: 3 });
        session.inputNames.forEach((n, i) =>
          feeds[n] = ortTensor(inputs[i].dataType, inputs[i].dims, inputs[i].bytes)
        );
        result = await session.run(feeds);
      } catch (e) {
        // A model onnxruntime-node cannot load or run (e.g. a BFLOAT16 value inside) is no reference.
        skipped.push(`${name} (${String(e).slice(0, 60)})`);
        continue;
      }
      session.outputNames.forEach((n, i) => {
        const want = outputs[i];
        const got = result[n];
        assert.deepStrictEqual([...got.dims], want.dims, `${name} output ${i} dims`);
        if (want.dataType === OnnxDataType.FLOAT) {
          const w = new Float32Array(want.bytes.slice().buffer);
          const g = got.data as Float32Array;
          for (let k = 0; k < w.length; k++) {
            const tol = 1e-5 + 1e-4 * Math.abs(w[k]);
            if (!(Math.abs(g[k] - w[k]) <= tol) && !(Number.isNaN(g[k]) && Number.isNaN(w[k]))) {
              assert.fail(`${name} output ${i}[${k}]: onnxruntime ${g[k]}, expected ${w[k]}`);
            }
          }
        } else {
          assert.deepStrictEqual(ortBytes(got), want.bytes, `${name} output ${i}`);
        }
      });
      await session.release();
      ran++;
    }
    assert.ok(ran >= 40, `ran ${ran} node-suite cases through onnxruntime`);
    console.log(
      `onnxruntime agreed with ${ran} node-suite cases; could not run ${skipped.join(", ") || "none"}`,
    );
  },
});

function tensor(p: Partial<TensorProto>): TensorProto {
  return {
    dims: [],
    floatData: new Float32Array(0),
    int32Data: new Int32Array(0),
    stringData: [],
    int64Data: new BigInt64Array(0),
    doubleData: new Float64Array(0),
    uint64Data: new BigUint64Array(0),
    externalData: [],
    metadataProps: [],
    ...p,
  };
}

Deno.test("tensorBytes converts typed value fields to little-endian bytes (spec-derived values)", () => {
  const ctx = { file: "hand" };
  const cases: [TensorProto, number[]][] = [
    [tensor({ dataType: 1, dims: [2], floatData: new Float32Array([1, -2]) }), [
      0,
      0,
      0x80,
      0x3f,
      0,
      0,
      0,
      0xc0,
    ]],
    // FLOAT16 bit patterns 0x3C00 (1.0) and 0xC000 (-2.0) in int32_data
    [tensor({ dataType: 10, dims: [2], int32Data: new Int32Array([0x3c00, 0xc000]) }), [0, 0x3c, 0, 0xc0]],
    [tensor({ dataType: 16, dims: [1], int32Data: new Int32Array([0x3f80]) }), [0x80, 0x3f]],
    [tensor({ dataType: 3, dims: [3], int32Data: new Int32Array([-1, 127, -128]) }), [0xff, 0x7f, 0x80]],
    [tensor({ dataType: 9, dims: [3], int32Data: new Int32Array([1, 0, 1]) }), [1, 0, 1]],
    [tensor({ dataType: 5, dims: [1], int32Data: new Int32Array([-2]) }), [0xfe, 0xff]],
    // INT4 [1, -2, 3]: two per int32_data entry, first element in the low nibble
    [tensor({ dataType: 22, dims: [3], int32Data: new Int32Array([0xe1, 0x03]) }), [0xe1, 0x03]],
    [tensor({ dataType: 7, dims: [2], int64Data: new BigInt64Array([-1n, 1n << 40n]) }), [
      ...Array(8).fill(0xff),
      0,
      0,
      0,
      0,
      0,
      1,
      0,
      0,
    ]],
    [tensor({ dataType: 12, dims: [1], uint64Data: new BigUint64Array([0xfffffffen]) }), [
      0xfe,
      0xff,
      0xff,
      0xff,
    ]],
    [tensor({ dataType: 11, dims: [1], doubleData: new Float64Array([0.5]) }), [
      0,
      0,
      0,
      0,
      0,
      0,
      0xe0,
      0x3f,
    ]],
    [tensor({ dataType: 1, dims: [0, 5] }), []],
  ];
  for (const [t, want] of cases) {
    const got = tensorBytes(t, ctx);
    assert.deepStrictEqual(Array.from(got.bytes), want, onnxDataTypeName(t.dataType!));
  }
  const s = tensorBytes(
    tensor({ dataType: 8, dims: [2], stringData: [new TextEncoder().encode("héllo"), new Uint8Array(0)] }),
    ctx,
  );
  assert.deepStrictEqual(s.strings, ["héllo", ""]);
  assert.equal(onnxElementSize(OnnxDataType.INT4), 4);
  assert.equal(onnxElementSize(OnnxDataType.COMPLEX128), 128);
  assert.equal(onnxDataTypeName(17), "FLOAT8E4M3FN");
});

Deno.test("tensorBytes of typed-field initializers equals what onnxruntime reads from the same model", async () => {
  const inits = [
    tensor({ name: "c", dataType: 1, dims: [2, 2], floatData: new Float32Array([1.5, -2, 3.25, 1e-3]) }),
    tensor({ name: "c", dataType: 10, dims: [3], int32Data: new Int32Array([0x3c00, 0xc000, 0x7bff]) }),
    tensor({ name: "c", dataType: 3, dims: [4], int32Data: new Int32Array([-128, -1, 0, 127]) }),
    tensor({ name: "c", dataType: 4, dims: [2], int32Data: new Int32Array([65535, 1]) }),
    tensor({ name: "c", dataType: 9, dims: [3], int32Data: new Int32Array([1, 0, 1]) }),
    tensor({ name: "c", dataType: 7, dims: [2], int64Data: new BigInt64Array([-5n, 1n << 50n]) }),
    tensor({ name: "c", dataType: 11, dims: [2], doubleData: new Float64Array([Math.PI, -0.25]) }),
    tensor({ name: "c", dataType: 12, dims: [2], uint64Data: new BigUint64Array([4000000000n, 7n]) }),
    tensor({ name: "c", dataType: 13, dims: [1], uint64Data: new BigUint64Array([(1n << 64n) - 2n]) }),
  ];
  for (const init of inits) {
    const model: ModelProto = {
      irVersion: 8,
      opsetImport: [{ domain: "", version: 17 }],
      metadataProps: [],
      functions: [],
      graph: {
        name: "g",
        node: [{
          input: ["c"],
          output: ["y"],
          opType: "Identity",
          attribute: [],
          metadataProps: [],
        }],
        initializer: [init],
        input: [],
        output: [{
          name: "y",
          type: {
            tensorType: { elemType: init.dataType, shape: { dim: init.dims.map((d) => ({ dimValue: d })) } },
          },
          metadataProps: [],
        }],
        valueInfo: [],
        quantizationAnnotation: [],
        sparseInitializer: [],
        metadataProps: [],
      },
    };
    const session = await ort.InferenceSession.create(encodeModel(model));
    const y = (await session.run({}))["y"];
    await session.release();
    const want = tensorBytes(init, { file: "hand" });
    assert.deepStrictEqual(ortBytes(y), want.bytes, onnxDataTypeName(init.dataType!));
  }
});

// ---------------------------------------------------------------------------------------------------
// Hostile input, built with a mini-encoder that shares no code with proto.ts

function varint(v: bigint | number): number[] {
  let u = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  while (u >= 0x80n) {
    out.push(Number(u & 0x7fn) | 0x80);
    u >>= 7n;
  }
  out.push(Number(u));
  return out;
}
const key = (no: number, wt: number) => varint((no << 3) | wt);
const vfield = (no: number, v: bigint | number) => [...key(no, 0), ...varint(v)];
const ld = (no: number, body: number[]) => [...key(no, 2), ...varint(body.length), ...body];
const str = (no: number, s: string) => ld(no, [...new TextEncoder().encode(s)]);
const u8 = (a: number[]) => new Uint8Array(a);

function throwsLathe(fn: () => unknown, ...needles: (string | RegExp)[]): LatheError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, "expected a LatheError, nothing was thrown");
  assert.ok(caught instanceof LatheError, `expected a LatheError, got ${caught}`);
  for (const n of needles) {
    if (typeof n === "string") assert.ok(caught.message.includes(n), `"${caught.message}" lacks "${n}"`);
    else assert.match(caught.message, n);
  }
  return caught;
}

Deno.test("hostile wire bytes raise LatheErrors naming offset and field", () => {
  // truncated varint: ir_version with a continuation bit and no next byte
  throwsLathe(() => decodeModel(u8([0x08, 0x80]), "m.onnx"), "m.onnx", "byte 1", "ir_version", "truncated");
  // 11-byte varint
  throwsLathe(
    () => decodeModel(u8([0x08, ...Array(10).fill(0xff), 0x01]), "m.onnx"),
    "longer than 10 bytes",
    "byte 1",
  );
  // a 10-byte varint is fine (ir_version -1 does not fit? it does: -1 is a safe integer)
  assert.equal(decodeModel(u8(vfield(1, -1)), "m").irVersion, -1);
  // length past the end of the file
  throwsLathe(
    () => decodeModel(u8([...key(7, 2), 100, 0x0a, 0x00]), "m.onnx"),
    "length 100",
    "past end of file",
  );
  // deep field path for a length past the end: graph.node[0].attribute[0].t.raw_data
  const t = [...vfield(2, 1), ...key(9, 2), ...varint(4000), 1, 2, 3];
  const attr = [...str(1, "value"), ...ld(5, t)];
  const node = [...str(4, "Constant"), ...ld(5, attr)];
  const model = [...vfield(1, 8), ...ld(7, [...ld(1, node)])];
  const e = throwsLathe(
    () => decodeModel(u8(model), "c.onnx"),
    "graph.node[0].attribute[0].t.raw_data",
    "length 4000",
    "past end of file",
  );
  assert.equal(e.kind, "format");
  assert.equal(e.where.offset, model.length - 6);
  // a length that runs past its enclosing message, not the file
  const inner = [...ld(7, [...ld(1, [...key(4, 2), 50, 65])]), ...str(2, "x".repeat(60))];
  throwsLathe(() => decodeModel(u8(inner), "m"), "graph.node[0].op_type", "enclosing message");
  // groups (wire types 3 and 4) and invalid wire types
  throwsLathe(() => decodeModel(u8([...key(50, 3), ...key(50, 4)]), "m"), "wire type 3", "groups");
  throwsLathe(() => decodeModel(u8(key(50, 4)), "m"), "wire type 4", "groups");
  throwsLathe(() => decodeModel(u8(key(50, 6)), "m"), "invalid wire type 6");
  // known field with the wrong wire type, field number 0
  throwsLathe(() => decodeModel(u8(ld(1, [1])), "m"), "ir_version", "wire type 2 does not match");
  throwsLathe(() => decodeModel(u8([0x00, 0x00]), "m"), "invalid field number");
  // packed float run whose length is not a multiple of 4
  throwsLathe(() => decodeTensor(u8(ld(4, [1, 2, 3])), "t.pb"), "float_data", "multiple of 4");
  // dims that do not fit in a safe integer
  throwsLathe(() => decodeTensor(u8(vfield(1, (1n << 63n) - 1n)), "t.pb"), "dims", "safe integer");
  // nesting depth
  let g: number[] = [];
  for (let i = 0; i < 100; i++) g = ld(1, [...ld(5, [...str(1, "then_branch"), ...ld(6, g)])]);
  throwsLathe(() => decodeModel(u8(ld(7, g)), "deep.onnx"), "nested deeper than");
});

Deno.test("decoder accepts packed and unpacked repeated scalars and skips unknown fields", () => {
  const unpacked = [...vfield(1, 2), ...vfield(1, 3), ...vfield(2, 6), ...vfield(5, 7), ...vfield(5, -8)];
  const packed = [...ld(1, [2, 3]), ...vfield(2, 6), ...ld(5, [...varint(7), ...varint(-8)])];
  const unknown = [
    ...vfield(99, 5),
    ...key(98, 5),
    0,
    0,
    0,
    0,
    ...key(97, 1),
    ...Array(8).fill(0),
    ...str(96, "x"),
  ];
  for (const bytes of [unpacked, packed, [...unknown, ...packed]]) {
    const t = decodeTensor(u8(bytes), "t.pb");
    assert.deepStrictEqual(t.dims, [2, 3]);
    assert.equal(t.dataType, 6);
    assert.deepStrictEqual(Array.from(t.int32Data), [7, -8]);
  }
  const withUnknown = decodeTensor(u8([...unknown, ...packed]), "t.pb");
  assert.equal(withUnknown.unknownFields?.length, 4);
  // unknown fields are written back verbatim
  const again = decodeTensor(encodeTensor(withUnknown), "t.pb");
  assert.deepStrictEqual(
    again.unknownFields?.map((u) => Array.from(u)),
    withUnknown.unknownFields.map((u) => Array.from(u)),
  );
  // attribute ints beyond 2^53 stay exact as bigint (Slice ends = INT64_MAX in old opsets)
  const attr = [...str(1, "ends"), ...vfield(8, (1n << 63n) - 1n), ...vfield(8, -1), ...vfield(20, 7)];
  const m = decodeModel(u8(ld(7, ld(1, ld(5, attr)))), "m");
  assert.deepStrictEqual(m.graph!.node[0].attribute[0].ints, [(1n << 63n) - 1n, -1]);
  const m2 = decodeModel(encodeModel(m), "m");
  assert.deepStrictEqual(m2.graph!.node[0].attribute[0].ints, [(1n << 63n) - 1n, -1]);
});

Deno.test("tensorBytes rejects impossible sizes without allocating", () => {
  const ctx = { file: "t.pb" };
  // 2^40 FLOAT elements declared with 4 bytes of raw_data
  const huge = decodeTensor(
    u8([...vfield(1, 1 << 20), ...vfield(1, 1 << 20), ...vfield(2, 1), ...ld(9, [0, 0, 0, 0])]),
    "t.pb",
  );
  const t0 = performance.now();
  throwsLathe(() => tensorBytes(huge, ctx), "raw_data has 4 bytes", "need 4398046511104");
  assert.ok(performance.now() - t0 < 100);
  // the same with typed values
  throwsLathe(
    () => tensorBytes(tensor({ dataType: 1, dims: [1 << 20, 1 << 20], floatData: new Float32Array(1) }), ctx),
    "float_data has 1 entries",
  );
  // negative dims (a 10-byte varint on the wire)
  const neg = decodeTensor(u8([...vfield(1, -1), ...vfield(1, 3), ...vfield(2, 1)]), "t.pb");
  assert.deepStrictEqual(neg.dims, [-1, 3]);
  throwsLathe(() => tensorBytes(neg, ctx), "dims[0] = -1");
  // dims whose product overflows 2^53
  throwsLathe(
    () => tensorBytes(tensor({ dataType: 1, dims: [2 ** 31, 2 ** 31, 2 ** 31] }), ctx),
    "more than 2^53",
  );
  // product fits, bytes do not
  throwsLathe(() => tensorBytes(tensor({ dataType: 15, dims: [2 ** 50] }), ctx), "too large");
  // no data at all / data in the wrong field / raw plus typed
  throwsLathe(() => tensorBytes(tensor({ dataType: 1, dims: [2] }), ctx), "has no data");
  throwsLathe(
    () => tensorBytes(tensor({ dataType: 1, dims: [1], int32Data: new Int32Array(1) }), ctx),
    "stores its values in int32_data",
  );
  throwsLathe(
    () =>
      tensorBytes(
        tensor({ dataType: 1, dims: [1], rawData: new Uint8Array(4), floatData: new Float32Array(1) }),
        ctx,
      ),
    "both raw_data and typed",
  );
  throwsLathe(() => tensorBytes(tensor({ dataType: 99, dims: [1] }), ctx), "unknown data_type 99");
});

Deno.test("external data is read from its declared range and must stay inside the model's folder", () => {
  const dir = Deno.makeTempDirSync({ prefix: "lathe-onnx-" });
  const outside = Deno.makeTempDirSync({ prefix: "lathe-onnx-outside-" });
  try {
    const data = new Uint8Array(100);
    for (let i = 0; i < data.length; i++) data[i] = i;
    Deno.mkdirSync(`${dir}/w`);
    Deno.writeFileSync(`${dir}/w/weights.bin`, data);
    Deno.writeFileSync(`${outside}/secret.bin`, data);
    Deno.symlinkSync(`${outside}/secret.bin`, `${dir}/link.bin`);
    const ext = (location: string, extra: [string, string][] = [], dims = [2, 2]) =>
      tensor({
        name: "w0",
        dataType: 1,
        dims,
        dataLocation: 1,
        externalData: [["location", location], ...extra].map(([k, v]) => ({ key: k, value: v })),
      });
    const ctx = { file: `${dir}/model.onnx`, modelDir: dir };
    // the declared range, through a round trip of the wire format
    const t = decodeTensor(encodeTensor(ext("w/weights.bin", [["offset", "8"], ["length", "16"]])), "t.pb");
    assert.deepStrictEqual(
      Array.from(tensorBytes(t, ctx).bytes),
      Array.from({ length: 16 }, (_, i) => i + 8),
    );
    // length omitted: the rest of the file must match the dims
    assert.equal(tensorBytes(ext("w/weights.bin", [["offset", "84"]]), ctx).bytes.length, 16);
    throwsLathe(
      () => tensorBytes(ext("w/weights.bin", [["offset", "96"], ["length", "16"]]), ctx),
      "w0",
      "runs past the end",
    );
    throwsLathe(() => tensorBytes(ext("w/weights.bin", [["length", "8"]]), ctx), "w0", "need 16");
    throwsLathe(
      () => tensorBytes(ext("w/weights.bin", [["offset", "-4"]]), ctx),
      "not a non-negative decimal",
    );
    throwsLathe(() => tensorBytes(ext("w/weights.bin", [], [1 << 20, 1 << 20]), ctx), "need 4398046511104");
    // escapes
    throwsLathe(
      () => tensorBytes(ext("../../etc/passwd"), ctx),
      "w0",
      "../../etc/passwd",
      "outside the model's folder",
    );
    throwsLathe(() => tensorBytes(ext("/etc/passwd"), ctx), "w0", "/etc/passwd", "relative");
    throwsLathe(() => tensorBytes(ext("link.bin"), ctx), "w0", "link.bin", "outside the model's folder");
    throwsLathe(() => tensorBytes(ext("missing.bin"), ctx), "w0", "missing.bin", "cannot be opened");
    throwsLathe(() => tensorBytes(ext("w"), ctx), "not a file");
    throwsLathe(() => tensorBytes(ext("w/weights.bin"), { file: "m.onnx" }), "needs the model's folder");
  } finally {
    Deno.removeSync(dir, { recursive: true });
    Deno.removeSync(outside, { recursive: true });
  }
});

Deno.test({
  name: "corrupted model bytes only ever raise LatheError",
  ignore: !hasCorpus,
  fn() {
    const f = new URL("onnx/torch/tiny_transformer_encoder.onnx", CORPUS).pathname;
    const original = Deno.readFileSync(f);
    let s = 12345;
    const rnd = (n: number) => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s % n;
    };
    let failures = 0;
    for (let trial = 0; trial < 300; trial++) {
      const b = trial % 3 === 0 ? original.slice(0, rnd(original.length)) : original.slice();
      if (trial % 3 !== 0) {
        for (let k = 0; k < 1 + rnd(8); k++) b[rnd(Math.min(b.length, 4096))] = rnd(256);
      }
      try {
        const m = decodeModel(b, f);
        for (const t of allTensors(m.graph)) tensorBytes(t, { file: f });
      } catch (e) {
        if (!(e instanceof LatheError)) throw new Error(`trial ${trial}: non-LatheError ${e}`, { cause: e });
        failures++;
      }
    }
    assert.ok(failures > 50, `only ${failures} of 300 corruptions were detected`);
  },
});

Deno.test({
  name: "mobilenet_v2 decode speed",
  ignore: !hasCorpus,
  fn() {
    const f = new URL("onnx/torch/mobilenet_v2.onnx", CORPUS).pathname;
    const bytes = Deno.readFileSync(f);
    decodeModel(bytes, f);
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      decodeModel(bytes, f);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const t0 = performance.now();
    const encoded = encodeModel(decodeModel(bytes, f));
    const encodeMs = performance.now() - t0;
    console.log(
      `mobilenet_v2.onnx (${(bytes.length / 1e6).toFixed(1)} MB): decode median ${times[5].toFixed(2)} ms, ` +
        `min ${times[0].toFixed(2)} ms; decode+encode ${encodeMs.toFixed(1)} ms`,
    );
    assert.equal(encoded.length, bytes.length);
    assert.ok(times[5] < 1000, `decode took ${times[5]} ms`);
  },
});
