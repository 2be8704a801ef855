/**
 * Emitted C++ drivers for the mm2im target against Lathe's runtime, bit for bit: partition (or compile),
 * emit, build with g++ through the driver's Makefile (linking the MM2IM accelerator model mm2im_sim.cc),
 * run on seeded .npy inputs and compare every output .npy with the partitioned graph on the runtime
 * (targets/simulate.ts, each AccelCall on targets/mm2im/functional.ts) and with the unpartitioned graph on
 * the plain runtime (tfl.TRANSPOSE_CONV's int8 reference kernel). Every intermediate value (--dump: the
 * packed inputs, the host's col2IM maps, each layer's output) is compared too, and the packets the model
 * receives (LATHE_ACC_TRACE) must be each call's Program, packet for packet.
 *
 * Graphs: hand-built int8 TRANSPOSE_CONV chains (strides 1–3, SAME and VALID, kernels 2–7, depths off the
 * UF multiple, filters off the PE multiple, a batch of 2, output rows no input reaches, a float32
 * BatchNormalization + ReLU between layers, a TANH after), and the corpus DCGAN generator quantized to an
 * int8 .tflite as the quantize command does it and then compiled with `compile --target mm2im` (skipped
 * without ../shared). A hand-derived stream sent straight to the accelerator model gives hand-derived
 * results, and malformed ones are refused with the packet's index. Build and run times are printed.
 */
import assert from "node:assert/strict";
import { compileModel } from "../compiler/compile.ts";
import { loadModel } from "../compiler/load-model.ts";
import { integerPipeline } from "../compiler/target-compile.ts";
import { importOnnxFile } from "../compiler/onnx/import.ts";
import { writeTfliteFile } from "../compiler/tflite/export.ts";
import "../compiler/formats.ts";
import type { DType } from "../ir/dtype.ts";
import type { Graph } from "../ir/graph.ts";
import { assertValid } from "../ir/verify.ts";
import "../passes/index.ts";
import { onnxToTflite } from "../passes/convert/onnx-to-tflite.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import { seededBatches } from "../passes/quantize/calibrate.ts";
import { quantizeModelGraph } from "../passes/quantize/quantize-pass.ts";
import { Rng } from "../runtime/random.ts";
import { cppSource, withIncludes } from "../targets/emit/cpp-library.ts";
import { emitDriver, type EmittedDriver, renderDriver } from "../targets/emit/emit.ts";
import { PE_COUNT, STORE_TRAILER_WORDS } from "../targets/mm2im/descriptor.ts";
import { partitionGraph } from "../targets/partition.ts";
import { getTarget } from "../targets/registry.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import { bytesOf, checkDriver, type DriverCheck, noToolchain } from "./support/driver-run.ts";
import { q, TflGraph } from "./support/tfl-int8-graph.ts";

const TARGET = "mm2im";

/** mm2im's whole check: every dumped value, the packet log, and outputs that are not saturated. */
function check(c: Pick<DriverCheck, "label" | "original" | "partitioned" | "driver" | "seeds">) {
  return checkDriver({
    ...c,
    dump: true,
    trace: TARGET,
    output: (name, t) => {
      const distinct = new Set(bytesOf(t)).size;
      assert.ok(distinct > 8, `${c.label}: ${name} takes ${distinct} byte values (not saturated)`);
    },
  });
}

interface Layer {
  c: number;
  o: number;
  k: number;
  s: number;
  padding: "SAME" | "VALID";
  bias?: boolean;
  /** A folded BatchNormalization and ReLU after the layer, in float32 between DEQUANTIZE and QUANTIZE. */
  bnRelu?: boolean;
}

