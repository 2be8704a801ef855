/**
 * Rules and the drivers that apply them. A rule is a pattern plus a builder of the replacement: one line of
 * data. Two drivers: `walk` visits each node once in order; `greedy` keeps a worklist until nothing fires,
 * within a step budget whose overrun names the rules that kept firing. Replacements are spliced in before
 * the matched node, uses are rewired through the use lists, dead nodes disappear, and the new graph is a
 * new frozen object sharing the unchanged nodes, so whoever holds the old one keeps it unchanged.
 */
import { produce } from "immer";
import type { Attrs } from "../ir/attr.ts";
import { type AttrInit, toAttrs } from "../ir/builder.ts";
import type { Constant } from "../ir/constant.ts";
import { LatheError } from "../ir/errors.ts";
import { freeValues, type Graph, graphIndex, type Node, subgraphsOf, type ValueInfo } from "../ir/graph.ts";
import { inferNode } from "../ir/infer.ts";
import { getOp } from "../ir/op-registry.ts";
import type { ValueType } from "../ir/value-type.ts";
import {
  type Captures,
  type Fail,
  type MatchContext,
  OpPattern,
  type Pattern,
  type ValueRef,
  valueRef,
} from "./pattern.ts";

/** What a builder returns: the value (or one per output) that replaces the matched node's outputs. */
export type Replacement = ValueRef | string | readonly (ValueRef | string)[] | undefined;

export interface Rule<C extends Captures = any> {
  readonly name: string;
  readonly pattern: Pattern<C>;
  readonly build: (c: C, b: Rewriter) => Replacement;
  /** Higher runs first among rules for the same root op. */
  readonly benefit: number;
}

export function rule<C extends Captures>(
  name: string,
  pattern: Pattern<C>,
  build: (c: C, b: Rewriter) => Replacement,
  opts: { benefit?: number } = {},
): Rule<C> {
  return { name, pattern, build, benefit: opts.benefit ?? 1 };
}

/** Builds replacement nodes; everything it creates is spliced in before the matched node. */
export class Rewriter {
  readonly created: Node[] = [];
  readonly values: Record<string, ValueInfo> = {};
  readonly constants: Record<string, Constant> = {};
  /** Source nodes every new node is credited to: the provenance of all nodes the match consumed. */
  private readonly provenance: readonly string[];
  constructor(
    readonly ctx: MatchContext,
    readonly root: Node,
    private readonly names: NameSource,
    private readonly types: Map<string, ValueType>,
    matched: readonly Node[] = [root],
  ) {
    const from = new Set<string>();
    for (const m of [root, ...matched]) for (const f of m.from ?? [m.id]) from.add(f);
    this.provenance = [...from];
  }

  /** A value by name, with its type. */
  ref(name: string): ValueRef {
    const t = this.types.get(name) ?? this.ctx.graph.values[name]?.type;
    return { name, type: t, constant: this.constants[name] ?? this.ctx.graph.constants[name] };
  }

  /** A new node; returns its outputs (typed by inference). Provenance points at the matched node. */
  op(
    op: string,
    inputs: readonly (ValueRef | string | null)[],
    attrs: Record<string, AttrInit> | Attrs = {},
    outputs = 1,
  ): ValueRef[] {
    const ins = inputs.map((x) => (x === null ? null : typeof x === "string" ? x : x.name));
    const outs = Array.from(
      { length: outputs },
      () => this.names.fresh(`${this.root.id}_${op.toLowerCase()}`),
    );
    const node: Node = {
      id: this.names.freshId(`${this.root.id}_${op}`),
      op,
      inputs: ins,
      outputs: outs,
      attrs: toAttrs(attrs as Record<string, AttrInit>),
      from: this.provenance,
    };
    if (!getOp(op)) {
      throw new LatheError("verify", `rule built an unknown op ${op}`, { field: `node ${this.root.id}` });
    }
    // Inference reads constants by name only: the new ones shadow the graph's without copying its table.
    const g: Graph = Object.keys(this.constants).length === 0 ? this.ctx.graph : {
      ...this.ctx.graph,
      constants: Object.assign(Object.create(this.ctx.graph.constants), this.constants),
    };
    const lookup = { get: (v: string) => this.types.get(v) ?? g.values[v]?.type };
    const types = inferNode(g, node, lookup, () => this.names.fresh("?d"));
    outs.forEach((o, i) => {
      const t = types[i];
      if (!t) {
        throw new LatheError("verify", `cannot infer output ${i} of new ${op}`, {
          field: `node ${this.root.id}`,
        });
      }
      this.types.set(o, t);
      this.values[o] = { type: t };
    });
    this.created.push(node);
    return outs.map((o) => this.ref(o));
  }
  op1(
    op: string,
    inputs: readonly (ValueRef | string | null)[],
    attrs: Record<string, AttrInit> | Attrs = {},
  ): ValueRef {
    return this.op(op, inputs, attrs, 1)[0];
  }

