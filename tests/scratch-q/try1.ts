import { importOnnxFile } from "../../compiler/onnx/import.ts";
import "../../passes/index.ts";
import { runPipeline } from "../../passes/pass-manager.ts";
import { quantizeModelGraph } from "../../passes/quantize/quantize-pass.ts";
import { exportOnnx } from "../../compiler/onnx/export.ts";
import { Session } from "../../runtime/interpreter.ts";
import { seededBatches } from "../../passes/quantize/calibrate.ts";
import { ortSession, runOrt } from "../../tests/reference/onnxruntime.ts";
import { Tensor } from "../../runtime/tensor.ts";
import { assertValid } from "../../ir/verify.ts";

const name = Deno.args[0] ?? "mobilenet_v2";
const calib = (Deno.args[1] ?? "minmax") as any;
let m = await importOnnxFile(`/work/shared/corpus/onnx/torch/${name}.onnx`);
m = (await runPipeline(m, "canonicalize,fold-batchnorm")).model;
const t0 = performance.now();
const r = quantizeModelGraph(m, { calib, calibCount: 8, progress: (p, d, t) => d === t && console.error(p, d, t) });
console.error("quantize ms", performance.now() - t0, r.layers.length);
assertValid(r.model.graph);
const bytes = exportOnnx(r.model);
await Deno.writeFile(`/tmp/q/${name}_int8.onnx`, bytes);
const test = seededBatches(m.graph, 1000, 4);
const low = (await runPipeline(r.model, "lower-int8")).model;
console.error(low.graph.nodes.reduce((a: any, n) => (a[n.op] = (a[n.op] ?? 0) + 1, a), {}));
const fs = new Session(m.graph), qs = new Session(Deno.env.get("NOLOWER") ? r.model.graph : low.graph);
const ort = await ortSession(bytes);
for (const b of test) {
  const f = fs.run(b).outputs, q = qs.run(b).outputs;
  const o = await runOrt(ort, b as Record<string, Tensor>);
  for (const k of m.graph.outputs) {
    const fv = (f[k] as Tensor).data as Float32Array, qv = (q[k] as Tensor).data as Float32Array, ov = o[k].data as Float32Array;
    let sig = 0, noise = 0, maxd = 0, over = 0;
    // output scale
    const outScaleName = Object.keys(r.model.graph.constants).find((c) => c.startsWith(`${k}_scale`) || c === `${k}_scale`);
    let s = 1; 
    for (const n of r.model.graph.nodes) if (n.op === "DequantizeLinear" && n.outputs[0] === k) { const c = r.model.graph.constants[n.inputs[1]!]; s = new Float32Array(c.bytes!.slice().buffer)[0]; }
    for (let i = 0; i < fv.length; i++) { sig += fv[i] ** 2; noise += (fv[i] - qv[i]) ** 2; const d = Math.abs(qv[i] - ov[i]) / s; maxd = Math.max(maxd, d); if (d > 1.001) over++; }
    let t1f = 0, t1q = 0; for (let i = 0; i < fv.length; i++) { if (fv[i] > fv[t1f]) t1f = i; if (qv[i] > qv[t1q]) t1q = i; }
    console.log(k, "SQNR", (10 * Math.log10(sig / noise)).toFixed(2), "maxLSB vs ort", maxd.toFixed(3), "over1", over, "/", fv.length, "top1", t1f === t1q);
  }
}
