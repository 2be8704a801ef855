/**
 * Common subexpression elimination: two pure nodes with the same op, operands and attributes compute the
 * same values, so the later one's uses move to the earlier. Small constants with equal bytes merge first,
 * so nodes that read equal constants under different names also merge.
 */
import { produce } from "immer";
import type { Attr } from "../ir/attr.ts";
import { type Constant, constantBytes, constantsEqual } from "../ir/constant.ts";
import { printDType } from "../ir/dtype.ts";
import type { Graph, Node } from "../ir/graph.ts";
import { getOp } from "../ir/op-registry.ts";
import { printDense } from "../ir/text.ts";
import { graphPass, registerPass } from "./pass-manager.ts";
import { deadCodeElimination } from "./rewrite.ts";

const SMALL = 4096;

export function eliminateCommonSubexpressions(g: Graph): Graph {
  const rename = new Map<string, string>();
  const outputs = new Set(g.outputs);
  const overridable = new Set(g.inputs);
  // Equal small constants.
  const byKey = new Map<string, string>();
  for (const [k, c] of Object.entries(g.constants)) {
    if (overridable.has(k) || outputs.has(k) || !c.bytes || c.bytes.length > SMALL) continue;
    const key = `${printDType(c.dtype)}[${c.shape}]:${hexOf(c)}`;
    const first = byKey.get(key);
    if (first && constantsEqual(g.constants[first], c)) rename.set(k, first);
    else byKey.set(key, k);
  }
  // Equal nodes, in order, so chains of duplicates collapse in one sweep.
  const seen = new Map<string, Node>();
  const dropped = new Set<Node>();
  const sub = (x: string | null) => (x !== null && rename.has(x) ? rename.get(x)! : x);
  for (const n of g.nodes) {
    const decl = getOp(n.op);
    if (
      !decl || decl.impure || Object.values(n.attrs).some((a) => a.type === "graph" || a.type === "graphs")
    ) continue;
    if (n.outputs.some((o) => outputs.has(o))) continue;
    const key = `${n.op}(${n.inputs.map(sub).join(",")})${attrKey(n.attrs)}/${n.outputs.length}`;
    const first = seen.get(key);
    if (first) {
      n.outputs.forEach((o, i) => o && first.outputs[i] && rename.set(o, first.outputs[i]));
      dropped.add(n);
    } else seen.set(key, n);
  }
  if (!rename.size) return g;
  const next = produce(g, (d) => {
    d.nodes = g.nodes.filter((n) => !dropped.has(n)).map((n) => renameUses(n, rename)) as any;
    d.outputs = g.outputs.map((o) => o) as any;
  });
  return deadCodeElimination(next);
}

/** The node reading renamed values, including outer values its subgraphs capture (not ones they define). */
function renameUses(n: Node, rename: ReadonlyMap<string, string>): Node {
  const sub = (x: string | null) => (x !== null && rename.has(x) ? rename.get(x)! : x);
  let out = n.inputs.some((x) => x !== null && rename.has(x)) ? { ...n, inputs: n.inputs.map(sub) } : n;
  for (const [k, a] of Object.entries(n.attrs)) {
    if (a.type !== "graph" && a.type !== "graphs") continue;
    const gs = a.type === "graph" ? [a.value] : a.value;
    const renamed = gs.map((sg) => renameCaptures(sg, rename));
    if (renamed.every((r, i) => r === gs[i])) continue;
    const attr: Attr = a.type === "graph"
      ? { type: "graph", value: renamed[0] }
      : { type: "graphs", value: renamed };
    out = { ...out, attrs: { ...out.attrs, [k]: attr } };
  }
  return out;
}

function renameCaptures(sg: Graph, rename: ReadonlyMap<string, string>): Graph {
  const local = new Set([...sg.inputs, ...Object.keys(sg.constants), ...sg.nodes.flatMap((m) => m.outputs)]);
  const inner = new Map([...rename].filter(([k]) => !local.has(k)));
  if (!inner.size) return sg;
  const nodes = sg.nodes.map((m) => renameUses(m, inner));
  const outputs = sg.outputs.map((o) => inner.get(o) ?? o);
  return nodes.every((m, i) => m === sg.nodes[i]) && outputs.every((o, i) => o === sg.outputs[i])
    ? sg
    : { ...sg, nodes, outputs };
}

function hexOf(c: Constant): string {
  let h = 2166136261;
  for (const b of constantBytes(c)) h = Math.imul(h ^ b, 16777619);
  return (h >>> 0).toString(16);
}

function attrKey(attrs: Readonly<Record<string, Attr>>): string {
  const ks = Object.keys(attrs).sort();
  return ks.length
    ? `{${
      ks.map((k) =>
        `${k}=${attrs[k].type}:${
          attrs[k].type === "tensor" ? printDense(attrs[k].value) : JSON.stringify(attrs[k].value)
        }`
      ).join(",")
    }}`
    : "";
}

export const cse = registerPass(
  graphPass(
    "cse",
    "merge pure nodes with equal op, operands and attributes, and equal small constants",
    (g) => eliminateCommonSubexpressions(g),
  ),
);
