/**
 * Input repairs (FetaFix's preprocessing and input-dimension families, repaired first as FetaFix does):
 * - an input declared in another layout than the source's (onnx2tflite #98's implicit dimension change)
 *   takes the source's shape again, with a transpose inside to the layout the graph was built for (and a
 *   transpose pair that cancels then goes);
 * - nodes right after an input that the source does not have (a channel reversal, a rescale) go;
 * - where the diff found the target agrees once its input is transformed (RGB ↔ BGR, ×255, mean/std), that
 *   transformation is inserted at the input.
 * The first two look at the graphs' structure, so they are proposed before any localization.
 */
import type { Attr } from "../../ir/attr.ts";
import { LatheError } from "../../ir/errors.ts";
import type { Graph, Node } from "../../ir/graph.ts";
import { graphIndex } from "../../ir/graph.ts";
import { candidatePerms, fullPerm } from "../diff/layout-relation.ts";
import type { GraphMatch } from "../diff/match.ts";
import { isLayoutOp } from "../diff/op-equivalence.ts";
import type { Dialect, Editor, NewNode } from "./edit.ts";
import { f32Constant } from "./parameters.ts";
import { type Fix, type FixMaker, repair } from "./rule.ts";
import { inversePerm, staticShapeOf } from "./weight-layout.ts";

const make = (rule: string, description: string, apply: (ed: Editor) => void): Fix => ({
  rule,
  class: "input",
  description,
  apply,
});

function transposeNode(
  dialect: Dialect,
  x: string,
  perm: readonly number[],
  stem: string,
  ed: Editor,
): NewNode {
  if (dialect === "onnx") {
    return { op: "Transpose", inputs: [x], attrs: { perm: { type: "ints", value: [...perm] } }, stem };
  }
  const p = ed.addConstant(`${stem}_perm`, {
    dtype: "i32",
    shape: [perm.length],
    bytes: new Uint8Array(Int32Array.from(perm).buffer),
  });
  return { op: "tfl.TRANSPOSE", inputs: [x, p], stem };
}

export function permOf(g: Graph, n: Node): number[] | undefined {
  if (n.op === "Transpose") {
    const p = n.attrs.perm;
    return p?.type === "ints" ? [...p.value] : undefined;
  }
  if (n.op === "tfl.TRANSPOSE") {
    const c = n.inputs[1] ? g.constants[n.inputs[1]] : undefined;
    if (!c || c.dtype !== "i32" || !c.bytes) return undefined;
    return Array.from(new Int32Array(c.bytes.slice().buffer));
  }
  return undefined;
}

/** Removes a transpose and its only reader when the two compose to the identity. */
export function cancelTransposes(ed: Editor, first: string): void {
  const g = ed.graph;
  const a = g.nodes.find((n) => n.id === first);
  if (!a) return;
  const readers = graphIndex(g).users.get(a.outputs[0]) ?? [];
  if (readers.length !== 1 || g.outputs.includes(a.outputs[0])) return;
  const b = readers[0];
  const p = permOf(g, a), q = permOf(g, b);
  if (!p || !q || p.length !== q.length || !q.every((x, i) => p[x] === i)) return;
  ed.bypass(b.id, 0);
  ed.bypass(a.id, 0);
}

