/**
 * Runtime latency of mobilenet_v2 and squeezenet1_1 (batch 1, fp32) in Lathe beside onnxruntime-node with
 * one intra-op thread, in the same run. `deno bench` prints the ratio within each group.
 */
import { importOnnxFile } from "../compiler/onnx/import.ts";
import { generateInput } from "../compiler/run.ts";
import { Session } from "../runtime/interpreter.ts";
import { corpusPath, HAVE_CORPUS } from "../tests/support/corpus.ts";
import { ortSession, toOrt } from "../tests/reference/onnxruntime.ts";

for (const name of ["mobilenet_v2", "squeezenet1_1"]) {
  if (!HAVE_CORPUS) break;
  const path = corpusPath(`onnx/torch/${name}.onnx`);
  const model = await importOnnxFile(path);
  const g = model.graph;
  const x = generateInput(g, g.inputs[0], 0, 1);
  const session = new Session(g);
  const ort = await ortSession(path, 1);
  const feeds = { [g.inputs[0]]: toOrt(x) };
  Deno.bench({ name: `${name} onnxruntime-node (1 thread)`, group: name, baseline: true, fn: async () => void (await ort.run(feeds)) });
  Deno.bench({ name: `${name} lathe`, group: name, fn: () => void session.run({ [g.inputs[0]]: x }) });
}
