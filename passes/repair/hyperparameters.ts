/**
 * Hyperparameter repairs (FetaFix's `check_and_replace_hyperparameter`): a layer's attributes take the
 * source's values, written the target's way. Windows compare in the diff's normalized form (pads per
 * spatial axis including any explicit PAD in front, strides, dilations), so a window repair translates
 * back: ONNX `pads`, or TFLite SAME/VALID when one of them gives the source's padding, else an explicit
 * PAD (an existing one corrected, or a new one) before a VALID window. Activation parameters (alpha, beta)
 * carry over by name; Clip bounds are its operands. Same-op pairs copy attributes and integer operands as
 * written. Attributes the diff cannot compare across dialects are translated here: an `axis` through the
 * pair's layout relation, and Resize's coordinate and rounding modes ↔ TFLite's align_corners and
 * half_pixel_centers (the mapping Lathe's converter uses).
 */
import type { Attr } from "../../ir/attr.ts";
import { LatheError } from "../../ir/errors.ts";
import type { Graph, Node } from "../../ir/graph.ts";
import { graphIndex } from "../../ir/graph.ts";
import { getOp, resolveAttrs } from "../../ir/op-registry.ts";
import { windowAxis } from "../../ir/ops/tflite-geometry.ts";
import { constantSource } from "../diff/constant-source.ts";
import type { Finding } from "../diff/localize.ts";
import { toNumbers } from "../../runtime/tensor.ts";
import type { Editor } from "./edit.ts";
import { copyOperandFix, f32Constant, numbersConstant } from "./parameters.ts";
import { findingEvents, findNode, type Fix, type FixMaker, repair, type RepairContext } from "./rule.ts";
import { staticShapeOf } from "./weight-layout.ts";

const ints = (value: readonly number[]): Attr => ({ type: "ints", value: [...value] });
const int = (value: number): Attr => ({ type: "int", value });
const str = (value: string): Attr => ({ type: "string", value });
const float = (value: number): Attr => ({ type: "float", value });

const WINDOW = new Set(["kernel", "strides", "dilations", "pads", "ceil_mode", "count_include_pad"]);

type Pads = [number, number][];

interface WindowSpec {
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: Pads;
}

function isTfl(n: Node): boolean {
  return n.op.startsWith("tfl.");
}

/** Kernel, strides, dilations and the node's own pads (not counting a PAD before it). */
function ownWindow(g: Graph, n: Node): WindowSpec | undefined {
  const at = resolveAttrs(n) as Record<string, any>;
  const x = staticShapeOf(g, n.inputs[0]);
  if (isTfl(n)) {
    const w = staticShapeOf(g, n.inputs[1]);
    const kernel = n.op.includes("POOL") ? [at.filter_height, at.filter_width] : w ? [w[1], w[2]] : undefined;
    if (!kernel || !x) return undefined;
    const strides = [at.stride_h, at.stride_w];
    const dilations = n.op.includes("POOL") ? [1, 1] : [at.dilation_h_factor ?? 1, at.dilation_w_factor ?? 1];
    try {
      const pads = [0, 1].map((i) => {
        const a = windowAxis(at.padding, x[1 + i], kernel[i], strides[i], dilations[i]);
        return [a.padBefore, a.padAfter] as [number, number];
      });
      return { kernel, strides, dilations, pads };
    } catch {
      return undefined;
    }
  }
  const w = staticShapeOf(g, n.inputs[1]);
  const kernel: number[] | undefined = (at.kernel_shape as number[] | undefined)?.length
    ? [...at.kernel_shape]
    : w && n.op.startsWith("Conv")
    ? w.slice(2)
    : undefined;
  if (!kernel) return undefined;
  const r = kernel.length;
  const strides = (at.strides as number[] | undefined)?.length ? [...at.strides] : new Array(r).fill(1);
  const dilations = (at.dilations as number[] | undefined)?.length ? [...at.dilations] : new Array(r).fill(1);
  const auto = String(at.auto_pad ?? "NOTSET");
  let pads: Pads;
  if (auto === "NOTSET" || auto === "") {
    const p: number[] = (at.pads as number[] | undefined)?.length ? at.pads : new Array(2 * r).fill(0);
    pads = kernel.map((_, i) => [p[i], p[i + r]]);
  } else if (auto === "VALID") pads = kernel.map(() => [0, 0]);
  else {
    if (!x) return undefined;
    pads = kernel.map((k, i) => {
      const size = x[2 + i];
      const out = Math.ceil(size / strides[i]);
      const total = Math.max((out - 1) * strides[i] + (k - 1) * dilations[i] + 1 - size, 0);
      const small = Math.floor(total / 2);
      return auto === "SAME_LOWER" ? [total - small, small] : [small, total - small];
    });
  }
  return { kernel, strides, dilations, pads };
}