  constant(hint: string, c: Constant): ValueRef {
    const name = this.names.fresh(hint);
    this.constants[name] = c;
    const t: ValueType = { kind: "tensor", dtype: c.dtype, shape: c.shape };
    this.values[name] = { type: t };
    this.types.set(name, t);
    return this.ref(name);
  }
}

interface NameSource {
  fresh(hint: string): string;
  freshId(hint: string): string;
}

export interface RewriteStats {
  /** Rule name to the number of times it fired. */
  fired: Record<string, number>;
  steps: number;
  attempts: number;
}

export interface DriverOptions {
  driver?: "walk" | "greedy";
  /** Greedy driver: rewrites before giving up with an error naming the rules that kept firing. */
  maxSteps?: number;
  /** Visit nodes last-to-first instead of first-to-last (rules should not depend on the order). */
  reverse?: boolean;
}

/** Applies rules to a graph; returns the new graph (the same object when nothing fired) and stats. */
export function applyRules(
  graph: Graph,
  rules: readonly Rule[],
  opts: DriverOptions = {},
): { graph: Graph; stats: RewriteStats } {
  const byOp = indexRules(rules);
  const stats: RewriteStats = { fired: {}, steps: 0, attempts: 0 };
  // The value and constant tables are copied at the first rewrite and edited in place after it: copying
  // them at every rewrite made a pass over a large graph quadratic.
  let tables: Tables | undefined;
  const maxSteps = opts.maxSteps ?? 100_000;
  let g = graph;
  const names = nameSource(g);
  const recent: string[] = [];
  const visit = (node: Node): boolean => {
    const candidates = [...(byOp.get(node.op) ?? []), ...(byOp.get("*") ?? [])];
    if (!candidates.length) return false;
    const ctx: MatchContext = { graph: g, outputs: new Set(g.outputs) };
    for (const r of candidates) {
      stats.attempts++;
      const m = matchRoot(r.pattern, node, ctx);
      if (!m.ok) continue;
      const b = new Rewriter(ctx, node, names, new Map(), m.nodes ?? [node]);
      const rep = r.build(m.captures, b);
      if (rep === undefined) continue;
      const repl = (Array.isArray(rep) ? rep : [rep]).map((
        x,
      ) => (typeof x === "string" ? x : (x as ValueRef).name));
      if (b.created.length === 0 && sameAsRoot(node, repl, ctx)) continue; // the same node again: no change
      // Nodes the rewrite left dead go at once, so they do not count as users for the next match.
      tables ??= { values: { ...g.values }, constants: { ...g.constants } };
      g = eliminateDead(splice(g, node, repl, b, tables), tables);
      stats.fired[r.name] = (stats.fired[r.name] ?? 0) + 1;
      stats.steps++;
      recent.push(r.name);
      if (recent.length > 64) recent.shift();
      if (stats.steps > maxSteps) {
        const counts: Record<string, number> = {};
        for (const x of recent) counts[x] = (counts[x] ?? 0) + 1;
        throw new LatheError(
          "verify",
          `rewriting did not converge within ${maxSteps} steps; rules firing in the last ${recent.length}: ${
            JSON.stringify(counts)
          }`,
        );
      }
      return true;
    }
    return false;
  };
  // Nodes touched by a rewrite are new objects; visiting only current ones keeps a rule from seeing a stale
  // node. With unique ids a node is current when the graph's node of that id is that very object; one map
  // per graph change serves both that test and the walk's lookup by id.
  let byId = new Map<string, Node>();
  let alive: Set<Node> | undefined;
  let indexed: Graph | undefined;
  const current = (): Map<string, Node> => {
    if (indexed !== g) {
      byId = new Map(g.nodes.map((n) => [n.id, n]));
      alive = byId.size === g.nodes.length ? undefined : new Set(g.nodes);
      indexed = g;
    }
    return byId;
  };
  const step = (n: Node): boolean => {
    const ids = current();
    return (alive ? alive.has(n) : ids.get(n.id) === n) && visit(n);
  };
  if (opts.driver === "walk") {
    // Visit each original node once, as it is now: a node whose inputs were rewired is a new object with
    // the same id, and it still gets its visit.
    const order = (opts.reverse ? [...graph.nodes].reverse() : [...graph.nodes]).map((n) => n.id);
    for (const id of order) {
      const n = current().get(id);
      if (n) step(n);
    }
  } else {
    // Greedy to a fixpoint: sweep the node list while anything fires.
    let changed = true;
    while (changed) {
      changed = false;
      const order = opts.reverse ? [...g.nodes].reverse() : [...g.nodes];
      for (const n of order) if (step(n)) changed = true;
    }
  }
  if (g === graph || !tables) return { graph, stats };
  g = eliminateDead(g, tables);
  return { graph: frozenGraph(g, g.nodes as Node[], tables.values, tables.constants), stats };
}

