/**
 * Integer CONV_2D and DEPTHWISE_CONV_2D throughput (int8 per-channel, MobileNet-like shapes): Lathe's
 * TFLite integer kernels beside LiteRT (XNNPACK in WebAssembly, one thread) on the same single-op
 * models. `deno bench -A bench/tflite-int.bench.ts` gives per-group ratios; `deno run -A
 * bench/tflite-int.bench.ts` prints a GMAC/s table (best of several runs).
 */
import { importTflite } from "../compiler/tflite/import.ts";
import type { TensorTypeName } from "../compiler/tflite/schema.ts";
import { Session } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { loadLiteRt } from "../tests/reference/litert.ts";
import { TfliteBuilder } from "../tests/support/tflite-builder.ts";

interface Case {
  name: string;
  macs: number;
  bytes: Uint8Array;
  input: Uint8Array;
  shape: number[];
}

function codes(n: number, seed: number, lo: number, hi: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + Math.floor((s / 2 ** 32) * (hi - lo + 1));
  });
}

/** An int8 model (uint8 at its ends, as LiteRT's JS binding feeds): conv or depthwise, SAME, stride 1. */
function conv(H: number, C: number, O: number, k: number, depthwise: boolean): Case {
  const b = new TfliteBuilder();
  const ins: number[] = [], outs: number[] = [];
  const sIn = 0.02;
  const ws = Array.from({ length: O }, (_, i) => 0.004 + 0.0001 * i);
  const x = b.input({ type: "INT8", shape: [1, H, H, C], scale: [sIn], zeroPoint: [-3] }, ins);
  const wShape = depthwise ? [1, k, k, O] : [O, k, k, C];
  const wn = wShape.reduce((p, d) => p * d, 1);
  const w = b.tensor({
    type: "INT8",
    shape: wShape,
    scale: ws,
    zeroPoint: ws.map(() => 0),
    axis: depthwise ? 3 : 0,
  }, Int8Array.from(codes(wn, 1, -127, 127)));
  const bias = b.tensor({
    type: "INT32" as TensorTypeName,
    shape: [O],
    scale: ws.map((s) => sIn * s),
    zeroPoint: ws.map(() => 0),
  }, Int32Array.from(codes(O, 2, -500, 500)));
  const y = b.output({ type: "INT8", shape: [1, H, H, O], scale: [0.05], zeroPoint: [4] }, outs);
  b.op(depthwise ? "DEPTHWISE_CONV_2D" : "CONV_2D", [x, w, bias], [y], {
    padding: "SAME",
    stride_w: 1,
    stride_h: 1,
    depth_multiplier: 1,
    fused_activation_function: "RELU6",
  }, 3);
  const kind = depthwise ? `DEPTHWISE_CONV_2D ${k}x${k}` : `CONV_2D ${k}x${k}`;
  return {
    name: `${kind} int8 1x${H}x${H}x${C}->${O}`,
    macs: depthwise ? H * H * O * k * k : H * H * O * C * k * k,
    bytes: b.finish(ins, outs),
    input: Uint8Array.from(codes(H * H * C, 3, 0, 255)),
    shape: [1, H, H, C],
  };
}

const CASES: Case[] = [
  conv(56, 64, 64, 3, false),
  conv(56, 64, 64, 1, false),
  conv(28, 128, 256, 1, false),
  conv(14, 256, 256, 3, false),
  conv(112, 32, 32, 3, true),
  conv(56, 128, 128, 3, true),
];

function latheRunner(c: Case): () => void {
  const g = importTflite(c.bytes).graph;
  const t = g.values[g.inputs[0]].type;
  if (t.kind !== "tensor") throw new Error("tensor input expected");
  const session = new Session(g);
  const feeds = { [g.inputs[0]]: new Tensor(t.dtype, c.shape, c.input) };
  return () => void session.run(feeds);
}

/**
 * A compiled LiteRT model on one thread. Once a model is compiled, LiteRT's wasm runtime keeps a worker
 * busy (on a two-core machine Lathe then runs at half speed), so the table mode times every Lathe case
 * before compiling any LiteRT model.
 */
async function liteRtRunner(c: Case): Promise<() => Promise<void>> {
  const lt = await loadLiteRt();
  if (!lt) throw new Error("LiteRT did not load");
  const model = await lt.loadAndCompile(c.bytes, { accelerator: "wasm", cpuOptions: { numThreads: 1 } });
  const tensor = new lt.Tensor(c.input, c.shape);
  return async () => {
    for (const r of await model.run([tensor])) r.delete();
  };
}

async function best(fn: () => void | Promise<void>, reps = 10): Promise<number> {
  for (let i = 0; i < 2; i++) await fn();
  let t = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    t = Math.min(t, performance.now() - t0);
  }
  return t;
}

const which = Number(Deno.args[0] ?? 1);
const run = latheRunner(CASES[which]);
for (let i = 0; i < 5; i++) run();
const t0 = performance.now();
for (let i = 0; i < 50; i++) run();
console.log((globalThis as any).SLOW, (globalThis as any).T.map((v: number) => (v / 55).toFixed(2)), CASES[which].name, ((performance.now() - t0) / 50).toFixed(2), "ms");
