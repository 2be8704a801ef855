/**
 * Images as model inputs: decoding (PNG through npm `pngjs`, JPEG through npm `jpeg-js`, both pure
 * JavaScript and widely used, so no codec is hand-written here), bilinear resizing with half-pixel centres
 * (as OpenCV's INTER_LINEAR and PIL without antialiasing), channel order, and normalization
 * x = (pixel · scale − mean[c]) / std[c] with pixels in [0, 255]. A spec names what differs from the
 * defaults (scale 1/255, mean 0, std 1, RGB, the model input's size and layout); FetaFix found that
 * preprocessing mismatches dominate real divergence, so source and target may each have their own.
 */
import { Buffer } from "node:buffer";
import jpeg from "jpeg-js";
import pngjs from "pngjs";
import type { DType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import type { Dim } from "../../ir/value-type.ts";
import { alloc, type Tensor } from "../../runtime/tensor.ts";

export interface PreprocessSpec {
  /** [height, width] to resize to; default the model input's spatial size. */
  readonly size?: readonly [number, number];
  /** Tensor layout; default from the input's shape (channels at axis 1: nchw, at axis 3: nhwc). */
  readonly layout?: "nchw" | "nhwc";
  /** Channel order of the tensor (default rgb); gray is the luminance 0.299 R + 0.587 G + 0.114 B. */
  readonly channels?: "rgb" | "bgr" | "gray";
  /** Multiplies the pixel (0..255) first; default 1/255. */
  readonly scale?: number;
  /** Per-channel (or one) value subtracted after scaling; default 0. */
  readonly mean?: readonly number[];
  /** Per-channel (or one) divisor after the mean; default 1. */
  readonly std?: readonly number[];
}

export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** Three bytes per pixel, row-major. */
  readonly rgb: Uint8Array;
}

const MAX_PIXELS = 1 << 26;

export function isImageFile(path: string): boolean {
  return /\.(png|jpe?g)$/i.test(path);
}

/** Decodes a PNG or JPEG (by magic bytes) into 8-bit RGB; alpha is dropped, 16-bit PNG narrowed. */
export function decodeImage(bytes: Uint8Array, file: string): RgbImage {
  const png = bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e &&
    bytes[3] === 0x47;
  const jpg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  let width: number, height: number, rgba: Uint8Array;
  try {
    if (png) {
      const img = pngjs.PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      width = img.width;
      height = img.height;
      rgba = new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength);
    } else if (jpg) {
      const img = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: MAX_PIXELS / 1e6,
      });
      width = img.width;
      height = img.height;
      rgba = img.data;
    } else {
      throw new LatheError("format", "not a PNG or JPEG image (bad magic)", { file, offset: 0 });
    }
  } catch (e) {
    if (e instanceof LatheError) throw e;
    throw new LatheError("format", `cannot decode image: ${(e as Error).message}`, { file });
  }
  if (!(width > 0 && height > 0) || width * height > MAX_PIXELS || rgba.length < width * height * 4) {
    throw new LatheError("format", `bad image size ${width}x${height}`, { file });
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < width * height; i++, j += 4) {
    rgb[3 * i] = rgba[j];
    rgb[3 * i + 1] = rgba[j + 1];
    rgb[3 * i + 2] = rgba[j + 2];
  }
  return { width, height, rgb };
}

/** Bilinear resize with half-pixel centres and edge clamping; returns three floats per pixel. */
export function resizeBilinear(img: RgbImage, height: number, width: number): Float32Array {
  const out = new Float32Array(height * width * 3);
  const sy = img.height / height, sx = img.width / width;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), img.height - 1);
    const y0 = Math.floor(fy), y1 = Math.min(y0 + 1, img.height - 1), wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), img.width - 1);
      const x0 = Math.floor(fx), x1 = Math.min(x0 + 1, img.width - 1), wx = fx - x0;
      const o = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        const a = img.rgb[(y0 * img.width + x0) * 3 + c], b = img.rgb[(y0 * img.width + x1) * 3 + c];
        const d = img.rgb[(y1 * img.width + x0) * 3 + c], e = img.rgb[(y1 * img.width + x1) * 3 + c];
        out[o + c] = (a * (1 - wx) + b * wx) * (1 - wy) + (d * (1 - wx) + e * wx) * wy;
      }
    }
  }
  return out;
}

/** Where the channels sit in a rank-4 image input, from the spec or the shape. */
function layoutOf(shape: readonly Dim[], spec: PreprocessSpec, channels: number): "nchw" | "nhwc" {
  if (spec.layout) return spec.layout;
  if (shape[1] === channels && shape[3] !== channels) return "nchw";
  if (shape[3] === channels) return "nhwc";
  if (shape[1] === channels) return "nchw";
  throw new LatheError("usage", `cannot tell the layout of input [${shape}]; give layout nchw or nhwc`);
}

