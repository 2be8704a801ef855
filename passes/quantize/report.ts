/**
 * How far a quantized model is from its float original, on the same inputs: per layer, the SQNR of the
 * value the quantized model passes on (after its output Q/DQ, when it has one) against the float model's
 * value of the same node; per output, SQNR, max abs error and top-1 agreement (argmax over the last axis).
 * Nodes are aligned by id (quantization passes keep the ids of the nodes they rewrite).
 */
import type { Graph, Node } from "../../ir/graph.ts";
import { graphIndex } from "../../ir/graph.ts";
import { Session } from "../../runtime/interpreter.ts";
import { type RValue, Tensor } from "../../runtime/tensor.ts";
import type { Batch } from "./calibrate.ts";

export interface ErrorStats {
  /** 10·log10(Σ ref² / Σ (ref − q)²); Infinity when equal. */
  sqnrDb: number;
  maxAbs: number;
  elements: number;
}

export interface LayerReport extends ErrorStats {
  id: string;
  op: string;
  /** Value compared in the float model, and its stand-in in the quantized one. */
  value: string;
  quantizedValue: string;
}

export interface OutputReport extends ErrorStats {
  name: string;
  /** Fraction of rows whose argmax agrees (undefined for scalars). */
  top1?: number;
}

export interface QuantReport {
  inputs: number;
  layers: LayerReport[];
  outputs: OutputReport[];
}

class Accumulator {
  signal = 0;
  noise = 0;
  maxAbs = 0;
  elements = 0;
  add(ref: ArrayLike<number>, q: ArrayLike<number>): void {
    let s = 0, n = 0, m = this.maxAbs;
    for (let i = 0; i < ref.length; i++) {
      const r = ref[i], d = r - q[i];
      s += r * r;
      n += d * d;
      const a = Math.abs(d);
      if (a > m || a !== a) m = a;
    }
    this.signal += s;
    this.noise += n;
    this.maxAbs = m;
    this.elements += ref.length;
  }
  stats(): ErrorStats {
    const sqnrDb = this.noise === 0
      ? Infinity
      : this.signal === 0
      ? -Infinity
      : 10 * Math.log10(this.signal / this.noise);
    return { sqnrDb, maxAbs: this.maxAbs, elements: this.elements };
  }
}

/** The value consumers of `v` read in a QDQ graph: the DequantizeLinear output when v is quantized right after. */
export function quantizedStandIn(g: Graph, v: string): string {
  const { users } = graphIndex(g);
  const us = users.get(v) ?? [];
  const q = us.find((n) => n.op === "QuantizeLinear");
  if (!q) return v;
  const dq = (users.get(q.outputs[0]) ?? []).find((n) => n.op === "DequantizeLinear");
  return dq ? dq.outputs[0] : v;
}

function floatData(v: RValue | undefined): Float32Array | undefined {
  if (!(v instanceof Tensor) || v.dtype !== "f32") return undefined;
  return v.data as Float32Array;
}

/** Compares `quant` with `float` over the batches. */
export function compareModels(float: Graph, quant: Graph, batches: readonly Batch[]): QuantReport {
  const floatNodes = new Map(float.nodes.map((n) => [n.id, n]));
  const pairs: { node: Node; value: string; standIn: string }[] = [];
  for (const n of quant.nodes) {
    const f = floatNodes.get(n.id);
    if (!f || !f.outputs[0] || !n.outputs[0]) continue;
    pairs.push({ node: f, value: f.outputs[0], standIn: quantizedStandIn(quant, n.outputs[0]) });
  }
  const want = new Set(pairs.map((p) => p.value));
  const wantQ = new Set(pairs.map((p) => p.standIn));
  const layerAcc = pairs.map(() => new Accumulator());
  const outAcc = float.outputs.map(() => new Accumulator());
  const agree = float.outputs.map(() => ({ rows: 0, same: 0 }));
  const fs = new Session(float), qs = new Session(quant);
  for (const batch of batches) {
    const fv = new Map<string, Float32Array>();
    const fo = fs.run(batch, { observe: (name, v) => want.has(name) && fv.set(name, floatData(v)!) }).outputs;
    const qv = new Map<string, Float32Array>();
    const qo = qs.run(batch, {
      observe: (name, v) => wantQ.has(name) && qv.set(name, floatData(v)!),
    }).outputs;
    pairs.forEach((p, i) => {
      const a = fv.get(p.value), b = qv.get(p.standIn);
      if (a && b && a.length === b.length) layerAcc[i].add(a, b);
    });
    float.outputs.forEach((o, i) => {
      const a = floatData(fo[o]), b = floatData(qo[o]);
      if (!a || !b || a.length !== b.length) return;
      outAcc[i].add(a, b);
      const t = fo[o] as Tensor;
      const last = t.shape.length ? t.shape[t.shape.length - 1] : 0;
      if (last > 0) {
        for (let r = 0; r < a.length / last; r++) {
          agree[i].rows++;
          if (argmax(a, r * last, last) === argmax(b, r * last, last)) agree[i].same++;
        }
      }
    });
  }
  const layers: LayerReport[] = [];
  pairs.forEach((p, i) => {
    if (layerAcc[i].elements === 0) return;
    layers.push({
      id: p.node.id,
      op: p.node.op,
      value: p.value,
      quantizedValue: p.standIn,
      ...layerAcc[i].stats(),
    });
  });
  const outputs = float.outputs.map((name, i) => ({
    name,
    ...outAcc[i].stats(),
    ...(agree[i].rows ? { top1: agree[i].same / agree[i].rows } : {}),
  }));
  return { inputs: batches.length, layers, outputs };
}

function argmax(x: Float32Array, off: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (x[off + i] > x[off + best]) best = i;
  return best;
}

export function formatReport(r: QuantReport, only?: ReadonlySet<string>): string {
  const db = (x: number) => (x === Infinity ? "exact" : `${x.toFixed(2)} dB`);
  const lines = [
    `compared on ${r.inputs} input(s)`,
    "per layer (SQNR of the value passed on, vs the float model):",
  ];
  for (const l of r.layers) {
    if (!only || only.has(l.id)) lines.push(`  ${l.op.padEnd(18)} ${db(l.sqnrDb).padStart(10)}  ${l.id}`);
  }
  lines.push("outputs:");
  for (const o of r.outputs) {
    lines.push(
      `  ${o.name}: SQNR ${db(o.sqnrDb)}, max abs error ${o.maxAbs.toExponential(3)}${
        o.top1 !== undefined ? `, top-1 agreement ${(100 * o.top1).toFixed(1)}%` : ""
      }`,
    );
  }
  return lines.join("\n");
}
