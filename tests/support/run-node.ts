/** Running one node through inference and the interpreter (with output checks on) from plain test data. */
import { type AttrInit, GraphBuilder } from "../../ir/builder.ts";
import type { DType } from "../../ir/dtype.ts";
import { interpret } from "../../runtime/interpreter.ts";
import { type RValue, Tensor, toConstant } from "../../runtime/tensor.ts";

export function tensor(
  dtype: DType,
  shape: readonly number[],
  values: ArrayLike<number | bigint | string>,
): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  if (values.length !== n) throw new Error(`[${shape}] needs ${n} values, got ${values.length}`);
  const v = Array.from(values);
  switch (dtype) {
    case "f32":
      return new Tensor(dtype, shape, Float32Array.from(v as number[]));
    case "f64":
      return new Tensor(dtype, shape, Float64Array.from(v as number[]));
    case "f16":
      return new Tensor(dtype, shape, Float16Array.from(v as number[]));
    case "i64":
      return new Tensor(dtype, shape, BigInt64Array.from(v, (x) => BigInt(x as number)));
    case "u64":
      return new Tensor(dtype, shape, BigUint64Array.from(v, (x) => BigInt(x as number)));
    case "i32":
      return new Tensor(dtype, shape, Int32Array.from(v as number[]));
    case "i16":
      return new Tensor(dtype, shape, Int16Array.from(v as number[]));
    case "i8":
      return new Tensor(dtype, shape, Int8Array.from(v as number[]));
    case "u8":
    case "bool":
      return new Tensor(dtype, shape, Uint8Array.from(v as number[]));
    case "string":
      return new Tensor(dtype, shape, v.map(String));
    default:
      throw new Error(`tensor(): ${JSON.stringify(dtype)} not handled`);
  }
}

export const f32 = (shape: readonly number[], v: ArrayLike<number>) => tensor("f32", shape, v);
export const i64 = (shape: readonly number[], v: ArrayLike<number | bigint>) => tensor("i64", shape, v);

export interface RunNodeOptions {
  /** Inputs that become graph constants (shape operands, axes), so inference sees their values. */
  constants?: Record<string, Tensor>;
  outputs?: number;
}

/**
 * Builds `op(inputs...)` with inputs named in order; an input given as a string names a constant from
 * opts.constants, null omits it. Returns the output values.
 */
export function runNode(
  op: string,
  inputs: (Tensor | string | null)[],
  attrs: Record<string, AttrInit> = {},
  opts: RunNodeOptions = {},
): RValue[] {
  const b = new GraphBuilder();
  const feeds: Record<string, RValue> = {};
  const names = inputs.map((x, i) => {
    if (x === null) return null;
    if (typeof x === "string") return b.constant(x, toConstant(opts.constants![x]));
    const name = `in${i}`;
    b.input(name, x.dtype, x.shape);
    feeds[name] = x;
    return name;
  });
  const outs = b.op(op, names, attrs, opts.outputs ?? 1);
  const g = b.build(outs);
  const { outputs } = interpret(g, feeds, { check: true });
  return outs.map((o) => outputs[o]);
}

export function values(v: RValue): (number | string)[] {
  if (!(v instanceof Tensor)) throw new Error("not a tensor");
  return Array.from(
    v.data as ArrayLike<number | bigint | string>,
    (x) => (typeof x === "bigint" ? Number(x) : x),
  );
}
