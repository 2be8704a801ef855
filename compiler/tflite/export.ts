/**
 * IR to TFLite. The inverse of import.ts: `tfl.*` nodes become operators (attributes back into their option
 * tables), values become tensors (symbolic dims as 1 in `shape` and −1 in `shape_signature`), constants
 * become buffers, graph attributes become subgraphs, and `meta.extra.tflite` restores the description,
 * metadata and signature defs. A constant read by `tfl.DENSIFY` is written as the sparse tensor its
 * attributes describe (dense shape, sparsity table, the stored values as its buffer). Nodes of other
 * dialects have no TFLite form and are refused.
 */
import type { Attr } from "../../ir/attr.ts";
import { type Constant, constantBytes } from "../../ir/constant.ts";
import { LatheError } from "../../ir/errors.ts";
import type { Graph, Model, Node } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import { layoutFromAttrs, sparsePositions } from "../../runtime/tflite/densify.ts";
import { writeFileAtomic } from "../atomic-write.ts";
import type { TfliteExtra } from "./import.ts";
import type {
  Buffer,
  Operator,
  OperatorCode,
  Options,
  OptionValue,
  Quantization,
  SignatureDef,
  Sparsity,
  Subgraph,
  Tensor,
  TfliteModel,
} from "./model.ts";
import { attrNameOf, type OptionTable, optionTableNamed, optionTableOf } from "./op-options.ts";
import { BUILTIN_CODE, type FieldSpec } from "./schema.ts";
import { SPARSITY_ATTRS, sparsityOf } from "./sparsity.ts";
import { tfliteType } from "./tensor-type.ts";
import { type WriteOptions, writeTflite } from "./writer.ts";

const CUSTOM = 32;
/** Attributes that are not option fields: bookkeeping the exporter reads itself. */
const BOOKKEEPING = new Set([
  "_version",
  "_options",
  "_options_2",
  "_mutating_variable_inputs",
  "custom_code",
  "custom_options",
  "custom_options_format",
]);

/** Serializes a model whose graph holds `tfl.*` nodes. */
export function exportTflite(model: Model, options: WriteOptions = {}): Uint8Array {
  return writeTflite(toTfliteModel(model), options);
}

export async function writeTfliteFile(path: string, model: Model, options: WriteOptions = {}): Promise<void> {
  await writeFileAtomic(path, exportTflite(model, options));
}

/** The plain TFLite structures for a model (what writeTflite serializes). */
export function toTfliteModel(model: Model): TfliteModel {
  return new Exporter(model).model();
}

class Exporter {
  private readonly extra: TfliteExtra | undefined;
  private readonly buffers: Buffer[] = [{ data: new Uint8Array(0), offset: 0, size: 0 }];
  private readonly bufferOf = new Map<unknown, number>();
  private readonly opcodes: OperatorCode[] = [];
  private readonly opcodeIndex = new Map<string, number>();
  /** Graph → subgraph index; graphs are converted in index order. */
  private readonly subgraphIndex = new Map<Graph, number>();
  private readonly order: Graph[] = [];
  /** Per subgraph index: value name → tensor index. */
  private readonly tensorIndex: Map<string, number>[] = [];
  /** The original subgraph index each graph had (for the quantization extras). */
  private readonly originalIndex = new Map<Graph, number>();

  constructor(private readonly m: Model) {
    const e = m.meta.extra?.tflite as TfliteExtra | undefined;
    this.extra = e && Array.isArray(e.subgraphs) ? e : undefined;
  }

  private fail(reason: string, field: string, kind: "unsupported" | "verify" = "unsupported"): never {
    throw new LatheError(kind, reason, { field });
  }

  private indexOf(g: Graph): number {
    let i = this.subgraphIndex.get(g);
    if (i === undefined) {
      i = this.order.length;
      this.subgraphIndex.set(g, i);
      this.order.push(g);
    }
    return i;
  }

