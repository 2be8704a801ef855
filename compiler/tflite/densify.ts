/**
 * Expanding a sparse TFLite constant (SparsityParameters: traversal order, block map, per-level DENSE or
 * SPARSE_CSR metadata) into its dense row-major bytes. The importer does this for DENSIFY's operand, so
 * the IR holds a plain dense constant and no DENSIFY node. Every index read from the file is checked, and
 * the walk visits each stored value once, so a hostile file cannot make it loop or write out of bounds.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Sparsity } from "./model.ts";

/** A dense tensor this large is refused rather than allocated. */
const MAX_DENSE_BYTES = 1 << 30;
const MAX_LEVELS = 16;

/**
 * Dense bytes for a sparse tensor of `shape` whose stored values (in traversal order) are `values`, each
 * `width` bytes.
 */
export function densify(
  shape: readonly number[],
  sp: Sparsity,
  values: Uint8Array,
  width: number,
  where: { file?: string; field?: string },
): Uint8Array {
  const fail = (reason: string): never => {
    throw new LatheError("format", `sparse tensor: ${reason}`, where);
  };
  const rank = shape.length;
  const order = sp.traversalOrder;
  const n = order.length;
  const blocks = n - rank;
  if (n > MAX_LEVELS) fail(`${n} traversal levels`);
  if (blocks < 0 || sp.blockMap.length !== blocks) {
    fail(`traversal order has ${n} entries and block map ${sp.blockMap.length} for rank ${rank}`);
  }
  if (sp.dimMetadata.length !== n) fail(`${sp.dimMetadata.length} dim_metadata entries for ${n} levels`);
  const seen = new Set(order);
  if (seen.size !== n || order.some((d) => d < 0 || d >= n)) {
    fail(`traversal order [${order}] is not a permutation`);
  }
  for (let i = 0; i < rank; i++) {
    if (order[i] >= rank) fail(`traversal order [${order}] mixes block dims into the first ${rank}`);
  }

  // Block size per original dim (1 when not blocked), taken from the dense level of its block dim.
  const blockSize = new Array<number>(rank).fill(1);
  sp.blockMap.forEach((d, j) => {
    if (d < 0 || d >= rank) fail(`block map entry ${d} out of range`);
    const level = order.indexOf(rank + j);
    const md = sp.dimMetadata[level];
    if (md.format !== 0) fail("sparse block dimensions are not supported");
    if (!(md.denseSize > 0) || shape[d] % md.denseSize !== 0) {
      fail(`block size ${md.denseSize} does not divide dim ${shape[d]}`);
    }
    blockSize[d] = md.denseSize;
  });
  // Size of each expanded dim: blocked outer dims, then the block dims.
  const expanded = new Array<number>(n);
  for (let e = 0; e < n; e++) {
    expanded[e] = e < rank ? shape[e] / blockSize[e] : blockSize[sp.blockMap[e - rank]];
  }
  let count = 1;
  for (const d of shape) count *= d;
  if (count * width > MAX_DENSE_BYTES) fail(`dense form of [${shape}] would take ${count * width} bytes`);
  if (values.length % width !== 0) fail(`${values.length} value bytes are not whole ${width}-byte elements`);
  const nValues = values.length / width;

  const strides = new Array<number>(rank);
  for (let d = rank - 1, acc = 1; d >= 0; d--) {
    strides[d] = acc;
    acc *= shape[d];
  }
  // Moving one step along expanded dim e moves the dense offset by this much.
  const step = new Array<number>(n);
  for (let e = 0; e < n; e++) {
    step[e] = e < rank ? strides[e] * blockSize[e] : strides[sp.blockMap[e - rank]];
  }

  const levels = sp.dimMetadata.map((md, i) => {
    const e = order[i];
    if (md.format === 0) {
      if (md.denseSize !== expanded[e]) {
        fail(`level ${i} is dense with size ${md.denseSize}, the dim has ${expanded[e]}`);
      }
      return { dense: true as const, size: md.denseSize, e };
    }
    if (md.format !== 1) fail(`level ${i} has unknown format ${md.format}`);
    const segs = md.arraySegments?.values, idx = md.arrayIndices?.values;
    if (!segs || !idx) fail(`level ${i} is sparse without segments and indices`);
    for (let k = 1; k < segs!.length; k++) if (segs![k] < segs![k - 1]) fail(`level ${i} segments decrease`);
    if (segs!.length > 0 && (segs![0] < 0 || segs![segs!.length - 1] > idx!.length)) {
      fail(`level ${i} segments run past its ${idx!.length} indices`);
    }
    for (let k = 0; k < idx!.length; k++) {
      if (idx![k] >= expanded[e]) fail(`level ${i} index ${idx![k]} out of range`);
    }
    return { dense: false as const, segs: segs!, idx: idx!, e };
  });

  const out = new Uint8Array(count * width);
  const put = (value: number, offset: number) => {
    if (value >= nValues) fail(`value ${value} of ${nValues} stored values`);
    const s = value * width, d = offset * width;
    for (let b = 0; b < width; b++) out[d + b] = values[s + b];
  };
  const walk = (level: number, prev: number, offset: number): void => {
    const L = levels[level];
    const st = step[L.e];
    // The last level writes values directly (no call per element).
    const leaf = level === n - 1;
    if (L.dense) {
      for (let c = 0; c < L.size; c++) {
        if (leaf) put(prev * L.size + c, offset + c * st);
        else walk(level + 1, prev * L.size + c, offset + c * st);
      }
      return;
    }
    if (prev + 1 >= L.segs.length) fail(`level ${level} has no segment ${prev}`);
    for (let j = L.segs[prev]; j < L.segs[prev + 1]; j++) {
      if (leaf) put(j, offset + L.idx[j] * st);
      else walk(level + 1, j, offset + L.idx[j] * st);
    }
  };
  if (n === 0) put(0, 0);
  else walk(0, 0, 0);
  return out;
}
