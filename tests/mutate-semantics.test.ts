/**
 * What a recorded fault means, checked in onnxruntime against the original model: the variant computes what
 * the manifest says it computes, derived by hand from the fault (reversed channels, a re-declared layout, a
 * value range, a padding moved by one pixel, a kernel with rows and columns swapped, a flipped comparison,
 * int8 rounding with the recorded scale).
 */
import assert from "node:assert/strict";
import { defaultModel } from "../compiler/default-model.ts";
import { type MutateManifest, mutateModel, type VariantEntry } from "../compiler/mutate/mutate.ts";
import { writeOnnxFile } from "../compiler/onnx/export.ts";
import { importOnnxFile } from "../compiler/onnx/import.ts";
import { GraphBuilder, modelOf, numbersConstant } from "../ir/builder.ts";
import { constantNumbers } from "../ir/constant-values.ts";
import type { Model } from "../ir/graph.ts";
import { Rng } from "../runtime/random.ts";
import { Tensor } from "../runtime/tensor.ts";
import { ortSession, runOrt } from "./reference/onnxruntime.ts";

const dir = await Deno.makeTempDir({ prefix: "lathe-mutate-semantics-" });
addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

async function ort(file: string, inputs: Record<string, Tensor>): Promise<Float32Array> {
  const s = await ortSession(file);
  try {
    const out = await runOrt(s, inputs);
    return Float32Array.from(Object.values(out)[0].data as Float32Array);
  } finally {
    await s.release();
  }
}

function seeded(n: number, seed: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => r.uniform(-1, 1));
}

function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, what: string, tol = 1e-5): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++) {
    assert.ok(
      Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(b[i])),
      `${what}: element ${i}: ${a[i]} vs ${b[i]}`,
    );
  }
}

/** Mutates a model written to DIR/name.onnx with one kind; the first seed whose variant passes `want`. */
async function mutateOne(
  model: Model,
  name: string,
  kind: string,
  want: (v: VariantEntry) => boolean = () => true,
): Promise<{ src: string; v: VariantEntry; m: MutateManifest; file: string }> {
  const src = `${dir}/${name}.onnx`;
  await writeOnnxFile(src, model);
  for (let seed = 0; seed < 20; seed++) {
    const out = `${dir}/${name}-${kind}-${seed}`;
    const r = await mutateModel({ model: src, out, kinds: [kind], seed });
    const v = r.manifest.variants[0];
    if (v && want(v)) return { src, v, m: r.manifest, file: `${out}/${v.file}` };
  }
  throw new Error(`no seed gives the wanted ${kind} variant`);
}

/** x[n][c][h][w] for NCHW data. */
const at = (x: Float32Array, [, c, h, w]: number[], n: number, ch: number, y: number, z: number) =>
  x[((n * c + ch) * h + y) * w + z];

function nchwToNhwc(x: Float32Array, s: number[]): Float32Array {
  const [n, c, h, w] = s, out = new Float32Array(x.length);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < h; y++) {
        for (let z = 0; z < w; z++) out[((b * h + y) * w + z) * c + ch] = at(x, s, b, ch, y, z);
      }
    }
  }
  return out;
}

function swapHw(x: Float32Array, s: number[]): Float32Array {
  const [n, c, h, w] = s, out = new Float32Array(x.length);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < h; y++) {
        for (let z = 0; z < w; z++) out[((b * c + ch) * w + z) * h + y] = at(x, s, b, ch, y, z);
      }
    }
  }
  return out;
}

const IMG = [1, 3, 32, 32];

Deno.test("input-channel-order: the variant on x is the original on x with channels reversed", async () => {
  const { src, file } = await mutateOne(defaultModel(), "default", "input-channel-order");
  const x = seeded(3 * 32 * 32, 1);
  const bgr = new Float32Array(x.length);
  for (let c = 0; c < 3; c++) bgr.set(x.subarray(c * 1024, (c + 1) * 1024), (2 - c) * 1024);
  assertClose(
    await ort(file, { image: new Tensor("f32", IMG, x) }),
    await ort(src, { image: new Tensor("f32", IMG, bgr) }),
    "channels",
  );
});

Deno.test("input-layout: the variant fed NHWC data computes what the original computes on the NCHW data", async () => {
  const { src, file, v } = await mutateOne(defaultModel(), "default", "input-layout");
  assert.deepEqual(v.params.shapeAfter, [1, 32, 32, 3]);
  const x = seeded(3 * 32 * 32, 2);
  assertClose(
    await ort(file, { image: new Tensor("f32", [1, 32, 32, 3], nchwToNhwc(x, IMG)) }),
    await ort(src, { image: new Tensor("f32", IMG, x) }),
    "layout",
  );
});

