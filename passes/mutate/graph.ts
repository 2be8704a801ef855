/**
 * Graph faults (FetaFix's computational-graph family and MutateNN's layer-modification and conditional
 * operators): an activation becomes another function, a conditional's threshold moves or its comparison
 * flips, a node is bypassed, an extra node appears, or two adjacent nodes run in the other order.
 */
import type { Attr } from "../../ir/attr.ts";
import type { Constant } from "../../ir/constant.ts";
import type { Graph, Node, ValueInfo } from "../../ir/graph.ts";
import { subgraphsOf, usersOf } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import { printValueType } from "../../ir/value-type.ts";
import type { Rng } from "../../runtime/random.ts";
import { produce } from "immer";
import {
  addConstants,
  bypassNode,
  constantInts,
  contextOf,
  deltaStats,
  dropUnread,
  dtypeOf,
  f32Constant,
  f32Data,
  firstValid,
  freshName,
  insertChain,
  intConstant,
  type NewNode,
  nodesOf,
  pick,
  plainAttr,
  readers,
  replaceNode,
  setAttrs,
  setConstantInput,
  shapeOf,
  soleDataInput,
} from "./graph-edit.ts";
import {
  type Change,
  defineKind,
  type Dialect,
  type MutateContext,
  type MutationResult,
  nodeRef,
} from "./kind.ts";

function result(
  g: Graph,
  n: Node,
  changes: Change[],
  description: string,
  params: Record<string, unknown> = {},
): MutationResult {
  return { graph: g, target: n.id, record: { node: nodeRef(n), description, changes, params } };
}

const scalar = (v: number): Constant => f32Constant([], Float32Array.of(v));

/**
 * Rewrites one node into another op and operand list (same id and outputs), recording the op, operand
 * and attribute differences, and drops constants nothing reads any more.
 */
function rewriteNode(
  g: Graph,
  n: Node,
  op: string,
  inputs: (string | null)[],
  attrs: Record<string, Attr>,
  newConstants: Record<string, Constant> = {},
  why = "operands of the new op",
): { graph: Graph; changes: Change[] } {
  const changes: Change[] = [];
  if (op !== n.op) changes.push({ type: "op", node: n.id, before: n.op, after: op });
  if (inputs.length !== n.inputs.length || inputs.some((v, k) => v !== n.inputs[k])) {
    changes.push({ type: "inputs", node: n.id, before: [...n.inputs], after: inputs, why });
  }
  for (const k of new Set([...Object.keys(n.attrs), ...Object.keys(attrs)])) {
    const b = plainAttr(n.attrs[k]), a = plainAttr(attrs[k]);
    if (JSON.stringify(b) !== JSON.stringify(a)) {
      changes.push({ type: "attribute", node: n.id, name: k, before: b, after: a });
    }
  }
  let out = addConstants(g, newConstants);
  out = replaceNode(out, n.id, (x) => ({ ...x, op, inputs, attrs }));
  out = dropUnread(out, n.inputs);
  return { graph: out, changes };
}

// ---- activation replaced ------------------------------------------------------------------------------

const ONNX_ACTIVATIONS = [
  "Relu",
  "Clip",
  "Sigmoid",
  "Tanh",
  "LeakyRelu",
  "HardSigmoid",
  "HardSwish",
  "Elu",
  "Selu",
  "Softplus",
  "Softsign",
  "Mish",
];
const ONNX_REPLACEMENTS = ["Relu", "Relu6", "Sigmoid", "Tanh"];

/** Clip(0, 6) is Relu6; other bounds are a general clamp. */
function onnxFunction(g: Graph, n: Node): string {
  if (n.op !== "Clip") return n.op;
  const lo = constantInts(g, n.inputs[1]), hi = constantInts(g, n.inputs[2]);
  return lo?.[0] === 0 && hi?.[0] === 6 ? "Relu6" : "Clip";
}

const TFL_STANDALONE = [
  "tfl.RELU",
  "tfl.RELU6",
  "tfl.RELU_N1_TO_1",
  "tfl.LOGISTIC",
  "tfl.TANH",
  "tfl.HARD_SWISH",
  "tfl.LEAKY_RELU",
  "tfl.ELU",
  "tfl.GELU",
];
const TFL_REPLACEMENTS = ["tfl.RELU", "tfl.RELU6", "tfl.LOGISTIC", "tfl.TANH"];
const CLAMPS = ["RELU", "RELU6", "RELU_N1_TO_1"];

