/**
 * One-node ONNX models built with the independent `onnx-proto` encoder, run by both onnxruntime (the
 * reference) and Lathe (import + interpreter), for kernel behaviour the conformance suite does not cover.
 */
import * as onnxProtoModule from "onnx-proto";
import { importOnnx } from "../../compiler/onnx/import.ts";
import type { DType } from "../../ir/dtype.ts";
import { Session } from "../../runtime/interpreter.ts";
import type { Tensor } from "../../runtime/tensor.ts";
import { ortSession, runOrt } from "../reference/onnxruntime.ts";

const onnx: any = (onnxProtoModule as any).onnx ?? (onnxProtoModule as any).default.onnx;

const CODES: Record<string, number> = {
  f32: 1,
  u8: 2,
  i8: 3,
  u16: 4,
  i16: 5,
  i32: 6,
  i64: 7,
  string: 8,
  bool: 9,
  f16: 10,
  f64: 11,
  u32: 12,
  u64: 13,
};

export type AttrValue = number | string | number[] | { float: number } | { floats: number[] };

function attribute(name: string, v: AttrValue): Record<string, unknown> {
  if (typeof v === "string") return { name, type: 3, s: new TextEncoder().encode(v) };
  if (typeof v === "number") return Number.isInteger(v) ? { name, type: 2, i: v } : { name, type: 1, f: v };
  if (Array.isArray(v)) {
    return v.every(Number.isInteger) ? { name, type: 7, ints: v } : { name, type: 6, floats: v };
  }
  if ("float" in v) return { name, type: 1, f: v.float };
  return { name, type: 6, floats: v.floats };
}

function tensorProto(name: string, t: Tensor): Record<string, unknown> {
  const d = t.data as any;
  const bytes = t.dtype === "bool"
    ? Uint8Array.from(d)
    : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  return { name, dataType: CODES[t.dtype as string], dims: [...t.shape], rawData: bytes.slice() };
}

export interface NodeSpec {
  op: string;
  /** Runtime inputs (fed to both runtimes); null leaves an optional slot empty. */
  inputs: (readonly [string, Tensor] | null)[];
  /** Inputs baked into the model as initializers (ONNX constants). */
  constants?: Record<string, Tensor>;
  /** Input order of the node: names from inputs or constants, "" for an omitted optional input. */
  order?: string[];
  outputs: [string, DType][];
  attrs?: Record<string, AttrValue>;
  opset?: number;
}

export function singleNodeModel(s: NodeSpec): Uint8Array {
  const runtime = s.inputs.filter((x): x is readonly [string, Tensor] => x !== null);
  const order = s.order ?? s.inputs.map((x) => (x ? x[0] : ""));
  const vi = (name: string, dtype: DType, shape?: readonly number[]) => ({
    name,
    type: {
      tensorType: {
        elemType: CODES[dtype as string],
        ...(shape ? { shape: { dim: shape.map((d) => ({ dimValue: d })) } } : {}),
      },
    },
  });
  const model = onnx.ModelProto.fromObject({
    irVersion: 9,
    opsetImport: [{ domain: "", version: s.opset ?? 21 }],
    graph: {
      name: "g",
      node: [{
        opType: s.op,
        input: order,
        output: s.outputs.map((o) => o[0]),
        attribute: Object.entries(s.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      }],
      initializer: Object.entries(s.constants ?? {}).map(([k, t]) => tensorProto(k, t)),
      input: runtime.map(([n, t]) => vi(n, t.dtype, t.shape)),
      output: s.outputs.map(([n, d]) => vi(n, d)),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Runs the node in onnxruntime and in Lathe; returns both outputs by name. */
export async function runBoth(
  s: NodeSpec,
): Promise<{ ort: Record<string, Tensor>; lathe: Record<string, Tensor> }> {
  const bytes = singleNodeModel(s);
  const feeds: Record<string, Tensor> = {};
  for (const x of s.inputs) if (x) feeds[x[0]] = x[1];
  const ort = await runOrt(await ortSession(bytes), feeds);
  const model = importOnnx(bytes);
  const { outputs } = new Session(model.graph).run(feeds, { check: true });
  return { ort, lathe: outputs as Record<string, Tensor> };
}
