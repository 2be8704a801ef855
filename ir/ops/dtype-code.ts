/**
 * Element-type attributes (SequenceEmpty's dtype, the window ops' output_datatype) hold ONNX
 * TensorProto.DataType codes; code that builds graphs directly may also give a Lathe type name. Both are
 * accepted, and anything else is a clear error rather than an undefined type.
 */
import { parseDType, type ScalarDType } from "../dtype.ts";
import { LatheError } from "../errors.ts";
import { dtypeOfTensorProtoCode } from "./tensor-proto-dtype.ts";

/** The element type an attribute names; `what` is the attribute, for the message. */
export function dtypeAttr(v: unknown, what: string): ScalarDType {
  if (typeof v === "number") {
    const d = dtypeOfTensorProtoCode(v);
    if (d === undefined) {
      throw new LatheError("unsupported", `${what}: element type code ${v} is not supported`);
    }
    return d;
  }
  if (typeof v === "string") {
    const d = parseDType(v);
    if (typeof d !== "string") {
      throw new LatheError("unsupported", `${what}: quantized type ${v} is not allowed`);
    }
    return d;
  }
  throw new LatheError("verify", `${what} must name an element type`);
}
