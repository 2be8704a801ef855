/**
 * Reads a TFLite flatbuffer into plain objects (model.ts). Table access is hand-written over a DataView
 * because the flatbuffers runtime trusts every offset it follows: here each vtable, table, vector and
 * string is bounds-checked before use, and a failure names the table path and byte offset.
 */
import { LatheError, toSafeNumber } from "../../ir/errors.ts";
import type {
  Buffer,
  DimensionMetadata,
  ExternalBuffer,
  Metadata,
  Operator,
  OperatorCode,
  Options,
  OptionValue,
  Quantization,
  SignatureDef,
  SparseIndexVector,
  Sparsity,
  Subgraph,
  Tensor,
  TensorMap,
  TfliteModel,
  UnknownOptions,
  VariantSubType,
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
  QUANTIZATION,
  QUANTIZATION_DETAILS,
  scalarSize,
  SIGNATURE_DEF,
  SPARSE_INDEX_VECTOR,
  SPARSITY,
  SUBGRAPH,
  type TableSpec,
  TENSOR,
  TENSOR_MAP,
  TENSOR_TYPE_BYTES,
  TENSOR_TYPES,
  type TensorTypeName,
  VARIANT_SUBTYPE,
} from "./schema.ts";

export interface ReadOptions {
  /** File name for error messages. */
  file?: string;
}

/** A shape may not describe more elements than a double counts exactly. */
const MAX_ELEMENTS = Number.MAX_SAFE_INTEGER;

interface TableRef {
  readonly pos: number;
  readonly vt: number;
  readonly vtSize: number;
  readonly objSize: number;
  readonly path: string;
}

interface VectorRef {
  /** Position of the first element. */
  readonly start: number;
  readonly count: number;
}

const utf8 = new TextDecoder("utf-8");

/** Parses a whole .tflite file. Buffer data stays a view of `bytes`, so keep `bytes` alive and unchanged. */
export function readTflite(bytes: Uint8Array, options: ReadOptions = {}): TfliteModel {
  return new FlatReader(bytes, options.file).model();
}

class FlatReader {
  private readonly view: DataView;
  private readonly len: number;
  /**
   * Offsets may alias, so a small hostile file could make the same large vector decode once per tensor.
   * A legitimate file decodes at most about one element or table per byte it holds; this budget caps the
   * total work at a few times that.
   */
  private budget: number;

  constructor(private readonly bytes: Uint8Array, private readonly file?: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.len = bytes.byteLength;
    this.budget = 4 * this.len + 4096;
  }

  // ---- wire level ----------------------------------------------------------------------------------------

  private fail(
    reason: string,
    field: string,
    offset?: number,
    kind: "format" | "unsupported" = "format",
  ): never {
    throw new LatheError(kind, reason, { file: this.file, field, offset });
  }

  private spend(n: number, path: string, pos: number): void {
    this.budget -= n;
    if (this.budget < 0) {
      this.fail("decoding needs far more work than the file size allows (aliased offsets?)", path, pos);
    }
  }

  private u32(pos: number): number {
    return this.view.getUint32(pos, true);
  }

  /** Validates the table at `pos` and its vtable. */
  private table(pos: number, path: string): TableRef {
    if (pos < 0 || pos + 4 > this.len) {
      this.fail(`table at byte ${pos} lies outside the file (${this.len} bytes)`, path, pos);
    }
    const vt = pos - this.view.getInt32(pos, true);
    if (vt < 0 || vt + 4 > this.len) {
      this.fail(`vtable offset points to byte ${vt}, outside the file`, path, pos);
    }
    const vtSize = this.view.getUint16(vt, true);
    const objSize = this.view.getUint16(vt + 2, true);
    if (vtSize < 4 || vtSize % 2 !== 0 || vt + vtSize > this.len) {
      this.fail(`bad vtable size ${vtSize} at byte ${vt}`, path, vt);
    }
    if (objSize < 4 || pos + objSize > this.len) {
      this.fail(`table size ${objSize} runs past the end of the file`, path, pos);
    }
    this.spend(1, path, pos);
    return { pos, vt, vtSize, objSize, path };
  }

