/**
 * TFLite to IR. Ops become `tfl.*` nodes with their option fields as attributes (ir/ops/tflite.ts),
 * tensors become values named after the tensors, buffers become constants that view the file's bytes,
 * quantized tensors get affine element types, shape_signature −1 entries become symbolic dims, and
 * subgraphs called by WHILE/IF/CALL_ONCE become graph attributes. A sparse constant stays sparse: the
 * constant holds its stored values and the `tfl.DENSIFY` node that reads it carries the sparsity table as
 * attributes (sparsity.ts), so export writes the same encoding back; the layout is checked here.
 * Everything the IR has no place for (description, metadata, signature defs, quantization min/max) goes
 * to `meta.extra.tflite` so the exporter can write it back.
 */
import type { Attr } from "../../ir/attr.ts";
import { checkConstant, type Constant } from "../../ir/constant.ts";
import { type DType, scalarBits, storageOf } from "../../ir/dtype.ts";
import { LatheError, toSafeNumber, withFile } from "../../ir/errors.ts";
import type { Graph, Model, Node, SourceMeta, ValueInfo } from "../../ir/graph.ts";
import { inferGraph } from "../../ir/infer.ts";
import type { Dim, ValueType } from "../../ir/value-type.ts";
import "../../ir/ops/index.ts";
import { layoutFromAttrs, sparsePositions } from "../../runtime/tflite/densify.ts";
import type {
  Operator,
  Options,
  Quantization,
  Subgraph,
  Tensor,
  TfliteModel,
  UnknownOptions,
} from "./model.ts";
import { attrNameOf, optionTableOf } from "./op-options.ts";
import { readTflite } from "./reader.ts";
import { sparsityAttrs } from "./sparsity.ts";
import {
  BUILTIN_OPERATORS,
  BUILTIN_OPTIONS,
  BUILTIN_OPTIONS_2,
  type FieldSpec,
  type TableSpec,
} from "./schema.ts";
import { irDType, quantInDType } from "./tensor-type.ts";

export interface TfliteImportOptions {
  /** Shown in errors. */
  file?: string;
}

/** What the IR cannot hold, kept in `meta.extra.tflite` for the exporter. */
export interface TfliteExtra {
  version: number;
  description: string;
  /** Model.metadata entries with their buffers' bytes. */
  metadata: { name: string; data: Uint8Array }[];
  /** The deprecated Model.metadata_buffer list, as the buffers' bytes. */
  metadataBuffer: Uint8Array[];
  /** Tensor indices replaced by value names; `subgraph` is the original subgraph index. */
  signatureDefs: SignatureDefExtra[];
  /** Subgraphs 1.. in file order (the graphs that graph attributes refer to, plus any unreferenced ones). */
  subgraphs: Graph[];
  /** Per subgraph index, per value name: quantization details the element type does not carry. */
  quantization: Record<string, Quantization>[];
}

export interface SignatureDefExtra {
  signatureKey: string;
  subgraph: number;
  inputs: { name: string; value: string }[];
  outputs: { name: string; value: string }[];
}

const CUSTOM = 32;

/** Reads and imports a .tflite file. */
export async function importTfliteFile(path: string): Promise<Model> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new LatheError("io", `cannot read: ${(e as Error).message}`, { file: path });
  }
  return importTflite(bytes, { file: path });
}

/** Imports a TFLite flatbuffer. Constants view `bytes`, which must stay unchanged while the model lives. */
export function importTflite(bytes: Uint8Array, opts: TfliteImportOptions = {}): Model {
  const file = opts.file ?? "<memory>";
  try {
    return fromTfliteModel(readTflite(bytes, { file }), file);
  } catch (e) {
    throw withFile(e, file);
  }
}

export function fromTfliteModel(m: TfliteModel, file = "<memory>"): Model {
  if (m.externalBuffers.length > 0 || m.externalBufferGroups.length > 0) {
    throw new LatheError("unsupported", "external buffer tables (Model.external_buffers)", { file });
  }
  const imp = new Importer(m, file);
  const main = imp.graph(0);
  const subgraphs = m.subgraphs.slice(1).map((_, i) => imp.graph(i + 1));
  const extra: TfliteExtra = {
    version: m.version,
    description: m.description,
    metadata: m.metadata.map((md) => ({ name: md.name, data: m.buffers[md.buffer].data })),
    metadataBuffer: m.metadataBuffer.map((b, i) => {
      if (b < 0 || b >= m.buffers.length) {
        throw new LatheError("format", `buffer index ${b} out of range`, {
          file,
          field: `metadata_buffer[${i}]`,
        });
      }
      return m.buffers[b].data;
    }),
    signatureDefs: m.signatureDefs.map((s) => {
      const names = imp.tensorNames[s.subgraphIndex];
      const map = (list: { name: string; tensorIndex: number }[]) =>
        list.map((t) => ({ name: t.name, value: names.get(t.tensorIndex) ?? "" }));
      return {
        signatureKey: s.signatureKey,
        subgraph: s.subgraphIndex,
        inputs: map(s.inputs),
        outputs: map(s.outputs),
      };
    }),
    subgraphs,
    quantization: imp.quantExtras,
  };
  const meta: SourceMeta = {
    format: "tflite",
    opsets: {},
    props: {},
    ...(m.description ? { doc: m.description } : {}),
    ...(file !== "<memory>" ? { path: file } : {}),
    extra: { tflite: extra },
  };
  return { graph: main, meta };
}

