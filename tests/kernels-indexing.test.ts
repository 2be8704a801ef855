/**
 * Indexing kernels against hand-derived values from the ONNX operator definitions, and onnxruntime for
 * GridSample's mode/padding/align_corners combinations.
 */
import assert from "node:assert/strict";
import { LatheError } from "../ir/errors.ts";
import { Tensor } from "../runtime/tensor.ts";
import { compareTensors } from "./support/close.ts";
import { f32, i64, runNode, tensor, values } from "./support/run-node.ts";
import { runBoth } from "./support/single-node-onnx.ts";

const T = (v: unknown) => v as Tensor;
const I64_MAX = 9223372036854775807n, I64_MIN = -9223372036854775808n;

function throwsLathe(fn: () => unknown, needle: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof LatheError, `expected LatheError, got ${e}`);
    assert.match(e.message, needle);
    return true;
  });
}

const grid12 = () => f32([3, 4], Array.from({ length: 12 }, (_, i) => i));

function slice(
  x: Tensor,
  starts: (number | bigint)[],
  ends: (number | bigint)[],
  axes?: number[],
  steps?: number[],
): Tensor {
  const c: Record<string, Tensor> = { s: i64([starts.length], starts), e: i64([ends.length], ends) };
  const ins: (Tensor | string | null)[] = [x, "s", "e"];
  if (axes) (c.a = i64([axes.length], axes)), ins.push("a");
  if (steps) {
    if (!axes) ins.push(null);
    c.st = i64([steps.length], steps);
    ins.push("st");
  }
  return T(runNode("Slice", ins, {}, { constants: c })[0]);
}

Deno.test("Slice: negative steps, clamping, INT64 extremes, empty results, strings", () => {
  const x = grid12();
  assert.deepEqual(values(slice(x, [1, 0], [3, 4], undefined, [1, 2])), [4, 6, 8, 10]);
  // Reverse everything with INT64 extremes: start clamps to the last index, end to "before 0".
  assert.deepEqual(values(slice(x, [I64_MAX], [I64_MIN], [1], [-1])), [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8]);
  // End -4 is -1 after adding the dim: "before index 0" when stepping backwards, so rows 2 and 0.
  assert.deepEqual(values(slice(x, [-1], [-4], [0], [-2])), [8, 9, 10, 11, 0, 1, 2, 3]);
  assert.deepEqual(values(slice(x, [1], [1000], [-1])), [1, 2, 3, 5, 6, 7, 9, 10, 11]);
  assert.deepEqual(slice(x, [5], [10], [0]).shape, [0, 4]);
  assert.deepEqual(slice(x, [2], [1], [1]).shape, [3, 0]);
  const s = tensor("string", [4], ["a", "b", "c", "d"]);
  assert.deepEqual(values(slice(s, [3], [0], [0], [-2])), ["d", "b"]);
  throwsLathe(() => slice(x, [0], [1], [0], [0]), /step is 0/);
});

Deno.test("Gather: axes, negative and scalar indices, out-of-range error", () => {
  const x = grid12();
  const [g] = runNode("Gather", [x, i64([2, 2], [0, -1, 1, 1])], { axis: 1 });
  assert.deepEqual(T(g).shape, [3, 2, 2]);
  assert.deepEqual(values(g), [0, 3, 1, 1, 4, 7, 5, 5, 8, 11, 9, 9]);
  const [row] = runNode("Gather", [x, tensor("i32", [], [-1])], { axis: 0 });
  assert.deepEqual(T(row).shape, [4]);
  assert.deepEqual(values(row), [8, 9, 10, 11]);
  throwsLathe(() => runNode("Gather", [x, i64([1], [3])]), /out of range/);
});

