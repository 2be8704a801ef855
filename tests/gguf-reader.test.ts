/**
 * GGUF reader: corpus files against ggml's own GGUF reader (libggml-base via FFI) and the corpus
 * MANIFEST; bounded-memory opening of a large (sparse) file; hostile headers, each a LatheError naming
 * the field and byte offset (and, where ggml has the same rule, rejected by ggml too).
 */
import assert from "node:assert/strict";
import { LatheError } from "../ir/errors.ts";
import { type GgufFile, openGguf, parseGguf } from "../compiler/gguf/reader.ts";
import { ggufPlain } from "../compiler/gguf/metadata.ts";
import { CORPUS_DIR, corpusPath, noCorpus } from "./support/corpus.ts";
import { type Ggml, loadGgml } from "./ffi/ggml.ts";

const loaded = loadGgml();
const ggml: Ggml | undefined = typeof loaded === "string" ? undefined : loaded;
if (!ggml) console.warn(`SKIP ggml cross-checks of the GGUF reader: ${loaded}`);

const CORPUS_FILES = [
  "gguf/tiny-llama/tiny-llama-F32.gguf",
  "gguf/tiny-llama/tiny-llama-F16.gguf",
  "gguf/tiny-llama/tiny-llama-Q4_0.gguf",
  "gguf/tiny-llama/tiny-llama-Q4_K_M.gguf",
  "gguf/tiny-llama/tiny-llama-Q6_K.gguf",
  "gguf/tiny-llama/tiny-llama-Q8_0.gguf",
  "gguf/vocab/ggml-vocab-llama-spm.gguf",
];

/** MANIFEST.tsv rows for GGUF files: bytes, kv and tensor counts. */
function manifest(): Map<string, { bytes: number; kv: number; tensors: number }> {
  const out = new Map<string, { bytes: number; kv: number; tensors: number }>();
  for (const line of Deno.readTextFileSync(`${CORPUS_DIR}MANIFEST.tsv`).split("\n")) {
    const cols = line.split("\t");
    const m = /kv=(\d+) tensors=(\d+)/.exec(cols[4] ?? "");
    if (cols[0].endsWith(".gguf") && m) {
      out.set(cols[0], { bytes: Number(cols[2]), kv: +m[1], tensors: +m[2] });
    }
  }
  return out;
}

Deno.test({
  name: "gguf corpus: counts and sizes agree with MANIFEST.tsv",
  ignore: noCorpus(),
  async fn() {
    const rows = manifest();
    for (const rel of CORPUS_FILES) {
      const row = rows.get(rel);
      assert.ok(row, `${rel} is in MANIFEST.tsv`);
      using f = await openGguf(corpusPath(rel));
      assert.equal(f.fileSize, row.bytes, rel);
      // The MANIFEST was made with gguf-py, whose reader lists GGUF.version, GGUF.tensor_count and
      // GGUF.kv_count as three extra fields.
      assert.equal(f.metadata.length + 3, row.kv, rel);
      assert.equal(f.tensors.length, row.tensors, rel);
      assert.deepEqual(f.notes, []);
    }
  },
});

function plainEqual(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => plainEqual(x, b[i]));
  }
  return Object.is(a, b) || (typeof a === "number" && typeof b === "number" && a === b);
}

