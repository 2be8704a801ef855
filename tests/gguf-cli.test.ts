/**
 * The GGUF commands as a user runs them (subprocesses of compiler/cli.ts): `inspect` against ggml's own
 * GGUF reader, `dump` against ggml's dequantizers (and, for ONNX, against initializers decoded by
 * onnx-proto), `run --tokens` against llama.cpp, `convert` and its exit codes.
 */
import assert from "node:assert/strict";
import * as onnxProtoModule from "onnx-proto";
import { decodeNpy } from "../compiler/npy.ts";
import { type Ggml, loadGgml } from "./ffi/ggml.ts";
import { llamaRemote } from "./ffi/llama-process.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { compareLogits, describeAgreement } from "./support/logits.ts";

const onnx = ((onnxProtoModule as any).onnx ?? (onnxProtoModule as any).default?.onnx) as any;
const CLI = new URL("../compiler/cli.ts", import.meta.url).pathname;
const skipCorpus = noCorpus();
const loaded = skipCorpus ? "no corpus" : loadGgml();
const ggml: Ggml | undefined = typeof loaded === "string" ? undefined : loaded;
if (!skipCorpus && !ggml) console.warn(`SKIP ggml-referenced CLI tests: ${loaded}`);
const llama = skipCorpus ? "no corpus" : await llamaRemote();
if (!skipCorpus && typeof llama === "string") console.warn(`SKIP llama.cpp-referenced CLI tests: ${llama}`);

const GGML_NAMES: Record<number, string> = { 0: "F32", 12: "Q4_K", 14: "Q6_K", 8: "Q8_0" };
const tiny = (q: string) => corpusPath(`gguf/tiny-llama/tiny-llama-${q}.gguf`);

async function lathe(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: r.code,
    stdout: new TextDecoder().decode(r.stdout),
    stderr: new TextDecoder().decode(r.stderr),
  };
}

Deno.test({
  name: "inspect on GGUF lists what ggml's reader sees: keys, types, tensors, shapes, bytes",
  ignore: !ggml,
  async fn() {
    const r = await lathe("inspect", tiny("Q4_K_M"), "--json");
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    const ref = ggml!.readGguf(tiny("Q4_K_M"))!;
    assert.deepEqual(j.metadata.map((m: { key: string }) => m.key), ref.kv.map((k) => k.key));
    const tokens = j.metadata.find((m: { key: string }) => m.key === "tokenizer.ggml.tokens");
    assert.equal(tokens.type, "ARRAY<STRING>");
    assert.equal(
      tokens.count,
      (ref.kv.find((k) => k.key === "tokenizer.ggml.tokens")!.value as unknown[]).length,
    );
    assert.equal(tokens.value.length, 8);
    assert.equal(j.tensors.length, ref.tensors.length);
    for (const [i, t] of ref.tensors.entries()) {
      const mine = j.tensors[i];
      assert.equal(mine.name, t.name);
      assert.equal(mine.type, GGML_NAMES[t.type] ?? String(t.type));
      assert.equal(mine.bytes, t.size);
      const ne = t.ne.slice(0, mine.shape.length);
      assert.deepEqual(mine.shape, [...ne].reverse(), t.name);
    }
    assert.deepEqual(j.graph.inputs, [{ name: "tokens", type: "i32[T]" }]);
    assert.deepEqual(j.graph.outputs, [{ name: "logits", type: "f32[T,339]" }]);
    const text = await lathe("inspect", tiny("Q4_K_M"));
    assert.match(
      text.stdout,
      /tokenizer\.ggml\.tokens\s+ARRAY<STRING>\s+\["<unk>", "<s>", "<\/s>".*… 339 items\]/,
    );
    assert.match(text.stdout, /blk\.0\.attn_q\.weight\s+Q4_K\s+\[256, 256\]/);
  },
});

Deno.test({
  name: "inspect on the tokenizer-only GGUF shows its metadata and why there is no graph",
  ignore: skipCorpus,
  async fn() {
    const path = corpusPath("gguf/vocab/ggml-vocab-llama-spm.gguf");
    const r = await lathe("inspect", path, "--json");
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.tensors.length, 0);
    if (ggml) assert.equal(j.metadata.length, ggml.readGguf(path)!.kv.length);
    assert.equal(j.metadata.find((m: { key: string }) => m.key === "tokenizer.ggml.tokens").count, 32000);
    assert.match(j.graph.error, /token_embd\.weight is missing/);
  },
});

