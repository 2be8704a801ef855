/**
 * Emitted C++ drivers for the bfp target (SECDA-LLM's BFP MatMul) on llama GGUFs against Lathe's runtime,
 * bit for bit: `compile --target bfp` (re-encoding matrices the unit cannot take into Q4_K, partitioning,
 * emitting DIR/driver/), build with g++ through the driver's Makefile (linking the accelerator model
 * bfp_sim.cc), run on the seeded token ids compile simulates with, and compare the logits .npy with the
 * partitioned graph on the runtime (targets/simulate.ts, each call on targets/bfp/functional.ts) and with
 * the unpartitioned graph on the plain runtime (ggml's vec_dot on the CPU). Every intermediate value
 * (--dump: embeddings, norms, the host's Q8_K blocks, rope, attention, each MatMul) is compared too, and
 * the packets the model receives (LATHE_ACC_TRACE) must be each call's Program, packet for packet.
 *
 * Models: a small llama GGUF built here (token_embd Q8_0, a tied head re-encoded to Q4_K, attn_v Q6_K,
 * ffn_down Q4_1 with rows of 96, which stays on the CPU as a GgmlMatMul with x86 Q8_1 activations), and
 * the corpus's six tiny-llama files (skipped without ../shared). Malformed streams sent straight to the
 * accelerator model are refused with the packet's index. Build and run times are printed.
 */
import assert from "node:assert/strict";
import { compileModel } from "../compiler/compile.ts";
import "../compiler/formats.ts";
import type { GgufKV } from "../compiler/gguf/metadata.ts";
import { writeGguf } from "../compiler/gguf/writer.ts";
import { loadModel } from "../compiler/load-model.ts";
import { integerPipeline, seededTokens as compileTokens } from "../compiler/target-compile.ts";
import type { Graph } from "../ir/graph.ts";
import "../passes/index.ts";
import { bindInputShapes } from "../passes/convert/static-shapes.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import { quantize } from "../runtime/ggml/quantize.ts";
import { Rng } from "../runtime/random.ts";
import { Tensor } from "../runtime/tensor.ts";
import { bfpConfigHeader } from "../targets/emit/bfp-config.ts";
import { cppSource, withIncludes } from "../targets/emit/cpp-library.ts";
import type { EmittedDriver } from "../targets/emit/emit.ts";
import { getTarget } from "../targets/registry.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { checkDriver, noToolchain } from "./support/driver-run.ts";

const TARGET = "bfp";

/** compile's seeded token ids. */
function seededTokens(g: Graph, seed: number): Record<string, Tensor> {
  const t = compileTokens(g, seed);
  assert.ok(t, "a llama graph");
  return t;
}

/** The graph compile partitions: the GGUF with 8 tokens, its matrices re-encoded as compile does. */
async function compiledOriginal(file: string): Promise<Graph> {
  let model = await loadModel(file);
  model = { ...model, graph: bindInputShapes(model.graph, { shapes: { tokens: [8] } }) };
  const pipeline = integerPipeline(model, "q4_k");
  if (pipeline) model = (await runPipeline(model, pipeline)).model;
  return model.graph;
}

