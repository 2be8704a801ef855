/**
 * The driver's activation memory: one arena, every value at a fixed 64-byte aligned offset decided at
 * compile time. A value lives from the node that defines it (graph inputs: from the start) to its last
 * reader (graph outputs: to the end); a value's bytes are reused only after it is dead, and a node's outputs
 * never share bytes with its inputs, so kernels need not work in place.
 */
import type { Graph } from "../../ir/graph.ts";

export interface ArenaPlan {
  readonly offsets: ReadonlyMap<string, number>;
  readonly bytes: number;
}

const ALIGN = 64;
const up = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

/** Offsets for the graph's inputs and node outputs, sized by `sizeOf` (bytes). */
export function planArena(g: Graph, inputs: readonly string[], sizeOf: (value: string) => number): ArenaPlan {
  const lastUse = new Map<string, number>();
  g.nodes.forEach((n, i) => {
    for (const v of n.inputs) if (v) lastUse.set(v, i);
  });
  const end = g.nodes.length;
  for (const o of g.outputs) lastUse.set(o, end);
  // Free blocks [start, end) sorted by start; the arena grows at `top`.
  const free: [number, number][] = [];
  const offsets = new Map<string, number>();
  let top = 0;
  const alloc = (v: string) => {
    const size = up(Math.max(1, sizeOf(v)));
    for (let i = 0; i < free.length; i++) {
      const [s, e] = free[i];
      if (e - s < size) continue;
      offsets.set(v, s);
      if (e - s === size) free.splice(i, 1);
      else free[i] = [s + size, e];
      return;
    }
    // Extend a free block that ends at the top rather than leave it stranded.
    const last = free[free.length - 1];
    if (last && last[1] === top) {
      free.pop();
      offsets.set(v, last[0]);
      top = last[0] + size;
      return;
    }
    offsets.set(v, top);
    top += size;
  };
  const release = (v: string) => {
    const s = offsets.get(v);
    if (s === undefined) return;
    const e = s + up(Math.max(1, sizeOf(v)));
    let i = 0;
    while (i < free.length && free[i][0] < s) i++;
    free.splice(i, 0, [s, e]);
    // Coalesce with the neighbours.
    if (i + 1 < free.length && free[i][1] === free[i + 1][0]) free.splice(i, 2, [free[i][0], free[i + 1][1]]);
    if (i > 0 && free[i - 1][1] === free[i][0]) free.splice(i - 1, 2, [free[i - 1][0], free[i][1]]);
  };
  for (const v of inputs) alloc(v);
  for (const v of inputs) if (!lastUse.has(v)) release(v);
  g.nodes.forEach((n, i) => {
    for (const o of n.outputs) if (o && !offsets.has(o)) alloc(o);
    const dead = new Set<string>();
    for (const v of n.inputs) if (v && lastUse.get(v) === i && offsets.has(v)) dead.add(v);
    for (const o of n.outputs) if (o && !lastUse.has(o)) dead.add(o);
    for (const v of dead) release(v);
  });
  return { offsets, bytes: top };
}