/** An unpaired explicit zero PAD right before the window, read only by it. */
function padBefore(ctx: RepairContext, t: Node): { node: Node; pads: Pads } | undefined {
  const g = ctx.target;
  const x = t.inputs[0];
  const p = x ? graphIndex(g).producer.get(x) : undefined;
  if (
    !p || !["Pad", "tfl.PAD", "tfl.PADV2"].includes(p.op) || (graphIndex(g).users.get(x!) ?? []).length !== 1
  ) return undefined;
  const e = ctx.match.targetEvents.events.find((ev) => ev.node === p);
  if (e && ctx.match.targetToSource.has(e.index)) return undefined;
  const c = p.inputs[1] ? constantSource(g, p.inputs[1]) : undefined;
  if (!c) return undefined;
  const xs = toNumbers(c.tensor);
  if (p.op === "Pad") {
    if (String(resolveAttrs(p).mode ?? "constant") !== "constant" || p.inputs[3]) return undefined;
    const r = xs.length / 2;
    return {
      node: p,
      pads: Array.from({ length: r - 2 }, (_, i) => [xs[2 + i], xs[r + 2 + i]] as [number, number]),
    };
  }
  return { node: p, pads: [[xs[2], xs[3]], [xs[4], xs[5]]] };
}

function padsEqual(a: Pads, b: Pads): boolean {
  return a.length === b.length && a.every(([x, y], i) => x === b[i][0] && y === b[i][1]);
}

/** TFLite's padding for the desired own pads at input `size`: SAME or VALID, or VALID plus explicit pads. */
function tflPadding(
  size: readonly number[],
  w: WindowSpec,
  desired: Pads,
): { padding: "SAME" | "VALID"; extra?: Pads } {
  const eff = w.kernel.map((k, i) => (k - 1) * w.dilations[i] + 1);
  const out = size.map((s, i) => Math.floor((s + desired[i][0] + desired[i][1] - eff[i]) / w.strides[i]) + 1);
  const need = size.map((s, i) => Math.max(0, (out[i] - 1) * w.strides[i] + eff[i] - desired[i][0] - s));
  try {
    const same = size.map((s, i) => windowAxis("SAME", s, w.kernel[i], w.strides[i], w.dilations[i]));
    if (same.every((a, i) => a.out === out[i] && a.padBefore === desired[i][0] && a.padAfter === need[i])) {
      return { padding: "SAME" };
    }
  } catch {
    // A window that does not fit SAME is written with explicit pads.
  }
  if (desired.every(([b], i) => b === 0 && need[i] === 0)) return { padding: "VALID" };
  return { padding: "VALID", extra: desired.map(([b], i) => [b, need[i]] as [number, number]) };
}

/** Writes a window's own attributes on a target node. */
function setWindow(
  ed: Editor,
  t: Node,
  w: WindowSpec,
  own: Pads | "keep",
  size?: readonly number[],
  pad?: { node: Node; pads: Pads },
): void {
  if (isTfl(t)) {
    const attrs: Record<string, Attr> = { stride_h: int(w.strides[0]), stride_w: int(w.strides[1]) };
    if (t.op.includes("POOL")) {
      Object.assign(attrs, { filter_height: int(w.kernel[0]), filter_width: int(w.kernel[1]) });
    } else {Object.assign(attrs, {
        dilation_h_factor: int(w.dilations[0]),
        dilation_w_factor: int(w.dilations[1]),
      });}
    if (own !== "keep") {
      if (!size) throw new LatheError("unsupported", `${t.id}: no static input size`);
      const p = tflPadding(size, w, own);
      attrs.padding = str(p.padding);
      if (p.extra) {
        const body = [[0, 0], ...p.extra, [0, 0]].flat();
        if (pad) {
          ed.setConstantOperand(pad.node.id, 1, {
            dtype: "i32",
            shape: [4, 2],
            bytes: new Uint8Array(Int32Array.from(body).buffer),
          }, { transform: "explicit padding" });
        } else {
          const x = t.inputs[0]!;
          const name = ed.addConstant(`${t.id}_paddings`, {
            dtype: "i32",
            shape: [4, 2],
            bytes: new Uint8Array(Int32Array.from(body).buffer),
          });
          ed.insertAfter(x, { op: "tfl.PAD", inputs: [x, name], stem: `${t.id}_pad` }, [t.id]);
        }
      }
    }
    if (
      t.op === "tfl.DEPTHWISE_CONV_2D" && w.dilations.some((d) => d !== 1) &&
      Number(resolveAttrs(t)._version ?? 1) < 2
    ) attrs._version = int(2);
    ed.setAttrs(t.id, attrs);
    return;
  }
  const attrs: Record<string, Attr | undefined> = { strides: ints(w.strides) };
  if (t.op.startsWith("Conv")) attrs.dilations = ints(w.dilations);
  else {
    attrs.kernel_shape = ints(w.kernel);
    if (w.dilations.some((d) => d !== 1) || t.attrs.dilations) attrs.dilations = ints(w.dilations);
  }
  if (own !== "keep") {
    attrs.pads = ints([...own.map((p) => p[0]), ...own.map((p) => p[1])]);
    attrs.auto_pad = undefined;
  }
  ed.setAttrs(t.id, attrs);
}

