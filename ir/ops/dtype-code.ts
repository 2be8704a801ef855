/**
 * Element-type attributes (SequenceEmpty's dtype, the window ops' output_datatype, MelWeightMatrix's) arrive
 * as ONNX TensorProto.DataType codes from the importer, or as Lathe type names from code that builds
 * graphs directly; both are accepted so the declaration does not depend on which.
 */
import { parseDType, type ScalarDType } from "../dtype.ts";
import { LatheError } from "../errors.ts";

const BY_CODE: Readonly<Record<number, ScalarDType>> = {
  1: "f32",
  2: "u8",
  3: "i8",
  4: "u16",
  5: "i16",
  6: "i32",
  7: "i64",
  8: "string",
  9: "bool",
  10: "f16",
  11: "f64",
  12: "u32",
  13: "u64",
  16: "bf16",
  21: "u4",
  22: "i4",
};

/** The element type an attribute names; `what` is the attribute, for the message. */
export function dtypeAttr(v: unknown, what: string): ScalarDType {
  if (typeof v === "number") {
    const d = BY_CODE[v];
    if (d === undefined) throw new LatheError("unsupported", `${what}: element type code ${v} is not supported`);
    return d;
  }
  if (typeof v === "string") {
    const d = parseDType(v);
    if (typeof d !== "string") throw new LatheError("unsupported", `${what}: quantized type ${v} is not allowed`);
    return d;
  }
  throw new LatheError("verify", `${what} must name an element type`);
}
