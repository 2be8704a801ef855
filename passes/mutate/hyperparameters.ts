/**
 * Hyperparameter faults (FetaFix's layer-hyperparameter family: pads, strides, dilations, epsilon, axes,
 * activation parameters, resize modes): one node's attributes (or its PAD's paddings operand) change.
 * Where the change could alter shapes downstream the candidate is kept only if the graph still
 * type-checks; padding and dilation changes are made to preserve the output size where the op allows.
 */
import type { Attr } from "../../ir/attr.ts";
import type { Graph, Node } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import type { Rng } from "../../runtime/random.ts";
import {
  constantInts,
  contextOf,
  firstValid,
  intConstant,
  nodesOf,
  pick,
  replaceNode,
  setAttrs,
  setConstantInput,
  shapeOf,
} from "./graph-edit.ts";
import { type Change, defineKind, type MutateContext, type MutationResult, nodeRef } from "./kind.ts";

const ints = (value: readonly number[]): Attr => ({ type: "ints", value: [...value] });
const int = (value: number): Attr => ({ type: "int", value });
const str = (value: string): Attr => ({ type: "string", value });
const float = (value: number): Attr => ({ type: "float", value });

function result(
  g: Graph,
  n: Node,
  changes: Change[],
  description: string,
  params: Record<string, unknown> = {},
): MutationResult {
  return { graph: g, target: n.id, record: { node: nodeRef(n), description, changes, params } };
}

/** Moves padding from one side to the other, keeping each axis's total (so output sizes hold). */
function shiftPads(
  begin: readonly number[],
  end: readonly number[],
): { begin: number[]; end: number[] } | undefined {
  const b = [...begin], e = [...end];
  let moved = false;
  for (let k = 0; k < b.length; k++) {
    if (b[k] !== e[k]) ([b[k], e[k]] = [e[k], b[k]], moved = true);
    else if (e[k] > 0) (b[k]++, e[k]--, moved = true);
  }
  return moved ? { begin: b, end: e } : undefined;
}

/** Spatial rank of an ONNX conv or pool: its kernel_shape, else the weight's rank minus two. */
function spatialRank(g: Graph, n: Node): number | undefined {
  const ks = resolveAttrs(n).kernel_shape as number[] | undefined;
  if (ks?.length) return ks.length;
  const w = shapeOf(g, n.inputs[1]);
  if (n.op.startsWith("Conv") && w) return w.length - 2;
  const x = shapeOf(g, n.inputs[0]);
  return x ? x.length - 2 : undefined;
}

/** Kernel sizes of an ONNX conv or pool. */
function kernelOf(g: Graph, n: Node): number[] | undefined {
  const ks = resolveAttrs(n).kernel_shape as number[] | undefined;
  if (ks?.length) return ks;
  const w = shapeOf(g, n.inputs[1]);
  return n.op.startsWith("Conv") && w ? w.slice(2) : undefined;
}

const ONNX_WINDOWED = ["Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool"];
const TFL_WINDOWED = ["tfl.CONV_2D", "tfl.DEPTHWISE_CONV_2D", "tfl.MAX_POOL_2D", "tfl.AVERAGE_POOL_2D"];
const TFL_PADS = ["tfl.PAD", "tfl.PADV2", "tfl.MIRROR_PAD"];

/** Kernel rows and columns of a tfl conv or pool. */
function tflKernel(g: Graph, n: Node): [number, number] | undefined {
  const at = resolveAttrs(n);
  if (n.op.includes("POOL")) return [at.filter_height, at.filter_width];
  const w = shapeOf(g, n.inputs[1]);
  return w ? [w[1], w[2]] : undefined;
}

