/**
 * The repair benchmark in small (the full one is `deno task repair-bench`): MediaPipe's face detector,
 * converted by Lathe to ONNX and mutated with every kind at one seed, each variant repaired against the
 * original TFLite. Every fault must be detected and repaired, and localized to the mutated node as often as
 * the acceptance asks (95%); every repaired file is then run in onnxruntime and compared with the original
 * in LiteRT, two runtimes Lathe did not write.
 */
import assert from "node:assert/strict";
import { runRepairBench } from "../compiler/repair/bench.ts";
import { Rng } from "../runtime/random.ts";
import { Tensor } from "../runtime/tensor.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { ortSession, runOrt } from "./reference/onnxruntime.ts";
import { loadLiteRt, runLiteRt } from "./reference/litert.ts";

Deno.test({
  name: "repair-bench, small: face_detection_short_range, every kind at one seed",
  ignore: noCorpus(),
  fn: async () => {
    const work = await Deno.makeTempDir();
    const r = await runRepairBench({
      models: ["face_detection_short_range"],
      seeds: 1,
      inputs: 4,
      budget: 120,
      work,
    });
    const o = r.overall;
    assert.ok(o.cases >= 15, `${o.cases} cases (kinds that do not apply are skipped)`);
    const bad = (f: (c: (typeof r.cases)[number]) => boolean) =>
      r.cases.filter((c) => !f(c)).map((c) => `${c.kind}: ${c.top ?? c.error ?? ""}`);
    assert.deepEqual(bad((c) => c.detected), [], "every fault detected");
    assert.deepEqual(bad((c) => c.repaired), [], "every fault repaired");
    assert.ok(
      o.localized >= 0.95 * o.cases - 1e-9 || o.localizedByRepair === o.cases,
      `localized ${o.localized}/${o.cases}: ${bad((c) => c.localized).join("; ")}`,
    );
    for (const k of r.byKind) assert.equal(k.repaired, k.cases, k.name);

    if (!(await loadLiteRt())) return;
    const source = corpusPath("tflite/mediapipe/face_detection_short_range.tflite");
    const bytes = await Deno.readFile(source);
    const rng = new Rng(2);
    const xs = [0, 1].map(() => Float32Array.from({ length: 128 * 128 * 3 }, () => rng.uniform(-1, 1)));
    const want = await Promise.all(xs.map((x) => runLiteRt(bytes, [x])));
    for (const c of r.cases) {
      const session = await ortSession(`${work}/face_detection_short_range-repaired/${c.file}`);
      for (const [k, x] of xs.entries()) {
        const got = await runOrt(session, { input: new Tensor("f32", [1, 128, 128, 3], x) });
        for (const name of ["regressors", "classificators"]) {
          const b = got[name].data as Float32Array;
          // LiteRT lists outputs in signature order: the one of the same size is the same output.
          const a = want[k].find((t) => t.data.length === b.length)!.data as Float32Array;
          let max = 0, ref = 0;
          for (let i = 0; i < a.length; i++) {
            (max = Math.max(max, Math.abs(a[i] - b[i])), ref = Math.max(ref, Math.abs(a[i])));
          }
          assert.ok(max <= 1e-4 * ref, `${c.kind}: ${name} sample ${k}: ${max} vs ${ref}`);
        }
      }
      await session.release();
    }
  },
});
