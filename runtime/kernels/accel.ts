/**
 * Kernels of the host-preparation ops (ir/ops/accel.ts). They are exact integer code movement and sums, so
 * the CPU side of an accelerator simulation runs on the reference runtime. `lathe.AccelCall` has no kernel
 * here: each target registers its functional model (targets/accel-call.ts), keeping runtime/ free of
 * target knowledge.
 */
import { LatheError } from "../../ir/errors.ts";
import {
  type Col2ImGeometry,
  col2ImGeometry,
  im2colAxis,
  matrixView,
  recenteredType,
} from "../../ir/ops/accel.ts";
import { storageOf } from "../../ir/dtype.ts";
import { ggmlTypeByName } from "../../ir/ggml-type.ts";
import { canQuantize, quantizeKernel } from "../ggml/quantize.ts";
import { registerKernel } from "../kernel-registry.ts";
import { expectTensor, type RValue, type Tensor } from "../tensor.ts";

type Codes = Int8Array | Uint8Array;

function fail(reason: string): never {
  throw new LatheError("runtime", reason);
}

function codesArg(
  inputs: readonly (RValue | undefined)[],
  i: number,
  what: string,
): Tensor & { data: Codes } {
  const v = inputs[i];
  if (v === undefined) fail(`${what} is missing`);
  const t = expectTensor(v, what);
  const s = storageOf(t.dtype);
  if (s !== "i8" && s !== "u8") fail(`${what} must hold 8-bit codes`);
  return t as Tensor & { data: Codes };
}

function view(t: Tensor, cols: number): { rows: number; cols: number } {
  const v = matrixView(t.shape, cols);
  if (typeof v === "string") fail(v);
  return v;
}

registerKernel("lathe.Im2Col", (inputs, ctx) => {
  const x = codesArg(inputs, 0, "Im2Col input");
  if (x.shape.length !== 4) fail(`Im2Col input must be NHWC, is [${x.shape}]`);
  const [N, H, W, C] = x.shape;
  const [KH, KW] = ctx.attrs.kernel as number[], [sh, sw] = ctx.attrs.strides as number[];
  const [dh, dw] = ctx.attrs.dilations as number[], [pt, pl, pb, pr] = ctx.attrs.pads as number[];
  const OH = im2colAxis(H, KH, sh, dh, pt, pb), OW = im2colAxis(W, KW, sw, dw, pl, pr);
  if (OH < 1 || OW < 1) fail(`the window does not fit the input [${x.shape}]`);
  const fill = ctx.attrs.fill as number;
  const K = KH * KW * C;
  const out = ctx.alloc(x.dtype, [N * OH * OW, K]);
  const o = out.data as Codes, xd = x.data;
  let at = 0;
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        for (let ky = 0; ky < KH; ky++) {
          const iy = oy * sh - pt + ky * dh;
          for (let kx = 0; kx < KW; kx++) {
            const ix = ox * sw - pl + kx * dw;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) o.fill(fill, at, at + C);
            else {
              const src = ((n * H + iy) * W + ix) * C;
              if (C >= 16) o.set(xd.subarray(src, src + C), at);
              else for (let c = 0; c < C; c++) o[at + c] = xd[src + c];
            }
            at += C;
          }
        }
      }
    }
  }
  return [out];
});

registerKernel("lathe.PadTo", (inputs, ctx) => {
  const x = codesArg(inputs, 0, "PadTo input");
  const { rows, cols } = view(x, ctx.attrs.cols);
  const rm = ctx.attrs.row_multiple as number, cm = ctx.attrs.col_multiple as number;
  const R = Math.ceil(rows / rm) * rm, Cp = Math.ceil(cols / cm) * cm;
  const out = ctx.alloc(x.dtype, [R, Cp]);
  const o = out.data as Codes, xd = x.data;
  const value = ctx.attrs.value as number;
  if (Cp === cols) o.set(xd.subarray(0, rows * cols));
  else {
    for (let r = 0; r < rows; r++) {
      o.set(xd.subarray(r * cols, (r + 1) * cols), r * Cp);
      o.fill(value, r * Cp + cols, (r + 1) * Cp);
    }
  }
  o.fill(value, rows * Cp, R * Cp);
  return [out];
});

