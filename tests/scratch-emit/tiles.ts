import "../../compiler/formats.ts";
import { loadModel } from "../../compiler/load-model.ts";
import { partitionGraph } from "../../targets/partition.ts";
import { getTarget } from "../../targets/registry.ts";
import { gemmSchedule } from "../../targets/emit/gemm-schedule.ts";
const m = await loadModel(Deno.args[0]);
for (const t of ["secda-sa", "secda-vm"]) {
  const g = partitionGraph(m.graph, getTarget(t)).graph;
  const stats: string[] = [];
  for (const n of g.nodes) if (n.op === "lathe.AccelCall") { const p = getTarget(t).programOf(n); const s = gemmSchedule(p, 4); if (p.dims.mTiles * p.dims.nTiles > 1) stats.push(`${p.dims.mTiles}x${p.dims.nTiles}${typeof s === "string" ? "!" : s.weightsOuter ? "W" : "I"}`); }
  console.log(t, stats.join(" "));
}
