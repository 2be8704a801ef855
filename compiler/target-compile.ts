/**
 * `compile --target T`: import (or build the embedded int8 CNN), bring the graph to integer ops (a float
 * ONNX model is quantized with the quantize pass and lowered to QLinear ops; a QDQ model is lowered; TFLite
 * int8/uint8 models go straight in), or to the number format the target prefers (`preferredScheme`, e.g.
 * PoTAcc's power-of-two weights; the embedded float CNN stands in for a missing model then), or, for a GGUF
 * llama model, bind the token count and keep its ggml weights, unless the scheme names a ggml block type
 * (bfp's q4_k) and some matrices are in a type it does not keep (ggml-requantize); partition for the target,
 * simulate on seeded inputs (token ids drawn within the vocabulary; checking the
 * accelerated graph against the plain runtime bit for bit), and write DIR/model.lir (the partitioned IR),
 * DIR/weights.bin (the packed constants the calls stream, 64-byte aligned, indexed in report.json),
 * DIR/report.json and DIR/report.html.
 */
import { constantBytes } from "../ir/constant.ts";
import { isQuant, printDType } from "../ir/dtype.ts";
import type { Graph, Model } from "../ir/graph.ts";
import { printGraph } from "../ir/text.ts";
import { assertValid } from "../ir/verify.ts";
import "../passes/index.ts";
import "../passes/convert/tflite-to-onnx.ts";
import "../passes/convert/onnx-to-tflite.ts";
import { type PassStats, runPipeline } from "../passes/pass-manager.ts";
import { ggmlScheme, needsGgmlRequantize } from "../passes/quantize/ggml-requantize.ts";
import { partitionGraph, type PartitionResult, type Placement } from "../targets/partition.ts";
import { getTarget } from "../targets/registry.ts";
import { buildTargetReport, renderReportHtml, type TargetReport } from "../targets/report.ts";
import { simulatePartitioned } from "../targets/simulate.ts";
import { ensureDir, writeFileAtomic } from "./atomic-write.ts";
import { DEFAULT_INT8_MODEL_NAME, defaultInt8Model } from "./default-int8-model.ts";
import { DEFAULT_MODEL_NAME, defaultModel } from "./default-model.ts";
import "./formats.ts";
import { loadModel } from "./load-model.ts";
import { LatheError } from "../ir/errors.ts";
import { bindInputShapes } from "../passes/convert/static-shapes.ts";
import { Rng } from "../runtime/random.ts";
import { Tensor } from "../runtime/tensor.ts";

export interface TargetCompileOptions {
  model?: string;
  out?: string;
  target: string;
  /** Ops that must be offloaded (default: every op a rule of the target takes). */
  offload?: readonly string[];
  seed?: number;
  /** Quantize scheme for a float model (default: the target's preferredScheme, else int8). */
  scheme?: string;
  /** Whole shapes for symbolic inputs by name; a GGUF model's `tokens` defaults to [8]. */
  shapes?: Readonly<Record<string, readonly number[]>>;
  /** Skip the reference run (no bit-exactness check). */
  noCheck?: boolean;
  log?: (text: string) => void;
}

export interface TargetCompileResult {
  model: string;
  target: string;
  out: string;
  files: { ir: string; weights: string; report: string; html: string };
  /** Passes run to reach integer ops. */
  prepared: string;
  passes: PassStats[];
  partition: PartitionResult;
  /** Requested nodes left on the CPU (what --strict refuses). */
  missed: readonly Placement[];
  report: TargetReport;
  ms: { import: number; prepare: number; partition: number; simulate: number; write: number; total: number };
}

const INTEGER_OPS = new Set([
  "QLinearConv",
  "QLinearMatMul",
  "ConvInteger",
  "MatMulInteger",
  "com.microsoft.QLinearAdd",
]);

