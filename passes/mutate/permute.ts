/** Transposing dense f32 data: output axis i is input axis perm[i] (numpy's transpose). */
export function permuteData(
  data: Float32Array,
  shape: readonly number[],
  perm: readonly number[],
): { data: Float32Array; shape: number[] } {
  const r = shape.length;
  const outShape = perm.map((p) => shape[p]);
  const inStrides = new Array<number>(r);
  for (let k = r - 1, s = 1; k >= 0; k--) (inStrides[k] = s, s *= shape[k]);
  // Walking the output in order, the input offset advances by the permuted strides (an odometer).
  const step = perm.map((p) => inStrides[p]);
  const out = new Float32Array(data.length);
  const idx = new Array<number>(r).fill(0);
  let src = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = data[src];
    for (let k = r - 1; k >= 0; k--) {
      idx[k]++;
      src += step[k];
      if (idx[k] < outShape[k]) break;
      src -= step[k] * outShape[k];
      idx[k] = 0;
    }
  }
  return { data: out, shape: outShape };
}

/** The permutation taking layout `from` to layout `to` (same letters): to[i] = from[perm[i]]. */
export function layoutPerm(from: string, to: string): number[] {
  return [...to].map((ch) => from.indexOf(ch));
}
