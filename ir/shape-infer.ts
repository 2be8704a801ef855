/** Shape arithmetic shared by op declarations (and by kernels, on static shapes). */
import { LatheError } from "./errors.ts";
import type { Dim, Shape } from "./value-type.ts";

/** ONNX's multidirectional (numpy) broadcast. Symbolic dims broadcast against 1 and against themselves. */
export function broadcastShapes(shapes: readonly Shape[], fresh?: () => string): Dim[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: Dim[] = new Array(rank).fill(1);
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const k = s.length - rank + i;
      if (k < 0) continue;
      const e = s[k];
      if (e === 1) continue;
      if (d === 1) d = e;
      else if (d !== e) {
        if (typeof d === "number" && typeof e === "number") {
          throw new LatheError(
            "verify",
            `shapes [${shapes.map((x) => x.join(",")).join("] and [")}] do not broadcast`,
          );
        }
        d = typeof d === "number" ? d : typeof e === "number" ? e : fresh ? fresh() : d;
      }
    }
    out[i] = d;
  }
  return out;
}

export function normalizeAxis(axis: number, rank: number, what = "axis"): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= Math.max(rank, 1)) {
    throw new LatheError("verify", `${what} ${axis} out of range for rank ${rank}`);
  }
  return a;
}

export function product(dims: readonly number[], from = 0, to = dims.length): number {
  let p = 1;
  for (let i = from; i < to; i++) p *= dims[i];
  return p;
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Dim arithmetic that stays symbolic when an operand is symbolic. */
export function dimMul(x: Dim, y: Dim): Dim {
  if (typeof x === "number" && typeof y === "number") return x * y;
  if (x === 1) return y;
  if (y === 1) return x;
  return `${x}*${y}`;
}

/** Output size of a convolution or pooling window along one axis (floor or ceil mode). */
export function windowOut(
  inp: number,
  k: number,
  stride: number,
  padBegin: number,
  padEnd: number,
  dilation = 1,
  ceil = false,
): number {
  const eff = (k - 1) * dilation + 1;
  const span = inp + padBegin + padEnd - eff;
  let o = (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  // Pooling in ceil mode: the last window must start inside the input or left padding.
  if (ceil && (o - 1) * stride >= inp + padBegin) o--;
  return o;
}
