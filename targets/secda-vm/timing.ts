/**
 * VM compute cost: the tile's 4-column groups are dealt round-robin to the 4 units; each unit computes its
 * 4×4 output tiles one after another, kp/4 cycles each (one packed word of depth per cycle, II = 1) plus a
 * fixed overhead for pipeline fill and the PPU hand-off (VM_TILE_OVERHEAD, an assumption). Each cycle a unit
 * reads one word from each of 4 weight rows and 4 input rows.
 */
export const VM_UNITS = 4, VM_TILE = 4;
export const VM_TILE_OVERHEAD = 4;

export function vmComputeCycles(mt: number, nt: number, kp: number): number {
  const rowGroups = Math.ceil(mt / VM_TILE), colGroups = Math.ceil(nt / VM_TILE);
  return rowGroups * Math.ceil(colGroups / VM_UNITS) * (kp / 4 + VM_TILE_OVERHEAD);
}

export function vmComputeSramReads(mt: number, nt: number, kp: number): number {
  return Math.ceil(mt / VM_TILE) * Math.ceil(nt / VM_TILE) * (kp / 4) * 2 * VM_TILE;
}
