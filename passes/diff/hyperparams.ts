/**
 * Hyperparameters of paired nodes in one normalized form, so an ONNX Conv's `pads`/`auto_pad` compare
 * with a TFLite CONV_2D's SAME/VALID padding (resolved at the input's size, plus any explicit PAD in front
 * of it), strides with stride_h/stride_w, group with the depthwise form, and activation parameters (alpha,
 * bounds) across dialects. Nodes of the same op compare every attribute and every integer constant operand
 * (reshape targets, pad amounts, slice bounds) as written, with the declared defaults filled in.
 */
import type { Graph, Node } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import { windowAxis } from "../../ir/ops/tflite-geometry.ts";
import type { Event, EventGraph } from "./event-graph.ts";
import { constantSource } from "./constant-source.ts";
import { toNumbers } from "../../runtime/tensor.ts";

export interface HyperDiff {
  /** Attribute name in normalized form (`pads`, `strides`, `epsilon`) or `input N` for constant operands. */
  readonly name: string;
  readonly source: unknown;
  readonly target: unknown;
}

/** Runtime (or static) shape of a value on one side. */
export type ShapeLookup = (v: string) => readonly number[] | undefined;

interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** [begin, end] per spatial axis. */
  pads: [number, number][];
  group?: number;
  ceil?: number;
  countIncludePad?: number;
  /** Input sizes along the spatial axes, when known (for the padding actually read). */
  sizes?: number[];
}

/**
 * Padding at the end beyond what the last window reads changes nothing ([1, 1] and [1, 0] agree for a
 * stride-2 3×3 window on an even size), so the end padding is cut to the part a window covers.
 */
function effectivePads(w: Window): Window {
  const sizes = w.sizes;
  if (!sizes || sizes.length !== w.pads.length) return w;
  const pads = w.pads.map(([b, e], i): [number, number] => {
    const k = (w.kernel[i] - 1) * w.dilations[i] + 1, st = w.strides[i];
    const span = sizes[i] + b + e - k;
    if (span < 0 || !(st > 0)) return [b, e];
    const out = (w.ceil ? Math.ceil(span / st) : Math.floor(span / st)) + 1;
    const read = (out - 1) * st + k - sizes[i] - b;
    return [b, Math.max(0, Math.min(e, read))];
  });
  return { ...w, pads };
}

const CHANNELS_LAST = (op: string) => op.startsWith("tfl.");

function ints(v: unknown, n: number, fill: number): number[] {
  const xs = Array.isArray(v) ? (v as number[]) : [];
  return xs.length === n ? [...xs] : new Array<number>(n).fill(fill);
}

/** The spatial sizes of a node's data input, in spatial-axis order. */
function spatialSizes(n: Node, shape: ShapeLookup, rank: number): number[] | undefined {
  const x = n.op === "tfl.TRANSPOSE_CONV" ? n.inputs[2] : n.inputs[0];
  const s = x ? shape(x) : undefined;
  if (!s) return undefined;
  return CHANNELS_LAST(n.op) ? s.slice(1, 1 + rank) : s.slice(2, 2 + rank);
}

function onnxPads(
  at: Record<string, any>,
  sizes: number[] | undefined,
  k: number[],
  st: number[],
  dil: number[],
) {
  const n = k.length;
  const autoPad = at.auto_pad ?? "NOTSET";
  if (autoPad === "NOTSET" || autoPad === "") {
    const p = ints(at.pads, 2 * n, 0);
    return Array.from({ length: n }, (_, i) => [p[i], p[i + n]] as [number, number]);
  }
  if (autoPad === "VALID") return Array.from({ length: n }, () => [0, 0] as [number, number]);
  if (!sizes) return undefined;
  return sizes.map((size, i) => {
    const out = Math.ceil(size / st[i]);
    const total = Math.max((out - 1) * st[i] + (k[i] - 1) * dil[i] + 1 - size, 0);
    const small = Math.floor(total / 2);
    return (autoPad === "SAME_LOWER" ? [total - small, small] : [small, total - small]) as [number, number];
  });
}

function tflPads(padding: string, sizes: number[] | undefined, k: number[], st: number[], dil: number[]) {
  if (padding === "VALID") return k.map(() => [0, 0] as [number, number]);
  if (!sizes) return undefined;
  try {
    return sizes.map((size, i) => {
      const a = windowAxis(padding, size, k[i], st[i], dil[i]);
      return [a.padBefore, a.padAfter] as [number, number];
    });
  } catch {
    return undefined;
  }
}