/** A chain of int8 TRANSPOSE_CONV layers from an [n, ih, iw, c0] input, optionally ending in TANH. */
function chain(n: number, ih: number, iw: number, layers: Layer[], seed: number, tanh = false): Graph {
  const rng = new Rng(seed);
  const t = new TflGraph();
  let scale = 0.05;
  let h = ih, w = iw;
  // Input zero point −3, every layer's output zero point 2 (−128 after a ReLU).
  let x = t.input("x", q("i8", scale, -3), [n, ih, iw, layers[0].c]);
  for (const [i, l] of layers.entries()) {
    const oh = l.padding === "SAME" ? h * l.s : (h - 1) * l.s + l.k;
    const ow = l.padding === "SAME" ? w * l.s : (w - 1) * l.s + l.k;
    // The accumulators' spread is about 2.7·√c·k/s times the weight scale (codes of ±74 and ±73 around
    // their zero points, c·k²/s² products an output) in units of the input scale: weight scales of about
    // 1/that keep the output scale the input's, so outputs use the int8 range and the TANH's input ±5.
    const gain = 0.02 * 135 * Math.sqrt(l.c) * l.k / l.s;
    const wScale = Array.from({ length: l.o }, () => Math.fround((0.01 + 0.02 * rng.next()) / gain));
    const wCodes = Array.from({ length: l.o * l.k * l.k * l.c }, () => rng.int(-127, 128));
    const wt = t.constant(`w${i}`, q("i8", wScale, 0, 0), [l.o, l.k, l.k, l.c], wCodes);
    const shape = t.constant(`shape${i}`, "i32", [4], [n, oh, ow, l.o]);
    const b = l.bias
      ? t.constant(
        `b${i}`,
        q("i32", wScale.map((s) => s * scale), 0, 0),
        [l.o],
        Array.from({ length: l.o }, () => rng.int(-5000, 5000)),
      )
      : null;
    const yType: DType = q("i8", scale, 2);
    x = t.op(`y${i}`, "tfl.TRANSPOSE_CONV", [shape, wt, x, b], {
      padding: l.padding,
      stride_h: l.s,
      stride_w: l.s,
      fused_activation_function: "NONE",
    }, { dtype: yType, shape: [n, oh, ow, l.o] });
    h = oh;
    w = ow;
    if (l.bnRelu) {
      // DCGAN's pattern after quantize → convert: y·γ' + β' and ReLU in float32, quantized for the next layer.
      const shape4 = [n, oh, ow, l.o];
      const f = t.op(`dq${i}`, "tfl.DEQUANTIZE", [x], {}, { dtype: "f32", shape: shape4 });
      const gamma = t.constant(
        `gamma${i}`,
        "f32",
        [l.o],
        Array.from({ length: l.o }, () => 0.5 + rng.next()),
      );
      const beta = t.constant(
        `beta${i}`,
        "f32",
        [1, 1, 1, l.o],
        Array.from({ length: l.o }, () => rng.next() - 0.5),
      );
      const m = t.op(`bn_mul${i}`, "tfl.MUL", [f, gamma], { fused_activation_function: "NONE" }, {
        dtype: "f32",
        shape: shape4,
      });
      const r = t.op(`bn_add${i}`, "tfl.ADD", [m, beta], { fused_activation_function: "RELU" }, {
        dtype: "f32",
        shape: shape4,
      });
      scale = 7.5 / 255;
      x = t.op(`q${i}`, "tfl.QUANTIZE", [r], {}, { dtype: q("i8", scale, -128), shape: shape4 });
    }
  }
  if (tanh) {
    x = t.op("tanh", "tfl.TANH", [x], {}, { dtype: q("i8", 1 / 128, 0), shape: [n, h, w, layers.at(-1)!.o] });
  }
  return t.build([x]);
}

const HAND: { label: string; graph: () => Graph; calls: number }[] = [
  {
    // Batch 2; k3 s2 SAME, then a float32 BatchNormalization and ReLU (the DCGAN pattern), k4 s2 SAME
    // (pads 1: the first and last taps cropped), then k2 s3 VALID, where every third output row and
    // column gets no product (the bias alone); 11 and 9 filters leave a partial PE group.
    label: "batch-2 chain k3s2 SAME, float BN+ReLU, k4s2 SAME, k2s3 VALID, TANH",
    graph: () =>
      chain(
        2,
        5,
        4,
        [
          { c: 20, o: 11, k: 3, s: 2, padding: "SAME", bias: true, bnRelu: true },
          { c: 11, o: 8, k: 4, s: 2, padding: "SAME" },
          { c: 8, o: 9, k: 2, s: 3, padding: "VALID", bias: true },
        ],
        11,
        true,
      ),
    calls: 3,
  },
  {
    // Stride 1: k5 VALID grows the plane by 4; k4 SAME (pads 1 before, 2 after); 17 filters are three
    // groups, the last of one filter; then k3 s2 SAME.
    label: "chain k5s1 VALID, k4s1 SAME (17 filters), k3s2 SAME",
    graph: () =>
      chain(1, 3, 4, [
        { c: 7, o: 3, k: 5, s: 1, padding: "VALID", bias: true },
        { c: 3, o: 17, k: 4, s: 1, padding: "SAME", bias: true },
        { c: 17, o: 5, k: 3, s: 2, padding: "SAME" },
      ], 12),
    calls: 3,
  },
  {
    // A 7x7 kernel (beyond SUP_WGT_KS, within the weight-column buffer) at depth 256: 16 depth steps.
    label: "k7s1 VALID at depth 256",
    graph: () => chain(1, 2, 2, [{ c: 256, o: 2, k: 7, s: 1, padding: "VALID" }], 13),
    calls: 1,
  },
];

