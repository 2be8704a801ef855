/**
 * SCALE-Sim v2's compute model against values the code did not produce: the data points verified by
 * running SCALE-Sim (formats.md §4.1), SCALE-Sim's own golden run (test/golden_trace of
 * scalesim-project/scale-sim-v2: AlexNet conv1 on scale.cfg at 32×32 WS), and per-layer numbers derived
 * by hand below from the formulas, with the arithmetic written out.
 */
import assert from "node:assert/strict";
import { systolicArray } from "../targets/systolic/array.ts";
import { computeLayer, type LayerResult } from "../targets/systolic/compute.ts";
import { parseTopology, type TopologyLayer } from "../targets/systolic/topology.ts";

const CONV_HEADER =
  "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n";
const conv = (row: string): TopologyLayer => parseTopology(CONV_HEADER + row + ",\n")[0];
const gemm = (m: number, n: number, k: number): TopologyLayer =>
  parseTopology(`Layer, M, N, K,\ng,${m},${n},${k},\n`)[0];
const run = (l: TopologyLayer, rc: number, df: string, sramKB = 64): LayerResult =>
  computeLayer(
    l,
    systolicArray(rc, rc, df, { sram: { ifmapKB: sramKB, filterKB: sramKB, ofmapKB: sramKB } }),
  );
const close = (actual: number, expected: number, what: string, rel = 1e-12) =>
  assert.ok(Math.abs(actual - expected) <= rel * Math.abs(expected), `${what}: ${actual} vs ${expected}`);

Deno.test("formats.md §4.1 data points: 4x4 array, GEMM 8,8,8 and M16 N12 K20", () => {
  const cases: [TopologyLayer, Record<string, number>][] = [
    [gemm(8, 8, 8), { os: 55, ws: 71, is: 71 }],
    [gemm(16, 12, 20), { os: 311, ws: 389, is: 439 }],
  ];
  for (const [l, want] of cases) {
    for (const [df, cycles] of Object.entries(want)) {
      assert.equal(run(l, 4, df).totalCycles, cycles, `${df} M${l.ifmapH}`);
    }
  }
  // The breakdown formats.md gives: OS 12 folds × 26, WS 15 × 26, IS 20 × 22.
  const b = gemm(16, 12, 20);
  const os = run(b, 4, "os"), ws = run(b, 4, "ws"), is = run(b, 4, "is");
  assert.deepEqual([os.rowFolds * os.colFolds, os.cyclesPerFold], [12, 26]);
  assert.deepEqual([ws.rowFolds * ws.colFolds, ws.cyclesPerFold], [15, 26]);
  assert.deepEqual([is.rowFolds * is.colFolds, is.cyclesPerFold], [20, 22]);
});

Deno.test("SCALE-Sim's golden run: AlexNet conv1 (224,224,11,11,3,96,4) on scale.cfg at 32x32 WS", () => {
  // test/golden_trace/COMPUTE_REPORT.csv: 0, 112283, 0, 91.68309650614964, 94.53125, 90.78000992063492,
  // DETAILED_ACCESS_REPORT.csv: SRAM reads 3294225 / 34848, OFMAP writes 3484800; DRAM reads 1805023 / 34848.
  const r = run(conv("Conv1,224,224,11,11,3,96,4"), 32, "ws");
  assert.equal(r.totalCycles, 112283);
  assert.equal(r.stallCycles, 0);
  close(r.overallUtil, 91.68309650614964, "overall util");
  close(r.mappingEfficiency, 94.53125, "mapping efficiency");
  close(r.computeUtil, 90.78000992063492, "compute util");
  assert.deepEqual(r.sram, { ifmap: 3294225, filter: 34848, ofmap: 3484800 });
  assert.equal(r.dram.filter, 34848);
  // The IFMAP (150,528 words) does not fit the 32 kB active half, so this is the estimate: within 1%.
  close(r.dram.ifmap, 1805023, "DRAM ifmap reads", 0.01);
  // SCALE-Sim's write buffer reports 3484831: the partial sums plus 31 words of its own bookkeeping.
  close(r.dram.ofmap, 3484831, "DRAM ofmap writes", 1e-4);
});

