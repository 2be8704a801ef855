/**
 * Which option table each builtin op carries (the BuiltinOptions / BuiltinOptions2 union member that
 * TFLite's flatbuffer_conversions.cc parses for it). The importer fills every field of that table as a
 * node attribute, defaults included, and the exporter writes the table back from the attributes. Ops
 * missing here carry no options.
 */
import { BUILTIN_OPTIONS, BUILTIN_OPTIONS_2, type TableSpec } from "./schema.ts";

const OPTIONS_1: Readonly<Record<string, string>> = {
  ADD: "AddOptions",
  AVERAGE_POOL_2D: "Pool2DOptions",
  CONCATENATION: "ConcatenationOptions",
  CONV_2D: "Conv2DOptions",
  DEPTHWISE_CONV_2D: "DepthwiseConv2DOptions",
  DEPTH_TO_SPACE: "DepthToSpaceOptions",
  DEQUANTIZE: "DequantizeOptions",
  FULLY_CONNECTED: "FullyConnectedOptions",
  L2_NORMALIZATION: "L2NormOptions",
  L2_POOL_2D: "Pool2DOptions",
  LOCAL_RESPONSE_NORMALIZATION: "LocalResponseNormalizationOptions",
  LSH_PROJECTION: "LSHProjectionOptions",
  LSTM: "LSTMOptions",
  MAX_POOL_2D: "Pool2DOptions",
  MUL: "MulOptions",
  RESHAPE: "ReshapeOptions",
  RESIZE_BILINEAR: "ResizeBilinearOptions",
  RNN: "RNNOptions",
  SOFTMAX: "SoftmaxOptions",
  SPACE_TO_DEPTH: "SpaceToDepthOptions",
  SVDF: "SVDFOptions",
  CONCAT_EMBEDDINGS: "ConcatEmbeddingsOptions",
  SKIP_GRAM: "SkipGramOptions",
  CALL: "CallOptions",
  EMBEDDING_LOOKUP_SPARSE: "EmbeddingLookupSparseOptions",
  PAD: "PadOptions",
  UNIDIRECTIONAL_SEQUENCE_RNN: "SequenceRNNOptions",
  GATHER: "GatherOptions",
  BATCH_TO_SPACE_ND: "BatchToSpaceNDOptions",
  SPACE_TO_BATCH_ND: "SpaceToBatchNDOptions",
  TRANSPOSE: "TransposeOptions",
  MEAN: "ReducerOptions",
  SUB: "SubOptions",
  DIV: "DivOptions",
  SQUEEZE: "SqueezeOptions",
  UNIDIRECTIONAL_SEQUENCE_LSTM: "UnidirectionalSequenceLSTMOptions",
  STRIDED_SLICE: "StridedSliceOptions",
  BIDIRECTIONAL_SEQUENCE_RNN: "BidirectionalSequenceRNNOptions",
  EXP: "ExpOptions",
  TOPK_V2: "TopKV2Options",
  SPLIT: "SplitOptions",
  LOG_SOFTMAX: "LogSoftmaxOptions",
  BIDIRECTIONAL_SEQUENCE_LSTM: "BidirectionalSequenceLSTMOptions",
  CAST: "CastOptions",
  MAXIMUM: "MaximumMinimumOptions",
  ARG_MAX: "ArgMaxOptions",
  MINIMUM: "MaximumMinimumOptions",
  LESS: "LessOptions",
  NEG: "NegOptions",
  PADV2: "PadV2Options",
  GREATER: "GreaterOptions",
  GREATER_EQUAL: "GreaterEqualOptions",
  LESS_EQUAL: "LessEqualOptions",
  SELECT: "SelectOptions",
  SLICE: "SliceOptions",
  TRANSPOSE_CONV: "TransposeConvOptions",
  SPARSE_TO_DENSE: "SparseToDenseOptions",
  TILE: "TileOptions",
  EXPAND_DIMS: "ExpandDimsOptions",
  EQUAL: "EqualOptions",
  NOT_EQUAL: "NotEqualOptions",
  SUM: "ReducerOptions",
  SHAPE: "ShapeOptions",
  POW: "PowOptions",
  ARG_MIN: "ArgMinOptions",
  FAKE_QUANT: "FakeQuantOptions",
  REDUCE_PROD: "ReducerOptions",
  REDUCE_MAX: "ReducerOptions",
  PACK: "PackOptions",
  LOGICAL_OR: "LogicalOrOptions",
  ONE_HOT: "OneHotOptions",
  LOGICAL_AND: "LogicalAndOptions",
  LOGICAL_NOT: "LogicalNotOptions",
  UNPACK: "UnpackOptions",
  REDUCE_MIN: "ReducerOptions",
  FLOOR_DIV: "FloorDivOptions",
  REDUCE_ANY: "ReducerOptions",
  SQUARE: "SquareOptions",
  ZEROS_LIKE: "ZerosLikeOptions",
  FILL: "FillOptions",
  FLOOR_MOD: "FloorModOptions",
  RANGE: "RangeOptions",
  RESIZE_NEAREST_NEIGHBOR: "ResizeNearestNeighborOptions",
  LEAKY_RELU: "LeakyReluOptions",
  SQUARED_DIFFERENCE: "SquaredDifferenceOptions",
  MIRROR_PAD: "MirrorPadOptions",
  ABS: "AbsOptions",
  SPLIT_V: "SplitVOptions",
  UNIQUE: "UniqueOptions",
  REVERSE_V2: "ReverseV2Options",
  ADD_N: "AddNOptions",
  GATHER_ND: "GatherNdOptions",
  COS: "CosOptions",
  WHERE: "WhereOptions",
  RANK: "RankOptions",
  REVERSE_SEQUENCE: "ReverseSequenceOptions",
  MATRIX_DIAG: "MatrixDiagOptions",
  QUANTIZE: "QuantizeOptions",
  MATRIX_SET_DIAG: "MatrixSetDiagOptions",
  HARD_SWISH: "HardSwishOptions",
  IF: "IfOptions",
  WHILE: "WhileOptions",
  NON_MAX_SUPPRESSION_V4: "NonMaxSuppressionV4Options",
  NON_MAX_SUPPRESSION_V5: "NonMaxSuppressionV5Options",
  SCATTER_ND: "ScatterNdOptions",
  SELECT_V2: "SelectV2Options",
  DENSIFY: "DensifyOptions",
  SEGMENT_SUM: "SegmentSumOptions",
  BATCH_MATMUL: "BatchMatMulOptions",
  CUMSUM: "CumsumOptions",
  CALL_ONCE: "CallOnceOptions",
  BROADCAST_TO: "BroadcastToOptions",
  RFFT2D: "Rfft2dOptions",
  CONV_3D: "Conv3DOptions",
  CONV_3D_TRANSPOSE: "Conv3DOptions",
  HASHTABLE: "HashtableOptions",
  HASHTABLE_FIND: "HashtableFindOptions",
  HASHTABLE_IMPORT: "HashtableImportOptions",
  HASHTABLE_SIZE: "HashtableSizeOptions",
  REDUCE_ALL: "ReducerOptions",
  VAR_HANDLE: "VarHandleOptions",
  READ_VARIABLE: "ReadVariableOptions",
  ASSIGN_VARIABLE: "AssignVariableOptions",
  RANDOM_STANDARD_NORMAL: "RandomOptions",
  RANDOM_UNIFORM: "RandomOptions",
  MULTINOMIAL: "RandomOptions",
  BUCKETIZE: "BucketizeOptions",
  GELU: "GeluOptions",
  DYNAMIC_UPDATE_SLICE: "DynamicUpdateSliceOptions",
  UNSORTED_SEGMENT_PROD: "UnsortedSegmentProdOptions",
  UNSORTED_SEGMENT_MAX: "UnsortedSegmentMaxOptions",
  UNSORTED_SEGMENT_MIN: "UnsortedSegmentMinOptions",
  UNSORTED_SEGMENT_SUM: "UnsortedSegmentSumOptions",
  ATAN2: "ATan2Options",
  SIGN: "SignOptions",
  BITCAST: "BitcastOptions",
  BITWISE_XOR: "BitwiseXorOptions",
  RIGHT_SHIFT: "RightShiftOptions",
};

