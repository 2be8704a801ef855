/**
 * Conv and MatMul throughput on MobileNet-/SqueezeNet-like shapes: Lathe's kernels beside onnxruntime-node
 * (one intra-op thread) on the same single-node models. `deno bench -A bench/gemm.bench.ts` gives the
 * per-group ratios; `deno run -A bench/gemm.bench.ts` prints a GFLOP/s table (best of several runs).
 */
import { GraphBuilder, modelOf } from "../ir/builder.ts";
import type { Graph } from "../ir/graph.ts";
import { exportOnnx } from "../compiler/onnx/export.ts";
import { Session } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { ortSession, toOrt } from "../tests/reference/onnxruntime.ts";

interface Case {
  name: string;
  flops: number;
  graph: Graph;
  inputs: Record<string, Tensor>;
}

function values(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

function conv(C: number, H: number, M: number, k: number, s: number, group = 1): Case {
  const p = (k - 1) >> 1;
  const b = new GraphBuilder();
  b.input("x", "f32", [1, C, H, H]);
  b.constantOf("w", "f32", [M, C / group, k, k], values(M * (C / group) * k * k, 1));
  b.constantOf("b", "f32", [M], values(M, 2));
  const y = b.op1("Conv", ["x", "w", "b"], {
    kernel_shape: [k, k],
    strides: [s, s],
    pads: [p, p, p, p],
    group,
  });
  const graph = b.build([y]);
  const oh = Math.floor((H + 2 * p - k) / s) + 1;
  const kind = group === 1 ? (k === 1 ? "1x1" : `${k}x${k}`) : `dw${k}x${k}`;
  return {
    name: `conv ${kind}/s${s} ${C}->${M} @${H}`,
    flops: 2 * M * (C / group) * k * k * oh * oh,
    graph,
    inputs: { x: new Tensor("f32", [1, C, H, H], values(C * H * H, 3)) },
  };
}

function matmul(M: number, K: number, N: number): Case {
  const b = new GraphBuilder();
  b.input("a", "f32", [M, K]);
  b.constantOf("w", "f32", [K, N], values(K * N, 4));
  const y = b.op1("MatMul", ["a", "w"]);
  return {
    name: `matmul ${M}x${K}x${N}`,
    flops: 2 * M * N * K,
    graph: b.build([y]),
    inputs: { a: new Tensor("f32", [M, K], values(M * K, 5)) },
  };
}

const CASES: Case[] = [
  conv(3, 224, 32, 3, 2),
  conv(32, 112, 32, 3, 1, 32),
  conv(16, 112, 96, 1, 1),
  conv(96, 112, 96, 3, 2, 96),
  conv(24, 56, 144, 1, 1),
  conv(144, 56, 24, 1, 1),
  conv(384, 14, 64, 1, 1),
  conv(960, 7, 160, 1, 1),
  conv(320, 7, 1280, 1, 1),
  conv(16, 55, 64, 3, 1),
  conv(64, 13, 256, 3, 1),
  conv(512, 13, 1000, 1, 1),
  matmul(128, 256, 256),
  matmul(1, 1280, 1000),
];

async function prepare(c: Case) {
  const lathe = new Session(c.graph);
  const ort = await ortSession(exportOnnx(modelOf(c.graph)), 1);
  const feeds = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, toOrt(v)]));
  return { lathe: () => void lathe.run(c.inputs), ort: async () => void (await ort.run(feeds)) };
}

async function best(fn: () => void | Promise<void>, reps = 30): Promise<number> {
  for (let i = 0; i < 5; i++) await fn();
  let t = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    t = Math.min(t, performance.now() - t0);
  }
  return t;
}

if (import.meta.main) {
  console.log("case".padEnd(34), "lathe ms  GFLOP/s   ort ms  GFLOP/s   ratio");
  for (const c of CASES) {
    const r = await prepare(c);
    const tl = await best(r.lathe), to = await best(r.ort);
    const gf = (t: number) => (c.flops / t / 1e6).toFixed(1).padStart(7);
    console.log(
      c.name.padEnd(34),
      tl.toFixed(3).padStart(8),
      gf(tl),
      to.toFixed(3).padStart(8),
      gf(to),
      (tl / to).toFixed(2).padStart(7),
    );
  }
} else {
  for (const c of CASES) {
    const r = await prepare(c);
    Deno.bench({ name: `${c.name} onnxruntime`, group: c.name, baseline: true, fn: r.ort });
    Deno.bench({ name: `${c.name} lathe (${(c.flops / 1e6).toFixed(1)} MFLOP)`, group: c.name, fn: r.lathe });
  }
}
