/**
 * Control flow: If, Loop and Scan. Their bodies are graphs in graph attributes; output types come from the
 * bodies' declared output types (the importer keeps them), widened where iterations or branches disagree.
 */
import type { Graph } from "../graph.ts";
import { a, defineOp, type InferContext, ins, many, opt } from "../op-registry.ts";
import { normalizeAxis } from "../shape-infer.ts";
import type { Dim, TensorType, ValueType } from "../value-type.ts";
import { subgraphOutputType, unionType } from "./type-union.ts";

/** The union of two types; undefined when both are unknown (the graph's declared type then decides). */
function union(
  ctx: InferContext,
  x: ValueType | undefined,
  y: ValueType | undefined,
  what: string,
): ValueType | undefined {
  const t = unionType(x, y, () => ctx.fresh());
  if (t === null) return ctx.fail(`${what}: types conflict`);
  return t;
}

function requireBool(ctx: InferContext, i: number, what: string): void {
  const t = ctx.inputs[i];
  if (t && (t.kind !== "tensor" || t.dtype !== "bool")) ctx.fail(`${what} must be a bool tensor`);
}

defineOp({
  op: "If",
  inputs: ins("cond"),
  outputs: [many("outputs")],
  attrs: { then_branch: a.graph(), else_branch: a.graph() },
  doc: "Runs then_branch or else_branch on a single-element bool condition; outer values stay visible.",
  infer(ctx) {
    requireBool(ctx, 0, "If condition");
    const th = ctx.attrs.then_branch as Graph, el = ctx.attrs.else_branch as Graph;
    if (th.outputs.length !== el.outputs.length) {
      ctx.fail(`branches have ${th.outputs.length} and ${el.outputs.length} outputs`);
    }
    if (ctx.node.outputs.length > th.outputs.length) {
      ctx.fail(`node has ${ctx.node.outputs.length} outputs, branches only ${th.outputs.length}`);
    }
    // Undefined entries leave the type to the graph's declaration (inferGraph reports it if there is none).
    return ctx.node.outputs.map((_, i) =>
      union(ctx, subgraphOutputType(th, i), subgraphOutputType(el, i), `If output ${i}`)
    ) as ValueType[];
  },
});

/** A scan output type: the per-iteration type with `len` inserted at `axis` (rank known only if the slab's is). */
function withScanAxis(
  ctx: InferContext,
  t: ValueType | undefined,
  axis: number,
  len: Dim,
  what: string,
): ValueType | undefined {
  if (!t) return undefined;
  if (t.kind !== "tensor") ctx.fail(`${what} must be a tensor`);
  if (!t.shape) return { kind: "tensor", dtype: t.dtype };
  const r = t.shape.length + 1;
  const ax = normalizeAxis(axis, r, `${what} axis`);
  const shape = [...t.shape];
  shape.splice(ax, 0, len);
  return { kind: "tensor", dtype: t.dtype, shape };
}

defineOp({
  op: "Loop",
  inputs: ins(opt("M"), opt("cond"), many("v_initial")),
  outputs: [many("v_final_and_scan_outputs")],
  attrs: { body: a.graph() },
  subgraphInputs: (inputs) => ({
    body: [
      { kind: "tensor", dtype: "i64", shape: [] },
      { kind: "tensor", dtype: "bool", shape: [] },
      ...inputs.slice(2),
    ],
  }),
  doc:
    "Body inputs: iteration number (i64), condition (bool), N carried values; body outputs: condition, N carried " +
    "values, K scan outputs stacked along a new axis 0.",
  infer(ctx) {
    const body = ctx.attrs.body as Graph;
    requireBool(ctx, 1, "Loop condition");
    const m = ctx.inputs[0];
    if (m && (m.kind !== "tensor" || m.dtype !== "i64")) ctx.fail("Loop trip count M must be an i64 tensor");
    const n = Math.max(0, ctx.inputs.length - 2);
    if (body.inputs.length !== n + 2) ctx.fail(`body has ${body.inputs.length} inputs, expected ${n + 2}`);
    const k = body.outputs.length - 1 - n;
    if (k < 0) ctx.fail(`body has ${body.outputs.length} outputs, expected at least ${n + 1}`);
    if (ctx.node.outputs.length > n + k) {
      ctx.fail(`node has ${ctx.node.outputs.length} outputs, body gives ${n + k}`);
    }
    // Undefined entries leave the type to the graph's declaration (inferGraph reports it if there is none).
    const out: (ValueType | undefined)[] = [];
    for (let i = 0; i < n; i++) {
      const init = ctx.inputs[2 + i], next = subgraphOutputType(body, 1 + i);
      // Loop-16 lets an optional initial value become its element after the first iteration (a body that
      // unwraps it); the value then has the body's output type.
      const t = unionType(init, next, () => ctx.fresh());
      out.push(t === null ? next : t);
    }
    for (let j = 0; j < k; j++) {
      out.push(
        withScanAxis(
          ctx,
          subgraphOutputType(body, 1 + n + j),
          0,
          ctx.fresh("iterations"),
          `scan output ${j}`,
        ),
      );
    }
    return out as ValueType[];
  },
});

