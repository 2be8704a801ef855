/**
 * Integer GEMM engine throughput on the ONNX quantized convolution (QLinearConv: 1×1, 3×3 and depthwise,
 * MobileNet-like shapes) beside onnxruntime (one thread) on the same single-node models, and mobilenet_v2
 * int8 end to end when its quantized models are given. `deno bench -A bench/igemm.bench.ts` gives
 * per-group ratios; `deno run -A bench/igemm.bench.ts [MB.onnx MB.tflite]` prints a GMAC/s table (best of
 * several runs) and, with the two model paths (`deno task quantize ... --scheme int8` and `deno task
 * convert` of its output), the whole-model latencies beside onnxruntime and LiteRT.
 */
import { encodeModel, type ModelProto, type TensorProto } from "../compiler/onnx/proto.ts";
import { importOnnxFile } from "../compiler/onnx/import.ts";
import { importTfliteFile } from "../compiler/tflite/import.ts";
import "../passes/index.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import { seededBatches } from "../passes/quantize/calibrate.ts";
import { GraphBuilder } from "../ir/builder.ts";
import { Session } from "../runtime/interpreter.ts";
import { Tensor, toConstant } from "../runtime/tensor.ts";
import { ortSession, toOrt } from "../tests/reference/onnxruntime.ts";
import { loadLiteRt } from "../tests/reference/litert.ts";

interface Case {
  name: string;
  macs: number;
  C: number;
  H: number;
  M: number;
  k: number;
  group: number;
}

function codes(n: number, seed: number, lo: number, hi: number): Uint8Array | Int8Array {
  let s = seed >>> 0;
  const out = lo < 0 ? new Int8Array(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + Math.floor((s / 2 ** 32) * (hi - lo + 1));
  }
  return out;
}

function conv(C: number, H: number, M: number, k: number, group = 1): Case {
  const kind = group > 1 ? `depthwise ${k}x${k}` : `${k}x${k}`;
  return {
    name: `QLinearConv ${kind} u8 1x${C}x${H}x${H}->${M}`,
    macs: H * H * M * (C / group) * k * k,
    C,
    H,
    M,
    k,
    group,
  };
}

const CASES: Case[] = [
  conv(64, 56, 64, 3),
  conv(64, 56, 64, 1),
  conv(128, 28, 256, 1),
  conv(256, 14, 256, 3),
  conv(32, 112, 32, 3, 32),
  conv(128, 56, 128, 3, 128),
];

/** The node's operands: u8 activations, per-channel int8 weights, int32 bias, SAME padding. */
function operands(c: Case) {
  const { C, H, M, k, group } = c;
  const wn = M * (C / group) * k * k;
  return {
    x: new Tensor("u8", [1, C, H, H], codes(C * H * H, 3, 0, 255)),
    consts: [
      ["xs", new Tensor("f32", [], new Float32Array([0.02]))],
      ["xz", new Tensor("u8", [], new Uint8Array([128]))],
      ["w", new Tensor("i8", [M, C / group, k, k], codes(wn, 1, -127, 127))],
      ["ws", new Tensor("f32", [M], Float32Array.from({ length: M }, (_, i) => 0.004 + 0.0001 * i))],
      ["wz", new Tensor("i8", [M], new Int8Array(M))],
      ["ys", new Tensor("f32", [], new Float32Array([0.05]))],
      ["yz", new Tensor("u8", [], new Uint8Array([4]))],
      ["b", new Tensor("i32", [M], Int32Array.from(codes(M, 2, -100, 100)))],
    ] as [string, Tensor][],
    pads: [k >> 1, k >> 1, k >> 1, k >> 1],
  };
}

function latheRunner(c: Case): () => void {
  const { x, consts, pads } = operands(c);
  const b = new GraphBuilder();
  const xi = b.input("x", "u8", x.shape);
  const names = consts.map(([n, t]) => b.constant(n, toConstant(t)));
  const outs = b.op("QLinearConv", [xi, ...names], { group: c.group, pads }, 1);
  const session = new Session(b.build(outs));
  return () => void session.run({ x });
}