Deno.test({
  name: "dump writes every GGUF tensor as float32 .npy equal to ggml's dequantization, with index.json",
  ignore: !ggml,
  async fn() {
    const out = await Deno.makeTempDir();
    try {
      const r = await lathe("dump", tiny("Q4_K_M"), "--out", out, "--json");
      assert.equal(r.code, 0, r.stderr);
      const index = JSON.parse(await Deno.readTextFile(`${out}/index.json`));
      const ref = ggml!.readGguf(tiny("Q4_K_M"))!;
      const bytes = await Deno.readFile(tiny("Q4_K_M"));
      assert.equal(index.length, ref.tensors.length);
      for (const t of ref.tensors) {
        const e = index.find((x: { name: string }) => x.name === t.name);
        assert.ok(e, `${t.name} missing from index.json`);
        assert.equal(e.source_type, GGML_NAMES[t.type]);
        const n = t.ne.reduce((p, d) => p * d, 1);
        const start = ref.dataOffset + t.offset;
        const want = ggml!.toFloat(t.type, bytes.slice(start, start + t.size), n);
        const got = decodeNpy(await Deno.readFile(`${out}/${e.file}`));
        assert.equal(got.dtype, "f32");
        assert.deepEqual(got.shape, e.shape);
        assert.deepEqual(got.data, want, `${t.name} values`);
      }
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "dump works for ONNX too: every initializer as float32, equal to onnx-proto's decoding",
  ignore: skipCorpus,
  async fn() {
    const out = await Deno.makeTempDir();
    try {
      const model = corpusPath("onnx/torch/dcgan_generator.onnx");
      const r = await lathe("dump", model, "--out", out, "--json");
      assert.equal(r.code, 0, r.stderr);
      const index = JSON.parse(await Deno.readTextFile(`${out}/index.json`));
      const ref = onnx.ModelProto.decode(await Deno.readFile(model));
      let checked = 0;
      for (const init of ref.graph.initializer) {
        if (init.dataType !== 1) continue;
        const raw: Uint8Array = init.rawData;
        const want = raw?.length
          ? new Float32Array(raw.slice().buffer)
          : Float32Array.from(init.floatData as number[]);
        const e = index.find((x: { name: string }) => x.name === init.name);
        assert.ok(e, `${init.name} missing`);
        assert.equal(e.source_type, "f32");
        assert.deepEqual(decodeNpy(await Deno.readFile(`${out}/${e.file}`)).data, want);
        checked++;
      }
      assert.ok(checked > 5, `${checked} initializers compared`);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "run MODEL.gguf --tokens writes logits [tokens, vocab] that agree with llama.cpp",
  ignore: typeof llama === "string",
  async fn() {
    const out = await Deno.makeTempDir();
    try {
      const tokens = [1, 42, 7, 300, 5];
      const r = await lathe("run", tiny("Q4_0"), "--tokens", tokens.join(","), "--out", out, "--json");
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(await Deno.readTextFile(`${out}/outputs.json`));
      assert.equal(j.outputs.logits, "logits.npy");
      const logits = decodeNpy(await Deno.readFile(`${out}/${j.outputs.logits}`));
      assert.deepEqual(logits.shape, [5, 339]);
      const want = await (llama as Exclude<typeof llama, string>).logits(tiny("Q4_0"), tokens);
      const a = compareLogits(logits.data as Float32Array, want.logits, want.vocab);
      console.log(`  run --tokens vs llama.cpp: ${describeAgreement(a)}`);
      assert.deepEqual(a.argmaxMismatches, []);
      assert.ok(a.relative <= 0.01);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "convert re-encodes weight matrices, keeps norms, and the result reads back in ggml",
  ignore: !ggml,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const out = `${dir}/q4k.gguf`;
      const r = await lathe("convert", tiny("F32"), out, "--weights", "Q4_K", "--json");
      assert.equal(r.code, 0, r.stderr);
      const ref = ggml!.readGguf(out)!;
      const types = new Map(ref.tensors.map((t) => [t.name, t.type]));
      assert.equal(types.get("blk.0.attn_q.weight"), 12);
      assert.equal(types.get("blk.0.attn_norm.weight"), 0);
      assert.equal(ref.kv.find((k) => k.key === "general.quantization_version")?.value, 2);
      const src = ggml!.readGguf(tiny("F32"))!;
      assert.deepEqual(
        ref.kv.filter((k) => k.key !== "general.file_type" && k.key !== "general.quantization_version").map((
          k,
        ) => [k.key, k.value]),
        src.kv.filter((k) => k.key !== "general.file_type").map((k) => [k.key, k.value]),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "convert and inspect exit codes: unknown type 2, unsupported pair 3, truncated file 3",
  ignore: skipCorpus,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      assert.equal((await lathe("convert", tiny("F32"), `${dir}/x.gguf`, "--weights", "Q9_9")).code, 2);
      assert.equal((await lathe("convert", tiny("F32"), `${dir}/x.onnx`)).code, 3);
      const cut = `${dir}/cut.gguf`;
      await Deno.writeFile(cut, (await Deno.readFile(tiny("Q8_0"))).subarray(0, 5000));
      const r = await lathe("inspect", cut);
      assert.equal(r.code, 3);
      assert.match(r.stderr, /cut\.gguf/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