/** Inputs whose declared shape is another layout of the source input's shape. */
export function inputDimensionFixes(source: Graph, target: Graph, dialect: Dialect): Fix[] {
  const out: Fix[] = [];
  const sIn = source.inputs.filter((v) => !source.constants[v]);
  const tIn = target.inputs.filter((v) => !target.constants[v]);
  tIn.forEach((name, i) => {
    const s = sIn[i] ? source.values[sIn[i]]?.type : undefined, t = target.values[name]?.type;
    if (s?.kind !== "tensor" || t?.kind !== "tensor" || !s.shape || !t.shape) return;
    if (
      s.shape.length !== t.shape.length ||
      s.shape.every((d, k) => d === t.shape![k] || typeof d !== "number" || typeof t.shape![k] !== "number")
    ) return;
    const sShape = staticShapeOf(source, sIn[i]), tShape = staticShapeOf(target, name);
    if (!sShape || !tShape) return;
    // A transpose the input already goes through: the layout it restores is the likeliest intended one.
    const readers = graphIndex(target).users.get(name) ?? [];
    const q = readers.length === 1 ? permOf(target, readers[0]) : undefined;
    const cancels = (p: number[]) => !!q && q.length === p.length && q.every((x, i) => p[x] === i);
    const perms = candidatePerms(sShape, tShape, 8)
      .map((c) => fullPerm({ kind: "perm", perm: c }, sShape, tShape))
      .filter((f): f is number[] => !!f)
      // perm maps source axes to target axes; the transpose inside takes source-layout data to the declared layout.
      .map(inversePerm)
      .sort((a, b) => Number(cancels(b)) - Number(cancels(a)));
    for (const perm of perms) {
      out.push(
        make(
          "restore-input-dims",
          `input ${name}: declared [${sShape}] as the source's (was [${tShape}]), transposed (${perm}) inside to the layout the graph reads`,
          (ed) => {
            ed.setInputType(name, { ...t, shape: [...sShape] });
            const n = ed.insertAfter(name, transposeNode(dialect, name, perm, `${name}_source_layout`, ed));
            cancelTransposes(ed, n.id);
          },
        ),
      );
    }
  });
  return out;
}

/**
 * Compute nodes right after a target input that have no counterpart in the source (preprocessing the
 * source does not do), up to the first paired node. Layout nodes are passed over, not removed.
 */
export function inputChainFixes(match: GraphMatch): Fix[] {
  const T = match.targetEvents;
  const g = T.graph;
  const out: Fix[] = [];
  const eventOf = (n: Node) => T.events.find((e) => e.node === n && e.part === 0);
  // Nodes of an equivalent rewrite (an explicit PAD folded into the window after it) are passed over.
  const explained = new Set(
    match.regions.filter((r) => r.explained).flatMap((r) => r.target.map((x) => x.node)),
  );
  for (const input of g.inputs) {
    if (g.constants[input]) continue;
    const chain: Node[] = [];
    let cur = input;
    for (let guard = 0; guard < 16; guard++) {
      const readers = graphIndex(g).users.get(cur) ?? [];
      if (readers.length !== 1) break;
      const n = readers[0];
      const data = n.inputs.filter((v) => v && !(v in g.constants));
      if (data.length !== 1 || n.outputs.length !== 1) break;
      // Explicit padding belongs to the window after it, not to preprocessing.
      const padding = n.op === "Pad" || n.op === "tfl.PAD" || n.op === "tfl.PADV2";
      if (!isLayoutOp(n.op) && !explained.has(n.id) && !padding) {
        const e = eventOf(n);
        if (!e || match.targetToSource.has(e.index)) break;
        chain.push(n);
      }
      cur = n.outputs[0];
    }
    if (!chain.length) continue;
    out.push(
      make(
        "remove-input-preprocessing",
        `${
          chain.map((n) => `${n.op} ${n.id}`).join(", ")
        } after input ${input} removed (the source does not preprocess its input so)`,
        (ed) => {
          for (const n of [...chain].reverse()) {
            ed.bypass(n.id, n.inputs.findIndex((v) => v && !(v in g.constants)));
          }
        },
      ),
    );
    if (chain.length > 1) {
      for (const n of chain) {
        out.push(
          make(
            "remove-input-preprocessing",
            `${n.op} ${n.id} after input ${input} removed`,
            (ed) =>
              ed.bypass(
                n.id,
                n.inputs.findIndex((v) => v && !(v in g.constants)),
              ),
          ),
        );
      }
    }
  }
  return out;
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406], IMAGENET_STD = [0.229, 0.224, 0.225];

