/**
 * The openWakeWord models shipped in both formats (a real cross-format pair, converted by TensorFlow's
 * tools, not Lathe's): `repair` shows each TFLite agrees with its ONNX source (and the reverse), and the
 * file it writes loads and runs in the format's own runtime. A fault injected into the shipped TFLite is
 * repaired and explained, and the repaired file in LiteRT agrees with the ONNX source in onnxruntime.
 */
import assert from "node:assert/strict";
import { mutateModel } from "../compiler/mutate/mutate.ts";
import { repairModel } from "../compiler/repair/repair.ts";
import { Rng } from "../runtime/random.ts";
import { Tensor } from "../runtime/tensor.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { ortSession, runOrt } from "./reference/onnxruntime.ts";
import { loadLiteRt, runLiteRt } from "./reference/litert.ts";

const MODELS: { name: string; input: string; shape: number[] }[] = [
  { name: "melspectrogram", input: "input", shape: [1, 1280] },
  { name: "embedding_model", input: "input_1", shape: [1, 76, 32, 1] },
  { name: "alexa_v0.1", input: "onnx::Flatten_0", shape: [1, 16, 96] },
];

const haveLiteRt = !noCorpus() && !!(await loadLiteRt());

Deno.test({
  name: "openWakeWord: each shipped TFLite agrees with its ONNX source; the written file runs in LiteRT",
  ignore: !haveLiteRt,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    for (const m of MODELS) {
      const r = await repairModel({
        source: corpusPath(`onnx/openwakeword/${m.name}.onnx`),
        target: corpusPath(`tflite/openwakeword/${m.name}.tflite`),
        out: `${dir}/${m.name}.tflite`,
        shapes: { [m.input]: m.shape },
        count: 4,
        // Audio features and embeddings span more than [-1, 1).
        range: [-4, 4],
      });
      assert.equal(r.agree, true, `${m.name}: ${JSON.stringify(r.after)}`);
      // Agreeing models need no change; any change made is explained by its edits and evidence.
      for (const c of r.changes) assert.ok(c.edits.length > 0 && c.evidence.before && c.evidence.after);
      assert.equal(r.framework?.runtime, "litert");
      assert.equal(
        r.framework?.agrees,
        true,
        `${m.name}: LiteRT vs Lathe ${JSON.stringify(r.framework?.vsLathe)}`,
      );
    }
  },
});

Deno.test({
  name:
    "openWakeWord: the ONNX embedding model agrees with the shipped TFLite as its source; onnxruntime runs the result",
  ignore: noCorpus(),
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const r = await repairModel({
      source: corpusPath("tflite/openwakeword/embedding_model.tflite"),
      target: corpusPath("onnx/openwakeword/embedding_model.onnx"),
      out: `${dir}/embedding_model.onnx`,
      shapes: { "serving_default_input_1:0": [1, 76, 32, 1] },
      count: 4,
    });
    assert.equal(r.agree, true);
    assert.equal(r.framework?.runtime, "onnxruntime");
    assert.equal(r.framework?.agrees, true);
  },
});

Deno.test({
  name:
    "openWakeWord: a padding fault in the shipped TFLite is repaired and explained; LiteRT then agrees with onnxruntime",
  ignore: !haveLiteRt,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const source = corpusPath("onnx/openwakeword/embedding_model.onnx");
    const m = await mutateModel({
      model: corpusPath("tflite/openwakeword/embedding_model.tflite"),
      out: `${dir}/variants`,
      kinds: ["conv-padding"],
      count: 1,
    });
    const v = m.manifest.variants[0];
    const out = `${dir}/repaired.tflite`;
    const r = await repairModel({
      source,
      target: `${dir}/variants/${v.file}`,
      out,
      shapes: { input_1: [1, 76, 32, 1] },
      count: 4,
    });
    assert.equal(r.agree, true, r.stopped);
    assert.equal(r.changes.length, 1);
    const c = r.changes[0];
    assert.equal(c.class, "hyperparameters");
    assert.ok(
      c.edits.some((e) => "node" in e && (e.node === v.node.id || v.nodes.changed.includes(e.node))),
      JSON.stringify(c.edits),
    );
    assert.ok(Number(c.evidence.before.maxRel) > 1e-3 && Number(c.evidence.after.maxRel) < 1e-4);

    const session = await ortSession(source);
    const bytes = await Deno.readFile(out);
    const rng = new Rng(7);
    for (let k = 0; k < 3; k++) {
      const x = Float32Array.from({ length: 76 * 32 }, () => rng.uniform(-1, 1));
      const want = Object.values(await runOrt(session, { input_1: new Tensor("f32", [1, 76, 32, 1], x) }))[0]
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
