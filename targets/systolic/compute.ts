/**
 * SCALE-Sim v2's compute model in closed form (formats.md §4.1): what `systolic_compute_{os,ws,is}.py`
 * and `single_layer_sim.py` would report for a layer, without generating the operand and demand matrices.
 * Cycles, utilizations and SRAM counts are SCALE-Sim's exactly (its fold loops sum to these products).
 * DRAM filter reads replay its buffer model exactly; IFMAP reads are exact when the IFMAP fits the active
 * half of its buffer and an estimate otherwise (see `dramTraffic`), where SCALE-Sim replays the whole
 * address trace. tests/systolic-scalesim.test.ts holds the SCALE-Sim runs these were checked against.
 */
import { activeWords, type Dataflow, type SystolicArray } from "./array.ts";
import { ofmapDims, type TopologyLayer } from "./topology.ts";

export interface OperandCounts {
  readonly ifmap: number;
  readonly filter: number;
  readonly ofmap: number;
}

export interface LayerResult {
  readonly name: string;
  /** Identical back-to-back runs of the layer (DP channels, groups, batch); every count below covers all. */
  readonly copies: number;
  readonly ofmapH: number;
  readonly ofmapW: number;
  /** GEMM view of one copy: M = E_h·E_w, N = filters, K = R·S·C. */
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly macs: number;
  /** Spatial rows, spatial columns and temporal extent of the dataflow's mapping. */
  readonly Sr: number;
  readonly Sc: number;
  readonly T: number;
  readonly rowFolds: number;
  readonly colFolds: number;
  readonly cyclesPerFold: number;
  /** Cycles of one copy: folds × per-fold − 1. */
  readonly cyclesPerCopy: number;
  readonly totalCycles: number;
  readonly stallCycles: number;
  /** Percentages, as SCALE-Sim's COMPUTE_REPORT prints them. */
  readonly overallUtil: number;
  readonly mappingEfficiency: number;
  readonly computeUtil: number;
  /** Array-side scratchpad accesses: ifmap and filter reads, ofmap writes (words). */
  readonly sram: OperandCounts;
  /** Words moved between DRAM and the scratchpads: ifmap and filter reads, ofmap writes. */
  readonly dram: OperandCounts;
  /** Whether each operand's unique words fit the active half of its buffer (DRAM counts exact then). */
  readonly fits: { readonly ifmap: boolean; readonly filter: boolean };
}

/** Sr, Sc, T per dataflow (formats.md §4.1 mapping table; `topology_utils.calc_spatio_temporal_params`). */
export function mapping(
  df: Dataflow,
  M: number,
  N: number,
  K: number,
): { Sr: number; Sc: number; T: number } {
  if (df === "os") return { Sr: M, Sc: N, T: K };
  if (df === "ws") return { Sr: K, Sc: N, T: M };
  return { Sr: K, Sc: M, T: N };
}

/**
 * Demand rows per fold (formats.md §4.1): OS `R + C + T − 2`; WS and IS `2R + C + T − 2` (R cycles to
 * preload the stationary operand, R − 1 of skew, T streaming rows, C − 1 to drain).
 */
export function cyclesPerFold(df: Dataflow, R: number, C: number, T: number): number {
  return df === "os" ? R + C + T - 2 : 2 * R + C + T - 2;
}

/**
 * The fold length SCALE-Sim divides by in Compute Util (formats.md §4.1, "Metrics"): OS uses the true
 * `R + C + T − 2`; for WS and IS the code measures the filter (WS) or ifmap (IS) demand matrix after its
 * drain suffix, `R + (R + C + T − 2) + C − 1 = 2R + 2C + T − 3`, one R + C − 1 longer than the fold.
 */
export function computeUtilFoldCycles(df: Dataflow, R: number, C: number, T: number): number {
  return df === "os" ? R + C + T - 2 : 2 * R + 2 * C + T - 3;
}

