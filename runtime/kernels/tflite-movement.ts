/**
 * Data-movement kernels of the `tfl` dialect: reshapes, transposes, concatenation, slicing, padding,
 * gathers, tiling, depth/space rearrangements and nearest resize. They only move elements, so they serve
 * every element type, quantized codes included (TFLite requires these ops to keep the input's scale; PAD
 * fills quantized tensors with the zero point). A quantized result takes the declared output type.
 */
import { type DType, dtypeEquals, storageOf } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { resolveStridedSlice } from "../../ir/ops/tflite-geometry.ts";
import { reshapeTarget } from "../../ir/ops/tflite.ts";
import { type KernelContext, registerKernel } from "../kernel-registry.ts";
import { type RValue, Tensor } from "../tensor.ts";
import { concatInto, sliceInto } from "./axis-copy.ts";
import { broadcastStatic } from "./broadcast.ts";
import { broadcastMaps, gatherAxes, identityMap, type Storage, transposeInto } from "./movement.ts";
import { applyActivation, arg, axisOf, fail, intsOf, nhwc } from "./tflite-common.ts";

const ANY = { label: "any type" };

function reg(op: string, k: (inputs: readonly (RValue | undefined)[], ctx: KernelContext) => RValue[]): void {
  registerKernel(`tfl.${op}`, k, ANY);
}

/** The output element type: the declared one when it is the same storage (quantized outputs), else x's. */
function outDType(ctx: KernelContext, x: Tensor, k = 0): DType {
  const t = ctx.outputTypes[k];
  if (t?.kind === "tensor" && typeof t.dtype !== "string" && storageOf(t.dtype) === storageOf(x.dtype)) {
    return t.dtype;
  }
  return x.dtype;
}

function count(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** A view of x's data under another shape (same element count). */
function view(ctx: KernelContext, x: Tensor, shape: readonly number[]): Tensor {
  if (count(shape) !== x.data.length) fail(`cannot view [${x.shape}] as [${shape}]`);
  return new Tensor(outDType(ctx, x), shape, x.data);
}

function alloc(ctx: KernelContext, x: Tensor, shape: readonly number[], k = 0): Tensor {
  return ctx.alloc(outDType(ctx, x, k), shape);
}

/** The value a padded position holds: the zero point of a quantized type, else 0. */
function zeroOf(x: Tensor): unknown {
  const d = x.dtype;
  if (typeof d !== "string" && d.kind === "affine") return d.zeroPoint[0];
  if (x.data instanceof BigInt64Array || x.data instanceof BigUint64Array) return 0n;
  if (x.data instanceof Array) return "";
  return 0;
}

// ---- reshapes ---------------------------------------------------------------------------------------

reg("RESHAPE", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  const s = inputs[1] === undefined ? undefined : arg(inputs, 1, "shape");
  const target = reshapeTarget(
    s ? intsOf(s) : undefined,
    s?.shape.length,
    ctx.node.attrs.new_shape ? ctx.attrs.new_shape : undefined,
  );
  if (!target) fail("RESHAPE has neither a shape operand nor new_shape");
  const stretch = target.indexOf(-1);
  const shape = [...target];
  if (stretch >= 0) {
    const rest = target.reduce((p, d, i) => (i === stretch ? p : p * d), 1);
    if (rest === 0 || x.data.length % rest !== 0) fail(`cannot reshape [${x.shape}] to [${target}]`);
    shape[stretch] = x.data.length / rest;
  }
  if (shape.some((d) => d < 0)) fail(`bad reshape target [${target}]`);
  return [view(ctx, x, shape)];
});

reg("SQUEEZE", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  const dims: readonly number[] = ctx.attrs.squeeze_dims ?? [];
  const drop = new Set(dims.map((d) => axisOf(d, x.shape.length)));
  for (const i of drop) if (x.shape[i] !== 1) fail(`cannot squeeze dim ${i} of size ${x.shape[i]}`);
  const shape = dims.length ? x.shape.filter((_, i) => !drop.has(i)) : x.shape.filter((d) => d !== 1);
  return [view(ctx, x, shape)];
});

