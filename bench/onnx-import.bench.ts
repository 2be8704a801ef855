/**
 * Import speed: mobilenet_v2.onnx (14 MB) and a generated 48 MB model, in ms and MB/s. Weights are views
 * into the file's bytes, so import time is parsing plus inference, not copying.
 */
import { importOnnx } from "../compiler/onnx/import.ts";
import { exportOnnx } from "../compiler/onnx/export.ts";
import { GraphBuilder, modelOf, numbersConstant } from "../ir/builder.ts";
import { corpusPath, HAVE_CORPUS } from "../tests/support/corpus.ts";

const mobilenet = HAVE_CORPUS ? Deno.readFileSync(corpusPath("onnx/torch/mobilenet_v2.onnx")) : undefined;

/** Twelve 1000x1000 f32 MatMul weights: 48 MB of initializers. */
function bigModel(): Uint8Array {
  const b = new GraphBuilder("big");
  let x = b.input("x", "f32", [1, 1000]);
  const vals = new Float32Array(1_000_000);
  for (let i = 0; i < vals.length; i++) vals[i] = ((i * 2654435761) % 1000) / 1e6;
  for (let l = 0; l < 12; l++) {
    const w = b.constant(`w${l}`, {
      ...numbersConstant("f32", [1], [0]),
      shape: [1000, 1000],
      bytes: new Uint8Array(vals.slice().buffer),
    });
    x = b.op1("MatMul", [x, w]);
  }
  return exportOnnx(modelOf(b.build([x])));
}
const big = bigModel();

if (mobilenet) {
  Deno.bench({
    name: `import mobilenet_v2.onnx (${(mobilenet.length / 1e6).toFixed(1)} MB)`,
    group: "import",
    fn: () => void importOnnx(mobilenet),
  });
}
Deno.bench({
  name: `import generated ${(big.length / 1e6).toFixed(1)} MB model`,
  group: "import",
  fn: () => void importOnnx(big),
});
