import { runOnnxruntime, tensor } from "./tests/support/ort-node.ts";
const f32 = (shape: number[], v: number[]) => tensor("f32", shape, v);
try {
const r = await runOnnxruntime({ op: "LayerNormalization", opset: 17, inputs: [{name:"x", tensor: f32([2,2],[1,2,3,4])}, {name:"s", tensor: f32([2],[1,1])}, {name:"b", tensor: f32([2],[0,0])}], outputs: 3 });
console.log(r);
} catch (e) { console.log("ERR", e); }
