/**
 * Kernels: shape and tensor-movement ops. Reshape, Flatten, Squeeze, Unsqueeze, Identity and inference
 * Dropout return views of their input's data; everything else writes a fresh buffer.
 */
import type { DType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import {
  padAmounts,
  rangeLength,
  reshapeDims,
  shapeWindow,
  splitSizes,
  squeezeDims,
  transposePerm,
  unsqueezeDims,
} from "../../ir/ops/shape.ts";
import { dtypeAttr } from "../../ir/ops/dtype-code.ts";
import { broadcastShapes, normalizeAxis } from "../../ir/shape-infer.ts";
import { registerKernel } from "../kernel-registry.ts";
import { fromConstant, Tensor } from "../tensor.ts";
import { fromFloat64, toFloat64 } from "./float-view.ts";
import {
  checkedSize,
  dataArg,
  fail,
  intValues,
  optTensor,
  scalarValue,
  storageValue,
  tensorArg,
  view,
  zeroOf,
} from "./kernel-args.ts";
import { broadcastMaps, copyRun, gatherAxes, identityMap, transposeInto } from "./movement.ts";
import { NumpyLegacyRandom } from "./numpy-random.ts";
import "./resize.ts";

/** Shape helpers raise verify errors for graphs; at run time the same conditions are bad inputs. */
function runtimeShape<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof LatheError && e.kind === "verify") throw new LatheError("runtime", e.reason);
    throw e;
  }
}

registerKernel("Identity", (inputs) => {
  const v = inputs[0];
  if (v instanceof Tensor) return [view(v, v.shape)];
  if (v === undefined) fail("Identity needs an input");
  return [v];
});

registerKernel("Dropout", (inputs, ctx) => {
  const x = tensorArg(inputs, 0, "data");
  const ratioT = optTensor(inputs, 1);
  const trainT = optTensor(inputs, 2);
  const ratio = ratioT ? scalarValue(ratioT, "ratio") : 0.5;
  const training = trainT ? scalarValue(trainT, "training_mode") !== 0 : false;
  const wantMask = ctx.node.outputs.length > 1 && !!ctx.node.outputs[1];
  const n = x.data.length;
  if (!training || ratio === 0) {
    const out = [view(x, x.shape)];
    if (wantMask) {
      const mask = ctx.alloc("bool", x.shape);
      (mask.data as Uint8Array).fill(1);
      out.push(mask);
    }
    return out;
  }
  if (!(ratio >= 0 && ratio <= 1)) fail(`Dropout ratio ${ratio} is outside [0, 1]`);
  const rng = new NumpyLegacyRandom(ctx.attrs.seed ?? ctx.seed);
  const mask = ctx.alloc("bool", x.shape);
  const m = mask.data as Uint8Array;
  const xs = toFloat64(x);
  const ys = new Float64Array(n);
  const scale = ratio < 1 ? 1 / (1 - ratio) : 0;
  for (let i = 0; i < n; i++) {
    const keep = rng.nextDouble() >= ratio;
    m[i] = keep ? 1 : 0;
    ys[i] = keep ? xs[i] * scale : 0;
  }
  const y = ctx.alloc(x.dtype, x.shape);
  fromFloat64(x.dtype, ys, y.data as never);
  return wantMask ? [y, mask] : [y];
});

registerKernel("Reshape", (inputs, ctx) => {
  const x = tensorArg(inputs, 0, "data");
  const target = intValues(tensorArg(inputs, 1, "shape"));
  const dims = runtimeShape(() => reshapeDims(x.shape, target, ctx.attrs.allowzero === 1)) as number[];
  return [view(x, dims)];
});

registerKernel("Flatten", (inputs, ctx) => {
  const x = tensorArg(inputs, 0, "input");
  const r = x.shape.length;
  const axis = ctx.attrs.axis < 0 ? ctx.attrs.axis + r : ctx.attrs.axis;
  if (axis < 0 || axis > r) fail(`Flatten axis ${ctx.attrs.axis} out of range for rank ${r}`);
  const left = x.shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const right = x.shape.slice(axis).reduce((p, d) => p * d, 1);
  return [view(x, [left, right])];
});