/** The window of a convolution or pooling node, or undefined when it is not one. */
function windowOf(g: Graph, n: Node, shape: ShapeLookup): Window | undefined {
  const at = resolveAttrs(n) as Record<string, any>;
  const wShape = () => {
    const w = n.inputs[1] ? constantSource(g, n.inputs[1])?.tensor.shape : undefined;
    return w ?? (n.inputs[1] ? shape(n.inputs[1]) : undefined);
  };
  switch (n.op) {
    case "Conv":
    case "com.microsoft.FusedConv":
    case "ConvTranspose": {
      const w = wShape();
      if (!w) return undefined;
      const k = w.slice(2);
      const st = ints(at.strides, k.length, 1), dil = ints(at.dilations, k.length, 1);
      const sizes = spatialSizes(n, shape, k.length);
      const pads = onnxPads(at, sizes, k, st, dil);
      if (!pads) return undefined;
      const forward = n.op !== "ConvTranspose" && sizes ? { sizes } : {};
      return { kernel: k, strides: st, dilations: dil, pads, group: at.group ?? 1, ...forward };
    }
    case "tfl.CONV_2D":
    case "tfl.DEPTHWISE_CONV_2D": {
      const w = wShape();
      if (!w) return undefined;
      const k = [w[1], w[2]];
      const st = [at.stride_h, at.stride_w], dil = [at.dilation_h_factor, at.dilation_w_factor];
      const sizes = spatialSizes(n, shape, 2);
      const pads = tflPads(at.padding, sizes, k, st, dil);
      if (!pads) return undefined;
      const x = n.inputs[0] ? shape(n.inputs[0]) : undefined;
      const cin = x?.[3];
      const group = n.op === "tfl.DEPTHWISE_CONV_2D" ? cin : cin !== undefined ? cin / w[3] : undefined;
      return {
        kernel: k,
        strides: st,
        dilations: dil,
        pads,
        ...(group !== undefined ? { group } : {}),
        ...(sizes ? { sizes } : {}),
      };
    }
    case "MaxPool":
    case "AveragePool":
    case "LpPool": {
      const k = [...(at.kernel_shape as number[])];
      const st = ints(at.strides, k.length, 1), dil = ints(at.dilations, k.length, 1);
      const sizes = spatialSizes(n, shape, k.length);
      const pads = onnxPads(at, sizes, k, st, dil);
      if (!pads) return undefined;
      return {
        ...(sizes ? { sizes } : {}),
        kernel: k,
        strides: st,
        dilations: dil,
        pads,
        ceil: at.ceil_mode ?? 0,
        ...(n.op === "AveragePool" ? { countIncludePad: at.count_include_pad ?? 0 } : {}),
      };
    }
    case "tfl.MAX_POOL_2D":
    case "tfl.AVERAGE_POOL_2D":
    case "tfl.L2_POOL_2D": {
      const k = [at.filter_height, at.filter_width], st = [at.stride_h, at.stride_w], dil = [1, 1];
      const sizes = spatialSizes(n, shape, 2);
      const pads = tflPads(at.padding, sizes, k, st, dil);
      if (!pads) return undefined;
      return {
        ...(sizes ? { sizes } : {}),
        kernel: k,
        strides: st,
        dilations: dil,
        pads,
        ceil: 0,
        ...(n.op === "tfl.AVERAGE_POOL_2D" ? { countIncludePad: 0 } : {}),
      };
    }
  }
  return undefined;
}

/** Spatial padding of an explicit pad node (zeros only), in spatial-axis order. */
function padAmounts(g: Graph, n: Node, spatialRank: number): [number, number][] | undefined {
  const p = n.inputs[1] ? constantSource(g, n.inputs[1]) : undefined;
  if (!p) return undefined;
  const xs = toNumbers(p.tensor);
  if (n.op === "Pad") {
    const mode = resolveAttrs(n).mode ?? "constant";
    const cv = n.inputs[2] ? constantSource(g, n.inputs[2]) : undefined;
    if (mode !== "constant" || (cv && toNumbers(cv.tensor).some((v) => v !== 0)) || n.inputs[3]) {
      return undefined;
    }
    const r = xs.length / 2;
    return Array.from(
      { length: spatialRank },
      (_, i) => [xs[r - spatialRank + i], xs[2 * r - spatialRank + i]] as [number, number],
    );
  }
  if (n.op === "tfl.PAD" || n.op === "tfl.PADV2") {
    const r = xs.length / 2;
    // NHWC: spatial axes are 1..rank-2.
    return Array.from(
      { length: spatialRank },
      (_, i) => [xs[2 * (1 + i)], xs[2 * (1 + i) + 1]] as [number, number],
    ).slice(0, r - 2);
  }
  return undefined;
}