async function ortRunner(c: Case): Promise<() => Promise<void>> {
  const { x, consts, pads } = operands(c);
  const ONNX: Record<string, number> = { f32: 1, u8: 2, i8: 3, i32: 6 };
  const model = {
    irVersion: 8,
    producerName: "lathe-bench",
    opsetImport: [{ domain: "", version: 13 }],
    graph: {
      name: "g",
      node: [{
        input: ["x", ...consts.map(([n]) => n)],
        output: ["y"],
        opType: "QLinearConv",
        attribute: [{ name: "group", type: 2, i: c.group }, { name: "pads", type: 7, ints: pads }],
      }],
      initializer: consts.map(([n, t]) => ({
        name: n,
        dims: [...t.shape],
        dataType: ONNX[t.dtype as string],
        rawData: new Uint8Array((t.data as Uint8Array).buffer.slice(0)),
      } as TensorProto)),
      input: [{
        name: "x",
        type: { tensorType: { elemType: 2, shape: { dim: x.shape.map((d) => ({ dimValue: d })) } } },
      }],
      output: [{ name: "y" }],
    },
  } as unknown as ModelProto;
  const session = await ortSession(encodeModel(model), 1);
  const feeds = { x: toOrt(x) };
  return async () => void (await session.run(feeds));
}

async function best(fn: () => unknown, reps = 10): Promise<number> {
  for (let i = 0; i < 2; i++) await fn();
  let t = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    t = Math.min(t, performance.now() - t0);
  }
  return t;
}

async function mobilenet(onnxPath: string, tflitePath: string): Promise<void> {
  const lowered = (await runPipeline(await importOnnxFile(onnxPath), "lower-int8")).model.graph;
  const x = seededBatches(lowered, 0, 1)[0];
  const s1 = new Session(lowered);
  const tfl = (await importTfliteFile(tflitePath)).graph;
  const tx = seededBatches(tfl, 0, 1)[0];
  const s2 = new Session(tfl);
  const lo = await best(() => s1.run(x), 5), lt = await best(() => s2.run(tx), 5);
  const ort = await ortSession(await Deno.readFile(onnxPath), 1);
  const feeds = Object.fromEntries(Object.entries(x).map(([k, v]) => [k, toOrt(v as Tensor)]));
  const ro = await best(() => ort.run(feeds), 10);
  console.log(
    `mobilenet_v2 int8, ONNX lowered to QLinear ops: lathe ${lo.toFixed(1)} ms, onnxruntime ${
      ro.toFixed(2)
    } ms`,
  );
  const lite = await loadLiteRt();
  let rl = NaN;
  if (lite) {
    const model = await lite.loadAndCompile(await Deno.readFile(tflitePath), {
      accelerator: "wasm",
      cpuOptions: { numThreads: 1 },
    });
    const inp = Object.values(tx)[0] as Tensor;
    const t = new lite.Tensor(inp.data as Float32Array, inp.shape as number[]);
    rl = await best(async () => {
      for (const r of await model.run([t])) r.delete();
    }, 10);
  }
  console.log(`mobilenet_v2 int8, TFLite: lathe ${lt.toFixed(1)} ms, LiteRT ${rl.toFixed(2)} ms`);
}

if (import.meta.main) {
  const tl: number[] = [], to: number[] = [];
  for (const c of CASES) tl.push(await best(latheRunner(c)));
  for (const c of CASES) to.push(await best(await ortRunner(c)));
  console.log("case".padEnd(48), "  MMAC  lathe ms  GMAC/s  ort ms  GMAC/s  ratio");
  CASES.forEach((c, i) => {
    const g = (t: number) => (c.macs / t / 1e6).toFixed(2).padStart(7);
    console.log(
      c.name.padEnd(48),
      (c.macs / 1e6).toFixed(1).padStart(6),
      tl[i].toFixed(2).padStart(9),
      g(tl[i]),
      to[i].toFixed(2).padStart(7),
      g(to[i]),
      (tl[i] / to[i]).toFixed(1).padStart(6),
    );
  });
  if (Deno.args.length === 2) await mobilenet(Deno.args[0], Deno.args[1]);
  Deno.exit(0);
} else {
  for (const c of CASES) {
    const lathe = latheRunner(c), ort = await ortRunner(c);
    Deno.bench({ name: `${c.name} onnxruntime`, group: c.name, baseline: true, fn: ort });
    Deno.bench({ name: `${c.name} lathe (${(c.macs / 1e6).toFixed(1)} MMAC)`, group: c.name, fn: lathe });
  }
}