  /** Absolute position of field `id` (of `size` bytes), or 0 when the field is absent. */
  private field(t: TableRef, id: number, size: number, name: string): number {
    const slot = 4 + 2 * id;
    if (slot >= t.vtSize) return 0;
    const off = this.view.getUint16(t.vt + slot, true);
    if (off === 0) return 0;
    if (off < 4 || off + size > t.objSize) {
      this.fail(
        `field offset ${off} (+${size} bytes) outside the ${t.objSize}-byte table`,
        `${t.path}.${name}`,
        t.pos,
      );
    }
    return t.pos + off;
  }

  private u8(t: TableRef, id: number, name: string, def = 0): number {
    const p = this.field(t, id, 1, name);
    return p ? this.view.getUint8(p) : def;
  }
  private i8(t: TableRef, id: number, name: string, def = 0): number {
    const p = this.field(t, id, 1, name);
    return p ? this.view.getInt8(p) : def;
  }
  private bool(t: TableRef, id: number, name: string, def = false): boolean {
    const p = this.field(t, id, 1, name);
    return p ? this.view.getUint8(p) !== 0 : def;
  }
  private i32(t: TableRef, id: number, name: string, def = 0): number {
    const p = this.field(t, id, 4, name);
    return p ? this.view.getInt32(p, true) : def;
  }
  private u32f(t: TableRef, id: number, name: string, def = 0): number {
    const p = this.field(t, id, 4, name);
    return p ? this.u32(p) : def;
  }
  private i64(t: TableRef, id: number, name: string, def = 0n): bigint {
    const p = this.field(t, id, 8, name);
    return p ? this.view.getBigInt64(p, true) : def;
  }
  private u64n(t: TableRef, id: number, name: string): number {
    const p = this.field(t, id, 8, name);
    return p ? toSafeNumber(this.view.getBigUint64(p, true), this.where(`${t.path}.${name}`, p), name) : 0;
  }
  private where(field: string, offset: number) {
    return { file: this.file, field, offset };
  }

  /** Follows the uoffset in field `id`; returns the target position with 4 readable bytes, or 0. */
  private ref(t: TableRef, id: number, name: string): number {
    const p = this.field(t, id, 4, name);
    if (!p) return 0;
    const rel = this.u32(p);
    const target = p + rel;
    if (rel === 0 || target + 4 > this.len) {
      this.fail(`offset ${rel} at byte ${p} points outside the file`, `${t.path}.${name}`, p);
    }
    return target;
  }

  private vector(t: TableRef, id: number, elemSize: number, name: string, decoded = true): VectorRef | null {
    const target = this.ref(t, id, name);
    if (!target) return null;
    return this.vectorAt(target, elemSize, `${t.path}.${name}`, decoded);
  }

  private vectorAt(target: number, elemSize: number, path: string, decoded: boolean): VectorRef {
    const count = this.u32(target);
    const start = target + 4;
    if (start + count * elemSize > this.len) {
      this.fail(`vector length ${count} runs past the end of the file at byte ${target}`, path, target);
    }
    if (decoded) this.spend(count, path, target);
    return { start, count };
  }

  private string(t: TableRef, id: number, name: string): string | null {
    const v = this.vector(t, id, 1, name);
    if (!v) return null;
    return utf8.decode(this.bytes.subarray(v.start, v.start + v.count));
  }

  private i32s(t: TableRef, id: number, name: string): number[] | null {
    const v = this.vector(t, id, 4, name);
    if (!v) return null;
    const out = new Array<number>(v.count);
    for (let i = 0; i < v.count; i++) out[i] = this.view.getInt32(v.start + 4 * i, true);
    return out;
  }

  private u32s(t: TableRef, id: number, name: string): number[] | null {
    const v = this.vector(t, id, 4, name);
    if (!v) return null;
    const out = new Array<number>(v.count);
    for (let i = 0; i < v.count; i++) out[i] = this.u32(v.start + 4 * i);
    return out;
  }

