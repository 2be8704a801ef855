/**
 * A TFLite file as plain objects, one interface per schema table (formats.md §2.2), before any mapping
 * into Lathe's IR. The reader produces these and the writer consumes them; names are camelCase versions
 * of the schema's, except option tables, which keep the schema's snake_case field names.
 */
import type { TensorTypeName } from "./schema.ts";

/** A decoded option table: field name → value, with schema defaults filled in. */
export type OptionValue =
  | number
  | boolean
  | bigint
  | string
  | null
  | number[]
  | boolean[]
  | Float32Array
  | Uint8Array;
export type Options = Record<string, OptionValue>;

/** An option table whose union tag this schema does not know; kept by position, cannot be re-written. */
export interface UnknownOptions {
  readonly unknownTag: number;
  /** Byte offset of the table in the file it was read from. */
  readonly tableOffset: number;
}

export interface TfliteModel {
  version: number;
  operatorCodes: OperatorCode[];
  /** Subgraph 0 is the main graph. */
  subgraphs: Subgraph[];
  description: string;
  /** Buffer 0 is the empty sentinel that tensors without data point to. */
  buffers: Buffer[];
  /** Deprecated buffer indices; kept so files round trip. */
  metadataBuffer: number[];
  metadata: Metadata[];
  signatureDefs: SignatureDef[];
  externalBufferGroups: { name: string }[];
  externalBuffers: ExternalBuffer[];
}

export interface OperatorCode {
  /** max(deprecated_builtin_code, builtin_code); 32 = CUSTOM. */
  builtinCode: number;
  customCode: string | null;
  version: number;
}

export interface Subgraph {
  tensors: Tensor[];
  inputs: number[];
  outputs: number[];
  operators: Operator[];
  name: string;
  debugMetadataIndex: number;
}

export interface Tensor {
  shape: number[];
  /** Same rank as shape with -1 for dynamic dimensions; null when the file has none. */
  shapeSignature: number[] | null;
  type: TensorTypeName;
  /** Index into TfliteModel.buffers; 0 = no data. */
  buffer: number;
  name: string;
  quantization: Quantization | null;
  isVariable: boolean;
  sparsity: Sparsity | null;
  hasRank: boolean;
  variantTensors: VariantSubType[];
  externalBuffer: number;
}

/** real = scale · (q − zeroPoint), per tensor or along quantizedDimension. Absent vectors are empty. */
export interface Quantization {
  min: Float32Array;
  max: Float32Array;
  scale: Float32Array;
  /** int64 in the schema; values outside the safe-integer range are rejected. */
  zeroPoint: number[];
  /** QuantizationDetails tag (0 = none, 1 Custom, 2 Blockwise, 3 MultiAxis). */
  detailsType: number;
  details: Options | UnknownOptions | null;
  quantizedDimension: number;
}

export interface Sparsity {
  traversalOrder: number[];
  blockMap: number[];
  dimMetadata: DimensionMetadata[];
}

export interface DimensionMetadata {
  /** 0 = DENSE, 1 = SPARSE_CSR. */
  format: number;
  denseSize: number;
  arraySegments: SparseIndexVector | null;
  arrayIndices: SparseIndexVector | null;
}

export type SparseIndexVector =
  | { type: "int32"; values: Int32Array }
  | { type: "uint16"; values: Uint16Array }
  | { type: "uint8"; values: Uint8Array };

export interface VariantSubType {
  shape: number[];
  type: TensorTypeName;
  hasRank: boolean;
}

export interface Operator {
  opcodeIndex: number;
  /** Tensor indices; -1 marks an omitted optional operand. */
  inputs: number[];
  outputs: number[];
  /** BuiltinOptions union tag (0 = none); BUILTIN_OPTIONS[tag - 1] names the table. */
  builtinOptionsType: number;
  builtinOptions: Options | UnknownOptions | null;
  /** A view of the file's bytes (inline or large_custom_options), or null when absent. */
  customOptions: Uint8Array | null;
  customOptionsFormat: number;
  mutatingVariableInputs: boolean[];
  intermediates: number[];
  builtinOptions2Type: number;
  builtinOptions2: Options | UnknownOptions | null;
  debugMetadataIndex: number;
}

export interface Buffer {
  /** Zero-copy view into the file: the inline `data` vector, or the external range offset..offset+size. */
  data: Uint8Array;
  /** The schema's offset/size fields: nonzero (offset > 1) only when the data lives past the flatbuffer. */
  offset: number;
  size: number;
}

export interface Metadata {
  name: string;
  buffer: number;
}

export interface SignatureDef {
  inputs: TensorMap[];
  outputs: TensorMap[];
  signatureKey: string;
  subgraphIndex: number;
}

export interface TensorMap {
  name: string;
  tensorIndex: number;
}

export interface ExternalBuffer {
  id: number;
  group: number;
  offset: number;
  length: number;
  packing: string;
}