  model(): TfliteModel {
    this.indexOf(this.m.graph);
    this.originalIndex.set(this.m.graph, 0);
    this.extra?.subgraphs.forEach((g, i) => {
      this.indexOf(g);
      this.originalIndex.set(g, i + 1);
    });
    const subgraphs: Subgraph[] = [];
    // Converting a graph may append the subgraphs its nodes call.
    for (let i = 0; i < this.order.length; i++) subgraphs.push(this.subgraph(this.order[i], i));
    const e = this.extra;
    const metadata = (e?.metadata ?? []).map((md) => ({
      name: md.name,
      buffer: this.buffer(md.data, md.data),
    }));
    const metadataBuffer = (e?.metadataBuffer ?? []).map((d) => this.buffer(d, d));
    const signatureDefs: SignatureDef[] = [];
    for (const s of e?.signatureDefs ?? []) {
      const g = s.subgraph === 0 ? this.m.graph : e!.subgraphs[s.subgraph - 1];
      const si = g ? this.subgraphIndex.get(g) : undefined;
      if (si === undefined) continue;
      const names = this.tensorIndex[si];
      const map = (list: { name: string; value: string }[]) =>
        list.map((x) => ({ name: x.name, tensorIndex: names.get(x.value) ?? -1 }));
      const inputs = map(s.inputs), outputs = map(s.outputs);
      // A pass may have removed a value a signature named; such a signature no longer describes the graph.
      if ([...inputs, ...outputs].some((x) => x.tensorIndex < 0)) continue;
      signatureDefs.push({ signatureKey: s.signatureKey, subgraphIndex: si, inputs, outputs });
    }
    return {
      version: e?.version ?? 3,
      operatorCodes: this.opcodes,
      subgraphs,
      description: e?.description ?? this.m.meta.doc ?? "",
      buffers: this.buffers,
      metadataBuffer,
      metadata,
      signatureDefs,
      externalBufferGroups: [],
      externalBuffers: [],
    };
  }

  /** A buffer for these bytes; `key` shares one buffer between tensors of the same constant. */
  private buffer(data: Uint8Array, key: unknown): number {
    let i = this.bufferOf.get(key);
    if (i === undefined) {
      i = this.buffers.length;
      this.buffers.push({ data, offset: 0, size: 0 });
      this.bufferOf.set(key, i);
    }
    return i;
  }

  private subgraph(g: Graph, si: number): Subgraph {
    const path = `graph ${g.name}`;
    const names: string[] = [];
    const seen = new Set<string>();
    const add = (v: string | null) => {
      if (v && !seen.has(v)) {
        seen.add(v);
        names.push(v);
      }
    };
    // Tensors in the order the values were declared (the file's order after an import), then any others.
    const referenced = new Set<string>([...g.inputs, ...g.outputs, ...Object.keys(g.constants)]);
    for (const n of g.nodes) {
      for (const v of n.inputs) if (v) referenced.add(v);
      for (const v of n.outputs) if (v) referenced.add(v);
    }
    for (const v of Object.keys(g.values)) if (referenced.has(v)) add(v);
    for (const v of referenced) add(v);
    const index = new Map<string, number>();
    names.forEach((n, i) => index.set(n, i));
    this.tensorIndex[si] = index;
    const quantExtras = this.extra?.quantization[this.originalIndex.get(g) ?? -1] ?? {};
    const sparse = this.sparseConstants(g, path);
    const tensors = names.map((n) =>
      this.tensor(g, n, quantExtras[n], `${path} / value ${n}`, sparse.get(n))
    );
    const ref = (v: string | null) => (v ? index.get(v)! : -1);
    const operators = g.nodes.map((n) => this.operator(n, ref, `${path} / node ${n.id} (${n.op})`));
    return {
      tensors,
      inputs: g.inputs.map(ref),
      outputs: g.outputs.map(ref),
      operators,
      name: g.name,
      debugMetadataIndex: -1,
    };
  }