/** Nodes with a fused clamp whose output may get a node after it (not a graph output). */
function fusedClamps(g: Graph, ctx: MutateContext): Node[] {
  return g.nodes.filter((n) =>
    !ctx.avoid.has(n.id) && n.op.startsWith("tfl.") &&
    CLAMPS.includes(String(n.attrs.fused_activation_function?.value ?? "NONE")) &&
    !g.outputs.includes(n.outputs[0])
  );
}

function activationPairs(g: Graph, ctx: MutateContext): { n: Node; fn: string; to: string }[] {
  return g.nodes.filter((n) => ONNX_ACTIVATIONS.includes(n.op)).flatMap((n) => {
    const fn = onnxFunction(g, n);
    return ONNX_REPLACEMENTS.filter((to) => to !== fn && !ctx.avoid.has(`${n.id}:${to}`)).map((to) => ({
      n,
      fn,
      to,
    }));
  });
}

defineKind({
  name: "activation-replaced",
  class: "graph",
  targets:
    "an activation replaced by another function (Relu, Relu6, Sigmoid, Tanh); tfl: a standalone activation op, or a fused clamp unfused into LOGISTIC/TANH",
  dialects: ["onnx", "tfl"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    if (ctx.dialect === "onnx") {
      // Targets are (node, replacement) pairs: Relu6 in place of Relu is invisible where values stay below 6,
      // and a retry should then try another function on the same node.
      const pairs = activationPairs(graph, ctx);
      const choice = pick(rng, pairs);
      if (!choice) return undefined;
      const { n, fn, to } = choice;
      const x = n.inputs[0];
      let r;
      if (to === "Relu6") {
        const lo = freshName(graph, `${n.id}_min`), hi = freshName(graph, `${n.id}_max`, new Set([lo]));
        r = rewriteNode(
          graph,
          n,
          "Clip",
          [x, lo, hi],
          {},
          { [lo]: scalar(0), [hi]: scalar(6) },
          `new bounds ${lo} = 0, ${hi} = 6`,
        );
      } else r = rewriteNode(graph, n, to, [x], {});
      return {
        ...result(r.graph, n, r.changes, `${n.op} ${n.id}: ${fn} replaced by ${to}`, { from: fn, to }),
        target: `${n.id}:${to}`,
      };
    }
    const pairs = [
      ...nodesOf(graph, { ...ctx, avoid: new Set() }, TFL_STANDALONE).flatMap((n) =>
        TFL_REPLACEMENTS.filter((to) => to !== n.op).map((to) => ({ n, to, fused: false }))
      ),
      ...fusedClamps(graph, { ...ctx, avoid: new Set() }).flatMap((n) =>
        ["tfl.LOGISTIC", "tfl.TANH"].map((to) => ({ n, to, fused: true }))
      ),
    ].filter((p) => !ctx.avoid.has(`${p.n.id}:${p.to}`));
    const choice = pick(rng, pairs);
    if (!choice) return undefined;
    const { n, to } = choice;
    const target = `${n.id}:${to}`;
    if (!choice.fused) {
      const r = rewriteNode(graph, n, to, [n.inputs[0]], {});
      return {
        ...result(r.graph, n, r.changes, `${n.op} ${n.id}: replaced by ${to}`, { from: n.op, to }),
        target,
      };
    }
    // A fused clamp only expresses clamps; another function means an unfused op after a NONE activation.
    const from = String(n.attrs.fused_activation_function!.value);
    const a = setAttrs(graph, n.id, { fused_activation_function: { type: "string", value: "NONE" } });
    const ins = insertChain(a.graph, ctx.dialect, n.outputs[0], [{
      op: to,
      stem: `${n.id}_${to.slice(4).toLowerCase()}`,
    }]);
    return {
      ...result(
        ins.graph,
        n,
        [...a.changes, ...ins.changes],
        `${n.op} ${n.id}: fused ${from} replaced by ${to} (fused activation NONE, ${to} inserted after)`,
        { from, to, unfused: true },
      ),
      target,
    };
  },
});

// ---- conditional threshold ----------------------------------------------------------------------------

const COMPARE_WITH_CONSTANT = [
  "Max",
  "Min",
  "Greater",
  "Less",
  "GreaterOrEqual",
  "LessOrEqual",
  "tfl.MAXIMUM",
  "tfl.MINIMUM",
  "tfl.GREATER",
  "tfl.LESS",
  "tfl.GREATER_EQUAL",
  "tfl.LESS_EQUAL",
];
const THRESHOLD_OPS: { op: string; operand: number }[] = [
  { op: "add", operand: 1 },
  { op: "sub", operand: 1 },
  { op: "mul", operand: 2 },
  { op: "div", operand: 2 },
];

