/**
 * Mixed precision rules, the `quantize` pass in a pipeline, and `deno task quantize` end to end: the
 * written QDQ model loads in onnxruntime and agrees with Lathe, calibration from a folder of .npy files,
 * and exit codes for bad usage.
 */
import assert from "node:assert/strict";
import { main } from "../compiler/cli.ts";
import { writeNpy } from "../compiler/npy.ts";
import { quantizeModel, readCalibrationDir } from "../compiler/quantize.ts";
import { GraphBuilder, modelOf, numbersConstant } from "../ir/builder.ts";
import type { Graph, Node } from "../ir/graph.ts";
import { importOnnxFile } from "../compiler/onnx/import.ts";
import "../passes/index.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import { seededBatches } from "../passes/quantize/calibrate.ts";
import { layerPolicy, parseLayerRules, schemeOf } from "../passes/quantize/mixed.ts";
import { compareModels } from "../passes/quantize/report.ts";
import { Rng } from "../runtime/random.ts";
import { Tensor } from "../runtime/tensor.ts";
import { LatheError } from "../ir/errors.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { ortSession, runOrt } from "./reference/onnxruntime.ts";

const node = (id: string, op: string, name?: string): Node => ({
  id,
  op,
  inputs: [],
  outputs: [],
  attrs: {},
  ...(name ? { name } : {}),
});

Deno.test("mixed: rules by op name or glob over names, the last match wins, float patterns win over all", () => {
  assert.deepEqual(parseLayerRules("Gemm:bfp; /features/*:pot"), [{ pattern: "Gemm", scheme: "bfp" }, {
    pattern: "/features/*",
    scheme: "pot",
  }]);
  assert.throws(() => parseLayerRules("Gemm:int4"), LatheError);
  const p = layerPolicy("int8", "Gemm:bfp;/features/*:pot;/features/features.1/*:dqa", "/classifier/*");
  assert.equal(schemeOf(p, node("n1", "Conv", "/features/features.0/Conv")), "pot");
  assert.equal(schemeOf(p, node("n2", "Conv", "/features/features.1/Conv")), "dqa");
  assert.equal(schemeOf(p, node("n3", "Gemm", "/head/Gemm")), "bfp");
  assert.equal(schemeOf(p, node("n4", "Gemm", "/classifier/Gemm")), "float");
  assert.equal(schemeOf(p, node("n5", "Add")), "int8");
});

function cnn(): Graph {
  const rng = new Rng(4);
  const b = new GraphBuilder("cnn");
  b.input("x", "f32", [1, 4, 10, 10]);
  const w = (name: string, shape: number[], s: number) =>
    b.constant(
      name,
      numbersConstant(
        "f32",
        shape,
        Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => rng.uniform(-s, s)),
      ),
    );
  const c1 = b.op1(
    "Conv",
    ["x", w("w1", [8, 4, 3, 3], 0.3), w("b1", [8], 0.1)],
    { pads: [1, 1, 1, 1] },
    "c1",
  );
  const r1 = b.op1("Relu", [c1]);
  const c2 = b.op1("Conv", [r1, w("w2", [8, 8, 3, 3], 0.2)], { pads: [1, 1, 1, 1] }, "c2");
  const r2 = b.op1("Relu", [c2]);
  const p = b.op1("GlobalAveragePool", [r2]);
  const f = b.op1("Flatten", [p]);
  const y = b.op1("Gemm", [f, w("wg", [8, 64], 0.3), w("bg", [64], 0.1)], {}, "logits");
  return b.build([y]);
}

