/**
 * The systolic array a SCALE-Sim v2 run describes (formats.md §4.1, "Inputs"): an R×C grid of MACs, one of
 * three dataflows, three double-buffered scratchpads and the DRAM interface bandwidth. The defaults are
 * SCALE-Sim's `configs/scale.cfg` apart from the array size, which the caller always names.
 */
import { LatheError } from "../../ir/errors.ts";

export type Dataflow = "os" | "ws" | "is";
export const DATAFLOWS: readonly Dataflow[] = ["os", "ws", "is"];

/**
 * `calc` is SCALE-Sim's InterfaceBandwidth = CALC: memory never stalls and the report says what DRAM
 * bandwidth would have been needed. `user` fixes the words per cycle of each of the three DRAM ports.
 */
export type Bandwidth = { readonly mode: "calc" } | { readonly mode: "user"; readonly wordsPerCycle: number };

export interface SramSizes {
  readonly ifmapKB: number;
  readonly filterKB: number;
  readonly ofmapKB: number;
}

export interface SystolicArray {
  /** ArrayHeight: the R of every formula. */
  readonly rows: number;
  /** ArrayWidth: the C of every formula. */
  readonly cols: number;
  readonly dataflow: Dataflow;
  readonly sram: SramSizes;
  readonly bandwidth: Bandwidth;
  /** Bytes per operand word; SCALE-Sim v2 hard-codes 1 (`single_layer_sim.py`). */
  readonly wordBytes: number;
}

/** scale.cfg: 64 kB per buffer, CALC bandwidth, 1-byte words. */
export const SCALE_CFG_SRAM: SramSizes = { ifmapKB: 64, filterKB: 64, ofmapKB: 64 };

/** SCALE-Sim double-buffers every scratchpad and lets half of it serve the array (active_buf_frac 0.5). */
export const ACTIVE_BUFFER_FRACTION = 0.5;

/** Array edges above this are not arrays anyone builds, and keep every product well inside 2^53. */
const MAX_EDGE = 1 << 16;
const MAX_KB = 1 << 30;

export interface ArrayOptions {
  sram?: Partial<SramSizes>;
  bandwidth?: Bandwidth;
  wordBytes?: number;
}

/** Builds and checks an array description; every bad value is a usage LatheError naming the field. */
export function systolicArray(
  rows: number,
  cols: number,
  dataflow: string,
  opts: ArrayOptions = {},
): SystolicArray {
  checkInt(rows, "rows", 1, MAX_EDGE);
  checkInt(cols, "cols", 1, MAX_EDGE);
  if (!(DATAFLOWS as readonly string[]).includes(dataflow)) {
    throw new LatheError("usage", `dataflow must be os, ws or is, got '${dataflow}'`, { field: "dataflow" });
  }
  const sram = { ...SCALE_CFG_SRAM, ...opts.sram };
  for (const k of ["ifmapKB", "filterKB", "ofmapKB"] as const) {
    const v = sram[k];
    if (!(Number.isFinite(v) && v > 0 && v <= MAX_KB)) {
      throw new LatheError("usage", `SRAM size must be a positive number of kB up to ${MAX_KB}, got ${v}`, {
        field: `sram.${k}`,
      });
    }
  }
  const bandwidth = opts.bandwidth ?? { mode: "calc" };
  if (
    bandwidth.mode === "user" && !(Number.isFinite(bandwidth.wordsPerCycle) && bandwidth.wordsPerCycle > 0)
  ) {
    throw new LatheError(
      "usage",
      `bandwidth must be a positive number of words per cycle, got ${bandwidth.wordsPerCycle}`,
      {
        field: "bandwidth",
      },
    );
  }
  const wordBytes = opts.wordBytes ?? 1;
  checkInt(wordBytes, "wordBytes", 1, 16);
  return { rows, cols, dataflow: dataflow as Dataflow, sram, bandwidth, wordBytes };
}

function checkInt(v: number, field: string, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new LatheError("usage", `${field} must be an integer in [${min}, ${max}], got ${v}`, { field });
  }
}

/** Words one scratchpad holds: `floor(kB·1024 / word_size)`, as `read_buffer*.py` sizes it. */
export function bufferWords(kb: number, wordBytes: number): number {
  return Math.floor((kb * 1024) / wordBytes);
}

/**
 * Words the active half of a double buffer remembers. SCALE-Sim's buffer model (`read_buffer_estimate_bw.py`)
 * tracks addresses in 100 sets of `floor(words/100)` each and keeps `0.5·100` of them active, so a 64 kB
 * buffer remembers 50·655 = 32750 words, not 32768.
 */
export function activeWords(kb: number, wordBytes: number): number {
  return Math.floor(bufferWords(kb, wordBytes) / 100) * Math.round(ACTIVE_BUFFER_FRACTION * 100);
}

/** `sa:16x16:os`, the target spelling of an array. */
export function arrayName(a: SystolicArray): string {
  return `sa:${a.rows}x${a.cols}:${a.dataflow}`;
}
