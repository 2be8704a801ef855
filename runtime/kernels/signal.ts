/** DFT, STFT, window functions and MelWeightMatrix, computed in double precision. */
import { type DType, isFloat } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { dftAxis } from "../../ir/ops/signal.ts";
import { dtypeAttr } from "../../ir/ops/dtype-code.ts";
import { type KernelContext, registerKernel } from "../kernel-registry.ts";
import { expectTensor, type RValue, type Tensor } from "../tensor.ts";
import { fftPlan } from "./fft.ts";

/** Reads element i of a float tensor as a number (bf16 is stored as bits). */
function floatReader(t: Tensor): (i: number) => number {
  if (t.dtype === "bf16") {
    const bits = t.data as Uint16Array;
    const f = new Float32Array(1), u = new Uint32Array(f.buffer);
    return (i) => {
      u[0] = bits[i] << 16;
      return f[0];
    };
  }
  const d = t.data as ArrayLike<number>;
  return (i) => d[i];
}

/** Writes numbers into a tensor of any numeric type (ints truncate toward zero, like a cast). */
function store(out: Tensor, src: ArrayLike<number>): void {
  const d = out.data;
  const n = src.length;
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    for (let i = 0; i < n; i++) d[i] = BigInt(Math.trunc(src[i]));
  } else if (out.dtype === "bf16") {
    const o = d as Uint16Array;
    const f = new Float32Array(1), u = new Uint32Array(f.buffer);
    for (let i = 0; i < n; i++) {
      f[0] = src[i];
      const b = u[0];
      o[i] = src[i] !== src[i] ? 0x7fc0 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
    }
  } else if (out.dtype === "bool") {
    for (let i = 0; i < n; i++) (d as Uint8Array)[i] = src[i] ? 1 : 0;
  } else if (isFloat(out.dtype)) (d as Float32Array).set(src);
  else for (let i = 0; i < n; i++) (d as Int32Array)[i] = Math.trunc(src[i]);
}

function scalar(v: RValue | undefined, what: string): number {
  const t = expectTensor(v, what);
  if (t.data.length !== 1) {
    throw new LatheError("runtime", `${what} must have one element, has ${t.data.length}`);
  }
  return t.dtype === "bf16" ? floatReader(t)(0) : Number(t.data[0]);
}

function sizeArg(v: RValue | undefined, what: string): number {
  const n = scalar(v, what);
  if (!Number.isInteger(n) || n < 0 || n > 2 ** 31) {
    throw new LatheError("runtime", `${what} ${n} is not a valid size`);
  }
  return n;
}

registerKernel("DFT", (inputs, ctx) => {
  const x = expectTensor(inputs[0], "input");
  if (!isFloat(x.dtype)) throw new LatheError("runtime", "DFT input must be a float tensor");
  const r = x.shape.length;
  const comps = x.shape[r - 1];
  if (r < 2 || (comps !== 1 && comps !== 2)) {
    throw new LatheError("runtime", `DFT input's last dimension must be 1 or 2, shape is [${x.shape}]`);
  }
  const axisVal = inputs[2] !== undefined ? scalar(inputs[2], "axis") : (ctx.attrs.axis ?? -2);
  const axis = dftAxis(axisVal, r);
  if (axis === undefined) throw new LatheError("runtime", `DFT axis ${axisVal} out of range for rank ${r}`);
  const nIn = x.shape[axis];
  const n = inputs[1] !== undefined ? sizeArg(inputs[1], "dft_length") : nIn;
  if (n < 1) throw new LatheError("runtime", "dft_length must be positive");
  const inverse = !!ctx.attrs.inverse;
  const kOut = ctx.attrs.onesided ? Math.floor(n / 2) + 1 : n;
  let outer = 1, inner = 1;
  for (let i = 0; i < axis; i++) outer *= x.shape[i];
  for (let i = axis + 1; i < r - 1; i++) inner *= x.shape[i];
  const shape = [...x.shape];
  shape[axis] = kOut;
  shape[r - 1] = 2;
  const out = ctx.alloc(x.dtype, shape);
  const res = new Float64Array(outer * kOut * inner * 2);
  const read = floatReader(x);
  const plan = fftPlan(n);
  const re = new Float64Array(n), im = new Float64Array(n);
  const m = Math.min(n, nIn);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      // Shorter signals are zero-padded to dft_length, longer ones truncated.
      re.fill(0);
      im.fill(0);
      for (let j = 0; j < m; j++) {
        const src = ((o * nIn + j) * inner + i) * comps;
        re[j] = read(src);
        if (comps === 2) im[j] = read(src + 1);
      }
      plan.run(re, im, inverse);
      for (let k = 0; k < kOut; k++) {
        const dst = ((o * kOut + k) * inner + i) * 2;
        res[dst] = re[k];
        res[dst + 1] = im[k];
      }
    }
  }
  store(out, res);
  return [out];
});

