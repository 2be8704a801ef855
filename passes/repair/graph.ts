/**
 * Graph repairs (FetaFix's `replace_graph`, MutateNN's layer and conditional operators undone): a node of
 * the wrong function takes the source's (an activation through the dialects' names and TFLite's fused
 * activations, other ops by their equivalence class); a node the source lacks is removed; a node the
 * target lacks is re-inserted (an activation by translation, anything when the reference is in the
 * target's dialect by copying it with its constants); two nodes in the wrong order swap back; a transpose
 * the source does not have goes.
 */
import type { Attr } from "../../ir/attr.ts";
import { LatheError } from "../../ir/errors.ts";
import type { Graph, Node } from "../../ir/graph.ts";
import { graphIndex } from "../../ir/graph.ts";
import { getOp, registeredOps, resolveAttrs } from "../../ir/op-registry.ts";
import { constantSource } from "../diff/constant-source.ts";
import type { Event } from "../diff/event-graph.ts";
import type { Finding } from "../diff/localize.ts";
import { opClass } from "../diff/op-equivalence.ts";
import { toConstant } from "../../runtime/tensor.ts";
import type { Dialect, Editor, NewNode } from "./edit.ts";
import { f32Constant } from "./parameters.ts";
import {
  dataInputs,
  findingEvents,
  findNode,
  type Fix,
  type FixMaker,
  repair,
  type RepairContext,
} from "./rule.ts";

interface Activation {
  /** ONNX op, with Clip's bounds. */
  onnx?: { op: string; bounds?: [number, number] };
  tfl?: string;
  /** TFLite fused_activation_function name. */
  fused?: string;
}

const ACTIVATIONS: Record<string, Activation> = {
  relu: { onnx: { op: "Relu" }, tfl: "tfl.RELU", fused: "RELU" },
  relu6: { onnx: { op: "Clip", bounds: [0, 6] }, tfl: "tfl.RELU6", fused: "RELU6" },
  "relu-n1-1": { onnx: { op: "Clip", bounds: [-1, 1] }, tfl: "tfl.RELU_N1_TO_1", fused: "RELU_N1_TO_1" },
  "relu-0-1": { onnx: { op: "Clip", bounds: [0, 1] }, tfl: "tfl.RELU_0_TO_1" },
  sigmoid: { onnx: { op: "Sigmoid" }, tfl: "tfl.LOGISTIC" },
  tanh: { onnx: { op: "Tanh" }, tfl: "tfl.TANH", fused: "TANH" },
  "hard-swish": { onnx: { op: "HardSwish" }, tfl: "tfl.HARD_SWISH" },
  elu: { onnx: { op: "Elu" }, tfl: "tfl.ELU" },
  gelu: { onnx: { op: "Gelu" }, tfl: "tfl.GELU" },
  "leaky-relu": { onnx: { op: "LeakyRelu" }, tfl: "tfl.LEAKY_RELU" },
};

/** Parameters an activation carries over from the source node (LeakyRelu's alpha, Clip's bounds). */
function activationOf(
  ctx: RepairContext,
  e: Event,
): { cls: string; act?: Activation; alpha?: number; bounds?: [number, number] } {
  const n = e.node;
  const out: { cls: string; act?: Activation; alpha?: number; bounds?: [number, number] } = {
    cls: e.cls,
    act: ACTIVATIONS[e.cls],
  };
  if (!n || e.part > 0) return out;
  const at = resolveAttrs(n);
  if (typeof at.alpha === "number") out.alpha = at.alpha;
  if (n.op === "Clip" && e.cls === "clip") {
    const lo = n.inputs[1] ? constantSource(ctx.reference, n.inputs[1]) : undefined;
    const hi = n.inputs[2] ? constantSource(ctx.reference, n.inputs[2]) : undefined;
    out.bounds = [lo ? Number(lo.tensor.data[0]) : -Infinity, hi ? Number(hi.tensor.data[0]) : Infinity];
    out.act = { onnx: { op: "Clip", bounds: out.bounds } };
  }
  return out;
}

