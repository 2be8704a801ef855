/**
 * SCALE-Sim topology CSVs (formats.md §4.1, topology_utils.py): conv and gemm rows, the header, trailing
 * commas, one or two strides, DP expansion, errors naming line and column; the array spec; the shipped
 * ResNet-18 and MobileNetV2 topologies against the architectures' published MAC counts; and the GEMM view
 * of a real model's layers against ir/macs.ts and the graph's own shapes.
 */
import assert from "node:assert/strict";
import { LatheError } from "../ir/errors.ts";
import { parseArrayDims, parseSramList, parseSystolicSpec } from "../targets/systolic/spec.ts";
import { formatTopologyCsv, ofmapDims, parseTopology, topologyOf } from "../targets/systolic/topology.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";

const HEADER =
  "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,";

function throwsAt(fn: () => unknown, field: RegExp, reason: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof LatheError, `expected a LatheError, got ${e}`);
    assert.equal(e.kind, "format");
    assert.match(e.where.field ?? "", field);
    assert.match(e.reason, reason);
    return true;
  });
}

Deno.test("conv rows: header skipped, trailing comma optional, one stride reused for width", () => {
  const text =
    `${HEADER}\nConv1,  224, 224,    11, 11,    3,      96,     4,\r\nFC,1,1,1,1,512,1000,1\n\nWide,10,20,3,5,2,4,1,2,\n`;
  const ls = parseTopology(text, { file: "t.csv" });
  assert.equal(ls.length, 3);
  assert.deepEqual(
    { ...ls[0] },
    {
      name: "Conv1",
      ifmapH: 224,
      ifmapW: 224,
      filterH: 11,
      filterW: 11,
      channels: 3,
      numFilters: 96,
      strideH: 4,
      strideW: 4,
      copies: 1,
      line: 2,
    },
  );
  // SCALE-Sim would drop FC's stride with its last field; here a row without the trailing comma reads the same.
  assert.deepEqual([ls[1].strideH, ls[1].strideW, ls[1].line], [1, 1, 3]);
  // A second stride is the width stride: E_w = ceil((20 - 5 + 2)/2) = 9, E_h = ceil((10 - 3 + 1)/1) = 8.
  assert.deepEqual([ls[2].strideH, ls[2].strideW], [1, 2]);
  assert.deepEqual(ofmapDims(ls[2]), { h: 8, w: 9 });
});

Deno.test("gemm rows become the conv row [M, K, 1, K, 1, N, 1, 1]; the header picks the form", () => {
  const [g] = parseTopology("Layer Name, M, N, K,\nTest 1, 128, 64, 256,\n");
  assert.deepEqual(
    { ...g },
    {
      name: "Test 1",
      ifmapH: 128,
      ifmapW: 256,
      filterH: 1,
      filterW: 256,
      channels: 1,
      numFilters: 64,
      strideH: 1,
      strideW: 1,
      copies: 1,
      line: 2,
    },
  );
  assert.deepEqual(ofmapDims(g), { h: 128, w: 1 });
  // Forced conv on the same text: 4 fields is not a conv row.
  throwsAt(
    () => parseTopology("Layer Name, M, N, K,\nTest 1, 128, 64, 256,\n", { form: "conv" }),
    /line 2, column 5/,
    /8 or 9 fields/,
  );
});

Deno.test("a name containing DP is depthwise: one single-channel layer per channel, held as copies", () => {
  const [dw, plain] = parseTopology(`${HEADER}\nB2_DP,113,113,3,3,96,1,2,\nB2_dp,113,113,3,3,96,1,2,\n`);
  assert.deepEqual([dw.channels, dw.copies], [1, 96]);
  assert.deepEqual([plain.channels, plain.copies], [96, 1]); // case-sensitive, as SCALE-Sim's `'DP' in name`
});

