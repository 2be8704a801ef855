/**
 * ggml block formats against values worked out by hand from formats.md §1.3–1.5 (no library needed).
 */
import assert from "node:assert/strict";
import { dequantize } from "../runtime/ggml/dequantize.ts";
import { quantize } from "../runtime/ggml/quantize.ts";
import { vecDot } from "../runtime/ggml/vec-dot.ts";
import { f32ToBf16Bits, f32ToF16Bits } from "../runtime/ggml/fp16.ts";
import { LatheError } from "../ir/errors.ts";

Deno.test("Q4_0 by hand: d = 0.5, qs[j] = j | (15 − j) << 4", () => {
  // d = 0.5 is f16 0x3800. Element j < 16 is the low nibble of qs[j] = j, so x = 0.5·(j − 8);
  // element j + 16 is the high nibble 15 − j, so x = 0.5·(7 − j).
  const block = new Uint8Array(18);
  block[0] = 0x00;
  block[1] = 0x38;
  for (let j = 0; j < 16; j++) block[2 + j] = j | ((15 - j) << 4);
  const expected = [
    -4,
    -3.5,
    -3,
    -2.5,
    -2,
    -1.5,
    -1,
    -0.5,
    0,
    0.5,
    1,
    1.5,
    2,
    2.5,
    3,
    3.5,
    3.5,
    3,
    2.5,
    2,
    1.5,
    1,
    0.5,
    0,
    -0.5,
    -1,
    -1.5,
    -2,
    -2.5,
    -3,
    -3.5,
    -4,
  ];
  assert.deepEqual([...dequantize(2, block, 32)], expected);
  // Quantizing those values: the signed max is −4 (the first of the two −4s), d = −4/−8 = 0.5,
  // q = min(15, trunc(x/0.5 + 8.5)) reproduces every nibble.
  assert.deepEqual([...quantize(2, new Float32Array(expected))], [...block]);
});

Deno.test("Q8_0 by hand: d = 0.25 dequantizes qs directly; quantize rounds half away from zero", () => {
  const block = new Uint8Array(34);
  block[0] = 0x00;
  block[1] = 0x34; // f16 0x3400 = 0.25
  const qs = [-128, 127, 1, -1, 0, 64, -64, 100];
  qs.forEach((q, j) => (block[2 + j] = q & 0xff));
  const x = dequantize(8, block, 32);
  assert.deepEqual([...x.slice(0, 8)], [-32, 31.75, 0.25, -0.25, 0, 16, -16, 25]);
  assert.deepEqual([...x.slice(8)], new Array(24).fill(0));

  // amax = 127 gives d = 1 (f16 0x3C00) and q = roundf(x): 2.5 → 3, −2.5 → −3, 0.5 → 1, −0.49 → 0.
  const input = new Float32Array(32);
  input.set([127, -127, 2.5, -2.5, 0.5, -0.49, 1.4, -1.6, 99.5, 63.49]);
  const q = quantize(8, input);
  assert.deepEqual([q[0], q[1]], [0x00, 0x3c]);
  assert.deepEqual([...new Int8Array(q.buffer, 2, 10)], [127, -127, 3, -3, 1, 0, 1, -2, 100, 63]);
});

Deno.test("Q4_0 × Q8_0 by hand: d_w·d_a·Σ(nib − 8)·q", () => {
  // Weights: d = 0.5, every nibble 9 (value +1 before scaling). Activations: d = 0.25, q = j − 16.
  const w = new Uint8Array(18);
  w[1] = 0x38;
  w.fill(0x99, 2);
  const a = new Uint8Array(34);
  a[1] = 0x34;
  for (let j = 0; j < 32; j++) a[2 + j] = (j - 16) & 0xff;
  // Σ_j 1·(j − 16) over j = 0..31 is −16; 0.5 · 0.25 · −16 = −2.
  assert.equal(vecDot(2, 32, w, a), -2);
});

Deno.test("MXFP4 by hand: x = 2^(e−127)·E2M1(code), code 8 is +0", () => {
  const block = new Uint8Array(17);
  block[0] = 128; // scale 2
  block[1] = 0x97; // element 0 code 7 (6), element 16 code 9 (−0.5)
  block[2] = 0x8f; // element 1 code 15 (−6), element 17 code 8 (0)
  const x = dequantize(39, block, 32);
  assert.equal(x[0], 12);
  assert.equal(x[16], -1);
  assert.equal(x[1], -12);
  assert.ok(Object.is(x[17], 0));
  // floor(log2 12) − 2 + 127 = 128; each value takes its table entry back, except that 0 takes the
  // first entry it ties with, code 0.
  const expected = block.slice();
  expected[2] = 0x0f;
  assert.deepEqual([...quantize(39, x)], [...expected]);
});

Deno.test("Q6_K by hand: x = d·scale[i/16]·(q − 32)", () => {
  const block = new Uint8Array(210);
  block[208] = 0x00;
  block[209] = 0x3c; // d = 1
  block[192] = 2; // scale of elements 0..15
  block[193] = -3 & 0xff; // scale of elements 16..31
  // Element 0: low nibble of ql[0], high bits qh[0] & 3 → q = 0x5 | (2 << 4) = 37 → 1·2·(37 − 32) = 10.
  block[0] = 0x05;
  block[128] = 0x02;
  // Element 16: ql[16] low nibble 0, qh[16] & 3 = 0 → q = 0 → 1·(−3)·(−32) = 96.
  const x = dequantize(14, block, 256);
  assert.equal(x[0], 10);
  assert.equal(x[16], 96);
  assert.equal(x[1], 2 * -32);
});

Deno.test("f16 and bf16 rounding: nearest even, overflow to infinity", () => {
  assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00); // halfway between 1 and 1+2^-10: even is 1
  assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02); // halfway, odd below: rounds up
  assert.equal(f32ToF16Bits(65520), 0x7c00);
  assert.equal(f32ToF16Bits(65519.99609375), 0x7bff);
  assert.equal(f32ToF16Bits(2 ** -25), 0x0000); // half the smallest subnormal: ties to even (0)
  assert.equal(f32ToF16Bits(-(2 ** -24)), 0x8001);
  assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80); // tie to even
  assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82);
});

Deno.test("block codecs reject counts that do not fill whole blocks", () => {
  assert.throws(() => dequantize(2, new Uint8Array(18), 31), LatheError);
  assert.throws(() => dequantize(2, new Uint8Array(17), 32), LatheError);
  assert.throws(() => quantize(12, new Float32Array(255)), LatheError);
  assert.throws(() => vecDot(12, 256, new Uint8Array(144), new Uint8Array(10)), LatheError);
  assert.throws(
    () => dequantize(16, new Uint8Array(66), 256),
    (e) => e instanceof LatheError && e.kind === "unsupported",
  );
});
