/**
 * DFT, STFT, windows and MelWeightMatrix. Small transforms are checked against values worked out by hand;
 * longer ones (each FFT path: radix-2, direct, Bluestein) against the defining sum evaluated term by term.
 */
import assert from "node:assert/strict";
import { type AttrInit, GraphBuilder } from "../ir/builder.ts";
import { LatheError } from "../ir/errors.ts";
import { interpret } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { compareArrays } from "./support/close.ts";

const f32 = (shape: number[], xs: ArrayLike<number>) => new Tensor("f32", shape, Float32Array.from(xs));
const i64 = (xs: number[]) => new Tensor("i64", [], BigInt64Array.from(xs.map(BigInt)));

function run1(
  op: string,
  inputs: (readonly [string, Tensor] | null)[],
  attrs: Record<string, AttrInit> = {},
): Tensor {
  const b = new GraphBuilder();
  const feeds: Record<string, Tensor> = {};
  const names = inputs.map((x) => {
    if (!x) return null;
    feeds[x[0]] = x[1];
    return b.input(x[0], x[1].dtype, x[1].shape);
  });
  const y = b.op1(op, names, attrs);
  return interpret(b.build([y]), feeds, { check: true }).outputs[y] as Tensor;
}

function near(got: Tensor, want: ArrayLike<number>, what: string, tol = 1e-5): void {
  const r = compareArrays(got.data as Float32Array, want, tol, tol);
  assert.ok(r.ok, `${what}: ${r.message}`);
}

/** The DFT by its definition, interleaved (re, im), in double precision. */
function naiveDft(re: number[], im: number[], inverse = false): number[] {
  const n = re.length, out: number[] = [];
  const sign = inverse ? 1 : -1;
  for (let k = 0; k < n; k++) {
    let sr = 0, si = 0;
    for (let j = 0; j < n; j++) {
      const a = (sign * 2 * Math.PI * ((k * j) % n)) / n;
      sr += re[j] * Math.cos(a) - im[j] * Math.sin(a);
      si += re[j] * Math.sin(a) + im[j] * Math.cos(a);
    }
    out.push(inverse ? sr / n : sr, inverse ? si / n : si);
  }
  return out;
}

Deno.test("DFT of [1,2,3,4]: full, onesided, and back with the inverse", () => {
  const x = f32([1, 4, 1], [1, 2, 3, 4]);
  // X_k = Σ x_j e^{-2πi jk/4} = 10, -2+2i, -2, -2-2i.
  const y = run1("DFT", [["x", x]]);
  assert.deepEqual(y.shape, [1, 4, 2]);
  near(y, [10, 0, -2, 2, -2, 0, -2, -2], "full");
  const half = run1("DFT", [["x", x]], { onesided: 1 });
  assert.deepEqual(half.shape, [1, 3, 2]);
  near(half, [10, 0, -2, 2, -2, 0], "onesided");
  const back = run1("DFT", [["y", y]], { inverse: 1 });
  near(back, [1, 0, 2, 0, 3, 0, 4, 0], "inverse");
});

Deno.test("DFT pads to or truncates at dft_length", () => {
  const x = f32([1, 3, 1], [1, 2, 3]);
  // [1,2,3,0]: 6, -2-2i, 2, -2+2i.
  near(run1("DFT", [["x", x], ["n", i64([4])]]), [6, 0, -2, -2, 2, 0, -2, 2], "padded");
  // [1,2]: 3, -1.
  near(run1("DFT", [["x", x], ["n", i64([2])]]), [3, 0, -1, 0], "truncated");
});

Deno.test("DFT along an inner axis, given as an input or as the opset-17 attribute", () => {
  // x[b][r][c][0] = values; transform along axis 2 (the columns) of a [1, 2, 3, 1] signal.
  const vals = [1, 2, 3, 4, 5, 6];
  const x = f32([1, 2, 3, 1], vals);
  const want = [...naiveDft([1, 2, 3], [0, 0, 0]), ...naiveDft([4, 5, 6], [0, 0, 0])];
  near(run1("DFT", [["x", x], null, ["axis", i64([2])]]), want, "axis input 2");
  near(run1("DFT", [["x", x], null, ["axis", i64([-2])]]), want, "axis input -2");
  near(run1("DFT", [["x", x]], { axis: 2 }), want, "axis attribute");
  // Along axis 1: pairs (1,4), (2,5), (3,6) -> [sum, diff] laid out as [1, 2, 3, 2].
  near(run1("DFT", [["x", x]], { axis: 1 }), [5, 0, 7, 0, 9, 0, -3, 0, -3, 0, -3, 0], "axis 1");
  assert.throws(() => run1("DFT", [["x", x]], { axis: 3 }), LatheError);
});

