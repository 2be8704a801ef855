/**
 * Parameter repairs (FetaFix's `replace_params`): a layer's weights, bias or other constant operand takes
 * the source's numbers, rewritten in the target's layout (OIHW ↔ OHWI, depthwise [C,1,kH,kW] ↔ [1,kH,kW,C],
 * Gemm/MatMul [K,N] ↔ FULLY_CONNECTED [N,K], per-channel constants NCHW ↔ NHWC). A source convolution
 * followed by a BatchNormalization that the target folded gets the normalization folded into the copy.
 * Weights stored in fp16 or int8 behind a DEQUANTIZE or Cast become float32 constants, which is also how
 * precision faults are repaired (precision.ts).
 */
import type { Constant } from "../../ir/constant.ts";
import type { Node } from "../../ir/graph.ts";
import { usersOf } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import type { Dim } from "../../ir/value-type.ts";
import { constantSource } from "../diff/constant-source.ts";
import { inferRelation, toTargetOrder } from "../diff/layout-relation.ts";
import type { Finding } from "../diff/localize.ts";
import { canonicalParams, type ParamTensor } from "../diff/params.ts";
import { realValues } from "../diff/real-values.ts";
import type { Editor } from "./edit.ts";
import { findingEvents, findNode, type Fix, type FixMaker, repair, type RepairContext } from "./rule.ts";
import { sameDims, squeezed, staticShapeOf, toStored, weightSlot } from "./weight-layout.ts";

