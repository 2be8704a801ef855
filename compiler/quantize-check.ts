/**
 * `deno task quantize-check [MODEL ...] [--json]`: int8 post-training quantization to TFLite, checked
 * against LiteRT (TFLite's own runtime, XNNPACK on CPU). Each model is quantized with seeded calibration
 * inputs and written as .tflite (`quantizeModel`); LiteRT and Lathe's runtime then run that file on the same
 * seeded inputs (not the calibration ones) and their outputs are compared in the quantized domain: each
 * output is a DEQUANTIZE of int8 codes, so y / scale + zero point gives the codes back exactly. Lathe runs
 * twice, with the XNNPACK arithmetic LiteRT's CPU path uses and with TFLite's default (double rounding).
 * The SQNR is of LiteRT's output against the float model (onnxruntime on an ONNX source, LiteRT on a float
 * TFLite source). A TFLite source with a custom op is cut before it (`cutAtCustom`).
 */
import { LatheError } from "../ir/errors.ts";
import type { Graph } from "../ir/graph.ts";
import { interpret } from "../runtime/interpreter.ts";
import { Rng } from "../runtime/random.ts";
import { Tensor } from "../runtime/tensor.ts";
import { type IntegerArithmetic, setIntegerArithmetic } from "../runtime/tflite/requantize.ts";
import { quantizeModel } from "./quantize.ts";
import { inspectLiteRt, liteRtLoadMessage, loadLiteRt, runLiteRt } from "./reference-runtimes/litert.ts";
import { importTflite } from "./tflite/import.ts";
import { readTflite } from "./tflite/reader.ts";
import { writeTflite } from "./tflite/writer.ts";

export interface QuantizeCheckOptions {
  calibCount?: number;
  calibSeed?: number;
  /** Seeds of the compared inputs (uniform [-1, 1)); default [101, 102]. */
  seeds?: readonly number[];
  /** A TFLite source is cut before its first custom op (its inputs become the outputs). */
  cutAtCustom?: boolean;
}

/** Agreement of Lathe's codes with LiteRT's, over every element of one output and every seed. */
export interface Agreement {
  count: number;
  /** Shares of elements equal, and within 1 LSB. */
  exact: number;
  within1: number;
  /** Largest difference in LSB. */
  maxLsb: number;
}

export interface OutputCheck {
  name: string;
  shape: number[];
  xnnpack: Agreement;
  doubleRounding: Agreement;
  /** LiteRT's dequantized output against the float model's, over all seeds. */
  sqnrDb: number;
}

export interface ModelCheck {
  model: string;
  /** Ops of the int8 TFLite model by count. */
  ops: Record<string, number>;
  /** Ops left float (between a DEQUANTIZE and a QUANTIZE), by count. */
  floatOps: Record<string, number>;
  layers: number;
  outputs: OutputCheck[];
  ms: { quantize: number; litert: number; lathe: number };
}

/** The TFLite file cut before its first custom op; unchanged when it has none. */
export function cutBeforeCustom(bytes: Uint8Array): Uint8Array {
  const m = readTflite(bytes);
  const sg = m.subgraphs[0];
  const ci = sg.operators.findIndex((o) => m.operatorCodes[o.opcodeIndex].builtinCode === 32);
  if (ci < 0) return bytes;
  const data = sg.operators[ci].inputs[0];
  sg.operators = sg.operators.slice(0, ci);
  sg.outputs = [data];
  m.signatureDefs = [];
  return writeTflite(m);
}

function seededInputs(g: Graph, seed: number): Float32Array[] {
  return g.inputs.map((name, k) => {
    const t = g.values[name]?.type;
    if (t?.kind !== "tensor" || t.dtype !== "f32" || !t.shape?.every((d) => typeof d === "number")) {
      throw new LatheError("unsupported", `input ${name} is not a static f32 tensor`);
    }
    const n = (t.shape as number[]).reduce((p, d) => p * d, 1);
    const r = new Rng(seed * 97 + k);
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = r.uniform(-1, 1);
    return x;
  });
}

class AgreementSum {
  count = 0;
  exact = 0;
  within1 = 0;
  maxLsb = 0;
  add(a: ArrayLike<number>, b: ArrayLike<number>, scale: number): void {
    for (let i = 0; i < a.length; i++) {
      const d = Math.abs(Math.round(a[i] / scale) - Math.round(b[i] / scale));
      if (d === 0) this.exact++;
      if (d <= 1) this.within1++;
      if (d > this.maxLsb) this.maxLsb = d;
    }
    this.count += a.length;
  }
  result(): Agreement {
    return {
      count: this.count,
      exact: this.exact / this.count,
      within1: this.within1 / this.count,
      maxLsb: this.maxLsb,
    };
  }
}

