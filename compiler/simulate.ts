/**
 * `simulate`: time a SCALE-Sim topology (or a model's conv and matmul layers) on a parametric systolic
 * array with SCALE-Sim v2's compute model (targets/systolic/), and report per-layer cycles and
 * utilization as its COMPUTE_REPORT does, plus SRAM/DRAM traffic and energy.
 *
 * This file is also the `deno task simulate` entry point: run directly it parses its own flags with the
 * same rules and exit codes as cli.ts, so a topology run does not load every importer and pass first.
 */
import { parseArgs } from "node:util";
import { LatheError, withFile } from "../ir/errors.ts";
import { arrayName, type SramSizes, type SystolicArray, systolicArray } from "../targets/systolic/array.ts";
import {
  computeLayers,
  type LayerResult,
  type SimulationTotals,
  totalsOf,
} from "../targets/systolic/compute.ts";
import {
  type DramKind,
  type EnergyOptions,
  type LayerEnergy,
  layerEnergy,
  type MacKind,
} from "../targets/systolic/energy.ts";
import {
  accessReportCsv,
  bandwidthReportCsv,
  computeReportCsv,
  formatReport,
} from "../targets/systolic/report.ts";
import { parseArrayDims, parseSramList, parseSystolicSpec } from "../targets/systolic/spec.ts";
import {
  parseTopology,
  type TopologyForm,
  type TopologyLayer,
  topologyOf,
} from "../targets/systolic/topology.ts";

export interface SimulateOptions {
  /** A SCALE-Sim topology CSV file. */
  topology?: string;
  /** The CSV's text, instead of reading `topology` (which then only names it in errors). */
  topologyText?: string;
  /** A model file (ONNX, TFLite): its conv and matmul layers become the topology. */
  model?: string;
  /** `auto` reads a `name, M, N, K` header as gemm (SCALE-Sim's `-i gemm`). */
  form?: TopologyForm | "auto";
  /** `sa:RxC:os|ws|is`; overrides `array` and `dataflow`. */
  target?: string;
  /** `RxC` or rows and cols; default 32x32 (scale.cfg). */
  array?: string | { rows: number; cols: number };
  /** Default os (scale.cfg). */
  dataflow?: string;
  /** `KB,KB,KB` or sizes; default 64 kB each (scale.cfg). */
  sram?: string | Partial<SramSizes>;
  /** Words per cycle per DRAM port (SCALE-Sim's USER mode); omitted means CALC. */
  bandwidth?: number;
  wordBytes?: number;
  energy?: EnergyOptions;
  /** Write COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv and ACCESS_REPORT.csv here. */
  out?: string;
}

export interface SimulateResult {
  readonly target: string;
  readonly source: string;
  readonly array: SystolicArray;
  readonly layers: LayerResult[];
  readonly totals: SimulationTotals;
  readonly energy: { readonly layers: LayerEnergy[]; readonly totalPJ: number };
  /** Model nodes with MAC work that have no GEMM view (only with `model`). */
  readonly skipped: { node: string; op: string; reason: string }[];
  readonly files?: { compute: string; bandwidth: string; access: string };
}

export function arrayOf(opts: SimulateOptions): SystolicArray {
  const sram = typeof opts.sram === "string" ? parseSramList(opts.sram) : opts.sram;
  const bandwidth = opts.bandwidth === undefined
    ? undefined
    : { mode: "user" as const, wordsPerCycle: opts.bandwidth };
  const aopts = { sram, bandwidth, wordBytes: opts.wordBytes };
  if (opts.target) return parseSystolicSpec(opts.target, aopts);
  const dims = typeof opts.array === "string"
    ? parseArrayDims(opts.array)
    : opts.array ?? { rows: 32, cols: 32 };
  return systolicArray(dims.rows, dims.cols, opts.dataflow ?? "os", aopts);
}

/** Times every layer of a topology on the array; the library entry behind `deno task simulate`. */
export async function simulateTopology(opts: SimulateOptions): Promise<SimulateResult> {
  const array = arrayOf(opts);
  let layers: TopologyLayer[];
  let skipped: SimulateResult["skipped"] = [];
  let source: string;
  if (opts.topologyText !== undefined || opts.topology) {
    if (opts.model) throw new LatheError("usage", "give a topology or a model, not both");
    const file = opts.topology ?? "<topology>";
    let text = opts.topologyText;
    if (text === undefined) {
      try {
        text = await Deno.readTextFile(file);
      } catch (e) {
        throw new LatheError("io", `cannot read: ${(e as Error).message}`, { file });
      }
    }
    layers = parseTopology(text, { file, form: opts.form });
    source = file;
  } else if (opts.model) {
    // Importers load only when a model is asked for, so topology runs start fast.
    await import("./formats.ts");
    const { loadModel } = await import("./load-model.ts");
    const model = await loadModel(opts.model);
    try {
      ({ layers, skipped } = topologyOf(model));
    } catch (e) {
      throw withFile(e, opts.model);
    }
    source = opts.model;
  } else {
    throw new LatheError("usage", "simulate needs --topology FILE.csv or --model MODEL");
  }
  const results = computeLayers(layers, array);
  const energyLayers = results.map((r) => layerEnergy(r, array, opts.energy));
  const energy = { layers: energyLayers, totalPJ: energyLayers.reduce((p, e) => p + e.totalPJ, 0) };
  const result: SimulateResult = {
    target: arrayName(array),
    source,
    array,
    layers: results,
    totals: totalsOf(results, array),
    energy,
    skipped,
  };
  if (!opts.out) return result;
  const { ensureDir, writeFileAtomic } = await import("./atomic-write.ts");
  await ensureDir(opts.out);
  const files = {
    compute: `${opts.out}/COMPUTE_REPORT.csv`,
    bandwidth: `${opts.out}/BANDWIDTH_REPORT.csv`,
    access: `${opts.out}/ACCESS_REPORT.csv`,
  };
  await writeFileAtomic(files.compute, computeReportCsv(results));
  await writeFileAtomic(files.bandwidth, bandwidthReportCsv(results));
  await writeFileAtomic(files.access, accessReportCsv(results));
  return { ...result, files };
}

