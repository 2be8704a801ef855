/**
 * GGUF writer: corpus files read and written back are byte-identical (ggml laid them out); a file with
 * every value type reads back the same in ggml's own reader and in Lathe's; bad input is a LatheError and
 * leaves no file behind.
 */
import assert from "node:assert/strict";
import { LatheError } from "../ir/errors.ts";
import { openGguf, parseGguf } from "../compiler/gguf/reader.ts";
import { serializeGguf, writeGguf } from "../compiler/gguf/writer.ts";
import { type GgufKV, ggufPlain, GgufType } from "../compiler/gguf/metadata.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { type Ggml, loadGgml } from "./ffi/ggml.ts";

const loaded = loadGgml();
const ggml: Ggml | undefined = typeof loaded === "string" ? undefined : loaded;
if (!ggml) console.warn(`SKIP ggml cross-checks of the GGUF writer: ${loaded}`);

const tmpDir = Deno.makeTempDirSync({ prefix: "lathe-gguf-w-" });
addEventListener("unload", () => Deno.removeSync(tmpDir, { recursive: true }));

const CORPUS_FILES = [
  "gguf/tiny-llama/tiny-llama-F32.gguf",
  "gguf/tiny-llama/tiny-llama-F16.gguf",
  "gguf/tiny-llama/tiny-llama-Q4_0.gguf",
  "gguf/tiny-llama/tiny-llama-Q4_K_M.gguf",
  "gguf/tiny-llama/tiny-llama-Q6_K.gguf",
  "gguf/tiny-llama/tiny-llama-Q8_0.gguf",
  "gguf/vocab/ggml-vocab-llama-spm.gguf",
];

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

Deno.test({
  name: "gguf round trip: corpus files written back (streamed tensor by tensor) are byte-identical",
  ignore: noCorpus(),
  async fn() {
    for (const rel of CORPUS_FILES) {
      const original = await Deno.readFile(corpusPath(rel));
      using h = await openGguf(corpusPath(rel));
      const out = `${tmpDir}/${rel.split("/").pop()}`;
      await writeGguf(out, {
        metadata: h.metadata,
        tensors: h.tensors.map((t) => ({
          name: t.name,
          ne: t.ne,
          typeId: t.typeId,
          data: () => h.readTensorBytes(t),
        })),
      });
      assert.equal(firstDifference(await Deno.readFile(out), original), -1, `${rel} streamed`);
      const p = parseGguf(original);
      const mem = await serializeGguf({
        metadata: p.metadata,
        tensors: p.tensors.map((t) => ({ name: t.name, ne: t.ne, typeId: t.typeId, data: p.tensorBytes(t) })),
      });
      assert.equal(firstDifference(mem, original), -1, `${rel} in memory`);
      assert.deepEqual(
        [...Deno.readDirSync(tmpDir)].filter((e) => e.name.endsWith(".tmp")),
        [],
        "no temporaries",
      );
    }
  },
});

