/**
 * The accelerated run takes the reference run's outputs for CPU nodes whose operands match it byte for
 * byte. Checked against the plain interpreter on the partitioned graph (no reference run, no reuse): the
 * outputs agree whether or not the accelerator is right, and a faulty call still shows up downstream in
 * the values of the CPU nodes after it.
 */
import assert from "node:assert/strict";
import { defaultInt8Model } from "../compiler/default-int8-model.ts";
import type { Graph } from "../ir/graph.ts";
import { Session } from "../runtime/interpreter.ts";
import { type RValue, Tensor } from "../runtime/tensor.ts";
import { partitionGraph } from "../targets/partition.ts";
import { getTarget } from "../targets/registry.ts";
import { seededInputs, simulatePartitioned } from "../targets/simulate.ts";

function bytesOf(v: RValue): Uint8Array {
  assert.ok(v instanceof Tensor && !(v.data instanceof Array));
  return new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength);
}

/** The partitioned graph with one byte of the first call's largest constant (its packed weights) flipped. */
function faulty(part: Graph): Graph {
  const call = part.nodes.find((n) => n.op === "lathe.AccelCall")!;
  const name = call.inputs.filter((i) => i && part.constants[i])
    .sort((a, b) => part.constants[b!].bytes!.length - part.constants[a!].bytes!.length)[0]!;
  const c = part.constants[name];
  const bytes = c.bytes!.slice();
  bytes[bytes.length >> 1] ^= 0x55;
  return { ...part, constants: { ...part.constants, [name]: { ...c, bytes } } };
}

Deno.test("simulation reuse: outputs equal the plain run of the partitioned graph, right or faulty", () => {
  const g = defaultInt8Model().graph;
  const r = partitionGraph(g, getTarget("secda-sa"));
  const cpu = new Set(r.placements.filter((p) => p.placement === "cpu").map((p) => p.node));
  const inputs = seededInputs(g, 0);
  for (
    const [what, part] of [["as partitioned", r.graph], ["with a faulty call", faulty(r.graph)]] as const
  ) {
    const sim = simulatePartitioned(g, part, { seed: 0 });
    const plain = new Session(part).run(inputs).outputs;
    for (const o of part.outputs) {
      assert.deepEqual(
        bytesOf(sim.outputs[o]),
        bytesOf(plain[o]),
        `${what}: ${o}`,
      );
    }
    assert.ok(sim.compared > 0);
    if (part === r.graph) {
      assert.equal(sim.bitExact, true);
      continue;
    }
    assert.equal(sim.bitExact, false, "the flipped weight byte changes the call's result");
    // The fault reaches values computed on the CPU after the call: those nodes ran their kernels.
    const producers = new Map(g.nodes.flatMap((n) => n.outputs.map((o) => [o, n.id] as const)));
    const downstream = sim.mismatches.filter((m) => cpu.has(producers.get(m.value) ?? ""));
    assert.ok(downstream.length > 0, `mismatches: ${sim.mismatches.map((m) => m.value).join(", ")}`);
  }
});
