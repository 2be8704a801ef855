/**
 * Sequence and optional kernels.
 *
 * The interpreter recycles a tensor's buffer once the value's last reader has run, and it does not look
 * inside sequences or optionals. So a tensor goes into a container as a private copy (a buffer the pool
 * never saw) and comes out as a fresh copy; the container's own buffers are then never recycled.
 */
import { dtypeEquals, printDType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import type { Graph } from "../../ir/graph.ts";
import { dtypeAttr } from "../../ir/ops/dtype-code.ts";
import { type KernelContext, registerKernel } from "../kernel-registry.ts";
import { alloc, expectTensor, OptionalValue, type RValue, Sequence, Tensor } from "../tensor.ts";
import { concatInto, copyAll, sliceInto } from "./axis-copy.ts";

/** A copy the buffer pool does not own, for storing inside a container. */
function keep(t: Tensor): Tensor {
  const c = alloc(t.dtype, t.shape);
  copyAll(t, c);
  return c;
}

/** A copy in a pool buffer, for handing a container's element to the graph as a value of its own. */
function release(t: Tensor, ctx: KernelContext): Tensor {
  const c = ctx.alloc(t.dtype, t.shape);
  copyAll(t, c);
  return c;
}

/** Containers go in and out whole; their tensors are already private copies. */
function keepValue(v: RValue): RValue {
  return v instanceof Tensor ? keep(v) : v;
}
function releaseValue(v: RValue, ctx: KernelContext): RValue {
  return v instanceof Tensor ? release(v, ctx) : v;
}

function expectSeq(v: RValue | undefined, what: string): Sequence {
  if (v instanceof Sequence) return v;
  throw new LatheError(
    "runtime",
    `${what} must be a sequence, got ${v === undefined ? "nothing" : v.constructor.name}`,
  );
}

function scalarInt(v: RValue | undefined, what: string): number {
  const t = expectTensor(v, what);
  if (t.data.length !== 1) {
    throw new LatheError("runtime", `${what} must have one element, has ${t.data.length}`);
  }
  return Number(t.data[0]);
}

/** The sequence's element type: declared when created empty, else its first element's. */
function seqDType(s: Sequence) {
  return s.elemDType ?? (s.items[0] instanceof Tensor ? s.items[0].dtype : undefined);
}

function checkElem(s: Sequence, t: Tensor): void {
  const d = seqDType(s);
  if (d !== undefined && !dtypeEquals(d, t.dtype)) {
    throw new LatheError(
      "runtime",
      `cannot put a ${printDType(t.dtype)} tensor in a sequence of ${printDType(d)}`,
    );
  }
}

/** Position in [-n, n-1] (or [-n, n] when inserting) as an index. */
function position(p: number, n: number, inserting: boolean, op: string): number {
  const hi = inserting ? n : n - 1;
  if (!Number.isInteger(p) || p < -n || p > hi) {
    throw new LatheError("runtime", `${op} position ${p} out of range for a sequence of ${n}`);
  }
  return p < 0 ? p + n : p;
}

registerKernel("SequenceEmpty", (_inputs, ctx) => [new Sequence([], dtypeAttr(ctx.attrs.dtype, "dtype"))]);

registerKernel("SequenceConstruct", (inputs) => {
  const ts = inputs.map((v, i) => expectTensor(v, `input ${i}`));
  if (ts.length === 0) throw new LatheError("runtime", "SequenceConstruct needs at least one input");
  for (const t of ts) {
    if (!dtypeEquals(t.dtype, ts[0].dtype)) {
      throw new LatheError("runtime", "SequenceConstruct inputs differ in type");
    }
  }
  return [new Sequence(ts.map(keep), ts[0].dtype)];
});

registerKernel("SequenceInsert", (inputs) => {
  const s = expectSeq(inputs[0], "input_sequence");
  const t = expectTensor(inputs[1], "tensor");
  checkElem(s, t);
  const n = s.items.length;
  const at = inputs[2] === undefined
    ? n
    : position(scalarInt(inputs[2], "position"), n, true, "SequenceInsert");
  const items = [...s.items];
  items.splice(at, 0, keep(t));
  return [new Sequence(items, seqDType(s) ?? t.dtype)];
});

registerKernel("SequenceAt", (inputs, ctx) => {
  const s = expectSeq(inputs[0], "input_sequence");
  const at = position(scalarInt(inputs[1], "position"), s.items.length, false, "SequenceAt");
  return [releaseValue(s.items[at], ctx)];
});

registerKernel("SequenceErase", (inputs) => {
  const s = expectSeq(inputs[0], "input_sequence");
  const n = s.items.length;
  const at = inputs[1] === undefined
    ? n - 1
    : position(scalarInt(inputs[1], "position"), n, false, "SequenceErase");
  if (at < 0) throw new LatheError("runtime", "SequenceErase on an empty sequence");
  const items = [...s.items];
  items.splice(at, 1);
  return [new Sequence(items, seqDType(s))];
});

registerKernel("SequenceLength", (inputs, ctx) => {
  const s = expectSeq(inputs[0], "input_sequence");
  const out = ctx.alloc("i64", []);
  (out.data as BigInt64Array)[0] = BigInt(s.items.length);
  return [out];
});

registerKernel("SplitToSequence", (inputs, ctx) => {
  const x = expectTensor(inputs[0], "input");
  const r = x.shape.length;
  const ax = ctx.attrs.axis as number;
  const axis = ax < 0 ? ax + r : ax;
  if (axis < 0 || axis >= r) throw new LatheError("runtime", `axis ${ax} out of range for rank ${r}`);
  const n = x.shape[axis];
  let sizes: number[];
  let squeeze = false;
  if (inputs[1] === undefined) {
    sizes = new Array(n).fill(1);
    squeeze = !ctx.attrs.keepdims;
  } else {
    const s = expectTensor(inputs[1], "split");
    const vals = Array.from(s.data as ArrayLike<number | bigint>, Number);
    if (s.shape.length === 0) {
      const c = vals[0];
      if (!(c > 0)) throw new LatheError("runtime", `split size ${c} must be positive`);
      sizes = [];
      for (let at = 0; at < n; at += c) sizes.push(Math.min(c, n - at));
    } else {
      sizes = vals;
      if (sizes.some((v) => !(v >= 0)) || sizes.reduce((p, v) => p + v, 0) !== n) {
        throw new LatheError("runtime", `split sizes [${sizes}] do not sum to ${n}`);
      }
    }
  }
  const items: Tensor[] = [];
  let at = 0;
  for (const len of sizes) {
    const shape = [...x.shape];
    shape[axis] = len;
    const piece = alloc(x.dtype, shape);
    sliceInto(x, axis, at, len, piece);
    at += len;
    items.push(squeeze ? new Tensor(x.dtype, shape.filter((_, i) => i !== axis), piece.data) : piece);
  }
  return [new Sequence(items, x.dtype)];
});

registerKernel("ConcatFromSequence", (inputs, ctx) => {
  const s = expectSeq(inputs[0], "input_sequence");
  const ts = s.items.map((v, i) => expectTensor(v, `sequence element ${i}`));
  if (ts.length === 0) throw new LatheError("runtime", "ConcatFromSequence of an empty sequence");
  const newAxis = !!ctx.attrs.new_axis;
  const r = ts[0].shape.length;
  const ax = ctx.attrs.axis as number;
  const outRank = newAxis ? r + 1 : r;
  const axis = ax < 0 ? ax + outRank : ax;
  if (axis < 0 || axis >= outRank) {
    throw new LatheError("runtime", `axis ${ax} out of range for rank ${outRank}`);
  }
  for (const t of ts) {
    // Stacked elements match exactly; concatenated ones everywhere but the axis.
    const ok = dtypeEquals(t.dtype, ts[0].dtype) && t.shape.length === r &&
      t.shape.every((d, i) => d === ts[0].shape[i] || (!newAxis && i === axis));
    if (!ok) {
      throw new LatheError(
        "runtime",
        `cannot concatenate [${t.shape}] with [${ts[0].shape}] along axis ${ax}`,
      );
    }
  }
  const widths = ts.map((t) => (newAxis ? 1 : t.shape[axis]));
  const shape = [...ts[0].shape];
  if (newAxis) shape.splice(axis, 0, ts.length);
  else shape[axis] = widths.reduce((p, v) => p + v, 0);
  const out = ctx.alloc(ts[0].dtype, shape);
  concatInto(ts, widths, axis, out);
  return [out];
});

registerKernel("SequenceMap", (inputs, ctx) => {
  const body = ctx.attrs.body as Graph;
  const first = expectSeq(inputs[0], "input_sequence");
  const n = first.items.length;
  inputs.forEach((v, i) => {
    if (v instanceof Sequence && v.items.length !== n) {
      throw new LatheError("runtime", `sequence input ${i} has ${v.items.length} elements, input 0 has ${n}`);
    }
  });
  const k = ctx.node.outputs.length;
  const outs: RValue[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < n; i++) {
    const args = inputs.map((v) => (v instanceof Sequence ? v.items[i] : v));
    // Body outputs are pinned by the interpreter, so they can be stored without copying.
    const res = ctx.runGraph(body, args);
    for (let j = 0; j < k; j++) outs[j].push(res[j]);
  }
  return outs.map((items, j) => {
    const declared = body.values[body.outputs[j]]?.type;
    const d = items[0] instanceof Tensor
      ? items[0].dtype
      : declared?.kind === "tensor"
      ? declared.dtype
      : undefined;
    return new Sequence(items, d);
  });
});

registerKernel("Optional", (inputs, ctx) => {
  const v = inputs[0];
  if (v !== undefined) return [new OptionalValue(keepValue(v), v instanceof Tensor ? v.dtype : undefined)];
  const t = ctx.attrs.type as { kind: string; dtype?: any } | undefined;
  return [new OptionalValue(undefined, t?.kind === "tensor" ? t.dtype : undefined)];
});

registerKernel("OptionalHasElement", (inputs, ctx) => {
  const v = inputs[0];
  const out = ctx.alloc("bool", []);
  (out.data as Uint8Array)[0] = v === undefined || (v instanceof OptionalValue && v.value === undefined)
    ? 0
    : 1;
  return [out];
});

registerKernel("OptionalGetElement", (inputs, ctx) => {
  const v = inputs[0];
  if (v instanceof OptionalValue) {
    if (v.value === undefined) throw new LatheError("runtime", "OptionalGetElement of an empty optional");
    return [releaseValue(v.value, ctx)];
  }
  if (v === undefined) throw new LatheError("runtime", "OptionalGetElement needs an input");
  // A plain tensor or sequence passes through (opset 18).
  return [v];
});
