/**
 * TFLite → ONNX. The graph gets static shapes (bound by the caller where symbolic), sparse constants
 * (DENSIFY) expand to dense ones since ONNX has no sparse weights, DEQUANTIZE of fp16 or quantized constant
 * weights folds into f32 constants, every `tfl` op maps to ONNX ops (tfl-to-onnx-ops.ts: NHWC spatial ops
 * between transposes, filters permuted, SAME/VALID as explicit pads, fused activations as their own ops),
 * layout propagation cancels the transposes between neighbours, and canonicalization folds what is left
 * constant. The interface keeps TFLite's layout and names: NHWC inputs stay NHWC.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Graph, Model } from "../../ir/graph.ts";
import { canonicalize } from "../canonicalize.ts";
import { registerPass } from "../pass-manager.ts";
import { applyRules } from "../rewrite.ts";
import { propagateLayout } from "./layout-sinks.ts";
import { foldOutputIdentities } from "./model-boundary.ts";
import type { ConversionResult } from "./onnx-to-tflite.ts";
import { buildReport, ConversionError, Declines, sourcesOf, vanished } from "./report.ts";
import { bindInputShapes, reinfer, type ShapeBindings } from "./static-shapes.ts";
import { densifyRules, dequantizeRules, tflToOnnxRules } from "./tfl-to-onnx-ops.ts";

export type TfliteToOnnxOptions = ShapeBindings;

/** ONNX's default domain: op keys without a domain prefix. */
const isOnnx = (op: string) => !op.includes(".");

export function tfliteToOnnx(model: Model, opts: TfliteToOnnxOptions = {}): ConversionResult {
  if (model.meta.format !== "tflite") {
    throw new LatheError("usage", `tfliteToOnnx converts TFLite models, not ${model.meta.format}`);
  }
  const ms: Record<string, number> = {};
  const timed = (name: string, f: () => Graph): Graph => {
    const t = performance.now();
    const g = f();
    ms[name] = (ms[name] ?? 0) + performance.now() - t;
    return g;
  };
  const source = model.graph;
  const declines = new Declines();
  const absorbed = new Map<string, string>();

  let g = timed("bind-shapes", () => bindInputShapes(source, opts));
  g = timed("densify", () => applyRules(g, densifyRules, { driver: "greedy" }).graph);
  // A DENSIFY gone by now (folded with the bound shapes, or by the rule) expanded its constant; the rule's
  // constant takes a new name, so vanished() would credit the DEQUANTIZE that reads it instead.
  const alive = new Set(g.nodes.flatMap((n) => sourcesOf(n)));
  let densified = 0;
  for (const n of source.nodes) {
    if (n.op !== "tfl.DENSIFY" || sourcesOf(n).some((x) => alive.has(x))) continue;
    densified++;
    for (const x of sourcesOf(n)) absorbed.set(x, "sparse constant expanded into a dense constant");
  }
  const before = g;
  g = timed("dequantize", () => applyRules(g, dequantizeRules, { driver: "greedy" }).graph);
  vanished(before, g, "DEQUANTIZE of a constant, folded into an f32 constant", absorbed);
  g = timed("map", () => applyRules(g, tflToOnnxRules(declines), { driver: "greedy" }).graph);
  g = timed("layout", () => propagateLayout(g));
  g = timed("canonicalize", () => reinfer(foldOutputIdentities(canonicalize(g))));

  const report = buildReport({
    source,
    sourceFormat: "tflite",
    sourcePath: model.meta.path,
    target: g,
    targetFormat: "onnx",
    isTarget: isOnnx,
    declines,
    absorbedBy: absorbed,
    notes: [
      "the interface keeps the TFLite layout: inputs and outputs stay NHWC, transposed inside the graph",
      ...(densified
        ? [`${densified} sparse weight tensor(s) written dense: ONNX has no sparse weights (TFLite DENSIFY)`]
        : []),
    ],
    ms,
  });
  if (report.unmapped.length) throw new ConversionError(report);
  return {
    model: {
      graph: g,
      meta: {
        format: "onnx",
        opsets: { "": 13 },
        props: {},
        ...(model.meta.doc ? { doc: model.meta.doc } : {}),
      },
    },
    report,
  };
}

export const tfliteToOnnxPass = registerPass({
  name: "tflite-to-onnx",
  doc: "convert a tfl-dialect graph to ONNX ops (NCHW inside, NHWC interface kept)",
  run: (m) => tfliteToOnnx(m).model,
});