/**
 * A replacement that is the root itself, or (for a graph output, which keeps its name through an Identity)
 * the root's own Identity, changes nothing; counting it as a rewrite would loop forever.
 */
function sameAsRoot(root: Node, repl: readonly string[], ctx: MatchContext): boolean {
  if (repl.every((r, i) => r === root.outputs[i])) return true;
  return root.op === "Identity" && repl.length === 1 && root.inputs[0] === repl[0] &&
    ctx.outputs.has(root.outputs[0]);
}

function matchRoot(p: Pattern<any>, node: Node, ctx: MatchContext) {
  return p instanceof OpPattern
    ? p.matchNode(node, ctx, 0, "")
    : p.matchValue(node.outputs[0] ?? null, ctx, 0, "");
}

function indexRules(rules: readonly Rule[]): Map<string, Rule[]> {
  const m = new Map<string, Rule[]>();
  for (const r of rules) {
    for (const op of r.pattern.rootOps() ?? ["*"]) {
      const l = m.get(op) ?? [];
      l.push(r);
      m.set(op, l);
    }
  }
  for (const l of m.values()) l.sort((a, b) => b.benefit - a.benefit);
  return m;
}

function nameSource(g: Graph): NameSource {
  const used = new Set<string>([...Object.keys(g.values), ...Object.keys(g.constants), ...g.inputs]);
  for (const n of g.nodes) for (const o of n.outputs) used.add(o);
  const ids = new Set(g.nodes.map((n) => n.id));
  let k = 0;
  return {
    fresh(hint) {
      let n: string;
      do n = `${hint}_${k++}`; while (used.has(n));
      used.add(n);
      return n;
    },
    freshId(hint) {
      let n = hint;
      while (ids.has(n)) n = `${hint}_${k++}`;
      ids.add(n);
      return n;
    },
  };
}

/**
 * Puts the builder's nodes before `root`, points every use of root's outputs at the replacements and drops
 * root. A replaced graph output keeps its name: the replacement value is renamed when it is new, otherwise
 * an Identity carries the name.
 */
