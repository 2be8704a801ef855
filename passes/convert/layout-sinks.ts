/**
 * More places a Transpose can sink through, beside those in passes/layout-propagation.ts, so the
 * transposes converters put around every NHWC op meet their inverses: Clip (scalar bounds), Softmax (the
 * axis moves), reductions
 * (axes move; without keepdims the surviving axes keep a residual permutation), Pad (pads move), binary ops
 * against a broadcast scalar, an inverse pair whose inner Transpose has other users, and a Transpose that only moves size-1 dims, which is a Reshape (no data moves,
 * and reshape chains fold). QuantizeLinear and DequantizeLinear are elementwise: a transpose passes through
 * a per-tensor pair unchanged and moves a per-axis one's axis, so the transposes around layers of a QDQ
 * graph cancel across the pairs between them.
 */
import { numbersConstant } from "../../ir/builder.ts";
import { constantNumbers } from "../../ir/constant-values.ts";
import { type Graph, graphIndex, type Node, type ValueInfo } from "../../ir/graph.ts";
import { eliminateCommonSubexpressions } from "../cse.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import { isStaticShape } from "../../ir/value-type.ts";
import { layoutRules } from "../layout-propagation.ts";
import { P, tensorTypeOf, type ValueRef } from "../pattern.ts";
import { noopRules } from "../remove-noops.ts";
import { applyRules, type Rewriter, rule } from "../rewrite.ts";

const REDUCE = [
  "ReduceMean",
  "ReduceMax",
  "ReduceMin",
  "ReduceSum",
  "ReduceProd",
  "ReduceSumSquare",
  "ReduceL1",
  "ReduceL2",
];
const BINARY = ["Add", "Sub", "Mul", "Div", "Max", "Min", "Pow"];

const rankOf = (v: ValueRef) => tensorTypeOf(v)?.shape?.length;
/** An absent or empty perm reverses the axes. */
function permOf(t: Node, rank: number): number[] {
  const p: number[] | undefined = resolveAttrs(t).perm;
  return p?.length ? p : Array.from({ length: rank }, (_, i) => rank - 1 - i);
}
const isScalarLike = (v: ValueRef | undefined) => {
  const s = v ? tensorTypeOf(v)?.shape : undefined;
  return !!s && s.every((d) => d === 1);
};

function sinkClip({ x, t, lo, hi, c }: any, rw: Rewriter) {
  const rank = rankOf(x);
  if (rank === undefined || (lo && !isScalarLike(lo)) || (hi && !isScalarLike(hi))) return undefined;
  const inner = rw.op1("Clip", [x, lo ?? null, hi ?? null], c.attrs);
  return rw.op1("Transpose", [inner], { perm: permOf(t, rank) });
}

function sinkReduce({ x, t, axes, r }: any, rw: Rewriter) {
  const rank = rankOf(x);
  const at = resolveAttrs(r);
  if (rank === undefined || at.noop_with_empty_axes) return undefined;
  const p = permOf(t, rank);
  const given = axes
    ? constantNumbers(axes.constant).map((v) => (v < 0 ? v + rank : v))
    : Array.from({ length: rank }, (_, i) => i);
  const reduced = new Set(given.map((a) => p[a]));
  const inner = rw.op1(r.op, [
    x,
    rw.constant(`${r.id}_axes`, numbersConstant("i64", [reduced.size], [...reduced].sort((a, b) => a - b))),
  ], r.attrs);
  if (at.keepdims ?? 1) return rw.op1("Transpose", [inner], { perm: p });
  // Without keepdims: output axis k is the k-th kept axis of the transposed view, p[keptY[k]] of x.
  const keptY = p.map((_, j) => j).filter((j) => !given.includes(j));
  const keptX = Array.from({ length: rank }, (_, i) => i).filter((i) => !reduced.has(i));
  const q = keptY.map((j) => keptX.indexOf(p[j]));
  return q.every((v, i) => v === i) ? inner : rw.op1("Transpose", [inner], { perm: q });
}

