/**
 * The target report: per source node, where it ran and what it cost (accelerator cycles by phase, PE
 * utilization, SRAM and DRAM traffic, energy from the command stream; CPU cycles of the host preparation
 * and of the nodes left on the CPU), against a CPU-only baseline of the original graph on the board's CPU
 * (targets/cpu-baseline.ts). Totals are sums of the node rows. Rendered as report.json and as a
 * self-contained report.html (inline SVG, no scripts or external assets).
 */
import type { Graph, Node } from "../ir/graph.ts";
import { nodeMacs } from "../ir/macs.ts";
import { cpuNodeCost } from "./cpu-baseline.ts";
import type { PartitionResult } from "./partition.ts";
import type { SimulationRun } from "./simulate.ts";
import type { CallTiming, Target } from "./target.ts";

export interface HostNodeReport {
  readonly node: string;
  readonly op: string;
  readonly cpu_cycles: number;
  readonly seconds: number;
}

export interface NodeReport {
  readonly node: string;
  readonly op: string;
  readonly placement: "accel" | "cpu";
  readonly rule?: string;
  readonly reason?: string;
  readonly macs: number;
  /** Accelerator cycles (0 for CPU nodes). */
  readonly cycles: number;
  /** CPU cycles: host preparation for offloaded nodes, the node itself otherwise. */
  readonly cpu_cycles: number;
  readonly seconds: number;
  readonly cpu_baseline_seconds: number;
  readonly speedup: number;
  readonly utilization: number;
  readonly sram_reads: number;
  readonly sram_writes: number;
  readonly dram_bytes: number;
  readonly dma_cycles: number;
  readonly energy_pj: number;
  readonly phases?: CallTiming["phases"];
  readonly energy?: CallTiming["energy"];
  readonly packets?: number;
  readonly program?: Readonly<Record<string, number>>;
  /** The target's own compute-model figures (CallTiming.model): SCALE-Sim's for `sa:` arrays. */
  readonly array?: Readonly<Record<string, number>>;
  readonly host?: readonly HostNodeReport[];
}

export interface TargetReport {
  readonly target: string;
  readonly model: string;
  readonly board: string;
  readonly clock_mhz: number;
  readonly peak_macs_per_cycle: number;
  readonly cpu: {
    readonly name: string;
    readonly mhz: number;
    readonly cores: number;
    readonly assumption: string;
  };
  readonly totals: {
    readonly cycles: number;
    readonly cpu_cycles: number;
    readonly seconds: number;
    readonly accel_seconds: number;
    readonly host_seconds: number;
    readonly cpu_baseline_seconds: number;
    readonly speedup: number;
    readonly energy_pj: number;
    readonly dram_bytes: number;
    readonly macs: number;
    readonly offloaded_macs: number;
    readonly nodes: number;
    readonly offloaded_nodes: number;
  };
  readonly simulation?: {
    readonly bit_exact: boolean;
    readonly compared_values: number;
    readonly mismatches: SimulationRun["mismatches"];
    readonly seed: number;
    readonly cut_at?: string;
    readonly ms: SimulationRun["ms"];
  };
  readonly nodes: readonly NodeReport[];
  readonly weights?: readonly {
    name: string;
    call: string;
    offset: number;
    bytes: number;
    dtype: string;
    shape: readonly number[];
  }[];
  readonly sources: readonly string[];
}