function splice(g: Graph, root: Node, repl: readonly string[], b: Rewriter, tables: Tables): Graph {
  const outSet = new Set(g.outputs);
  const rename = new Map<string, string>();
  const extra: Node[] = [];
  const takeName = new Map<string, string>();
  const created = b.created.map((n) => n);
  const newValues = { ...b.values };
  root.outputs.forEach((o, i) => {
    const r = repl[i];
    if (!o || r === undefined || r === o) return;
    if (outSet.has(o)) {
      const producedHere = created.findIndex((n) => n.outputs.includes(r));
      if (producedHere >= 0 && !g.outputs.includes(r)) {
        // Rename the new value to the output's name.
        const n = created[producedHere];
        created[producedHere] = { ...n, outputs: n.outputs.map((x) => (x === r ? o : x)) };
        for (let k = producedHere + 1; k < created.length; k++) {
          created[k] = { ...created[k], inputs: created[k].inputs.map((x) => (x === r ? o : x)) };
        }
        newValues[o] = newValues[r];
        delete newValues[r];
      } else if (graphIndex(g).producer.has(r) && !outSet.has(r)) {
        // An existing value a node produces takes the output's name (root, its old producer, goes away).
        takeName.set(r, o);
        newValues[o] = g.values[r];
      } else {
        extra.push({
          id: `${root.id}_keep_${i}`,
          op: "Identity",
          inputs: [r],
          outputs: [o],
          attrs: {},
          from: root.from ?? [root.id],
        });
      }
    } else rename.set(o, r);
  });
  // Values renamed to a graph output's name are renamed everywhere, before and after the root.
  for (const [r, o] of takeName) rename.set(r, o);
  const at = g.nodes.indexOf(root);
  // Build the new node list outside immer: untouched nodes are shared as they are, and only nodes that read
  // a renamed value (or whose subgraphs do) are copied.
  const sub = (x: string | null) => (x !== null && rename.has(x) ? rename.get(x)! : x);
  const rest = rename.size === 0 ? g.nodes.slice(at + 1) : g.nodes.slice(at + 1).map((n) => {
    const reads = n.inputs.some((x) => x !== null && rename.has(x));
    const hasSub = hasSubgraph(n);
    if (!reads && !hasSub) return n;
    const copy: Node = reads ? { ...n, inputs: n.inputs.map(sub) } : n;
    return hasSub ? produce(copy, (d) => rewireSubgraphs(d, rename)) : frozenNode(copy);
  });
  const renameNode = (n: Node): Node => {
    const outs = n.outputs.some((x) => takeName.has(x));
    const reads = n.inputs.some((x) => x !== null && rename.has(x));
    if (!outs && !reads) return n;
    return {
      ...n,
      outputs: outs ? n.outputs.map((x) => takeName.get(x) ?? x) : n.outputs,
      inputs: reads ? n.inputs.map(sub) : n.inputs,
    };
  };
  const head = takeName.size ? g.nodes.slice(0, at).map(renameNode) : g.nodes.slice(0, at);
  const nodes = [...head, ...created.map((n) => (takeName.size ? renameNode(n) : n)), ...extra, ...rest];
  if (takeName.size) { for (let i = 0; i < at; i++) if (nodes[i] !== g.nodes[i]) frozenNode(nodes[i]); }
  for (let i = at; i < at + created.length + extra.length; i++) frozenNode(nodes[i]);
  Object.assign(tables.values, newValues);
  Object.assign(tables.constants, b.constants);
  return { ...g, nodes, values: tables.values, constants: tables.constants };
}

/** Value and constant tables that one driver run owns and edits in place. */
interface Tables {
  values: Record<string, ValueInfo>;
  constants: Record<string, Constant>;
}

/** Whether a node has graph attributes (nodes are immutable, so the answer is kept). */
const subgraphHolders = new WeakMap<Node, boolean>();
function hasSubgraph(n: Node): boolean {
  let h = subgraphHolders.get(n);
  if (h === undefined) {
    h = false;
    for (const k in n.attrs) {
      const t = n.attrs[k].type;
      if (t === "graph" || t === "graphs") h = true;
    }
    subgraphHolders.set(n, h);
  }
  return h;
}

/** A new node frozen as immer would have left it. */
function frozenNode(n: Node): Node {
  Object.freeze(n.inputs);
  Object.freeze(n.outputs);
  Object.freeze(n.attrs);
  if (n.from) Object.freeze(n.from);
  return Object.freeze(n);
}

/** `g` with new node, value and constant tables, frozen one level deep as immer would leave them. */
function frozenGraph(
  g: Graph,
  nodes: Node[],
  values: Record<string, ValueInfo>,
  constants: Record<string, Constant>,
): Graph {
  return Object.freeze({
    ...g,
    nodes: Object.freeze(nodes),
    values: Object.freeze(values),
    constants: Object.freeze(constants),
  });
}

