/**
 * Layout propagation between NCHW and NHWC: Transposes sink through ops that do not care about layout
 * (elementwise ops, binary ops against constants, which take the permutation onto their constant, and
 * Concat, whose axis moves) until they meet their inverse and cancel. Converters insert a transpose pair
 * around every layout-sensitive op; this pass removes the pairs between neighbours.
 */
import { resolveAttrs } from "../ir/op-registry.ts";
import { invertPerm, permuteConstant } from "./constant-permute.ts";
import { P, tensorTypeOf, type ValueRef } from "./pattern.ts";
import { graphPass, registerPass } from "./pass-manager.ts";
import { noopRules } from "./remove-noops.ts";
import { applyRules, type Rewriter, rule } from "./rewrite.ts";

const UNARY = ["Relu", "Sigmoid", "Tanh", "Abs", "Neg", "Exp", "Log", "Sqrt", "Erf", "LeakyRelu", "Elu", "Selu", "Softplus", "HardSigmoid", "HardSwish", "Cast", "Identity", "Floor", "Ceil", "Round", "Reciprocal", "Sign", "Mish", "Gelu"];
const BINARY = ["Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "PRelu"];

const permOf = (t: { attrs: any }, rank: number): number[] => resolveAttrs(t as any).perm ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);

function sinkUnary({ x, t, u }: any, rw: Rewriter) {
  const rank = tensorTypeOf(x)?.shape?.length;
  if (rank === undefined) return undefined;
  const inner = rw.op1(u.op, [x, ...u.inputs.slice(1)], u.attrs);
  return rw.op1("Transpose", [inner], { perm: permOf(t, rank) });
}

/** Binary op with one transposed operand and one constant: the constant takes the inverse permutation. */
function sinkBinaryConst({ x, t, c, b }: any, rw: Rewriter, transposedFirst: boolean) {
  const rank = tensorTypeOf(x)?.shape?.length;
  const k = (c as ValueRef).constant!;
  if (rank === undefined || k.shape.length > rank) return undefined;
  const p = permOf(t, rank);
  const full = { ...k, shape: [...new Array(rank - k.shape.length).fill(1), ...k.shape] };
  const nc = k.shape.length === 0 || k.shape.every((d) => d === 1) ? c : rw.constant(`${c.name}_perm`, permuteConstant(full, invertPerm(p)));
  const inner = rw.op1(b.op, transposedFirst ? [x, nc] : [nc, x], b.attrs);
  return rw.op1("Transpose", [inner], { perm: p });
}

function sinkBinaryBoth({ x, y, t1, t2, b }: any, rw: Rewriter) {
  const rx = tensorTypeOf(x)?.shape?.length, ry = tensorTypeOf(y)?.shape?.length;
  if (rx === undefined || rx !== ry) return undefined;
  const p = permOf(t1, rx);
  if (permOf(t2, rx).join() !== p.join()) return undefined;
  return rw.op1("Transpose", [rw.op1(b.op, [x, y], b.attrs)], { perm: p });
}

export const layoutRules = [
  rule("sink-unary", P.op(UNARY, [P.Transpose(P.var("x")).as("t").oneUse()]).as("u"), sinkUnary),
  rule("sink-binary-const-rhs", P.op(BINARY, [P.Transpose(P.var("x")).as("t").oneUse(), P.const("c")]).as("b"), (c, rw) => sinkBinaryConst(c, rw, true)),
  rule("sink-binary-const-lhs", P.op(BINARY.filter((o) => o !== "PRelu"), [P.const("c"), P.Transpose(P.var("x")).as("t").oneUse()]).as("b"), (c, rw) => sinkBinaryConst(c, rw, false)),
  rule("sink-binary-both", P.op(BINARY, [P.Transpose(P.var("x")).as("t1").oneUse(), P.Transpose(P.var("y")).as("t2").oneUse()]).as("b"), sinkBinaryBoth),
  rule("sink-concat", P.Concat().rest().as("cat"), ({ cat }, rw) => {
    const producers = cat.inputs.map((v) => (v ? rw.ctx.graph.nodes.find((n) => n.outputs[0] === v) : undefined));
    if (!producers.length || producers.some((n) => !n || n.op !== "Transpose" || !n.inputs[0])) return undefined;
    const ts = producers as import("../ir/graph.ts").Node[];
    const rank = tensorTypeOf(rw.ref(ts[0].inputs[0]!))?.shape?.length;
    if (rank === undefined) return undefined;
    const p = permOf(ts[0], rank);
    if (ts.some((n) => permOf(n, rank).join() !== p.join())) return undefined;
    const axis: number = resolveAttrs(cat).axis;
    const inner = rw.op1("Concat", ts.map((n) => n.inputs[0]), { axis: p[axis < 0 ? axis + rank : axis] });
    return rw.op1("Transpose", [inner], { perm: p });
  }),
];

export const layoutPropagation = registerPass(graphPass(
  "layout-propagation",
  "sink Transposes through layout-agnostic ops and cancel inverse pairs (NCHW <-> NHWC)",
  (g) => applyRules(g, [...layoutRules, ...noopRules], { driver: "greedy" }).graph,
  { rules: layoutRules },
));