  private f32s(t: TableRef, id: number, name: string): Float32Array | null {
    const v = this.vector(t, id, 4, name);
    if (!v) return null;
    const out = new Float32Array(v.count);
    for (let i = 0; i < v.count; i++) out[i] = this.view.getFloat32(v.start + 4 * i, true);
    return out;
  }

  private i64s(t: TableRef, id: number, name: string): number[] | null {
    const v = this.vector(t, id, 8, name);
    if (!v) return null;
    const out = new Array<number>(v.count);
    const path = `${t.path}.${name}`;
    for (let i = 0; i < v.count; i++) {
      const p = v.start + 8 * i;
      out[i] = toSafeNumber(this.view.getBigInt64(p, true), this.where(`${path}[${i}]`, p), name);
    }
    return out;
  }

  private bools(t: TableRef, id: number, name: string): boolean[] | null {
    const v = this.vector(t, id, 1, name);
    if (!v) return null;
    const out = new Array<boolean>(v.count);
    for (let i = 0; i < v.count; i++) out[i] = this.bytes[v.start + i] !== 0;
    return out;
  }

  /** A zero-copy view of a [ubyte] field. */
  private byteView(t: TableRef, id: number, name: string): Uint8Array | null {
    const v = this.vector(t, id, 1, name, false);
    return v ? this.bytes.subarray(v.start, v.start + v.count) : null;
  }

  /** Each element of a vector of tables, validated, with its index path. */
  private tables(t: TableRef, id: number, name: string): TableRef[] {
    const v = this.vector(t, id, 4, name);
    if (!v) return [];
    const out = new Array<TableRef>(v.count);
    for (let i = 0; i < v.count; i++) {
      const p = v.start + 4 * i;
      const path = `${t.path === "model" ? "" : t.path + "."}${name}[${i}]`;
      const rel = this.u32(p);
      if (rel === 0 || p + rel + 4 > this.len) {
        this.fail(`offset ${rel} at byte ${p} points outside the file`, path, p);
      }
      out[i] = this.table(p + rel, path);
    }
    return out;
  }

  private subTable(t: TableRef, id: number, name: string): TableRef | null {
    const target = this.ref(t, id, name);
    return target ? this.table(target, `${t.path}.${name}`) : null;
  }

  // ---- schema level --------------------------------------------------------------------------------------

  model(): TfliteModel {
    if (this.len < 8) this.fail(`file is ${this.len} bytes, too short for a flatbuffer header`, "header", 0);
    const id = String.fromCharCode(...this.bytes.subarray(4, 8));
    if (id !== FILE_IDENTIFIER) {
      this.fail(`file identifier is ${JSON.stringify(id)}, expected "${FILE_IDENTIFIER}"`, "header", 4);
    }
    const m = this.table(this.u32(0), "model");
    const buffers = this.tables(m, MODEL.buffers, "buffers").map((t) => this.buffer(t));
    const operatorCodes = this.tables(m, MODEL.operatorCodes, "operator_codes").map((t) =>
      this.operatorCode(t)
    );
    const subgraphTables = this.tables(m, MODEL.subgraphs, "subgraphs");
    if (subgraphTables.length === 0) this.fail("model has no subgraphs", "model.subgraphs", m.pos);
    const calls: number[][] = subgraphTables.map(() => []);
    const subgraphs = subgraphTables.map((t, i) =>
      this.subgraph(t, buffers, operatorCodes.length, subgraphTables.length, calls[i])
    );
    checkNoCallCycle(calls, (reason, field) => this.fail(reason, field));

    const metadata = this.tables(m, MODEL.metadata, "metadata").map((t): Metadata => {
      const buffer = this.u32f(t, METADATA.buffer, "buffer");
      if (buffer >= buffers.length) {
        this.fail(
          `buffer index ${buffer} out of range (${buffers.length} buffers)`,
          `${t.path}.buffer`,
          t.pos,
        );
      }
      return { name: this.string(t, METADATA.name, "name") ?? "", buffer };
    });
    const metadataBuffer = this.i32s(m, MODEL.metadataBuffer, "metadata_buffer") ?? [];
    const signatureDefs = this.tables(m, MODEL.signatureDefs, "signature_defs").map((t) =>
      this.signatureDef(t, subgraphs)
    );
    const externalBufferGroups = this.tables(m, MODEL.externalBufferGroups, "external_buffer_groups").map((
      t,
    ) => ({
      name: this.string(t, EXTERNAL_BUFFER_GROUP.name, "name") ?? "",
    }));
    const externalBuffers = this.tables(m, MODEL.externalBuffers, "external_buffers").map((
      t,
    ): ExternalBuffer => ({
      id: this.u32f(t, EXTERNAL_BUFFER.id, "id"),
      group: this.u32f(t, EXTERNAL_BUFFER.group, "group"),
      offset: this.u64n(t, EXTERNAL_BUFFER.offset, "offset"),
      length: this.u64n(t, EXTERNAL_BUFFER.length, "length"),
      packing: this.string(t, EXTERNAL_BUFFER.packing, "packing") ?? "",
    }));
    return {
      version: this.u32f(m, MODEL.version, "version"),
      operatorCodes,
      subgraphs,
      description: this.string(m, MODEL.description, "description") ?? "",
      buffers,
      metadataBuffer,
      metadata,
      signatureDefs,
      externalBufferGroups,
      externalBuffers,
    };
  }

