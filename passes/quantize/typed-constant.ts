/**
 * A constant from a typed array of its own storage type: one copy of the bytes. ir/builder.ts's
 * numbersConstant goes through a plain array, which costs more than the quantization itself on the
 * millions of weight codes of a MobileNet.
 */
import type { Constant } from "../../ir/constant.ts";

type Storage = { f32: Float32Array; i8: Int8Array; i32: Int32Array };

export function typedConstant<D extends keyof Storage>(
  dtype: D,
  shape: readonly number[],
  values: Storage[D],
): Constant {
  const n = shape.reduce((p, d) => p * d, 1);
  if (values.length !== n) throw new Error(`constant [${shape}] needs ${n} values, got ${values.length}`);
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
  return { dtype, shape, bytes };
}
