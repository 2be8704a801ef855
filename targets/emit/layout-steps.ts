/**
 * Driver steps for ONNX's spatial rearrangements of a float (or any) tensor that a quantized model keeps on
 * the CPU: constant Pad, DepthToSpace (a 6-D transpose), and linear/cubic Resize of the last two axes. The
 * Resize taps (source indices and weights) are computed here exactly as runtime/kernels/resize.ts computes
 * them, in the same double arithmetic, and baked into the driver. C++: cpp/kernels/pad.h, transpose.h,
 * resize_linear.h.
 */
import { constantNumbers } from "../../ir/constant-values.ts";
import { padAmounts, resizeDims } from "../../ir/ops/shape.ts";
import { hexDouble, hexFloat } from "./cpp-literal.ts";
import { transposeLiteral } from "./movement-steps.ts";
import { registerStep, type StepContext } from "./step.ts";

const pad6 = (v: readonly number[]) => `{${[...v, ...new Array(6 - v.length).fill(0)].join(", ")}}`;

function constInts(ctx: StepContext, i: number, what: string): number[] | undefined {
  const n = ctx.node.inputs[i];
  if (!n) return undefined;
  const c = ctx.constant(n);
  if (!c) ctx.fail(`${what} is not a constant`);
  return constantNumbers(c);
}