/** One of every value type, edge values included, with a non-default alignment. */
function everyType(): GgufKV[] {
  const T = GgufType;
  return [
    { key: "general.alignment", type: T.UINT32, value: 64 },
    { key: "general.architecture", type: T.STRING, value: "llama" },
    { key: "t.u8", type: T.UINT8, value: 255 },
    { key: "t.i8", type: T.INT8, value: -128 },
    { key: "t.u16", type: T.UINT16, value: 65535 },
    { key: "t.i16", type: T.INT16, value: -32768 },
    { key: "t.u32", type: T.UINT32, value: 4294967295 },
    { key: "t.i32", type: T.INT32, value: -2147483648 },
    { key: "t.f32", type: T.FLOAT32, value: Math.fround(-1.5e-7) },
    { key: "t.f32_neg_zero", type: T.FLOAT32, value: -0 },
    { key: "t.f32_inf", type: T.FLOAT32, value: Infinity },
    { key: "t.bool", type: T.BOOL, value: true },
    { key: "t.str", type: T.STRING, value: "\ufeffünïcødé ✓ 𝄞" },
    { key: "t.str_empty", type: T.STRING, value: "" },
    { key: "t.str_bytes", type: T.STRING, value: new Uint8Array([0x41, 0xff, 0xc3]) },
    { key: "t.u64", type: T.UINT64, value: 18446744073709551615n },
    { key: "t.i64", type: T.INT64, value: -9223372036854775808n },
    { key: "t.f64", type: T.FLOAT64, value: 1 / 3 },
    { key: "a.u8", type: T.ARRAY, value: { elemType: T.UINT8, items: Uint8Array.of(0, 1, 255) } },
    { key: "a.i8", type: T.ARRAY, value: { elemType: T.INT8, items: Int8Array.of(-128, 127) } },
    { key: "a.u16", type: T.ARRAY, value: { elemType: T.UINT16, items: Uint16Array.of(1, 65535) } },
    { key: "a.i16", type: T.ARRAY, value: { elemType: T.INT16, items: Int16Array.of(-1, 2) } },
    { key: "a.u32", type: T.ARRAY, value: { elemType: T.UINT32, items: Uint32Array.of(7, 4294967295) } },
    { key: "a.i32", type: T.ARRAY, value: { elemType: T.INT32, items: Int32Array.of(-7) } },
    { key: "a.f32", type: T.ARRAY, value: { elemType: T.FLOAT32, items: Float32Array.of(0.5, -2, 1e30) } },
    { key: "a.bool", type: T.ARRAY, value: { elemType: T.BOOL, items: [true, false, true] } },
    { key: "a.str", type: T.ARRAY, value: { elemType: T.STRING, items: ["a", "", "ß"] } },
    {
      key: "a.u64",
      type: T.ARRAY,
      value: { elemType: T.UINT64, items: BigUint64Array.of(1n, 2n ** 64n - 1n) },
    },
    { key: "a.i64", type: T.ARRAY, value: { elemType: T.INT64, items: BigInt64Array.of(-(2n ** 63n)) } },
    { key: "a.f64", type: T.ARRAY, value: { elemType: T.FLOAT64, items: Float64Array.of(Math.PI) } },
    { key: "a.empty", type: T.ARRAY, value: { elemType: T.UINT32, items: new Uint32Array(0) } },
  ];
}

function tensorsFor(seed: number) {
  const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
  return [
    { name: "a.weight", ne: [64, 3], typeId: 0, data: bytes(64 * 3 * 4) },
    { name: "b.weight", ne: [256, 2], typeId: 12, data: bytes(2 * 144) },
    { name: "c.weight", ne: [32], typeId: 2, data: bytes(18) },
    { name: "d.scalar", ne: [], typeId: 0, data: bytes(4) },
  ];
}

Deno.test("gguf writer: every value type reads back identically; writing again gives the same bytes", async () => {
  const input = { metadata: everyType(), tensors: tensorsFor(1) };
  const bytes = await serializeGguf(input);
  const f = parseGguf(bytes);
  assert.equal(f.alignment, 64);
  assert.equal(f.dataOffset % 64, 0);
  assert.deepEqual(f.metadata, input.metadata);
  assert.deepEqual(
    f.tensors.map((t) => [t.name, t.ne, t.typeId, t.offset % 64]),
    input.tensors.map((t) => [t.name, t.ne, t.typeId, 0]),
  );
  for (const [i, t] of f.tensors.entries()) assert.deepEqual(f.tensorBytes(t), input.tensors[i].data);
  assert.equal(
    firstDifference(await serializeGguf({ metadata: f.metadata, tensors: input.tensors }), bytes),
    -1,
  );
});