/** The input transformation the diff's probe found, inserted at the target's inputs. */
function probeTransform(
  desc: string,
  shape: readonly number[],
  dialect: Dialect,
): { mul: number[]; add: number[]; channelAxis?: number } | "reverse-channels" | "swap-hw" | undefined {
  const axis = shape.length === 4
    ? (shape[1] === 3 ? 1 : shape[3] === 3 ? 3 : dialect === "tfl" ? 3 : 1)
    : undefined;
  if (desc.includes("channel order")) return "reverse-channels";
  if (desc.includes("height and width")) return "swap-hw";
  if (desc.includes("multiplied by 255")) return { mul: [255], add: [0] };
  if (desc.includes("divided by 255")) return { mul: [1 / 255], add: [0] };
  if (desc.includes("[0, 1] to [-1, 1]")) return { mul: [2], add: [-1] };
  if (desc.includes("[-1, 1] to [0, 1]")) return { mul: [0.5], add: [0.5] };
  if (desc.includes("ImageNet normalization undone") && axis !== undefined) {
    return { mul: IMAGENET_STD, add: IMAGENET_MEAN, channelAxis: axis };
  }
  if (desc.includes("ImageNet mean and std") && axis !== undefined) {
    return {
      mul: IMAGENET_STD.map((s) => 1 / s),
      add: IMAGENET_MEAN.map((m, k) => -m / IMAGENET_STD[k]),
      channelAxis: axis,
    };
  }
  return undefined;
}

export const insertPreprocessing = repair(
  "insert-preprocessing",
  "input",
  ["input"],
  (f, ctx, fix: FixMaker) => {
    const d = f.evidence.detail as { transformation?: string } | undefined;
    if (!d?.transformation) return [];
    const g = ctx.target;
    const out: Fix[] = [];
    for (const input of g.inputs) {
      if (g.constants[input]) continue;
      const shape = staticShapeOf(g, input);
      const t = g.values[input]?.type;
      if (!shape || t?.kind !== "tensor" || t.dtype !== "f32") continue;
      const tr = probeTransform(d.transformation, shape, ctx.dialect);
      if (!tr) continue;
      out.push(fix(`input ${input}: ${d.transformation} before the first layer`, (ed) => {
        if (tr === "reverse-channels" || tr === "swap-hw") {
          if (shape.length !== 4) throw new LatheError("unsupported", `input ${input} is not rank 4`);
          if (tr === "swap-hw") {
            const [h, w] = shape[3] === 3 || ctx.dialect === "tfl" ? [1, 2] : [2, 3];
            const perm = [0, 1, 2, 3];
            [perm[h], perm[w]] = [perm[w], perm[h]];
            ed.insertAfter(input, transposeNode(ctx.dialect, input, perm, `${input}_hw`, ed));
            return;
          }
          const axis = shape[1] === 3 ? 1 : 3;
          const c = shape[axis];
          const order = Array.from({ length: c }, (_, k) => c - 1 - k);
          const idx = ed.addConstant(
            `${input}_channel_order`,
            ctx.dialect === "onnx"
              ? { dtype: "i64", shape: [c], bytes: new Uint8Array(BigInt64Array.from(order, BigInt).buffer) }
              : { dtype: "i32", shape: [c], bytes: new Uint8Array(Int32Array.from(order).buffer) },
          );
          const attrs: Record<string, Attr> = { axis: { type: "int", value: axis } };
          if (ctx.dialect === "tfl") attrs.batch_dims = { type: "int", value: 0 };
          ed.insertAfter(input, {
            op: ctx.dialect === "onnx" ? "Gather" : "tfl.GATHER",
            inputs: [input, idx],
            attrs,
            stem: `${input}_channels`,
          });
          return;
        }
        const opShape = tr.mul.length === 1
          ? [1]
          : tr.channelAxis === 1
          ? [1, tr.mul.length, 1, 1]
          : [tr.mul.length];
        const m = ed.addConstant(`${input}_scale`, f32Constant(opShape, Float32Array.from(tr.mul)));
        const mul = ed.insertAfter(input, {
          op: ctx.dialect === "onnx" ? "Mul" : "tfl.MUL",
          inputs: [input, m],
          stem: `${input}_scale`,
        });
        if (tr.add.some((v) => v !== 0)) {
          const a = ed.addConstant(`${input}_shift`, f32Constant(opShape, Float32Array.from(tr.add)));
          ed.insertAfter(mul.outputs[0], {
            op: ctx.dialect === "onnx" ? "Add" : "tfl.ADD",
            inputs: [mul.outputs[0], a],
            stem: `${input}_shift`,
          });
        }
      }));
    }
    return out;
  },
);
