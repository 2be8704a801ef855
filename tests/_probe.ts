import { inspectLiteRt, loadLiteRt, liteRtLoadMessage, runLiteRt } from "./reference/litert.ts";
const lt = await loadLiteRt();
console.log(!!lt, liteRtLoadMessage());
for (const f of Deno.args) {
  const b = Deno.readFileSync("/work/shared/corpus/tflite/"+f);
  const info = await inspectLiteRt(b);
  console.log(JSON.stringify(info));
  const ins = info.inputs.map(i => { const n=i.shape.reduce((a,b)=>a*b,1); return i.dtype==="uint8"? new Uint8Array(n).fill(3): new Float32Array(n).fill(0.5);});
  const out = await runLiteRt(b, ins);
  console.log(out.map(o=>[o.dtype,o.shape,o.data.slice(0,4)]));
}