function fieldPath(sg: number, what: string): string {
  return `subgraphs[${sg}].${what}`;
}

class Importer {
  private readonly graphs = new Map<number, Graph>();
  private readonly building = new Set<number>();
  /** Per subgraph: tensor index → value name, for signature defs. */
  readonly tensorNames: Map<number, string>[];
  readonly quantExtras: Record<string, Quantization>[];

  constructor(private readonly m: TfliteModel, private readonly file: string) {
    this.tensorNames = m.subgraphs.map(() => new Map());
    this.quantExtras = m.subgraphs.map(() => ({}));
  }

  private fail(reason: string, field: string, kind: "format" | "unsupported" = "format"): never {
    throw new LatheError(kind, reason, { file: this.file, field });
  }

  graph(index: number): Graph {
    const done = this.graphs.get(index);
    if (done) return done;
    if (this.building.has(index)) this.fail(`subgraph ${index} calls itself`, fieldPath(index, ""));
    this.building.add(index);
    const declared = this.convert(index);
    const g = this.infer(declared);
    this.building.delete(index);
    this.graphs.set(index, g);
    return g;
  }

  /**
   * Inference with the file's shapes as the declared types, except where a node output has dims the file
   * leaves dynamic: there the inferred dims (input symbols carried through) are kept rather than a
   * placeholder per tensor. If inference cannot type such an output on its own, the placeholders stay.
   */
  private infer(g: Graph): Graph {
    const values: Record<string, ValueInfo> = { ...g.values };
    let dropped = false;
    for (const n of g.nodes) {
      for (const o of n.outputs) {
        const t = o ? values[o]?.type : undefined;
        if (
          t?.kind === "tensor" && typeof t.dtype === "string" && t.shape?.some((d) => typeof d === "string")
        ) {
          delete values[o];
          dropped = true;
        }
      }
    }
    if (dropped) {
      try {
        return inferGraph({ ...g, values });
      } catch (e) {
        if (!(e instanceof LatheError)) throw e;
      }
    }
    return inferGraph(g);
  }