/** The standalone node computing an activation in a dialect, reading `x`. */
function activationNode(
  dialect: Dialect,
  a: ReturnType<typeof activationOf>,
  x: string,
  stem: string,
): NewNode | undefined {
  if (!a.act) return undefined;
  if (dialect === "tfl") {
    if (!a.act.tfl || !getOp(a.act.tfl)) return undefined;
    const attrs: Record<string, Attr> = a.act.tfl === "tfl.LEAKY_RELU" && a.alpha !== undefined
      ? { alpha: { type: "float", value: a.alpha } }
      : {};
    return { op: a.act.tfl, inputs: [x], attrs, stem };
  }
  const o = a.act.onnx;
  if (!o) return undefined;
  if (o.bounds) {
    const [lo, hi] = o.bounds;
    const constants: Record<string, ReturnType<typeof f32Constant>> = {};
    const ins: (string | null)[] = [x, null, null];
    if (Number.isFinite(lo)) {
      (ins[1] = `${stem}_min`, constants[`${stem}_min`] = f32Constant([], Float32Array.of(lo)));
    }
    if (Number.isFinite(hi)) {
      (ins[2] = `${stem}_max`, constants[`${stem}_max`] = f32Constant([], Float32Array.of(hi)));
    }
    while (ins.length > 1 && ins[ins.length - 1] === null) ins.pop();
    return { op: "Clip", inputs: ins, constants, stem };
  }
  const attrs: Record<string, Attr> = o.op === "LeakyRelu" && a.alpha !== undefined
    ? { alpha: { type: "float", value: a.alpha } }
    : {};
  return { op: o.op, inputs: [x], attrs, stem };
}

/** An op of the dialect in an equivalence class (MaxPool for max-pool, tfl.MINIMUM for min). */
function opOfClass(dialect: Dialect, cls: string, like?: string): string | undefined {
  const ops = registeredOps().filter((op) =>
    (dialect === "tfl" ? op.startsWith("tfl.") : !op.includes(".")) && opClass(op).cls === cls
  );
  if (like) {
    // Keep to the same family of names where there are several (ReduceMax over GlobalMaxPool for a Reduce).
    const prefix = like.replace(/^tfl\./, "").slice(0, 3).toLowerCase();
    const same = ops.find((op) => op.replace(/^tfl\./, "").slice(0, 3).toLowerCase() === prefix);
    if (same) return same;
  }
  return ops[0];
}

function fusable(n: Node): boolean {
  return n.op.startsWith("tfl.") && !!getOp(n.op)?.attrs?.fused_activation_function;
}

function users(g: Graph, v: string): readonly Node[] {
  return graphIndex(g).users.get(v) ?? [];
}

/** The target node reading data operand `x` that replaces a node: its single data operand. */
function soleData(g: Graph, n: Node): number | undefined {
  const d = dataInputs(g, n);
  return d.length === 1 ? d[0] : undefined;
}

