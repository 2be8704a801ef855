/**
 * Block-floating-point weights: MatMul/Gemm/Conv weights to any ggml block type (Q4_0 ... Q6_K, MXFP4) with
 * ggml's own reference quantizers, or to OCP MX (MXINT8, MXFP4). Weights become rows of output channels
 * [N, K], K zero-padded to whole blocks; the layer becomes lathe.BlockMatMul or lathe.BlockConv, which
 * quantize each activation row to the type llama.cpp pairs with the weight type (Q8_0, Q8_1 or Q8_K) and
 * take ggml's block dot products (formats.md §1.5, §5.2).
 */
import { type AttrInit, numbersConstant } from "../../ir/builder.ts";
import type { DType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { GGML_TYPES, ggmlTypeByName } from "../../ir/ggml-type.ts";
import type { Model, Node } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import { canQuantize, quantize } from "../../runtime/ggml/quantize.ts";
import { vecDotType } from "../../runtime/ggml/vec-dot.ts";
import { MXINT8_BLOCK_BYTES, quantizeMxInt8 } from "../../runtime/kernels/quant-compute.ts";
import { GraphEdit } from "./graph-edit.ts";
import type { QuantizedLayer } from "./int8-qdq.ts";
import { layerSpec } from "./layers.ts";
import { weightRows } from "./pot.ts";
import { registerScheme, requestedScheme, type SchemeContext } from "./quantize-pass.ts";

export interface BlockWeightType {
  readonly dtype: DType;
  readonly name: string;
  readonly block: number;
  readonly blockBytes: number;
  /** Quantizes rows [N, Kp] (Kp a multiple of block) to their bytes. */
  encode(rows: Float32Array, n: number, kp: number): Uint8Array;
}

/** Block types with both a reference quantizer and a vec_dot pairing in the runtime. */
function usableWeightType(id: number): boolean {
  if ((GGML_TYPES.get(id)?.blockSize ?? 1) === 1 || !canQuantize(id)) return false;
  try {
    vecDotType(id);
    return true;
  } catch {
    return false;
  }
}

/** A ggml type name (Q4_0, Q4_K, MXFP4, ...) or an MX format (MXINT8, MXFP4). */
export function blockWeightType(name: string, mx: boolean): BlockWeightType {
  const up = name.toUpperCase();
  if (mx) {
    if (up === "MXINT8") {
      return {
        dtype: { kind: "mx", element: "int8", block: 32 },
        name: up,
        block: 32,
        blockBytes: MXINT8_BLOCK_BYTES,
        encode: (rows, n, kp) => {
          const out = new Uint8Array((n * kp / 32) * MXINT8_BLOCK_BYTES);
          quantizeMxInt8(rows, 0, out, 0, n * kp);
          return out;
        },
      };
    }
    if (up === "MXFP4") {
      return {
        dtype: { kind: "mx", element: "fp4_e2m1", block: 32 },
        name: up,
        block: 32,
        blockBytes: 17,
        encode: (rows) => quantize(39, rows),
      };
    }
    throw new LatheError("usage", `mx weights are MXINT8 or MXFP4, not '${name}'`);
  }
  const info = ggmlTypeByName(up);
  if (!info || !usableWeightType(info.id)) {
    const ok = [...GGML_TYPES.values()].filter((t) => usableWeightType(t.id)).map((t) => t.name);
    throw new LatheError(
      "usage",
      `bfp weights must be a ggml block type Lathe quantizes and multiplies (${
        ok.join(", ")
      }), not '${name}'`,
    );
  }
  return {
    dtype: { kind: "ggml", typeId: info.id },
    name: info.name,
    block: info.blockSize,
    blockBytes: info.typeSize,
    encode: (rows) => quantize(info.id, rows),
  };
}

/** Rows padded with zeros to a whole number of blocks. */
export function padRows(
  data: Float32Array,
  rows: number,
  k: number,
  block: number,
): { padded: Float32Array; kp: number } {
  const kp = Math.ceil(k / block) * block;
  if (kp === k) return { padded: data, kp };
  const padded = new Float32Array(rows * kp);
  for (let r = 0; r < rows; r++) padded.set(data.subarray(r * k, r * k + k), r * kp);
  return { padded, kp };
}

function quantizeBlockLayers(
  model: Model,
  select: (n: Node) => boolean,
  ctx: SchemeContext,
): { model: Model; layers: QuantizedLayer[] } {
  const g = model.graph;
  const ed = new GraphEdit(g);
  const layers: QuantizedLayer[] = [];
  for (const n of g.nodes) {
    const spec = select(n) ? layerSpec(g, n) : undefined;
    const rows = spec && (n.op !== "Conv" || spec.weight.shape.length === 4) ? weightRows(spec) : undefined;
    if (!spec || !rows) {
      ed.copy(n);
      continue;
    }
    const mx = requestedScheme(ctx, n) === "mx";
    const wt = blockWeightType(ctx.opts.weights ?? (mx ? "MXINT8" : "Q8_0"), mx);
    const { padded, kp } = padRows(rows.data, rows.rows, rows.k, wt.block);
    const bytes = wt.encode(padded, rows.rows, kp);
    const w = ed.constant(`${spec.w}_${wt.name.toLowerCase()}`, {
      dtype: wt.dtype,
      shape: [rows.rows, kp],
      bytes,
    });
    const b = spec.bias
      ? ed.constant(`${n.id}_bias`, numbersConstant("f32", [spec.channels], spec.bias))
      : null;
    let op: string, attrs: Record<string, AttrInit> = {};
    if (n.op === "Conv") {
      const a = resolveAttrs(n);
      op = "lathe.BlockConv";
      attrs = {
        group: a.group ?? 1,
        pads: a.pads ?? [],
        strides: a.strides ?? [],
        dilations: a.dilations ?? [],
        auto_pad: a.auto_pad ?? "NOTSET",
        kernel_shape: spec.weight.shape.slice(2),
      };
    } else op = "lathe.BlockMatMul";
    ed.nodes.push({
      id: n.id,
      op,
      inputs: [ed.read(spec.x), w, ...(b ? [b] : [])],
      outputs: n.outputs,
      attrs: ed.copyAttrs(attrs),
      from: n.from ?? [n.id],
      ...(n.name ? { name: n.name } : {}),
    });
    layers.push({
      id: n.id,
      op: n.op,
      scheme: mx ? "mx" : "bfp",
      detail: `${wt.name} weights [${rows.rows}, ${kp}]${kp !== rows.k ? ` (K ${rows.k} padded)` : ""}`,
    });
  }
  return { model: { ...model, graph: ed.finish() }, layers };
}

registerScheme(["bfp", "mx"], 10, quantizeBlockLayers);