function sinkPad({ x, t, pads, value, pad }: any, rw: Rewriter) {
  const rank = rankOf(x);
  if (rank === undefined) return undefined;
  const p = permOf(t, rank);
  const old = constantNumbers(pads.constant);
  if (old.length !== 2 * rank) return undefined;
  const moved = new Array<number>(2 * rank);
  for (let j = 0; j < rank; j++) {
    moved[p[j]] = old[j];
    moved[p[j] + rank] = old[j + rank];
  }
  const inner = rw.op1("Pad", [
    x,
    rw.constant(`${pad.id}_pads`, numbersConstant("i64", [2 * rank], moved)),
    value ?? null,
  ], pad.attrs);
  return rw.op1("Transpose", [inner], { perm: p });
}

function sinkBinaryScalar({ x, t, s, b }: any, rw: Rewriter, transposedFirst: boolean) {
  const rank = rankOf(x);
  const sr = rankOf(s);
  if (rank === undefined || sr === undefined || sr > rank || !isScalarLike(s)) return undefined;
  const inner = rw.op1(b.op, transposedFirst ? [x, s] : [s, x], b.attrs);
  return rw.op1("Transpose", [inner], { perm: permOf(t, rank) });
}

/** Softmax normalizes along one axis, which the permutation names. */
function sinkSoftmax({ x, t, s }: any, rw: Rewriter) {
  const rank = rankOf(x);
  if (rank === undefined) return undefined;
  const p = permOf(t, rank);
  const a: number = resolveAttrs(s).axis ?? -1;
  const inner = rw.op1(s.op, [x], { ...s.attrs, axis: { type: "int", value: p[a < 0 ? a + rank : a] } });
  return rw.op1("Transpose", [inner], { perm: p });
}

/** Q/DQ per tensor, or per axis (the axis follows the permutation); blocked quantization stays. */
function sinkQdq({ x, t, s, z, q }: any, rw: Rewriter) {
  const rank = rankOf(x);
  const at = resolveAttrs(q);
  if (rank === undefined || at.block_size) return undefined;
  const p = permOf(t, rank);
  const attrs = { ...q.attrs };
  if (!isScalarLike(s) || (z && !isScalarLike(z))) {
    if (rankOf(s) !== 1) return undefined;
    const a: number = at.axis ?? 1;
    attrs.axis = { type: "int", value: p[a < 0 ? a + rank : a] };
  }
  const inner = rw.op1(q.op, [x, s, z ?? null], attrs);
  return rw.op1("Transpose", [inner], { perm: p });
}

/** A Transpose that keeps every dim larger than 1 in order moves no data. */
function unitTranspose({ x, t }: any, rw: Rewriter) {
  const shape = tensorTypeOf(x)?.shape;
  if (!isStaticShape(shape)) return undefined;
  const p = permOf(t, shape.length);
  const order = p.filter((i) => shape[i] !== 1);
  if (order.some((v, i) => i > 0 && v < order[i - 1])) return undefined;
  if (p.every((v, i) => v === i)) return x;
  const out = p.map((i) => shape[i]);
  return rw.op1("Reshape", [x, rw.constant(`${t.id}_shape`, numbersConstant("i64", [out.length], out))]);
}

/**
 * A Transpose of a Transpose that undoes it reads the original value, even when the inner one has other
 * users (a residual branch): the inner one stays for them, and one transpose is saved.
 */
function inversePair({ x, t1, t2 }: any) {
  const rank = rankOf(x);
  if (rank === undefined) return undefined;
  const p1 = permOf(t1, rank), p2 = permOf(t2, rank);
  return p2.every((v, i) => p1[v] === i) ? x : undefined;
}

const transposed = (name: string) => P.Transpose(P.var("x")).as(name).oneUse();