Deno.test("ResNet-18 conv1 (229,229,7,7,3,64,2 = 7x7/2 pad 3 on 224): M 12544, N 64, K 147", () => {
  const l = conv("Conv1,229,229,7,7,3,64,2");
  // E = ceil((229 - 7 + 2)/2) = 112 per axis: M = 112*112 = 12544, N = 64, K = 7*7*3 = 147.
  const expect: [number, string, number, number, number][] = [
    // OS: Sr = M, Sc = N, T = K. 8x8: folds = ceil(12544/8)*ceil(64/8) = 1568*8 = 12544; per fold
    // 8+8+147-2 = 161; total = 12544*161 - 1 = 2019583.
    [8, "os", 1568, 8, 2019583],
    // 16x16: 784*4 = 3136 folds of 16+16+145 = 177: 555072 - 1.
    [16, "os", 784, 4, 555071],
    // 32x32: 392*2 = 784 folds of 32+32+145 = 209: 163856 - 1.
    [32, "os", 392, 2, 163855],
    // WS: Sr = K, Sc = N, T = M. 8x8: ceil(147/8) = 19, 64/8 = 8: 152 folds of 16+8+12544-2 = 12566:
    // 152*12566 = 1910032, - 1.
    [8, "ws", 19, 8, 1910031],
    // 16x16: 10*4 = 40 folds of 32+16+12542 = 12590: 503600 - 1.
    [16, "ws", 10, 4, 503599],
    // 32x32: 5*2 = 10 folds of 64+32+12542 = 12638: 126380 - 1.
    [32, "ws", 5, 2, 126379],
    // IS: Sr = K, Sc = M, T = N. 8x8: 19*1568 = 29792 folds of 16+8+64-2 = 86: 2562112 - 1.
    [8, "is", 19, 1568, 2562111],
    // 16x16: 10*784 = 7840 folds of 32+16+62 = 110: 862400 - 1.
    [16, "is", 10, 784, 862399],
    // 32x32: 5*392 = 1960 folds of 64+32+62 = 158: 309680 - 1.
    [32, "is", 5, 392, 309679],
  ];
  for (const [rc, df, rowFolds, colFolds, cycles] of expect) {
    const r = run(l, rc, df);
    assert.deepEqual([r.M, r.N, r.K], [12544, 64, 147]);
    assert.deepEqual(
      [r.rowFolds, r.colFolds, r.totalCycles],
      [rowFolds, colFolds, cycles],
      `${rc}x${rc} ${df}`,
    );
    assert.equal(r.macs, 12544 * 64 * 147);
  }
  // OS 8x8 utilizations: every fold is full, so mapping is 100% and compute util = 147/161 = 91.3043...%;
  // overall = 12544*64*147 / (2019583*64) = 1843968/2019583.
  const r = run(l, 8, "os");
  close(r.mappingEfficiency, 100, "mapping");
  close(r.computeUtil, (100 * 147) / 161, "compute util");
  close(r.overallUtil, (100 * 1843968) / 2019583, "overall util");
  // SRAM (OS): ifmap ceil(64/8)*12544*147 = 14751744; filter ceil(12544/8)*147*64 = 14751744;
  // ofmap 12544*64 + (8+8)*12544 folds = 802816 + 200704 = 1003520 (the +(R+C) per fold quirk).
  assert.deepEqual(r.sram, { ifmap: 14751744, filter: 14751744, ofmap: 1003520 });
});

Deno.test("ResNet-18 layer4.0.conv2 (9,9,3,3,512,512,1): M 49, N 512, K 4608", () => {
  const l = conv("L4_0_conv2,9,9,3,3,512,512,1");
  const expect: [number, string, number][] = [
    // OS 8x8: ceil(49/8) = 7, 512/8 = 64: 448 folds of 8+8+4608-2 = 4622: 2070656 - 1.
    [8, "os", 2070655],
    // OS 16x16: 4*32 = 128 folds of 4638: 593664 - 1.
    [16, "os", 593663],
    // OS 32x32: 2*16 = 32 folds of 4670: 149440 - 1.
    [32, "os", 149439],
    // WS 8x8: 4608/8 = 576, 64: 36864 folds of 16+8+49-2 = 71: 2617344 - 1.
    [8, "ws", 2617343],
    // WS 16x16: 288*32 = 9216 folds of 32+16+47 = 95: 875520 - 1.
    [16, "ws", 875519],
    // WS 32x32: 144*16 = 2304 folds of 64+32+47 = 143: 329472 - 1.
    [32, "ws", 329471],
    // IS 8x8: 576*ceil(49/8) = 576*7 = 4032 folds of 16+8+512-2 = 534: 2153088 - 1.
    [8, "is", 2153087],
    // IS 16x16: 288*4 = 1152 folds of 32+16+510 = 558: 642816 - 1.
    [16, "is", 642815],
    // IS 32x32: 144*2 = 288 folds of 64+32+510 = 606: 174528 - 1.
    [32, "is", 174527],
  ];
  for (const [rc, df, cycles] of expect) {
    assert.equal(run(l, rc, df).totalCycles, cycles, `${rc}x${rc} ${df}`);
  }
  // OS 16x16 mapping: rows used 16,16,16,1 of 4 row folds (49 = 3*16 + 1), columns all full:
  // mean = (49/4)/16 = 76.5625%.
  close(run(l, 16, "os").mappingEfficiency, 76.5625, "mapping");
});

