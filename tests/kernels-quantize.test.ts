/**
 * Quantization kernels: hand-derived values from formats.md §3.4 (round half to even, saturation, the three
 * granularities) and onnxruntime as an independent reference for the integer matmuls and convolutions and
 * for com.microsoft.MatMulNBits.
 */
import assert from "node:assert/strict";
import { LatheError } from "../ir/errors.ts";
import type { ScalarDType } from "../ir/dtype.ts";
import type { Tensor } from "../runtime/tensor.ts";
import { compareTensors } from "./support/close.ts";
import { type NodeCase, type Operand, runLathe, runOnnxruntime, tensor } from "./support/ort-node.ts";

const f32 = (shape: number[], v: number[]) => tensor("f32", shape, v);
const t = (d: ScalarDType, shape: number[], v: number[]) => tensor(d, shape, v);
const op = (name: string, x: Tensor, constant = false): Operand => ({ name, tensor: x, constant });

function values(x: Tensor): number[] {
  return Array.from(x.data as ArrayLike<number | bigint>, Number);
}

async function agreesWithOrt(c: NodeCase, tol = 0): Promise<void> {
  const want = await runOnnxruntime(c);
  const got = runLathe(c);
  want.forEach((w, i) => {
    assert.equal(got[i].dtype, w.dtype, `${c.op} output ${i} dtype`);
    const r = compareTensors(got[i], w, tol, tol);
    assert.ok(r.ok, `${c.op} output ${i}: ${r.message}`);
  });
}

/** Deterministic pseudo-random integers in [lo, hi]. */
function ints(n: number, lo: number, hi: number, seed = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + (s % (hi - lo + 1));
  });
}

Deno.test("QuantizeLinear per tensor: half to even, zero point, saturation", () => {
  const x = f32([8], [0, 0.25, 0.75, -0.25, 1.25, 300, -10, 1]);
  const y = runLathe({
    op: "QuantizeLinear",
    inputs: [op("x", x), op("s", f32([], [0.5])), op("z", t("u8", [], [10]))],
    outputs: 1,
  })[0];
  assert.equal(y.dtype, "u8");
  // x / 0.5 = 0, 0.5, 1.5, -0.5, 2.5, 600, -20, 2 -> rint 0, 0, 2, -0, 2, 600, -20, 2 -> +10, clamp [0, 255]
  assert.deepEqual(values(y), [10, 10, 12, 10, 12, 255, 0, 12]);
  // No zero point and no output_dtype: u8 with zero point 0.
  const d = runLathe({
    op: "QuantizeLinear",
    inputs: [op("x", f32([3], [-1, 1.5, 2.5])), op("s", f32([], [1]))],
    outputs: 1,
  })[0];
  assert.deepEqual(values(d), [0, 2, 2]);
  // output_dtype = INT8 (3) without a zero point.
  const i8 = runLathe({
    op: "QuantizeLinear",
    inputs: [op("x", f32([3], [-200, -3.5, 127.5])), op("s", f32([], [1]))],
    attrs: { output_dtype: 3 },
    outputs: 1,
  })[0];
  assert.equal(i8.dtype, "i8");
  assert.deepEqual(values(i8), [-128, -4, 127]);
});

Deno.test("QuantizeLinear per axis (default axis 1) and blocked", () => {
  const x = f32([1, 2, 2], [1, 2, 3, 4]);
  const y = runLathe({
    op: "QuantizeLinear",
    inputs: [op("x", x), op("s", f32([2], [1, 2])), op("z", t("i8", [2], [0, -1]))],
    outputs: 1,
  })[0];
  // channel 0: 1, 2; channel 1: 3/2 = 1.5 -> 2, -1 -> 1; 4/2 = 2, -1 -> 1
  assert.deepEqual(values(y), [1, 2, 1, 1]);
  const xb = f32([2, 4], [1, 2, 3, 4, 5, 6, 7, 8]);
  const sb = f32([2, 2], [1, 2, 4, 8]);
  const yb = runLathe({
    op: "QuantizeLinear",
    inputs: [op("x", xb), op("s", sb), op("z", t("u8", [2, 2], [0, 0, 0, 0]))],
    attrs: { axis: 1, block_size: 2 },
    outputs: 1,
  })[0];
  // blocks: [1,2]/1, [3,4]/2, [5,6]/4, [7,8]/8 -> 1,2, 2(1.5),2, 1(1.25),2(1.5), 1(0.875),1
  assert.deepEqual(values(yb), [1, 2, 2, 2, 1, 2, 1, 1]);
  assert.throws(
    () => runLathe({ op: "QuantizeLinear", inputs: [op("x", xb), op("s", f32([3], [1, 1, 1]))], outputs: 1 }),
    LatheError,
  );
});

