/** Reading a constant's elements as JS numbers, for inference and folding of small shape-like constants. */
import { type Constant, constantBytes, constantCount } from "./constant.ts";
import { LatheError } from "./errors.ts";

/** Elements of a numeric constant as numbers (i64 beyond 2^53 loses precision; shape values never do). */
export function constantNumbers(c: Constant, limit = 1 << 20): number[] {
  const n = constantCount(c);
  if (n > limit) {
    throw new LatheError("unsupported", `constant of ${n} elements is too large to read as numbers`);
  }
  if (typeof c.dtype !== "string") {
    if (c.dtype.kind !== "affine") {
      throw new LatheError("unsupported", "cannot read block-quantized constant as numbers");
    }
  }
  const dt = typeof c.dtype === "string" ? c.dtype : c.dtype.storage;
  const b = constantBytes(c);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    switch (dt) {
      case "f64":
        out[i] = v.getFloat64(i * 8, true);
        break;
      case "f32":
        out[i] = v.getFloat32(i * 4, true);
        break;
      case "f16":
        out[i] = v.getFloat16(i * 2, true);
        break;
      case "bf16":
        out[i] = new Float32Array(new Uint32Array([v.getUint16(i * 2, true) << 16]).buffer)[0];
        break;
      case "i64":
        out[i] = Number(v.getBigInt64(i * 8, true));
        break;
      case "u64":
        out[i] = Number(v.getBigUint64(i * 8, true));
        break;
      case "i32":
        out[i] = v.getInt32(i * 4, true);
        break;
      case "u32":
        out[i] = v.getUint32(i * 4, true);
        break;
      case "i16":
        out[i] = v.getInt16(i * 2, true);
        break;
      case "u16":
        out[i] = v.getUint16(i * 2, true);
        break;
      case "i8":
        out[i] = v.getInt8(i);
        break;
      case "u8":
      case "bool":
        out[i] = v.getUint8(i);
        break;
      case "i4":
      case "u4": {
        const byte = v.getUint8(i >> 1);
        const nib = i & 1 ? byte >> 4 : byte & 15;
        out[i] = dt === "i4" && nib > 7 ? nib - 16 : nib;
        break;
      }
      default:
        throw new LatheError("unsupported", `cannot read ${dt} constant as numbers`);
    }
  }
  return out;
}
