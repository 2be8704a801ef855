/**
 * IR to ONNX. The IR holds every default-domain op in its latest opset form, so the written opset is the
 * source's raised to the first opset in which every op used has that form (OPSET_NEEDS); the IR version
 * follows the opset. Constants become initializers (raw_data, or external data for big models), Constant
 * nodes are never written, and every typed value gets a type so onnxruntime and the importer see the same
 * graph that was exported.
 */
import type { Attr } from "../../ir/attr.ts";
import { type Constant, constantBytes } from "../../ir/constant.ts";
import { type DType, isScalar, printDType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { type Graph, type Model, type Node, opDomain, opName, subgraphsOf } from "../../ir/graph.ts";
import type { ValueType } from "../../ir/value-type.ts";
import { writeFileAtomic } from "../atomic-write.ts";
import { dtypeToOnnx } from "./dtype-map.ts";
import {
  type AttributeProto,
  AttributeType as A,
  encodeModel,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type StringStringEntryProto,
  type TensorProto,
  type TensorShapeDimension,
  type TypeProto,
  type ValueInfoProto,
} from "./proto.ts";

export interface OnnxExportOptions {
  /** The default-domain opset to write. Default: the source's, raised to what the ops need. */
  opset?: number;
  /** The highest opset the automatic choice may raise to (default 21). */
  maxOpset?: number;
  /**
   * Store constants of at least `threshold` bytes (default 1024) in `file`, a path relative to the model's
   * folder, instead of inline. Only writeOnnxFile and exportOnnxParts can honour this.
   */
  externalData?: { file: string; threshold?: number };
  /** Write value_info for intermediate values (default true). */
  valueInfo?: boolean;
}

export interface OnnxExport {
  /** The serialized ModelProto. */
  model: Uint8Array;
  opset: number;
  irVersion: number;
  /** The external data file's contents, as chunks to write in order, when externalData was asked for. */
  external?: { file: string; chunks: Uint8Array[]; length: number };
}

export const DEFAULT_MAX_OPSET = 21;

/** Serializes a model as ONNX bytes, all data inline. */
export function exportOnnx(model: Model, opts: OnnxExportOptions = {}): Uint8Array {
  if (opts.externalData) {
    throw new LatheError(
      "usage",
      "external data needs a file to go with the model: use writeOnnxFile or exportOnnxParts",
    );
  }
  return exportOnnxParts(model, opts).model;
}

/** Writes a model (and its external data file, if any) through temporary names renamed into place. */
export async function writeOnnxFile(path: string, model: Model, opts: OnnxExportOptions = {}): Promise<void> {
  let o = opts;
  // Protobuf messages cannot exceed 2 GiB: big models go to external data even when not asked.
  if (!o.externalData && inlineBytes(model.graph) > INLINE_LIMIT) {
    o = { ...opts, externalData: { file: `${basename(path)}.data`, threshold: 1024 } };
  }
  const out = exportOnnxParts(model, o);
  if (out.external) await writeChunksAtomic(`${dirname(path)}/${out.external.file}`, out.external.chunks);
  await writeFileAtomic(path, out.model);
}

/** Serializes a model, returning external data separately when externalData is set. */
export function exportOnnxParts(model: Model, opts: OnnxExportOptions = {}): OnnxExport {
  const g = model.graph;
  const meta = model.meta;
  const fromOnnx = meta.format === "onnx";
  const source = fromOnnx ? meta.opsets[""] ?? 0 : 0;
  const need = requiredOpset(g);
  const maxOpset = opts.maxOpset ?? DEFAULT_MAX_OPSET;
  let opset: number;
  if (opts.opset !== undefined) {
    if (!Number.isInteger(opts.opset) || opts.opset < 7) {
      throw new LatheError("usage", `opset ${opts.opset} (Lathe writes 7 and later)`);
    }
    if (opts.opset < need.opset) {
      throw new LatheError(
        "unsupported",
        `${need.why} needs opset ${need.opset}, above the requested ${opts.opset}`,
      );
    }
    opset = opts.opset;
  } else {
    if (need.opset > maxOpset && need.opset > source) {
      throw new LatheError(
        "unsupported",
        `${need.why} needs opset ${need.opset}, above the limit ${maxOpset}`,
      );
    }
    opset = Math.max(source, need.opset, 7);
  }
  if (need.below !== undefined && opset >= need.below) {
    const by = opts.opset !== undefined
      ? "it was requested"
      : opset === source
      ? "the source has it"
      : `${need.why} needs it`;
    throw new LatheError(
      "unsupported",
      `${need.belowWhy} has a form that opset ${need.below} dropped, but the model needs opset ${opset} (${by})`,
    );
  }
  let irVersion = Math.max(irVersionFor(opset), fromOnnx ? meta.irVersion ?? 0 : 0);
  if (usesOptionalType(g)) irVersion = Math.max(irVersion, 8);

  const ext = opts.externalData
    ? new ExternalWriter(opts.externalData.file, opts.externalData.threshold ?? 1024)
    : undefined;
  const w = new GraphWriter(ext, opts.valueInfo ?? true);
  const graph = w.graph(g, [], irVersion < 4);
  if (!ext && w.inline > INLINE_LIMIT) {
    throw new LatheError(
      "unsupported",
      `${w.inline} bytes of inline data exceed protobuf's 2 GiB limit; use external data`,
    );
  }

  const opsetImport = [{ domain: "", version: opset }];
  const domains = new Set<string>();
  collectDomains(g, domains);
  for (const [d, v] of Object.entries(meta.opsets)) {
    if (d !== "" && (fromOnnx || domains.has(d))) opsetImport.push({ domain: d, version: v });
  }
  for (const d of domains) {
    if (d !== "" && !opsetImport.some((o) => o.domain === d)) opsetImport.push({ domain: d, version: 1 });
  }

  const mp: ModelProto = {
    irVersion,
    producerName: meta.producerName ?? "lathe",
    ...(meta.producerVersion !== undefined ? { producerVersion: meta.producerVersion } : {}),
    ...(meta.domain !== undefined ? { domain: meta.domain } : {}),
    ...(meta.modelVersion !== undefined ? { modelVersion: meta.modelVersion } : {}),
    ...(meta.doc !== undefined ? { docString: meta.doc } : {}),
    graph,
    opsetImport: opsetImport.map((o) => ({ domain: o.domain, version: o.version })),
    metadataProps: Object.entries(meta.props).map(([key, value]) => ({ key, value })),
    functions: [],
  };
  return {
    model: encodeModel(mp),
    opset,
    irVersion,
    ...(ext ? { external: { file: ext.file, chunks: ext.chunks, length: ext.length } } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------
// Opsets

type Lookup = (value: string) => ValueType | undefined;
type Need = number | ((n: Node, typeOf: Lookup) => number);

const has = (n: Node, i: number) => !!n.inputs[i];
const attr = (n: Node, k: string) => n.attrs[k]?.value;
const attrSetTo = (n: Node, k: string, dflt: unknown) => n.attrs[k] !== undefined && attr(n, k) !== dflt;
const kindOf = (t: Lookup, v: string | null | undefined) => (v ? t(v)?.kind : undefined);
/** Sequence values in control flow came in 13, optional values in 16. */
const controlFlow = (base: number) => (n: Node, t: Lookup) => {
  let v = base;
  for (const x of [...n.inputs, ...n.outputs]) {
    const k = kindOf(t, x);
    if (k === "sequence") v = Math.max(v, 13);
    if (k === "optional") v = Math.max(v, 16);
  }
  return v;
};
const reduce = (withAxesInput: number) => (n: Node) =>
  has(n, 1) || attrSetTo(n, "noop_with_empty_axes", 0) ? withAxesInput : 1;
const maxPoolV8 = (n: Node) => n.outputs.length > 1 || n.attrs.storage_order !== undefined;
/** Per-axis scales came in 13, blocked ones in 21. */
const quantAxis = (n: Node, t: Lookup) => {
  const scale = n.inputs[1] ? t(n.inputs[1]) : undefined;
  const perAxis = n.attrs.axis !== undefined || (scale?.kind === "tensor" && scale.shape?.length !== 0);
  return n.attrs.block_size ? 21 : perAxis ? 13 : 10;
};
const scatterReduction = (base: number) => (n: Node) => {
  const r = attr(n, "reduction");
  return r === "max" || r === "min" ? 18 : r !== undefined && r !== "none" ? 16 : base;
};

/**
 * The first default-domain opset in which each op has the form the IR holds (inputs that used to be
 * attributes, current attribute names and semantics). Ops not listed have had their form since opset 7.
 * Changes that only widened the accepted element types are left out, because the source's opset already
 * covers the types its model uses.
 */
const OPSET_NEEDS: Record<string, Need> = {
  // Arguments that moved from attributes to inputs.
  Clip: (n) => (has(n, 1) || has(n, 2) ? 11 : 7),
  Pad: (n) => (attr(n, "mode") === "wrap" ? 19 : has(n, 3) ? 18 : 11),
  Slice: 10,
  TopK: (n) => (n.attrs.largest || n.attrs.sorted ? 11 : 10),
  Dropout: (n) => (has(n, 1) || has(n, 2) ? 12 : 7),
  Squeeze: (n) => (has(n, 1) ? 13 : 7),
  Unsqueeze: 13,
  Split: (n) => (n.attrs.num_outputs ? 18 : has(n, 1) ? 13 : 7),
  ReduceSum: reduce(13),
  ReduceMax: reduce(18),
  ReduceMin: reduce(18),
  ReduceMean: reduce(18),
  ReduceProd: reduce(18),
  ReduceL1: reduce(18),
  ReduceL2: reduce(18),
  ReduceLogSum: reduce(18),
  ReduceLogSumExp: reduce(18),
  ReduceSumSquare: reduce(18),
  DFT: (n) => (has(n, 2) ? 20 : 17),
  // Changed semantics or renamed attribute values.
  Softmax: 13,
  LogSoftmax: 13,
  Hardmax: 13,
  Resize: (n) =>
    attr(n, "coordinate_transformation_mode") === "half_pixel_symmetric"
      ? 19
      : attrSetTo(n, "antialias", 0) || (n.attrs.axes && (attr(n, "axes") as number[]).length) ||
          attrSetTo(n, "keep_aspect_ratio_policy", "stretch")
      ? 18
      : 13,
  GridSample: (n, t) => {
    const m = attr(n, "mode");
    const x = n.inputs[0] ? t(n.inputs[0]) : undefined;
    const nd = x?.kind === "tensor" && x.shape !== undefined && x.shape.length !== 4;
    return m === "linear" || m === "cubic" || nd ? 20 : 16;
  },
  RoiAlign: 16,
  GroupNormalization: (n, t) => (groupNormPerGroup(n, t) ? 18 : 21),
  BatchNormalization: (n) => (n.attrs.training_mode ? 14 : 9),
  ArgMax: (n) => (attrSetTo(n, "select_last_index", 0) ? 12 : 7),
  ArgMin: (n) => (attrSetTo(n, "select_last_index", 0) ? 12 : 7),
  Cast: (n) => (n.attrs.saturate ? 19 : 7),
  CastLike: (n) => (n.attrs.saturate ? 19 : 15),
  Shape: (n) => (n.attrs.start || n.attrs.end ? 15 : 7),
  Reshape: (n) => (attrSetTo(n, "allowzero", 0) ? 14 : 7),
  Gemm: (n) => (has(n, 2) ? 7 : 11),
  AveragePool: (n) => (n.attrs.dilations ? 19 : n.attrs.ceil_mode ? 10 : 7),
  MaxPool: (n) => (n.attrs.dilations || n.attrs.ceil_mode ? 10 : maxPoolV8(n) ? 8 : 7),
  LpPool: (n) => (n.attrs.ceil_mode ? 18 : 7),
  DepthToSpace: (n) => (n.attrs.mode ? 11 : 7),
  GatherND: (n) => (attrSetTo(n, "batch_dims", 0) ? 12 : 11),
  ScatterElements: scatterReduction(11),
  ScatterND: scatterReduction(11),
  RNN: (n) => (attrSetTo(n, "layout", 0) ? 14 : 7),
  GRU: (n) => (attrSetTo(n, "layout", 0) ? 14 : 7),
  LSTM: (n) => (attrSetTo(n, "layout", 0) ? 14 : 7),
  QuantizeLinear: (n, t) => (n.attrs.output_dtype ? 21 : n.attrs.saturate ? 19 : quantAxis(n, t)),
  DequantizeLinear: quantAxis,
  Identity: (n, t) => ({ optional: 16, sequence: 14, tensor: 7 }[kindOf(t, n.inputs[0]) ?? "tensor"]),
  If: controlFlow(7),
  Loop: controlFlow(7),
  // The batch-major opset-8 form keeps an absent first operand (no sequence_lens).
  Scan: (n, t) => (n.inputs[0] === null || n.attrs.directions ? 8 : controlFlow(9)(n, t)),
  OptionalHasElement: (n, t) => (kindOf(t, n.inputs[0]) === "tensor" ? 18 : 15),
  OptionalGetElement: (n, t) => (kindOf(t, n.inputs[0]) === "optional" ? 15 : 18),
  // Broadcasting variadics.
  Max: 8,
  Min: 8,
  Mean: 8,
  Sum: 8,
};

/** Ops introduced after opset 7 whose form has not changed since, by the opset that introduced them. */
const INTRODUCED: [number, string][] = [
  [8, "Expand"],
  [9, "Acosh Asinh Atanh Cosh Sinh Compress ConstantOfShape Erf EyeLike IsNaN MaxUnpool"],
  [9, "MeanVarianceNormalization NonZero OneHot Scatter Shrink Sign TfIdfVectorizer Where"],
  [10, "ConvInteger IsInf MatMulInteger Mod NonMaxSuppression QLinearConv QLinearMatMul ReverseSequence"],
  [10, "StringNormalizer ThresholdedRelu"],
  [11, "BitShift ConcatFromSequence CumSum Det DynamicQuantizeLinear GatherElements Range Round SequenceAt"],
  [11, "SequenceConstruct SequenceEmpty SequenceErase SequenceInsert SequenceLength SplitToSequence Unique"],
  [12, "Celu Einsum GreaterOrEqual LessOrEqual NegativeLogLikelihoodLoss SoftmaxCrossEntropyLoss"],
  [14, "HardSwish Trilu"],
  [15, "Bernoulli Optional"],
  [17, "SequenceMap LayerNormalization STFT MelWeightMatrix BlackmanWindow HammingWindow HannWindow"],
  [18, "BitwiseAnd BitwiseNot BitwiseOr BitwiseXor CenterCropPad Col2Im Mish"],
  [19, "DeformConv"],
  [20, "AffineGrid Gelu ImageDecoder RegexFullMatch StringConcat StringSplit"],
  [23, "Attention RMSNormalization RotaryEmbedding"],
];
for (const [v, names] of INTRODUCED) for (const op of names.split(" ")) OPSET_NEEDS[op] ??= v;

/** GroupNormalization-18 had one scale per group, 21 one per channel; the IR keeps whichever it was given. */
function groupNormPerGroup(n: Node, t: Lookup): boolean {
  const s = n.inputs[1] ? t(n.inputs[1]) : undefined;
  const x = n.inputs[0] ? t(n.inputs[0]) : undefined;
  const groups = attr(n, "num_groups");
  const len = s?.kind === "tensor" ? s.shape?.[0] : undefined;
  const c = x?.kind === "tensor" ? x.shape?.[1] : undefined;
  return len === groups && c !== groups;
}

/**
 * Forms the IR may hold that exist only below some opset: the first opset without them. Newer importers
 * rewrite these; a graph that has them cannot be written at or above the limit.
 */
const OPSET_LIMITS: Record<string, (n: Node, t: Lookup) => number | undefined> = {
  // Deprecated in 11 (ScatterElements has the same semantics).
  Scatter: () => 11,
  Upsample: () => 10,
  // The axis attribute became an input in 20.
  DFT: (n) => (n.attrs.axis ? 20 : undefined),
  GroupNormalization: (n, t) => (groupNormPerGroup(n, t) ? 21 : undefined),
  // From 18 on, a Split without a split input must say num_outputs.
  Split: (n) => (!has(n, 1) && !n.attrs.num_outputs ? 18 : undefined),
  // The batch-major opset-8 form (absent first operand, `directions`) exists only below 9.
  Scan: (n) => (n.inputs[0] === null || n.attrs.directions ? 9 : undefined),
};

export interface OpsetNeed {
  /** The lowest opset that holds every op in its IR form, and the op that sets it. */
  opset: number;
  why: string;
  /** The first opset that no longer holds some op's IR form, if any, and that op. */
  below?: number;
  belowWhy?: string;
}

/** The range of default-domain opsets that hold every op of the graph (and its subgraphs) in its IR form. */
export function requiredOpset(g: Graph): OpsetNeed {
  const best: OpsetNeed = { opset: 7, why: "" };
  visit(g, [], best);
  return best;
}

function visit(g: Graph, outer: Graph[], best: OpsetNeed): void {
  const scopes = [g, ...outer];
  const typeOf: Lookup = (v) => {
    for (const s of scopes) {
      const t = s.values[v]?.type;
      if (t) return t;
    }
    return undefined;
  };
  for (const n of g.nodes) {
    if (opDomain(n.op) === "") {
      const need = OPSET_NEEDS[n.op];
      const v = need === undefined ? 7 : typeof need === "number" ? need : need(n, typeOf);
      if (v > best.opset) {
        best.opset = v;
        best.why = `${n.op} (node ${n.id})`;
      }
      const lim = OPSET_LIMITS[n.op]?.(n, typeOf);
      if (lim !== undefined && (best.below === undefined || lim < best.below)) {
        best.below = lim;
        best.belowWhy = `${n.op} (node ${n.id})`;
      }
    }
    for (const s of subgraphsOf(n)) visit(s, scopes, best);
  }
}

/** onnx.proto's IR version for an opset (the release that introduced the opset). */
export function irVersionFor(opset: number): number {
  if (opset <= 8) return 3;
  if (opset <= 11) return opset - 5;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

function collectDomains(g: Graph, out: Set<string>): void {
  for (const n of g.nodes) {
    out.add(opDomain(n.op) === "ai.onnx" ? "" : opDomain(n.op));
    for (const s of subgraphsOf(n)) collectDomains(s, out);
  }
}

function usesOptionalType(g: Graph): boolean {
  const opt = (t: ValueType): boolean => t.kind === "optional" || (t.kind === "sequence" && opt(t.elem));
  if (Object.values(g.values).some((v) => opt(v.type))) return true;
  return g.nodes.some((n) => subgraphsOf(n).some(usesOptionalType));
}

// ---------------------------------------------------------------------------------------------------
// Graphs

const INLINE_LIMIT = 2 ** 31 - 2 ** 26;
const utf8 = new TextEncoder();

function inlineBytes(g: Graph): number {
  let n = 0;
  for (const c of Object.values(g.constants)) n += c.bytes?.length ?? c.lazy?.length ?? 0;
  for (const node of g.nodes) for (const s of subgraphsOf(node)) n += inlineBytes(s);
  return n;
}

class ExternalWriter {
  chunks: Uint8Array[] = [];
  length = 0;
  constructor(readonly file: string, readonly threshold: number) {
    if (!file || file.startsWith("/") || file.split(/[\\/]/).includes("..")) {
      throw new LatheError("usage", `external data file '${file}' must be a path inside the model's folder`);
    }
  }
  /** Appends the bytes (64-byte aligned, so readers may map them) and returns their location entries. */
  add(bytes: Uint8Array): StringStringEntryProto[] {
    const pad = (64 - (this.length % 64)) % 64;
    if (pad) {
      this.chunks.push(new Uint8Array(pad));
      this.length += pad;
    }
    const offset = this.length;
    this.chunks.push(bytes);
    this.length += bytes.length;
    return [
      { key: "location", value: this.file },
      { key: "offset", value: String(offset) },
      { key: "length", value: String(bytes.length) },
    ];
  }
}

class GraphWriter {
  inline = 0;
  constructor(readonly ext: ExternalWriter | undefined, readonly valueInfo: boolean) {}

  graph(g: Graph, outer: Graph[], initializersAreInputs: boolean): GraphProto {
    const scopes = [g, ...outer];
    const typeOf = (v: string): ValueType | undefined => {
      for (const s of scopes) {
        const t = s.values[v]?.type;
        if (t) return t;
      }
      return undefined;
    };
    const field = (v: string) => `graph ${g.name}: value ${v}`;
    const info = (name: string, type: ValueType | undefined, doc?: string): ValueInfoProto => ({
      name,
      ...(type ? { type: typeProto(type, field(name)) } : {}),
      ...(doc ? { docString: doc } : {}),
      metadataProps: [],
    });
    const inputs = g.inputs.map((i) => info(i, typeOf(i), g.values[i]?.doc));
    if (initializersAreInputs) {
      const listed = new Set(g.inputs);
      for (const [k, c] of Object.entries(g.constants)) {
        if (!listed.has(k)) {
          inputs.push(info(k, g.values[k]?.type ?? { kind: "tensor", dtype: c.dtype, shape: c.shape }));
        }
      }
    }
    const outputs = g.outputs.map((o) => info(o, typeOf(o), g.values[o]?.doc));
    const valueInfo: ValueInfoProto[] = [];
    if (this.valueInfo) {
      const skip = new Set([...g.inputs, ...g.outputs]);
      for (const n of g.nodes) {
        for (const o of n.outputs) {
          if (!o || skip.has(o)) continue;
          skip.add(o);
          const v = g.values[o];
          if (v) valueInfo.push(info(o, v.type, v.doc));
        }
      }
    }
    return {
      node: g.nodes.map((n) => this.node(n, scopes)),
      name: g.name,
      initializer: Object.entries(g.constants).map(([k, c]) => this.tensor(c, k, true)),
      ...(g.doc ? { docString: g.doc } : {}),
      input: inputs,
      output: outputs,
      valueInfo,
      quantizationAnnotation: [],
      sparseInitializer: [],
      metadataProps: [],
    };
  }

  node(n: Node, scopes: Graph[]): NodeProto {
    const domain = opDomain(n.op);
    return {
      input: n.inputs.map((i) => i ?? ""),
      output: [...n.outputs],
      name: n.name ?? n.id,
      opType: opName(n.op),
      attribute: Object.entries(n.attrs).map(([k, a]) => this.attribute(k, a, scopes, n)),
      ...(n.doc !== undefined ? { docString: n.doc } : {}),
      ...(domain !== "" ? { domain } : {}),
      metadataProps: [],
    };
  }

  attribute(name: string, a: Attr, scopes: Graph[], n: Node): AttributeProto {
    const ap: AttributeProto = {
      name,
      floats: new Float32Array(0),
      ints: [],
      strings: [],
      tensors: [],
      graphs: [],
      typeProtos: [],
      sparseTensors: [],
    };
    switch (a.type) {
      case "int":
        return { ...ap, type: A.INT, i: a.value };
      case "float":
        return { ...ap, type: A.FLOAT, f: a.value };
      case "string":
        return { ...ap, type: A.STRING, s: utf8.encode(a.value) };
      case "ints":
        return { ...ap, type: A.INTS, ints: [...a.value] };
      case "floats":
        return { ...ap, type: A.FLOATS, floats: Float32Array.from(a.value) };
      case "strings":
        return { ...ap, type: A.STRINGS, strings: a.value.map((s) => utf8.encode(s)) };
      case "tensor":
        return { ...ap, type: A.TENSOR, t: this.tensor(a.value, undefined, false) };
      case "tensors":
        return { ...ap, type: A.TENSORS, tensors: a.value.map((c) => this.tensor(c, undefined, false)) };
      case "graph":
        return { ...ap, type: A.GRAPH, g: this.graph(a.value, scopes, false) };
      case "graphs":
        return { ...ap, type: A.GRAPHS, graphs: a.value.map((s) => this.graph(s, scopes, false)) };
      case "type":
        return { ...ap, type: A.TYPE_PROTO, tp: typeProto(a.value, `node ${n.id} attribute ${name}`) };
    }
  }

  tensor(c: Constant, name: string | undefined, mayBeExternal: boolean): TensorProto {
    const t: TensorProto = {
      dims: [...c.shape],
      dataType: onnxCode(c.dtype, name ? `constant ${name}` : "tensor attribute"),
      floatData: new Float32Array(0),
      int32Data: new Int32Array(0),
      stringData: [],
      int64Data: new BigInt64Array(0),
      doubleData: new Float64Array(0),
      uint64Data: new BigUint64Array(0),
      externalData: [],
      metadataProps: [],
      ...(name !== undefined ? { name } : {}),
    };
    if (c.dtype === "string") {
      t.stringData = (c.strings ?? []).map((s) => utf8.encode(s));
      return t;
    }
    const bytes = constantBytes(c);
    if (mayBeExternal && this.ext && bytes.length >= this.ext.threshold) {
      t.externalData = this.ext.add(bytes);
      t.dataLocation = 1;
      return t;
    }
    this.inline += bytes.length;
    t.rawData = bytes;
    return t;
  }
}

function onnxCode(d: DType, what: string): number {
  if (!isScalar(d)) throw new LatheError("unsupported", `${what}: ONNX has no element type ${printDType(d)}`);
  return dtypeToOnnx(d);
}

function typeProto(t: ValueType, what: string): TypeProto {
  if (t.kind === "sequence") return { sequenceType: { elemType: typeProto(t.elem, what) } };
  if (t.kind === "optional") return { optionalType: { elemType: typeProto(t.elem, what) } };
  const elemType = onnxCode(t.dtype, what);
  if (t.shape === undefined) return { tensorType: { elemType } };
  const dim: TensorShapeDimension[] = t.shape.map((d) =>
    typeof d === "number" ? { dimValue: d } : d.startsWith("?") ? {} : { dimParam: d }
  );
  return { tensorType: { elemType, shape: { dim } } };
}

// ---------------------------------------------------------------------------------------------------
// Files

function dirname(p: string): string {
  const i = p.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : p.slice(0, i);
}
function basename(p: string): string {
  return p.slice(p.lastIndexOf("/") + 1);
}

/** Streams chunks to a temporary file and renames it into place (a big data file is never one buffer). */
async function writeChunksAtomic(path: string, chunks: Uint8Array[]): Promise<void> {
  const tmp = `${path}.${Deno.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      for (const c of chunks) {
        let off = 0;
        while (off < c.length) off += await f.write(c.subarray(off));
      }
    } finally {
      f.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new LatheError("io", `cannot write: ${(e as Error).message}`, { file: path });
  }
}
