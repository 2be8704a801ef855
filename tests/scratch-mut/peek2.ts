import { importOnnxFile } from "../../compiler/onnx/import.ts";
import { onnxToTflite } from "../../passes/convert/onnx-to-tflite.ts";
import { printGraph } from "../../ir/text.ts";
import "../../passes/index.ts";
for (const f of Deno.args) {
const m = await importOnnxFile("/work/shared/corpus/onnx/" + f);
const hist = (g: any) => { const h: Record<string, number> = {}; for (const n of g.nodes) h[n.op] = (h[n.op] ?? 0) + 1; return h; };
console.log(f, JSON.stringify(hist(m.graph)));
try { const t = onnxToTflite(m, {}); console.log(JSON.stringify(hist(t.model.graph)));
if (f.includes("mobilenet")) console.log(printGraph(t.model.graph, {}).split("\n").filter(l=>!l.includes("const")).slice(0,30).join("\n"));
} catch (e) { console.log("convert failed", (e as Error).message.slice(0,200)); }
}
