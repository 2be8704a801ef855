/**
 * The real numbers a tensor stands for, as float64: plain floats and integers by value, affine-quantized
 * codes through their scales and zero points (per tensor or per axis), so a quantized target compares with
 * a float source.
 */
import { LatheError } from "../../ir/errors.ts";
import { toFloat64 } from "../../runtime/kernels/float-view.ts";
import { Tensor } from "../../runtime/tensor.ts";

export function realValues(t: Tensor): Float64Array {
  const d = t.dtype;
  if (typeof d === "string") {
    if (d === "string") throw new LatheError("unsupported", "string tensors have no numeric values");
    const f = toFloat64(t);
    // toFloat64 returns a float64 tensor's own storage; callers may keep the result past the run.
    return f === t.data ? f.slice() : f;
  }
  if (d.kind !== "affine") throw new LatheError("unsupported", `cannot compare ${d.kind}-quantized values`);
  const codes = toFloat64(new Tensor(d.storage, t.shape, t.data));
  const out = new Float64Array(codes.length);
  if (d.axis === undefined || d.scale.length === 1) {
    const s = d.scale[0], z = d.zeroPoint[0] ?? 0;
    for (let i = 0; i < out.length; i++) out[i] = (codes[i] - z) * s;
    return out;
  }
  const axis = d.axis < 0 ? d.axis + t.shape.length : d.axis;
  let inner = 1;
  for (let i = axis + 1; i < t.shape.length; i++) inner *= t.shape[i];
  const ch = t.shape[axis];
  for (let i = 0; i < out.length; i++) {
    const c = Math.floor(i / inner) % ch;
    out[i] = (codes[i] - (d.zeroPoint[c] ?? 0)) * d.scale[c];
  }
  return out;
}

export function isNumeric(t: unknown): t is Tensor {
  return t instanceof Tensor && t.dtype !== "string";
}
