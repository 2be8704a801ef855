/**
 * LiteRT (TFLite's runtime, XNNPACK in WebAssembly, from npm `@litertjs/core`) as a reference runtime for
 * TFLite, used by tests and by `diff --runtime litert`. The package targets browsers; outside one it loads
 * after a small shim: the emscripten loader is a classic script that expects `importScripts`, and in node
 * mode it wants `require` and `__dirname`.
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { LatheError } from "../../ir/errors.ts";
import { readTflite } from "../tflite/reader.ts";
import { writeTflite } from "../tflite/writer.ts";

/** One tensor handed to or returned by LiteRT. */
export interface LiteRtTensor {
  readonly data: Float32Array | Int32Array | Uint8Array;
  readonly shape: readonly number[];
  readonly dtype: "float32" | "int32" | "uint8";
}

/** What LiteRT reports for a model's signature inputs or outputs. */
export interface LiteRtTensorInfo {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: string;
}

// deno-lint-ignore no-explicit-any
type LiteRtModule = any;

let loading: Promise<LiteRtModule | undefined> | undefined;
let loadMessage = "";

/** Why the last load failed, or "" when it loaded. */
export function liteRtLoadMessage(): string {
  return loadMessage;
}

/** Loads LiteRT once per process; resolves undefined (see liteRtLoadMessage) when it cannot load here. */
export function loadLiteRt(): Promise<LiteRtModule | undefined> {
  loading ??= load();
  return loading;
}

async function load(): Promise<LiteRtModule | undefined> {
  try {
    const lt = await import("@litertjs/core");
    const pkgUrl = import.meta.resolve("@litertjs/core");
    const wasmDir = fileURLToPath(new URL("../wasm/", pkgUrl));
    const g = globalThis as Record<string, unknown>;
    g.self ??= globalThis;
    g.require ??= createRequire(wasmDir);
    g.__dirname ??= wasmDir;
    // A classic script: its top-level `var ModuleFactory` must land on the global object, which an
    // indirect eval gives.
    g.importScripts ??= (url: string) => {
      const path = url.startsWith("file:") ? fileURLToPath(url) : url;
      (0, eval)(Deno.readTextFileSync(path));
    };
    await lt.loadLiteRt(wasmDir);
    loadMessage = "";
    return lt;
  } catch (e) {
    loadMessage = `LiteRT could not load: ${e instanceof Error ? e.message : String(e)}`;
    return undefined;
  }
}

/** Compiles a model on the wasm (CPU) accelerator and reports its default signature's inputs and outputs. */
export async function inspectLiteRt(
  bytes: Uint8Array,
): Promise<{ inputs: LiteRtTensorInfo[]; outputs: LiteRtTensorInfo[] }> {
  const lt = await requireLiteRt();
  const model = await lt.loadAndCompile(bytes, { accelerator: "wasm" });
  try {
    const info = (d: { name: string; shape: Int32Array; dtype: string }) => ({
      name: d.name,
      shape: Array.from(d.shape),
      dtype: d.dtype,
    });
    return { inputs: model.getInputDetails().map(info), outputs: model.getOutputDetails().map(info) };
  } finally {
    model.delete();
  }
}

/** Runs a model once on the wasm accelerator; outputs are copied out of the wasm heap. */
export async function runLiteRt(
  bytes: Uint8Array,
  inputs: readonly (Float32Array | Int32Array | Uint8Array)[],
): Promise<LiteRtTensor[]> {
  const lt = await requireLiteRt();
  const model = await lt.loadAndCompile(bytes, { accelerator: "wasm" });
  const details = model.getInputDetails();
  const tensors = inputs.map((data, i) => new lt.Tensor(data, Array.from(details[i].shape as Int32Array)));
  try {
    const results = await model.run(tensors);
    const out: LiteRtTensor[] = [];
    for (const r of results) {
      const arr = r.toTypedArray();
      out.push({ data: arr.slice(), shape: Array.from(r.type.layout.dimensions), dtype: r.type.dtype });
      r.delete();
    }
    return out;
  } finally {
    for (const t of tensors) t.delete();
    model.delete();
  }
}

async function requireLiteRt(): Promise<LiteRtModule> {
  const lt = await loadLiteRt();
  if (!lt) throw new LatheError("runtime", loadMessage);
  return lt;
}

/**
 * The file with every tensor whose shape_signature has -1 given a static shape from `shapes` (by tensor
 * name): LiteRT.js runs a model only at the sizes its tensors declare. Operators and weights are untouched.
 */
export function withStaticShapes(
  bytes: Uint8Array,
  shapes: ReadonlyMap<string, readonly number[]>,
): Uint8Array {
  const m = readTflite(bytes);
  let changed = false;
  for (const sg of m.subgraphs) {
    for (const t of sg.tensors) {
      const s = shapes.get(t.name);
      if (!t.shapeSignature || !s) continue;
      t.shape = [...s];
      t.shapeSignature = null;
      changed = true;
    }
  }
  return changed ? writeTflite(m) : bytes;
}
