import { defaultInt8Model } from "../../compiler/default-int8-model.ts";
import "../../compiler/formats.ts";
import { loadModel } from "../../compiler/load-model.ts";
import { partitionGraph } from "../../targets/partition.ts";
import { getTarget } from "../../targets/registry.ts";
import { integerPipeline } from "../../compiler/target-compile.ts";
import { runPipeline } from "../../passes/pass-manager.ts";
import "../../passes/index.ts";
const which = Deno.args[0];
let m = which === "default" ? defaultInt8Model() : await loadModel(which);
const p = integerPipeline(m);
if (p) m = (await runPipeline(m, p)).model;
for (const t of ["secda-sa", "secda-vm"]) {
  const r = partitionGraph(m.graph, getTarget(t));
  const ops = new Map<string, number>();
  for (const n of r.graph.nodes) ops.set(n.op, (ops.get(n.op) ?? 0) + 1);
  console.log(t, [...ops].map(([k, v]) => `${k}:${v}`).join(" "));
  const atts = new Set<string>();
  for (const n of r.graph.nodes) atts.add(n.op + " " + Object.keys(n.attrs).join(","));
  if (t === "secda-sa") console.log([...atts].join("\n"));
}
