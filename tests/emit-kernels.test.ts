/**
 * The driver's CPU kernels one by one against Lathe's runtime: a graph holding every 8-bit `tfl` op the
 * emitter takes (grouped and dilated CONV_2D, DEPTHWISE_CONV_2D with a depth multiplier, both pools, ADD,
 * SUB and MUL with broadcasting, the RELUs, LOGISTIC, TANH, HARD_SWISH, MEAN, FULLY_CONNECTED, SOFTMAX, PAD,
 * CONCATENATION with rescaling, RESHAPE, TRANSPOSE, DEQUANTIZE, QUANTIZE from float and between 8-bit
 * types), in int8 (per-channel filters) and uint8 (per-tensor filters with zero points), emitted without
 * partitioning so everything runs on the CPU, built, and run on seeded inputs: every value the driver
 * dumps must equal the runtime's byte for byte. Also: the driver refuses an input of the wrong shape, and
 * the accelerator model refuses a packet stream that computes on rows it never loaded, with the functional
 * model's words.
 */
import assert from "node:assert/strict";
import { encodeNpy } from "../compiler/npy.ts";
import type { AffineQuant } from "../ir/dtype.ts";
import type { Graph } from "../ir/graph.ts";
import { Session } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { emitDriver, npyFileName } from "../targets/emit/emit.ts";
import { seededInputs } from "../targets/simulate.ts";
import { CFG_PPU, CFG_W_SIGNED, CFG_X_SIGNED, COMPUTE, CONFIG } from "../targets/secda/protocol.ts";
import { buildDriver, noToolchain, readDump, runDriver } from "./support/driver-run.ts";
import { codes, q, TflGraph } from "./support/tfl-int8-graph.ts";

type S = "i8" | "u8";

