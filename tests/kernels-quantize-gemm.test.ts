/**
 * The integer GEMM paths of the ONNX quantized kernels (1×1 direct, im2col, grouped, depthwise, 1-d
 * convolutions; batched integer matmuls) against onnxruntime, on shapes off the engine's tile sizes.
 */
import assert from "node:assert/strict";
import type { ScalarDType } from "../ir/dtype.ts";
import type { Tensor } from "../runtime/tensor.ts";
import { compareTensors } from "./support/close.ts";
import { type NodeCase, type Operand, runLathe, runOnnxruntime, tensor } from "./support/ort-node.ts";

const f32 = (shape: number[], v: number[]) => tensor("f32", shape, v);
const t = (d: ScalarDType, shape: number[], v: number[]) => tensor(d, shape, v);
const op = (name: string, x: Tensor, constant = false): Operand => ({ name, tensor: x, constant });

function ints(n: number, lo: number, hi: number, seed = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + (s % (hi - lo + 1));
  });
}

async function agreesWithOrt(c: NodeCase): Promise<void> {
  const want = await runOnnxruntime(c);
  const got = runLathe(c);
  want.forEach((w, i) => {
    assert.equal(got[i].dtype, w.dtype, `${c.op} output ${i} dtype`);
    const r = compareTensors(got[i], w, 0, 0);
    assert.ok(r.ok, `${c.op} output ${i}: ${r.message}`);
  });
}

interface ConvCase {
  x: [ScalarDType, number[]];
  w: [ScalarDType, number[]];
  attrs: Record<string, unknown>;
  perChannel?: boolean;
  bias?: boolean;
}

function qlinearConv(c: ConvCase, seed: number): NodeCase {
  const [xd, xs] = c.x, [wd, ws] = c.w;
  const M = ws[0];
  const n = (s: number[]) => s.reduce((p, d) => p * d, 1);
  const lo = (d: ScalarDType) => (d === "u8" ? 0 : -128), hi = (d: ScalarDType) => (d === "u8" ? 255 : 127);
  const wScale = c.perChannel ? f32([M], ints(M, 1, 9, seed + 5).map((v) => v / 1000)) : f32([], [0.004]);
  const wZero = c.perChannel ? t(wd, [M], new Array(M).fill(0)) : t(wd, [], [wd === "u8" ? 119 : 0]);
  return {
    op: "QLinearConv",
    opset: 10,
    inputs: [
      op("x", t(xd, xs, ints(n(xs), lo(xd), hi(xd), seed))),
      op("xs", f32([], [0.025])),
      op("xz", t(xd, [], [xd === "u8" ? 131 : -5])),
      op("w", t(wd, ws, ints(n(ws), lo(wd) + 1, hi(wd), seed + 1)), true),
      op("ws", wScale),
      op("wz", wZero),
      op("ys", f32([], [0.07])),
      op("yz", t(xd, [], [xd === "u8" ? 120 : 3])),
      ...(c.bias ? [op("b", t("i32", [M], ints(M, -3000, 3000, seed + 2)))] : []),
    ],
    attrs: c.attrs as NodeCase["attrs"],
    outputs: 1,
  };
}

Deno.test("QLinearConv on the integer GEMM: 1x1 direct, im2col, grouped, dilated, 1-d", async () => {
  const cases: ConvCase[] = [
    // 1x1 stride 1 unpadded: the image is B itself. M and HW off the tile sizes.
    { x: ["u8", [2, 20, 9, 7]], w: ["i8", [37, 20, 1, 1]], attrs: {}, perChannel: true, bias: true },
    { x: ["i8", [1, 17, 5, 5]], w: ["i8", [9, 17, 1, 1]], attrs: {}, bias: true },
    // im2col with padding and stride 2; K = 3·3·5 = 45 is odd.
    { x: ["u8", [1, 5, 11, 10]], w: ["u8", [6, 5, 3, 3]], attrs: { pads: [1, 1, 1, 1], strides: [2, 2] } },
    { x: ["i8", [1, 3, 12, 12]], w: ["i8", [19, 3, 3, 3]], attrs: { pads: [1, 0, 1, 2] }, perChannel: true },
    // Grouped (3 groups of 4 channels, 2 filters each) with dilation.
    {
      x: ["u8", [1, 12, 9, 9]],
      w: ["i8", [6, 4, 3, 3]],
      attrs: { group: 3, dilations: [2, 2], pads: [2, 2, 2, 2] },
      perChannel: true,
      bias: true,
    },
    // 1-d.
    { x: ["u8", [1, 6, 21]], w: ["i8", [5, 6, 3]], attrs: { pads: [1, 1], strides: [2] }, bias: true },
  ];
  for (const [i, c] of cases.entries()) await agreesWithOrt(qlinearConv(c, 10 + i));
});