/** The scale of the DEQUANTIZE that writes output `o` (codes are y / scale + zero point). */
function outputScale(g: Graph, o: string): number {
  const dq = g.nodes.find((n) => n.outputs[0] === o);
  const t = dq?.op === "tfl.DEQUANTIZE" && dq.inputs[0] ? g.values[dq.inputs[0]]?.type : undefined;
  if (t?.kind !== "tensor" || typeof t.dtype === "string" || t.dtype.kind !== "affine") {
    throw new LatheError("unsupported", `output ${o} is not a DEQUANTIZE of int8 codes`);
  }
  return t.dtype.scale[0];
}

/** Quantizes `path` to int8 TFLite and compares LiteRT with Lathe's runtime on the result. */
export async function checkQuantizedTflite(
  path: string,
  opts: QuantizeCheckOptions = {},
): Promise<ModelCheck> {
  if (!(await loadLiteRt())) throw new LatheError("runtime", liteRtLoadMessage());
  const dir = await Deno.makeTempDir({ prefix: "lathe-quantize-check-" });
  try {
    const isOnnx = path.toLowerCase().endsWith(".onnx");
    let source = path;
    if (!isOnnx && opts.cutAtCustom) {
      source = `${dir}/source.tflite`;
      await Deno.writeFile(source, cutBeforeCustom(await Deno.readFile(path)));
    }
    const out = `${dir}/int8.tflite`;
    const t0 = performance.now();
    const r = await quantizeModel({
      input: source,
      output: out,
      calibCount: opts.calibCount ?? 8,
      calibSeed: opts.calibSeed ?? 0,
    });
    const ms = { quantize: performance.now() - t0, litert: 0, lathe: 0 };
    const bytes = await Deno.readFile(out);
    const g = importTflite(bytes).graph;
    const ops: Record<string, number> = {}, floatOps: Record<string, number> = {};
    for (const n of g.nodes) {
      ops[n.op] = (ops[n.op] ?? 0) + 1;
      const t = n.outputs[0] ? g.values[n.outputs[0]]?.type : undefined;
      if (n.op !== "tfl.DEQUANTIZE" && t?.kind === "tensor" && t.dtype === "f32") {
        floatOps[n.op] = (floatOps[n.op] ?? 0) + 1;
      }
    }
    const names = (await inspectLiteRt(bytes)).outputs.map((o) => o.name);
    const floatRef = isOnnx
      ? await onnxReference(path, g)
      : await tfliteReference(await Deno.readFile(source));
    const scales = g.outputs.map((o) => outputScale(g, o));
    const sums = g.outputs.map(() => ({
      xnnpack: new AgreementSum(),
      dr: new AgreementSum(),
      sig: 0,
      noise: 0,
    }));
    for (const seed of opts.seeds ?? [101, 102]) {
      const xs = seededInputs(g, seed);
      let t = performance.now();
      const lite = await runLiteRt(bytes, xs);
      ms.litert += performance.now() - t;
      const liteBy = new Map(names.map((n, k) => [n, lite[k].data as Float32Array]));
      const feeds = Object.fromEntries(
        g.inputs.map((name, k) => {
          const type = g.values[name].type;
          return [name, new Tensor("f32", type.kind === "tensor" ? type.shape as number[] : [], xs[k])];
        }),
      );
      t = performance.now();
      const lathe = (a: IntegerArithmetic) => {
        const prev = setIntegerArithmetic(a);
        try {
          return interpret(g, feeds).outputs;
        } finally {
          setIntegerArithmetic(prev);
        }
      };
      const xnn = lathe("xnnpack"), dr = lathe("double-rounding");
      ms.lathe += performance.now() - t;
      const ref = await floatRef(xs);
      g.outputs.forEach((o, k) => {
        const want = liteBy.get(o);
        if (!want) throw new LatheError("runtime", `LiteRT has no output ${o}`);
        sums[k].xnnpack.add((xnn[o] as Tensor).data as Float32Array, want, scales[k]);
        sums[k].dr.add((dr[o] as Tensor).data as Float32Array, want, scales[k]);
        const f = ref.get(o);
        if (!f || f.length !== want.length) {
          throw new LatheError("runtime", `the float model has no output ${o}`);
        }
        for (let i = 0; i < f.length; i++) {
          sums[k].sig += f[i] * f[i];
          sums[k].noise += (f[i] - want[i]) ** 2;
        }
      });
    }
    return {
      model: path,
      ops,
      floatOps,
      layers: r.layers.length,
      outputs: g.outputs.map((o, k) => {
        const t = g.values[o].type;
        return {
          name: o,
          shape: t.kind === "tensor" ? (t.shape as number[]) : [],
          xnnpack: sums[k].xnnpack.result(),
          doubleRounding: sums[k].dr.result(),
          sqnrDb: sums[k].noise === 0 ? Infinity : 10 * Math.log10(sums[k].sig / sums[k].noise),
        };
      }),
      ms,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

type FloatReference = (xs: Float32Array[]) => Promise<Map<string, ArrayLike<number>>>;

async function onnxReference(path: string, g: Graph): Promise<FloatReference> {
  const { ortSession, runOrt } = await import("./reference-runtimes/onnxruntime.ts");
  const session = await ortSession(path);
  return async (xs) => {
    const feeds: Record<string, Tensor> = {};
    g.inputs.forEach((name, k) => {
      const t = g.values[name].type;
      feeds[name] = new Tensor("f32", t.kind === "tensor" ? t.shape as number[] : [], xs[k]);
    });
    const out = await runOrt(session, feeds);
    return new Map(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  };
}

async function tfliteReference(bytes: Uint8Array): Promise<FloatReference> {
  const names = (await inspectLiteRt(bytes)).outputs.map((o) => o.name);
  return async (xs) => {
    const out = await runLiteRt(bytes, xs);
    return new Map(names.map((n, k) => [n, out[k].data as Float32Array]));
  };
}

const CORPUS = new URL("../../shared/corpus/", import.meta.url);

/** The models of the acceptance list, as corpus paths. */
export const CHECK_MODELS: readonly { file: string; cutAtCustom?: boolean }[] = [
  { file: "onnx/torch/mobilenet_v2.onnx" },
  { file: "onnx/torch/squeezenet1_1.onnx" },
  { file: "onnx/torch/dcgan_generator.onnx" },
  { file: "tflite/mediapipe/face_detection_short_range.tflite" },
  { file: "tflite/mediapipe/palm_detection_lite.tflite" },
  { file: "tflite/mediapipe/hand_landmark_lite.tflite" },
  { file: "tflite/mediapipe/pose_detection.tflite" },
  { file: "tflite/mediapipe/object_detection_ssd_mobilenetv2_oidv4_fp16.tflite" },
  { file: "tflite/mediapipe/selfie_segmentation.tflite", cutAtCustom: true },
];

const pct = (v: number) => `${(100 * v).toFixed(3)}%`;

export function formatCheck(c: ModelCheck): string {
  const name = c.model.slice(c.model.lastIndexOf("/") + 1);
  const float = Object.entries(c.floatOps).map(([k, v]) => `${k.slice(4)}×${v}`).join(", ") || "none";
  const lines = [
    `${name}: ${c.layers} layers int8, ${
      Object.values(c.ops).reduce((p, v) => p + v, 0)
    } ops, float ops: ${float}; ` +
    `quantize ${c.ms.quantize.toFixed(0)} ms, LiteRT ${c.ms.litert.toFixed(0)} ms, Lathe ${
      c.ms.lathe.toFixed(0)
    } ms`,
  ];
  for (const o of c.outputs) {
    const a = (x: Agreement) => `${pct(x.exact)} exact, ${pct(x.within1)} within 1 LSB, max ${x.maxLsb}`;
    lines.push(
      `  ${o.name} [${o.shape}] (${o.xnnpack.count} elements): xnnpack ${a(o.xnnpack)}; double-rounding ${
        a(o.doubleRounding)
      }; SQNR vs float ${o.sqnrDb.toFixed(2)} dB`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const args = Deno.args.filter((a) => !a.startsWith("--"));
  if (Deno.args.includes("--help")) {
    console.log(`quantize-check [MODEL ...] [--json]
  Quantizes each model to int8 TFLite (seeded calibration) and compares LiteRT with Lathe's runtime on the
  result, in the quantized domain, with XNNPACK and double-rounding arithmetic; SQNR against the float model.
  MODEL is a corpus path (e.g. onnx/torch/mobilenet_v2.onnx) or a file; default: the acceptance list.
  Exit code 1 when any output has fewer than 99.9% of its elements within 1 LSB (XNNPACK arithmetic).`);
    Deno.exit(0);
  }
  const list = args.length
    ? args.map((a) => CHECK_MODELS.find((m) => m.file === a || m.file.endsWith(`/${a}`)) ?? { file: a })
    : CHECK_MODELS;
  const results: ModelCheck[] = [];
  let ok = true;
  for (const m of list) {
    const path = m.file.startsWith("/") || m.file.startsWith(".") ? m.file : new URL(m.file, CORPUS).pathname;
    try {
      const c = await checkQuantizedTflite(path, { cutAtCustom: m.cutAtCustom ?? true });
      results.push(c);
      if (c.outputs.some((o) => o.xnnpack.within1 < 0.999)) ok = false;
      if (!Deno.args.includes("--json")) console.log(formatCheck(c));
    } catch (e) {
      ok = false;
      console.error(`${m.file}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (Deno.args.includes("--json")) console.log(JSON.stringify(results, null, 2));
  Deno.exit(ok ? 0 : 1);
}
