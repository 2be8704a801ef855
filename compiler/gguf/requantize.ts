/**
 * GGUF to GGUF with the same metadata and, on request, the 2-D weight matrices re-encoded in another ggml
 * block type (decoded to f32, then quantized with ggml's reference quantizers, which is what
 * llama.cpp's quantize does without an importance matrix). 1-D tensors (norms, biases) keep their type, as
 * do matrices whose rows do not fill the new type's blocks. Tensors stream one at a time from input to
 * output, so memory stays bounded by the largest tensor.
 */
import { LatheError } from "../../ir/errors.ts";
import { GGML_TYPES, ggmlTypeByName, type GgmlTypeInfo } from "../../ir/ggml-type.ts";
import { canDequantize } from "../../runtime/ggml/dequantize.ts";
import { canQuantize, QUANTIZABLE_TYPES } from "../../runtime/ggml/quantize.ts";
import { recodeRows } from "../../runtime/ggml/recode.ts";
import type { GgufKV } from "./metadata.ts";
import { type GgufTensorInfo, openGguf } from "./reader.ts";
import { type GgufTensorInput, writeGguf } from "./writer.ts";

export interface RequantizeOptions {
  /** ggml type name for the weight matrices (F32, F16, Q8_0, Q4_K, ...); omitted: every tensor is copied. */
  weights?: string;
  onTensor?: (done: number, total: number, name: string) => void;
}

export interface RequantizeResult {
  tensors: { name: string; from: string; to: string; note?: string }[];
}

/** llama_ftype of a file whose matrices are all of one type (general.file_type is informational). */
const FILE_TYPE: Readonly<Record<string, number>> = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q8_0: 7,
  Q5_0: 8,
  Q5_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 14,
  Q5_K: 16,
  Q6_K: 18,
  IQ4_NL: 25,
  IQ4_XS: 30,
  BF16: 32,
  MXFP4: 38,
};
/** ggml's GGML_QNT_VERSION, required in files holding quantized tensors. */
const QUANTIZATION_VERSION = 2;

export async function requantizeGguf(
  input: string,
  output: string,
  opts: RequantizeOptions = {},
): Promise<RequantizeResult> {
  let target: GgmlTypeInfo | undefined;
  if (opts.weights !== undefined) {
    target = ggmlTypeByName(opts.weights);
    if (!target || !canQuantize(target.id) || target.id === 9 || target.id === 15) {
      const names = QUANTIZABLE_TYPES.filter((id) => id !== 9 && id !== 15).map((id) =>
        GGML_TYPES.get(id)!.name
      );
      throw new LatheError(
        "usage",
        `--weights ${opts.weights}: not a type Lathe writes (one of ${names.join(", ")})`,
      );
    }
  }
  const h = await openGguf(input);
  try {
    const result: RequantizeResult = { tensors: [] };
    let done = 0;
    const tensors: GgufTensorInput[] = h.tensors.map((t) => {
      const plan = planTensor(t, target);
      result.tensors.push({
        name: t.name,
        from: t.type.name,
        to: GGML_TYPES.get(plan.typeId)!.name,
        ...(plan.note ? { note: plan.note } : {}),
      });
      const data = async () => {
        const bytes = await h.readTensorBytes(t);
        const outBytes = plan.typeId === t.typeId ? bytes : recode(t, bytes, plan.typeId);
        opts.onTensor?.(++done, h.tensors.length, t.name);
        return outBytes;
      };
      return { name: t.name, ne: t.ne, typeId: plan.typeId, data };
    });
    const quantized = tensors.some((t) => GGML_TYPES.get(t.typeId)!.blockSize > 1);
    await writeGguf(output, { metadata: metadataFor(h.metadata, target, quantized), tensors });
    return result;
  } finally {
    h.close();
  }
}

function planTensor(t: GgufTensorInfo, target: GgmlTypeInfo | undefined): { typeId: number; note?: string } {
  if (!target || t.typeId === target.id) return { typeId: t.typeId };
  if (t.ne.length !== 2 || t.ne[1] <= 1) return { typeId: t.typeId };
  if (!canDequantize(t.typeId)) return { typeId: t.typeId, note: `kept: no decoder for ${t.type.name}` };
  if (t.ne[0] % target.blockSize !== 0) {
    return {
      typeId: t.typeId,
      note: `kept: rows of ${t.ne[0]} do not fill ${target.name} blocks of ${target.blockSize}`,
    };
  }
  return { typeId: target.id };
}

/** Decodes to f32 and encodes in the new type, one row at a time (runtime/ggml/recode.ts). */
function recode(t: GgufTensorInfo, bytes: Uint8Array, typeId: number): Uint8Array {
  return recodeRows(bytes, t.typeId, typeId, t.elementCount / t.ne[0], t.ne[0]);
}

function metadataFor(md: readonly GgufKV[], target: GgmlTypeInfo | undefined, quantized: boolean): GgufKV[] {
  const out = md.map((kv) => {
    if (target && kv.key === "general.file_type" && FILE_TYPE[target.name] !== undefined) {
      return {
        key: kv.key,
        type: kv.type,
        value: kv.type === 10 || kv.type === 11 ? BigInt(FILE_TYPE[target.name]) : FILE_TYPE[target.name],
      };
    }
    return kv;
  });
  if (quantized && !md.some((kv) => kv.key === "general.quantization_version")) {
    out.push({ key: "general.quantization_version", type: 4, value: QUANTIZATION_VERSION });
  }
  return out;
}