reg("EXPAND_DIMS", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  const a = intsOf(arg(inputs, 1, "axis"));
  if (a.length !== 1) fail(`axis must hold one value, holds ${a.length}`);
  const at = axisOf(a[0], x.shape.length + 1);
  return [view(ctx, x, [...x.shape.slice(0, at), 1, ...x.shape.slice(at)])];
});

reg("TRANSPOSE", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  const r = x.shape.length;
  const perm = intsOf(arg(inputs, 1, "perm")).map((p) => axisOf(p, r));
  if (perm.length !== r || new Set(perm).size !== r) fail(`perm [${perm}] is not a permutation of ${r} axes`);
  const out = alloc(ctx, x, perm.map((p) => x.shape[p]));
  transposeInto(out.data as Storage, x.data as Storage, x.shape, perm);
  return [out];
});

reg("SHAPE", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  const t = ctx.outputTypes[0];
  const dt = t?.kind === "tensor" && t.dtype === "i64" ? "i64" : "i32";
  const out = ctx.alloc(dt, [x.shape.length]);
  x.shape.forEach((d, i) => (out.data[i] = (dt === "i64" ? BigInt(d) : d) as never));
  return [out];
});

reg("ZEROS_LIKE", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  const out = alloc(ctx, x, x.shape);
  (out.data as any).fill(x.data instanceof BigInt64Array ? 0n : 0);
  return [out];
});

// ---- joining and splitting -----------------------------------------------------------------------

function sameStorage(ts: readonly Tensor[]): void {
  for (const t of ts) {
    if (!dtypeEquals(t.dtype, ts[0].dtype)) {
      throw new LatheError(
        "unsupported",
        "operands of different element types (requantizing needs the integer kernels)",
      );
    }
  }
}

reg("CONCATENATION", (inputs, ctx) => {
  const ts = inputs.map((_, i) => arg(inputs, i, `value ${i}`));
  sameStorage(ts);
  const r = ts[0].shape.length;
  const axis = axisOf(ctx.attrs.axis, r);
  for (const t of ts) {
    if (t.shape.length !== r || t.shape.some((d, i) => i !== axis && d !== ts[0].shape[i])) {
      fail(`cannot concatenate [${t.shape}] with [${ts[0].shape}] along axis ${axis}`);
    }
  }
  const widths = ts.map((t) => t.shape[axis]);
  const out = alloc(
    ctx,
    ts[0],
    ts[0].shape.map((d, i) => (i === axis ? widths.reduce((p, w) => p + w, 0) : d)),
  );
  concatInto(ts, widths, axis, out);
  const act = ctx.attrs.fused_activation_function;
  if (act !== "NONE") {
    if (out.dtype !== "f32") {
      throw new LatheError("unsupported", `fused ${act} on ${JSON.stringify(out.dtype)} CONCATENATION`);
    }
    applyActivation(out.data as Float32Array, act);
  }
  return [out];
});

reg("PACK", (inputs, ctx) => {
  const ts = inputs.map((_, i) => arg(inputs, i, `value ${i}`));
  sameStorage(ts);
  const s = ts[0].shape;
  for (const t of ts) {
    if (t.shape.length !== s.length || t.shape.some((d, i) => d !== s[i])) {
      fail("PACK operands differ in shape");
    }
  }
  const axis = axisOf(ctx.attrs.axis, s.length + 1);
  const shape = [...s.slice(0, axis), ts.length, ...s.slice(axis)];
  const out = alloc(ctx, ts[0], shape);
  concatInto(
    ts.map((t) => new Tensor(t.dtype, [...s.slice(0, axis), 1, ...s.slice(axis)], t.data)),
    ts.map(() => 1),
    axis,
    out,
  );
  return [out];
});

reg("UNPACK", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  const axis = axisOf(ctx.attrs.axis, x.shape.length);
  const n = x.shape[axis];
  if (n !== ctx.node.outputs.length) fail(`unpacking ${n} values into ${ctx.node.outputs.length} outputs`);
  const shape = x.shape.filter((_, i) => i !== axis);
  return Array.from({ length: n }, (_, k) => {
    const part = alloc(ctx, x, x.shape.map((d, i) => (i === axis ? 1 : d)), k);
    sliceInto(x, axis, k, 1, part);
    return new Tensor(part.dtype, shape, part.data);
  });
});

