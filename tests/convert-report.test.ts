/**
 * The conversion report: every source node is accounted for (mapped with its target ops, folded, or
 * unmapped with a reason), and a model with an op that has no mapping fails (exit code 3 from the CLI)
 * with the report naming the node. The models are built by hand so the expected entries are known.
 */
import assert from "node:assert/strict";
import { main } from "../compiler/cli.ts";
import { exportOnnx } from "../compiler/onnx/export.ts";
import { readTflite } from "../compiler/tflite/reader.ts";
import { GraphBuilder, modelOf } from "../ir/builder.ts";
import "../ir/ops/index.ts";
import { onnxToTflite } from "../passes/convert/onnx-to-tflite.ts";
import { ConversionError, type ConversionReport } from "../passes/convert/report.ts";
import { tfliteToOnnx } from "../passes/convert/tflite-to-onnx.ts";

const onnxMeta = { format: "onnx" as const, opsets: { "": 18 }, props: {} };

/** x → Conv → Relu → Erf (no TFLite erf) → LRN (no mapping at all) → Add. */
function unmappable() {
  const b = new GraphBuilder();
  b.input("x", "f32", [1, 2, 5, 5]);
  b.constantOf("w", "f32", [3, 2, 1, 1], [1, 0, 0, 1, 1, 1]);
  const c = b.op1("Conv", ["x", "w"], {}, "c");
  const r = b.op1("Relu", [c], {}, "r");
  b.op("Erf", [r], {}, ["e"], "erf_node");
  b.op("LRN", ["e"], { size: 3 }, ["l"], "lrn_node");
  b.op("Add", ["l", "c"], {}, ["y"], "add_node");
  return modelOf(b.build(["y"]), onnxMeta);
}

function reportOf(f: () => unknown): ConversionReport {
  try {
    f();
  } catch (e) {
    if (e instanceof ConversionError) return e.report;
    throw e;
  }
  throw new Error("expected the conversion to fail");
}

Deno.test("onnx → tflite: unmapped nodes fail the conversion and the report says which and why", () => {
  const m = unmappable();
  const report = reportOf(() => onnxToTflite(m));
  assert.deepEqual(report.unmapped.map((u) => [u.node, u.op]).sort(), [["erf_node", "Erf"], [
    "lrn_node",
    "LRN",
  ]]);
  assert.match(report.unmapped.find((u) => u.op === "Erf")!.reason, /no erf/);
  assert.match(report.unmapped.find((u) => u.op === "LRN")!.reason, /no tflite mapping for LRN/);
  // The nodes that did map are listed with what they became; nothing is missing from the account.
  const mapped = Object.fromEntries(report.mapped.map((x) => [x.node, x.to]));
  assert.ok(mapped.n0.includes("tfl.CONV_2D"), JSON.stringify(mapped));
  assert.deepEqual(mapped.add_node, ["tfl.ADD"]);
  const accounted = new Set([...report.mapped, ...report.absorbed, ...report.unmapped].map((x) => x.node));
  for (const n of m.graph.nodes) assert.ok(accounted.has(n.id), `${n.id} is in the report`);
});

Deno.test("onnx → tflite: a mapped model's report lists every node, folded ones with the reason", () => {
  const b = new GraphBuilder();
  b.input("x", "f32", [1, 2, 4, 4]);
  b.constantOf("w", "f32", [2, 2, 1, 1], [1, 0, 0, 1]);
  for (const [k, v] of Object.entries({ s: [2, 3], bb: [0.5, -1], mu: [0, 1], va: [1, 4] })) {
    b.constantOf(k, "f32", [2], v);
  }
  b.op("Conv", ["x", "w"], {}, ["c"], "conv");
  b.op("BatchNormalization", ["c", "s", "bb", "mu", "va"], {}, ["n"], "bn");
  b.op(
    "Clip",
    ["n", b.constantOf("lo", "f32", [], [0]), b.constantOf("hi", "f32", [], [6])],
    {},
    ["y"],
    "clip",
  );
  const { report } = onnxToTflite(modelOf(b.build(["y"]), onnxMeta));
  assert.equal(report.unmapped.length, 0);
  const all = [...report.mapped.map((x) => x.node), ...report.absorbed.map((x) => x.node)].sort();
  assert.deepEqual(all, ["bn", "clip", "conv"]);
  // The Clip became the convolution's fused RELU6, so both name the CONV_2D.
  assert.ok(report.mapped.find((x) => x.node === "clip")!.to.includes("tfl.CONV_2D"));
  assert.deepEqual(report.target.ops, { "tfl.TRANSPOSE": 2, "tfl.CONV_2D": 1 });
});

