/**
 * `compile --target`: report.json carries the schema's fields and its totals are the sums of its node
 * rows; weights.bin holds exactly the constants the calls stream at the offsets the report gives;
 * report.html is self-contained; and the CLI's exit codes follow --strict and bad targets.
 */
import assert from "node:assert/strict";
import { main } from "../compiler/cli.ts";
import { compileForTarget } from "../compiler/target-compile.ts";
import { constantBytes } from "../ir/constant.ts";
import { parseGraph } from "../ir/text.ts";

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));

Deno.test("report.json: fields present, totals are the sums of the node rows, weights.bin matches its index", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await compileForTarget({ target: "secda-sa", out: dir });
    const rep = JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
    for (const k of ["target", "model", "totals", "nodes", "simulation", "weights", "cpu", "sources"]) {
      assert.ok(k in rep, `report has ${k}`);
    }
    assert.equal(rep.target, "secda-sa");
    assert.equal(rep.model, "lathe-default-int8-cnn");
    for (const k of ["cycles", "seconds", "cpu_baseline_seconds", "speedup", "energy_pj", "dram_bytes"]) {
      assert.equal(typeof rep.totals[k], "number", `totals.${k}`);
    }
    for (const n of rep.nodes) {
      for (
        const k of [
          "node",
          "op",
          "placement",
          "macs",
          "cycles",
          "utilization",
          "sram_reads",
          "sram_writes",
          "dram_bytes",
          "energy_pj",
        ]
      ) {
        assert.ok(k in n, `node ${n.node} has ${k}`);
      }
      assert.ok(n.placement === "accel" || (n.reason && n.cycles === 0), `${n.node}: a CPU node says why`);
    }
    const sum = (k: string) => rep.nodes.reduce((s: number, n: any) => s + n[k], 0);
    assert.equal(rep.totals.cycles, sum("cycles"));
    assert.equal(rep.totals.dram_bytes, sum("dram_bytes"));
    assert.ok(close(rep.totals.seconds, sum("seconds")));
    assert.ok(close(rep.totals.energy_pj, sum("energy_pj")));
    assert.ok(close(rep.totals.cpu_baseline_seconds, sum("cpu_baseline_seconds")));
    assert.ok(close(rep.totals.speedup, rep.totals.cpu_baseline_seconds / rep.totals.seconds));
    // An accelerator row's cycles are its phases; its time is those cycles at 200 MHz plus its host nodes.
    for (const n of rep.nodes.filter((n: any) => n.placement === "accel")) {
      const p = n.phases;
      assert.equal(n.cycles, p.config + p.weights + p.inputs + p.compute + p.store);
      const host = n.host.reduce((s: number, h: any) => s + h.seconds, 0);
      assert.ok(close(n.seconds, n.cycles / 200e6 + host));
    }
    assert.equal(rep.simulation.bit_exact, true);
    // weights.bin: every constant an AccelCall reads, at its 64-byte aligned offset.
    const bin = await Deno.readFile(`${dir}/weights.bin`);
    const g = r.partition.graph;
    const streamed = new Set(
      g.nodes.filter((n) => n.op === "lathe.AccelCall").flatMap((n) =>
        n.inputs.filter((i) => i && g.constants[i])
      ),
    );
    assert.deepEqual(new Set(rep.weights.map((w: any) => w.name)), streamed);
    for (const w of rep.weights) {
      assert.equal(w.offset % 64, 0);
      assert.deepEqual(bin.subarray(w.offset, w.offset + w.bytes), constantBytes(g.constants[w.name]));
    }
    const last = rep.weights[rep.weights.length - 1];
    assert.equal(bin.length, last.offset + last.bytes);
    // The IR text parses back (elided constants supplied from the graph, as weights.bin holds them).
    parseGraph(await Deno.readTextFile(`${dir}/model.lir`), { constants: g.constants });
    const html = await Deno.readTextFile(`${dir}/report.html`);
    assert.match(html, /^<!doctype html>/);
    assert.ok(!/<script|<link|src=|https?:\/\//i.test(html), "no scripts, links or external assets");
    assert.equal((html.match(/<rect [^>]*class="accel"/g) ?? []).length >= 4, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compile --target exit codes: 0 ok, 1 when --strict finds a requested node on the CPU, 2 for an unknown target", async () => {
  const dir = await Deno.makeTempDir();
  const log = console.log, err = console.error;
  const said: string[] = [];
  console.log = (...a: unknown[]) => said.push(a.join(" "));
  console.error = (...a: unknown[]) => said.push(a.join(" "));
  try {
    assert.equal(await main(["compile", "--target", "secda-vm", "--out", dir, "--explain-offload"]), 0);
    assert.ok(
      said.some((l) =>
        /cpu {3}dw1 \(tfl.DEPTHWISE_CONV_2D\): no rule for op tfl.DEPTHWISE_CONV_2D on secda-vm/.test(l)
      ),
    );
    assert.equal(
      await main([
        "compile",
        "--target",
        "secda-vm",
        "--out",
        dir,
        "--offload",
        "CONV_2D,DEPTHWISE_CONV_2D",
        "--strict",
      ]),
      1,
    );
    assert.equal(
      await main(["compile", "--target", "secda-vm", "--out", dir, "--offload", "CONV_2D", "--strict"]),
      0,
    );
    assert.equal(await main(["compile", "--target", "no-such", "--out", dir]), 2);
  } finally {
    console.log = log;
    console.error = err;
    await Deno.remove(dir, { recursive: true });
  }
});
