/**
 * The x86 activation quantizers (runtime/ggml/x86-activation.ts) against ggml's CPU backend from_float on
 * this machine (through FFI): bytes must be identical, including halfway cases, zero blocks and extremes.
 */
import assert from "node:assert/strict";
import { quantizeQ8_0X86, quantizeQ8_1X86 } from "../runtime/ggml/x86-activation.ts";
import { type Ggml, loadGgml } from "./ffi/ggml.ts";

const loaded = loadGgml();
const ggml: Ggml | undefined = typeof loaded === "string" ? undefined : loaded;
const noAvx = ggml !== undefined && /-(x64|sse42)\.so$/.test(ggml.cpuVariant);
if (!ggml) console.warn(`SKIP x86 activation quantizer tests: ${loaded}`);
else if (noAvx) {
  console.warn(`SKIP x86 activation quantizer tests: ggml picked ${ggml.cpuVariant}, which has no AVX`);
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Blocks of 32 of different kinds: gaussian-ish, halfway cases (x * 127/amax = k + 0.5), zeros, one spike. */
function inputs(): Float32Array {
  const rnd = mulberry32(3);
  const x = new Float32Array(32 * 64);
  for (let b = 0; b < 64; b++) {
    for (let j = 0; j < 32; j++) {
      const i = b * 32 + j;
      switch (b % 4) {
        case 0:
          x[i] = (rnd() - 0.5) * 4;
          break;
        case 1:
          // amax 127 makes the inverse scale exactly 1, so k + 0.5 lands on a tie.
          x[i] = j === 0 ? 127 : (j % 2 ? 1 : -1) * (Math.floor(rnd() * 100) + 0.5);
          break;
        case 2:
          x[i] = 0;
          break;
        default:
          x[i] = j === 5 ? 1e4 : rnd() * 1e-3;
      }
    }
  }
  return x;
}

for (
  const [typeId, name, f, blockBytes] of [[8, "Q8_0", quantizeQ8_0X86, 34], [
    9,
    "Q8_1",
    quantizeQ8_1X86,
    36,
  ]] as const
) {
  Deno.test({
    name: `x86 ${name} activation quantizer equals ggml's CPU from_float`,
    ignore: !ggml || noAvx,
    fn() {
      const x = inputs();
      const want = ggml!.cpuFromFloat(typeId, x);
      const got = new Uint8Array((x.length / 32) * blockBytes);
      f(x, 0, got, 0, x.length);
      assert.deepEqual(got, want);
    },
  });
}
