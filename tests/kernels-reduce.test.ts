/**
 * Reductions, arg-reductions, the softmax family and the losses: hand-derived values from the ONNX
 * definitions, plus onnxruntime as an independent reference on non-trivial shapes.
 */
import assert from "node:assert/strict";
import { GraphBuilder } from "../ir/builder.ts";
import { LatheError } from "../ir/errors.ts";
import { interpret } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { compareTensors } from "./support/close.ts";
import { type NodeCase, runLathe, runOnnxruntime, tensor } from "./support/ort-node.ts";

const f32 = (shape: number[], v: number[]) => tensor("f32", shape, v);
const axes = (v: number[]): { name: string; tensor: Tensor; constant: true } => ({
  name: "axes",
  tensor: tensor("i64", [v.length], v),
  constant: true,
});

function run1(c: NodeCase): Tensor {
  return runLathe(c)[0];
}

function close(got: Tensor, shape: number[], want: number[], tol = 1e-6): void {
  assert.deepEqual([...got.shape], shape);
  const r = compareTensors(got, tensor("f64", shape, want), tol, tol);
  assert.ok(r.ok, r.message);
}

const x23 = f32([2, 3], [1, 2, 3, 4, 5, 6]);

Deno.test("ReduceSum over one axis with and without keepdims, negative axes", () => {
  close(run1({ op: "ReduceSum", inputs: [{ name: "x", tensor: x23 }, axes([1])], outputs: 1 }), [2, 1], [
    6,
    15,
  ]);
  const x = f32([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
  close(
    run1({
      op: "ReduceSum",
      inputs: [{ name: "x", tensor: x }, axes([-1])],
      attrs: { keepdims: 0 },
      outputs: 1,
    }),
    [2, 2],
    [3, 7, 11, 15],
  );
  close(
    run1({
      op: "ReduceSum",
      inputs: [{ name: "x", tensor: x }, axes([0, 2])],
      attrs: { keepdims: 0 },
      outputs: 1,
    }),
    [2],
    [1 + 2 + 5 + 6, 3 + 4 + 7 + 8],
  );
});

Deno.test("Reduce with empty or absent axes: all axes, or the identity with noop_with_empty_axes", () => {
  close(
    run1({ op: "ReduceSum", inputs: [{ name: "x", tensor: x23 }, null], attrs: { keepdims: 0 }, outputs: 1 }),
    [],
    [21],
  );
  close(run1({ op: "ReduceMean", inputs: [{ name: "x", tensor: x23 }, axes([])], outputs: 1 }), [1, 1], [
    3.5,
  ]);
  const same = run1({
    op: "ReduceSum",
    inputs: [{ name: "x", tensor: x23 }, axes([])],
    attrs: { noop_with_empty_axes: 1 },
    outputs: 1,
  });
  close(same, [2, 3], [1, 2, 3, 4, 5, 6]);
  assert.notEqual(same.data, x23.data, "a no-op reduction must not hand out its input's buffer");
});

Deno.test("each Reduce kind on hand-checkable rows", () => {
  const x = f32([2, 2], [3, -4, 1, 2]);
  const r = (op: string) =>
    run1({ op, inputs: [{ name: "x", tensor: x }, axes([1])], attrs: { keepdims: 0 }, outputs: 1 });
  close(r("ReduceMean"), [2], [-0.5, 1.5]);
  close(r("ReduceMax"), [2], [3, 2]);
  close(r("ReduceMin"), [2], [-4, 1]);
  close(r("ReduceProd"), [2], [-12, 2]);
  close(r("ReduceL1"), [2], [7, 3]);
  close(r("ReduceL2"), [2], [5, Math.sqrt(5)]);
  close(r("ReduceSumSquare"), [2], [25, 5]);
  const p = f32([2], [1, 2]);
  close(
    run1({
      op: "ReduceLogSum",
      inputs: [{ name: "x", tensor: p }, null],
      attrs: { keepdims: 0 },
      outputs: 1,
    }),
    [],
    [Math.log(3)],
  );
  // log(e^1000 + e^1000) = 1000 + ln 2, which a naive exp would overflow.
  const big = tensor("f64", [2], [1000, 1000]);
  close(
    run1({
      op: "ReduceLogSumExp",
      inputs: [{ name: "x", tensor: big }, null],
      attrs: { keepdims: 0 },
      outputs: 1,
    }),
    [],
    [1000 + Math.LN2],
    1e-12,
  );
});

Deno.test("ReduceMax propagates NaN; empty reductions give the identities", () => {
  const x = f32([3], [1, NaN, 5]);
  const m = run1({
    op: "ReduceMax",
    inputs: [{ name: "x", tensor: x }, null],
    attrs: { keepdims: 0 },
    outputs: 1,
  });
  assert.ok(Number.isNaN(m.data[0] as number));
  const e = f32([2, 0], []);
  const r = (op: string, t = e) =>
    run1({ op, inputs: [{ name: "x", tensor: t }, axes([1])], attrs: { keepdims: 0 }, outputs: 1 });
  close(r("ReduceSum"), [2], [0, 0]);
  close(r("ReduceProd"), [2], [1, 1]);
  close(r("ReduceMax"), [2], [-Infinity, -Infinity]);
  close(r("ReduceLogSumExp"), [2], [-Infinity, -Infinity]);
  assert.ok(Number.isNaN(r("ReduceMean").data[0] as number));
  assert.deepEqual([...r("ReduceMax", tensor("i32", [2, 0], [])).data], [-2147483648, -2147483648]);
});

Deno.test("ReduceSum of i64 is exact beyond 2^53", () => {
  const x = tensor("i64", [3], [0, 1, 0]);
  (x.data as BigInt64Array)[0] = 9007199254740993n;
  (x.data as BigInt64Array)[2] = -3n;
  const y = run1({
    op: "ReduceSum",
    inputs: [{ name: "x", tensor: x }, null],
    attrs: { keepdims: 0 },
    outputs: 1,
  });
  assert.equal(y.dtype, "i64");
  assert.equal((y.data as BigInt64Array)[0], 9007199254740991n);
  const mx = run1({ op: "ReduceMax", inputs: [{ name: "x", tensor: x }, null], outputs: 1 });
  assert.equal((mx.data as BigInt64Array)[0], 9007199254740993n);
});

Deno.test("Reduce with data-dependent axes: rank kept with keepdims, unknown without", () => {
  const b = new GraphBuilder();
  const x = b.input("x", "f32", [2, 3]);
  const ax = b.input("ax", "i64", [1]);
  const kept = b.op1("ReduceSum", [x, ax]);
  const dropped = b.op1("ReduceSum", [x, ax], { keepdims: 0 });
  const g = b.build([kept, dropped]);
  assert.equal((g.values[kept].type as any).shape.length, 2);
  assert.equal((g.values[dropped].type as any).shape, undefined);
  const r = interpret(g, { x: x23, ax: tensor("i64", [1], [0]) }, { check: true });
  close(r.outputs[kept] as Tensor, [1, 3], [5, 7, 9]);
  close(r.outputs[dropped] as Tensor, [3], [5, 7, 9]);
});

Deno.test("Reduce rejects duplicate or out-of-range axes", () => {
  assert.throws(
    () => run1({ op: "ReduceSum", inputs: [{ name: "x", tensor: x23 }, axes([1, -1])], outputs: 1 }),
    LatheError,
  );
  assert.throws(
    () => run1({ op: "ReduceSum", inputs: [{ name: "x", tensor: x23 }, axes([2])], outputs: 1 }),
    LatheError,
  );
});

Deno.test("every Reduce op matches onnxruntime on a [3,4,5] tensor over axes [0,2]", async () => {
  const vals = Array.from({ length: 60 }, (_, i) => Math.sin(i * 1.7) * 2 + (i % 7) * 0.1 + 0.05);
  const pos = vals.map((v) => Math.abs(v) + 0.1);
  for (
    const op of [
      "ReduceSum",
      "ReduceMean",
      "ReduceMax",
      "ReduceMin",
      "ReduceProd",
      "ReduceL1",
      "ReduceL2",
      "ReduceLogSum",
      "ReduceLogSumExp",
      "ReduceSumSquare",
    ]
  ) {
    for (const keepdims of [0, 1]) {
      const data = op === "ReduceLogSum" ? pos : vals;
      const c: NodeCase = {
        op,
        opset: 18,
        inputs: [{ name: "x", tensor: f32([3, 4, 5], data) }, axes([0, 2])],
        attrs: { keepdims },
        outputs: 1,
      };
      const [want] = await runOnnxruntime(c);
      const [got] = runLathe(c);
      const r = compareTensors(got, want, 1e-5, 1e-5);
      assert.ok(r.ok, `${op} keepdims=${keepdims}: ${r.message}`);
    }
  }
});

Deno.test("ArgMax/ArgMin: first or last of ties, keepdims, negative axis", () => {
  const x = f32([2, 4], [1, 3, 3, 2, 5, 0, 0, 5]);
  const arg = (op: string, attrs: Record<string, number>) =>
    [...run1({ op, inputs: [{ name: "x", tensor: x }], attrs, outputs: 1 }).data].map(Number);
  assert.deepEqual(arg("ArgMax", { axis: 1 }), [1, 0]);
  assert.deepEqual(arg("ArgMax", { axis: -1, select_last_index: 1 }), [2, 3]);
  assert.deepEqual(arg("ArgMin", { axis: 1, keepdims: 0 }), [0, 1]);
  assert.deepEqual(arg("ArgMin", { axis: 1, select_last_index: 1 }), [0, 2]);
  assert.deepEqual(arg("ArgMax", { axis: 0 }), [1, 0, 0, 1]);
  const y = run1({
    op: "ArgMax",
    inputs: [{ name: "x", tensor: x }],
    attrs: { axis: 1, keepdims: 0 },
    outputs: 1,
  });
  assert.equal(y.dtype, "i64");
  assert.deepEqual([...y.shape], [2]);
  const nan = run1({ op: "ArgMax", inputs: [{ name: "x", tensor: f32([3], [1, NaN, 7]) }], outputs: 1 });
  assert.equal(Number(nan.data[0]), 1, "NaN counts as the maximum, as in numpy");
});

Deno.test("Softmax, LogSoftmax and Hardmax along an inner and an outer axis", () => {
  const x = f32([1, 3], [0, Math.log(2), Math.log(3)]);
  close(run1({ op: "Softmax", inputs: [{ name: "x", tensor: x }], outputs: 1 }), [1, 3], [
    1 / 6,
    2 / 6,
    3 / 6,
  ]);
  close(run1({ op: "LogSoftmax", inputs: [{ name: "x", tensor: x }], outputs: 1 }), [1, 3], [
    Math.log(1 / 6),
    Math.log(2 / 6),
    Math.log(3 / 6),
  ]);
  const y = f32([2, 2], [0, 0, Math.log(3), 0]);
  close(run1({ op: "Softmax", inputs: [{ name: "x", tensor: y }], attrs: { axis: 0 }, outputs: 1 }), [2, 2], [
    0.25,
    0.5,
    0.75,
    0.5,
  ]);
  const h = f32([2, 3], [1, 3, 3, 2, 1, 0]);
  close(run1({ op: "Hardmax", inputs: [{ name: "x", tensor: h }], outputs: 1 }), [2, 3], [0, 1, 0, 1, 0, 0]);
  close(run1({ op: "Hardmax", inputs: [{ name: "x", tensor: h }], attrs: { axis: 0 }, outputs: 1 }), [2, 3], [
    0,
    1,
    1,
    1,
    0,
    0,
  ]);
  // Large logits must not overflow.
  close(run1({ op: "Softmax", inputs: [{ name: "x", tensor: f32([2], [1000, 1000]) }], outputs: 1 }), [2], [
    0.5,
    0.5,
  ]);
});

Deno.test("Softmax keeps f16 and bf16 storage", () => {
  const h = new Tensor("f16", [3], new Float16Array([0, Math.log(2), Math.log(3)]));
  const y = run1({ op: "Softmax", inputs: [{ name: "x", tensor: h }], outputs: 1 });
  assert.equal(y.dtype, "f16");
  assert.ok(y.data instanceof Float16Array);
  close(y, [3], [1 / 6, 1 / 3, 1 / 2], 1e-3);
  // bf16 bit patterns: 0x0000 = 0, 0x3f80 = 1; softmax of [0, 1] = [1/(1+e), e/(1+e)].
  const b = new Tensor("bf16", [2], new Uint16Array([0x0000, 0x3f80]));
  const z = run1({ op: "Softmax", inputs: [{ name: "x", tensor: b }], outputs: 1 });
  assert.equal(z.dtype, "bf16");
  const bits = z.data as Uint16Array;
  const asF = (u: number) => new Float32Array(new Uint32Array([u << 16]).buffer)[0];
  assert.ok(Math.abs(asF(bits[0]) - 1 / (1 + Math.E)) < 2e-3);
  assert.ok(Math.abs(asF(bits[1]) - Math.E / (1 + Math.E)) < 4e-3);
});

Deno.test("NegativeLogLikelihoodLoss: weights, mean over weights, ignore_index, none", () => {
  const lp = f32([2, 3], [-1, -2, -3, -4, -5, -6]);
  const target = tensor("i64", [2], [2, 0]);
  const w = f32([3], [1, 2, 3]);
  const ins = [{ name: "x", tensor: lp }, { name: "t", tensor: target }, { name: "w", tensor: w }];
  // (3*3 + 4*1) / (3 + 1)
  close(run1({ op: "NegativeLogLikelihoodLoss", inputs: ins, outputs: 1 }), [], [13 / 4]);
  close(run1({ op: "NegativeLogLikelihoodLoss", inputs: ins, attrs: { reduction: "sum" }, outputs: 1 }), [], [
    13,
  ]);
  close(
    run1({ op: "NegativeLogLikelihoodLoss", inputs: ins, attrs: { reduction: "none" }, outputs: 1 }),
    [2],
    [9, 4],
  );
  const ii = [{ name: "x", tensor: lp }, { name: "t", tensor: tensor("i64", [2], [1, -1]) }];
  close(run1({ op: "NegativeLogLikelihoodLoss", inputs: ii, attrs: { ignore_index: -1 }, outputs: 1 }), [], [
    2,
  ]);
  assert.throws(
    () =>
      run1({
        op: "NegativeLogLikelihoodLoss",
        inputs: [{ name: "x", tensor: lp }, { name: "t", tensor: tensor("i64", [2], [3, 0]) }],
        outputs: 1,
      }),
    LatheError,
  );
});

Deno.test("SoftmaxCrossEntropyLoss: uniform scores give ln C, log_prob output, spatial dims", () => {
  const s = f32([1, 3], [0, 0, 0]);
  const out = runLathe({
    op: "SoftmaxCrossEntropyLoss",
    inputs: [{ name: "s", tensor: s }, { name: "l", tensor: tensor("i64", [1], [1]) }],
    outputs: 2,
  });
  close(out[0], [], [Math.log(3)]);
  close(out[1], [1, 3], [-Math.log(3), -Math.log(3), -Math.log(3)]);
  // [N=1, C=2, D=2]: position 0 has scores (0, ln 3) -> p = (1/4, 3/4); position 1 has (0, 0).
  const s2 = f32([1, 2, 2], [0, 0, Math.log(3), 0]);
  const l2 = tensor("i32", [1, 2], [1, 0]);
  const none = run1({
    op: "SoftmaxCrossEntropyLoss",
    inputs: [{ name: "s", tensor: s2 }, { name: "l", tensor: l2 }],
    attrs: { reduction: "none" },
    outputs: 1,
  });
  close(none, [1, 2], [-Math.log(3 / 4), Math.log(2)]);
});
