/**
 * The TFLite flatbuffer schema as data: field ids of the core tables, the enums, and one field list per
 * option table, so the reader and writer are driven by tables instead of one hand-written accessor per
 * field. Written from formats.md §2.1–2.4; the option tables and enum members that section does not list
 * were checked against the upstream `schema.fbs` (tensorflow/tflite-micro,
 * tensorflow/compiler/mlir/lite/schema/schema.fbs). Field id = position in a table's field list.
 */

/** The 4-byte file identifier at bytes 4..7. */
export const FILE_IDENTIFIER = "TFL3";

/** Field ids of the core tables (formats.md §2.2). Unions take two ids: `X_type`, then `X`. */
export const MODEL = {
  version: 0,
  operatorCodes: 1,
  subgraphs: 2,
  description: 3,
  buffers: 4,
  metadataBuffer: 5,
  metadata: 6,
  signatureDefs: 7,
  externalBufferGroups: 8,
  externalBuffers: 9,
} as const;

export const SUBGRAPH = {
  tensors: 0,
  inputs: 1,
  outputs: 2,
  operators: 3,
  name: 4,
  debugMetadataIndex: 5,
} as const;

export const TENSOR = {
  shape: 0,
  type: 1,
  buffer: 2,
  name: 3,
  quantization: 4,
  isVariable: 5,
  sparsity: 6,
  shapeSignature: 7,
  hasRank: 8,
  variantTensors: 9,
  externalBuffer: 10,
} as const;

export const BUFFER = { data: 0, offset: 1, size: 2 } as const;

export const OPERATOR = {
  opcodeIndex: 0,
  inputs: 1,
  outputs: 2,
  builtinOptionsType: 3,
  builtinOptions: 4,
  customOptions: 5,
  customOptionsFormat: 6,
  mutatingVariableInputs: 7,
  intermediates: 8,
  largeCustomOptionsOffset: 9,
  largeCustomOptionsSize: 10,
  builtinOptions2Type: 11,
  builtinOptions2: 12,
  debugMetadataIndex: 13,
} as const;

export const OPERATOR_CODE = { deprecatedBuiltinCode: 0, customCode: 1, version: 2, builtinCode: 3 } as const;

export const QUANTIZATION = {
  min: 0,
  max: 1,
  scale: 2,
  zeroPoint: 3,
  detailsType: 4,
  details: 5,
  quantizedDimension: 6,
} as const;

export const SPARSITY = { traversalOrder: 0, blockMap: 1, dimMetadata: 2 } as const;

/** DimensionMetadata: `array_segments` and `array_indices` are SparseIndexVector unions (two ids each). */
export const DIMENSION_METADATA = {
  format: 0,
  denseSize: 1,
  arraySegmentsType: 2,
  arraySegments: 3,
  arrayIndicesType: 4,
  arrayIndices: 5,
} as const;

/** SparseIndexVector union members, by tag (1-based); each is a table with one `values` vector (id 0). */
export const SPARSE_INDEX_VECTOR = [undefined, "int32", "uint16", "uint8"] as const;

export const VARIANT_SUBTYPE = { shape: 0, type: 1, hasRank: 2 } as const;
export const METADATA = { name: 0, buffer: 1 } as const;
export const SIGNATURE_DEF = { inputs: 0, outputs: 1, signatureKey: 2, subgraphIndex: 4 } as const;
export const TENSOR_MAP = { name: 0, tensorIndex: 1 } as const;
export const EXTERNAL_BUFFER_GROUP = { name: 0 } as const;
export const EXTERNAL_BUFFER = { id: 0, group: 1, offset: 2, length: 3, packing: 4 } as const;

/** TensorType by code (formats.md §2.3). */
export const TENSOR_TYPES = [
  "FLOAT32",
  "FLOAT16",
  "INT32",
  "UINT8",
  "INT64",
  "STRING",
  "BOOL",
  "INT16",
  "COMPLEX64",
  "INT8",
  "FLOAT64",
  "COMPLEX128",
  "UINT64",
  "RESOURCE",
  "VARIANT",
  "UINT32",
  "UINT16",
  "INT4",
  "BFLOAT16",
  "INT2",
  "UINT4",
  "FLOAT8_E4M3FN",
  "FLOAT8_E5M2",
] as const;
export type TensorTypeName = typeof TENSOR_TYPES[number];

