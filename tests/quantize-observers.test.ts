/** Calibration observers and affine parameters against values worked by hand. */
import assert from "node:assert/strict";
import { activationParams, quantizeBias, quantizeWeightsPerChannel } from "../passes/quantize/affine.ts";
import {
  EntropyObserver,
  Histogram,
  MinMaxObserver,
  MseObserver,
  PercentileObserver,
} from "../passes/quantize/observers.ts";
import { LatheError } from "../ir/errors.ts";

Deno.test("minmax: extremes over all batches, widened to include zero", () => {
  const o = new MinMaxObserver();
  o.observe([-1, 3, 2]);
  o.observe([0.5]);
  assert.deepEqual(o.range(), { lo: -1, hi: 3 });
  const p = new MinMaxObserver();
  p.observe([1, 2]);
  assert.deepEqual(p.range(), { lo: 0, hi: 2 });
});

Deno.test("histogram: bins around zero, widening merges counts exactly", () => {
  const h = new Histogram(4);
  h.add([0.5, -0.25]); // limit 0.5, width 0.125: 0.5 lands in the last bin, -0.25 in bin 2
  assert.deepEqual([...h.counts], [0, 0, 1, 0, 0, 0, 0, 1]);
  h.add([1.0]); // limit doubles to 1: bin i moves to 4 + floor((i − 4) / 2); 1.0 in the last bin
  assert.equal(h.limit, 1);
  assert.deepEqual([...h.counts], [0, 0, 0, 1, 0, 1, 0, 1]);
  assert.equal(h.total, 3);
  assert.throws(() => h.add([Infinity]), LatheError);
});

Deno.test("percentile: the 99th percentile of an even spread", () => {
  const o = new PercentileObserver({ percentile: 99, halfBins: 1024 });
  const x = Array.from({ length: 10000 }, (_, i) => i / 9999);
  o.observe(x);
  const r = o.range();
  assert.equal(r.lo, 0);
  assert.ok(Math.abs(r.hi - 0.99) < 2 / 1024, `hi ${r.hi}`);
});

function bulkWithOutliers(): number[] {
  const x: number[] = [];
  for (let i = 0; i < 20000; i++) x.push(((i * 7919) % 1000) / 1000); // spread over [0, 1)
  x.push(50, 60);
  return x;
}

Deno.test("entropy clips rare outliers that minmax keeps", () => {
  const x = bulkWithOutliers();
  const o = new EntropyObserver({});
  o.observe(x);
  const r = o.range();
  assert.equal(r.lo, 0);
  assert.ok(r.hi < 30 && r.hi >= 0.9, `hi ${r.hi}`);
  const m = new MinMaxObserver();
  m.observe(x);
  assert.equal(m.range().hi, 60);
});

/** Mean squared error of quantizing the samples themselves to `levels` levels on [0, hi]. */
function sampleError(x: readonly number[], hi: number, levels: number): number {
  const step = hi / (levels - 1);
  let e = 0;
  for (const v of x) {
    const q = Math.min(levels - 1, Math.max(0, Math.round(v / step)));
    e += (v - q * step) ** 2;
  }
  return e / x.length;
}

Deno.test("mse: the chosen range is as good as a brute-force search on the samples", () => {
  const x = bulkWithOutliers();
  for (const bits of [4, 8]) {
    const o = new MseObserver({ bits });
    o.observe(x);
    const r = o.range();
    let best = Infinity;
    for (let hi = 0.5; hi <= 60; hi += 0.05) best = Math.min(best, sampleError(x, hi, 2 ** bits));
    const got = sampleError(x, r.hi, 2 ** bits);
    assert.ok(got <= best * 1.1, `${bits} bits: hi ${r.hi} gives ${got}, brute force ${best}`);
  }
});

Deno.test("activation parameters: scale (hi − lo)/255 in f32, zero point rounded onto the grid", () => {
  const u = activationParams({ lo: -1, hi: 3 }, "u8");
  assert.equal(u.scale, Math.fround(4 / 255));
  assert.equal(u.zeroPoint, 64); // 1 / (4/255) = 63.75
  const s = activationParams({ lo: -1, hi: 3 }, "i8");
  assert.equal(s.zeroPoint, -64); // −128 + 63.75
  assert.deepEqual(activationParams({ lo: 0, hi: 0 }, "u8"), { scale: 1, zeroPoint: 0, qmin: 0, qmax: 255 });
});

Deno.test("weights: symmetric int8 per channel; bias int32 at s_x·s_w", () => {
  const { codes, scales } = quantizeWeightsPerChannel(
    new Float32Array([0.5, -1.0, 0.25, 0, 0, 0]),
    [2, 3],
    0,
  );
  assert.deepEqual([...scales], [Math.fround(1 / 127), 1]);
  assert.deepEqual([...codes], [64, -127, 32, 0, 0, 0]); // 63.5 → 64 (half to even), 31.75 → 32
  // Along axis 1 of [2, 2]: columns (1, −3) and (2, 4).
  const col = quantizeWeightsPerChannel(new Float32Array([1, 2, -3, 4]), [2, 2], 1);
  assert.deepEqual([...col.scales], [Math.fround(3 / 127), Math.fround(4 / 127)]);
  assert.deepEqual([...col.codes], [42, 64, -127, 127]); // 1/(3/127) = 42.33, 2/(4/127) = 63.5 → 64
  const b = quantizeBias(new Float32Array([0.1, -0.25]), 0.02, new Float32Array([0.5, 0.25]));
  assert.deepEqual([...b.scales], [Math.fround(0.01), Math.fround(0.005)]);
  assert.deepEqual([...b.codes], [10, -50]);
});
