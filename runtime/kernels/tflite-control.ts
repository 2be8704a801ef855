/**
 * TFLite control flow: WHILE runs its body subgraph while the cond subgraph yields true; IF runs one of two
 * subgraphs on the operands after the condition. TFLite subgraphs are closed (they see only their inputs).
 */
import { registerKernel } from "../kernel-registry.ts";
import type { RValue } from "../tensor.ts";
import { arg, fail } from "./tflite-common.ts";

const ANY = { label: "any type" };

/** A bound on WHILE iterations, so a model whose condition never turns false fails instead of hanging. */
const MAX_ITERATIONS = 1 << 24;

function truth(v: RValue | undefined, what: string): boolean {
  const t = arg([v], 0, what);
  if (t.data.length !== 1) fail(`${what} must hold one value, holds ${t.data.length}`);
  return Boolean(t.data[0]);
}

registerKernel("tfl.WHILE", (inputs, ctx) => {
  let vars = [...inputs];
  for (let i = 0;; i++) {
    if (i >= MAX_ITERATIONS) {
      fail(`WHILE ran ${MAX_ITERATIONS} iterations without its condition turning false`);
    }
    if (!truth(ctx.runGraph(ctx.attrs.cond_subgraph, vars)[0], "WHILE condition")) return vars as RValue[];
    vars = ctx.runGraph(ctx.attrs.body_subgraph, vars);
  }
}, ANY);

registerKernel("tfl.IF", (inputs, ctx) => {
  const branch = truth(inputs[0], "IF condition") ? ctx.attrs.then_subgraph : ctx.attrs.else_subgraph;
  return ctx.runGraph(branch, inputs.slice(1));
}, ANY);
