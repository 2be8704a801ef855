/**
 * Power-of-two weights for PoTAcc's three methods (accelerators.md §4.1, formats.md §5.1): each weight is a
 * 4-bit code, sign plus a 3-bit magnitude that the accelerator's decode table turns into one (QKeras PoT)
 * or two (APoT, MSQ) shifts of the 8-bit activation. Scales are per output channel; activations are
 * 8-bit affine codes as in the int8 path. Conv becomes lathe.ShiftConv, Gemm/MatMul lathe.ShiftMatMul,
 * both computing with shifts and adds as the PE does.
 */
import { type AttrInit, numbersConstant } from "../../ir/builder.ts";
import type { PotQuant } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import type { Model, Node } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import { activationParams } from "./affine.ts";
import { GraphEdit } from "./graph-edit.ts";
import type { QuantizedLayer } from "./int8-qdq.ts";
import { type LayerSpec, layerSpec } from "./layers.ts";
import { codeMultipliers, type PotDecodeTable, type PotMethod, potTable, termsAttr } from "./pot-tables.ts";
import { registerScheme, requestedScheme, type SchemeContext } from "./quantize-pass.ts";

export interface PotWeights {
  /** One 4-bit code per weight, in [N, K] order (rows are output channels). */
  codes: Uint8Array;
  scales: Float32Array;
  /** Squared error of the dequantized weights. */
  error: number;
}

/**
 * Codes for `rows` rows of `k` weights: per row, the scale from a small search (the largest weight on the
 * largest level, then narrower) that gives the least squared error when each weight takes its nearest level.
 */
export function quantizePotRows(w: Float32Array, rows: number, k: number, table: PotDecodeTable): PotWeights {
  const mult = codeMultipliers(table);
  // Distinct magnitudes with the first code that gives each.
  const levels: { mag: number; code: number }[] = [];
  for (let c = 0; c < 8; c++) {
    if (!levels.some((l) => l.mag === mult[c])) levels.push({ mag: mult[c], code: c });
  }
  levels.sort((a, b) => a.mag - b.mag);
  const maxMag = levels[levels.length - 1].mag;
  if (!(maxMag > 0)) throw new LatheError("unsupported", `decode table ${table.name} has no non-zero level`);
  const codes = new Uint8Array(rows * k), scales = new Float32Array(rows);
  let total = 0;
  const nearest = (a: number): number => {
    let best = 0;
    for (let i = 1; i < levels.length; i++) {
      if (Math.abs(levels[i].mag - a) < Math.abs(levels[best].mag - a)) best = i;
    }
    return best;
  };
  for (let r = 0; r < rows; r++) {
    const o = r * k;
    let amax = 0;
    for (let i = 0; i < k; i++) amax = Math.max(amax, Math.abs(w[o + i]));
    if (amax === 0) {
      scales[r] = 1;
      const zero = levels[0];
      for (let i = 0; i < k; i++) codes[o + i] = zero.code;
      total += 0;
      continue;
    }
    let bestS = amax / maxMag, bestErr = Infinity;
    for (let step = 0; step <= 20; step++) {
      const s = Math.fround((amax / maxMag) * (1 - step * 0.025));
      let err = 0;
      for (let i = 0; i < k && err < bestErr; i++) {
        const x = w[o + i], l = levels[nearest(Math.abs(x) / s)];
        const d = Math.abs(x) - l.mag * s;
        err += d * d;
      }
      if (err < bestErr) {
        bestErr = err;
        bestS = s;
      }
    }
    scales[r] = bestS;
    for (let i = 0; i < k; i++) {
      const x = w[o + i], l = levels[nearest(Math.abs(x) / bestS)];
      codes[o + i] = l.code | (x < 0 && l.mag !== 0 ? 8 : 0);
    }
    total += bestErr;
  }
  return { codes, scales, error: total };
}

/** Weights of a layer as rows of output channels: [N, K]. */
export function weightRows(spec: LayerSpec): { rows: number; k: number; data: Float32Array } | undefined {
  const n = spec.node, shape = spec.weight.shape;
  if (n.op === "Conv" && shape.length === 4) {
    return { rows: shape[0], k: shape[1] * shape[2] * shape[3], data: spec.wData };
  }
  if (n.op === "Gemm" && resolveAttrs(n).transB) return { rows: shape[0], k: shape[1], data: spec.wData };
  if ((n.op === "Gemm" || n.op === "MatMul") && shape.length === 2) {
    const [K, N] = shape, t = new Float32Array(N * K);
    for (let kk = 0; kk < K; kk++) for (let j = 0; j < N; j++) t[j * K + kk] = spec.wData[kk * N + j];
    return { rows: N, k: K, data: t };
  }
  return undefined;
}

