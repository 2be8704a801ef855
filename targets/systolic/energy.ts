/**
 * Energy of a simulated layer from per-operation costs (formats.md §4.4). Every entry keeps its technology
 * node and unit, so a report can say what it multiplied by what.
 *
 * Sources:
 * * Horowitz, "Computing's Energy Problem (and what we can do about it)", ISSCC 2014, 45 nm at 0.9 V, as
 *   reproduced in `stillwater-sc/universal: include/sw/universal/energy/cost_models/generic_45nm.hpp` and
 *   `stillwater-sc/esim: energysim/database/energy.py`: integer and float add/multiply, the 8 kB SRAM read,
 *   the DRAM read (1300–2600 pJ per 64 bits; the low end is used).
 * * DRAM interface energy per bit: `Accelergy-Project/hwcomponents-cacti: hwcomponents_cacti.py`.
 */
import type { SystolicArray } from "./array.ts";
import type { LayerResult } from "./compute.ts";

export interface EnergyEntry {
  readonly pJ: number;
  /** What one `pJ` pays for. */
  readonly unit: "pJ/op" | "pJ/64-bit access" | "pJ/bit";
  readonly tech_node: string;
  readonly source: string;
}

const HOROWITZ = "Horowitz ISSCC 2014 (formats.md §4.4)";
const CACTI = "Accelergy hwcomponents-cacti DRAM table (formats.md §4.4)";

export const ENERGY_TABLE = {
  "int8.add": { pJ: 0.03, unit: "pJ/op", tech_node: "45nm", source: HOROWITZ },
  "int8.mult": { pJ: 0.2, unit: "pJ/op", tech_node: "45nm", source: HOROWITZ },
  "int32.add": { pJ: 0.1, unit: "pJ/op", tech_node: "45nm", source: HOROWITZ },
  "int32.mult": { pJ: 3.1, unit: "pJ/op", tech_node: "45nm", source: HOROWITZ },
  "fp16.add": { pJ: 0.4, unit: "pJ/op", tech_node: "45nm", source: HOROWITZ },
  "fp16.mult": { pJ: 1.1, unit: "pJ/op", tech_node: "45nm", source: HOROWITZ },
  "fp32.add": { pJ: 0.9, unit: "pJ/op", tech_node: "45nm", source: HOROWITZ },
  "fp32.mult": { pJ: 3.7, unit: "pJ/op", tech_node: "45nm", source: HOROWITZ },
  "sram.8kB.read64": { pJ: 10, unit: "pJ/64-bit access", tech_node: "45nm", source: HOROWITZ },
  "dram.horowitz.read64": { pJ: 1300, unit: "pJ/64-bit access", tech_node: "45nm", source: HOROWITZ },
  "dram.LPDDR4": { pJ: 8, unit: "pJ/bit", tech_node: "LPDDR4 interface", source: CACTI },
  "dram.LPDDR": { pJ: 40, unit: "pJ/bit", tech_node: "LPDDR interface", source: CACTI },
  "dram.DDR3": { pJ: 70, unit: "pJ/bit", tech_node: "DDR3 interface", source: CACTI },
  "dram.GDDR5": { pJ: 14, unit: "pJ/bit", tech_node: "GDDR5 interface", source: CACTI },
  "dram.HBM2": { pJ: 3.9, unit: "pJ/bit", tech_node: "HBM2 interface", source: CACTI },
  "dram.HMC": { pJ: 4.2, unit: "pJ/bit", tech_node: "HMC interface", source: CACTI },
} as const satisfies Record<string, EnergyEntry>;

export type MacKind = "int8" | "int32" | "fp16" | "fp32";
export type DramKind = "horowitz" | "LPDDR4" | "LPDDR" | "DDR3" | "GDDR5" | "HBM2" | "HMC";

export interface EnergyOptions {
  /** Default from the word size: 1 byte int8, 2 bytes fp16, 4 bytes fp32. */
  mac?: MacKind;
  /** Default LPDDR4. */
  dram?: DramKind;
}

export interface LayerEnergy {
  /** Picojoules per component and in all. */
  readonly macPJ: number;
  readonly sramPJ: number;
  readonly dramPJ: number;
  readonly totalPJ: number;
  /** The table entries used, by key, so the figures can be traced. */
  readonly entries: Readonly<Record<string, EnergyEntry>>;
}

export function defaultMacKind(wordBytes: number): MacKind {
  return wordBytes >= 4 ? "fp32" : wordBytes === 2 ? "fp16" : "int8";
}

/**
 * MAC = multiply + add at the chosen precision (an 8-bit MAC is 0.23 pJ). Scratchpad accesses are the
 * array-side counts SCALE-Sim reports, each costing the 8 kB SRAM's 64-bit access scaled to the word
 * width (SCALE-Sim's 64 kB buffers cost more per access; the table has no 45 nm figure for them that
 * formats.md vouches for). Writes are priced as reads. DRAM pays per bit moved, reads and writes alike.
 */
export function layerEnergy(r: LayerResult, a: SystolicArray, opts: EnergyOptions = {}): LayerEnergy {
  const mac = opts.mac ?? defaultMacKind(a.wordBytes);
  const add = ENERGY_TABLE[`${mac}.add`], mult = ENERGY_TABLE[`${mac}.mult`];
  const sram = ENERGY_TABLE["sram.8kB.read64"];
  const dramKey = opts.dram === "horowitz"
    ? "dram.horowitz.read64"
    : (`dram.${opts.dram ?? "LPDDR4"}` as const);
  const dram: EnergyEntry = ENERGY_TABLE[dramKey];
  const bits = a.wordBytes * 8;
  const dramPerBit = dram.unit === "pJ/bit" ? dram.pJ : dram.pJ / 64;
  const macPJ = r.macs * (add.pJ + mult.pJ);
  const sramPJ = (r.sram.ifmap + r.sram.filter + r.sram.ofmap) * sram.pJ * (bits / 64);
  const dramPJ = (r.dram.ifmap + r.dram.filter + r.dram.ofmap) * bits * dramPerBit;
  return {
    macPJ,
    sramPJ,
    dramPJ,
    totalPJ: macPJ + sramPJ + dramPJ,
    entries: { [`${mac}.add`]: add, [`${mac}.mult`]: mult, "sram.8kB.read64": sram, [dramKey]: dram },
  };
}