  private buffer(t: TableRef): Buffer {
    const inline = this.byteView(t, BUFFER.data, "data");
    const offset = this.u64n(t, BUFFER.offset, "offset");
    const size = this.u64n(t, BUFFER.size, "size");
    // The exporter writes offset 1 as a placeholder; only offset > 1 means "data past the flatbuffer".
    if (offset > 1) {
      if (inline && inline.length > 0) {
        this.fail("buffer has both inline data and an external offset", t.path, t.pos);
      }
      if (offset + size > this.len) {
        this.fail(
          `external data ${offset}+${size} runs past the end of the file (${this.len} bytes)`,
          t.path,
          t.pos,
        );
      }
      return { data: this.bytes.subarray(offset, offset + size), offset, size };
    }
    return { data: inline ?? this.bytes.subarray(0, 0), offset, size };
  }

  private operatorCode(t: TableRef): OperatorCode {
    const deprecated = this.i8(t, OPERATOR_CODE.deprecatedBuiltinCode, "deprecated_builtin_code");
    const extended = this.i32(t, OPERATOR_CODE.builtinCode, "builtin_code");
    const builtinCode = Math.max(deprecated, extended);
    if (builtinCode < 0) this.fail(`negative builtin code ${builtinCode}`, t.path, t.pos);
    return {
      builtinCode,
      customCode: this.string(t, OPERATOR_CODE.customCode, "custom_code"),
      version: this.i32(t, OPERATOR_CODE.version, "version", 1),
    };
  }

  private tensorType(code: number, path: string, pos: number): TensorTypeName {
    const name = TENSOR_TYPES[code];
    if (name === undefined) this.fail(`unknown tensor type ${code}`, path, pos, "unsupported");
    return name;
  }

  private subgraph(
    t: TableRef,
    buffers: readonly Buffer[],
    nOpcodes: number,
    nSubgraphs: number,
    calls: number[],
  ): Subgraph {
    const tensors = this.tables(t, SUBGRAPH.tensors, "tensors").map((tt) => this.tensor(tt, buffers));
    const nTensors = tensors.length;
    const inputs = this.i32s(t, SUBGRAPH.inputs, "inputs") ?? [];
    const outputs = this.i32s(t, SUBGRAPH.outputs, "outputs") ?? [];
    this.checkIndices(inputs, nTensors, false, `${t.path}.inputs`, t.pos);
    this.checkIndices(outputs, nTensors, false, `${t.path}.outputs`, t.pos);
    const operators = this.tables(t, SUBGRAPH.operators, "operators").map((ot) =>
      this.operator(ot, nTensors, nOpcodes, nSubgraphs, calls)
    );
    return {
      tensors,
      inputs,
      outputs,
      operators,
      name: this.string(t, SUBGRAPH.name, "name") ?? "",
      debugMetadataIndex: this.i32(t, SUBGRAPH.debugMetadataIndex, "debug_metadata_index", -1),
    };
  }

