const n = 1204224, outCount = 12544, M = 96;
const acc = new Int32Array(n); for (let i = 0; i < n; i++) acc[i] = (i * 7919) % 40000 - 20000;
const y = new Uint8Array(n); const codes = new Int32Array(outCount);
const f = Math.fround;
function run(bias: Float64Array | undefined, yz: number, qmin: number, qmax: number) {
  for (let plane = 0, i = 0; i < acc.length; plane++) {
    const m = plane % M;
    const mult = f(0.001 * (m + 1)), b = bias ? bias[m] : 0;
    for (let o = 0; o < outCount; o++) {
      const v = f((acc[i + o] + b) * mult);
      let r = Math.round(v);
      if (r - v === 0.5 && (r & 1) !== 0) r -= 1;
      r += yz;
      codes[o] = r < qmin ? qmin : r > qmax ? qmax : r;
    }
    y.set(codes.subarray(0, outCount), i);
    i += outCount;
  }
}
for (let k = 0; k < 5; k++) { const t0 = performance.now(); run(undefined, 100, 0, 255); console.log((performance.now() - t0).toFixed(2)); }
const t0 = performance.now(); for (let plane = 0; plane < M; plane++) y.set(codes.subarray(0, outCount), plane * outCount); console.log("set only", (performance.now() - t0).toFixed(2));