Deno.test({
  name:
    "mm2im: drivers of hand-built int8 TRANSPOSE_CONV graphs build and run bit-exact, packets as Programs",
  ignore: noToolchain(),
  fn: async () => {
    for (const h of HAND) {
      const original = h.graph();
      assertValid(original);
      const part = partitionGraph(original, getTarget(TARGET));
      assert.equal(
        part.placements.filter((p) => p.placement === "accel").length,
        h.calls,
        `${h.label}: ${JSON.stringify(part.placements.map((p) => p.reason))}`,
      );
      const out = await Deno.makeTempDir({ prefix: "lathe-driver-mm2im-" });
      try {
        const driver = await emitDriver(part.graph, TARGET, { out });
        assert.equal(driver.stats.calls, h.calls);
        const cfg = await Deno.readTextFile(`${driver.dir}/acc_config.h`);
        assert.match(cfg, /kTarget = "mm2im"/);
        assert.match(cfg, new RegExp(`kPeCount = ${PE_COUNT};`));
        assert.match(await Deno.readTextFile(`${driver.dir}/Makefile`), /mm2im_sim\.o/);
        await check({ label: h.label, original, partitioned: part.graph, driver, seeds: [0, 1] });
      } finally {
        await Deno.remove(out, { recursive: true });
      }
    }
  },
});

Deno.test("mm2im: driver emission refuses a call whose output is not the layer's int8 tensor", () => {
  const original = chain(1, 2, 2, [{ c: 4, o: 2, k: 3, s: 2, padding: "SAME" }], 5);
  const part = partitionGraph(original, getTarget(TARGET)).graph;
  const call = part.nodes.find((n) => n.op === "lathe.AccelCall")!;
  const y = call.outputs[0];
  const vt = part.values[y].type;
  assert.equal(vt.kind, "tensor");
  const bad: Graph = {
    ...part,
    values: { ...part.values, [y]: { type: { ...vt, shape: [1, 4, 4, 3] } as typeof vt } },
  };
  assert.throws(() => renderDriver(bad, TARGET), /output is \[1,4,4,3\], the call writes \[1,4,4,2\]/);
});

/**
 * A harness around mm2im_sim.cc alone: each stdin line is a packet's words to send, or `r N` to receive N
 * words (printed to stdout); acc::close() ends the stream.
 */
const HARNESS = `#include <cstdint>
#include <cstdio>
#include <vector>
#include "acc_hw.h"
int main() {
  acc::open();
  char kind[2];
  std::vector<uint32_t> words;
  for (;;) {
    if (std::scanf(" %1[sr]", kind) != 1) break;
    size_t n = 0;
    if (std::scanf("%zu", &n) != 1) return 2;
    words.assign(n, 0);
    if (kind[0] == 'r') {
      acc::dma_recv(0, words.data(), n);
      for (uint32_t w : words) std::printf("%d ", static_cast<int32_t>(w));
      std::printf("\\n");
    } else {
      for (size_t i = 0; i < n; i++) if (std::scanf("%u", &words[i]) != 1) return 2;
      acc::dma_send(0, words.data(), n);
    }
  }
  acc::close();
  return 0;
}
`;