registerKernel("lathe.ZeroPointSums", (inputs, ctx) => {
  const x = codesArg(inputs, 0, "ZeroPointSums input");
  const { rows, cols } = view(x, ctx.attrs.cols);
  const m = ctx.attrs.multiplier as number;
  const out = ctx.alloc("i32", [rows]);
  const o = out.data as Int32Array, xd = x.data;
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = r * cols, e = c + cols; c < e; c++) s += xd[c];
    // The accelerator's sum registers are 32-bit: wrap as they would.
    o[r] = Math.imul(s, m);
  }
  return [out];
});

registerKernel("lathe.LaneInterleave", (inputs, ctx) => {
  const x = codesArg(inputs, 0, "LaneInterleave input");
  const { rows, cols } = view(x, ctx.attrs.cols);
  const lanes = ctx.attrs.lanes as number;
  if (!littleEndian()) fail("LaneInterleave packs words by bytes and needs a little-endian host");
  if (cols % 4 !== 0) fail(`rows of ${cols} codes do not fill whole 32-bit words`);
  const words = cols / 4, perLane = Math.ceil(rows / lanes);
  const out = ctx.alloc("u32", [lanes, perLane * words]);
  const o = out.data as Uint32Array;
  // Little-endian words: the bytes of row r go to lane r mod lanes, slot floor(r / lanes).
  const bytes = new Uint8Array(o.buffer, o.byteOffset, o.byteLength);
  const src = new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength);
  const laneBytes = perLane * cols;
  for (let r = 0; r < rows; r++) {
    const at = (r % lanes) * laneBytes + Math.floor(r / lanes) * cols;
    bytes.set(src.subarray(r * cols, (r + 1) * cols), at);
  }
  for (let l = 0; l < lanes; l++) {
    const filled = Math.max(0, Math.ceil((rows - l) / lanes));
    bytes.fill(0, l * laneBytes + filled * cols, (l + 1) * laneBytes);
  }
  return [out];
});

let le: boolean | undefined;
function littleEndian(): boolean {
  return (le ??= new Uint8Array(new Uint32Array([1]).buffer)[0] === 1);
}

registerKernel("lathe.RequantizeF32", (inputs, ctx) => {
  const x = expectTensor(inputs[0], "accumulators"), s = expectTensor(inputs[1], "scale");
  const z = expectTensor(inputs[2], "zero point");
  if (x.dtype !== "i32" || s.dtype !== "f32") fail("RequantizeF32 takes i32 accumulators and f32 scales");
  if (z.dtype !== "i8" && z.dtype !== "u8") fail("the zero point must be i8 or u8");
  if (z.data.length !== 1) fail("the zero point must be one value");
  const C = x.shape.length ? x.shape[x.shape.length - 1] : 1;
  const sd = s.data as Float32Array;
  if (sd.length !== 1 && sd.length !== C) fail(`${sd.length} scales for ${C} channels`);
  const [lo, hi] = z.dtype === "i8" ? [-128, 127] : [0, 255];
  const zp = Number(z.data[0]);
  const y = ctx.alloc(z.dtype, x.shape);
  const xd = x.data as Int32Array, yd = y.data as Codes;
  const per = sd.length !== 1;
  for (let base = 0; base < xd.length; base += C) {
    for (let c = 0; c < C; c++) {
      const p = Math.fround(xd[base + c] * sd[per ? c : 0]);
      // rint: round half to even (onnxruntime's nearbyint in the default rounding mode).
      let r = Math.round(p);
      if (r - p === 0.5 && r % 2 !== 0) r -= 1;
      const v = r + zp;
      yd[base + c] = v < lo ? lo : v > hi ? hi : v;
    }
  }
  return [y];
});

