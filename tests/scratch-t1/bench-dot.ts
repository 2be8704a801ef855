const M = 256, N = 64, K = 576;
const xb = new Int8Array(M * K).map((_, i) => (i * 31) % 255 - 127), wb = new Int8Array(N * K).map((_, i) => (i * 17) % 255 - 127);
function run1(x: any, w: any, out: Int32Array) { // current
  for (let r = 0; r < M; r++) { const xo = r * K;
    for (let c = 0; c < N; c += 4) { const w0 = c * K, w1 = w0 + K, w2 = w1 + K, w3 = w2 + K; let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (let i = 0; i < K; i++) { const v = x[xo + i]; a0 += v * w[w0 + i]; a1 += v * w[w1 + i]; a2 += v * w[w2 + i]; a3 += v * w[w3 + i]; }
      out[r * N + c] = a0; out[r * N + c + 1] = a1; out[r * N + c + 2] = a2; out[r * N + c + 3] = a3; } } }
function run2(x: Int32Array, w: Int32Array, out: Int32Array) { // 4x4 blocking int32
  for (let r = 0; r < M; r += 4) { const x0 = r * K, x1 = x0 + K, x2 = x1 + K, x3 = x2 + K;
    for (let c = 0; c < N; c += 4) { const w0 = c * K, w1 = w0 + K, w2 = w1 + K, w3 = w2 + K;
      let a00=0,a01=0,a02=0,a03=0,a10=0,a11=0,a12=0,a13=0,a20=0,a21=0,a22=0,a23=0,a30=0,a31=0,a32=0,a33=0;
      for (let i = 0; i < K; i++) { const u0 = x[x0+i], u1 = x[x1+i], u2 = x[x2+i], u3 = x[x3+i]; const v0 = w[w0+i], v1 = w[w1+i], v2 = w[w2+i], v3 = w[w3+i];
        a00 += u0*v0; a01 += u0*v1; a02 += u0*v2; a03 += u0*v3; a10 += u1*v0; a11 += u1*v1; a12 += u1*v2; a13 += u1*v3;
        a20 += u2*v0; a21 += u2*v1; a22 += u2*v2; a23 += u2*v3; a30 += u3*v0; a31 += u3*v1; a32 += u3*v2; a33 += u3*v3; }
      let o = r * N + c; out[o]=a00;out[o+1]=a01;out[o+2]=a02;out[o+3]=a03; o += N; out[o]=a10;out[o+1]=a11;out[o+2]=a12;out[o+3]=a13;
      o += N; out[o]=a20;out[o+1]=a21;out[o+2]=a22;out[o+3]=a23; o += N; out[o]=a30;out[o+1]=a31;out[o+2]=a32;out[o+3]=a33; } } }
const out = new Int32Array(M * N), out2 = new Int32Array(M * N);
const xi = Int32Array.from(xb), wi = Int32Array.from(wb);
const xf = Float64Array.from(xb), wf = Float64Array.from(wb);
for (const [name, f] of [["int8", () => run1(xb, wb, out)], ["uint8 mixed", () => run1(new Uint8Array(xb.buffer), wb, out)], ["i32 1x4", () => run1(xi, wi, out)], ["i32 4x4", () => run2(xi, wi, out2)], ["f64 4x4", () => run2(xf as any, wf as any, out2)]] as const) {
  for (let k = 0; k < 3; k++) f();
  const t0 = performance.now(); for (let k = 0; k < 20; k++) f(); const dt = performance.now() - t0;
  console.log(name, (20 * M * N * K / dt / 1e3).toFixed(0), "MMAC/s");
}
run1(xi, wi, out); run2(xi, wi, out2); console.log(out.every((v, i) => v === out2[i]));
