/**
 * The canonical pipeline on every corpus ONNX model: it reaches a fixpoint (a second run changes nothing),
 * the result verifies, and outputs match the imported graph's within rtol 1e-5 on seeded inputs.
 * Node counts before/after are printed per model.
 */
import assert from "node:assert/strict";
import { importOnnxFile } from "../compiler/onnx/import.ts";
import { generateInput } from "../compiler/run.ts";
import type { Graph } from "../ir/graph.ts";
import { assertValid } from "../ir/verify.ts";
import { canonicalize } from "../passes/canonicalize.ts";
import "../passes/index.ts";
import { compareTensors } from "../runtime/compare.ts";
import { Session } from "../runtime/interpreter.ts";
import { Rng } from "../runtime/random.ts";
import { Tensor } from "../runtime/tensor.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { opCounts } from "./support/pass-check.ts";

function uniform(shape: number[], seed: number, scale = 1): Tensor {
  const rng = new Rng(seed);
  const d = new Float32Array(shape.reduce((p, x) => p * x, 1));
  for (let i = 0; i < d.length; i++) d[i] = rng.uniform(-scale, scale);
  return new Tensor("f32", shape, d);
}

/** Inputs with dynamic sizes or control values that seeded noise cannot supply. */
const SPECIAL: Record<string, (seed: number) => Record<string, Tensor>> = {
  "silero-vad/silero_vad_v5.onnx": (seed) => ({
    input: uniform([1, 512], seed),
    state: uniform([2, 1, 128], seed + 1, 0.1),
    sr: new Tensor("i64", [], new BigInt64Array([16000n])),
  }),
  "paddleocr/ch_ppocr_mobile_v2.0_cls_infer.onnx": (seed) => ({ x: uniform([1, 3, 48, 192], seed) }),
  "openwakeword/melspectrogram.onnx": (seed) => ({ input: uniform([1, 1760], seed) }),
  "openwakeword/embedding_model.onnx": (seed) => ({ input_1: uniform([1, 76, 32, 1], seed) }),
};

function onnxFiles(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir + rel)) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...onnxFiles(dir, p));
    else if (e.name.endsWith(".onnx")) out.push(p);
  }
  return out.sort();
}

const ROOT = corpusPath("onnx/");
const skip = noCorpus();
const MODELS = skip ? [] : onnxFiles(ROOT);

function inputsFor(rel: string, g: Graph): Record<string, Tensor> {
  return SPECIAL[rel]?.(5) ??
    Object.fromEntries(
      g.inputs.filter((i) => !g.constants[i]).map((name, i) => [name, generateInput(g, name, i, 5)]),
    );
}

Deno.test({
  name: "canonicalize: the corpus directory has models",
  ignore: skip,
  fn: () => assert.ok(MODELS.length > 0, `no .onnx files under ${ROOT}`),
});

for (const rel of MODELS) {
  Deno.test({
    name: `canonicalize reaches a fixpoint on ${rel} and keeps its outputs`,
    ignore: skip,
    sanitizeResources: false,
    fn: async () => {
      const g = (await importOnnxFile(ROOT + rel)).graph;
      const t0 = performance.now();
      const after = canonicalize(g);
      const ms = performance.now() - t0;
      assertValid(after);
      assert.equal(canonicalize(after), after, "a second run changes nothing");
      const inputs = inputsFor(rel, g);
      const want = new Session(g).run(inputs).outputs;
      const got = new Session(after).run(inputs, { check: true }).outputs;
      let worst = 0;
      for (const o of g.outputs) {
        const r = compareTensors(got[o] as Tensor, want[o] as Tensor, 1e-5, 1e-6);
        assert.ok(r.ok, `${rel} output ${o}: ${r.message}`);
        worst = Math.max(worst, r.maxAbs);
      }
      const [b, a] = [opCounts(g), opCounts(after)];
      const changed = Object.keys({ ...b, ...a }).filter((k) => b[k] !== a[k]).map((k) =>
        `${k} ${b[k] ?? 0}->${a[k] ?? 0}`
      );
      console.log(
        `  ${rel}: ${g.nodes.length} -> ${after.nodes.length} nodes in ${ms.toFixed(1)} ms; max abs diff ${
          worst.toExponential(1)
        }; ${changed.join(", ") || "no change"}`,
      );
    },
  });
}
