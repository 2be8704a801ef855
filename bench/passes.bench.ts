/**
 * Pass speed. The canonical pipeline on mobilenet_v2 (goal: under 50 ms), beside onnxruntime's session
 * creation with and without its graph optimizations (the peer: what ORT spends optimizing is the
 * difference). Rewrite throughput in pattern-match attempts per second on large synthetic graphs: one where
 * rules are tried and nothing fires (matching cost alone), one where a quarter of the nodes are rewritten
 * (matching plus splicing). The attempt rates are printed when the file loads.
 */
import * as ort from "onnxruntime-node";
import { importOnnxFile } from "../compiler/onnx/import.ts";
import { GraphBuilder, numbersConstant } from "../ir/builder.ts";
import type { Graph } from "../ir/graph.ts";
import { canonicalize } from "../passes/canonicalize.ts";
import "../passes/index.ts";
import { layoutRules } from "../passes/layout-propagation.ts";
import { noopRules } from "../passes/remove-noops.ts";
import { applyRules, type Rule } from "../passes/rewrite.ts";
import { corpusPath, HAVE_CORPUS } from "../tests/support/corpus.ts";

const MOBILENET = corpusPath("onnx/torch/mobilenet_v2.onnx");
const mobilenet = HAVE_CORPUS ? (await importOnnxFile(MOBILENET)).graph : undefined;
const mobilenetBytes = HAVE_CORPUS ? Deno.readFileSync(MOBILENET) : undefined;
// Its 35 BatchNormalizations fold (36 rewrites in all): the pipeline with real work to do.
const paddle = HAVE_CORPUS
  ? (await importOnnxFile(corpusPath("onnx/paddleocr/ch_ppocr_mobile_v2.0_cls_infer.onnx"))).graph
  : undefined;

/**
 * `blocks` repetitions of Transpose(NCHW->NHWC), Relu, Mul by a per-channel constant, Transpose back, Add
 * of a residual, and Sigmoid, on [1, 8, 4, 4]. With `transposes` false the Transposes are left out, so no
 * rule matches but every node is still tried.
 */
function synthetic(blocks: number, transposes: boolean): Graph {
  const b = new GraphBuilder("synthetic");
  let x = b.input("x", "f32", [1, 8, 4, 4]);
  const scale = b.constant(
    "scale",
    numbersConstant("f32", transposes ? [8] : [1, 8, 1, 1], [1, 2, 3, 4, 5, 6, 7, 8]),
  );
  for (let i = 0; i < blocks; i++) {
    const t = transposes ? b.op1("Transpose", [x], { perm: [0, 2, 3, 1] }) : x;
    const m = b.op1("Mul", [b.op1("Relu", [t]), scale]);
    const back = transposes ? b.op1("Transpose", [m], { perm: [0, 3, 1, 2] }) : m;
    x = b.op1("Sigmoid", [b.op1("Add", [back, x])]);
  }
  return b.build([x]);
}

const RULES: Rule[] = [...layoutRules, ...noopRules];
const quiet = synthetic(4000, false);
const busy = synthetic(100, true);

function rate(name: string, g: Graph, runs: number): void {
  applyRules(g, RULES, { driver: "greedy" });
  const t0 = performance.now();
  let attempts = 0, steps = 0;
  for (let r = 0; r < runs; r++) {
    const { stats } = applyRules(g, RULES, { driver: "greedy" });
    attempts += stats.attempts;
    steps += stats.steps;
  }
  const s = (performance.now() - t0) / 1000;
  console.log(
    `${name}: ${g.nodes.length} nodes, ${attempts / runs} attempts and ${steps / runs} rewrites per run, ` +
      `${((s / runs) * 1000).toFixed(1)} ms per run, ${(attempts / s / 1e6).toFixed(3)} M attempts/s` +
      (steps ? `, ${((s * 1000) / steps).toFixed(2)} ms per rewrite` : ""),
  );
}
rate("rewrite, nothing fires", quiet, 5);
rate("rewrite, layout sinking", busy, 2);

if (mobilenet && mobilenetBytes) {
  const t0 = performance.now();
  const after = canonicalize(mobilenet);
  console.log(
    `canonicalize mobilenet_v2: ${mobilenet.nodes.length} -> ${after.nodes.length} nodes, first run ${
      (performance.now() - t0).toFixed(1)
    } ms`,
  );
  Deno.bench({
    name: "canonicalize mobilenet_v2 (goal < 50 ms)",
    group: "mobilenet_v2",
    baseline: true,
    fn: () => void canonicalize(mobilenet),
  });
  if (paddle) {
    Deno.bench({
      name: "canonicalize paddleocr cls (224 nodes, 36 rewrites)",
      group: "paddleocr",
      fn: () => void canonicalize(paddle),
    });
  }
  for (const level of ["all", "disabled"] as const) {
    Deno.bench({
      name: `onnxruntime session create, optimizations ${level}`,
      group: "mobilenet_v2",
      fn: async () => {
        const s = await ort.InferenceSession.create(mobilenetBytes, {
          graphOptimizationLevel: level,
          intraOpNumThreads: 1,
        });
        await s.release();
      },
    });
  }
}

Deno.bench({
  name: `rewrite ${quiet.nodes.length} nodes, nothing fires`,
  group: "rewrite",
  fn: () => void applyRules(quiet, RULES, { driver: "greedy" }),
});
Deno.bench({
  name: `rewrite ${busy.nodes.length} nodes, layout sinking`,
  group: "rewrite",
  fn: () => void applyRules(busy, RULES, { driver: "greedy" }),
});