export function buildTargetReport(
  modelName: string,
  original: Graph,
  part: PartitionResult,
  target: Target,
  sim?: { run: SimulationRun; seed: number },
): TargetReport {
  const p = target.params, cpu = p.cpu;
  const g = part.graph;
  const byId = new Map<string, Node>(g.nodes.map((n) => [n.id, n]));
  const origById = new Map<string, Node>(original.nodes.map((n) => [n.id, n]));
  const nodes: NodeReport[] = part.placements.map((pl) => {
    const orig = origById.get(pl.node)!;
    const base = cpuNodeCost(cpu, original, orig);
    const macs = nodeMacs(original, orig) ?? 0;
    if (pl.placement === "cpu") {
      return {
        node: pl.node,
        op: pl.op,
        placement: "cpu",
        reason: pl.reason,
        macs,
        cycles: 0,
        cpu_cycles: base.cycles,
        seconds: base.seconds,
        cpu_baseline_seconds: base.seconds,
        speedup: 1,
        utilization: 0,
        sram_reads: 0,
        sram_writes: 0,
        dram_bytes: 0,
        dma_cycles: 0,
        energy_pj: 0,
      };
    }
    const call = byId.get(pl.call!)!;
    const program = target.programOf(call);
    const t = target.timing(program);
    const host = (pl.host ?? []).map((id) => {
      const n = byId.get(id)!;
      const c = cpuNodeCost(cpu, g, n);
      return { node: id, op: n.op, cpu_cycles: c.cycles, seconds: c.seconds };
    });
    const hostCycles = host.reduce((s, h) => s + h.cpu_cycles, 0),
      hostSeconds = host.reduce((s, h) => s + h.seconds, 0);
    const seconds = t.seconds + hostSeconds;
    return {
      node: pl.node,
      op: pl.op,
      placement: "accel",
      rule: pl.rule,
      macs,
      cycles: t.cycles,
      cpu_cycles: hostCycles,
      seconds,
      cpu_baseline_seconds: base.seconds,
      speedup: seconds > 0 ? base.seconds / seconds : 0,
      utilization: t.utilization,
      sram_reads: t.sramReads,
      sram_writes: t.sramWrites,
      dram_bytes: t.dramBytes,
      dma_cycles: t.dmaCycles,
      energy_pj: t.energyPJ,
      phases: t.phases,
      energy: t.energy,
      packets: t.packets,
      program: program.dims,
      ...(t.model ? { array: t.model } : {}),
      host,
    };
  });
  const sum = (f: (n: NodeReport) => number) => nodes.reduce((s, n) => s + f(n), 0);
  const seconds = sum((n) => n.seconds), baseline = sum((n) => n.cpu_baseline_seconds);
  const cycles = sum((n) => n.cycles);
  return {
    target: p.name,
    model: modelName,
    board: p.board,
    clock_mhz: p.clockMHz,
    peak_macs_per_cycle: p.macsPerCycle,
    cpu: { name: cpu.name, mhz: cpu.mhz, cores: cpu.cores, assumption: cpu.assumption },
    totals: {
      cycles,
      cpu_cycles: sum((n) => n.cpu_cycles),
      seconds,
      accel_seconds: cycles / (p.clockMHz * 1e6),
      host_seconds: seconds - cycles / (p.clockMHz * 1e6),
      cpu_baseline_seconds: baseline,
      speedup: seconds > 0 ? baseline / seconds : 0,
      energy_pj: sum((n) => n.energy_pj),
      dram_bytes: sum((n) => n.dram_bytes),
      macs: sum((n) => n.macs),
      offloaded_macs: sum((n) => (n.placement === "accel" ? n.macs : 0)),
      nodes: nodes.length,
      offloaded_nodes: nodes.filter((n) => n.placement === "accel").length,
    },
    simulation: sim && {
      bit_exact: sim.run.bitExact,
      compared_values: sim.run.compared,
      mismatches: sim.run.mismatches,
      seed: sim.seed,
      ...(sim.run.cutAt ? { cut_at: sim.run.cutAt } : {}),
      ms: sim.run.ms,
    },
    nodes,
    sources: [
      ...p.sources,
      `CPU: ${cpu.name} on ${cpu.board}: ${cpu.assumption}`,
      "energy: formats.md §4.4 (Horowitz 45 nm; DDR3 interface energy from Accelergy/CACTI)",
    ],
  };
}

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const fmt = (
  v: number,
  digits = 3,
) => (v === 0 ? "0" : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toFixed(digits));
const us = (s: number) => `${fmt(s * 1e6, 1)} µs`;