registerKernel("Squeeze", (inputs) => {
  const x = tensorArg(inputs, 0, "data");
  const axesT = optTensor(inputs, 1);
  const dims = runtimeShape(() => squeezeDims(x.shape, axesT ? intValues(axesT) : undefined)) as number[];
  return [view(x, dims)];
});

registerKernel("Unsqueeze", (inputs) => {
  const x = tensorArg(inputs, 0, "data");
  const axes = intValues(tensorArg(inputs, 1, "axes"));
  return [view(x, runtimeShape(() => unsqueezeDims(x.shape, axes)) as number[])];
});

registerKernel("Transpose", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "data");
  const perm = runtimeShape(() => transposePerm(x.shape.length, ctx.attrs.perm));
  const out = ctx.alloc(x.dtype, perm.map((p) => x.shape[p]));
  transposeInto(out.data, x.data, x.shape, perm);
  return [out];
});

registerKernel("Concat", (inputs, ctx) => {
  const ts = inputs.map((_, i) => dataArg(inputs, i, `input ${i}`));
  if (ts.length === 0) fail("Concat needs at least one input");
  const r = ts[0].shape.length;
  const axis = runtimeShape(() => normalizeAxis(ctx.attrs.axis, r, "Concat axis"));
  const shape = [...ts[0].shape];
  let total = 0;
  for (const t of ts) {
    if (t.shape.length !== r) fail(`Concat inputs have ranks ${t.shape.length} and ${r}`);
    for (let i = 0; i < r; i++) {
      if (i !== axis && t.shape[i] !== shape[i]) {
        fail(`Concat inputs differ in dim ${i}: [${t.shape}] vs [${shape}]`);
      }
    }
    total += t.shape[axis];
  }
  shape[axis] = total;
  const out = ctx.alloc(ts[0].dtype, shape);
  const outer = shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const outChunk = total * inner;
  let offset = 0;
  for (const t of ts) {
    const chunk = t.shape[axis] * inner;
    if (outer === 1) copyRun(out.data, offset, t.data, 0, chunk);
    else for (let o = 0; o < outer; o++) copyRun(out.data, o * outChunk + offset, t.data, o * chunk, chunk);
    offset += chunk;
  }
  return [out];
});

registerKernel("Split", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "input");
  const splitT = optTensor(inputs, 1);
  const axis = runtimeShape(() => normalizeAxis(ctx.attrs.axis, x.shape.length, "Split axis"));
  const n = ctx.node.outputs.length;
  const split = splitT && splitT.data.length ? intValues(splitT) : undefined;
  const sizes = runtimeShape(() => splitSizes(x.shape[axis], split, n, ctx.attrs.num_outputs));
  if (sizes.length !== n) fail(`Split computed ${sizes.length} parts for ${n} outputs`);
  const outer = x.shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const inner = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const inChunk = x.shape[axis] * inner;
  let offset = 0;
  return sizes.map((s) => {
    const shape = x.shape.map((d, i) => (i === axis ? s : d));
    const out = ctx.alloc(x.dtype, shape);
    const chunk = s * inner;
    for (let o = 0; o < outer; o++) copyRun(out.data, o * chunk, x.data, o * inChunk + offset, chunk);
    offset += chunk;
    return out;
  });
});

registerKernel("Expand", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "input");
  const target = intValues(tensorArg(inputs, 1, "shape"));
  const shape = runtimeShape(() => broadcastShapes([x.shape, target])) as number[];
  checkedSize(shape);
  const out = ctx.alloc(x.dtype, shape);
  const src = [...new Array(shape.length - x.shape.length).fill(1), ...x.shape];
  gatherAxes(out.data, x.data, src, broadcastMaps(src, shape), undefined);
  return [out];
});

