import { importOnnxFile } from "./compiler/onnx/import.ts";
import { readTestValue } from "./compiler/onnx/test-data.ts";
import { Session } from "./runtime/interpreter.ts";
import { OptionalValue, Sequence, Tensor } from "./runtime/tensor.ts";
import { compareTensors } from "./tests/support/close.ts";
const D = "/work/shared/corpus/onnx-node-suite/node/";
function cmp(got: any, want: any): string | undefined {
  if (want instanceof Tensor) {
    if (!(got instanceof Tensor)) return `expected tensor got ${got?.constructor?.name}`;
    if (got.dtype !== want.dtype) return `dtype ${got.dtype} vs ${want.dtype}`;
    const r = compareTensors(got, want); return r.ok ? undefined : r.message;
  }
  if (want instanceof Sequence) {
    if (!(got instanceof Sequence)) return `expected seq got ${got?.constructor?.name}`;
    if (got.items.length !== want.items.length) return `seq len ${got.items.length} vs ${want.items.length}`;
    for (let i = 0; i < want.items.length; i++) { const r = cmp(got.items[i], want.items[i]); if (r) return `item ${i}: ${r}`; }
    return;
  }
  if (want instanceof OptionalValue) {
    const gv = got instanceof OptionalValue ? got.value : got;
    if (want.value === undefined) return gv === undefined ? undefined : "expected empty";
    return cmp(gv, want.value);
  }
}
for (const name of Deno.args) {
  try {
    const m = await importOnnxFile(D + name + "/model.onnx");
    const g = m.graph;
    const dir = D + name + "/test_data_set_0/";
    const inputs: Record<string, any> = {};
    for (let i = 0; ; i++) {
      try { Deno.statSync(dir + `input_${i}.pb`); } catch { break; }
      inputs[g.inputs[i]] = (await readTestValue(dir + `input_${i}.pb`, g.values[g.inputs[i]]?.type)).value;
    }
    const { outputs } = new Session(g).run(inputs, { check: true });
    let bad: string | undefined;
    for (let i = 0; i < g.outputs.length; i++) {
      const want = (await readTestValue(dir + `output_${i}.pb`, g.values[g.outputs[i]]?.type)).value;
      bad ??= cmp(outputs[g.outputs[i]], want);
    }
    console.log(bad ? "FAIL" : "pass", name, bad ?? "");
  } catch (e) { console.log("ERR ", name, (e as Error).message.slice(0, 400)); }
}