/** A node of another op in place of `t` (same id and outputs): an activation or an op of the same class. */
function replaceFixes(ctx: RepairContext, src: Event, t: Node, fix: FixMaker): (Fix | undefined)[] {
  const out: (Fix | undefined)[] = [];
  // Only a node computing a function of the same kind stands in for another (a clamp for a ReLU, an
  // average pool for a max pool), never an op with other arithmetic.
  const te = eventOf(ctx, "target", t.id);
  const functions = ["activation", "clamp"];
  const kin = te &&
    (te.family === src.family || (functions.includes(te.family) && functions.includes(src.family)) ||
      te.cls === "thresholdedrelu");
  if (!kin) return out;
  const a = activationOf(ctx, src);
  const data = soleData(ctx.target, t) ?? 0;
  const x = t.inputs[data];
  if (!x) return [];
  if (ctx.sameDialect && src.node && src.part === 0) out.push(restoreFromReference(ctx, src.node, t, fix));
  if (a.act) {
    const spec = activationNode(ctx.dialect, a, x, `${t.id}_act`);
    if (spec) {
      out.push(fix(`${t.op} ${t.id} → ${spec.op} (the source's ${a.cls})`, (ed) => {
        const names: Record<string, string> = {};
        for (const [k, c] of Object.entries(spec.constants ?? {})) names[k] = ed.addConstant(k, c);
        ed.setOp(t.id, spec.op, spec.attrs ?? {}, spec.inputs.map((v) => (v && names[v]) ?? v));
      }));
      // A TFLite activation that was a fused one: fused back into the op before it.
      const p = graphIndex(ctx.target).producer.get(x);
      if (
        ctx.dialect === "tfl" && a.act.fused && p && fusable(p) && users(ctx.target, x).length === 1 &&
        !ctx.target.outputs.includes(x)
      ) {
        out.push(
          fix(
            `${t.op} ${t.id} removed; ${p.op} ${p.id} fuses ${a.act.fused} (the source's ${a.cls})`,
            (ed) => {
              ed.bypass(t.id, data);
              ed.setAttrs(p.id, { fused_activation_function: { type: "string", value: a.act!.fused! } });
            },
          ),
        );
      }
    }
    return out;
  }
  const op = opOfClass(ctx.dialect, src.cls, t.op);
  if (op && op !== t.op) {
    const spec = getOp(op)!;
    const attrs: Record<string, Attr> = {};
    for (const [k, v] of Object.entries(t.attrs)) if (spec.attrs?.[k]) attrs[k] = v;
    out.push(fix(`${t.op} ${t.id} → ${op} (the source's ${src.cls})`, (ed) => ed.setOp(t.id, op, attrs)));
  }
  return out;
}

/**
 * Target node `t` made equal to reference node `r` (same dialect): op, attributes, and every constant
 * operand copied; data operands stay the target's, in order.
 */
export function restoreFromReference(ctx: RepairContext, r: Node, t: Node, fix: FixMaker): Fix | undefined {
  const tData = dataInputs(ctx.target, t).map((i) => t.inputs[i]);
  const rData = dataInputs(ctx.reference, r);
  if (rData.length !== tData.length) return undefined;
  return fix(`${t.op} ${t.id} restored from the reference's ${r.op} ${r.id}`, (ed) => {
    const inputs: (string | null)[] = [];
    let k = 0;
    r.inputs.forEach((v, i) => {
      if (!v) inputs.push(null);
      else if (rData.includes(i)) inputs.push(tData[k++]!);
      else {
        const c = constantSource(ctx.reference, v);
        if (!c) throw new LatheError("unsupported", `reference operand ${v} is not constant`);
        inputs.push(ed.addConstant(v, toConstant(c.tensor)));
      }
    });
    ed.setOp(t.id, r.op, { ...r.attrs }, inputs);
  });
}

export const fixWrongOp = repair("replace-op", "graph", ["wrong-op"], (f, ctx, fix) => {
  const { source, target } = findingEvents(f, ctx);
  const t = findNode(ctx.target, f.targetNode);
  if (!source || !target || !t) return [];
  if (target.part > 0) {
    // A fused activation of the wrong function: the source's, fused, or unfused after a NONE.
    const a = activationOf(ctx, source);
    const out: Fix[] = [];
    if (a.act?.fused) {
      out.push(
        fix(
          `${t.op} ${t.id}: fused ${String(t.attrs.fused_activation_function?.value)} → ${a.act.fused}`,
          (ed) => ed.setAttrs(t.id, { fused_activation_function: { type: "string", value: a.act!.fused! } }),
        ),
      );
    }
    const spec = activationNode(ctx.dialect, a, t.outputs[0], `${t.id}_act`);
    if (spec) {
      out.push(fix(`${t.op} ${t.id}: fused activation NONE, ${spec.op} after it`, (ed) => {
        ed.setAttrs(t.id, { fused_activation_function: { type: "string", value: "NONE" } });
        ed.insertAfter(t.outputs[0], spec);
      }));
    }
    return out;
  }
  return replaceFixes(ctx, source, t, fix);
});