defineKind({
  name: "conv-padding",
  class: "hyperparameters",
  targets:
    "conv/pool pads moved between the two sides of an axis (SAME_UPPER vs SAME_LOWER); tfl PAD paddings shifted, or SAME vs VALID",
  dialects: ["onnx", "tfl"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    if (ctx.dialect === "onnx") {
      return firstValid(rng, nodesOf(graph, ctx, ONNX_WINDOWED), (n) => {
        const at = resolveAttrs(n);
        const auto = at.auto_pad as string | undefined;
        if (auto === "SAME_UPPER" || auto === "SAME_LOWER") {
          const to = auto === "SAME_UPPER" ? "SAME_LOWER" : "SAME_UPPER";
          const r = setAttrs(graph, n.id, { auto_pad: str(to) });
          return result(r.graph, n, r.changes, `${n.op} ${n.id}: auto_pad ${auto} -> ${to}`);
        }
        const rank = spatialRank(graph, n);
        if (!rank) return undefined;
        const pads: number[] = (at.pads as number[] | undefined)?.length
          ? at.pads
          : new Array(2 * rank).fill(0);
        const s = shiftPads(pads.slice(0, rank), pads.slice(rank));
        if (!s) return undefined;
        const k = kernelOf(graph, n);
        // Pools refuse padding as large as their window.
        if (n.op.endsWith("Pool") && k && [...s.begin, ...s.end].some((p, i) => p >= k[i % rank])) {
          return undefined;
        }
        const after = [...s.begin, ...s.end];
        const r = setAttrs(graph, n.id, { pads: ints(after) });
        return result(
          r.graph,
          n,
          r.changes,
          `${n.op} ${n.id}: pads [${pads}] -> [${after}] (same total per axis)`,
        );
      });
    }
    // Shifting an explicit PAD keeps every shape; SAME vs VALID changes the output size, so it is the fallback.
    return firstValid(rng, nodesOf(graph, ctx, TFL_PADS), (n) => {
      {
        const cst = n.inputs[1] ? graph.constants[n.inputs[1]] : undefined;
        const p = constantInts(graph, n.inputs[1]);
        if (!cst || !p || cst.shape.length !== 2 || cst.shape[1] !== 2) return undefined;
        const begin = p.filter((_, i) => i % 2 === 0), end = p.filter((_, i) => i % 2 === 1);
        const s = shiftPads(begin, end);
        if (!s) return undefined;
        const after = begin.flatMap((_, k) => [s.begin[k], s.end[k]]);
        const dt = cst.dtype === "i64" ? "i64" : "i32";
        const r = setConstantInput(graph, n.id, 1, intConstant(dt, cst.shape, after), "paddings shifted", {
          before: p,
          after,
        }, {
          changedElements: after.filter((v, i) => v !== p[i]).length,
          maxAbsDelta: Math.max(...after.map((v, i) => Math.abs(v - p[i]))),
        });
        return result(
          r.graph,
          n,
          r.changes,
          `${n.op} ${n.id}: paddings [${p}] -> [${after}] (same total per axis)`,
          { before: p, after },
        );
      }
    }) ?? firstValid(rng, nodesOf(graph, ctx, TFL_WINDOWED), (n) => {
      const at = resolveAttrs(n);
      const k = tflKernel(graph, n);
      if (!k || (k[0] === 1 && k[1] === 1)) return undefined;
      const to = at.padding === "SAME" ? "VALID" : "SAME";
      const r = setAttrs(graph, n.id, { padding: str(to) });
      return result(r.graph, n, r.changes, `${n.op} ${n.id}: padding ${at.padding} -> ${to}`);
    });
  },
});

defineKind({
  name: "conv-strides",
  class: "hyperparameters",
  targets: "the strides of a conv or pool (1 <-> 2), where the shapes downstream still fit",
  dialects: ["onnx", "tfl"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    const flip = (s: number) => (s === 1 ? 2 : 1);
    if (ctx.dialect === "onnx") {
      return firstValid(rng, nodesOf(graph, ctx, ["Conv", "MaxPool", "AveragePool", "LpPool"]), (n) => {
        const rank = spatialRank(graph, n);
        if (!rank) return undefined;
        const before: number[] = (resolveAttrs(n).strides as number[] | undefined)?.length
          ? resolveAttrs(n).strides
          : new Array(rank).fill(1);
        const after = before.map(flip);
        const r = setAttrs(graph, n.id, { strides: ints(after) });
        return result(r.graph, n, r.changes, `${n.op} ${n.id}: strides [${before}] -> [${after}]`);
      });
    }
    return firstValid(rng, nodesOf(graph, ctx, TFL_WINDOWED), (n) => {
      const at = resolveAttrs(n);
      const r = setAttrs(graph, n.id, { stride_h: int(flip(at.stride_h)), stride_w: int(flip(at.stride_w)) });
      return result(
        r.graph,
        n,
        r.changes,
        `${n.op} ${n.id}: strides ${at.stride_h}x${at.stride_w} -> ${flip(at.stride_h)}x${flip(at.stride_w)}`,
      );
    });
  },
});