function asPads(v: unknown): Pads | undefined {
  return Array.isArray(v) && v.every((p) => Array.isArray(p) && p.length === 2) ? v as Pads : undefined;
}
function asInts(v: unknown): number[] | undefined {
  return Array.isArray(v) && v.every((x) => typeof x === "number") ? v as number[] : undefined;
}

/** Restores a window from every window finding on the same target node, trying each way to write pads. */
function windowFixes(f: Finding, ctx: RepairContext, fix: FixMaker): Fix[] {
  const t = findNode(ctx.target, f.targetNode);
  if (!t) return [];
  const cur = ownWindow(ctx.target, t);
  if (!cur) return [];
  const mine = ctx.localization.findings.filter((x) =>
    x.kind === "hyperparameters" && x.targetNode === t.id && WINDOW.has(x.fault)
  );
  const want: WindowSpec = { ...cur, pads: cur.pads };
  let srcPads: Pads | undefined, tgtPads: Pads | undefined;
  const flags: Record<string, number> = {};
  for (const x of mine) {
    const d = x.evidence.detail as { source?: unknown; target?: unknown } | undefined;
    if (!d) continue;
    if (x.fault === "pads") {
      srcPads = asPads(d.source);
      tgtPads = asPads(d.target);
    } else if (x.fault === "ceil_mode" || x.fault === "count_include_pad") {
      if (typeof d.source === "number") flags[x.fault] = d.source;
    } else {
      const v = asInts(d.source);
      if (v && v.length === cur.kernel.length) (want as unknown as Record<string, number[]>)[x.fault] = v;
    }
  }
  const size = isTfl(t)
    ? staticShapeOf(ctx.target, t.inputs[0])?.slice(1, 3)
    : staticShapeOf(ctx.target, t.inputs[0])?.slice(2);
  const pad = padBefore(ctx, t);
  const what = mine.map((x) => x.fault).join(", ");
  const out: Fix[] = [];
  const withFlags = (ed: Editor) => {
    const a: Record<string, Attr> = {};
    for (const [k, v] of Object.entries(flags)) if (getOp(t.op)?.attrs?.[k]) a[k] = int(v);
    if (Object.keys(a).length) ed.setAttrs(t.id, a);
  };
  if (!srcPads || !tgtPads) {
    out.push(fix(`${t.op} ${t.id}: ${what} from the source`, (ed) => {
      setWindow(ed, t, want, "keep");
      withFlags(ed);
    }));
    return out;
  }
  const absorbed: Pads = tgtPads.map(([b, a], i) => [b - cur.pads[i][0], a - cur.pads[i][1]]);
  const own: Pads = srcPads.map(([b, a], i) => [b - absorbed[i][0], a - absorbed[i][1]]);
  if (own.every(([b, a]) => b >= 0 && a >= 0)) {
    out.push(fix(`${t.op} ${t.id}: ${what} from the source (pads ${JSON.stringify(own)})`, (ed) => {
      setWindow(ed, t, want, own, size, undefined);
      withFlags(ed);
    }));
  }
  if (pad) {
    // The explicit PAD in front carries the difference; the window keeps its own padding.
    const explicit: Pads = srcPads.map(([b, a], i) => [b - cur.pads[i][0], a - cur.pads[i][1]]);
    if (explicit.every(([b, a]) => b >= 0 && a >= 0) && !padsEqual(explicit, pad.pads)) {
      out.push(
        fix(
          `${pad.node.op} ${pad.node.id}: paddings ${
            JSON.stringify(explicit)
          } so ${t.id}'s window pads as the source's`,
          (ed) => {
            writePad(ed, pad.node, explicit);
            setWindow(ed, t, want, "keep");
            withFlags(ed);
          },
        ),
      );
    }
    out.push(
      fix(
        `${pad.node.op} ${pad.node.id} removed; ${t.op} ${t.id} pads ${JSON.stringify(srcPads)} itself`,
        (ed) => {
          ed.bypass(pad.node.id, 0);
          const x = staticShapeOf(ctx.target, pad.node.inputs[0]);
          const unpadded = x ? (isTfl(t) ? x.slice(1, 3) : x.slice(2)) : undefined;
          setWindow(ed, t, want, srcPads!, unpadded, undefined);
          withFlags(ed);
        },
      ),
    );
  }
  return out;
}

