// ORT (all) on the QDQ model with every Q output exposed vs Lathe's lowered model.
import * as ort from "onnxruntime-node";
import "../../passes/index.ts";
import { runPipeline } from "../../passes/pass-manager.ts";
import { seededBatches } from "../../passes/quantize/calibrate.ts";
import { importOnnxFile } from "../../compiler/onnx/import.ts";
import { exportOnnx } from "../../compiler/onnx/export.ts";
import { Session } from "../../runtime/interpreter.ts";
import { toOrt } from "../reference/onnxruntime.ts";
import { Tensor } from "../../runtime/tensor.ts";
const m = await importOnnxFile(Deno.args[0]);
const g = m.graph;
const qs = g.nodes.filter((n) => n.op === "QuantizeLinear").map((n) => n.outputs[0]);
const g2 = { ...g, outputs: [...g.outputs, ...qs] };
const bytes = exportOnnx({ ...m, graph: g2 });
const low = (await runPipeline({ ...m, graph: g2 }, "lower-int8")).model;
const b = seededBatches(g, 1000, 1)[0];
const ours = new Session(low.graph).run(b).outputs;
const sess = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: "all", intraOpNumThreads: 1 });
const feeds: any = {}; for (const [n, t] of Object.entries(b)) feeds[n] = toOrt(t);
const res = await sess.run(feeds);
for (const o of qs) {
  const a = (ours[o] as Tensor).data as any, r = res[o].data as any;
  let maxd = 0, cnt = 0; for (let i = 0; i < a.length; i++) { const d = Math.abs(a[i] - r[i]); if (d > maxd) maxd = d; if (d > 0) cnt++; }
  const prod = g.nodes.find((n) => n.outputs[0] === g.nodes.find((x) => x.outputs[0] === o)!.inputs[0]);
  console.log(prod?.op, o.slice(0, 60), "maxdiff", maxd, "count", cnt, "/", a.length);
}
