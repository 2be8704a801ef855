/**
 * Precision repairs (the silent dequantization FetaFix found in tf2onnx): weights the target holds in
 * fp16, bf16 or int8 (stored so, or rounded so) take the source's float32 numbers; an activation the target
 * narrows and widens again (Cast to float16 and back, QUANTIZE then DEQUANTIZE) loses the round trip.
 */
import type { Graph, Node } from "../../ir/graph.ts";
import { graphIndex } from "../../ir/graph.ts";
import { paramFixes } from "./parameters.ts";
import { type Fix, repair } from "./rule.ts";

const NARROW = new Set(["Cast", "QuantizeLinear", "tfl.QUANTIZE", "tfl.CAST"]);
const WIDEN = new Set(["Cast", "DequantizeLinear", "tfl.DEQUANTIZE", "tfl.CAST"]);

function dtypeOf(g: Graph, v: string): string | undefined {
  const t = g.values[v]?.type;
  return t?.kind === "tensor" ? (typeof t.dtype === "string" ? t.dtype : "quantized") : undefined;
}

/** A narrowing node and the widening readers after it whose output type equals the narrowing's input type. */
export function roundTrips(g: Graph, values?: readonly string[]): { narrow: Node; widen: Node[] }[] {
  const ix = graphIndex(g);
  const out: { narrow: Node; widen: Node[] }[] = [];
  for (const n of g.nodes) {
    if (!NARROW.has(n.op) || !n.inputs[0]) continue;
    const mid = n.outputs[0];
    if (values && !values.includes(mid)) continue;
    const before = dtypeOf(g, n.inputs[0]);
    if (!before || before === dtypeOf(g, mid)) continue;
    const readers = ix.users.get(mid) ?? [];
    const widen = readers.filter((r) => WIDEN.has(r.op) && dtypeOf(g, r.outputs[0]) === before);
    if (widen.length && widen.length === readers.length && !g.outputs.includes(mid)) {
      out.push({ narrow: n, widen });
    }
  }
  return out;
}

export const restoreWeightPrecision = repair(
  "restore-weight-precision",
  "precision",
  ["fp16-weights", "bf16-weights", "int8-weights", "fp16-bias", "bf16-bias", "int8-bias"],
  paramFixes,
);

export const removeRoundTrip = repair(
  "remove-precision-round-trip",
  "precision",
  ["activations"],
  (f, ctx, fix) => {
    const d = f.evidence.detail as { values?: { value: string }[] } | undefined;
    const named = d?.values?.map((v) => v.value);
    const trips = roundTrips(ctx.target, named);
    const all = named ? trips : [];
    return (all.length ? all : roundTrips(ctx.target)).map((t): Fix =>
      fix(
        `${t.narrow.op} ${t.narrow.id} and ${
          t.widen.map((w) => `${w.op} ${w.id}`).join(", ")
        }: precision round trip removed`,
        (ed) => {
          for (const w of t.widen) ed.bypass(w.id, 0);
          ed.bypass(t.narrow.id, 0);
        },
      )
    );
  },
);