Deno.test({
  name: "gguf corpus: metadata and tensor infos equal what ggml's GGUF reader reports",
  ignore: noCorpus() || !ggml,
  async fn() {
    for (const rel of CORPUS_FILES) {
      const path = corpusPath(rel);
      const ref = ggml!.readGguf(path);
      assert.ok(ref, `ggml reads ${rel}`);
      using f = await openGguf(path);
      assert.equal(f.version, ref.version);
      assert.equal(f.alignment, ref.alignment);
      assert.equal(f.dataOffset, ref.dataOffset, `${rel} data offset`);
      assert.deepEqual(f.metadata.map((kv) => kv.key), ref.kv.map((kv) => kv.key));
      f.metadata.forEach((kv, i) => {
        const r = ref.kv[i];
        assert.equal(kv.type, r.type, kv.key);
        if (kv.type === 9) assert.equal((kv.value as { elemType: number }).elemType, r.arrType, kv.key);
        assert.ok(plainEqual(ggufPlain(kv.value), r.value), `${rel}: ${kv.key} value`);
      });
      assert.equal(f.tensors.length, ref.tensors.length);
      f.tensors.forEach((t, i) => {
        const r = ref.tensors[i];
        assert.equal(t.name, r.name);
        assert.equal(t.typeId, r.type, t.name);
        assert.deepEqual([...t.ne, 1, 1, 1, 1].slice(0, 4), r.ne, t.name);
        assert.equal(t.offset, r.offset, t.name);
        assert.equal(t.nbytes, r.size, t.name);
        assert.equal(t.fileOffset, ref.dataOffset + r.offset);
      });
    }
  },
});

Deno.test({
  name: "gguf corpus: parseGguf over bytes equals openGguf over the file",
  ignore: noCorpus(),
  async fn() {
    for (const rel of CORPUS_FILES) {
      const bytes = await Deno.readFile(corpusPath(rel));
      const a = parseGguf(bytes, rel);
      using b = await openGguf(corpusPath(rel));
      assert.deepEqual(strip(a), strip(b));
      for (const t of b.tensors.slice(0, 3)) assert.deepEqual(a.tensorBytes(t), await b.readTensorBytes(t));
    }
  },
});

function strip(f: GgufFile) {
  return {
    v: f.version,
    a: f.alignment,
    m: f.metadata,
    t: f.tensors,
    d: f.dataOffset,
    s: f.fileSize,
    n: f.notes,
  };
}

// ------------------------------------------------------------------------------------------ raw builder

/** Writes GGUF bytes field by field (independently of writer.ts) so tests can break any field. */
class Raw {
  private b: number[] = [];
  get pos(): number {
    return this.b.length;
  }
  u8(v: number): this {
    this.b.push(v & 0xff);
    return this;
  }
  u32(v: number): this {
    for (let i = 0; i < 4; i++) this.b.push((v >>> (8 * i)) & 0xff);
    return this;
  }
  u64(v: number | bigint): this {
    const x = BigInt(v);
    for (let i = 0n; i < 8n; i++) this.b.push(Number((x >> (8n * i)) & 0xffn));
    return this;
  }
  bytes(v: ArrayLike<number>): this {
    for (let i = 0; i < v.length; i++) this.b.push(v[i]);
    return this;
  }
  str(s: string): this {
    const e = new TextEncoder().encode(s);
    return this.u64(e.length).bytes(e);
  }
  header(nTensors: number | bigint, nKv: number | bigint, version = 3): this {
    return this.bytes([0x47, 0x47, 0x55, 0x46]).u32(version).u64(nTensors).u64(nKv);
  }
  /** A string KV. */
  kvStr(key: string, value: string): this {
    return this.str(key).u32(8).str(value);
  }
  padTo(alignment: number): this {
    while (this.b.length % alignment) this.b.push(0);
    return this;
  }
  zeros(n: number): this {
    for (let i = 0; i < n; i++) this.b.push(0);
    return this;
  }
  done(): Uint8Array {
    return new Uint8Array(this.b);
  }
}

/** A tensor info; returns the offset where its `offset` field starts. */
function tensorInfo(
  r: Raw,
  name: string,
  ne: (number | bigint)[],
  type: number,
  offset: number | bigint,
): number {
  r.str(name).u32(ne.length);
  for (const n of ne) r.u64(n);
  r.u32(type);
  const at = r.pos;
  r.u64(offset);
  return at;
}

interface Hostile {
  name: string;
  build(): { bytes: Uint8Array; offset: number };
  kind?: string;
  field: string;
  /** ggml's reader has the same rule (so it must reject the file too). */
  ggmlRejects: boolean;
}

