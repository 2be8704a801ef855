/**
 * Helpers for the conversion tests: seeded inputs, the closeness figures the tests report, and a TFLite
 * file with every tensor's shape made static (LiteRT.js runs a file whose signature dims are -1 only at the
 * sizes its tensors declare).
 */
import type { Graph } from "../../ir/graph.ts";
import { readTflite } from "../../compiler/tflite/reader.ts";
import { writeTflite } from "../../compiler/tflite/writer.ts";
import { Rng } from "../../runtime/random.ts";

export function seededFloats(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r.uniform(lo, hi);
  return out;
}

export function seededInts(n: number, seed: number, hiExclusive: number): Int32Array {
  const r = new Rng(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = r.int(0, hiExclusive);
  return out;
}

export interface Closeness {
  /** Largest |actual - expected|. */
  maxAbs: number;
  /** Largest |expected|: the output's scale. */
  maxRef: number;
  /** Elements outside |a - e| <= atol + rtol·|e|. */
  bad: number;
  count: number;
  /** The worst element outside the tolerance, for messages. */
  worst?: { index: number; actual: number; expected: number };
}

export function closeness(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol = 1e-4,
  atol = 1e-5,
): Closeness {
  if (actual.length !== expected.length) {
    throw new Error(`lengths differ: ${actual.length} vs ${expected.length}`);
  }
  let maxAbs = 0, maxRef = 0, bad = 0, worstD = -1;
  let worst: Closeness["worst"];
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    const d = Math.abs(a - e);
    if (!(d <= maxAbs)) maxAbs = d;
    if (Math.abs(e) > maxRef) maxRef = Math.abs(e);
    if (!(d <= atol + rtol * Math.abs(e))) {
      bad++;
      if (!(d <= worstD)) {
        worstD = d;
        worst = { index: i, actual: a, expected: e };
      }
    }
  }
  return { maxAbs, maxRef, bad, count: actual.length, ...(worst ? { worst } : {}) };
}

/**
 * The file with each tensor whose shape_signature has -1 given the static shape `bound` (the same graph
 * imported, with its input sizes bound and shapes inferred) has for the value of that name. Only shapes
 * change: operators, options and weights are the file's own.
 */
export function staticTflite(bytes: Uint8Array, bound: Graph): Uint8Array {
  const m = readTflite(bytes);
  for (const sg of m.subgraphs) {
    for (const t of sg.tensors) {
      const v = bound.values[t.name]?.type;
      if (!t.shapeSignature || v?.kind !== "tensor" || !v.shape?.every((d) => typeof d === "number")) {
        continue;
      }
      t.shape = v.shape as number[];
      t.shapeSignature = null;
    }
  }
  return writeTflite(m);
}