Deno.test("GatherElements and GatherND (batch_dims)", () => {
  const x = f32([2, 2], [1, 2, 3, 4]);
  assert.deepEqual(values(runNode("GatherElements", [x, i64([2, 2], [0, 0, 1, 0])], { axis: 1 })[0]), [
    1,
    1,
    4,
    3,
  ]);
  assert.deepEqual(values(runNode("GatherElements", [x, i64([1, 2], [1, -2])], { axis: 0 })[0]), [3, 2]);
  const d = tensor("i32", [2, 2, 2], [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(values(runNode("GatherND", [d, i64([2, 2], [0, 1, 1, 0])])[0]), [2, 3, 4, 5]);
  const [b] = runNode("GatherND", [d, i64([2, 1], [1, 0])], { batch_dims: 1 });
  assert.deepEqual(T(b).shape, [2, 2]);
  assert.deepEqual(values(b), [2, 3, 4, 5]);
});

Deno.test("ScatterElements reductions with duplicates; Scatter alias; inputs left untouched", () => {
  const data = f32([1, 5], [1, 2, 3, 4, 5]);
  const idx = i64([1, 3], [1, 1, -1]);
  const upd = f32([1, 3], [1.5, 2.5, 10]);
  const run = (reduction: string) =>
    values(runNode("ScatterElements", [data, idx, upd], { axis: 1, reduction })[0]);
  assert.deepEqual(run("none"), [1, 2.5, 3, 4, 10]);
  assert.deepEqual(run("add"), [1, 6, 3, 4, 15]);
  assert.deepEqual(run("mul"), [1, 7.5, 3, 4, 50]);
  assert.deepEqual(run("max"), [1, 2.5, 3, 4, 10]);
  assert.deepEqual(run("min"), [1, 1.5, 3, 4, 5]);
  assert.deepEqual(values(data), [1, 2, 3, 4, 5]);
  const [s] = runNode("Scatter", [i64([3], [0, 0, 0]), i64([2], [2, 0]), i64([2], [7, 8])]);
  assert.deepEqual(values(s), [8, 0, 7]);
});

Deno.test("ScatterND with slices and reductions", () => {
  const data = f32([4, 2], [1, 1, 2, 2, 3, 3, 4, 4]);
  const idx = i64([2, 1], [0, 0]);
  const upd = f32([2, 2], [5, 6, 7, 8]);
  assert.deepEqual(values(runNode("ScatterND", [data, idx, upd], { reduction: "add" })[0]), [
    13,
    15,
    2,
    2,
    3,
    3,
    4,
    4,
  ]);
  assert.deepEqual(values(runNode("ScatterND", [data, idx, upd], { reduction: "mul" })[0]), [
    35,
    48,
    2,
    2,
    3,
    3,
    4,
    4,
  ]);
  const [p] = runNode("ScatterND", [data, i64([2, 2], [3, 1, -4, 0]), f32([2], [9, 10])]);
  assert.deepEqual(values(p), [10, 1, 2, 2, 3, 3, 4, 9]);
});

Deno.test("OneHot: axis placement, negative indices, out-of-range rows of off values", () => {
  const [o] = runNode("OneHot", [i64([3], [0, -1, 5]), f32([], [3]), f32([2], [0, 1])]);
  assert.deepEqual(T(o).shape, [3, 3]);
  assert.deepEqual(values(o), [1, 0, 0, 0, 0, 1, 0, 0, 0]);
  const [a] = runNode("OneHot", [i64([2], [1, 0]), tensor("i32", [], [2]), tensor("i32", [2], [-1, 7])], {
    axis: 0,
  });
  assert.deepEqual(T(a).shape, [2, 2]);
  assert.deepEqual(values(a), [-1, 7, 7, -1]);
});

Deno.test("Compress and NonZero", () => {
  const x = f32([3, 2], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(values(runNode("Compress", [x, tensor("bool", [2], [0, 1])], { axis: 0 })[0]), [3, 4]);
  assert.deepEqual(values(runNode("Compress", [x, tensor("bool", [5], [0, 1, 0, 0, 1])])[0]), [2, 5]);
  const [c] = runNode("Compress", [x, tensor("bool", [2], [1, 1])], { axis: -1 });
  assert.deepEqual(T(c).shape, [3, 2]);
  const [nz] = runNode("NonZero", [tensor("i64", [2, 3], [0, 5, 0, -1, 0, 2])]);
  assert.deepEqual(T(nz).shape, [2, 3]);
  assert.deepEqual(values(nz), [0, 1, 1, 1, 0, 2]);
  const [nf] = runNode("NonZero", [f32([3], [NaN, 0, -0])]);
  assert.deepEqual(values(nf), [0]);
});

Deno.test("TopK: largest/smallest, ties keep the smaller index first, axis 0", () => {
  const x = f32([2, 4], [3, 1, 3, 2, 0, 5, 5, 5]);
  const [v, i] = runNode("TopK", [x, "k"], {}, { outputs: 2, constants: { k: i64([1], [3]) } });
  assert.deepEqual(values(v), [3, 3, 2, 5, 5, 5]);
  assert.deepEqual(values(i), [0, 2, 3, 1, 2, 3]);
  const [vs, is] = runNode("TopK", [x, "k"], { largest: 0 }, { outputs: 2, constants: { k: i64([1], [2]) } });
  assert.deepEqual(values(vs), [1, 2, 0, 5]);
  assert.deepEqual(values(is), [1, 3, 0, 1]);
  const [v0, i0] = runNode("TopK", [i64([3, 1], [4, 9, 4]), "k"], { axis: 0 }, {
    outputs: 2,
    constants: { k: i64([1], [2]) },
  });
  assert.deepEqual(values(v0), [9, 4]);
  assert.deepEqual(values(i0), [1, 0]);
  throwsLathe(() => runNode("TopK", [x, i64([1], [5])], {}, { outputs: 2 }), /out of range/);
});

Deno.test("Unique: sorted and unsorted, with an axis, all four outputs", () => {
  const x = f32([6], [2, 1, 1, 3, 4, 3]);
  const [y, idx, inv, cnt] = runNode("Unique", [x], { sorted: 0 }, { outputs: 4 });
  assert.deepEqual(values(y), [2, 1, 3, 4]);
  assert.deepEqual(values(idx), [0, 1, 3, 4]);
  assert.deepEqual(values(inv), [0, 1, 1, 2, 3, 2]);
  assert.deepEqual(values(cnt), [1, 2, 2, 1]);
  const [ys, is, vs, cs] = runNode("Unique", [x], {}, { outputs: 4 });
  assert.deepEqual(values(ys), [1, 2, 3, 4]);
  assert.deepEqual(values(is), [1, 0, 3, 4]);
  assert.deepEqual(values(vs), [1, 0, 0, 2, 3, 2]);
  assert.deepEqual(values(cs), [2, 1, 2, 1]);
  const m = f32([3, 3], [1, 0, 0, 1, 0, 0, 2, 3, 4]);
  const [ya, ia, va, ca] = runNode("Unique", [m], { axis: 0 }, { outputs: 4 });
  assert.deepEqual(T(ya).shape, [2, 3]);
  assert.deepEqual(values(ya), [1, 0, 0, 2, 3, 4]);
  assert.deepEqual(values(ia), [0, 2]);
  assert.deepEqual(values(va), [0, 0, 1]);
  assert.deepEqual(values(ca), [2, 1]);
  const [yc] = runNode("Unique", [m], { axis: -1 }, { outputs: 1 });
  // Columns (1,1,2), (0,0,3), (0,0,4) sorted lexicographically.
  assert.deepEqual(values(yc), [0, 0, 1, 0, 0, 1, 3, 4, 2]);
});

Deno.test("ReverseSequence on time-major and batch-major layouts", () => {
  const x = f32([4, 2], [0, 1, 2, 3, 4, 5, 6, 7]);
  const [t] = runNode("ReverseSequence", [x, i64([2], [3, 1])], { time_axis: 0, batch_axis: 1 });
  assert.deepEqual(values(t), [4, 1, 2, 3, 0, 5, 6, 7]);
  const [b] = runNode("ReverseSequence", [x, i64([4], [2, 1, 0, 2])], { time_axis: 1, batch_axis: 0 });
  assert.deepEqual(values(b), [1, 0, 2, 3, 4, 5, 7, 6]);
});

Deno.test("CumSum: exclusive, reverse, negative axis, i64", () => {
  const x = f32([2, 3], [1, 2, 3, 4, 5, 6]);
  const cs = (attrs: Record<string, number>, axis: number, t: Tensor = x) =>
    values(runNode("CumSum", [t, i64([], [axis])], attrs)[0]);
  assert.deepEqual(cs({}, 1), [1, 3, 6, 4, 9, 15]);
  assert.deepEqual(cs({}, 0), [1, 2, 3, 5, 7, 9]);
  assert.deepEqual(cs({ exclusive: 1 }, -1), [0, 1, 3, 0, 4, 9]);
  assert.deepEqual(cs({ reverse: 1 }, 1), [6, 5, 3, 15, 11, 6]);
  assert.deepEqual(cs({ reverse: 1, exclusive: 1 }, 1), [5, 3, 0, 11, 6, 0]);
  assert.deepEqual(cs({}, 0, tensor("f16", [3], [0.5, 0.25, 2])), [0.5, 0.75, 2.75]);
  // bf16 bit patterns: 1.0, 2.0, 0.5 sum to 1.0, 3.0, 3.5 (0x3f80, 0x4040, 0x4060).
  assert.deepEqual(cs({}, 0, new Tensor("bf16", [3], Uint16Array.from([0x3f80, 0x4000, 0x3f00]))), [
    0x3f80,
    0x4040,
    0x4060,
  ]);
  assert.deepEqual(cs({}, 0, i64([3], [2n ** 40n, 2n ** 40n, 1])).map(String), [
    String(2 ** 40),
    String(2 ** 41),
    String(2 ** 41 + 1),
  ]);
});

Deno.test("GridSample matches onnxruntime across modes, padding modes and align_corners", async () => {
  const x = f32([1, 2, 4, 5], Array.from({ length: 40 }, (_, i) => Math.sin(i * 0.7) * 3));
  const pts = Array.from({ length: 2 * 3 * 6 * 2 }, (_, i) => Math.cos(i * 1.3) * 1.4);
  const grid = f32([1, 3, 6, 2], pts.slice(0, 36));
  for (const mode of ["linear", "nearest", "cubic"]) {
    for (const padding_mode of ["zeros", "border", "reflection"]) {
      for (const align_corners of [0, 1]) {
        const attrs = { mode, padding_mode, align_corners };
        const { ort, lathe } = await runBoth({
          op: "GridSample",
          inputs: [["x", x], ["g", grid]],
          outputs: [["y", "f32"]],
          attrs,
          opset: 20,
        });
        const r = compareTensors(lathe.y, ort.y, 1e-4, 1e-5);
        assert.ok(r.ok, `${JSON.stringify(attrs)}: ${r.message}`);
      }
    }
  }
});

Deno.test("GridSample hand values: bilinear centre and zero padding", () => {
  const x = f32([1, 1, 2, 2], [1, 2, 3, 4]);
  // Grid (0, 0) is the image centre: the mean of the four pixels. (-1, -1) without align_corners is the
  // outer corner at (-0.5, -0.5): a quarter of pixel (0, 0), the rest zero padding.
  const [y] = runNode("GridSample", [x, f32([1, 1, 2, 2], [0, 0, -1, -1])], { mode: "linear" });
  assert.deepEqual(values(y), [2.5, 0.25]);
  const [z] = runNode("GridSample", [x, f32([1, 1, 1, 2], [-1, -1])], { mode: "linear", align_corners: 1 });
  assert.deepEqual(values(z), [1]);
});

Deno.test("GridSample on volumes (5-D) matches onnxruntime", async () => {
  const x = f32([1, 2, 3, 4, 5], Array.from({ length: 120 }, (_, i) => Math.cos(i * 0.37) * 2));
  const grid = f32([1, 2, 3, 2, 3], Array.from({ length: 36 }, (_, i) => Math.sin(i * 2.1) * 1.2));
  for (const mode of ["linear", "nearest"]) {
    for (const padding_mode of ["zeros", "border", "reflection"]) {
      for (const align_corners of [0, 1]) {
        const attrs = { mode, padding_mode, align_corners };
        const { ort, lathe } = await runBoth({
          op: "GridSample",
          inputs: [["x", x], ["g", grid]],
          outputs: [["y", "f32"]],
          attrs,
          opset: 20,
        });
        const r = compareTensors(lathe.y, ort.y, 1e-4, 1e-5);
        assert.ok(r.ok, `${JSON.stringify(attrs)}: ${r.message}`);
      }
    }
  }
});

Deno.test("TopK matches onnxruntime on many ties, both directions, inner axes", async () => {
  const vals = Array.from({ length: 3 * 40 * 2 }, (_, i) => ((i * 7919) % 13) - 6);
  const x = f32([3, 40, 2], vals);
  for (const largest of [1, 0]) {
    for (const k of [1, 5, 40]) {
      const { ort, lathe } = await runBoth({
        op: "TopK",
        inputs: [["x", x]],
        constants: { k: i64([1], [k]) },
        order: ["x", "k"],
        outputs: [["v", "f32"], ["i", "i64"]],
        attrs: { axis: 1, largest },
      });
      assert.deepEqual(values(lathe.v), values(ort.v), `values k=${k} largest=${largest}`);
      assert.deepEqual(values(lathe.i), values(ort.i), `indices k=${k} largest=${largest}`);
    }
  }
});