const DRAM_KINDS = ["horowitz", "LPDDR4", "LPDDR", "DDR3", "GDDR5", "HBM2", "HMC"];
const MAC_KINDS = ["int8", "int32", "fp16", "fp32"];

function numberFlag(s: string | undefined, flag: string, integer = false): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (s.trim() === "" || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new LatheError("usage", `${flag} expects ${integer ? "an integer" : "a number"}, got '${s}'`);
  }
  return n;
}

function choice<T extends string>(
  s: string | undefined,
  flag: string,
  allowed: readonly string[],
): T | undefined {
  if (s === undefined) return undefined;
  if (!allowed.includes(s)) {
    throw new LatheError("usage", `${flag} must be one of ${allowed.join(", ")}, got '${s}'`);
  }
  return s as T;
}

/** The `simulate` command, in cli.ts's Command shape. */
export const simulateCommand = {
  summary: "time a SCALE-Sim topology or a model's layers on a systolic array (cycles, utilization, traffic)",
  usage:
    `simulate (--topology FILE.csv | --model MODEL) [--array RxC] [--dataflow os|ws|is] [--target sa:RxC:df]
        [--sram KB,KB,KB] [--bandwidth WORDS] [--word-bytes N] [--form auto|conv|gemm] [--mac KIND] [--dram KIND]
        [--out DIR] [--json]
  --topology   SCALE-Sim topology CSV (conv rows, or name,M,N,K rows under a 'name, M, N, K' header)
  --model      .onnx/.tflite model: its Conv/Gemm/MatMul (and tfl conv/FC) layers, padded convs mapped by
               their output size
  --array      array rows x cols (default 32x32, as scale.cfg); --dataflow default os
  --target     the same as one string, e.g. sa:16x16:ws
  --sram       ifmap,filter,ofmap scratchpad sizes in kB (default 64,64,64)
  --bandwidth  DRAM words per cycle per port (SCALE-Sim USER mode; stalls are a roofline lower bound);
               omitted: CALC mode, no stalls
  --word-bytes bytes per word (default 1, as SCALE-Sim)
  --mac        MAC energy entry: ${MAC_KINDS.join(", ")} (default from --word-bytes)
  --dram       DRAM energy entry: ${DRAM_KINDS.join(", ")} (default LPDDR4)
  --out        also write COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv and ACCESS_REPORT.csv there`,
  options: {
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
    topology: { type: "string" },
    model: { type: "string" },
    array: { type: "string" },
    dataflow: { type: "string" },
    target: { type: "string" },
    sram: { type: "string" },
    bandwidth: { type: "string" },
    "word-bytes": { type: "string" },
    form: { type: "string" },
    mac: { type: "string" },
    dram: { type: "string" },
    out: { type: "string" },
  },
  async run(v: Record<string, any>, p: string[]): Promise<number> {
    if (p.length) {
      throw new LatheError("usage", `unexpected argument '${p[0]}' (use --topology FILE or --model FILE)`);
    }
    const r = await simulateTopology({
      topology: v.topology,
      model: v.model,
      target: v.target,
      array: v.array,
      dataflow: v.dataflow,
      sram: v.sram,
      bandwidth: numberFlag(v.bandwidth, "--bandwidth"),
      wordBytes: numberFlag(v["word-bytes"], "--word-bytes", true),
      form: choice(v.form, "--form", ["auto", "conv", "gemm"]),
      energy: {
        mac: choice<MacKind>(v.mac, "--mac", MAC_KINDS),
        dram: choice<DramKind>(v.dram, "--dram", DRAM_KINDS),
      },
      out: v.out,
    });
    if (v.json) {
      console.log(JSON.stringify(r, null, 2));
      return 0;
    }
    const lines = [formatReport(r.array, r.layers, r.totals, r.energy, r.source)];
    for (const s of r.skipped) lines.push(`skipped ${s.node} (${s.op}): ${s.reason}`);
    if (r.files) lines.push(`wrote ${r.files.compute}, ${r.files.bandwidth}, ${r.files.access}`);
    console.log(lines.join("\n"));
    return 0;
  },
} as const;

/** Standalone entry with cli.ts's exit codes: 0 ok, 2 usage, 3 bad input, 4 internal error. */
export async function simulateMain(argv: string[]): Promise<number> {
  let parsed: { values: Record<string, any>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv,
      options: simulateCommand.options,
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    console.error(`${(e as Error).message}\n\nusage: ${simulateCommand.usage}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(`usage: ${simulateCommand.usage}`);
    return 0;
  }
  try {
    return await simulateCommand.run(parsed.values, parsed.positionals);
  } catch (e) {
    if (e instanceof LatheError) {
      console.error(e.message);
      return e.kind === "usage" ? 2 : 3;
    }
    console.error(`internal error: ${(e as Error)?.stack ?? e}`);
    return 4;
  }
}

if (import.meta.main) Deno.exit(await simulateMain(Deno.args));
