/**
 * Inputs for `diff`: images decoded and preprocessed into tensors (checked against the pixels the test
 * wrote and hand-computed normalization and bilinear values), folders of .npy samples, per-sample
 * sub-folders, seeded random samples, and preprocessing specs that are refused with a reason.
 */
import assert from "node:assert/strict";
import jpeg from "jpeg-js";
import pngjs from "pngjs";
import { GraphBuilder } from "../ir/builder.ts";
import { LatheError } from "../ir/errors.ts";
import { writeNpy } from "../compiler/npy.ts";
import { loadInputs } from "../compiler/diff/inputs.ts";
import {
  checkPreprocessSpec,
  decodeImage,
  imageTensor,
  resizeBilinear,
} from "../compiler/diff/preprocess.ts";
import { Tensor } from "../runtime/tensor.ts";

function pngBytes(w: number, h: number, rgba: number[]): Uint8Array {
  const png = new pngjs.PNG({ width: w, height: h });
  png.data.set(rgba);
  return new Uint8Array(pngjs.PNG.sync.write(png));
}

function imageModel(shape: number[]) {
  const b = new GraphBuilder();
  const x = b.input("x", "f32", shape);
  return b.build([b.op1("Relu", [x])]);
}

Deno.test("a PNG becomes an NCHW tensor: channel order, scale, mean and std", () => {
  // Two pixels: (255, 0, 51) and (0, 102, 255), alpha dropped.
  const img = decodeImage(pngBytes(2, 1, [255, 0, 51, 255, 0, 102, 255, 128]), "two.png");
  assert.deepEqual([...img.rgb], [255, 0, 51, 0, 102, 255]);
  const t = imageTensor(img, [1, 3, 1, 2], "f32", { mean: [0.5], std: [0.25] });
  // (p/255 − 0.5) / 0.25 per channel plane: R = [2, −2], G = [−2, −0.4], B = [−1.2, 2].
  assert.deepEqual(t.shape, [1, 3, 1, 2]);
  const want = [2, -2, -2, -0.4, -1.2, 2];
  [...(t.data as Float32Array)].forEach((v, i) =>
    assert.ok(Math.abs(v - want[i]) < 1e-6, `${i}: ${v} vs ${want[i]}`)
  );
  const bgr = imageTensor(img, [1, 1, 2, 3], "f32", { channels: "bgr", scale: 1 });
  assert.deepEqual(
    [...(bgr.data as Float32Array)],
    [51, 0, 255, 255, 102, 0],
    "NHWC from the shape, BGR, raw pixels",
  );
  const gray = imageTensor(img, [1, 1, 1, 2], "f32", { channels: "gray", scale: 1, layout: "nchw" });
  const y0 = 0.299 * 255 + 0.114 * 51, y1 = 0.587 * 102 + 0.114 * 255;
  assert.ok(
    Math.abs((gray.data as Float32Array)[0] - y0) < 1e-3 &&
      Math.abs((gray.data as Float32Array)[1] - y1) < 1e-3,
  );
});

Deno.test("bilinear resizing with half-pixel centres", () => {
  // A 2×1 row [0, 100] to 4 wide: source x = (x + 0.5)/2 − 0.5 = −0.25, 0.25, 0.75, 1.25 → 0, 25, 75, 100.
  const r = resizeBilinear({ width: 2, height: 1, rgb: new Uint8Array([0, 0, 0, 100, 100, 100]) }, 1, 4);
  assert.deepEqual([...r].filter((_, i) => i % 3 === 0), [0, 25, 75, 100]);
  const t = imageTensor(
    { width: 2, height: 1, rgb: new Uint8Array([0, 0, 0, 100, 100, 100]) },
    [1, 3, 1, 4],
    "f32",
    { scale: 1 },
  );
  assert.deepEqual(
    [...(t.data as Float32Array)].slice(0, 4),
    [0, 25, 75, 100],
    "the spec's size defaults to the input's",
  );
});

