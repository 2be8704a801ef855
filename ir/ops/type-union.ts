/**
 * The least specific type covering two value types: the type of an If output from its two branches, of a
 * loop-carried value from its initial and per-iteration types, of a sequence's elements after an insert.
 * Dimensions that disagree become fresh symbols; ranks that disagree make the shape unknown.
 */
import { dtypeEquals } from "../dtype.ts";
import type { Dim, ValueType } from "../value-type.ts";

/** undefined when both sides are unknown; null when the kinds or element types conflict. */
export function unionType(
  a: ValueType | undefined,
  b: ValueType | undefined,
  fresh: () => string,
): ValueType | undefined | null {
  if (!a) return b;
  if (!b) return a;
  if (a.kind !== b.kind) return null;
  if (a.kind === "tensor" && b.kind === "tensor") {
    if (!dtypeEquals(a.dtype, b.dtype)) return null;
    if (!a.shape || !b.shape || a.shape.length !== b.shape.length) return { kind: "tensor", dtype: a.dtype };
    const bs = b.shape;
    const shape: Dim[] = a.shape.map((d, i) => (d === bs[i] ? d : fresh()));
    return { kind: "tensor", dtype: a.dtype, shape };
  }
  const elem = unionType((a as { elem: ValueType }).elem, (b as { elem: ValueType }).elem, fresh);
  if (!elem) return null;
  return { kind: a.kind as "sequence" | "optional", elem };
}

/** The declared type of a subgraph's i-th output, when the source recorded one. */
export function subgraphOutputType(
  g: { outputs: readonly string[]; values: Readonly<Record<string, { type: ValueType }>> },
  i: number,
): ValueType | undefined {
  const name = g.outputs[i];
  return name === undefined ? undefined : g.values[name]?.type;
}

/** The declared type of a subgraph's i-th input. */
export function subgraphInputType(
  g: { inputs: readonly string[]; values: Readonly<Record<string, { type: ValueType }>> },
  i: number,
): ValueType | undefined {
  const name = g.inputs[i];
  return name === undefined ? undefined : g.values[name]?.type;
}