/**
 * The pipeline that brings a model to integer ops (or to `scheme`'s Lathe ops for a float model), or ""
 * when it already is there. GGUF models keep their ggml weights (the targets that take them read them),
 * except the matrices a ggml block type as the scheme re-encodes.
 */
export function integerPipeline(m: Model, scheme = "int8", form?: "tflite"): string {
  // A ggml block type as the scheme (bfp's q4_k): a GGUF's matrices in other types are re-encoded in it, a
  // float model gets such block weights from the quantize pass.
  const ggml = ggmlScheme(scheme);
  if (m.meta.format === "gguf") {
    return ggml && needsGgmlRequantize(m.graph, ggml) ? `ggml-requantize{type=${ggml}}` : "";
  }
  const q = ggml ? `scheme=bfp,weights=${ggml}` : `scheme=${scheme}`;
  const float = scheme !== "int8" ? `canonicalize,fold-batchnorm,quantize{${q}}` : form === "tflite"
    // The quantize command's path to a .tflite: TFLite's parameter choices, then the conversion that folds
    // the Q/DQ pairs into int8 tfl ops; the model keeps its interface layout.
    ? "canonicalize,fold-batchnorm,quantize{scheme=int8,tflite=true,activations=i8},onnx-to-tflite{layout=nchw}"
    : "canonicalize,fold-batchnorm,quantize{scheme=int8},lower-int8";
  if (m.meta.format === "tflite" || m.graph.nodes.some((n) => n.op.startsWith("tfl."))) {
    // A quantized TFLite model goes straight in; a float one is quantized as `quantize` does it, through
    // the ONNX form of its ops (its fp16 weights behind DEQUANTIZE fold to f32, the NHWC interface stays).
    const quantized = Object.values(m.graph.values).some((v) =>
      v.type.kind === "tensor" && isQuant(v.type.dtype)
    );
    return quantized ? "" : `tflite-to-onnx,${float}`;
  }
  const ops = new Set(m.graph.nodes.map((n) => n.op));
  if ([...ops].some((o) => INTEGER_OPS.has(o)) && !ops.has("DequantizeLinear")) return "";
  if (ops.has("QuantizeLinear") || ops.has("DequantizeLinear")) return "lower-int8";
  return float;
}

/** The constants the calls stream, packed back to back at 64-byte boundaries. */
function packWeights(g: Graph): { bytes: Uint8Array; index: NonNullable<TargetReport["weights"]> } {
  const index: {
    name: string;
    call: string;
    offset: number;
    bytes: number;
    dtype: string;
    shape: readonly number[];
  }[] = [];
  const seen = new Set<string>();
  let size = 0;
  for (const n of g.nodes) {
    if (n.op !== "lathe.AccelCall" && n.op !== "lathe.RequantizeF32") continue;
    for (const i of n.inputs) {
      const c = i ? g.constants[i] : undefined;
      if (!c || seen.has(i!)) continue;
      seen.add(i!);
      size = Math.ceil(size / 64) * 64;
      const b = constantBytes(c).byteLength;
      index.push({
        name: i!,
        call: n.id,
        offset: size,
        bytes: b,
        dtype: printDType(c.dtype),
        shape: c.shape,
      });
      size += b;
    }
  }
  const bytes = new Uint8Array(size);
  for (const e of index) bytes.set(constantBytes(g.constants[e.name]), e.offset);
  return { bytes, index };
}

function baseName(p: string): string {
  const b = p.slice(p.lastIndexOf("/") + 1);
  const d = b.lastIndexOf(".");
  return d > 0 ? b.slice(0, d) : b;
}

/**
 * The token ids compile simulates a llama graph on: uniform over the vocabulary (the logits' last dim),
 * Rng(seed + i) for input i as seededInputs; undefined when the graph is not a llama.
 */