Deno.test("quantize pass: mixed schemes in one pipeline, each layer computed its own way", async () => {
  const g = cnn();
  const ids = Object.fromEntries(g.nodes.map((n) => [n.outputs[0], n.id]));
  const { model } = await runPipeline(
    modelOf(g),
    `quantize{scheme=int8,calib=percentile,calibCount=4,layers=${ids.c2}:apot;Gemm:bfp,weights=Q8_0}`,
  );
  const op = (id: string) => model.graph.nodes.find((n) => n.id === id)?.op;
  assert.equal(op(ids.c1), "Conv"); // int8 QDQ keeps the float op between DQ and Q
  assert.equal(op(ids.c2), "lathe.ShiftConv");
  assert.equal(op(ids.logits), "lathe.BlockMatMul");
  assert.ok(model.graph.nodes.some((n) => n.op === "QuantizeLinear"));
  const rep = compareModels(g, model.graph, seededBatches(g, 77, 3));
  assert.ok(rep.outputs[0].sqnrDb > 10, `output SQNR ${rep.outputs[0].sqnrDb}`);
  assert.ok(rep.layers.length >= 3);
  // A layer left float by rule stays float.
  const { model: m2 } = await runPipeline(modelOf(g), `quantize{calibCount=2,float=Gemm}`);
  assert.equal(m2.graph.nodes.find((n) => n.id === ids.logits)?.op, "Gemm");
  await assert.rejects(() => runPipeline(modelOf(g), "quantize{scheme=int4}"), LatheError);
});

Deno.test({
  name: "quantize CLI: dcgan_generator to QDQ ONNX with a report, calibrated from .npy files",
  ignore: noCorpus(),
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const input = corpusPath("onnx/torch/dcgan_generator.onnx");
      const float = await importOnnxFile(input);
      // Calibration folder: one .npy of 4 samples stacked on the batch dim, and one single sample.
      const samples = seededBatches(float.graph, 123, 5).map((b) => b[float.graph.inputs[0]] as Tensor);
      const stacked = new Float32Array(samples.slice(0, 4).flatMap((t) => [...t.data as Float32Array]));
      await Deno.mkdir(`${dir}/calib`);
      await writeNpy(`${dir}/calib/a.npy`, new Tensor("f32", [4, 16, 1, 1], stacked));
      await writeNpy(`${dir}/calib/b.npy`, samples[4]);
      const batches = await readCalibrationDir(`${dir}/calib`, float);
      assert.equal(batches.length, 5);
      assert.deepEqual([...(batches[2][float.graph.inputs[0]].data as Float32Array)], [
        ...samples[2].data as Float32Array,
      ]);

      const r = await quantizeModel({
        input,
        output: `${dir}/q.onnx`,
        scheme: "int8",
        calib: "mse",
        calibDir: `${dir}/calib`,
        report: true,
      });
      assert.equal(r.calibration.batches, 5);
      assert.ok(r.report && r.report.layers.length >= 4);
      const q = await importOnnxFile(`${dir}/q.onnx`);
      assert.ok(q.graph.nodes.some((n) => n.op === "QuantizeLinear"));
      const feeds = seededBatches(float.graph, 9, 1)[0] as Record<string, Tensor>;
      const ref = await runOrt(await ortSession(`${dir}/q.onnx`), feeds);
      const { Session } = await import("../runtime/interpreter.ts");
      const ours = new Session(q.graph).run(feeds).outputs[q.graph.outputs[0]] as Tensor;
      const a = ours.data as Float32Array, b = ref[q.graph.outputs[0]].data as Float32Array;
      let maxd = 0;
      for (let i = 0; i < a.length; i++) maxd = Math.max(maxd, Math.abs(a[i] - b[i]));
      assert.ok(maxd < 0.02, `max difference ${maxd}`); // an output step is 2/255

      // The command itself: summary on stdout, report file, exit codes.
      const code = await main([
        "quantize",
        input,
        `${dir}/q2.onnx`,
        "--scheme",
        "int8",
        "--calib-count",
        "2",
        "--report",
        `${dir}/rep.json`,
        "--json",
      ]);
      assert.equal(code, 0);
      const rep = JSON.parse(await Deno.readTextFile(`${dir}/rep.json`));
      assert.ok(Array.isArray(rep.layers) && rep.outputs[0].name === float.graph.outputs[0]);
      assert.equal(await main(["quantize", input, `${dir}/q3.onnx`, "--scheme", "int3"]), 2);
      assert.equal(await main(["quantize", input, `${dir}/q3.gguf`]), 3);
      assert.equal(await main(["quantize", input]), 2);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
