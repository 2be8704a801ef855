/**
 * `tfl.*` kernels: hand-derived results for the geometry that is easy to get wrong (SAME padding puts the
 * odd pixel at the end, transpose convolution, depth multipliers, pooling divisors, half-pixel resizes,
 * strided-slice masks, quantized padding and (de)quantization rounding), then single-op TFLite models run
 * through LiteRT (TFLite's own runtime) and through Lathe on the same seeded inputs.
 */
import assert from "node:assert/strict";
import { exportTflite } from "../compiler/tflite/export.ts";
import { importTflite } from "../compiler/tflite/import.ts";
import type { Options, Tensor as TfTensor, TfliteModel } from "../compiler/tflite/model.ts";
import { optionTableOf } from "../compiler/tflite/op-options.ts";
import { BUILTIN_CODE, type TensorTypeName } from "../compiler/tflite/schema.ts";
import { writeTflite } from "../compiler/tflite/writer.ts";
import { GraphBuilder } from "../ir/builder.ts";
import type { AffineQuant, DType } from "../ir/dtype.ts";
import { LatheError } from "../ir/errors.ts";
import type { Graph } from "../ir/graph.ts";
import { compareArrays } from "../runtime/compare.ts";
import { interpret } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { liteRtLoadMessage, loadLiteRt, runLiteRt } from "./reference/litert.ts";

const f32 = (shape: number[], values: number[]) => new Tensor("f32", shape, Float32Array.from(values));
const iota = (n: number, from = 1) => Array.from({ length: n }, (_, i) => i + from);

/** Runs a one-op graph; `consts` are constant operands by position. */
function run1(
  op: string,
  inputs: (Tensor | { const: Tensor } | null)[],
  attrs: Record<string, number | string | number[]> = {},
  outputs = 1,
): Tensor[] {
  const b = new GraphBuilder();
  const feeds: Record<string, Tensor> = {};
  const names = inputs.map((t, i) => {
    if (t === null) return null;
    if ("const" in t) {
      const c = t.const;
      const bytes = new Uint8Array((c.data as Float32Array).buffer.slice(0));
      return b.constant(`c${i}`, { dtype: c.dtype, shape: c.shape, bytes });
    }
    feeds[`x${i}`] = t;
    return b.input(`x${i}`, t.dtype, t.shape);
  });
  const outs = b.op(`tfl.${op}`, names, attrs, outputs);
  const g = b.build(outs);
  const r = interpret(g, feeds, { check: true });
  return outs.map((o) => r.outputs[o] as Tensor);
}

const close = (got: Tensor, want: number[], tol = 1e-6) => {
  const r = compareArrays(got.data as Float32Array, want, tol, tol);
  assert.ok(r.ok, `${r.message}: got [${Array.from(got.data as Float32Array)}]`);
};
const ints = (t: Tensor, shape: number[] = [t.data.length]) =>
  new Tensor("i32", shape, Int32Array.from(t.data as Int32Array));
const i32 = (values: number[], shape = [values.length]) => ({
  const: new Tensor("i32", shape, Int32Array.from(values)),
});

Deno.test("CONV_2D SAME stride 2 pads the odd pixel at the end", () => {
  const x = f32([1, 4, 4, 1], iota(16));
  const w = { const: f32([1, 3, 3, 1], new Array(9).fill(1)) };
  const [y] = run1("CONV_2D", [x, w, { const: f32([1], [0.5]) }], {
    padding: "SAME",
    stride_w: 2,
    stride_h: 2,
  });
  assert.deepEqual(y.shape, [1, 2, 2, 1]);
  // Windows rows/cols 0..2 and 2..4, the fourth row/column being padding.
  close(y, [54.5, 45.5, 72.5, 54.5]);
  const [r] = run1("CONV_2D", [x, w, { const: f32([1], [-50]) }], {
    padding: "SAME",
    stride_w: 2,
    stride_h: 2,
    fused_activation_function: "RELU",
  });
  close(r, [4, 0, 22, 4]);
});

