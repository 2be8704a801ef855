import * as ort from "onnxruntime-node";
import { decodeTensor } from "/work/main/compiler/onnx/proto.ts";
const base = "/work/shared/corpus/onnx-node-suite/node/";
const c = Deno.args[0];
const sess = await ort.InferenceSession.create(base + c + "/model.onnx");
const feeds: Record<string, any> = {};
const TY: Record<number, [string, any]> = { 1: ["float32", Float32Array], 7: ["int64", BigInt64Array], 11: ["float64", Float64Array], 2: ["uint8", Uint8Array] };
sess.inputNames.forEach((n, i) => {
  const f = `${base}${c}/test_data_set_0/input_${i}.pb`;
  const t: any = decodeTensor(Deno.readFileSync(f), f);
  const [ty, C] = TY[t.dataType];
  const data = t.rawData ? new C(t.rawData.slice().buffer) : (t.floatData ?? t.int64Data ?? t.doubleData);
  feeds[n] = new ort.Tensor(ty, data, t.dims);
});
const out = await sess.run(feeds);
for (const n of sess.outputNames) console.log(n, Array.from(out[n].data as any).map(Number).map((v) => v.toFixed(6)).join(" "));
