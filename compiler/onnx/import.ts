/**
 * ONNX to IR. Reads IR versions 3 to 11 and opsets 7 to 21 (older and newer opsets import when every op
 * used has its latest form there; the legacy broadcasting of opset ≤ 6 with an `axis` is refused), keeps initializers as views into the file's bytes, converts old opset forms to the IR's
 * (upgrade.ts), imports If/Loop/Scan bodies as subgraphs, and keeps source names, doc strings and opsets for
 * round trips.
 */
import type { Attr } from "../../ir/attr.ts";
import { checkConstant, type Constant } from "../../ir/constant.ts";
import type { DType } from "../../ir/dtype.ts";
import { LatheError, withFile } from "../../ir/errors.ts";
import { type Graph, type Model, type Node, opKey, type SourceMeta, type ValueInfo } from "../../ir/graph.ts";
import { inferGraph } from "../../ir/infer.ts";
import type { Dim, ValueType } from "../../ir/value-type.ts";
import "../../ir/ops/index.ts";
import { dtypeFromOnnx } from "./dtype-map.ts";
import {
  type AttributeProto,
  AttributeType,
  decodeModel,
  type GraphProto,
  type Int64,
  type ModelProto,
  type SparseTensorProto,
  type TensorProto,
  type TypeProto,
} from "./proto.ts";
import { onnxDataTypeName, tensorBytes } from "./tensor-data.ts";
import { type RawNode, upgradeNode } from "./upgrade.ts";

export interface OnnxImportOptions {
  /** Shown in errors and used to resolve external data. */
  file?: string;
}

const MIN_IR = 3, MAX_IR = 11;

/** Reads and imports an ONNX file. */
export async function importOnnxFile(path: string): Promise<Model> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new LatheError("io", `cannot read: ${(e as Error).message}`, { file: path });
  }
  return importOnnx(bytes, { file: path });
}

export function importOnnx(bytes: Uint8Array, opts: OnnxImportOptions = {}): Model {
  const file = opts.file ?? "<memory>";
  try {
    const mp = decodeModel(bytes, file);
    return fromModelProto(mp, file);
  } catch (e) {
    throw withFile(e, file);
  }
}

export function fromModelProto(mp: ModelProto, file: string): Model {
  const irVersion = mp.irVersion ?? 0;
  if (irVersion < MIN_IR || irVersion > MAX_IR) {
    throw new LatheError("unsupported", `IR version ${irVersion} (Lathe reads ${MIN_IR} to ${MAX_IR})`, {
      file,
      field: "ir_version",
    });
  }
  const opsets: Record<string, number> = {};
  for (const o of mp.opsetImport) opsets[o.domain === "ai.onnx" ? "" : o.domain ?? ""] = o.version ?? 1;
  if (irVersion >= 3 && opsets[""] === undefined && mp.opsetImport.length === 0) opsets[""] = 1;
  if (!mp.graph) throw new LatheError("format", "model has no graph", { file, field: "graph" });
  const modelDir = file === "<memory>" ? undefined : dirname(file);
  const ctx: Ctx = { file, modelDir, opsets, irVersion, used: new Set() };
  let graph = convertGraph(mp.graph, ctx, "graph", new Set());
  graph = inferGraph(graph);
  const props: Record<string, string> = {};
  for (const p of mp.metadataProps) props[p.key ?? ""] = p.value ?? "";
  const meta: SourceMeta = {
    format: "onnx",
    irVersion,
    opsets,
    props,
    path: file,
    ...(mp.producerName !== undefined ? { producerName: mp.producerName } : {}),
    ...(mp.producerVersion !== undefined ? { producerVersion: mp.producerVersion } : {}),
    ...(mp.domain !== undefined ? { domain: mp.domain } : {}),
    ...(mp.modelVersion !== undefined ? { modelVersion: Number(mp.modelVersion) } : {}),
    ...(mp.docString !== undefined ? { doc: mp.docString } : {}),
  };
  return { graph, meta };
}

interface Ctx {
  file: string;
  modelDir?: string;
  opsets: Record<string, number>;
  irVersion: number;
  /** Names taken anywhere in the model (fresh names must not shadow outer-scope values). */
  used: Set<string>;
}

function dirname(p: string): string {
  const i = p.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : p.slice(0, i);
}

