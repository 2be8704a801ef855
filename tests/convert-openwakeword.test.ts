/**
 * The openWakeWord models ship in both formats. Lathe's conversion of each .onnx runs in LiteRT beside the
 * shipped .tflite (also in LiteRT) on the same seeded input, rtol 1e-4 / atol 1e-5.
 *
 * melspectrogram's shipped file declares its input [1, 1] with signature [-1, -1] and every intermediate
 * tensor sized for that; LiteRT.js runs it only at the sizes the file declares (a bigger input traps). So the
 * comparison uses a copy whose tensor shapes are made static for 1280 samples (five STFT frames) from the
 * file's own graph with the input bound; its operators and weights are untouched. The ONNX side binds the same
 * size (--shape input=1,1280). embedding_model's batch dim is bound to 1 on both sides.
 */
import assert from "node:assert/strict";
import { exportTflite } from "../compiler/tflite/export.ts";
import { importOnnxFile } from "../compiler/onnx/import.ts";
import { importTfliteFile } from "../compiler/tflite/import.ts";
import { onnxToTflite } from "../passes/convert/onnx-to-tflite.ts";
import { bindInputShapes } from "../passes/convert/static-shapes.ts";
import { liteRtLoadMessage, loadLiteRt, runLiteRt } from "./reference/litert.ts";
import { closeness, seededFloats, staticTflite } from "./support/convert-compare.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";

const liteRt = noCorpus() ? undefined : await loadLiteRt();
if (!noCorpus() && !liteRt) console.log(`convert-openwakeword: LiteRT tests skipped: ${liteRtLoadMessage()}`);

interface Case {
  name: string;
  onnxShapes: Record<string, number[]>;
  tfliteDims: Record<string, number>;
  scale: number;
}

const CASES: Case[] = [
  { name: "alexa_v0.1", onnxShapes: {}, tfliteDims: {}, scale: 1 },
  { name: "embedding_model", onnxShapes: { input_1: [1, 76, 32, 1] }, tfliteDims: { in0_0: 1 }, scale: 1 },
  // Audio samples at int16 scale, as openWakeWord feeds them.
  {
    name: "melspectrogram",
    onnxShapes: { input: [1, 1280] },
    tfliteDims: { in0_0: 1, in0_1: 1280 },
    scale: 3000,
  },
];

for (const c of CASES) {
  Deno.test({
    name: `openWakeWord ${c.name}: Lathe's conversion of the .onnx agrees with the shipped .tflite in LiteRT`,
    ignore: noCorpus() || !liteRt,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const onnxPath = corpusPath(`onnx/openwakeword/${c.name}.onnx`);
      const tflitePath = corpusPath(`tflite/openwakeword/${c.name}.tflite`);
      const t0 = performance.now();
      const { model, report } = onnxToTflite(await importOnnxFile(onnxPath), { shapes: c.onnxShapes });
      const ms = performance.now() - t0;
      const converted = exportTflite(model);
      const shipped = await importTfliteFile(tflitePath);
      const bound = bindInputShapes(shipped.graph, { dims: c.tfliteDims });
      const shippedBytes = staticTflite(await Deno.readFile(tflitePath), bound);
      const t = bound.values[bound.inputs[0]].type;
      assert.ok(t.kind === "tensor" && t.shape);
      const x = seededFloats((t.shape as number[]).reduce((p, d) => p * d, 1), 3, -c.scale, c.scale);
      const want = (await runLiteRt(shippedBytes, [x]))[0];
      const got = (await runLiteRt(converted, [x]))[0];
      assert.deepEqual(got.shape, want.shape);
      const r = closeness(got.data as Float32Array, want.data as Float32Array);
      console.log(
        `  ${c.name}: max abs error ${r.maxAbs.toExponential(3)} (|ref| up to ${
          r.maxRef.toFixed(3)
        }), ${report.target.nodes} tfl nodes (shipped: ${shipped.graph.nodes.length}), converted in ${
          ms.toFixed(0)
        } ms`,
      );
      assert.equal(
        r.bad,
        0,
        `${r.bad}/${r.count} elements outside rtol 1e-4/atol 1e-5, worst ${JSON.stringify(r.worst)}`,
      );
    },
  });
}
