/**
 * Copying slabs of tensors along one axis: the slicing and stacking that Scan, Loop and the sequence ops
 * do. A tensor viewed as [outer, axisLen, inner] moves whole `inner`-element blocks, so each copy is a
 * typed-array `set` (or a plain loop for string tensors).
 */
import { LatheError } from "../../ir/errors.ts";
import { type Tensor, type TypedArray } from "../tensor.ts";

type Data = TypedArray | string[];

function copy(src: Data, from: number, dst: Data, to: number, n: number): void {
  if (n === 0) return;
  if (src instanceof Array) {
    const d = dst as string[];
    for (let i = 0; i < n; i++) d[to + i] = src[from + i];
  } else if (n < 16) {
    // Short runs: a loop beats creating a subarray view.
    const d = dst as any;
    for (let i = 0; i < n; i++) d[to + i] = src[from + i];
  } else (dst as any).set(src.subarray(from, from + n), to);
}

function outerInner(shape: readonly number[], axis: number): [number, number] {
  let outer = 1, inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i];
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  return [outer, inner];
}

/** Copies elements [start, start+len) along `axis` of `src` into `dst` (whose shape has len at axis). */
export function sliceInto(src: Tensor, axis: number, start: number, len: number, dst: Tensor): void {
  const [outer, inner] = outerInner(src.shape, axis);
  const n = src.shape[axis];
  const block = len * inner;
  for (let o = 0; o < outer; o++) copy(src.data, (o * n + start) * inner, dst.data, o * block, block);
}

/**
 * Writes `items` into `dst` as consecutive slabs along `axis` of dst, item i being `widths[i]` wide there.
 * Stacking is the case where every width is 1 and the items lack the axis (the layout is the same).
 */
export function concatInto(
  items: readonly Tensor[],
  widths: readonly number[],
  axis: number,
  dst: Tensor,
): void {
  const [outer, inner] = outerInner(dst.shape, axis);
  const total = dst.shape[axis];
  let at = 0;
  items.forEach((t, i) => {
    const block = widths[i] * inner;
    if (t.data.length !== outer * block) {
      throw new LatheError(
        "runtime",
        `piece ${i} of shape [${t.shape}] does not fit [${dst.shape}] along axis ${axis}`,
      );
    }
    for (let o = 0; o < outer; o++) copy(t.data, o * block, dst.data, (o * total + at) * inner, block);
    at += widths[i];
  });
  if (at !== total) {
    throw new LatheError("runtime", `pieces cover ${at} of ${total} positions along axis ${axis}`);
  }
}

/** A whole-tensor copy into a same-sized destination. */
export function copyAll(src: Tensor, dst: Tensor): void {
  copy(src.data, 0, dst.data, 0, src.data.length);
}
