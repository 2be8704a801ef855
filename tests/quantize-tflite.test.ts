/**
 * Int8 post-training quantization exported to TFLite (issue 5), checked against LiteRT, TFLite's own
 * runtime: LiteRT and Lathe's runtime run the same quantized .tflite on the same seeded inputs (not the
 * calibration ones) and are compared in the quantized domain (each output is a DEQUANTIZE of int8 codes, so
 * y / scale gives the codes back exactly). With the XNNPACK arithmetic LiteRT's CPU path uses, at least 99.9%
 * of output elements must be within 1 LSB; exact shares, the largest error, TFLite's default (double
 * rounding) figures and the SQNR against the float model are printed.
 *
 * A built CNN covers the mapping itself (filter layouts and quantized dimensions against the QDQ model's
 * own codes, bias scales, fixed and shared scales); from the corpus, one ONNX model (dcgan_generator:
 * TRANSPOSE_CONV, TANH) and one float TFLite model (face_detection_short_range: fp16 weights, PAD, concat
 * heads). The other models of the acceptance list run in `deno task quantize-check` (figures in its output).
 */
import assert from "node:assert/strict";
import { checkQuantizedTflite, formatCheck } from "../compiler/quantize-check.ts";
import { quantizeModel } from "../compiler/quantize.ts";
import { exportTflite } from "../compiler/tflite/export.ts";
import { importTflite } from "../compiler/tflite/import.ts";
import type { Tensor as TflTensor } from "../compiler/tflite/model.ts";
import { readTflite } from "../compiler/tflite/reader.ts";
import { GraphBuilder } from "../ir/builder.ts";
import { constantNumbers } from "../ir/constant-values.ts";
import type { AffineQuant } from "../ir/dtype.ts";
import { LatheError } from "../ir/errors.ts";
import type { Graph, Model } from "../ir/graph.ts";
import { onnxToTflite } from "../passes/convert/onnx-to-tflite.ts";
import { seededBatches } from "../passes/quantize/calibrate.ts";
import { quantizeModelGraph } from "../passes/quantize/quantize-pass.ts";
import { interpret } from "../runtime/interpreter.ts";
import { Rng } from "../runtime/random.ts";
import { Tensor } from "../runtime/tensor.ts";
import { type IntegerArithmetic, setIntegerArithmetic } from "../runtime/tflite/requantize.ts";
import { liteRtLoadMessage, loadLiteRt, runLiteRt } from "./reference/litert.ts";
import { TfliteBuilder } from "./support/tflite-builder.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";

const liteRt = await loadLiteRt();
if (!liteRt) console.log(`quantize-tflite: LiteRT tests skipped: ${liteRtLoadMessage()}`);

const LITERT = { sanitizeOps: false, sanitizeResources: false };

function seeded(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r.uniform(lo, hi);
  return out;
}

function runLathe(g: Graph, feeds: Record<string, Tensor>, a: IntegerArithmetic): Record<string, Tensor> {
  const prev = setIntegerArithmetic(a);
  try {
    return interpret(g, feeds).outputs as Record<string, Tensor>;
  } finally {
    setIntegerArithmetic(prev);
  }
}

// ---- hand-derived XNNPACK arithmetic -------------------------------------------------------------------

/** A one-op tfl graph with a declared output type, run in Lathe. */
function oneOp(op: string, x: Tensor, out: AffineQuant, a: IntegerArithmetic): number[] {
  const b = new GraphBuilder();
  b.input("x", x.dtype, x.shape);
  const y = b.op1(op, ["x"], {}, "y");
  const g = b.buildRaw([y]);
  const typed: Graph = {
    ...g,
    values: { ...g.values, y: { type: { kind: "tensor", dtype: out, shape: x.shape } } },
  };
  return Array.from(runLathe(typed, { x }, a).y.data as Int8Array);
}

const q8 = (scale: number, zp: number): AffineQuant => ({
  kind: "affine",
  storage: "i8",
  scale: [scale],
  zeroPoint: [zp],
});

Deno.test("QUANTIZE float → int8: XNNPACK multiplies by the float32 reciprocal and rounds to even", () => {
  // 0.8274502158164978 / 0.007843130268156528 = 105.4999965 in double (TFLite: 105), but times the float32
  // reciprocal 127.50011 it is 105.5 in float32, which rounds to the even 106.
  const x = new Tensor("f32", [3], Float32Array.of(0.8274502158164978, 0.625, -0.625));
  assert.deepEqual(oneOp("tfl.QUANTIZE", x, q8(0.007843130268156528, 0), "double-rounding")[0], 105);
  assert.deepEqual(oneOp("tfl.QUANTIZE", x, q8(0.007843130268156528, 0), "xnnpack")[0], 106);
  // Exact ties at scale 1/4 (±2.5): TFLite rounds away from zero, XNNPACK to even; zero point 3.
  assert.deepEqual(oneOp("tfl.QUANTIZE", x, q8(0.25, 3), "double-rounding").slice(1), [6, 0]);
  assert.deepEqual(oneOp("tfl.QUANTIZE", x, q8(0.25, 3), "xnnpack").slice(1), [5, 1]);
});

