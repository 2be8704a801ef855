import { igemm } from "../runtime/gemm/igemm.ts";
function rnd(n: number, seed: number) { let s = seed; const o = new Uint8Array(n); for (let i=0;i<n;i++){ s = (Math.imul(s,1664525)+1013904223)>>>0; o[i] = s & 255; } return o; }
const [M,N,K] = [96, 12544, 16];
const A = new Int8Array(rnd(M*K,1).buffer), B = rnd(K*N,2);
const c = new Int32Array(M*N);
const key = { data: A };
const a = {view:{data:A,off:0,rs:K,cs:1}, zp: new Int8Array(M), key}, b = {view:{data:B,off:0,rs:N,cs:1}, zp: 128};
for (let i=0;i<3;i++) igemm(M,N,K,a,b,{data:c,off:0,rs:N});
let best = Infinity;
for (let i=0;i<10;i++){ const t0=performance.now(); igemm(M,N,K,a,b,{data:c,off:0,rs:N}); best=Math.min(best, performance.now()-t0); }
console.log(`${M}x${N}x${K}`, best.toFixed(2), "ms", (M*N*K/best/1e6).toFixed(2), "GMAC/s");