export function seededTokens(g: Graph, seed: number): Record<string, Tensor> | undefined {
  const i = g.inputs.indexOf("tokens");
  const t = g.values.tokens?.type, y = g.values[g.outputs[0]]?.type;
  if (i < 0 || g.inputs.length !== 1 || t?.kind !== "tensor" || y?.kind !== "tensor") return undefined;
  const n = t.shape?.[0], vocab = y.shape?.[y.shape.length - 1];
  if (typeof n !== "number" || typeof vocab !== "number" || vocab < 1) {
    throw new LatheError("usage", "the token count and vocabulary need static sizes (--shape tokens=T)");
  }
  const rng = new Rng(seed + i);
  const ids = new Int32Array(n);
  for (let k = 0; k < n; k++) ids[k] = rng.int(0, vocab);
  return { tokens: new Tensor("i32", [n], ids) };
}

export async function compileForTarget(opts: TargetCompileOptions): Promise<TargetCompileResult> {
  const target = getTarget(opts.target);
  const scheme = opts.scheme ?? target.params.preferredScheme ?? "int8";
  if (!/^[a-z0-9_]+$/.test(scheme)) {
    throw new LatheError(
      "usage",
      `--scheme expects a quantize scheme name (int8, pot, apot, msq, q4_k, ...), got '${scheme}'`,
    );
  }
  const t0 = performance.now();
  const embedded = scheme === "int8" ? defaultInt8Model : defaultModel;
  let model: Model = opts.model ? await loadModel(opts.model) : embedded();
  const name = opts.model
    ? baseName(opts.model)
    : scheme === "int8"
    ? DEFAULT_INT8_MODEL_NAME
    : DEFAULT_MODEL_NAME;
  const gguf = model.meta.format === "gguf";
  if (gguf || opts.shapes) {
    const shapes = gguf ? { tokens: [8], ...opts.shapes } : opts.shapes;
    model = { ...model, graph: bindInputShapes(model.graph, { shapes }) };
  }
  assertValid(model.graph);
  const t1 = performance.now();
  const prepared = integerPipeline(model, scheme, target.params.integerForm);
  let passes: PassStats[] = [];
  if (prepared) {
    opts.log?.(`preparing: ${prepared}`);
    const r = await runPipeline(model, prepared, {
      progress: (pass, done, total, note) => opts.log?.(`${pass}: ${done}/${total}${note ? ` ${note}` : ""}`),
    });
    model = r.model;
    passes = r.stats;
  }
  const t2 = performance.now();
  const partition = partitionGraph(model.graph, target, { offload: opts.offload });
  assertValid(partition.graph);
  const t3 = performance.now();
  const seed = opts.seed ?? 0;
  const inputs = gguf ? seededTokens(model.graph, seed) : undefined;
  const run = simulatePartitioned(model.graph, partition.graph, { seed, inputs, reference: !opts.noCheck });
  const t4 = performance.now();
  const report0 = buildTargetReport(
    name,
    model.graph,
    partition,
    target,
    opts.noCheck ? undefined : { run, seed },
  );
  const out = opts.out ?? `out/${name}.${target.params.name}`;
  await ensureDir(out);
  const { bytes, index } = packWeights(partition.graph);
  const report: TargetReport = { ...report0, weights: index };
  const files = {
    ir: `${out}/model.lir`,
    weights: `${out}/weights.bin`,
    report: `${out}/report.json`,
    html: `${out}/report.html`,
  };
  await writeFileAtomic(files.ir, printGraph(partition.graph) + "\n");
  await writeFileAtomic(files.weights, bytes);
  await writeFileAtomic(files.report, JSON.stringify(report, null, 2) + "\n");
  await writeFileAtomic(files.html, renderReportHtml(report));
  const t5 = performance.now();
  return {
    model: name,
    target: target.params.name,
    out,
    files,
    prepared,
    passes,
    partition,
    missed: partition.missed,
    report,
    ms: {
      import: t1 - t0,
      prepare: t2 - t1,
      partition: t3 - t2,
      simulate: t4 - t3,
      write: t5 - t4,
      total: t5 - t0,
    },
  };
}
