import * as ort from "onnxruntime-node";
import { seededBatches } from "../../passes/quantize/calibrate.ts";
import { importOnnxFile } from "../../compiler/onnx/import.ts";
import { exportOnnx } from "../../compiler/onnx/export.ts";
import { Session } from "../../runtime/interpreter.ts";
import { toOrt } from "../reference/onnxruntime.ts";
import { Tensor } from "../../runtime/tensor.ts";
const path = Deno.args[0];
const m = await importOnnxFile(path);
const g = m.graph;
const extra = g.nodes.filter((n) => !["Constant"].includes(n.op)).map((n) => n.outputs[0]).filter((o) => g.values[o]);
const g2 = { ...g, outputs: [...new Set([...g.outputs, ...extra])] };
const bytes = exportOnnx({ ...m, graph: g2 });
const b = seededBatches(g, 1000, 1)[0];
const ours = new Session(g2).run(b).outputs;
const sess = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: (Deno.args[1] ?? "disabled") as any, intraOpNumThreads: 1 });
const feeds: any = {}; for (const [n, t] of Object.entries(b)) feeds[n] = toOrt(t);
const res = await sess.run(feeds);
let shown = 0;
for (const n of g.nodes) {
  const o = n.outputs[0]; if (!res[o]) continue;
  const a = (ours[o] as Tensor).data as any, r = res[o].data as any;
  let maxd = 0, cnt = 0; for (let i = 0; i < a.length; i++) { const d = Math.abs(Number(a[i]) - Number(r[i])); if (d > maxd) maxd = d; if (d > 1e-4 * (1 + Math.abs(Number(r[i])))) cnt++; }
  if (cnt > 0 && shown++ < 12) console.log(n.op, n.id, o, "maxdiff", maxd, "count", cnt, "/", a.length);
}
