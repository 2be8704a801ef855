/**
 * `deno task simulate` and simulateTopology: SCALE-Sim-shaped reports, --json, --out, exit codes, energy
 * from the cited per-operation table, and the USER-bandwidth roofline. Expected numbers are derived by
 * hand from formats.md §4.1 and §4.4.
 */
import assert from "node:assert/strict";
import { simulateTopology } from "../compiler/simulate.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";

const SIMULATE = new URL("../compiler/simulate.ts", import.meta.url).pathname;
const CLI = new URL("../compiler/cli.ts", import.meta.url).pathname;
const RESNET = new URL("../targets/systolic/topologies/resnet18.csv", import.meta.url).pathname;
const GEMMS = "Layer, M, N, K,\nA,8,8,8,\nB,16,12,20,\n";

async function sh(entry: string, ...args: string[]) {
  const p = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", entry, ...args],
    stdout: "piped",
    stderr: "piped",
  });
  const r = await p.output();
  return {
    code: r.code,
    stdout: new TextDecoder().decode(r.stdout),
    stderr: new TextDecoder().decode(r.stderr),
  };
}

Deno.test("simulateTopology: formats.md's 4x4 GEMMs, totals and energy", async () => {
  const r = await simulateTopology({ topologyText: GEMMS, array: "4x4", dataflow: "os" });
  assert.equal(r.target, "sa:4x4:os");
  assert.deepEqual(r.layers.map((l) => l.totalCycles), [55, 311]);
  // Totals: 55 + 311 cycles; MACs 512 + 16*12*20 = 4352; overall 4352 / (366*16).
  assert.equal(r.totals.totalCycles, 366);
  assert.equal(r.totals.macs, 4352);
  assert.ok(Math.abs(r.totals.overallUtil - (100 * 4352) / (366 * 16)) < 1e-9);
  // Energy of A (int8, LPDDR4): 512 MACs * (0.2 + 0.03) pJ = 117.76; SRAM (128 + 128 + 96) accesses at
  // 10 pJ per 64 bits scaled to 8 bits = 1.25 pJ: 440; DRAM (64 + 64 + 64) words * 8 bits * 8 pJ/bit =
  // 12288. Total 12845.76 pJ.
  const e = r.energy.layers[0];
  assert.ok(
    Math.abs(e.macPJ - 117.76) < 1e-9 && Math.abs(e.sramPJ - 440) < 1e-9 && Math.abs(e.dramPJ - 12288) < 1e-9,
  );
  assert.ok(Math.abs(e.totalPJ - 12845.76) < 1e-9);
  for (const entry of Object.values(e.entries)) {
    assert.ok(entry.tech_node && entry.unit, JSON.stringify(entry));
  }
  assert.equal(e.entries["int8.mult"].tech_node, "45nm");
  assert.equal(e.entries["dram.LPDDR4"].unit, "pJ/bit");
  // Horowitz DRAM: 1300 pJ per 64 bits = 162.5 pJ per 8-bit word: 192 words = 31200 pJ.
  const h = await simulateTopology({
    topologyText: GEMMS,
    array: "4x4",
    dataflow: "os",
    energy: { dram: "horowitz" },
  });
  assert.ok(Math.abs(h.energy.layers[0].dramPJ - 31200) < 1e-9);
});

Deno.test("USER bandwidth: stalls are the roofline of the busiest DRAM port", async () => {
  // GEMM M16 N12 K20 OS on 4x4 moves 320 ifmap words; at 1 word/cycle that takes 320 cycles, 8 more
  // than the 312 the compute takes (cycles 0..311).
  const r = await simulateTopology({
    topologyText: "Layer, M, N, K,\nB,16,12,20,\n",
    array: "4x4",
    dataflow: "os",
    bandwidth: 1,
  });
  assert.deepEqual([r.layers[0].stallCycles, r.layers[0].totalCycles], [8, 319]);
  const enough = await simulateTopology({
    topologyText: "Layer, M, N, K,\nB,16,12,20,\n",
    array: "4x4",
    bandwidth: 2,
  });
  assert.equal(enough.layers[0].stallCycles, 0);
});