const HOSTILE: Hostile[] = [
  {
    name: "wrong magic",
    build: () => ({
      bytes: new Raw().bytes([0x47, 0x47, 0x55, 0x58]).u32(3).u64(0).u64(0).done(),
      offset: 0,
    }),
    field: "header.magic",
    ggmlRejects: true,
  },
  {
    name: "big-endian file (version bytes swapped)",
    build: () => ({
      bytes: new Raw().bytes([0x47, 0x47, 0x55, 0x46, 0, 0, 0, 3]).u64(0).u64(0).done(),
      offset: 4,
    }),
    kind: "unsupported",
    field: "header.version",
    ggmlRejects: true,
  },
  {
    name: "GGUF v1",
    build: () => ({ bytes: new Raw().header(0, 0, 1).done(), offset: 4 }),
    kind: "unsupported",
    field: "header.version",
    ggmlRejects: true,
  },
  {
    name: "file ends inside the header",
    build: () => ({ bytes: new Raw().bytes([0x47, 0x47, 0x55, 0x46]).u32(3).u32(0).done(), offset: 8 }),
    field: "header.tensor_count",
    ggmlRejects: true,
  },
  {
    name: "absurd metadata_kv_count",
    build: () => ({ bytes: new Raw().header(0, 1n << 40n).kvStr("a", "b").done(), offset: 16 }),
    field: "header",
    ggmlRejects: true,
  },
  {
    name: "absurd tensor_count",
    build: () => ({ bytes: new Raw().header(1n << 40n, 0).done(), offset: 8 }),
    field: "header",
    ggmlRejects: true,
  },
  {
    name: "key length past the end of the file",
    build: () => ({
      bytes: new Raw().header(0, 1).u64(1_000_000).bytes([0x61]).zeros(32).done(),
      offset: 24,
    }),
    field: "metadata[0].key",
    ggmlRejects: true,
  },
  {
    name: "key length beyond 2^53",
    build: () => ({ bytes: new Raw().header(0, 1).u64(1n << 63n).zeros(32).done(), offset: 24 }),
    field: "metadata[0].key.length",
    ggmlRejects: true,
  },
  {
    name: "empty key",
    build: () => ({ bytes: new Raw().header(0, 1).str("").u32(4).u32(7).done(), offset: 24 }),
    field: "metadata[0].key",
    ggmlRejects: true,
  },
  {
    name: "unknown value type",
    build: () => {
      const r = new Raw().header(0, 1).str("a.b");
      const at = r.pos;
      return { bytes: r.u32(13).u32(0).done(), offset: at };
    },
    field: "metadata[0](a.b).type",
    ggmlRejects: true,
  },
  {
    name: "BOOL that is neither 0 nor 1",
    build: () => {
      const r = new Raw().header(0, 1).str("a.flag").u32(7);
      const at = r.pos;
      return { bytes: r.u8(2).done(), offset: at };
    },
    field: "metadata[0](a.flag).value",
    ggmlRejects: false, // ggml reads any nonzero byte as true; formats.md calls it invalid
  },
  {
    name: "string value longer than the file",
    build: () => {
      const r = new Raw().header(0, 1).str("a.s").u32(8);
      const at = r.pos;
      return { bytes: r.u64(1 << 30).bytes([0x41, 0x42]).done(), offset: at };
    },
    field: "metadata[0](a.s).value",
    ggmlRejects: true,
  },
  {
    name: "absurd array length",
    build: () => {
      const r = new Raw().header(0, 1).str("a.arr").u32(9).u32(4);
      const at = r.pos;
      return { bytes: r.u64(1n << 40n).u32(1).u32(2).done(), offset: at };
    },
    field: "metadata[0](a.arr).value.count",
    ggmlRejects: true,
  },
  {
    name: "unknown array element type",
    build: () => {
      const r = new Raw().header(0, 1).str("a.arr").u32(9);
      const at = r.pos;
      return { bytes: r.u32(77).u64(1).u32(0).done(), offset: at };
    },
    field: "metadata[0](a.arr).value.type",
    ggmlRejects: true,
  },
  {
    name: "arrays nested 9 deep",
    build: () => {
      const r = new Raw().header(0, 1).str("a.deep").u32(9);
      let at = 0;
      for (let d = 0; d < 9; d++) {
        at = r.pos;
        r.u32(9).u64(1);
      }
      return { bytes: r.u32(4).u64(0).done(), offset: at };
    },
    field: "metadata[0](a.deep).value[0][0][0][0][0][0][0][0]",
    ggmlRejects: true,
  },
  {
    name: "duplicate key",
    build: () => {
      const r = new Raw().header(0, 2).kvStr("a.k", "x");
      const at = r.pos;
      return { bytes: r.kvStr("a.k", "y").done(), offset: at };
    },
    field: "metadata[1](a.k)",
    ggmlRejects: true,
  },
  {
    name: "general.alignment of the wrong type",
    build: () => {
      const r = new Raw().header(0, 1).str("general.alignment").u32(10);
      const at = r.pos;
      return { bytes: r.u64(64).done(), offset: at };
    },
    field: "metadata[0](general.alignment).value",
    ggmlRejects: true,
  },
  {
    name: "general.alignment not a power of two",
    build: () => {
      const r = new Raw().header(0, 1).str("general.alignment").u32(4);
      const at = r.pos;
      return { bytes: r.u32(48).done(), offset: at };
    },
    field: "metadata[0](general.alignment).value",
    ggmlRejects: true,
  },
  ...tensorCases(),
];

