/**
 * Process replay (anchors-and-style.md §6.6): each case under tests/replay/ keeps the emitter's inputs
 * (the partitioned graph as IR text, the target, the options) and the driver sources emitted from them;
 * re-emitting must reproduce them byte for byte. An intended change to the emitter updates the recorded
 * sources in the same commit: `deno run -A targets/emit/replay.ts update tests/replay`.
 */
import assert from "node:assert/strict";
import { parseGraph } from "../ir/text.ts";
import { replayCase, replayCases, replayOutputs } from "../targets/emit/replay.ts";

const ROOT = new URL("./replay", import.meta.url).pathname;

for (const dir of replayCases(ROOT)) {
  Deno.test(`replay ${dir.slice(dir.lastIndexOf("/") + 1)}: the emitter reproduces the recorded driver`, async () => {
    const diffs = await replayCase(dir);
    assert.deepEqual(
      diffs,
      [],
      diffs.map((d) => `${d.file}:${d.line}: recorded ${d.want} / emitted ${d.got}`).join("\n"),
    );
  });
}

Deno.test("replay notices a change: the same graph with packet tables emits a different model.cc", async () => {
  const dir = `${ROOT}/int8-cnn.secda-vm`;
  const graph = parseGraph(await Deno.readTextFile(`${dir}/graph.lir`));
  const recorded = await Deno.readTextFile(`${dir}/driver/model.cc`);
  const loops = replayOutputs(graph, { target: "secda-vm", options: {} }).get("model.cc");
  const tables = replayOutputs(graph, { target: "secda-vm", options: { packetTables: true } }).get(
    "model.cc",
  );
  assert.equal(loops, recorded);
  assert.notEqual(tables, recorded);
  assert.equal(tables, await Deno.readTextFile(`${ROOT}/int8-cnn.secda-vm.packet-tables/driver/model.cc`));
});
