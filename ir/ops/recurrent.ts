/**
 * One-layer recurrent cells: RNN, GRU, LSTM (ONNX opset 14/22 semantics). X is [seq, batch, input] with
 * layout 0 and [batch, seq, input] with layout 1; Y and the final states follow the same layout.
 */
import { LatheError } from "../errors.ts";
import { a, type AttrSpec, defineOp, type InferContext, ins, opt } from "../op-registry.ts";
import type { Dim, ValueType } from "../value-type.ts";

/** Gate count per cell and the default activation of each slot (one set per direction). */
export const CELLS = {
  RNN: { gates: 1, activations: ["Tanh"] },
  GRU: { gates: 3, activations: ["Sigmoid", "Tanh"] },
  LSTM: { gates: 4, activations: ["Sigmoid", "Tanh", "Tanh"] },
} as const;

export type CellKind = keyof typeof CELLS;

export function numDirections(direction: string): number {
  if (direction === "forward" || direction === "reverse") return 1;
  if (direction === "bidirectional") return 2;
  throw new LatheError("verify", `direction must be forward, reverse or bidirectional, not '${direction}'`);
}

function common(extra: Record<string, AttrSpec>): Record<string, AttrSpec> {
  return {
    activation_alpha: a.floats([]),
    activation_beta: a.floats([]),
    activations: a.strings([]),
    clip: a.float(),
    direction: a.string("forward"),
    hidden_size: a.int(),
    layout: a.int(0),
    ...extra,
  };
}

function inferCell(ctx: InferContext, kind: CellKind, nOut: number): ValueType[] {
  const x = ctx.tensor(0), w = ctx.tensor(1), r = ctx.tensor(2);
  const dirs = numDirections(ctx.attrs.direction);
  const layout = ctx.attrs.layout as number;
  if (layout !== 0 && layout !== 1) ctx.fail(`layout must be 0 or 1, is ${layout}`);
  const g = CELLS[kind].gates;
  let hidden: Dim | undefined = ctx.attrs.hidden_size;
  const rd = r.shape?.[2];
  if (hidden === undefined) hidden = rd ?? ctx.fresh("hidden");
  else if (typeof rd === "number" && rd !== hidden) {
    ctx.fail(`R has ${rd} hidden units, hidden_size is ${hidden}`);
  }
  if (x.shape && x.shape.length !== 3) ctx.fail(`X must have rank 3, has ${x.shape.length}`);
  for (const [t, name] of [[w, "W"], [r, "R"]] as const) {
    if (t.shape && t.shape.length !== 3) ctx.fail(`${name} must have rank 3`);
    const d0 = t.shape?.[0], d1 = t.shape?.[1];
    if (typeof d0 === "number" && d0 !== dirs) ctx.fail(`${name} has ${d0} directions, expected ${dirs}`);
    if (typeof d1 === "number" && typeof hidden === "number" && d1 !== g * hidden) {
      ctx.fail(`${name} has ${d1} rows, expected ${g}*${hidden}`);
    }
  }
  const seq: Dim = x.shape?.[layout === 0 ? 0 : 1] ?? ctx.fresh("seq");
  const batch: Dim = x.shape?.[layout === 0 ? 1 : 0] ?? ctx.fresh("batch");
  const y: Dim[] = layout === 0 ? [seq, dirs, batch, hidden] : [batch, seq, dirs, hidden];
  const h: Dim[] = layout === 0 ? [dirs, batch, hidden] : [batch, dirs, hidden];
  const out: ValueType[] = [{ kind: "tensor", dtype: x.dtype, shape: y }];
  for (let i = 1; i < nOut; i++) out.push({ kind: "tensor", dtype: x.dtype, shape: h });
  return out;
}

defineOp({
  op: "RNN",
  inputs: ins("X", "W", "R", opt("B"), opt("sequence_lens"), opt("initial_h")),
  outputs: ins(opt("Y"), opt("Y_h")),
  attrs: common({}),
  infer: (ctx) => inferCell(ctx, "RNN", 2),
});

defineOp({
  op: "GRU",
  inputs: ins("X", "W", "R", opt("B"), opt("sequence_lens"), opt("initial_h")),
  outputs: ins(opt("Y"), opt("Y_h")),
  attrs: common({ linear_before_reset: a.int(0) }),
  infer: (ctx) => inferCell(ctx, "GRU", 2),
});

defineOp({
  op: "LSTM",
  inputs: ins("X", "W", "R", opt("B"), opt("sequence_lens"), opt("initial_h"), opt("initial_c"), opt("P")),
  outputs: ins(opt("Y"), opt("Y_h"), opt("Y_c")),
  attrs: common({ input_forget: a.int(0) }),
  infer: (ctx) => inferCell(ctx, "LSTM", 3),
});