Deno.test("a JPEG decodes to its colour (quality 100, solid colour)", () => {
  const data = new Uint8Array(8 * 8 * 4);
  for (let i = 0; i < 64; i++) data.set([200, 40, 90, 255], 4 * i);
  const j = jpeg.encode({ data, width: 8, height: 8 }, 100);
  const img = decodeImage(new Uint8Array(j.data), "solid.jpg");
  assert.equal(img.width, 8);
  for (let i = 0; i < 64; i++) {
    for (const [c, v] of [200, 40, 90].entries()) {
      assert.ok(Math.abs(img.rgb[3 * i + c] - v) <= 3, `pixel ${i} channel ${c}: ${img.rgb[3 * i + c]}`);
    }
  }
  assert.throws(
    () => decodeImage(new Uint8Array([1, 2, 3, 4]), "x.png"),
    (e) => e instanceof LatheError && /bad magic/.test(e.message),
  );
  assert.throws(
    () => decodeImage(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0, 1]), "x.png"),
    LatheError,
  );
});

Deno.test("input folders: images, .npy files, per-sample folders; seeded random samples", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const g = imageModel([1, 3, 2, 2]);
    await Deno.mkdir(`${dir}/img`);
    await Deno.writeFile(`${dir}/img/b.png`, pngBytes(1, 1, [255, 255, 255, 255]));
    await Deno.writeFile(`${dir}/img/a.png`, pngBytes(1, 1, [0, 0, 0, 255]));
    const imgs = await loadInputs(g, { dir: `${dir}/img` });
    assert.deepEqual(imgs.names, ["a.png", "b.png"]);
    assert.deepEqual(
      [...(imgs.samples[1].x.data as Float32Array)],
      new Array(12).fill(1),
      "1×1 white resized to 2×2, /255",
    );
    await Deno.mkdir(`${dir}/npy`);
    await writeNpy(`${dir}/npy/s0.npy`, new Tensor("f32", [1, 3, 2, 2], new Float32Array(12).fill(7)));
    const npy = await loadInputs(g, { dir: `${dir}/npy` });
    assert.equal((npy.samples[0].x.data as Float32Array)[11], 7);
    const two = new GraphBuilder();
    const a = two.input("a b", "f32", [2]), c = two.input("c", "f32", [2]);
    const g2 = two.build([two.op1("Add", [a, c])]);
    await Deno.mkdir(`${dir}/multi/k1`, { recursive: true });
    await writeNpy(`${dir}/multi/k1/a_b.npy`, new Tensor("f32", [2], new Float32Array([1, 2])));
    await writeNpy(`${dir}/multi/k1/c.npy`, new Tensor("f32", [2], new Float32Array([3, 4])));
    const multi = await loadInputs(g2, { dir: `${dir}/multi` });
    assert.deepEqual([...(multi.samples[0]["a b"].data as Float32Array)], [1, 2]);
    await assert.rejects(
      () => loadInputs(g2, { dir: `${dir}/npy` }),
      (e) => e instanceof LatheError && /sub-folder per sample/.test(e.message),
    );
    const r1 = await loadInputs(g, { count: 3, seed: 5 }), r2 = await loadInputs(g, { count: 3, seed: 5 });
    assert.deepEqual(
      [...(r1.samples[2].x.data as Float32Array)],
      [...(r2.samples[2].x.data as Float32Array)],
      "reproducible",
    );
    assert.notDeepEqual([...(r1.samples[0].x.data as Float32Array)], [
      ...(r1.samples[1].x.data as Float32Array),
    ]);
    const ranged = await loadInputs(g, { count: 1, range: [10, 20] });
    assert.ok([...(ranged.samples[0].x.data as Float32Array)].every((v) => v >= 10 && v < 20));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("preprocessing specs are checked field by field", () => {
  assert.deepEqual(checkPreprocessSpec({ size: [224, 224], channels: "bgr", mean: [1, 2, 3] }, "p.json"), {
    size: [224, 224],
    channels: "bgr",
    mean: [1, 2, 3],
  });
  for (
    const bad of [{ size: [0, 3] }, { layout: "chw" }, { std: [0] }, { colour: "rgb" }, { scale: "1" }, []]
  ) {
    assert.throws(
      () => checkPreprocessSpec(bad, "p.json"),
      (e) => e instanceof LatheError && e.kind === "usage",
      JSON.stringify(bad),
    );
  }
});