Deno.test("ResNet-18 fc (1,1,1,1,512,1000,1): M 1, N 1000, K 512", () => {
  const l = conv("FC,1,1,1,1,512,1000,1");
  // OS 16x16: 1 * ceil(1000/16) = 63 folds of 16+16+512-2 = 542: 34146 - 1.
  assert.equal(run(l, 16, "os").totalCycles, 34145);
  // WS 32x32: 512/32 = 16, ceil(1000/32) = 32: 512 folds of 64+32+1-2 = 95: 48640 - 1.
  const ws = run(l, 32, "ws");
  assert.equal(ws.totalCycles, 48639);
  // Mapping = 512*1000 / (512 folds * 1024) = 97.65625%. Compute util divides by the quirk's
  // 2R+2C+T-3 = 64+64+1-3 = 126: 512*1000*1 / (512*1024*126) = 1000/129024.
  close(ws.mappingEfficiency, 97.65625, "mapping");
  close(ws.computeUtil, (100 * 1000) / 129024, "compute util");
  close(ws.overallUtil, (100 * 512000) / (48639 * 1024), "overall");
  // IS 8x8: 512/8 = 64 row folds, M = 1 one column fold: 64 folds of 16+8+1000-2 = 1022: 65408 - 1.
  assert.equal(run(l, 8, "is").totalCycles, 65407);
});

Deno.test("MobileNetV2 layers: stem, a depthwise DP row and a projection", () => {
  // Stem 3x3/2 pad 1 on 224 -> 112: IFMAP (112-1)*2 + 3 = 225. M = 12544, N = 32, K = 27.
  const stem = conv("Conv1,225,225,3,3,3,32,2");
  // OS 8x8: 1568*4 = 6272 folds of 8+8+27-2 = 41: 257152 - 1.
  assert.equal(run(stem, 8, "os").totalCycles, 257151);
  // WS 16x16: ceil(27/16) = 2, 32/16 = 2: 4 folds of 32+16+12544-2 = 12590: 50360 - 1.
  assert.equal(run(stem, 16, "ws").totalCycles, 50359);
  // IS 32x32: 1 * ceil(12544/32) = 392 folds of 64+32+32-2 = 126: 49392 - 1.
  assert.equal(run(stem, 32, "is").totalCycles, 49391);

  // Block 2 depthwise 3x3/2 on 112x112x96: IFMAP 113. DP: 96 single-channel layers, each
  // E = ceil((113-3+2)/2) = 56, M = 3136, N = 1, K = 9.
  const dw = conv("B2_DP,113,113,3,3,96,1,2");
  assert.deepEqual([dw.copies, dw.channels], [96, 1]);
  const os8 = run(dw, 8, "os");
  // OS 8x8: 392 folds of 8+8+9-2 = 23: 9015 per channel, 96*9015 = 865440 in all.
  assert.deepEqual([os8.cyclesPerCopy, os8.totalCycles, os8.macs], [9015, 865440, 96 * 3136 * 9]);
  // WS 16x16: one fold of 32+16+3136-2 = 3182: 3181 per channel, 305376 in all.
  const ws16 = run(dw, 16, "ws");
  assert.equal(ws16.totalCycles, 305376);
  // Mapping 9*1/256 = 3.515625%; compute util 9*1*3136 / (256*(32+32+3136-3)) = 28224/818432.
  close(ws16.mappingEfficiency, 3.515625, "mapping");
  close(ws16.computeUtil, (100 * 28224) / 818432, "compute util");
  // IS 32x32: 1 * ceil(3136/32) = 98 folds of 64+32+1-2 = 95: 9309 per channel, 893664 in all.
  assert.equal(run(dw, 32, "is").totalCycles, 893664);

  // Block 17 projection 1x1 on 7x7x960 -> 320: M = 49, N = 320, K = 960.
  const proj = conv("B17_proj,7,7,1,1,960,320,1");
  // OS 32x32: 2*10 = 20 folds of 32+32+960-2 = 1022: 20440 - 1.
  assert.equal(run(proj, 32, "os").totalCycles, 20439);
  // WS 8x8: 120*40 = 4800 folds of 16+8+49-2 = 71: 340800 - 1.
  assert.equal(run(proj, 8, "ws").totalCycles, 340799);
  // IS 16x16: 60*ceil(49/16) = 60*4 = 240 folds of 32+16+320-2 = 366: 87840 - 1.
  assert.equal(run(proj, 16, "is").totalCycles, 87839);
});

