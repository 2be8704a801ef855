/**
 * ONNX's NCHW spatial ops as TFLite's NHWC ones: each becomes Transpose(NCHW→NHWC), the `tfl` op, and
 * Transpose(NHWC→NCHW). The transposes are ONNX ops, so layout propagation can cancel the pairs between
 * neighbouring layers before the remaining ONNX ops map one to one.
 *
 * Padding: TFLite has only SAME and VALID. Explicit pads equal to TFLite's SAME for that size, kernel and
 * stride become SAME; zero pads VALID; anything else a PAD (zeros for convolutions, the lowest float for max
 * pooling) followed by VALID. Average pooling divides by the count of real (or, with count_include_pad, of
 * real and padded) cells, so where TFLite's own SAME rule does not give ONNX's count, the pooled sum is
 * rescaled by a constant per output cell.
 */
import { type Constant, constantBytes } from "../../ir/constant.ts";
import { constantNumbers } from "../../ir/constant-values.ts";
import type { Node } from "../../ir/graph.ts";
import { forwardWindow, transposeWindow, type Window } from "../../ir/ops/conv-pool.ts";
import { windowAxis } from "../../ir/ops/tflite-geometry.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import { isStaticShape } from "../../ir/value-type.ts";
import { permuteConstant } from "../constant-permute.ts";
import { P, tensorTypeOf, type ValueRef } from "../pattern.ts";
import { type Rewriter, type Rule, rule } from "../rewrite.ts";
import { f32Operand, i32Scalar, intOperand } from "./operand-constants.ts";
import type { Declines } from "./report.ts";

export const TO_NHWC = [0, 2, 3, 1];
export const TO_NCHW = [0, 3, 1, 2];
/** The lowest finite float: a max-pool pad value no real input loses to. */
const LOWEST = -3.4028234663852886e38;

export type Padding = { padding: "SAME" | "VALID"; pads?: number[][] };

const shapeOf = (v: ValueRef) => tensorTypeOf(v)?.shape;

/**
 * TFLite padding for a window over `size` (per spatial axis) with ONNX's begin pads and the end pads the
 * output count needs (more than given under ceil_mode, fewer when the last cells are never read).
 */
export function tflPadding(size: readonly number[], w: Window): Padding {
  const need = size.map((x, i) => {
    const eff = (w.kernel[i] - 1) * w.dilations[i] + 1;
    return Math.max(0, (w.out[i] - 1) * w.strides[i] + eff - w.padsBegin[i] - x);
  });
  const same = size.map((x, i) => windowAxis("SAME", x, w.kernel[i], w.strides[i], w.dilations[i]));
  if (same.every((a, i) => a.out === w.out[i] && a.padBefore === w.padsBegin[i] && a.padAfter === need[i])) {
    return { padding: "SAME" };
  }
  if (w.padsBegin.every((p) => p === 0) && need.every((p) => p === 0)) return { padding: "VALID" };
  return { padding: "VALID", pads: [[0, 0], ...size.map((_, i) => [w.padsBegin[i], need[i]]), [0, 0]] };
}

export function padded(rw: Rewriter, x: ValueRef, p: Padding, value: number): ValueRef {
  if (!p.pads) return x;
  const paddings = intOperand(rw, "paddings", "i32", p.pads.flat(), [4, 2]);
  if (value === 0) return rw.op1("tfl.PAD", [x, paddings]);
  return rw.op1("tfl.PADV2", [x, paddings, f32Operand(rw, "pad_value", [], [value])]);
}

const transpose = (rw: Rewriter, x: ValueRef | string, perm: number[]) => rw.op1("Transpose", [x], { perm });

function f32Weights(c: Constant | undefined): c is Constant {
  return !!c && c.dtype === "f32";
}

/** Rows [from, to) of a constant along its first dim. */
function firstDimSlice(c: Constant, from: number, to: number): Constant {
  const per = c.shape.slice(1).reduce((p, d) => p * d, 1) * 4;
  const bytes = constantBytes(c);
  return {
    dtype: c.dtype,
    shape: [to - from, ...c.shape.slice(1)],
    bytes: bytes.slice(from * per, to * per),
  };
}

