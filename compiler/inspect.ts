/** `inspect`: what a model holds — inputs and outputs, op histogram, parameter bytes by type, MACs. */
import { constantByteLength, constantCount } from "../ir/constant.ts";
import { printDType } from "../ir/dtype.ts";
import type { Graph, Model } from "../ir/graph.ts";
import { nodeMacs } from "../ir/macs.ts";
import { printValueType } from "../ir/value-type.ts";

export interface InspectReport {
  model: string;
  format: string;
  producer?: string;
  opsets: Record<string, number>;
  inputs: { name: string; type: string }[];
  outputs: { name: string; type: string }[];
  nodes: number;
  ops: Record<string, number>;
  parameters: { count: number; bytes: number; byDtype: Record<string, { count: number; bytes: number }> };
  macs: { total: number; unknownNodes: number; perNode: { node: string; op: string; macs: number | null }[] };
}

export function inspectModel(model: Model, name = model.meta.path ?? model.graph.name): InspectReport {
  const g = model.graph;
  const ops: Record<string, number> = {};
  const byDtype: Record<string, { count: number; bytes: number }> = {};
  let count = 0, bytes = 0, total = 0, unknown = 0;
  const perNode: InspectReport["macs"]["perNode"] = [];
  walk(g, (sub) => {
    for (const n of sub.nodes) ops[n.op] = (ops[n.op] ?? 0) + 1;
    for (const c of Object.values(sub.constants)) {
      const k = printDType(c.dtype);
      const slot = (byDtype[k] ??= { count: 0, bytes: 0 });
      const n = constantCount(c), b = constantByteLength(c);
      slot.count += n;
      slot.bytes += b;
      count += n;
      bytes += b;
    }
  });
  for (const n of g.nodes) {
    const m = nodeMacs(g, n);
    if (m === undefined) unknown++;
    else total += m;
    if (m !== 0) perNode.push({ node: n.id, op: n.op, macs: m ?? null });
  }
  const type = (v: string) => (g.values[v] ? printValueType(g.values[v].type) : "?");
  return {
    model: name,
    format: model.meta.format,
    ...(model.meta.producerName
      ? { producer: `${model.meta.producerName} ${model.meta.producerVersion ?? ""}`.trim() }
      : {}),
    opsets: { ...model.meta.opsets },
    inputs: g.inputs.filter((i) => !g.constants[i]).map((i) => ({ name: i, type: type(i) })),
    outputs: g.outputs.map((o) => ({ name: o, type: type(o) })),
    nodes: g.nodes.length,
    ops: Object.fromEntries(Object.entries(ops).sort((a, b) => b[1] - a[1])),
    parameters: { count, bytes, byDtype },
    macs: { total, unknownNodes: unknown, perNode },
  };
}

function walk(g: Graph, f: (g: Graph) => void): void {
  f(g);
  for (const n of g.nodes) {
    for (const a of Object.values(n.attrs)) {
      if (a.type === "graph") walk(a.value, f);
      else if (a.type === "graphs") a.value.forEach((s) => walk(s, f));
    }
  }
}

const human = (n: number) =>
  n >= 1e9
    ? `${(n / 1e9).toFixed(2)} G`
    : n >= 1e6
    ? `${(n / 1e6).toFixed(2)} M`
    : n >= 1e3
    ? `${(n / 1e3).toFixed(1)} K`
    : `${n}`;

export function formatInspect(r: InspectReport): string {
  const lines = [
    `${r.model} (${r.format}${r.producer ? `, ${r.producer}` : ""}; opsets ${JSON.stringify(r.opsets)})`,
  ];
  lines.push("inputs:", ...r.inputs.map((i) => `  ${i.name}: ${i.type}`));
  lines.push("outputs:", ...r.outputs.map((o) => `  ${o.name}: ${o.type}`));
  lines.push(`nodes: ${r.nodes}`, "ops:", ...Object.entries(r.ops).map(([k, v]) => `  ${k.padEnd(28)} ${v}`));
  lines.push(`parameters: ${human(r.parameters.count)} elements, ${human(r.parameters.bytes)}B`);
  for (const [k, v] of Object.entries(r.parameters.byDtype)) {
    lines.push(`  ${k.padEnd(28)} ${human(v.count)} elements, ${human(v.bytes)}B`);
  }
  lines.push(
    `MACs: ${human(r.macs.total)}${
      r.macs.unknownNodes ? ` (+${r.macs.unknownNodes} nodes with dynamic shapes)` : ""
    }`,
  );
  for (const n of r.macs.perNode) {
    lines.push(`  ${n.node.padEnd(40)} ${n.op.padEnd(16)} ${n.macs === null ? "dynamic" : human(n.macs)}`);
  }
  return lines.join("\n");
}
