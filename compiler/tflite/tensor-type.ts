/**
 * TFLite tensor types and quantization ↔ IR element types. A tensor with scales is an affine quantized
 * type over its integer storage (per channel along quantized_dimension when it has several scales).
 */
import type { AffineQuant, DType, QuantStorage, ScalarDType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import type { Quantization } from "./model.ts";
import type { TensorTypeName } from "./schema.ts";

const TO_IR: Partial<Record<TensorTypeName, ScalarDType>> = {
  FLOAT32: "f32",
  FLOAT16: "f16",
  INT32: "i32",
  UINT8: "u8",
  INT64: "i64",
  STRING: "string",
  BOOL: "bool",
  INT16: "i16",
  INT8: "i8",
  FLOAT64: "f64",
  UINT64: "u64",
  UINT32: "u32",
  UINT16: "u16",
  INT4: "i4",
  BFLOAT16: "bf16",
  UINT4: "u4",
};

const FROM_IR = Object.fromEntries(Object.entries(TO_IR).map(([k, v]) => [v, k])) as Record<
  ScalarDType,
  TensorTypeName
>;

const QUANT_STORAGE = new Set<string>(["i32", "i16", "u16", "i8", "u8", "i4", "u4"]);

export interface Where {
  file?: string;
  field?: string;
}

/** The IR element type of a tensor; quantization parameters make it affine. */
export function irDType(type: TensorTypeName, q: Quantization | null, where: Where): DType {
  const base = TO_IR[type];
  if (!base) throw new LatheError("unsupported", `tensor type ${type}`, where);
  if (!q || q.scale.length === 0) return base;
  if (!QUANT_STORAGE.has(base)) {
    // Float tensors with scales (and int64 biases of 16-bit models) have no affine IR form; the exporter
    // writes the original quantization back from the model's extras.
    if (base === "i64" || base.startsWith("f") || base === "bf16") return base;
    throw new LatheError("unsupported", `quantized ${type} tensor`, where);
  }
  const scale = Array.from(q.scale);
  if (scale.some((s) => !Number.isFinite(s))) {
    throw new LatheError("format", `quantization scale [${scale}] is not finite`, where);
  }
  let zeroPoint = q.zeroPoint.length ? [...q.zeroPoint] : scale.map(() => 0);
  if (zeroPoint.length !== scale.length) {
    throw new LatheError("format", `${scale.length} scales but ${zeroPoint.length} zero points`, where);
  }
  if (scale.length === 1) zeroPoint = [zeroPoint[0]];
  const dt: AffineQuant = {
    kind: "affine",
    storage: base as QuantStorage,
    scale,
    zeroPoint,
    ...(scale.length > 1 ? { axis: q.quantizedDimension } : {}),
  };
  return dt;
}

/** Whether irDType kept the quantization in the element type (else it travels in the extras). */
export function quantInDType(type: TensorTypeName, q: Quantization | null): boolean {
  const base = TO_IR[type];
  return !!q && q.scale.length > 0 && base !== undefined && QUANT_STORAGE.has(base);
}

export interface TfliteTypeOf {
  type: TensorTypeName;
  /** Scales and zero points from an affine type; null for plain types. */
  quantization: Pick<Quantization, "scale" | "zeroPoint" | "quantizedDimension"> | null;
}

/** The TFLite type and quantization of an IR element type. */
export function tfliteType(d: DType, where: Where): TfliteTypeOf {
  if (typeof d === "string") {
    const type = FROM_IR[d];
    if (!type) throw new LatheError("unsupported", `element type ${d} has no TFLite form`, where);
    return { type, quantization: null };
  }
  if (d.kind !== "affine") {
    throw new LatheError("unsupported", `${d.kind} quantization has no TFLite form`, where);
  }
  // qmin/qmax have no TFLite field: TFLite's kernels know the narrowed range from the op (symmetric weights).
  return {
    type: FROM_IR[d.storage],
    quantization: {
      scale: Float32Array.from(d.scale),
      zeroPoint: [...d.zeroPoint],
      quantizedDimension: d.axis ?? 0,
    },
  };
}
