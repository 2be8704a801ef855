/**
 * Command streams and their cost, derived by hand from each design's constants: an 8×8×32 GEMM on SA and
 * VM packet by packet (DMA setup + words at 4 bytes a cycle, lanes in parallel, SA's systolic fold
 * R + C + T − 2, VM's per-unit 4×4 tiles), the capacity-driven tile plan of a deep GEMM, and the packet
 * encoding a driver would write.
 */
import assert from "node:assert/strict";
import { SECDA_SA } from "../targets/secda-sa/descriptor.ts";
import { SA_DESIGN } from "../targets/secda-sa/lower.ts";
import { SECDA_VM } from "../targets/secda-vm/descriptor.ts";
import { VM_DESIGN } from "../targets/secda-vm/lower.ts";
import { gemmProgram } from "../targets/secda/gemm-program.ts";
import { GEMM_ENERGY, gemmTiming } from "../targets/secda/gemm-timing.ts";
import { COMPUTE, CONFIG, encodePacket, LOAD_INP, LOAD_WGT, opcodeName } from "../targets/secda/protocol.ts";

const attrs = (m: number, n: number, k: number, mp = m, np = n, kp = k) => ({
  m,
  n,
  k,
  mp,
  np,
  kp,
  lanes: 4,
  x_signed: 1,
  w_signed: 1,
  ppu: "tflite",
  sums: 0,
  zp_out: 0,
  act_min: -128,
  act_max: 127,
});

Deno.test("an 8x8x32 GEMM: packets, phases, traffic and energy on SA and VM, by hand", () => {
  for (const [design, params] of [[SA_DESIGN, SECDA_SA], [VM_DESIGN, SECDA_VM]] as const) {
    const p = gemmProgram(design, attrs(8, 8, 32), "g");
    // One weight tile and one input tile: 4 weight-row packets, 1 parameter packet, 4 input-row packets, COMPUTE.
    assert.deepEqual(p.cmds.map((c) => `${opcodeName(c.opcode)}@${c.lane}`), [
      "CONFIG|LOAD_WGT@0",
      "LOAD_WGT@1",
      "LOAD_WGT@2",
      "LOAD_WGT@3",
      "LOAD_WGT@0",
      "LOAD_INP@0",
      "LOAD_INP@1",
      "LOAD_INP@2",
      "LOAD_INP@3",
      "COMPUTE@0",
    ]);
    const { setupCycles: S, bytesPerCycle: B } = params.dma;
    const xfer = (words: number) => S + Math.ceil((words * 4) / B);
    const kw = 32 / 4; // words per row
    const rowsPacket = 1 + 4 + 2 * kw; // opcode, header, 2 rows per lane
    const config = Math.ceil((7 * 4) / B); // CONFIG's 7 header words ride on lane 0's first packet
    const lane0Weights = xfer(rowsPacket + 7) - config + xfer(1 + 4 + 3 * 8); // + bias, multiplier, shift of 8 channels
    const inputs = xfer(rowsPacket);
    const compute = params === SECDA_SA
      ? 16 + 16 + 32 - 2 // one 16×16 fold of depth 32
      : 2 * 1 * (kw + 4); // 2 row groups × 1 column group per unit × (8 depth words + 4 overhead)
    const store = xfer((8 * 8) / 4);
    const t = gemmTiming(design, p);
    assert.deepEqual(t.phases, { config, weights: lane0Weights, inputs, compute, store });
    assert.equal(t.cycles, config + lane0Weights + inputs + compute + store);
    assert.equal(t.seconds, t.cycles / 200e6);
    assert.equal(t.dmaCycles, config + lane0Weights + inputs + store);
    assert.equal(t.macs, 8 * 8 * 32);
    assert.equal(t.utilization, (8 * 8 * 32) / (t.cycles * 256));
    // Words on the wire: 4 row packets each way, the parameter packet, CONFIG, COMPUTE's 5 words, 16 results.
    const words = 4 * rowsPacket + 7 + (1 + 4 + 24) + 4 * rowsPacket + 5 + 16;
    assert.equal(t.dramBytes, words * 4);
    // SRAM: every payload word and result written once; SA reads each fold's 8 rows and 8 columns once,
    // VM reads 4 + 4 words per cycle of each of its 2×2 tiles.
    assert.equal(t.sramWrites, 64 + 24 + 64 + 16);
    assert.equal(t.sramReads, (params === SECDA_SA ? (8 + 8) * kw : 2 * 2 * kw * 8) + 16);
    const e = t.energy;
    assert.equal(e.mac, 8 * 8 * 32 * (0.2 + 0.1)); // Horowitz 45 nm: int8 mult + int32 add
    assert.equal(e.dram, words * 4 * 8 * 70); // DDR3 70 pJ/bit
    assert.equal(t.energyPJ, e.mac + e.ppu + e.sram + e.dram);
    assert.equal(GEMM_ENERGY.sramWord, 5); // half of the 8 kB SRAM's 10 pJ 64-bit read
  }
});

Deno.test("a deep GEMM tiles by buffer capacity and picks the loop order that moves fewer words", () => {
  // SA, K = 4096 (1024 words a row): IN_BUF's 16384 words hold 16 rows, WE_BUF's 32768 hold 32.
  const p = gemmProgram(SA_DESIGN, attrs(40, 40, 4096), "deep");
  assert.equal(p.dims.mt, 16);
  assert.equal(p.dims.nt, 32);
  // Inputs outer reloads all 40 weight rows under each of 3 row tiles (40 + 3·40 rows); weights outer
  // reloads 40 input rows under each of 2 weight tiles (40 + 2·40): weights outer wins.
  const kinds = p.cmds.map((c) => (c.opcode & COMPUTE ? "C" : c.opcode & LOAD_WGT ? "W" : "I"));
  const computes = p.cmds.filter((c) => c.opcode & COMPUTE).map((c) => c.header.slice(-4).join(","));
  assert.deepEqual(computes, [
    "0,16,0,32",
    "16,16,0,32",
    "32,8,0,32",
    "0,16,32,8",
    "16,16,32,8",
    "32,8,32,8",
  ]);
  // Weight tile (4 lanes + params), then per row tile 4 input packets and a COMPUTE, twice.
  assert.equal(kinds.join(""), ("WWWWW" + "IIIIC".repeat(3)).repeat(2));
  // Each lane carries its rows of the tile as one contiguous run: lane 1 of input tile 2 starts at slot 32/4.
  const lane1 = p.cmds.filter((c) => c.opcode & LOAD_INP && c.lane === 1)[2];
  assert.deepEqual(lane1.payload, [{
    operand: 0,
    offset: 1 * (40 / 4) * 1024 + (32 / 4) * 1024,
    words: 2 * 1024,
  }]);
  assert.equal(p.cmds[0].opcode, CONFIG | LOAD_WGT);
});

Deno.test("encodePacket: opcode, header, then the payload words from the operands", () => {
  const op0 = new Uint32Array([10, 11, 12, 13, 14, 15]);
  const words = encodePacket({
    opcode: LOAD_INP | CONFIG,
    header: [1, 2, 3, 4, 5, 6, 7, 0, 0, 4, 1],
    payload: [{ operand: 0, offset: 2, words: 3 }],
    lane: 1,
  }, [op0]);
  assert.deepEqual(Array.from(words), [0xa, 1, 2, 3, 4, 5, 6, 7, 0, 0, 4, 1, 12, 13, 14]);
});