function tensorCases(): Hostile[] {
  const base = () => new Raw().header(1, 1).kvStr("general.architecture", "llama");
  const data = (r: Raw, n: number) => r.padTo(32).zeros(n).done();
  return [
    {
      name: "n_dims above 4",
      build: () => {
        const r = base().str("t");
        const at = r.pos;
        r.u32(5);
        for (let i = 0; i < 5; i++) r.u64(1);
        return { bytes: data(r.u32(0).u64(0), 64), offset: at };
      },
      field: "tensor_info[0](t).n_dims",
      ggmlRejects: true,
    },
    ...[4, 99].map((type): Hostile => ({
      name: `ggml type id ${type} (${type === 4 ? "removed" : "unknown"})`,
      build: () => {
        const r = base().str("t").u32(1).u64(32);
        const at = r.pos;
        return { bytes: data(r.u32(type).u64(0), 64), offset: at };
      },
      field: "tensor_info[0](t).type",
      ggmlRejects: true,
    })),
    {
      name: "ne[0] that does not fill whole Q4_0 blocks",
      build: () => {
        const r = base().str("t").u32(2);
        const at = r.pos;
        return { bytes: data(r.u64(33).u64(2).u32(2).u64(0), 64), offset: at };
      },
      field: "tensor_info[0](t).ne[0]",
      ggmlRejects: true,
    },
    {
      name: "element count overflowing 2^53",
      build: () => {
        const r = base().str("t").u32(2).u64(1n << 40n);
        const at = r.pos;
        return { bytes: data(r.u64(1n << 40n).u32(0).u64(0), 64), offset: at };
      },
      field: "tensor_info[0](t).ne[1]",
      ggmlRejects: false, // ggml accepts ne = [2^40, 2^40] and reports size 0
    },
    {
      name: "offset not a multiple of the alignment",
      build: () => {
        const r = base();
        const at = tensorInfo(r, "t", [8], 0, 16);
        return { bytes: data(r, 64), offset: at };
      },
      field: "tensor_info[0](t).offset",
      ggmlRejects: true,
    },
    {
      name: "tensor data past the end of the file",
      build: () => {
        const r = base();
        const at = tensorInfo(r, "t", [1024], 0, 0);
        return { bytes: data(r, 100), offset: at };
      },
      field: "tensor_info[0](t).offset",
      ggmlRejects: false, // ggml checks data bounds only when it loads the data
    },
    {
      name: "overlapping tensors",
      build: () => {
        const r = new Raw().header(2, 1).kvStr("general.architecture", "llama");
        tensorInfo(r, "a", [64], 0, 0);
        const at = tensorInfo(r, "b", [64], 0, 128);
        return { bytes: data(r, 512), offset: at };
      },
      field: "tensor_info[1](b).offset",
      ggmlRejects: true,
    },
    {
      name: "duplicate tensor name",
      build: () => {
        const r = new Raw().header(2, 1).kvStr("general.architecture", "llama");
        tensorInfo(r, "a", [8], 0, 0);
        const at = r.pos;
        tensorInfo(r, "a", [8], 0, 32);
        return { bytes: data(r, 64), offset: at };
      },
      field: "tensor_info[1](a)",
      ggmlRejects: true,
    },
    {
      name: "tensor name that is not UTF-8",
      build: () => {
        const r = base();
        const at = r.pos + 8;
        r.u64(2).bytes([0xff, 0xfe]).u32(1).u64(8).u32(0).u64(0);
        return { bytes: data(r, 32), offset: at };
      },
      field: "tensor_info[0].name",
      ggmlRejects: false,
    },
  ];
}