export const layoutSinkRules = [
  rule("inverse-transpose-pair", P.Transpose(P.Transpose(P.var("x")).as("t1")).as("t2"), inversePair),
  rule("sink-clip", P.Clip(transposed("t"), P.opt(P.var("lo")), P.opt(P.var("hi"))).as("c"), sinkClip),
  rule("sink-reduce", P.op(REDUCE, [transposed("t"), P.opt(P.const("axes"))]).as("r"), sinkReduce),
  rule("sink-softmax", P.op(["Softmax", "LogSoftmax"], [transposed("t")]).as("s"), sinkSoftmax),
  rule(
    "sink-qdq",
    P.op(["QuantizeLinear", "DequantizeLinear"], [transposed("t"), P.var("s"), P.opt(P.var("z"))]).as("q"),
    sinkQdq,
  ),
  rule("sink-pad", P.Pad(transposed("t"), P.const("pads"), P.opt(P.const("value"))).as("pad"), sinkPad),
  rule(
    "sink-binary-scalar-rhs",
    P.op(BINARY, [transposed("t"), P.var("s")]).as("b"),
    (c, rw) => sinkBinaryScalar(c, rw, true),
  ),
  rule(
    "sink-binary-scalar-lhs",
    P.op(BINARY, [P.var("s"), transposed("t")]).as("b"),
    (c, rw) => sinkBinaryScalar(c, rw, false),
  ),
];

/** Run after sinking: as a Reshape, a unit-dim Transpose could no longer pair with its inverse. */
export const unitTransposeRule = rule(
  "unit-transpose-as-reshape",
  P.Transpose(P.var("x")).as("t"),
  unitTranspose,
);

/**
 * Gives each user of a Transpose with several users its own copy, so every copy can sink (or cancel) along
 * its own path; copies that end up next to each other again merge in CSE.
 */
export function splitSharedTransposes(g: Graph): Graph {
  const ix = graphIndex(g);
  const outputs = new Set(g.outputs);
  const nodes: Node[] = [];
  const values: Record<string, ValueInfo> = { ...g.values };
  const redirect = new Map<Node, Map<string, string>>();
  let changed = false;
  for (const n of g.nodes) {
    const users = ix.users.get(n.outputs[0]) ?? [];
    const map = redirect.get(n);
    const node = map ? { ...n, inputs: n.inputs.map((i) => (i && map.has(i) ? map.get(i)! : i)) } : n;
    nodes.push(node);
    if (n.op !== "Transpose" || users.length + (outputs.has(n.outputs[0]) ? 1 : 0) < 2) continue;
    const distinct = [...new Set(users)];
    distinct.slice(outputs.has(n.outputs[0]) ? 0 : 1).forEach((u, k) => {
      let name = `${n.outputs[0]}_copy${k}`;
      for (let j = 0; name in values; j++) name = `${n.outputs[0]}_copy${k}_${j}`;
      values[name] = g.values[n.outputs[0]];
      nodes.push({ ...node, id: `${n.id}_copy${k}_${nodes.length}`, outputs: [name] });
      const m = redirect.get(u) ?? new Map<string, string>();
      m.set(n.outputs[0], name);
      redirect.set(u, m);
      changed = true;
    });
  }
  if (!changed) return g;
  // Users come after their producer, so every redirect was applied when the user was pushed.
  return { ...g, nodes, values };
}

const countTransposes = (g: Graph) => g.nodes.filter((n) => n.op === "Transpose").length;

/** Layout propagation with the extra sinks: split shared transposes, sink, merge, until no transpose goes. */
export function propagateLayout(g: Graph): Graph {
  const rules = [...layoutRules, ...layoutSinkRules, ...noopRules];
  const round = (x: Graph) =>
    eliminateCommonSubexpressions(applyRules(splitSharedTransposes(x), rules, { driver: "greedy" }).graph);
  let cur = round(g);
  for (let k = 0; k < 4; k++) {
    const next = round(cur);
    if (countTransposes(next) >= countTransposes(cur)) break;
    cur = next;
  }
  return eliminateCommonSubexpressions(
    applyRules(cur, [unitTransposeRule, ...noopRules], { driver: "greedy" }).graph,
  );
}