  private convert(si: number): Graph {
    const m = this.m;
    const sg: Subgraph = m.subgraphs[si];
    const names = this.tensorNames[si];
    const used = new Set<string>();
    const values: Record<string, ValueInfo> = {};
    const constants: Record<string, Constant> = {};
    const defined = new Set<number>();
    const nodes: Node[] = [];
    const nodeIds = new Set<string>();
    const produced = new Set<number>();
    for (const op of sg.operators) for (const ti of op.outputs) produced.add(ti);

    const nameOf = (ti: number): string => {
      let n = names.get(ti);
      if (n !== undefined) return n;
      const base = sg.tensors[ti].name || `tensor${ti}`;
      n = base;
      for (let k = 1; used.has(n); k++) n = `${base}_${k}`;
      used.add(n);
      names.set(ti, n);
      return n;
    };

    const declare = (ti: number, isInput: boolean): string => {
      const name = nameOf(ti);
      values[name] = { type: this.valueType(si, ti, name, isInput) };
      return name;
    };

    /** A tensor read by an op or listed as an output: defined already, or a constant. */
    const refer = (ti: number, field: string): string => {
      const t = sg.tensors[ti];
      if (t.sparsity) this.fail("a sparse tensor used other than by DENSIFY", field, "unsupported");
      if (defined.has(ti)) return nameOf(ti);
      const data = t.buffer > 0 ? m.buffers[t.buffer].data : undefined;
      if (data && (data.length > 0 || elementCount(t.shape) === 0) && !produced.has(ti)) {
        const name = declare(ti, false);
        constants[name] = this.constant(si, ti);
        defined.add(ti);
        return name;
      }
      if (t.isVariable) this.fail(`variable tensor ${JSON.stringify(t.name)}`, field, "unsupported");
      if (produced.has(ti)) {
        this.fail(`tensor ${ti} (${JSON.stringify(t.name)}) is read before an operator produces it`, field);
      }
      return this.fail(
        `tensor ${ti} (${JSON.stringify(t.name)}) has no data, no producer and is not an input`,
        field,
      );
    };

    /** DENSIFY's operand, the stored values as a vector (two DENSIFY ops of one tensor share it). */
    const sparseConstant = (ti: number, sp: { constant: Constant }, field: string): string => {
      const name = nameOf(ti);
      if (defined.has(ti)) {
        if (!constants[name]) {
          this.fail(`sparse tensor ${ti} is also defined otherwise`, `${field}.inputs[0]`);
        }
        return name;
      }
      // valueType records the quantization details the element type cannot carry; the shape is the vector's.
      this.valueType(si, ti, name, false);
      values[name] = { type: { kind: "tensor", dtype: sp.constant.dtype, shape: [...sp.constant.shape] } };
      constants[name] = sp.constant;
      defined.add(ti);
      return name;
    };

    const inputs = sg.inputs.map((ti, k) => {
      if (defined.has(ti)) {
        this.fail(`tensor ${ti} is listed twice as an input`, fieldPath(si, `inputs[${k}]`));
      }
      const name = declare(ti, true);
      const t = sg.tensors[ti];
      if (t.buffer > 0 && m.buffers[t.buffer].data.length > 0) constants[name] = this.constant(si, ti);
      defined.add(ti);
      return name;
    });

    sg.operators.forEach((op, oi) => {
      const field = fieldPath(si, `operators[${oi}]`);
      const code = m.operatorCodes[op.opcodeIndex];
      const opName = code.builtinCode === CUSTOM ? "CUSTOM" : BUILTIN_OPERATORS[code.builtinCode];
      if (opName === undefined || opName === "PLACEHOLDER_FOR_GREATER_OP_CODES") {
        this.fail(`unknown builtin operator code ${code.builtinCode}`, field, "unsupported");
      }
      if (op.intermediates.length > 0) this.fail(`${opName} with intermediate tensors`, field, "unsupported");
      const sparse = opName === "DENSIFY" ? this.sparseOperand(si, op, field) : undefined;
      const ins = sparse
        ? [sparseConstant(op.inputs[0], sparse, field)]
        : op.inputs.map((ti, k) => (ti < 0 ? null : refer(ti, `${field}.inputs[${k}]`)));
      const outs = op.outputs.map((ti, k) => {
        if (ti < 0) return "";
        if (defined.has(ti)) {
          this.fail(
            `tensor ${ti} (${JSON.stringify(sg.tensors[ti].name)}) is produced twice`,
            `${field}.outputs[${k}]`,
          );
        }
        if (sg.tensors[ti].buffer > 0 && m.buffers[sg.tensors[ti].buffer].data.length > 0) {
          this.fail(`operator output tensor ${ti} also has constant data`, `${field}.outputs[${k}]`);
        }
        const name = declare(ti, false);
        defined.add(ti);
        return name;
      });
      const attrs = { ...this.attrs(opName, op, code.customCode, code.version, field), ...sparse?.attrs };
      let id = outs.find((o) => o !== "") ?? `op${oi}`;
      if (nodeIds.has(id)) id = `op${oi}`;
      for (let k = 1; nodeIds.has(id); k++) id = `op${oi}_${k}`;
      nodeIds.add(id);
      nodes.push({ id, op: `tfl.${opName}`, inputs: ins, outputs: outs, attrs });
    });

    const outputs = sg.outputs.map((ti, k) => refer(ti, fieldPath(si, `outputs[${k}]`)));
    return {
      name: sg.name || (si === 0 ? "main" : `subgraph${si}`),
      inputs,
      outputs,
      nodes,
      values,
      constants,
    };
  }

  private valueType(si: number, ti: number, name: string, isInput: boolean): ValueType {
    const t: Tensor = this.m.subgraphs[si].tensors[ti];
    const where = { file: this.file, field: fieldPath(si, `tensors[${ti}]`) };
    const dtype: DType = irDType(t.type, t.quantization, where);
    const q = t.quantization;
    if (q && (!quantInDType(t.type, q) || q.min.length || q.max.length || q.detailsType !== 0)) {
      this.quantExtras[si][name] = q;
    }
    const sig = t.shapeSignature;
    if (sig && sig.length !== t.shape.length) {
      this.fail(`shape_signature [${sig}] and shape [${t.shape}] differ in rank`, where.field);
    }
    const shape: Dim[] = t.shape.map((d, i) => {
      if (!sig || sig[i] !== -1) return d;
      // Graph inputs get names the caller binds; inside the graph an unknown dim is for inference to fill.
      return isInput ? `in${this.m.subgraphs[si].inputs.indexOf(ti)}_${i}` : `?${name}#${i}`;
    });
    return { kind: "tensor", dtype, shape };
  }

