/**
 * A constant zero Pad before a Conv (or an AveragePool that counts padding, or a MaxPool when the pad value
 * is -inf) becomes the op's own `pads`: the window sees the same values either way.
 */
import { constantNumbers } from "../ir/constant-values.ts";
import { resolveAttrs } from "../ir/op-registry.ts";
import { addCanonicalRules } from "./canonicalize.ts";
import { P } from "./pattern.ts";
import { graphPass, registerPass } from "./pass-manager.ts";
import { applyRules, rule } from "./rewrite.ts";

const padded = P.Pad(P.var("x"), P.const("pads"), P.opt(P.const("value")), P.opt(P.const("axes"))).as("pad").oneUse();

function merge({ x, pads, value, axes, pad, node }: any, rw: any, okValue: (v: number) => boolean, extra: Record<string, unknown> = {}) {
  const pa = resolveAttrs(pad);
  if ((pa.mode ?? "constant") !== "constant") return undefined;
  const na = resolveAttrs(node);
  if ((na.auto_pad ?? "NOTSET") !== "NOTSET") return undefined;
  for (const [k, v] of Object.entries(extra)) if (na[k] !== v) return undefined;
  const v = value ? constantNumbers(value.constant)[0] : 0;
  if (!okValue(v)) return undefined;
  const rank = x.type?.shape?.length;
  if (!rank || rank < 3) return undefined;
  const p = constantNumbers(pads.constant);
  const full = new Array(2 * rank).fill(0);
  const ax = axes ? constantNumbers(axes.constant).map((a) => (a < 0 ? a + rank : a)) : Array.from({ length: rank }, (_, i) => i);
  if (p.length !== 2 * ax.length) return undefined;
  ax.forEach((a, i) => {
    full[a] = p[i];
    full[a + rank] = p[i + ax.length];
  });
  // Batch and channel must not be padded; negative pads (crops) stay a Pad.
  if (full[0] || full[1] || full[rank] || full[rank + 1] || full.some((q) => q < 0)) return undefined;
  const sp = rank - 2;
  const old: number[] = na.pads?.length ? na.pads : new Array(2 * sp).fill(0);
  const merged = old.map((q, i) => q + (i < sp ? full[2 + i] : full[rank + 2 + (i - sp)]));
  const inputs = [x.name, ...node.inputs.slice(1)];
  return rw.op(node.op, inputs, { ...node.attrs, pads: { type: "ints", value: merged } }, node.outputs.length);
}

export const foldPadRules = [
  rule("pad-into-conv", P.Conv(padded, P.var("w")).rest().as("node"), (c, rw) => merge(c, rw, (v) => v === 0)),
  rule("pad-into-avgpool", P.AveragePool(padded).as("node"), (c, rw) => merge(c, rw, (v) => v === 0, { count_include_pad: 1 })),
  rule("pad-into-maxpool", P.MaxPool(padded).as("node"), (c, rw) => c.node.outputs[1] ? undefined : merge(c, rw, (v) => v === -Infinity)),
];
addCanonicalRules(foldPadRules);

export const foldPad = registerPass(graphPass(
  "fold-pad",
  "merge a constant Pad into the pads of the Conv or pooling after it",
  (g) => applyRules(g, foldPadRules, { driver: "walk" }).graph,
  { rules: foldPadRules },
));