registerKernel("Tile", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "input");
  const reps = intValues(tensorArg(inputs, 1, "repeats"));
  if (reps.length !== x.shape.length) fail(`Tile has ${reps.length} repeats for rank ${x.shape.length}`);
  if (reps.some((v) => v < 0)) fail(`Tile repeats [${reps}] are negative`);
  const shape = x.shape.map((d, i) => d * reps[i]);
  checkedSize(shape);
  const out = ctx.alloc(x.dtype, shape);
  const maps = shape.map((d, i) => {
    const m = new Int32Array(d);
    const n = x.shape[i];
    for (let k = 0; k < d; k++) m[k] = k % n;
    return m;
  });
  gatherAxes(out.data, x.data, x.shape, maps, undefined);
  return [out];
});

/** Source index of output position o along an axis of size n padded by `begin` in a non-constant mode. */
function padSource(mode: string, o: number, begin: number, n: number): number {
  let i = o - begin;
  if (i >= 0 && i < n) return i;
  if (mode === "constant") return -1;
  if (mode === "edge") return i < 0 ? 0 : n - 1;
  if (mode === "wrap") return ((i % n) + n) % n;
  if (mode === "reflect") {
    if (n === 1) return 0;
    const period = 2 * (n - 1);
    i = ((i % period) + period) % period;
    return i < n ? i : period - i;
  }
  fail(`unknown Pad mode '${mode}'`);
}

registerKernel("Pad", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "data");
  const padsT = optTensor(inputs, 1);
  const valueT = optTensor(inputs, 2, true);
  const axesT = optTensor(inputs, 3);
  const mode: string = ctx.attrs.mode;
  const r = x.shape.length;
  const axes = axesT ? intValues(axesT) : undefined;
  const pads = padsT ? intValues(padsT) : new Array(2 * (axes?.length || r)).fill(0);
  const { begin, end } = runtimeShape(() => padAmounts(r, pads, axes));
  const shape = x.shape.map((d, i) => d + begin[i] + end[i]);
  if (shape.some((d) => d < 0)) fail(`Pad crops [${x.shape}] below zero`);
  checkedSize(shape);
  const out = ctx.alloc(x.dtype, shape);
  if (out.data.length === 0) return [out];
  if (mode !== "constant" && x.data.length === 0) fail(`Pad mode ${mode} needs a non-empty input`);
  if (!["constant", "edge", "reflect", "wrap"].includes(mode)) fail(`unknown Pad mode '${mode}'`);
  const maps = shape.map((d, ax) => {
    const m = new Int32Array(d);
    for (let o = 0; o < d; o++) m[o] = padSource(mode, o, begin[ax], x.shape[ax]);
    return m;
  });
  const fill = valueT ? storageValue(out.data, valueT.data[0] as never) : zeroOf(out.data);
  gatherAxes(out.data, x.data, x.shape, maps, fill);
  return [out];
});

function int64Tensor(
  ctx: { alloc(d: DType, s: readonly number[]): Tensor },
  values: readonly number[],
  shape: readonly number[],
): Tensor {
  const t = ctx.alloc("i64", shape);
  const d = t.data as BigInt64Array;
  for (let i = 0; i < values.length; i++) d[i] = BigInt(values[i]);
  return t;
}

registerKernel("Shape", (inputs, ctx) => {
  const x = tensorArg(inputs, 0, "data");
  const [s, e] = shapeWindow(x.shape.length, ctx.attrs.start, ctx.attrs.end);
  return [int64Tensor(ctx, x.shape.slice(s, e), [e - s])];
});

registerKernel("Size", (inputs, ctx) => {
  const x = tensorArg(inputs, 0, "data");
  return [int64Tensor(ctx, [x.shape.reduce((p, d) => p * d, 1)], [])];
});

