import "../../runtime/kernels/index.ts";
import { defaultInt8Model } from "../../compiler/default-int8-model.ts";
import { partitionGraph, formatPlacements } from "../../targets/partition.ts";
import { getTarget } from "../../targets/registry.ts";
import { interpret } from "../../runtime/interpreter.ts";
import { Tensor } from "../../runtime/tensor.ts";
import { printGraph } from "../../ir/text.ts";
import { assertValid } from "../../ir/verify.ts";
const m = defaultInt8Model();
assertValid(m.graph);
for (const t of ["secda-sa", "secda-vm"]) {
  const r = partitionGraph(m.graph, getTarget(t));
  console.log(formatPlacements(r));
  assertValid(r.graph);
  if (t === "secda-sa") console.log(printGraph(r.graph).split("\n").filter((l) => !l.includes("dense")).slice(0, 60).join("\n"));
  const x = new Tensor(m.graph.values.image.type.dtype as any, [1, 32, 32, 3], Int8Array.from({ length: 3072 }, (_, i) => ((i * 37) % 256) - 128));
  const a = interpret(m.graph, { image: x }).outputs.prob as Tensor;
  const b = interpret(r.graph, { image: x }).outputs.prob as Tensor;
  console.log(t, Array.from(a.data as Int8Array), Array.from(b.data as Int8Array));
  for (const n of r.graph.nodes) if (n.op === "lathe.AccelCall") console.log(n.id, JSON.stringify(getTarget(t).timing(getTarget(t).programOf(n))));
}
