/**
 * Float SOFTMAX (256×1000) and TRANSPOSE_CONV (32²×32 → 64²×16, 4×4 kernel, stride 2): Lathe's
 * LiteRT-exact float kernels beside LiteRT (XNNPACK in WebAssembly, one thread) on the same single-op
 * models. `deno bench -A bench/tflite-float-ops.bench.ts` gives per-group ratios; `deno run -A
 * bench/tflite-float-ops.bench.ts` prints a table (best of several runs).
 */
import { importTflite } from "../compiler/tflite/import.ts";
import { Session } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { loadLiteRt } from "../tests/reference/litert.ts";
import { TfliteBuilder } from "../tests/support/tflite-builder.ts";

interface Case {
  name: string;
  bytes: Uint8Array;
  input: Float32Array;
  shape: number[];
}

function values(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * scale;
  });
}

function softmax(rows: number, d: number): Case {
  const b = new TfliteBuilder();
  const ins: number[] = [], outs: number[] = [];
  const x = b.input({ type: "FLOAT32", shape: [rows, d] }, ins);
  const y = b.output({ type: "FLOAT32", shape: [rows, d] }, outs);
  b.op("SOFTMAX", [x], [y], { beta: 1 });
  return {
    name: `SOFTMAX ${rows}x${d}`,
    bytes: b.finish(ins, outs),
    input: values(rows * d, 1, 16),
    shape: [rows, d],
  };
}

function transposeConv(H: number, IC: number, OC: number, K: number, s: number): Case {
  const b = new TfliteBuilder();
  const ins: number[] = [], outs: number[] = [];
  const O = H * s;
  const shape = b.tensor({ shape: [4], type: "INT32" }, Int32Array.from([1, O, O, OC]));
  const w = b.tensor({ shape: [OC, K, K, IC], type: "FLOAT32" }, values(OC * K * K * IC, 2, 0.5));
  const x = b.input({ shape: [1, H, H, IC], type: "FLOAT32" }, ins);
  const bias = b.tensor({ shape: [OC], type: "FLOAT32" }, values(OC, 3, 1));
  const y = b.output({ shape: [1, O, O, OC], type: "FLOAT32" }, outs);
  b.op("TRANSPOSE_CONV", [shape, w, x, bias], [y], {
    padding: "SAME",
    stride_w: s,
    stride_h: s,
    fused_activation_function: "NONE",
  }, 4);
  return {
    name: `TRANSPOSE_CONV ${H}x${H}x${IC}->${O}x${O}x${OC} ${K}x${K}/${s}`,
    bytes: b.finish(ins, outs),
    input: values(H * H * IC, 4, 2),
    shape: [1, H, H, IC],
  };
}

const CASES: Case[] = [softmax(256, 1000), transposeConv(32, 32, 16, 4, 2)];

function latheRunner(c: Case): () => void {
  const g = importTflite(c.bytes).graph;
  const session = new Session(g);
  const feeds = { [g.inputs[0]]: new Tensor("f32", c.shape, c.input) };
  return () => void session.run(feeds);
}

/** A compiled LiteRT model on one thread (compiled after every Lathe timing in table mode: see tflite-int). */
async function liteRtRunner(c: Case): Promise<() => Promise<void>> {
  const lt = await loadLiteRt();
  if (!lt) throw new Error("LiteRT did not load");
  const model = await lt.loadAndCompile(c.bytes, { accelerator: "wasm", cpuOptions: { numThreads: 1 } });
  const tensor = new lt.Tensor(c.input, c.shape);
  return async () => {
    for (const r of await model.run([tensor])) r.delete();
  };
}

async function best(fn: () => void | Promise<void>, reps = 15): Promise<number> {
  for (let i = 0; i < 3; i++) await fn();
  let t = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    t = Math.min(t, performance.now() - t0);
  }
  return t;
}

if (import.meta.main) {
  const tl: number[] = [];
  for (const c of CASES) tl.push(await best(latheRunner(c)));
  const to: number[] = [];
  for (const c of CASES) to.push(await best(await liteRtRunner(c)));
  console.log("case".padEnd(44), "lathe ms  litert ms  ratio");
  CASES.forEach((c, i) => {
    console.log(
      c.name.padEnd(44),
      tl[i].toFixed(2).padStart(8),
      to[i].toFixed(2).padStart(10),
      (tl[i] / to[i]).toFixed(2).padStart(6),
    );
  });
} else {
  for (const c of CASES) {
    const lathe = latheRunner(c), litert = await liteRtRunner(c);
    Deno.bench({ name: `${c.name} litert`, group: c.name, baseline: true, fn: litert });
    Deno.bench({ name: `${c.name} lathe`, group: c.name, fn: lathe });
  }
}
