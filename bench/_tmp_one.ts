import "../runtime/kernels/index.ts";
import { tensor } from "../tests/support/ort-node.ts";
import { GraphBuilder } from "../ir/builder.ts";
import { Session } from "../runtime/interpreter.ts";
import { toConstant } from "../runtime/tensor.ts";
function rnd(n: number, lo: number, hi: number, seed: number) { let s = seed; return Array.from({length:n}, () => { s = (Math.imul(s,1664525)+1013904223)>>>0; return lo + (s % (hi-lo+1)); }); }
const [C, M, H, k, g] = (Deno.args[0] ?? "16,96,112,1,1").split(",").map(Number);
const x = tensor("u8", [1, C, H, H], rnd(C*H*H, 0, 255, 1));
const w = tensor("i8", [M, C/g, k, k], rnd(M*C/g*k*k, -127, 127, 2));
const c = {
  op: "QLinearConv",
  attrs: { group: g, pads: [k>>1,k>>1,k>>1,k>>1] },
  inputs: [
    { name: "x", tensor: x }, { name: "xs", tensor: tensor("f32", [], [0.02]), constant: true }, { name: "xz", tensor: tensor("u8", [], [128]), constant: true },
    { name: "w", tensor: w, constant: true }, { name: "ws", tensor: tensor("f32", [M], rnd(M, 1, 10, 3).map((v) => v / 1000)), constant: true }, { name: "wz", tensor: tensor("i8", [M], new Array(M).fill(0)), constant: true },
    { name: "ys", tensor: tensor("f32", [], [0.05]), constant: true }, { name: "yz", tensor: tensor("u8", [], [100]), constant: true },
  ],
  outputs: 1,
};
const b = new GraphBuilder();
const feeds: any = {};
const names = c.inputs.map((o: any) => o.constant ? b.constant(o.name, toConstant(o.tensor)) : (feeds[o.name] = o.tensor, b.input(o.name, o.tensor.dtype, o.tensor.shape)));
const outs = b.op("QLinearConv", names, c.attrs as any, 1);
const sess = new Session(b.build(outs));
const run = () => sess.run(feeds);
for (let i = 0; i < 3; i++) run();
let best = Infinity;
for (let i = 0; i < 10; i++) { const t0 = performance.now(); run(); best = Math.min(best, performance.now() - t0); }
const macs = M * (C / g) * k * k * H * H;
console.log(Deno.args[0], best.toFixed(2), "ms", (macs / best / 1e6).toFixed(2), "GMAC/s");
(globalThis as any).TT = 0; (globalThis as any).TR = 0;
for (let i = 0; i < 10; i++) run();
console.log("kernel", (globalThis as any).TT / 10, "requant", (globalThis as any).TR / 10);
