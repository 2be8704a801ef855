/**
 * Reports in SCALE-Sim's shapes (formats.md §4.1, "Outputs"; `scalesim/simulator.py`): COMPUTE_REPORT and
 * BANDWIDTH_REPORT rows with its headers and trailing commas, an access summary in place of
 * DETAILED_ACCESS_REPORT (no start/stop cycles: there is no trace), and a text table for the terminal.
 *
 * A layer with copies (a DP row) is one row here; SCALE-Sim prints one row per channel with the same
 * utilizations and 1/copies of the cycles and accesses.
 */
import { arrayName, type SystolicArray } from "./array.ts";
import type { LayerResult, SimulationTotals } from "./compute.ts";
import type { LayerEnergy } from "./energy.ts";

export const COMPUTE_REPORT_HEADER =
  "LayerID, Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %,";
export const BANDWIDTH_REPORT_HEADER =
  "LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, Avg OFMAP SRAM BW, Avg IFMAP DRAM BW, Avg FILTER DRAM BW, Avg OFMAP DRAM BW,";
export const ACCESS_REPORT_HEADER =
  "LayerID, Layer name, Copies, SRAM IFMAP Reads, SRAM Filter Reads, SRAM OFMAP Writes, DRAM IFMAP Reads, DRAM Filter Reads, DRAM OFMAP Writes,";

export interface ComputeReportRow {
  readonly layerId: number;
  readonly totalCycles: number;
  readonly stallCycles: number;
  readonly overallUtil: number;
  readonly mappingEfficiency: number;
  readonly computeUtil: number;
}

export interface BandwidthReportRow {
  readonly layerId: number;
  /** Words per cycle over the layer's cycles. */
  readonly sram: { readonly ifmap: number; readonly filter: number; readonly ofmap: number };
  /**
   * Words per cycle over the layer's compute cycles. SCALE-Sim divides by the span of its DRAM trace, which
   * starts before cycle 0 (prefetch), so its figures run a little lower.
   */
  readonly dram: { readonly ifmap: number; readonly filter: number; readonly ofmap: number };
}

export function computeReportRows(results: readonly LayerResult[]): ComputeReportRow[] {
  return results.map((r, i) => ({
    layerId: i,
    totalCycles: r.totalCycles,
    stallCycles: r.stallCycles,
    overallUtil: r.overallUtil,
    mappingEfficiency: r.mappingEfficiency,
    computeUtil: r.computeUtil,
  }));
}

export function bandwidthReportRows(results: readonly LayerResult[]): BandwidthReportRow[] {
  return results.map((r, i) => {
    const per = (n: number) => n / r.totalCycles;
    return {
      layerId: i,
      sram: { ifmap: per(r.sram.ifmap), filter: per(r.sram.filter), ofmap: per(r.sram.ofmap) },
      dram: { ifmap: per(r.dram.ifmap), filter: per(r.dram.filter), ofmap: per(r.dram.ofmap) },
    };
  });
}

const csvLine = (xs: readonly (string | number)[]) => xs.join(", ") + ",";

export function computeReportCsv(results: readonly LayerResult[]): string {
  const rows = computeReportRows(results).map((r) =>
    csvLine([r.layerId, r.totalCycles, r.stallCycles, r.overallUtil, r.mappingEfficiency, r.computeUtil])
  );
  return [COMPUTE_REPORT_HEADER, ...rows].join("\n") + "\n";
}

export function bandwidthReportCsv(results: readonly LayerResult[]): string {
  const rows = bandwidthReportRows(results).map((r) =>
    csvLine([r.layerId, r.sram.ifmap, r.sram.filter, r.sram.ofmap, r.dram.ifmap, r.dram.filter, r.dram.ofmap])
  );
  return [BANDWIDTH_REPORT_HEADER, ...rows].join("\n") + "\n";
}

