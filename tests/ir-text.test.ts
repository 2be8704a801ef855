/** The text form prints and parses back to the same graph; the verifier names the node and the invariant. */
import assert from "node:assert/strict";
import { importOnnxFile } from "../compiler/onnx/import.ts";
import { GraphBuilder } from "../ir/builder.ts";
import { parseDType, printDType } from "../ir/dtype.ts";
import { LatheError } from "../ir/errors.ts";
import { collectConstants, parseGraph, printGraph } from "../ir/text.ts";
import { verifyGraph } from "../ir/verify.ts";
import { defaultModel } from "../compiler/default-model.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";

Deno.test("element types print and parse back", () => {
  for (
    const t of [
      "f32",
      "bf16",
      "i4",
      "q.affine<i8,s=0.0235,zp=-3>",
      "q.affine<u8,axis=0,s=[0.5,0.25],zp=[128,127]>",
      "q.affine<i8,s=0.1,zp=0,qmin=-127,qmax=127>",
      "q.pot<apot,bits=4,s=0.5,table=[0,0.125,0.25,0.375]>",
      "q.ggml<Q4_K>",
      "q.mx<fp4_e2m1,block=32>",
    ]
  ) assert.equal(printDType(parseDType(t)), t);
  assert.throws(() => parseDType("f33"), LatheError);
});

Deno.test("hand-written text parses to the graph it describes", () => {
  const g = parseGraph(`
    graph g(%x: f32[2,3], %n: i64[N]) -> (%y, %z) {
      %c: f32[3] = const dense<f32[3]: [1.0, -2.5, 3.0]>
      %y: f32[2,3] = Add(%x, %c) @add0 meta{name="Add_0"}
      %z: f32[2,3] = Clip(%y, _, _) {} @clip
    }`);
  assert.deepEqual(g.inputs, ["x", "n"]);
  assert.deepEqual(g.outputs, ["y", "z"]);
  assert.equal(g.nodes[0].id, "add0");
  assert.equal(g.nodes[0].name, "Add_0");
  assert.deepEqual(g.nodes[1].inputs, ["y", null, null]);
  assert.deepEqual([...new Float32Array(g.constants.c.bytes!.slice().buffer)], [1, -2.5, 3]);
  assert.deepEqual(g.values.n.type, { kind: "tensor", dtype: "i64", shape: ["N"] });
});

Deno.test("attributes keep their types through the text form", () => {
  const b = new GraphBuilder();
  const x = b.input("x", "f32", [1, 4]);
  b.op1("LeakyRelu", [x], { alpha: { type: "float", value: 1 } }, "y");
  const g = b.buildRaw(["y"]);
  const text = printGraph(g);
  assert.match(text, /alpha=1\.0/);
  assert.equal(parseGraph(text).nodes[0].attrs.alpha.type, "float");
});

Deno.test("the default model round-trips through text", () => {
  const g = defaultModel().graph;
  const text = printGraph(g);
  assert.equal(printGraph(parseGraph(text, { constants: g.constants })), text);
  assert.throws(() => parseGraph(text), /elided and no data was given/);
});

Deno.test({
  name: "every corpus ONNX model and a node-suite sample round-trip through text",
  ignore: noCorpus(),
  fn: async () => {
    const files = [...Deno.readDirSync(corpusPath("onnx-node-suite/node"))].map((e) =>
      corpusPath(`onnx-node-suite/node/${e.name}/model.onnx`)
    ).sort();
    const models = [
      "torch/mobilenet_v2.onnx",
      "silero-vad/silero_vad_v5.onnx",
      "torch/tiny_transformer_encoder.onnx",
    ].map((m) => corpusPath(`onnx/${m}`));
    let checked = 0;
    for (const f of [...models, ...files.filter((_, i) => i % 7 === 0)]) {
      let g;
      try {
        g = (await importOnnxFile(f)).graph;
      } catch (e) {
        if (e instanceof LatheError) continue; // unsupported ops are counted by the conformance suite
        throw e;
      }
      const text = printGraph(g);
      assert.equal(printGraph(parseGraph(text, { constants: collectConstants(g) })), text, f);
      checked++;
    }
    assert.ok(checked > 100, `only ${checked} models checked`);
  },
});

Deno.test("the verifier names the node and the broken invariant", () => {
  const g = parseGraph(`
    graph g(%x: f32[2]) -> (%y) {
      %y: f32[2] = Relu(%q) @r1
      %y: f32[2] = Relu(%x) @r1
      %w: f32[3] = NoSuchOp(%x) @bad
    }`);
  const issues = verifyGraph(g).map((i) => `${i.where}: ${i.reason}`);
  assert.ok(
    issues.some((s) => s.includes("node r1 (Relu)") && s.includes("%q is used before it is defined")),
    issues.join("\n"),
  );
  assert.ok(issues.some((s) => s.includes("defined twice")), issues.join("\n"));
  assert.ok(
    issues.some((s) => s.includes("node r1 is used twice") || s.includes("node id r1")),
    issues.join("\n"),
  );
  assert.ok(
    issues.some((s) => s.includes("node bad (NoSuchOp)") && s.includes("unknown op")),
    issues.join("\n"),
  );
});
