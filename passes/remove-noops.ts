/**
 * Removal of operations that do nothing at inference: identities, dropout, reshape chains and reshapes to
 * the same shape, inverse transpose pairs, casts to the type a value already has and cast chains through a
 * wider type, squeeze of an unsqueeze on the same axes. Each rule's conditions sit in its pattern, so
 * `--explain` says why a node was left alone.
 */
import { constantNumbers } from "../ir/constant-values.ts";
import { printDType } from "../ir/dtype.ts";
import { graphIndex, type Node } from "../ir/graph.ts";
import { resolveAttrs } from "../ir/op-registry.ts";
import { dtypeOfTensorProtoCode } from "../ir/ops/tensor-proto-dtype.ts";
import type { Dim } from "../ir/value-type.ts";
import { type MatchContext, P, tensorTypeOf, type ValueRef } from "./pattern.ts";
import { graphPass, registerPass } from "./pass-manager.ts";
import { applyRules, rule } from "./rewrite.ts";

const shapeOf = (v: ValueRef): readonly Dim[] | undefined => tensorTypeOf(v)?.shape;
const sameStaticShape = (a: readonly Dim[] | undefined, b: readonly Dim[] | undefined) =>
  !!a && !!b && a.length === b.length && a.every((d, i) => typeof d === "number" && d === b[i]);
const dt = (v: ValueRef) => {
  const t = tensorTypeOf(v);
  return t ? printDType(t.dtype) : undefined;
};
const outShape = (n: Node, ctx: MatchContext) => {
  const t = ctx.graph.values[n.outputs[0]]?.type;
  return t?.kind === "tensor" ? t.shape : undefined;
};
const castTo = (c: Node) => dtypeOfTensorProtoCode(resolveAttrs(c).to);

/** Element types that hold every value of `from` exactly. */
const WIDER: Record<string, readonly string[]> = {
  f16: ["f32", "f64"],
  bf16: ["f32", "f64"],
  f32: ["f64"],
  i8: ["i16", "i32", "i64", "f16", "f32", "f64"],
  u8: ["i16", "u16", "i32", "u32", "i64", "u64", "f16", "f32", "f64"],
  i16: ["i32", "i64", "f32", "f64"],
  u16: ["i32", "u32", "i64", "u64", "f32", "f64"],
  i32: ["i64", "f64"],
  u32: ["i64", "u64", "f64"],
  bool: ["i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64", "f16", "bf16", "f32", "f64"],
};
const FLOATS = new Set(["f16", "bf16", "f32", "f64"]);

/**
 * Cast(Cast(x, mid), to) equals Cast(x, to) when mid holds x exactly, except that an integer taken through
 * a float to an integer that cannot hold it converts out-of-range floats (undefined in ONNX) where the
 * direct cast wraps.
 */
function castChainExact(
  from: string | undefined,
  mid: string | undefined,
  to: string | undefined,
): true | string {
  if (!from || !mid || !to) return "an element type is unknown";
  if (from === "string" || to === "string") return "string casts parse or format";
  if (!(WIDER[from] ?? []).includes(mid)) return `${mid} does not hold every ${from} value`;
  const intFrom = !FLOATS.has(from) && from !== "bool", intTo = !FLOATS.has(to) && to !== "bool";
  if (intFrom && FLOATS.has(mid) && intTo && to !== from && !(WIDER[from] ?? []).includes(to)) {
    return `${from} through ${mid} to ${to} converts out-of-range floats where the direct cast wraps`;
  }
  return true;
}

function composePerm(p1: readonly number[], p2: readonly number[]): number[] {
  return p2.map((i) => p1[i]);
}
/** An absent or empty perm reverses the axes. */
function permOf(t: Node, rank: number | undefined): number[] | undefined {
  const p: number[] | undefined = resolveAttrs(t).perm;
  if (p?.length) return p;
  return rank === undefined ? undefined : Array.from({ length: rank }, (_, i) => rank - 1 - i);
}

/** Dropout is the identity unless training_mode may be true or the mask is read. */
function inferenceDropout(d: Node, ctx: MatchContext): true | string {
  const tm = d.inputs[2];
  if (tm) {
    const c = ctx.graph.constants[tm];
    if (!c || ctx.graph.inputs.includes(tm)) return "training_mode is not a constant";
    if (constantNumbers(c).some((v) => v !== 0)) return "training_mode is true";
  }
  const mask = d.outputs[1];
  if (mask && ((graphIndex(ctx.graph).users.get(mask)?.length ?? 0) > 0 || ctx.outputs.has(mask))) {
    return "the mask output is used";
  }
  return true;
}

