import { GraphBuilder } from "../ir/builder.ts";
import { Session } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
function bench(label: string, op: string, shapes: number[][], dtype: any = "f32", attrs = {}) {
  const b = new GraphBuilder();
  const feeds: Record<string, Tensor> = {};
  const names = shapes.map((s, i) => { const n = `x${i}`; b.input(n, dtype, s); const len = s.reduce((p, d) => p * d, 1);
    const arr = dtype === "f32" ? new Float32Array(len).map((_, j) => (j % 97) - 48.5) : dtype === "i64" ? new BigInt64Array(len).map((_, j) => BigInt(j % 97)) : new Int32Array(len).map((_, j) => j % 97 + 1);
    feeds[n] = new Tensor(dtype, s, arr); return n; });
  const out = b.op1(op, names, attrs);
  const s = new Session(b.build([out]));
  for (let i = 0; i < 5; i++) s.run(feeds);
  const t0 = performance.now(); const N = 20;
  for (let i = 0; i < N; i++) s.run(feeds);
  const ms = (performance.now() - t0) / N;
  const n = shapes.reduce((m, s) => Math.max(m, s.reduce((p, d) => p * d, 1)), 0);
  console.log(`${label.padEnd(40)} ${ms.toFixed(2)} ms  ${(n / ms / 1e3).toFixed(0)} Melem/s`);
}
for (const a of Deno.args) {
  if (a === "mul") bench("Mul i32 1M", "Mul", [[1000, 1000], [1000, 1000]], "i32");
  if (a === "add") bench("Add f32 1M equal", "Add", [[1000, 1000], [1000, 1000]]);
  if (a === "addi") bench("Add i32 1M equal", "Add", [[1000, 1000], [1000, 1000]], "i32");
  if (a === "relu") bench("Relu f32 1M", "Relu", [[1000, 1000]]);
}
