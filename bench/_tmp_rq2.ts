import { srdhm } from "../runtime/tflite/fixed-point.ts";
const n = 200704, O = 64;
const acc = new Float64Array(n); for (let i = 0; i < n; i++) acc[i] = ((i * 7919) % 400000) - 200000;
const out = new Int8Array(n);
const multiplier = new Int32Array(O).fill(1500000000), shift = new Int32Array(O).fill(-9);
function row(accAt: number, outAt: number, zp: number, lo: number, hi: number) {
  for (let o = 0; o < O; o++) {
    let x = acc[accAt + o] | 0;
    const sh = shift[o];
    if (sh > 0) x = Math.imul(x, 1 << sh);
    let v: number;
    if (x < 2097152 && x > -2097152) {
      const prod = x * multiplier[o];
      v = Math.trunc((prod + (prod >= 0 ? 1073741824 : -1073741823)) / 2147483648) | 0;
    } else v = srdhm(x, multiplier[o]);
    if (sh < 0) {
      const e = -sh;
      const mask = e === 31 ? 0x7fffffff : (1 << e) - 1;
      v = (v >> e) + ((v & mask) > (mask >> 1) + (v < 0 ? 1 : 0) ? 1 : 0);
    }
    v += zp;
    out[outAt + o] = v < lo ? lo : v > hi ? hi : v;
  }
}
for (let k = 0; k < 8; k++) { const t0 = performance.now(); for (let p = 0; p < n / O; p++) row(p * O, p * O, 3, -128, 127); console.log((performance.now() - t0).toFixed(2)); }