/** Segment-mates: the other findings at the same diverging pair. */
function sameSegment(f: Finding, ctx: RepairContext, fault: string): Finding[] {
  return ctx.localization.findings.filter((x) => x.pair === f.pair && x.fault === fault);
}

function eventOf(ctx: RepairContext, side: "source" | "target", node: string | undefined): Event | undefined {
  const eg = side === "source" ? ctx.match.sourceEvents : ctx.match.targetEvents;
  return node === undefined ? undefined : eg.events.find((e) => e.node?.id === node && e.part === 0);
}

export const removeExtraNode = repair("remove-node", "graph", ["extra-node"], (f, ctx, fix) => {
  const t = findNode(ctx.target, f.targetNode);
  if (!t) return [];
  const out: (Fix | undefined)[] = [];
  // A missing node beside it: the extra one is the missing one with the wrong function.
  for (const m of sameSegment(f, ctx, "missing-node")) {
    const se = eventOf(ctx, "source", m.sourceNode);
    if (se) out.push(...replaceFixes(ctx, se, t, fix));
  }
  for (const i of dataInputs(ctx.target, t)) {
    out.push(fix(`${t.op} ${t.id} removed (the source has no counterpart)`, (ed) => ed.bypass(t.id, i)));
  }
  return out;
});

/**
 * The target value standing where the source's value `v` is: its paired event's value. Undefined when the
 * event producing `v` has no counterpart (the insertion point would be a guess).
 */
function counterpartValue(ctx: RepairContext, v: string): string | undefined {
  const o = ctx.match.sourceEvents.origin.get(v);
  if (!o) return undefined;
  const t = ctx.match.sourceToTarget.get(o.event);
  if (t === undefined) return undefined;
  const te = ctx.match.targetEvents.events[t];
  return te.value ?? te.node?.outputs[0];
}

export const insertMissingNode = repair("insert-node", "graph", ["missing-node"], (f, ctx, fix) => {
  const m = findNode(ctx.reference, f.sourceNode);
  const se = eventOf(ctx, "source", f.sourceNode);
  if (!m || !se) return [];
  const out: (Fix | undefined)[] = [];
  for (const x of sameSegment(f, ctx, "extra-node")) {
    const t = findNode(ctx.target, x.targetNode);
    if (t) out.push(...replaceFixes(ctx, se, t, fix));
  }
  const rData = dataInputs(ctx.reference, m);
  const inputs = rData.map((i) => counterpartValue(ctx, m.inputs[i]!));
  if (!inputs.length || inputs.some((v) => !v)) return out;
  const x = inputs[0]!;
  // Readers of x in the target that stand for readers of m's output in the source.
  const mOut = m.outputs[0];
  const readers = users(ctx.target, x).filter((u) => {
    const ue = ctx.match.targetEvents.events.find((e) => e.node === u && e.part === 0);
    const s = ue ? ctx.match.targetToSource.get(ue.index) : undefined;
    const sn = s !== undefined ? ctx.match.sourceEvents.events[s].node : undefined;
    return !sn || sn.inputs.includes(mOut) || !sn.inputs.includes(m.inputs[rData[0]]!);
  }).map((u) => u.id);
  const a = activationOf(ctx, se);
  if (a.act && rData.length === 1) {
    const p = graphIndex(ctx.target).producer.get(x);
    if (
      ctx.dialect === "tfl" && a.act.fused && p && fusable(p) &&
      String(p.attrs.fused_activation_function?.value ?? "NONE") === "NONE" &&
      users(ctx.target, x).length === readers.length
    ) {
      out.push(
        fix(
          `${p.op} ${p.id}: fuses ${a.act.fused} again (the source's ${m.op} ${m.id})`,
          (ed) => ed.setAttrs(p.id, { fused_activation_function: { type: "string", value: a.act!.fused! } }),
        ),
      );
    }
    const spec = activationNode(ctx.dialect, a, x, `${m.id}_restored`);
    if (spec) {
      out.push(fix(`${spec.op} inserted after ${x} (the source's ${m.op} ${m.id})`, (ed) => {
        const names: Record<string, string> = {};
        for (const [k, c] of Object.entries(spec.constants ?? {})) names[k] = ed.addConstant(k, c);
        ed.insertAfter(
          x,
          { ...spec, inputs: spec.inputs.map((v) => (v && names[v]) ?? v), constants: {} },
          readers,
        );
      }));
    }
  }
  if (ctx.sameDialect) {
    out.push(fix(`${m.op} ${m.id} copied from the reference after ${x}`, (ed) => {
      copyReferenceNode(ctx, ed, m, inputs as string[], readers);
    }));
  }
  return out;
});

