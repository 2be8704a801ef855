/**
 * `run`: executes a model in Lathe's runtime and writes every output as `.npy` plus `outputs.json`.
 *
 * Inputs not given are generated from the seed: input number i (in graph order) draws from
 * Rng(seed + i); floats uniform in [-1, 1), integers uniform in [0, 10), bools 0 or 1. Symbolic dimensions
 * are 1 unless set with `dims`.
 */
import { type IntegerArithmetic, setIntegerArithmetic } from "../runtime/tflite/requantize.ts";
import { isQuant, storageOf } from "../ir/dtype.ts";
import { LatheError } from "../ir/errors.ts";
import type { Graph, Model } from "../ir/graph.ts";
import { printValueType } from "../ir/value-type.ts";
import { Session } from "../runtime/interpreter.ts";
import { Rng } from "../runtime/random.ts";
import { alloc, OptionalValue, type RValue, Sequence, Tensor } from "../runtime/tensor.ts";
import { ensureDir, writeFileAtomic } from "./atomic-write.ts";
import { readNpy, writeNpy } from "./npy.ts";
import "../passes/index.ts";
import { runPipeline } from "../passes/pass-manager.ts";

export interface RunModelOptions {
  out?: string;
  /** Input name to `.npy` path. */
  inputs?: Record<string, string>;
  seed?: number;
  repeat?: number;
  /** Sizes for symbolic dimensions. */
  dims?: Record<string, number>;
  /** Token ids for a language model's `tokens` input (GGUF llama graphs). */
  tokens?: readonly number[];
  /** A pass pipeline to run before executing (e.g. `canonicalize,fuse-conv`). */
  passes?: string;
  /**
   * The integer arithmetic TFLite's int8/uint8 kernels reproduce: TFLite's reference build (default,
   * double rounding), its single-rounding build, or what LiteRT's CPU path (XNNPACK) computes.
   */
  intArithmetic?: IntegerArithmetic;
}

export interface RunModelResult {
  outputs: Record<string, { file?: string; dtype: string; shape: number[] }>;
  inputs: Record<string, { source: string; dtype: string; shape: number[] }>;
  latency_ms?: { median: number; min: number; runs: number };
  values: Record<string, RValue>;
}

export function generateInput(
  g: Graph,
  name: string,
  index: number,
  seed: number,
  dims: Record<string, number> = {},
): Tensor {
  const t = g.values[name]?.type;
  if (!t || t.kind !== "tensor") {
    throw new LatheError("usage", `input ${name} is not a tensor; give it with --input`);
  }
  if (!t.shape) throw new LatheError("usage", `input ${name} has unknown rank; give it with --input`);
  const shape = t.shape.map((d) => (typeof d === "number" ? d : dims[d] ?? 1));
  const x = alloc(t.dtype, shape);
  const rng = new Rng(seed + index);
  const d = x.data;
  if (d instanceof Array) throw new LatheError("usage", `string input ${name}; give it with --input`);
  const dt = t.dtype;
  for (let i = 0; i < d.length; i++) {
    if (dt === "f32" || dt === "f64" || dt === "f16") (d as Float32Array)[i] = rng.uniform(-1, 1);
    else if (dt === "bool") (d as Uint8Array)[i] = rng.int(0, 2);
    else if (dt === "i64" || dt === "u64") (d as BigInt64Array)[i] = BigInt(rng.int(0, 10));
    else if (dt === "bf16") {
      (d as Uint16Array)[i] = new Uint32Array(new Float32Array([rng.uniform(-1, 1)]).buffer)[0] >>> 16;
    } else (d as Int32Array)[i] = rng.int(0, 10);
  }
  return x;
}

/** A quantized input's .npy holds its codes (numpy has no quantized types): they take the input's type. */
function codesAs(t: Tensor, g: Graph, name: string): Tensor {
  const want = g.values[name]?.type;
  if (want?.kind !== "tensor" || !isQuant(want.dtype) || t.dtype !== storageOf(want.dtype)) return t;
  return new Tensor(want.dtype, t.shape, t.data);
}