Deno.test("QuantizeLinear to 4-bit types saturates to [-8, 7] and [0, 15]", () => {
  const x = f32([5], [-20, -8.5, 0.5, 6.5, 20]);
  const i4 = runLathe({
    op: "QuantizeLinear",
    inputs: [op("x", x), op("s", f32([], [1])), op("z", t("i4", [], [0]), true)],
    outputs: 1,
  })[0];
  assert.equal(i4.dtype, "i4");
  assert.deepEqual(values(i4), [-8, -8, 0, 6, 7]);
  const u4 = runLathe({
    op: "QuantizeLinear",
    inputs: [op("x", x), op("s", f32([], [1])), op("z", t("u4", [], [8]), true)],
    outputs: 1,
  })[0];
  assert.deepEqual(values(u4), [0, 0, 8, 14, 15]);
});

Deno.test("QuantizeLinear and DequantizeLinear agree with onnxruntime per axis and blocked (opset 21)", async () => {
  const x = f32([2, 6, 4], ints(48, -500, 500).map((v) => v / 37));
  const s = f32([6], [0.05, 0.1, 0.2, 0.03, 1, 0.5]);
  await agreesWithOrt({
    op: "QuantizeLinear",
    inputs: [op("x", x), op("s", s), op("z", t("i8", [6], [0, 1, -3, 2, 0, 5]))],
    outputs: 1,
  });
  const sb = f32([2, 2, 4], ints(16, 1, 50).map((v) => v / 100));
  await agreesWithOrt({
    op: "QuantizeLinear",
    inputs: [op("x", x), op("s", sb), op("z", t("u8", [2, 2, 4], ints(16, 100, 150)))],
    attrs: { block_size: 3 },
    outputs: 1,
  });
  const q = t("u8", [2, 6, 4], ints(48, 0, 255, 7));
  await agreesWithOrt({
    op: "DequantizeLinear",
    inputs: [op("q", q), op("s", s), op("z", t("u8", [6], [128, 0, 3, 250, 9, 77]))],
    outputs: 1,
  }, 1e-6);
  await agreesWithOrt({
    op: "DequantizeLinear",
    inputs: [op("q", q), op("s", sb), op("z", t("u8", [2, 2, 4], ints(16, 100, 150)))],
    attrs: { block_size: 3 },
    outputs: 1,
  }, 1e-6);
});

Deno.test("DequantizeLinear: zero point, int32 without zero point, axis", () => {
  const y = runLathe({
    op: "DequantizeLinear",
    inputs: [op("x", t("u8", [3], [0, 128, 255])), op("s", f32([], [0.5])), op("z", t("u8", [], [128]))],
    outputs: 1,
  })[0];
  assert.equal(y.dtype, "f32");
  assert.deepEqual(values(y), [-64, 0, 63.5]);
  const i = runLathe({
    op: "DequantizeLinear",
    inputs: [op("x", t("i32", [2], [-1000, 7])), op("s", f32([], [0.25]))],
    outputs: 1,
  })[0];
  assert.deepEqual(values(i), [-250, 1.75]);
  const a = runLathe({
    op: "DequantizeLinear",
    inputs: [
      op("x", t("i8", [2, 2], [1, 2, 3, 4])),
      op("s", f32([2], [10, 100])),
      op("z", t("i8", [2], [1, 0])),
    ],
    attrs: { axis: 0 },
    outputs: 1,
  })[0];
  assert.deepEqual(values(a), [0, 10, 300, 400]);
});