registerStep("Pad", (ctx: StepContext) => {
  const [xn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  if (ctx.attrs.mode !== "constant") ctx.fail(`mode ${ctx.attrs.mode} (the driver pads with a constant)`);
  const x = ctx.tensor(xn!), y = ctx.tensor(yn);
  const r = x.shape.length;
  if (r < 1 || r > 6) ctx.fail(`rank ${r} padding (the driver takes 1 to 6)`);
  const pads = constInts(ctx, 1, "pads") ?? new Array(2 * r).fill(0);
  const { begin, end } = padAmounts(r, pads, constInts(ctx, 3, "axes"));
  if ([...begin, ...end].some((p) => p < 0)) ctx.fail(`negative pads [${pads}] crop`);
  const out = x.shape.map((d, i) => d + begin[i] + end[i]);
  if (out.some((d, i) => d !== y.shape[i])) ctx.fail(`padding [${x.shape}] by [${pads}] is not [${y.shape}]`);
  let fill = "0";
  const vn = ctx.node.inputs[2];
  if (vn) {
    const c = ctx.constant(vn);
    if (!c) ctx.fail("constant_value is not a constant");
    const v = constantNumbers(c);
    if (v.length !== 1) ctx.fail("constant_value must be a single value");
    if (x.storage === "f32") fill = hexFloat(Math.fround(v[0]));
    else if (Number.isInteger(v[0]) && x.storage !== "f64") fill = String(v[0]);
    else ctx.fail(`a ${x.storage} pad value`);
  }
  ctx.include("kernels/pad.h");
  return [
    `static const lathe::PadShape ps = {${r}, ${pad6(x.shape)}, ${pad6(begin)}, ${pad6(out)}};`,
    `lathe::pad_nd(${ctx.ptr(xn!)}, ${ctx.ptr(yn)}, ps, static_cast<${x.ctype}>(${fill}));`,
  ];
});

registerStep("DepthToSpace", (ctx: StepContext) => {
  const [xn] = ctx.node.inputs, [yn] = ctx.node.outputs;
  const x = ctx.tensor(xn!);
  if (x.shape.length !== 4) ctx.fail(`a ${x.shape.length}-D input (DepthToSpace takes NCHW)`);
  const b: number = ctx.attrs.blocksize;
  const [n, c, h, w] = x.shape;
  if (!(b > 0) || c % (b * b)) ctx.fail(`${c} channels for blocksize ${b}`);
  const oc = c / (b * b);
  // DCR reads the channels as [b, b, C'], CRD as [C', b, b]; both write [N, C', H, b, W, b].
  const crd = ctx.attrs.mode === "CRD";
  if (!crd && ctx.attrs.mode !== "DCR") ctx.fail(`mode ${ctx.attrs.mode}`);
  const view = crd ? [n, oc, b, b, h, w] : [n, b, b, oc, h, w];
  const perm = crd ? [0, 1, 4, 2, 5, 3] : [0, 3, 4, 1, 5, 2];
  ctx.include("kernels/transpose.h");
  return [
    `static const lathe::TransposeShape ts = ${transposeLiteral(ctx, view, perm)};`,
    `lathe::transpose_nd(${ctx.ptr(xn!)}, ${ctx.ptr(yn)}, ts);`,
  ];
});

interface Taps {
  count: number;
  idx: number[];
  w: number[];
  outside: number[];
}

interface Axis {
  inLen: number;
  outLen: number;
  scale: number;
  roiStart: number;
  roiEnd: number;
}

/** The runtime's source coordinate of output index x (NaN: outside a tf_crop_and_resize window). */
function sourceCoordinate(ctx: StepContext, x: number, p: Axis, ctm: string): number {
  const { inLen, scale } = p;
  const outW = scale * inLen;
  switch (ctm) {
    case "half_pixel":
      return (x + 0.5) / scale - 0.5;
    case "half_pixel_symmetric": {
      const adjustment = p.outLen / outW;
      const offset = (inLen / 2) * (1 - adjustment);
      return offset + (x + 0.5) / scale - 0.5;
    }
    case "pytorch_half_pixel":
      return outW === 1 ? -0.5 : (x + 0.5) / scale - 0.5;
    case "align_corners":
      return outW === 1 ? 0 : (x * (inLen - 1)) / (outW - 1);
    case "asymmetric":
      return x / scale;
    case "tf_crop_and_resize": {
      const span = p.roiEnd - p.roiStart;
      let v = outW === 1 ? (span * (inLen - 1)) / 2 : (x * span * (inLen - 1)) / (outW - 1);
      v += p.roiStart * (inLen - 1);
      return v < 0 || v > inLen - 1 ? NaN : v;
    }
    default:
      ctx.fail(`coordinate_transformation_mode ${ctm}`);
  }
}

function cubicWeight(x: number, A: number): number {
  x = Math.abs(x);
  if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
  if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return 0;
}

/** The runtime's interpolation taps of one axis, or undefined where they are the identity. */
function axisTaps(ctx: StepContext, p: Axis): Taps | undefined {
  const a = ctx.attrs;
  const cubic = a.mode === "cubic", antialias = a.antialias !== 0, exclude = a.exclude_outside !== 0;
  const s = antialias ? Math.min(p.scale, 1) : 1;
  const start = cubic ? Math.floor(-2 / s) + 1 : Math.floor(-1 / s) + 1;
  const count = 2 - 2 * start;
  const t: Taps = { count, idx: [], w: [], outside: [] };
  for (let x = 0; x < p.outLen; x++) {
    const v = sourceCoordinate(ctx, x, p, a.coordinate_transformation_mode);
    t.outside.push(Number.isNaN(v) ? 1 : 0);
    if (Number.isNaN(v)) {
      for (let k = 0; k < count; k++) t.idx.push(0), t.w.push(0);
      continue;
    }
    const base = Math.ceil(v) - 1;
    const ratio = v - base;
    const ws: number[] = [];
    let sum = 0;
    for (let k = 0; k < count; k++) {
      const i = start + k;
      const d = (i - ratio) * s;
      let wt = cubic ? cubicWeight(d, a.cubic_coeff_a) : Math.max(0, 1 - Math.abs(d));
      const src = base + i;
      if (exclude && (src < 0 || src >= p.inLen)) wt = 0;
      t.idx.push(src < 0 ? 0 : src >= p.inLen ? p.inLen - 1 : src);
      ws.push(wt);
      sum += wt;
    }
    if ((antialias || exclude) && sum !== 0) { for (let k = 0; k < count; k++) ws[k] /= sum; }
    t.w.push(...ws);
  }
  // Identity: same length, every index reads itself with total weight exactly 1.
  if (p.inLen !== p.outLen) return t;
  for (let x = 0; x < p.outLen; x++) {
    if (t.outside[x]) return t;
    let acc = 0;
    for (let k = 0; k < count; k++) {
      const wt = t.w[x * count + k];
      if (wt === 0) continue;
      if (t.idx[x * count + k] !== x) return t;
      acc += wt;
    }
    if (acc !== 1) return t;
  }
  return undefined;
}

registerStep("Resize", (ctx: StepContext) => {
  const ins = ctx.node.inputs, [yn] = ctx.node.outputs;
  const a = ctx.attrs;
  const x = ctx.tensor(ins[0]!), y = ctx.tensor(yn);
  if (x.dtype !== "f32") ctx.fail("the driver resizes float32");
  if (a.mode !== "linear" && a.mode !== "cubic") ctx.fail(`mode ${a.mode}`);
  const r = x.shape.length;
  if (r < 2) ctx.fail("a Resize of rank < 2");
  const scalesIn = ins[2] ? constInts(ctx, 2, "scales") : undefined;
  const sizesIn = ins[3] ? constInts(ctx, 3, "sizes") : undefined;
  const { dims, scales } = resizeDims(x.shape, scalesIn, sizesIn, a.axes, a.keep_aspect_ratio_policy);
  if (dims.some((d, i) => d !== y.shape[i])) ctx.fail(`resize to [${dims}] is not [${y.shape}]`);
  const axes: number[] = a.axes.length
    ? a.axes.map((v: number) => (v < 0 ? v + r : v))
    : x.shape.map((_, i) => i);
  const roiStart = new Array<number>(r).fill(0), roiEnd = new Array<number>(r).fill(1);
  if (ins[1]) {
    const roi = constInts(ctx, 1, "roi")!;
    if (roi.length !== 2 * axes.length) ctx.fail(`roi has ${roi.length} values for ${axes.length} axes`);
    axes.forEach((d, i) => {
      roiStart[d] = roi[i];
      roiEnd[d] = roi[axes.length + i];
    });
  }
  if (a.coordinate_transformation_mode === "tf_crop_and_resize" && !ins[1]) ctx.fail("no roi");
  const taps = x.shape.map((_, d) =>
    axisTaps(ctx, {
      inLen: x.shape[d],
      outLen: dims[d],
      scale: scales[d],
      roiStart: roiStart[d],
      roiEnd: roiEnd[d],
    })
  );
  if (taps.slice(0, r - 2).some((t) => t !== undefined)) ctx.fail("only the last two axes may be resized");
  const id = (n: number): Taps => ({
    count: 1,
    idx: Array.from({ length: n }, (_, i) => i),
    w: new Array(n).fill(1),
    outside: new Array(n).fill(0),
  });
  const H = x.shape[r - 2], W = x.shape[r - 1], OH = dims[r - 2], OW = dims[r - 1];
  const tapsOf = (t: Taps | undefined, n: number, hint: string) => {
    const u = t ?? id(n);
    const i = ctx.table("int32_t", u.idx.map(String), `${hint}_idx`);
    const w = ctx.table("double", u.w.map(hexDouble), `${hint}_w`);
    const o = ctx.table("uint8_t", u.outside.map(String), `${hint}_outside`);
    return `{${u.count}, ${i}, ${w}, ${o}}`;
  };
  const ty = tapsOf(taps[r - 2], OH, "y"), tx = tapsOf(taps[r - 1], OW, "x");
  const planes = x.shape.slice(0, r - 2).reduce((p, d) => p * d, 1);
  ctx.include("kernels/resize_linear.h");
  return [
    `static const lathe::ResizeTaps ty = ${ty}, tx = ${tx};`,
    `lathe::resize_last_two_f32(${ctx.ptr(ins[0]!)}, ${
      ctx.ptr(yn)
    }, ${planes}, ${H}, ${W}, ${OH}, ${OW}, ty, tx, ${hexFloat(Math.fround(a.extrapolation_value))});`,
  ];
});
