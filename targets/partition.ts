/**
 * Partitioning for a target: every node goes to the accelerator when one of the target's offload rules
 * matches it and its guard accepts, and stays on the CPU otherwise, with the reason recorded (each tried
 * rule's failed sub-pattern or guard message, or "no rule for op X"). An accepted node is replaced by its
 * lowering: host preparation nodes, packed constants and one `lathe.AccelCall`, whose output keeps the
 * node's output name.
 *
 * Regions: the SECDA designs run one layer per call (each call configures the accelerator, streams a
 * layer's operands in and its results out; accelerators.md §1.0), so neighbouring offloaded nodes are not
 * merged: one call per offloaded layer. Transfers are explicit in the call's command stream (each packet's
 * lane, header and payload run), not as separate graph nodes; the host nodes before a call produce exactly
 * the DMA buffers it streams.
 *
 * Registered as the pass `partition{target=secda-sa,offload=tfl.CONV_2D,...,strict=false}`.
 */
import type { Constant } from "../ir/constant.ts";
import { LatheError } from "../ir/errors.ts";
import type { Graph, Node, ValueInfo } from "../ir/graph.ts";
import type { MatchContext } from "../passes/pattern.ts";
import { registerPass } from "../passes/pass-manager.ts";
import { getTarget } from "./registry.ts";
import type { NameSource, OffloadRule, Target } from "./target.ts";
import "./accel-call.ts";

export interface Placement {
  readonly node: string;
  readonly op: string;
  readonly placement: "accel" | "cpu";
  /** The rule that offloaded it. */
  readonly rule?: string;
  /** Why it stayed on the CPU. */
  readonly reason?: string;
  /** The AccelCall and host-preparation nodes that replaced it. */
  readonly call?: string;
  readonly host?: readonly string[];
}

export interface PartitionOptions {
  /** Ops the user wants offloaded (`tfl.CONV_2D` or `CONV_2D`); default: every op some rule takes. */
  readonly offload?: readonly string[];
}

export interface PartitionResult {
  readonly graph: Graph;
  readonly target: string;
  readonly placements: readonly Placement[];
  /** Requested nodes that stayed on the CPU (what --strict refuses). */
  readonly missed: readonly Placement[];
}

function nameSource(g: Graph): NameSource {
  const values = new Set<string>([...Object.keys(g.values), ...Object.keys(g.constants), ...g.inputs]);
  const ids = new Set(g.nodes.map((n) => n.id));
  const fresh = (hint: string, taken: Set<string>) => {
    let s = hint;
    for (let k = 1; taken.has(s); k++) s = `${hint}.${k}`;
    taken.add(s);
    return s;
  };
  return { value: (h) => fresh(h, values), node: (h) => fresh(h, ids) };
}

function wanted(op: string, offload: readonly string[] | undefined, rootOps: Set<string>): boolean {
  if (!offload || offload.length === 0) return rootOps.has(op);
  return offload.some((o) => o === op || op.slice(op.lastIndexOf(".") + 1) === o);
}

export function partitionGraph(g: Graph, target: Target, opts: PartitionOptions = {}): PartitionResult {
  const byOp = new Map<string, OffloadRule[]>();
  for (const r of target.rules) {
    for (const op of r.pattern.rootOps() ?? []) byOp.set(op, [...(byOp.get(op) ?? []), r]);
  }
  const ctx: MatchContext = { graph: g, outputs: new Set(g.outputs) };
  const names = nameSource(g);
  const nodes: Node[] = [];
  const constants: Record<string, Constant> = { ...g.constants };
  const values: Record<string, ValueInfo> = { ...g.values };
  const placements: Placement[] = [];
  let changed = false;
  for (const node of g.nodes) {
    const rules = byOp.get(node.op);
    if (!rules) {
      placements.push({
        node: node.id,
        op: node.op,
        placement: "cpu",
        reason: `no rule for op ${node.op} on ${target.params.name}`,
      });
      nodes.push(node);
      continue;
    }
    const reasons: string[] = [];
    let done = false;
    for (const r of rules) {
      const m = r.pattern.matchNode(node, ctx, 0, "");
      if (!m.ok) {
        reasons.push(`${r.name}: ${m.reason}`);
        continue;
      }
      const ok = r.guard(m.captures, g);
      if (ok !== true) {
        reasons.push(`${r.name}: ${ok}`);
        continue;
      }
      const low = r.lower(m.captures, g, names);
      nodes.push(...low.nodes);
      Object.assign(constants, low.constants);
      Object.assign(values, low.values);
      placements.push({
        node: node.id,
        op: node.op,
        placement: "accel",
        rule: r.name,
        call: low.call,
        host: low.nodes.map((n) => n.id).filter((id) => id !== low.call),
      });
      done = changed = true;
      break;
    }
    if (!done) {
      placements.push({ node: node.id, op: node.op, placement: "cpu", reason: reasons.join("; ") });
      nodes.push(node);
    }
  }
  const rootOps = new Set(byOp.keys());
  const missed = placements.filter((p) => p.placement === "cpu" && wanted(p.op, opts.offload, rootOps));
  if (!changed) return { graph: g, target: target.params.name, placements, missed };
  // Constants only the offloaded nodes read (float weights, raw filters) are now dead.
  const used = new Set<string>([...g.inputs, ...g.outputs]);
  for (const n of nodes) for (const i of n.inputs) if (i) used.add(i);
  for (const k of Object.keys(constants)) {
    if (!used.has(k)) {
      delete constants[k];
      delete values[k];
    }
  }
  return { graph: { ...g, nodes, constants, values }, target: target.params.name, placements, missed };
}

const results = new WeakMap<Graph, PartitionResult>();

/** The placements behind a graph the partition pass produced. */
export function partitionResultOf(g: Graph): PartitionResult | undefined {
  return results.get(g);
}

/** `placement` lines for --explain-offload: every node, where it runs, and why not on the accelerator. */
export function formatPlacements(r: PartitionResult): string {
  const accel = r.placements.filter((p) => p.placement === "accel").length;
  const lines = [`partition for ${r.target}: ${accel} of ${r.placements.length} nodes offloaded`];
  for (const p of r.placements) {
    lines.push(
      p.placement === "accel"
        ? `  accel ${p.node} (${p.op}) by ${p.rule} -> ${p.call}`
        : `  cpu   ${p.node} (${p.op}): ${p.reason}`,
    );
  }
  return lines.join("\n");
}

registerPass({
  name: "partition",
  doc:
    "assign nodes to an accelerator target or the CPU; offloaded nodes become host preparation + lathe.AccelCall",
  options: {
    target: { type: "string", default: "secda-sa", doc: "target name (secda-vm, secda-sa, ...)" },
    offload: {
      type: "string",
      default: "",
      doc: "ops that must be offloaded, separated by ';' (default: every op a rule takes)",
    },
    strict: { type: "bool", default: false, doc: "fail when a requested node stays on the CPU" },
  },
  run(m, o) {
    const offload = String(o.offload).split(/[;|]/).map((s) => s.trim()).filter(Boolean);
    const r = partitionGraph(m.graph, getTarget(o.target), { offload });
    if (o.strict && r.missed.length) {
      throw new LatheError(
        "unsupported",
        `${r.missed.length} node(s) stay on the CPU: ${
          r.missed.map((p) => `${p.node} (${p.op}): ${p.reason}`).join("; ")
        }`,
      );
    }
    results.set(r.graph, r);
    return r.graph === m.graph ? m : { ...m, graph: r.graph };
  },
});
