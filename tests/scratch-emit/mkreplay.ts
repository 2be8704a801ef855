import { defaultInt8Model } from "../../compiler/default-int8-model.ts";
import { partitionGraph } from "../../targets/partition.ts";
import { getTarget } from "../../targets/registry.ts";
import { writeReplayCase } from "../../targets/emit/replay.ts";
import { q, TflGraph } from "../support/tfl-int8-graph.ts";
const g = defaultInt8Model().graph;
for (const t of ["secda-sa", "secda-vm"]) {
  await writeReplayCase(`tests/replay/int8-cnn.${t}`, partitionGraph(g, getTarget(t)).graph, { target: t, options: {} });
}
await writeReplayCase(`tests/replay/int8-cnn.secda-vm.packet-tables`, partitionGraph(g, getTarget("secda-vm")).graph, { target: "secda-vm", options: { packetTables: true } });
// uint8 FULLY_CONNECTED with a weight zero point: host row sums ride LOAD_INP (the case in targets-simulation.test.ts).
const t = new TflGraph();
const xi = t.input("x", q("u8", 1, 128), [3, 2]);
const w = t.constant("w", q("u8", 1, 100), [2, 2], [101, 99, 100, 110]);
t.op("y", "tfl.FULLY_CONNECTED", [xi, w, null], {}, { dtype: q("u8", 2, 128), shape: [3, 2] });
const fc = t.build(["y"]);
await writeReplayCase(`tests/replay/u8-fc-sums.secda-sa`, partitionGraph(fc, getTarget("secda-sa")).graph, { target: "secda-sa", options: {} });