function moveThreshold(v: number, t: { op: string; operand: number }): number {
  switch (t.op) {
    case "add":
      return v + t.operand;
    case "sub":
      return v - t.operand;
    case "mul":
      return v * t.operand;
    default:
      return v / t.operand;
  }
}

/** The constant f32 operand index of a comparison-like node. */
function constantOperand(g: Graph, n: Node): number | undefined {
  const k = n.inputs.findIndex((v) =>
    !!v && v in g.constants && !g.inputs.includes(v) && g.constants[v].dtype === "f32"
  );
  return k < 0 ? undefined : k;
}

defineKind({
  name: "conditional-threshold",
  class: "graph",
  targets:
    "a conditional's threshold (MutateNN change_threshold): Clip bounds, Relu's 0 (ThresholdedRelu), a Max/Min/comparison constant; tfl fused or standalone clamp bounds",
  dialects: ["onnx", "tfl"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    const all = { ...ctx, avoid: new Set<string>() };
    // Targets are (node, which threshold) pairs: clamping at 6 instead of at 0..6 may be invisible where
    // values stay small, and a retry should then move another bound of the same node.
    const choices: { n: Node; key: string; slot?: number; to?: string }[] = [
      ...nodesOf(graph, all, ["Clip"]).flatMap((n) =>
        [1, 2].filter((k) => constantInts(graph, n.inputs[k])).map((slot) => ({
          n,
          slot,
          key: `${n.id}:${slot === 1 ? "min" : "max"}`,
        }))
      ),
      ...nodesOf(graph, all, ["Relu"]).map((n) => ({ n, key: n.id })),
      ...nodesOf(graph, all, COMPARE_WITH_CONSTANT, (n) => constantOperand(graph, n) !== undefined).map((
        n,
      ) => ({ n, slot: constantOperand(graph, n), key: n.id })),
      ...nodesOf(graph, all, ["tfl.RELU", "tfl.RELU6", "tfl.RELU_N1_TO_1"]).flatMap((n) =>
        CLAMPS.filter((x) => `tfl.${x}` !== n.op).map((to) => ({ n, to: `tfl.${to}`, key: `${n.id}:${to}` }))
      ),
      ...(ctx.dialect === "tfl" ? fusedClamps(graph, all) : []).flatMap((n) =>
        CLAMPS.filter((x) => x !== n.attrs.fused_activation_function?.value).map((to) => ({
          n,
          to,
          key: `${n.id}:${to}`,
        }))
      ),
    ].filter((x) => !ctx.avoid.has(x.key));
    const choice = pick(rng, choices);
    if (!choice) return undefined;
    const { n, key } = choice;
    const done = (r: MutationResult) => ({ ...r, target: key });
    if (n.op === "Relu") {
      // ThresholdedRelu(x) = x where x > alpha, else 0: Relu with its threshold moved off zero.
      const alpha = pick(rng, [0.5, 1, 2])!;
      const r = rewriteNode(graph, n, "ThresholdedRelu", [...n.inputs], {
        alpha: { type: "float", value: alpha },
      });
      return done(
        result(r.graph, n, r.changes, `Relu ${n.id}: threshold 0 -> ${alpha} (ThresholdedRelu)`, {
          threshold: { before: 0, after: alpha },
        }),
      );
    }
    if (choice.to && !n.attrs.fused_activation_function) {
      const r = rewriteNode(graph, n, choice.to, [...n.inputs], {});
      return done(
        result(r.graph, n, r.changes, `${n.op} ${n.id}: clamp bounds changed (${choice.to})`, {
          from: n.op,
          to: choice.to,
        }),
      );
    }
    if (choice.to) {
      const from = String(n.attrs.fused_activation_function!.value);
      const r = setAttrs(graph, n.id, { fused_activation_function: { type: "string", value: choice.to } });
      return done(
        result(r.graph, n, r.changes, `${n.op} ${n.id}: fused clamp ${from} -> ${choice.to}`, {
          from,
          to: choice.to,
        }),
      );
    }
    // A constant threshold operand: Clip's min or max, or the constant side of a comparison.
    const slot = choice.slot!;
    const before = f32Data(graph.constants[n.inputs[slot]!]);
    let t = pick(rng, THRESHOLD_OPS)!;
    if (before.every((v) => v === 0) && (t.op === "mul" || t.op === "div")) t = THRESHOLD_OPS[rng.int(0, 2)];
    const after = before.map((v) => moveThreshold(v, t));
    if (n.op === "Clip") {
      // Keep min below max, else the clamp degenerates to a constant.
      const other = constantInts(graph, n.inputs[slot === 1 ? 2 : 1]);
      if (other && (slot === 1 ? after[0] >= other[0] : after[0] <= other[0])) {
        t = slot === 1 ? { op: "sub", operand: 1 } : { op: "add", operand: 1 };
        after.set(before.map((v) => moveThreshold(v, t)));
      }
    }
    const r = setConstantInput(
      graph,
      n.id,
      slot,
      f32Constant(graph.constants[n.inputs[slot]!].shape, after),
      `threshold ${t.op} ${t.operand}`,
      {
        operand: slot,
        op: t.op,
        by: t.operand,
      },
      deltaStats(before, after),
    );
    const what = n.op === "Clip" ? (slot === 1 ? "min" : "max") : `operand ${slot}`;
    return done(
      result(
        r.graph,
        n,
        r.changes,
        `${n.op} ${n.id}: ${what} threshold ${t.op} ${t.operand} (${before[0]} -> ${after[0]}${
          before.length > 1 ? ", ..." : ""
        })`,
        {
          threshold: what,
          op: t.op,
          by: t.operand,
        },
      ),
    );
  },
});

