/**
 * `quantize IN OUT --scheme S`: import a model, run the cleanup pipeline (canonicalize and fold-batchnorm by
 * default), quantize it with calibration inputs (.npy files from a folder, or seeded random inputs), write
 * the result chosen by OUT's extension, and optionally a report comparing it with the float model.
 *
 * Quantization works on ONNX-domain graphs (QDQ form). A float TFLite input is converted to ONNX first
 * (tflite-to-onnx: its fp16 weights behind DEQUANTIZE fold to f32, the NHWC interface stays), so one QDQ
 * insertion and one QDQ → int8 mapping serve both formats; the round trip maps these models back to the
 * same TFLite ops. OUT .tflite converts the QDQ graph to TFLite's int8 form (passes/convert/qdq-to-tflite.ts)
 * with parameters chosen for TFLite's int8 kernels (int8 activations, fixed and shared scales).
 */
import { LatheError } from "../ir/errors.ts";
import type { Model } from "../ir/graph.ts";
import { printGraph } from "../ir/text.ts";
import { assertValid } from "../ir/verify.ts";
import "../passes/index.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import type { ActivationType } from "../passes/quantize/affine.ts";
import { type Batch, seededBatches } from "../passes/quantize/calibrate.ts";
import type { QuantizedLayer } from "../passes/quantize/int8-qdq.ts";
import type { Scheme } from "../passes/quantize/mixed.ts";
import type { CalibMethod } from "../passes/quantize/observers.ts";
import { quantizeModelGraph } from "../passes/quantize/quantize-pass.ts";
import { compareModels, type QuantReport } from "../passes/quantize/report.ts";
import type { Tensor } from "../runtime/tensor.ts";
import { writeFileAtomic } from "./atomic-write.ts";
import "./formats.ts";
import { loadModel } from "./load-model.ts";
import { readNpy } from "./npy.ts";
import { writeOnnxFile } from "./onnx/export.ts";
import { writeTfliteFile } from "./tflite/export.ts";
import { onnxToTflite } from "../passes/convert/onnx-to-tflite.ts";
import { tfliteToOnnx } from "../passes/convert/tflite-to-onnx.ts";
import type { ConversionReport } from "../passes/convert/report.ts";

export interface QuantizeModelOptions {
  input: string;
  output: string;
  scheme?: Scheme;
  calib?: CalibMethod;
  /** Folder of .npy calibration inputs (see readCalibrationDir). */
  calibDir?: string;
  calibSeed?: number;
  calibCount?: number;
  percentile?: number;
  activations?: ActivationType;
  weights?: string;
  bits?: number;
  table?: string;
  important?: number;
  layers?: string;
  float?: string;
  /** Passes before quantization (default canonicalize,fold-batchnorm); "" for none. */
  passes?: string;
  /** OUT .tflite: rank-4 inputs and outputs of an ONNX model stay NCHW (default) or become NHWC. */
  layout?: "nchw" | "nhwc";
  /** Also compare with the float model on `reportCount` inputs from seed `reportSeed` (not the calibration ones). */
  report?: boolean;
  reportSeed?: number;
  reportCount?: number;
  progress?: (phase: string, done: number, total: number) => void;
}

export interface QuantizeModelResult {
  input: string;
  output: string;
  scheme: Scheme;
  calibration: { method: CalibMethod; batches: number; runs: number; source: string };
  layers: QuantizedLayer[];
  report?: QuantReport;
  /** OUT .tflite: what each QDQ node became (tfl ops by count in `target.ops`). */
  conversion?: ConversionReport;
  ms: { import: number; quantize: number; write: number; report: number };
}

type Writer = (path: string, m: Model, opts: QuantizeModelOptions) => Promise<ConversionReport | void>;

function onlyStandardOps(path: string, m: Model, format: string): void {
  const own = m.graph.nodes.find((n) => n.op.startsWith("lathe."));
  if (own) {
    throw new LatheError(
      "unsupported",
      `${own.op} (node ${own.id}) has no ${format} form: only the int8 scheme exports to ${format}; write .lir`,
      { file: path },
    );
  }
}

/** Model writers by output extension. */
const WRITERS: Record<string, Writer> = {
  ".onnx": (path, m) => {
    onlyStandardOps(path, m, "ONNX");
    return writeOnnxFile(path, m);
  },
  ".tflite": async (path, m, opts) => {
    onlyStandardOps(path, m, "TFLite");
    const { model, report } = onnxToTflite(m, { layout: opts.layout });
    await writeTfliteFile(path, model);
    return report;
  },
  ".lir": (path, m) => writeFileAtomic(path, printGraph(m.graph) + "\n"),
};

