import "../../runtime/kernels/index.ts";
import { compileForTarget } from "../../compiler/target-compile.ts";
const [model, target] = [Deno.args[0] || undefined, Deno.args[1] || "secda-sa"];
const t0 = performance.now();
const r = await compileForTarget({ model, target, out: `/tmp/t1/out-${target}`, log: (s) => console.error(s) });
console.log(JSON.stringify({ ms: r.ms, totals: r.report.totals, sim: r.report.simulation && { ...r.report.simulation, mismatches: r.report.simulation.mismatches.slice(0, 3) }, missed: r.missed.length, prepared: r.prepared }, null, 1));
console.log("wall", performance.now() - t0);
