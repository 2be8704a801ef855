/**
 * `compile --target bfp` on a GGUF whose matrices the BFP unit cannot take: the ggml-requantize pass
 * re-encodes them in a K-quant. The re-encoded bytes must equal what compiler/gguf/requantize.ts writes
 * for the same tensor (an independent path through the GGUF writer and reader) and what ggml's own
 * quantizer makes of ggml's own decoding (through FFI, when the library is present); the compiled graph
 * must be bit-exact with the runtime, and with the runtime on the file requantize.ts wrote. A small llama
 * GGUF built here runs without the corpus; the corpus's six tiny-llama files print offloaded calls,
 * tokens per second (simulated on the Kria KV260) and compile times.
 */
import assert from "node:assert/strict";
import { importGguf } from "../compiler/gguf/llama.ts";
import type { GgufKV } from "../compiler/gguf/metadata.ts";
import { openGguf } from "../compiler/gguf/reader.ts";
import { requantizeGguf } from "../compiler/gguf/requantize.ts";
import { writeGguf } from "../compiler/gguf/writer.ts";
import { compileForTarget, integerPipeline } from "../compiler/target-compile.ts";
import { constantBytes } from "../ir/constant.ts";
import { printDType } from "../ir/dtype.ts";
import { LatheError } from "../ir/errors.ts";
import { GGML_TYPES } from "../ir/ggml-type.ts";
import type { Graph, Model } from "../ir/graph.ts";
import { bindInputShapes } from "../passes/convert/static-shapes.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import { requantizeGgmlWeights } from "../passes/quantize/ggml-requantize.ts";
import { Session } from "../runtime/interpreter.ts";
import { Rng } from "../runtime/random.ts";
import { Tensor } from "../runtime/tensor.ts";
import { variantSummary } from "../targets/bfp/variants.ts";
import { partitionGraph } from "../targets/partition.ts";
import { getTarget } from "../targets/registry.ts";
import { simulatePartitioned } from "../targets/simulate.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { type Ggml, loadGgml } from "./ffi/ggml.ts";

const loaded = loadGgml();
const ggml: Ggml | undefined = typeof loaded === "string" ? undefined : loaded;
if (!ggml) console.warn(`SKIP ggml byte comparisons: ${loaded}`);

const Q4_K = 12, Q6_K = 14;

/** The tensor bytes of a GGUF file by name, read with the GGUF reader. */
async function fileTensors(path: string): Promise<Map<string, { typeId: number; bytes: Uint8Array }>> {
  const h = await openGguf(path);
  try {
    const out = new Map<string, { typeId: number; bytes: Uint8Array }>();
    for (const t of h.tensors) out.set(t.name, { typeId: t.typeId, bytes: await h.readTensorBytes(t) });
    return out;
  } finally {
    h.close();
  }
}

/** ggml's own bytes for a matrix: decoded with ggml's to_float, quantized with ggml_quantize_chunk. */
function ggmlRequantized(g: Ggml, from: number, bytes: Uint8Array, rows: number, k: number, to: number) {
  const f = g.toFloat(from, bytes, rows * k);
  return g.quantizeChunk(to, f, rows, k);
}

function typeIdOf(m: Model, name: string): number {
  const d = m.graph.constants[name].dtype;
  if (d === "f32") return 0;
  if (d === "f16") return 1;
  assert.ok(typeof d === "object" && d.kind === "ggml", `${name} is ${printDType(d)}`);
  return d.typeId;
}

function sameBits(a: Tensor, b: Tensor): number {
  const x = new Uint32Array((a.data as Float32Array).slice().buffer);
  const y = new Uint32Array((b.data as Float32Array).slice().buffer);
  assert.equal(x.length, y.length);
  let differ = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) differ++;
  return differ;
}

// ------------------------------------------------------------------------------------------ built llama

const D_MODEL = 256, N_FF = 96, VOCAB = 40;

/**
 * A one-block llama with a tied head: token_embd F32 (gathered and multiplied), attn_q F16, attn_k Q8_0,
 * attn_v Q6_K (a type the BFP unit takes), attn_output and ffn_gate F32, ffn_up Q4_0, and ffn_down F32
 * with rows of 96, which do not fill 256-element super-blocks.
 */
