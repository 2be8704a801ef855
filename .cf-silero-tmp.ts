import { importOnnxFile } from "./compiler/onnx/import.ts";
import { Session } from "./runtime/.cf-interp-tmp.ts";
import { Tensor } from "./runtime/tensor.ts";
import { compareTensors } from "./tests/support/close.ts";
import { ortSession, runOrt } from "./tests/reference/onnxruntime.ts";
const p = "/work/shared/corpus/onnx/silero-vad/silero_vad_v5.onnx";
const m = await importOnnxFile(p);
const s = new Session(m.graph);
const ort = await ortSession(p);
let state = new Tensor("f32", [2, 1, 128], new Float32Array(256));
const sr = new Tensor("i64", [], new BigInt64Array([8000n]));
let seed = 1;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
for (let it = 0; it < 3; it++) {
  const input = new Tensor("f32", [1, 256], Float32Array.from({ length: 256 }, () => Math.sin(it * 512 + 0.05) * 0.3 + rnd() * 0.2));
  const t0 = performance.now();
  const got = s.run({ input, state, sr }, { check: true }).outputs;
  const t1 = performance.now();
  const want = await runOrt(ort, { input, state, sr });
  for (const k of Object.keys(want)) console.log(it, k, (got[k] as Tensor).shape, compareTensors(got[k] as Tensor, want[k], 1e-4, 1e-5).message, `${(t1 - t0).toFixed(1)}ms`);
  state = want.stateN;
}