/** Copies a reference node (with its constant operands) into the target, reading `x`. */
function copyReferenceNode(
  ctx: RepairContext,
  ed: Editor,
  r: Node,
  inputs: readonly string[],
  readers?: readonly string[],
): Node {
  const rData = dataInputs(ctx.reference, r);
  let k = 0;
  const ins = r.inputs.map((v, i) => {
    if (!v) return null;
    if (rData.includes(i)) return inputs[k++];
    const c = constantSource(ctx.reference, v);
    if (!c) throw new LatheError("unsupported", `reference operand ${v} is not constant`);
    return ed.addConstant(v, toConstant(c.tensor));
  });
  return ed.insertAfter(inputs[0], { op: r.op, inputs: ins, attrs: r.attrs, stem: r.id }, readers);
}

/**
 * Same dialect: the reference layer paired with a target layer of another shape is one the target lacks
 * (the matcher paired its neighbour instead): a copy goes in before the target layer.
 */
export const insertReferenceBefore = repair(
  "insert-node-before",
  "graph",
  (f, ctx) =>
    ctx.sameDialect &&
    ["kernel", "group", "weights-shape", "bias-shape", "error-jump", "wrong-op"].includes(f.fault),
  (f, ctx, fix) => {
    const r = findNode(ctx.reference, f.sourceNode), t = findNode(ctx.target, f.targetNode);
    if (!r || !t || dataInputs(ctx.reference, r).length !== 1) return [];
    const d = soleData(ctx.target, t);
    if (d === undefined) return [];
    const x = t.inputs[d]!;
    return [fix(`${r.op} ${r.id} copied from the reference before ${t.op} ${t.id}`, (ed) => {
      copyReferenceNode(ctx, ed, r, [x], [t.id]);
    })];
  },
);

/** Two adjacent single-input nodes A → B swapped: B reads A's operand, A reads B's result. */
export function swapAdjacent(ed: Editor, aId: string, bId: string): void {
  const g = ed.graph;
  const a = ed.node(aId), b = ed.node(bId);
  const ad = soleData(g, a), bd = soleData(g, b);
  if (ad === undefined || bd === undefined || b.inputs[bd] !== a.outputs[0]) {
    throw new LatheError("verify", `${aId} and ${bId} are not a chain`);
  }
  const x = a.inputs[ad]!, mid = a.outputs[0], y = b.outputs[0];
  const tfl = ed.dialect === "tfl";
  ed.setInputs(b.id, b.inputs.map((v, i) => (i === bd ? x : v)));
  ed.setInputs(a.id, a.inputs.map((v, i) => (i === ad ? mid : v)));
  // Outputs trade places so readers downstream still read y; TFLite ids follow the first output.
  const nodes = ed.graph.nodes.map((n) => {
    if (n.id === b.id) return { ...n, outputs: [mid], ...(tfl ? { id: mid } : {}) };
    if (n.id === a.id) return { ...n, outputs: [y], ...(tfl ? { id: y } : {}) };
    return n;
  });
  const ai = nodes.findIndex((n) => n.outputs[0] === y), bi = nodes.findIndex((n) => n.outputs[0] === mid);
  [nodes[ai], nodes[bi]] = [nodes[bi], nodes[ai]];
  const values = { ...ed.graph.values };
  delete values[mid];
  ed.graph = { ...ed.graph, nodes, values };
  ed.edits.push({
    type: "inputs",
    node: b.id,
    op: b.op,
    before: [...b.inputs],
    after: b.inputs.map((v, i) => (i === bd ? x : v)),
  });
}

