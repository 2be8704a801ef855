/**
 * Runtime latency of float TFLite corpus models (batch 1) in Lathe beside LiteRT (XNNPACK in WebAssembly,
 * npm @litertjs/core) in the same run, plus import time. `deno bench` prints the ratio within each group.
 */
import { importTflite } from "../compiler/tflite/import.ts";
import { generateInput } from "../compiler/run.ts";
import { Session } from "../runtime/interpreter.ts";
import { corpusPath, HAVE_CORPUS } from "../tests/support/corpus.ts";
import { loadLiteRt } from "../tests/reference/litert.ts";

const MODELS = [
  "mediapipe/face_detection_short_range.tflite",
  "mediapipe/palm_detection_lite.tflite",
  "mediapipe/pose_detection.tflite",
  "openwakeword/embedding_model.tflite",
];

// Import only: the 9.99 MB fp16 SSD and the Coral uint8 SSD (whose custom post-process Lathe does not run).
const IMPORT_ONLY = [
  "mediapipe/object_detection_ssd_mobilenetv2_oidv4_fp16.tflite",
  "coral/mobilenet_ssd_v2_coco_quant_postprocess.tflite",
];
for (const rel of HAVE_CORPUS ? IMPORT_ONLY : []) {
  const bytes = Deno.readFileSync(corpusPath(`tflite/${rel}`));
  const name = rel.split("/")[1].replace(".tflite", "");
  Deno.bench({ name: `${name} import`, group: `${name} import`, fn: () => void importTflite(bytes) });
}

const lt = HAVE_CORPUS ? await loadLiteRt() : undefined;
for (const rel of MODELS) {
  if (!HAVE_CORPUS) break;
  const name = rel.split("/")[1].replace(".tflite", "");
  const bytes = Deno.readFileSync(corpusPath(`tflite/${rel}`));
  const model = importTflite(bytes, { file: rel });
  const g = model.graph;
  const x = generateInput(g, g.inputs[0], 0, 1);
  const session = new Session(g);
  Deno.bench({ name: `${name} import`, group: `${name} import`, fn: () => void importTflite(bytes) });
  if (lt) {
    const compiled = await lt.loadAndCompile(bytes, { accelerator: "wasm" });
    const input = new lt.Tensor(x.data, [...x.shape]);
    Deno.bench({
      name: `${name} LiteRT (XNNPACK wasm)`,
      group: name,
      baseline: true,
      fn: async () => {
        for (const r of await compiled.run([input])) r.delete();
      },
    });
  }
  Deno.bench({ name: `${name} lathe`, group: name, fn: () => void session.run({ [g.inputs[0]]: x }) });
}