function convertGraph(gp: GraphProto, ctx: Ctx, path: string, outer: ReadonlySet<string>): Graph {
  const values: Record<string, ValueInfo> = {};
  const constants: Record<string, Constant> = {};
  const nodes: Node[] = [];
  const where = (field: string) => ({ file: ctx.file, field: `${path}.${field}` });
  for (const v of [...gp.input, ...gp.output, ...gp.valueInfo]) if (v.name) ctx.used.add(v.name);
  for (const n of gp.node) for (const o of n.output) if (o) ctx.used.add(o);

  gp.initializer.forEach((t, i) => {
    const name = t.name ?? "";
    if (!name) throw new LatheError("format", "initializer has no name", where(`initializer[${i}]`));
    constants[name] = toConstant(t, ctx, `${path}.initializer[${i}]`);
    ctx.used.add(name);
  });
  gp.sparseInitializer.forEach((s, i) => {
    const name = s.values?.name ?? "";
    constants[name] = densify(s, ctx, `${path}.sparse_initializer[${i}]`);
    ctx.used.add(name);
  });
  const typeOf = (
    tp: TypeProto | undefined,
    field: string,
  ): ValueType | undefined => (tp ? toValueType(tp, where(field)) : undefined);
  // Before IR 4 every initializer had to be listed as an input too; those are weights, not inputs.
  const inputs: string[] = [];
  gp.input.forEach((v, i) => {
    const name = v.name ?? "";
    const t = typeOf(v.type, `input[${i}].type`);
    if (constants[name] && ctx.irVersion < 4) return;
    inputs.push(name);
    if (t) values[name] = { type: t, ...(v.docString ? { doc: v.docString } : {}) };
    else if (!constants[name] && path === "graph") {
      throw new LatheError("format", `graph input ${name} has no type`, where(`input[${i}]`));
    }
  });
  for (const [k, c] of Object.entries(constants)) {
    if (!values[k]) values[k] = { type: { kind: "tensor", dtype: c.dtype, shape: c.shape } };
  }
  gp.valueInfo.forEach((v, i) => {
    const t = typeOf(v.type, `value_info[${i}].type`);
    if (t && v.name && !values[v.name]) {
      values[v.name] = { type: t, ...(v.docString ? { doc: v.docString } : {}) };
    }
  });
  const outputs: string[] = [];
  gp.output.forEach((v, i) => {
    const name = v.name ?? "";
    outputs.push(name);
    const t = typeOf(v.type, `output[${i}].type`);
    if (t && !values[name]) values[name] = { type: t };
  });

  const ids = new Set<string>();
  const scope = new Set<string>([...outer, ...inputs, ...Object.keys(constants)]);
  const dtypeOf = (v: string): DType | undefined => {
    const t = values[v]?.type;
    return t?.kind === "tensor" ? t.dtype : undefined;
  };
  let freshN = 0;
  const fresh = (hint: string) => {
    let n: string;
    do n = `${hint}_${freshN++}`; while (ctx.used.has(n));
    ctx.used.add(n);
    return n;
  };
  gp.node.forEach((np, i) => {
    const field = `${path}.node[${i}]`;
    const domain = np.domain ?? "";
    const opType = np.opType ?? "";
    if (!opType) throw new LatheError("format", "node has no op_type", where(`node[${i}]`));
    let id = np.name && !ids.has(np.name) ? np.name : `${opType}_${i}`;
    while (ids.has(id)) id = `${id}_`;
    ids.add(id);
    const attrs: Record<string, Attr> = {};
    np.attribute.forEach((ap, k) => {
      const a = toAttr(ap, ctx, `${field}.attribute[${k}]`, scope);
      if (a) attrs[ap.name ?? ""] = a;
    });
    for (const inp of np.input) {
      if (inp && !scope.has(inp)) {
        throw new LatheError(
          "format",
          `input ${inp} is used before it is defined (or never defined)`,
          where(`node[${i}] (${opType} ${id})`),
        );
      }
    }
    // Constant nodes become graph constants: the IR keeps data out of the node list.
    if (opType === "Constant" && (domain === "" || domain === "ai.onnx") && np.output.length === 1) {
      const c = constantFromAttrs(attrs, { file: ctx.file, field });
      constants[np.output[0]] = c;
      values[np.output[0]] = { type: { kind: "tensor", dtype: c.dtype, shape: c.shape } };
      scope.add(np.output[0]);
      return;
    }
    const raw: RawNode = {
      id,
      op: opKey(domain, opType),
      inputs: np.input.map((x) => (x === "" ? null : x)),
      outputs: [...np.output],
      attrs,
      ...(np.name !== undefined ? { name: np.name } : {}),
      ...(np.docString !== undefined ? { doc: np.docString } : {}),
    };
    const opset = ctx.opsets[domain === "ai.onnx" ? "" : domain] ?? 1;
    const upgraded = domain === "" || domain === "ai.onnx"
      ? upgradeNode(raw, {
        opset,
        dtypeOf,
        addConstant: (hint, c) => {
          const n = fresh(hint);
          constants[n] = c;
          values[n] = { type: { kind: "tensor", dtype: c.dtype, shape: c.shape } };
          scope.add(n);
          return n;
        },
        fresh: (hint) => fresh(hint),
        where: { file: ctx.file, field },
      })
      : [raw];
    for (const u of upgraded) {
      nodes.push(u);
      for (const o of u.outputs) if (o) scope.add(o);
    }
  });
  for (const o of outputs) {
    if (!scope.has(o)) throw new LatheError("format", `graph output ${o} is never defined`, where("output"));
  }
  return {
    name: gp.name ?? "main",
    inputs,
    outputs,
    nodes,
    values,
    constants,
    ...(gp.docString ? { doc: gp.docString } : {}),
  };
}