function writePad(ed: Editor, p: Node, pads: Pads): void {
  const c = p.inputs[1] ? ed.graph.constants[p.inputs[1]] : undefined;
  const dtype = c?.dtype === "i64" ? "i64" : "i32";
  if (p.op === "Pad") {
    const r = pads.length + 2;
    const body = new Array(2 * r).fill(0);
    pads.forEach(([b, a], i) => {
      body[2 + i] = b;
      body[r + 2 + i] = a;
    });
    ed.setConstantOperand(p.id, 1, numbersConstant(dtype, [2 * r], body)!, { transform: "explicit padding" });
    return;
  }
  ed.setConstantOperand(p.id, 1, numbersConstant(dtype, [4, 2], [[0, 0], ...pads, [0, 0]].flat())!, {
    transform: "explicit padding",
  });
}

export const restoreWindow = repair("restore-window", "hyperparameters", [...WINDOW], windowFixes);

/** Activation parameters by name (alpha, beta, gamma, approximate) and Clip's bounds. */
export const copyActivationParam = repair("copy-activation-param", "hyperparameters", [
  "alpha",
  "beta",
  "gamma",
  "approximate",
  "min",
  "max",
], (f, ctx, fix) => {
  const t = findNode(ctx.target, f.targetNode);
  const d = f.evidence.detail as { source?: unknown } | undefined;
  if (!t || d?.source === undefined) return [];
  if (f.fault === "min" || f.fault === "max") {
    if (t.op !== "Clip" || typeof d.source !== "number") return [];
    const pos = f.fault === "min" ? 1 : 2;
    const v = d.source;
    if (!Number.isFinite(v)) {
      return [
        fix(
          `Clip ${t.id}: no ${f.fault} bound, as the source`,
          (ed) => ed.setInputs(t.id, t.inputs.map((x, i) => (i === pos ? null : x))),
        ),
      ];
    }
    return [
      fix(
        `Clip ${t.id}: ${f.fault} ${v} from the source`,
        (ed) => ed.setConstantOperand(t.id, pos, f32Constant([], Float32Array.of(v)), { transform: "bound" }),
      ),
    ];
  }
  const spec = getOp(t.op)?.attrs?.[f.fault];
  if (!spec) return [];
  const value = d.source;
  const attr: Attr | undefined = spec.type === "float" && typeof value === "number"
    ? float(value)
    : spec.type === "string" && typeof value === "string"
    ? str(value)
    : spec.type === "int" && typeof value === "number"
    ? int(value)
    : undefined;
  return attr
    ? [
      fix(`${t.op} ${t.id}: ${f.fault} ${JSON.stringify(value)} from the source`, (ed) =>
        ed.setAttrs(t.id, { [f.fault]: attr })),
    ]
    : [];
});

/**
 * Same op on both sides (same dialect): an attribute as the reference writes it, or an integer constant
 * operand (reshape target, paddings, axes) copied.
 */
export const copyAttribute = repair(
  "copy-attribute",
  "hyperparameters",
  (f, ctx) =>
    f.kind === "hyperparameters" && !WINDOW.has(f.fault) &&
    findNode(ctx.reference, f.sourceNode)?.op === findNode(ctx.target, f.targetNode)?.op,
  (f, ctx, fix) => {
    const s = findNode(ctx.reference, f.sourceNode), t = findNode(ctx.target, f.targetNode);
    if (!s || !t) return [];
    const m = /^input (\d+)$/.exec(f.fault);
    if (m) {
      const i = Number(m[1]);
      const sv = s.inputs[i], tv = t.inputs[i];
      if (!sv || !tv) return [];
      return [copyOperandFix(ctx, t, sv, tv, fix)];
    }
    return [
      fix(
        `${t.op} ${t.id}: ${f.fault} as the reference writes it`,
        (ed) => ed.setAttrs(t.id, { [f.fault]: s.attrs[f.fault] }),
      ),
    ];
  },
);