Deno.test("bad topology rows name the line and column", () => {
  throwsAt(
    () => parseTopology(`${HEADER}\nC,224,224,x,11,3,96,4,\n`, { file: "a.csv" }),
    /line 2, column 4 \(Filter Height\)/,
    /'x'/,
  );
  throwsAt(
    () => parseTopology(`${HEADER}\nC,224,224,11,11,3,96,4,\nD,5,5,3,3,0,1,1,\n`),
    /line 3, column 6 \(Channels\)/,
    /outside/,
  );
  throwsAt(
    () => parseTopology(`${HEADER}\nC,8,8,11,3,3,96,4,\n`),
    /line 2, column 4/,
    /exceeds IFMAP height/,
  );
  throwsAt(() => parseTopology(`${HEADER}\nC,8,8,3,9,3,96,4,\n`), /line 2, column 5/, /exceeds IFMAP width/);
  throwsAt(() => parseTopology(`${HEADER}\nC,8,8,3,3,3,\n`), /line 2, column 7/, /this one has 6/);
  throwsAt(() => parseTopology(`${HEADER}\nC,8,8,3,3,3,1,1,1,9,\n`), /line 2, column 10/, /this one has 10/);
  throwsAt(() => parseTopology(`${HEADER}\n,8,8,3,3,3,1,1,\n`), /line 2, column 1/, /name is empty/);
  throwsAt(() => parseTopology(`${HEADER}\nC,8,8,3,3,3,1,-1,\n`), /line 2, column 8/, /'-1'/);
  throwsAt(() => parseTopology(`${HEADER}\nC,8,8,3,3,3,1,99999999999,\n`), /line 2, column 8/, /outside/);
  // A file whose first line is a layer: SCALE-Sim would skip it silently.
  throwsAt(() => parseTopology("Conv1,224,224,11,11,3,96,4,\n"), /line 1/, /header/);
  // Sizes whose MAC count leaves exact doubles are refused rather than miscounted.
  throwsAt(() => parseTopology(`${HEADER}\nC,2000000000,2000000000,1,1,1000,1000,1,\n`), /line 2/, /2\^53/);
  const e = (() => {
    try {
      parseTopology(`${HEADER}\nC,224,224,x,11,3,96,4,\n`, { file: "a.csv" });
    } catch (e) {
      return e as Error;
    }
  })();
  assert.equal(
    e?.message,
    "format error: a.csv: line 2, column 4 (Filter Height): expected a positive integer, got 'x'",
  );
});

Deno.test("formatTopologyCsv writes rows that parse back; depthwise as DP rows", () => {
  const src = `${HEADER}\nConv1,229,229,7,7,3,64,2,\nB2_DP,113,113,3,3,96,1,2,\nWide,10,20,3,5,2,4,1,2,\n`;
  const a = parseTopology(src);
  const b = parseTopology(formatTopologyCsv(a));
  assert.deepEqual(b.map(({ line: _, ...l }) => l), a.map(({ line: _, ...l }) => l));
  // A grouped layer (copies with several channels) has no column: it is written once per copy.
  const grouped = formatTopologyCsv([{ ...a[0], name: "G", copies: 2 }]);
  assert.deepEqual(parseTopology(grouped).map((l) => [l.name, l.channels, l.copies]), [["G_0", 3, 1], [
    "G_1",
    3,
    1,
  ]]);
});

Deno.test("array specs: sa:RxC:os|ws|is, --array, --sram; bad ones are usage errors", () => {
  const a = parseSystolicSpec("sa:16x8:ws");
  assert.deepEqual(
    [a.rows, a.cols, a.dataflow, a.sram.ifmapKB, a.sram.filterKB, a.sram.ofmapKB, a.wordBytes],
    [16, 8, "ws", 64, 64, 64, 1],
  );
  assert.equal(a.bandwidth.mode, "calc");
  assert.deepEqual(parseArrayDims("32x32"), { rows: 32, cols: 32 });
  assert.deepEqual(parseSramList("6144,6144,2048"), { ifmapKB: 6144, filterKB: 6144, ofmapKB: 2048 });
  for (
    const bad of [
      "sa:16x16",
      "sa:16x16:xs",
      "sa:0x16:os",
      "16x16:os",
      "sa:16x16:os:extra",
      "sa:99999999x1:os",
    ]
  ) {
    assert.throws(
      () => parseSystolicSpec(bad),
      (e: unknown) => e instanceof LatheError && e.kind === "usage",
      bad,
    );
  }
  for (const bad of ["64,64", "64,,64", "a,b,c", "64,64,-1"]) {
    assert.throws(
      () => parseSramList(bad),
      (e: unknown) => e instanceof LatheError && e.kind === "usage",
      bad,
    );
  }
});

const TOPOLOGIES = new URL("../targets/systolic/topologies/", import.meta.url);
const read = (name: string) =>
  parseTopology(Deno.readTextFileSync(new URL(name, TOPOLOGIES)), { file: name });
