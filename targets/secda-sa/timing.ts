/**
 * SA compute cost: the output-stationary array takes an mt × nt tile in 16 × 16 folds, each SCALE-Sim's
 * OS fold length R + C + T − 2 with T the depth (formats.md §4.1; targets/systolic/compute.ts
 * cyclesPerFold): T cycles of MACs plus the skew of feeding 16 rows and draining 16 columns. Each fold
 * reads its input rows and weight rows once from the buffers.
 */
import { cyclesPerFold } from "../systolic/compute.ts";

export const SA_ROWS = 16, SA_COLS = 16;

export function saComputeCycles(mt: number, nt: number, kp: number): number {
  return Math.ceil(mt / SA_ROWS) * Math.ceil(nt / SA_COLS) * cyclesPerFold("os", SA_ROWS, SA_COLS, kp);
}

export function saComputeSramReads(mt: number, nt: number, kp: number): number {
  const kw = kp / 4;
  return (mt * Math.ceil(nt / SA_COLS) + nt * Math.ceil(mt / SA_ROWS)) * kw;
}