export function computeLayer(layer: TopologyLayer, array: SystolicArray): LayerResult {
  const { rows: R, cols: C, dataflow: df } = array;
  const { h: ofmapH, w: ofmapW } = ofmapDims(layer);
  // formats.md §4.1 "GEMM view": M = E_h·E_w, N = num_filters, K = R·S·C.
  const M = ofmapH * ofmapW, N = layer.numFilters, K = layer.filterH * layer.filterW * layer.channels;
  const copies = layer.copies;
  const { Sr, Sc, T } = mapping(df, M, N, K);
  // formats.md §4.1: folds = ceil(Sr/R)·ceil(Sc/C); Total Cycles = folds × per_fold − 1 (no stalls).
  const rowFolds = Math.ceil(Sr / R), colFolds = Math.ceil(Sc / C), folds = rowFolds * colFolds;
  const perFold = cyclesPerFold(df, R, C, T);
  const cyclesPerCopy = folds * perFold - 1;
  const macsPerCopy = M * N * K;
  // formats.md §4.1 "Metrics": Overall Util = 100·M·N·K / (TotalCycles·R·C).
  const overallUtil = (100 * macsPerCopy) / (cyclesPerCopy * R * C);
  // Mapping Efficiency = mean over folds of used_rows·used_cols/(R·C). The used rows of the row folds sum
  // to Sr and the used columns of the column folds to Sc, so the mean is Sr·Sc / (folds·R·C).
  const mappingEfficiency = (100 * Sr * Sc) / (folds * R * C);
  // Compute Util = mean over folds of used_rows·used_cols·T / (R·C·cycles_fold), cycles_fold with the WS/IS
  // quirk; the same sum gives Sr·Sc·T / (folds·R·C·cycles_fold).
  const computeUtil = (100 * Sr * Sc * T) / (folds * R * C * computeUtilFoldCycles(df, R, C, T));
  const sram = sramAccesses(df, R, C, M, N, K, folds);
  const { dram, fits } = dramTraffic(layer, array, { M, N, K, rowFolds, colFolds }, sram);
  const stallPerCopy = stallEstimate(array, dram, cyclesPerCopy);
  return {
    name: layer.name,
    copies,
    ofmapH,
    ofmapW,
    M,
    N,
    K,
    macs: macsPerCopy * copies,
    Sr,
    Sc,
    T,
    rowFolds,
    colFolds,
    cyclesPerFold: perFold,
    cyclesPerCopy,
    totalCycles: (cyclesPerCopy + stallPerCopy) * copies,
    stallCycles: stallPerCopy * copies,
    overallUtil: stallPerCopy ? (100 * macsPerCopy) / ((cyclesPerCopy + stallPerCopy) * R * C) : overallUtil,
    mappingEfficiency,
    computeUtil,
    sram: scale(sram, copies),
    dram: scale(dram, copies),
    fits,
  };
}

const scale = (c: OperandCounts, k: number): OperandCounts => ({
  ifmap: c.ifmap * k,
  filter: c.filter * k,
  ofmap: c.ofmap * k,
});

/**
 * Scratchpad accesses per copy (formats.md §4.1, "SRAM traffic"), as the fold loops of
 * `systolic_compute_*.py` count them (padding rows and columns of a partial fold included):
 * * OS: ifmap `ceil(Sc/C)·M·K`, filter `ceil(Sr/R)·K·N`, ofmap `M·N` plus the code's `R + C` per fold
 *   (it adds the padded fold's height and width to the write count).
 * * WS: ifmap `ceil(N/C)·M·K`, filter `K·N`, ofmap `ceil(K/R)·M·N` (partial sums rewritten per row fold).
 * * IS: ifmap `M·K`, filter `ceil(M/C)·K·N`, ofmap `ceil(K/R)·M·N`.
 */
export function sramAccesses(
  df: Dataflow,
  R: number,
  C: number,
  M: number,
  N: number,
  K: number,
  folds: number,
): OperandCounts {
  if (df === "os") {
    return {
      ifmap: Math.ceil(N / C) * M * K,
      filter: Math.ceil(M / R) * K * N,
      ofmap: M * N + (R + C) * folds,
    };
  }
  if (df === "ws") return { ifmap: Math.ceil(N / C) * M * K, filter: K * N, ofmap: Math.ceil(K / R) * M * N };
  return { ifmap: M * K, filter: Math.ceil(M / C) * K * N, ofmap: Math.ceil(K / R) * M * N };
}

/**
 * IFMAP rows (or columns) some window touches: SCALE-Sim's im2col leaves out addresses past the edge
 * (`calc_ifmap_elem_addr` marks them −1), so a last window that overhangs reads only what exists.
 */
export function touchedExtent(size: number, kernel: number, stride: number, outputs: number): number {
  if (stride <= kernel) return Math.min(size, (outputs - 1) * stride + kernel);
  const whole = Math.floor((size - kernel) / stride) + 1;
  return whole * kernel + (outputs > whole ? Math.max(0, size - whole * stride) : 0);
}

