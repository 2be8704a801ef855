import * as ort from "onnxruntime-node";
import { seededBatches } from "../../passes/quantize/calibrate.ts";
import { importOnnxFile } from "../../compiler/onnx/import.ts";
import { Session } from "../../runtime/interpreter.ts";
import { toOrt } from "../reference/onnxruntime.ts";
import { Tensor } from "../../runtime/tensor.ts";
const path = Deno.args[0];
const m = await importOnnxFile(path);
const b = seededBatches(m.graph, 1000, 1)[0];
const ours = new Session(m.graph).run(b).outputs;
const k = m.graph.outputs[0];
let s = 1;
for (const n of m.graph.nodes) if (n.op === "DequantizeLinear" && n.outputs[0] === k) { const c = m.graph.constants[n.inputs[1]!]; s = new Float32Array(c.bytes!.slice().buffer)[0]; }
for (const level of ["disabled", "basic", "extended", "all"] as const) {
  const sess = await ort.InferenceSession.create(path, { graphOptimizationLevel: level, intraOpNumThreads: 1 });
  const feeds: any = {}; for (const [n, t] of Object.entries(b)) feeds[n] = toOrt(t);
  const o = (await sess.run(feeds))[k].data as Float32Array;
  const q = (ours[k] as Tensor).data as Float32Array;
  let maxd = 0, over = 0; for (let i = 0; i < q.length; i++) { const d = Math.abs(q[i] - o[i]) / s; maxd = Math.max(maxd, d); if (d > 1.001) over++; }
  console.log(level, "max LSB", maxd.toFixed(3), "over1", over, q.length);
}