  private checkIndices(
    list: readonly number[],
    n: number,
    optional: boolean,
    path: string,
    pos: number,
  ): void {
    for (let i = 0; i < list.length; i++) {
      const v = list[i];
      if ((v < 0 || v >= n) && !(optional && v === -1)) {
        this.fail(`tensor index ${v} out of range (${n} tensors)`, `${path}[${i}]`, pos);
      }
    }
  }

  private tensor(t: TableRef, buffers: readonly Buffer[]): Tensor {
    const nBuffers = buffers.length;
    const shape = this.i32s(t, TENSOR.shape, "shape") ?? [];
    let elements = 1;
    for (const d of shape) {
      if (d < 0) this.fail(`negative dimension ${d} in shape [${shape}]`, `${t.path}.shape`, t.pos);
      elements *= d;
    }
    if (elements > MAX_ELEMENTS) {
      this.fail(`shape [${shape}] has more than 2^53 elements`, `${t.path}.shape`, t.pos);
    }
    const shapeSignature = this.i32s(t, TENSOR.shapeSignature, "shape_signature");
    if (shapeSignature) {
      for (const d of shapeSignature) {
        if (d < -1) {
          this.fail(
            `dimension ${d} in shape_signature (only -1 may be negative)`,
            `${t.path}.shape_signature`,
            t.pos,
          );
        }
      }
    }
    const type = this.tensorType(this.i8(t, TENSOR.type, "type"), `${t.path}.type`, t.pos);
    const buffer = this.u32f(t, TENSOR.buffer, "buffer");
    if (buffer >= nBuffers) {
      this.fail(`buffer index ${buffer} out of range (${nBuffers} buffers)`, `${t.path}.buffer`, t.pos);
    }
    const qt = this.subTable(t, TENSOR.quantization, "quantization");
    const quantization = qt ? this.quantization(qt, shape) : null;
    const st = this.subTable(t, TENSOR.sparsity, "sparsity");
    // Kernels index constant data by shape, so a dense buffer must hold exactly the elements it claims.
    const width = TENSOR_TYPE_BYTES[type];
    const data = buffers[buffer].data;
    if (buffer !== 0 && data.length > 0 && width !== undefined && !st && data.length !== elements * width) {
      this.fail(
        `buffer ${buffer} holds ${data.length} bytes but shape [${shape}] of ${type} needs ${
          elements * width
        }`,
        `${t.path}.buffer`,
        t.pos,
      );
    }
    const variantTensors = this.tables(t, TENSOR.variantTensors, "variant_tensors").map((
      vt,
    ): VariantSubType => ({
      shape: this.i32s(vt, VARIANT_SUBTYPE.shape, "shape") ?? [],
      type: this.tensorType(this.i8(vt, VARIANT_SUBTYPE.type, "type"), `${vt.path}.type`, vt.pos),
      hasRank: this.bool(vt, VARIANT_SUBTYPE.hasRank, "has_rank"),
    }));
    return {
      shape,
      shapeSignature,
      type,
      buffer,
      name: this.string(t, TENSOR.name, "name") ?? "",
      quantization,
      isVariable: this.bool(t, TENSOR.isVariable, "is_variable"),
      sparsity: st ? this.sparsity(st) : null,
      hasRank: this.bool(t, TENSOR.hasRank, "has_rank"),
      variantTensors,
      externalBuffer: this.u32f(t, TENSOR.externalBuffer, "external_buffer"),
    };
  }