Deno.test("deno task simulate: text report, --json, --out CSVs in SCALE-Sim's shapes", async () => {
  const text = await sh(SIMULATE, "--topology", RESNET, "--array", "16x16", "--dataflow", "os");
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^sa:16x16:os/);
  // conv1 at 16x16 OS: 3136 folds of 177 cycles, 555071 in all (see systolic-compute.test.ts).
  assert.match(text.stdout, /\n\s+0\s+Conv1\s+12544\s+64\s+147\s+3136\s+555071\s+0\s/);
  assert.match(text.stdout, /total: 21 layers, .* 1,814,073,344 MACs/);

  const out = await Deno.makeTempDir();
  const j = await sh(SIMULATE, "--topology", RESNET, "--target", "sa:32x32:ws", "--json", "--out", out);
  assert.equal(j.code, 0, j.stderr);
  const res = JSON.parse(j.stdout);
  assert.equal(res.layers.length, 21);
  // conv1 at 32x32 WS: 10 folds of 64+32+12544-2 = 12638: 126379.
  assert.equal(res.layers[0].totalCycles, 126379);
  const compute = (await Deno.readTextFile(`${out}/COMPUTE_REPORT.csv`)).split("\n");
  assert.equal(
    compute[0],
    "LayerID, Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %,",
  );
  // Mapping: K = 147 spreads over 5 row folds of 32: 147*64 / (10*1024) = 91.875%.
  assert.match(compute[1], /^0, 126379, 0, [\d.]+, 91\.875, [\d.]+,$/);
  const bw = (await Deno.readTextFile(`${out}/BANDWIDTH_REPORT.csv`)).split("\n");
  assert.match(bw[0], /^LayerID, Avg IFMAP SRAM BW, .*Avg OFMAP DRAM BW,$/);
  // conv1 WS 32x32 ifmap SRAM reads ceil(64/32)*12544*147 = 3687936 over 126379 cycles.
  assert.equal(Number(bw[1].split(",")[1]), 3687936 / 126379);
  const access = (await Deno.readTextFile(`${out}/ACCESS_REPORT.csv`)).split("\n");
  assert.match(access[1], /^0, Conv1, 1, 3687936, 9408, /);
});

Deno.test("simulate through cli.ts, --help, and exit codes", async () => {
  const viaCli = await sh(
    CLI,
    "simulate",
    "--topology",
    RESNET,
    "--array",
    "8x8",
    "--dataflow",
    "is",
    "--json",
  );
  assert.equal(viaCli.code, 0, viaCli.stderr);
  // conv1 at 8x8 IS: 29792 folds of 86 cycles: 2562111.
  assert.equal(JSON.parse(viaCli.stdout).layers[0].totalCycles, 2562111);
  const help = await sh(SIMULATE, "--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--topology FILE\.csv/);

  const bad = await Deno.makeTempFile({ suffix: ".csv" });
  await Deno.writeTextFile(
    bad,
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\nC,8,8,3,3,3,x,1,\n",
  );
  const fmt = await sh(SIMULATE, "--topology", bad, "--array", "8x8");
  assert.equal(fmt.code, 3);
  assert.match(fmt.stderr, /line 2, column 7 \(Num Filter\)/);
  assert.equal((await sh(SIMULATE, "--topology", RESNET, "--array", "8by8")).code, 2);
  assert.equal((await sh(SIMULATE, "--topology", RESNET, "--dataflow", "rs")).code, 2);
  assert.equal((await sh(SIMULATE, "--topology", RESNET, "--sram", "64,64")).code, 2);
  assert.equal((await sh(SIMULATE, "--array", "8x8")).code, 2);
  assert.equal((await sh(SIMULATE, "--topology", "/nonexistent/t.csv")).code, 3);
  assert.equal((await sh(SIMULATE, "--bogus")).code, 2);
});

Deno.test({
  name: "simulate --model: a real ONNX model's layers (mobilenet_v2)",
  ignore: noCorpus(),
  fn: async () => {
    const r = await simulateTopology({
      model: corpusPath("onnx/torch/mobilenet_v2.onnx"),
      target: "sa:16x16:ws",
    });
    assert.equal(r.layers.length, 53);
    assert.equal(r.totals.macs, 300774272);
    // The stem at 16x16 WS: K = 27 -> 2 row folds, N = 32 -> 2 column folds, 4 folds of
    // 32+16+12544-2 = 12590 cycles: 50359.
    assert.equal(r.layers[0].totalCycles, 50359);
  },
});
