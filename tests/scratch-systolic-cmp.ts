import { parseTopology } from "../targets/systolic/topology.ts";
import { computeLayer } from "../targets/systolic/compute.ts";
import { systolicArray } from "../targets/systolic/array.ts";
const dir = "/tmp/scalesim/runs";
const layers = parseTopology(await Deno.readTextFile("/tmp/scalesim/sel.csv"));
for (const e of [...Deno.readDirSync(dir)].map((d) => d.name).filter((n) => n.startsWith("r_")).sort()) {
  const [, rc, df, kb] = e.split("_");
  const a = systolicArray(+rc, +rc, df, { sram: { ifmapKB: +kb, filterKB: +kb, ofmapKB: +kb } });
  let comp: string[], det: string[];
  try { comp = Deno.readTextFileSync(`${dir}/${e}/COMPUTE_REPORT.csv`).trim().split("\n").slice(1); det = Deno.readTextFileSync(`${dir}/${e}/DETAILED_ACCESS_REPORT.csv`).trim().split("\n").slice(1); } catch { continue; }
  let row = 0;
  for (const l of layers) {
    const r = computeLayer(l, a);
    const c = comp[row].split(",").map(Number), d = det[row].split(",").map(Number);
    row += l.copies;
    const mine = [r.cyclesPerCopy, r.overallUtil, r.mappingEfficiency, r.computeUtil, r.sram.ifmap / l.copies, r.sram.filter / l.copies, r.sram.ofmap / l.copies, r.dram.ifmap / l.copies, r.dram.filter / l.copies, r.dram.ofmap / l.copies];
    const ref = [c[1], c[3], c[4], c[5], d[3], d[6], d[9], d[12], d[15], d[18]];
    const names = ["cyc", "util", "map", "cu", "sI", "sF", "sO", "dI", "dF", "dO"];
    const diffs = names.map((n, i) => Math.abs(mine[i] - ref[i]) > 1e-9 * Math.abs(ref[i]) ? `${n} ${ref[i]}→${+mine[i].toPrecision(8)} (${(100 * (mine[i] - ref[i]) / ref[i]).toFixed(1)}%)` : "").filter(Boolean);
    console.log(`${e.padEnd(12)} ${l.name.padEnd(10)} ${diffs.length ? diffs.join("  ") : "all equal"}`);
  }
}
