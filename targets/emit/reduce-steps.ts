/**
 * Driver steps for float32 ReduceMean (TFLite's MEAN as imported) and AveragePool where a quantized model
 * keeps them on the CPU: summed in double in the runtime's order and rounded once (runtime/kernels/
 * reduce.ts, conv-pool.ts), with ReduceMean's offsets tabulated at compile time. (Float GlobalAveragePool
 * is float-pool-steps.ts.) C++: cpp/kernels/reduce_f32.h.
 * C++: cpp/kernels/reduce_f32.h.
 */
import { constantNumbers } from "../../ir/constant-values.ts";
import { forwardWindow } from "../../ir/ops/conv-pool.ts";
import { int32 } from "./cpp-literal.ts";
import { registerStep, type StepContext } from "./step.ts";

/** Flat offsets of every index combination over `dims`, row-major in those dims (the runtime's table). */
function offsets(shape: readonly number[], dims: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = acc;
    acc *= shape[d];
  }
  let out = [0];
  for (const d of dims) {
    const next: number[] = [];
    for (const o of out) for (let i = 0; i < shape[d]; i++) next.push(o + i * strides[d]);
    out = next;
  }
  return out;
}

registerStep("ReduceMean", (ctx: StepContext) => {
  const [xn, an] = ctx.node.inputs, [yn] = ctx.node.outputs;
  const x = ctx.tensor(xn!), y = ctx.tensor(yn);
  if (x.dtype !== "f32" || y.dtype !== "f32") ctx.fail("the driver reduces float32");
  const r = x.shape.length;
  let axes: number[];
  if (an) {
    const c = ctx.constant(an);
    if (!c) ctx.fail("axes is not a constant");
    axes = constantNumbers(c);
  } else axes = [];
  if (axes.length === 0) {
    if (ctx.attrs.noop_with_empty_axes) {
      return [`std::memcpy(${ctx.ptr(yn)}, ${ctx.ptr(xn!)}, ${x.count} * sizeof(float));`];
    }
    axes = Array.from({ length: r }, (_, i) => i);
  }
  const set = [...new Set(axes.map((a) => (a < 0 ? a + r : a)))].sort((p, q) => p - q);
  if (set.length !== axes.length || set.some((a) => !(a >= 0 && a < r))) ctx.fail(`axes [${axes}]`);
  const kept = Array.from({ length: r }, (_, i) => i).filter((i) => !set.includes(i));
  const base = offsets(x.shape, kept), red = offsets(x.shape, set);
  if (base.length !== y.count) ctx.fail(`${base.length} means for ${y.count} outputs`);
  if (red.length === 0) ctx.fail("an empty reduction");
  const bName = ctx.table("int32_t", base.map(String), "base");
  const rName = ctx.table("int32_t", red.map(String), "reduced");
  ctx.include("kernels/reduce_f32.h");
  return [
    `lathe::reduce_mean_f32(${ctx.ptr(xn!)}, ${
      ctx.ptr(yn)
    }, ${bName}, ${base.length}, ${rName}, ${red.length});`,
  ];
});

/** Taps of each output position that fall inside the padded input (the runtime's count_include_pad divisor). */
function paddedCounts(inp: number, out: number, k: number, s: number, d: number, pb: number, pe: number) {
  return Array.from({ length: out }, (_, o) => {
    let c = 0;
    for (let kk = 0; kk < k; kk++) {
      const i = o * s - pb + kk * d;
      if (i >= -pb && i < inp + pe) c++;
    }
    return c;
  });
}

registerStep("AveragePool", (ctx: StepContext) => {
  const [xn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  const x = ctx.tensor(xn!), y = ctx.tensor(yn);
  if (x.dtype !== "f32" || y.dtype !== "f32") ctx.fail("the driver pools float32");
  if (x.shape.length !== 4) ctx.fail("only 2-D pooling (NCHW) is emitted");
  const [N, C, H, W] = x.shape;
  const win = forwardWindow([H, W], ctx.attrs.kernel_shape, ctx.attrs, ctx.attrs.ceil_mode === 1);
  if (y.shape[2] !== win.out[0] || y.shape[3] !== win.out[1]) {
    ctx.fail(`the output [${y.shape}] is not ${win.out}`);
  }
  const counts = [0, 1].map((i) =>
    paddedCounts(
      x.shape[2 + i],
      win.out[i],
      win.kernel[i],
      win.strides[i],
      win.dilations[i],
      win.padsBegin[i],
      win.padsEnd[i],
    )
  );
  const ch = ctx.table("int32_t", counts[0].map(String), "count_h");
  const cw = ctx.table("int32_t", counts[1].map(String), "count_w");
  const p = [
    N * C,
    H,
    W,
    win.out[0],
    win.out[1],
    win.kernel[0],
    win.kernel[1],
    win.strides[0],
    win.strides[1],
    win.dilations[0],
    win.dilations[1],
    win.padsBegin[0],
    win.padsBegin[1],
    ctx.attrs.count_include_pad === 1 ? 1 : 0,
  ].map(int32);
  ctx.include("kernels/reduce_f32.h");
  return [
    `static const lathe::AvgPoolParams p = {${p.join(", ")}};`,
    `lathe::avg_pool_f32(${ctx.ptr(xn!)}, ${ctx.ptr(yn)}, p, ${ch}, ${cw});`,
  ];
});
