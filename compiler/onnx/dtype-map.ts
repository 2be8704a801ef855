/** ONNX TensorProto.DataType codes and Lathe element types, both ways. */
import type { ScalarDType } from "../../ir/dtype.ts";
import { OnnxDataType as D } from "./tensor-data.ts";

const pairs: [number, ScalarDType][] = [
  [D.FLOAT, "f32"],
  [D.UINT8, "u8"],
  [D.INT8, "i8"],
  [D.UINT16, "u16"],
  [D.INT16, "i16"],
  [D.INT32, "i32"],
  [D.INT64, "i64"],
  [D.STRING, "string"],
  [D.BOOL, "bool"],
  [D.FLOAT16, "f16"],
  [D.DOUBLE, "f64"],
  [D.UINT32, "u32"],
  [D.UINT64, "u64"],
  [D.BFLOAT16, "bf16"],
  [D.UINT4, "u4"],
  [D.INT4, "i4"],
];
const toLathe = new Map(pairs);
const toOnnx = new Map(pairs.map(([a, b]) => [b, a]));

export function dtypeFromOnnx(code: number): ScalarDType | undefined {
  return toLathe.get(code);
}
export function dtypeToOnnx(d: ScalarDType): number {
  return toOnnx.get(d)!;
}
