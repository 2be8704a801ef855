import { igemm } from "../runtime/gemm/igemm.ts";
function rnd(n: number, lo: number, hi: number, seed: number) { let s = seed; const o = new Int8Array(n); for (let i=0;i<n;i++){ s = (Math.imul(s,1664525)+1013904223)>>>0; o[i] = lo + (s % (hi-lo+1)); } return o; }
for (const [M,N,K] of [[64,3136,576],[256,196,2304],[64,3136,64],[256,784,128],[1280,49,320],[32,12544,27]]) {
  const A = rnd(M*K,-128,127,1), B = rnd(K*N,-128,127,2);
  const c = new Int32Array(M*N);
  const key = { data: A };
  const a = {view:{data:A,off:0,rs:K,cs:1}, zp: 0, key}, b = {view:{data:B,off:0,rs:N,cs:1}, zp: -3};
  for (let i=0;i<3;i++) igemm(M,N,K,a,b,{data:c,off:0,rs:N});
  let best = Infinity;
  for (let i=0;i<10;i++){ const t0=performance.now(); igemm(M,N,K,a,b,{data:c,off:0,rs:N}); best=Math.min(best, performance.now()-t0); }
  console.log(`${M}x${N}x${K}`, best.toFixed(2), "ms", (M*N*K/best/1e6).toFixed(2), "GMAC/s");
}