export async function runModel(model: Model, opts: RunModelOptions = {}): Promise<RunModelResult> {
  if (opts.passes) model = (await runPipeline(model, opts.passes)).model;
  const g = model.graph;
  const seed = opts.seed ?? 0;
  const given = opts.inputs ?? {};
  for (const k of Object.keys(given)) {
    if (!g.inputs.includes(k)) {
      throw new LatheError("usage", `${k} is not an input (inputs: ${g.inputs.join(", ")})`);
    }
  }
  if (opts.tokens && !g.inputs.includes("tokens")) {
    throw new LatheError(
      "usage",
      `tokens given but the model has no tokens input (inputs: ${g.inputs.join(", ")})`,
    );
  }
  const inputs: Record<string, RValue> = {};
  const inputInfo: RunModelResult["inputs"] = {};
  let idx = 0;
  for (const name of g.inputs) {
    if (g.constants[name] && !given[name]) continue;
    const t = given[name]
      ? codesAs(await readNpy(given[name]), g, name)
      : name === "tokens" && opts.tokens
      ? tokenTensor(g, opts.tokens)
      : generateInput(g, name, idx, seed, opts.dims);
    idx++;
    inputs[name] = t;
    const source = given[name] ?? (name === "tokens" && opts.tokens ? "tokens" : `seed ${seed}`);
    inputInfo[name] = { source, dtype: String(t.dtype), shape: [...t.shape] };
  }
  const session = new Session(g);
  const repeat = Math.max(1, opts.repeat ?? 1);
  const times: number[] = [];
  let values: Record<string, RValue> = {};
  const prev = opts.intArithmetic ? setIntegerArithmetic(opts.intArithmetic) : undefined;
  try {
    for (let r = 0; r < repeat; r++) {
      const t0 = performance.now();
      values = session.run(inputs, { seed }).outputs;
      times.push(performance.now() - t0);
    }
  } finally {
    if (prev) setIntegerArithmetic(prev);
  }
  const result: RunModelResult = { outputs: {}, inputs: inputInfo, values };
  if (opts.repeat && opts.repeat > 1) {
    const s = [...times].sort((a, b) => a - b);
    result.latency_ms = { median: s[Math.floor(s.length / 2)], min: s[0], runs: s.length };
  }
  if (opts.out) await ensureDir(opts.out);
  const files: Record<string, string> = {};
  for (const [i, name] of g.outputs.entries()) {
    const v = values[name];
    if (!(v instanceof Tensor)) {
      const kind = v instanceof Sequence ? "sequence" : v instanceof OptionalValue ? "optional" : "value";
      throw new LatheError("unsupported", `output ${name} is a ${kind}; only tensors are written as .npy`);
    }
    // Each output is NAME.npy (a language model's `logits` gives logits.npy); names that would collide after
    // making them file-safe get their index.
    const safe = name.replace(/[^A-Za-z0-9_.-]/g, "_");
    const file = g.outputs.filter((o) =>
            o.replace(/[^A-Za-z0-9_.-]/g, "_") === safe
          ).length > 1 || safe === "outputs.json"
      ? `${i}_${safe}.npy`
      : `${safe}.npy`;
    if (opts.out) await writeNpy(`${opts.out}/${file}`, v);
    files[name] = file;
    result.outputs[name] = { ...(opts.out ? { file } : {}), dtype: String(v.dtype), shape: [...v.shape] };
  }
  if (opts.out) {
    const json = {
      outputs: files,
      ...(result.latency_ms ? { latency_ms: result.latency_ms } : {}),
      inputs: inputInfo,
    };
    await writeFileAtomic(`${opts.out}/outputs.json`, JSON.stringify(json, null, 2) + "\n");
  }
  return result;
}

/** Token ids as the `tokens` input's element type (i32 or i64). */
function tokenTensor(g: Graph, tokens: readonly number[]): Tensor {
  const t = g.values.tokens?.type;
  const dtype = t?.kind === "tensor" ? t.dtype : "i32";
  if (dtype !== "i32" && dtype !== "i64") {
    throw new LatheError("usage", `the tokens input is ${String(dtype)}, not integer`);
  }
  for (const v of tokens) {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new LatheError("usage", `token ids must be non-negative integers, got ${v}`);
    }
  }
  const x = alloc(dtype, [tokens.length]);
  if (dtype === "i64") tokens.forEach((v, i) => ((x.data as BigInt64Array)[i] = BigInt(v)));
  else (x.data as Int32Array).set(tokens);
  return x;
}

export function describeInputs(g: Graph): string {
  return g.inputs.map((i) => `${i}: ${g.values[i] ? printValueType(g.values[i].type) : "?"}`).join(", ");
}
