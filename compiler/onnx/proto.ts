/**
 * ONNX protobuf wire layer: a schema-directed decoder and encoder for the messages of `onnx.proto`
 * (formats.md §3.1), written by hand rather than generated so that every failure names the byte offset
 * and the field path, 64-bit integers stay exact, and `bytes` fields are zero-copy views of the input.
 *
 * Representation choices:
 * - Singular fields are `undefined` when absent (proto2 presence is kept, so a round trip is exact);
 *   repeated fields are always present after decoding (empty when absent). The encoder treats a missing
 *   repeated field as empty, so hand-built messages may leave them out.
 * - int64 fields that are sizes, counts or versions (`dims`, `dimValue`, `irVersion`, opset `version`,
 *   segment bounds) decode to `number` and raise a LatheError when they do not fit in a safe integer.
 *   Attribute `i`/`ints` and `modelVersion` decode to `number` when safe and otherwise stay `bigint`
 *   (e.g. INT64_MAX as Slice `ends` in old opsets); clamping is the IR's job.
 * - `float_data`, `int32_data`, `double_data`, `int64_data`, `uint64_data` and attribute `floats` decode to
 *   Float32Array, Int32Array, Float64Array, BigInt64Array, BigUint64Array and Float32Array.
 * - `bytes` fields (raw_data, attribute `s`/`strings`, string_data) are `subarray` views of the input:
 *   keep the input alive as long as the decoded model is used.
 * - Fields this schema does not know are kept as raw wire slices in `unknownFields` and written back
 *   unchanged by the encoder.
 */
import { LatheError } from "../../ir/errors.ts";

export type Int64 = number | bigint;

export interface StringStringEntryProto {
  key?: string;
  value?: string;
  unknownFields?: Uint8Array[];
}

export interface OperatorSetIdProto {
  domain?: string;
  version?: number;
  unknownFields?: Uint8Array[];
}

export interface TensorSegment {
  begin?: number;
  end?: number;
  unknownFields?: Uint8Array[];
}

export interface TensorProto {
  dims: number[];
  dataType?: number;
  segment?: TensorSegment;
  floatData: Float32Array;
  int32Data: Int32Array;
  stringData: Uint8Array[];
  int64Data: BigInt64Array;
  name?: string;
  rawData?: Uint8Array;
  /** Absolute byte offset of `rawData` in the decoded input (decoder only; ignored by the encoder). */
  rawDataOffset?: number;
  doubleData: Float64Array;
  uint64Data: BigUint64Array;
  docString?: string;
  externalData: StringStringEntryProto[];
  dataLocation?: number;
  metadataProps: StringStringEntryProto[];
  unknownFields?: Uint8Array[];
}

export interface SparseTensorProto {
  values?: TensorProto;
  indices?: TensorProto;
  dims: number[];
  unknownFields?: Uint8Array[];
}

export interface TensorShapeDimension {
  dimValue?: number;
  dimParam?: string;
  denotation?: string;
  unknownFields?: Uint8Array[];
}

export interface TensorShapeProto {
  dim: TensorShapeDimension[];
  unknownFields?: Uint8Array[];
}

export interface TypeProtoTensor {
  elemType?: number;
  shape?: TensorShapeProto;
  unknownFields?: Uint8Array[];
}

export interface TypeProtoSequence {
  elemType?: TypeProto;
  unknownFields?: Uint8Array[];
}

export interface TypeProtoMap {
  keyType?: number;
  valueType?: TypeProto;
  unknownFields?: Uint8Array[];
}

export interface TypeProtoOptional {
  elemType?: TypeProto;
  unknownFields?: Uint8Array[];
}

export interface TypeProtoOpaque {
  domain?: string;
  name?: string;
  unknownFields?: Uint8Array[];
}

export interface TypeProto {
  tensorType?: TypeProtoTensor;
  sequenceType?: TypeProtoSequence;
  mapType?: TypeProtoMap;
  denotation?: string;
  opaqueType?: TypeProtoOpaque;
  sparseTensorType?: TypeProtoTensor;
  optionalType?: TypeProtoOptional;
  unknownFields?: Uint8Array[];
}

export interface ValueInfoProto {
  name?: string;
  type?: TypeProto;
  docString?: string;
  metadataProps: StringStringEntryProto[];
  unknownFields?: Uint8Array[];
}