Deno.test("QUANTIZE int8 → int8: XNNPACK's multiplier has 8 fraction bits and rounds half up", () => {
  // s_in/s_out = 0.05/0.037 = 1.3513514 → multiplier round(345.95) = 346 (1.3515625); zero points 7 → −3.
  // Code 10: (3·346 + 128) >> 8 = 4 → 1. Code 0: (−7·346 + 128) >> 8 = floor(−8.96) = −9 → −12.
  // Code 71: (64·346 + 128) >> 8 = 87 → 84, where the exact 64·1.3513514 = 86.49 gives TFLite 86 → 83.
  const x = new Tensor(q8(0.05, 7), [3], Int8Array.of(10, 0, 71));
  assert.deepEqual(oneOp("tfl.QUANTIZE", x, q8(0.037, -3), "xnnpack"), [1, -12, 84]);
  assert.deepEqual(oneOp("tfl.QUANTIZE", x, q8(0.037, -3), "double-rounding"), [1, -12, 83]);
});

Deno.test({
  name: "RESIZE_BILINEAR float in the XNNPACK arithmetic equals LiteRT bit for bit",
  ignore: !liteRt,
  ...LITERT,
  async fn() {
    for (const [align, half] of [[0, 1], [0, 0], [1, 0]]) {
      const b = new TfliteBuilder();
      const ins: number[] = [], outs: number[] = [];
      const x = b.input({ shape: [1, 7, 9, 5], type: "FLOAT32" }, ins);
      const size = b.tensor({ shape: [2], type: "INT32" }, Int32Array.of(15, 20));
      const y = b.output({ shape: [1, 15, 20, 5], type: "FLOAT32" }, outs);
      b.op("RESIZE_BILINEAR", [x, size], [y], { align_corners: !!align, half_pixel_centers: !!half }, 3);
      const bytes = b.finish(ins, outs);
      const data = seeded(7 * 9 * 5, 40 + align + 2 * half, -3, 3);
      const want = (await runLiteRt(bytes, [data]))[0].data as Float32Array;
      const g = importTflite(bytes).graph;
      const got = runLathe(g, { [g.inputs[0]]: new Tensor("f32", [1, 7, 9, 5], data) }, "xnnpack");
      const d = got[g.outputs[0]].data as Float32Array;
      let same = 0;
      for (let i = 0; i < d.length; i++) if (Object.is(d[i], want[i])) same++;
      assert.equal(same, d.length, `align ${align} half ${half}: ${same}/${d.length} equal`);
    }
  },
});

// ---- the mapping on a built CNN ------------------------------------------------------------------------

/** Conv 3×3 → Relu → depthwise → Clip(0, 6); two branches concatenated; residual Add; MaxPool; global pool;
 * Gemm; Softmax, and a Sigmoid head. NCHW like an ONNX export. */
function builtCnn(): Model {
  const b = new GraphBuilder();
  let k = 0;
  const w = (shape: number[], scale = 0.3) => {
    const n = shape.reduce((p, d) => p * d, 1);
    return b.constantOf(`w${k++}`, "f32", shape, seeded(n, 500 + k, -scale, scale));
  };
  const x = b.input("x", "f32", [1, 3, 16, 16]);
  const pads = { pads: [1, 1, 1, 1] };
  const c1 = b.op1("Relu", [b.op1("Conv", [x, w([8, 3, 3, 3]), w([8], 0.1)], pads)]);
  const zero = b.constantOf("zero", "f32", [], [0]), six = b.constantOf("six", "f32", [], [6]);
  const dw = b.op1("Clip", [
    b.op1("Conv", [c1, w([8, 1, 3, 3]), w([8], 0.1)], { ...pads, group: 8 }),
    zero,
    six,
  ]);
  const left = b.op1("Relu", [b.op1("Conv", [dw, w([4, 8, 1, 1]), w([4], 0.1)])]);
  const right = b.op1("Relu", [b.op1("Conv", [dw, w([4, 8, 3, 3]), w([4], 0.1)], pads)]);
  const cat = b.op1("Concat", [left, right], { axis: 1 });
  const sum = b.op1("Add", [cat, dw]);
  const pool = b.op1("MaxPool", [sum], { kernel_shape: [2, 2], strides: [2, 2] });
  const flat = b.op1("Flatten", [b.op1("GlobalAveragePool", [pool])]);
  const probs = b.op1("Softmax", [b.op1("Gemm", [flat, w([10, 8]), w([10], 0.1)], { transB: 1 })], {
    axis: 1,
  }, "probs");
  const gate = b.op1("Sigmoid", [b.op1("Gemm", [flat, w([1, 8]), w([1], 0.1)], { transB: 1 })], {}, "gate");
  return { graph: b.build([probs, gate]), meta: { format: "onnx", opsets: { "": 21 }, props: {} } };
}

