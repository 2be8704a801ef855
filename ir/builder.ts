/**
 * Building graphs in code (the embedded default model, tests, passes that emit new nodes). Values are named
 * `%`-style strings; the builder fills in types by inference when the graph is finished.
 */
import type { Attr } from "./attr.ts";
import type { Constant } from "./constant.ts";
import type { DType } from "./dtype.ts";
import type { Graph, Model, Node, SourceMeta, ValueInfo } from "./graph.ts";
import { inferGraph } from "./infer.ts";
import type { Shape, ValueType } from "./value-type.ts";

export type AttrInit = Attr | number | string | readonly number[] | readonly string[];

export class GraphBuilder {
  private nodes: Node[] = [];
  private values: Record<string, ValueInfo> = {};
  private constants: Record<string, Constant> = {};
  private inputs: string[] = [];
  private counter = 0;
  constructor(readonly name = "main") {}

  /** A fresh value name with a readable prefix. */
  fresh(prefix = "t"): string {
    let n: string;
    do n = `${prefix}${this.counter++}`; while (
      n in this.values || this.nodes.some((x) => x.outputs.includes(n))
    );
    return n;
  }

  input(name: string, dtype: DType, shape?: Shape): string {
    this.inputs.push(name);
    this.values[name] = { type: { kind: "tensor", dtype, ...(shape ? { shape } : {}) } };
    return name;
  }

  inputOf(name: string, type: ValueType): string {
    this.inputs.push(name);
    this.values[name] = { type };
    return name;
  }

  constant(name: string, c: Constant): string {
    this.constants[name] = c;
    this.values[name] = { type: { kind: "tensor", dtype: c.dtype, shape: c.shape } };
    return name;
  }

  /** Little-endian constant from numbers (f32, f64, i64, i32, i8, u8, bool). */
  constantOf(name: string, dtype: DType, shape: readonly number[], values: ArrayLike<number>): string {
    return this.constant(name, numbersConstant(dtype, shape, values));
  }

  /** Adds a node; returns its output names. `outputs` may be a count or explicit names. */
  op(
    op: string,
    inputs: readonly (string | null)[],
    attrs: Record<string, AttrInit> = {},
    outputs: number | string[] = 1,
    id?: string,
  ): string[] {
    const outs = typeof outputs === "number" ? Array.from({ length: outputs }, () => this.fresh()) : outputs;
    const nodeId = id ?? `n${this.nodes.length}`;
    this.nodes.push({ id: nodeId, op, inputs, outputs: outs, attrs: toAttrs(attrs) });
    return outs;
  }

  /** Single-output shorthand. */
  op1(
    op: string,
    inputs: readonly (string | null)[],
    attrs: Record<string, AttrInit> = {},
    out?: string,
  ): string {
    return this.op(op, inputs, attrs, out ? [out] : 1)[0];
  }

  build(outputs: readonly string[]): Graph {
    const g: Graph = {
      name: this.name,
      inputs: this.inputs,
      outputs,
      nodes: this.nodes,
      values: this.values,
      constants: this.constants,
    };
    return inferGraph(g);
  }

  /** Without inference, for subgraphs whose outer-scope types are only known to the caller. */
  buildRaw(outputs: readonly string[]): Graph {
    return {
      name: this.name,
      inputs: this.inputs,
      outputs,
      nodes: this.nodes,
      values: this.values,
      constants: this.constants,
    };
  }
}

export function lathemeta(): SourceMeta {
  return { format: "lathe", opsets: { "": 21 }, props: {} };
}

export function modelOf(graph: Graph, meta: SourceMeta = lathemeta()): Model {
  return { graph, meta };
}

/** Plain values become typed attributes: integers stay int, other numbers float; lists likewise. */
export function toAttrs(init: Record<string, AttrInit>): Record<string, Attr> {
  const out: Record<string, Attr> = {};
  for (const [k, v] of Object.entries(init)) {
    if (typeof v === "number") {
      out[k] = Number.isInteger(v) ? { type: "int", value: v } : { type: "float", value: v };
    } else if (typeof v === "string") out[k] = { type: "string", value: v };
    else if (Array.isArray(v)) {
      if (v.length > 0 && typeof v[0] === "string") out[k] = { type: "strings", value: v as string[] };
      else {out[k] = (v as number[]).every(Number.isInteger)
          ? { type: "ints", value: v as number[] }
          : { type: "floats", value: v as number[] };}
    } else out[k] = v as Attr;
  }
  return out;
}

export function numbersConstant(dtype: DType, shape: readonly number[], values: ArrayLike<number>): Constant {
  const n = shape.reduce((p, d) => p * d, 1);
  if (values.length !== n) throw new Error(`constant [${shape}] needs ${n} values, got ${values.length}`);
  let bytes: Uint8Array;
  const arr = Array.from(values);
  switch (dtype) {
    case "f32":
      bytes = new Uint8Array(new Float32Array(arr).buffer);
      break;
    case "f64":
      bytes = new Uint8Array(new Float64Array(arr).buffer);
      break;
    case "f16":
      bytes = new Uint8Array(new Float16Array(arr).buffer);
      break;
    case "i64":
      bytes = new Uint8Array(new BigInt64Array(arr.map((x) => BigInt(x))).buffer);
      break;
    case "i32":
      bytes = new Uint8Array(new Int32Array(arr).buffer);
      break;
    case "i16":
      bytes = new Uint8Array(new Int16Array(arr).buffer);
      break;
    case "i8":
      bytes = new Uint8Array(new Int8Array(arr).buffer);
      break;
    case "u8":
    case "bool":
      bytes = new Uint8Array(arr);
      break;
    default: {
      if (typeof dtype === "object" && dtype.kind === "affine") {
        return { ...numbersConstant(dtype.storage, shape, values), dtype };
      }
      throw new Error(`numbersConstant does not handle ${JSON.stringify(dtype)}`);
    }
  }
  return { dtype, shape, bytes };
}