Deno.test("CONV_2D 1x1 (GEMM on the activation in place), VALID dilation, and groups", () => {
  const x = f32([1, 1, 2, 2], [1, 2, 3, 4]);
  const w = { const: f32([3, 1, 1, 2], [1, 0, 0, 1, 1, -1]) };
  close(run1("CONV_2D", [x, w], { stride_w: 1, stride_h: 1 })[0], [1, 2, -1, 3, 4, -1]);
  // Dilation 2 on a 1x5 row with a 1x2 filter: taps 0 and 2 apart.
  const row = f32([1, 1, 5, 1], [1, 2, 3, 4, 5]);
  const [d] = run1("CONV_2D", [row, { const: f32([1, 1, 2, 1], [1, 10]) }], {
    padding: "VALID",
    stride_w: 1,
    stride_h: 1,
    dilation_w_factor: 2,
  });
  assert.deepEqual(d.shape, [1, 1, 3, 1]);
  close(d, [31, 42, 53]);
  // Input of 4 channels, filter taking 2: two groups, output channel g reads channels 2g, 2g+1.
  const g = f32([1, 1, 1, 4], [1, 2, 3, 4]);
  close(run1("CONV_2D", [g, { const: f32([2, 1, 1, 2], [1, 1, 1, -1]) }], { stride_w: 1, stride_h: 1 })[0], [
    3,
    -1,
  ]);
});

Deno.test("DEPTHWISE_CONV_2D with depth multiplier 2 maps output channel c*2+m to input channel c", () => {
  const x = f32([1, 2, 2, 2], [1, 10, 2, 20, 3, 30, 4, 40]);
  const w = f32([1, 2, 2, 4], [1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 2]);
  const [y] = run1("DEPTHWISE_CONV_2D", [x, { const: w }, { const: f32([4], [0, 0.5, 1, 0]) }], {
    padding: "VALID",
    stride_w: 1,
    stride_h: 1,
    depth_multiplier: 2,
  });
  assert.deepEqual(y.shape, [1, 1, 1, 4]);
  // ch0 m0: 1+2+3+4; ch0 m1: 0 (+0.5); ch1 m0: 0 (+1); ch1 m1: 10+20+30+2*40.
  close(y, [10, 0.5, 1, 140]);
});

Deno.test("TRANSPOSE_CONV scatters each input pixel over a stride-spaced window", () => {
  const x = f32([1, 2, 2, 1], [1, 2, 3, 4]);
  const w = { const: f32([1, 3, 3, 1], new Array(9).fill(1)) };
  const [y] = run1("TRANSPOSE_CONV", [i32([1, 5, 5, 1]), w, x], {
    padding: "VALID",
    stride_w: 2,
    stride_h: 2,
  });
  close(y, [1, 1, 3, 2, 2, 1, 1, 3, 2, 2, 4, 4, 10, 6, 6, 3, 3, 7, 4, 4, 3, 3, 7, 4, 4]);
  // SAME with a 4x4 output: padding total (2-1)*2+3-4 = 1 goes at the end, so the top-left 4x4 remains.
  const [s] = run1("TRANSPOSE_CONV", [i32([1, 4, 4, 1]), w, x, { const: f32([1], [1]) }], {
    padding: "SAME",
    stride_w: 2,
    stride_h: 2,
  });
  close(s, [2, 2, 4, 3, 2, 2, 4, 3, 5, 5, 11, 7, 4, 4, 8, 5]);
});

Deno.test("FULLY_CONNECTED: keep_num_dims, bias, fused activation, both GEMM orientations", () => {
  const w = { const: f32([2, 3], [1, 2, 3, -1, 0, 1]) };
  const b = { const: f32([2], [0.5, -10]) };
  const [k] = run1("FULLY_CONNECTED", [f32([2, 1, 3], [1, 1, 1, 2, 0, 1]), w, b], { keep_num_dims: 1 });
  assert.deepEqual(k.shape, [2, 1, 2]);
  close(k, [6.5, -10, 5.5, -11]);
  const x5 = f32([5, 3], iota(15));
  const [r] = run1("FULLY_CONNECTED", [x5, w, b], { fused_activation_function: "RELU" });
  const want: number[] = [];
  for (let i = 0; i < 5; i++) {
    const [p, q, s] = [3 * i + 1, 3 * i + 2, 3 * i + 3];
    want.push(p + 2 * q + 3 * s + 0.5, Math.max(0, -p + s - 10));
  }
  close(r, want);
});

Deno.test("pools count only the taps inside the image", () => {
  const x = f32([1, 3, 3, 1], iota(9));
  const attrs = { padding: "SAME", stride_w: 2, stride_h: 2, filter_width: 2, filter_height: 2 };
  close(run1("AVERAGE_POOL_2D", [x], attrs)[0], [3, 4.5, 7.5, 9]);
  close(run1("MAX_POOL_2D", [x], attrs)[0], [5, 6, 8, 9]);
  close(
    run1("L2_POOL_2D", [x], attrs)[0],
    [Math.sqrt(46 / 4), Math.sqrt(45 / 2), Math.sqrt(113 / 2), 9],
    1e-6,
  );
});