function tensorByOp(bytes: Uint8Array, op: string, input: number): TflTensor[] {
  const m = readTflite(bytes);
  const sg = m.subgraphs[0];
  const code = m.operatorCodes.findIndex((c) => c.builtinCode === BUILTIN[op]);
  return sg.operators.filter((o) => o.opcodeIndex === code).map((o) => sg.tensors[o.inputs[input]]);
}
const BUILTIN: Record<string, number> = { CONV_2D: 3, DEPTHWISE_CONV_2D: 4, FULLY_CONNECTED: 9, SOFTMAX: 25 };

/** Codes of a TFLite tensor's buffer as int8 or int32. */
function codes(bytes: Uint8Array, t: TflTensor): number[] {
  const b = readTflite(bytes).buffers[t.buffer].data;
  return t.type === "INT8"
    ? Array.from(new Int8Array(b.buffer, b.byteOffset, b.byteLength))
    : Array.from(new Int32Array(b.slice().buffer));
}

Deno.test({
  name: "built CNN: QDQ → int8 TFLite keeps the QDQ codes in TFLite's layouts and runs as LiteRT runs it",
  ignore: !liteRt,
  ...LITERT,
  async fn() {
    const float = builtCnn();
    const q = quantizeModelGraph(float, {
      activations: "i8",
      tflite: true,
      batches: seededBatches(float.graph, 0, 4),
    });
    const qg = q.model.graph;
    const { model, report } = onnxToTflite(q.model);
    assert.equal(report.unmapped.length, 0);
    const bytes = exportTflite(model);
    const g = importTflite(bytes).graph;

    // Every op computes on int8 codes except the QUANTIZE at the input and the DEQUANTIZEs at the outputs.
    const floatOps = g.nodes.filter((n) => {
      const t = g.values[n.outputs[0]].type;
      return t.kind === "tensor" && typeof t.dtype === "string";
    }).map((n) => n.op);
    assert.deepEqual(floatOps, ["tfl.DEQUANTIZE", "tfl.DEQUANTIZE"]);
    assert.equal(g.nodes[0].op, "tfl.QUANTIZE");

    // Filters: the QDQ model's codes and scales, OHWI with quantized dimension 0, depthwise [1, 3, 3, 8]
    // along 3, fully connected [N, K] along 0.
    const qdqCodes = (name: string) => constantNumbers(qg.constants[`${name}_quantized`]);
    const qdqScales = (name: string) => constantNumbers(qg.constants[`${name}_scale`]);
    const convs = tensorByOp(bytes, "CONV_2D", 1);
    const conv1 = convs.find((t) => t.shape.join() === "8,3,3,3")!;
    assert.equal(conv1.type, "INT8");
    assert.equal(conv1.quantization!.quantizedDimension, 0);
    assert.deepEqual(Array.from(conv1.quantization!.scale), qdqScales("w0").map(Math.fround));
    const src = qdqCodes("w0"), got = codes(bytes, conv1);
    for (let o = 0; o < 8; o++) {
      for (let i = 0; i < 3; i++) {
        for (let h = 0; h < 3; h++) {
          for (let x = 0; x < 3; x++) {
            assert.equal(got[((o * 3 + h) * 3 + x) * 3 + i], src[((o * 3 + i) * 3 + h) * 3 + x]);
          }
        }
      }
    }
    const dwf = tensorByOp(bytes, "DEPTHWISE_CONV_2D", 1)[0];
    assert.deepEqual(dwf.shape, [1, 3, 3, 8]);
    assert.equal(dwf.quantization!.quantizedDimension, 3);
    const dsrc = qdqCodes("w2"), dgot = codes(bytes, dwf);
    for (let c = 0; c < 8; c++) for (let t = 0; t < 9; t++) assert.equal(dgot[t * 8 + c], dsrc[c * 9 + t]);
    const fc = tensorByOp(bytes, "FULLY_CONNECTED", 1).find((t) => t.shape.join() === "10,8")!;
    assert.equal(fc.quantization!.scale.length, 10);
    assert.deepEqual(codes(bytes, fc), qdqCodes("w8"));

    // Biases: int32 with scale s_x·s_w per channel (TFLite checks this), the QDQ model's codes.
    const conv1Input = tensorByOp(bytes, "CONV_2D", 0)[convs.indexOf(conv1)];
    const bias = tensorByOp(bytes, "CONV_2D", 2)[convs.indexOf(conv1)];
    assert.equal(bias.type, "INT32");
    const sx = conv1Input.quantization!.scale[0];
    bias.quantization!.scale.forEach((s, c) => {
      assert.ok(Math.abs(s - sx * conv1.quantization!.scale[c]) <= 1e-6 * s, `bias scale ${c}`);
    });
    assert.deepEqual(
      codes(bytes, bias),
      constantNumbers(qg.constants[`${qg.nodes.find((n) => n.op === "Conv")!.id}_bias_quantized`]),
    );

    // TFLite's fixed scales and the shared concatenation scale.
    const quantOf = (v: string) => {
      const t = g.values[v].type;
      return t.kind === "tensor" && typeof t.dtype !== "string" && t.dtype.kind === "affine"
        ? t.dtype
        : undefined;
    };
    const softmax = g.nodes.find((n) => n.op === "tfl.SOFTMAX")!;
    assert.deepEqual([quantOf(softmax.outputs[0])!.scale[0], quantOf(softmax.outputs[0])!.zeroPoint[0]], [
      1 / 256,
      -128,
    ]);
    const logistic = g.nodes.find((n) => n.op === "tfl.LOGISTIC")!;
    assert.deepEqual(quantOf(logistic.outputs[0])!.zeroPoint, [-128]);
    const cat = g.nodes.find((n) => n.op === "tfl.CONCATENATION")!;
    for (const i of cat.inputs) assert.deepEqual(quantOf(i!), quantOf(cat.outputs[0]));

    // LiteRT against Lathe, in the quantized domain.
    for (const seed of [7, 8, 9]) {
      const data = seeded(3 * 16 * 16, seed);
      const want = await runLiteRt(bytes, [data]);
      const feeds = { x: new Tensor("f32", [1, 3, 16, 16], data) };
      const xnn = runLathe(g, feeds, "xnnpack"), dr = runLathe(g, feeds, "double-rounding");
      g.outputs.forEach((o, k) => {
        const dq = g.nodes.find((n) => n.outputs[0] === o)!;
        const s = quantOf(dq.inputs[0]!)!.scale[0];
        const codesOf = (d: ArrayLike<number>) => Array.from(d, (v) => Math.round(v / s));
        assert.deepEqual(
          codesOf(xnn[o].data as Float32Array),
          codesOf(want[k].data as Float32Array),
          `${o} seed ${seed}`,
        );
        const diff = codesOf(dr[o].data as Float32Array).map((c, i) =>
          Math.abs(c - Math.round(want[k].data[i] / s))
        );
        assert.ok(Math.max(...diff) <= 2, `${o}: double rounding within 2 LSB`);
      });
    }
  },
});