/** An `axis` translated through the pair's layout relation (source axis i is target axis hint[i]). */
function axisFixes(f: Finding, ctx: RepairContext, fix: FixMaker): (Fix | undefined)[] {
  const s = findNode(ctx.reference, f.sourceNode), t = findNode(ctx.target, f.targetNode);
  if (!s || !t || !getOp(t.op)?.attrs?.axis || !getOp(s.op)?.attrs?.axis) return [];
  const sRank = staticShapeOf(ctx.reference, s.inputs[0])?.length,
    tRank = staticShapeOf(ctx.target, t.inputs[0])?.length;
  if (!sRank || !tRank) return [];
  const norm = (a: number, r: number) => (a < 0 ? a + r : a);
  const sa = norm(Number(resolveAttrs(s).axis ?? -1), sRank),
    ta = norm(Number(resolveAttrs(t).axis ?? -1), tRank);
  const hint = findingEvents(f, ctx).pair?.hint;
  const want = hint && hint.length === sRank ? hint[sa] : sRank === tRank ? sa : undefined;
  if (want === undefined || want === ta) return [];
  return [
    fix(
      `${t.op} ${t.id}: axis ${ta} → ${want} (the source's axis ${sa}${
        hint ? ` in the target's layout` : ""
      })`,
      (ed) => ed.setAttrs(t.id, { axis: int(want) }),
    ),
  ];
}

export const translateAxis = repair(
  "translate-axis",
  "hyperparameters",
  (f) => f.kind === "unexplained" || f.fault === "axis",
  axisFixes,
);

/** TFLite's RESIZE_* flags for an ONNX Resize's modes, and the reverse (as Lathe's converter maps them). */
function resizeFixes(f: Finding, ctx: RepairContext, fix: FixMaker): (Fix | undefined)[] {
  const s = findNode(ctx.reference, f.sourceNode), t = findNode(ctx.target, f.targetNode);
  if (!s || !t) return [];
  const tflOps = ["tfl.RESIZE_BILINEAR", "tfl.RESIZE_NEAREST_NEIGHBOR"];
  if (tflOps.includes(s.op) && t.op === "Resize") {
    const at = resolveAttrs(s);
    const linear = s.op === "tfl.RESIZE_BILINEAR";
    const ct = at.align_corners
      ? "align_corners"
      : at.half_pixel_centers
      ? (linear ? "half_pixel" : "tf_half_pixel_for_nn")
      : "asymmetric";
    const want: Record<string, Attr | undefined> = {
      mode: str(linear ? "linear" : "nearest"),
      coordinate_transformation_mode: str(ct),
      nearest_mode: linear ? t.attrs.nearest_mode : str(at.align_corners ? "round_prefer_ceil" : "floor"),
    };
    const cur = resolveAttrs(t);
    if (Object.entries(want).every(([k, v]) => !v || cur[k] === v.value)) return [];
    return [fix(`Resize ${t.id}: modes as the source's ${s.op} (${ct})`, (ed) => ed.setAttrs(t.id, want))];
  }
  if (s.op === "Resize" && tflOps.includes(t.op)) {
    const at = resolveAttrs(s);
    const op = at.mode === "nearest" ? "tfl.RESIZE_NEAREST_NEIGHBOR" : "tfl.RESIZE_BILINEAR";
    const ct = String(at.coordinate_transformation_mode ?? "half_pixel");
    const attrs: Record<string, Attr> = {
      align_corners: int(ct === "align_corners" ? 1 : 0),
      half_pixel_centers: int(
        ["half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn"].includes(ct) ? 1 : 0,
      ),
    };
    const cur = resolveAttrs(t);
    if (op === t.op && Object.entries(attrs).every(([k, v]) => cur[k] === v.value)) return [];
    return [
      fix(
        `${t.op} ${t.id}: ${op === t.op ? "" : `${op}, `}corner flags as the source's Resize (${ct})`,
        (ed) => ed.setOp(t.id, op, { ...t.attrs, ...attrs }),
      ),
    ];
  }
  return [];
}

export const translateResize = repair(
  "translate-resize-modes",
  "hyperparameters",
  (f, ctx) => {
    const s = findNode(ctx.reference, f.sourceNode), t = findNode(ctx.target, f.targetNode);
    return !!s && !!t && /resize/i.test(s.op) && /resize/i.test(t.op) && s.op !== t.op;
  },
  resizeFixes,
);
