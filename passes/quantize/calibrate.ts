/**
 * Calibration: runs the float model over sample inputs and lets one observer per chosen value watch every
 * batch (the interpreter's `observe` hook taps values as they are produced), then asks each for its range.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Graph } from "../../ir/graph.ts";
import { Session } from "../../runtime/interpreter.ts";
import { Rng } from "../../runtime/random.ts";
import { alloc, type Tensor } from "../../runtime/tensor.ts";
import {
  type CalibMethod,
  makeObserver,
  type Observer,
  type ObserverOptions,
  type Range,
} from "./observers.ts";

export type Batch = Readonly<Record<string, Tensor>>;

export interface CalibrateOptions extends ObserverOptions {
  method: CalibMethod;
  /** Called after each batch: `done` of `total`. */
  progress?: (done: number, total: number) => void;
}

/** Ranges of `values` over the batches. Values never produced (dead, or in subgraphs) get no entry. */
export function calibrate(
  g: Graph,
  values: Iterable<string>,
  batches: readonly Batch[],
  opts: CalibrateOptions,
): Map<string, Range> {
  if (batches.length === 0) throw new LatheError("usage", "calibration needs at least one input batch");
  const observers = new Map<string, Observer>();
  for (const v of values) observers.set(v, makeObserver(opts.method, opts));
  const session = new Session(g);
  const seen = new Set<string>();
  batches.forEach((batch, i) => {
    session.run(batch, {
      // Observers fold each value into their range at once, so the run may recycle buffers.
      observeTransient: true,
      observe: (name, v) => {
        const o = observers.get(name);
        if (!o || !("data" in v)) return;
        const t = v as Tensor;
        if (t.dtype !== "f32" && t.dtype !== "f64" && t.dtype !== "f16") return;
        o.observe(t.data as ArrayLike<number>);
        seen.add(name);
      },
    });
    opts.progress?.(i + 1, batches.length);
  });
  const out = new Map<string, Range>();
  for (const [k, o] of observers) if (seen.has(k)) out.set(k, o.range());
  return out;
}

/**
 * Seeded sample inputs, drawn like `deno task run` draws them: input i of batch b from a mulberry32 generator
 * seeded with seed + b * inputs + i; floats uniform in [-1, 1), integers in [0, 10). Symbolic dims are 1.
 */
export function seededBatches(g: Graph, seed: number, count: number): Batch[] {
  const names = g.inputs.filter((n) => !g.constants[n]);
  const out: Batch[] = [];
  for (let b = 0; b < count; b++) {
    const batch: Record<string, Tensor> = {};
    names.forEach((name, i) => {
      const t = g.values[name]?.type;
      if (!t || t.kind !== "tensor" || !t.shape) {
        throw new LatheError("usage", `input ${name} has no static tensor type; give calibration data`);
      }
      const shape = t.shape.map((d) => (typeof d === "number" ? d : 1));
      const x = alloc(t.dtype, shape);
      const rng = new Rng(seed + b * names.length + i);
      const d = x.data;
      if (d instanceof Array || d instanceof BigInt64Array || d instanceof BigUint64Array) {
        if (d instanceof BigInt64Array) { for (let k = 0; k < d.length; k++) d[k] = BigInt(rng.int(0, 10)); }
        else {throw new LatheError(
            "usage",
            `input ${name} (${String(t.dtype)}) cannot be generated; give calibration data`,
          );}
      } else if (t.dtype === "f32" || t.dtype === "f64" || t.dtype === "f16") {
        for (let k = 0; k < d.length; k++) d[k] = rng.uniform(-1, 1);
      } else for (let k = 0; k < d.length; k++) d[k] = rng.int(0, 10);
      batch[name] = x;
    });
    out.push(batch);
  }
  return out;
}

/**
 * Ranges on demand over one float model and one set of batches: each request calibrates only the values
 * not seen before, so schemes applied one after another share the work.
 */
export class Calibration {
  private cache = new Map<string, Range>();
  runs = 0;
  constructor(readonly graph: Graph, readonly batches: readonly Batch[], readonly opts: CalibrateOptions) {}
  ranges(values: Iterable<string>): Map<string, Range> {
    const want = [...new Set(values)];
    const missing = want.filter((v) => !this.cache.has(v) && this.graph.values[v]);
    if (missing.length) {
      this.runs++;
      for (const [k, r] of calibrate(this.graph, missing, this.batches, this.opts)) this.cache.set(k, r);
    }
    const out = new Map<string, Range>();
    for (const v of want) {
      const r = this.cache.get(v);
      if (r) out.set(v, r);
    }
    return out;
  }
}
