/**
 * DQA activations: eDQA's shift split for every (bits+3)-bit value against floor division, the quantizer
 * kernel on hand-worked values, and per-layer SQNR of a real CNN at 3, 4 and 5 bits.
 */
import assert from "node:assert/strict";
import { importOnnxFile } from "../compiler/onnx/import.ts";
import { GraphBuilder } from "../ir/builder.ts";
import "../passes/index.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import { seededBatches } from "../passes/quantize/calibrate.ts";
import { quantizeModelGraph } from "../passes/quantize/quantize-pass.ts";
import { compareModels } from "../passes/quantize/report.ts";
import { Session } from "../runtime/interpreter.ts";
import { dqaSplit } from "../runtime/kernels/quant-compute.ts";
import { Tensor } from "../runtime/tensor.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";

Deno.test("dqa: the code is the top bits and the residual the low 3 bits of every value", () => {
  for (const bits of [3, 4, 5]) {
    const half = 2 ** (bits + 3 - 1);
    const codes = new Set<number>();
    for (let q = -half; q < half; q++) {
      const { code, residual } = dqaSplit(q, 3);
      assert.equal(code, Math.floor(q / 8), `bits ${bits} q ${q}`);
      assert.equal(residual, q - 8 * Math.floor(q / 8));
      assert.ok(residual >= 0 && residual < 8);
      codes.add(code);
    }
    // Every signed `bits`-bit code occurs, and no other.
    assert.deepEqual(
      [...codes].sort((a, b) => a - b),
      Array.from({ length: 2 ** bits }, (_, i) => i - 2 ** (bits - 1)),
    );
  }
});

Deno.test("dqa: DqaQuantize on hand-worked values (3 bits + 3 residual bits, ties toward −∞)", () => {
  const data = [4, 1, -0.6, 2.2, 0.1, 3.9, -4, 0, 0.3125];
  const b = new GraphBuilder("dqa");
  b.input("x", "f32", [1, 2, data.length]);
  const y = b.op1("lathe.DqaQuantize", ["x"], { bits: 3, extra: 3, important: [1], axis: 1 });
  const g = b.build([y]);
  const x = new Float32Array([...data, ...data]);
  const out = new Session(g).run({ x: new Tensor("f32", [1, 2, data.length], x) }, { check: true })
    .outputs[y] as Tensor;
  // max 4, delta 4/32 = 0.125; q = ceil(x/delta − 0.5) clamped to [−32, 31]: 31, 8, −5, 18, 1, 31, −32, 0, 2.
  const dropped = [3, 1, -1, 2, 0, 3, -4, 0, 0]; // (q >> 3) · 8 · delta
  const kept = [3.875, 1, -0.625, 2.25, 0.125, 3.875, -4, 0, 0.25]; // q · delta
  assert.deepEqual([...out.data as Float32Array], [...dropped, ...kept]);
});

Deno.test({
  name: "dqa: per-layer SQNR of squeezenet1_1 at 3, 4 and 5 bits",
  ignore: noCorpus(),
  sanitizeResources: false,
  fn: async () => {
    let float = await importOnnxFile(corpusPath("onnx/torch/squeezenet1_1.onnx"));
    float = (await runPipeline(float, "canonicalize,fold-batchnorm")).model;
    const test = seededBatches(float.graph, 500_000, 2);
    const mean: Record<string, number> = {};
    for (const bits of [3, 4, 5]) {
      for (const important of [0, 0.25]) {
        const q = quantizeModelGraph(float, { scheme: "dqa", bits, important, calibCount: 4 });
        const ids = new Set(q.layers.map((l) => l.id));
        const rep = compareModels(float.graph, q.model.graph, test);
        const rows = rep.layers.filter((l) => ids.has(l.id));
        assert.equal(rows.length, q.layers.length);
        const avg = rows.reduce((s, r) => s + r.sqnrDb, 0) / rows.length;
        mean[`${bits}/${important}`] = avg;
        console.log(
          `  ${bits}-bit, important ${important}: layer SQNR mean ${avg.toFixed(1)} dB (min ${
            Math.min(...rows.map((r) => r.sqnrDb)).toFixed(1)
          }), output ${rep.outputs[0].sqnrDb.toFixed(1)} dB`,
        );
      }
    }
    assert.ok(mean["5/0"] > mean["4/0"] && mean["4/0"] > mean["3/0"], "more bits, less error");
    for (const bits of [3, 4, 5]) {
      assert.ok(mean[`${bits}/0.25`] > mean[`${bits}/0`], `${bits} bits: keeping residuals helps`);
    }
  },
});
