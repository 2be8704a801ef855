/**
 * Runs a written model in its own framework's runtime (onnxruntime for ONNX, LiteRT for TFLite), so a
 * repaired file is shown to load and compute there, not only in Lathe's interpreter.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Model } from "../../ir/graph.ts";
import { Session } from "../../runtime/interpreter.ts";
import { Tensor } from "../../runtime/tensor.ts";

export type FrameworkRuntime = "onnxruntime" | "litert";

export function runtimeFor(format: string): FrameworkRuntime | undefined {
  return format === "onnx" ? "onnxruntime" : format === "tflite" ? "litert" : undefined;
}

/** Every sample's outputs, by the model's output names, from the framework runtime. */
export async function runInFramework(
  path: string,
  model: Model,
  feeds: readonly Readonly<Record<string, Tensor>>[],
): Promise<{ runtime: FrameworkRuntime; outputs: Record<string, Tensor>[] }> {
  const runtime = runtimeFor(model.meta.format);
  if (!runtime) throw new LatheError("unsupported", `no framework runtime for ${model.meta.format} models`);
  if (runtime === "onnxruntime") {
    const ort = await import("../reference-runtimes/onnxruntime.ts");
    const session = await ort.ortSession(path);
    const outputs: Record<string, Tensor>[] = [];
    try {
      for (const x of feeds) outputs.push(await ort.runOrt(session, { ...x }));
    } finally {
      await session.release();
    }
    return { runtime, outputs };
  }
  // LiteRT's WebAssembly logs to console.log; that is diagnostics, and stdout belongs to --json.
  const log = console.log;
  console.log = console.error;
  try {
    return { runtime, outputs: await runLiteRtOutputs(path, model, feeds) };
  } finally {
    console.log = log;
  }
}

async function runLiteRtOutputs(
  path: string,
  model: Model,
  feeds: readonly Readonly<Record<string, Tensor>>[],
): Promise<Record<string, Tensor>[]> {
  const lt = await import("../reference-runtimes/litert.ts");
  if (!(await lt.loadLiteRt())) throw new LatheError("runtime", lt.liteRtLoadMessage());
  const g = model.graph;
  // LiteRT runs at the sizes the file declares: the first sample's sizes make symbolic dims static.
  const shapes = new Map<string, readonly number[]>();
  new Session(g).run(feeds[0], { observe: (name, v) => v instanceof Tensor && shapes.set(name, v.shape) });
  let bytes: Uint8Array;
  try {
    bytes = lt.withStaticShapes(await Deno.readFile(path), shapes);
  } catch (e) {
    throw new LatheError("io", `cannot read: ${(e as Error).message}`, { file: path });
  }
  const info = await lt.inspectLiteRt(bytes);
  const outputs: Record<string, Tensor>[] = [];
  const inputs = g.inputs.filter((i) => !g.constants[i]);
  for (const x of feeds) {
    const arrays = inputs.map((i) => {
      const d = x[i]?.data;
      if (!(d instanceof Float32Array || d instanceof Int32Array || d instanceof Uint8Array)) {
        throw new LatheError(
          "unsupported",
          `LiteRT takes float32, int32 or uint8 inputs, not ${String(x[i]?.dtype)} (${i})`,
        );
      }
      return d;
    });
    const res = await lt.runLiteRt(bytes, arrays);
    const o: Record<string, Tensor> = {};
    // LiteRT lists outputs in the signature's order, which names them; by position otherwise.
    g.outputs.forEach((name, k) => {
      const at = info.outputs.findIndex((d) => d.name === name);
      const r = res[at >= 0 ? at : k];
      if (r) {
        o[name] = new Tensor(
          r.dtype === "float32" ? "f32" : r.dtype === "int32" ? "i32" : "u8",
          r.shape,
          r.data,
        );
      }
    });
    outputs.push(o);
  }
  return outputs;
}