Deno.test("input-scale: the variant on x is the original on x * scale + shift, per channel", async () => {
  const { src, file, v } = await mutateOne(
    defaultModel(),
    "default",
    "input-scale",
    (v) => (v.params.scale as number[]).length === 3,
  );
  const scale = v.params.scale as number[], shift = v.params.shift as number[];
  const x = seeded(3 * 32 * 32, 3);
  const y = x.map((e, i) =>
    Math.fround(
      Math.fround(e * Math.fround(scale[Math.floor(i / 1024)])) + Math.fround(shift[Math.floor(i / 1024)]),
    )
  );
  assertClose(
    await ort(file, { image: new Tensor("f32", IMG, x) }),
    await ort(src, { image: new Tensor("f32", IMG, y) }),
    "scale",
    1e-4,
  );
});

/** One 3x3 convolution, 3 -> 4 channels, pads 1, no bias. */
function oneConv(): Model {
  const r = new Rng(9);
  const b = new GraphBuilder("one-conv");
  const x = b.input("x", "f32", [1, 3, 8, 8]);
  const w = b.constant(
    "w",
    numbersConstant("f32", [4, 3, 3, 3], Array.from({ length: 108 }, () => r.normal())),
  );
  const y = b.op("Conv", [x, w], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, ["y"], "conv")[0];
  return modelOf(b.build([y]));
}

Deno.test("conv-padding: pads [1,1,1,1] -> [2,2,0,0] shifts the output by one pixel down and right", async () => {
  const { src, file, v } = await mutateOne(oneConv(), "one-conv", "conv-padding");
  const change = v.changes.find((c) => c.type === "attribute")!;
  assert.deepEqual([
    change.type === "attribute" && change.before,
    change.type === "attribute" && change.after,
  ], [[1, 1, 1, 1], [2, 2, 0, 0]]);
  const x = new Tensor("f32", [1, 3, 8, 8], seeded(192, 4));
  const a = await ort(file, { x }), b = await ort(src, { x });
  const s = [1, 4, 8, 8];
  for (let c = 0; c < 4; c++) {
    for (let i = 1; i < 8; i++) {
      for (let j = 1; j < 8; j++) {
        assert.ok(Math.abs(at(a, s, 0, c, i, j) - at(b, s, 0, c, i - 1, j - 1)) < 1e-4);
      }
    }
  }
});

Deno.test("weights-transposed (rows and columns swapped): conv(x, W^T) is the transpose of conv(x^T, W)", async () => {
  const { src, file } = await mutateOne(
    oneConv(),
    "one-conv",
    "weights-transposed",
    (v) => v.params.dataLayout === "OIWH",
  );
  const x = seeded(192, 5);
  const a = await ort(file, { x: new Tensor("f32", [1, 3, 8, 8], x) });
  const b = await ort(src, { x: new Tensor("f32", [1, 3, 8, 8], swapHw(x, [1, 3, 8, 8])) });
  assertClose(a, swapHw(b, [1, 4, 8, 8]), "transposed kernel", 1e-4);
});

Deno.test("conditional-swapped on Relu: min(x, 0) = x - relu(x)", async () => {
  const b = new GraphBuilder("one-relu");
  const x = b.input("x", "f32", [2, 5]);
  const y = b.op("Relu", [x], {}, ["y"], "relu")[0];
  const { src, file, v } = await mutateOne(modelOf(b.build([y])), "one-relu", "conditional-swapped");
  assert.deepEqual(v.params, { from: "Relu", to: "Min" });
  const t = new Tensor("f32", [2, 5], seeded(10, 6));
  const relu = await ort(src, { x: t });
  assertClose(await ort(file, { x: t }), (t.data as Float32Array).map((e, i) => e - relu[i]), "min(x, 0)");
});

Deno.test("weights-int8: every weight is round(w / scale) * scale with the recorded scale, within half a step of w", async () => {
  const { src, file, v } = await mutateOne(defaultModel(), "default", "weights-int8");
  const c = v.changes.find((c) => c.type === "constant")!;
  assert.equal(c.type, "constant");
  if (c.type !== "constant") return;
  const scale = v.params.scale as number;
  const w = constantNumbers((await importOnnxFile(src)).graph.constants[c.clonedFrom ?? c.name], 1 << 20);
  const q = constantNumbers((await importOnnxFile(file)).graph.constants[c.name], 1 << 20);
  const max = Math.max(...w.map(Math.abs));
  assert.equal(scale, Math.fround(max / 127));
  for (let i = 0; i < w.length; i++) {
    const k = q[i] / scale;
    assert.ok(
      Math.abs(k - Math.round(k)) < 1e-3 && Math.abs(Math.round(k)) <= 127,
      `weight ${i} is not on the int8 grid`,
    );
    assert.ok(Math.abs(q[i] - w[i]) <= scale / 2 + 1e-7, `weight ${i} moved more than half a step`);
  }
});
