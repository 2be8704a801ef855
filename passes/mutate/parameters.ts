/**
 * Parameter faults (FetaFix's weights-and-biases family): a layer's learned tensors are perturbed, laid out
 * wrongly, or its bias or normalization statistics are replaced. Shapes never change, so the graph stays
 * valid; only the numbers (or which operand holds which numbers) do.
 */
import type { Graph } from "../../ir/graph.ts";
import type { Rng } from "../../runtime/random.ts";
import {
  contextOf,
  deltaStats,
  f32Constant,
  f32ConstantAt,
  f32Data,
  nodesOf,
  pick,
  replaceNode,
  setConstantInput,
} from "./graph-edit.ts";
import { type Change, defineKind, type MutateContext, nodeRef } from "./kind.ts";
import { BIASED_OPS, biasOf, WEIGHTED_OPS, weightOf } from "./operands.ts";
import { layoutPerm, permuteData } from "./permute.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";

function std(x: Float32Array): { mean: number; std: number } {
  let s = 0, s2 = 0;
  for (let i = 0; i < x.length; i++) (s += x[i], s2 += x[i] * x[i]);
  const mean = s / Math.max(x.length, 1);
  return { mean, std: Math.sqrt(Math.max(s2 / Math.max(x.length, 1) - mean * mean, 0)) };
}

defineKind({
  name: "weights-perturbed",
  class: "parameters",
  targets: "the f32 weight of a Conv, ConvTranspose, Gemm, MatMul or tfl conv/fully-connected layer",
  dialects: ["onnx", "tfl"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    const n = pick(rng, nodesOf(graph, ctx, WEIGHTED_OPS, (n) => !!weightOf(graph, n)));
    if (!n) return undefined;
    const w = weightOf(graph, n)!;
    const before = f32Data(w.constant);
    const { std: sd } = std(before);
    const relative = +rng.uniform(0.2, 0.6).toFixed(3);
    const sigma = relative * (sd > 0 ? sd : 1e-2);
    const after = new Float32Array(before.length);
    for (let i = 0; i < before.length; i++) after[i] = before[i] + sigma * rng.normal();
    const r = setConstantInput(graph, n.id, w.input, f32Constant(w.constant.shape, after), "gaussian noise", {
      relativeSigma: relative,
      sigma,
      weightStd: sd,
    }, deltaStats(before, after));
    return {
      graph: r.graph,
      target: n.id,
      record: {
        node: nodeRef(n),
        description: `${n.op} ${n.id}: weight ${
          n.inputs[w.input]
        } plus gaussian noise, sigma ${relative} x its std (${sd.toExponential(3)})`,
        changes: r.changes,
        params: { relativeSigma: relative, sigma },
      },
    };
  },
});

/**
 * Layout faults keep the declared shape: the data is written in another layout's order (a converter that
 * permuted the shape but not the bytes, or the reverse). When the permuted shape happens to equal the
 * declared one (square kernels, square matrices) this is a true transpose.
 */
function layoutChoices(layout: string, shape: readonly number[]): { to: string; why: string }[] {
  const out: { to: string; why: string }[] = [];
  const at = (ch: string) => shape[layout.indexOf(ch)];
  if (layout.includes("H") && layout.includes("W") && (at("H") > 1 || at("W") > 1)) {
    out.push({
      to: layout.replace("H", "#").replace("W", "H").replace("#", "W"),
      why: "kernel rows and columns swapped",
    });
  }
  const channelLast: Record<string, string> = { OIHW: "OHWI", OHWI: "OIHW", IOHW: "IHWO", "1HWO": "1OHW" };
  if (channelLast[layout] && shape.some((d, i) => d > 1 && "HW".includes(layout[i]))) {
    out.push({ to: channelLast[layout], why: `data in ${channelLast[layout]} order read as ${layout}` });
  }
  if (layout === "NK" || layout === "KN") {
    out.push({ to: layout === "NK" ? "KN" : "NK", why: "matrix stored transposed" });
  }
  return out;
}

