import * as ort from "onnxruntime-node";
const f = "/work/shared/corpus/onnx/torch/squeezenet1_1.onnx";
const s = await ort.InferenceSession.create(Deno.readFileSync(f));
console.log(s.inputNames, s.outputNames);