/** Distinct IFMAP words the layer reads (one copy). */
export function ifmapFootprint(l: TopologyLayer): number {
  const { h, w } = ofmapDims(l);
  return touchedExtent(l.ifmapH, l.filterH, l.strideH, h) * touchedExtent(l.ifmapW, l.filterW, l.strideW, w) *
    l.channels;
}

/**
 * DRAM words per copy. SCALE-Sim prefetches each scratchpad through a double buffer whose active half
 * serves the array (formats.md §4.1, "DRAM and buffers"); an operand whose unique words fit that half is
 * read from DRAM once: ifmap = its footprint, filter = K·N (exact, the spec's case). Otherwise its buffer
 * model remembers only the last half-buffer of new words, and a word is fetched again when the stream
 * comes back to it later than that. The estimate follows the fold order (column folds outer, row folds
 * inner, as the compute loops run); "footprint of a slice" is the distinct IFMAP words it reads:
 * * IFMAP, OS and IS: a fold reads all K taps of a run of consecutive output pixels (R of them for OS,
 *   C for IS). When such a run's footprint fits, neighbouring runs share window pixels and the IFMAP is
 *   fetched once per pass; when it does not, each run fetches its own footprint. OS makes a pass per
 *   column fold, IS one pass.
 * * IFMAP, WS: a fold reads one R-wide slice of the K axis for all M pixels; when the IFMAP does not
 *   fit, each slice fetches its own footprint, once per column fold.
 * * Filter: WS uses each weight in one fold (K·N). OS streams each K × C column slice once per row fold,
 *   IS the whole K × N once per column fold; both are counted exactly by `flushedBufferMisses`.
 * * Ofmap writes: M·N for OS; WS and IS write every partial sum out (ceil(K/R)·M·N, no accumulation in
 *   the scratchpad). SCALE-Sim's write buffer adds up to C − 1 words of its own when it drains.
 * Checked against SCALE-Sim v2 runs (8 layer shapes × 8×8/16×16/32×32 × os/ws/is, 64 and 4 kB buffers):
 * filter reads exact everywhere, IFMAP reads exact in 98 of 104 runs (the rest, 4 kB OS/IS runs of 3×3
 * layers, 20–34% low); its golden AlexNet conv1 run (32×32 WS, 64 kB, IFMAP not fitting) reads 1,805,023
 * IFMAP words against 1,796,832 here.
 */
export function dramTraffic(
  l: TopologyLayer,
  a: SystolicArray,
  g: { M: number; N: number; K: number; rowFolds: number; colFolds: number },
  sram: OperandCounts,
): { dram: OperandCounts; fits: { ifmap: boolean; filter: boolean } } {
  const { M, N, K, rowFolds, colFolds } = g;
  const ifmapActive = activeWords(a.sram.ifmapKB, a.wordBytes),
    filterActive = activeWords(a.sram.filterKB, a.wordBytes);
  const ifmapUnique = ifmapFootprint(l), filterUnique = K * N;
  const fits = { ifmap: ifmapUnique < ifmapActive, filter: filterUnique < filterActive };
  // Per pass over the IFMAP: its footprint when runs of `width` output pixels fit, else their footprints' sum.
  const pixelRuns = (width: number) => {
    if (fits.ifmap) return ifmapUnique;
    const runs = pixelRunFootprints(l, width);
    return runs === undefined || runs.max < ifmapActive ? ifmapUnique : runs.sum;
  };
  let ifmap: number, filter: number, ofmap: number;
  if (a.dataflow === "os") {
    ifmap = fits.ifmap ? ifmapUnique : pixelRuns(a.rows) * colFolds;
    filter = flushedBufferMisses(K, N, a.cols, rowFolds, filterActive);
    ofmap = M * N;
  } else if (a.dataflow === "ws") {
    ifmap = fits.ifmap
      ? ifmapUnique
      : (kSliceFootprints(l, a.rows) ?? Math.min(M * K, ifmapUnique * rowFolds)) * colFolds;
    filter = filterUnique;
    ofmap = sram.ofmap;
  } else {
    ifmap = pixelRuns(a.cols);
    filter = flushedBufferMisses(K * N, 1, 1, colFolds, filterActive);
    ofmap = sram.ofmap;
  }
  return { dram: { ifmap, filter, ofmap }, fits };
}