function toValueType(tp: TypeProto, where: { file: string; field: string }): ValueType | undefined {
  if (tp.tensorType || tp.sparseTensorType) {
    const tt = (tp.tensorType ?? tp.sparseTensorType)!;
    const code = tt.elemType ?? 0;
    const dtype = dtypeFromOnnx(code);
    if (!dtype) {
      if (code === 0) return undefined;
      throw new LatheError("unsupported", `element type ${onnxDataTypeName(code)}`, where);
    }
    if (!tt.shape) return { kind: "tensor", dtype };
    let unknown = 0;
    const shape: Dim[] = tt.shape.dim.map((d) => {
      if (d.dimValue !== undefined) {
        if (d.dimValue < 0) throw new LatheError("format", `negative dimension ${d.dimValue}`, where);
        return d.dimValue;
      }
      if (d.dimParam) return d.dimParam;
      return `?u${unknown++}`;
    });
    return { kind: "tensor", dtype, shape };
  }
  if (tp.sequenceType) {
    const e = tp.sequenceType.elemType ? toValueType(tp.sequenceType.elemType, where) : undefined;
    return e ? { kind: "sequence", elem: e } : undefined;
  }
  if (tp.optionalType) {
    const e = tp.optionalType.elemType ? toValueType(tp.optionalType.elemType, where) : undefined;
    return e ? { kind: "optional", elem: e } : undefined;
  }
  if (tp.mapType) throw new LatheError("unsupported", "map types", where);
  return undefined;
}

function toConstant(t: TensorProto, ctx: Ctx, field: string): Constant {
  const where = { file: ctx.file, field };
  const code = t.dataType ?? 0;
  const dtype = dtypeFromOnnx(code);
  if (!dtype) throw new LatheError("unsupported", `tensor element type ${onnxDataTypeName(code)}`, where);
  const tb = tensorBytes(t, { file: ctx.file, modelDir: ctx.modelDir });
  const c: Constant = dtype === "string"
    ? { dtype, shape: tb.dims, strings: tb.strings ?? [] }
    : { dtype, shape: tb.dims, bytes: tb.bytes };
  checkConstant(c, where);
  return c;
}

function densify(s: SparseTensorProto, ctx: Ctx, field: string): Constant {
  const where = { file: ctx.file, field };
  if (!s.values || !s.indices) throw new LatheError("format", "sparse tensor lacks values or indices", where);
  const vals = toConstant(s.values, ctx, `${field}.values`);
  const idx = toConstant(s.indices, ctx, `${field}.indices`);
  const dims = s.dims;
  const total = dims.reduce((p, d) => p * d, 1);
  if (!Number.isSafeInteger(total) || total > 1 << 28) {
    throw new LatheError("format", `sparse tensor dims [${dims}] too large`, where);
  }
  const nnz = vals.shape[0] ?? 0;
  const elem = vals.bytes!.length / Math.max(nnz, 1);
  const out = new Uint8Array(total * elem);
  const iv = new DataView(idx.bytes!.buffer, idx.bytes!.byteOffset, idx.bytes!.byteLength);
  const strides = dims.map((_, i) => dims.slice(i + 1).reduce((p, d) => p * d, 1));
  const rank2 = idx.shape.length === 2;
  for (let k = 0; k < nnz; k++) {
    let lin = 0;
    if (rank2) {
      for (let r = 0; r < dims.length; r++) {
        lin += Number(iv.getBigInt64((k * dims.length + r) * 8, true)) * strides[r];
      }
    } else lin = Number(iv.getBigInt64(k * 8, true));
    if (lin < 0 || lin >= total) throw new LatheError("format", `sparse index ${lin} out of range`, where);
    out.set(vals.bytes!.subarray(k * elem, (k + 1) * elem), lin * elem);
  }
  return { dtype: vals.dtype, shape: dims, bytes: out };
}

