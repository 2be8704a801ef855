/**
 * DQA activations (accelerators.md §1.8): the data input of each selected layer passes through
 * lathe.DqaQuantize, which quantizes every channel to bits+3 bits over its own max and keeps the top
 * `bits` (3, 4 or 5), a power-of-two rescale by a shift. A fraction of channels, the important ones, keep
 * the shifted-out residual too (eDQA sends it Huffman-coded). Importance is ranked offline on the
 * calibration inputs: the channels whose dropped residual costs the most squared error come first.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Model, Node } from "../../ir/graph.ts";
import { Session } from "../../runtime/interpreter.ts";
import { dqaSlice } from "../../runtime/kernels/quant-compute.ts";
import type { Tensor } from "../../runtime/tensor.ts";
import { GraphEdit } from "./graph-edit.ts";
import type { QuantizedLayer } from "./int8-qdq.ts";
import { LAYER_OPS } from "./layers.ts";
import { registerScheme, type SchemeContext } from "./quantize-pass.ts";

/** Residual bits the quantizer shifts out (eDQA's M_Bits). */
export const DQA_EXTRA_BITS = 3;

/** Per channel, the squared error removed by keeping the residual, summed over the observed tensors. */
export function residualGain(
  x: Float32Array,
  shape: readonly number[],
  bits: number,
  gain: Float64Array,
): void {
  const C = shape[1];
  let inner = 1;
  for (let i = 2; i < shape.length; i++) inner *= shape[i];
  const drop = new Float32Array(inner), keep = new Float32Array(inner);
  for (let n = 0; n < shape[0]; n++) {
    for (let c = 0; c < C; c++) {
      const base = (n * C + c) * inner;
      dqaSlice(x, base, inner, bits, DQA_EXTRA_BITS, false, drop, 0);
      dqaSlice(x, base, inner, bits, DQA_EXTRA_BITS, true, keep, 0);
      let e = 0;
      for (let i = 0; i < inner; i++) e += (x[base + i] - drop[i]) ** 2 - (x[base + i] - keep[i]) ** 2;
      gain[c] += e;
    }
  }
}

function quantizeDqa(
  model: Model,
  select: (n: Node) => boolean,
  ctx: SchemeContext,
): { model: Model; layers: QuantizedLayer[] } {
  const bits = ctx.opts.bits ?? 4;
  if (![3, 4, 5].includes(bits)) {
    throw new LatheError("usage", `dqa activations are 3, 4 or 5 bits, not ${bits}`);
  }
  const frac = ctx.opts.important ?? 0;
  if (!(frac >= 0 && frac <= 1)) {
    throw new LatheError("usage", `important is a fraction in [0, 1], not ${frac}`);
  }
  const g = model.graph;
  const targets = new Map<string, string>();
  for (const n of g.nodes) {
    if (!select(n) || !LAYER_OPS.has(n.op)) continue;
    const x = n.inputs[0], t = x ? g.values[x]?.type : undefined;
    if (!x || g.constants[x] || t?.kind !== "tensor" || t.dtype !== "f32" || !t.shape || t.shape.length < 2) {
      continue;
    }
    targets.set(n.id, x);
  }
  const gains = new Map<string, Float64Array>();
  if (frac > 0) {
    const values = new Set(targets.values());
    const session = new Session(ctx.float.graph);
    ctx.batches.forEach((batch, i) => {
      session.run(batch, {
        observe: (name, v) => {
          if (!values.has(name)) return;
          const t = v as Tensor;
          if (t.dtype !== "f32" || t.shape.length < 2) return;
          let gn = gains.get(name);
          if (!gn) gains.set(name, gn = new Float64Array(t.shape[1]));
          residualGain(t.data as Float32Array, t.shape, bits, gn);
        },
      });
      ctx.opts.progress?.("dqa channel ranking", i + 1, ctx.batches.length);
    });
  }
  const ed = new GraphEdit(g);
  const layers: QuantizedLayer[] = [];
  const quantized = new Map<string, string>();
  for (const n of g.nodes) {
    const x = targets.get(n.id);
    if (x) {
      let q = quantized.get(x);
      const gain = gains.get(x);
      const important: number[] = [];
      if (gain) {
        const order = [...gain.keys()].sort((a, b) => gain[b] - gain[a]);
        important.push(...order.slice(0, Math.round(frac * gain.length)).sort((a, b) => a - b));
      }
      if (!q) {
        q = ed.add(
          "lathe.DqaQuantize",
          [ed.read(x)],
          { bits, extra: DQA_EXTRA_BITS, important, axis: 1 },
          `${x}_dqa`,
          { from: [n.id] },
        )[0];
        quantized.set(x, q);
      }
      ed.copy(n, { inputs: n.inputs.map((i, k) => (k === 0 ? q! : ed.read(i))) });
      layers.push({
        id: n.id,
        op: n.op,
        scheme: "dqa",
        detail: `${bits}-bit activations (+${DQA_EXTRA_BITS} residual bits on ${important.length} channels)`,
      });
    } else ed.copy(n);
  }
  return { model: { ...model, graph: ed.finish() }, layers };
}

registerScheme(["dqa"], 30, quantizeDqa);