Deno.test("RESIZE_BILINEAR half-pixel and align-corners, RESIZE_NEAREST_NEIGHBOR half-pixel", () => {
  const x = f32([1, 1, 2, 1], [0, 1]);
  close(run1("RESIZE_BILINEAR", [x, i32([1, 4])], { half_pixel_centers: 1 })[0], [0, 0.25, 0.75, 1]);
  close(run1("RESIZE_BILINEAR", [x, i32([1, 4])], { align_corners: 1 })[0], [0, 1 / 3, 2 / 3, 1]);
  close(run1("RESIZE_BILINEAR", [x, i32([1, 4])], {})[0], [0, 0.5, 1, 1]);
  close(run1("RESIZE_NEAREST_NEIGHBOR", [x, i32([1, 4])], { half_pixel_centers: 1 })[0], [0, 0, 1, 1]);
  close(
    run1("RESIZE_NEAREST_NEIGHBOR", [f32([1, 1, 3, 1], [5, 6, 7]), i32([1, 2])], { align_corners: 1 })[0],
    [5, 7],
  );
});

Deno.test("reductions, softmax, l2 norm, arg max", () => {
  const x = f32([1, 2, 2, 3], iota(12));
  const [m] = run1("MEAN", [x, i32([1, 2])], { keep_dims: 1 });
  assert.deepEqual(m.shape, [1, 1, 1, 3]);
  close(m, [5.5, 6.5, 7.5]);
  const [s] = run1("SUM", [x, i32([-1])]);
  assert.deepEqual(s.shape, [1, 2, 2]);
  close(s, [6, 15, 24, 33]);
  close(run1("REDUCE_MAX", [x, i32([0, 1, 2, 3])])[0], [12]);
  close(run1("SOFTMAX", [f32([1, 2], [0, Math.log(2) / 2])], { beta: 2 })[0], [1 / 3, 2 / 3]);
  close(run1("L2_NORMALIZATION", [f32([2], [3, 4])])[0], [0.6, 0.8]);
  const [a] = run1("ARG_MAX", [f32([2, 3], [1, 5, 5, 7, 2, 7]), i32([1])], { output_type: "INT32" });
  assert.deepEqual(Array.from(a.data as Int32Array), [1, 0]);
});

Deno.test("elementwise: broadcasting with a fused RELU6, HARD_SWISH, LEAKY_RELU, PRELU, SQUARED_DIFFERENCE", () => {
  close(
    run1("ADD", [f32([2, 2], [1, 2, 3, 4]), f32([2], [3, -5])], { fused_activation_function: "RELU6" })[0],
    [4, 0, 6, 0],
  );
  close(run1("HARD_SWISH", [f32([5], [-4, -1, 0, 1, 4])])[0], [0, -1 / 3, 0, 2 / 3, 4]);
  close(run1("LEAKY_RELU", [f32([2], [-1, 2])], { alpha: 0.25 })[0], [-0.25, 2]);
  close(run1("PRELU", [f32([1, 2, 2], [-1, -1, 2, -2]), { const: f32([2], [0.5, 0.1]) }])[0], [
    -0.5,
    -0.1,
    2,
    -0.2,
  ]);
  close(run1("SQUARED_DIFFERENCE", [f32([2], [1, 5]), f32([1], [3])])[0], [4, 4]);
  close(run1("FLOOR_DIV", [ints(f32([3], [7, -7, 7])), ints(f32([3], [2, 2, -2]))])[0] as Tensor, [
    3,
    -4,
    -4,
  ]);
  const [lt] = run1("LESS", [f32([3], [1, 2, 3]), f32([1], [2])]);
  assert.equal(lt.dtype, "bool");
  assert.deepEqual(Array.from(lt.data as Uint8Array), [1, 0, 0]);
});

Deno.test("STRIDED_SLICE masks: shrink, negative strides, ellipsis and new axes", () => {
  const x = f32([2, 3, 4], iota(24, 0));
  const [a] = run1("STRIDED_SLICE", [x, i32([1, 0, 3]), i32([2, 3, 0]), i32([1, 2, -2])], {
    shrink_axis_mask: 1,
  });
  assert.deepEqual(a.shape, [2, 2]);
  close(a, [15, 13, 23, 21]);
  const [b] = run1("STRIDED_SLICE", [x, i32([0, 0, 0]), i32([1, 0, 0]), i32([1, 1, 1])], {
    new_axis_mask: 2,
    ellipsis_mask: 4,
  });
  assert.deepEqual(b.shape, [1, 1, 3, 4]);
  close(b, iota(12, 0));
  const [c] = run1("STRIDED_SLICE", [x, i32([0, -1]), i32([0, 0]), i32([1, 1])], {
    begin_mask: 1,
    end_mask: 3,
    ellipsis_mask: 0,
  });
  assert.deepEqual(c.shape, [2, 1, 4]);
  close(c, [8, 9, 10, 11, 20, 21, 22, 23]);
});