/** The image as the input tensor of shape `shape` (rank 4, batch 1) under the spec. */
export function imageTensor(
  img: RgbImage,
  shape: readonly Dim[],
  dtype: DType,
  spec: PreprocessSpec = {},
): Tensor {
  if (shape.length !== 4) throw new LatheError("usage", `an image feeds a rank-4 input, not [${shape}]`);
  const channels = spec.channels === "gray" ? 1 : 3;
  const layout = layoutOf(shape, spec, channels);
  const [hDim, wDim] = layout === "nchw" ? [shape[2], shape[3]] : [shape[1], shape[2]];
  const h = spec.size?.[0] ?? (typeof hDim === "number" ? hDim : img.height);
  const w = spec.size?.[1] ?? (typeof wDim === "number" ? wDim : img.width);
  const c = layout === "nchw" ? shape[1] : shape[3];
  if (typeof c === "number" && c !== channels) {
    throw new LatheError(
      "usage",
      `input [${shape}] has ${c} channels; the spec gives ${channels} (channels ${spec.channels ?? "rgb"})`,
    );
  }
  const pix = resizeBilinear(img, h, w);
  const scale = spec.scale ?? 1 / 255;
  const per = (xs: readonly number[] | undefined, k: number, dflt: number) =>
    xs === undefined ? dflt : xs.length === 1 ? xs[0] : xs[k] ?? dflt;
  const outShape = layout === "nchw" ? [1, channels, h, w] : [1, h, w, channels];
  const t = alloc(dtype, outShape);
  const d = t.data;
  if (d instanceof Array || d instanceof BigInt64Array || d instanceof BigUint64Array) {
    throw new LatheError("usage", `an image cannot feed an input of type ${String(dtype)}`);
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      const r = pix[o], g = pix[o + 1], b = pix[o + 2];
      for (let k = 0; k < channels; k++) {
        const p = spec.channels === "gray"
          ? 0.299 * r + 0.587 * g + 0.114 * b
          : spec.channels === "bgr"
          ? pix[o + 2 - k]
          : pix[o + k];
        const v = (p * scale - per(spec.mean, k, 0)) / per(spec.std, k, 1);
        const idx = layout === "nchw" ? (k * h + y) * w + x : (y * w + x) * channels + k;
        d[idx] = v;
      }
    }
  }
  return t;
}

/** Checks a spec read from JSON or flags; bad fields are usage errors naming the field. */
export function checkPreprocessSpec(x: unknown, where: string): PreprocessSpec {
  if (typeof x !== "object" || x === null || Array.isArray(x)) {
    throw new LatheError("usage", `${where}: expected a JSON object`);
  }
  const o = x as Record<string, unknown>;
  const known = new Set(["size", "layout", "channels", "scale", "mean", "std"]);
  for (const k of Object.keys(o)) {
    if (!known.has(k)) {
      throw new LatheError("usage", `${where}: unknown field '${k}' (known: ${[...known].join(", ")})`);
    }
  }
  const nums = (k: string, n?: number) => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (
      !Array.isArray(v) || !v.every((e) => typeof e === "number" && Number.isFinite(e)) ||
      (n !== undefined && v.length !== n)
    ) {
      throw new LatheError("usage", `${where}: ${k} must be a list of ${n ?? "one or more"} numbers`);
    }
    return v as number[];
  };
  const size = nums("size", 2);
  if (size && !size.every((d) => Number.isInteger(d) && d > 0 && d <= 16384)) {
    throw new LatheError("usage", `${where}: size must be two positive integers`);
  }
  const layout = o.layout;
  if (layout !== undefined && layout !== "nchw" && layout !== "nhwc") {
    throw new LatheError("usage", `${where}: layout is nchw or nhwc`);
  }
  const channels = o.channels;
  if (channels !== undefined && channels !== "rgb" && channels !== "bgr" && channels !== "gray") {
    throw new LatheError("usage", `${where}: channels is rgb, bgr or gray`);
  }
  const scale = o.scale;
  if (scale !== undefined && (typeof scale !== "number" || !Number.isFinite(scale))) {
    throw new LatheError("usage", `${where}: scale must be a number`);
  }
  const std = nums("std");
  if (std?.some((v) => v === 0)) throw new LatheError("usage", `${where}: std must not be 0`);
  const mean = nums("mean");
  return {
    ...(size ? { size: [size[0], size[1]] as const } : {}),
    ...(layout ? { layout } : {}),
    ...(channels ? { channels } : {}),
    ...(scale !== undefined ? { scale } : {}),
    ...(mean ? { mean } : {}),
    ...(std ? { std } : {}),
  } as PreprocessSpec;
}

export async function readPreprocessSpec(path: string): Promise<PreprocessSpec> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new LatheError("io", `cannot read: ${(e as Error).message}`, { file: path });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new LatheError("format", `not JSON: ${(e as Error).message}`, { file: path });
  }
  return checkPreprocessSpec(json, path);
}