Deno.test("DFT of complex signals matches the definition for every FFT path", () => {
  for (const n of [1, 6, 64, 100, 243, 256]) {
    const re = Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) + (i % 5) * 0.1);
    const im = Array.from({ length: n }, (_, i) => Math.cos(i * 0.11) - 0.2);
    const inter = re.flatMap((r, i) => [r, im[i]]);
    const x = f32([1, n, 2], inter);
    const f = run1("DFT", [["x", x]]);
    const wantF = naiveDft(
      Array.from(x.data as Float32Array).filter((_, i) => i % 2 === 0),
      Array.from(x.data as Float32Array).filter((_, i) => i % 2 === 1),
    );
    near(f, wantF, `forward n=${n}`, 1e-5);
    const inv = run1("DFT", [["x", x]], { inverse: 1 });
    const wantI = naiveDft(
      Array.from(x.data as Float32Array).filter((_, i) => i % 2 === 0),
      Array.from(x.data as Float32Array).filter((_, i) => i % 2 === 1),
      true,
    );
    near(inv, wantI, `inverse n=${n}`, 1e-5);
  }
});

Deno.test("STFT frames the signal, applies the window and keeps the onesided bins", () => {
  const sig = [0, 1, 2, 3, 2, 1, 0, -1];
  const x = f32([1, 8, 1], sig);
  const win = [0.5, 1, 1, 0.5];
  // Frames start at 0, 2, 4: (8 - 4) / 2 + 1 = 3 frames of 3 bins.
  const want: number[] = [];
  for (const start of [0, 2, 4]) {
    const frame = win.map((w, j) => w * sig[start + j]);
    want.push(...naiveDft(frame, [0, 0, 0, 0]).slice(0, 6));
  }
  const y = run1("STFT", [["x", x], ["step", i64([2])], ["w", f32([4], win)]]);
  assert.deepEqual(y.shape, [1, 3, 3, 2]);
  near(y, want, "windowed");
  const plain = run1("STFT", [["x", x], ["step", i64([2])], null, ["len", i64([4])]], { onesided: 0 });
  assert.deepEqual(plain.shape, [1, 3, 4, 2]);
  const wantPlain: number[] = [];
  for (const start of [0, 2, 4]) wantPlain.push(...naiveDft(sig.slice(start, start + 4), [0, 0, 0, 0]));
  near(plain, wantPlain, "two-sided, no window");
  assert.throws(
    () => run1("STFT", [["x", x], ["step", i64([2])], ["w", f32([4], win)], ["len", i64([3])]]),
    LatheError,
  );
});

Deno.test("Hann, Hamming and Blackman windows, periodic and symmetric", () => {
  const a = 25 / 46;
  const cases: [string, number, number, number[]][] = [
    ["HannWindow", 4, 1, [0, 0.5, 1, 0.5]],
    ["HannWindow", 5, 0, [0, 0.5, 1, 0.5, 0]],
    ["HammingWindow", 4, 1, [2 * a - 1, a, 1, a]],
    ["BlackmanWindow", 4, 1, [0, 0.34, 1, 0.34]],
    ["BlackmanWindow", 5, 0, [0, 0.34, 1, 0.34, 0]],
  ];
  for (const [op, n, periodic, want] of cases) {
    const y = run1(op, [["n", new Tensor("i32", [], Int32Array.of(n))]], { periodic });
    assert.equal(y.dtype, "f32");
    near(y, want, `${op}(${n}, periodic=${periodic})`, 1e-6);
  }
  const d = run1("HannWindow", [["n", i64([4])]], { output_datatype: 11 });
  assert.equal(d.dtype, "f64");
  near(d, [0, 0.5, 1, 0.5], "f64 output", 1e-12);
});

Deno.test("MelWeightMatrix: triangles between mel-spaced DFT bins", () => {
  // 2 mel bins over [0, 4000] Hz, dft_length 8 at 8 kHz: the 4 mel points fall in bins 0, 0, 1, 2
  // (426.8, 1113.8 and 2219.8 Hz times 9/8000), giving a unit peak in bin 0 and one in bin 1.
  const i = (v: number) => new Tensor("i32", [], Int32Array.of(v));
  const y = run1("MelWeightMatrix", [
    ["mels", i(2)],
    ["dft", i(8)],
    ["rate", i(8000)],
    ["lo", f32([], [0])],
    ["hi", f32([], [4000])],
  ]);
  assert.deepEqual(y.shape, [5, 2]);
  near(y, [1, 0, 0, 1, 0, 0, 0, 0, 0, 0], "weights");
});
