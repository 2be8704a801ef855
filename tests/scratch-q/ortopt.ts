import * as ort from "onnxruntime-node";
import { importOnnxFile } from "../../compiler/onnx/import.ts";
await ort.InferenceSession.create(Deno.args[0], { graphOptimizationLevel: "all", intraOpNumThreads: 1, optimizedModelFilePath: "/tmp/q/opt.onnx" } as any);
const m = await importOnnxFile("/tmp/q/opt.onnx").catch((e) => { console.log(String(e).slice(0, 300)); return undefined; });
if (m) console.log(m.graph.nodes.reduce((a: any, n) => (a[n.op] = (a[n.op] ?? 0) + 1, a), {}));
