/**
 * A sparse tensor's SparsityParameters as `tfl.DENSIFY` attributes (ir/ops/tflite.ts) and back. The IR keeps
 * the file's encoding as it is (index vectors keep their int32/uint16/uint8 type), so an exported model
 * holds the same sparse buffer, sparsity table and DENSIFY op as the one imported.
 */
import type { Attr } from "../../ir/attr.ts";
import { type Constant, constantBytes } from "../../ir/constant.ts";
import { LatheError } from "../../ir/errors.ts";
import { DIM_FORMATS } from "../../runtime/tflite/densify.ts";
import type { DimensionMetadata, SparseIndexVector, Sparsity } from "./model.ts";

/** The DENSIFY attributes that describe the sparse operand (not fields of DensifyOptions). */
export const SPARSITY_ATTRS: ReadonlySet<string> = new Set([
  "shape",
  "traversal_order",
  "block_map",
  "dim_format",
  "dense_size",
  "array_segments",
  "array_indices",
]);

const NO_INDICES: Constant = { dtype: "u8", shape: [0], bytes: new Uint8Array(0) };

function indexConstant(v: SparseIndexVector | null): Constant {
  if (!v) return NO_INDICES;
  const a = v.values;
  const dtype = v.type === "int32" ? "i32" : v.type === "uint16" ? "u16" : "u8";
  return { dtype, shape: [a.length], bytes: new Uint8Array(a.buffer, a.byteOffset, a.byteLength) };
}

/** The attributes for a sparse tensor of dense `shape`. */
export function sparsityAttrs(shape: readonly number[], sp: Sparsity): Record<string, Attr> {
  const md = sp.dimMetadata;
  return {
    shape: { type: "ints", value: [...shape] },
    traversal_order: { type: "ints", value: [...sp.traversalOrder] },
    block_map: { type: "ints", value: [...sp.blockMap] },
    dim_format: { type: "strings", value: md.map((d) => DIM_FORMATS[d.format] ?? String(d.format)) },
    dense_size: { type: "ints", value: md.map((d) => d.denseSize) },
    // A dense level's vectors mean nothing to TFLite, and export writes none.
    array_segments: {
      type: "tensors",
      value: md.map((d) => indexConstant(d.format ? d.arraySegments : null)),
    },
    array_indices: { type: "tensors", value: md.map((d) => indexConstant(d.format ? d.arrayIndices : null)) },
  };
}

/**
 * The sparsity table from resolved DENSIFY attributes (checked by the caller with sparsePositions, which
 * validates the same attributes). Dense levels get no index vectors, as converters write them.
 */
export function sparsityOf(attrs: Readonly<Record<string, unknown>>, field: string): Sparsity {
  const formats = (attrs.dim_format ?? []) as readonly string[];
  const sizes = (attrs.dense_size ?? []) as readonly number[];
  const segments = (attrs.array_segments ?? []) as readonly Constant[];
  const indices = (attrs.array_indices ?? []) as readonly Constant[];
  const dimMetadata = formats.map((f, i): DimensionMetadata => {
    const format = (DIM_FORMATS as readonly string[]).indexOf(f);
    if (format < 0) throw new LatheError("verify", `DENSIFY level ${i} has unknown format ${f}`, { field });
    const dense = format === 0;
    return {
      format,
      denseSize: sizes[i] ?? 0,
      arraySegments: dense ? null : indexVector(segments[i], field),
      arrayIndices: dense ? null : indexVector(indices[i], field),
    };
  });
  return {
    traversalOrder: [...((attrs.traversal_order ?? []) as number[])],
    blockMap: [...((attrs.block_map ?? []) as number[])],
    dimMetadata,
  };
}

function indexVector(c: Constant | undefined, field: string): SparseIndexVector {
  if (!c) throw new LatheError("verify", "DENSIFY has fewer index vectors than levels", { field });
  // A copy, so the typed array is aligned whatever the constant's bytes view.
  const b = constantBytes(c).slice();
  switch (c.dtype) {
    case "i32":
      return { type: "int32", values: new Int32Array(b.buffer, 0, b.length >> 2) };
    case "u16":
      return { type: "uint16", values: new Uint16Array(b.buffer, 0, b.length >> 1) };
    case "u8":
      return { type: "uint8", values: b };
    default:
      throw new LatheError("verify", `DENSIFY index vector of ${JSON.stringify(c.dtype)}`, { field });
  }
}