export function spatialRules(declines: Declines): Rule[] {
  /** Static NCHW input, or a recorded reason. */
  const nchw = (x: ValueRef, n: Node): [number | string, number, number, number] | undefined => {
    const s = shapeOf(x);
    if (!s || s.length !== 4) {
      return declines.of(n, `input must have rank 4 (NCHW), has ${s ? `[${s}]` : "unknown rank"}`);
    }
    if (typeof s[1] !== "number" || typeof s[2] !== "number" || typeof s[3] !== "number") {
      return declines.of(
        n,
        `needs static C, H and W (input is [${s}]); bind symbolic dims with --dim or --shape`,
      );
    }
    return s as [number | string, number, number, number];
  };

  function conv({ x, w, b, n }: any, rw: Rewriter) {
    const s = nchw(x, n);
    if (!s) return undefined;
    if (!w.constant) {
      return declines.of(n, "the filter must be constant (TFLite filters are permuted when converted)");
    }
    const wc = w.constant as Constant;
    if (!f32Weights(wc)) return declines.of(n, "only f32 weights map to CONV_2D here");
    if (b && b.constant?.dtype !== undefined && b.constant.dtype !== "f32") {
      return declines.of(n, "bias must be f32");
    }
    const at = resolveAttrs(n);
    const [M, cg, kh, kw] = wc.shape;
    const win = forwardWindow([s[2], s[3]], [kh, kw], at);
    const group: number = at.group;
    const pad = tflPadding([s[2], s[3]], win);
    const input = padded(rw, transpose(rw, x, TO_NHWC), pad, 0);
    const attrs = {
      padding: pad.padding,
      stride_h: win.strides[0],
      stride_w: win.strides[1],
      dilation_h_factor: win.dilations[0],
      dilation_w_factor: win.dilations[1],
    };
    const bias = b ?? f32Operand(rw, `${n.id}_bias`, [M], new Float32Array(M));
    let y: ValueRef;
    if (group === 1) {
      y = rw.op1("tfl.CONV_2D", [
        input,
        rw.constant(`${w.name}_ohwi`, permuteConstant(wc, [0, 2, 3, 1])),
        bias,
      ], attrs);
    } else if (cg === 1 && group === s[1] && M % group === 0) {
      const filter = rw.constant(`${w.name}_1hwc`, permuteConstant(wc, [1, 2, 3, 0]));
      y = rw.op1("tfl.DEPTHWISE_CONV_2D", [input, filter, bias], { ...attrs, depth_multiplier: M / group });
    } else {
      // Grouped: one CONV_2D per group over its slice of channels, concatenated.
      const parts = rw.op("tfl.SPLIT", [i32Scalar(rw, "axis", 3), input], { num_splits: group }, group);
      const ohwi = permuteConstant(wc, [0, 2, 3, 1]);
      const m = M / group;
      if (!b) {
        y = rw.op1(
          "tfl.CONCATENATION",
          parts.map((p, g) =>
            rw.op1("tfl.CONV_2D", [
              p,
              rw.constant(`${w.name}_g${g}`, firstDimSlice(ohwi, g * m, (g + 1) * m)),
              f32Operand(rw, "bias", [m], new Float32Array(m)),
            ], attrs)
          ),
          { axis: 3 },
        );
      } else {
        if (!b.constant) return declines.of(n, "a grouped convolution's bias must be constant");
        const bc = b.constant as Constant;
        y = rw.op1(
          "tfl.CONCATENATION",
          parts.map((p, g) =>
            rw.op1("tfl.CONV_2D", [
              p,
              rw.constant(`${w.name}_g${g}`, firstDimSlice(ohwi, g * m, (g + 1) * m)),
              rw.constant(`${b.name}_g${g}`, firstDimSlice(bc, g * m, (g + 1) * m)),
            ], attrs)
          ),
          { axis: 3 },
        );
      }
    }
    return transpose(rw, y, TO_NCHW);
  }

  function convTranspose({ x, w, b, n }: any, rw: Rewriter) {
    const s = nchw(x, n);
    if (!s) return undefined;
    if (!w.constant) {
      return declines.of(n, "the filter must be constant (TFLite filters are permuted when converted)");
    }
    if (typeof s[0] !== "number") {
      return declines.of(n, "TRANSPOSE_CONV needs a static batch size for its output shape");
    }
    const wc = w.constant as Constant;
    if (!f32Weights(wc)) return declines.of(n, "only f32 weights map to TRANSPOSE_CONV here");
    const at = resolveAttrs(n);
    if (at.group !== 1) return declines.of(n, `TRANSPOSE_CONV has no groups (group is ${at.group})`);
    const [, cout, kh, kw] = wc.shape;
    const win = transposeWindow([s[2], s[3]], [kh, kw], at);
    if (win.dilations.some((d) => d !== 1)) return declines.of(n, "TRANSPOSE_CONV has no dilation");
    const out = win.out;
    // TFLite crops the full result at the SAME/VALID pad of a forward window from the output size.
    const fits = (p: "SAME" | "VALID") =>
      out.every((o, i) => {
        try {
          return windowAxis(p, o, win.kernel[i], win.strides[i]).padBefore === win.padsBegin[i];
        } catch {
          return false;
        }
      });
    const padding = fits("SAME") ? "SAME" : fits("VALID") ? "VALID" : undefined;
    const filter = rw.constant(`${w.name}_ohwi`, permuteConstant(wc, [1, 2, 3, 0]));
    const xt = transpose(rw, x, TO_NHWC);
    const attrs = (p: string) => ({ padding: p, stride_h: win.strides[0], stride_w: win.strides[1] });
    let y: ValueRef;
    if (padding) {
      const shape = intOperand(rw, "output_shape", "i32", [s[0], out[0], out[1], cout]);
      y = rw.op1("tfl.TRANSPOSE_CONV", [shape, filter, xt, b ?? null], attrs(padding));
    } else {
      // The uncropped result (VALID), then ONNX's crop.
      const full = [0, 1].map((i) => ((s[2 + i] as number) - 1) * win.strides[i] + win.kernel[i]);
      if (out.some((o, i) => win.padsBegin[i] + o > full[i])) {
        return declines.of(n, "output_padding beyond the kernel's reach has no TRANSPOSE_CONV form");
      }
      const shape = intOperand(rw, "output_shape", "i32", [s[0], full[0], full[1], cout]);
      const wide = rw.op1("tfl.TRANSPOSE_CONV", [shape, filter, xt, b ?? null], attrs("VALID"));
      y = rw.op1("tfl.STRIDED_SLICE", [
        wide,
        intOperand(rw, "begin", "i32", [0, win.padsBegin[0], win.padsBegin[1], 0]),
        intOperand(rw, "end", "i32", [s[0], win.padsBegin[0] + out[0], win.padsBegin[1] + out[1], cout]),
        intOperand(rw, "strides", "i32", [1, 1, 1, 1]),
      ]);
    }
    return transpose(rw, y, TO_NCHW);
  }

  function maxPool({ x, n }: any, rw: Rewriter) {
    if (n.outputs[1]) return declines.of(n, "MaxPool's Indices output has no TFLite form");
    const s = nchw(x, n);
    if (!s) return undefined;
    const at = resolveAttrs(n);
    const win = forwardWindow([s[2], s[3]], at.kernel_shape, at, at.ceil_mode === 1);
    if (win.dilations.some((d) => d !== 1)) return declines.of(n, "TFLite pools have no dilation");
    const pad = tflPadding([s[2], s[3]], win);
    const input = padded(rw, transpose(rw, x, TO_NHWC), pad, LOWEST);
    const y = rw.op1("tfl.MAX_POOL_2D", [input], poolAttrs(pad, win));
    return transpose(rw, y, TO_NCHW);
  }

  function averagePool({ x, n }: any, rw: Rewriter) {
    const s = nchw(x, n);
    if (!s) return undefined;
    const at = resolveAttrs(n);
    const win = forwardWindow([s[2], s[3]], at.kernel_shape, at, at.ceil_mode === 1);
    if (win.dilations.some((d) => d !== 1)) return declines.of(n, "TFLite pools have no dilation");
    const size = [s[2], s[3]];
    let pad = tflPadding(size, win);
    const include = at.count_include_pad === 1;
    // TFLite's SAME divides by the real cells; with count_include_pad that is ONNX only when nothing is padded.
    if (pad.padding === "SAME" && include && win.padsBegin.some((p, i) => p > 0 || win.padsEnd[i] > 0)) {
      pad = {
        padding: "VALID",
        pads: [
          [0, 0],
          ...size.map((
            x,
            i,
          ) => [
            win.padsBegin[i],
            Math.max(0, (win.out[i] - 1) * win.strides[i] + win.kernel[i] - win.padsBegin[i] - x),
          ]),
          [0, 0],
        ],
      };
    }
    const input = padded(rw, transpose(rw, x, TO_NHWC), pad, 0);
    let y = rw.op1("tfl.AVERAGE_POOL_2D", [input], poolAttrs(pad, win));
    if (pad.pads) {
      const factor = countCorrection(size, win, include);
      if (factor) {
        y = rw.op1("tfl.MUL", [y, f32Operand(rw, `${n.id}_count`, [1, win.out[0], win.out[1], 1], factor)]);
      }
    }
    return transpose(rw, y, TO_NCHW);
  }

  function resize({ x, scales, sizes, n }: any, rw: Rewriter) {
    const s = nchw(x, n);
    if (!s) return undefined;
    const out = shapeOf(rw.ref(n.outputs[0]));
    if (!isStaticShape(out) || out[0] !== s[0] || out[1] !== s[1]) {
      return declines.of(n, "only H and W may be resized, to static sizes");
    }
    const at = resolveAttrs(n);
    if (at.antialias) return declines.of(n, "antialiased resize has no TFLite form");
    if (scales && !sizes) {
      const sc = constantNumbers(scales.constant);
      if (
        sc.length === 4 && (Math.abs(sc[2] - out[2] / s[2]) > 1e-6 || Math.abs(sc[3] - out[3] / s[3]) > 1e-6)
      ) {
        return declines.of(n, `scales [${sc}] differ from the output/input ratio, which TFLite resizes by`);
      }
    }
    const mode = at.mode, ct = at.coordinate_transformation_mode, nm = at.nearest_mode;
    let op: string, flags: { align_corners: number; half_pixel_centers: number };
    if (mode === "linear") {
      op = "tfl.RESIZE_BILINEAR";
      if (ct === "align_corners") flags = { align_corners: 1, half_pixel_centers: 0 };
      else if (ct === "half_pixel" || (ct === "pytorch_half_pixel" && out[2] > 1 && out[3] > 1)) {
        flags = { align_corners: 0, half_pixel_centers: 1 };
      } else if (ct === "asymmetric") flags = { align_corners: 0, half_pixel_centers: 0 };
      else return declines.of(n, `linear resize with coordinate_transformation_mode ${ct}`);
    } else if (mode === "nearest") {
      op = "tfl.RESIZE_NEAREST_NEIGHBOR";
      if (ct === "asymmetric" && nm === "floor") flags = { align_corners: 0, half_pixel_centers: 0 };
      else if (ct === "align_corners" && nm === "round_prefer_ceil") {
        flags = { align_corners: 1, half_pixel_centers: 0 };
      } else if (
        (ct === "tf_half_pixel_for_nn" && nm === "floor") ||
        (ct === "half_pixel" && nm === "round_prefer_ceil")
      ) {
        flags = { align_corners: 0, half_pixel_centers: 1 };
      } else return declines.of(n, `nearest resize with ${ct} and ${nm} rounding`);
    } else return declines.of(n, `${mode} resize has no TFLite form`);
    const y = rw.op1(op, [transpose(rw, x, TO_NHWC), intOperand(rw, "size", "i32", [out[2], out[3]])], flags);
    return transpose(rw, y, TO_NCHW);
  }

  function blocks({ x, n }: any, rw: Rewriter) {
    const at = resolveAttrs(n);
    if (n.op === "DepthToSpace" && at.mode !== "DCR") {
      return declines.of(n, `DepthToSpace mode ${at.mode} (TFLite's order is DCR)`);
    }
    const op = n.op === "DepthToSpace" ? "tfl.DEPTH_TO_SPACE" : "tfl.SPACE_TO_DEPTH";
    const y = rw.op1(op, [transpose(rw, x, TO_NHWC)], { block_size: at.blocksize });
    return transpose(rw, y, TO_NCHW);
  }

  return [
    rule("conv", P.Conv(P.var("x"), P.var("w"), P.opt(P.var("b"))).as("n"), conv),
    rule(
      "conv-transpose",
      P.ConvTranspose(P.var("x"), P.var("w"), P.opt(P.var("b"))).as("n"),
      convTranspose,
    ),
    rule("max-pool", P.MaxPool(P.var("x")).as("n"), maxPool),
    rule("average-pool", P.AveragePool(P.var("x")).as("n"), averagePool),
    rule(
      "resize",
      P.Resize(P.var("x"), P.opt(P.any()), P.opt(P.const("scales")), P.opt(P.const("sizes"))).as("n"),
      resize,
    ),
    rule("depth-space", P.op(["DepthToSpace", "SpaceToDepth"], [P.var("x")]).as("n"), blocks),
  ];
}