registerKernel("ConstantOfShape", (inputs, ctx) => {
  const dims = intValues(tensorArg(inputs, 0, "input"));
  checkedSize(dims);
  const value = ctx.attrs.value ? fromConstant(ctx.attrs.value) : undefined;
  if (value && value.data.length !== 1) {
    fail(`ConstantOfShape value has ${value.data.length} elements, needs 1`);
  }
  const out = ctx.alloc(value?.dtype ?? "f32", dims);
  (out.data as any).fill(value ? value.data[0] : 0);
  return [out];
});

registerKernel("Range", (inputs, ctx) => {
  const [s, l, d] = [0, 1, 2].map((i) => tensorArg(inputs, i, ["start", "limit", "delta"][i]));
  for (const t of [s, l, d]) if (t.data.length !== 1) fail("Range operands must be scalars");
  if (s.data instanceof BigInt64Array) {
    const a = s.data[0], lim = l.data[0] as bigint, step = d.data[0] as bigint;
    if (step === 0n) fail("Range delta is 0");
    const span = lim - a;
    let n = span / step + (span % step !== 0n && (span > 0n) === (step > 0n) ? 1n : 0n);
    if (n < 0n) n = 0n;
    if (n > 1n << 32n) fail(`Range of ${n} elements is too large`);
    const out = ctx.alloc("i64", [Number(n)]);
    const o = out.data as BigInt64Array;
    for (let i = 0; i < o.length; i++) o[i] = a + BigInt(i) * step;
    return [out];
  }
  const a = Number(s.data[0]), lim = Number(l.data[0]), step = Number(d.data[0]);
  const n = runtimeShape(() => rangeLength(a, lim, step));
  checkedSize([n]);
  const out = ctx.alloc(s.dtype, [n]);
  const o = out.data as Float64Array;
  // Accumulating in the element type matches numpy's arange for float32 well within tolerance.
  for (let i = 0; i < n; i++) o[i] = a + i * step;
  return [out];
});

registerKernel("EyeLike", (inputs, ctx) => {
  const x = tensorArg(inputs, 0, "input");
  if (x.shape.length !== 2) fail(`EyeLike needs a 2-D input, got rank ${x.shape.length}`);
  const dtype = ctx.attrs.dtype !== undefined ? dtypeAttr(ctx.attrs.dtype, "EyeLike dtype") : x.dtype;
  const [rows, cols] = x.shape;
  const out = ctx.alloc(dtype, x.shape);
  const d = out.data as any;
  const zero = zeroOf(out.data), one = storageValue(out.data, 1);
  d.fill(zero);
  const k: number = ctx.attrs.k;
  for (let i = 0; i < rows; i++) {
    const j = i + k;
    if (j >= 0 && j < cols) d[i * cols + j] = one;
  }
  return [out];
});

registerKernel("DepthToSpace", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "input");
  const b: number = ctx.attrs.blocksize;
  if (x.shape.length !== 4) fail(`DepthToSpace needs a 4-D input, got [${x.shape}]`);
  const [n, c, h, w] = x.shape;
  if (!(b > 0) || c % (b * b)) fail(`channels ${c} not divisible by blocksize² ${b * b}`);
  const crd = ctx.attrs.mode === "CRD";
  if (!crd && ctx.attrs.mode !== "DCR") fail(`unknown DepthToSpace mode '${ctx.attrs.mode}'`);
  const oc = c / (b * b), oh = h * b, ow = w * b;
  const out = ctx.alloc(x.dtype, [n, oc, oh, ow]);
  const src = x.data as any, dst = out.data as any;
  const hw = h * w;
  for (let bn = 0; bn < n; bn++) {
    for (let co = 0; co < oc; co++) {
      for (let i = 0; i < b; i++) {
        for (let j = 0; j < b; j++) {
          const ci = crd ? co * b * b + i * b + j : (i * b + j) * oc + co;
          const sBase = (bn * c + ci) * hw;
          const dBase = (bn * oc + co) * oh * ow;
          for (let y = 0; y < h; y++) {
            const dRow = dBase + (y * b + i) * ow + j, sRow = sBase + y * w;
            for (let xx = 0; xx < w; xx++) dst[dRow + xx * b] = src[sRow + xx];
          }
        }
      }
    }
  }
  return [out];
});

