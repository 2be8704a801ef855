/**
 * Sequences and optionals: construction, access, splitting a tensor into a sequence and concatenating one
 * back, mapping a body graph over sequences, and the optional wrapper ops.
 */
import type { Graph } from "../graph.ts";
import { a, defineOp, type InferContext, ins, many, opt } from "../op-registry.ts";
import { normalizeAxis } from "../shape-infer.ts";
import type { Dim, SequenceType, TensorType, ValueType } from "../value-type.ts";
import { dtypeAttr } from "./dtype-code.ts";
import { subgraphOutputType, unionType } from "./type-union.ts";

function seqInput(ctx: InferContext, i: number): SequenceType {
  const t = ctx.inputs[i];
  if (!t) ctx.fail(`input ${i} is required`);
  if (t.kind !== "sequence") ctx.fail(`input ${i} must be a sequence, is a ${t.kind}`);
  return t;
}

function elemTensor(ctx: InferContext, s: SequenceType): TensorType {
  if (s.elem.kind !== "tensor") ctx.fail("sequence elements must be tensors");
  return s.elem;
}

function seqOf(elem: ValueType): SequenceType {
  return { kind: "sequence", elem };
}

function intScalar(ctx: InferContext, i: number, what: string): void {
  const t = ctx.inputs[i];
  if (!t) return;
  if (t.kind !== "tensor" || (t.dtype !== "i64" && t.dtype !== "i32")) {
    ctx.fail(`${what} must be an i32 or i64 tensor`);
  }
}

defineOp({
  op: "SequenceEmpty",
  inputs: [],
  outputs: ins("output"),
  attrs: { dtype: a.int(1) },
  infer(ctx) {
    return [seqOf({ kind: "tensor", dtype: dtypeAttr(ctx.attrs.dtype, "dtype") })];
  },
});

defineOp({
  op: "SequenceConstruct",
  inputs: [many("inputs")],
  outputs: ins("output_sequence"),
  infer(ctx) {
    if (ctx.inputs.length === 0) ctx.fail("needs at least one input");
    let elem: ValueType | undefined = ctx.tensor(0);
    for (let i = 1; i < ctx.inputs.length; i++) {
      const u = unionType(elem, ctx.tensor(i), () => ctx.fresh());
      if (!u) return ctx.fail(`input ${i} has a different element type`);
      elem = u;
    }
    return [seqOf(elem!)];
  },
});

defineOp({
  op: "SequenceInsert",
  inputs: ins("input_sequence", "tensor", opt("position")),
  outputs: ins("output_sequence"),
  infer(ctx) {
    const s = seqInput(ctx, 0);
    intScalar(ctx, 2, "position");
    // An empty sequence's element type has no shape, so inserting keeps it unknown, as ONNX does.
    const u = unionType(elemTensor(ctx, s), ctx.tensor(1), () => ctx.fresh());
    if (!u) return ctx.fail("tensor's element type differs from the sequence's");
    return [seqOf(u)];
  },
});

defineOp({
  op: "SequenceAt",
  inputs: ins("input_sequence", "position"),
  outputs: ins("tensor"),
  infer(ctx) {
    intScalar(ctx, 1, "position");
    return [elemTensor(ctx, seqInput(ctx, 0))];
  },
});

defineOp({
  op: "SequenceErase",
  inputs: ins("input_sequence", opt("position")),
  outputs: ins("output_sequence"),
  infer(ctx) {
    intScalar(ctx, 1, "position");
    return [seqInput(ctx, 0)];
  },
});

defineOp({
  op: "SequenceLength",
  inputs: ins("input_sequence"),
  outputs: ins("length"),
  infer(ctx) {
    seqInput(ctx, 0);
    return [{ kind: "tensor", dtype: "i64", shape: [] }];
  },
});