Deno.test("movement: SPLIT_V, PACK/UNPACK, GATHER with batch dims, DEPTH_TO_SPACE, MIRROR_PAD", () => {
  const x = f32([2, 3], iota(6));
  const [p, q] = run1("SPLIT_V", [x, i32([-1, 1]), i32([1])], {}, 2);
  close(p, [1, 2, 4, 5]);
  close(q, [3, 6]);
  const [packed] = run1("PACK", [f32([2], [1, 2]), f32([2], [3, 4])], { axis: 1, values_count: 2 });
  assert.deepEqual(packed.shape, [2, 2]);
  close(packed, [1, 3, 2, 4]);
  const [u0, u1] = run1("UNPACK", [x], { num: 2, axis: 0 }, 2);
  close(u0, [1, 2, 3]);
  close(u1, [4, 5, 6]);
  const [g] = run1("GATHER", [x, i32([2, 0, 1, 1], [2, 2])], { axis: 1, batch_dims: 1 });
  close(g, [3, 1, 5, 5]);
  close(run1("DEPTH_TO_SPACE", [f32([1, 1, 1, 4], [1, 2, 3, 4])], { block_size: 2 })[0], [1, 2, 3, 4]);
  close(run1("MIRROR_PAD", [f32([3], [1, 2, 3]), i32([2, 1], [1, 2])], { mode: "REFLECT" })[0], [
    3,
    2,
    1,
    2,
    3,
    2,
  ]);
  close(run1("MIRROR_PAD", [f32([3], [1, 2, 3]), i32([2, 1], [1, 2])], { mode: "SYMMETRIC" })[0], [
    2,
    1,
    1,
    2,
    3,
    3,
  ]);
});

Deno.test("quantized tensors: PAD fills the zero point, DEQUANTIZE per channel, QUANTIZE rounds half away", () => {
  const q: AffineQuant = { kind: "affine", storage: "u8", scale: [0.1], zeroPoint: [128] };
  const b = new GraphBuilder();
  const x = b.input("x", q, [2]);
  const pads = b.constantOf("p", "i32", [1, 2], [1, 1]);
  const y = b.op1("tfl.PAD", [x, pads]);
  // Quantized outputs take their declared type (an importer declares every tensor).
  const g = withDeclared(b.buildRaw([y]), y, q, [4]);
  const r = interpret(g, { x: new Tensor(q, [2], Uint8Array.from([7, 9])) }, { check: true })
    .outputs[y] as Tensor;
  assert.deepEqual(Array.from(r.data as Uint8Array), [128, 7, 9, 128]);

  const pc: AffineQuant = { kind: "affine", storage: "i8", scale: [0.5, 2], zeroPoint: [0, 1], axis: 0 };
  const [d] = run1("DEQUANTIZE", [new Tensor(pc, [2, 2], Int8Array.from([2, -4, 3, 1]))]);
  close(d, [1, -2, 4, 0]);

  const out: AffineQuant = { kind: "affine", storage: "i8", scale: [0.5], zeroPoint: [-1] };
  const qb = new GraphBuilder();
  const qx = qb.input("x", "f32", [5]);
  const qy = qb.op1("tfl.QUANTIZE", [qx]);
  const qg = withDeclared(qb.buildRaw([qy]), qy, out, [5]);
  const qr = interpret(qg, { x: f32([5], [0.25, -0.25, 0.75, 100, -100]) }, { check: true })
    .outputs[qy] as Tensor;
  assert.deepEqual(Array.from(qr.data as Int8Array), [0, -2, 1, 127, -128]);
});

/** A graph whose value `v` is declared with a type (what an importer provides for quantized outputs). */
function withDeclared(g: Graph, v: string, dtype: DType, shape: number[]): Graph {
  return { ...g, values: { ...g.values, [v]: { type: { kind: "tensor", dtype, shape } } } };
}