function bytes(t: Tensor): Uint8Array {
  const d = t.data as Uint8Array;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** The zoo graph for one storage type; scales are picked so most outputs are not saturated. */
function zoo(s: S): Graph {
  const t = new TflGraph();
  const signed = s === "i8";
  const z = (v: number) => (signed ? v - 128 : v); // a zero point given on the uint8 scale
  const A = (scale: number, zp: number): AffineQuant => q(s, scale, z(zp));
  const [lo, hi] = signed ? [-128, 127] : [0, 255];
  const filter = (name: string, shape: number[], axis: number, seed: number) => {
    const n = shape.reduce((p, d) => p * d, 1);
    const channels = shape[axis];
    if (signed) {
      const scales = Array.from({ length: channels }, (_, i) => 0.01 + 0.002 * i);
      return t.constant(name, q("i8", scales, 0, axis), shape, codes(n, -127, 127, seed));
    }
    return t.constant(name, q("u8", 0.012, 119), shape, codes(n, 0, 255, seed));
  };
  const bias = (name: string, n: number, seed: number) =>
    t.constant(name, q("i32", 1e-4), [n], codes(n, -3000, 3000, seed));
  const x = t.input("x", A(0.05, 120), [1, 8, 8, 6]);
  const conv = { stride_h: 2, stride_w: 2, dilation_h_factor: 1, dilation_w_factor: 1 };
  const c1 = t.op("c1", "tfl.CONV_2D", [x, filter("w1", [8, 3, 3, 3], 0, 2), bias("b1", 8, 3)], {
    ...conv,
    padding: "SAME",
    fused_activation_function: "RELU6",
  }, { dtype: A(0.04, 10), shape: [1, 4, 4, 8] });
  const c2 = t.op("c2", "tfl.CONV_2D", [x, filter("w2", [5, 2, 2, 6], 0, 4), null], {
    stride_h: 1,
    stride_w: 1,
    dilation_h_factor: 2,
    dilation_w_factor: 2,
    padding: "VALID",
    fused_activation_function: "NONE",
  }, { dtype: A(0.08, 128), shape: [1, 6, 6, 5] });
  const d1 = t.op("d1", "tfl.DEPTHWISE_CONV_2D", [c1, filter("wd", [1, 3, 3, 16], 3, 5), bias("bd", 16, 6)], {
    stride_h: 1,
    stride_w: 1,
    dilation_h_factor: 1,
    dilation_w_factor: 1,
    depth_multiplier: 2,
    padding: "SAME",
    fused_activation_function: "NONE",
  }, { dtype: A(0.03, 130), shape: [1, 4, 4, 16] });
  const pool = (id: string, op: string, k: number, stride: number, act: string, shape: number[]) =>
    t.op(id, op, [d1], {
      padding: "SAME",
      stride_h: stride,
      stride_w: stride,
      filter_height: k,
      filter_width: k,
      fused_activation_function: act,
    }, { dtype: A(0.03, 130), shape });
  pool("p1", "tfl.MAX_POOL_2D", 2, 2, "NONE", [1, 2, 2, 16]);
  const p2 = pool("p2", "tfl.AVERAGE_POOL_2D", 3, 1, "NONE", [1, 4, 4, 16]);
  const m1 = t.op("m1", "tfl.MUL", [p2, d1], { fused_activation_function: "NONE" }, {
    dtype: A(0.02, 100),
    shape: [1, 4, 4, 16],
  });
  const k16 = t.constant("k16", A(0.05, 100), [16], codes(16, lo, hi, 7));
  const a1 = t.op("a1", "tfl.ADD", [m1, k16], { fused_activation_function: "RELU6" }, {
    dtype: A(0.04, 90),
    shape: [1, 4, 4, 16],
  });
  const s1 = t.op("s1", "tfl.SUB", [a1, p2], { fused_activation_function: "NONE" }, {
    dtype: A(0.05, 128),
    shape: [1, 4, 4, 16],
  });
  const m2 = t.op("m2", "tfl.MUL", [s1, k16], { fused_activation_function: "RELU_N1_TO_1" }, {
    dtype: A(0.01, 128),
    shape: [1, 4, 4, 16],
  });
  const unary = (id: string, op: string, from: string, dtype: AffineQuant) =>
    t.op(id, op, [from], {}, { dtype, shape: [1, 4, 4, 16] });
  unary("r1", "tfl.RELU", s1, A(0.03, 20));
  unary("r6", "tfl.RELU6", s1, A(0.03, 10));
  unary("rn", "tfl.RELU_N1_TO_1", m2, A(0.01, 128));
  unary("lg", "tfl.LOGISTIC", s1, q(s, 1 / 256, signed ? -128 : 0));
  unary("th", "tfl.TANH", s1, q(s, 1 / 128, signed ? 0 : 128));
  const hs = unary("hs", "tfl.HARD_SWISH", s1, A(0.04, 30));
  const axes = t.constant("axes", "i32", [2], [1, 2]);
  const mean = t.op("mean", "tfl.MEAN", [hs, axes], { keep_dims: 0 }, { dtype: A(0.05, 60), shape: [1, 16] });
  const wf = signed
    ? t.constant("wf", q("i8", 0.02), [10, 16], codes(160, -127, 127, 8))
    : t.constant("wf", q("u8", 0.02, 131), [10, 16], codes(160, 0, 255, 8));
  const fc = t.op("fc", "tfl.FULLY_CONNECTED", [mean, wf, bias("bf", 10, 9)], {
    fused_activation_function: "NONE",
    weights_format: "DEFAULT",
    keep_num_dims: 0,
  }, { dtype: A(0.5, 128), shape: [1, 10] });
  t.op("sm", "tfl.SOFTMAX", [fc], { beta: 0.1 }, { dtype: q(s, 1 / 256, signed ? -128 : 0), shape: [1, 10] });
  const pads = t.constant("pads", "i32", [4, 2], [0, 0, 1, 1, 2, 0, 0, 0]);
  const pd = t.op("pd", "tfl.PAD", [c2, pads], {}, { dtype: A(0.08, 128), shape: [1, 8, 8, 5] });
  const cat = t.op("cat", "tfl.CONCATENATION", [pd, x, pd], { axis: 3, fused_activation_function: "NONE" }, {
    dtype: A(0.08, 128),
    shape: [1, 8, 8, 16],
  });
  const shape = t.constant("shape", "i32", [3], [1, 64, 16]);
  const rs = t.op("rs", "tfl.RESHAPE", [cat, shape], {}, { dtype: A(0.08, 128), shape: [1, 64, 16] });
  const perm = t.constant("perm", "i32", [3], [0, 2, 1]);
  const tr = t.op("tr", "tfl.TRANSPOSE", [rs, perm], {}, { dtype: A(0.08, 128), shape: [1, 16, 64] });
  const dq = t.op("dq", "tfl.DEQUANTIZE", [tr], {}, { dtype: "f32", shape: [1, 16, 64] });
  const qf = t.op("qf", "tfl.QUANTIZE", [dq], {}, { dtype: A(0.1, 140), shape: [1, 16, 64] });
  t.op("qq", "tfl.QUANTIZE", [qf], {}, { dtype: A(0.07, 110), shape: [1, 16, 64] });
  return t.build(["sm", "qq", "p1", "r1", "r6", "rn", "lg", "th"]);
}

for (const s of ["i8", "u8"] as const) {
  Deno.test({
    name: `every CPU kernel of the driver on ${s} codes: each value bit-exact with the runtime`,
    ignore: noToolchain(),
    fn: async () => {
      const g = zoo(s);
      const out = await Deno.makeTempDir({ prefix: `lathe-driver-zoo-${s}-` });
      try {
        const d = await emitDriver(g, "secda-sa", { out });
        assert.equal(d.stats.calls, 0, "nothing is partitioned: every node runs on the CPU");
        const ms = buildDriver(d.dir);
        for (const seed of [0, 1, 2]) {
          const inputs = seededInputs(g, seed);
          const want = new Map<string, Tensor>();
          new Session(g).run(inputs, { observe: (name, v) => v instanceof Tensor && want.set(name, v) });
          const dump = `${out}/dump-${seed}`;
          await Deno.mkdir(dump);
          const r = await runDriver(
            `${d.dir}/lathe_driver`,
            `${out}/run-${seed}`,
            d.inputs,
            d.outputs,
            inputs,
            {
              args: ["--dump", dump],
            },
          );
          assert.equal(r.code, 0, r.stderr);
          let compared = 0;
          for (const n of g.nodes) {
            const w = want.get(n.outputs[0])!;
            const got = await readDump(dump, npyFileName(n.outputs[0]));
            const a = bytes(w), b = bytes(got);
            assert.deepEqual(got.shape, w.shape, `${n.id} shape`);
            assert.deepEqual(b, a, `${s} seed ${seed}: ${n.id} (${n.op})`);
            compared++;
          }
          assert.equal(compared, g.nodes.length);
          // Not saturated: every node's result takes several values, so the comparisons see real arithmetic.
          for (const n of g.nodes) {
            assert.ok(
              new Set(want.get(n.outputs[0])!.data as Int8Array).size > 3,
              `${n.id} takes several values`,
            );
          }
        }
        console.log(`zoo ${s}: ${g.nodes.length} nodes, build ${ms.toFixed(0)} ms`);
      } finally {
        await Deno.remove(out, { recursive: true });
      }
    },
  });
}

Deno.test({
  name: "the driver refuses an input .npy of the wrong shape or type and explains --help",
  ignore: noToolchain(),
  fn: async () => {
    const g = zoo("i8");
    const out = await Deno.makeTempDir({ prefix: "lathe-driver-usage-" });
    try {
      const d = await emitDriver(g, "secda-vm", { out });
      buildDriver(d.dir);
      const exe = `${d.dir}/lathe_driver`;
      const help = new Deno.Command(exe, { args: ["--help"], stdout: "piped" }).outputSync();
      assert.equal(help.code, 0);
      assert.match(new TextDecoder().decode(help.stdout), /OUT_DIR INPUT\.npy/);
      const wrong = `${out}/wrong.npy`;
      await Deno.writeFile(wrong, encodeNpy(new Tensor("i8", [1, 8, 8, 5], new Int8Array(320))));
      const r = new Deno.Command(exe, { args: [out, wrong], stderr: "piped" }).outputSync();
      assert.equal(r.code, 1);
      assert.match(new TextDecoder().decode(r.stderr), /input x must be \|i1 \(1, 8, 8, 6\)/);
      const f32 = `${out}/f32.npy`;
      await Deno.writeFile(f32, encodeNpy(new Tensor("f32", [1, 8, 8, 6], new Float32Array(384))));
      const r2 = new Deno.Command(exe, { args: [out, f32], stderr: "piped" }).outputSync();
      assert.equal(r2.code, 1);
      const usage = new Deno.Command(exe, { args: [out], stderr: "piped" }).outputSync();
      assert.equal(usage.code, 2, "a missing input is a usage error");
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "the accelerator model refuses computing on rows never loaded, as the functional model does",
  ignore: noToolchain(),
  fn: async () => {
    // A driver folder gives acc_sim.cc its acc_config.h; a small program then sends a bad stream.
    const out = await Deno.makeTempDir({ prefix: "lathe-acc-sim-" });
    try {
      const d = await emitDriver(zoo("i8"), "secda-sa", { out });
      const cfg = [
        CONFIG | COMPUTE,
        4,
        4,
        1,
        CFG_X_SIGNED | CFG_W_SIGNED | CFG_PPU,
        0,
        -128,
        127,
        0,
        4,
        0,
        4,
      ];
      await Deno.writeTextFile(
        `${d.dir}/bad_stream.cc`,
        `#include "acc_hw.h"\nint main() {\n  const unsigned w[] = {${
          cfg.map((v) => `${v >>> 0}u`).join(", ")
        }};\n` +
          `  acc::open();\n  acc::dma_send(0, w, ${cfg.length});\n  return 0;\n}\n`,
      );
      const b = new Deno.Command("g++", {
        args: [
          "-std=c++17",
          "-fwrapv",
          "-o",
          `${d.dir}/bad_stream`,
          `${d.dir}/bad_stream.cc`,
          `${d.dir}/acc_sim.cc`,
        ],
        stderr: "piped",
      }).outputSync();
      assert.ok(b.success, new TextDecoder().decode(b.stderr));
      const r = new Deno.Command(`${d.dir}/bad_stream`, { stderr: "piped" }).outputSync();
      assert.equal(r.code, 3);
      assert.match(
        new TextDecoder().decode(r.stderr),
        /packet 0: input rows \[0, \+4\) are not all resident/,
      );
      // The board implementation compiles too (it is not run: there is no /dev/mem DMA here).
      const board = new Deno.Command("g++", {
        args: ["-std=c++17", "-fsyntax-only", `${d.dir}/acc_board.cc`],
        stderr: "piped",
      }).outputSync();
      assert.ok(board.success, new TextDecoder().decode(board.stderr));
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
