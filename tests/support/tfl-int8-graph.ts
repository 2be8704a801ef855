/**
 * Small quantized `tfl` graphs built in code for the target tests: operands with affine types, constant
 * filters from explicit codes, and declared output types (a quantized output's scale is the file's to give).
 */
import type { AffineQuant, DType } from "../../ir/dtype.ts";
import type { Attr } from "../../ir/attr.ts";
import type { Constant } from "../../ir/constant.ts";
import type { Graph, Node, ValueInfo } from "../../ir/graph.ts";
import { inferGraph } from "../../ir/infer.ts";
import { tensorType } from "../../ir/value-type.ts";

export const q = (
  storage: AffineQuant["storage"],
  scale: number | number[],
  zp: number | number[] = 0,
  axis?: number,
): AffineQuant => ({
  kind: "affine",
  storage,
  scale: Array.isArray(scale) ? scale : [scale],
  zeroPoint: Array.isArray(zp) ? zp : Array.isArray(scale) ? scale.map(() => zp as number) : [zp],
  ...(axis !== undefined ? { axis } : {}),
});

function bytesOf(dtype: DType, values: readonly number[]): Uint8Array {
  const s = typeof dtype === "string" ? dtype : dtype.kind === "affine" ? dtype.storage : "u8";
  const a = s === "i8"
    ? Int8Array.from(values)
    : s === "i32"
    ? Int32Array.from(values)
    : s === "i16"
    ? Int16Array.from(values)
    : s === "f32"
    ? Float32Array.from(values)
    : Uint8Array.from(values);
  return new Uint8Array(a.buffer);
}

export class TflGraph {
  private nodes: Node[] = [];
  private values: Record<string, ValueInfo> = {};
  private constants: Record<string, Constant> = {};
  private inputs: string[] = [];

  input(name: string, dtype: DType, shape: number[]): string {
    this.inputs.push(name);
    this.values[name] = { type: tensorType(dtype, shape) };
    return name;
  }

  constant(name: string, dtype: DType, shape: number[], values: readonly number[]): string {
    this.constants[name] = { dtype, shape, bytes: bytesOf(dtype, values) };
    this.values[name] = { type: tensorType(dtype, shape) };
    return name;
  }

  /** A node whose output type is declared (quantized outputs carry the file's scale). */
  op(
    id: string,
    op: string,
    inputs: (string | null)[],
    attrs: Record<string, string | number>,
    out: { dtype: DType; shape: number[] },
  ): string {
    const a: Record<string, Attr> = {};
    for (const [k, v] of Object.entries(attrs)) {
      a[k] = typeof v === "string"
        ? { type: "string", value: v }
        : Number.isInteger(v)
        ? { type: "int", value: v }
        : { type: "float", value: v };
    }
    this.nodes.push({ id, op, inputs, outputs: [id], attrs: a });
    this.values[id] = { type: tensorType(out.dtype, out.shape) };
    return id;
  }

  build(outputs: string[]): Graph {
    return inferGraph({
      name: "t",
      inputs: this.inputs,
      outputs,
      nodes: this.nodes,
      values: this.values,
      constants: this.constants,
    });
  }
}

/** Deterministic codes in [lo, hi]. */
export function codes(n: number, lo: number, hi: number, seed = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + (s % (hi - lo + 1));
  });
}
