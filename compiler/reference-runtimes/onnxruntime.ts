/**
 * onnxruntime-node as a reference runtime for ONNX: run a model file or bytes on Lathe tensors and get Lathe
 * tensors back. One intra-op thread, so timings compare with Lathe's single-threaded runtime. `diff
 * --runtime onnxruntime` loads this module only when asked (the native addon is heavy).
 */
import * as ort from "onnxruntime-node";
import type { DType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { Tensor, type TypedArray } from "../../runtime/tensor.ts";

const TO_ORT: Record<string, ort.Tensor.Type> = {
  f32: "float32",
  f64: "float64",
  f16: "float16",
  i64: "int64",
  i32: "int32",
  i16: "int16",
  i8: "int8",
  u8: "uint8",
  u16: "uint16",
  u32: "uint32",
  u64: "uint64",
  bool: "bool",
  string: "string",
};
const FROM_ORT: Record<string, DType> = Object.fromEntries(
  Object.entries(TO_ORT).map(([k, v]) => [v, k as DType]),
);

export async function ortSession(model: string | Uint8Array, threads = 1): Promise<ort.InferenceSession> {
  const opts: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
  };
  try {
    return typeof model === "string"
      ? await ort.InferenceSession.create(model, opts)
      : await ort.InferenceSession.create(model, opts);
  } catch (e) {
    throw new LatheError(
      "runtime",
      `onnxruntime cannot load the model: ${(e as Error).message}`,
      typeof model === "string" ? { file: model } : {},
    );
  }
}

export function toOrt(t: Tensor): ort.Tensor {
  const type = TO_ORT[t.dtype as string];
  if (!type) {
    throw new LatheError("unsupported", `onnxruntime has no tensor type for ${JSON.stringify(t.dtype)}`);
  }
  const data = t.dtype === "bool" ? Uint8Array.from(t.data as Uint8Array) : t.data;
  return new ort.Tensor(type, data as any, [...t.shape]);
}

export function fromOrt(t: ort.Tensor): Tensor {
  const dtype = FROM_ORT[t.type];
  if (!dtype) throw new LatheError("unsupported", `unknown onnxruntime type ${t.type}`);
  let data = t.data as TypedArray | string[];
  if (dtype === "bool") data = Uint8Array.from(data as unknown as ArrayLike<number>, (x) => (x ? 1 : 0));
  return new Tensor(dtype, [...t.dims], data);
}

export async function runOrt(
  session: ort.InferenceSession,
  inputs: Record<string, Tensor>,
): Promise<Record<string, Tensor>> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) feeds[k] = toOrt(v);
  const res = await session.run(feeds);
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(res)) out[k] = fromOrt(v as ort.Tensor);
  return out;
}