Deno.test("float kernels refuse quantized operands and custom ops by name", () => {
  const q: AffineQuant = { kind: "affine", storage: "i8", scale: [0.1], zeroPoint: [0] };
  const b = new GraphBuilder();
  const x = b.input("x", q, [2]);
  // SIN has no integer variant, so the float kernel itself answers.
  const y = b.op1("tfl.SIN", [x]);
  const g = withDeclared(b.buildRaw([y]), y, q, [2]);
  assert.throws(
    () => interpret(g, { x: new Tensor(q, [2], Int8Array.from([1, 2])) }),
    (e: unknown) => e instanceof LatheError && e.kind === "unsupported",
  );
  const c = new GraphBuilder();
  const cx = c.input("x", "f32", [1]);
  const cy = c.op1("tfl.CUSTOM", [cx], { custom_code: "MyFancyOp" });
  const cg = withDeclared(c.buildRaw([cy]), cy, "f32", [1]);
  assert.throws(
    () => interpret(cg, { x: f32([1], [0]) }),
    (e: unknown) => e instanceof LatheError && e.kind === "unsupported" && e.message.includes("MyFancyOp"),
  );
});

// ---- single-op models through LiteRT ---------------------------------------------------------------

const liteRt = await loadLiteRt();
if (!liteRt) console.log(`kernels-tflite: LiteRT comparisons skipped: ${liteRtLoadMessage()}`);

interface OperandSpec {
  shape: number[];
  type?: TensorTypeName;
  /** Constant data; otherwise the operand is a model input filled with seeded values. */
  data?: number[];
}

interface OpCase {
  name?: string;
  op: string;
  inputs: (OperandSpec | null)[];
  outputs: OperandSpec[];
  options?: Options;
  /** Input value range (default [-1, 1)); positive for LOG/SQRT/RSQRT. */
  range?: [number, number];
  /** Operator version (LiteRT registers some ops only from a version up). */
  version?: number;
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function tensor(name: string, s: OperandSpec, buffer: number): TfTensor {
  return {
    shape: s.shape,
    shapeSignature: null,
    type: s.type ?? "FLOAT32",
    buffer,
    name,
    quantization: null,
    isVariable: false,
    sparsity: null,
    hasRank: false,
    variantTensors: [],
    externalBuffer: 0,
  };
}

function singleOpModel(c: OpCase): TfliteModel {
  const buffers = [{ data: new Uint8Array(0), offset: 0, size: 0 }];
  const tensors: TfTensor[] = [];
  const inputs: number[] = [];
  const opInputs = c.inputs.map((s, i) => {
    if (!s) return -1;
    let buffer = 0;
    if (s.data) {
      const arr = s.type === "INT32" ? Int32Array.from(s.data) : Float32Array.from(s.data);
      buffers.push({ data: new Uint8Array(arr.buffer), offset: 0, size: 0 });
      buffer = buffers.length - 1;
    } else inputs.push(tensors.length);
    tensors.push(tensor(`in${i}`, s, buffer));
    return tensors.length - 1;
  });
  const outputs = c.outputs.map((s, i) => {
    tensors.push(tensor(`out${i}`, s, 0));
    return tensors.length - 1;
  });
  const table = optionTableOf(c.op);
  const code = BUILTIN_CODE[c.op];
  return {
    version: 3,
    operatorCodes: [{ builtinCode: code, customCode: null, version: c.version ?? 1 }],
    subgraphs: [{
      tensors,
      inputs,
      outputs,
      operators: [{
        opcodeIndex: 0,
        inputs: opInputs,
        outputs,
        builtinOptionsType: table && table.union === 1 && c.options ? table.tag : 0,
        builtinOptions: table && c.options ? c.options : null,
        customOptions: null,
        customOptionsFormat: 0,
        mutatingVariableInputs: [],
        intermediates: [],
        builtinOptions2Type: 0,
        builtinOptions2: null,
        debugMetadataIndex: -1,
      }],
      name: "main",
      debugMetadataIndex: -1,
    }],
    description: "single op",
    buffers,
    metadataBuffer: [],
    metadata: [],
    signatureDefs: [],
    externalBufferGroups: [],
    externalBuffers: [],
  };
}

const F = (...shape: number[]): OperandSpec => ({ shape });
const I = (data: number[], shape = [data.length]): OperandSpec => ({ shape, type: "INT32", data });
const C = (shape: number[], seed: number): OperandSpec => {
  const next = rng(seed);
  return { shape, data: Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => next() * 2 - 1) };
};
const act = (a = "NONE") => ({ fused_activation_function: a });
const conv = (o: Partial<Record<string, unknown>>) =>
  ({
    padding: "SAME",
    stride_w: 1,
    stride_h: 1,
    fused_activation_function: "NONE",
    dilation_w_factor: 1,
    dilation_h_factor: 1,
    ...o,
  }) as Options;