  private quantization(t: TableRef, shape: readonly number[]): Quantization {
    const scale = this.f32s(t, QUANTIZATION.scale, "scale") ?? new Float32Array(0);
    const zeroPoint = this.i64s(t, QUANTIZATION.zeroPoint, "zero_point") ?? [];
    const quantizedDimension = this.i32(t, QUANTIZATION.quantizedDimension, "quantized_dimension");
    if (scale.length > 0 && zeroPoint.length > 0 && scale.length !== zeroPoint.length) {
      this.fail(`${scale.length} scales but ${zeroPoint.length} zero points`, t.path, t.pos);
    }
    if (scale.length > 1) {
      if (quantizedDimension < 0 || quantizedDimension >= shape.length) {
        this.fail(
          `quantized_dimension ${quantizedDimension} out of range for rank ${shape.length}`,
          t.path,
          t.pos,
        );
      }
      if (shape[quantizedDimension] !== scale.length) {
        this.fail(
          `${scale.length} scales along dimension ${quantizedDimension} of size ${shape[quantizedDimension]}`,
          t.path,
          t.pos,
        );
      }
    }
    const detailsType = this.u8(t, QUANTIZATION.detailsType, "details_type");
    return {
      min: this.f32s(t, QUANTIZATION.min, "min") ?? new Float32Array(0),
      max: this.f32s(t, QUANTIZATION.max, "max") ?? new Float32Array(0),
      scale,
      zeroPoint,
      detailsType,
      details: this.union(t, detailsType, QUANTIZATION.details, "details", QUANTIZATION_DETAILS, -1, null),
      quantizedDimension,
    };
  }

  private sparsity(t: TableRef): Sparsity {
    return {
      traversalOrder: this.i32s(t, SPARSITY.traversalOrder, "traversal_order") ?? [],
      blockMap: this.i32s(t, SPARSITY.blockMap, "block_map") ?? [],
      dimMetadata: this.tables(t, SPARSITY.dimMetadata, "dim_metadata").map((dt): DimensionMetadata => ({
        format: this.i8(dt, DIMENSION_METADATA.format, "format"),
        denseSize: this.i32(dt, DIMENSION_METADATA.denseSize, "dense_size"),
        arraySegments: this.sparseIndexVector(dt, DIMENSION_METADATA.arraySegmentsType, "array_segments"),
        arrayIndices: this.sparseIndexVector(dt, DIMENSION_METADATA.arrayIndicesType, "array_indices"),
      })),
    };
  }

  private sparseIndexVector(t: TableRef, typeId: number, name: string): SparseIndexVector | null {
    const tag = this.u8(t, typeId, `${name}_type`);
    if (tag === 0) return null;
    const kind = SPARSE_INDEX_VECTOR[tag];
    if (!kind) this.fail(`unknown SparseIndexVector tag ${tag}`, `${t.path}.${name}_type`, t.pos);
    const vt = this.subTable(t, typeId + 1, name);
    const size = kind === "int32" ? 4 : kind === "uint16" ? 2 : 1;
    const v = vt ? this.vector(vt, 0, size, "values") : null;
    const n = v ? v.count : 0;
    const at = (i: number) => v!.start + size * i;
    if (kind === "int32") {
      const values = new Int32Array(n);
      for (let i = 0; i < n; i++) values[i] = this.view.getInt32(at(i), true);
      return { type: kind, values };
    }
    if (kind === "uint16") {
      const values = new Uint16Array(n);
      for (let i = 0; i < n; i++) values[i] = this.view.getUint16(at(i), true);
      return { type: kind, values };
    }
    return { type: kind, values: v ? this.bytes.slice(v.start, v.start + n) : new Uint8Array(0) };
  }