Deno.test("DynamicQuantizeLinear: scale from the range including 0, zero point rounded", async () => {
  const [y, s, z] = runLathe({
    op: "DynamicQuantizeLinear",
    inputs: [op("x", f32([4], [0, 2, -1, 4]))],
    outputs: 3,
  });
  // range [-1, 4]: scale 5/255, zero point 0 - (-1)/scale = 51
  assert.ok(Math.abs((s.data[0] as number) - 5 / 255) < 1e-8);
  assert.deepEqual(values(z), [51]);
  assert.deepEqual(values(y), [51, 153, 0, 255]);
  await agreesWithOrt({
    op: "DynamicQuantizeLinear",
    opset: 11,
    inputs: [op("x", f32([3, 7], ints(21, -900, 400).map((v) => v / 123)))],
    outputs: 3,
  }, 1e-7);
  await agreesWithOrt({
    op: "DynamicQuantizeLinear",
    opset: 11,
    inputs: [op("x", f32([5], [0.5, 1, 2, 3, 7.25]))],
    outputs: 3,
  }, 1e-7);
  await agreesWithOrt({
    op: "DynamicQuantizeLinear",
    opset: 11,
    inputs: [op("x", f32([3], [0, 0, 0]))],
    outputs: 3,
  }, 1e-7);
});

Deno.test("MatMulInteger with per-tensor and per-column zero points", async () => {
  const a = t("u8", [2, 2], [1, 2, 3, 4]), b = t("u8", [2, 2], [5, 6, 7, 8]);
  const y = runLathe({
    op: "MatMulInteger",
    inputs: [op("a", a), op("b", b), op("az", t("u8", [], [1])), op("bz", t("u8", [2], [5, 6]))],
    outputs: 1,
  })[0];
  // [[0,1],[2,3]] @ [[0,0],[2,2]]
  assert.equal(y.dtype, "i32");
  assert.deepEqual(values(y), [2, 2, 6, 6]);
  await agreesWithOrt({
    op: "MatMulInteger",
    opset: 10,
    inputs: [
      op("a", t("u8", [2, 3, 5], ints(30, 0, 255))),
      op("b", t("i8", [5, 4], ints(20, -128, 127, 3))),
      op("az", t("u8", [], [117])),
      op("bz", t("i8", [4], [0, 3, -5, 9])),
    ],
    outputs: 1,
  });
});

Deno.test("QLinearMatMul matches onnxruntime, batched and broadcast", async () => {
  const scalar = (d: ScalarDType, v: number) => t(d, [], [v]);
  await agreesWithOrt({
    op: "QLinearMatMul",
    opset: 10,
    inputs: [
      op("a", t("u8", [2, 3, 8], ints(48, 0, 255))),
      op("as", f32([], [0.0213])),
      op("az", scalar("u8", 121)),
      op("b", t("u8", [8, 5], ints(40, 0, 255, 9))),
      op("bs", f32([], [0.0071])),
      op("bz", scalar("u8", 130)),
      op("ys", f32([], [0.173])),
      op("yz", scalar("u8", 97)),
    ],
    outputs: 1,
  });
  await agreesWithOrt({
    op: "QLinearMatMul",
    opset: 10,
    inputs: [
      op("a", t("i8", [4, 6], ints(24, -128, 127, 4))),
      op("as", f32([], [0.05])),
      op("az", scalar("i8", -3)),
      op("b", t("i8", [6, 3], ints(18, -128, 127, 5))),
      op("bs", f32([], [0.02])),
      op("bz", scalar("i8", 0)),
      op("ys", f32([], [0.4])),
      op("yz", scalar("i8", 10)),
    ],
    outputs: 1,
  });
});