/** Compiles `file` for bfp, builds its driver, runs it per seed and compares outputs, dumps and packets. */
async function check(label: string, file: string, seeds: readonly number[], cpuMatMuls = 0) {
  const out = await Deno.makeTempDir({ prefix: "lathe-bfp-drv-" });
  try {
    const t0 = performance.now();
    const r = await compileModel({ model: file, target: TARGET, out: `${out}/c` });
    const compileMs = performance.now() - t0;
    assert.ok(r.driver && "dir" in r.driver, `${label}: a driver was emitted: ${JSON.stringify(r.driver)}`);
    const d = r.driver as EmittedDriver;
    const partitioned = r.target!.partition.graph;
    const cpu = partitioned.nodes.filter((n) => n.op === "lathe.GgmlMatMul").length;
    assert.equal(cpu, cpuMatMuls, `${label}: MatMuls left on the CPU`);
    assert.ok(d.stats.calls > 0, `${label}: calls offloaded`);
    const original = await compiledOriginal(file);
    const { build, run } = await checkDriver({
      label,
      original,
      partitioned,
      driver: d,
      seeds,
      inputs: (seed) => seededTokens(original, seed),
      dump: true,
      trace: TARGET,
      output: (name, t) => {
        const distinct = new Set(t.data as Float32Array).size;
        assert.ok(distinct > 100, `${label}: ${name} takes ${distinct} values`);
      },
    });
    console.log(
      `  ${label}: ${d.stats.calls} calls, ${d.stats.packets} packets; compile ${compileMs.toFixed(0)} ms, ` +
        `build ${build.toFixed(0)} ms, run ${run.toFixed(1)} ms per token set`,
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

// ------------------------------------------------------------------------------------------ built llama

const D_MODEL = 256, N_FF = 96, VOCAB = 48;
const Q4_0 = 2, Q4_1 = 3, Q8_0 = 8, Q6_K = 14;

/**
 * A one-block llama with a tied head: token_embd Q8_0 (gathered as Q8_0; the head re-encoded to Q4_K),
 * attn_q F16, attn_k Q4_0, attn_v Q6_K, attn_output and ffn_gate F32, ffn_up Q4_0, ffn_down Q4_1 [256, 96].
 * Blocks are made by the runtime's reference quantizer (they are only the file's contents).
 */
async function writeBuiltLlama(path: string): Promise<void> {
  const rng = new Rng(11);
  const values = (n: number, scale: number) => {
    const f = new Float32Array(n);
    for (let i = 0; i < n; i++) f[i] = rng.normal() * scale;
    return f;
  };
  const matrix = (name: string, rows: number, k: number, typeId: number, scale = 0.06) => {
    const f = values(rows * k, scale);
    const data = typeId === 0
      ? new Uint8Array(f.buffer)
      : typeId === 1
      ? new Uint8Array(Float16Array.from(f).buffer)
      : quantize(typeId, f);
    return { name, ne: [k, rows], typeId, data };
  };
  const ones = (name: string, n: number) => ({
    name,
    ne: [n],
    typeId: 0,
    data: new Uint8Array(Float32Array.from({ length: n }, () => 1 + rng.uniform(-0.2, 0.2)).buffer),
  });
  const metadata: GgufKV[] = [
    { key: "general.architecture", type: 8, value: "llama" },
    { key: "general.name", type: 8, value: "built-llama" },
    { key: "llama.embedding_length", type: 4, value: D_MODEL },
    { key: "llama.block_count", type: 4, value: 1 },
    { key: "llama.feed_forward_length", type: 4, value: N_FF },
    { key: "llama.attention.head_count", type: 4, value: 4 },
    { key: "llama.attention.head_count_kv", type: 4, value: 2 },
  ];
  await writeGguf(path, {
    metadata,
    tensors: [
      matrix("token_embd.weight", VOCAB, D_MODEL, Q8_0, 0.5),
      ones("output_norm.weight", D_MODEL),
      ones("blk.0.attn_norm.weight", D_MODEL),
      matrix("blk.0.attn_q.weight", D_MODEL, D_MODEL, 1),
      matrix("blk.0.attn_k.weight", 128, D_MODEL, Q4_0),
      matrix("blk.0.attn_v.weight", 128, D_MODEL, Q6_K),
      matrix("blk.0.attn_output.weight", D_MODEL, D_MODEL, 0),
      ones("blk.0.ffn_norm.weight", D_MODEL),
      matrix("blk.0.ffn_gate.weight", N_FF, D_MODEL, 0),
      matrix("blk.0.ffn_up.weight", N_FF, D_MODEL, Q4_0),
      matrix("blk.0.ffn_down.weight", D_MODEL, N_FF, Q4_1),
    ],
  });
}

Deno.test({
  name: "bfp driver: a built llama GGUF (Q8_0 table, Q4_1 CPU MatMul, Q4_K/Q6_K calls) runs bit-exact",
  ignore: noToolchain(),
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "lathe-bfp-built-" });
    try {
      const file = `${dir}/built-llama.gguf`;
      await writeBuiltLlama(file);
      await check("built llama", file, [0, 5], 1);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

for (const kind of ["Q4_K_M", "Q6_K", "F32", "Q8_0", "Q4_0", "F16"]) {
  Deno.test({
    name: `bfp driver: corpus tiny-llama-${kind} compiles to a driver bit-exact with the runtime`,
    ignore: noCorpus() || noToolchain(),
    sanitizeResources: false,
    fn: () => check(`tiny-llama-${kind}`, corpusPath(`gguf/tiny-llama/tiny-llama-${kind}.gguf`), [0, 1]),
  });
}

// ------------------------------------------------------------------------------ malformed streams

/**
 * Builds a program that reads packets ("lane word word …" a line) from the file named by its argument and
 * sends them straight to bfp_sim.cc; `send` runs it on a stream and returns its exit code and stderr.
 */
async function streamSender(
  dir: string,
): Promise<(packets: readonly [number, number[]][]) => Promise<{ code: number; stderr: string }>> {
  // The model and every library file it includes, as a driver folder has them.
  await Deno.mkdir(`${dir}/kernels`, { recursive: true });
  for (const f of withIncludes(["bfp_sim.cc"], new Set(["acc_config.h"]))) {
    await Deno.writeTextFile(`${dir}/${f}`, cppSource(f));
  }
  await Deno.writeTextFile(`${dir}/acc_config.h`, bfpConfigHeader(getTarget(TARGET)));
  await Deno.writeTextFile(
    `${dir}/main.cc`,
    `#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
#include "acc_hw.h"
int main(int, char** argv) {
  std::ifstream in(argv[1]);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    int lane;
    s >> lane;
    std::vector<uint32_t> w;
    for (uint32_t v; s >> v;) w.push_back(v);
    acc::dma_send(lane, w.data(), w.size());
  }
  acc::close();
  return 0;
}
`,
  );
  const b = new Deno.Command("g++", {
    args: ["-O1", "-std=c++17", "-o", `${dir}/send`, `${dir}/main.cc`, `${dir}/bfp_sim.cc`],
    stderr: "piped",
  }).outputSync();
  assert.ok(b.success, new TextDecoder().decode(b.stderr));
  let k = 0;
  return async (packets) => {
    const f = `${dir}/stream-${k++}.txt`;
    await Deno.writeTextFile(f, packets.map(([lane, w]) => `${lane} ${w.join(" ")}\n`).join(""));
    const r = await new Deno.Command(`${dir}/send`, { args: [f], stderr: "piped" }).output();
    return { code: r.code, stderr: new TextDecoder().decode(r.stderr) };
  };
}

Deno.test({
  name: "bfp accelerator model: malformed streams are refused with the packet's index",
  ignore: noToolchain(),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "lathe-bfp-sim-" });
    const sendStream = await streamSender(dir);
    const CONFIG = 0x10, LOAD_INP = 0x1, LOAD_WGT = 0x2, COMPUTE = 0x4;
    const q8 = new Array(73).fill(0);
    // One Q4_K call of 2 rows × 1 super-block (36 words a block) against 1 activation row.
    const cfg: [number, number[]] = [0, [CONFIG | LOAD_INP, 1, 2, 1, 4, 1, ...q8]];
    const cases: [string, [number, number[]][], RegExp][] = [
      ["weights before CONFIG", [[0, [LOAD_WGT, 2, 36, 36, 36, 0, 0]]], /packet 0: a packet before CONFIG/],
      ["an unknown variant", [[0, [CONFIG | LOAD_INP, 1, 2, 1, 7, 1, ...q8]]], /packet 0: CONFIG wgt_type 7/],
      [
        "a block size that is not the variant's",
        [cfg, [0, [LOAD_WGT, 2, 21, 21, 21, 0, 0, ...new Array(21).fill(0)]]],
        /packet 1: LOAD_WGT blocks of 21 words; wgt_type 4 blocks are 36/,
      ],
      [
        "lane sizes that do not add up",
        [cfg, [0, [LOAD_WGT, 2, 36, 36, 0, 0, 0, ...new Array(36).fill(0)]]],
        /packet 1: LOAD_WGT lane sizes do not add up/,
      ],
      [
        "COMPUTE before lane 1 delivered",
        [cfg, [0, [LOAD_WGT, 2, 36, 36, 36, 0, 0, ...new Array(36).fill(0)]], [0, [COMPUTE, 2, 1, 2, 1]]],
        /packet 2: lane 1 delivered 0 of 36 words before COMPUTE/,
      ],
      [
        "weight words before LOAD_WGT",
        [cfg, [1, new Array(36).fill(0)]],
        /packet 1: lane 1 sends weight words/,
      ],
      [
        "a tile over SUP_KMB",
        [cfg, [0, [LOAD_WGT, 1025, 36, 9225, 9225, 9225, 9225]]],
        /packet 1: LOAD_WGT of 1025 super-blocks overflows SUP_KMB 1024/,
      ],
      ["a call left unfinished", [cfg, cfg], /packet 1: the previous call computed 0 of 2 weight rows/],
    ];
    for (const [what, stream, want] of cases) {
      const r = await sendStream(stream);
      assert.equal(r.code, 3, `${what}: exit code (${r.stderr})`);
      assert.match(r.stderr, want, what);
    }
    await Deno.remove(dir, { recursive: true });
  },
});
