// mobilenet_v2 int8 latency: Lathe (ONNX lowered to QLinear ops; TFLite int8) beside onnxruntime and LiteRT.
import { importOnnxFile } from "../compiler/onnx/import.ts";
import { importTfliteFile } from "../compiler/tflite/import.ts";
import "../passes/index.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import { seededBatches } from "../passes/quantize/calibrate.ts";
import { Session } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { ortSession, toOrt } from "../compiler/reference-runtimes/onnxruntime.ts";
import { loadLiteRt } from "../compiler/reference-runtimes/litert.ts";

async function best(fn: () => unknown, reps = 5): Promise<number> {
  for (let i = 0; i < 2; i++) await fn();
  let t = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    t = Math.min(t, performance.now() - t0);
  }
  return t;
}
const which = Deno.args[0] ?? "all";
const onnx = await importOnnxFile("/tmp/mb_int8.onnx");
const lowered = (await runPipeline(onnx, "lower-int8")).model;
const ops = new Map<string, number>();
for (const n of lowered.graph.nodes) ops.set(n.op, (ops.get(n.op) ?? 0) + 1);
console.log("lowered ops:", [...ops].map(([k, v]) => `${k}:${v}`).join(" "));
const x = seededBatches(lowered.graph, 0, 1)[0];
const s1 = new Session(lowered.graph);
console.log("lathe onnx lowered ms", (await best(() => s1.run(x))).toFixed(1));
const tfl = await importTfliteFile("/tmp/mb_int8.tflite");
const tx = seededBatches(tfl.graph, 0, 1)[0];
const s2 = new Session(tfl.graph);
console.log("lathe tflite int8 ms", (await best(() => s2.run(tx))).toFixed(1));
if (which === "all") {
  const ort = await ortSession(await Deno.readFile("/tmp/mb_int8.onnx"), 1);
  const feeds = Object.fromEntries(Object.entries(x).map(([k, v]) => [k, toOrt(v as Tensor)]));
  console.log("onnxruntime 1 thread ms", (await best(() => ort.run(feeds), 10)).toFixed(2));
  const lt = await loadLiteRt();
  if (lt) {
    const bytes = await Deno.readFile("/tmp/mb_int8.tflite");
    const model = await lt.loadAndCompile(bytes, { accelerator: "wasm", cpuOptions: { numThreads: 1 } });
    const inp = Object.values(tx)[0] as Tensor;
    const t = new lt.Tensor(inp.data as Float32Array, inp.shape as number[]);
    console.log("litert 1 thread ms", (await best(async () => { for (const r of await model.run([t])) r.delete(); }, 10)).toFixed(2));
  }
}
Deno.exit(0);
