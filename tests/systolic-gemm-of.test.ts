/**
 * The GEMM view of IR nodes (targets/systolic/gemm-of.ts): padded, strided, grouped, dilated and batched
 * convs, ONNX Gemm/MatMul, and the TFLite CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED forms. Output
 * shapes come from the IR's own inference; M, N, K and copies are derived by hand, and the MAC count
 * is checked against ir/macs.ts.
 */
import assert from "node:assert/strict";
import "../ir/ops/index.ts";
import { GraphBuilder, modelOf } from "../ir/builder.ts";
import { nodeMacs } from "../ir/macs.ts";
import { gemmOf } from "../targets/systolic/gemm-of.ts";
import { ofmapDims, type TopologyLayer, topologyOf } from "../targets/systolic/topology.ts";

const gemmView = (l: TopologyLayer) => {
  const { h, w } = ofmapDims(l);
  return { M: h * w, N: l.numFilters, K: l.filterH * l.filterW * l.channels, copies: l.copies };
};
const macsOf = (l: TopologyLayer) => {
  const v = gemmView(l);
  return v.M * v.N * v.K * v.copies;
};

function single(build: (b: GraphBuilder) => string) {
  const b = new GraphBuilder();
  const out = build(b);
  const g = b.build([out]);
  const n = g.nodes[g.nodes.length - 1];
  return { g, n, r: gemmOf(g, n) };
}

function layerOf(build: (b: GraphBuilder) => string): TopologyLayer {
  const { g, n, r } = single(build);
  assert.ok(r && !("reason" in r), `no GEMM view: ${JSON.stringify(r)}`);
  assert.equal(macsOf(r), nodeMacs(g, n));
  return r;
}

Deno.test("ONNX Conv: padding mapped by output size, groups and batch as copies", () => {
  // X [2,8,15,15], W [16,4,3,3], group 2, stride 2, pads 1: out floor((15+2-3)/2)+1 = 8, so M = 64;
  // per group 4 channels and 8 filters, K = 36; copies = 2 groups * 2 images.
  const l = layerOf((b) =>
    b.op1("Conv", [b.input("x", "f32", [2, 8, 15, 15]), b.input("w", "f32", [16, 4, 3, 3])], {
      group: 2,
      strides: [2, 2],
      pads: [1, 1, 1, 1],
    })
  );
  assert.deepEqual(gemmView(l), { M: 64, N: 8, K: 36, copies: 4 });
  // IFMAP (8-1)*2 + 3 = 17: SCALE-Sim's ceil((17-3+2)/2) = 8 outputs again.
  assert.deepEqual([l.ifmapH, l.ifmapW, l.strideH, l.strideW], [17, 17, 2, 2]);
});

Deno.test("ONNX depthwise and dilated convs", () => {
  // Depthwise: X [1,6,10,10], W [6,1,3,3], group 6, pads 1: 6 single-channel layers of M 100, N 1, K 9.
  const dw = layerOf((b) =>
    b.op1("Conv", [b.input("x", "f32", [1, 6, 10, 10]), b.input("w", "f32", [6, 1, 3, 3])], {
      group: 6,
      pads: [1, 1, 1, 1],
    })
  );
  assert.deepEqual(gemmView(dw), { M: 100, N: 1, K: 9, copies: 6 });
  // Dilation 2: a 3x3 kernel spans 5, out = 12 - 5 + 1 = 8; K keeps the 27 taps.
  const dil = layerOf((b) =>
    b.op1("Conv", [b.input("x", "f32", [1, 3, 12, 12]), b.input("w", "f32", [4, 3, 3, 3])], {
      dilations: [2, 2],
    })
  );
  assert.deepEqual(gemmView(dil), { M: 64, N: 4, K: 27, copies: 1 });
});

Deno.test("ONNX Gemm and MatMul", () => {
  // Gemm with transA: A is [K=5, M=3].
  const gm = layerOf((b) =>
    b.op1("Gemm", [b.input("a", "f32", [5, 3]), b.input("b", "f32", [5, 7])], { transA: 1 })
  );
  assert.deepEqual(gemmView(gm), { M: 3, N: 7, K: 5, copies: 1 });
  // A shared 2-D B folds A's leading dims into M: [2,3,4,5]·[5,6] is M = 24.
  const mm = layerOf((b) =>
    b.op1("MatMul", [b.input("a", "f32", [2, 3, 4, 5]), b.input("b", "f32", [5, 6])])
  );
  assert.deepEqual(gemmView(mm), { M: 24, N: 6, K: 5, copies: 1 });
  // A batched B: one GEMM per batch entry.
  const bm = layerOf((b) =>
    b.op1("MatMul", [b.input("a", "f32", [2, 3, 4]), b.input("b", "f32", [2, 4, 7])])
  );
  assert.deepEqual(gemmView(bm), { M: 3, N: 7, K: 4, copies: 2 });
});

Deno.test("TFLite CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED", () => {
  // CONV_2D NHWC [1,9,9,4], filter [8,3,3,4] (O,H,W,I), stride 2 SAME: out ceil(9/2) = 5.
  const c = layerOf(
    (b) =>
      b.op1("tfl.CONV_2D", [b.input("x", "f32", [1, 9, 9, 4]), b.input("w", "f32", [8, 3, 3, 4])], {
        padding: "SAME",
        stride_h: 2,
        stride_w: 2,
      }),
  );
  assert.deepEqual(gemmView(c), { M: 25, N: 8, K: 36, copies: 1 });
  assert.equal(c.ifmapH, 4 * 2 + 3);
  // DEPTHWISE_CONV_2D [1,8,8,3], filter [1,3,3,6]: multiplier 2, each channel a layer with 2 filters.
  const d = layerOf(
    (b) =>
      b.op1("tfl.DEPTHWISE_CONV_2D", [b.input("x", "f32", [1, 8, 8, 3]), b.input("w", "f32", [1, 3, 3, 6])], {
        padding: "SAME",
        stride_h: 1,
        stride_w: 1,
        depth_multiplier: 2,
      }),
  );
  assert.deepEqual(gemmView(d), { M: 64, N: 2, K: 9, copies: 3 });
  // FULLY_CONNECTED [2,10] x weights [4,10] (units, depth).
  const f = layerOf(
    (b) => b.op1("tfl.FULLY_CONNECTED", [b.input("x", "f32", [2, 10]), b.input("w", "f32", [4, 10])]),
  );
  assert.deepEqual(gemmView(f), { M: 2, N: 4, K: 10, copies: 1 });
});

Deno.test("nodes without MAC work are not layers; ones without a GEMM view say why", () => {
  assert.equal(single((b) => b.op1("Relu", [b.input("x", "f32", [1, 4])])).r, undefined);
  const sym =
    single((b) => b.op1("Conv", [b.input("x", "f32", ["N", 3, 8, 8]), b.input("w", "f32", [4, 3, 3, 3])])).r;
  assert.deepEqual(sym, { reason: "shapes are not static" });
  const b = new GraphBuilder();
  const y = b.op1("ConvTranspose", [b.input("x", "f32", [1, 2, 4, 4]), b.input("w", "f32", [2, 3, 3, 3])]);
  const t = topologyOf(modelOf(b.build([y])));
  assert.equal(t.layers.length, 0);
  assert.match(t.skipped[0].reason, /transposed convolution/);
});
