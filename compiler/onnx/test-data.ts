/**
 * Reading the `.pb` files of ONNX test data sets into runtime values. A file holds a bare TensorProto,
 * SequenceProto or OptionalProto; nothing in the bytes says which, so the graph input's or output's declared
 * type decides (formats.md §3.1).
 */
import { checkConstant, type Constant } from "../../ir/constant.ts";
import { type DType, dtypeEquals, printDType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { printValueType, type ValueType } from "../../ir/value-type.ts";
import { fromConstant, OptionalValue, type RValue, Sequence, type Tensor } from "../../runtime/tensor.ts";
import { dtypeFromOnnx } from "./dtype-map.ts";
import {
  decodeOptional,
  decodeSequence,
  decodeTensor,
  type OptionalProto,
  type SequenceProto,
  type TensorProto,
  ValueElemType as E,
} from "./proto.ts";
import { onnxDataTypeName, tensorBytes } from "./tensor-data.ts";

export function tensorProtoToConstant(t: TensorProto, file: string): Constant {
  const code = t.dataType ?? 0;
  const dtype = dtypeFromOnnx(code);
  if (!dtype) throw new LatheError("unsupported", `element type ${onnxDataTypeName(code)}`, { file });
  const tb = tensorBytes(t, { file });
  const c: Constant = dtype === "string"
    ? { dtype, shape: tb.dims, strings: tb.strings ?? [] }
    : { dtype, shape: tb.dims, bytes: tb.bytes };
  checkConstant(c, { file });
  return c;
}

export async function readTensorPb(path: string): Promise<{ name?: string; value: RValue }> {
  const bytes = await readBytes(path);
  const t = decodeTensor(bytes, path);
  return { name: t.name, value: fromConstant(tensorProtoToConstant(t, path)) };
}

/**
 * Reads one test value. `expectedType` is the declared type of the graph input or output the file belongs
 * to: a sequence type reads a SequenceProto, an optional type an OptionalProto, anything else (or no type)
 * a TensorProto. Values that contradict the declared type are format errors.
 */
export async function readTestValue(
  path: string,
  expectedType?: ValueType,
): Promise<{ name?: string; value: RValue }> {
  return decodeTestValue(await readBytes(path), path, expectedType);
}

/** The decoding half of readTestValue, for bytes already in memory. */
export function decodeTestValue(
  bytes: Uint8Array,
  file: string,
  expectedType?: ValueType,
): { name?: string; value: RValue } {
  if (expectedType?.kind === "sequence") {
    const s = decodeSequence(bytes, file);
    return { name: s.name, value: sequenceValue(s, expectedType, file, "") };
  }
  if (expectedType?.kind === "optional") {
    const o = decodeOptional(bytes, file);
    return { name: o.name, value: optionalValue(o, expectedType, file, "") };
  }
  const t = decodeTensor(bytes, file);
  return { name: t.name, value: tensorValue(t, expectedType, file, "") };
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw new LatheError("io", `cannot read: ${(e as Error).message}`, { file: path });
  }
}

function tensorValue(t: TensorProto, want: ValueType | undefined, file: string, field: string): Tensor {
  let c = tensorProtoToConstant(t, file);
  // numpy has no bfloat16, so the suite stores bf16 data as UINT16 tensors of the same bits.
  if (want?.kind === "tensor" && want.dtype === "bf16" && c.dtype === "u16") c = { ...c, dtype: "bf16" };
  if (want?.kind === "tensor" && !dtypeEquals(c.dtype, want.dtype)) {
    throw new LatheError(
      "format",
      `tensor of ${printDType(c.dtype)} where ${printValueType(want)} is declared`,
      { file, field: field || undefined },
    );
  }
  return fromConstant(c);
}

const KIND_NAMES = ["UNDEFINED", "TENSOR", "SPARSE_TENSOR", "SEQUENCE", "MAP", "OPTIONAL"];
const kindName = (k: number) => KIND_NAMES[k] ?? `elem_type ${k}`;

/** The elem_type code a declared element type calls for. */
function kindOf(t: ValueType): number {
  return t.kind === "tensor" ? E.TENSOR : t.kind === "sequence" ? E.SEQUENCE : E.OPTIONAL;
}

