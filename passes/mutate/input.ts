/**
 * Input faults (FetaFix's preprocessing and input-dimension families): the model reads its input in a
 * different channel order, layout or value range than the caller feeds. Each is a node chain inserted
 * right after the graph input, so the interface keeps its name and the rest of the graph is untouched.
 */
import { produce } from "immer";
import type { Attr } from "../../ir/attr.ts";
import type { Graph, Node, ValueInfo } from "../../ir/graph.ts";
import { usersOf } from "../../ir/graph.ts";
import { printValueType } from "../../ir/value-type.ts";
import type { Rng } from "../../runtime/random.ts";
import {
  constantInts,
  contextOf,
  dtypeOf,
  f32Constant,
  freshName,
  insertChain,
  intConstant,
  type NewNode,
  pick,
  shapeOf,
} from "./graph-edit.ts";
import {
  type Change,
  defineKind,
  type Dialect,
  type MutateContext,
  type MutationResult,
  nodeRef,
} from "./kind.ts";

interface ImageInput {
  name: string;
  shape: number[];
  /** The axis holding channels: 1 for NCHW, 3 for NHWC. */
  channelAxis: number;
}

/**
 * Rank-4 float inputs and where their channels are. ONNX is NCHW; a TFLite input is NHWC unless its only
 * reader transposes it to NHWC (an NCHW interface kept by a converter).
 */
function imageInputs(g: Graph, ctx: MutateContext): ImageInput[] {
  const out: ImageInput[] = [];
  for (const name of g.inputs) {
    if (ctx.avoid.has(name) || dtypeOf(g, name) !== "f32") continue;
    const shape = shapeOf(g, name);
    if (!shape || shape.length !== 4 || usersOf(g, name).length === 0) continue;
    out.push({ name, shape, channelAxis: channelAxisOf(g, name, ctx.dialect) });
  }
  return out;
}

function channelAxisOf(g: Graph, input: string, dialect: Dialect): number {
  if (dialect === "onnx") return 1;
  const users = usersOf(g, input);
  if (users.length === 1 && users[0].op === "tfl.TRANSPOSE") {
    const perm = constantInts(g, users[0].inputs[1]);
    if (perm && perm.join(",") === "0,2,3,1") return 1;
  }
  return 3;
}

function finish(
  g: Graph,
  target: string,
  inserted: Node[],
  changes: Change[],
  description: string,
  params: Record<string, unknown>,
): MutationResult {
  return {
    graph: g,
    target,
    record: {
      node: nodeRef(inserted[0]),
      description,
      changes,
      params: { input: inserted[0].inputs[0], ...params },
    },
  };
}

defineKind({
  name: "input-channel-order",
  class: "input",
  targets: "a rank-4 float graph input with 2 or more channels (RGB read as BGR)",
  dialects: ["onnx", "tfl"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    const img = pick(rng, imageInputs(graph, ctx).filter((i) => i.shape[i.channelAxis] >= 2));
    if (!img) return undefined;
    const channels = img.shape[img.channelAxis];
    const order = Array.from({ length: channels }, (_, k) => channels - 1 - k);
    const idx = freshName(graph, `${img.name}_channel_order`);
    const node: NewNode = ctx.dialect === "onnx"
      ? {
        op: "Gather",
        stem: `${img.name}_bgr`,
        extraInputs: [idx],
        attrs: { axis: int(img.channelAxis) },
        constants: { [idx]: intConstant("i64", [channels], order) },
      }
      : {
        op: "tfl.GATHER",
        stem: `${img.name}_bgr`,
        extraInputs: [idx],
        attrs: { axis: int(img.channelAxis), batch_dims: int(0) },
        constants: { [idx]: intConstant("i32", [channels], order) },
      };
    const r = insertChain(graph, ctx.dialect, img.name, [node]);
    return finish(
      r.graph,
      img.name,
      r.inserted,
      r.changes,
      `input ${img.name}: channels read in reverse order (${order.join(",")}) on axis ${img.channelAxis}`,
      {
        channelAxis: img.channelAxis,
        order,
      },
    );
  },
});