const OPTIONS_2: Readonly<Record<string, string>> = {
  STABLEHLO_CONCATENATE: "StablehloConcatenateOptions",
  STABLEHLO_BROADCAST_IN_DIM: "StablehloBroadcastInDimOptions",
  STABLEHLO_SLICE: "StablehloSliceOptions",
  STABLEHLO_CONVOLUTION: "StablehloConvolutionOptions",
  STABLEHLO_CUSTOM_CALL: "StablehloCustomCallOptions",
  STABLEHLO_REDUCE: "StablehloReduceOptions",
  STABLEHLO_SCATTER: "StablehloScatterOptions",
  STABLEHLO_COMPARE: "StablehloCompareOptions",
  STABLEHLO_DYNAMIC_SLICE: "StablehloDynamicSliceOptions",
  STABLEHLO_PAD: "StablehloPadOptions",
  STABLEHLO_IOTA: "StablehloIotaOptions",
  STABLEHLO_DOT_GENERAL: "StablehloDotGeneralOptions",
  STABLEHLO_REDUCE_WINDOW: "StablehloReduceWindowOptions",
  STABLEHLO_SORT: "StablehloSortOptions",
  STABLEHLO_WHILE: "StablehloWhileOptions",
  STABLEHLO_GATHER: "StablehloGatherOptions",
  STABLEHLO_TRANSPOSE: "StablehloTransposeOptions",
  DILATE: "DilateOptions",
  STABLEHLO_RNG_BIT_GENERATOR: "StablehloRngBitGeneratorOptions",
  REDUCE_WINDOW: "ReduceWindowOptions",
  STABLEHLO_COMPOSITE: "StableHLOCompositeOptions",
  STABLEHLO_SHIFT_LEFT: "StablehloShiftLeftOptions",
  STABLEHLO_CASE: "StablehloCaseOptions",
};