const tmpDir = Deno.makeTempDirSync({ prefix: "lathe-gguf-" });
addEventListener("unload", () => Deno.removeSync(tmpDir, { recursive: true }));

for (const h of HOSTILE) {
  Deno.test(`gguf hostile: ${h.name} → LatheError naming ${h.field}`, async () => {
    const { bytes, offset } = h.build();
    const path = `${tmpDir}/${h.name.replace(/\W+/g, "_")}.gguf`;
    Deno.writeFileSync(path, bytes);
    const check = (e: unknown) => {
      assert.ok(e instanceof LatheError, `a LatheError, got ${e}`);
      assert.equal(e.kind, h.kind ?? "format", e.message);
      assert.equal(e.where.field, h.field, e.message);
      assert.equal(e.where.offset, offset, e.message);
      return true;
    };
    assert.throws(() => parseGguf(bytes, path), check);
    await assert.rejects(() => openGguf(path), (e) => check(e) && (e as LatheError).where.file === path);
    if (ggml && h.ggmlRejects) assert.equal(ggml.readGguf(path), null, "ggml rejects it too");
  });
}

Deno.test("gguf: accepted oddities are reported in notes (long names, unpacked offsets)", () => {
  const r = new Raw().header(2, 1).kvStr("general.architecture", "llama");
  const long = "blk.0." + "x".repeat(60) + ".weight";
  tensorInfo(r, long, [8], 0, 64);
  tensorInfo(r, "b", [8], 0, 0);
  const f = parseGguf(r.padTo(32).zeros(96).done());
  assert.equal(f.tensors.length, 2);
  assert.equal(f.notes.length, 2, f.notes.join("; "));
  assert.match(f.notes[0], /64 bytes or more/);
  assert.match(f.notes[1], /packed in order/);
});

Deno.test({
  name: "gguf: opening a 5 GiB file reads only its header",
  async fn() {
    // A sparse file: the header and tensor infos, then a hole up to the end of a 5 GiB F32 tensor.
    const r = new Raw().header(1, 1).kvStr("general.architecture", "llama");
    tensorInfo(r, "big", [1 << 20, 1280], 0, 0);
    const header = r.padTo(32).done();
    const path = `${tmpDir}/big.gguf`;
    Deno.writeFileSync(path, header);
    const size = header.length + 5 * 2 ** 30;
    Deno.truncateSync(path, size);
    const before = Deno.memoryUsage().rss;
    using f = await openGguf(path);
    const grew = Deno.memoryUsage().rss - before;
    assert.equal(f.tensors[0].nbytes, 5 * 2 ** 30);
    assert.equal(f.fileSize, size);
    assert.ok(grew < 64 * 2 ** 20, `resident memory grew by ${grew} bytes`);
  },
});