/**
 * Target nodes around a finding: its own node, and the diverging pair's segment (back from the diverging
 * target event through its node's parts and unpaired events to the paired ones before it).
 */
function segmentNodes(f: Finding, ctx: RepairContext): Node[] {
  const T = ctx.match.targetEvents;
  const out = new Set<Node>();
  const t = findNode(ctx.target, f.targetNode);
  if (t) out.add(t);
  const v = ctx.match.values[f.pair];
  const start = v ? T.events[v.target.event] : undefined;
  const stack = start ? [start.index] : [];
  const visited = new Set<number>();
  while (stack.length) {
    const e = T.events[stack.pop()!];
    if (visited.has(e.index)) continue;
    visited.add(e.index);
    if (e.node) out.add(e.node);
    for (const i of e.inputs) {
      if (i.event < 0) continue;
      const ie = T.events[i.event];
      if (ie.node === e.node || !ctx.match.targetToSource.has(ie.index)) stack.push(ie.index);
      else if (ie.node) out.add(ie.node);
    }
  }
  return [...out];
}

/** Two adjacent nodes of the segment in the wrong order (MutateNN's reorder, a converter's misplaced op). */
export const undoReorder = repair(
  "swap-back",
  "graph",
  (f) => !!f.targetNode || f.fault === "missing-node",
  (f, ctx, fix) => {
    const g = ctx.target;
    const out: Fix[] = [];
    const chain = (a: Node, b: Node) =>
      soleData(g, a) !== undefined && soleData(g, b) !== undefined && a.outputs.length === 1 &&
      users(g, a.outputs[0]).length === 1 &&
      !g.outputs.includes(a.outputs[0]) && b.inputs[soleData(g, b)!] === a.outputs[0];
    const nodes = segmentNodes(f, ctx);
    for (const t of nodes) {
      const d = soleData(g, t);
      const p = d !== undefined ? graphIndex(g).producer.get(t.inputs[d]!) : undefined;
      if (p && chain(p, t)) {
        out.push(
          fix(`${p.op} ${p.id} and ${t.op} ${t.id} swapped back`, (ed) => swapAdjacent(ed, p.id, t.id)),
        );
      }
      const us = users(g, t.outputs[0]);
      if (us.length === 1 && chain(t, us[0])) {
        out.push(
          fix(
            `${t.op} ${t.id} and ${us[0].op} ${us[0].id} swapped back`,
            (ed) => swapAdjacent(ed, t.id, us[0].id),
          ),
        );
      }
    }
    return out;
  },
);

const TRANSPOSES = new Set(["Transpose", "tfl.TRANSPOSE"]);

/** Layout nodes on the paths into the diverging target value (an extra transpose is invisible to matching). */
export const removeExtraTranspose = repair(
  "remove-transpose",
  "graph",
  (f) => f.kind !== "input",
  (f, ctx, fix) => {
    const { target } = findingEvents(f, ctx);
    const te = target ?? eventOf(ctx, "target", f.targetNode);
    if (!te) return [];
    const T = ctx.match.targetEvents;
    const seen = new Set<string>();
    const visited = new Set<number>();
    const out: Fix[] = [];
    // The segment: back from the event through its own node's parts and unpaired events, to paired ones.
    const stack = [te.index];
    while (stack.length) {
      const e = T.events[stack.pop()!];
      if (visited.has(e.index)) continue;
      visited.add(e.index);
      for (const i of e.inputs) {
        for (const n of i.via) {
          if (!TRANSPOSES.has(n.op) || seen.has(n.id)) continue;
          seen.add(n.id);
          out.push(
            fix(
              `${n.op} ${n.id} removed (it reorders the data the source does not)`,
              (ed) => ed.bypass(n.id, 0),
            ),
          );
        }
        if (i.event < 0) continue;
        const ie = T.events[i.event];
        if (ie.node === e.node || !ctx.match.targetToSource.has(ie.index)) stack.push(ie.index);
      }
    }
    return out;
  },
);