Deno.test("QLinearConv depthwise on the SIMD NHWC kernel: strides 1 and 2, 13 channels, 5x5", async () => {
  const cases: ConvCase[] = [
    {
      x: ["u8", [1, 13, 10, 9]],
      w: ["i8", [13, 1, 3, 3]],
      attrs: { group: 13, pads: [1, 1, 1, 1] },
      perChannel: true,
      bias: true,
    },
    {
      x: ["u8", [2, 16, 11, 11]],
      w: ["i8", [16, 1, 3, 3]],
      attrs: { group: 16, pads: [1, 1, 1, 1], strides: [2, 2] },
      perChannel: true,
    },
    {
      x: ["i8", [1, 8, 9, 12]],
      w: ["i8", [8, 1, 5, 5]],
      attrs: { group: 8, pads: [2, 2, 2, 2] },
      bias: true,
    },
    { x: ["u8", [1, 4, 7, 7]], w: ["u8", [4, 1, 3, 3]], attrs: { group: 4 } },
  ];
  for (const [i, c] of cases.entries()) await agreesWithOrt(qlinearConv(c, 40 + i));
});

Deno.test("ConvInteger and MatMulInteger on the integer GEMM match onnxruntime", async () => {
  await agreesWithOrt({
    op: "ConvInteger",
    opset: 10,
    inputs: [
      op("x", t("u8", [1, 7, 8, 9], ints(504, 0, 255, 3))),
      op("w", t("u8", [11, 7, 3, 3], ints(693, 0, 255, 4)), true),
      op("xz", t("u8", [], [77])),
      op("wz", t("u8", [], [130])),
    ],
    attrs: { pads: [1, 1, 1, 1] },
    outputs: 1,
  });
  await agreesWithOrt({
    op: "ConvInteger",
    opset: 10,
    inputs: [
      op("x", t("u8", [1, 6, 6, 6], ints(216, 0, 255, 5))),
      op("w", t("u8", [6, 1, 3, 3], ints(54, 0, 255, 6)), true),
      op("xz", t("u8", [], [12])),
      op("wz", t("u8", [], [200])),
    ],
    attrs: { group: 6, pads: [1, 1, 1, 1] },
    outputs: 1,
  });
  await agreesWithOrt({
    op: "MatMulInteger",
    opset: 10,
    inputs: [
      op("a", t("u8", [3, 9, 33], ints(3 * 9 * 33, 0, 255, 7))),
      op("b", t("i8", [33, 17], ints(33 * 17, -128, 127, 8))),
      op("az", t("u8", [], [140])),
      op("bz", t("i8", [17], ints(17, -20, 20, 9))),
    ],
    outputs: 1,
  });
});

Deno.test("QLinearMatMul on the integer GEMM matches onnxruntime (batched, int8 and uint8)", async () => {
  for (const d of ["u8", "i8"] as const) {
    const lo = d === "u8" ? 0 : -128, hi = d === "u8" ? 255 : 127;
    await agreesWithOrt({
      op: "QLinearMatMul",
      opset: 10,
      inputs: [
        op("a", t(d, [2, 7, 45], ints(2 * 7 * 45, lo, hi, 12))),
        op("as", f32([], [0.02])),
        op("az", t(d, [], [d === "u8" ? 128 : -3])),
        op("b", t(d, [45, 13], ints(45 * 13, lo, hi, 13))),
        op("bs", f32([], [0.01])),
        op("bz", t(d, [], [d === "u8" ? 100 : 2])),
        op("ys", f32([], [0.3])),
        op("yz", t(d, [], [d === "u8" ? 90 : -1])),
      ],
      outputs: 1,
    });
  }
});

Deno.test("QLinearConv: a bias near the int32 limits wraps with the accumulator, as in onnxruntime", async () => {
  // Quantizers can saturate a bias to ±(2^31 - 1) when a channel's weight scale is tiny (all-but-zero
  // filters); the sum then leaves int32. onnxruntime adds the bias to its int32 accumulators, so it wraps.
  const edge = [2147483647, -2147483648, 2147480000, -2147480000, 0, 2147483000];
  for (
    const [i, c] of [
      { x: ["u8", [1, 8, 6, 6]], w: ["i8", [6, 8, 1, 1]], attrs: {} }, // 1x1 direct, fused requantization
      { x: ["u8", [1, 3, 7, 7]], w: ["i8", [6, 3, 3, 3]], attrs: { pads: [1, 1, 1, 1], strides: [2, 2] } },
      { x: ["u8", [1, 6, 7, 7]], w: ["i8", [6, 1, 3, 3]], attrs: { group: 6, pads: [1, 1, 1, 1] } }, // depthwise
    ].entries()
  ) {
    const base = qlinearConv({ ...c, perChannel: true, bias: true } as ConvCase, 40 + i);
    const inputs = base.inputs.map((o) => (o?.name === "b" ? op("b", t("i32", [6], edge)) : o));
    await agreesWithOrt({ ...base, inputs });
  }
});