Deno.test({
  name: "gguf writer: ggml's reader reads every value type and tensor info as written",
  ignore: !ggml,
  async fn() {
    const input = { metadata: everyType(), tensors: tensorsFor(2) };
    const path = `${tmpDir}/every-type.gguf`;
    await writeGguf(path, input);
    const ref = ggml!.readGguf(path);
    assert.ok(ref, "ggml reads the file");
    assert.equal(ref.alignment, 64);
    const ours = parseGguf(await Deno.readFile(path));
    assert.equal(ref.dataOffset, ours.dataOffset);
    assert.deepEqual(ref.kv.map((kv) => kv.key), input.metadata.map((kv) => kv.key));
    input.metadata.forEach((kv, i) => {
      assert.equal(ref.kv[i].type, kv.type, kv.key);
      const mine = ggufPlain(kv.value);
      const theirs = ref.kv[i].value;
      assert.deepEqual(
        Array.isArray(mine) ? mine : [mine],
        Array.isArray(theirs) ? theirs : [theirs],
        kv.key,
      );
    });
    ref.tensors.forEach((t, i) => {
      assert.equal(t.name, input.tensors[i].name);
      assert.equal(t.type, input.tensors[i].typeId);
      assert.deepEqual(t.ne, [...input.tensors[i].ne, 1, 1, 1, 1].slice(0, 4));
      assert.equal(t.offset, ours.tensors[i].offset);
      assert.equal(t.size, input.tensors[i].data.length);
    });
  },
});

Deno.test("gguf writer: nested arrays (allowed by the spec, not by ggml) round-trip", async () => {
  const T = GgufType;
  const inner = (n: number) => ({ elemType: T.INT32, items: Int32Array.of(n, -n) });
  const metadata: GgufKV[] = [
    { key: "general.architecture", type: T.STRING, value: "x" },
    { key: "a.nested", type: T.ARRAY, value: { elemType: T.ARRAY, items: [inner(1), inner(2)] } },
  ];
  const bytes = await serializeGguf({ metadata, tensors: [] });
  assert.deepEqual(parseGguf(bytes).metadata, metadata);
});

Deno.test("gguf writer: bad input is a LatheError and leaves no file", async () => {
  const T = GgufType;
  const arch: GgufKV = { key: "general.architecture", type: T.STRING, value: "x" };
  const cases: [string, Parameters<typeof writeGguf>[1], RegExp][] = [
    ["duplicate key", { metadata: [arch, arch], tensors: [] }, /metadata\[1\]/],
    [
      "u8 out of range",
      { metadata: [{ key: "a", type: T.UINT8, value: 300 }], tensors: [] },
      /metadata\[0\]\(a\)/,
    ],
    ["array in the wrong typed array", {
      metadata: [{ key: "a", type: T.ARRAY, value: { elemType: T.UINT32, items: Uint8Array.of(1) } }],
      tensors: [],
    }, /metadata\[0\]\(a\)/],
    ["alignment not a power of two", {
      metadata: [{ key: "general.alignment", type: T.UINT32, value: 24 }],
      tensors: [],
    }, /general\.alignment/],
    ["tensor data of the wrong size", {
      metadata: [arch],
      tensors: [{ name: "t", ne: [32], typeId: 2, data: () => new Uint8Array(17) }],
    }, /tensors\[0\]\(t\)\.data/],
    ["blocks not filled", {
      metadata: [arch],
      tensors: [{ name: "t", ne: [31], typeId: 2, data: new Uint8Array(18) }],
    }, /tensors\[0\]\(t\)/],
    ["duplicate tensor", {
      metadata: [arch],
      tensors: [{ name: "t", ne: [1], typeId: 0, data: new Uint8Array(4) }, {
        name: "t",
        ne: [1],
        typeId: 0,
        data: new Uint8Array(4),
      }],
    }, /tensors\[1\]\(t\)/],
  ];
  for (const [what, input, field] of cases) {
    const path = `${tmpDir}/bad.gguf`;
    await assert.rejects(
      () => writeGguf(path, input),
      (e) => e instanceof LatheError && e.kind === "usage" && field.test(e.where.field ?? ""),
      what,
    );
    assert.throws(() => Deno.statSync(path), Deno.errors.NotFound, `${what}: no file written`);
  }
  assert.deepEqual(
    [...Deno.readDirSync(tmpDir)].filter((e) => e.name.endsWith(".tmp")),
    [],
    "no temporaries",
  );
});
