import "../../runtime/kernels/index.ts";
import "../../compiler/formats.ts";
import { loadModel } from "../../compiler/load-model.ts";
import { runPipeline } from "../../passes/pass-manager.ts";
import "../../passes/index.ts";
import { partitionGraph } from "../../targets/partition.ts";
import { getTarget } from "../../targets/registry.ts";
import { seededInputs } from "../../targets/simulate.ts";
import { Session } from "../../runtime/interpreter.ts";
const path = Deno.args[0];
let m = await loadModel(path);
if (path.endsWith(".onnx")) m = (await runPipeline(m, "lower-int8")).model;
const part = partitionGraph(m.graph, getTarget(Deno.args[1] ?? "secda-sa"));
const inputs = seededInputs(m.graph, 0);
for (const [label, g] of [["reference", m.graph], ["accelerated", part.graph]] as const) {
  const s = new Session(g);
  s.run(inputs);
  const byOp: Record<string, number> = {};
  let last = performance.now();
  const t0 = last;
  s.run(inputs, { observe: (_n, _v, node) => { const now = performance.now(); if (node) byOp[node.op] = (byOp[node.op] ?? 0) + now - last; last = now; } });
  console.log(label, (performance.now() - t0).toFixed(0), Object.entries(byOp).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}:${v.toFixed(0)}`).join(" "));
}