defineKind({
  name: "conv-dilation",
  class: "hyperparameters",
  targets:
    "the dilation of a conv with a kernel wider than 1 (doubled; ONNX pads grown to keep the output size, tfl SAME convs)",
  dialects: ["onnx", "tfl"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    if (ctx.dialect === "onnx") {
      return firstValid(rng, nodesOf(graph, ctx, ["Conv"]), (n) => {
        const k = kernelOf(graph, n);
        if (!k || k.every((x) => x === 1)) return undefined;
        const at = resolveAttrs(n);
        const rank = k.length;
        const d: number[] = (at.dilations as number[] | undefined)?.length
          ? at.dilations
          : new Array(rank).fill(1);
        const d2 = d.map((x, i) => (k[i] > 1 ? 2 * x : x));
        const edits: Record<string, Attr> = { dilations: ints(d2) };
        const auto = (at.auto_pad as string | undefined) ?? "NOTSET";
        if (auto === "NOTSET") {
          // The receptive field grows by d·(k-1) per axis; padding that much more keeps the output size.
          const pads: number[] = (at.pads as number[] | undefined)?.length
            ? at.pads
            : new Array(2 * rank).fill(0);
          const p2 = [...pads];
          for (let i = 0; i < rank; i++) {
            const extra = (d2[i] - d[i]) * (k[i] - 1);
            p2[i] += Math.floor(extra / 2);
            p2[i + rank] += Math.ceil(extra / 2);
          }
          edits.pads = ints(p2);
        }
        const r = setAttrs(graph, n.id, edits);
        return result(
          r.graph,
          n,
          r.changes,
          `${n.op} ${n.id}: dilations [${d}] -> [${d2}]${
            edits.pads ? `, pads grown to [${edits.pads.value}] to keep the output size` : ""
          }`,
        );
      });
    }
    const windowed = nodesOf(graph, ctx, ["tfl.CONV_2D", "tfl.DEPTHWISE_CONV_2D"], (n) => {
      const k = tflKernel(graph, n);
      return !!k && (k[0] > 1 || k[1] > 1);
    });
    // SAME convs keep their output size under any dilation; VALID ones only where the graph absorbs it.
    const same = windowed.filter((n) => resolveAttrs(n).padding === "SAME");
    return firstValid(rng, same.length ? same : windowed, (n) => {
      const at = resolveAttrs(n);
      const k = tflKernel(graph, n)!;
      const dh = k[0] > 1 ? 2 * at.dilation_h_factor : at.dilation_h_factor;
      const dw = k[1] > 1 ? 2 * at.dilation_w_factor : at.dilation_w_factor;
      const edits: Record<string, Attr> = { dilation_h_factor: int(dh), dilation_w_factor: int(dw) };
      // Dilated depthwise convolution is operator version 2.
      if (n.op === "tfl.DEPTHWISE_CONV_2D" && (at._version ?? 1) < 2) edits._version = int(2);
      const r = setAttrs(graph, n.id, edits);
      return result(
        r.graph,
        n,
        r.changes,
        `${n.op} ${n.id}: dilation ${at.dilation_h_factor}x${at.dilation_w_factor} -> ${dh}x${dw}`,
      );
    });
  },
});

/** Float parameters of activations, with the defaults their specs give. */
const ACTIVATION_PARAMS: Record<string, string[]> = {
  LeakyRelu: ["alpha"],
  Elu: ["alpha"],
  Celu: ["alpha"],
  Selu: ["alpha", "gamma"],
  HardSigmoid: ["alpha", "beta"],
  ThresholdedRelu: ["alpha"],
  "tfl.LEAKY_RELU": ["alpha"],
  "tfl.SOFTMAX": ["beta"],
};