function splitInto(ctx: KernelContext, x: Tensor, axis: number, sizes: readonly number[]): Tensor[] {
  let at = 0;
  return sizes.map((len, k) => {
    const part = alloc(ctx, x, x.shape.map((d, i) => (i === axis ? len : d)), k);
    sliceInto(x, axis, at, len, part);
    at += len;
    return part;
  });
}

reg("SPLIT", (inputs, ctx) => {
  const a = intsOf(arg(inputs, 0, "axis"));
  const x = arg(inputs, 1, "input");
  if (a.length !== 1) fail(`axis must hold one value, holds ${a.length}`);
  const axis = axisOf(a[0], x.shape.length);
  const n = ctx.node.outputs.length;
  if (x.shape[axis] % n !== 0) fail(`cannot split ${x.shape[axis]} into ${n} equal parts`);
  return splitInto(ctx, x, axis, new Array(n).fill(x.shape[axis] / n));
});

reg("SPLIT_V", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  const sizes = intsOf(arg(inputs, 1, "size_splits"));
  const a = intsOf(arg(inputs, 2, "axis"));
  if (a.length !== 1) fail(`axis must hold one value, holds ${a.length}`);
  const axis = axisOf(a[0], x.shape.length);
  const fill = sizes.indexOf(-1);
  if (fill >= 0) sizes[fill] = x.shape[axis] - sizes.reduce((p, s, i) => (i === fill ? p : p + s), 0);
  if (sizes.some((s) => s < 0) || sizes.reduce((p, s) => p + s, 0) !== x.shape[axis]) {
    fail(`split sizes [${sizes}] do not cover ${x.shape[axis]}`);
  }
  return splitInto(ctx, x, axis, sizes);
});

// ---- slicing, padding, tiling ----------------------------------------------------------------------

function gathered(
  ctx: KernelContext,
  x: Tensor,
  maps: Int32Array[],
  fill: unknown,
  shape?: readonly number[],
): Tensor {
  const out = alloc(ctx, x, maps.map((m) => m.length));
  gatherAxes(out.data as Storage, x.data as Storage, x.shape, maps, fill);
  return shape ? new Tensor(out.dtype, shape, out.data) : out;
}

reg("SLICE", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  const begin = intsOf(arg(inputs, 1, "begin")), size = intsOf(arg(inputs, 2, "size"));
  const r = x.shape.length;
  if (begin.length !== r || size.length !== r) fail("begin and size need one entry per axis");
  const maps = x.shape.map((d, i) => {
    const len = size[i] < 0 ? d - begin[i] : size[i];
    if (begin[i] < 0 || len < 0 || begin[i] + len > d) {
      fail(`slice ${begin[i]}+${size[i]} out of range for a dim of ${d}`);
    }
    return identityMap(len, begin[i]);
  });
  return [gathered(ctx, x, maps, 0)];
});

reg("STRIDED_SLICE", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  const begin = intsOf(arg(inputs, 1, "begin")), end = intsOf(arg(inputs, 2, "end"));
  const strides = inputs[3] === undefined ? begin.map(() => 1) : intsOf(arg(inputs, 3, "strides"));
  let s;
  try {
    s = resolveStridedSlice(x.shape, begin, end, strides, ctx.attrs as any);
  } catch (e) {
    if (e instanceof LatheError) fail(e.reason);
    throw e;
  }
  const maps = s.axes.map((a) => identityMap(a.count, a.start, a.step));
  return [gathered(ctx, x, maps, 0, s.outShape)];
});

function padPairs(x: Tensor, p: Tensor): [number, number][] {
  const v = intsOf(p);
  if (v.length !== 2 * x.shape.length) fail(`${v.length / 2} pad pairs for rank ${x.shape.length}`);
  const pairs: [number, number][] = [];
  for (let i = 0; i < x.shape.length; i++) {
    if (v[2 * i] < 0 || v[2 * i + 1] < 0) fail(`negative padding [${v}]`);
    pairs.push([v[2 * i], v[2 * i + 1]]);
  }
  return pairs;
}

