/**
 * `mutate` on ONNX: mobilenet_v2 from the corpus (the embedded default CNN when the corpus is absent) and a
 * small model holding every op a kind targets. Every variant loads and runs in onnxruntime, differs from the
 * original there, and differs from it (re-imported) in exactly the nodes its manifest entry names.
 */
import { writeOnnxFile } from "../compiler/onnx/export.ts";
import { defaultModel } from "../compiler/default-model.ts";
import type { Graph } from "../ir/graph.ts";
import type { Tensor } from "../runtime/tensor.ts";
import { ortSession, runOrt } from "./reference/onnxruntime.ts";
import { CORPUS_DIR, corpusPath, HAVE_CORPUS } from "./support/corpus.ts";
import { mutationSuite, type Runner } from "./support/mutation-suite.ts";
import { mutationTargetsModel } from "./support/mutation-targets-model.ts";

const DAMAGE_INPUTS = Number(Deno.env.get("MUTATE_DAMAGE_INPUTS") ?? 8);

const runOnnx: Runner = async (file: string, g: Graph, inputs: Record<string, Tensor>) => {
  const s = await ortSession(file);
  try {
    const out = await runOrt(s, inputs);
    return Float32Array.from(out[g.outputs[0]].data as Float32Array);
  } finally {
    await s.release();
  }
};

if (!HAVE_CORPUS) {
  console.warn(
    `mutate-onnx: ${CORPUS_DIR} is absent; mutating the embedded default CNN instead of mobilenet_v2`,
  );
}

Deno.test({
  name: `mutate onnx: ${
    HAVE_CORPUS ? "mobilenet_v2" : "the embedded default CNN"
  }, at least 12 kinds over the five classes`,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "lathe-mutate-onnx-" });
    try {
      let source = corpusPath("onnx/torch/mobilenet_v2.onnx");
      if (!HAVE_CORPUS) await writeOnnxFile(source = `${dir}/default.onnx`, defaultModel());
      await mutationSuite(t, {
        source,
        dir,
        seed: 11,
        count: 1,
        damageInputs: DAMAGE_INPUTS,
        run: runOnnx,
        expectKinds: 12,
        label: "mobilenet_v2.onnx",
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "mutate onnx: every kind on a model with every targeted op, two variants each",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "lathe-mutate-onnx-" });
    try {
      const source = `${dir}/mutation-targets.onnx`;
      await writeOnnxFile(source, mutationTargetsModel());
      await mutationSuite(t, {
        source,
        dir,
        seed: 3,
        count: 2,
        damageInputs: 8,
        run: runOnnx,
        expectKinds: "all",
        label: "mutation-targets.onnx",
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