defineKind({
  name: "activation-param",
  class: "hyperparameters",
  targets:
    "an activation's float parameter: LeakyRelu/Elu/Celu/ThresholdedRelu alpha, Selu, HardSigmoid, tfl LEAKY_RELU alpha, tfl SOFTMAX beta",
  dialects: ["onnx", "tfl"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    const choices = nodesOf(graph, { ...ctx, avoid: new Set() }, Object.keys(ACTIVATION_PARAMS))
      .flatMap((n) =>
        ACTIVATION_PARAMS[n.op].flatMap((name) =>
          [10, 0.1].map((factor) => ({ n, name, factor, key: `${n.id}:${name}x${factor}` }))
        )
      )
      .filter((x) => !ctx.avoid.has(x.key));
    const choice = pick(rng, choices);
    if (!choice) return undefined;
    const { n, name, factor } = choice;
    const before = Number(resolveAttrs(n)[name] ?? 0);
    const after = before === 0 ? 0.2 : Math.fround(before * factor);
    const r = setAttrs(graph, n.id, { [name]: float(after) });
    return {
      ...result(r.graph, n, r.changes, `${n.op} ${n.id}: ${name} ${short(before)} -> ${short(after)}`, {
        attribute: name,
        factor: before === 0 ? null : factor,
      }),
      target: choice.key,
    };
  },
});

defineKind({
  name: "norm-epsilon",
  class: "hyperparameters",
  targets:
    "the epsilon of a BatchNormalization, InstanceNormalization, LayerNormalization or GroupNormalization",
  dialects: ["onnx"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    // (node, factor) pairs: a factor too small to show against the variances is retried with a larger one.
    const choices = nodesOf(graph, { ...ctx, avoid: new Set() }, [
      "BatchNormalization",
      "InstanceNormalization",
      "LayerNormalization",
      "GroupNormalization",
    ])
      .flatMap((n) => [3, 4, 5].map((exp) => ({ n, exp, key: `${n.id}:1e${exp}` }))).filter((x) =>
        !ctx.avoid.has(x.key)
      );
    const choice = pick(rng, choices);
    if (!choice) return undefined;
    const { n, exp } = choice;
    const before = Number(resolveAttrs(n).epsilon ?? 1e-5);
    const after = Math.fround(before * 10 ** exp);
    const r = setAttrs(graph, n.id, { epsilon: float(after) });
    return {
      ...result(r.graph, n, r.changes, `${n.op} ${n.id}: epsilon ${short(before)} -> ${short(after)}`, {
        factor: 10 ** exp,
      }),
      target: choice.key,
    };
  },
});

/**
 * TFLite's SOFTMAX and LOG_SOFTMAX always act on the last axis, and a concatenation's axis changes its output
 * shape, so in the tfl dialect there is nothing shape-preserving to move.
 */
const AXIS_OPS = ["Softmax", "LogSoftmax", "Hardmax", "Concat"];

defineKind({
  name: "axis",
  class: "hyperparameters",
  targets: "the axis of a Softmax, LogSoftmax, Hardmax or Concat (where the output shape still fits)",
  dialects: ["onnx"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    const cands: { n: Node; axis: number }[] = [];
    for (const n of nodesOf(graph, ctx, AXIS_OPS)) {
      const r = shapeOf(graph, n.inputs[0])?.length;
      if (!r) continue;
      const cur = Number(resolveAttrs(n).axis ?? -1);
      const norm = cur < 0 ? cur + r : cur;
      for (let a = 0; a < r; a++) if (a !== norm) cands.push({ n, axis: a });
    }
    return firstValid(rng, cands, ({ n, axis }) => {
      const before = Number(resolveAttrs(n).axis ?? -1);
      const r = setAttrs(graph, n.id, { axis: int(axis) });
      return result(r.graph, n, r.changes, `${n.op} ${n.id}: axis ${before} -> ${axis}`);
    });
  },
});

