/**
 * `repair` and `repair-bench` as a user runs them: --help, usage and input errors with their exit codes,
 * a repair of a mutated conversion whose report explains the change, SOURCE and TARGET left as they were,
 * the repaired file checked in LiteRT against the source in onnxruntime (runtimes Lathe did not write),
 * and a run stopped part-way leaving no output.
 */
import assert from "node:assert/strict";
import { convertModel } from "../compiler/convert.ts";
import { mutateModel } from "../compiler/mutate/mutate.ts";
import { Rng } from "../runtime/random.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { ortSession, runOrt } from "./reference/onnxruntime.ts";
import { loadLiteRt, runLiteRt } from "./reference/litert.ts";
import { Tensor } from "../runtime/tensor.ts";

const CLI = new URL("../compiler/cli.ts", import.meta.url).pathname;

function command(...args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  });
}

async function lathe(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await command(...args).output();
  return {
    code: r.code,
    stdout: new TextDecoder().decode(r.stdout),
    stderr: new TextDecoder().decode(r.stderr),
  };
}

async function digest(path: string): Promise<string> {
  const h = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(h), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}

Deno.test("repair and repair-bench --help, usage errors and bad input", async () => {
  for (const cmd of ["repair", "repair-bench"]) {
    const h = await lathe(cmd, "--help");
    assert.equal(h.code, 0);
    assert.match(h.stdout, new RegExp(`usage: ${cmd}`));
  }
  assert.equal((await lathe("repair", "only-one.onnx", "--out", "x.onnx")).code, 2);
  assert.equal((await lathe("repair", "a.onnx", "b.onnx")).code, 2, "--out is required");
  assert.equal((await lathe("repair", "--budget", "soon", "a.onnx", "b.onnx", "--out", "c.onnx")).code, 2);
  const dir = await Deno.makeTempDir();
  const missing = await lathe("repair", `${dir}/nope.onnx`, `${dir}/nope.tflite`, "--out", `${dir}/r.tflite`);
  assert.equal(missing.code, 3, missing.stderr);
  assert.equal(await exists(`${dir}/r.tflite`), false);
});

Deno.test({
  name:
    "repair explains and fixes a mutated conversion; LiteRT on the result agrees with onnxruntime on the source",
  ignore: noCorpus(),
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const source = corpusPath("onnx/torch/dcgan_generator.onnx");
    const converted = `${dir}/dcgan.tflite`;
    await convertModel(source, converted);
    const m = await mutateModel({
      model: converted,
      out: `${dir}/variants`,
      kinds: ["weights-transposed"],
      count: 1,
      seed: 3,
    });
    const target = `${dir}/variants/${m.manifest.variants[0].file}`;
    const before = [await digest(source), await digest(target)];

    const out = `${dir}/repaired.tflite`;
    assert.equal((await lathe("repair", source, target, "--out", target)).code, 2, "--out may not be TARGET");
    const r = await lathe("repair", source, target, "--out", out, "--count", "4", "--json");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /localized against the source/, "progress goes to stderr");
    const rep = JSON.parse(r.stdout);
    assert.equal(rep.agree, true);
    assert.equal(rep.changes.length, 1);
    const c = rep.changes[0];
    assert.equal(c.class, "parameters");
    // The mutated node, by its id in the target, carries the edit: its weights, before and after.
    assert.equal(c.edits[0].node, m.manifest.variants[0].node.id);
    assert.equal(c.edits[0].type, "constant");
    assert.deepEqual(c.edits[0].before.shape, c.edits[0].after.shape);
    assert.ok(c.evidence.before.maxRel > 1e-2 && c.evidence.after.maxRel < 1e-4, JSON.stringify(c.evidence));
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${out}.report.json`)).changes[0].edits, c.edits);
    assert.deepEqual([await digest(source), await digest(target)], before, "SOURCE and TARGET are untouched");

    if (!(await loadLiteRt())) return;
    assert.equal(rep.framework.runtime, "litert");
    assert.equal(rep.framework.agrees, true);
    const rng = new Rng(11);
    const session = await ortSession(source);
    const bytes = await Deno.readFile(out);
    for (let k = 0; k < 3; k++) {
      const x = Float32Array.from({ length: 16 }, () => rng.uniform(-1, 1));
      const want = Object.values(await runOrt(session, { input: new Tensor("f32", [1, 16, 1, 1], x) }))[0]
        .data as Float32Array;
      const [got] = await runLiteRt(bytes, [x]);
      let max = 0, ref = 0;
      for (let i = 0; i < want.length; i++) {
        (max = Math.max(max, Math.abs(want[i] - got.data[i])), ref = Math.max(ref, Math.abs(want[i])));
      }
      assert.ok(max <= 1e-4 * ref, `sample ${k}: ${max} vs ${ref}`);
    }
    await session.release();
  },
});

Deno.test({
  name: "a repair stopped part-way leaves no output",
  ignore: noCorpus(),
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const source = corpusPath("onnx/torch/squeezenet1_1.onnx");
    const converted = `${dir}/sq.tflite`;
    await convertModel(source, converted);
    const out = `${dir}/repaired.tflite`;
    const p = command("repair", source, converted, "--out", out, "--count", "16").spawn();
    const reader = p.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!/before:/.test(seen)) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    p.kill("SIGKILL");
    await p.status;
    await reader.cancel();
    await p.stdout.cancel();
    assert.match(seen, /before:/);
    const left = [];
    for await (const e of Deno.readDir(dir)) left.push(e.name);
    assert.deepEqual(left.sort(), ["sq.tflite"]);
  },
});