function checkKind(
  got: number,
  elem: ValueType | undefined,
  file: string,
  field: string,
  what: string,
): void {
  if (got === E.SPARSE_TENSOR || got === E.MAP) {
    throw new LatheError("unsupported", `${what} of ${kindName(got)} values`, {
      file,
      field: field || undefined,
    });
  }
  if (got !== E.TENSOR && got !== E.SEQUENCE && got !== E.OPTIONAL) {
    throw new LatheError("format", `${what} has ${kindName(got)}`, { file, field: field || undefined });
  }
  if (elem && kindOf(elem) !== got) {
    throw new LatheError(
      "format",
      `${what} holds ${kindName(got)} values where ${printValueType(elem)} is declared`,
      { file, field: field || undefined },
    );
  }
}

function elemDTypeOf(elem: ValueType | undefined, items: readonly RValue[]): DType | undefined {
  if (elem?.kind === "tensor") return elem.dtype;
  const first = items[0];
  return first && "dtype" in first ? first.dtype : undefined;
}

function sequenceValue(s: SequenceProto, want: ValueType | undefined, file: string, field: string): Sequence {
  const elem = want?.kind === "sequence" ? want.elem : undefined;
  const lists = [s.tensorValues, s.sparseTensorValues, s.sequenceValues, s.mapValues, s.optionalValues];
  const kind = s.elemType ?? E.UNDEFINED;
  if (kind === E.UNDEFINED) {
    // An empty sequence may leave elem_type unset; one with elements must say what they are.
    if (lists.some((l) => l.length)) {
      throw new LatheError("format", "sequence elem_type is UNDEFINED", { file, field: field || undefined });
    }
    return new Sequence([], elem?.kind === "tensor" ? elem.dtype : undefined);
  }
  checkKind(kind, elem, file, field, "sequence");
  lists.forEach((l, i) => {
    if (l.length && i + 1 !== kind) {
      throw new LatheError("format", `sequence of ${kindName(kind)} also has ${kindName(i + 1)} values`, {
        file,
        field: field || undefined,
      });
    }
  });
  const at = (i: number) => `${field}[${i}]`;
  let items: RValue[];
  if (kind === E.TENSOR) items = s.tensorValues.map((t, i) => tensorValue(t, elem, file, at(i)));
  else if (kind === E.SEQUENCE) items = s.sequenceValues.map((v, i) => sequenceValue(v, elem, file, at(i)));
  else items = s.optionalValues.map((v, i) => optionalValue(v, elem, file, at(i)));
  return new Sequence(items, elemDTypeOf(elem, items));
}

function optionalValue(
  o: OptionalProto,
  want: ValueType | undefined,
  file: string,
  field: string,
): OptionalValue {
  const elem = want?.kind === "optional" ? want.elem : undefined;
  const kind = o.elemType ?? E.UNDEFINED;
  const elemDType = elem?.kind === "tensor" ? elem.dtype : undefined;
  if (kind === E.UNDEFINED) {
    if (o.tensorValue || o.sequenceValue || o.optionalValue || o.mapValue || o.sparseTensorValue) {
      throw new LatheError("format", "optional elem_type is UNDEFINED but a value is present", {
        file,
        field: field || undefined,
      });
    }
    return new OptionalValue(undefined, elemDType);
  }
  checkKind(kind, elem, file, field, "optional");
  const inner = `${field}.value`;
  let value: RValue | undefined;
  if (kind === E.TENSOR) value = o.tensorValue && tensorValue(o.tensorValue, elem, file, inner);
  else if (kind === E.SEQUENCE) value = o.sequenceValue && sequenceValue(o.sequenceValue, elem, file, inner);
  else value = o.optionalValue && optionalValue(o.optionalValue, elem, file, inner);
  // Writers that know the element type of an empty optional may set elem_type and leave the value out.
  if (value === undefined) return new OptionalValue(undefined, elemDType);
  return new OptionalValue(value, elemDType ?? ("dtype" in value ? value.dtype : undefined));
}
