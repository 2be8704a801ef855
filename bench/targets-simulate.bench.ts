/**
 * Accelerator simulation throughput beside its peer, the reference runtime on the unpartitioned graph:
 * a MobileNet-like int8 CONV_2D (1x1, 56x56x64 → 128) and the embedded int8 CNN, each run plainly and
 * partitioned for secda-sa (host preparation on the runtime, the GEMM on the functional model).
 * `deno bench -A bench/targets-simulate.bench.ts` gives the per-group ratio.
 */
import { defaultInt8Model } from "../compiler/default-int8-model.ts";
import type { Graph } from "../ir/graph.ts";
import { Session } from "../runtime/interpreter.ts";
import { partitionGraph } from "../targets/partition.ts";
import { getTarget } from "../targets/registry.ts";
import { seededInputs } from "../targets/simulate.ts";
import { codes, q, TflGraph } from "../tests/support/tfl-int8-graph.ts";

function pointwise(): Graph {
  const t = new TflGraph();
  const x = t.input("x", q("i8", 0.05, -3), [1, 56, 56, 64]);
  const w = t.constant("w", q("i8", Array.from({ length: 128 }, (_, i) => 0.001 * (1 + (i % 7))), 0, 0), [
    128,
    1,
    1,
    64,
  ], codes(128 * 64, -127, 127));
  t.op("y", "tfl.CONV_2D", [x, w, null], {
    padding: "SAME",
    stride_h: 1,
    stride_w: 1,
    fused_activation_function: "RELU6",
  }, { dtype: q("i8", 0.1, -128), shape: [1, 56, 56, 128] });
  return t.build(["y"]);
}

for (
  const [name, g] of [["conv 1x1 56x56x64->128", pointwise()], [
    "default int8 CNN",
    defaultInt8Model().graph,
  ]] as const
) {
  const part = partitionGraph(g, getTarget("secda-sa")).graph;
  const inputs = seededInputs(g, 0);
  const ref = new Session(g), acc = new Session(part);
  Deno.bench({
    name: `${name}: reference runtime`,
    group: name,
    baseline: true,
    fn: () => void ref.run(inputs),
  });
  Deno.bench({ name: `${name}: secda-sa simulation`, group: name, fn: () => void acc.run(inputs) });
}