function poolAttrs(pad: Padding, w: Window) {
  return {
    padding: pad.padding,
    stride_h: w.strides[0],
    stride_w: w.strides[1],
    filter_height: w.kernel[0],
    filter_width: w.kernel[1],
  };
}

/**
 * kh·kw / ONNX's divisor per output cell, or undefined when every factor is 1. onnxruntime divides by the
 * window's cells inside the input (count_include_pad=0) or inside the padded input (=1), never counting what
 * ceil_mode reaches beyond the pads.
 */
function countCorrection(size: readonly number[], w: Window, include: boolean): Float32Array | undefined {
  const counts = [0, 1].map((i) =>
    Array.from({ length: w.out[i] }, (_, o) => {
      const start = o * w.strides[i] - w.padsBegin[i];
      const end = Math.min(start + w.kernel[i], include ? size[i] + w.padsEnd[i] : size[i]);
      return end - Math.max(start, include ? -w.padsBegin[i] : 0);
    })
  );
  const k = w.kernel[0] * w.kernel[1];
  const f = new Float32Array(w.out[0] * w.out[1]);
  let trivial = true;
  for (let i = 0; i < w.out[0]; i++) {
    for (let j = 0; j < w.out[1]; j++) {
      const v = k / (counts[0][i] * counts[1][j]);
      f[i * w.out[1] + j] = v;
      if (v !== 1) trivial = false;
    }
  }
  return trivial ? undefined : f;
}
