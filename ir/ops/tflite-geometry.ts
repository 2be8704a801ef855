/**
 * TFLite's shape arithmetic, shared by the `tfl.*` declarations and their kernels so both resolve windows
 * and slices the same way: SAME/VALID padding (tensorflow/lite/kernels/padding.h, the odd pixel goes to
 * the end) and STRIDED_SLICE's masks (tensorflow/lite/kernels/strided_slice.cc).
 */
import { LatheError } from "../errors.ts";
import type { Dim } from "../value-type.ts";

/** One spatial axis of a convolution or pooling window. */
export interface Axis {
  readonly out: number;
  readonly padBefore: number;
  readonly padAfter: number;
}

/** Output size and padding of one spatial axis; `padding` is "SAME" or "VALID". */
export function windowAxis(
  padding: string,
  size: number,
  kernel: number,
  stride: number,
  dilation = 1,
): Axis {
  if (!(kernel >= 1) || !(stride >= 1) || !(dilation >= 1)) {
    throw new LatheError(
      "verify",
      `kernel ${kernel}, stride ${stride} and dilation ${dilation} must be positive`,
    );
  }
  const eff = (kernel - 1) * dilation + 1;
  let out: number;
  if (padding === "SAME") out = Math.floor((size + stride - 1) / stride);
  else if (padding === "VALID") out = Math.floor((size + stride - eff) / stride);
  else throw new LatheError("verify", `unknown padding '${padding}'`);
  if (out < 0 || (out === 0 && size > 0)) {
    throw new LatheError(
      "verify",
      `window of ${eff} does not fit an input of ${size} with ${padding} padding`,
    );
  }
  const total = Math.max((out - 1) * stride + eff - size, 0);
  const padBefore = Math.floor(total / 2);
  return { out, padBefore, padAfter: total - padBefore };
}

export interface StridedSliceMasks {
  readonly begin_mask: number;
  readonly end_mask: number;
  readonly ellipsis_mask: number;
  readonly new_axis_mask: number;
  readonly shrink_axis_mask: number;
  readonly offset: number;
}

/** Per input axis: the first index, the step and the count; `keep` is false for shrunk axes. */
export interface SliceAxis {
  readonly start: number;
  readonly step: number;
  readonly count: number;
  readonly keep: boolean;
}

export interface ResolvedSlice<D extends Dim = number> {
  /** One entry per input axis, in input order (meaningless for symbolic axes). */
  readonly axes: readonly SliceAxis[];
  /** The output shape, new axes included, shrunk axes removed. */
  readonly outShape: readonly D[];
}

type SpecEntry = { kind: "axis"; spec: number } | { kind: "full" } | { kind: "new" };

/**
 * Expands the sparse slice spec (ellipsis, new axes, an implicit trailing ellipsis) into one entry per
 * input axis plus the positions of new output axes.
 */
function denseSpec(rank: number, n: number, m: StridedSliceMasks): SpecEntry[] {
  const out: SpecEntry[] = [];
  let ellipsisSeen = false;
  for (let i = 0; i < n; i++) {
    const bit = 1 << i;
    if (m.ellipsis_mask & bit) {
      if (ellipsisSeen) throw new LatheError("verify", "STRIDED_SLICE has more than one ellipsis");
      ellipsisSeen = true;
      let after = 0;
      for (let j = i + 1; j < n; j++) if (!(m.new_axis_mask & (1 << j))) after++;
      const have = out.filter((e) => e.kind !== "new").length;
      const cover = rank - have - after;
      if (cover < 0) {
        throw new LatheError("verify", `STRIDED_SLICE spec has more axes than the rank-${rank} input`);
      }
      for (let k = 0; k < cover; k++) out.push({ kind: "full" });
    } else if (m.new_axis_mask & bit) out.push({ kind: "new" });
    else out.push({ kind: "axis", spec: i });
  }
  const used = out.filter((e) => e.kind !== "new").length;
  if (used > rank) {
    throw new LatheError("verify", `STRIDED_SLICE spec has ${used} axes, the input has rank ${rank}`);
  }
  for (let k = used; k < rank; k++) out.push({ kind: "full" });
  return out;
}

/**
 * Resolves begin/end/strides against an input shape. A symbolic input axis stays symbolic where the spec
 * takes all of it with step 1, and becomes `fresh()` where the count depends on its size.
 */
export function resolveStridedSlice<D extends Dim>(
  shape: readonly D[],
  begin: readonly number[],
  end: readonly number[],
  strides: readonly number[],
  m: StridedSliceMasks,
  fresh: () => D = () => {
    throw new LatheError("verify", "STRIDED_SLICE of a symbolic dimension");
  },
): ResolvedSlice<D> {
  const n = begin.length;
  if (end.length !== n || strides.length !== n) {
    throw new LatheError(
      "verify",
      `STRIDED_SLICE begin, end and strides differ in length (${n}, ${end.length}, ${strides.length})`,
    );
  }
  const spec = denseSpec(shape.length, n, m);
  const axes: SliceAxis[] = [];
  const outShape: D[] = [];
  let axis = 0;
  for (const e of spec) {
    if (e.kind === "new") {
      outShape.push(1 as D);
      continue;
    }
    const sym = shape[axis++];
    if (e.kind === "full") {
      axes.push({ start: 0, step: 1, count: typeof sym === "number" ? sym : -1, keep: true });
      outShape.push(sym);
      continue;
    }
    const i = e.spec, bit = 1 << i;
    const step = strides[i];
    if (step === 0) throw new LatheError("verify", "STRIDED_SLICE stride is 0");
    if (typeof sym !== "number") {
      const all = step === 1 && (m.begin_mask & bit) && (m.end_mask & bit);
      const shrink = (m.shrink_axis_mask & bit) !== 0;
      axes.push({ start: 0, step, count: -1, keep: !shrink });
      if (!shrink) outShape.push(all ? sym : fresh());
      continue;
    }
    const dim: number = sym;
    if (m.shrink_axis_mask & bit) {
      const b = begin[i] < 0 ? begin[i] + dim : begin[i];
      if (b < 0 || b >= dim) {
        throw new LatheError("verify", `STRIDED_SLICE index ${begin[i]} out of range for a dim of ${dim}`);
      }
      axes.push({ start: b, step: 1, count: 1, keep: false });
      continue;
    }
    const clamp = (
      v: number,
    ) => (step > 0 ? Math.min(Math.max(v, 0), dim) : Math.min(Math.max(v, -1), dim - 1));
    let b: number;
    if (m.begin_mask & bit) b = step > 0 ? 0 : dim - 1;
    else b = clamp(begin[i] < 0 ? begin[i] + dim : begin[i]);
    let stop: number;
    if (m.end_mask & bit) stop = step > 0 ? dim : -1;
    else {
      const raw = m.offset ? begin[i] + end[i] : end[i];
      stop = clamp(raw < 0 ? raw + dim : raw);
    }
    const count = step > 0
      ? Math.max(0, Math.ceil((stop - b) / step))
      : Math.max(0, Math.ceil((b - stop) / -step));
    axes.push({ start: b, step, count, keep: true });
    outShape.push(count as D);
  }
  return { axes, outShape };
}
