import { srdhm } from "../runtime/tflite/fixed-point.ts";
const n = 200704, O = 64;
const acc32 = new Int32Array(n); for (let i = 0; i < n; i++) acc32[i] = ((i * 7919) % 400000) - 200000;
const out = new Int8Array(n);
const bias = new Float64Array(O).fill(300);
const r = { multiplier: new Int32Array(O).fill(1500000000), shift: new Int32Array(O).fill(-9), zp: 3, lo: -128, hi: 127, int64: false };
function requantizeInt32(acc32: Int32Array, rows: number, O: number, bias: Float64Array | undefined, r: any, out: Int8Array | Uint8Array, outAt: number): void {
  const { multiplier, shift, zp, lo, hi } = r;
  for (let p = 0, i = 0; p < rows; p++) {
    for (let o = 0; o < O; o++, i++) {
      let x = bias === undefined ? acc32[i] : (acc32[i] + bias[o]) | 0;
      const sh = shift[o];
      if (sh > 0) x = Math.imul(x, 1 << sh);
      let v: number;
      if (x < 2097152 && x > -2097152) {
        const prod = x * multiplier[o];
        v = Math.trunc((prod + (prod >= 0 ? 1073741824 : -1073741823)) * 4.656612873077393e-10) | 0;
      } else v = srdhm(x, multiplier[o]);
      if (sh < 0) {
        const e = -sh;
        const mask = e === 31 ? 0x7fffffff : (1 << e) - 1;
        v = (v >> e) + ((v & mask) > (mask >> 1) + (v < 0 ? 1 : 0) ? 1 : 0);
      }
      v += zp;
      out[outAt + i] = v < lo ? lo : v > hi ? hi : v;
    }
  }
}
for (let k = 0; k < 8; k++) { const t0 = performance.now(); requantizeInt32(acc32, n / O, O, bias, r, out, 0); console.log((performance.now() - t0).toFixed(2)); }
