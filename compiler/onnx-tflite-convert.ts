/**
 * ONNX ↔ TFLite file conversion for `convert IN OUT`: import, convert the graph (passes/convert), run an
 * optional pass pipeline on the result, write it, and write the conversion report. A conversion that leaves
 * nodes unmapped writes the report (when asked) and fails with the nodes listed.
 */
import { LatheError } from "../ir/errors.ts";
import type { Model } from "../ir/graph.ts";
import { assertValid } from "../ir/verify.ts";
import "../passes/index.ts";
import { onnxToTflite, type OnnxToTfliteOptions } from "../passes/convert/onnx-to-tflite.ts";
import { ConversionError, type ConversionReport } from "../passes/convert/report.ts";
import { tfliteToOnnx } from "../passes/convert/tflite-to-onnx.ts";
import { type PassStats, runPipeline } from "../passes/pass-manager.ts";
import { writeFileAtomic } from "./atomic-write.ts";
import { importOnnxFile } from "./onnx/import.ts";
import { writeOnnxFile } from "./onnx/export.ts";
import { importTfliteFile } from "./tflite/import.ts";
import { writeTfliteFile } from "./tflite/export.ts";

export interface GraphConvertOptions extends OnnxToTfliteOptions {
  /** A pass pipeline run on the converted model before it is written. */
  passes?: string;
  /** Where to write the conversion report (JSON), also when the conversion fails. */
  report?: string;
}

export interface GraphConvertResult {
  report: ConversionReport;
  passes: PassStats[];
  ms: { import: number; convert: number; passes: number; write: number; total: number };
}

async function convertFile(
  input: string,
  output: string,
  opts: GraphConvertOptions,
  load: (p: string) => Promise<Model>,
  convert: (m: Model) => { model: Model; report: ConversionReport },
  write: (p: string, m: Model) => Promise<void>,
): Promise<GraphConvertResult> {
  const t0 = performance.now();
  const source = await load(input);
  const t1 = performance.now();
  let converted: { model: Model; report: ConversionReport };
  try {
    converted = convert(source);
  } catch (e) {
    if (e instanceof ConversionError && opts.report) await writeReport(opts.report, e.report);
    throw e;
  }
  const t2 = performance.now();
  let model = converted.model;
  let passes: PassStats[] = [];
  if (opts.passes) {
    const r = await runPipeline(model, opts.passes);
    model = r.model;
    passes = r.stats;
  }
  assertValid(model.graph);
  const t3 = performance.now();
  await write(output, model);
  const t4 = performance.now();
  const report = { ...converted.report, target: { ...converted.report.target, path: output } };
  if (opts.report) await writeReport(opts.report, { ...report, passes });
  return {
    report,
    passes,
    ms: { import: t1 - t0, convert: t2 - t1, passes: t3 - t2, write: t4 - t3, total: t4 - t0 },
  };
}

async function writeReport(path: string, report: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(report, null, 2) + "\n");
}

export function onnxFileToTflite(
  input: string,
  output: string,
  opts: GraphConvertOptions = {},
): Promise<GraphConvertResult> {
  return convertFile(input, output, opts, importOnnxFile, (m) => onnxToTflite(m, opts), writeTfliteFile);
}

export function tfliteFileToOnnx(
  input: string,
  output: string,
  opts: GraphConvertOptions = {},
): Promise<GraphConvertResult> {
  if (opts.layout === "nhwc" || opts.int64Inputs) {
    throw new LatheError("usage", "--layout and --int64-inputs apply to ONNX → TFLite only");
  }
  return convertFile(input, output, opts, importTfliteFile, (m) => tfliteToOnnx(m, opts), writeOnnxFile);
}