const COORDINATE_MODES = ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"];
const NEAREST_MODES = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"];

defineKind({
  name: "resize-mode",
  class: "hyperparameters",
  targets:
    "a Resize's mode, coordinate transformation or nearest rounding; tfl RESIZE_* corner alignment or method",
  dialects: ["onnx", "tfl"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    const all = { ...ctx, avoid: new Set<string>() };
    // (node, attribute, value) targets: for an exact 2x upscale some rounding modes pick the same pixels,
    // and a retry should then try another setting of the same Resize.
    if (ctx.dialect === "onnx") {
      const choices = nodesOf(graph, all, ["Resize"]).flatMap((n) => {
        const at = resolveAttrs(n);
        const mode = String(at.mode ?? "nearest");
        const options: [string, string][] = [
          ["mode", mode === "nearest" ? "linear" : mode === "linear" ? "nearest" : "linear"],
          ...COORDINATE_MODES.filter((m) => m !== (at.coordinate_transformation_mode ?? "half_pixel")).map((
            m,
          ) => ["coordinate_transformation_mode", m] as [string, string]),
          ...(mode === "nearest"
            ? NEAREST_MODES.filter((m) => m !== (at.nearest_mode ?? "round_prefer_floor")).map((m) =>
              ["nearest_mode", m] as [string, string]
            )
            : []),
        ];
        return options.map(([k, v]) => ({ n, k, v, key: `${n.id}:${k}=${v}` }));
      }).filter((x) => !ctx.avoid.has(x.key));
      const choice = pick(rng, choices);
      if (!choice) return undefined;
      const { n, k, v } = choice;
      const r = setAttrs(graph, n.id, { [k]: str(v) });
      return {
        ...result(
          r.graph,
          n,
          r.changes,
          `${n.op} ${n.id}: ${k} ${resolveAttrs(n)[k] ?? "(default)"} -> ${v}`,
        ),
        target: choice.key,
      };
    }
    const choices = nodesOf(graph, all, ["tfl.RESIZE_BILINEAR", "tfl.RESIZE_NEAREST_NEIGHBOR"])
      .flatMap((n) =>
        ["align_corners", "half_pixel_centers", "method"].map((what) => ({ n, what, key: `${n.id}:${what}` }))
      )
      .filter((x) => !ctx.avoid.has(x.key));
    const choice = pick(rng, choices);
    if (!choice) return undefined;
    const { n, what } = choice;
    const at = resolveAttrs(n);
    const done = (r: MutationResult) => ({ ...r, target: choice.key });
    if (what === "method") {
      const to = n.op === "tfl.RESIZE_BILINEAR" ? "tfl.RESIZE_NEAREST_NEIGHBOR" : "tfl.RESIZE_BILINEAR";
      const keep: Record<string, Attr> = {};
      for (const k of ["align_corners", "half_pixel_centers"]) if (n.attrs[k]) keep[k] = n.attrs[k];
      const g = replaceNode(graph, n.id, (x) => ({ ...x, op: to, attrs: keep }));
      const changes: Change[] = [{ type: "op", node: n.id, before: n.op, after: to }];
      for (const k of Object.keys(n.attrs)) {
        if (!keep[k]) {
          changes.push({ type: "attribute", node: n.id, name: k, before: n.attrs[k].value, after: null });
        }
      }
      return done(result(g, n, changes, `${n.op} ${n.id}: resize method -> ${to}`));
    }
    // align_corners and half_pixel_centers exclude each other; setting one clears the other.
    const on = at[what] ? 0 : 1;
    const other = what === "align_corners" ? "half_pixel_centers" : "align_corners";
    const edits: Record<string, Attr> = { [what]: int(on) };
    if (on && at[other]) edits[other] = int(0);
    const r = setAttrs(graph, n.id, edits);
    return done(result(r.graph, n, r.changes, `${n.op} ${n.id}: ${what} ${at[what]} -> ${on}`));
  },
});

/** A float attribute for descriptions: f32 values without their binary tail. */
function short(v: number): string {
  return String(+v.toPrecision(6));
}