/**
 * Over the runs of `width` consecutive output pixels (raster order, as M is ordered), the sum and the
 * largest of the distinct IFMAP words each run's windows read. Undefined past the work budget.
 */
export function pixelRunFootprints(
  l: TopologyLayer,
  width: number,
): { sum: number; max: number } | undefined {
  const { h: Eh, w: Ew } = ofmapDims(l);
  const M = Eh * Ew, R = l.filterH, sh = l.strideH;
  const runs = Math.ceil(M / width);
  // Each run spans at most ceil(width/Ew) + 1 output rows, each (R + sh) input rows at most.
  if (runs * (Math.ceil(width / Ew) + 1) * (R + sh) > SLICE_WORK_BUDGET) return undefined;
  let sum = 0, max = 0;
  for (let m0 = 0; m0 < M; m0 += width) {
    const m1 = Math.min(M, m0 + width) - 1;
    const oy0 = Math.floor(m0 / Ew), ox0 = m0 % Ew, oy1 = Math.floor(m1 / Ew), ox1 = m1 % Ew;
    let words = 0;
    const yEnd = Math.min(l.ifmapH, oy1 * sh + R);
    for (let y = oy0 * sh; y < yEnd; y++) {
      // Output rows whose windows cover input row y: oy·sh ≤ y < oy·sh + R, within [oy0, oy1].
      const lo = Math.max(oy0, Math.ceil((y - R + 1) / sh)), hi = Math.min(oy1, Math.floor(y / sh));
      if (lo > hi) continue;
      // The first output row of the run starts at ox0, the last ends at ox1, the ones between are whole.
      if (lo < hi - 1 || (lo > oy0 && lo < oy1) || (hi > oy0 && hi < oy1)) {
        words += windowColumns(l.ifmapW, l.filterW, l.strideW, 0, Ew - 1, 0, -1);
      } else {
        const a0 = lo === oy0 ? ox0 : 0, b0 = lo === oy1 ? ox1 : Ew - 1;
        // With two rows (lo = oy0, hi = oy1) the second span [0, ox1] starts at 0, so it goes first.
        if (lo === hi) words += windowColumns(l.ifmapW, l.filterW, l.strideW, a0, b0, 0, -1);
        else words += windowColumns(l.ifmapW, l.filterW, l.strideW, 0, ox1, a0, b0);
      }
    }
    words *= l.channels;
    sum += words;
    if (words > max) max = words;
  }
  return { sum, max };
}

/**
 * Distinct input columns read by the windows of output columns [a0, b0] and [a1, b1] (a0 ≤ a1; the second
 * span is empty when b1 < a1).
 */
function windowColumns(
  W: number,
  S: number,
  sw: number,
  a0: number,
  b0: number,
  a1: number,
  b1: number,
): number {
  let count = 0, end = -1;
  for (let i = 0; i < 2; i++) {
    const a = i ? a1 : a0, b = i ? b1 : b0;
    if (b < a) continue;
    if (sw <= S) {
      // Windows of neighbouring outputs touch or overlap: one interval of input columns.
      const from = Math.max(a * sw, end + 1), to = Math.min(W - 1, b * sw + S - 1);
      if (to >= from) count += to - from + 1;
      end = Math.max(end, to);
    } else {
      // Gaps between windows: S columns per output (the last clipped at the edge), outputs counted once.
      for (let ox = Math.max(a, end + 1); ox <= b; ox++) count += Math.max(0, Math.min(S, W - ox * sw));
      end = Math.max(end, b);
    }
  }
  return count;
}

/**
 * DRAM reads of SCALE-Sim's buffer model for a stream made of disjoint slices, each read `passes` times
 * in a row in the same order: for an OS filter the K × C column slices (one per column fold, each re-read
 * for every row fold), for an IS filter the whole K × N (re-read for every column fold).
 *
 * `read_buffer_estimate_bw.py` counts a word as a DRAM read when it enters the buffer, and remembers only
 * words entered since its window last moved; the window moves each time another `active` words have
 * entered (50 of its 100 sets). So a word is a hit only if it entered in the current epoch of `active`
 * insertions. A slice pass is kept as runs of positions with the epoch they entered in, which makes this
 * exact at a cost of a few runs per pass instead of one step per word.
 */