  private constant(si: number, ti: number): Constant {
    const t = this.m.subgraphs[si].tensors[ti];
    const where = { file: this.file, field: fieldPath(si, `tensors[${ti}]`) };
    if (t.sparsity) this.fail("a sparse tensor used other than by DENSIFY", where.field, "unsupported");
    if (t.externalBuffer !== 0) this.fail("tensor data in an external buffer", where.field, "unsupported");
    const dtype = irDType(t.type, t.quantization, where);
    const bytes = this.m.buffers[t.buffer].data;
    let c: Constant;
    if (dtype === "string") {
      c = { dtype, shape: t.shape, strings: decodeStrings(bytes, elementCount(t.shape), where) };
    } else c = { dtype, shape: t.shape, bytes };
    checkConstant(c, where);
    return c;
  }

  /**
   * DENSIFY's sparse operand as a constant of its stored values, and the sparsity table as the node's
   * attributes; the layout is walked once here so that a hostile table fails at import, not at run time.
   */
  private sparseOperand(
    si: number,
    op: Operator,
    field: string,
  ): { constant: Constant; attrs: Record<string, Attr> } {
    const sg = this.m.subgraphs[si];
    if (op.inputs.length !== 1 || op.outputs.length !== 1 || op.inputs[0] < 0 || op.outputs[0] < 0) {
      this.fail("DENSIFY takes one input and one output", field);
    }
    const src = sg.tensors[op.inputs[0]], dst = sg.tensors[op.outputs[0]];
    if (!src.sparsity || src.buffer === 0) {
      this.fail("DENSIFY of a tensor that is not a sparse constant", field, "unsupported");
    }
    if (src.externalBuffer !== 0) this.fail("tensor data in an external buffer", field, "unsupported");
    const where = { file: this.file, field: fieldPath(si, `tensors[${op.inputs[0]}]`) };
    const dtype = irDType(src.type, src.quantization, where);
    if (
      dst.type !== src.type || dst.shape.length !== src.shape.length ||
      dst.shape.some((d, i) => d !== src.shape[i])
    ) {
      this.fail("DENSIFY output differs from its input in type or shape", field);
    }
    const s = storageOf(dtype);
    if (!s || s === "string" || scalarBits(s) < 8) this.fail(`DENSIFY of ${dst.type}`, field, "unsupported");
    const width = scalarBits(s!) / 8;
    const bytes = this.m.buffers[src.buffer].data;
    if (bytes.length % width !== 0) {
      this.fail(
        `sparse tensor: ${bytes.length} value bytes are not whole ${width}-byte elements`,
        where.field,
      );
    }
    src.sparsity!.dimMetadata.forEach((d, i) => {
      if (d.format !== 0 && d.format !== 1) {
        this.fail(`sparse tensor: level ${i} has unknown format ${d.format}`, where.field);
      }
    });
    const attrs = sparsityAttrs(src.shape, src.sparsity!);
    const plain = Object.fromEntries(Object.entries(attrs).map(([k, a]) => [k, a.value]));
    sparsePositions(layoutFromAttrs(plain, where), bytes.length / width, where);
    const constant: Constant = { dtype, shape: [bytes.length / width], bytes };
    checkConstant(constant, where);
    return { constant, attrs };
  }

