/**
 * Driver step for float32 ConvTranspose (2-D), which the secda targets leave on the CPU (DCGAN's
 * generator), bit for bit as Lathe's runtime computes it (runtime/kernels/conv-pool.ts): the column
 * product follows the summation order of the runtime's WebAssembly SIMD GEMM, whose multiply-add is fused
 * or not as the engine running this compile decides, so the step asks that engine (one product whose
 * rounding tells) and bakes the answer into the driver. C++: cpp/kernels/conv_transpose_f32.h.
 */
import { transposeWindow } from "../../ir/ops/conv-pool.ts";
import { sgemm } from "../../runtime/gemm/sgemm.ts";
import { wasmEngine } from "../../runtime/gemm/wasm-simd.ts";
import { int32 } from "./cpp-literal.ts";
import { registerStep, type StepContext } from "./step.ts";

/** 0: the runtime multiplies in double (no SIMD engine); 1: SIMD, product then sum; 2: SIMD, fused. */
export function runtimeGemmMode(): 0 | 1 | 2 {
  if (!wasmEngine()) return 0;
  // (1 + 2^-12)^2 - (1 + 2^-11) is 2^-24 exactly; a float32 product rounds the 2^-24 away first.
  const a = new Float32Array([1 + 2 ** -12]), c = new Float32Array(1);
  const v = { data: a, off: 0, rs: 1, cs: 1 };
  sgemm(1, 1, 1, v, v, { data: c, off: 0, rs: 1, cs: 1 }, { rowBias: [-(1 + 2 ** -11)] });
  return c[0] !== 0 ? 2 : 1;
}

registerStep("ConvTranspose", (ctx: StepContext) => {
  const [xn, wn, bn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  if (!xn || !wn) ctx.fail("X or W is missing");
  const x = ctx.tensor(xn), w = ctx.tensor(wn), y = ctx.tensor(yn);
  if (x.dtype !== "f32" || w.dtype !== "f32" || y.dtype !== "f32") {
    ctx.fail("the driver emits float32 ConvTranspose");
  }
  if (x.shape.length !== 4 || w.shape.length !== 4) ctx.fail("only 2-D ConvTranspose (NCHW) is emitted");
  const [N, C, H, W] = x.shape, [wc, Mg, KH, KW] = w.shape;
  const group: number = ctx.attrs.group;
  if (!(group >= 1) || wc !== C || C % group !== 0) {
    ctx.fail(`W [${w.shape}] for ${C} channels, group ${group}`);
  }
  const M = Mg * group;
  const win = transposeWindow([H, W], [KH, KW], ctx.attrs);
  if (y.shape[0] !== N || y.shape[1] !== M || y.shape[2] !== win.out[0] || y.shape[3] !== win.out[1]) {
    ctx.fail(`the output [${y.shape}] is not [${N}, ${M}, ${win.out}]`);
  }
  let bias = "nullptr";
  if (bn) {
    const b = ctx.tensor(bn);
    if (b.dtype !== "f32" || b.count !== M) ctx.fail(`B must be ${M} float32 values`);
    bias = ctx.ptr(bn);
  }
  const mode = runtimeGemmMode();
  // The runtime falls back to its double loop when the engine's memory cannot hold the operands (2 GiB).
  const bytes = 4 * (Math.ceil((Mg * KH * KW) / 6) * 6 * ((C / group) + 1 + H * W) + (C / group) * H * W);
  if (mode && bytes > 1 << 30) {
    ctx.fail("operands too large to tell whether the runtime's SIMD engine takes them");
  }
  const p = [
    N,
    C,
    H,
    W,
    M,
    group,
    KH,
    KW,
    win.out[0],
    win.out[1],
    win.strides[0],
    win.strides[1],
    win.dilations[0],
    win.dilations[1],
    win.padsBegin[0],
    win.padsBegin[1],
    mode,
  ].map(int32);
  ctx.include("kernels/conv_transpose_f32.h");
  return [
    `static const lathe::ConvTransposeParams p = {${p.join(", ")}};`,
    `lathe::conv_transpose_f32(${ctx.ptr(xn)}, ${ctx.ptr(wn)}, ${bias}, ${ctx.ptr(yn)}, p);`,
  ];
});
