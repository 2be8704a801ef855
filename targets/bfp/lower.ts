/**
 * Lowering a `lathe.GgmlMatMul` with K-quant weights to a BFP call (accelerators.md §1.3, §7.3): the host
 * quantizes the f32 activations to Q8_K (`lathe.GgmlQuantize`, ggml's reference quantizer, which is also
 * what llama.cpp's x86 backend uses for Q8_K, so either `act_quant` gives the same bytes), and the call
 * streams those blocks verbatim (292 B = 73 words each). The weights are packed at compile time into the
 * driver's preloaded DMA region: each super-block padded to whole 32-bit words and dealt round-robin over
 * the 4 lanes per M-tile. The call's output keeps the MatMul's name, so every user and every comparison
 * against the unpartitioned graph finds it.
 */
import type { Attr } from "../../ir/attr.ts";
import { type Constant, constantBytes } from "../../ir/constant.ts";
import { printDType } from "../../ir/dtype.ts";
import type { Graph, Node, ValueInfo } from "../../ir/graph.ts";
import { isStaticShape, type TensorType, tensorType } from "../../ir/value-type.ts";
import type { Lowering, NameSource } from "../target.ts";
import { SECDA_BFP } from "./descriptor.ts";
import { type BfpDims, dimCheck, tileRows, weightLayout } from "./program.ts";
import { blockBytes, Q8_K_ID, QK_K, VARIANT_TYPE_IDS, variantOf } from "./protocol.ts";

/** A MatMul the unit can take: Y [.., M] = X [.., K] · Wᵀ with W [M, K] in a K-quant type. */
export interface BfpMatMul {
  readonly node: Node;
  readonly x: string;
  readonly w: string;
  readonly typeId: number;
  readonly variant: number;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly outType: TensorType;
}

function tensorOf(g: Graph, v: string | null | undefined): TensorType | undefined {
  const t = v ? g.values[v]?.type : undefined;
  return t?.kind === "tensor" ? t : undefined;
}

/** The MatMul as a BFP call, or why the unit cannot take it (supports_op, then DimCheck). */
export function describeBfpMatMul(node: Node, g: Graph): BfpMatMul | string {
  const [x, w] = node.inputs;
  const wc = w ? g.constants[w] : undefined;
  if (!wc) return "W is not a constant";
  const d = wc.dtype;
  const typeId = typeof d === "object" && d.kind === "ggml" ? d.typeId : undefined;
  const variant = typeId === undefined ? undefined : variantOf(typeId);
  if (variant === undefined) {
    return `W is ${printDType(d)}; the BFP unit takes K-quant weights Q2_K..Q6_K (F-BFQ wgt_type 2..6)`;
  }
  if (wc.shape.length !== 2) return `W must be [M, K], is [${wc.shape}]`;
  const xT = tensorOf(g, x), yT = tensorOf(g, node.outputs[0]);
  if (!xT || xT.dtype !== "f32") {
    return `X is ${xT ? printDType(xT.dtype) : "untyped"}; the unit takes f32 activations`;
  }
  if (!isStaticShape(xT.shape) || !yT || !isStaticShape(yT.shape)) {
    return "X has no static shape (bind the token count first)";
  }
  const [m, k] = wc.shape;
  const xs = xT.shape as number[];
  if (xs.length < 1 || xs[xs.length - 1] !== k) return `X [${xs}] does not have ${k} columns`;
  const n = xs.slice(0, -1).reduce((p, v) => p * v, 1);
  const fits = dimCheck(m, n, k);
  if (fits !== true) return fits;
  return { node, x: x!, w: w!, typeId: typeId!, variant, m, n, k, outType: yT };
}

/** W's super-blocks as the preloaded DMA region: u32 [lanes, laneWords]. */
export function packWeightLanes(bytes: Uint8Array, d: BfpDims): Uint32Array {
  const layout = weightLayout(d);
  const bb = blockBytes(VARIANT_TYPE_IDS[d.variant]), stride = layout.blockWords * 4;
  if (bytes.length !== d.m * d.kb * bb) {
    throw new Error(`weights hold ${bytes.length} bytes, expected ${d.m * d.kb * bb}`);
  }
  const out = new Uint32Array(d.lanes * layout.laneWords);
  const dst = new Uint8Array(out.buffer);
  const laneBytes = layout.laneWords * 4;
  layout.tiles.forEach(([m0, mstep], t) => {
    for (let i = 0; i < mstep * d.kb; i++) {
      const l = i % d.lanes;
      const at = l * laneBytes + layout.offsets[t][l] * 4 + Math.floor(i / d.lanes) * stride;
      const src = (m0 * d.kb + i) * bb;
      dst.set(bytes.subarray(src, src + bb), at);
    }
  });
  return out;
}

export function bfpDims(mm: BfpMatMul, prevVariant: number): BfpDims {
  const kb = mm.k / QK_K;
  return {
    m: mm.m,
    n: mm.n,
    k: mm.k,
    kb,
    variant: mm.variant,
    prevVariant,
    lanes: SECDA_BFP.dma.lanes,
    tileM: tileRows(mm.m, kb),
  };
}

export function lowerBfpMatMul(mm: BfpMatMul, prevVariant: number, g: Graph, names: NameSource): Lowering {
  const d = bfpDims(mm, prevVariant);
  const id = mm.node.id;
  const from = mm.node.from ?? [id];
  const xShape = tensorOf(g, mm.x)!.shape as number[];
  const q8 = names.value(`${id}/q8_k`);
  const quantId = names.node(`${id}/GgmlQuantize`);
  const values: Record<string, ValueInfo> = {
    [q8]: { type: tensorType({ kind: "ggml", typeId: Q8_K_ID }, xShape) },
  };
  const packed = packWeightLanes(constantBytes(g.constants[mm.w]), d);
  const wName = names.value(`${id}/weights.lanes`);
  const constants: Record<string, Constant> = {
    [wName]: {
      dtype: "u32",
      shape: [d.lanes, packed.length / d.lanes],
      bytes: new Uint8Array(packed.buffer),
    },
  };
  values[wName] = { type: tensorType("u32", [d.lanes, packed.length / d.lanes]) };
  const int = (v: number): Attr => ({ type: "int", value: v });
  const callId = names.node(`${id}/AccelCall`);
  const nodes: Node[] = [
    {
      id: quantId,
      op: "lathe.GgmlQuantize",
      inputs: [mm.x],
      outputs: [q8],
      attrs: { type: { type: "string", value: "Q8_K" } },
      from,
    },
    {
      id: callId,
      op: "lathe.AccelCall",
      inputs: [q8, wName],
      outputs: [mm.node.outputs[0]],
      attrs: {
        target: { type: "string", value: SECDA_BFP.name },
        kernel: { type: "string", value: "bfp-matmul" },
        program: { type: "string", value: id },
        out_type: { type: "type", value: mm.outType },
        m: int(d.m),
        n: int(d.n),
        k: int(d.k),
        wgt_type: int(d.variant),
        prev_wgt_type: int(prevVariant),
        lanes: int(d.lanes),
      },
      from,
    },
  ];
  return { nodes, constants, values, call: callId };
}