  /**
   * The constants DENSIFY reads, with the dense shape and sparsity table each is written with. Such a
   * constant holds stored values only, so nothing else may read it, and its layout must place them all.
   */
  private sparseConstants(g: Graph, path: string): Map<string, { shape: number[]; sparsity: Sparsity }> {
    const out = new Map<string, { shape: number[]; sparsity: Sparsity }>();
    for (const n of g.nodes) {
      if (n.op !== "tfl.DENSIFY") continue;
      const field = `${path} / node ${n.id} (${n.op})`;
      const v = n.inputs[0];
      const c = v ? g.constants[v] : undefined;
      if (!v || !c || g.inputs.includes(v)) this.fail("DENSIFY reads a value that is not a constant", field);
      const at = resolveAttrs(n);
      const where = { field };
      sparsePositions(layoutFromAttrs(at, where), c.shape.reduce((p, d) => p * d, 1), where);
      const sparsity = sparsityOf(at, field);
      const shape = [...(at.shape as number[])];
      const prev = out.get(v);
      if (prev && JSON.stringify([prev.shape, prev.sparsity]) !== JSON.stringify([shape, sparsity])) {
        this.fail(`constant ${v} is read by DENSIFY nodes with different layouts`, field, "verify");
      }
      out.set(v, { shape, sparsity });
    }
    for (const n of g.nodes) {
      if (n.op === "tfl.DENSIFY") continue;
      for (const v of n.inputs) {
        if (v && out.has(v)) {
          this.fail(
            `constant ${v} holds sparse values for DENSIFY and is read by ${n.op}`,
            `${path} / node ${n.id}`,
            "verify",
          );
        }
      }
    }
    for (const v of g.outputs) {
      if (out.has(v)) {
        this.fail(`constant ${v} holds sparse values for DENSIFY and is an output`, path, "verify");
      }
    }
    return out;
  }

  private tensor(
    g: Graph,
    name: string,
    q: Quantization | undefined,
    field: string,
    sparse?: { shape: number[]; sparsity: Sparsity },
  ): Tensor {
    const c = g.constants[name];
    const t = g.values[name]?.type ??
      (c ? { kind: "tensor" as const, dtype: c.dtype, shape: c.shape } : undefined);
    if (!t) this.fail(`value ${name} has no type`, field, "verify");
    if (t.kind !== "tensor") this.fail(`value ${name} is a ${t.kind}, which TFLite cannot hold`, field);
    const dtype = c ? c.dtype : t.dtype;
    const { type, quantization } = tfliteType(dtype, { field });
    const dims = sparse ? sparse.shape : c ? c.shape : t.shape;
    const shape = (dims ?? []).map((d) => (typeof d === "number" ? d : 1));
    const dynamic = !c && dims?.some((d) => typeof d !== "number");
    let quant: Quantization | null = null;
    if (quantization) {
      quant = {
        min: q?.min ?? new Float32Array(0),
        max: q?.max ?? new Float32Array(0),
        scale: quantization.scale,
        zeroPoint: quantization.zeroPoint,
        detailsType: q?.detailsType ?? 0,
        details: q?.details ?? null,
        quantizedDimension: quantization.quantizedDimension,
      };
    } else if (q) quant = q;
    return {
      shape,
      shapeSignature: dynamic ? dims!.map((d) => (typeof d === "number" ? d : -1)) : null,
      type,
      buffer: c ? this.buffer(constantData(c), c) : 0,
      name,
      quantization: quant,
      isVariable: false,
      sparsity: sparse?.sparsity ?? null,
      // Converters leave has_rank unset (LiteRT then reports static shapes), and a [] shape reads as a scalar.
      hasRank: false,
      variantTensors: [],
      externalBuffer: 0,
    };
  }

  private opcode(builtinCode: number, customCode: string | null, version: number): number {
    const key = `${builtinCode}|${customCode ?? ""}|${customCode === null ? 0 : 1}|${version}`;
    let i = this.opcodeIndex.get(key);
    if (i === undefined) {
      i = this.opcodes.length;
      this.opcodes.push({ builtinCode, customCode, version });
      this.opcodeIndex.set(key, i);
    }
    return i;
  }