/** A self-contained HTML page: summary, the partition as coloured node boxes, per-layer time bars. */
export function renderReportHtml(r: TargetReport): string {
  const t = r.totals;
  const maxSec = Math.max(...r.nodes.map((n) => Math.max(n.seconds, n.cpu_baseline_seconds)), 1e-12);
  const rowH = 18, labelW = 300, barW = 520;
  const bars = r.nodes.map((n, i) => {
    const y = i * rowH;
    const accel = n.placement === "accel" ? (n.cycles / (r.clock_mhz * 1e6)) : 0;
    const host = n.seconds - accel;
    const wA = (accel / maxSec) * barW,
      wH = (host / maxSec) * barW,
      wB = (n.cpu_baseline_seconds / maxSec) * barW;
    const tip = esc(
      `${n.node} (${n.op}) ${n.placement}: ${us(n.seconds)}, CPU-only ${us(n.cpu_baseline_seconds)}${
        n.placement === "accel"
          ? `, ${n.cycles} cycles, util ${(100 * n.utilization).toFixed(1)}%`
          : `: ${n.reason ?? ""}`
      }`,
    );
    return `<g transform="translate(0,${y})"><title>${tip}</title>` +
      `<text x="${labelW - 6}" y="${rowH - 5}" text-anchor="end" class="lbl">${
        esc(n.node.length > 44 ? "…" + n.node.slice(-43) : n.node)
      }</text>` +
      `<rect x="${labelW}" y="2" width="${wB.toFixed(2)}" height="4" class="base"/>` +
      `<rect x="${labelW}" y="7" width="${wA.toFixed(2)}" height="9" class="accel"/>` +
      `<rect x="${(labelW + wA).toFixed(2)}" y="7" width="${wH.toFixed(2)}" height="9" class="cpu"/></g>`;
  }).join("\n");
  const cols = 8, box = 112, boxH = 34;
  const boxes = r.nodes.map((n, i) => {
    const x = (i % cols) * (box + 6), y = Math.floor(i / cols) * (boxH + 6);
    const tip = esc(
      `${n.node} (${n.op}): ${n.placement === "accel" ? `offloaded by ${n.rule}` : n.reason ?? "cpu"}`,
    );
    return `<g transform="translate(${x},${y})"><title>${tip}</title><rect width="${box}" height="${boxH}" rx="4" class="${
      n.placement === "accel" ? "accel" : "cpu"
    }"/>` +
      `<text x="5" y="14" class="op">${esc(n.op.replace(/^tfl\./, ""))}</text><text x="5" y="28" class="id">${
        esc(n.node.length > 18 ? "…" + n.node.slice(-17) : n.node)
      }</text></g>`;
  }).join("\n");
  const rows = r.nodes.map((n) =>
    `<tr class="${n.placement}"><td>${esc(n.node)}</td><td>${
      esc(n.op)
    }</td><td>${n.placement}</td><td>${n.macs}</td><td>${n.cycles}</td>` +
    `<td>${(100 * n.utilization).toFixed(1)}%</td><td>${us(n.seconds)}</td><td>${
      us(n.cpu_baseline_seconds)
    }</td><td>${fmt(n.speedup, 2)}×</td>` +
    `<td>${n.dram_bytes}</td><td>${fmt(n.energy_pj / 1e6, 3)}</td><td class="why">${
      esc(n.reason ?? n.rule ?? "")
    }</td></tr>`
  ).join("\n");
  const sim = r.simulation
    ? `<p>Simulation on seeded inputs (seed ${r.simulation.seed}): ${
      r.simulation.bit_exact ? "<b>bit-exact</b>" : "<b class=bad>MISMATCH</b>"
    } with the reference runtime over ${r.simulation.compared_values} shared values.</p>`
    : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.model)} on ${esc(r.target)}</title>
<style>
body{font:13px/1.4 system-ui,sans-serif;margin:20px;color:#222}
h1{font-size:18px}h2{font-size:15px;margin-top:24px}
table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}td:first-child,td:nth-child(2),td:nth-child(3),td.why{text-align:left}
td.why{color:#666;max-width:420px}
tr.accel td:nth-child(3){color:#1565c0;font-weight:600}
rect.accel{fill:#1e88e5}rect.cpu{fill:#fb8c00}rect.base{fill:#9e9e9e}
text.lbl{font-size:11px}text.op{font-size:11px;font-weight:600;fill:#fff}text.id{font-size:10px;fill:#fff}
.kpi{display:inline-block;margin-right:28px}.kpi b{font-size:20px;display:block}.bad{color:#c62828}
</style></head><body>
<h1>${esc(r.model)} on ${esc(r.target)} (${
    esc(r.board)
  }, ${r.clock_mhz} MHz, ${r.peak_macs_per_cycle} MAC/cycle peak)</h1>
<div><span class="kpi"><b>${fmt(t.speedup, 2)}×</b>speedup over CPU-only</span><span class="kpi"><b>${
    us(t.seconds)
  }</b>simulated time</span>
<span class="kpi"><b>${us(t.cpu_baseline_seconds)}</b>CPU-only (${
    esc(r.cpu.name)
  })</span><span class="kpi"><b>${t.offloaded_nodes}/${t.nodes}</b>nodes offloaded</span>
<span class="kpi"><b>${t.cycles}</b>accelerator cycles</span><span class="kpi"><b>${
    fmt(t.energy_pj / 1e6, 3)
  } µJ</b>accelerator energy</span></div>
${sim}
<h2>Partition</h2><p><svg width="${cols * (box + 6)}" height="${
    Math.ceil(r.nodes.length / cols) * (boxH + 6)
  }" role="img" aria-label="nodes by placement">${boxes}</svg></p>
<p><svg width="14" height="10"><rect width="14" height="10" class="accel"/></svg> accelerator &nbsp; <svg width="14" height="10"><rect width="14" height="10" class="cpu"/></svg> CPU (host preparation or whole node) &nbsp; <svg width="14" height="4"><rect width="14" height="4" class="base"/></svg> CPU-only baseline</p>
<h2>Time per layer</h2><svg width="${labelW + barW + 10}" height="${
    r.nodes.length * rowH
  }" role="img" aria-label="time per layer">${bars}</svg>
<h2>Layers</h2><table><tr><th>node</th><th>op</th><th>placement</th><th>MACs</th><th>cycles</th><th>util</th><th>time</th><th>CPU-only</th><th>speedup</th><th>DRAM B</th><th>µJ</th><th>rule / reason</th></tr>
${rows}</table>
<h2>Assumptions and sources</h2><ul>${r.sources.map((s) => `<li>${esc(s)}</li>`).join("")}</ul>
</body></html>
`;
}