Deno.test("ConvInteger by hand and against onnxruntime with pads and strides", async () => {
  const x = t("u8", [1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const w = t("u8", [1, 1, 2, 2], [1, 1, 1, 1]);
  const y = runLathe({
    op: "ConvInteger",
    inputs: [op("x", x), op("w", w), op("xz", t("u8", [], [1]))],
    outputs: 1,
  })[0];
  assert.deepEqual([...y.shape], [1, 1, 2, 2]);
  // windows of (x - 1) = 0..8
  assert.deepEqual(values(y), [8, 12, 20, 24]);
  await agreesWithOrt({
    op: "ConvInteger",
    opset: 10,
    inputs: [
      op("x", t("u8", [2, 4, 7, 6], ints(336, 0, 255))),
      op("w", t("u8", [6, 2, 3, 3], ints(108, 0, 255, 2))),
      op("xz", t("u8", [], [131])),
      op("wz", t("u8", [], [120])),
    ],
    attrs: { pads: [1, 0, 2, 1], strides: [2, 1], group: 2, dilations: [1, 2] },
    outputs: 1,
  });
});

Deno.test("QLinearConv with per-channel weight scales, bias and SAME_UPPER padding", async () => {
  const M = 4;
  await agreesWithOrt({
    op: "QLinearConv",
    opset: 10,
    inputs: [
      op("x", t("u8", [1, 3, 6, 5], ints(90, 0, 255))),
      op("xs", f32([], [0.031])),
      op("xz", t("u8", [], [128])),
      op("w", t("i8", [M, 3, 3, 3], ints(108, -127, 127, 6))),
      op("ws", f32([M], [0.002, 0.004, 0.003, 0.001])),
      op("wz", t("i8", [M], [0, 0, 0, 0])),
      op("ys", f32([], [0.09])),
      op("yz", t("u8", [], [100])),
      op("b", t("i32", [M], [1000, -2000, 0, 35000])),
    ],
    attrs: { auto_pad: "SAME_UPPER", strides: [2, 2] },
    outputs: 1,
  });
  await agreesWithOrt({
    op: "QLinearConv",
    opset: 10,
    inputs: [
      op("x", t("u8", [2, 2, 5, 5], ints(100, 0, 255, 3))),
      op("xs", f32([], [0.02])),
      op("xz", t("u8", [], [3])),
      op("w", t("u8", [2, 1, 2, 2], ints(8, 0, 255, 8))),
      op("ws", f32([], [0.01])),
      op("wz", t("u8", [], [120])),
      op("ys", f32([], [0.3])),
      op("yz", t("u8", [], [7])),
    ],
    attrs: { group: 2, pads: [1, 1, 0, 0] },
    outputs: 1,
  });
});

Deno.test("com.microsoft.MatMulNBits matches onnxruntime (4 and 8 bits, zero points, bias)", async () => {
  const K = 40, N = 3, bs = 16, kBlocks = Math.ceil(K / bs);
  const A = f32([2, 2, K], ints(4 * K, -100, 100).map((v) => v / 50));
  for (const bits of [4, 8]) {
    const blob = (bs * bits) / 8;
    const B = t("u8", [N, kBlocks, blob], ints(N * kBlocks * blob, 0, 255, bits));
    const scales = f32([N * kBlocks], ints(N * kBlocks, 1, 40).map((v) => v / 200));
    const zpRow = Math.ceil((kBlocks * bits) / 8);
    const zp = t("u8", [N * zpRow], ints(N * zpRow, 0, 255, 11));
    const attrs = { K, N, bits, block_size: bs };
    const base = [op("a", A), op("b", B, true), op("s", scales, true)];
    await agreesWithOrt(
      { op: "MatMulNBits", domain: "com.microsoft", inputs: base, attrs, outputs: 1 },
      1e-4,
    );
    await agreesWithOrt({
      op: "MatMulNBits",
      domain: "com.microsoft",
      inputs: [...base, op("z", zp, true)],
      attrs,
      outputs: 1,
    }, 1e-4);
    const bias = f32([N], [0.5, -1, 2]);
    await agreesWithOrt({
      op: "MatMulNBits",
      domain: "com.microsoft",
      inputs: [...base, op("z", zp, true), null, op("bias", bias, true)],
      attrs,
      outputs: 1,
    }, 1e-4);
  }
});

Deno.test("MatMulNBits dequantizes low nibble first with the default zero point 8", () => {
  // K = 16, one block, N = 1: codes 0..15 packed two per byte, low nibble first; scale 2.
  const bytes = Array.from({ length: 8 }, (_, j) => (2 * j) | ((2 * j + 1) << 4));
  const A = f32([1, 16], Array.from({ length: 16 }, (_, k) => (k === 3 ? 1 : 0)));
  const y = runLathe({
    op: "MatMulNBits",
    domain: "com.microsoft",
    inputs: [op("a", A), op("b", t("u8", [1, 1, 8], bytes), true), op("s", f32([1], [2]), true)],
    attrs: { K: 16, N: 1, bits: 4, block_size: 16 },
    outputs: 1,
  })[0];
  // picks weight k = 3: (3 - 8) * 2
  assert.deepEqual(values(y), [-10]);
});