  private operator(n: Node, ref: (v: string | null) => number, field: string): Operator {
    if (!n.op.startsWith("tfl.")) this.fail(`op ${n.op} has no TFLite form`, field);
    const name = n.op.slice(4);
    const code = name === "CUSTOM" ? CUSTOM : BUILTIN_CODE[name];
    if (code === undefined) this.fail(`unknown TFLite op ${name}`, field);
    const at = n.attrs;
    const version = intAttr(at._version, 1);
    let customCode: string | null = null;
    let customOptions: Uint8Array | null = null;
    if (code === CUSTOM) {
      if (at.custom_code?.type !== "string") this.fail("CUSTOM needs a custom_code string", field, "verify");
      customCode = at.custom_code.value;
      if (at.custom_options) {
        if (at.custom_options.type !== "tensor") {
          this.fail("custom_options must be a u8 tensor", field, "verify");
        }
        customOptions = constantBytes(at.custom_options.value);
      }
    }
    const table1 = at._options?.type === "string" ? optionTableNamed(at._options.value) : undefined;
    const table2 = at._options_2?.type === "string" ? optionTableNamed(at._options_2.value) : undefined;
    const usual = optionTableOf(name);
    const tables: OptionTable[] = [];
    if (table1) tables.push(table1);
    if (table2) tables.push(table2);
    if (usual && !tables.some((t) => t.union === usual.union)) tables.push(usual);
    const known = new Set<string>(name === "DENSIFY" ? [...BOOKKEEPING, ...SPARSITY_ATTRS] : BOOKKEEPING);
    const opts: { 1?: [number, Options]; 2?: [number, Options] } = {};
    for (const t of tables) {
      const o: Options = {};
      for (const f of t.spec.fields) {
        const attrName = attrNameOf(f.name, !!f.subgraph);
        known.add(attrName);
        const a = at[attrName];
        if (a) o[f.name] = this.optionValue(f, a, `${field}: attribute ${attrName}`);
      }
      opts[t.union] = [t.tag, o];
    }
    for (const k of Object.keys(at)) {
      if (!known.has(k)) this.fail(`attribute ${k} has no field in ${name}'s options`, field);
    }
    const mutating = at._mutating_variable_inputs;
    return {
      opcodeIndex: this.opcode(code, customCode, version),
      inputs: n.inputs.map(ref),
      outputs: n.outputs.map((o) => (o ? ref(o) : -1)),
      builtinOptionsType: opts[1]?.[0] ?? 0,
      builtinOptions: opts[1]?.[1] ?? null,
      customOptions,
      customOptionsFormat: intAttr(at.custom_options_format, 0),
      mutatingVariableInputs: mutating?.type === "ints" ? mutating.value.map((x) => x !== 0) : [],
      intermediates: [],
      builtinOptions2Type: opts[2]?.[0] ?? 0,
      builtinOptions2: opts[2]?.[1] ?? null,
      debugMetadataIndex: -1,
    };
  }

  private optionValue(f: FieldSpec, a: Attr, field: string): OptionValue {
    const wrong = (): never =>
      this.fail(`a ${a.type} attribute cannot fill a ${f.kind} field`, field, "verify");
    if (f.subgraph) {
      if (a.type === "graph") return this.indexOf(a.value);
      if (a.type === "graphs") return a.value.map((g) => this.indexOf(g));
      return wrong();
    }
    switch (f.kind) {
      case "bool":
        return a.type === "int" ? a.value !== 0 : wrong();
      case "i8":
      case "u8":
        if (a.type === "string" && f.enumNames) return a.value;
        return a.type === "int" ? a.value : wrong();
      case "i32":
      case "u32":
        return a.type === "int" ? a.value : wrong();
      case "i64":
        return a.type === "int" ? BigInt(a.value) : wrong();
      case "f32":
        return a.type === "float" || a.type === "int" ? a.value : wrong();
      case "string":
        return a.type === "string" ? a.value : wrong();
      case "[i32]":
      case "[u32]":
      case "[i64]":
        return a.type === "ints" ? [...a.value] : wrong();
      case "[f32]":
        return a.type === "floats" || a.type === "ints" ? Float32Array.from(a.value) : wrong();
      case "[bool]":
        return a.type === "ints" ? a.value.map((x) => x !== 0) : wrong();
      case "[u8]":
        return a.type === "tensor" ? constantBytes(a.value) : wrong();
    }
  }
}

function intAttr(a: Attr | undefined, dflt: number): number {
  return a?.type === "int" ? a.value : dflt;
}

/** The bytes of a constant as TFLite stores them (strings in TFLite's offset-table layout). */
function constantData(c: Constant): Uint8Array {
  if (c.dtype !== "string") return constantBytes(c);
  const enc = new TextEncoder();
  const parts = (c.strings ?? []).map((s) => enc.encode(s));
  const n = parts.length;
  const head = 4 * (n + 2);
  const total = head + parts.reduce((p, b) => p + b.length, 0);
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  v.setInt32(0, n, true);
  let at = head;
  parts.forEach((b, i) => {
    v.setInt32(4 + 4 * i, at, true);
    out.set(b, at);
    at += b.length;
  });
  v.setInt32(4 + 4 * n, at, true);
  return out;
}