// ---- conditional swapped ------------------------------------------------------------------------------

const FLIPS: Record<string, string> = {
  Max: "Min",
  Min: "Max",
  ReduceMax: "ReduceMin",
  ReduceMin: "ReduceMax",
  ArgMax: "ArgMin",
  ArgMin: "ArgMax",
  Greater: "Less",
  Less: "Greater",
  GreaterOrEqual: "LessOrEqual",
  LessOrEqual: "GreaterOrEqual",
  "tfl.MAXIMUM": "tfl.MINIMUM",
  "tfl.MINIMUM": "tfl.MAXIMUM",
  "tfl.REDUCE_MAX": "tfl.REDUCE_MIN",
  "tfl.REDUCE_MIN": "tfl.REDUCE_MAX",
  "tfl.ARG_MAX": "tfl.ARG_MIN",
  "tfl.ARG_MIN": "tfl.ARG_MAX",
  "tfl.GREATER": "tfl.LESS",
  "tfl.LESS": "tfl.GREATER",
  "tfl.GREATER_EQUAL": "tfl.LESS_EQUAL",
  "tfl.LESS_EQUAL": "tfl.GREATER_EQUAL",
};

defineKind({
  name: "conditional-swapped",
  class: "graph",
  targets:
    "a comparison flipped (MutateNN change_ifstmt): Max/Min, ArgMax/ArgMin, ReduceMax/ReduceMin, Greater/Less, Relu as max(x,0) -> min(x,0), MaxPool -> AveragePool",
  dialects: ["onnx", "tfl"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    const n = pick(
      rng,
      nodesOf(
        graph,
        ctx,
        [...Object.keys(FLIPS), "Relu", "tfl.RELU", "MaxPool", "tfl.MAX_POOL_2D"],
        (n) => n.op !== "MaxPool" || !n.outputs[1],
      ),
    );
    if (!n) return undefined;
    if (FLIPS[n.op]) {
      const r = rewriteNode(graph, n, FLIPS[n.op], [...n.inputs], { ...n.attrs });
      return result(r.graph, n, r.changes, `${n.op} ${n.id}: comparison flipped (${FLIPS[n.op]})`, {
        from: n.op,
        to: FLIPS[n.op],
      });
    }
    if (n.op === "Relu" || n.op === "tfl.RELU") {
      const zero = freshName(graph, `${n.id}_zero`);
      const to = n.op === "Relu" ? "Min" : "tfl.MINIMUM";
      const r = rewriteNode(graph, n, to, [n.inputs[0], zero], {}, {
        [zero]: n.op === "Relu" ? scalar(0) : f32Constant([1], Float32Array.of(0)),
      }, `new operand ${zero} = 0`);
      return result(r.graph, n, r.changes, `${n.op} ${n.id}: max(x, 0) flipped to min(x, 0) (${to})`, {
        from: n.op,
        to,
      });
    }
    // Max pooling's per-window comparison dropped: the window is averaged instead.
    if (n.op === "MaxPool") {
      const keep: Record<string, Attr> = {};
      for (const k of ["auto_pad", "ceil_mode", "kernel_shape", "pads", "strides"]) {
        if (n.attrs[k]) keep[k] = n.attrs[k];
      }
      const d = resolveAttrs(n).dilations as number[] | undefined;
      if (d?.some((x) => x !== 1)) keep.dilations = n.attrs.dilations;
      const r = rewriteNode(graph, n, "AveragePool", [...n.inputs], keep);
      return result(r.graph, n, r.changes, `MaxPool ${n.id}: max replaced by average (AveragePool)`, {
        from: n.op,
        to: "AveragePool",
      });
    }
    const r = rewriteNode(graph, n, "tfl.AVERAGE_POOL_2D", [...n.inputs], { ...n.attrs });
    return result(r.graph, n, r.changes, `${n.op} ${n.id}: max replaced by average (tfl.AVERAGE_POOL_2D)`, {
      from: n.op,
      to: "tfl.AVERAGE_POOL_2D",
    });
  },
});