/** Explicit zero padding the window's input went through (unpaired pad events right before it). */
function absorbedPads(eg: EventGraph, e: Event, paired: ReadonlyMap<number, number>, rank: number) {
  const total = Array.from({ length: rank }, () => [0, 0] as [number, number]);
  let cur = e.inputs[0]?.event;
  let found = false;
  while (cur !== undefined && cur >= 0 && !paired.has(cur)) {
    const pe = eg.events[cur];
    if (pe.cls !== "pad" || !pe.node) break;
    const p = padAmounts(eg.graph, pe.node, rank);
    if (!p) break;
    p.forEach(([b, a], i) => {
      total[i][0] += b;
      total[i][1] += a;
    });
    found = true;
    cur = pe.inputs[0]?.event;
  }
  return found ? total : undefined;
}

/** Drops spatial axes that do nothing (kernel 1, stride 1, no padding) when the two ranks differ. */
function alignWindows(a: Window, b: Window): [Window, Window] {
  if (a.kernel.length === b.kernel.length) return [a, b];
  const trim = (w: Window, keep: number): Window => {
    const idx = w.kernel.map((_, i) => i).filter((i) =>
      !(w.kernel[i] === 1 && w.strides[i] === 1 && w.pads[i][0] === 0 && w.pads[i][1] === 0)
    );
    while (idx.length < keep) idx.unshift(idx.length ? Math.max(0, idx[0] - 1) : 0);
    const pick = <T>(xs: T[]) => idx.map((i) => xs[i]);
    return {
      ...w,
      kernel: pick(w.kernel),
      strides: pick(w.strides),
      dilations: pick(w.dilations),
      pads: pick(w.pads),
      ...(w.sizes ? { sizes: pick(w.sizes) } : {}),
    };
  };
  const n = Math.min(a.kernel.length, b.kernel.length);
  return [a.kernel.length > n ? trim(a, n) : a, b.kernel.length > n ? trim(b, n) : b];
}

function same(x: unknown, y: unknown): boolean {
  if (typeof x === "number" && typeof y === "number") {
    return x === y || Math.abs(x - y) <= 1e-6 * Math.max(Math.abs(x), Math.abs(y)) ||
      (Number.isNaN(x) && Number.isNaN(y));
  }
  if (Array.isArray(x) && Array.isArray(y)) return x.length === y.length && x.every((v, i) => same(v, y[i]));
  return x === y;
}

/** Activation parameters in a dialect-free form. */
function activationParams(g: Graph, n: Node, cls: string, part: number): Record<string, unknown> {
  if (part > 0) return {};
  const at = resolveAttrs(n) as Record<string, any>;
  switch (cls) {
    case "leaky-relu":
    case "elu":
    case "celu":
      return { alpha: at.alpha };
    case "hard-sigmoid":
      return { alpha: at.alpha, beta: at.beta };
    case "selu":
      return { alpha: at.alpha, gamma: at.gamma };
    case "gelu":
      return { approximate: at.approximate === "tanh" || at.approximate === 1 ? "tanh" : "none" };
    case "clip": {
      const lo = n.inputs[1] ? constantSource(g, n.inputs[1]) : undefined;
      const hi = n.inputs[2] ? constantSource(g, n.inputs[2]) : undefined;
      return { min: lo ? toNumbers(lo.tensor)[0] : -Infinity, max: hi ? toNumbers(hi.tensor)[0] : Infinity };
    }
  }
  return {};
}

