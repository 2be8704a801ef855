/**
 * Removal of operations that do nothing at inference: identities, dropout, reshape chains and reshapes to
 * the same shape, inverse transpose pairs, casts to the type a value already has and cast chains through a
 * wider type, squeeze of an unsqueeze on the same axes.
 */
import { printDType, type DType } from "../ir/dtype.ts";
import { resolveAttrs } from "../ir/op-registry.ts";
import type { Dim } from "../ir/value-type.ts";
import { P, tensorTypeOf, type ValueRef } from "./pattern.ts";
import { graphPass, registerPass } from "./pass-manager.ts";
import { applyRules, rule } from "./rewrite.ts";

const shapeOf = (v: ValueRef): readonly Dim[] | undefined => tensorTypeOf(v)?.shape;
const sameStaticShape = (a: readonly Dim[] | undefined, b: readonly Dim[] | undefined) =>
  !!a && !!b && a.length === b.length && a.every((d, i) => typeof d === "number" && d === b[i]);
const dt = (v: ValueRef) => { const t = tensorTypeOf(v); return t ? printDType(t.dtype) : undefined; };

/** Element types that hold every value of `from` exactly. */
const WIDER: Record<string, readonly string[]> = {
  f16: ["f32", "f64"], bf16: ["f32", "f64"], f32: ["f64"], i8: ["i16", "i32", "i64", "f32", "f64"], u8: ["i16", "u16", "i32", "u32", "i64", "f32", "f64"],
  i16: ["i32", "i64", "f32", "f64"], u16: ["i32", "u32", "i64", "f32", "f64"], i32: ["i64", "f64"], u32: ["i64", "f64"], bool: ["i8", "u8", "i16", "i32", "i64", "f32", "f64"],
};
const CAST_TO: Record<number, DType> = { 1: "f32", 2: "u8", 3: "i8", 4: "u16", 5: "i16", 6: "i32", 7: "i64", 9: "bool", 10: "f16", 11: "f64", 12: "u32", 13: "u64", 16: "bf16" };

function composePerm(p1: readonly number[], p2: readonly number[]): number[] {
  return p2.map((i) => p1[i]);
}

export const noopRules = [
  rule("identity", P.Identity(P.var("x")), ({ x }) => x),
  // Training-mode dropout (a training_mode operand) or a mask output in use is not a no-op.
  rule("dropout", P.op("Dropout", [P.var("x")]).rest().as("d"), ({ x, d }) => (d.inputs[2] || d.outputs[1] ? undefined : x)),
  rule("reshape-chain", P.Reshape(P.Reshape(P.var("x"), P.any()).oneUse(), P.const("s")).as("r"), ({ x, s, r }, b) =>
    resolveAttrs(r).allowzero ? undefined : b.op1("Reshape", [x, s])),
  rule("reshape-same-shape", P.Reshape(P.var("x"), P.any()).as("r"), ({ x, r }, b) =>
    sameStaticShape(shapeOf(x), shapeOf(b.ref(r.outputs[0]))) ? x : undefined),
  rule("transpose-pair", P.Transpose(P.Transpose(P.var("x")).as("t1").oneUse()).as("t2"), ({ x, t1, t2 }, b) => {
    const rank = shapeOf(x)?.length;
    if (rank === undefined) return undefined;
    const id = Array.from({ length: rank }, (_, i) => i);
    const p1 = resolveAttrs(t1).perm ?? [...id].reverse();
    const p2 = resolveAttrs(t2).perm ?? [...id].reverse();
    const p = composePerm(p1, p2);
    return p.every((v, i) => v === i) ? x : b.op1("Transpose", [x], { perm: p });
  }),
  rule("transpose-identity", P.Transpose(P.var("x")).as("t"), ({ x, t }) => {
    const perm: number[] | undefined = resolveAttrs(t).perm;
    return perm && perm.every((v, i) => v === i) ? x : undefined;
  }),
  rule("cast-same-type", P.Cast(P.var("x")).as("c"), ({ x, c }) => (printDType(CAST_TO[resolveAttrs(c).to] ?? "string") === dt(x) ? x : undefined)),
  rule("cast-through-wider", P.Cast(P.Cast(P.var("x")).as("c1").oneUse()).as("c2"), ({ x, c1, c2 }, b) => {
    const from = dt(x), mid = CAST_TO[resolveAttrs(c1).to] as string, to = CAST_TO[resolveAttrs(c2).to] as string;
    if (!from || !mid || !to || !(WIDER[from] ?? []).includes(mid)) return undefined;
    return to === from ? x : b.op1("Cast", [x], { to: resolveAttrs(c2).to });
  }),
  rule("squeeze-unsqueeze", P.Squeeze(P.Unsqueeze(P.var("x"), P.const("a1")).oneUse(), P.const("a2")), ({ x, a1, a2 }) => {
    const rank = (shapeOf(x)?.length ?? -99) + (a1.constant!.shape[0] ?? 0);
    const norm = (v: ValueRef) => [...new BigInt64Array(v.constant!.bytes!.slice().buffer)].map((k) => (Number(k) + rank) % rank).sort().join();
    return a1.constant?.dtype === "i64" && a2.constant?.dtype === "i64" && rank > 0 && norm(a1) === norm(a2) ? x : undefined;
  }),
];

export const removeNoops = registerPass(graphPass(
  "remove-noops",
  "remove identities, dropout, reshape chains, inverse transposes, no-op casts",
  (g) => applyRules(g, noopRules, { driver: "greedy" }).graph,
  { rules: noopRules },
));