/** Sends packets (arrays of words) and receives (numbers: word counts) to the model; its exit and output. */
async function stream(
  exe: string,
  items: (number[] | number)[],
): Promise<{ code: number; out: string; stderr: string }> {
  const text =
    items.map((p) => typeof p === "number" ? `r ${p}` : `s ${p.length} ${p.map((v) => v >>> 0).join(" ")}`)
      .join("\n") + "\n";
  const child = new Deno.Command(exe, { stdin: "piped", stdout: "piped", stderr: "piped" }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const r = await child.output();
  return {
    code: r.code,
    out: new TextDecoder().decode(r.stdout),
    stderr: new TextDecoder().decode(r.stderr),
  };
}

Deno.test({
  name:
    "mm2im: the accelerator model runs a hand-derived stream and refuses malformed ones with the packet index",
  ignore: noToolchain(),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "lathe-mm2im-sim-" });
    try {
      const original = chain(1, 2, 2, [{ c: 1, o: 1, k: 3, s: 2, padding: "SAME" }], 5);
      const rendered = renderDriver(partitionGraph(original, getTarget(TARGET)).graph, TARGET);
      // The model and every library file it includes, as a driver folder has them.
      for (const f of withIncludes(["mm2im_sim.cc"], new Set(["acc_config.h"]))) {
        await Deno.writeTextFile(`${dir}/${f}`, cppSource(f));
      }
      await Deno.writeTextFile(`${dir}/acc_config.h`, rendered.files.get("acc_config.h") as string);
      await Deno.writeTextFile(`${dir}/main.cc`, HARNESS);
      const exe = `${dir}/harness`;
      const cc = new Deno.Command("g++", {
        args: ["-std=c++17", "-fwrapv", "-O1", "-o", exe, `${dir}/main.cc`, `${dir}/mm2im_sim.cc`],
        stderr: "piped",
      }).outputSync();
      assert.ok(cc.success, new TextDecoder().decode(cc.stderr));
      // targets-mm2im.test.ts's hand layer: LOAD_CON of 1 depth step, 4x4 output, 3x3 kernel, 2x2 input;
      // LOAD_WGT of zero weights whose tap-0 column sum is 4, bias 10, multiplier 2^30 (× 1/2), shift 0;
      // pixels (zero codes) with their map rows.
      const con = [0x1, 1, 4, 9, 4, 2, 4, 4, 3, 2, 2, 0, 0, 2];
      const wgt = [0x2, 9, 1, 1, 0, 0, 0, 0, 4, ...new Array(8 * 5).fill(0), 10, 1 << 30, 0];
      const map = [0, 1, 2, 4, 5, 6, 8, 9, 10, 2, 3, -1, 6, 7, -1, 10, 11, -1];
      const map2 = [8, 9, 10, 12, 13, 14, -1, -1, -1, 10, 11, -1, 14, 15, -1, -1, -1, -1];
      const inp = [0x1c, 2, 1, 0, 0, 2, ...new Array(8).fill(0), ...map];
      const recv = 4 + STORE_TRAILER_WORDS;
      const inp2 = [0x1c, 2, 1, 2, 2, 2, ...new Array(8).fill(0), ...map2];
      // The whole stream: tap 0 of pixel (iy, ix) lands on output (2iy, 2ix), which gets the column sum:
      // (4 + 10)·1/2 = 7, + the zero point 2 = 9; the other outputs (0 + 10)·1/2 + 2 = 7.
      const ok = await stream(exe, [
        con,
        wgt,
        [0x10],
        inp,
        [0x50, 0, 4],
        recv,
        [0x50, 4, 4],
        recv,
        inp2,
        [0x50, 8, 4],
        recv,
        [0x40, 12, 4],
        recv,
      ]);
      assert.equal(ok.code, 0, ok.stderr);
      const rows = ok.out.trim().split("\n").map((l) => l.trim().split(" ").map(Number));
      const trailer = new Array(STORE_TRAILER_WORDS).fill(0);
      assert.deepEqual(rows, [
        [9, 7, 9, 7, ...trailer],
        [7, 7, 7, 7, ...trailer],
        [9, 7, 9, 7, ...trailer],
        [7, 7, 7, 7, ...trailer],
      ]);
      const refused = async (items: (number[] | number)[], why: RegExp) => {
        const r = await stream(exe, items);
        assert.equal(r.code, 3, `${why}: exit code`);
        assert.match(r.stderr, why);
      };
      await refused([wgt], /packet 0 .*data before LOAD_CON/);
      await refused(
        [con, wgt, inp],
        /packet 2 \(2 of the layer\): inputs outside a schedule or before weights/,
      );
      await refused([con, [0x10], wgt], /packet 1 .*StartSchedule before LoadWeight/);
      await refused([con, wgt, [0x10], [0x40, 0, 4]], /packet 3 .*STORE before any input of the schedule/);
      const badMap = [...inp];
      badMap[14] = 16;
      await refused([con, wgt, [0x10], badMap], /packet 3 .*map entry 16 is outside the 4x4 output/);
      await refused(
        [con, [0x2, 9, 1, 1, 0, 0]],
        /packet 1 .*weight columns needs 45 payload words, the packet has 2/,
      );
      await refused([[0x1, 1, 4, 8, 4, 2, 4, 4, 3, 2, 2, 0, 0, 2]], /packet 0 .*8 taps for kernel 3/);
      await refused(
        [con, wgt, [0x10], inp, [0x50, 0, 4], [0x40, 4, 4]],
        new RegExp(`packet 5 .*: ${recv} result words of the last STORE were never received`),
      );
      await refused(
        [con, wgt, [0x10], inp, [0x50, 0, 4], recv + 1],
        new RegExp(`receive of ${recv + 1} words`),
      );
      await refused([con, wgt, [0x10], inp], /the stream ends inside a schedule/);
      await refused([con, wgt, [0x10], [0x10]], /packet 3 .*StartSchedule inside a schedule/);
      await refused(
        [con, wgt, [0x10], [0x1c, 2, 1, 3, 3, 2, ...new Array(8).fill(0), ...map]],
        /input rows beyond the image/,
      );
      // Output 0 is accumulated but the schedule ends before it is stored.
      await refused([con, wgt, [0x10], inp, [0x40, 4, 4], recv], /packet 4 .*outputs never stored/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

async function dcganTflite(path: string): Promise<Graph> {
  // The quantize command's path to a .tflite (compiler/quantize.ts), as targets-mm2im.test.ts builds it:
  // cleanup, int8 QDQ with TFLite's parameter choices, the ONNX → TFLite conversion folding Q/DQ pairs.
  let onnx = await importOnnxFile(corpusPath("onnx/torch/dcgan_generator.onnx"));
  onnx = (await runPipeline(onnx, "canonicalize,fold-batchnorm")).model;
  const qdq = quantizeModelGraph(onnx, {
    scheme: "int8",
    tflite: true,
    activations: "i8",
    batches: seededBatches(onnx.graph, 0, 8),
  });
  const m = onnxToTflite(qdq.model, { layout: "nhwc" }).model;
  await writeTfliteFile(path, m);
  return m.graph;
}

Deno.test({
  name: "mm2im: the corpus DCGAN generator as int8 .tflite: compile --target mm2im writes a driver bit-exact",
  ignore: noCorpus() || noToolchain(),
  sanitizeResources: false,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "lathe-compile-mm2im-" });
    try {
      const file = `${out}/dcgan_generator.int8.tflite`;
      await dcganTflite(file);
      const r = await compileModel({ model: file, target: TARGET, out: `${out}/c` });
      assert.ok(r.driver && "dir" in r.driver, `a driver was emitted: ${JSON.stringify(r.driver)}`);
      const d = r.driver as EmittedDriver;
      assert.equal(d.stats.calls, 4, "the four transposed convolutions run on MM2IM");
      assert.match(await Deno.readTextFile(`${d.dir}/model.cc`), /"weights\.bin"/);
      // The graph compile partitioned is the .tflite as imported (compile runs no passes on a .tflite).
      const original = (await loadModel(file)).graph;
      await check({
        label: "dcgan_generator int8 on mm2im",
        original,
        partitioned: r.target!.partition.graph,
        driver: d,
        seeds: [0, 3],
      });
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "mm2im: compile --target mm2im of the corpus DCGAN .onnx goes to TFLite's int8 ops and writes a driver bit-exact",
  ignore: noCorpus() || noToolchain(),
  sanitizeResources: false,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "lathe-compile-mm2im-onnx-" });
    try {
      const file = corpusPath("onnx/torch/dcgan_generator.onnx");
      const r = await compileModel({ model: file, target: TARGET, out });
      assert.match(
        r.target!.prepared,
        /onnx-to-tflite/,
        "MM2IM is a TFLite delegate: the int8 form is TFLite's",
      );
      assert.ok(r.driver && "dir" in r.driver, `a driver was emitted: ${JSON.stringify(r.driver)}`);
      const d = r.driver as EmittedDriver;
      assert.equal(d.stats.calls, 4, "the four transposed convolutions run on MM2IM");
      // The graph compile partitioned, rebuilt by the same (deterministic) preparation.
      const m = await loadModel(file);
      const original = (await runPipeline(m, integerPipeline(m, "int8", "tflite"))).model.graph;
      await check({
        label: "dcgan_generator.onnx int8 on mm2im",
        original,
        partitioned: r.target!.partition.graph,
        driver: d,
        seeds: [1],
      });
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
