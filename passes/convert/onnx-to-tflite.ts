/**
 * ONNX → TFLite. The graph gets static shapes (bound by the caller where symbolic), is canonicalized
 * (constants folded, BatchNormalization and biases folded into convolutions, Gemm alpha/beta folded), and
 * legalized to ops with TFLite counterparts (onnx-legalize.ts). Spatial ops then become NHWC `tfl` ops
 * between a pair of transposes (onnx-to-tfl-spatial.ts); layout propagation sinks the transposes and
 * cancels the pairs between neighbouring layers; the remaining ONNX ops map one to one (onnx-to-tfl-ops.ts);
 * and activations fold into the op before them (tfl-fuse.ts).
 *
 * A QDQ graph (a quantized model: QuantizeLinear/DequantizeLinear pairs, int8 weights behind a
 * DequantizeLinear) converts to TFLite's int8 form (qdq-to-tflite.ts): the weights' codes are set aside
 * before canonicalization, layers take them in TFLite's layout, the pairs ride through the float mapping,
 * and at the end each op between pairs becomes its int8 op.
 *
 * The interface keeps the ONNX model's layout and names: an NCHW input stays NCHW and the graph transposes
 * it inside (the first TRANSPOSE). `layout: "nhwc"` makes rank-4 inputs and outputs NHWC instead, which
 * removes those boundary transposes. int64 inputs become int32 by default (TFLite's index type), with
 * `int64Inputs: "keep"` to keep them.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Graph, Model } from "../../ir/graph.ts";
import { canonicalize } from "../canonicalize.ts";
// Canonicalization folds BatchNormalization, biases, pads and Gemm alpha/beta with the rules these add.
import "../fold-batchnorm.ts";
import "../fold-pad.ts";
import "../fuse-conv.ts";
import "../gemm-canonical.ts";
import { graphPass, registerPass } from "../pass-manager.ts";
import { applyRules } from "../rewrite.ts";
import { propagateLayout } from "./layout-sinks.ts";
import { foldOutputIdentities, int32Inputs, nhwcInterface } from "./model-boundary.ts";
import { legalizeRules } from "./onnx-legalize.ts";
import { spatialRules } from "./onnx-to-tfl-spatial.ts";
import { opRules } from "./onnx-to-tfl-ops.ts";
import { dequantizeConstants, foldQdq, quantizedLayerRules } from "./qdq-to-tflite.ts";
import { buildReport, ConversionError, type ConversionReport, Declines, vanished } from "./report.ts";
import { bindInputShapes, reinfer, type ShapeBindings } from "./static-shapes.ts";
import { tflFuseRules } from "./tfl-fuse.ts";

export interface OnnxToTfliteOptions extends ShapeBindings {
  /** Rank-4 inputs and outputs: "nchw" keeps ONNX's layout (default), "nhwc" makes them NHWC. */
  layout?: "nchw" | "nhwc";
  /** int64 graph inputs: "int32" narrows them (default), "keep" keeps int64. */
  int64Inputs?: "int32" | "keep";
}

export interface ConversionResult {
  model: Model;
  report: ConversionReport;
}

const isTfl = (op: string) => op.startsWith("tfl.");

export function onnxToTflite(model: Model, opts: OnnxToTfliteOptions = {}): ConversionResult {
  if (model.meta.format !== "onnx" && model.meta.format !== "lathe") {
    throw new LatheError("usage", `onnxToTflite converts ONNX models, not ${model.meta.format}`);
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
  const notes: string[] = [];

  let g = timed("bind-shapes", () => bindInputShapes(source, opts));
  const weights = dequantizeConstants(g);
  if (weights.quantized.size) {
    vanished(g, weights.graph, "quantized constant: its codes go into the TFLite tensor", absorbed);
    g = weights.graph;
  }
  const before = g;
  g = timed("canonicalize", () => reinfer(canonicalize(g)));
  vanished(
    before,
    g,
    "folded by canonicalize (constant folding or no-op removal)",
    absorbed,
  );
  g = timed(
    "legalize",
    () => reinfer(canonicalize(applyRules(g, legalizeRules, { driver: "greedy" }).graph)),
  );

  if ((opts.int64Inputs ?? "int32") === "int32") {
    const r = int32Inputs(g);
    if (r.inputs.length) {
      notes.push(`int64 inputs ${r.inputs.join(", ")} are int32 in the TFLite model (TFLite's index type)`);
      g = timed("legalize", () => reinfer(applyRules(r.graph, legalizeRules, { driver: "greedy" }).graph));
    }
  }
  if (opts.layout === "nhwc") {
    const r = nhwcInterface(g);
    g = reinfer(r.graph);
    notes.push(
      `rank-4 inputs ${r.inputs.join(", ") || "(none)"} and outputs ${
        r.outputs.join(", ") || "(none)"
      } are NHWC (--layout nhwc)`,
    );
  } else {
    notes.push(
      "the interface keeps the ONNX layout: rank-4 inputs and outputs stay NCHW, transposed inside the graph",
    );
  }

  const spatial = [...quantizedLayerRules(weights.quantized), ...spatialRules(declines)];
  g = timed("spatial", () => applyRules(g, spatial, { driver: "greedy" }).graph);
  g = timed("layout", () => propagateLayout(g));
  g = timed("map", () => applyRules(foldOutputIdentities(g), opRules(declines), { driver: "greedy" }).graph);
  g = timed("fuse", () => applyRules(g, tflFuseRules, { driver: "greedy" }).graph);
  g = timed("int8", () => foldQdq(g));

  const report = buildReport({
    source,
    sourceFormat: "onnx",
    sourcePath: model.meta.path,
    target: g,
    targetFormat: "tflite",
    isTarget: isTfl,
    declines,
    absorbedBy: absorbed,
    notes,
    ms,
  });
  if (report.unmapped.length) throw new ConversionError(report);
  const out: Model = {
    graph: g,
    meta: { format: "tflite", opsets: {}, props: {}, ...(model.meta.doc ? { doc: model.meta.doc } : {}) },
  };
  return { model: out, report };
}

export const onnxToTflitePass = registerPass({
  ...graphPass(
    "onnx-to-tflite",
    "convert an ONNX graph to the tfl dialect (NHWC, fused activations)",
    (g) => g,
  ),
  options: { layout: { type: "string", default: "nchw", choices: ["nchw", "nhwc"] } },
  run: (m, o) => onnxToTflite(m, { layout: o.layout }).model,
});