export function flushedBufferMisses(
  rows: number,
  cols: number,
  sliceCols: number,
  passes: number,
  active: number,
): number {
  let inserted = 0;
  for (let c0 = 0; c0 < cols; c0 += sliceCols) {
    const length = rows * Math.min(sliceCols, cols - c0);
    // A slice at least as long as the memory misses throughout: between two reads of a word the other
    // length − 1 words enter, so the window has moved.
    if (length >= active) {
      inserted += length * passes;
      continue;
    }
    // Runs of positions and the epoch each entered in (−1: never); a slice never seen is one run.
    let lens = [length], epochs = [-1];
    for (let p = 0; p < passes; p++) {
      const nl: number[] = [], ne: number[] = [];
      const before = inserted;
      for (let i = 0; i < lens.length; i++) {
        let left = lens[i];
        if (epochs[i] === Math.floor(inserted / active)) {
          appendRun(nl, ne, left, epochs[i]);
          continue;
        }
        while (left > 0) {
          const epoch = Math.floor(inserted / active), take = Math.min(left, (epoch + 1) * active - inserted);
          appendRun(nl, ne, take, epoch);
          inserted += take;
          left -= take;
        }
      }
      // A pass with no misses leaves the state as it was: the remaining passes hit too.
      if (inserted === before) break;
      lens = nl;
      epochs = ne;
    }
  }
  return inserted;
}

function appendRun(lens: number[], epochs: number[], len: number, epoch: number): void {
  if (epochs.length && epochs[epochs.length - 1] === epoch) lens[lens.length - 1] += len;
  else {
    lens.push(len);
    epochs.push(epoch);
  }
}

/** Above this many steps the per-slice footprint falls back to footprint × row folds (never a hang). */
const SLICE_WORK_BUDGET = 2e7;

/**
 * Σ over the R-wide slices of the K axis of the distinct IFMAP words each slice reads for all M output
 * pixels (the WS row folds). K is ordered (filter row, filter column, channel), channel fastest, as
 * SCALE-Sim's im2col orders it. Undefined when the count would cost more than the work budget.
 */
export function kSliceFootprints(l: TopologyLayer, R: number): number | undefined {
  const { h: Eh, w: Ew } = ofmapDims(l);
  const Ch = l.channels, Fw = l.filterW, K = l.filterH * Fw * Ch;
  const slices = Math.ceil(K / R);
  if (slices * (l.ifmapH + 8 * Math.min(l.strideW, Fw) + 8) > SLICE_WORK_BUDGET) return undefined;
  let total = 0;
  for (let k0 = 0; k0 < K; k0 += R) {
    const k1 = Math.min(K, k0 + R);
    const p0 = Math.floor(k0 / Ch), p1 = Math.floor((k1 - 1) / Ch);
    // Channels present at the first tap position are those ≥ lo, at the last those < hi; each channel
    // covers a contiguous run of tap positions, and only four runs are possible.
    const lo = k0 - p0 * Ch, hi = k1 - p1 * Ch;
    if (p0 === p1) {
      total += (hi - lo) * tapRunPixels(l, Eh, Ew, p0, p0);
      continue;
    }
    const runs: [number, number, number][] = [
      [Math.max(0, hi - lo), p0, p1],
      [Ch - Math.max(lo, hi), p0, p1 - 1],
      [Math.min(lo, hi), p0 + 1, p1],
      [Math.max(0, lo - hi), p0 + 1, p1 - 1],
    ];
    for (const [count, pa, pb] of runs) {
      if (count > 0 && pa <= pb) total += count * tapRunPixels(l, Eh, Ew, pa, pb);
    }
  }
  return total;
}

/**
 * Distinct pixels of one channel touched by the taps at positions pa..pb (position = filter row · Fw +
 * filter column) over all Eh × Ew windows. The taps span filter rows ra..rb with columns [ca, Fw) on row
 * ra, everything on the rows between, [0, cb] on row rb. A pixel row y is reached by filter row r when
 * r ≡ y (mod stride) and the window index (y − r)/stride is in range; per y only which of {ra, middle
 * rows, rb} reach it matters, so rows are classed and each class's column count is computed once.
 */