function axesOf(c: ValueRef, rank: number): string | undefined {
  if (!c.constant || (c.constant.dtype !== "i64" && c.constant.dtype !== "i32")) return undefined;
  const axes = constantNumbers(c.constant);
  if (axes.some((a) => a < -rank || a >= rank)) return undefined;
  return axes.map((a) => (a < 0 ? a + rank : a)).sort((a, b) => a - b).join();
}

export const noopRules = [
  rule("identity", P.Identity(P.var("x")), ({ x }) => x),
  rule(
    "dropout",
    P.op("Dropout", [P.var("x")]).rest().as("d").where(({ d }, ctx) => inferenceDropout(d, ctx)),
    ({ x }) => x,
  ),
  rule(
    "reshape-chain",
    P.Reshape(P.Reshape(P.var("x"), P.any()).oneUse(), P.const("s")).as("r").where(({ r, s }) => {
      if (resolveAttrs(r).allowzero) return "allowzero is set";
      // A 0 copies a dimension of the inner Reshape's output, which x does not have.
      return constantNumbers(s.constant!).includes(0)
        ? "the shape copies a dimension (0) from its input"
        : true;
    }),
    ({ x, s }, b) => b.op1("Reshape", [x, s]),
  ),
  rule(
    "reshape-same-shape",
    P.Reshape(P.var("x"), P.any()).as("r").where(
      ({ x, r }, ctx) => sameStaticShape(shapeOf(x), outShape(r, ctx)),
      "input and output shapes differ or are not static",
    ),
    ({ x }) => x,
  ),
  rule(
    "transpose-pair",
    P.Transpose(P.Transpose(P.var("x")).as("t1").oneUse()).as("t2").where(
      ({ x, t1 }) => permOf(t1, shapeOf(x)?.length) !== undefined,
      "the rank is unknown and a perm is implicit",
    ),
    ({ x, t1, t2 }, b) => {
      const p1 = permOf(t1, shapeOf(x)?.length)!;
      const p = composePerm(p1, permOf(t2, p1.length)!);
      return p.every((v, i) => v === i) ? x : b.op1("Transpose", [x], { perm: p });
    },
  ),
  rule(
    "transpose-identity",
    P.Transpose(P.var("x")).as("t").where(({ x, t }) => {
      const perm = permOf(t, shapeOf(x)?.length);
      return !!perm && perm.every((v, i) => v === i);
    }, "perm is not the identity"),
    ({ x }) => x,
  ),
  rule(
    "cast-same-type",
    P.Cast(P.var("x")).as("c").where(({ x, c }) => {
      const to = castTo(c), from = dt(x);
      return !!to && to === from ? true : `casts ${from ?? "?"} to ${to ?? `code ${resolveAttrs(c).to}`}`;
    }),
    ({ x }) => x,
  ),
  rule(
    "cast-through-wider",
    P.Cast(P.Cast(P.var("x")).as("c1").oneUse()).as("c2").where(({ x, c1, c2 }) =>
      castChainExact(dt(x), castTo(c1), castTo(c2))
    ),
    ({ x, c2 }, b) => (castTo(c2) === dt(x) ? x : b.op1("Cast", [x], { to: resolveAttrs(c2).to })),
  ),
  rule(
    "squeeze-unsqueeze",
    P.Squeeze(P.Unsqueeze(P.var("x"), P.const("a1")).oneUse(), P.const("a2")).where(({ x, a1, a2 }) => {
      const r = shapeOf(x)?.length;
      if (r === undefined) return "the rank of x is unknown";
      const rank = r + a1.constant!.shape.reduce((p, d) => p * d, 1);
      const u = axesOf(a1, rank), s = axesOf(a2, rank);
      if (u === undefined || s === undefined) return "axes are not valid integer constants";
      return u === s ? true : `unsqueeze axes [${u}] differ from squeeze axes [${s}]`;
    }),
    ({ x }) => x,
  ),
];

export const removeNoops = registerPass(graphPass(
  "remove-noops",
  "remove identities, dropout, reshape chains, inverse transposes, no-op casts",
  (g) => applyRules(g, noopRules, { driver: "greedy" }).graph,
  { rules: noopRules },
));
