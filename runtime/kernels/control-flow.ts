/**
 * If, Loop and Scan. Bodies run through ctx.runGraph, which keeps outer-scope values visible and pins the
 * body's outputs, so values handed from one iteration to the next are never recycled underneath us.
 */
import { dtypeEquals } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import type { Graph } from "../../ir/graph.ts";
import { scanLayout } from "../../ir/ops/control-flow.ts";
import { subgraphOutputType } from "../../ir/ops/type-union.ts";
import { type KernelContext, registerKernel } from "../kernel-registry.ts";
import { expectTensor, type RValue, Tensor } from "../tensor.ts";
import { concatInto, sliceInto } from "./axis-copy.ts";

function truthy(v: RValue | undefined, what: string): boolean {
  const t = expectTensor(v, what);
  if (t.data.length !== 1) {
    throw new LatheError("runtime", `${what} must have one element, has ${t.data.length}`);
  }
  return !!t.data[0];
}

registerKernel("If", (inputs, ctx) => {
  const branch = (truthy(inputs[0], "If condition") ? ctx.attrs.then_branch : ctx.attrs.else_branch) as Graph;
  return ctx.runGraph(branch, []);
});

/** Stacks per-iteration slabs along a new axis; `reverse` puts iteration t at position len-1-t. */
function stack(
  slabs: readonly Tensor[],
  axis: number,
  reverse: boolean,
  ctx: KernelContext,
  empty: () => Tensor,
): Tensor {
  if (slabs.length === 0) return empty();
  const s = slabs[0].shape;
  for (const t of slabs) {
    if (
      t.shape.length !== s.length || t.shape.some((d, i) => d !== s[i]) ||
      !dtypeEquals(t.dtype, slabs[0].dtype)
    ) {
      throw new LatheError("runtime", `scan output slabs differ: [${s}] and [${t.shape}]`);
    }
  }
  const ax = axis < 0 ? axis + s.length + 1 : axis;
  if (ax < 0 || ax > s.length) {
    throw new LatheError("runtime", `scan output axis ${axis} out of range for rank ${s.length + 1}`);
  }
  const shape = [...s];
  shape.splice(ax, 0, slabs.length);
  const out = ctx.alloc(slabs[0].dtype, shape);
  concatInto(reverse ? [...slabs].reverse() : slabs, slabs.map(() => 1), ax, out);
  return out;
}

/** A zero-iteration scan output: dtype and static dims from the body's declared slab type. */
function emptyScan(body: Graph, outIndex: number, axis: number, ctx: KernelContext): Tensor {
  const t = subgraphOutputType(body, outIndex);
  if (!t || t.kind !== "tensor") {
    throw new LatheError("runtime", "zero iterations and the scan output's type is unknown");
  }
  const dims = (t.shape ?? []).map((d) => (typeof d === "number" ? d : 0));
  const ax = axis < 0 ? axis + dims.length + 1 : axis;
  dims.splice(Math.max(0, Math.min(ax, dims.length)), 0, 0);
  return ctx.alloc(t.dtype, dims);
}

registerKernel("Loop", (inputs, ctx) => {
  const body = ctx.attrs.body as Graph;
  const n = Math.max(0, inputs.length - 2);
  const k = body.outputs.length - 1 - n;
  const hasM = inputs[0] !== undefined, hasCond = inputs[1] !== undefined;
  if (!hasM && !hasCond) {
    throw new LatheError("runtime", "Loop with neither trip count nor condition never ends");
  }
  let trip = Infinity;
  if (hasM) {
    const m = expectTensor(inputs[0], "Loop trip count");
    if (m.data.length !== 1) throw new LatheError("runtime", "Loop trip count must have one element");
    trip = Number(m.data[0]);
  }
  let cond = hasCond ? truthy(inputs[1], "Loop condition") : true;
  let carried = inputs.slice(2) as RValue[];
  carried.forEach((v, i) => {
    if (v === undefined) throw new LatheError("runtime", `loop-carried input ${i} is missing`);
  });
  const scans: Tensor[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < trip && cond; i++) {
    const iter = new Tensor("i64", [], new BigInt64Array([BigInt(i)]));
    const c = new Tensor("bool", [], new Uint8Array([1]));
    const out = ctx.runGraph(body, [iter, c, ...carried]);
    // Without a condition input the body's condition output is ignored (a plain for loop).
    if (hasCond) cond = truthy(out[0], "Loop body condition");
    carried = out.slice(1, 1 + n);
    for (let j = 0; j < k; j++) scans[j].push(expectTensor(out[1 + n + j], `scan output ${j}`));
  }
  const scanOuts = scans.map((s, j) => stack(s, 0, false, ctx, () => emptyScan(body, 1 + n + j, 0, ctx)));
  return [...carried, ...scanOuts];
});