// ---- node removed, node inserted, nodes reordered -----------------------------------------------------

function sameType(g: Graph, a: string | null, b: string): boolean {
  const ta = a ? g.values[a]?.type : undefined, tb = g.values[b]?.type;
  return !!ta && !!tb && printValueType(ta) === printValueType(tb) && !!shapeOf(g, b);
}

defineKind({
  name: "node-removed",
  class: "graph",
  targets:
    "a node whose output has the type of one of its data inputs, bypassed (its readers read that input)",
  dialects: ["onnx", "tfl"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    const cands = graph.nodes.filter((n) =>
      !ctx.avoid.has(n.id) && n.outputs[0] && !graph.outputs.includes(n.outputs[0]) &&
      n.outputs.slice(1).every((o) => !o || readers(graph, o) === 0) &&
      subgraphsOf(n).length === 0 && bypassInput(graph, n) !== undefined
    );
    return firstValid(rng, cands, (n) => {
      const k = bypassInput(graph, n)!;
      const r = bypassNode(graph, n.id, k);
      return result(
        r.graph,
        n,
        r.changes,
        `${n.op} ${n.id} removed: its readers read ${n.inputs[k]} instead of ${n.outputs[0]}`,
        { bypassInput: k },
      );
    });
  },
});

function bypassInput(g: Graph, n: Node): number | undefined {
  const k = n.inputs.findIndex((v) =>
    !!v && (!(v in g.constants) || g.inputs.includes(v)) && sameType(g, v, n.outputs[0])
  );
  return k < 0 ? undefined : k;
}

/** Producers whose output is already non-negative: a Relu after them changes nothing. */
function nonNegative(g: Graph, v: string): boolean {
  const p = g.nodes.find((n) => n.outputs[0] === v);
  if (!p) return false;
  if (["Relu", "Sigmoid", "Softmax", "tfl.RELU", "tfl.RELU6", "tfl.LOGISTIC", "tfl.SOFTMAX"].includes(p.op)) {
    return true;
  }
  if (p.op === "Clip") return (constantInts(g, p.inputs[1])?.[0] ?? -1) >= 0;
  const fused = String(p.attrs.fused_activation_function?.value ?? "NONE");
  return fused === "RELU" || fused === "RELU6";
}

/** Readers that clamp at zero anyway (so a Relu in front of them changes nothing). */
function clampedReaders(g: Graph, v: string): boolean {
  return usersOf(g, v).every((u) =>
    u.op === "Relu" || (u.op === "Clip" && (constantInts(g, u.inputs[1])?.[0] ?? -1) >= 0)
  );
}

function insertion(dialect: Dialect, g: Graph, what: "relu" | "transpose", stem: string): NewNode {
  if (what === "relu") return { op: dialect === "onnx" ? "Relu" : "tfl.RELU", stem: `${stem}_extra_relu` };
  if (dialect === "onnx") {
    return {
      op: "Transpose",
      stem: `${stem}_extra_transpose`,
      attrs: { perm: { type: "ints", value: [0, 1, 3, 2] } },
    };
  }
  const perm = freshName(g, `${stem}_extra_transpose_perm`);
  return {
    op: "tfl.TRANSPOSE",
    stem: `${stem}_extra_transpose`,
    extraInputs: [perm],
    constants: { [perm]: intConstant("i32", [4], [0, 2, 1, 3]) },
  };
}