function padMaps(x: Tensor, pairs: [number, number][]): Int32Array[] {
  return x.shape.map((d, i) => {
    const [b, e] = pairs[i];
    const m = new Int32Array(b + d + e).fill(-1);
    for (let k = 0; k < d; k++) m[b + k] = k;
    return m;
  });
}

reg("PAD", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  return [gathered(ctx, x, padMaps(x, padPairs(x, arg(inputs, 1, "paddings"))), zeroOf(x))];
});

reg("PADV2", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  const c = inputs[2] === undefined ? undefined : arg(inputs, 2, "constant_values");
  if (c && c.data.length !== 1) fail("constant_values must hold one value");
  return [gathered(ctx, x, padMaps(x, padPairs(x, arg(inputs, 1, "paddings"))), c ? c.data[0] : zeroOf(x))];
});

reg("MIRROR_PAD", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  const pairs = padPairs(x, arg(inputs, 1, "paddings"));
  // REFLECT mirrors around the edge element (not repeating it); SYMMETRIC repeats it.
  const off = ctx.attrs.mode === "REFLECT" ? 1 : 0;
  const maps = x.shape.map((d, i) => {
    const [b, e] = pairs[i];
    if (b > d - off || e > d - off) {
      fail(`padding ${b},${e} exceeds what ${ctx.attrs.mode} allows for a dim of ${d}`);
    }
    const m = new Int32Array(b + d + e);
    for (let k = 0; k < m.length; k++) {
      const j = k - b;
      m[k] = j < 0 ? -j - 1 + off : j >= d ? 2 * d - j - 1 - off : j;
    }
    return m;
  });
  return [gathered(ctx, x, maps, 0)];
});

reg("TILE", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  const m = intsOf(arg(inputs, 1, "multiples"));
  if (m.length !== x.shape.length || m.some((v) => v < 0)) {
    fail(`multiples [${m}] do not fit rank ${x.shape.length}`);
  }
  const maps = x.shape.map((d, i) => {
    const map = new Int32Array(d * m[i]);
    for (let k = 0; k < map.length; k++) map[k] = k % d;
    return map;
  });
  return [gathered(ctx, x, maps, 0)];
});

reg("BROADCAST_TO", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  const target = intsOf(arg(inputs, 1, "shape"));
  const shape = broadcastStatic([x.shape, target]);
  if (shape.length !== target.length || shape.some((d, i) => d !== target[i])) {
    fail(`cannot broadcast [${x.shape}] to [${target}]`);
  }
  const lifted = [...new Array(shape.length - x.shape.length).fill(1), ...x.shape];
  const maps = broadcastMaps(lifted, shape);
  return [gathered(ctx, new Tensor(x.dtype, lifted, x.data), maps, 0)];
});

// ---- gathers ---------------------------------------------------------------------------------------

function indexValues(t: Tensor): number[] {
  if (t.dtype !== "i32" && t.dtype !== "i64" && t.dtype !== "i16") {
    fail(`indices are ${JSON.stringify(t.dtype)}`);
  }
  return intsOf(t);
}

reg("GATHER", (inputs, ctx) => {
  const p = arg(inputs, 0, "params"), it = arg(inputs, 1, "indices");
  const idx = indexValues(it);
  const axis = axisOf(ctx.attrs.axis, p.shape.length);
  let bd = ctx.attrs.batch_dims as number;
  if (bd < 0) bd += it.shape.length;
  if (bd < 0 || bd > axis || bd > it.shape.length) fail(`batch_dims ${ctx.attrs.batch_dims} out of range`);
  for (let i = 0; i < bd; i++) {
    if (p.shape[i] !== it.shape[i]) fail("params and indices differ in batch dims");
  }
  const batch = count(p.shape.slice(0, bd)), outer = count(p.shape.slice(bd, axis));
  const A = p.shape[axis], inner = count(p.shape.slice(axis + 1)), per = count(it.shape.slice(bd));
  const out = alloc(ctx, p, [...p.shape.slice(0, axis), ...it.shape.slice(bd), ...p.shape.slice(axis + 1)]);
  const src = p.data as any, dst = out.data as any;
  let d = 0;
  for (let b = 0; b < batch; b++) {
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < per; j++) {
        const k = idx[b * per + j];
        if (k < 0 || k >= A) fail(`index ${k} out of range for a dim of ${A}`);
        const s = ((b * outer + o) * A + k) * inner;
        for (let i = 0; i < inner; i++) dst[d++] = src[s + i];
      }
    }
  }
  return [out];
});