/** Subgraph bodies that capture a renamed outer value read the replacement instead. */
function rewireSubgraphs(n: any, rename: Map<string, string>): void {
  for (const a of Object.values(n.attrs) as any[]) {
    const gs = a.type === "graph" ? [a.value] : a.type === "graphs" ? a.value : [];
    for (const sg of gs) {
      for (const m of sg.nodes) {
        if (m.inputs.some((x: string | null) => x !== null && rename.has(x) && !(x in sg.values))) {
          m.inputs = m.inputs.map((
            x: string | null,
          ) => (x !== null && rename.has(x) && !(x in sg.values) ? rename.get(x)! : x));
        }
        rewireSubgraphs(m, rename);
      }
      sg.outputs = sg.outputs.map((x: string) => (rename.has(x) && !(x in sg.values) ? rename.get(x)! : x));
    }
  }
}

/** Removes nodes none of whose outputs are used, and constants nothing reads; random ops stay. */
export function deadCodeElimination(g: Graph): Graph {
  const dead = findDead(g, g.constants);
  if (!dead) return g;
  const tables = { values: { ...g.values }, constants: { ...g.constants } };
  const nodes = removeDead(g, dead, tables);
  return frozenGraph(g, nodes, tables.values, tables.constants);
}

/** deadCodeElimination on a driver's own tables: edits them in place, returns the graph over them. */
function eliminateDead(g: Graph, tables: Tables): Graph {
  const dead = findDead(g, tables.constants);
  if (!dead) return g;
  return { ...g, nodes: removeDead(g, dead, tables), values: tables.values, constants: tables.constants };
}

/** Which nodes stay and which constants nothing reads, or undefined when nothing is dead. */
function findDead(
  g: Graph,
  constants: Readonly<Record<string, Constant>>,
): { keep: boolean[]; constants: string[] } | undefined {
  const live = new Set<string>(g.outputs);
  const keep: boolean[] = new Array(g.nodes.length).fill(false);
  let deadNodes = 0;
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i];
    const needed = n.outputs.some((o) => o && live.has(o)) || getOp(n.op)?.impure === true ||
      (!getOp(n.op) && n.op.includes("."));
    if (!needed) {
      deadNodes++;
      continue;
    }
    keep[i] = true;
    for (const x of n.inputs) if (x) live.add(x);
    if (hasSubgraph(n)) { for (const x of capturedValues(n)) live.add(x); }
  }
  const inputs = new Set(g.inputs);
  const deadConsts = Object.keys(constants).filter((c) => !live.has(c) && !inputs.has(c));
  return deadNodes === 0 && deadConsts.length === 0 ? undefined : { keep, constants: deadConsts };
}

/**
 * Deletes the dead constants and every value no live node, constant or input defines from `tables` (the
 * survivors keep their order); returns the live nodes.
 */
function removeDead(g: Graph, dead: { keep: boolean[]; constants: string[] }, tables: Tables): Node[] {
  const nodes = g.nodes.filter((_, i) => dead.keep[i]);
  const definedByLive = new Set<string>();
  for (const n of nodes) for (const o of n.outputs) definedByLive.add(o);
  for (const c of dead.constants) {
    delete tables.constants[c];
    delete tables.values[c];
  }
  const inputs = new Set(g.inputs);
  for (const k of Object.keys(tables.values)) {
    if (!definedByLive.has(k) && !(k in tables.constants) && !inputs.has(k)) delete tables.values[k];
  }
  return nodes;
}

/** Outer values a node's subgraphs read. */
function capturedValues(n: Node): string[] {
  return subgraphsOf(n).flatMap((sg) => [...freeValues(sg)]);
}

export interface Explanation {
  node: string;
  op: string;
  matched: boolean;
  /** How far the match got (operands and predicates satisfied). */
  depth?: number;
  /** Where the deepest partial match stopped, and why. */
  at?: string;
  reason?: string;
}

/** For each candidate node, whether the rule matches, or the deepest partial match and what failed. */
export function explainRule(graph: Graph, r: Rule): Explanation[] {
  const ctx: MatchContext = { graph, outputs: new Set(graph.outputs) };
  const roots = r.pattern.rootOps();
  const out: Explanation[] = [];
  for (const n of graph.nodes) {
    if (roots && !roots.includes(n.op)) continue;
    const m = matchRoot(r.pattern, n, ctx);
    if (m.ok) out.push({ node: n.id, op: n.op, matched: true });
    else {out.push({
        node: n.id,
        op: n.op,
        matched: false,
        depth: (m as Fail).depth,
        at: (m as Fail).path,
        reason: (m as Fail).reason,
      });}
  }
  return out;
}

export { valueRef };
