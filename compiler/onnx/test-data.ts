/** Reading the `.pb` files of ONNX test data sets (bare TensorProtos) into runtime values. */
import { checkConstant, type Constant } from "../../ir/constant.ts";
import { LatheError } from "../../ir/errors.ts";
import { fromConstant, type RValue } from "../../runtime/tensor.ts";
import { dtypeFromOnnx } from "./dtype-map.ts";
import { decodeTensor, type TensorProto } from "./proto.ts";
import { onnxDataTypeName, tensorBytes } from "./tensor-data.ts";

export function tensorProtoToConstant(t: TensorProto, file: string): Constant {
  const code = t.dataType ?? 0;
  const dtype = dtypeFromOnnx(code);
  if (!dtype) throw new LatheError("unsupported", `element type ${onnxDataTypeName(code)}`, { file });
  const tb = tensorBytes(t, { file });
  const c: Constant = dtype === "string" ? { dtype, shape: tb.dims, strings: tb.strings ?? [] } : { dtype, shape: tb.dims, bytes: tb.bytes };
  checkConstant(c, { file });
  return c;
}

export async function readTensorPb(path: string): Promise<{ name?: string; value: RValue }> {
  const bytes = await Deno.readFile(path);
  const t = decodeTensor(bytes, path);
  return { name: t.name, value: fromConstant(tensorProtoToConstant(t, path)) };
}
