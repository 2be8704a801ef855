/**
 * One ONNX node run two ways: through onnxruntime (an independent reference, built as a one-node model) and
 * through Lathe's interpreter, so kernel tests can compare against a runtime Lathe did not write.
 */
import * as ort from "onnxruntime-node";
import { dtypeToOnnx } from "../../compiler/onnx/dtype-map.ts";
import { encodeModel, type ModelProto, type TensorProto } from "../../compiler/onnx/proto.ts";
import type { Attr } from "../../ir/attr.ts";
import { type AttrInit, GraphBuilder, toAttrs } from "../../ir/builder.ts";
import { constantBytes } from "../../ir/constant.ts";
import type { ScalarDType } from "../../ir/dtype.ts";
import { interpret } from "../../runtime/interpreter.ts";
import { Tensor, toConstant, type TypedArray } from "../../runtime/tensor.ts";

export interface Operand {
  name: string;
  tensor: Tensor;
  /** An initializer (a constant to Lathe's inference) rather than a graph input. */
  constant?: boolean;
}

export interface NodeCase {
  op: string;
  domain?: string;
  /** Default-domain opset of the model (default 21). */
  opset?: number;
  /** null for an omitted optional input. */
  inputs: (Operand | null)[];
  attrs?: Record<string, AttrInit>;
  outputs: number;
}

const ORT_TYPE: Partial<Record<ScalarDType, string>> = {
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
};
const FROM_ORT: Record<string, ScalarDType> = Object.fromEntries(
  Object.entries(ORT_TYPE).map(([k, v]) => [v, k as ScalarDType]),
);

export function tensor(dtype: ScalarDType, shape: readonly number[], values: ArrayLike<number>): Tensor {
  const t = new Tensor(dtype, shape, new (dtypeCtor(dtype))(values.length));
  const d = t.data as TypedArray;
  for (let i = 0; i < values.length; i++) {
    if (d instanceof BigInt64Array) d[i] = BigInt(values[i]);
    else if (d instanceof BigUint64Array) d[i] = BigInt(values[i]);
    else d[i] = values[i];
  }
  return t;
}

function dtypeCtor(d: ScalarDType): { new (n: number): TypedArray } {
  switch (d) {
    case "f32":
      return Float32Array;
    case "f64":
      return Float64Array;
    case "f16":
      return Float16Array as unknown as { new (n: number): TypedArray };
    case "i64":
      return BigInt64Array;
    case "u64":
      return BigUint64Array;
    case "i32":
      return Int32Array;
    case "u32":
      return Uint32Array;
    case "i16":
      return Int16Array;
    case "u16":
    case "bf16":
      return Uint16Array;
    case "i8":
    case "i4":
      return Int8Array;
    default:
      return Uint8Array;
  }
}

function attrProto(name: string, a: Attr): any {
  switch (a.type) {
    case "int":
      return { name, type: 2, i: a.value };
    case "float":
      return { name, type: 1, f: a.value };
    case "string":
      return { name, type: 3, s: new TextEncoder().encode(a.value) };
    case "ints":
      return { name, type: 7, ints: [...a.value] };
    case "floats":
      return { name, type: 6, floats: new Float32Array(a.value) };
    default:
      throw new Error(`attribute type ${a.type} not supported here`);
  }
}

function valueInfo(name: string, t: Tensor | undefined): any {
  if (!t) return { name };
  const dtype = t.dtype as ScalarDType;
  return {
    name,
    type: {
      tensorType: { elemType: dtypeToOnnx(dtype), shape: { dim: t.shape.map((d) => ({ dimValue: d })) } },
    },
  };
}

function trimNulls<T>(xs: readonly (T | null)[]): (T | null)[] {
  let n = xs.length;
  while (n > 0 && xs[n - 1] === null) n--;
  return xs.slice(0, n);
}

/** Runs the node in onnxruntime; `lathe` outputs give the output names' types (ORT needs none). */
export async function runOnnxruntime(c: NodeCase): Promise<Tensor[]> {
  const outs = Array.from({ length: c.outputs }, (_, i) => `out${i}`);
  const attrs = toAttrs(c.attrs ?? {});
  const initializer: TensorProto[] = [];
  const input: any[] = [];
  const feeds: Record<string, ort.Tensor> = {};
  for (const o of c.inputs) {
    if (!o) continue;
    const dtype = o.tensor.dtype as ScalarDType;
    if (o.constant) {
      const bytes = constantBytes(toConstant(o.tensor));
      initializer.push(
        {
          name: o.name,
          dims: [...o.tensor.shape],
          dataType: dtypeToOnnx(dtype),
          rawData: bytes,
        } as TensorProto,
      );
    } else {
      input.push(valueInfo(o.name, o.tensor));
      const type = ORT_TYPE[dtype];
      if (!type) throw new Error(`no onnxruntime type for ${dtype}`);
      feeds[o.name] = new ort.Tensor(type as any, o.tensor.data as any, [...o.tensor.shape]);
    }
  }
  const model = {
    irVersion: 10,
    producerName: "lathe-test",
    opsetImport: [
      { domain: "", version: c.opset ?? 21 },
      ...(c.domain ? [{ domain: c.domain, version: 1 }] : []),
    ],
    graph: {
      name: "g",
      node: [{
        // Trailing omitted inputs are dropped: onnxruntime-node aborts the process on a trailing "".
        input: trimNulls(c.inputs).map((o) => o?.name ?? ""),
        output: outs,
        opType: c.op,
        domain: c.domain ?? "",
        attribute: Object.entries(attrs).map(([k, v]) => attrProto(k, v)),
      }],
      initializer,
      input,
      output: outs.map((o) => ({ name: o })),
    },
  } as unknown as ModelProto;
  const session = await ort.InferenceSession.create(encodeModel(model));
  try {
    const r = await session.run(feeds);
    return outs.map((o) => {
      const t = r[o];
      const dtype = FROM_ORT[t.type];
      if (!dtype) throw new Error(`onnxruntime returned ${t.type}`);
      return new Tensor(dtype, [...t.dims], (t.data as TypedArray).slice());
    });
  } finally {
    await session.release();
  }
}

/** Runs the node through Lathe's interpreter with output checking on. */
export function runLathe(c: NodeCase): Tensor[] {
  const b = new GraphBuilder();
  const feeds: Record<string, Tensor> = {};
  const names = c.inputs.map((o) => {
    if (!o) return null;
    if (o.constant) return b.constant(o.name, toConstant(o.tensor));
    feeds[o.name] = o.tensor;
    return b.input(o.name, o.tensor.dtype, o.tensor.shape);
  });
  const key = c.domain ? `${c.domain}.${c.op}` : c.op;
  const outs = b.op(key, names, c.attrs ?? {}, c.outputs);
  const g = b.build(outs);
  const r = interpret(g, feeds, { check: true });
  return outs.map((o) => r.outputs[o] as Tensor);
}