const macs = (ls: ReturnType<typeof read>) =>
  ls.reduce((p, l) => {
    const { h, w } = ofmapDims(l);
    return p + h * w * l.numFilters * l.filterH * l.filterW * l.channels * l.copies;
  }, 0);

Deno.test("shipped ResNet-18: 21 layers, every output size the architecture's, 1.814 GMACs", () => {
  const ls = read("resnet18.csv");
  assert.equal(ls.length, 21);
  // Output sizes of torchvision's resnet18 at 224x224: stem 112, layer1 56, layer2 28, layer3 14, layer4 7.
  const sizes = ls.map((l) => ofmapDims(l).h);
  assert.deepEqual(sizes, [112, 56, 56, 56, 56, 28, 28, 28, 28, 28, 14, 14, 14, 14, 14, 7, 7, 7, 7, 7, 1]);
  // MACs by hand: stem 112²·64·147 = 118013952; layer1 4·56²·64·576 = 462422016; layer2 28²·128·(576 +
  // 3·1152 + 64) = 411041792; layer3 14²·256·(1152 + 3·2304 + 128) = 411041792; layer4 7²·512·(2304 +
  // 3·4608 + 256) = 411041792; fc 512000. Sum 1814073344 (the published "1.8 GFLOPs").
  assert.equal(macs(ls), 118013952 + 462422016 + 411041792 + 411041792 + 411041792 + 512000);
  assert.equal(macs(ls), 1814073344);
});

Deno.test("shipped MobileNetV2: 53 layers, 17 depthwise DP rows, 300.8 M MACs", () => {
  const ls = read("mobilenet_v2.csv");
  assert.equal(ls.length, 53);
  assert.equal(ls.filter((l) => l.copies > 1).length, 17);
  assert.deepEqual(ofmapDims(ls[0]), { h: 112, w: 112 });
  assert.deepEqual(ofmapDims(ls[ls.length - 2]), { h: 7, w: 7 });
  // By hand from the paper's (t, c, n, s) table at 224x224 (expand 1x1, depthwise 3x3, project 1x1):
  // stem 10838016; block1 10035200; block2 29202432 + 25740288; block3 15466752 + 2*10988544;
  // block4 7564032 + 3*10311168; block5 12719616 + 2*22692096; block6 15607872 + 2*15476160;
  // block7 23002560; last 1x1 conv 20070400; classifier 1280000. Sum 300774272 (the published 300 M).
  assert.equal(
    macs(ls),
    10838016 + 10035200 + 29202432 + 25740288 + 15466752 + 2 * 10988544 + 7564032 + 3 * 10311168 + 12719616 +
      2 * 22692096 + 15607872 + 2 * 15476160 + 23002560 + 20070400 + 1280000,
  );
  assert.equal(macs(ls), 300774272);
});

Deno.test({
  name: "topologyOf(mobilenet_v2.onnx): the shipped CSV's shapes, and ir/macs.ts's MAC count",
  ignore: noCorpus(),
  fn: async () => {
    await import("../compiler/formats.ts");
    const { loadModel } = await import("../compiler/load-model.ts");
    const { nodeMacs } = await import("../ir/macs.ts");
    const model = await loadModel(corpusPath("onnx/torch/mobilenet_v2.onnx"));
    const t = topologyOf(model);
    assert.deepEqual(t.skipped, []);
    const shipped = read("mobilenet_v2.csv");
    // The GEMM view (M, N, K) and the repeat count; the classifier is a Gemm node in ONNX and a 1x1 conv row in
    // the CSV, which are the same GEMM.
    const shape = (l: (typeof shipped)[number]) => {
      const { h, w } = ofmapDims(l);
      return [h * w, l.numFilters, l.filterH * l.filterW * l.channels, l.copies, l.strideH, l.strideW];
    };
    assert.deepEqual(t.layers.map(shape), shipped.map(shape));
    // Per node, the GEMM view's MACs equal ir/macs.ts's count from the ONNX shapes.
    const byNode = model.graph.nodes.filter((n) => n.op === "Conv" || n.op === "Gemm");
    assert.equal(byNode.length, t.layers.length);
    byNode.forEach((n, i) => {
      const l = t.layers[i];
      const { h, w } = ofmapDims(l);
      assert.equal(
        h * w * l.numFilters * l.filterH * l.filterW * l.channels * l.copies,
        nodeMacs(model.graph, n),
        n.id,
      );
    });
  },
});