export interface AttributeProto {
  name?: string;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  floats: Float32Array;
  ints: Int64[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
  docString?: string;
  tp?: TypeProto;
  typeProtos: TypeProto[];
  type?: number;
  refAttrName?: string;
  sparseTensor?: SparseTensorProto;
  sparseTensors: SparseTensorProto[];
  unknownFields?: Uint8Array[];
}

export interface NodeProto {
  input: string[];
  output: string[];
  name?: string;
  opType?: string;
  attribute: AttributeProto[];
  docString?: string;
  domain?: string;
  overload?: string;
  metadataProps: StringStringEntryProto[];
  unknownFields?: Uint8Array[];
}

export interface TensorAnnotation {
  tensorName?: string;
  quantParameterTensorNames: StringStringEntryProto[];
  unknownFields?: Uint8Array[];
}

export interface GraphProto {
  node: NodeProto[];
  name?: string;
  initializer: TensorProto[];
  docString?: string;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
  quantizationAnnotation: TensorAnnotation[];
  sparseInitializer: SparseTensorProto[];
  metadataProps: StringStringEntryProto[];
  unknownFields?: Uint8Array[];
}

export interface FunctionProto {
  name?: string;
  input: string[];
  output: string[];
  attribute: string[];
  node: NodeProto[];
  docString?: string;
  opsetImport: OperatorSetIdProto[];
  domain?: string;
  attributeProto: AttributeProto[];
  valueInfo: ValueInfoProto[];
  overload?: string;
  metadataProps: StringStringEntryProto[];
  unknownFields?: Uint8Array[];
}

export interface ModelProto {
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: Int64;
  docString?: string;
  graph?: GraphProto;
  opsetImport: OperatorSetIdProto[];
  metadataProps: StringStringEntryProto[];
  functions: FunctionProto[];
  unknownFields?: Uint8Array[];
}

/** A sequence value in test data (onnx.proto SequenceProto); `elemType` says which list is used. */
export interface SequenceProto {
  name?: string;
  elemType?: number;
  tensorValues: TensorProto[];
  sparseTensorValues: SparseTensorProto[];
  sequenceValues: SequenceProto[];
  mapValues: MapProto[];
  optionalValues: OptionalProto[];
  unknownFields?: Uint8Array[];
}

/** An optional value in test data (onnx.proto OptionalProto); elemType UNDEFINED means empty. */
export interface OptionalProto {
  name?: string;
  elemType?: number;
  tensorValue?: TensorProto;
  sparseTensorValue?: SparseTensorProto;
  sequenceValue?: SequenceProto;
  mapValue?: MapProto;
  optionalValue?: OptionalProto;
  unknownFields?: Uint8Array[];
}

export interface MapProto {
  name?: string;
  keyType?: number;
  keys: Int64[];
  stringKeys: Uint8Array[];
  values?: SequenceProto;
  unknownFields?: Uint8Array[];
}

/** SequenceProto.DataType and OptionalProto.DataType (the same numbering). */
export const ValueElemType = {
  UNDEFINED: 0,
  TENSOR: 1,
  SPARSE_TENSOR: 2,
  SEQUENCE: 3,
  MAP: 4,
  OPTIONAL: 5,
} as const;

/** AttributeProto.AttributeType (formats.md §3.1). */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

/** Deeper nesting than this (about 64 levels of subgraphs: graph → node → attribute → graph) is refused. */
export const MAX_MESSAGE_DEPTH = 200;

// ---------------------------------------------------------------------------------------------------
// Schema

/** How a field's value is stored on the wire and represented in JS. */
const enum Kind {
  /** int64 that must be a safe integer → number */
  SafeInt64,
  /** int64 → number when safe, else bigint */
  LooseInt64,
  Int32,
  Float,
  String,
  Bytes,
  Message,
  /** repeated fixed32 float → Float32Array */
  F32Array,
  /** repeated fixed64 double → Float64Array */
  F64Array,
  /** repeated varint int32 → Int32Array */
  I32Array,
  /** repeated varint int64 → BigInt64Array */
  I64Array,
  /** repeated varint uint64 → BigUint64Array */
  U64Array,
}

interface Field {
  readonly no: number;
  readonly snake: string;
  readonly camel: string;
  readonly kind: Kind;
  readonly repeated: boolean;
  /** Written packed by the encoder (onnx.proto declares `[packed = true]`). */
  readonly packed: boolean;
  /** Message schema, resolved lazily because the message graph is recursive. */
  msg?: Schema;
  readonly msgName?: string;
  /** For raw_data: the property that receives the absolute byte offset of the value. */
  readonly offsetProp?: string;
}

interface Schema {
  readonly name: string;
  readonly fields: Field[];
  readonly byNo: (Field | undefined)[];
}

function camelCase(s: string): string {
  return s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

type FieldDef = [no: number, name: string, kind: Kind | string, flags?: string];

const SCHEMAS = new Map<string, Schema>();

function defineMessage(name: string, defs: FieldDef[]): void {
  const fields: Field[] = defs.map(([no, snake, kind, flags = ""]) => {
    const isMsg = typeof kind === "string";
    const typed = kind === Kind.F32Array || kind === Kind.F64Array || kind === Kind.I32Array ||
      kind === Kind.I64Array || kind === Kind.U64Array;
    return {
      no,
      snake,
      camel: camelCase(snake),
      kind: isMsg ? Kind.Message : kind,
      repeated: typed || flags.includes("repeated"),
      packed: flags.includes("packed"),
      msgName: isMsg ? kind : undefined,
      offsetProp: snake === "raw_data" ? "rawDataOffset" : undefined,
    };
  });
  const byNo: (Field | undefined)[] = [];
  for (const f of fields) byNo[f.no] = f;
  SCHEMAS.set(name, { name, fields, byNo });
}

const R = "repeated";

defineMessage("StringStringEntryProto", [[1, "key", Kind.String], [2, "value", Kind.String]]);
defineMessage("OperatorSetIdProto", [[1, "domain", Kind.String], [2, "version", Kind.SafeInt64]]);
defineMessage("Segment", [[1, "begin", Kind.SafeInt64], [2, "end", Kind.SafeInt64]]);
defineMessage("TensorProto", [
  [1, "dims", Kind.SafeInt64, R],
  [2, "data_type", Kind.Int32],
  [3, "segment", "Segment"],
  [4, "float_data", Kind.F32Array, "packed"],
  [5, "int32_data", Kind.I32Array, "packed"],
  [6, "string_data", Kind.Bytes, R],
  [7, "int64_data", Kind.I64Array, "packed"],
  [8, "name", Kind.String],
  [9, "raw_data", Kind.Bytes],
  [10, "double_data", Kind.F64Array, "packed"],
  [11, "uint64_data", Kind.U64Array, "packed"],
  [12, "doc_string", Kind.String],
  [13, "external_data", "StringStringEntryProto", R],
  [14, "data_location", Kind.Int32],
  [16, "metadata_props", "StringStringEntryProto", R],
]);
defineMessage("SparseTensorProto", [
  [1, "values", "TensorProto"],
  [2, "indices", "TensorProto"],
  [3, "dims", Kind.SafeInt64, R],
]);
defineMessage("Dimension", [
  [1, "dim_value", Kind.SafeInt64],
  [2, "dim_param", Kind.String],
  [3, "denotation", Kind.String],
]);
defineMessage("TensorShapeProto", [[1, "dim", "Dimension", R]]);
defineMessage("TypeTensor", [[1, "elem_type", Kind.Int32], [2, "shape", "TensorShapeProto"]]);
defineMessage("TypeSequence", [[1, "elem_type", "TypeProto"]]);
defineMessage("TypeMap", [[1, "key_type", Kind.Int32], [2, "value_type", "TypeProto"]]);
defineMessage("TypeOptional", [[1, "elem_type", "TypeProto"]]);
defineMessage("TypeOpaque", [[1, "domain", Kind.String], [2, "name", Kind.String]]);
defineMessage("TypeProto", [
  [1, "tensor_type", "TypeTensor"],
  [4, "sequence_type", "TypeSequence"],
  [5, "map_type", "TypeMap"],
  [6, "denotation", Kind.String],
  [7, "opaque_type", "TypeOpaque"],
  [8, "sparse_tensor_type", "TypeTensor"],
  [9, "optional_type", "TypeOptional"],
]);
defineMessage("ValueInfoProto", [
  [1, "name", Kind.String],
  [2, "type", "TypeProto"],
  [3, "doc_string", Kind.String],
  [4, "metadata_props", "StringStringEntryProto", R],
]);
defineMessage("AttributeProto", [
  [1, "name", Kind.String],
  [2, "f", Kind.Float],
  [3, "i", Kind.LooseInt64],
  [4, "s", Kind.Bytes],
  [5, "t", "TensorProto"],
  [6, "g", "GraphProto"],
  [7, "floats", Kind.F32Array],
  [8, "ints", Kind.LooseInt64, R],
  [9, "strings", Kind.Bytes, R],
  [10, "tensors", "TensorProto", R],
  [11, "graphs", "GraphProto", R],
  [13, "doc_string", Kind.String],
  [14, "tp", "TypeProto"],
  [15, "type_protos", "TypeProto", R],
  [20, "type", Kind.Int32],
  [21, "ref_attr_name", Kind.String],
  [22, "sparse_tensor", "SparseTensorProto"],
  [23, "sparse_tensors", "SparseTensorProto", R],
]);
defineMessage("NodeProto", [
  [1, "input", Kind.String, R],
  [2, "output", Kind.String, R],
  [3, "name", Kind.String],
  [4, "op_type", Kind.String],
  [5, "attribute", "AttributeProto", R],
  [6, "doc_string", Kind.String],
  [7, "domain", Kind.String],
  [8, "overload", Kind.String],
  [9, "metadata_props", "StringStringEntryProto", R],
]);
defineMessage("TensorAnnotation", [
  [1, "tensor_name", Kind.String],
  [2, "quant_parameter_tensor_names", "StringStringEntryProto", R],
]);
defineMessage("GraphProto", [
  [1, "node", "NodeProto", R],
  [2, "name", Kind.String],
  [5, "initializer", "TensorProto", R],
  [10, "doc_string", Kind.String],
  [11, "input", "ValueInfoProto", R],
  [12, "output", "ValueInfoProto", R],
  [13, "value_info", "ValueInfoProto", R],
  [14, "quantization_annotation", "TensorAnnotation", R],
  [15, "sparse_initializer", "SparseTensorProto", R],
  [16, "metadata_props", "StringStringEntryProto", R],
]);
defineMessage("FunctionProto", [
  [1, "name", Kind.String],
  [4, "input", Kind.String, R],
  [5, "output", Kind.String, R],
  [6, "attribute", Kind.String, R],
  [7, "node", "NodeProto", R],
  [8, "doc_string", Kind.String],
  [9, "opset_import", "OperatorSetIdProto", R],
  [10, "domain", Kind.String],
  [11, "attribute_proto", "AttributeProto", R],
  [12, "value_info", "ValueInfoProto", R],
  [13, "overload", Kind.String],
  [14, "metadata_props", "StringStringEntryProto", R],
]);
defineMessage("ModelProto", [
  [1, "ir_version", Kind.SafeInt64],
  [2, "producer_name", Kind.String],
  [3, "producer_version", Kind.String],
  [4, "domain", Kind.String],
  [5, "model_version", Kind.LooseInt64],
  [6, "doc_string", Kind.String],
  [7, "graph", "GraphProto"],
  [8, "opset_import", "OperatorSetIdProto", R],
  [14, "metadata_props", "StringStringEntryProto", R],
  [25, "functions", "FunctionProto", R],
]);

defineMessage("SequenceProto", [
  [1, "name", Kind.String],
  [2, "elem_type", Kind.Int32],
  [3, "tensor_values", "TensorProto", R],
  [4, "sparse_tensor_values", "SparseTensorProto", R],
  [5, "sequence_values", "SequenceProto", R],
  [6, "map_values", "MapProto", R],
  [7, "optional_values", "OptionalProto", R],
]);
defineMessage("MapProto", [
  [1, "name", Kind.String],
  [2, "key_type", Kind.Int32],
  [3, "keys", Kind.LooseInt64, R],
  [4, "string_keys", Kind.Bytes, R],
  [5, "values", "SequenceProto"],
]);
defineMessage("OptionalProto", [
  [1, "name", Kind.String],
  [2, "elem_type", Kind.Int32],
  [3, "tensor_value", "TensorProto"],
  [4, "sparse_tensor_value", "SparseTensorProto"],
  [5, "sequence_value", "SequenceProto"],
  [6, "map_value", "MapProto"],
  [7, "optional_value", "OptionalProto"],
]);

for (const s of SCHEMAS.values()) {
  for (const f of s.fields) if (f.msgName) f.msg = SCHEMAS.get(f.msgName)!;
}

function schema(name: string): Schema {
  return SCHEMAS.get(name)!;
}

const EMPTY_F32 = new Float32Array(0);
const EMPTY_F64 = new Float64Array(0);
const EMPTY_I32 = new Int32Array(0);
const EMPTY_I64 = new BigInt64Array(0);
const EMPTY_U64 = new BigUint64Array(0);

function emptyTyped(kind: Kind): ArrayLike<unknown> {
  switch (kind) {
    case Kind.F32Array:
      return EMPTY_F32;
    case Kind.F64Array:
      return EMPTY_F64;
    case Kind.I32Array:
      return EMPTY_I32;
    case Kind.I64Array:
      return EMPTY_I64;
    default:
      return EMPTY_U64;
  }
}

function isTyped(kind: Kind): boolean {
  return kind >= Kind.F32Array;
}

// ---------------------------------------------------------------------------------------------------
// Decoder

const WT_VARINT = 0, WT_FIXED64 = 1, WT_LEN = 2, WT_FIXED32 = 5;
const TWO32 = 4294967296;

const utf8 = new TextDecoder("utf-8", { fatal: false });

function joinPath(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}

/**
 * One pass over an input buffer. Offsets in errors are indices into `buf`. The field path for an error is
 * built only when an error is raised, from the registers `at*`, so decoding allocates no path strings.
 */
class Reader {
  readonly dv: DataView;
  pos = 0;
  /** Result registers of readVarint: the low and high 32 bits, unsigned. */
  lo = 0;
  hi = 0;
  /** The path of the message being read, and the field being read in it (undefined while reading a key). */
  atPath = "";
  atField: Field | undefined = undefined;
  atObj: any = undefined;

  constructor(readonly buf: Uint8Array, readonly file: string) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  fail(reason: string, offset = this.pos): never {
    const f = this.atField;
    const field = f ? this.fieldPath(this.atPath, f, this.atObj) : this.atPath;
    throw new LatheError("format", reason, { file: this.file, offset, field: field || undefined });
  }

  /** `path.field`, with the index the next element of a repeated field will get. */
  fieldPath(path: string, f: Field, obj: any): string {
    const p = joinPath(path, f.snake);
    return f.repeated && !isTyped(f.kind) ? `${p}[${obj[f.camel].length}]` : p;
  }

  /** Reads a varint of at most 10 bytes that must end before `end` into `lo`/`hi`. */
  readVarint(end: number): void {
    const buf = this.buf;
    const start = this.pos;
    let pos = start;
    let lo = 0, hi = 0, b = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= end) this.truncatedVarint(start, end);
      b = buf[pos++];
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.lo = lo >>> 0;
        this.hi = 0;
        this.pos = pos;
        return;
      }
    }
    if (pos >= end) this.truncatedVarint(start, end);
    b = buf[pos++];
    lo |= (b & 0x0f) << 28;
    hi = (b & 0x70) >> 4;
    if (b >= 0x80) {
      for (let shift = 3;; shift += 7) {
        if (shift > 31) this.fail("varint longer than 10 bytes", start);
        if (pos >= end) this.truncatedVarint(start, end);
        b = buf[pos++];
        hi |= (b & 0x7f) << shift;
        if (b < 0x80) break;
      }
    }
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
    this.pos = pos;
  }

  truncatedVarint(start: number, end: number): never {
    const where = end === this.buf.length ? "end of file" : `end of the enclosing message at byte ${end}`;
    this.fail(`varint truncated by the ${where}`, start);
  }

  /** Checks that `len` bytes starting at pos fit before `end`; returns the end of the value. */
  span(len: number, end: number, at: number): number {
    if (len > end - this.pos) {
      const where = end === this.buf.length
        ? `past end of file (${this.buf.length} bytes)`
        : `past the end of the enclosing message at byte ${end}`;
      this.fail(`length ${len} at byte ${this.pos} runs ${where}`, at);
    }
    return this.pos + len;
  }

  readLength(end: number): number {
    const at = this.pos;
    this.readVarint(end);
    if (this.hi !== 0 || this.lo > 0x7fffffff) {
      this.fail(`length ${this.bigint(false)} exceeds the 2 GiB protobuf limit`, at);
    }
    return this.lo;
  }

  bigint(signed: boolean): bigint {
    const v = (BigInt(this.hi) << 32n) | BigInt(this.lo);
    return signed ? BigInt.asIntN(64, v) : v;
  }

  /** The varint registers as a signed int64: a number when safe, else undefined. */
  safeInt64(): number | undefined {
    const hiS = this.hi | 0;
    if (hiS >= -2097152 && hiS < 2097152) {
      const v = hiS * TWO32 + this.lo;
      if (Number.isSafeInteger(v)) return v;
    }
    return undefined;
  }

  skip(wt: number, end: number, at: number): void {
    switch (wt) {
      case WT_VARINT:
        this.readVarint(end);
        return;
      case WT_FIXED64:
        this.pos = this.span(8, end, at);
        return;
      case WT_LEN: {
        const len = this.readLength(end);
        this.pos = this.span(len, end, at);
        return;
      }
      case WT_FIXED32:
        this.pos = this.span(4, end, at);
        return;
      case 3:
      case 4:
        this.fail(`wire type ${wt} (protobuf groups) is not supported`, at);
        break;
      default:
        this.fail(`invalid wire type ${wt}`, at);
    }
  }

  string(start: number, end: number): string {
    const buf = this.buf;
    if (end - start <= 64) {
      let ascii = true;
      for (let i = start; i < end; i++) {
        if (buf[i] >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) return String.fromCharCode.apply(null, buf.subarray(start, end) as unknown as number[]);
    }
    return utf8.decode(buf.subarray(start, end));
  }

  /** Decodes fields up to `end` into `obj` (which may already hold values: protobuf merge semantics). */
  message(s: Schema, obj: any, end: number, path: string, depth: number): any {
    this.atPath = path;
    this.atField = undefined;
    if (depth > MAX_MESSAGE_DEPTH) this.fail(`messages nested deeper than ${MAX_MESSAGE_DEPTH} levels`);
    // Typed repeated fields are collected as chunks (packed runs) and single values, joined at the end.
    let pending: Map<Field, (ArrayLike<unknown> | number | bigint)[]> | undefined;
    const byNo = s.byNo;
    while (this.pos < end) {
      const keyAt = this.pos;
      this.atPath = path;
      this.atField = undefined;
      this.readVarint(end);
      const no = this.lo >>> 3;
      const wt = this.lo & 7;
      if (this.hi !== 0 || no === 0 || no > 536870911) this.fail(`invalid field number`, keyAt);
      const f = no < byNo.length ? byNo[no] : undefined;
      if (f === undefined) {
        this.atPath = joinPath(path, `field ${no}`);
        this.skip(wt, end, keyAt);
        (obj.unknownFields ??= []).push(this.buf.subarray(keyAt, this.pos));
        continue;
      }
      this.atField = f;
      this.atObj = obj;
      if (isTyped(f.kind)) {
        pending ??= new Map();
        let parts = pending.get(f);
        if (!parts) {
          parts = [];
          if (obj[f.camel].length) parts.push(obj[f.camel]);
          pending.set(f, parts);
        }
        this.typedValue(f, wt, end, keyAt, parts);
        continue;
      }
      if (wt === WT_LEN && f.repeated && (f.kind === Kind.SafeInt64 || f.kind === Kind.LooseInt64)) {
        const runEnd = this.span(this.readLength(end), end, keyAt);
        const out = obj[f.camel];
        while (this.pos < runEnd) out.push(this.int64(f, runEnd));
        continue;
      }
      const v = this.value(f, wt, end, path, keyAt, obj, depth);
      if (f.repeated) obj[f.camel].push(v);
      else obj[f.camel] = v;
    }
    if (pending) { for (const [f, parts] of pending) obj[f.camel] = joinTyped(f.kind, parts); }
    return obj;
  }

  wrongWireType(wt: number, at: number): never {
    this.fail(`wire type ${wt} does not match the field's type`, at);
  }

  value(f: Field, wt: number, end: number, path: string, at: number, obj: any, depth: number): unknown {
    switch (f.kind) {
      case Kind.String: {
        if (wt !== WT_LEN) this.wrongWireType(wt, at);
        const len = this.readLength(end);
        const start = this.pos;
        this.pos = this.span(len, end, at);
        return this.string(start, this.pos);
      }
      case Kind.Bytes: {
        if (wt !== WT_LEN) this.wrongWireType(wt, at);
        const len = this.readLength(end);
        const start = this.pos;
        this.pos = this.span(len, end, at);
        if (f.offsetProp) obj[f.offsetProp] = start;
        return this.buf.subarray(start, this.pos);
      }
      case Kind.Message: {
        if (wt !== WT_LEN) this.wrongWireType(wt, at);
        const subEnd = this.span(this.readLength(end), end, at);
        const target = !f.repeated && obj[f.camel] !== undefined ? obj[f.camel] : newMessage(f.msg!);
        return this.message(f.msg!, target, subEnd, this.fieldPath(path, f, obj), depth + 1);
      }
      case Kind.Float: {
        if (wt !== WT_FIXED32) this.wrongWireType(wt, at);
        this.span(4, end, at);
        const v = this.dv.getFloat32(this.pos, true);
        this.pos += 4;
        return v;
      }
      case Kind.Int32:
        if (wt !== WT_VARINT) this.wrongWireType(wt, at);
        this.readVarint(end);
        return this.lo | 0;
      case Kind.SafeInt64:
      case Kind.LooseInt64:
        if (wt !== WT_VARINT) this.wrongWireType(wt, at);
        return this.int64(f, end);
    }
    throw new Error(`unreachable field kind ${f.kind}`);
  }

  int64(f: Field, end: number): number | bigint {
    const at = this.pos;
    this.readVarint(end);
    const n = this.safeInt64();
    if (n !== undefined) return n;
    if (f.kind === Kind.LooseInt64) return this.bigint(true);
    this.fail(`value ${this.bigint(true)} does not fit in a safe integer`, at);
  }

  typedValue(
    f: Field,
    wt: number,
    end: number,
    at: number,
    parts: (ArrayLike<unknown> | number | bigint)[],
  ): void {
    const fixed = f.kind === Kind.F32Array ? 4 : f.kind === Kind.F64Array ? 8 : 0;
    if (wt === WT_LEN) {
      const len = this.readLength(end);
      const runEnd = this.span(len, end, at);
      if (fixed) {
        if (len % fixed !== 0) this.fail(`packed run of ${len} bytes is not a multiple of ${fixed}`, at);
        const copy = this.buf.slice(this.pos, runEnd);
        parts.push(fixed === 4 ? leF32(copy) : leF64(copy));
        this.pos = runEnd;
        return;
      }
      // Varint runs: one element per byte with the continuation bit clear.
      let count = 0;
      const buf = this.buf;
      for (let i = this.pos; i < runEnd; i++) if (buf[i] < 0x80) count++;
      if (runEnd > this.pos && buf[runEnd - 1] >= 0x80) this.fail("packed run ends inside a varint", at);
      if (f.kind === Kind.I32Array) {
        const out = new Int32Array(count);
        for (let k = 0; k < count; k++) {
          this.readVarint(runEnd);
          out[k] = this.lo | 0;
        }
        parts.push(out);
      } else {
        const signed = f.kind === Kind.I64Array;
        const out = signed ? new BigInt64Array(count) : new BigUint64Array(count);
        for (let k = 0; k < count; k++) {
          this.readVarint(runEnd);
          out[k] = this.hi === 0 ? BigInt(this.lo) : this.bigint(signed);
        }
        parts.push(out);
      }
      return;
    }
    if (fixed === 4) {
      if (wt !== WT_FIXED32) this.wrongWireType(wt, at);
      this.span(4, end, at);
      parts.push(this.dv.getFloat32(this.pos, true));
      this.pos += 4;
    } else if (fixed === 8) {
      if (wt !== WT_FIXED64) this.wrongWireType(wt, at);
      this.span(8, end, at);
      parts.push(this.dv.getFloat64(this.pos, true));
      this.pos += 8;
    } else {
      if (wt !== WT_VARINT) this.wrongWireType(wt, at);
      this.readVarint(end);
      if (f.kind === Kind.I32Array) parts.push(this.lo | 0);
      else parts.push(this.hi === 0 ? BigInt(this.lo) : this.bigint(f.kind === Kind.I64Array));
    }
  }
}

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function leF32(copy: Uint8Array): Float32Array {
  if (HOST_LE) return new Float32Array(copy.buffer, 0, copy.length / 4);
  const dv = new DataView(copy.buffer), out = new Float32Array(copy.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(i * 4, true);
  return out;
}

function leF64(copy: Uint8Array): Float64Array {
  if (HOST_LE) return new Float64Array(copy.buffer, 0, copy.length / 8);
  const dv = new DataView(copy.buffer), out = new Float64Array(copy.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = dv.getFloat64(i * 8, true);
  return out;
}

function joinTyped(kind: Kind, parts: (ArrayLike<unknown> | number | bigint)[]): ArrayLike<unknown> {
  if (parts.length === 1 && typeof parts[0] === "object") return parts[0];
  let n = 0;
  for (const p of parts) n += typeof p === "object" ? p.length : 1;
  const out: any = kind === Kind.F32Array
    ? new Float32Array(n)
    : kind === Kind.F64Array
    ? new Float64Array(n)
    : kind === Kind.I32Array
    ? new Int32Array(n)
    : kind === Kind.I64Array
    ? new BigInt64Array(n)
    : new BigUint64Array(n);
  let k = 0;
  for (const p of parts) {
    if (typeof p === "object") {
      out.set(p, k);
      k += p.length;
    } else out[k++] = p;
  }
  return out;
}

function newMessage(s: Schema): any {
  const obj: any = {};
  for (const f of s.fields) {
    if (isTyped(f.kind)) obj[f.camel] = emptyTyped(f.kind);
    else if (f.repeated) obj[f.camel] = [];
  }
  return obj;
}

function decodeRoot(name: string, bytes: Uint8Array, file: string): any {
  if (!(bytes instanceof Uint8Array)) {
    throw new LatheError("usage", "expected the file contents as a Uint8Array", { file });
  }
  const r = new Reader(bytes, file);
  const s = schema(name);
  return r.message(s, newMessage(s), bytes.length, "", 0);
}

/** Decodes an ONNX model file. Byte fields in the result are views of `bytes`. */
export function decodeModel(bytes: Uint8Array, file: string): ModelProto {
  return decodeRoot("ModelProto", bytes, file);
}

/** Decodes a bare TensorProto (the conformance suite's `input_N.pb` / `output_N.pb` files). */
export function decodeTensor(bytes: Uint8Array, file: string): TensorProto {
  return decodeRoot("TensorProto", bytes, file);
}

/** Decodes a bare SequenceProto (test data of sequence-typed inputs and outputs). */
export function decodeSequence(bytes: Uint8Array, file: string): SequenceProto {
  return decodeRoot("SequenceProto", bytes, file);
}

/** Decodes a bare OptionalProto (test data of optional-typed inputs and outputs). */
export function decodeOptional(bytes: Uint8Array, file: string): OptionalProto {
  return decodeRoot("OptionalProto", bytes, file);
}

/** Decodes a bare GraphProto. */
export function decodeGraph(bytes: Uint8Array, file: string): GraphProto {
  return decodeRoot("GraphProto", bytes, file);
}

// ---------------------------------------------------------------------------------------------------
// Encoder: a sizing pass (memoized per message) and a writing pass into one exact-size buffer, so large
// byte fields are copied exactly once.

function varintSize(lo: number, hi: number): number {
  if (hi === 0) {
    if (lo < 0x80) return 1;
    if (lo < 0x4000) return 2;
    if (lo < 0x200000) return 3;
    if (lo < 0x10000000) return 4;
    return 5;
  }
  if (hi < 0x8) return 5;
  if (hi < 0x400) return 6;
  if (hi < 0x20000) return 7;
  if (hi < 0x1000000) return 8;
  if (hi < 0x80000000) return 9;
  return 10;
}

function uintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** Splits an int64 given as number or bigint into unsigned 32-bit halves (two's complement). */
function split64(v: number | bigint, out: { lo: number; hi: number }): void {
  if (typeof v === "bigint") {
    const u = BigInt.asUintN(64, v);
    out.lo = Number(u & 0xffffffffn);
    out.hi = Number(u >> 32n);
    return;
  }
  if (!Number.isInteger(v)) throw new LatheError("usage", `int64 field value ${v} is not an integer`);
  if (v >= 0 && v < TWO32) {
    out.lo = v;
    out.hi = 0;
    return;
  }
  const hi = Math.floor(v / TWO32);
  out.lo = (v - hi * TWO32) >>> 0;
  out.hi = hi >>> 0;
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

const utf8enc = new TextEncoder();

class Writer {
  readonly sizes = new Map<object, number>();
  readonly strLens = new Map<string, number>();
  readonly reg = { lo: 0, hi: 0 };
  buf = new Uint8Array(0);
  dv = new DataView(this.buf.buffer);
  pos = 0;

  strLen(s: string): number {
    let n = this.strLens.get(s);
    if (n === undefined) {
      n = utf8Length(s);
      this.strLens.set(s, n);
    }
    return n;
  }

  int64Size(v: number | bigint): number {
    split64(v, this.reg);
    return varintSize(this.reg.lo, this.reg.hi);
  }

  /** Size of a packed or unpacked run of a typed or repeated scalar field, without keys. */
  scalarSize(f: Field, v: any): number {
    switch (f.kind) {
      case Kind.String:
        return this.strLen(v);
      case Kind.Bytes:
        return v.length;
      case Kind.Float:
        return 4;
      case Kind.Int32:
        return v < 0 ? 10 : uintSize(v);
      case Kind.SafeInt64:
      case Kind.LooseInt64:
        return this.int64Size(v);
    }
    throw new Error(`unreachable scalar kind ${f.kind}`);
  }

  typedPayloadSize(f: Field, arr: any): number {
    if (f.kind === Kind.F32Array) return arr.length * 4;
    if (f.kind === Kind.F64Array) return arr.length * 8;
    let n = 0;
    if (f.kind === Kind.I32Array) {
      for (let i = 0; i < arr.length; i++) n += arr[i] < 0 ? 10 : uintSize(arr[i]);
    } else {
      for (let i = 0; i < arr.length; i++) n += this.int64Size(arr[i]);
    }
    return n;
  }

  messageSize(s: Schema, obj: any): number {
    let n = 0;
    for (const f of s.fields) {
      const v = obj[f.camel];
      if (v === undefined || v === null) continue;
      const key = uintSize(f.no << 3);
      if (isTyped(f.kind)) {
        if (v.length === 0) continue;
        if (f.packed) {
          const payload = this.typedPayloadSize(f, v);
          n += key + uintSize(payload) + payload;
        } else {
          n += v.length * key + this.typedPayloadSize(f, v);
        }
        continue;
      }
      if (f.repeated) {
        for (const item of v) n += key + this.itemSize(f, item);
      } else {
        n += key + this.itemSize(f, v);
      }
    }
    if (obj.unknownFields) { for (const u of obj.unknownFields) n += u.length; }
    return n;
  }

  /** Size of one value after its key: length-prefixed for strings, bytes and messages. */
  itemSize(f: Field, v: any): number {
    if (f.kind === Kind.Message) {
      const inner = this.messageSize(f.msg!, v);
      this.sizes.set(v, inner);
      return uintSize(inner) + inner;
    }
    const n = this.scalarSize(f, v);
    return f.kind === Kind.String || f.kind === Kind.Bytes ? uintSize(n) + n : n;
  }

  varint(lo: number, hi: number): void {
    const buf = this.buf;
    let pos = this.pos;
    while (hi !== 0 || lo >= 0x80) {
      buf[pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    buf[pos++] = lo;
    this.pos = pos;
  }

  uint(n: number): void {
    this.varint(n >>> 0, 0);
  }

  int32(v: number): void {
    if (v < 0) this.varint(v >>> 0, 0xffffffff);
    else this.varint(v, 0);
  }

  int64(v: number | bigint): void {
    split64(v, this.reg);
    this.varint(this.reg.lo, this.reg.hi);
  }

  key(no: number, wt: number): void {
    this.uint((no << 3) | wt);
  }

  writeMessage(s: Schema, obj: any): void {
    for (const f of s.fields) {
      const v = obj[f.camel];
      if (v === undefined || v === null) continue;
      if (isTyped(f.kind)) {
        if (v.length) this.writeTyped(f, v);
      } else if (f.repeated) {
        for (const item of v) this.writeItem(f, item);
      } else {
        this.writeItem(f, v);
      }
    }
    if (obj.unknownFields) {
      for (const u of obj.unknownFields) {
        this.buf.set(u, this.pos);
        this.pos += u.length;
      }
    }
  }

  writeItem(f: Field, v: any): void {
    switch (f.kind) {
      case Kind.String: {
        this.key(f.no, WT_LEN);
        this.uint(this.strLen(v));
        const { written } = utf8enc.encodeInto(v, this.buf.subarray(this.pos));
        this.pos += written;
        return;
      }
      case Kind.Bytes:
        this.key(f.no, WT_LEN);
        this.uint(v.length);
        this.buf.set(v, this.pos);
        this.pos += v.length;
        return;
      case Kind.Message:
        this.key(f.no, WT_LEN);
        this.uint(this.sizes.get(v)!);
        this.writeMessage(f.msg!, v);
        return;
      case Kind.Float:
        this.key(f.no, WT_FIXED32);
        this.dv.setFloat32(this.pos, v, true);
        this.pos += 4;
        return;
      case Kind.Int32:
        this.key(f.no, WT_VARINT);
        this.int32(v);
        return;
      case Kind.SafeInt64:
      case Kind.LooseInt64:
        this.key(f.no, WT_VARINT);
        this.int64(v);
        return;
    }
  }

  writeTyped(f: Field, arr: any): void {
    const fixed = f.kind === Kind.F32Array ? 4 : f.kind === Kind.F64Array ? 8 : 0;
    const wt = fixed === 4 ? WT_FIXED32 : fixed === 8 ? WT_FIXED64 : WT_VARINT;
    if (f.packed) {
      this.key(f.no, WT_LEN);
      this.uint(this.typedPayloadSize(f, arr));
    }
    for (let i = 0; i < arr.length; i++) {
      if (!f.packed) this.key(f.no, wt);
      if (fixed === 4) {
        this.dv.setFloat32(this.pos, arr[i], true);
        this.pos += 4;
      } else if (fixed === 8) {
        this.dv.setFloat64(this.pos, arr[i], true);
        this.pos += 8;
      } else if (f.kind === Kind.I32Array) {
        this.int32(arr[i]);
      } else {
        this.int64(arr[i]);
      }
    }
  }

  encode(s: Schema, obj: any): Uint8Array {
    const total = this.messageSize(s, obj);
    this.buf = new Uint8Array(total);
    this.dv = new DataView(this.buf.buffer);
    this.pos = 0;
    this.writeMessage(s, obj);
    if (this.pos !== total) throw new Error(`encoder size mismatch: wrote ${this.pos} of ${total} bytes`);
    return this.buf;
  }
}

/** Encodes a model. Packed fields of onnx.proto are written packed, the rest unpacked. */
export function encodeModel(m: ModelProto): Uint8Array {
  return new Writer().encode(schema("ModelProto"), m);
}

/** Encodes a bare TensorProto, as in the conformance suite's `.pb` files. */
export function encodeTensor(t: TensorProto): Uint8Array {
  return new Writer().encode(schema("TensorProto"), t);
}

/** Encodes a bare SequenceProto. */
export function encodeSequence(v: SequenceProto): Uint8Array {
  return new Writer().encode(schema("SequenceProto"), v);
}

/** Encodes a bare OptionalProto. */
export function encodeOptional(v: OptionalProto): Uint8Array {
  return new Writer().encode(schema("OptionalProto"), v);
}

/** Encodes a bare GraphProto. */
export function encodeGraph(g: GraphProto): Uint8Array {
  return new Writer().encode(schema("GraphProto"), g);
}
