/** Element-wise comparison with rtol/atol in numpy's sense, reporting the worst element. */
import { Tensor, type TypedArray } from "./tensor.ts";

export interface CloseReport {
  ok: boolean;
  maxAbs: number;
  maxRel: number;
  worst: number;
  count: number;
  message: string;
}

export function compareArrays(
  actual: ArrayLike<number | bigint>,
  expected: ArrayLike<number | bigint>,
  rtol = 1e-4,
  atol = 1e-5,
): CloseReport {
  if (actual.length !== expected.length) {
    return {
      ok: false,
      maxAbs: Infinity,
      maxRel: Infinity,
      worst: -1,
      count: actual.length,
      message: `length ${actual.length} != ${expected.length}`,
    };
  }
  let maxAbs = 0, maxRel = 0, worst = -1, bad = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = Number(actual[i]), e = Number(expected[i]);
    if (Number.isNaN(a) && Number.isNaN(e)) continue;
    if (a === e) continue;
    const d = Math.abs(a - e);
    if (!(d <= atol + rtol * Math.abs(e))) {
      bad++;
      if (worst < 0 || !(d <= maxAbs)) worst = i;
    }
    if (!(d <= maxAbs)) maxAbs = d;
    const r = d / Math.max(Math.abs(e), 1e-30);
    if (r > maxRel) maxRel = r;
  }
  const message = bad === 0
    ? `ok (max abs ${maxAbs.toExponential(2)})`
    : `${bad}/${actual.length} elements off; worst at ${worst}: got ${actual[worst]}, want ${
      expected[worst]
    } (max abs ${maxAbs})`;
  return { ok: bad === 0, maxAbs, maxRel, worst, count: actual.length, message };
}

export function compareTensors(a: Tensor, e: Tensor, rtol = 1e-4, atol = 1e-5): CloseReport {
  if (a.shape.length !== e.shape.length || a.shape.some((d, i) => d !== e.shape[i])) {
    return {
      ok: false,
      maxAbs: Infinity,
      maxRel: Infinity,
      worst: -1,
      count: 0,
      message: `shape [${a.shape}] != [${e.shape}]`,
    };
  }
  if (a.data instanceof Array || e.data instanceof Array) {
    const ok = a.data.length === e.data.length && (a.data as unknown[]).every((x, i) => x === e.data[i]);
    return {
      ok,
      maxAbs: 0,
      maxRel: 0,
      worst: -1,
      count: a.data.length,
      message: ok ? "ok" : "strings differ",
    };
  }
  if (a.dtype === "bf16" && e.dtype === "bf16") {
    return compareArrays(bf16Values(a.data as Uint16Array), bf16Values(e.data as Uint16Array), rtol, atol);
  }
  return compareArrays(a.data as TypedArray, e.data as TypedArray, rtol, atol);
}

/** bf16 is stored as bit patterns; compare the values they stand for. */
function bf16Values(bits: Uint16Array): Float32Array {
  const u = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i] << 16;
  return new Float32Array(u.buffer);
}
