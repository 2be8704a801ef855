/**
 * Signal processing: DFT, STFT, the Hann/Hamming/Blackman windows and MelWeightMatrix (ONNX opset 17/20).
 * Complex tensors carry a trailing dimension of 2 (real, imaginary); real input may end in 1 instead.
 */
import { isFloat } from "../dtype.ts";
import { a, defineOp, type InferContext, ins, opt } from "../op-registry.ts";
import type { Dim } from "../value-type.ts";
import { dtypeAttr } from "./dtype-code.ts";

/** A constant scalar integer input, or undefined. */
function constInt(ctx: InferContext, i: number): number | undefined {
  if (ctx.inputs[i] === undefined) return undefined;
  const v = ctx.ints(i);
  return v && v.length === 1 ? v[0] : undefined;
}

/**
 * DFT's axis: the axis input (opset 20), else the axis attribute that opset 17 had, else -2. Counted
 * over the full rank including the trailing complex dimension, which it may not name.
 */
export function dftAxis(axis: number, rank: number): number | undefined {
  const ax = axis < 0 ? axis + rank : axis;
  return ax >= 0 && ax <= rank - 2 ? ax : undefined;
}

defineOp({
  op: "DFT",
  inputs: ins("input", opt("dft_length"), opt("axis")),
  outputs: ins("output"),
  attrs: { inverse: a.int(0), onesided: a.int(0), axis: a.int() },
  infer(ctx) {
    const x = ctx.tensor(0);
    if (!isFloat(x.dtype)) ctx.fail("DFT input must be a float tensor");
    if (!x.shape) return [{ kind: "tensor", dtype: x.dtype }];
    const r = x.shape.length;
    const last = x.shape[r - 1];
    if (r < 2 || (typeof last === "number" && last !== 1 && last !== 2)) {
      ctx.fail(`DFT input's last dimension must be 1 or 2, shape is [${x.shape}]`);
    }
    const shape: Dim[] = [...x.shape];
    shape[r - 1] = 2;
    const axisVal = ctx.inputs[2] !== undefined ? constInt(ctx, 2) : (ctx.attrs.axis ?? -2);
    if (axisVal === undefined) {
      for (let i = 1; i < r - 1; i++) shape[i] = ctx.fresh();
      return [{ kind: "tensor", dtype: x.dtype, shape }];
    }
    const ax = dftAxis(axisVal, r);
    if (ax === undefined) return ctx.fail(`DFT axis ${axisVal} out of range for rank ${r}`);
    let n: Dim = shape[ax];
    if (ctx.inputs[1] !== undefined) n = constInt(ctx, 1) ?? ctx.fresh("dft");
    shape[ax] = ctx.attrs.onesided ? (typeof n === "number" ? Math.floor(n / 2) + 1 : ctx.fresh()) : n;
    return [{ kind: "tensor", dtype: x.dtype, shape }];
  },
});

defineOp({
  op: "STFT",
  inputs: ins("signal", "frame_step", opt("window"), opt("frame_length")),
  outputs: ins("output"),
  attrs: { onesided: a.int(1) },
  infer(ctx) {
    const x = ctx.tensor(0);
    if (!isFloat(x.dtype)) ctx.fail("STFT signal must be a float tensor");
    if (x.shape && x.shape.length !== 3) {
      ctx.fail(`STFT signal must be [batch, length, 1 or 2], is [${x.shape}]`);
    }
    const batch: Dim = x.shape?.[0] ?? ctx.fresh("batch");
    const len = x.shape?.[1];
    const step = constInt(ctx, 1);
    let fl: Dim | undefined = constInt(ctx, 3);
    if (fl === undefined && ctx.inputs[2]) {
      const w = ctx.tensor(2);
      if (w.shape && w.shape.length !== 1) ctx.fail("STFT window must be 1-D");
      fl = w.shape?.[0];
    }
    const frames: Dim = typeof len === "number" && typeof fl === "number" && step !== undefined && step > 0
      ? Math.floor((len - fl) / step) + 1
      : ctx.fresh("frames");
    const bins: Dim = typeof fl === "number"
      ? (ctx.attrs.onesided ? Math.floor(fl / 2) + 1 : fl)
      : ctx.fresh("bins");
    return [{ kind: "tensor", dtype: x.dtype, shape: [batch, frames, bins, 2] }];
  },
});

for (const op of ["HannWindow", "HammingWindow", "BlackmanWindow"]) {
  defineOp({
    op,
    inputs: ins("size"),
    outputs: ins("output"),
    attrs: { output_datatype: a.int(1), periodic: a.int(1) },
    infer(ctx) {
      const n = constInt(ctx, 0);
      return [{
        kind: "tensor",
        dtype: dtypeAttr(ctx.attrs.output_datatype, "output_datatype"),
        shape: [n ?? ctx.fresh("size")],
      }];
    },
  });
}

defineOp({
  op: "MelWeightMatrix",
  inputs: ins("num_mel_bins", "dft_length", "sample_rate", "lower_edge_hertz", "upper_edge_hertz"),
  outputs: ins("output"),
  attrs: { output_datatype: a.int(1) },
  infer(ctx) {
    const mel = constInt(ctx, 0), dft = constInt(ctx, 1);
    return [{
      kind: "tensor",
      dtype: dtypeAttr(ctx.attrs.output_datatype, "output_datatype"),
      shape: [dft !== undefined ? Math.floor(dft / 2) + 1 : ctx.fresh("bins"), mel ?? ctx.fresh("mels")],
    }];
  },
});
