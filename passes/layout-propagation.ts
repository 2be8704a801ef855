/**
 * Layout propagation between NCHW and NHWC: Transposes sink through ops that do not care about layout
 * (elementwise ops, binary ops against constants, which take the permutation onto their constant, and
 * Concat, whose axis moves) until they meet their inverse and cancel. Converters insert a transpose pair
 * around every layout-sensitive op; this pass removes the pairs between neighbours.
 */
import { graphIndex, type Node } from "../ir/graph.ts";
import { resolveAttrs } from "../ir/op-registry.ts";
import { invertPerm, permuteConstant } from "./constant-permute.ts";
import { type MatchContext, P, tensorTypeOf, type ValueRef } from "./pattern.ts";
import { graphPass, registerPass } from "./pass-manager.ts";
import { noopRules } from "./remove-noops.ts";
import { applyRules, type Rewriter, rule } from "./rewrite.ts";

const UNARY = [
  "Relu",
  "Sigmoid",
  "Tanh",
  "Abs",
  "Neg",
  "Exp",
  "Log",
  "Sqrt",
  "Erf",
  "LeakyRelu",
  "Elu",
  "Selu",
  "Softplus",
  "HardSigmoid",
  "HardSwish",
  "Cast",
  "Identity",
  "Floor",
  "Ceil",
  "Round",
  "Reciprocal",
  "Sign",
  "Mish",
  "Gelu",
];
const BINARY = ["Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "PRelu"];

/** An absent or empty perm reverses the axes. */
function permOf(t: Node, rank: number): number[] {
  const p: number[] | undefined = resolveAttrs(t).perm;
  return p?.length ? p : Array.from({ length: rank }, (_, i) => rank - 1 - i);
}
const rankOf = (v: ValueRef) => tensorTypeOf(v)?.shape?.length;

function sinkUnary({ x, t, u }: { x: ValueRef; t: Node; u: Node }, rw: Rewriter) {
  const inner = rw.op1(u.op, [x, ...u.inputs.slice(1)], u.attrs);
  return rw.op1("Transpose", [inner], { perm: permOf(t, rankOf(x)!) });
}

function constFits({ x, c }: { x: ValueRef; c: ValueRef }): true | string {
  const rank = rankOf(x);
  if (rank === undefined) return "the rank is unknown";
  return c.constant!.shape.length <= rank ? true : `%${c.name} has a higher rank than the transposed value`;
}

/** Binary op with one transposed operand and one constant: the constant takes the inverse permutation. */
function sinkBinaryConst(
  { x, t, c, b }: { x: ValueRef; t: Node; c: ValueRef; b: Node },
  rw: Rewriter,
  transposedFirst: boolean,
) {
  const rank = rankOf(x)!;
  const k = c.constant!;
  const p = permOf(t, rank);
  const full = { ...k, shape: [...new Array(rank - k.shape.length).fill(1), ...k.shape] };
  const nc = k.shape.every((d) => d === 1)
    ? c
    : rw.constant(`${c.name}_perm`, permuteConstant(full, invertPerm(p)));
  const inner = rw.op1(b.op, transposedFirst ? [x, nc] : [nc, x], b.attrs);
  return rw.op1("Transpose", [inner], { perm: p });
}

/** The Transposes feeding a Concat when every input is one, with one perm, and nothing else reads them. */
function concatSources(cat: Node, ctx: MatchContext): { ts: Node[]; rank: number; perm: number[] } | string {
  const ix = graphIndex(ctx.graph);
  const ts: Node[] = [];
  for (const v of cat.inputs) {
    const n = v ? ix.producer.get(v) : undefined;
    if (!n || n.op !== "Transpose" || !n.inputs[0]) return `%${v} is not a Transpose`;
    if ((ix.users.get(v!)?.length ?? 0) !== 1 || ctx.outputs.has(v!)) return `%${v} has other users`;
    ts.push(n);
  }
  if (!ts.length) return "Concat has no inputs";
  const t = ctx.graph.values[ts[0].inputs[0]!]?.type;
  const rank = t?.kind === "tensor" ? t.shape?.length : undefined;
  if (rank === undefined) return "the rank is unknown";
  const perm = permOf(ts[0], rank);
  if (ts.some((n) => permOf(n, rank).join() !== perm.join())) return "the Transposes differ";
  return { ts, rank, perm };
}

export const layoutRules = [
  rule(
    "sink-unary",
    P.op(UNARY, [P.Transpose(P.var("x")).as("t").oneUse()]).as("u").where(
      ({ x }) => rankOf(x) !== undefined,
      "the rank is unknown",
    ),
    sinkUnary,
  ),
  rule(
    "sink-binary-const-rhs",
    P.op(BINARY, [P.Transpose(P.var("x")).as("t").oneUse(), P.const("c")]).as("b").where(constFits),
    (c, rw) => sinkBinaryConst(c, rw, true),
  ),
  rule(
    "sink-binary-const-lhs",
    P.op(BINARY.filter((o) => o !== "PRelu"), [P.const("c"), P.Transpose(P.var("x")).as("t").oneUse()]).as(
      "b",
    ).where(constFits),
    (c, rw) => sinkBinaryConst(c, rw, false),
  ),
  rule(
    "sink-binary-both",
    P.op(BINARY, [P.Transpose(P.var("x")).as("t1").oneUse(), P.Transpose(P.var("y")).as("t2").oneUse()]).as(
      "b",
    ).where(({ x, y, t1, t2 }) => {
      const rx = rankOf(x);
      if (rx === undefined || rx !== rankOf(y)) return "the ranks differ or are unknown";
      return permOf(t1, rx).join() === permOf(t2, rx).join() || "the Transposes differ";
    }),
    ({ x, y, t1, b }, rw) =>
      rw.op1("Transpose", [rw.op1(b.op, [x, y], b.attrs)], { perm: permOf(t1, rankOf(x)!) }),
  ),
  rule(
    "sink-concat",
    P.Concat().rest().as("cat").where(({ cat }, ctx) => {
      const s = concatSources(cat, ctx);
      return typeof s === "string" ? s : true;
    }),
    ({ cat }, rw) => {
      const { ts, rank, perm } = concatSources(cat, rw.ctx) as { ts: Node[]; rank: number; perm: number[] };
      const axis: number = resolveAttrs(cat).axis;
      const inner = rw.op1("Concat", ts.map((n) => n.inputs[0]), {
        axis: perm[axis < 0 ? axis + rank : axis],
      });
      return rw.op1("Transpose", [inner], { perm });
    },
  ),
];

export const layoutPropagation = registerPass(graphPass(
  "layout-propagation",
  "sink Transposes through layout-agnostic ops and cancel inverse pairs (NCHW <-> NHWC)",
  (g) => applyRules(g, [...layoutRules, ...noopRules], { driver: "greedy" }).graph,
  { rules: layoutRules },
));
