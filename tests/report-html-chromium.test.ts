/**
 * report.html as a browser renders it: `compile --target` output opened from disk (file://, no server) in
 * Debian's headless Chromium through playwright-core, for the embedded int8 CNN on secda-sa, the Coral
 * MobileNet-SSD on secda-sa, and a tiny-llama GGUF on bfp. The per-layer time chart must draw one bar
 * group per layer of report.json, with each offloaded layer's accelerator bar as wide as its cycles make
 * it, and the table one row per layer in order with the report's placements; a full-page screenshot goes
 * to a temporary directory. Skips with a message when /usr/bin/chromium is absent (CI installs it with
 * apt when it can).
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { importGguf } from "../compiler/gguf/llama.ts";
import { compileForTarget } from "../compiler/target-compile.ts";
import { bindInputShapes } from "../passes/convert/static-shapes.ts";
import { Tensor } from "../runtime/tensor.ts";
import { partitionGraph } from "../targets/partition.ts";
import { getTarget } from "../targets/registry.ts";
import { buildTargetReport, renderReportHtml, type TargetReport } from "../targets/report.ts";
import { simulatePartitioned } from "../targets/simulate.ts";
import { corpusPath, HAVE_CORPUS } from "./support/corpus.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

const HAVE_CHROMIUM = exists(CHROMIUM);
if (!HAVE_CHROMIUM) {
  console.warn(`SKIP report.html in Chromium: ${CHROMIUM} is absent (apt-get install -y chromium)`);
}

/** Opens DIR/report.html in a fresh profile and checks the chart and the table against report.json. */
async function checkReport(dir: string, shots: string, label: string): Promise<void> {
  const report: TargetReport = JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
  const profile = await Deno.makeTempDir({ prefix: "lathe-chromium-profile-" });
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1200, height: 900 },
  });
  try {
    const page = await ctx.newPage();
    const url = new URL(`file://${await Deno.realPath(`${dir}/report.html`)}`).href;
    const res = await page.goto(url);
    assert.ok(res === null || res.ok(), `${label}: ${url} did not load`);
    assert.equal(await page.title(), `${report.model} on ${report.target}`);

    // The chart: one bar group per layer, labelled with the layer, in report order.
    const chart = page.locator('svg[aria-label="time per layer"]');
    assert.equal(await chart.count(), 1, `${label}: no time chart`);
    const groups = chart.locator(":scope > g");
    assert.equal(await groups.count(), report.nodes.length, `${label}: bar groups`);
    const titles = await groups.evaluateAll((gs) =>
      gs.map((g) => g.querySelector("title")?.textContent ?? "")
    );
    report.nodes.forEach((n, i) =>
      assert.ok(titles[i].startsWith(`${n.node} (${n.op}) ${n.placement}`), titles[i])
    );
    // Accelerator bars: as wide as cycles / clock against the slowest layer, over 520 px (renderReportHtml).
    const maxSec = Math.max(...report.nodes.map((n) => Math.max(n.seconds, n.cpu_baseline_seconds)), 1e-12);
    const widths = await groups.evaluateAll((gs) =>
      gs.map((g) =>
        (g.querySelector("rect.accel") as unknown as { getBBox(): { width: number } }).getBBox().width
      )
    );
    let drawn = 0;
    report.nodes.forEach((n, i) => {
      const want = n.placement === "accel" ? (n.cycles / (report.clock_mhz * 1e6) / maxSec) * 520 : 0;
      assert.ok(Math.abs(widths[i] - want) < 0.02, `${label}: ${n.node} bar ${widths[i]} px, want ${want}`);
      if (widths[i] > 0) drawn++;
    });
    assert.equal(drawn, report.nodes.filter((n) => n.placement === "accel" && n.cycles > 0).length);
    // Rendered on screen, not just in the DOM.
    const box = await chart.boundingBox();
    assert.ok(box && box.width > 500 && box.height >= report.nodes.length * 18 - 1, `${label}: chart box`);

    // The table: one row per layer, in order, with its placement.
    const rows = page.locator("table tr.accel, table tr.cpu");
    assert.equal(await rows.count(), report.nodes.length, `${label}: table rows`);
    const cells = await rows.evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll("td")].slice(0, 3).map((td) => td.textContent))
    );
    report.nodes.forEach((n, i) => assert.deepEqual(cells[i], [n.node, n.op, n.placement]));
    assert.equal(await page.locator("table tr.accel").count(), report.totals.offloaded_nodes);

    const shot = `${shots}/${label}.png`;
    await page.screenshot({ path: shot, fullPage: true });
    const png = await Deno.readFile(shot);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    console.log(
      `${label}: ${report.nodes.length} layers, ${report.totals.offloaded_nodes} offloaded; screenshot ${shot}`,
    );
  } finally {
    await ctx.close();
    await Deno.remove(profile, { recursive: true });
  }
}

Deno.test({
  name: "report.html in headless Chromium: the default int8 CNN on secda-sa",
  ignore: !HAVE_CHROMIUM,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "lathe-report-" });
    try {
      await compileForTarget({ target: "secda-sa", out });
      await checkReport(out, out, "default-int8-cnn.secda-sa");
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "report.html in headless Chromium: the Coral MobileNet-SSD on secda-sa",
  ignore: !HAVE_CHROMIUM || !HAVE_CORPUS,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "lathe-report-" });
    try {
      await compileForTarget({
        target: "secda-sa",
        model: corpusPath("tflite/coral/mobilenet_ssd_v2_coco_quant_postprocess.tflite"),
        out,
      });
      await checkReport(out, out, "coral-ssd.secda-sa");
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "report.html in headless Chromium: tiny-llama Q4_K_M on bfp",
  ignore: !HAVE_CHROMIUM || !HAVE_CORPUS,
  fn: async () => {
    // compile --target does not take GGUF models yet: the report is built the way it builds one.
    const out = await Deno.makeTempDir({ prefix: "lathe-report-" });
    try {
      const m = await importGguf(corpusPath("gguf/tiny-llama/tiny-llama-Q4_K_M.gguf"));
      const g = bindInputShapes(m.graph, { shapes: { tokens: [4] } });
      const target = getTarget("bfp");
      const part = partitionGraph(g, target);
      const tokens = new Tensor("i32", [4], Int32Array.from([1, 7, 42, 300]));
      const run = simulatePartitioned(g, part.graph, { inputs: { tokens } });
      const report = buildTargetReport("tiny-llama-Q4_K_M", g, part, target, { run, seed: 0 });
      await Deno.writeTextFile(`${out}/report.json`, JSON.stringify(report));
      await Deno.writeTextFile(`${out}/report.html`, renderReportHtml(report));
      await checkReport(out, out, "tiny-llama-Q4_K_M.bfp");
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
