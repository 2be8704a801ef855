/**
 * Runtime latency of mobilenet_v2 and squeezenet1_1 (batch 1, fp32) in Lathe beside onnxruntime-node with
 * one intra-op thread, in the same run. onnxruntime optimizes the graph when it creates a session (level
 * "all": fusions included), so Lathe is measured both as imported and after its own canonical pipeline with
 * conv fusion — the like-for-like comparison. `deno bench` prints the ratios within each group.
 */
import { importOnnxFile } from "../compiler/onnx/import.ts";
import { generateInput } from "../compiler/run.ts";
import "../passes/index.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import { Session } from "../runtime/interpreter.ts";
import { corpusPath, HAVE_CORPUS } from "../tests/support/corpus.ts";
import { ortSession, toOrt } from "../tests/reference/onnxruntime.ts";

for (const name of ["mobilenet_v2", "squeezenet1_1"]) {
  if (!HAVE_CORPUS) break;
  const path = corpusPath(`onnx/torch/${name}.onnx`);
  const model = await importOnnxFile(path);
  const g = model.graph;
  const x = generateInput(g, g.inputs[0], 0, 1);
  const raw = new Session(g);
  const optimized = new Session((await runPipeline(model, "canonicalize,fuse-conv")).model.graph);
  const ort = await ortSession(path, 1);
  const feeds = { [g.inputs[0]]: toOrt(x) };
  Deno.bench({
    name: `${name} onnxruntime-node (1 thread)`,
    group: name,
    baseline: true,
    fn: async () => void (await ort.run(feeds)),
  });
  Deno.bench({
    name: `${name} lathe (canonicalize,fuse-conv)`,
    group: name,
    fn: () => void optimized.run({ [g.inputs[0]]: x }),
  });
  Deno.bench({
    name: `${name} lathe (as imported)`,
    group: name,
    fn: () => void raw.run({ [g.inputs[0]]: x }),
  });
}