Deno.test("quirks: OS ofmap writes add R+C per fold; WS/IS compute util divides by 2R+2C+T-3", () => {
  const l = gemm(8, 8, 8);
  // formats.md: the 8x8x8 example reports 96 ofmap writes, not 64: 64 + (4+4) * 4 folds.
  assert.equal(run(l, 4, "os").sram.ofmap, 96);
  // OS compute util uses the true fold: 16*8 / (16*(4+4+8-2)) = 8/14.
  close(run(l, 4, "os").computeUtil, (100 * 8) / 14, "os compute util");
  // WS and IS: 16*8 / (16*(8+8+8-3)) = 8/21, although a fold lasts 2*4+4+8-2 = 18 cycles.
  for (const df of ["ws", "is"]) {
    const r = run(l, 4, df);
    assert.equal(r.cyclesPerFold, 18);
    close(r.computeUtil, (100 * 8) / 21, `${df} compute util`);
  }
  // WS/IS partial sums are written per row fold: ceil(K/R)*M*N = 2*64 = 128, and go to DRAM as they are.
  for (const df of ["ws", "is"]) {
    const r = run(l, 4, df);
    assert.equal(r.sram.ofmap, 128);
    assert.equal(r.dram.ofmap, 128);
  }
});

Deno.test("SRAM reads per operand and DRAM reads when the operands fit (formats.md §4.1)", () => {
  // GEMM M16 N12 K20 on 4x4. OS: ifmap ceil(12/4)*16*20 = 960, filter ceil(16/4)*20*12 = 960,
  // ofmap 16*12 + 8*12 folds = 288. SCALE-Sim's DETAILED_ACCESS_REPORT for this run: 960, 960, 288, and
  // DRAM 320, 240, 192 (the unique words of each operand).
  const l = gemm(16, 12, 20);
  const os = run(l, 4, "os");
  assert.deepEqual(os.sram, { ifmap: 960, filter: 960, ofmap: 288 });
  assert.deepEqual(os.dram, { ifmap: 320, filter: 240, ofmap: 192 });
  // WS: ifmap ceil(12/4)*16*20 = 960, filter 20*12 = 240, ofmap ceil(20/4)*16*12 = 960.
  assert.deepEqual(run(l, 4, "ws").sram, { ifmap: 960, filter: 240, ofmap: 960 });
  // IS: ifmap 16*20 = 320, filter ceil(16/4)*20*12 = 960, ofmap 5*192 = 960.
  assert.deepEqual(run(l, 4, "is").sram, { ifmap: 320, filter: 960, ofmap: 960 });
  // A conv's IFMAP footprint: a 3x3/2 window over 30x30 gives E = ceil(29/2) = 15, the last window
  // overhangs (14*2 + 3 = 31 > 30), so all 30 rows and columns are read: 30*30*16 words.
  const s3 = run(conv("S3,30,30,3,3,16,32,2"), 8, "os");
  assert.equal(s3.dram.ifmap, 30 * 30 * 16);
  // Stride 3 over a 2-wide window skips every third pixel: E = ceil((20-2+3)/3) = 7, windows at
  // 0,3,...,18 cover 7*2 = 14 of the 20 rows (and columns): 14*14*4 words.
  assert.equal(run(conv("S4,20,20,2,2,4,8,3"), 8, "os").dram.ifmap, 14 * 14 * 4);
});

Deno.test("DRAM estimates when an operand does not fit its buffer", () => {
  // 4 kB buffers: SCALE-Sim tracks 100 sets of floor(4096/100) = 40 words and keeps 50 active: 2000 words.
  // ResNet layer3.0.downsample 1x1/2 on 27x27x128 -> 14x14x256: M = 196, N = 256, K = 128; the IFMAP
  // footprint is 14*14*128 = 25088 words (stride 2 skips every other row and column).
  const l = conv("L3_0_down,27,27,1,1,128,256,2");
  const os = run(l, 16, "os", 4);
  assert.equal(os.fits.ifmap, false);
  // OS: a row fold's 16 pixels read 16*128 = 2048 distinct words, more than 2000, so each fold fetches its
  // own (disjoint for a 1x1/2 window: 25088 per pass), once per column fold (256/16 = 16).
  assert.equal(os.dram.ifmap, 25088 * 16);
  // Filter 128*256 = 32768 words; the 128 x 16 column slice (2048) does not fit either, so it is fetched
  // again for each of the ceil(196/16) = 13 row folds.
  assert.equal(os.dram.filter, 32768 * 13);
  // WS: each row fold is a 16-wide slice of K = 16 channels of the 1x1 tap: 196 pixels * 16 channels each,
  // the slices are disjoint, so the sum is the footprint 25088, fetched once per column fold (16).
  assert.equal(run(l, 16, "ws", 4).dram.ifmap, 25088 * 16);
  // IS: one pass; the 16-pixel runs' footprints sum to 25088.
  assert.equal(run(l, 16, "is", 4).dram.ifmap, 25088);
  // IS filter at 32x32 with 64 kB: K*N = 32768 words, one set more than the 50*655 = 32750 active words,
  // so it streams once per column fold: 32768 * ceil(196/32) = 32768 * 7.
  assert.equal(run(l, 32, "is", 64).dram.filter, 32768 * 7);
});
