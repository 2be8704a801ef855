/**
 * Memory stays bounded on a GGUF larger than 1 GB: the file is generated here with Lathe's streaming
 * writer (a llama whose embedding and head are 256 MiB each, 12 layers, a 65,536-entry tokenizer), then
 * `inspect` and `dump` run in a subprocess that reports its peak resident memory (VmHWM). inspect must stay
 * under 200 MB; dump streams tensors in slices and is reported (and held under 250 MB).
 */
import assert from "node:assert/strict";
import { writeGguf } from "../compiler/gguf/writer.ts";
import type { GgufKV } from "../compiler/gguf/metadata.ts";

const DRIVER = new URL("./support/peak-rss.ts", import.meta.url).pathname;
const D = 1024, VOCAB = 65536, LAYERS = 12, FF = 4096;

async function cli(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string; peakMb: number }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", DRIVER, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(r.stderr);
  const kb = Number(/PEAK_RSS_KB=(\d+)/.exec(stderr)?.[1]);
  return { code: r.code, stdout: new TextDecoder().decode(r.stdout), stderr, peakMb: kb / 1024 };
}

async function writeBig(path: string): Promise<number> {
  const zeros = new Uint8Array(VOCAB * D * 4);
  const t = (name: string, ne: number[]) => ({
    name,
    ne,
    typeId: 0,
    data: () => zeros.subarray(0, ne.reduce((p, d) => p * d, 4)),
  });
  const tensors = [t("token_embd.weight", [D, VOCAB])];
  for (let l = 0; l < LAYERS; l++) {
    const p = `blk.${l}`;
    tensors.push(
      t(`${p}.attn_norm.weight`, [D]),
      t(`${p}.attn_q.weight`, [D, D]),
      t(`${p}.attn_k.weight`, [D, D]),
      t(`${p}.attn_v.weight`, [D, D]),
      t(`${p}.attn_output.weight`, [D, D]),
      t(`${p}.ffn_norm.weight`, [D]),
      t(`${p}.ffn_gate.weight`, [D, FF]),
      t(`${p}.ffn_up.weight`, [D, FF]),
      t(`${p}.ffn_down.weight`, [FF, D]),
    );
  }
  tensors.push(t("output_norm.weight", [D]), t("output.weight", [D, VOCAB]));
  const metadata: GgufKV[] = [
    { key: "general.architecture", type: 8, value: "llama" },
    { key: "general.name", type: 8, value: "big-zeros" },
    { key: "llama.embedding_length", type: 4, value: D },
    { key: "llama.block_count", type: 4, value: LAYERS },
    { key: "llama.feed_forward_length", type: 4, value: FF },
    { key: "llama.attention.head_count", type: 4, value: 8 },
    { key: "llama.attention.layer_norm_rms_epsilon", type: 6, value: 1e-5 },
    {
      key: "tokenizer.ggml.tokens",
      type: 9,
      value: { elemType: 8, items: Array.from({ length: VOCAB }, (_, i) => `tok${i}`) },
    },
    { key: "tokenizer.ggml.scores", type: 9, value: { elemType: 6, items: new Float32Array(VOCAB) } },
  ];
  await writeGguf(path, { metadata, tensors });
  return (await Deno.stat(path)).size;
}

Deno.test({
  name: "gguf memory: inspect and dump of a >1 GB GGUF stay bounded (peak RSS)",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/big.gguf`;
      const size = await writeBig(path);
      assert.ok(size > 1e9, `file is ${size} bytes`);

      const ins = await cli("inspect", path, "--json");
      assert.equal(ins.code, 0, ins.stderr);
      const j = JSON.parse(ins.stdout);
      assert.equal(j.tensors.length, 3 + 9 * LAYERS);
      assert.deepEqual(j.graph.outputs, [{ name: "logits", type: `f32[T,${VOCAB}]` }]);
      const tok = j.metadata.find((m: { key: string }) => m.key === "tokenizer.ggml.tokens");
      assert.equal(tok.count, VOCAB);
      assert.ok(tok.value.length < 20, "a long array is summarized");
      console.log(`  ${(size / 2 ** 30).toFixed(2)} GiB GGUF: inspect peak RSS ${ins.peakMb.toFixed(0)} MB`);
      assert.ok(ins.peakMb < 200, `inspect peaked at ${ins.peakMb.toFixed(0)} MB`);

      const out = `${dir}/dump`;
      const dump = await cli("dump", path, "--out", out, "--json");
      assert.equal(dump.code, 0, dump.stderr);
      const index = JSON.parse(await Deno.readTextFile(`${out}/index.json`));
      assert.equal(index.length, 3 + 9 * LAYERS);
      const embd = index.find((e: { name: string }) => e.name === "token_embd.weight");
      assert.deepEqual(embd.shape, [VOCAB, D]);
      const st = await Deno.stat(`${out}/${embd.file}`);
      assert.equal(st.size, 128 + VOCAB * D * 4);
      console.log(`  dump peak RSS ${dump.peakMb.toFixed(0)} MB`);
      assert.ok(dump.peakMb < 250, `dump peaked at ${dump.peakMb.toFixed(0)} MB`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