/** Bytes per element for fixed-width types; sub-byte and variable-width types are absent. */
export const TENSOR_TYPE_BYTES: Readonly<Partial<Record<TensorTypeName, number>>> = {
  FLOAT32: 4,
  FLOAT16: 2,
  INT32: 4,
  UINT8: 1,
  INT64: 8,
  BOOL: 1,
  INT16: 2,
  COMPLEX64: 8,
  INT8: 1,
  FLOAT64: 8,
  COMPLEX128: 16,
  UINT64: 8,
  UINT32: 4,
  UINT16: 2,
  BFLOAT16: 2,
  FLOAT8_E4M3FN: 1,
  FLOAT8_E5M2: 1,
};

export const PADDING = ["SAME", "VALID"] as const;
export const ACTIVATION = ["NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT"] as const;
const FC_WEIGHTS_FORMAT = ["DEFAULT", "SHUFFLED4x16INT8"] as const;
const LSTM_KERNEL_TYPE = ["FULL", "BASIC"] as const;
const MIRROR_PAD_MODE = ["REFLECT", "SYMMETRIC"] as const;
const COMBINER_TYPE = ["SUM", "MEAN", "SQRTN"] as const;
const LSH_PROJECTION_TYPE = ["UNKNOWN", "SPARSE", "DENSE"] as const;
const RNG_ALGORITHM = ["DEFAULT", "PHILOX", "THREEFRY"] as const;

/**
 * BuiltinOperator names by code. Codes above 127 exist only in the int32 `builtin_code` field; the byte
 * field then holds 127 (PLACEHOLDER_FOR_GREATER_OP_CODES).
 */