/** An option table located in one of the two unions; `tag` is the union tag (index + 1). */
export interface OptionTable {
  readonly union: 1 | 2;
  readonly tag: number;
  readonly spec: TableSpec;
}

function locate(union: 1 | 2, name: string): OptionTable | undefined {
  const list = union === 1 ? BUILTIN_OPTIONS : BUILTIN_OPTIONS_2;
  const i = list.findIndex((t) => t.name === name);
  return i < 0 ? undefined : { union, tag: i + 1, spec: list[i] };
}

/** The option table the op normally carries, or undefined when it carries none. */
export function optionTableOf(op: string): OptionTable | undefined {
  const one = OPTIONS_1[op];
  if (one) return locate(1, one);
  const two = OPTIONS_2[op];
  return two ? locate(2, two) : undefined;
}

/** A table by union and name (for files that attach an unusual table to an op). */
export function optionTableNamed(name: string): OptionTable | undefined {
  return locate(1, name) ?? locate(2, name);
}

/**
 * The attribute name of an option field. Subgraph-index fields become graph attributes named for what
 * they hold: `then_subgraph_index` → `then_subgraph`, `branch_subgraph_indices` → `branch_subgraphs`.
 */
export function attrNameOf(field: string, isSubgraph: boolean): string {
  if (!isSubgraph) return field;
  if (field.endsWith("_indices")) return field.slice(0, -"_indices".length) + "s";
  if (field.endsWith("_index")) return field.slice(0, -"_index".length);
  return field;
}
