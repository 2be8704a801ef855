/**
 * A constant zero Pad before a Conv (or an AveragePool that counts padding, or a MaxPool when the pad value
 * is -inf) becomes the op's own `pads`: the window sees the same values either way.
 */
import { constantNumbers } from "../ir/constant-values.ts";
import type { Node } from "../ir/graph.ts";
import { resolveAttrs } from "../ir/op-registry.ts";
import { addCanonicalRules } from "./canonicalize.ts";
import { P, tensorTypeOf, type ValueRef } from "./pattern.ts";
import { graphPass, registerPass } from "./pass-manager.ts";
import { applyRules, type Rewriter, rule } from "./rewrite.ts";

const padded = P.Pad(P.var("x"), P.const("pads"), P.opt(P.const("value")), P.opt(P.const("axes"))).as("pad")
  .oneUse();

interface PadCaptures {
  x: ValueRef;
  pads: ValueRef;
  value?: ValueRef;
  axes?: ValueRef;
  pad: Node;
  node: Node;
}

/** The Pad's begin/end amounts over every axis of x ([b0..bn, e0..en]), or why they cannot be read. */
function fullPads({ x, pads, axes }: PadCaptures): number[] | string {
  const rank = tensorTypeOf(x)?.shape?.length;
  if (!rank || rank < 3) return "the padded value is not [N, C, spatial...]";
  const p = constantNumbers(pads.constant!);
  const ax = axes
    ? constantNumbers(axes.constant!).map((a) => (a < 0 ? a + rank : a))
    : Array.from({ length: rank }, (_, i) => i);
  if (p.length !== 2 * ax.length || ax.some((a) => a < 0 || a >= rank)) return "pads do not match the axes";
  const full = new Array(2 * rank).fill(0);
  ax.forEach((a, i) => {
    full[a] = p[i];
    full[a + rank] = p[i + ax.length];
  });
  return full;
}

function foldable(
  c: PadCaptures,
  okValue: (v: number) => boolean,
  valueNote: string,
  extra: Record<string, unknown> = {},
): true | string {
  const pa = resolveAttrs(c.pad);
  if ((pa.mode ?? "constant") !== "constant") return `Pad mode is ${pa.mode}`;
  const na = resolveAttrs(c.node);
  if ((na.auto_pad ?? "NOTSET") !== "NOTSET") return `${c.node.op} has auto_pad ${na.auto_pad}`;
  for (const [k, v] of Object.entries(extra)) {
    if (na[k] !== v) return `${c.node.op} ${k} is ${na[k]}, not ${v}`;
  }
  const v = c.value ? constantNumbers(c.value.constant!)[0] ?? 0 : 0;
  if (!okValue(v)) return `the pad value ${v} is not ${valueNote}`;
  const full = fullPads(c);
  if (typeof full === "string") return full;
  const rank = full.length / 2;
  // Batch and channel must not be padded; negative pads (crops) stay a Pad.
  if (full[0] || full[1] || full[rank] || full[rank + 1]) return "the batch or channel axis is padded";
  if (full.some((q) => q < 0)) return "a pad is negative (a crop)";
  return true;
}

function merge(c: PadCaptures, rw: Rewriter) {
  const { x, node } = c;
  const full = fullPads(c) as number[];
  const rank = full.length / 2, sp = rank - 2;
  const na = resolveAttrs(node);
  const old: number[] = na.pads?.length ? na.pads : new Array(2 * sp).fill(0);
  const merged = old.map((q, i) => q + (i < sp ? full[2 + i] : full[rank + 2 + (i - sp)]));
  return rw.op(node.op, [x.name, ...node.inputs.slice(1)], {
    ...node.attrs,
    pads: { type: "ints", value: merged },
  }, node.outputs.length);
}

export const foldPadRules = [
  rule(
    "pad-into-conv",
    P.Conv(padded, P.var("w")).rest().as("node").where((c) =>
      foldable(c as PadCaptures, (v) => v === 0, "0")
    ),
    (c, rw) => merge(c as PadCaptures, rw),
  ),
  rule(
    "pad-into-avgpool",
    P.AveragePool(padded).as("node").where((c) =>
      foldable(c as PadCaptures, (v) => v === 0, "0", { count_include_pad: 1 })
    ),
    (c, rw) => merge(c as PadCaptures, rw),
  ),
  rule(
    "pad-into-maxpool",
    P.MaxPool(padded).as("node").where((
      c,
    ) => (c.node.outputs[1]
      ? "the Indices output is used"
      : foldable(c as PadCaptures, (v) => v === -Infinity, "-inf"))
    ),
    (c, rw) => merge(c as PadCaptures, rw),
  ),
];
addCanonicalRules(foldPadRules);

export const foldPad = registerPass(graphPass(
  "fold-pad",
  "merge a constant Pad into the pads of the Conv or pooling after it",
  (g) => applyRules(g, foldPadRules, { driver: "walk" }).graph,
  { rules: foldPadRules },
));
