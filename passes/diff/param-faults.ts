/**
 * Comparing one parameter tensor of paired nodes (in canonical layout, params.ts) and naming how they
 * differ: stored in lower precision (fp16, bf16, int8 roots, or values equal to the source's rounded to
 * fp16), equal to another layout of the source's (transposed, or reversed along an axis such as the input
 * channels), present on one side only, or simply different.
 */
import { type DType, printDType } from "../../ir/dtype.ts";
import { reverseAxis, transposeData } from "./layout-relation.ts";
import type { FaultKind } from "./localize.ts";
import { paramDistance, type ParamTensor, squeezed } from "./params.ts";

const LOW: ReadonlySet<string> = new Set(["f16", "bf16", "i8", "u8", "i4", "u4", "i16"]);

export function isLow(d: DType): boolean {
  return typeof d !== "string" || LOW.has(d);
}

export interface ParamFault {
  kind: FaultKind;
  fault: string;
  message: string;
  detail: Record<string, unknown>;
}

function zerosLike(p: ParamTensor): ParamTensor {
  return { ...p, data: new Float64Array(p.data.length), roots: ["f32"], via: [] };
}

/** Compares one parameter tensor; a finding when they differ. */
export function compareParam(
  what: "weights" | "bias",
  x: ParamTensor | undefined,
  y: ParamTensor | undefined,
  tol: number,
): ParamFault | undefined {
  if (!x || !y) {
    const present = (x ?? y)!;
    const d = paramDistance(present, zerosLike(present));
    if (d === 0) return undefined;
    return {
      kind: "parameters",
      fault: what,
      message: `${what} present only in the ${x ? "source" : "target"}`,
      detail: { [x ? "source" : "target"]: present.value },
    };
  }
  const d = paramDistance(x, y);
  const detail: Record<string, unknown> = {
    source: x.value,
    target: y.value,
    sourceShape: x.shape,
    targetShape: y.shape,
    relativeDistance: d ?? null,
  };
  if (d === undefined) {
    return {
      kind: "parameters",
      fault: `${what}-shape`,
      message: `${what} shapes [${x.shape}] and [${y.shape}] differ`,
      detail,
    };
  }
  if (!(d > tol)) return undefined;
  const sLow = x.roots.filter(isLow), tLow = y.roots.filter(isLow);
  const f16Rounded = sameAsF16(x.data, y.data);
  if ((tLow.length && !sLow.length) || f16Rounded) {
    const dt = tLow.length ? printDType(tLow[0]) : "f16";
    const fault = dt === "f16" ? `fp16-${what}` : dt === "bf16" ? `bf16-${what}` : `int8-${what}`;
    return {
      kind: "precision",
      fault,
      message: `${what} stored as ${dt} in the target (float32 in the source; relative distance ${
        d.toExponential(2)
      })`,
      detail: { ...detail, targetTypes: y.roots.map(printDType), via: y.via },
    };
  }
  const alt = otherLayout(x, y, tol);
  if (alt) {
    return {
      kind: "parameters",
      fault: `${what}-layout`,
      message: `${what} equal the source's ${alt}`,
      detail: { ...detail, layout: alt },
    };
  }
  let differing = 0;
  const scale = x.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
  for (let i = 0; i < x.data.length; i++) if (Math.abs(x.data[i] - y.data[i]) > 1e-6 * scale) differing++;
  return {
    kind: "parameters",
    fault: what,
    message: `${what} differ (${differing} of ${x.data.length} elements, relative distance ${
      d.toExponential(2)
    })`,
    detail: { ...detail, differing },
  };
}

function sameAsF16(src: Float64Array, tgt: Float64Array): boolean {
  if (src.length !== tgt.length) return false;
  let changed = false;
  for (let i = 0; i < src.length; i++) {
    const r = Math.f16round(src[i]);
    if (tgt[i] !== r) return false;
    if (r !== src[i]) changed = true;
  }
  return changed;
}

/** A description of another layout of the source's weights the target's equal (transposed, flipped). */
function otherLayout(x: ParamTensor, y: ParamTensor, tol: number): string | undefined {
  const shape = squeezed(x.shape);
  if (shape.length < 2 || shape.length > 4 || x.data.length !== y.data.length) return undefined;
  const close = (d: Float64Array) => {
    let num = 0, den = 0;
    for (let i = 0; i < d.length; i++) {
      const e = d[i] - y.data[i];
      num += e * e;
      den += d[i] * d[i];
    }
    return den > 0 ? Math.sqrt(num / den) <= tol : num === 0;
  };
  // Same-shaped transposes of the canonical layout (square kernels, square matrices).
  for (const q of perms(shape.length)) {
    if (q.every((a, i) => a === i)) continue;
    if (q.some((a, i) => shape[a] !== shape[i])) continue;
    if (close(transposeData(x.data, shape, q).data)) return `layout transposed by [${q}]`;
  }
  // Reversed along one axis: the input channel order (axis 1 of [O, I, ...]) is the usual one.
  for (let axis = 0; axis < shape.length; axis++) {
    if (shape[axis] < 2) continue;
    if (close(reverseAxis(x.data, shape, axis))) {
      return `values reversed along axis ${axis}${
        axis === 1 && shape.length === 4 ? " (input channel order)" : ""
      }`;
    }
  }
  return undefined;
}

function perms(n: number): number[][] {
  if (n === 1) return [[0]];
  const out: number[][] = [];
  for (const p of perms(n - 1)) {
    for (let i = 0; i <= p.length; i++) out.push([...p.slice(0, i), n - 1, ...p.slice(i)]);
  }
  return out;
}
