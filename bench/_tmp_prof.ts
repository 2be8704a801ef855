import { importOnnxFile } from "../compiler/onnx/import.ts";
import { importTfliteFile } from "../compiler/tflite/import.ts";
import "../passes/index.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import { seededBatches } from "../passes/quantize/calibrate.ts";
import { Session } from "../runtime/interpreter.ts";
const which = Deno.args[0] ?? "onnx";
const g = which === "onnx"
  ? (await runPipeline(await importOnnxFile("/tmp/mb_int8.onnx"), "lower-int8")).model.graph
  : (await importTfliteFile("/tmp/mb_int8.tflite")).graph;
const x = seededBatches(g, 0, 1)[0];
const times = new Map<string, number>();
let last = 0;
const s = new Session(g);
const obs = { observe: (_v: string, _val: unknown, node: any) => { const t = performance.now(); if (node) times.set(node.op, (times.get(node.op) ?? 0) + t - last); last = t; } };
for (let i = 0; i < 3; i++) { times.clear(); last = performance.now(); s.run(x, obs as any); }
console.log([...times].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(1)}`).join("\n"));
const per: [string, number][] = [];
let l2 = 0;
const obs2 = { observe: (_v: string, _val: unknown, node: any) => { const t = performance.now(); if (node) per.push([`${node.op} ${JSON.stringify(g.values[node.inputs[0]]?.type?.shape)} w=${JSON.stringify(g.values[node.inputs[which==="onnx"?3:1]]?.type?.shape)} g=${node.attrs?.group?.value ?? ""}`, t - l2]); l2 = t; } };
l2 = performance.now(); s.run(x, obs2 as any);
per.sort((a, b) => b[1] - a[1]);
console.log(per.slice(0, 12).map(([k, v]) => `${v.toFixed(2)} ${k}`).join("\n"));