export const BUILTIN_OPERATORS: readonly string[] = [
  "ADD",
  "AVERAGE_POOL_2D",
  "CONCATENATION",
  "CONV_2D",
  "DEPTHWISE_CONV_2D",
  "DEPTH_TO_SPACE",
  "DEQUANTIZE",
  "EMBEDDING_LOOKUP",
  "FLOOR",
  "FULLY_CONNECTED",
  "HASHTABLE_LOOKUP",
  "L2_NORMALIZATION",
  "L2_POOL_2D",
  "LOCAL_RESPONSE_NORMALIZATION",
  "LOGISTIC",
  "LSH_PROJECTION",
  "LSTM",
  "MAX_POOL_2D",
  "MUL",
  "RELU",
  "RELU_N1_TO_1",
  "RELU6",
  "RESHAPE",
  "RESIZE_BILINEAR",
  "RNN",
  "SOFTMAX",
  "SPACE_TO_DEPTH",
  "SVDF",
  "TANH",
  "CONCAT_EMBEDDINGS",
  "SKIP_GRAM",
  "CALL",
  "CUSTOM",
  "EMBEDDING_LOOKUP_SPARSE",
  "PAD",
  "UNIDIRECTIONAL_SEQUENCE_RNN",
  "GATHER",
  "BATCH_TO_SPACE_ND",
  "SPACE_TO_BATCH_ND",
  "TRANSPOSE",
  "MEAN",
  "SUB",
  "DIV",
  "SQUEEZE",
  "UNIDIRECTIONAL_SEQUENCE_LSTM",
  "STRIDED_SLICE",
  "BIDIRECTIONAL_SEQUENCE_RNN",
  "EXP",
  "TOPK_V2",
  "SPLIT",
  "LOG_SOFTMAX",
  "DELEGATE",
  "BIDIRECTIONAL_SEQUENCE_LSTM",
  "CAST",
  "PRELU",
  "MAXIMUM",
  "ARG_MAX",
  "MINIMUM",
  "LESS",
  "NEG",
  "PADV2",
  "GREATER",
  "GREATER_EQUAL",
  "LESS_EQUAL",
  "SELECT",
  "SLICE",
  "SIN",
  "TRANSPOSE_CONV",
  "SPARSE_TO_DENSE",
  "TILE",
  "EXPAND_DIMS",
  "EQUAL",
  "NOT_EQUAL",
  "LOG",
  "SUM",
  "SQRT",
  "RSQRT",
  "SHAPE",
  "POW",
  "ARG_MIN",
  "FAKE_QUANT",
  "REDUCE_PROD",
  "REDUCE_MAX",
  "PACK",
  "LOGICAL_OR",
  "ONE_HOT",
  "LOGICAL_AND",
  "LOGICAL_NOT",
  "UNPACK",
  "REDUCE_MIN",
  "FLOOR_DIV",
  "REDUCE_ANY",
  "SQUARE",
  "ZEROS_LIKE",
  "FILL",
  "FLOOR_MOD",
  "RANGE",
  "RESIZE_NEAREST_NEIGHBOR",
  "LEAKY_RELU",
  "SQUARED_DIFFERENCE",
  "MIRROR_PAD",
  "ABS",
  "SPLIT_V",
  "UNIQUE",
  "CEIL",
  "REVERSE_V2",
  "ADD_N",
  "GATHER_ND",
  "COS",
  "WHERE",
  "RANK",
  "ELU",
  "REVERSE_SEQUENCE",
  "MATRIX_DIAG",
  "QUANTIZE",
  "MATRIX_SET_DIAG",
  "ROUND",
  "HARD_SWISH",
  "IF",
  "WHILE",
  "NON_MAX_SUPPRESSION_V4",
  "NON_MAX_SUPPRESSION_V5",
  "SCATTER_ND",
  "SELECT_V2",
  "DENSIFY",
  "SEGMENT_SUM",
  "BATCH_MATMUL",
  "PLACEHOLDER_FOR_GREATER_OP_CODES",
  "CUMSUM",
  "CALL_ONCE",
  "BROADCAST_TO",
  "RFFT2D",
  "CONV_3D",
  "IMAG",
  "REAL",
  "COMPLEX_ABS",
  "HASHTABLE",
  "HASHTABLE_FIND",
  "HASHTABLE_IMPORT",
  "HASHTABLE_SIZE",
  "REDUCE_ALL",
  "CONV_3D_TRANSPOSE",
  "VAR_HANDLE",
  "READ_VARIABLE",
  "ASSIGN_VARIABLE",
  "BROADCAST_ARGS",
  "RANDOM_STANDARD_NORMAL",
  "BUCKETIZE",
  "RANDOM_UNIFORM",
  "MULTINOMIAL",
  "GELU",
  "DYNAMIC_UPDATE_SLICE",
  "RELU_0_TO_1",
  "UNSORTED_SEGMENT_PROD",
  "UNSORTED_SEGMENT_MAX",
  "UNSORTED_SEGMENT_SUM",
  "ATAN2",
  "UNSORTED_SEGMENT_MIN",
  "SIGN",
  "BITCAST",
  "BITWISE_XOR",
  "RIGHT_SHIFT",
  "STABLEHLO_LOGISTIC",
  "STABLEHLO_ADD",
  "STABLEHLO_DIVIDE",
  "STABLEHLO_MULTIPLY",
  "STABLEHLO_MAXIMUM",
  "STABLEHLO_RESHAPE",
  "STABLEHLO_CLAMP",
  "STABLEHLO_CONCATENATE",
  "STABLEHLO_BROADCAST_IN_DIM",
  "STABLEHLO_CONVOLUTION",
  "STABLEHLO_SLICE",
  "STABLEHLO_CUSTOM_CALL",
  "STABLEHLO_REDUCE",
  "STABLEHLO_ABS",
  "STABLEHLO_AND",
  "STABLEHLO_COSINE",
  "STABLEHLO_EXPONENTIAL",
  "STABLEHLO_FLOOR",
  "STABLEHLO_LOG",
  "STABLEHLO_MINIMUM",
  "STABLEHLO_NEGATE",
  "STABLEHLO_OR",
  "STABLEHLO_POWER",
  "STABLEHLO_REMAINDER",
  "STABLEHLO_RSQRT",
  "STABLEHLO_SELECT",
  "STABLEHLO_SUBTRACT",
  "STABLEHLO_TANH",
  "STABLEHLO_SCATTER",
  "STABLEHLO_COMPARE",
  "STABLEHLO_CONVERT",
  "STABLEHLO_DYNAMIC_SLICE",
  "STABLEHLO_DYNAMIC_UPDATE_SLICE",
  "STABLEHLO_PAD",
  "STABLEHLO_IOTA",
  "STABLEHLO_DOT_GENERAL",
  "STABLEHLO_REDUCE_WINDOW",
  "STABLEHLO_SORT",
  "STABLEHLO_WHILE",
  "STABLEHLO_GATHER",
  "STABLEHLO_TRANSPOSE",
  "DILATE",
  "STABLEHLO_RNG_BIT_GENERATOR",
  "REDUCE_WINDOW",
  "STABLEHLO_COMPOSITE",
  "STABLEHLO_SHIFT_LEFT",
  "STABLEHLO_CBRT",
  "STABLEHLO_CASE",
];

