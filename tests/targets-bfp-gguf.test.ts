/**
 * The bfp target on each tiny-llama GGUF of the corpus: the K-quant MatMuls go to the accelerator (and the
 * rest stay on the CPU with the guard's reason), and the logits of the partitioned graph equal the plain
 * runtime's bit for bit on a fixed token sequence. Prints, per file, the calls offloaded, the variants
 * switched and tokens per second: simulated on the Kria KV260 at 250 MHz, and measured for Lathe's own
 * simulation run.
 */
import assert from "node:assert/strict";
import { importGguf } from "../compiler/gguf/llama.ts";
import { printDType } from "../ir/dtype.ts";
import { bindInputShapes } from "../passes/convert/static-shapes.ts";
import { Session } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { variantSummary } from "../targets/bfp/variants.ts";
import { partitionGraph } from "../targets/partition.ts";
import { getTarget } from "../targets/registry.ts";
import { buildTargetReport } from "../targets/report.ts";
import { simulatePartitioned } from "../targets/simulate.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";

const TOKENS = [1, 15043, 29892, 920, 526, 366, 29973, 13].map((t) => t % 339);

/**
 * What each file holds (MANIFEST.tsv and its tensor table): the offloadable MatMuls are those with Q2_K..Q6_K
 * weights. Q4_K_M mixes Q4_K with Q6_K (blk.1.v, blk.1.down, output); Q4_0 keeps a Q6_K output head.
 */
const FILES: Record<string, { offloaded: number; switches: number; cpuReason?: RegExp }> = {
  "Q4_K_M": { offloaded: 15, switches: 3 },
  "Q6_K": { offloaded: 15, switches: 0 },
  "Q4_0": { offloaded: 1, switches: 0, cpuReason: /W is q\.ggml<Q4_0>; the BFP unit takes K-quant weights/ },
  "Q8_0": { offloaded: 0, switches: 0, cpuReason: /W is q\.ggml<Q8_0>; the BFP unit takes K-quant weights/ },
  "F16": { offloaded: 0, switches: 0, cpuReason: /W is f16; the BFP unit takes K-quant weights/ },
  "F32": { offloaded: 0, switches: 0, cpuReason: /W is f32; the BFP unit takes K-quant weights/ },
};

for (const [quant, want] of Object.entries(FILES)) {
  Deno.test({
    name: `bfp on tiny-llama-${quant}.gguf: K-quant MatMuls offloaded, logits bit-exact`,
    ignore: noCorpus(),
    fn: async () => {
      const model = await importGguf(corpusPath(`gguf/tiny-llama/tiny-llama-${quant}.gguf`));
      const g = bindInputShapes(model.graph, { shapes: { tokens: [TOKENS.length] } });
      // Expected from the file's weight types, independently of the target's guard.
      const matmuls = g.nodes.filter((n) => n.op === "lathe.GgmlMatMul");
      const kquant = matmuls.filter((n) => {
        const d = g.constants[n.inputs[1]!].dtype;
        return typeof d === "object" && d.kind === "ggml" && d.typeId >= 10 && d.typeId <= 14;
      });
      const names = kquant.map((n) => printDType(g.constants[n.inputs[1]!].dtype));
      const switches = names.filter((t, i) => i > 0 && t !== names[i - 1]).length;
      assert.equal(kquant.length, want.offloaded);
      assert.equal(switches, want.switches);

      const target = getTarget("bfp");
      const part = partitionGraph(g, target);
      const accel = part.placements.filter((p) => p.placement === "accel");
      assert.deepEqual(accel.map((p) => p.node), kquant.map((n) => n.id));
      for (const p of part.placements) {
        if (p.op === "lathe.GgmlMatMul" && p.placement === "cpu") assert.match(p.reason!, want.cpuReason!);
      }

      const tokens = new Tensor("i32", [TOKENS.length], Int32Array.from(TOKENS));
      const plain = new Session(g).run({ tokens }).outputs["logits"] as Tensor;
      const run = simulatePartitioned(g, part.graph, { inputs: { tokens } });
      const logits = run.outputs["logits"] as Tensor;
      const a = new Uint32Array((plain.data as Float32Array).slice().buffer);
      const b = new Uint32Array((logits.data as Float32Array).slice().buffer);
      assert.equal(b.length, TOKENS.length * 339);
      let differ = 0;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differ++;
      assert.equal(differ, 0, `${differ} logits differ in their bits`);
      assert.ok(run.bitExact, JSON.stringify(run.mismatches.slice(0, 3)));

      const report = buildTargetReport(`tiny-llama-${quant}`, g, part, target, { run, seed: 0 });
      const v = variantSummary(report);
      assert.equal(v.calls.length, want.offloaded);
      assert.equal(v.switches, want.switches);
      assert.equal(report.totals.offloaded_nodes, want.offloaded);
      const simulated = TOKENS.length / report.totals.seconds;
      const measured = TOKENS.length / (run.ms.accelerated / 1000);
      const cpuOnly = TOKENS.length / report.totals.cpu_baseline_seconds;
      console.log(
        `tiny-llama-${quant}: ${accel.length}/${matmuls.length} MatMuls offloaded (${
          Object.entries(v.byVariant).map(([k, n]) => `${k}×${n}`).join(", ") || "none"
        }), ${v.switches} variant switches, logits bit-exact over ${TOKENS.length} tokens; ` +
          `simulated ${simulated.toFixed(0)} tokens/s on ${report.board} at ${report.clock_mhz} MHz ` +
          `(${report.totals.cycles} accelerator cycles; CPU-only model ${cpuOnly.toFixed(0)} tokens/s), ` +
          `Lathe's simulation ${measured.toFixed(1)} tokens/s`,
      );
      if (want.offloaded === 0) {
        console.log(
          `  stays on the CPU: ${part.placements.find((p) => p.op === "lathe.GgmlMatMul")!.reason}`,
        );
      }
    },
  });
}