registerKernel("STFT", (inputs, ctx) => {
  const x = expectTensor(inputs[0], "signal");
  if (!isFloat(x.dtype) || x.shape.length !== 3 || (x.shape[2] !== 1 && x.shape[2] !== 2)) {
    throw new LatheError(
      "runtime",
      `STFT signal must be a float [batch, length, 1 or 2] tensor, is [${x.shape}]`,
    );
  }
  const [batch, len, comps] = x.shape;
  const step = sizeArg(inputs[1], "frame_step");
  if (step < 1) throw new LatheError("runtime", "frame_step must be positive");
  let window: Float64Array | undefined;
  if (inputs[2] !== undefined) {
    const w = expectTensor(inputs[2], "window");
    if (w.shape.length !== 1) throw new LatheError("runtime", "STFT window must be 1-D");
    const rd = floatReader(w);
    window = new Float64Array(w.shape[0]);
    for (let i = 0; i < window.length; i++) window[i] = rd(i);
  }
  const fl = inputs[3] !== undefined ? sizeArg(inputs[3], "frame_length") : window?.length;
  if (fl === undefined || fl < 1) throw new LatheError("runtime", "STFT needs a window or a frame_length");
  if (window && window.length !== fl) {
    throw new LatheError("runtime", `window has ${window.length} points, frame_length is ${fl}`);
  }
  if (fl > len) throw new LatheError("runtime", `frame_length ${fl} exceeds the signal length ${len}`);
  const onesided = !!ctx.attrs.onesided;
  if (onesided && comps === 2) throw new LatheError("runtime", "onesided STFT needs a real signal");
  const frames = Math.floor((len - fl) / step) + 1;
  const bins = onesided ? Math.floor(fl / 2) + 1 : fl;
  const out = ctx.alloc(x.dtype, [batch, frames, bins, 2]);
  const res = new Float64Array(batch * frames * bins * 2);
  const read = floatReader(x);
  const plan = fftPlan(fl);
  const re = new Float64Array(fl), im = new Float64Array(fl);
  for (let b = 0; b < batch; b++) {
    for (let f = 0; f < frames; f++) {
      for (let j = 0; j < fl; j++) {
        const src = (b * len + f * step + j) * comps;
        const w = window ? window[j] : 1;
        re[j] = read(src) * w;
        im[j] = comps === 2 ? read(src + 1) * w : 0;
      }
      plan.run(re, im, false);
      const base = (b * frames + f) * bins * 2;
      for (let k = 0; k < bins; k++) {
        res[base + 2 * k] = re[k];
        res[base + 2 * k + 1] = im[k];
      }
    }
  }
  store(out, res);
  return [out];
});

/** Generalized cosine window Σ_j (-1)^j a_j cos(2πjn/N), N = size (periodic) or size-1 (symmetric). */
function cosineWindow(coeffs: readonly number[]) {
  return (inputs: readonly (RValue | undefined)[], ctx: KernelContext) => {
    const size = sizeArg(inputs[0], "size");
    const dtype: DType = dtypeAttr(ctx.attrs.output_datatype, "output_datatype");
    const N = ctx.attrs.periodic ? size : size - 1;
    const vals = new Float64Array(size);
    for (let i = 0; i < size; i++) {
      let v = 0;
      for (let j = 0; j < coeffs.length; j++) {
        // A one-point symmetric window has N = 0; its single value is the sum at angle 0.
        const c = N === 0 ? 1 : Math.cos((2 * Math.PI * j * i) / N);
        v += (j & 1 ? -1 : 1) * coeffs[j] * c;
      }
      vals[i] = v;
    }
    const out = ctx.alloc(dtype, [size]);
    store(out, vals);
    return [out];
  };
}

registerKernel("HannWindow", cosineWindow([0.5, 0.5]));
registerKernel("HammingWindow", cosineWindow([25 / 46, 1 - 25 / 46]));
registerKernel("BlackmanWindow", cosineWindow([0.42, 0.5, 0.08]));

registerKernel("MelWeightMatrix", (inputs, ctx) => {
  const mels = sizeArg(inputs[0], "num_mel_bins");
  const dft = sizeArg(inputs[1], "dft_length");
  const rate = scalar(inputs[2], "sample_rate");
  const lo = scalar(inputs[3], "lower_edge_hertz"), hi = scalar(inputs[4], "upper_edge_hertz");
  if (!(rate > 0)) throw new LatheError("runtime", `sample_rate ${rate} must be positive`);
  if (!(lo >= 0 && hi >= lo)) throw new LatheError("runtime", `bad frequency range [${lo}, ${hi}]`);
  const dtype: DType = dtypeAttr(ctx.attrs.output_datatype, "output_datatype");
  const bins = Math.floor(dft / 2) + 1;
  const toMel = (hz: number) => 2595 * Math.log10(1 + hz / 700);
  const melLo = toMel(lo), melHi = toMel(hi);
  // num_mel_bins + 2 points spaced evenly in mel (the step divides by the point count, as ONNX's reference
  // does), mapped back to Hz and then to the index of the DFT bin they fall in.
  const points = mels + 2;
  const stepMel = (melHi - melLo) / points;
  const edge = new Int32Array(points);
  for (let i = 0; i < points; i++) {
    const hz = 700 * (Math.pow(10, (melLo + i * stepMel) / 2595) - 1);
    edge[i] = Math.floor(((dft + 1) * hz) / rate);
  }
  const w = new Float64Array(bins * mels);
  for (let m = 0; m < mels; m++) {
    const left = edge[m], center = edge[m + 1], right = edge[m + 2];
    const up = center - left, down = right - center;
    if (up === 0) {
      if (center >= 0 && center < bins) w[center * mels + m] = 1;
    } else {
      for (let j = Math.max(0, left); j <= Math.min(center, bins - 1); j++) w[j * mels + m] = (j - left) / up;
    }
    if (down > 0) {
      for (let j = Math.max(0, center); j < Math.min(right, bins); j++) w[j * mels + m] = (right - j) / down;
    }
  }
  const out = ctx.alloc(dtype, [bins, mels]);
  store(out, w);
  return [out];
});
