import { importOnnxFile } from "../../compiler/onnx/import.ts";
import { Session } from "../../runtime/interpreter.ts";
import { seededBatches } from "../../passes/quantize/calibrate.ts";
import { Tensor } from "../../runtime/tensor.ts";
import { Rng } from "../../runtime/random.ts";
const m = await importOnnxFile(`/work/shared/corpus/onnx/torch/${Deno.args[0]}.onnx`);
const s = new Session(m.graph);
const b = seededBatches(m.graph, 1000, 1)[0];
const k = m.graph.inputs[0];
const x = b[k].data as Float32Array;
const base = (s.run(b).outputs[m.graph.outputs[0]] as Tensor).data as Float32Array;
for (const rel of [1e-2, 1e-3, 1e-4, 1e-5]) {
  const rng = new Rng(5); const y = x.map((v) => v + rel * rng.uniform(-1, 1));
  const o = (s.run({ [k]: new Tensor("f32", b[k].shape, y) }).outputs[m.graph.outputs[0]] as Tensor).data as Float32Array;
  let sig = 0, n = 0; for (let i = 0; i < o.length; i++) { sig += base[i] ** 2; n += (base[i] - o[i]) ** 2; }
  let si = 0, ni = 0; for (let i = 0; i < x.length; i++) { si += x[i] ** 2; ni += (x[i] - y[i]) ** 2; }
  console.log(`input SNR ${(10 * Math.log10(si / ni)).toFixed(1)} dB -> output SNR ${(10 * Math.log10(sig / n)).toFixed(1)} dB`);
}