/** The byte-wide opcode field saturates here; larger codes live in the int32 field only. */
export const PLACEHOLDER_FOR_GREATER_OP_CODES = 127;

/** Operator code by name, e.g. BUILTIN_CODE.CONV_2D === 3. */
export const BUILTIN_CODE: Readonly<Record<string, number>> = Object.fromEntries(
  BUILTIN_OPERATORS.map((name, code) => [name, code]),
);

/**
 * How an option field is stored. Scalars: `bool`, `i8`, `u8`, `i32`, `u32`, `i64`, `f32`; offsets: `string`
 * and vectors `[T]`.
 */
export type FieldKind =
  | "bool"
  | "i8"
  | "u8"
  | "i32"
  | "u32"
  | "i64"
  | "f32"
  | "string"
  | "[i32]"
  | "[u32]"
  | "[i64]"
  | "[f32]"
  | "[u8]"
  | "[bool]";

export interface FieldSpec {
  readonly name: string;
  readonly kind: FieldKind;
  /** Schema default for scalars (0 / false when not given). Vectors and strings have no default. */
  readonly default?: number | boolean | bigint;
  /** For byte enums: member names by value; decoded values are names, out-of-range values stay numbers. */
  readonly enumNames?: readonly string[];
  /** The field holds subgraph indices (IF/WHILE/CALL bodies); the reader checks them. */
  readonly subgraph?: boolean;
}

export interface TableSpec {
  readonly name: string;
  /** Field id = index. */
  readonly fields: readonly FieldSpec[];
}

type FieldShorthand = readonly [string, FieldKind, (number | boolean | bigint)?] | FieldSpec;

function table(name: string, ...fields: FieldShorthand[]): TableSpec {
  return {
    name,
    fields: fields.map((f) => Array.isArray(f) ? { name: f[0], kind: f[1], default: f[2] } : f as FieldSpec),
  };
}

const padding: FieldSpec = { name: "padding", kind: "i8", enumNames: PADDING };
const act: FieldSpec = { name: "fused_activation_function", kind: "i8", enumNames: ACTIVATION };
const tensorType = (name: string, def = 0): FieldSpec => ({
  name,
  kind: "i8",
  default: def,
  enumNames: TENSOR_TYPES,
});
const byteEnum = (name: string, names: readonly string[], def = 0): FieldSpec => ({
  name,
  kind: "i8",
  default: def,
  enumNames: names,
});
const subgraphIndex = (name: string, kind: FieldKind = "i32"): FieldSpec => ({ name, kind, subgraph: true });
const empty = (name: string) => table(name);