const METHOD: Record<string, PotMethod> = { pot: "pot", apot: "apot", msq: "msq" };

function quantizePotLayers(
  model: Model,
  select: (n: Node) => boolean,
  ctx: SchemeContext,
): { model: Model; layers: QuantizedLayer[] } {
  if (ctx.opts.bits !== undefined && ctx.opts.bits !== 4 && ctx.opts.scheme !== "dqa") {
    throw new LatheError(
      "unsupported",
      `power-of-two weights are 4-bit codes (sign + 3-bit magnitude), not ${ctx.opts.bits}-bit`,
    );
  }
  const g = model.graph;
  const specs = new Map<string, LayerSpec>();
  for (const n of g.nodes) {
    if (!select(n)) continue;
    const s = layerSpec(g, n);
    if (s && weightRows(s) && (n.op !== "Gemm" || (g.values[s.x]?.type as any)?.shape?.length === 2)) {
      specs.set(n.id, s);
    }
  }
  const ranges = ctx.calibration.ranges([...specs.values()].map((s) => s.x));
  const actType = ctx.opts.activations ?? "u8";
  const ed = new GraphEdit(g);
  const layers: QuantizedLayer[] = [];
  const inputCodes = new Map<string, [string, string, string]>();
  for (const n of g.nodes) {
    const spec = specs.get(n.id);
    const range = spec ? ranges.get(spec.x) : undefined;
    if (!spec || !range) {
      ed.copy(n);
      continue;
    }
    const table = potTable(METHOD[requestedScheme(ctx, n)], ctx.opts.table);
    const rows = weightRows(spec)!;
    const q = quantizePotRows(rows.data, rows.rows, rows.k, table);
    let x = inputCodes.get(spec.x);
    if (!x) {
      const p = activationParams(range, actType);
      const s = ed.constant(`${spec.x}_scale`, numbersConstant("f32", [], [p.scale]));
      const z = ed.constant(`${spec.x}_zero_point`, numbersConstant(actType, [], [p.zeroPoint]));
      const [c] = ed.add("QuantizeLinear", [ed.read(spec.x), s, z], {}, `${spec.x}_q`, { from: [n.id] });
      x = [c, s, z];
      inputCodes.set(spec.x, x);
    }
    const dtype: PotQuant = {
      kind: "pot",
      method: table.method,
      bits: 4,
      table: codeMultipliers(table),
      scale: [...q.scales],
      axis: 0,
    };
    const wShape = n.op === "Conv" ? spec.weight.shape : [rows.rows, rows.k];
    const packed = new Uint8Array(Math.ceil(q.codes.length / 2));
    for (let i = 0; i < q.codes.length; i++) packed[i >> 1] |= q.codes[i] << ((i & 1) * 4);
    const w = ed.constant(`${spec.w}_${table.method}`, { dtype, shape: wShape, bytes: packed });
    const b = spec.bias
      ? ed.constant(`${n.id}_bias`, numbersConstant("f32", [spec.channels], spec.bias))
      : null;
    const a = resolveAttrs(n);
    const attrs: Record<string, AttrInit> = n.op === "Conv"
      ? {
        terms: termsAttr(table),
        group: a.group ?? 1,
        pads: a.pads ?? [],
        strides: a.strides ?? [],
        dilations: a.dilations ?? [],
        auto_pad: a.auto_pad ?? "NOTSET",
        kernel_shape: spec.weight.shape.slice(2),
      }
      : { terms: termsAttr(table) };
    const op = n.op === "Conv" ? "lathe.ShiftConv" : "lathe.ShiftMatMul";
    ed.nodes.push({
      id: n.id,
      op,
      inputs: [...x, w, ...(b ? [b] : [])],
      outputs: n.outputs,
      attrs: ed.copyAttrs(attrs),
      from: n.from ?? [n.id],
      ...(n.name ? { name: n.name } : {}),
    });
    const rel = q.error / Math.max(rows.data.reduce((s, v) => s + v * v, 0), 1e-30);
    layers.push({
      id: n.id,
      op: n.op,
      scheme: table.method,
      detail: `${table.name}, w 4-bit codes per channel, weight SQNR ${
        (-10 * Math.log10(rel)).toFixed(1)
      } dB`,
    });
  }
  return { model: { ...model, graph: ed.finish() }, layers };
}

registerScheme(["pot", "apot", "msq"], 20, quantizePotLayers);