defineKind({
  name: "node-inserted",
  class: "graph",
  targets:
    "an extra node after a layer: an activation where there was none, or a transpose of square feature maps' rows and columns",
  dialects: ["onnx", "tfl"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    const cands: { n: Node; what: "relu" | "transpose" }[] = [];
    for (const n of graph.nodes) {
      const v = n.outputs[0];
      if (!v || graph.outputs.includes(v) || usersOf(graph, v).length === 0 || dtypeOf(graph, v) !== "f32") {
        continue;
      }
      const s = shapeOf(graph, v);
      if (!s || s.length === 0) continue;
      if (!nonNegative(graph, v) && !clampedReaders(graph, v)) cands.push({ n, what: "relu" });
      // Rows and columns of a square map: NCHW axes 2 and 3, NHWC axes 1 and 2.
      const [h, w] = ctx.dialect === "onnx" ? [s[2], s[3]] : [s[1], s[2]];
      if (s.length === 4 && h === w && h > 1) cands.push({ n, what: "transpose" });
    }
    const cand = pick(rng, cands.filter((x) => !ctx.avoid.has(`${x.n.id}:${x.what}`)));
    if (!cand) return undefined;
    const { n, what } = cand;
    const v = n.outputs[0];
    const r = insertChain(graph, ctx.dialect, v, [insertion(ctx.dialect, graph, what, n.id)]);
    return {
      graph: r.graph,
      target: `${n.id}:${what}`,
      record: {
        node: nodeRef(r.inserted[0]),
        description: `${r.inserted[0].op} ${r.inserted[0].id} inserted after ${n.op} ${n.id} (${
          what === "relu" ? "an activation where there was none" : "feature map rows and columns swapped"
        })`,
        changes: r.changes,
        params: { after: nodeRef(n), inserted: what },
      },
    };
  },
});

defineKind({
  name: "nodes-reordered",
  class: "graph",
  targets:
    "two adjacent single-input nodes (the second the first's only reader) run in the other order, where the types still fit",
  dialects: ["onnx", "tfl"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    const pairs: [Node, Node][] = [];
    for (const p of graph.nodes) {
      const v = p.outputs[0];
      if (
        ctx.avoid.has(p.id) || !v || p.outputs.length !== 1 || graph.outputs.includes(v) ||
        subgraphsOf(p).length
      ) continue;
      const users = usersOf(graph, v);
      if (users.length !== 1 || users[0].outputs.length !== 1 || subgraphsOf(users[0]).length) continue;
      const u = users[0];
      if (
        soleDataInput(graph, p) === undefined || soleDataInput(graph, u) === undefined ||
        u.inputs.filter((x) => x === v).length !== 1
      ) continue;
      if (u.inputs[soleDataInput(graph, u)!] !== v) continue;
      pairs.push([p, u]);
    }
    return firstValid(rng, pairs, ([p, u]) => reorder(graph, ctx, p, u));
  },
});

/**
 * P → U becomes U → P: U reads P's old data input and writes P's old output name; P reads that and writes
 * U's output, so readers downstream are untouched. In TFLite an operator's id is its first output, so the
 * two ids trade places with the outputs.
 */
function reorder(g: Graph, ctx: MutateContext, p: Node, u: Node): MutationResult {
  const x = p.inputs[soleDataInput(g, p)!]!;
  const mid = p.outputs[0];
  const uIn = u.inputs.map((v) => (v === mid ? x : v));
  const pIn = p.inputs.map((v) => (v === x ? mid : v));
  const u2: Node = { ...u, inputs: uIn, outputs: [mid], ...(ctx.dialect === "tfl" ? { id: p.id } : {}) };
  const p2: Node = {
    ...p,
    inputs: pIn,
    outputs: [...u.outputs],
    ...(ctx.dialect === "tfl" ? { id: u.id } : {}),
  };
  const pi = g.nodes.indexOf(p), ui = g.nodes.indexOf(u);
  const out = produce(g, (d) => {
    const nodes = d.nodes as Node[];
    nodes[pi] = u2 as Node;
    nodes[ui] = p2 as Node;
    // The middle value now holds U's result: its type is inferred again.
    delete (d.values as Record<string, ValueInfo>)[mid];
  });
  const changes: Change[] = [{
    type: "reorder",
    before: [nodeRef(p), nodeRef(u)],
    after: [nodeRef(u2), nodeRef(p2)],
  }];
  return {
    graph: out,
    target: p.id,
    record: {
      node: nodeRef(p),
      description:
        `${p.op} ${p.id} and ${u.op} ${u.id} reordered: ${u.op} now reads ${x}, ${p.op} reads its result`,
      changes,
      params: { first: p.op, second: u.op },
    },
  };
}
