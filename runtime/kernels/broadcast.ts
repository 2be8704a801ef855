/**
 * Multidirectional (numpy) broadcasting for elementwise kernels. A plan merges adjacent dimensions that
 * every operand walks contiguously (or all skip), so equal shapes and scalar operands become one flat row,
 * and a general broadcast becomes few long rows visited with an odometer over the remaining outer
 * dimensions: per row, each operand's start offset moves by a precomputed stride; nothing divides per
 * element.
 */
import { LatheError } from "../../ir/errors.ts";

export interface BroadcastPlan {
  readonly outShape: readonly number[];
  readonly size: number;
  /** Elements per row; the output is written row after row, contiguously. */
  readonly rowLength: number;
  /** Per operand: the step between consecutive elements of a row (0 for broadcast, else usually 1). */
  readonly rowStrides: readonly number[];
  /** Outer dimension sizes, outermost first. */
  readonly outerDims: readonly number[];
  /** Per operand, per outer dimension: the step when that dimension's counter advances. */
  readonly outerStrides: readonly (readonly number[])[];
}

/** The broadcast of static shapes, or a runtime error naming them. */
export function broadcastStatic(shapes: readonly (readonly number[])[]): number[] {
  let rank = 0;
  for (const s of shapes) if (s.length > rank) rank = s.length;
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    const off = rank - s.length;
    for (let i = 0; i < s.length; i++) {
      const d = s[i];
      const o = out[off + i];
      if (d === o || d === 1) continue;
      if (o === 1) out[off + i] = d;
      else {throw new LatheError(
          "runtime",
          `shapes ${shapes.map((x) => `[${x.join(",")}]`).join(", ")} do not broadcast`,
        );}
    }
  }
  return out;
}

/** Plans iterating `outShape` while reading operands of the given shapes (each must broadcast to it). */
export function planBroadcast(
  outShape: readonly number[],
  shapes: readonly (readonly number[])[],
): BroadcastPlan {
  const rank = outShape.length;
  const n = shapes.length;
  let size = 1;
  for (const d of outShape) size *= d;
  // Each operand's element stride along every output dimension (0 where it is broadcast).
  const strides: number[][] = shapes.map((s) => {
    if (s.length > rank) {
      throw new LatheError("runtime", `shape [${s}] has more dimensions than [${outShape}]`);
    }
    const st = new Array<number>(rank).fill(0);
    let acc = 1;
    for (let i = s.length - 1; i >= 0; i--) {
      const o = rank - s.length + i;
      if (s[i] === outShape[o]) st[o] = s[i] === 1 ? 0 : acc;
      else if (s[i] !== 1) {
        throw new LatheError("runtime", `shape [${s}] does not broadcast to [${outShape}]`);
      }
      acc *= s[i];
    }
    return st;
  });
  // Merge from the innermost dimension outwards.
  const groupSize: number[] = [];
  const groupStride: number[][] = [];
  for (let d = rank - 1; d >= 0; d--) {
    const len = outShape[d];
    if (len === 1) continue;
    const g = groupSize.length - 1;
    let merge = g >= 0;
    for (let j = 0; merge && j < n; j++) {
      if (strides[j][d] !== groupStride[g][j] * groupSize[g]) merge = false;
    }
    if (merge) groupSize[g] *= len;
    else {
      groupSize.push(len);
      groupStride.push(strides.map((s) => s[d]));
    }
  }
  if (groupSize.length === 0) {
    return {
      outShape,
      size,
      rowLength: size === 0 ? 0 : 1,
      rowStrides: shapes.map(() => 0),
      outerDims: [],
      outerStrides: shapes.map(() => []),
    };
  }
  const outerDims = groupSize.slice(1).reverse();
  const outerStrides = shapes.map((_, j) => groupStride.slice(1).reverse().map((s) => s[j]));
  return { outShape, size, rowLength: groupSize[0], rowStrides: groupStride[0], outerDims, outerStrides };
}

/**
 * Calls `row(outOffset, off0, off1, off2)` once per row of the plan, in output order; offsets of operands
 * the plan does not have stay 0.
 */
export function forEachRow(
  plan: BroadcastPlan,
  row: (out: number, o0: number, o1: number, o2: number) => void,
): void {
  if (plan.size === 0) return;
  const dims = plan.outerDims;
  const nd = dims.length;
  const zero = new Array<number>(nd).fill(0);
  const s0 = plan.outerStrides[0] ?? zero,
    s1 = plan.outerStrides[1] ?? zero,
    s2 = plan.outerStrides[2] ?? zero;
  // Going back to the start of a dimension undoes (len - 1) steps.
  const b0 = dims.map((d, i) => s0[i] * (d - 1));
  const b1 = dims.map((d, i) => s1[i] * (d - 1));
  const b2 = dims.map((d, i) => s2[i] * (d - 1));
  const counter = new Array<number>(nd).fill(0);
  const n = plan.rowLength;
  const rows = plan.size / n;
  let o0 = 0, o1 = 0, o2 = 0;
  for (let r = 0, out = 0; r < rows; r++, out += n) {
    row(out, o0, o1, o2);
    for (let d = nd - 1; d >= 0; d--) {
      if (++counter[d] < dims[d]) {
        o0 += s0[d];
        o1 += s1[d];
        o2 += s2[d];
        break;
      }
      counter[d] = 0;
      o0 -= b0[d];
      o1 -= b1[d];
      o2 -= b2[d];
    }
  }
}