/**
 * Scan's layout. In the opset-8 form (kept when the importer leaves a null first operand for the omitted
 * sequence_lens) every state and scan input has a leading batch axis and scan axes are 1.
 */
export function scanLayout(
  node: { inputs: readonly (string | null)[] },
  attrs: Readonly<Record<string, any>>,
): {
  batched: boolean;
  first: number;
  nState: number;
  nScan: number;
} {
  const batched = node.inputs.length > 0 && node.inputs[0] === null;
  const first = batched ? 1 : 0;
  const nScan = attrs.num_scan_inputs as number;
  const nState = node.inputs.length - first - nScan;
  return { batched, first, nState, nScan };
}

defineOp({
  op: "Scan",
  inputs: [many("initial_state_and_scan_inputs")],
  outputs: [many("final_state_and_scan_outputs")],
  attrs: {
    body: a.graph(),
    num_scan_inputs: a.required(a.int()),
    scan_input_axes: a.ints(),
    scan_input_directions: a.ints(),
    scan_output_axes: a.ints(),
    scan_output_directions: a.ints(),
    directions: a.ints(),
  },
  doc: "Body inputs: N states then one slice of each of the M scan inputs; outputs: N states, K scan slices.",
  infer(ctx) {
    const body = ctx.attrs.body as Graph;
    const { batched, first, nState, nScan } = scanLayout(ctx.node, ctx.attrs);
    if (nScan < 1 || nState < 0) {
      ctx.fail(`num_scan_inputs ${nScan} does not fit ${ctx.inputs.length} inputs`);
    }
    if (body.inputs.length !== nState + nScan) {
      ctx.fail(`body has ${body.inputs.length} inputs, expected ${nState + nScan}`);
    }
    const k = body.outputs.length - nState;
    if (k < 0) ctx.fail(`body has ${body.outputs.length} outputs, expected at least ${nState}`);
    const inAxes: readonly number[] = ctx.attrs.scan_input_axes ?? [];
    const outAxes: readonly number[] = ctx.attrs.scan_output_axes ?? [];
    // The scan length is the first scan input's extent along its scan axis.
    let len: Dim = ctx.fresh("scan");
    const x0 = ctx.inputs[first + nState];
    if (x0?.kind === "tensor" && x0.shape) {
      const ax = batched ? 1 : normalizeAxis(inAxes[0] ?? 0, x0.shape.length, "scan_input_axes[0]");
      if (ax < x0.shape.length) len = x0.shape[ax];
    }
    let batch: Dim | undefined;
    if (batched) {
      const s = ctx.inputs[first]?.kind === "tensor" ? (ctx.inputs[first] as TensorType).shape : undefined;
      batch = s?.[0] ?? ctx.fresh("batch");
    }
    // Undefined entries leave the type to the graph's declaration (inferGraph reports it if there is none).
    const out: (ValueType | undefined)[] = [];
    for (let i = 0; i < nState; i++) {
      const init = ctx.inputs[first + i];
      out.push(
        batched ? init : union(ctx, init, subgraphOutputType(body, i), `scan state ${i}`),
      );
    }
    for (let j = 0; j < k; j++) {
      const slab = subgraphOutputType(body, nState + j);
      if (batched) {
        const t = withScanAxis(ctx, slab, 0, len, `scan output ${j}`);
        out.push(withScanAxis(ctx, t, 0, batch!, `scan output ${j}`));
      } else out.push(withScanAxis(ctx, slab, outAxes[j] ?? 0, len, `scan output ${j}`));
    }
    return out as ValueType[];
  },
});
