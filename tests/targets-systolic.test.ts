/**
 * `compile --target sa:RxC:df`: the embedded int8 CNN on three arrays, bit-exact against the runtime, with
 * each offloaded node's compute cycles equal to SCALE-Sim v2's for its GEMM (computeLayer on gemmOf's layer,
 * and by hand from formats.md §4.1 for conv1 and conv2), and the report carrying those numbers.
 */
import assert from "node:assert/strict";
import { compileForTarget } from "../compiler/target-compile.ts";
import { defaultInt8Model } from "../compiler/default-int8-model.ts";
import { getTarget } from "../targets/registry.ts";
import { computeLayer } from "../targets/systolic/compute.ts";
import { gemmOf } from "../targets/systolic/gemm-of.ts";
import { parseSystolicSpec } from "../targets/systolic/spec.ts";
import { systolicGemmCompute } from "../targets/systolic/target.ts";

const SPECS = ["sa:8x8:os", "sa:16x16:ws", "sa:32x32:is"] as const;

// formats.md §4.1 by hand. conv1: 3x3/2 SAME 3→16 on 32x32 → M = 16·16 = 256, N = 16, K = 27.
// conv2: 3x3/1 SAME 24→24 on 16x16 → M = 256, N = 24, K = 216.
const HAND: Record<string, Record<string, number>> = {
  // OS: Sr = M, Sc = N, T = K; conv1: ceil(256/8)·ceil(16/8) = 64 folds of 8 + 8 + 27 − 2 = 41 → 2623.
  "sa:8x8:os": { conv1: 64 * 41 - 1 },
  // WS: Sr = K, Sc = N, T = M; conv2: ceil(216/16)·ceil(24/16) = 28 folds of 2·16 + 16 + 256 − 2 = 302.
  "sa:16x16:ws": { conv2: 28 * 302 - 1 },
  // IS: Sr = K, Sc = M, T = N; conv2: ceil(216/32)·ceil(256/32) = 56 folds of 64 + 32 + 24 − 2 = 118.
  "sa:32x32:is": { conv2: 56 * 118 - 1 },
};

for (const spec of SPECS) {
  Deno.test(`compile --target ${spec}: default int8 CNN bit-exact, compute cycles are SCALE-Sim's`, async () => {
    const out = await Deno.makeTempDir();
    try {
      const r = await compileForTarget({ target: spec, out });
      assert.equal(r.target, spec);
      const rep = JSON.parse(await Deno.readTextFile(r.files.report));
      assert.equal(rep.simulation.bit_exact, true);
      assert.ok(rep.simulation.compared_values > 0);
      const accel = rep.nodes.filter((n: any) => n.placement === "accel");
      assert.deepEqual(accel.map((n: any) => n.node).sort(), ["conv1", "conv2", "fc", "proj1"]);
      const g = defaultInt8Model().graph;
      const array = parseSystolicSpec(spec);
      for (const n of accel) {
        const layer = gemmOf(g, g.nodes.find((x) => x.id === n.node)!);
        assert.ok(layer && !("reason" in layer));
        const ref = computeLayer(layer, array);
        assert.equal(n.program.mTiles * n.program.nTiles, 1, `${n.node} is one tile`);
        assert.equal(n.phases.compute, ref.cyclesPerCopy, `${spec} ${n.node}`);
        assert.equal(n.phases.compute, ref.totalCycles);
        assert.equal(n.cycles, n.phases.compute + n.dma_cycles);
        const hand = HAND[spec][n.node];
        if (hand !== undefined) assert.equal(n.phases.compute, hand, `${spec} ${n.node} by hand`);
        // SCALE-Sim's COMPUTE_REPORT metrics of the layer, in report.json's per-node `array`.
        assert.equal(n.array.folds, ref.rowFolds * ref.colFolds, `${spec} ${n.node} folds`);
        assert.ok(
          Math.abs(n.array.mapping_efficiency - ref.mappingEfficiency) < 1e-9,
          `${spec} ${n.node} mapping`,
        );
        assert.ok(Math.abs(n.array.compute_util - ref.computeUtil) < 1e-9, `${spec} ${n.node} compute util`);
        if (spec === "sa:8x8:os" && n.node === "conv1") {
          // By hand: 64 full 8x8 folds (Sr = 256, Sc = 16); each busy T = 27 of its 8 + 8 + 27 − 2 = 41 cycles.
          assert.equal(n.array.mapping_efficiency, 100);
          assert.ok(Math.abs(n.array.compute_util - (100 * 27) / 41) < 1e-9);
        }
        // PE reads: SCALE-Sim's ifmap + filter reads of one-byte codes, four to a 32-bit word, on top of the
        // result stream the transport reads back (the padded tile, one word per four int8 results).
        const peReads = Math.ceil((ref.sram.ifmap + ref.sram.filter) / 4);
        const back = Math.ceil((n.program.mp * n.program.np) / 4);
        assert.equal(n.sram_reads, peReads + back, `${spec} ${n.node} SRAM reads`);
      }
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  });
}

Deno.test("sa targets: parametric names, SCALE-Sim edge cases, bad specs refused", () => {
  const t = getTarget("sa:4x2:ws");
  assert.equal(t.params.name, "sa:4x2:ws");
  assert.equal(t.params.macsPerCycle, 8);
  // One MAC on a 1x1 OS array: one fold of 1 + 1 + 1 − 2 = 1 cycle, minus SCALE-Sim's final −1.
  assert.equal(systolicGemmCompute(parseSystolicSpec("sa:1x1:os"), 1, 1, 1).cycles, 0);
  // 5x3x7 on 4x2 WS: Sr = K = 7, Sc = N = 3 → 2·2 folds of 8 + 2 + 5 − 2 = 13 → 51.
  assert.equal(systolicGemmCompute(parseSystolicSpec("sa:4x2:ws"), 5, 3, 7).cycles, 51);
  assert.throws(() => getTarget("sa:0x4:os"), /rows/);
  assert.throws(() => getTarget("sa:4x4:xx"), /dataflow/);
  assert.throws(() => getTarget("sa:4by4"), /sa:RxC/);
});