Deno.test("tflite → onnx: a custom op fails the conversion with the op's code in the reason", () => {
  const b = new GraphBuilder();
  b.input("x", "f32", [1, 4]);
  const r = b.op1("tfl.RELU", ["x"], {}, "r");
  b.op("tfl.CUSTOM", [r], { custom_code: "MyOp" }, ["y"], "custom_node");
  const g = b.buildRaw(["y"]);
  const typed = {
    ...g,
    values: {
      ...g.values,
      r: { type: { kind: "tensor" as const, dtype: "f32" as const, shape: [1, 4] } },
      y: { type: { kind: "tensor" as const, dtype: "f32" as const, shape: [1, 4] } },
    },
  };
  const report = reportOf(() => tfliteToOnnx(modelOf(typed, { format: "tflite", opsets: {}, props: {} })));
  assert.deepEqual(report.unmapped, [{
    node: "custom_node",
    op: "tfl.CUSTOM",
    reason: 'custom op "MyOp" has no ONNX form',
  }]);
  assert.deepEqual(report.mapped, [{ node: "n0", op: "tfl.RELU", to: ["Relu"] }]);
});

Deno.test({
  name:
    "CLI: convert exits 3 on unmapped nodes and writes the report; succeeds with --report, --passes and --json",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "lathe-convert-" });
    try {
      const bad = `${dir}/bad.onnx`;
      await Deno.writeFile(bad, exportOnnx(unmappable()));
      const code = await main(["convert", bad, `${dir}/bad.tflite`, "--report", `${dir}/bad.json`]);
      assert.equal(code, 3);
      const report = JSON.parse(await Deno.readTextFile(`${dir}/bad.json`)) as ConversionReport;
      assert.deepEqual(report.unmapped.map((u) => u.op).sort(), ["Erf", "LRN"]);
      await assert.rejects(Deno.stat(`${dir}/bad.tflite`), "no output file for a failed conversion");

      const b = new GraphBuilder();
      b.input("x", "f32", [1, 3, 6, 6]);
      b.constantOf("w", "f32", [2, 3, 3, 3], Array.from({ length: 54 }, (_, i) => (i % 7) / 7 - 0.4));
      b.op1("Relu", [b.op1("Conv", ["x", "w"], { pads: [1, 1, 1, 1] })], {}, "y");
      const good = `${dir}/good.onnx`;
      await Deno.writeFile(good, exportOnnx(modelOf(b.build(["y"]), onnxMeta)));
      const out = `${dir}/good.tflite`;
      assert.equal(
        await main([
          "convert",
          good,
          out,
          "--report",
          `${dir}/good.json`,
          "--passes",
          "dce",
          "--layout",
          "nhwc",
          "--json",
        ]),
        0,
      );
      const written = readTflite(await Deno.readFile(out));
      assert.equal(written.subgraphs[0].operators.length, 1, "one CONV_2D with its RELU fused");
      const r = JSON.parse(await Deno.readTextFile(`${dir}/good.json`));
      assert.deepEqual(r.target.ops, { "tfl.CONV_2D": 1 });
      assert.equal(r.passes[0].pass, "dce");

      // And back: the TFLite file converts to ONNX.
      assert.equal(await main(["convert", out, `${dir}/back.onnx`]), 0);
      assert.equal(await main(["convert", good, `${dir}/x.tflite`, "--layout", "sideways"]), 2);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
