/** Transposing constant data, for passes that move a layout change from an activation onto its constants. */
import type { Constant } from "../ir/constant.ts";
import { stridesOf } from "../ir/shape-infer.ts";
import { arrayCtor, fromConstant, type TypedArray } from "../runtime/tensor.ts";

/** out[i...] = c[i permuted]: the same as ONNX Transpose(c, perm). */
export function permuteConstant(c: Constant, perm: readonly number[]): Constant {
  const t = fromConstant(c);
  const shape = c.shape;
  const outShape = perm.map((p) => shape[p]);
  const inStrides = stridesOf(shape);
  const src = t.data as TypedArray;
  const ctor = arrayCtor(c.dtype);
  const out = new ctor(src.length) as TypedArray;
  const rank = shape.length;
  const idx = new Array(rank).fill(0);
  const step = perm.map((p) => inStrides[p]);
  let off = 0;
  for (let i = 0; i < src.length; i++) {
    (out as any)[i] = src[off];
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      off += step[d];
      if (idx[d] < outShape[d]) break;
      off -= step[d] * outShape[d];
      idx[d] = 0;
    }
  }
  return {
    dtype: c.dtype,
    shape: outShape,
    bytes: new Uint8Array(out.buffer, out.byteOffset, out.byteLength),
  };
}

export function invertPerm(p: readonly number[]): number[] {
  const inv = new Array(p.length);
  p.forEach((v, i) => (inv[v] = i));
  return inv;
}
