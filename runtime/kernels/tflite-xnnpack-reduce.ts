/**
 * Float SUM and MEAN that reduce the innermost axis, as LiteRT's CPU path computes them (XNNPACK's reduce
 * operator with its f32-rsum kernel). XNNPACK folds the shape into [K0, R1, K1, R2, K2, R3] (size-1 axes
 * dropped, neighbours of the same kind merged, R the reduced blocks); each output starts at 0 and adds,
 * for every (r1, r2) in order, rsum(row of R3)·scale, scale being 1 or the float32 1/(R1·R2·R3).
 */

const f = Math.fround;

/**
 * rsum over n floats (wasmsimd u16_acc4): four 4-lane accumulators take 16 floats at a time, up to three
 * more groups of four go to accumulators 0, 1, 2; then (a0 + a2) + (a1 + a3), lanes (l0 + l2) and
 * (l1 + l3) each take one of a remaining pair, are added, and a remaining single float comes last.
 */
function rsum(x: Float32Array, off: number, n: number, a: Float32Array): number {
  a.fill(0);
  let i = 0;
  for (; n - i >= 16; i += 16) for (let k = 0; k < 16; k++) a[k] = f(a[k] + x[off + i + k]);
  for (let v = 0; v < 12 && n - i >= 4; v += 4, i += 4) {
    for (let l = 0; l < 4; l++) a[v + l] = f(a[v + l] + x[off + i + l]);
  }
  const s0 = f(f(a[0] + a[8]) + f(a[4] + a[12])), s1 = f(f(a[1] + a[9]) + f(a[5] + a[13]));
  const s2 = f(f(a[2] + a[10]) + f(a[6] + a[14])), s3 = f(f(a[3] + a[11]) + f(a[7] + a[15]));
  let l0 = f(s0 + s2), l1 = f(s1 + s3);
  const rem = n - i;
  if (rem & 2) {
    l0 = f(l0 + x[off + i]);
    l1 = f(l1 + x[off + i + 1]);
    i += 2;
  }
  let r = f(l0 + l1);
  if (rem & 1) r = f(r + x[off + i]);
  return r;
}

/**
 * The folded [K0, R1, K1, R2, K2, R3] shape when `axes` (sorted, distinct) include the innermost axis that
 * is not of size 1 and form at most three blocks; undefined otherwise (XNNPACK uses another kernel then).
 */
export function xnnInnerReduceShape(shape: readonly number[], axes: readonly number[]): number[] | undefined {
  const dims: number[] = [], red: boolean[] = [];
  shape.forEach((d, i) => {
    if (d === 1) return;
    const r = axes.includes(i);
    if (dims.length && red[red.length - 1] === r) dims[dims.length - 1] *= d;
    else (dims.push(d), red.push(r));
  });
  if (!red.length || !red[red.length - 1] || dims.length > 6) return undefined;
  while (dims.length < 6) dims.unshift(1);
  return dims;
}

/** out[K0, K1, K2] = Σ over the reduced blocks of x (folded shape from xnnInnerReduceShape), times scale. */
export function xnnInnerReduceSum(
  x: Float32Array,
  folded: readonly number[],
  mean: boolean,
  o: Float32Array,
): void {
  const [K0, R1, K1, R2, K2, R3] = folded;
  const scale = mean ? f(1 / (R1 * R2 * R3)) : 1;
  const a = new Float32Array(16);
  for (let k0 = 0; k0 < K0; k0++) {
    for (let k1 = 0; k1 < K1; k1++) {
      for (let k2 = 0; k2 < K2; k2++) {
        let acc = 0;
        for (let i = 0; i < R1; i++) {
          for (let j = 0; j < R2; j++) {
            const off = ((((k0 * R1 + i) * K1 + k1) * R2 + j) * K2 + k2) * R3;
            acc = f(acc + f(rsum(x, off, R3, a) * scale));
          }
        }
        o[(k0 * K1 + k1) * K2 + k2] = acc;
      }
    }
  }
}