function writerFor(path: string) {
  const ext = Object.keys(WRITERS).find((e) => path.toLowerCase().endsWith(e));
  if (!ext) {
    throw new LatheError(
      "unsupported",
      `cannot write ${path}: quantized models are written as ${
        Object.keys(WRITERS).join(" or ")
      } (.lir elides large weights)`,
    );
  }
  return WRITERS[ext];
}

/**
 * Calibration inputs from a folder: for a single-input model, every .npy file is one sample (an array whose
 * leading dim is a multiple of the model's batch dim is split into samples); with several inputs, every
 * sub-folder is one sample holding `<input name>.npy` per input. Files are taken in name order.
 */
export async function readCalibrationDir(dir: string, model: Model): Promise<Batch[]> {
  const g = model.graph;
  const inputs = g.inputs.filter((n) => !g.constants[n]);
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const e of Deno.readDir(dir)) entries.push(e);
  } catch (e) {
    throw new LatheError("io", `cannot read calibration folder: ${(e as Error).message}`, { file: dir });
  }
  entries.sort((a, b) => a.name.localeCompare(b.name));
  const batches: Batch[] = [];
  const subdirs = entries.filter((e) => e.isDirectory);
  if (subdirs.length) {
    for (const d of subdirs) {
      const b: Record<string, Tensor> = {};
      for (const name of inputs) {
        b[name] = await readNpy(`${dir}/${d.name}/${name.replace(/[\/\\:]/g, "_")}.npy`);
      }
      batches.push(b);
    }
  } else {
    if (inputs.length !== 1) {
      throw new LatheError(
        "usage",
        `${dir}: a model with ${inputs.length} inputs needs one sub-folder per sample`,
      );
    }
    const name = inputs[0];
    const t = g.values[name]?.type;
    const want = t?.kind === "tensor" && t.shape && typeof t.shape[0] === "number" ? t.shape[0] : undefined;
    for (const e of entries.filter((e) => e.isFile && e.name.endsWith(".npy"))) {
      const x = await readNpy(`${dir}/${e.name}`);
      batches.push(
        ...splitSamples(x, want, t?.kind === "tensor" ? t.shape?.length : undefined).map((s) => ({
          [name]: s,
        })),
      );
    }
  }
  if (!batches.length) throw new LatheError("usage", `no .npy calibration inputs in ${dir}`);
  return batches;
}

function splitSamples(x: Tensor, batch: number | undefined, rank: number | undefined): Tensor[] {
  if (
    batch === undefined || rank !== x.shape.length || x.shape[0] === batch || x.shape[0] % batch !== 0 ||
    x.data instanceof Array
  ) return [x];
  const k = x.shape[0] / batch, per = x.data.length / k;
  const out: Tensor[] = [];
  for (let i = 0; i < k; i++) {
    const data = (x.data as Float32Array).slice(i * per, (i + 1) * per);
    out.push(new (x.constructor as typeof Tensor)(x.dtype, [batch, ...x.shape.slice(1)], data));
  }
  return out;
}

export async function quantizeModel(opts: QuantizeModelOptions): Promise<QuantizeModelResult> {
  const write = writerFor(opts.output);
  const toTflite = opts.output.toLowerCase().endsWith(".tflite");
  const t0 = performance.now();
  let model = await loadModel(opts.input);
  if (model.meta.format === "tflite") model = tfliteToOnnx(model).model;
  assertValid(model.graph);
  const pre = opts.passes ?? "canonicalize,fold-batchnorm";
  if (pre.trim()) model = (await runPipeline(model, pre)).model;
  const t1 = performance.now();
  const batches = opts.calibDir
    ? await readCalibrationDir(opts.calibDir, model)
    : seededBatches(model.graph, opts.calibSeed ?? 0, opts.calibCount ?? 8);
  const scheme = opts.scheme ?? "int8";
  const r = quantizeModelGraph(model, {
    ...opts,
    scheme,
    batches,
    ...(toTflite ? { tflite: true, activations: opts.activations ?? "i8" } : {}),
  });
  assertValid(r.model.graph);
  const t2 = performance.now();
  const conversion = await write(opts.output, r.model, opts);
  const t3 = performance.now();
  let report: QuantReport | undefined;
  if (opts.report) {
    const seed = opts.reportSeed ?? 1_000_000;
    report = compareModels(
      model.graph,
      r.model.graph,
      seededBatches(model.graph, seed, opts.reportCount ?? 4),
    );
  }
  return {
    input: opts.input,
    output: opts.output,
    scheme,
    calibration: { ...r.calibration, source: opts.calibDir ?? `seed ${opts.calibSeed ?? 0}` },
    layers: r.layers,
    report,
    ...(conversion ? { conversion } : {}),
    ms: { import: t1 - t0, quantize: t2 - t1, write: t3 - t2, report: performance.now() - t3 },
  };
}
