/**
 * Mutants the fuzz task once found raising something other than LatheError, regenerated from their seed
 * and index (the same generator the task uses); each must now import or be refused with Lathe's error.
 */
import assert from "node:assert/strict";
import { LatheError } from "../ir/errors.ts";
import { importModelBytes } from "../compiler/load-model.ts";
import "../compiler/formats.ts";
import { verifyGraph } from "../ir/verify.ts";
import { Rng } from "../runtime/random.ts";
import { mutate } from "./fuzz/mutate.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";

const FOUND: { file: string; seed: number; index: number; was: string }[] = [
  {
    file: "onnx/paddleocr/ch_ppocr_mobile_v2.0_cls_infer.onnx",
    seed: 1,
    index: 4755,
    was: "TENSOR attribute without its tensor",
  },
  {
    file: "tflite/openwakeword/embedding_model.tflite",
    seed: 1,
    index: 8278,
    was: "binary op with no operands reached inference",
  },
];

for (const f of FOUND) {
  Deno.test({
    name: `fuzz regression: ${f.file} #${f.index} (${f.was})`,
    ignore: noCorpus(),
    fn: async () => {
      const src = await Deno.readFile(corpusPath(f.file));
      const m = mutate(src, new Rng(f.seed * 1_000_003 + f.index));
      try {
        const model = await importModelBytes(m.bytes, corpusPath(f.file));
        verifyGraph(model.graph);
      } catch (e) {
        assert.ok(e instanceof LatheError, `${f.file}: ${(e as Error)?.stack}`);
      }
    },
  });
}