Deno.test("quantize OUT.tflite refuses schemes without a TFLite form", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const float = builtCnn();
    const path = `${dir}/cnn.onnx`;
    const { writeOnnxFile } = await import("../compiler/onnx/export.ts");
    await writeOnnxFile(path, float);
    await assert.rejects(
      quantizeModel({ input: path, output: `${dir}/cnn.tflite`, scheme: "pot", calibCount: 1 }),
      (e: unknown) => e instanceof LatheError && e.kind === "unsupported" && /TFLite/.test(e.reason),
    );
    const r = await quantizeModel({ input: path, output: `${dir}/cnn_int8.tflite`, calibCount: 2 });
    assert.equal(r.conversion?.unmapped.length, 0);
    assert.ok((r.conversion?.target.ops["tfl.CONV_2D"] ?? 0) === 3);
    assert.equal(importTflite(await Deno.readFile(`${dir}/cnn_int8.tflite`)).graph.outputs.length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---- corpus models -------------------------------------------------------------------------------------

for (
  const c of [
    { file: "onnx/torch/dcgan_generator.onnx", minSqnr: 20 },
    { file: "tflite/mediapipe/face_detection_short_range.tflite", minSqnr: 8 },
  ]
) {
  Deno.test({
    name: `int8 TFLite of ${c.file}: LiteRT and Lathe agree within 1 LSB on ≥ 99.9% of output elements`,
    ignore: noCorpus() || !liteRt,
    ...LITERT,
    async fn() {
      const r = await checkQuantizedTflite(corpusPath(c.file), { calibCount: 4, seeds: [101, 102] });
      console.log(formatCheck(r));
      for (const o of r.outputs) {
        assert.ok(
          o.xnnpack.within1 >= 0.999,
          `${o.name}: ${(100 * o.xnnpack.within1).toFixed(3)}% within 1 LSB`,
        );
        assert.ok(o.sqnrDb >= c.minSqnr, `${o.name}: SQNR ${o.sqnrDb.toFixed(2)} dB against the float model`);
      }
    },
  });
}
