/**
 * ONNX ops name element types by TensorProto.DataType code in attributes (RandomUniform's `dtype`,
 * QuantizeLinear's `output_dtype`, Multinomial's `dtype`); the IR keeps those attributes as ONNX wrote them,
 * so op declarations and kernels translate the code here.
 */
import type { ScalarDType } from "../dtype.ts";

const CODES: readonly (ScalarDType | undefined)[] = [
  undefined,
  "f32",
  "u8",
  "i8",
  "u16",
  "i16",
  "i32",
  "i64",
  "string",
  "bool",
  "f16",
  "f64",
  "u32",
  "u64",
  undefined,
  undefined,
  "bf16",
  undefined,
  undefined,
  undefined,
  undefined,
  "u4",
  "i4",
];

/** The Lathe element type for a TensorProto.DataType code, or undefined for codes Lathe has no type for. */
export function dtypeOfTensorProtoCode(code: number): ScalarDType | undefined {
  return Number.isInteger(code) && code >= 0 ? CODES[code] : undefined;
}