export function f32Constant(shape: readonly number[], data: Float32Array): Constant {
  return {
    dtype: "f32",
    shape: [...shape],
    bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

/** γ/√(σ²+ε) and β − μ·γ/√(σ²+ε) of a BatchNormalization the target folded into the layer before it. */
function foldedNormalization(
  ctx: RepairContext,
  s: Node,
): { scale: Float64Array; shift: Float64Array; node: string } | undefined {
  if (ctx.sameDialect) return undefined;
  const g = ctx.reference;
  const users = usersOf(g, s.outputs[0]);
  if (users.length !== 1 || users[0].op !== "BatchNormalization") return undefined;
  const bn = users[0];
  const ev = ctx.match.sourceEvents.events.find((e) => e.node === bn);
  if (!ev || ctx.match.sourceToTarget.has(ev.index)) return undefined;
  const vals = [1, 2, 3, 4].map((i) => constantSource(g, bn.inputs[i]));
  if (vals.some((v) => !v)) return undefined;
  const [gamma, beta, mean, variance] = vals.map((v) => realValues(v!.tensor));
  const eps = Number(resolveAttrs(bn).epsilon ?? 1e-5);
  const scale = new Float64Array(gamma.length), shift = new Float64Array(gamma.length);
  for (let c = 0; c < gamma.length; c++) {
    scale[c] = gamma[c] / Math.sqrt(variance[c] + eps);
    shift[c] = beta[c] - mean[c] * scale[c];
  }
  return { scale, shift, node: bn.id };
}

/** The source's weights or bias for a target layer, canonical and with a folded normalization applied. */
function sourceParam(
  ctx: RepairContext,
  s: Node,
  what: "weights" | "bias",
  outChannels: number,
): { data: Float64Array; shape: readonly number[]; from: string } | undefined {
  const p = canonicalParams(ctx.reference, s);
  const fold = s.op === "ConvTranspose" ? undefined : foldedNormalization(ctx, s);
  const x: ParamTensor | undefined = p[what];
  if (what === "weights") {
    if (!x) return undefined;
    if (!fold || fold.scale.length !== x.shape[0]) return { data: x.data, shape: x.shape, from: x.value };
    const per = x.data.length / x.shape[0];
    const data = new Float64Array(x.data.length);
    for (let i = 0; i < data.length; i++) data[i] = x.data[i] * fold.scale[Math.floor(i / per)];
    return { data, shape: x.shape, from: `${x.value} with ${fold.node} folded in` };
  }
  const n = x ? x.data.length : fold ? fold.scale.length : outChannels;
  const data = x ? Float64Array.from(x.data) : new Float64Array(n);
  if (fold && fold.scale.length === n) {
    for (let c = 0; c < n; c++) data[c] = data[c] * fold.scale[c] + fold.shift[c];
  }
  return {
    data,
    shape: [n],
    from: x
      ? `${x.value}${fold ? ` with ${fold.node} folded in` : ""}`
      : fold
      ? `${fold.node} (folded)`
      : "zeros (the source has no bias)",
  };
}

/** A fix that gives target layer `t` the reference layer `s`'s weights or bias in `t`'s layout. */
export function copyParamFix(
  ctx: RepairContext,
  s: Node,
  t: Node,
  what: "weights" | "bias",
  fix: FixMaker,
): Fix | undefined {
  const slot = weightSlot(t);
  if (!slot) return undefined;
  const pos = what === "weights" ? slot.weights : slot.bias;
  if (pos === undefined) return undefined;
  const wShape = staticShapeOf(ctx.target, t.inputs[slot.weights]);
  const outChannels = wShape ? outChannelsOf(t, wShape) : 0;
  const src = sourceParam(ctx, s, what, outChannels);
  if (!src) return undefined;
  let storedShape = staticShapeOf(ctx.target, t.inputs[pos]);
  if (what === "bias") {
    if (!storedShape) storedShape = [src.data.length];
    if (src.data.length !== storedShape.reduce((p, d) => p * d, 1)) return undefined;
    const data = Float32Array.from(src.data);
    return fix(
      `${t.op} ${t.id}: bias from ${src.from}`,
      (ed) =>
        ed.setConstantOperand(t.id, pos, f32Constant(storedShape!, data), {
          from: src.from,
          transform: "copied",
        }),
    );
  }
  if (!storedShape) return undefined;
  const stored = toStored(src.data, src.shape, slot, storedShape);
  if (!stored) return undefined;
  return fix(
    `${t.op} ${t.id}: weights from ${s.op} ${s.id} (${stored.transform})`,
    (ed) =>
      ed.setConstantOperand(t.id, pos, f32Constant(storedShape!, stored.data), {
        from: src.from,
        transform: stored.transform,
      }),
  );
}

function outChannelsOf(t: Node, w: readonly number[]): number {
  switch (t.op) {
    case "tfl.DEPTHWISE_CONV_2D":
      return w[3];
    case "tfl.TRANSPOSE_CONV":
      return w[0];
    case "ConvTranspose":
      return w[1] * Number(resolveAttrs(t).group ?? 1);
    case "Gemm":
      return resolveAttrs(t).transB ? w[0] : w[w.length - 1];
    default:
      return w[0];
  }
}

/**
 * A fix that gives the target operand `targetValue` of `t` the numbers of the reference's `sourceValue`,
 * in the target's shape (same order modulo unit dims, else through the layout relation of the two).
 */
export function copyOperandFix(
  ctx: RepairContext,
  t: Node,
  sourceValue: string,
  targetValue: string,
  fix: FixMaker,
  hint?: readonly number[],
): Fix | undefined {
  const src = constantSource(ctx.reference, sourceValue);
  if (!src || src.tensor.dtype === "string") return undefined;
  const positions = t.inputs.map((v, i) => (v === targetValue ? i : -1)).filter((i) => i >= 0);
  if (!positions.length) return undefined;
  const tShape = staticShapeOf(ctx.target, targetValue) ?? [...src.tensor.shape];
  const sShape = src.tensor.shape;
  let data = realValues(src.tensor);
  let transform = "copied";
  if (!sameDims(squeezed(sShape), squeezed(tShape))) {
    const rel = inferRelation(sShape as readonly Dim[], tShape as readonly Dim[], hint);
    if (!rel || data.length !== tShape.reduce((p, d) => p * d, 1)) return undefined;
    data = toTargetOrder(data, sShape, rel, tShape);
    transform = rel.kind === "perm" ? `reordered (axes ${rel.perm.join(",")})` : "reshaped";
  }
  const tt = ctx.target.values[targetValue]?.type;
  const dtype = tt?.kind === "tensor" && typeof tt.dtype === "string" ? tt.dtype : "f32";
  const c = numbersConstant(dtype, tShape, data);
  if (!c) return undefined;
  return fix(`${t.op} ${t.id}: operand ${targetValue} from ${sourceValue}`, (ed: Editor) => {
    for (const i of positions) ed.setConstantOperand(t.id, i, c, { from: sourceValue, transform });
  });
}

/** A constant of a float or integer type from numbers (float16/bfloat16 operands become float32). */
export function numbersConstant(
  dtype: string,
  shape: readonly number[],
  data: ArrayLike<number>,
): Constant | undefined {
  switch (dtype) {
    case "f32":
    case "f16":
    case "bf16":
    case "f64":
      return f32Constant(shape, Float32Array.from(data));
    case "i32":
      return { dtype: "i32", shape: [...shape], bytes: new Uint8Array(Int32Array.from(data).buffer) };
    case "i64":
      return {
        dtype: "i64",
        shape: [...shape],
        bytes: new Uint8Array(BigInt64Array.from(Array.from(data), (v) => BigInt(Math.round(v))).buffer),
      };
    case "i8":
      return { dtype: "i8", shape: [...shape], bytes: new Uint8Array(Int8Array.from(data).buffer) };
    case "u8":
    case "bool":
      return { dtype, shape: [...shape], bytes: Uint8Array.from(data) };
  }
  return undefined;
}

function weightsOrBias(f: Finding): "weights" | "bias" | undefined {
  if (/^(fp16|bf16|int8)-weights$|^weights(-layout|-shape)?$/.test(f.fault)) return "weights";
  if (/^(fp16|bf16|int8)-bias$|^bias(-layout|-shape)?$/.test(f.fault)) return "bias";
  return undefined;
}

/** Copies the reference layer's weights or bias into the target layer. */
export function paramFixes(f: Finding, ctx: RepairContext, fix: FixMaker): (Fix | undefined)[] {
  const what = weightsOrBias(f);
  const s = findNode(ctx.reference, f.sourceNode), t = findNode(ctx.target, f.targetNode);
  if (!what || !s || !t) return [];
  return [copyParamFix(ctx, s, t, what, fix)];
}

export const copyWeights = repair(
  "copy-weights",
  "parameters",
  ["weights", "weights-layout", "weights-shape", "bias", "bias-layout", "bias-shape"],
  paramFixes,
);

/** A constant operand (BatchNormalization statistics, a per-channel Mul or Add, PRelu's slope, Clip bounds). */
export const copyConstant = repair("copy-constant", "parameters", ["constant"], (f, ctx, fix) => {
  const t = findNode(ctx.target, f.targetNode);
  const d = f.evidence.detail as { source?: string; target?: string } | undefined;
  if (!t || !d?.source || !d.target) return [];
  const hint = findingEvents(f, ctx).pair?.hint;
  return [copyOperandFix(ctx, t, d.source, d.target, fix, hint)];
});
