import { igemm, igemmJS, igemmSimdAvailable } from "../runtime/gemm/igemm.ts";
console.log("simd", igemmSimdAvailable());
function rnd(n: number, lo: number, hi: number, seed: number) { let s = seed; return Array.from({length:n}, () => { s = (Math.imul(s,1664525)+1013904223)>>>0; return lo + (s % (hi-lo+1)); }); }
for (const [M,N,K] of [[1,1,1],[5,9,17],[13,31,33],[64,200,300],[7,8,16],[3,3,2]]) {
  const A = Int8Array.from(rnd(M*K,-128,127,M*7+1)), B = Uint8Array.from(rnd(K*N,0,255,N*3+5));
  const c1 = new Int32Array(M*N), c2 = new Int32Array(M*N);
  const a = {view:{data:A,off:0,rs:K,cs:1}, zp: 3}, b = {view:{data:B,off:0,rs:N,cs:1}, zp: 130};
  igemm(M,N,K,a,b,{data:c1,off:0,rs:N}); igemmJS(M,N,K,a,b,{data:c2,off:0,rs:N});
  let bad = 0; for (let i=0;i<M*N;i++) if (c1[i]!==c2[i]) bad++;
  console.log(M,N,K,"mismatch",bad, c1.slice(0,4), c2.slice(0,4));
}