/**
 * BuiltinOptions union members; the union tag is index + 1 (0 = NONE). The union is frozen at 126
 * members (formats.md §2.3).
 */
export const BUILTIN_OPTIONS: readonly TableSpec[] = [
  table(
    "Conv2DOptions",
    padding,
    ["stride_w", "i32"],
    ["stride_h", "i32"],
    act,
    ["dilation_w_factor", "i32", 1],
    ["dilation_h_factor", "i32", 1],
    tensorType("quantized_bias_type"),
  ),
  table(
    "DepthwiseConv2DOptions",
    padding,
    ["stride_w", "i32"],
    ["stride_h", "i32"],
    ["depth_multiplier", "i32"],
    act,
    ["dilation_w_factor", "i32", 1],
    ["dilation_h_factor", "i32", 1],
  ),
  table(
    "ConcatEmbeddingsOptions",
    ["num_channels", "i32"],
    ["num_columns_per_channel", "[i32]"],
    ["embedding_dim_per_channel", "[i32]"],
  ),
  table("LSHProjectionOptions", byteEnum("type", LSH_PROJECTION_TYPE)),
  table(
    "Pool2DOptions",
    padding,
    ["stride_w", "i32"],
    ["stride_h", "i32"],
    ["filter_width", "i32"],
    ["filter_height", "i32"],
    act,
  ),
  table("SVDFOptions", ["rank", "i32"], act, ["asymmetric_quantize_inputs", "bool"]),
  table("RNNOptions", act, ["asymmetric_quantize_inputs", "bool"]),
  table(
    "FullyConnectedOptions",
    act,
    byteEnum("weights_format", FC_WEIGHTS_FORMAT),
    ["keep_num_dims", "bool"],
    ["asymmetric_quantize_inputs", "bool"],
    tensorType("quantized_bias_type"),
  ),
  table("SoftmaxOptions", ["beta", "f32"]),
  table("ConcatenationOptions", ["axis", "i32"], act),
  table("AddOptions", act, ["pot_scale_int16", "bool", true]),
  table("L2NormOptions", act),
  table("LocalResponseNormalizationOptions", ["radius", "i32"], ["bias", "f32"], ["alpha", "f32"], [
    "beta",
    "f32",
  ]),
  table(
    "LSTMOptions",
    act,
    ["cell_clip", "f32"],
    ["proj_clip", "f32"],
    byteEnum("kernel_type", LSTM_KERNEL_TYPE),
    ["asymmetric_quantize_inputs", "bool"],
  ),
  table(
    "ResizeBilinearOptions",
    ["new_height", "i32"],
    ["new_width", "i32"],
    ["align_corners", "bool"],
    ["half_pixel_centers", "bool"],
  ),
  table("CallOptions", subgraphIndex("subgraph", "u32")),
  table("ReshapeOptions", ["new_shape", "[i32]"]),
  table("SkipGramOptions", ["ngram_size", "i32"], ["max_skip_size", "i32"], ["include_all_ngrams", "bool"]),
  table("SpaceToDepthOptions", ["block_size", "i32"]),
  table("EmbeddingLookupSparseOptions", byteEnum("combiner", COMBINER_TYPE)),
  table("MulOptions", act),
  empty("PadOptions"),
  table("GatherOptions", ["axis", "i32"], ["batch_dims", "i32"]),
  empty("BatchToSpaceNDOptions"),
  empty("SpaceToBatchNDOptions"),
  empty("TransposeOptions"),
  table("ReducerOptions", ["keep_dims", "bool"]),
  table("SubOptions", act, ["pot_scale_int16", "bool", true]),
  table("DivOptions", act),
  table("SqueezeOptions", ["squeeze_dims", "[i32]"]),
  table("SequenceRNNOptions", ["time_major", "bool"], act, ["asymmetric_quantize_inputs", "bool"]),
  table(
    "StridedSliceOptions",
    ["begin_mask", "i32"],
    ["end_mask", "i32"],
    ["ellipsis_mask", "i32"],
    ["new_axis_mask", "i32"],
    ["shrink_axis_mask", "i32"],
    ["offset", "bool"],
  ),
  empty("ExpOptions"),
  empty("TopKV2Options"),
  table("SplitOptions", ["num_splits", "i32"]),
  empty("LogSoftmaxOptions"),
  table("CastOptions", tensorType("in_data_type"), tensorType("out_data_type")),
  empty("DequantizeOptions"),
  empty("MaximumMinimumOptions"),
  table("ArgMaxOptions", tensorType("output_type")),
  empty("LessOptions"),
  empty("NegOptions"),
  empty("PadV2Options"),
  empty("GreaterOptions"),
  empty("GreaterEqualOptions"),
  empty("LessEqualOptions"),
  empty("SelectOptions"),
  empty("SliceOptions"),
  table(
    "TransposeConvOptions",
    padding,
    ["stride_w", "i32"],
    ["stride_h", "i32"],
    act,
    tensorType("quantized_bias_type"),
  ),
  table("SparseToDenseOptions", ["validate_indices", "bool"]),
  empty("TileOptions"),
  empty("ExpandDimsOptions"),
  empty("EqualOptions"),
  empty("NotEqualOptions"),
  table("ShapeOptions", tensorType("out_type")),
  empty("PowOptions"),
  table("ArgMinOptions", tensorType("output_type")),
  table("FakeQuantOptions", ["min", "f32"], ["max", "f32"], ["num_bits", "i32"], ["narrow_range", "bool"]),
  table("PackOptions", ["values_count", "i32"], ["axis", "i32"]),
  empty("LogicalOrOptions"),
  table("OneHotOptions", ["axis", "i32"]),
  empty("LogicalAndOptions"),
  empty("LogicalNotOptions"),
  table("UnpackOptions", ["num", "i32"], ["axis", "i32"]),
  empty("FloorDivOptions"),
  empty("SquareOptions"),
  empty("ZerosLikeOptions"),
  empty("FillOptions"),
  table(
    "BidirectionalSequenceLSTMOptions",
    act,
    ["cell_clip", "f32"],
    ["proj_clip", "f32"],
    ["merge_outputs", "bool"],
    ["time_major", "bool", true],
    ["asymmetric_quantize_inputs", "bool"],
  ),
  table(
    "BidirectionalSequenceRNNOptions",
    ["time_major", "bool"],
    act,
    ["merge_outputs", "bool"],
    ["asymmetric_quantize_inputs", "bool"],
  ),
  table(
    "UnidirectionalSequenceLSTMOptions",
    act,
    ["cell_clip", "f32"],
    ["proj_clip", "f32"],
    ["time_major", "bool"],
    ["asymmetric_quantize_inputs", "bool"],
    ["diagonal_recurrent_tensors", "bool"],
  ),
  empty("FloorModOptions"),
  empty("RangeOptions"),
  table("ResizeNearestNeighborOptions", ["align_corners", "bool"], ["half_pixel_centers", "bool"]),
  table("LeakyReluOptions", ["alpha", "f32"]),
  empty("SquaredDifferenceOptions"),
  table("MirrorPadOptions", byteEnum("mode", MIRROR_PAD_MODE)),
  empty("AbsOptions"),
  table("SplitVOptions", ["num_splits", "i32"]),
  table("UniqueOptions", tensorType("idx_out_type", 2)),
  empty("ReverseV2Options"),
  empty("AddNOptions"),
  empty("GatherNdOptions"),
  empty("CosOptions"),
  empty("WhereOptions"),
  empty("RankOptions"),
  table("ReverseSequenceOptions", ["seq_dim", "i32"], ["batch_dim", "i32"]),
  empty("MatrixDiagOptions"),
  empty("QuantizeOptions"),
  empty("MatrixSetDiagOptions"),
  empty("HardSwishOptions"),
  table("IfOptions", subgraphIndex("then_subgraph_index"), subgraphIndex("else_subgraph_index")),
  table("WhileOptions", subgraphIndex("cond_subgraph_index"), subgraphIndex("body_subgraph_index")),
  table("DepthToSpaceOptions", ["block_size", "i32"]),
  empty("NonMaxSuppressionV4Options"),
  empty("NonMaxSuppressionV5Options"),
  empty("ScatterNdOptions"),
  empty("SelectV2Options"),
  empty("DensifyOptions"),
  empty("SegmentSumOptions"),
  table("BatchMatMulOptions", ["adj_x", "bool"], ["adj_y", "bool"], ["asymmetric_quantize_inputs", "bool"]),
  table("CumsumOptions", ["exclusive", "bool"], ["reverse", "bool"]),
  table("CallOnceOptions", subgraphIndex("init_subgraph_index")),
  empty("BroadcastToOptions"),
  empty("Rfft2dOptions"),
  table(
    "Conv3DOptions",
    padding,
    ["stride_d", "i32"],
    ["stride_w", "i32"],
    ["stride_h", "i32"],
    act,
    ["dilation_d_factor", "i32", 1],
    ["dilation_w_factor", "i32", 1],
    ["dilation_h_factor", "i32", 1],
  ),
  table("HashtableOptions", ["table_id", "i32"], tensorType("key_dtype"), tensorType("value_dtype")),
  empty("HashtableFindOptions"),
  empty("HashtableImportOptions"),
  empty("HashtableSizeOptions"),
  table("VarHandleOptions", ["container", "string"], ["shared_name", "string"]),
  empty("ReadVariableOptions"),
  empty("AssignVariableOptions"),
  table("RandomOptions", ["seed", "i64"], ["seed2", "i64"]),
  table("BucketizeOptions", ["boundaries", "[f32]"]),
  table("GeluOptions", ["approximate", "bool"]),
  empty("DynamicUpdateSliceOptions"),
  empty("UnsortedSegmentProdOptions"),
  empty("UnsortedSegmentMaxOptions"),
  empty("UnsortedSegmentMinOptions"),
  empty("UnsortedSegmentSumOptions"),
  empty("ATan2Options"),
  empty("SignOptions"),
  empty("BitcastOptions"),
  empty("BitwiseXorOptions"),
  empty("RightShiftOptions"),
];

