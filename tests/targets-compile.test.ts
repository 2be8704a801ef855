/**
 * Every target family from `compile --target`: PoTAcc quantizes a float model with its preferred PoT scheme
 * (the embedded float CNN, squeezenet1_1 from the corpus) and offloads every dense convolution and
 * classifier; bfp takes a GGUF llama model as it is (token count bound, token ids seeded in the vocabulary)
 * and offloads its K-quant MatMuls. Expected offload counts come from the source graphs' own ops and
 * weight types; every run must be bit-exact against the plain runtime.
 */
import assert from "node:assert/strict";
import { defaultModel } from "../compiler/default-model.ts";
import { importGguf } from "../compiler/gguf/llama.ts";
import { loadModel } from "../compiler/load-model.ts";
import { compileForTarget, integerPipeline } from "../compiler/target-compile.ts";
import type { Graph } from "../ir/graph.ts";
import { getTarget } from "../targets/registry.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";

async function compileIn(opts: Omit<Parameters<typeof compileForTarget>[0], "out">) {
  const out = await Deno.makeTempDir();
  try {
    const r = await compileForTarget({ ...opts, out });
    const rep = JSON.parse(await Deno.readTextFile(r.files.report));
    return { r, rep };
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

/** Dense (group 1) Conv and Gemm/MatMul-with-constant-weights nodes of a float ONNX graph. */
function denseLayers(g: Graph): number {
  return g.nodes.filter((n) => {
    if (n.op === "Conv") {
      const group = n.attrs.group;
      return !group || (group.type === "int" && group.value === 1);
    }
    return n.op === "Gemm";
  }).length;
}

Deno.test("potacc prefers PoT schemes: the bitstream's method, APoT when open", () => {
  assert.equal(getTarget("potacc").params.preferredScheme, "apot");
  assert.equal(getTarget("potacc:kria:msq").params.preferredScheme, "msq");
  assert.equal(getTarget("secda-sa").params.preferredScheme, undefined);
  const float = defaultModel();
  assert.equal(integerPipeline(float, "pot"), "canonicalize,fold-batchnorm,quantize{scheme=pot}");
  assert.equal(integerPipeline(float), "canonicalize,fold-batchnorm,quantize{scheme=int8},lower-int8");
});

Deno.test("compile --target potacc: the embedded float CNN, APoT-quantized, every layer offloaded, bit-exact", async () => {
  const { r, rep } = await compileIn({ target: "potacc" });
  assert.equal(r.model, "lathe-default-cnn");
  assert.match(r.prepared, /quantize\{scheme=apot\}/);
  assert.equal(rep.totals.offloaded_nodes, denseLayers(defaultModel().graph));
  assert.ok(rep.totals.offloaded_nodes > 0);
  assert.equal(rep.totals.offloaded_macs, rep.totals.macs);
  assert.equal(rep.simulation.bit_exact, true);
  assert.ok(rep.simulation.compared_values > 0);
});

Deno.test("compile --target potacc:kria with scheme pot (QKeras): offloaded, bit-exact", async () => {
  const { r, rep } = await compileIn({ target: "potacc:kria", scheme: "pot" });
  assert.match(r.prepared, /quantize\{scheme=pot\}/);
  assert.equal(rep.totals.offloaded_nodes, denseLayers(defaultModel().graph));
  assert.equal(rep.simulation.bit_exact, true);
});

Deno.test({
  name: "compile squeezenet1_1.onnx --target potacc: every convolution offloaded, bit-exact",
  ignore: noCorpus(),
  sanitizeResources: false,
  fn: async () => {
    const path = corpusPath("onnx/torch/squeezenet1_1.onnx");
    const want = denseLayers((await loadModel(path)).graph);
    const { r, rep } = await compileIn({ model: path, target: "potacc" });
    assert.equal(r.model, "squeezenet1_1");
    assert.equal(rep.totals.offloaded_nodes, want);
    assert.equal(want, 26, "squeezenet1_1 has 26 convolutions");
    assert.equal(rep.simulation.bit_exact, true);
    assert.ok(rep.simulation.compared_values > 50);
  },
});

Deno.test({
  name: "compile tiny-llama-Q4_K_M.gguf --target bfp: K-quant MatMuls offloaded, bit-exact, totals",
  ignore: noCorpus(),
  fn: async () => {
    const path = corpusPath("gguf/tiny-llama/tiny-llama-Q4_K_M.gguf");
    const g = (await importGguf(path)).graph;
    const kquant = g.nodes.filter((n) => {
      if (n.op !== "lathe.GgmlMatMul") return false;
      const d = g.constants[n.inputs[1]!].dtype;
      return typeof d === "object" && d.kind === "ggml" && d.typeId >= 10 && d.typeId <= 14;
    }).map((n) => n.id);
    for (const tokens of [undefined, 3]) {
      const { r, rep } = await compileIn({
        model: path,
        target: "bfp",
        ...(tokens ? { shapes: { tokens: [tokens] } } : {}),
      });
      assert.equal(r.prepared, "");
      const accel = rep.nodes.filter((n: any) => n.placement === "accel").map((n: any) => n.node);
      assert.deepEqual(accel, kquant);
      assert.equal(kquant.length, 15);
      assert.equal(rep.simulation.bit_exact, true);
      assert.ok(rep.simulation.compared_values > 0);
      for (const k of ["cycles", "seconds", "macs", "offloaded_macs", "energy_pj", "dram_bytes"]) {
        assert.ok(rep.totals[k] > 0, `totals.${k}`);
      }
      const logits = r.partition.graph.values.logits.type;
      assert.ok(logits.kind === "tensor");
      assert.deepEqual(logits.shape, [tokens ?? 8, 339]);
    }
  },
});