registerKernel("SpaceToDepth", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "input");
  const b: number = ctx.attrs.blocksize;
  if (x.shape.length !== 4) fail(`SpaceToDepth needs a 4-D input, got [${x.shape}]`);
  const [n, c, h, w] = x.shape;
  if (!(b > 0) || h % b || w % b) fail(`spatial dims ${h}x${w} not divisible by blocksize ${b}`);
  const oh = h / b, ow = w / b, oc = c * b * b;
  const out = ctx.alloc(x.dtype, [n, oc, oh, ow]);
  const src = x.data as any, dst = out.data as any;
  for (let bn = 0; bn < n; bn++) {
    for (let ci = 0; ci < c; ci++) {
      for (let i = 0; i < b; i++) {
        for (let j = 0; j < b; j++) {
          const co = (i * b + j) * c + ci;
          const dBase = (bn * oc + co) * oh * ow, sBase = (bn * c + ci) * h * w;
          for (let y = 0; y < oh; y++) {
            const sRow = sBase + (y * b + i) * w + j, dRow = dBase + y * ow;
            for (let xx = 0; xx < ow; xx++) dst[dRow + xx] = src[sRow + xx * b];
          }
        }
      }
    }
  }
  return [out];
});

registerKernel("Trilu", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "input");
  const kT = optTensor(inputs, 1);
  const k = kT ? scalarValue(kT, "k") : 0;
  const r = x.shape.length;
  if (r < 2) fail(`Trilu needs rank >= 2, got [${x.shape}]`);
  const rows = x.shape[r - 2], cols = x.shape[r - 1];
  const out = ctx.alloc(x.dtype, x.shape);
  const dst = out.data as any;
  const zero = zeroOf(out.data);
  const upper = ctx.attrs.upper !== 0;
  const mats = rows * cols ? x.data.length / (rows * cols) : 0;
  for (let m = 0; m < mats; m++) {
    for (let i = 0; i < rows; i++) {
      const base = (m * rows + i) * cols;
      // Upper keeps j >= i + k, lower keeps j <= i + k.
      const cut = Math.min(cols, Math.max(0, upper ? i + k : i + k + 1));
      if (upper) {
        dst.fill(zero, base, base + cut);
        copyRun(out.data, base + cut, x.data, base + cut, cols - cut);
      } else {
        copyRun(out.data, base, x.data, base, cut);
        dst.fill(zero, base + cut, base + cols);
      }
    }
  }
  return [out];
});

registerKernel("CenterCropPad", (inputs, ctx) => {
  const x = dataArg(inputs, 0, "input_data");
  const target = intValues(tensorArg(inputs, 1, "shape"));
  const r = x.shape.length;
  const axes: number[] = ctx.attrs.axes.length
    ? runtimeShape(() => ctx.attrs.axes.map((v: number) => normalizeAxis(v, r, "CenterCropPad axis")))
    : x.shape.map((_, i) => i);
  if (target.length !== axes.length) {
    fail(`CenterCropPad shape has ${target.length} dims for ${axes.length} axes`);
  }
  const shape = [...x.shape];
  axes.forEach((d, i) => (shape[d] = target[i]));
  checkedSize(shape);
  const maps = shape.map((d, ax) => {
    const n = x.shape[ax];
    if (d === n) return identityMap(d);
    if (d < n) return identityMap(d, Math.floor((n - d) / 2));
    const off = Math.floor((d - n) / 2);
    const m = new Int32Array(d).fill(-1);
    for (let i = 0; i < n; i++) m[off + i] = i;
    return m;
  });
  const out = ctx.alloc(x.dtype, shape);
  if (out.data.length) gatherAxes(out.data, x.data, x.shape, maps, zeroOf(out.data));
  return [out];
});