defineKind({
  name: "weights-transposed",
  class: "parameters",
  targets:
    "a conv kernel (rows/columns swapped, or channels-last data read as channels-first) or a matrix stored transposed",
  dialects: ["onnx", "tfl"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    const n = pick(
      rng,
      nodesOf(graph, ctx, WEIGHTED_OPS, (n) => {
        const w = weightOf(graph, n);
        return !!w && layoutChoices(w.layout, w.constant.shape).length > 0;
      }),
    );
    if (!n) return undefined;
    const w = weightOf(graph, n)!;
    const choice = pick(rng, layoutChoices(w.layout, w.constant.shape))!;
    const perm = layoutPerm(w.layout, choice.to);
    const before = f32Data(w.constant);
    const permuted = permuteData(before, w.constant.shape, perm);
    const transpose = permuted.shape.every((d, i) => d === w.constant.shape[i]);
    const r = setConstantInput(graph, n.id, w.input, f32Constant(w.constant.shape, permuted.data), "layout", {
      layout: w.layout,
      dataLayout: choice.to,
      perm,
      trueTranspose: transpose,
    }, deltaStats(before, permuted.data));
    return {
      graph: r.graph,
      target: n.id,
      record: {
        node: nodeRef(n),
        description: `${n.op} ${n.id}: weight ${
          n.inputs[w.input]
        } (${w.layout} [${w.constant.shape}]) holds its data in ${choice.to} order: ${choice.why}`,
        changes: r.changes,
        params: { layout: w.layout, dataLayout: choice.to, perm, why: choice.why },
      },
    };
  },
});

defineKind({
  name: "bias-changed",
  class: "parameters",
  targets:
    "the f32 bias of a Conv, ConvTranspose, Gemm or tfl conv/fully-connected layer (zeroed, negated or shifted)",
  dialects: ["onnx", "tfl"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    const n = pick(rng, nodesOf(graph, ctx, BIASED_OPS, (n) => !!biasOf(graph, n)));
    if (!n) return undefined;
    const b = biasOf(graph, n)!;
    const before = f32Data(b.constant);
    const nonzero = before.some((v) => v !== 0);
    const { mean, std: sd } = std(before);
    const modes = nonzero ? ["zeroed", "negated", "shifted"] : ["shifted"];
    const mode = pick(rng, modes)!;
    const shift = (rng.next() < 0.5 ? -1 : 1) * Math.max(sd, Math.abs(mean), 0.1);
    const after = before.map((v) => (mode === "zeroed" ? 0 : mode === "negated" ? -v : v + shift));
    const params = mode === "shifted" ? { mode, shift } : { mode };
    const r = setConstantInput(
      graph,
      n.id,
      b.input,
      f32Constant(b.constant.shape, after),
      `bias ${mode}`,
      params,
      deltaStats(before, after),
    );
    return {
      graph: r.graph,
      target: n.id,
      record: {
        node: nodeRef(n),
        description: `${n.op} ${n.id}: bias ${n.inputs[b.input]} ${mode}${
          mode === "shifted" ? ` by ${shift.toPrecision(4)}` : ""
        }`,
        changes: r.changes,
        params,
      },
    };
  },
});

defineKind({
  name: "batchnorm-stats-swapped",
  class: "parameters",
  targets: "a BatchNormalization with constant running statistics (mean and variance operands swapped)",
  dialects: ["onnx"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    const n = pick(
      rng,
      nodesOf(
        graph,
        ctx,
        ["BatchNormalization"],
        (n) => !!f32ConstantAt(graph, n, 3) && !!f32ConstantAt(graph, n, 4),
      ),
    );
    if (!n) return undefined;
    const eps: number = resolveAttrs(n).epsilon ?? 1e-5;
    const mean = f32Data(f32ConstantAt(graph, n, 3)!);
    // Reading the means as variances is only defined where every mean + epsilon is positive; otherwise the
    // statistics belong to the wrong channels (reversed), which is defined everywhere.
    if (mean.every((m) => m + eps > 0)) {
      const before = [...n.inputs];
      const after = [...before];
      [after[3], after[4]] = [before[4], before[3]];
      const g = replaceNode(graph, n.id, (x) => ({ ...x, inputs: after }));
      const changes: Change[] = [{
        type: "inputs",
        node: n.id,
        before,
        after,
        why: "running mean and variance operands swapped",
      }];
      return {
        graph: g,
        target: n.id,
        record: {
          node: nodeRef(n),
          description: `${n.op} ${n.id}: running mean ${before[3]} and variance ${before[4]} swapped`,
          changes,
          params: { mode: "mean-variance swapped" },
        },
      };
    }
    let g = graph;
    const changes: Change[] = [];
    for (const i of [3, 4]) {
      const cst = f32ConstantAt(g, g.nodes.find((x) => x.id === n.id)!, i)!;
      const before = f32Data(cst);
      const after = before.slice().reverse();
      const r = setConstantInput(
        g,
        n.id,
        i,
        f32Constant(cst.shape, after),
        "channels reversed",
        {},
        deltaStats(before, after),
      );
      g = r.graph;
      changes.push(...r.changes);
    }
    return {
      graph: g,
      target: n.id,
      record: {
        node: nodeRef(n),
        description: `${n.op} ${n.id}: running mean and variance in reversed channel order`,
        changes,
        params: { mode: "channels reversed" },
      },
    };
  },
});
