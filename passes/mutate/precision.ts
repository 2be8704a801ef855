/**
 * Precision faults (MutateNN's arithmetic types; the silent dequantization FetaFix found in tf2onnx): a
 * layer's weights pass through a narrower type and back, or an activation is stored in half precision.
 * The element types the graph declares stay f32, so only the numbers move.
 */
import type { Graph } from "../../ir/graph.ts";
import { usersOf } from "../../ir/graph.ts";
import type { Rng } from "../../runtime/random.ts";
import {
  contextOf,
  deltaStats,
  dtypeOf,
  f32Constant,
  f32Data,
  insertChain,
  nodesOf,
  pick,
  setConstantInput,
} from "./graph-edit.ts";
import { defineKind, type MutateContext, nodeRef } from "./kind.ts";
import { WEIGHTED_OPS, weightOf } from "./operands.ts";

defineKind({
  name: "weights-fp16",
  class: "precision",
  targets: "one layer's f32 weight rounded to float16 and widened back",
  dialects: ["onnx", "tfl"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    const n = pick(rng, nodesOf(graph, ctx, WEIGHTED_OPS, (n) => !!weightOf(graph, n)));
    if (!n) return undefined;
    const w = weightOf(graph, n)!;
    const before = f32Data(w.constant);
    const after = Float32Array.from(new Float16Array(before));
    const r = setConstantInput(
      graph,
      n.id,
      w.input,
      f32Constant(w.constant.shape, after),
      "rounded through float16",
      { via: "f16" },
      deltaStats(before, after),
    );
    return {
      graph: r.graph,
      target: n.id,
      record: {
        node: nodeRef(n),
        description: `${n.op} ${n.id}: weight ${n.inputs[w.input]} rounded to float16 and back`,
        changes: r.changes,
        params: { via: "f16" },
      },
    };
  },
});

defineKind({
  name: "weights-int8",
  class: "precision",
  targets: "one layer's f32 weight fake-quantized to int8 (symmetric, one scale per tensor)",
  dialects: ["onnx", "tfl"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    const n = pick(
      rng,
      nodesOf(
        graph,
        ctx,
        WEIGHTED_OPS,
        (n) => !!weightOf(graph, n) && f32Data(weightOf(graph, n)!.constant).some((v) => v !== 0),
      ),
    );
    if (!n) return undefined;
    const w = weightOf(graph, n)!;
    const before = f32Data(w.constant);
    let max = 0;
    for (let i = 0; i < before.length; i++) max = Math.max(max, Math.abs(before[i]));
    const scale = Math.fround(max / 127);
    const after = new Float32Array(before.length);
    for (let i = 0; i < before.length; i++) {
      after[i] = Math.max(-127, Math.min(127, Math.round(before[i] / scale))) * scale;
    }
    const params = { bits: 8, symmetric: true, granularity: "per-tensor", scale };
    const r = setConstantInput(
      graph,
      n.id,
      w.input,
      f32Constant(w.constant.shape, after),
      "int8 fake-quantized",
      params,
      deltaStats(before, after),
    );
    return {
      graph: r.graph,
      target: n.id,
      record: {
        node: nodeRef(n),
        description: `${n.op} ${n.id}: weight ${n.inputs[w.input]} fake-quantized to int8 (per-tensor scale ${
          scale.toExponential(3)
        })`,
        changes: r.changes,
        params,
      },
    };
  },
});

/** ONNX TensorProto element-type codes Cast's `to` takes. */
const FLOAT16 = 10, FLOAT = 1;

defineKind({
  name: "activation-fp16",
  class: "precision",
  targets: "one layer's f32 output stored as float16 (a Cast to float16 and back inserted after it)",
  dialects: ["onnx"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    const n = pick(
      rng,
      graph.nodes.filter((n) =>
        !ctx.avoid.has(n.id) && n.outputs[0] && !graph.outputs.includes(n.outputs[0]) &&
        dtypeOf(graph, n.outputs[0]) === "f32" &&
        usersOf(graph, n.outputs[0]).length > 0
      ),
    );
    if (!n) return undefined;
    const r = insertChain(graph, ctx.dialect, n.outputs[0], [
      { op: "Cast", stem: `${n.id}_to_fp16`, attrs: { to: { type: "int", value: FLOAT16 } } },
      { op: "Cast", stem: `${n.id}_to_fp32`, attrs: { to: { type: "int", value: FLOAT } } },
    ]);
    return {
      graph: r.graph,
      target: n.id,
      record: {
        node: nodeRef(r.inserted[0]),
        description: `${n.op} ${n.id}: output ${
          n.outputs[0]
        } stored as float16 (Cast to float16 and back inserted)`,
        changes: r.changes,
        params: { after: nodeRef(n), via: "f16" },
      },
    };
  },
});
