/**
 * Writes the plain TFLite structures of model.ts back to a flatbuffer with the `flatbuffers` Builder.
 * Buffer data is written inline (16-byte aligned, as `force_align: 16` asks) unless the model is too big
 * for one flatbuffer; then every non-empty buffer goes after the flatbuffer and is referenced by absolute
 * offset/size (formats.md §2.2, "Models over 2 GB").
 */
import { Builder } from "flatbuffers";
import { LatheError } from "../../ir/errors.ts";
import type {
  DimensionMetadata,
  Operator,
  Options,
  Quantization,
  SparseIndexVector,
  Subgraph,
  Tensor,
  TfliteModel,
  UnknownOptions,
} from "./model.ts";
import {
  BUFFER,
  BUILTIN_OPTIONS,
  BUILTIN_OPTIONS_2,
  DIMENSION_METADATA,
  EXTERNAL_BUFFER,
  EXTERNAL_BUFFER_GROUP,
  type FieldSpec,
  FILE_IDENTIFIER,
  METADATA,
  MODEL,
  OPERATOR,
  OPERATOR_CODE,
  PLACEHOLDER_FOR_GREATER_OP_CODES,
  QUANTIZATION,
  QUANTIZATION_DETAILS,
  SIGNATURE_DEF,
  SPARSE_INDEX_VECTOR,
  SPARSITY,
  SUBGRAPH,
  type TableSpec,
  TENSOR,
  TENSOR_MAP,
  TENSOR_TYPES,
  VARIANT_SUBTYPE,
} from "./schema.ts";

export interface WriteOptions {
  /**
   * Place buffer data after the flatbuffer. "auto" (the default) does so only when the data would push
   * the flatbuffer past what a 32-bit offset can address.
   */
  externalBuffers?: boolean | "auto";
}

/** Inline data must leave room for the rest of the flatbuffer under the 2 GiB signed-offset limit. */
const INLINE_LIMIT = 2 ** 31 - 64 * 2 ** 20;
const DATA_ALIGN = 16;

