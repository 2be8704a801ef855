import { importOnnxFile } from "../../compiler/onnx/import.ts";
import { onnxToTflite } from "../../passes/convert/onnx-to-tflite.ts";
import { Session } from "../../runtime/interpreter.ts";
import { generateInput } from "../../compiler/run.ts";
import "../../passes/index.ts";
const m = await importOnnxFile("/work/shared/corpus/onnx/torch/mobilenet_v2.onnx");
const t = onnxToTflite(m, {}).model;
for (const g of [m.graph, t.graph]) {
  const s = new Session(g);
  const x = generateInput(g, g.inputs[0], 0, 0);
  for (let k = 0; k < 3; k++) { const t0 = performance.now(); s.run({ [g.inputs[0]]: x }); console.log(performance.now() - t0); }
}