  private operator(
    t: TableRef,
    nTensors: number,
    nOpcodes: number,
    nSubgraphs: number,
    calls: number[],
  ): Operator {
    const opcodeIndex = this.u32f(t, OPERATOR.opcodeIndex, "opcode_index");
    if (opcodeIndex >= nOpcodes) {
      this.fail(
        `opcode index ${opcodeIndex} out of range (${nOpcodes} operator codes)`,
        `${t.path}.opcode_index`,
        t.pos,
      );
    }
    const inputs = this.i32s(t, OPERATOR.inputs, "inputs") ?? [];
    const outputs = this.i32s(t, OPERATOR.outputs, "outputs") ?? [];
    const intermediates = this.i32s(t, OPERATOR.intermediates, "intermediates") ?? [];
    this.checkIndices(inputs, nTensors, true, `${t.path}.inputs`, t.pos);
    this.checkIndices(outputs, nTensors, true, `${t.path}.outputs`, t.pos);
    this.checkIndices(intermediates, nTensors, false, `${t.path}.intermediates`, t.pos);

    let customOptions = this.byteView(t, OPERATOR.customOptions, "custom_options");
    const largeOffset = this.u64n(t, OPERATOR.largeCustomOptionsOffset, "large_custom_options_offset");
    if (largeOffset > 1) {
      const size = this.u64n(t, OPERATOR.largeCustomOptionsSize, "large_custom_options_size");
      if (largeOffset + size > this.len) {
        this.fail(`large custom options ${largeOffset}+${size} run past the end of the file`, t.path, t.pos);
      }
      customOptions = this.bytes.subarray(largeOffset, largeOffset + size);
    }

    const builtinOptionsType = this.u8(t, OPERATOR.builtinOptionsType, "builtin_options_type");
    const builtinOptions2Type = this.u8(t, OPERATOR.builtinOptions2Type, "builtin_options_2_type");
    return {
      opcodeIndex,
      inputs,
      outputs,
      builtinOptionsType,
      builtinOptions: this.union(
        t,
        builtinOptionsType,
        OPERATOR.builtinOptions,
        "builtin_options",
        BUILTIN_OPTIONS,
        nSubgraphs,
        calls,
      ),
      customOptions,
      customOptionsFormat: this.i8(t, OPERATOR.customOptionsFormat, "custom_options_format"),
      mutatingVariableInputs: this.bools(t, OPERATOR.mutatingVariableInputs, "mutating_variable_inputs") ??
        [],
      intermediates,
      builtinOptions2Type,
      builtinOptions2: this.union(
        t,
        builtinOptions2Type,
        OPERATOR.builtinOptions2,
        "builtin_options_2",
        BUILTIN_OPTIONS_2,
        nSubgraphs,
        calls,
      ),
      debugMetadataIndex: this.i32(t, OPERATOR.debugMetadataIndex, "debug_metadata_index", -1),
    };
  }

  /**
   * Decodes a union member with the schema's field list. Subgraph-index fields are range-checked and
   * recorded in `calls` (when given) for the cycle check; they are never followed here.
   */
  private union(
    t: TableRef,
    tag: number,
    id: number,
    name: string,
    members: readonly TableSpec[],
    nSubgraphs: number,
    calls: number[] | null,
  ): Options | UnknownOptions | null {
    if (tag === 0) return null;
    const target = this.ref(t, id, name);
    const spec = members[tag - 1];
    if (!spec) return { unknownTag: tag, tableOffset: target };
    const path = `${t.path}.${name}`;
    // A union tag without its table reads as the table's defaults.
    const ot: TableRef = target ? this.table(target, path) : { pos: 0, vt: 0, vtSize: 0, objSize: 0, path };
    const out: Options = {};
    for (let fid = 0; fid < spec.fields.length; fid++) {
      const f = spec.fields[fid];
      const value = this.optionField(ot, fid, f);
      if (f.subgraph && calls) {
        const list = Array.isArray(value) ? value as number[] : [value as number];
        for (const s of list) {
          if (s < 0 || s >= nSubgraphs) {
            this.fail(
              `subgraph index ${s} out of range (${nSubgraphs} subgraphs)`,
              `${path}.${f.name}`,
              ot.pos,
            );
          }
          calls.push(s);
        }
      }
      out[f.name] = value;
    }
    return out;
  }