export function writeTflite(model: TfliteModel, options: WriteOptions = {}): Uint8Array {
  let total = 0;
  for (const b of model.buffers) total += b.data.length;
  const external = options.externalBuffers === "auto" || options.externalBuffers === undefined
    ? total > INLINE_LIMIT
    : options.externalBuffers;
  if (!external) {
    if (total > INLINE_LIMIT) {
      throw new LatheError("usage", `${total} bytes of buffer data do not fit inside one flatbuffer`, {
        field: "externalBuffers",
      });
    }
    return build(model, null, total);
  }

  // Absolute offsets depend on the flatbuffer's size, which does not depend on their values (the fields
  // are fixed-width and always present), so build once to measure, then again with the real offsets.
  const relative = new Array<number>(model.buffers.length).fill(0);
  let end = 0;
  model.buffers.forEach((b, i) => {
    if (b.data.length === 0) return;
    relative[i] = end;
    end = align(end + b.data.length, DATA_ALIGN);
  });
  const probe = build(model, { base: 2, relative }, 0);
  const base = align(probe.length, DATA_ALIGN);
  const fb = build(model, { base, relative }, 0);
  if (fb.length !== probe.length) throw new Error("flatbuffer size changed between passes");
  const out = new Uint8Array(base + end);
  out.set(fb, 0);
  model.buffers.forEach((b, i) => {
    if (b.data.length > 0) out.set(b.data, base + relative[i]);
  });
  return out;
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

interface Placement {
  base: number;
  relative: number[];
}

function build(model: TfliteModel, placement: Placement | null, inlineBytes: number): Uint8Array {
  const b = new Builder(Math.min(2 ** 31 - 1, inlineBytes + 64 * 1024 + 16 * model.buffers.length));
  const w = new Writer(b);

  const buffers = model.buffers.map((buf, i) => {
    const external = placement !== null && buf.data.length > 0;
    // An empty but present `data` vector makes TFLite treat the tensor as a 0-byte constant.
    const data = external || buf.data.length === 0 ? 0 : w.alignedBytes(buf.data, DATA_ALIGN);
    b.startObject(3);
    if (external) {
      b.addFieldInt64(BUFFER.offset, BigInt(placement.base + placement.relative[i]), 0n);
      b.addFieldInt64(BUFFER.size, BigInt(buf.data.length), 0n);
    }
    if (data) b.addFieldOffset(BUFFER.data, data, 0);
    return b.endObject();
  });
  const operatorCodes = model.operatorCodes.map((c) => {
    const custom = c.customCode === null ? 0 : b.createString(c.customCode);
    b.startObject(4);
    b.addFieldInt32(OPERATOR_CODE.builtinCode, c.builtinCode, 0);
    b.addFieldInt32(OPERATOR_CODE.version, c.version, 1);
    if (custom) b.addFieldOffset(OPERATOR_CODE.customCode, custom, 0);
    b.addFieldInt8(
      OPERATOR_CODE.deprecatedBuiltinCode,
      Math.min(c.builtinCode, PLACEHOLDER_FOR_GREATER_OP_CODES),
      0,
    );
    return b.endObject();
  });
  const subgraphs = model.subgraphs.map((sg, i) => w.subgraph(sg, `subgraphs[${i}]`));
  const metadata = model.metadata.map((m) => {
    const name = b.createString(m.name);
    b.startObject(2);
    b.addFieldOffset(METADATA.name, name, 0);
    b.addFieldInt32(METADATA.buffer, m.buffer, 0);
    return b.endObject();
  });
  const signatureDefs = model.signatureDefs.map((s) => {
    const maps = (list: typeof s.inputs) =>
      w.offsets(list.map((m) => {
        const name = b.createString(m.name);
        b.startObject(2);
        b.addFieldOffset(TENSOR_MAP.name, name, 0);
        b.addFieldInt32(TENSOR_MAP.tensorIndex, m.tensorIndex, 0);
        return b.endObject();
      }));
    const inputs = maps(s.inputs);
    const outputs = maps(s.outputs);
    const key = b.createString(s.signatureKey);
    b.startObject(5);
    b.addFieldOffset(SIGNATURE_DEF.inputs, inputs, 0);
    b.addFieldOffset(SIGNATURE_DEF.outputs, outputs, 0);
    b.addFieldOffset(SIGNATURE_DEF.signatureKey, key, 0);
    b.addFieldInt32(SIGNATURE_DEF.subgraphIndex, s.subgraphIndex, 0);
    return b.endObject();
  });
  const groups = model.externalBufferGroups.map((g) => {
    const name = b.createString(g.name);
    b.startObject(1);
    b.addFieldOffset(EXTERNAL_BUFFER_GROUP.name, name, 0);
    return b.endObject();
  });
  const externalBuffers = model.externalBuffers.map((e) => {
    const packing = e.packing ? b.createString(e.packing) : 0;
    b.startObject(5);
    b.addFieldInt64(EXTERNAL_BUFFER.offset, BigInt(e.offset), 0n);
    b.addFieldInt64(EXTERNAL_BUFFER.length, BigInt(e.length), 0n);
    b.addFieldInt32(EXTERNAL_BUFFER.id, e.id, 0);
    b.addFieldInt32(EXTERNAL_BUFFER.group, e.group, 0);
    if (packing) b.addFieldOffset(EXTERNAL_BUFFER.packing, packing, 0);
    return b.endObject();
  });

  const opcodesVec = w.offsets(operatorCodes);
  const subgraphsVec = w.offsets(subgraphs);
  const description = model.description ? b.createString(model.description) : 0;
  const buffersVec = w.offsets(buffers);
  const metadataBuffer = model.metadataBuffer.length ? w.i32s(model.metadataBuffer) : 0;
  const metadataVec = metadata.length ? w.offsets(metadata) : 0;
  const signaturesVec = signatureDefs.length ? w.offsets(signatureDefs) : 0;
  const groupsVec = groups.length ? w.offsets(groups) : 0;
  const externalVec = externalBuffers.length ? w.offsets(externalBuffers) : 0;

  b.startObject(10);
  b.addFieldInt32(MODEL.version, model.version, 0);
  b.addFieldOffset(MODEL.operatorCodes, opcodesVec, 0);
  b.addFieldOffset(MODEL.subgraphs, subgraphsVec, 0);
  b.addFieldOffset(MODEL.description, description, 0);
  b.addFieldOffset(MODEL.buffers, buffersVec, 0);
  b.addFieldOffset(MODEL.metadataBuffer, metadataBuffer, 0);
  b.addFieldOffset(MODEL.metadata, metadataVec, 0);
  b.addFieldOffset(MODEL.signatureDefs, signaturesVec, 0);
  b.addFieldOffset(MODEL.externalBufferGroups, groupsVec, 0);
  b.addFieldOffset(MODEL.externalBuffers, externalVec, 0);
  b.finish(b.endObject(), FILE_IDENTIFIER);
  // asUint8Array views the builder's (larger) backing store; copy so the result owns exactly its bytes.
  return b.asUint8Array().slice();
}

class Writer {
  constructor(private readonly b: Builder) {}

  private fail(reason: string, field: string): never {
    throw new LatheError("unsupported", reason, { field });
  }

  offsets(list: readonly number[]): number {
    const b = this.b;
    b.startVector(4, list.length, 4);
    for (let i = list.length - 1; i >= 0; i--) b.addOffset(list[i]);
    return b.endVector();
  }

  i32s(list: ArrayLike<number>): number {
    const b = this.b;
    b.startVector(4, list.length, 4);
    for (let i = list.length - 1; i >= 0; i--) b.addInt32(list[i] | 0);
    return b.endVector();
  }

  f32s(list: ArrayLike<number>): number {
    const b = this.b;
    b.startVector(4, list.length, 4);
    for (let i = list.length - 1; i >= 0; i--) b.addFloat32(list[i]);
    return b.endVector();
  }

  i64s(list: readonly number[]): number {
    const b = this.b;
    b.startVector(8, list.length, 8);
    for (let i = list.length - 1; i >= 0; i--) b.addInt64(BigInt(list[i]));
    return b.endVector();
  }

  u16s(list: Uint16Array): number {
    const b = this.b;
    b.startVector(2, list.length, 4);
    for (let i = list.length - 1; i >= 0; i--) b.addInt16(list[i]);
    return b.endVector();
  }

  bools(list: readonly boolean[]): number {
    const b = this.b;
    b.startVector(1, list.length, 1);
    for (let i = list.length - 1; i >= 0; i--) b.addInt8(list[i] ? 1 : 0);
    return b.endVector();
  }

  /** A [ubyte] vector whose first element starts at a multiple of `alignment` in the finished file. */
  alignedBytes(data: Uint8Array, alignment: number): number {
    // Padding so that the bytes end on the boundary; createByteVector then needs no further padding, and
    // because finish() pads the whole buffer to the largest alignment used, the start stays aligned.
    this.b.prep(alignment, data.length);
    return this.b.createByteVector(data);
  }

  subgraph(sg: Subgraph, path: string): number {
    const b = this.b;
    const tensors = this.offsets(sg.tensors.map((t, i) => this.tensor(t, `${path}.tensors[${i}]`)));
    const inputs = this.i32s(sg.inputs);
    const outputs = this.i32s(sg.outputs);
    const operators = this.offsets(sg.operators.map((op, i) => this.operator(op, `${path}.operators[${i}]`)));
    const name = sg.name ? b.createString(sg.name) : 0;
    b.startObject(6);
    b.addFieldOffset(SUBGRAPH.tensors, tensors, 0);
    b.addFieldOffset(SUBGRAPH.inputs, inputs, 0);
    b.addFieldOffset(SUBGRAPH.outputs, outputs, 0);
    b.addFieldOffset(SUBGRAPH.operators, operators, 0);
    b.addFieldOffset(SUBGRAPH.name, name, 0);
    b.addFieldInt32(SUBGRAPH.debugMetadataIndex, sg.debugMetadataIndex, -1);
    return b.endObject();
  }

  private tensorTypeCode(type: string, field: string): number {
    const code = (TENSOR_TYPES as readonly string[]).indexOf(type);
    if (code < 0) this.fail(`unknown tensor type ${type}`, field);
    return code;
  }

  tensor(t: Tensor, path: string): number {
    const b = this.b;
    const shape = this.i32s(t.shape);
    const signature = t.shapeSignature ? this.i32s(t.shapeSignature) : 0;
    const name = this.b.createString(t.name);
    const quantization = t.quantization ? this.quantization(t.quantization, `${path}.quantization`) : 0;
    const sparsity = t.sparsity ? this.sparsity(t.sparsity) : 0;
    const variants = t.variantTensors.length
      ? this.offsets(t.variantTensors.map((v) => {
        const vShape = this.i32s(v.shape);
        b.startObject(3);
        b.addFieldOffset(VARIANT_SUBTYPE.shape, vShape, 0);
        b.addFieldInt8(VARIANT_SUBTYPE.type, this.tensorTypeCode(v.type, `${path}.variant_tensors`), 0);
        b.addFieldInt8(VARIANT_SUBTYPE.hasRank, v.hasRank ? 1 : 0, 0);
        return b.endObject();
      }))
      : 0;
    b.startObject(11);
    b.addFieldOffset(TENSOR.shape, shape, 0);
    b.addFieldInt32(TENSOR.buffer, t.buffer, 0);
    b.addFieldOffset(TENSOR.name, name, 0);
    b.addFieldOffset(TENSOR.quantization, quantization, 0);
    b.addFieldOffset(TENSOR.sparsity, sparsity, 0);
    b.addFieldOffset(TENSOR.shapeSignature, signature, 0);
    b.addFieldOffset(TENSOR.variantTensors, variants, 0);
    b.addFieldInt32(TENSOR.externalBuffer, t.externalBuffer, 0);
    b.addFieldInt8(TENSOR.type, this.tensorTypeCode(t.type, `${path}.type`), 0);
    b.addFieldInt8(TENSOR.isVariable, t.isVariable ? 1 : 0, 0);
    b.addFieldInt8(TENSOR.hasRank, t.hasRank ? 1 : 0, 0);
    return b.endObject();
  }

  quantization(q: Quantization, path: string): number {
    const b = this.b;
    const min = q.min.length ? this.f32s(q.min) : 0;
    const max = q.max.length ? this.f32s(q.max) : 0;
    const scale = q.scale.length ? this.f32s(q.scale) : 0;
    const zeroPoint = q.zeroPoint.length ? this.i64s(q.zeroPoint) : 0;
    const details = this.unionTable(q.detailsType, q.details, QUANTIZATION_DETAILS, `${path}.details`);
    b.startObject(7);
    b.addFieldOffset(QUANTIZATION.min, min, 0);
    b.addFieldOffset(QUANTIZATION.max, max, 0);
    b.addFieldOffset(QUANTIZATION.scale, scale, 0);
    b.addFieldOffset(QUANTIZATION.zeroPoint, zeroPoint, 0);
    b.addFieldOffset(QUANTIZATION.details, details, 0);
    b.addFieldInt32(QUANTIZATION.quantizedDimension, q.quantizedDimension, 0);
    b.addFieldInt8(QUANTIZATION.detailsType, q.detailsType, 0);
    return b.endObject();
  }

  sparsity(s: { traversalOrder: number[]; blockMap: number[]; dimMetadata: DimensionMetadata[] }): number {
    const b = this.b;
    const traversal = this.i32s(s.traversalOrder);
    const blockMap = s.blockMap.length ? this.i32s(s.blockMap) : 0;
    const dims = this.offsets(s.dimMetadata.map((d) => {
      const segments = this.sparseIndexVector(d.arraySegments);
      const indices = this.sparseIndexVector(d.arrayIndices);
      b.startObject(6);
      b.addFieldInt32(DIMENSION_METADATA.denseSize, d.denseSize, 0);
      b.addFieldOffset(DIMENSION_METADATA.arraySegments, segments, 0);
      b.addFieldOffset(DIMENSION_METADATA.arrayIndices, indices, 0);
      b.addFieldInt8(DIMENSION_METADATA.format, d.format, 0);
      b.addFieldInt8(DIMENSION_METADATA.arraySegmentsType, sparseTag(d.arraySegments), 0);
      b.addFieldInt8(DIMENSION_METADATA.arrayIndicesType, sparseTag(d.arrayIndices), 0);
      return b.endObject();
    }));
    b.startObject(3);
    b.addFieldOffset(SPARSITY.traversalOrder, traversal, 0);
    b.addFieldOffset(SPARSITY.blockMap, blockMap, 0);
    b.addFieldOffset(SPARSITY.dimMetadata, dims, 0);
    return b.endObject();
  }

  private sparseIndexVector(v: SparseIndexVector | null): number {
    if (!v) return 0;
    const b = this.b;
    let values: number;
    if (v.type === "int32") values = this.i32s(v.values);
    else if (v.type === "uint16") values = this.u16s(v.values);
    else {
      b.prep(4, v.values.length);
      values = b.createByteVector(v.values);
    }
    b.startObject(1);
    b.addFieldOffset(0, values, 0);
    return b.endObject();
  }

  operator(op: Operator, path: string): number {
    const b = this.b;
    const inputs = this.i32s(op.inputs);
    const outputs = this.i32s(op.outputs);
    const options = this.unionTable(
      op.builtinOptionsType,
      op.builtinOptions,
      BUILTIN_OPTIONS,
      `${path}.builtin_options`,
    );
    const options2 = this.unionTable(
      op.builtinOptions2Type,
      op.builtinOptions2,
      BUILTIN_OPTIONS_2,
      `${path}.builtin_options_2`,
    );
    const custom = op.customOptions ? b.createByteVector(op.customOptions) : 0;
    const mutating = op.mutatingVariableInputs.length ? this.bools(op.mutatingVariableInputs) : 0;
    const intermediates = op.intermediates.length ? this.i32s(op.intermediates) : 0;
    b.startObject(14);
    b.addFieldInt32(OPERATOR.opcodeIndex, op.opcodeIndex, 0);
    b.addFieldOffset(OPERATOR.inputs, inputs, 0);
    b.addFieldOffset(OPERATOR.outputs, outputs, 0);
    b.addFieldOffset(OPERATOR.builtinOptions, options, 0);
    b.addFieldOffset(OPERATOR.customOptions, custom, 0);
    b.addFieldOffset(OPERATOR.mutatingVariableInputs, mutating, 0);
    b.addFieldOffset(OPERATOR.intermediates, intermediates, 0);
    b.addFieldOffset(OPERATOR.builtinOptions2, options2, 0);
    b.addFieldInt32(OPERATOR.debugMetadataIndex, op.debugMetadataIndex, -1);
    b.addFieldInt8(OPERATOR.builtinOptionsType, op.builtinOptionsType, 0);
    b.addFieldInt8(OPERATOR.customOptionsFormat, op.customOptionsFormat, 0);
    b.addFieldInt8(OPERATOR.builtinOptions2Type, op.builtinOptions2Type, 0);
    return b.endObject();
  }

  /** Writes a union member table from its decoded field values; returns 0 when there is none. */
  private unionTable(
    tag: number,
    value: Options | UnknownOptions | null,
    members: readonly TableSpec[],
    path: string,
  ): number {
    if (tag === 0 || value === null) return 0;
    const spec = members[tag - 1];
    if (!spec || "unknownTag" in value) {
      this.fail(`union tag ${tag} is not in this schema, so its table cannot be re-encoded`, path);
    }
    const opts = value as Options;
    const b = this.b;
    // Offsets (strings, vectors) must exist before the table is started.
    const refs = spec.fields.map((f) => this.optionRef(f, opts[f.name], `${path}.${f.name}`));
    b.startObject(spec.fields.length);
    spec.fields.forEach((f, id) => {
      if (refs[id]) {
        b.addFieldOffset(id, refs[id], 0);
        return;
      }
      const v = opts[f.name];
      if (v === undefined || v === null) return;
      this.optionScalar(f, id, v, `${path}.${f.name}`);
    });
    return b.endObject();
  }

  private optionRef(f: FieldSpec, v: unknown, path: string): number {
    if (v === undefined || v === null) return 0;
    const b = this.b;
    switch (f.kind) {
      case "string":
        return b.createString(String(v));
      case "[i32]":
      case "[u32]":
        return this.i32s(v as number[]);
      case "[i64]":
        return this.i64s(v as number[]);
      case "[f32]":
        return this.f32s(v as Float32Array);
      case "[u8]":
        return b.createByteVector(v as Uint8Array);
      case "[bool]":
        return this.bools(v as boolean[]);
      default:
        if (typeof v === "object") this.fail(`expected a scalar for ${f.kind}`, path);
        return 0;
    }
  }

  private optionScalar(f: FieldSpec, id: number, v: unknown, path: string): void {
    const b = this.b;
    switch (f.kind) {
      case "bool":
        b.addFieldInt8(id, v ? 1 : 0, f.default === true ? 1 : 0);
        return;
      case "i8":
      case "u8": {
        let n = v;
        if (typeof v === "string") {
          n = f.enumNames?.indexOf(v) ?? -1;
          if (n === -1) this.fail(`${v} is not a member of this enum`, path);
        }
        b.addFieldInt8(id, Number(n), Number(f.default ?? 0));
        return;
      }
      case "i32":
      case "u32":
        b.addFieldInt32(id, Number(v) | 0, Number(f.default ?? 0));
        return;
      case "i64":
        b.addFieldInt64(id, BigInt(v as bigint), BigInt(f.default ?? 0));
        return;
      case "f32":
        b.addFieldFloat32(id, Number(v), Number(f.default ?? 0));
        return;
    }
  }
}

function sparseTag(v: SparseIndexVector | null): number {
  return v ? SPARSE_INDEX_VECTOR.indexOf(v.type) : 0;
}
