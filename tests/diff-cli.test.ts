/**
 * `diff` end to end: its numbers on a tiny pair of models against hand-derived values, the files it
 * writes (JSON, a self-contained HTML page), exit codes, the framework runtimes (onnxruntime, LiteRT),
 * and what it reports for the openWakeWord models shipped as both ONNX and TFLite.
 */
import assert from "node:assert/strict";
import { GraphBuilder, modelOf } from "../ir/builder.ts";
import { main } from "../compiler/cli.ts";
import { diffModels, formatDiff } from "../compiler/diff/diff.ts";
import { writeNpy } from "../compiler/npy.ts";
import { writeOnnxFile } from "../compiler/onnx/export.ts";
import { Tensor } from "../runtime/tensor.ts";
import { liteRtLoadMessage, loadLiteRt } from "./reference/litert.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";

const X = [5, 4, 3, 2, 1, 0.5, 0.25, 0.1];

/** y = x · c for a constant c of 8 classes. */
async function scaleModel(path: string, c: number[]) {
  const b = new GraphBuilder("scale");
  const x = b.input("x", "f32", [1, 8]);
  const k = b.constantOf("c", "f32", [1, 8], c);
  const y = b.op("Mul", [x, k], {}, ["y"], "scale")[0];
  await writeOnnxFile(path, modelOf(b.build([y])));
}

async function quiet<T>(f: () => Promise<T>): Promise<{ value: T; out: string }> {
  const log = console.log, err = console.error;
  let out = "";
  console.log = (...a: unknown[]) => (out += a.join(" ") + "\n");
  console.error = () => {};
  try {
    return { value: await f(), out };
  } finally {
    console.log = log;
    console.error = err;
  }
}

Deno.test("diff's figures on a tiny pair match hand-derived values", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await scaleModel(`${dir}/a.onnx`, new Array(8).fill(1));
    // Class 3 scaled by 0.4: scores 5, 4, 3, 0.8, 1, … — classes 3 and 4 swap inside the top 5.
    await scaleModel(`${dir}/b.onnx`, [1, 1, 1, 0.4, 1, 1, 1, 1]);
    await Deno.mkdir(`${dir}/in`);
    await writeNpy(`${dir}/in/x.npy`, new Tensor("f32", [1, 8], new Float32Array(X)));
    const r = await diffModels({
      source: `${dir}/a.onnx`,
      target: `${dir}/b.onnx`,
      inputs: `${dir}/in`,
      out: `${dir}/out`,
    });
    const o = r.outputs[0];
    assert.equal(o.top1Agreement, 1, "class 0 stays first");
    // Top-5 union {0..4}: one discordant pair (3, 4) of ten.
    assert.ok(Math.abs(o.kendallTau!.mean - 0.8) < 1e-12, `tau ${o.kendallTau!.mean}`);
    assert.equal(o.kendallTau!.fixedFraction, 0, "0.8 < 0.98: not fixed");
    // Error 2 − 0.8 = 1.2 at class 3; signal Σx² = 55.3225; SQNR = 10·log10(55.3225 / 1.44).
    const d = 2 - Math.fround(2 * Math.fround(0.4));
    assert.ok(Math.abs(o.maxAbs - d) < 1e-7, `max abs ${o.maxAbs}`);
    assert.ok(Math.abs(o.maxRel - d / 5) < 1e-7, `max rel ${o.maxRel}`);
    assert.ok(Math.abs(o.sqnrDb - 10 * Math.log10(55.3225 / (d * d))) < 1e-5, `SQNR ${o.sqnrDb}`);
    assert.ok(Math.abs(o.relL2 - d / Math.sqrt(55.3225)) < 1e-7, `rel L2 ${o.relL2}`);
    assert.equal(r.agree, false);
    assert.equal(r.localization.divergence?.target.node, "scale");
    const f = r.localization.findings;
    assert.equal(f.length, 1);
    assert.equal(f[0].kind, "parameters");
    assert.equal(f[0].targetNode, "scale");
    assert.match(f[0].message, /1 of 8 elements/);
    const json = JSON.parse(await Deno.readTextFile(`${dir}/out/diff.json`));
    assert.equal(json.outputs[0].kendallTau.mean, o.kendallTau!.mean);
    assert.equal(json.layers[0].sqnrDb, "Infinity", "identical inputs: infinite SQNR, written as a string");
    const html = await Deno.readTextFile(`${dir}/out/diff.html`);
    assert.match(html, /<svg[^>]*>[\s\S]*<polyline/);
    assert.doesNotMatch(
      html,
      /<script|<link|src=|url\(/,
      "self-contained: no scripts, links or external assets",
    );
    assert.equal([...html.matchAll(/https?:\/\//g)].length, 1, "only the SVG namespace");
    // The CLI on the same pair: exit code 1 (the models disagree), --json on stdout.
    const cli = await quiet(() =>
      main(["diff", `${dir}/a.onnx`, `${dir}/b.onnx`, "--inputs", `${dir}/in`, "--json"])
    );
    assert.equal(cli.value, 1);
    assert.equal(JSON.parse(cli.out).outputs[0].top1Agreement, 1);
    const same = await quiet(() => main(["diff", `${dir}/a.onnx`, `${dir}/a.onnx`, "--count", "2"]));
    assert.equal(same.value, 0, same.out);
    assert.match(same.out, /no divergence/);
    assert.equal((await quiet(() => main(["diff", `${dir}/a.onnx`]))).value, 2);
    assert.equal(
      (await quiet(() => main(["diff", `${dir}/a.onnx`, `${dir}/a.onnx`, "--runtime", "tvm"]))).value,
      2,
    );
    assert.equal((await quiet(() => main(["diff", `${dir}/a.onnx`, `${dir}/missing.onnx`]))).value, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const skip = noCorpus();
const liteRt = skip ? undefined : await loadLiteRt();
if (!skip && !liteRt) console.log(`diff-cli: LiteRT checks skipped: ${liteRtLoadMessage()}`);

interface Pair {
  name: string;
  shapes?: Record<string, number[]>;
  range?: [number, number];
}

const PAIRS: Pair[] = [
  { name: "alexa_v0.1" },
  { name: "embedding_model", shapes: { input_1: [1, 76, 32, 1] } },
  // Audio at int16 scale, as openWakeWord feeds it: 1280 samples make five STFT frames.
  { name: "melspectrogram", shapes: { input: [1, 1280] }, range: [-3000, 3000] },
];

for (const p of PAIRS) {
  Deno.test({
    name: `diff openWakeWord ${p.name}.onnx against the shipped .tflite`,
    ignore: skip,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const r = await diffModels({
        source: corpusPath(`onnx/openwakeword/${p.name}.onnx`),
        target: corpusPath(`tflite/openwakeword/${p.name}.tflite`),
        count: 8,
        shapes: p.shapes,
        range: p.range,
        runtime: liteRt ? ["onnxruntime", "litert"] : ["onnxruntime"],
      });
      console.log(formatDiff(r).split("\n").map((l) => `  ${l}`).join("\n"));
      assert.equal(r.failures.length, 0);
      assert.equal(r.localization.divergence, null, "no divergence between the two shipped files");
      assert.ok(r.agree);
      for (const o of r.outputs) assert.ok(o.relL2 < 1e-4, `${o.source}: rel L2 ${o.relL2}`);
      for (const c of r.runtimeChecks) {
        assert.ok(c.relL2 < 1e-5, `Lathe vs ${c.runtime} on the ${c.model}: ${c.relL2}`);
      }
      assert.equal(r.runtimeChecks.length, liteRt ? 2 : 1);
    },
  });
}