registerKernel("lathe.GgmlQuantize", (inputs, ctx) => {
  const x = expectTensor(inputs[0], "GgmlQuantize input");
  if (x.dtype !== "f32") fail("GgmlQuantize input must be f32");
  const info = ggmlTypeByName(String(ctx.attrs.type));
  if (!info || info.blockSize === 1 || !canQuantize(info.id)) {
    fail(`no quantizer for ggml type ${ctx.attrs.type}`);
  }
  const k = x.shape.length ? x.shape[x.shape.length - 1] : 0;
  if (x.shape.length === 0 || k % info.blockSize !== 0) {
    fail(`rows of ${k} do not fill whole ${info.name} blocks of ${info.blockSize}`);
  }
  const rows = k === 0 ? 0 : x.data.length / k;
  const rowBytes = (k / info.blockSize) * info.typeSize;
  const out = ctx.alloc({ kind: "ggml", typeId: info.id }, x.shape);
  const dst = out.data as Uint8Array, src = x.data as Float32Array;
  const quant = quantizeKernel(info.id);
  for (let r = 0; r < rows; r++) quant(src, r * k, dst, r * rowBytes, k);
  return [out];
});

registerKernel("lathe.RecenterU8", (inputs, ctx) => {
  const x = codesArg(inputs, 0, "RecenterU8 input");
  if (storageOf(x.dtype) !== "u8") fail("RecenterU8 takes u8 codes");
  const out = ctx.alloc(recenteredType(x.dtype), x.shape);
  const o = out.data as Int8Array, xd = x.data;
  for (let i = 0; i < xd.length; i++) o[i] = xd[i] - 128;
  return [out];
});

registerKernel("lathe.DequantizeAcc", (inputs, ctx) => {
  const x = expectTensor(inputs[0], "accumulators"), s = expectTensor(inputs[1], "scale");
  const b = inputs[2] === undefined ? undefined : expectTensor(inputs[2], "B");
  if (x.dtype !== "i32" || s.dtype !== "f32") fail("DequantizeAcc takes i32 accumulators and f32 scales");
  if (b && b.dtype !== "f32") fail("DequantizeAcc takes an f32 bias");
  const C = x.shape.length ? x.shape[x.shape.length - 1] : 1;
  const sd = s.data as Float32Array, bd = b?.data as Float32Array | undefined;
  if (sd.length !== 1 && sd.length !== C) fail(`${sd.length} scales for ${C} channels`);
  if (bd && bd.length !== C) fail(`${bd.length} biases for ${C} channels`);
  const y = ctx.alloc("f32", x.shape);
  const xd = x.data as Int32Array, yd = y.data as Float32Array;
  const per = sd.length !== 1;
  for (let base = 0; base < xd.length; base += C) {
    for (let c = 0; c < C; c++) {
      // The product of an int32 and an f32 is exact in a double; rounding it once to f32 is what the
      // shift layers do, then the bias is an f32 addition.
      const v = Math.fround(xd[base + c] * sd[per ? c : 0]);
      yd[base + c] = bd ? Math.fround(v + bd[c]) : v;
    }
  }
  return [y];
});

registerKernel("lathe.Col2ImMap", (_inputs, ctx) => {
  const g = col2ImGeometry(ctx.attrs);
  if (typeof g === "string") fail(g);
  const taps = g.kh * g.kw;
  const out = ctx.alloc("i32", [g.ih * g.iw, taps]);
  fillCol2ImMap(g, out.data as Int32Array);
  return [out];
});

/** Writes the map of `g` into `map` ([IH·IW, KH·KW], row-major). */
export function fillCol2ImMap(g: Col2ImGeometry, map: Int32Array): void {
  let at = 0;
  for (let iy = 0; iy < g.ih; iy++) {
    for (let ix = 0; ix < g.iw; ix++) {
      for (let ky = 0; ky < g.kh; ky++) {
        const oy = iy * g.sh - g.pt + ky;
        const rowOk = oy >= 0 && oy < g.oh;
        for (let kx = 0; kx < g.kw; kx++) {
          const ox = ix * g.sw - g.pl + kx;
          map[at++] = rowOk && ox >= 0 && ox < g.ow ? oy * g.ow + ox : -1;
        }
      }
    }
  }
}