/** BuiltinOptions2 union members (tag = index + 1), used by the STABLEHLO_* ops and DILATE. */
export const BUILTIN_OPTIONS_2: readonly TableSpec[] = [
  table("StablehloConcatenateOptions", ["dimension", "i64"]),
  table("StablehloBroadcastInDimOptions", ["broadcast_dimensions", "[i64]"]),
  table("StablehloSliceOptions", ["start_indices", "[i64]"], ["limit_indices", "[i64]"], [
    "strides",
    "[i64]",
  ]),
  table(
    "StablehloConvolutionOptions",
    ["window_strides", "[i64]"],
    ["padding", "[i64]"],
    ["lhs_dilation", "[i64]"],
    ["rhs_dilation", "[i64]"],
    ["window_reversal", "[bool]"],
    ["input_batch_dimension", "i64"],
    ["input_feature_dimension", "i64"],
    ["input_spatial_dimensions", "[i64]"],
    ["kernel_input_feature_dimension", "i64"],
    ["kernel_output_feature_dimension", "i64"],
    ["kernel_spatial_dimensions", "[i64]"],
    ["output_batch_dimension", "i64"],
    ["output_feature_dimension", "i64"],
    ["output_spatial_dimensions", "[i64]"],
    ["feature_group_count", "i64"],
    ["batch_group_count", "i64"],
    ["precision_config", "[u32]"],
  ),
  table(
    "StablehloCustomCallOptions",
    ["call_target_name", "string"],
    ["has_side_effect", "bool"],
    ["backend_config", "string"],
    ["api_version", "i32"],
    subgraphIndex("called_computations", "[i32]"),
    ["custom_attributes", "[u8]"],
  ),
  table("StablehloReduceOptions", ["dimensions", "[i64]"], subgraphIndex("body_subgraph_index")),
  table(
    "StablehloScatterOptions",
    ["indices_are_sorted", "bool"],
    ["update_window_dims", "[i64]"],
    ["inserted_window_dims", "[i64]"],
    ["scatter_dims_to_operand_dims", "[i64]"],
    ["index_vector_dim", "i64"],
    ["unique_indices", "bool"],
    subgraphIndex("update_computation_subgraph_index"),
  ),
  table("StablehloCompareOptions", ["comparison_direction", "u32"], ["compare_type", "u32"]),
  table("StablehloDynamicSliceOptions", ["slice_sizes", "[i64]"]),
  table(
    "StablehloPadOptions",
    ["edge_padding_low", "[i64]"],
    ["edge_padding_high", "[i64]"],
    ["interior_padding", "[i64]"],
  ),
  table("StablehloIotaOptions", ["iota_dimension", "i64"]),
  table(
    "StablehloDotGeneralOptions",
    ["lhs_batching_dimensions", "[i64]"],
    ["rhs_batching_dimensions", "[i64]"],
    ["lhs_contracting_dimensions", "[i64]"],
    ["rhs_contracting_dimensions", "[i64]"],
    ["precision_config", "[u32]"],
  ),
  table(
    "StablehloReduceWindowOptions",
    ["window_dimensions", "[i64]"],
    ["window_strides", "[i64]"],
    ["base_dilations", "[i64]"],
    ["window_dilations", "[i64]"],
    ["padding", "[i64]"],
    subgraphIndex("body_subgraph_index"),
  ),
  table(
    "StablehloSortOptions",
    ["dimension", "i64"],
    ["is_stable", "bool"],
    subgraphIndex("comparator_subgraph_index"),
  ),
  table("StablehloWhileOptions", subgraphIndex("cond_subgraph_index"), subgraphIndex("body_subgraph_index")),
  table(
    "StablehloGatherOptions",
    ["offset_dims", "[i64]"],
    ["collapsed_slice_dims", "[i64]"],
    ["start_index_map", "[i64]"],
    ["index_vector_dim", "i64"],
    ["slice_sizes", "[i64]"],
    ["indices_are_sorted", "bool"],
  ),
  table("StablehloTransposeOptions", ["permutation", "[i64]"]),
  empty("DilateOptions"),
  table("StablehloRngBitGeneratorOptions", byteEnum("algorithm", RNG_ALGORITHM)),
  table("ReduceWindowOptions", ["reduce_function", "i32"]),
  table(
    "StableHLOCompositeOptions",
    ["name", "string"],
    subgraphIndex("decomposition_subgraph_index"),
    ["composite_attributes", "[u8]"],
    ["composite_attributes_format", "i8"],
    ["version", "i32"],
  ),
  empty("StablehloShiftLeftOptions"),
  table("StablehloCaseOptions", subgraphIndex("branch_subgraph_indices", "[i32]")),
];

/** QuantizationDetails union members (tag = index + 1). */
export const QUANTIZATION_DETAILS: readonly TableSpec[] = [
  table("CustomQuantization", ["custom", "[u8]"]),
  table("BlockwiseQuantization", ["scales", "i32"], ["zero_points", "i32"], ["block_size", "i32"]),
  table(
    "MultiAxisQuantization",
    ["scales", "i32"],
    ["zero_points", "i32"],
    ["block_size", "i32"],
    ["quantized_dimensions", "[i32]"],
  ),
];

/** Byte size of a scalar kind inside a table. */
export function scalarSize(kind: FieldKind): number {
  switch (kind) {
    case "bool":
    case "i8":
    case "u8":
      return 1;
    case "i64":
      return 8;
    default:
      return 4;
  }
}

/** Element size of a vector kind, or 0 for scalars and strings. */
export function vectorElementSize(kind: FieldKind): number {
  switch (kind) {
    case "[u8]":
    case "[bool]":
      return 1;
    case "[i64]":
      return 8;
    case "[i32]":
    case "[u32]":
    case "[f32]":
      return 4;
    default:
      return 0;
  }
}
