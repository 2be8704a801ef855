/**
 * `convert IN OUT`: one model file to another, dispatched on the two file extensions. Each conversion is a
 * function registered for a (from, to) pair, so other formats (TFLite, ONNX) add theirs beside GGUF's.
 */
import { LatheError } from "../ir/errors.ts";
import { requantizeGguf } from "./gguf/requantize.ts";
import type { ConversionReport } from "../passes/convert/report.ts";
import type { PassStats } from "../passes/pass-manager.ts";
import { onnxFileToTflite, tfliteFileToOnnx } from "./onnx-tflite-convert.ts";

export interface ConvertOptions {
  /** Element type for weight matrices (GGUF: a ggml type name such as Q8_0 or Q4_K). */
  weights?: string;
  onTensor?: (done: number, total: number, name: string) => void;
  /** ONNX ↔ TFLite: a pass pipeline run on the converted model before it is written. */
  passes?: string;
  /** ONNX ↔ TFLite: where to write the conversion report (JSON), also when the conversion fails. */
  report?: string;
  /** ONNX → TFLite: rank-4 inputs and outputs keep ONNX's NCHW (default) or become NHWC. */
  layout?: "nchw" | "nhwc";
  /** ONNX → TFLite: int64 inputs become int32 (default) or stay int64. */
  int64Inputs?: "int32" | "keep";
  /** ONNX ↔ TFLite: sizes for symbolic dims by name, and whole input shapes by input name. */
  dims?: Record<string, number>;
  shapes?: Record<string, number[]>;
}

export interface ConvertResult {
  input: string;
  output: string;
  from: string;
  to: string;
  /** What happened to each tensor (source type, written type, and why one was kept). */
  tensors: { name: string; from: string; to: string; note?: string }[];
  /** ONNX ↔ TFLite: every source node and what it became, plus notes and timings. */
  report?: ConversionReport;
  passes?: PassStats[];
  ms?: Record<string, number>;
}

export type Converter = (
  input: string,
  output: string,
  opts: ConvertOptions,
) => Promise<Pick<ConvertResult, "tensors"> & Partial<Pick<ConvertResult, "report" | "passes" | "ms">>>;

const converters = new Map<string, Converter>();

/** Registers the conversion from files ending in `from` to files ending in `to` (".gguf"). */
export function registerConverter(from: string, to: string, c: Converter): void {
  converters.set(`${from.toLowerCase()} ${to.toLowerCase()}`, c);
}

registerConverter(".gguf", ".gguf", (i, o, opts) => requantizeGguf(i, o, opts));
registerConverter(
  ".onnx",
  ".tflite",
  async (i, o, opts) => ({ tensors: [], ...await onnxFileToTflite(i, o, opts) }),
);
registerConverter(
  ".tflite",
  ".onnx",
  async (i, o, opts) => ({ tensors: [], ...await tfliteFileToOnnx(i, o, opts) }),
);

function extensionOf(path: string): string {
  const m = /\.[A-Za-z0-9]+$/.exec(path);
  return m ? m[0].toLowerCase() : "";
}

export async function convertModel(
  input: string,
  output: string,
  opts: ConvertOptions = {},
): Promise<ConvertResult> {
  const from = extensionOf(input), to = extensionOf(output);
  const c = converters.get(`${from} ${to}`);
  if (!c) {
    const known = [...converters.keys()].map((k) => k.replace(" ", " -> ")).join(", ");
    throw new LatheError(
      "unsupported",
      `no conversion from ${from || "(no extension)"} to ${to || "(no extension)"} (available: ${known})`,
      { file: input },
    );
  }
  const r = await c(input, output, opts);
  return { input, output, from, to, ...r };
}