reg("GATHER_ND", (inputs, ctx) => {
  const p = arg(inputs, 0, "params"), it = arg(inputs, 1, "indices");
  const idx = indexValues(it);
  const k = it.shape[it.shape.length - 1] ?? 0;
  if (k > p.shape.length) fail(`index depth ${k} exceeds the params rank ${p.shape.length}`);
  const inner = count(p.shape.slice(k)), rows = idx.length / Math.max(k, 1);
  const out = alloc(ctx, p, [...it.shape.slice(0, -1), ...p.shape.slice(k)]);
  const src = p.data as any, dst = out.data as any;
  for (let r = 0; r < (k === 0 ? count(it.shape.slice(0, -1)) : rows); r++) {
    let off = 0;
    for (let j = 0; j < k; j++) {
      const v = idx[r * k + j];
      if (v < 0 || v >= p.shape[j]) fail(`index ${v} out of range for a dim of ${p.shape[j]}`);
      off = off * p.shape[j] + v;
    }
    for (let i = 0; i < inner; i++) dst[r * inner + i] = src[off * inner + i];
  }
  return [out];
});

// ---- spatial rearrangements ------------------------------------------------------------------------

reg("DEPTH_TO_SPACE", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  const [N, H, W, C] = nhwc(x, "input");
  const b = ctx.attrs.block_size as number;
  if (!(b >= 1) || C % (b * b) !== 0) fail(`block size ${b} does not divide ${C} channels`);
  const c = C / (b * b);
  // [N, H, W, b, b, c] → [N, H, b, W, b, c]
  const out = alloc(ctx, x, [N, H * b, W * b, c]);
  transposeInto(out.data as Storage, x.data as Storage, [N, H, W, b, b, c], [0, 1, 3, 2, 4, 5]);
  return [out];
});

reg("SPACE_TO_DEPTH", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  const [N, H, W, C] = nhwc(x, "input");
  const b = ctx.attrs.block_size as number;
  if (!(b >= 1) || H % b !== 0 || W % b !== 0) fail(`block size ${b} does not divide ${H}x${W}`);
  // [N, H/b, b, W/b, b, C] → [N, H/b, W/b, b, b, C]
  const out = alloc(ctx, x, [N, H / b, W / b, C * b * b]);
  transposeInto(out.data as Storage, x.data as Storage, [N, H / b, b, W / b, b, C], [0, 1, 3, 2, 4, 5]);
  return [out];
});

reg("RESIZE_NEAREST_NEIGHBOR", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  const [N, H, W, C] = nhwc(x, "input");
  const size = intsOf(arg(inputs, 1, "size"));
  if (size.length !== 2 || size.some((d) => !(d >= 0))) fail(`size [${size}] is not 2 sizes`);
  const align = !!ctx.attrs.align_corners, half = !!ctx.attrs.half_pixel_centers;
  const axisMap = (inSize: number, outSize: number) => {
    const scale = align && outSize > 1
      ? Math.fround((inSize - 1) / (outSize - 1))
      : Math.fround(inSize / outSize);
    const offset = half ? 0.5 : 0;
    const m = new Int32Array(outSize);
    for (let i = 0; i < outSize; i++) {
      const v = Math.fround((i + offset) * scale);
      let j = Math.min(align ? (v < 0 ? -Math.round(-v) : Math.round(v)) : Math.floor(v), inSize - 1);
      if (half) j = Math.max(0, j);
      m[i] = j;
    }
    return m;
  };
  return [gathered(ctx, x, [identityMap(N), axisMap(H, size[0]), axisMap(W, size[1]), identityMap(C)], 0)];
});