function tapRunPixels(l: TopologyLayer, Eh: number, Ew: number, pa: number, pb: number): number {
  const Fw = l.filterW, sh = l.strideH;
  const ra = Math.floor(pa / Fw), ca = pa % Fw, rb = Math.floor(pb / Fw), cb = pb % Fw;
  const reach = (r: number, y: number) => r <= y && y - r <= (Eh - 1) * sh && (y - r) % sh === 0;
  const rowsPerClass = new Float64Array(8);
  for (let y = 0; y < l.ifmapH; y++) {
    const a = reach(ra, y);
    const b = rb !== ra && reach(rb, y);
    let mid = false;
    if (rb - ra >= 2) {
      const first = Math.max(ra + 1, y - (Eh - 1) * sh), last = Math.min(rb - 1, y);
      if (first <= last) {
        const r = first + ((((y - first) % sh) + sh) % sh);
        mid = r <= last;
      }
    }
    rowsPerClass[(a ? 1 : 0) | (mid ? 2 : 0) | (b ? 4 : 0)]++;
  }
  let total = 0;
  for (let cls = 1; cls < 8; cls++) {
    if (!rowsPerClass[cls]) continue;
    const spans: [number, number][] = [];
    if (cls & 2) spans.push([0, Fw - 1]);
    else {
      if (cls & 1) spans.push([ca, ra === rb ? cb : Fw - 1]);
      if (cls & 4) spans.push([0, cb]);
    }
    total += rowsPerClass[cls] * columnCount(l.ifmapW, Ew, l.strideW, Fw, spans);
  }
  return total;
}

/** Distinct x = b·stride + c for b < Ew, x < W, over filter columns c in the given spans. */
function columnCount(
  W: number,
  Ew: number,
  stride: number,
  Fw: number,
  spans: readonly [number, number][],
): number {
  let count = 0;
  for (let r = 0; r < Math.min(stride, Fw); r++) {
    if (r > W - 1) break;
    const qMax = Math.floor((W - 1 - r) / stride);
    // Lattice indices q (x = q·stride + r) each span covers: [ceil((c0−r)/s), floor((c1−r)/s) + Ew − 1].
    const iv: [number, number][] = [];
    for (const [c0, c1] of spans) {
      const qa = Math.ceil((c0 - r) / stride), qb = Math.floor((c1 - r) / stride);
      if (qa <= qb) iv.push([qa, Math.min(qb + Ew - 1, qMax)]);
    }
    iv.sort((x, y) => x[0] - y[0]);
    let end = -1;
    for (const [s, e] of iv) {
      const from = Math.max(s, end + 1);
      if (e >= from) count += e - from + 1;
      end = Math.max(end, e);
    }
  }
  return count;
}

/**
 * USER bandwidth only: the cycles a port needs beyond the compute cycles to move its DRAM words at the
 * given words per cycle, the largest over the three ports. A roofline lower bound, not SCALE-Sim's
 * trace-driven stall count; CALC mode never stalls.
 */
export function stallEstimate(a: SystolicArray, dram: OperandCounts, cycles: number): number {
  if (a.bandwidth.mode === "calc") return 0;
  const need = Math.ceil(Math.max(dram.ifmap, dram.filter, dram.ofmap) / a.bandwidth.wordsPerCycle);
  return Math.max(0, need - (cycles + 1));
}

export interface SimulationTotals {
  readonly layers: number;
  readonly macs: number;
  readonly totalCycles: number;
  readonly stallCycles: number;
  /** 100·MACs / (cycles·R·C) over the whole topology. */
  readonly overallUtil: number;
  readonly sram: OperandCounts;
  readonly dram: OperandCounts;
}

export function computeLayers(layers: readonly TopologyLayer[], array: SystolicArray): LayerResult[] {
  return layers.map((l) => computeLayer(l, array));
}

export function totalsOf(results: readonly LayerResult[], array: SystolicArray): SimulationTotals {
  let macs = 0, totalCycles = 0, stallCycles = 0;
  const sram = { ifmap: 0, filter: 0, ofmap: 0 }, dram = { ifmap: 0, filter: 0, ofmap: 0 };
  for (const r of results) {
    macs += r.macs;
    totalCycles += r.totalCycles;
    stallCycles += r.stallCycles;
    for (const k of ["ifmap", "filter", "ofmap"] as const) {
      sram[k] += r.sram[k];
      dram[k] += r.dram[k];
    }
  }
  const overallUtil = totalCycles ? (100 * macs) / (totalCycles * array.rows * array.cols) : 0;
  return { layers: results.length, macs, totalCycles, stallCycles, overallUtil, sram, dram };
}