/** One run of Scan over unbatched states and scan inputs (opset 9+ semantics). */
function scanOnce(
  states: readonly RValue[],
  xs: readonly Tensor[],
  ctx: KernelContext,
  inAxes: readonly number[],
  inDirs: readonly number[],
  outAxes: readonly number[],
  outDirs: readonly number[],
): RValue[] {
  const body = ctx.attrs.body as Graph;
  const nState = states.length;
  const k = body.outputs.length - nState;
  if (k < 0) throw new LatheError("runtime", `Scan body has fewer outputs than the ${nState} states`);
  const axes = xs.map((x, j) => {
    const ax = inAxes[j] ?? 0;
    const r = x.shape.length;
    const n = ax < 0 ? ax + r : ax;
    if (n < 0 || n >= r) {
      throw new LatheError("runtime", `scan input ${j} axis ${ax} out of range for rank ${r}`);
    }
    return n;
  });
  const len = xs.length ? xs[0].shape[axes[0]] : 0;
  xs.forEach((x, j) => {
    if (x.shape[axes[j]] !== len) {
      throw new LatheError("runtime", `scan input ${j} has ${x.shape[axes[j]]} steps, input 0 has ${len}`);
    }
  });
  const slabShapes = xs.map((x, j) => x.shape.filter((_, d) => d !== axes[j]));
  let cur = [...states];
  const scans: Tensor[][] = Array.from({ length: k }, () => []);
  for (let t = 0; t < len; t++) {
    const slabs = xs.map((x, j) => {
      const s = ctx.alloc(x.dtype, slabShapes[j]);
      sliceInto(x, axes[j], inDirs[j] === 1 ? len - 1 - t : t, 1, s);
      return s;
    });
    const out = ctx.runGraph(body, [...cur, ...slabs]);
    cur = out.slice(0, nState);
    for (let j = 0; j < k; j++) scans[j].push(expectTensor(out[nState + j], `scan output ${j}`));
  }
  const scanOuts = scans.map((s, j) =>
    stack(s, outAxes[j] ?? 0, outDirs[j] === 1, ctx, () => emptyScan(body, nState + j, outAxes[j] ?? 0, ctx))
  );
  return [...cur, ...scanOuts];
}

registerKernel("Scan", (inputs, ctx) => {
  const { batched, first, nState, nScan } = scanLayout(ctx.node, ctx.attrs);
  if (nScan < 1 || nState < 0) {
    throw new LatheError("runtime", `num_scan_inputs ${nScan} does not fit the inputs`);
  }
  const states = inputs.slice(first, first + nState) as RValue[];
  const xs = inputs.slice(first + nState).map((v, j) => expectTensor(v, `scan input ${j}`));
  states.forEach((v, i) => {
    if (v === undefined) throw new LatheError("runtime", `scan state ${i} is missing`);
  });
  if (!batched) {
    return scanOnce(
      states,
      xs,
      ctx,
      ctx.attrs.scan_input_axes ?? [],
      ctx.attrs.scan_input_directions ?? [],
      ctx.attrs.scan_output_axes ?? [],
      ctx.attrs.scan_output_directions ?? [],
    );
  }
  // Opset-8 form: run the scan per batch entry and stack the results along axis 0.
  const st = states.map((v, i) => expectTensor(v, `scan state ${i}`));
  const batch = st.length ? st[0].shape[0] : xs[0].shape[0];
  for (const t of [...st, ...xs]) {
    if (t.shape.length === 0 || t.shape[0] !== batch) {
      throw new LatheError("runtime", `batched Scan operands must all have batch size ${batch}`);
    }
  }
  const row = (t: Tensor, b: number) => {
    const s = ctx.alloc(t.dtype, t.shape.slice(1));
    sliceInto(t, 0, b, 1, s);
    return s;
  };
  const dirs = ctx.attrs.directions ?? [];
  const perBatch: RValue[][] = [];
  for (let b = 0; b < batch; b++) {
    perBatch.push(scanOnce(st.map((t) => row(t, b)), xs.map((t) => row(t, b)), ctx, [], dirs, [], []));
  }
  const nOut = ctx.node.outputs.length;
  const body = ctx.attrs.body as Graph;
  return Array.from(
    { length: nOut },
    (_, i) =>
      stack(perBatch.map((r) => expectTensor(r[i], `Scan output ${i}`)), 0, false, ctx, () => {
        const t = subgraphOutputType(body, i);
        if (!t || t.kind !== "tensor") throw new LatheError("runtime", "empty batch and unknown output type");
        return ctx.alloc(t.dtype, [0]);
      }),
  );
});