  private attrs(
    opName: string,
    op: Operator,
    customCode: string | null,
    version: number,
    field: string,
  ): Record<string, Attr> {
    const attrs: Record<string, Attr> = {};
    if (opName === "CUSTOM") {
      attrs.custom_code = { type: "string", value: customCode ?? "" };
      if (op.customOptions) {
        attrs.custom_options = {
          type: "tensor",
          value: { dtype: "u8", shape: [op.customOptions.length], bytes: op.customOptions },
        };
      }
      if (op.customOptionsFormat !== 0) {
        attrs.custom_options_format = { type: "int", value: op.customOptionsFormat };
      }
    } else if (op.customOptions) {
      this.fail(`builtin ${opName} with custom options`, field, "unsupported");
    }
    const expected = optionTableOf(opName);
    const addTable = (union: 1 | 2, tag: number, value: Options | UnknownOptions | null) => {
      if (tag === 0) return false;
      const spec = (union === 1 ? BUILTIN_OPTIONS : BUILTIN_OPTIONS_2)[tag - 1];
      if (!spec || (value && "unknownTag" in value)) {
        this.fail(
          `option union tag ${tag} is not in this schema`,
          `${field}.builtin_options${union === 2 ? "_2" : ""}`,
          "unsupported",
        );
      }
      this.fillOptions(spec!, value as Options | null, attrs, field);
      if (!expected || expected.union !== union || expected.spec !== spec) {
        attrs[union === 1 ? "_options" : "_options_2"] = { type: "string", value: spec!.name };
      }
      return true;
    };
    const had1 = addTable(1, op.builtinOptionsType, op.builtinOptions);
    const had2 = addTable(2, op.builtinOptions2Type, op.builtinOptions2);
    const hadExpected = expected && ((expected.union === 1 && had1 && !attrs._options) ||
      (expected.union === 2 && had2 && !attrs._options_2));
    // Absent options read as the table's defaults, so the attributes are the same either way.
    if (expected && !hadExpected) this.fillOptions(expected.spec, null, attrs, field);
    if (version !== 1) attrs._version = { type: "int", value: version };
    if (op.mutatingVariableInputs.length) {
      attrs._mutating_variable_inputs = { type: "ints", value: op.mutatingVariableInputs.map(Number) };
    }
    return attrs;
  }

  private fillOptions(
    spec: TableSpec,
    opts: Options | null,
    attrs: Record<string, Attr>,
    field: string,
  ): void {
    for (const f of spec.fields) {
      const v = opts ? opts[f.name] : scalarDefault(f);
      if (v === null || v === undefined) continue;
      const name = attrNameOf(f.name, !!f.subgraph);
      if (attrs[name]) continue;
      attrs[name] = this.optionAttr(f, v, `${field}.${f.name}`);
    }
  }

  private optionAttr(f: FieldSpec, v: unknown, field: string): Attr {
    if (f.subgraph) {
      if (Array.isArray(v)) return { type: "graphs", value: (v as number[]).map((i) => this.graph(i)) };
      return { type: "graph", value: this.graph(Number(v)) };
    }
    switch (f.kind) {
      case "bool":
        return { type: "int", value: v ? 1 : 0 };
      case "i8":
      case "u8":
        return typeof v === "string" ? { type: "string", value: v } : { type: "int", value: Number(v) };
      case "i32":
      case "u32":
        return { type: "int", value: Number(v) };
      case "i64":
        return {
          type: "int",
          value: typeof v === "bigint" ? toSafeNumber(v, { file: this.file, field }) : Number(v),
        };
      case "f32":
        return { type: "float", value: Number(v) };
      case "string":
        return { type: "string", value: String(v) };
      case "[i32]":
      case "[u32]":
      case "[i64]":
        return { type: "ints", value: Array.from(v as ArrayLike<number | bigint>, (x) => Number(x)) };
      case "[f32]":
        return { type: "floats", value: Array.from(v as ArrayLike<number>) };
      case "[bool]":
        return { type: "ints", value: (v as boolean[]).map((x) => (x ? 1 : 0)) };
      case "[u8]": {
        const bytes = v as Uint8Array;
        return { type: "tensor", value: { dtype: "u8", shape: [bytes.length], bytes } };
      }
    }
  }
}

/** A scalar field's schema default (as the reader decodes it); vectors and strings have none. */
function scalarDefault(f: FieldSpec): unknown {
  switch (f.kind) {
    case "bool":
      return f.default === true;
    case "i8":
    case "u8": {
      const v = Number(f.default ?? 0);
      return f.enumNames ? (f.enumNames[v] ?? v) : v;
    }
    case "i32":
    case "u32":
    case "i64":
    case "f32":
      return Number(f.default ?? 0);
    default:
      return null;
  }
}

function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * TFLite string tensors: int32 count N, N+1 int32 offsets from the buffer start, then the bytes.
 */
function decodeStrings(bytes: Uint8Array, count: number, where: { file?: string; field?: string }): string[] {
  const fail = (reason: string): never => {
    throw new LatheError("format", `string tensor: ${reason}`, where);
  };
  if (bytes.length < 4) fail("buffer shorter than its count");
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = v.getInt32(0, true);
  if (n !== count) fail(`holds ${n} strings, the shape has ${count} elements`);
  if (4 * (n + 2) > bytes.length) fail(`${n} offsets do not fit in ${bytes.length} bytes`);
  const dec = new TextDecoder();
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = v.getInt32(4 + 4 * i, true), b = v.getInt32(8 + 4 * i, true);
    if (a < 0 || b < a || b > bytes.length) fail(`string ${i} spans bytes ${a}..${b}`);
    out.push(dec.decode(bytes.subarray(a, b)));
  }
  return out;
}