  private optionField(t: TableRef, id: number, f: FieldSpec): OptionValue {
    if (t.vtSize === 0) return defaultValue(f);
    switch (f.kind) {
      case "bool":
        return this.bool(t, id, f.name, f.default === true);
      case "i8":
      case "u8": {
        const v = f.kind === "i8"
          ? this.i8(t, id, f.name, Number(f.default ?? 0))
          : this.u8(t, id, f.name, Number(f.default ?? 0));
        return f.enumNames ? (f.enumNames[v] ?? v) : v;
      }
      case "i32":
        return this.i32(t, id, f.name, Number(f.default ?? 0));
      case "u32":
        return this.u32f(t, id, f.name, Number(f.default ?? 0));
      case "i64":
        return this.i64(t, id, f.name, BigInt(f.default ?? 0));
      case "f32": {
        const p = this.field(t, id, scalarSize("f32"), f.name);
        return p ? this.view.getFloat32(p, true) : Number(f.default ?? 0);
      }
      case "string":
        return this.string(t, id, f.name);
      case "[i32]":
        return this.i32s(t, id, f.name);
      case "[u32]":
        return this.u32s(t, id, f.name);
      case "[i64]":
        return this.i64s(t, id, f.name);
      case "[f32]":
        return this.f32s(t, id, f.name);
      case "[u8]":
        return this.byteView(t, id, f.name);
      case "[bool]":
        return this.bools(t, id, f.name);
    }
  }

  private signatureDef(t: TableRef, subgraphs: readonly Subgraph[]): SignatureDef {
    const subgraphIndex = this.u32f(t, SIGNATURE_DEF.subgraphIndex, "subgraph_index");
    if (subgraphIndex >= subgraphs.length) {
      this.fail(
        `subgraph index ${subgraphIndex} out of range (${subgraphs.length} subgraphs)`,
        `${t.path}.subgraph_index`,
        t.pos,
      );
    }
    const nTensors = subgraphs[subgraphIndex].tensors.length;
    const maps = (id: number, name: string) =>
      this.tables(t, id, name).map((mt): TensorMap => {
        const tensorIndex = this.u32f(mt, TENSOR_MAP.tensorIndex, "tensor_index");
        if (tensorIndex >= nTensors) {
          this.fail(
            `tensor index ${tensorIndex} out of range (${nTensors} tensors)`,
            `${mt.path}.tensor_index`,
            mt.pos,
          );
        }
        return { name: this.string(mt, TENSOR_MAP.name, "name") ?? "", tensorIndex };
      });
    return {
      inputs: maps(SIGNATURE_DEF.inputs, "inputs"),
      outputs: maps(SIGNATURE_DEF.outputs, "outputs"),
      signatureKey: this.string(t, SIGNATURE_DEF.signatureKey, "signature_key") ?? "",
      subgraphIndex,
    };
  }
}

function defaultValue(f: FieldSpec): OptionValue {
  switch (f.kind) {
    case "bool":
      return f.default === true;
    case "i64":
      return BigInt(f.default ?? 0);
    case "i8":
    case "u8": {
      const v = Number(f.default ?? 0);
      return f.enumNames ? (f.enumNames[v] ?? v) : v;
    }
    case "i32":
    case "u32":
    case "f32":
      return Number(f.default ?? 0);
    default:
      return null;
  }
}

/**
 * Control-flow ops name other subgraphs; a subgraph that reaches itself would make any later walk over
 * the call graph recurse forever, so such files are rejected here (iteratively, without recursion).
 */
function checkNoCallCycle(calls: readonly number[][], fail: (reason: string, field: string) => never): void {
  const state = new Uint8Array(calls.length); // 0 unvisited, 1 on the stack, 2 done
  for (let root = 0; root < calls.length; root++) {
    if (state[root]) continue;
    const stack: [number, number][] = [[root, 0]];
    state[root] = 1;
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [node, next] = top;
      if (next >= calls[node].length) {
        state[node] = 2;
        stack.pop();
        continue;
      }
      top[1]++;
      const callee = calls[node][next];
      if (state[callee] === 1) {
        const cycle = [...stack.slice(stack.findIndex((s) => s[0] === callee)).map((s) => s[0]), callee];
        fail(`subgraph call cycle ${cycle.join(" -> ")}`, `subgraphs[${node}]`);
      }
      if (state[callee] === 0) {
        state[callee] = 1;
        stack.push([callee, 0]);
      }
    }
  }
}