const clampInt = (v: Int64): number => {
  if (typeof v === "number") return v;
  // INT64 extremes (Slice ends in old opsets) mean "to the end": clamp to the safe range.
  return v > BigInt(Number.MAX_SAFE_INTEGER)
    ? Number.MAX_SAFE_INTEGER
    : v < BigInt(Number.MIN_SAFE_INTEGER)
    ? Number.MIN_SAFE_INTEGER
    : Number(v);
};
const utf8 = new TextDecoder();

function toAttr(ap: AttributeProto, ctx: Ctx, field: string, scope: ReadonlySet<string>): Attr | undefined {
  const T = AttributeType;
  let type = ap.type ?? 0;
  if (type === T.UNDEFINED) {
    // Very old writers leave the type out; take it from the field that is set.
    type = ap.g
      ? T.GRAPH
      : ap.t
      ? T.TENSOR
      : ap.s !== undefined
      ? T.STRING
      : ap.f !== undefined
      ? T.FLOAT
      : ap.i !== undefined
      ? T.INT
      : ap.ints.length
      ? T.INTS
      : ap.floats.length
      ? T.FLOATS
      : ap.strings.length
      ? T.STRINGS
      : ap.graphs.length
      ? T.GRAPHS
      : ap.tensors.length
      ? T.TENSORS
      : 0;
  }
  if (ap.refAttrName) {
    throw new LatheError("unsupported", "attribute references (functions)", { file: ctx.file, field });
  }
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) {
      throw new LatheError("format", `attribute of type ${type} has no ${what}`, { file: ctx.file, field });
    }
    return v;
  };
  switch (type) {
    case T.FLOAT:
      return { type: "float", value: ap.f ?? 0 };
    case T.INT:
      return { type: "int", value: clampInt(ap.i ?? 0) };
    case T.STRING:
      return { type: "string", value: utf8.decode(ap.s ?? new Uint8Array()) };
    case T.FLOATS:
      return { type: "floats", value: Array.from(ap.floats) };
    case T.INTS:
      return { type: "ints", value: ap.ints.map(clampInt) };
    case T.STRINGS:
      return { type: "strings", value: ap.strings.map((s) => utf8.decode(s)) };
    case T.TENSOR:
      return { type: "tensor", value: toConstant(need(ap.t, "t"), ctx, `${field}.t`) };
    case T.TENSORS:
      return {
        type: "tensors",
        value: ap.tensors.map((t, i) => toConstant(t, ctx, `${field}.tensors[${i}]`)),
      };
    case T.GRAPH:
      return { type: "graph", value: convertGraph(need(ap.g, "g"), ctx, `${field}.g`, scope) };
    case T.GRAPHS:
      return {
        type: "graphs",
        value: ap.graphs.map((g, i) => convertGraph(g, ctx, `${field}.graphs[${i}]`, scope)),
      };
    case T.SPARSE_TENSOR:
      return {
        type: "tensor",
        value: densify(need(ap.sparseTensor, "sparse_tensor"), ctx, `${field}.sparse_tensor`),
      };
    case T.TYPE_PROTO: {
      const t = ap.tp ? toValueType(ap.tp, { file: ctx.file, field }) : undefined;
      return t ? { type: "type", value: t } : undefined;
    }
    default:
      throw new LatheError("unsupported", `attribute type ${type}`, { file: ctx.file, field });
  }
}

/** The value of a Constant node, from whichever value attribute it carries. */
function constantFromAttrs(attrs: Record<string, Attr>, where: { file: string; field: string }): Constant {
  const [k, a] = Object.entries(attrs)[0] ?? [];
  const f32 = (xs: number[]): Constant => ({
    dtype: "f32",
    shape: [xs.length],
    bytes: new Uint8Array(new Float32Array(xs).buffer),
  });
  const i64 = (xs: number[]): Constant => ({
    dtype: "i64",
    shape: [xs.length],
    bytes: new Uint8Array(new BigInt64Array(xs.map(BigInt)).buffer),
  });
  switch (k) {
    case "value":
    case "sparse_value":
      if (a.type === "tensor") return a.value;
      break;
    case "value_float":
      return { ...f32([a.value as number]), shape: [] };
    case "value_floats":
      return f32([...(a.value as number[])]);
    case "value_int":
      return { ...i64([a.value as number]), shape: [] };
    case "value_ints":
      return i64([...(a.value as number[])]);
    case "value_string":
      return { dtype: "string", shape: [], strings: [a.value as string] };
    case "value_strings":
      return { dtype: "string", shape: [(a.value as string[]).length], strings: a.value as string[] };
  }
  throw new LatheError("format", `Constant node has no value attribute`, where);
}