defineOp({
  op: "SplitToSequence",
  inputs: ins("input", opt("split")),
  outputs: ins("output_sequence"),
  attrs: { axis: a.int(0), keepdims: a.int(1) },
  infer(ctx) {
    const x = ctx.tensor(0);
    intScalar(ctx, 1, "split");
    if (!x.shape) return [seqOf({ kind: "tensor", dtype: x.dtype })];
    const r = x.shape.length;
    const axis = normalizeAxis(ctx.attrs.axis, r);
    const shape: Dim[] = [...x.shape];
    if (ctx.inputs[1] === undefined) {
      if (ctx.attrs.keepdims) shape[axis] = 1;
      else shape.splice(axis, 1);
    } else {
      const split = ctx.ints(1);
      const splitType = ctx.tensor(1);
      if (split && splitType.shape?.length === 0) {
        const n = x.shape[axis];
        // Chunks of `split`; the last may be shorter, so the dim is only known when it divides evenly.
        shape[axis] = typeof n === "number" && n % split[0] === 0 ? split[0] : ctx.fresh();
      } else if (split && split.length > 0 && split.every((v) => v === split[0])) shape[axis] = split[0];
      else shape[axis] = ctx.fresh();
    }
    return [seqOf({ kind: "tensor", dtype: x.dtype, shape })];
  },
});

defineOp({
  op: "ConcatFromSequence",
  inputs: ins("input_sequence"),
  outputs: ins("concat_result"),
  attrs: { axis: a.required(a.int()), new_axis: a.int(0) },
  infer(ctx) {
    const e = elemTensor(ctx, seqInput(ctx, 0));
    if (!e.shape) return [{ kind: "tensor", dtype: e.dtype }];
    const r = e.shape.length;
    const shape: Dim[] = [...e.shape];
    if (ctx.attrs.new_axis) {
      const axis = normalizeAxis(ctx.attrs.axis, r + 1);
      shape.splice(axis, 0, ctx.fresh("n"));
    } else {
      const axis = normalizeAxis(ctx.attrs.axis, r);
      shape[axis] = ctx.fresh();
    }
    return [{ kind: "tensor", dtype: e.dtype, shape }];
  },
});

defineOp({
  op: "SequenceMap",
  inputs: ins("input_sequence", many("additional_inputs")),
  outputs: [many("out_sequence")],
  attrs: { body: a.graph() },
  doc:
    "Runs body once per position; sequence inputs give their element there, tensor inputs are passed whole.",
  infer(ctx) {
    const body = ctx.attrs.body as Graph;
    seqInput(ctx, 0);
    if (body.inputs.length !== ctx.inputs.length) {
      ctx.fail(`body has ${body.inputs.length} inputs, node ${ctx.inputs.length}`);
    }
    if (body.outputs.length < ctx.node.outputs.length) ctx.fail("body has fewer outputs than the node");
    return ctx.node.outputs.map((_, i) => {
      const t = subgraphOutputType(body, i);
      return (t ? seqOf(t) : undefined) as ValueType;
    });
  },
});

defineOp({
  op: "Optional",
  inputs: ins(opt("input")),
  outputs: ins("output"),
  attrs: { type: a.type() },
  infer(ctx) {
    const t = ctx.inputs[0];
    if (t) return [{ kind: "optional", elem: t }];
    const declared = ctx.attrs.type as ValueType | undefined;
    if (!declared) return ctx.fail("an empty Optional needs the type attribute");
    return [{ kind: "optional", elem: declared }];
  },
});

defineOp({
  op: "OptionalHasElement",
  inputs: ins(opt("input")),
  outputs: ins("output"),
  infer() {
    return [{ kind: "tensor", dtype: "bool", shape: [] }];
  },
});

defineOp({
  op: "OptionalGetElement",
  inputs: ins("input"),
  outputs: ins("output"),
  infer(ctx) {
    const t = ctx.inputs[0];
    if (!t) return ctx.fail("input 0 is required");
    return [t.kind === "optional" ? t.elem : t];
  },
});