export function accessReportCsv(results: readonly LayerResult[]): string {
  const rows = results.map((r, i) =>
    csvLine([
      i,
      r.name.replaceAll(",", "_"),
      r.copies,
      r.sram.ifmap,
      r.sram.filter,
      r.sram.ofmap,
      r.dram.ifmap,
      r.dram.filter,
      r.dram.ofmap,
    ])
  );
  return [ACCESS_REPORT_HEADER, ...rows].join("\n") + "\n";
}

const fmtInt = (n: number) => n.toLocaleString("en-US");
const pct = (n: number) => n.toFixed(2);
const joules = (pj: number) =>
  pj >= 1e6
    ? `${(pj / 1e6).toPrecision(4)} uJ`
    : pj >= 1e3
    ? `${(pj / 1e3).toPrecision(4)} nJ`
    : `${pj.toPrecision(4)} pJ`;

/** The terminal table: one line per layer as in COMPUTE_REPORT, plus the GEMM view, then totals. */
export function formatReport(
  array: SystolicArray,
  results: readonly LayerResult[],
  totals: SimulationTotals,
  energy?: { layers: readonly LayerEnergy[]; totalPJ: number },
  source?: string,
): string {
  const a = array;
  const bw = a.bandwidth.mode === "calc" ? "CALC bandwidth" : `${a.bandwidth.wordsPerCycle} words/cycle`;
  const head = [
    `${
      arrayName(a)
    }  SRAM ${a.sram.ifmapKB}/${a.sram.filterKB}/${a.sram.ofmapKB} kB (ifmap/filter/ofmap), ${bw}, ${a.wordBytes}-byte words${
      source ? `, ${source}` : ""
    }`,
    `${"ID".padStart(3)}  ${"Layer".padEnd(18)} ${"M".padStart(7)} ${"N".padStart(6)} ${"K".padStart(6)} ${
      "Folds".padStart(7)
    } ${"Total Cycles".padStart(13)} ${"Stall".padStart(7)} ${"Overall%".padStart(8)} ${
      "Mapping%".padStart(8)
    } ${"Compute%".padStart(8)}`,
  ];
  const body = results.map((r, i) => {
    const name = r.copies > 1 ? `${r.name} x${r.copies}` : r.name;
    return `${String(i).padStart(3)}  ${name.slice(0, 18).padEnd(18)} ${String(r.M).padStart(7)} ${
      String(r.N).padStart(6)
    } ${String(r.K).padStart(6)} ${String(r.rowFolds * r.colFolds).padStart(7)} ${
      String(r.totalCycles).padStart(13)
    } ${String(r.stallCycles).padStart(7)} ${pct(r.overallUtil).padStart(8)} ${
      pct(r.mappingEfficiency).padStart(8)
    } ${pct(r.computeUtil).padStart(8)}`;
  });
  const t = totals;
  const tail = [
    `total: ${t.layers} layers, ${fmtInt(t.totalCycles)} cycles (${fmtInt(t.stallCycles)} stall), ${
      fmtInt(t.macs)
    } MACs, overall util ${pct(t.overallUtil)}%`,
    `SRAM words: ifmap reads ${fmtInt(t.sram.ifmap)}, filter reads ${fmtInt(t.sram.filter)}, ofmap writes ${
      fmtInt(t.sram.ofmap)
    }`,
    `DRAM words: ifmap reads ${fmtInt(t.dram.ifmap)}, filter reads ${fmtInt(t.dram.filter)}, ofmap writes ${
      fmtInt(t.dram.ofmap)
    }`,
  ];
  if (energy) {
    const sum = (k: "macPJ" | "sramPJ" | "dramPJ") => energy.layers.reduce((p, e) => p + e[k], 0);
    tail.push(
      `energy: ${joules(energy.totalPJ)} (MAC ${joules(sum("macPJ"))}, SRAM ${joules(sum("sramPJ"))}, DRAM ${
        joules(sum("dramPJ"))
      })`,
    );
  }
  return [...head, ...body, ...tail].join("\n");
}