/** Integer constant operands and Clip/Pad/Resize scalars: hyperparameters written as inputs. */
function hyperOperands(g: Graph, n: Node): Map<number, number[]> {
  const out = new Map<number, number[]>();
  n.inputs.forEach((v, i) => {
    if (!v || i === 0) return;
    const c = constantSource(g, v);
    if (!c) return;
    const d = c.tensor.dtype;
    const integer = typeof d === "string" && (d[0] === "i" || d[0] === "u" || d === "bool");
    const scalarLike = (n.op === "Clip" || n.op === "Pad" || n.op === "Resize") && c.tensor.data.length <= 16;
    if (!integer && !scalarLike) return;
    try {
      out.set(i, toNumbers(c.tensor).slice(0, 64));
    } catch {
      // A constant that cannot be read as numbers is not a hyperparameter.
    }
  });
  return out;
}

export interface HyperSide {
  readonly events: EventGraph;
  readonly event: Event;
  /** Paired events on this side (so unpaired pads in front of a window count as its padding). */
  readonly paired: ReadonlyMap<number, number>;
  readonly shape: ShapeLookup;
}

/** Differences between the hyperparameters of two paired events. */
export function compareHyperparameters(a: HyperSide, b: HyperSide): HyperDiff[] {
  const sn = a.event.node, tn = b.event.node;
  if (!sn || !tn) return [];
  const diffs: HyperDiff[] = [];
  const push = (name: string, x: unknown, y: unknown) => {
    if (!same(x, y)) diffs.push({ name, source: x, target: y });
  };
  if (a.event.part === 0 && b.event.part === 0) {
    let wa = windowOf(a.events.graph, sn, a.shape), wb = windowOf(b.events.graph, tn, b.shape);
    if (wa && wb) {
      const pa = absorbedPads(a.events, a.event, a.paired, wa.kernel.length);
      const pb = absorbedPads(b.events, b.event, b.paired, wb.kernel.length);
      // The window then reads the unpadded input with the explicit padding added to its own.
      const absorb = (w: Window, p: [number, number][]): Window => ({
        ...w,
        pads: w.pads.map(([x, y], i) => [x + p[i][0], y + p[i][1]]),
        ...(w.sizes ? { sizes: w.sizes.map((d, i) => d - p[i][0] - p[i][1]) } : {}),
      });
      if (pa) wa = absorb(wa, pa);
      if (pb) wb = absorb(wb, pb);
      wa = effectivePads(wa);
      wb = effectivePads(wb);
      [wa, wb] = alignWindows(wa, wb);
      push("kernel", wa.kernel, wb.kernel);
      push("strides", wa.strides, wb.strides);
      push("dilations", wa.dilations, wb.dilations);
      push("pads", wa.pads, wb.pads);
      if (wa.group !== undefined && wb.group !== undefined) push("group", wa.group, wb.group);
      if (wa.ceil !== undefined && wb.ceil !== undefined) push("ceil_mode", wa.ceil, wb.ceil);
      if (wa.countIncludePad !== undefined && wb.countIncludePad !== undefined) {
        push("count_include_pad", wa.countIncludePad, wb.countIncludePad);
      }
      if (sn.op !== tn.op) return diffs;
    }
  }
  if (sn.op === tn.op && a.event.part === 0 && b.event.part === 0) {
    const ra = resolveAttrs(sn) as Record<string, unknown>, rb = resolveAttrs(tn) as Record<string, unknown>;
    const windowKeys = new Set([
      "pads",
      "strides",
      "dilations",
      "kernel_shape",
      "auto_pad",
      "group",
      "padding",
    ]);
    const skipWindow = windowOf(a.events.graph, sn, a.shape) !== undefined;
    for (const k of new Set([...Object.keys(ra), ...Object.keys(rb)])) {
      if (k === "_version" || (skipWindow && windowKeys.has(k))) continue;
      const x = ra[k], y = rb[k];
      if (typeof x === "object" && x !== null && !Array.isArray(x)) continue;
      push(k, x, y);
    }
    const oa = hyperOperands(a.events.graph, sn), ob = hyperOperands(b.events.graph, tn);
    for (const i of new Set([...oa.keys(), ...ob.keys()])) push(`input ${i}`, oa.get(i), ob.get(i));
    return diffs;
  }
  if (a.event.cls === b.event.cls) {
    const pa = activationParams(a.events.graph, sn, a.event.cls, a.event.part);
    const pb = activationParams(b.events.graph, tn, b.event.cls, b.event.part);
    for (const k of new Set([...Object.keys(pa), ...Object.keys(pb)])) push(k, pa[k], pb[k]);
  }
  return diffs;
}