const CASES: OpCase[] = [
  {
    op: "CONV_2D",
    inputs: [F(1, 9, 7, 5), C([6, 3, 3, 5], 1), C([6], 2)],
    outputs: [F(1, 5, 4, 6)],
    options: conv({ stride_w: 2, stride_h: 2 }),
  },
  {
    name: "CONV_2D dilated VALID relu6",
    op: "CONV_2D",
    inputs: [F(1, 8, 8, 3), C([4, 3, 2, 3], 3), C([4], 4)],
    outputs: [F(1, 4, 6, 4)],
    options: conv({
      padding: "VALID",
      dilation_h_factor: 2,
      dilation_w_factor: 2,
      fused_activation_function: "RELU6",
    }),
  },
  {
    name: "CONV_2D 1x1",
    op: "CONV_2D",
    inputs: [F(1, 6, 6, 16), C([24, 1, 1, 16], 5), C([24], 6)],
    outputs: [F(1, 6, 6, 24)],
    options: conv({}),
  },
  {
    op: "DEPTHWISE_CONV_2D",
    inputs: [F(1, 7, 6, 4), C([1, 3, 3, 8], 7), C([8], 8)],
    outputs: [F(1, 4, 3, 8)],
    options: conv({ stride_w: 2, stride_h: 2, depth_multiplier: 2, fused_activation_function: "RELU" }),
  },
  {
    op: "TRANSPOSE_CONV",
    inputs: [I([1, 8, 7, 3]), C([3, 3, 3, 4], 9), F(1, 4, 4, 4), C([3], 10)],
    outputs: [F(1, 8, 7, 3)],
    options: { padding: "SAME", stride_w: 2, stride_h: 2, fused_activation_function: "NONE" },
  },
  {
    op: "FULLY_CONNECTED",
    inputs: [F(3, 10), C([7, 10], 11), C([7], 12)],
    outputs: [F(3, 7)],
    options: { fused_activation_function: "RELU", keep_num_dims: false },
  },
  {
    op: "FULLY_CONNECTED",
    name: "FULLY_CONNECTED 9 rows",
    inputs: [F(9, 10), C([7, 10], 13), null],
    outputs: [F(9, 7)],
    options: act(),
  },
  {
    op: "AVERAGE_POOL_2D",
    inputs: [F(1, 7, 5, 3)],
    outputs: [F(1, 3, 2, 3)],
    options: {
      padding: "SAME",
      stride_w: 3,
      stride_h: 3,
      filter_width: 3,
      filter_height: 3,
      fused_activation_function: "NONE",
    },
  },
  {
    op: "MAX_POOL_2D",
    inputs: [F(1, 7, 5, 3)],
    outputs: [F(1, 3, 2, 3)],
    options: {
      padding: "VALID",
      stride_w: 2,
      stride_h: 2,
      filter_width: 2,
      filter_height: 3,
      fused_activation_function: "NONE",
    },
  },
  {
    op: "BATCH_MATMUL",
    inputs: [F(2, 1, 3, 4), F(3, 5, 4)],
    outputs: [F(2, 3, 3, 5)],
    options: { adj_x: false, adj_y: true },
  },
  { op: "ADD", inputs: [F(2, 3, 4), F(3, 1)], outputs: [F(2, 3, 4)], options: act("RELU") },
  { op: "SUB", inputs: [F(2, 3, 4), F(4)], outputs: [F(2, 3, 4)], options: act() },
  { op: "MUL", inputs: [F(2, 1, 4), F(3, 1)], outputs: [F(2, 3, 4)], options: act("RELU_N1_TO_1") },
  { op: "DIV", inputs: [F(2, 3), F(2, 3)], outputs: [F(2, 3)], options: act(), range: [0.5, 2] },
  { op: "MAXIMUM", inputs: [F(2, 3), F(3)], outputs: [F(2, 3)] },
  { op: "MINIMUM", inputs: [F(2, 3), F(1)], outputs: [F(2, 3)] },
  { op: "SQUARED_DIFFERENCE", inputs: [F(2, 3), F(3)], outputs: [F(2, 3)] },
  { op: "PRELU", inputs: [F(1, 2, 2, 3), C([1, 1, 3], 14)], outputs: [F(1, 2, 2, 3)] },
  ...[
    "LOGISTIC",
    "TANH",
    "RELU",
    "RELU6",
    "RELU_N1_TO_1",
    "HARD_SWISH",
    "EXP",
    "ABS",
    "NEG",
    "SQUARE",
    "ELU",
    "FLOOR",
    "CEIL",
    "SIN",
    "COS",
  ]
    .map((op): OpCase => ({ op, inputs: [F(3, 5)], outputs: [F(3, 5)], range: [-4, 4] })),
  ...["LOG", "SQRT", "RSQRT"].map((op): OpCase => ({
    op,
    inputs: [F(3, 5)],
    outputs: [F(3, 5)],
    range: [0.1, 3],
  })),
  { op: "LEAKY_RELU", inputs: [F(3, 5)], outputs: [F(3, 5)], options: { alpha: 0.1 } },
  { op: "GELU", inputs: [F(3, 5)], outputs: [F(3, 5)], options: { approximate: false }, range: [-3, 3] },
  {
    name: "GELU approximate",
    op: "GELU",
    inputs: [F(3, 5)],
    outputs: [F(3, 5)],
    options: { approximate: true },
    range: [-3, 3],
  },
  { op: "SOFTMAX", inputs: [F(2, 7)], outputs: [F(2, 7)], options: { beta: 1.5 }, range: [-5, 5] },
  { op: "LOG_SOFTMAX", inputs: [F(2, 7)], outputs: [F(2, 7)] },
  { op: "L2_NORMALIZATION", inputs: [F(2, 7)], outputs: [F(2, 7)], options: act() },
  { op: "MEAN", inputs: [F(2, 3, 4, 5), I([1, 2])], outputs: [F(2, 1, 1, 5)], options: { keep_dims: true } },
  { op: "SUM", inputs: [F(2, 3, 4), I([0, 2])], outputs: [F(3)], options: { keep_dims: false } },
  { op: "REDUCE_MAX", inputs: [F(2, 3, 4), I([-1])], outputs: [F(2, 3)], options: { keep_dims: false } },
  { op: "REDUCE_MIN", inputs: [F(2, 3, 4), I([1])], outputs: [F(2, 1, 4)], options: { keep_dims: true } },
  { op: "REDUCE_PROD", inputs: [F(2, 3, 4), I([1])], outputs: [F(2, 4)], options: { keep_dims: false } },
  {
    op: "ARG_MAX",
    inputs: [F(3, 6), I([1])],
    outputs: [{ shape: [3], type: "INT32" }],
    options: { output_type: "INT32" },
  },
  {
    op: "ARG_MIN",
    inputs: [F(3, 6), I([0])],
    outputs: [{ shape: [6], type: "INT32" }],
    options: { output_type: "INT32" },
  },
  {
    op: "RESIZE_BILINEAR",
    inputs: [F(1, 3, 5, 2), I([7, 4])],
    outputs: [F(1, 7, 4, 2)],
    options: { align_corners: false, half_pixel_centers: true },
  },
  {
    name: "RESIZE_BILINEAR align corners",
    op: "RESIZE_BILINEAR",
    inputs: [F(1, 3, 5, 2), I([7, 4])],
    outputs: [F(1, 7, 4, 2)],
    options: { align_corners: true, half_pixel_centers: false },
  },
  {
    op: "RESIZE_NEAREST_NEIGHBOR",
    inputs: [F(1, 3, 5, 2), I([7, 4])],
    outputs: [F(1, 7, 4, 2)],
    options: { align_corners: false, half_pixel_centers: true },
  },
  { op: "RESHAPE", inputs: [F(2, 3, 4), I([4, -1])], outputs: [F(4, 6)], options: { new_shape: [4, 6] } },
  { op: "TRANSPOSE", inputs: [F(2, 3, 4), I([2, 0, 1])], outputs: [F(4, 2, 3)] },
  {
    op: "CONCATENATION",
    inputs: [F(2, 3), F(2, 1), F(2, 2)],
    outputs: [F(2, 6)],
    options: { axis: -1, fused_activation_function: "NONE" },
  },
  { op: "PACK", inputs: [F(2, 3), F(2, 3)], outputs: [F(2, 2, 3)], options: { values_count: 2, axis: 1 } },
  { op: "UNPACK", inputs: [F(2, 3)], outputs: [F(2), F(2), F(2)], options: { num: 3, axis: 1 } },
  {
    op: "SPLIT",
    inputs: [I([1]), F(2, 6)],
    outputs: [F(2, 2), F(2, 2), F(2, 2)],
    options: { num_splits: 3 },
  },
  {
    op: "SPLIT_V",
    inputs: [F(2, 6), I([1, -1, 2]), I([1])],
    outputs: [F(2, 1), F(2, 3), F(2, 2)],
    options: { num_splits: 3 },
  },
  { op: "PAD", inputs: [F(2, 3), I([1, 0, 2, 1], [2, 2])], outputs: [F(3, 6)] },
  { op: "PADV2", inputs: [F(2, 3), I([0, 1, 1, 1], [2, 2]), { shape: [], data: [0.5] }], outputs: [F(3, 5)] },
  {
    op: "MIRROR_PAD",
    inputs: [F(3, 4), I([2, 1, 1, 3], [2, 2])],
    outputs: [F(6, 8)],
    options: { mode: "REFLECT" },
  },
  { op: "SLICE", inputs: [F(3, 4, 5), I([1, 0, 2]), I([2, -1, 2])], outputs: [F(2, 4, 2)] },
  {
    op: "STRIDED_SLICE",
    inputs: [F(3, 4, 5), I([2, 0, -1]), I([0, 4, 0]), I([-1, 2, -2])],
    outputs: [F(2, 2, 2)],
    options: {
      begin_mask: 0,
      end_mask: 0,
      ellipsis_mask: 0,
      new_axis_mask: 0,
      shrink_axis_mask: 0,
      offset: false,
    },
  },
  {
    name: "STRIDED_SLICE shrink",
    op: "STRIDED_SLICE",
    inputs: [F(3, 4, 5), I([1, 1, 0]), I([2, 3, 5]), I([1, 1, 1])],
    outputs: [F(2, 5)],
    options: {
      begin_mask: 0,
      end_mask: 4,
      ellipsis_mask: 0,
      new_axis_mask: 0,
      shrink_axis_mask: 1,
      offset: false,
    },
  },
  {
    op: "GATHER",
    inputs: [F(4, 3), I([3, 0, 3, 1], [2, 2])],
    outputs: [F(2, 2, 3)],
    options: { axis: 0, batch_dims: 0 },
  },
  { op: "GATHER_ND", inputs: [F(3, 4, 2), I([2, 1, 0, 3], [2, 2])], outputs: [F(2, 2)] },
  { op: "TILE", inputs: [F(2, 3), I([2, 1])], outputs: [F(4, 3)] },
  { op: "EXPAND_DIMS", inputs: [F(2, 3), I([-1], [1])], outputs: [F(2, 3, 1)] },
  { op: "SQUEEZE", inputs: [F(1, 3, 1, 2)], outputs: [F(3, 2)], options: { squeeze_dims: [0, 2] } },
  { op: "DEPTH_TO_SPACE", inputs: [F(1, 2, 3, 8)], outputs: [F(1, 4, 6, 2)], options: { block_size: 2 } },
  { op: "SPACE_TO_DEPTH", inputs: [F(1, 4, 6, 2)], outputs: [F(1, 2, 3, 8)], options: { block_size: 2 } },
  { op: "BROADCAST_TO", inputs: [F(3, 1), I([2, 3, 4])], outputs: [F(2, 3, 4)], version: 2 },
  {
    op: "CAST",
    inputs: [F(2, 3)],
    outputs: [{ shape: [2, 3], type: "INT32" }],
    options: { in_data_type: "FLOAT32", out_data_type: "INT32" },
    range: [-9, 9],
  },
];