async function writeBuiltLlama(path: string): Promise<void> {
  const rng = new Rng(7);
  const values = (n: number, scale: number) => {
    const f = new Float32Array(n);
    for (let i = 0; i < n; i++) f[i] = rng.normal() * scale;
    return f;
  };
  // Input blocks made by ggml when it is present, else by the encoder under test (the inputs only).
  const encode = async (typeId: number, f: Float32Array, k: number) => {
    if (typeId === 0) return new Uint8Array(f.buffer);
    if (ggml) return ggml.quantizeChunk(typeId, f, f.length / k, k);
    const { quantize } = await import("../runtime/ggml/quantize.ts");
    return quantize(typeId, f);
  };
  const matrix = async (name: string, rows: number, k: number, typeId: number) => ({
    name,
    ne: [k, rows],
    typeId,
    data: await encode(typeId, values(rows * k, 0.05), k),
  });
  const ones = (name: string, n: number) => ({
    name,
    ne: [n],
    typeId: 0,
    data: new Uint8Array(Float32Array.from({ length: n }, () => 1 + rng.uniform(-0.1, 0.1)).buffer),
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
  const tensors = [
    await matrix("token_embd.weight", VOCAB, D_MODEL, 0),
    ones("output_norm.weight", D_MODEL),
    ones("blk.0.attn_norm.weight", D_MODEL),
    await matrix("blk.0.attn_q.weight", D_MODEL, D_MODEL, 1),
    await matrix("blk.0.attn_k.weight", 128, D_MODEL, 8),
    await matrix("blk.0.attn_v.weight", 128, D_MODEL, Q6_K),
    await matrix("blk.0.attn_output.weight", D_MODEL, D_MODEL, 0),
    ones("blk.0.ffn_norm.weight", D_MODEL),
    await matrix("blk.0.ffn_gate.weight", N_FF, D_MODEL, 0),
    await matrix("blk.0.ffn_up.weight", N_FF, D_MODEL, 2),
    await matrix("blk.0.ffn_down.weight", D_MODEL, N_FF, 0),
  ];
  await writeGguf(path, { metadata, tensors });
}

async function withBuiltLlama(f: (path: string, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lathe-bfp-rq-" });
  try {
    const path = `${dir}/built-llama.gguf`;
    await writeBuiltLlama(path);
    await f(path, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("ggml-requantize on a built llama: re-encoded, kept and skipped matrices; bytes equal requantize.ts and ggml", async () => {
  await withBuiltLlama(async (path, dir) => {
    const model = await importGguf(path);
    const r = requantizeGgmlWeights(model);
    const byWeight = new Map(r.weights.map((w) => [w.weight, w]));
    // Hand-derived from the file: the tied head is token_embd; attn_v is a K-quant; ffn_down's rows are 96.
    const changed = [
      "blk.0.attn_q.weight",
      "blk.0.attn_k.weight",
      "blk.0.attn_output.weight",
      "blk.0.ffn_gate.weight",
      "blk.0.ffn_up.weight",
      "token_embd.weight",
    ];
    assert.deepEqual(r.weights.filter((w) => w.from !== w.to).map((w) => w.weight).sort(), changed.sort());
    assert.deepEqual(byWeight.get("blk.0.attn_q.weight"), {
      weight: "blk.0.attn_q.weight",
      nodes: ["blk.0.q"],
      from: "F16",
      to: "Q4_K",
    });
    assert.deepEqual(byWeight.get("token_embd.weight")!.nodes, ["output"]);
    assert.equal(byWeight.get("blk.0.attn_v.weight")!.to, "Q6_K");
    assert.equal(byWeight.get("blk.0.attn_v.weight")!.skipped, undefined);
    assert.match(
      byWeight.get("blk.0.ffn_down.weight")!.skipped!,
      /rows of 96 do not fill Q4_K blocks of 256/,
    );
    assert.equal(
      r.model.graph.constants["blk.0.attn_v.weight"],
      model.graph.constants["blk.0.attn_v.weight"],
    );
    assert.equal(
      r.model.graph.constants["blk.0.ffn_down.weight"],
      model.graph.constants["blk.0.ffn_down.weight"],
    );

    const fileOut = `${dir}/q4k.gguf`;
    await requantizeGguf(path, fileOut, { weights: "Q4_K" });
    const written = await fileTensors(fileOut), original = await fileTensors(path);
    for (const w of changed) {
      const c = r.model.graph.constants[w];
      assert.equal(printDType(c.dtype), "q.ggml<Q4_K>", w);
      assert.equal(
        r.model.graph.values[w].type.kind === "tensor" && printDType(r.model.graph.values[w].type.dtype),
        "q.ggml<Q4_K>",
      );
      const ref = written.get(w)!;
      assert.equal(ref.typeId, Q4_K, w);
      assert.deepEqual(constantBytes(c), ref.bytes, `${w}: bytes differ from requantize.ts's file`);
      if (ggml) {
        const [rows, k] = c.shape;
        const src = original.get(w)!;
        const want = ggmlRequantized(ggml, src.typeId, src.bytes, rows, k, Q4_K);
        assert.deepEqual(constantBytes(c), want, `${w}: bytes differ from ggml's quantizer`);
      }
    }
  });
});

Deno.test("compile --target bfp on a built llama: requantized MatMuls offloaded, bit-exact, logits equal requantize.ts's file", async () => {
  await withBuiltLlama(async (path, dir) => {
    const r = await compileForTarget({ model: path, target: "bfp", out: `${dir}/out` });
    assert.equal(r.prepared, "ggml-requantize{type=Q4_K}");
    const accel = r.report.nodes.filter((n) => n.placement === "accel").map((n) => n.node);
    assert.deepEqual(accel, ["blk.0.q", "blk.0.k", "blk.0.v", "blk.0.o", "blk.0.gate", "blk.0.up", "output"]);
    const down = r.report.nodes.find((n) => n.node === "blk.0.down")!;
    assert.equal(down.placement, "cpu");
    assert.match(down.reason!, /W is f32; the BFP unit takes K-quant weights/);
    assert.equal(r.report.simulation?.bit_exact, true);
    assert.deepEqual(variantSummary(r.report).byVariant, { Q4_K: 6, Q6_K: 1 });

    // With nothing kept, the pass's graph is the graph of requantize.ts's file: the offloaded run on the
    // one equals the plain runtime on the other, bit for bit.
    const fileOut = `${dir}/q4k.gguf`;
    await requantizeGguf(path, fileOut, { weights: "Q4_K" });
    const shapes = { shapes: { tokens: [5] } };
    const tokens = new Tensor("i32", [5], Int32Array.of(1, 7, 39, 0, 12));
    const fromFile = bindInputShapes((await importGguf(fileOut)).graph, shapes);
    const mine = requantizeGgmlWeights(await importGguf(path), { keep: [] }).model;
    const g: Graph = bindInputShapes(mine.graph, shapes);
    const part = partitionGraph(g, getTarget("bfp"));
    assert.equal(part.placements.filter((p) => p.placement === "accel").length, 7);
    const run = simulatePartitioned(g, part.graph, { inputs: { tokens } });
    const plain = new Session(fromFile).run({ tokens }).outputs.logits as Tensor;
    assert.deepEqual(plain.shape, [5, VOCAB]);
    assert.equal(sameBits(run.outputs.logits as Tensor, plain), 0);
  });
});

Deno.test("compile --target bfp --scheme q6_k: matrices re-encoded in Q6_K", async () => {
  await withBuiltLlama(async (path, dir) => {
    const r = await compileForTarget({ model: path, target: "bfp", scheme: "q6_k", out: `${dir}/out` });
    assert.equal(r.prepared, "ggml-requantize{type=Q6_K}");
    assert.equal(r.report.totals.offloaded_nodes, 7);
    assert.equal(r.report.simulation?.bit_exact, true);
    assert.deepEqual(variantSummary(r.report).byVariant, { Q6_K: 7 });
  });
});

Deno.test("ggml-requantize: pipeline only where needed, other targets unchanged, bad types refused", async () => {
  await withBuiltLlama(async (path) => {
    const m = await importGguf(path);
    assert.equal(integerPipeline(m, "int8"), "");
    assert.equal(integerPipeline(m, "apot"), "");
    assert.equal(integerPipeline(m, "q4_k"), "ggml-requantize{type=Q4_K}");
    const done = (await runPipeline(m, "ggml-requantize{type=Q5_K}")).model;
    assert.equal(typeIdOf(done, "blk.0.attn_q.weight"), 13);
    assert.equal(typeIdOf(done, "blk.0.attn_v.weight"), Q6_K);
    assert.equal(typeIdOf(done, "blk.0.ffn_down.weight"), 0);
    // Everything left is in a kept type or cannot move: nothing more to do.
    assert.equal(integerPipeline(done, "q4_k"), "");
    const again = (await runPipeline(m, "ggml-requantize{type=Q4_K,keep=Q6_K+F16}")).model;
    assert.equal(typeIdOf(again, "blk.0.attn_q.weight"), 1);
    assert.equal(typeIdOf(again, "blk.0.attn_k.weight"), Q4_K);
    for (
      const bad of ["ggml-requantize{type=Q8_K}", "ggml-requantize{type=F32}", "ggml-requantize{keep=Q9}"]
    ) {
      await assert.rejects(() => runPipeline(m, bad), (e: unknown) => {
        assert.ok(e instanceof LatheError && e.kind === "usage", String(e));
        return true;
      });
    }
  });
  assert.equal(getTarget("bfp").params.preferredScheme, "q4_k");
  assert.equal(getTarget("secda-sa").params.preferredScheme, undefined);
});

// ------------------------------------------------------------------------------------------ corpus

const FILES: Record<string, { requantized: number; kept: string[] }> = {
  F32: { requantized: 15, kept: [] },
  F16: { requantized: 15, kept: [] },
  Q8_0: { requantized: 15, kept: [] },
  Q4_0: { requantized: 14, kept: ["output.weight"] },
  Q4_K_M: { requantized: 0, kept: [] },
  Q6_K: { requantized: 0, kept: [] },
};

for (const [quant, want] of Object.entries(FILES)) {
  Deno.test({
    name: `compile tiny-llama-${quant}.gguf --target bfp: 15 MatMuls offloaded, bit-exact, tokens/s`,
    ignore: noCorpus(),
    fn: async () => {
      const path = corpusPath(`gguf/tiny-llama/tiny-llama-${quant}.gguf`);
      const dir = await Deno.makeTempDir({ prefix: "lathe-bfp-rq-" });
      try {
        const r = await compileForTarget({ model: path, target: "bfp", out: `${dir}/out` });
        assert.equal(r.prepared, want.requantized ? "ggml-requantize{type=Q4_K}" : "");
        assert.equal(r.report.totals.offloaded_nodes, 15);
        assert.equal(r.report.simulation?.bit_exact, true);
        assert.ok(r.report.simulation!.compared_values > 0);
        const tokens = 8;
        const tps = tokens / r.report.totals.seconds;
        console.log(
          `  tiny-llama-${quant}: ${r.report.totals.offloaded_nodes}/15 MatMuls offloaded, bit-exact, ` +
            `${tps.toFixed(0)} tokens/s simulated (${tokens} tokens in ${
              (r.report.totals.seconds * 1e3).toFixed(3)
            } ms); compile ${r.ms.total.toFixed(0)} ms (prepare ${r.ms.prepare.toFixed(0)} ms)`,
        );
        if (!want.requantized) return;

        const model = await importGguf(path);
        const rq = requantizeGgmlWeights(model);
        const moved = rq.weights.filter((w) => w.from !== w.to);
        assert.equal(moved.length, want.requantized);
        assert.deepEqual(rq.weights.filter((w) => w.from === w.to).map((w) => w.weight), want.kept);
        const fileOut = `${dir}/q4k.gguf`;
        await requantizeGguf(path, fileOut, { weights: "Q4_K" });
        const written = await fileTensors(fileOut);
        const original = ggml ? await fileTensors(path) : undefined;
        for (const w of moved) {
          const c = rq.model.graph.constants[w.weight];
          assert.deepEqual(
            constantBytes(c),
            written.get(w.weight)!.bytes,
            `${w.weight} differs from requantize.ts`,
          );
          if (ggml) {
            const src = original!.get(w.weight)!;
            const [rows, k] = c.shape;
            const ref = ggmlRequantized(ggml, src.typeId, src.bytes, rows, k, Q4_K);
            assert.deepEqual(
              constantBytes(c),
              ref,
              `${w.weight} differs from ggml (${GGML_TYPES.get(src.typeId)!.name})`,
            );
          }
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