defineKind({
  name: "input-layout",
  class: "input",
  targets: "a rank-4 float graph input (NCHW declared as NHWC or the reverse)",
  dialects: ["onnx", "tfl"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    // With one channel or one pixel the two layouts order the elements alike: nothing would change.
    const spatial = (i: ImageInput) =>
      i.shape.reduce((p, d, k) => (k === 0 || k === i.channelAxis ? p : p * d), 1);
    const img = pick(
      rng,
      imageInputs(graph, ctx).filter((i) => i.shape[i.channelAxis] > 1 && spatial(i) > 1),
    );
    if (!img) return undefined;
    const s = img.shape;
    // The declared shape becomes the other layout; a transpose restores what the graph was built for, so a
    // caller still feeding the old layout's bytes gets them reinterpreted.
    const nchw = img.channelAxis === 1;
    const declared = nchw ? [s[0], s[2], s[3], s[1]] : [s[0], s[3], s[1], s[2]];
    const perm = nchw ? [0, 3, 1, 2] : [0, 2, 3, 1];
    const before = graph.values[img.name].type;
    const after = { kind: "tensor" as const, dtype: "f32" as const, shape: declared };
    const retyped = produce(graph, (d) => {
      (d.values as Record<string, ValueInfo>)[img.name] = { ...graph.values[img.name], type: after };
    });
    const permName = freshName(graph, `${img.name}_layout_perm`);
    const node: NewNode = ctx.dialect === "onnx"
      ? { op: "Transpose", stem: `${img.name}_layout`, attrs: { perm: { type: "ints", value: perm } } }
      : {
        op: "tfl.TRANSPOSE",
        stem: `${img.name}_layout`,
        extraInputs: [permName],
        constants: { [permName]: intConstant("i32", [4], perm) },
      };
    const r = insertChain(retyped, ctx.dialect, img.name, [node]);
    const changes: Change[] = [{
      type: "graph-input",
      name: img.name,
      before: printValueType(before),
      after: printValueType(after),
    }, ...r.changes];
    return finish(
      r.graph,
      img.name,
      r.inserted,
      changes,
      `input ${img.name}: declared ${nchw ? "NHWC" : "NCHW"} [${declared}] instead of ${
        nchw ? "NCHW" : "NHWC"
      } [${s}], transposed back inside (perm ${perm})`,
      {
        from: nchw ? "NCHW" : "NHWC",
        to: nchw ? "NHWC" : "NCHW",
        shapeBefore: s,
        shapeAfter: declared,
        perm,
      },
    );
  },
});

interface ScalePreset {
  name: string;
  /** Per-channel (length C) or single values: x * scale + shift. */
  scale: number[];
  shift: number[];
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406], IMAGENET_STD = [0.229, 0.224, 0.225];

function presets(channels: number): ScalePreset[] {
  const out: ScalePreset[] = [
    { name: "pixels in [0, 255] where [0, 1] was expected", scale: [255], shift: [0] },
    { name: "[0, 1] normalization where [-1, 1] was expected", scale: [0.5], shift: [0.5] },
  ];
  if (channels === 3) {
    out.push({
      name: "ImageNet mean/std normalization applied twice",
      scale: IMAGENET_STD.map((s) => 1 / s),
      shift: IMAGENET_MEAN.map((m, k) => -m / IMAGENET_STD[k]),
    });
  }
  return out;
}

defineKind({
  name: "input-scale",
  class: "input",
  targets: "a float graph input (value range or mean/std normalization changed)",
  dialects: ["onnx", "tfl"],
  apply(graph: Graph, rng: Rng, c?: Partial<MutateContext>) {
    const ctx = contextOf(graph, c);
    // (input, preset) targets, so a preset without effect on this model is retried with another one.
    const choices = graph.inputs.filter((n) =>
      dtypeOf(graph, n) === "f32" && shapeOf(graph, n) && usersOf(graph, n).length > 0
    ).flatMap((name) => {
      const shape = shapeOf(graph, name)!;
      const img = shape.length === 4
        ? imageInputs(graph, { ...ctx, avoid: new Set() }).find((i) => i.name === name)
        : undefined;
      return presets(img ? shape[img.channelAxis] : 0).map((preset) => ({
        name,
        img,
        preset,
        key: `${name}:${preset.name}`,
      }));
    }).filter((x) => !ctx.avoid.has(x.key));
    const choice = pick(rng, choices);
    if (!choice) return undefined;
    const { name, img, preset } = choice;
    const channels = img ? shapeOf(graph, name)![img.channelAxis] : 0;
    // Per-channel operands broadcast along the channel axis: [1,C,1,1] for NCHW, [C] for NHWC.
    const operandShape = preset.scale.length === 1
      ? [1]
      : img!.channelAxis === 1
      ? [1, channels, 1, 1]
      : [channels];
    const sName = freshName(graph, `${name}_scale`),
      bName = freshName(graph, `${name}_shift`, new Set([sName]));
    const chain: NewNode[] = [{
      op: ctx.dialect === "onnx" ? "Mul" : "tfl.MUL",
      stem: `${name}_rescale`,
      extraInputs: [sName],
      constants: { [sName]: f32Constant(operandShape, Float32Array.from(preset.scale)) },
    }];
    if (preset.shift.some((v) => v !== 0)) {
      chain.push({
        op: ctx.dialect === "onnx" ? "Add" : "tfl.ADD",
        stem: `${name}_reshift`,
        extraInputs: [bName],
        constants: { [bName]: f32Constant(operandShape, Float32Array.from(preset.shift)) },
      });
    }
    const r = insertChain(graph, ctx.dialect, name, chain);
    return finish(
      r.graph,
      choice.key,
      r.inserted,
      r.changes,
      `input ${name}: ${preset.name} (x * [${fmt(preset.scale)}] + [${fmt(preset.shift)}])`,
      {
        preset: preset.name,
        scale: preset.scale,
        shift: preset.shift,
      },
    );
  },
});

function fmt(v: number[]): string {
  return v.map((x) => +x.toFixed(4)).join(", ");
}

function int(value: number): Attr {
  return { type: "int", value };
}