for (const c of CASES) {
  Deno.test({
    name: `LiteRT single op: ${c.name ?? c.op}`,
    ignore: !liteRt,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const bytes = writeTflite(singleOpModel(c));
      const next = rng(c.op.length * 31 + c.outputs.length);
      const [lo, hi] = c.range ?? [-1, 1];
      const feeds = c.inputs.filter((s): s is OperandSpec => !!s && !s.data).map((s) =>
        Float32Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, () => lo + (hi - lo) * next())
      );
      const want = await runLiteRt(bytes, feeds);
      const model = importTflite(bytes, { file: c.op });
      // The import must survive an export unchanged, so the same file runs in Lathe both ways.
      for (const m of [model, importTflite(exportTflite(model))]) {
        const g = m.graph;
        const inputs: Record<string, Tensor> = {};
        g.inputs.forEach((name, i) => {
          const t = g.values[name].type;
          inputs[name] = new Tensor("f32", t.kind === "tensor" ? t.shape as number[] : [], feeds[i]);
        });
        const out = interpret(g, inputs, { check: true }).outputs;
        g.outputs.forEach((o, i) => {
          const got = out[o] as Tensor;
          assert.deepEqual([...got.shape], want[i].shape, `${c.op} output ${i} shape`);
          const r = compareArrays(got.data as Float32Array, want[i].data, 1e-4, 1e-5);
          assert.ok(r.ok, `${c.name ?? c.op} output ${i}: ${r.message}`);
        });
      }
    },
  });
}
