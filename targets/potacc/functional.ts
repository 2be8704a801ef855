/**
 * PoTAcc's functional model: it interprets a call's command stream packet by packet, copying input rows
 * (signed 8-bit) into the global input banks, unpacking weight words into 4-bit codes in the units' weight
 * buffers and the column sums into the sum buffers, and on COMPUTE runs the shift PEs over the resident
 * tile: each product is the activation shifted by the code's terms in their register widths and summed in
 * the method's product width (shift-pe.ts), added or subtracted by the sign bit into a wrapping 32-bit
 * accumulator, then the column sum is added (VM_PE_URAM: `out[i][0] += … + wsum_read`). Results are the
 * int32 accumulators (the PPU is off; see program.ts).
 *
 * A stream that computes on rows it never loaded, overflows a buffer, or was built for another bitstream's
 * method is refused with the packet's index.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Tensor } from "../../runtime/tensor.ts";
import { laneRows } from "../secda/gemm-program.ts";
import {
  CFG_X_SIGNED,
  COMPUTE,
  CONFIG,
  headerFields,
  KIND_PARAMS,
  KIND_ROWS,
  LOAD_INP,
  LOAD_WGT,
  opcodeName,
} from "../secda/protocol.ts";
import type { Program } from "../target.ts";
import { CODES_PER_WORD, PARAM_COLUMNS, SHIFT_PES } from "./descriptor.ts";
import { methodOfFlags, type PotaccDesign, potCapacity } from "./program.ts";
import { type ShiftDecode, shiftDecode } from "./shift-pe.ts";

interface Tile {
  r0: number;
  count: number;
  rows: number;
  params: boolean;
}

function words(t: Tensor | undefined): Uint32Array | Int32Array | undefined {
  const d = t?.data;
  return d instanceof Uint32Array || d instanceof Int32Array ? d : undefined;
}

export function runPotProgram(
  design: PotaccDesign,
  program: Program,
  operands: readonly (Tensor | undefined)[],
  out: Tensor,
): void {
  const fail = (at: number, reason: string): never => {
    throw new LatheError("runtime", `${program.target} program ${program.id}, packet ${at}: ${reason}`);
  };
  const b = design.board;
  const lanes = design.params.dma.lanes;
  const inputBytes = b.ginpBufLen * 4 * 4;
  const ibuf = new Int8Array(inputBytes);
  let wcodes = new Uint8Array(0);
  const sums = new Int32Array(PARAM_COLUMNS);
  let cfg: { m: number; n: number; inRow: number; kp: number; decode: ShiftDecode } | undefined;
  let cap = { maxMt: 0, maxNt: 0 };
  const inTile: Tile = { r0: -1, count: 0, rows: 0, params: false };
  const wTile: Tile = { r0: -1, count: 0, rows: 0, params: false };
  const view = (t: Tile, r0: number, count: number) => {
    if (t.r0 !== r0 || t.count !== count) Object.assign(t, { r0, count, rows: 0, params: false });
  };
  const result = out.data;
  if (!(result instanceof Int32Array)) {
    throw new LatheError("runtime", "a PoTAcc call returns int32 accumulators");
  }
  program.cmds.forEach((cmd, at) => {
    const fields = headerFields(cmd);
    let next = 0;
    const payload = () => {
      const p = cmd.payload[next++];
      if (!p) fail(at, `${opcodeName(cmd.opcode)} is missing a payload`);
      const src = words(operands[p.operand]);
      if (!src) fail(at, `operand ${p.operand} is absent or not 32-bit words`);
      if (p.offset + p.words > src!.length) {
        fail(at, `payload [${p.offset}, +${p.words}) beyond operand ${p.operand}`);
      }
      return { src: src!, p };
    };
    const c = fields.get(CONFIG);
    if (c) {
      const [m, n, inRow, flags] = c;
      const method = methodOfFlags(flags);
      if (!method) fail(at, `CONFIG flags 0x${flags.toString(16)} name no PoT method`);
      if (design.only && design.only !== method) {
        fail(
          at,
          `the stream is for the ${SHIFT_PES[method!].label} PE; this bitstream is ${
            SHIFT_PES[design.only].label
          }`,
        );
      }
      if (!(flags & CFG_X_SIGNED)) fail(at, "the shift PE reads signed activations (CFG_X_SIGNED)");
      const kp = inRow * 4;
      cap = potCapacity(design, kp);
      cfg = { m, n, inRow, kp, decode: shiftDecode(method!) };
    }
    if (!cfg) fail(at, "data before CONFIG");
    const { kp, inRow } = cfg!;
    const w = fields.get(LOAD_WGT);
    if (w) {
      const [kind, r0, count, lane] = w;
      view(wTile, r0, count);
      if (kind === KIND_ROWS) {
        if (count > cap.maxNt) {
          fail(at, `${count} weight rows of ${kp} codes exceed the units' weight buffers`);
        }
        // The units' buffers hold cap.maxNt rows; the model keeps only the rows this tile uses.
        if (wcodes.length < count * kp) wcodes = new Uint8Array(count * kp);
        const rows = laneRows(count, lane, lanes), rowWords = kp / CODES_PER_WORD;
        const { src, p } = payload();
        if (p.words !== rows * rowWords) {
          fail(at, `lane ${lane} carries ${p.words} words for ${rows} weight rows`);
        }
        for (let j = 0; j < rows; j++) {
          const dst = (lane + j * lanes) * kp, s = p.offset + j * rowWords;
          for (let q = 0; q < rowWords; q++) {
            const word = src[s + q];
            for (let e = 0; e < CODES_PER_WORD; e++) {
              wcodes[dst + q * CODES_PER_WORD + e] = (word >>> (e * 4)) & 15;
            }
          }
        }
        wTile.rows += rows;
      } else if (kind === KIND_PARAMS) {
        if (count > PARAM_COLUMNS) {
          fail(at, `${count} column sums exceed the ${PARAM_COLUMNS}-entry sum buffers`);
        }
        const { src, p } = payload();
        if (p.words !== count) fail(at, `${p.words} column sums for ${count} columns`);
        for (let i = 0; i < count; i++) sums[i] = src[p.offset + i] | 0;
        wTile.params = true;
      } else fail(at, `unknown weight packet kind ${kind}`);
    }
    const x = fields.get(LOAD_INP);
    if (x) {
      const [kind, r0, count, lane] = x;
      if (kind !== KIND_ROWS) fail(at, `unknown input packet kind ${kind}`);
      view(inTile, r0, count);
      if (count > cap.maxMt) fail(at, `${count} input rows of ${inRow} words exceed the global input banks`);
      const rows = laneRows(count, lane, lanes);
      const { src, p } = payload();
      if (p.words !== rows * inRow) fail(at, `lane ${lane} carries ${p.words} words for ${rows} input rows`);
      const bytes = new Int8Array(src.buffer, src.byteOffset + p.offset * 4, p.words * 4);
      for (let j = 0; j < rows; j++) ibuf.set(bytes.subarray(j * kp, (j + 1) * kp), (lane + j * lanes) * kp);
      inTile.rows += rows;
    }
    const k = fields.get(COMPUTE);
    if (k) {
      const [m0, mc, n0, nc] = k;
      if (inTile.r0 !== m0 || inTile.count !== mc || inTile.rows !== mc) {
        fail(at, `input rows [${m0}, +${mc}) are not all resident`);
      }
      if (wTile.r0 !== n0 || wTile.count !== nc || wTile.rows !== nc || !wTile.params) {
        fail(at, `weight rows [${n0}, +${nc}) and their sums are not all resident`);
      }
      shiftTile(
        ibuf,
        wcodes,
        sums,
        kp,
        Math.min(mc, cfg!.m - m0),
        Math.min(nc, cfg!.n - n0),
        cfg!.decode,
        result,
        m0 * cfg!.n + n0,
        cfg!.n,
      );
    }
    if (next !== cmd.payload.length) fail(at, `${cmd.payload.length - next} payload runs left unread`);
  });
  if (!cfg) throw new LatheError("runtime", `${program.target} program ${program.id} is empty`);
}

const ACC = new Float64Array(16);

/**
 * The shift PEs over a resident tile, four rows by four columns at a time as a unit's 4×4 output block
 * (every code feeds four rows, every activation four columns). Each term is the activation shifted and held
 * in its register width, masked off where the code has no such term; the product is held in the product
 * width; its sign is the code's bit 3.
 */
function shiftTile(
  x: Int8Array,
  w: Uint8Array,
  sums: Int32Array,
  kp: number,
  rows: number,
  cols: number,
  d: ShiftDecode,
  out: Int32Array,
  outAt: number,
  stride: number,
): void {
  const { s1, s2, m1, m2, sign, w1, w2, wp } = d;
  for (let r = 0; r < rows; r += 4) {
    const rn = Math.min(4, rows - r);
    const x0 = r * kp,
      x1 = (r + (rn > 1 ? 1 : 0)) * kp,
      x2 = (r + (rn > 2 ? 2 : 0)) * kp,
      x3 = (r + (rn > 3 ? 3 : 0)) * kp;
    for (let c = 0; c < cols; c += 4) {
      const cn = Math.min(4, cols - c);
      const c0 = c * kp,
        c1 = (c + (cn > 1 ? 1 : 0)) * kp,
        c2 = (c + (cn > 2 ? 2 : 0)) * kp,
        c3 = (c + (cn > 3 ? 3 : 0)) * kp;
      let a00 = 0, a01 = 0, a02 = 0, a03 = 0, a10 = 0, a11 = 0, a12 = 0, a13 = 0;
      let a20 = 0, a21 = 0, a22 = 0, a23 = 0, a30 = 0, a31 = 0, a32 = 0, a33 = 0;
      for (let i = 0; i < kp; i++) {
        const u0 = x[x0 + i], u1 = x[x1 + i], u2 = x[x2 + i], u3 = x[x3 + i];
        let q = w[c0 + i];
        let sa = s1[q], sb = s2[q], ma = m1[q], mb = m2[q], sg = sign[q];
        a00 += sg * (((((u0 << sa) << w1 >> w1) & ma) + (((u0 << sb) << w2 >> w2) & mb)) << wp >> wp);
        a10 += sg * (((((u1 << sa) << w1 >> w1) & ma) + (((u1 << sb) << w2 >> w2) & mb)) << wp >> wp);
        a20 += sg * (((((u2 << sa) << w1 >> w1) & ma) + (((u2 << sb) << w2 >> w2) & mb)) << wp >> wp);
        a30 += sg * (((((u3 << sa) << w1 >> w1) & ma) + (((u3 << sb) << w2 >> w2) & mb)) << wp >> wp);
        q = w[c1 + i];
        sa = s1[q], sb = s2[q], ma = m1[q], mb = m2[q], sg = sign[q];
        a01 += sg * (((((u0 << sa) << w1 >> w1) & ma) + (((u0 << sb) << w2 >> w2) & mb)) << wp >> wp);
        a11 += sg * (((((u1 << sa) << w1 >> w1) & ma) + (((u1 << sb) << w2 >> w2) & mb)) << wp >> wp);
        a21 += sg * (((((u2 << sa) << w1 >> w1) & ma) + (((u2 << sb) << w2 >> w2) & mb)) << wp >> wp);
        a31 += sg * (((((u3 << sa) << w1 >> w1) & ma) + (((u3 << sb) << w2 >> w2) & mb)) << wp >> wp);
        q = w[c2 + i];
        sa = s1[q], sb = s2[q], ma = m1[q], mb = m2[q], sg = sign[q];
        a02 += sg * (((((u0 << sa) << w1 >> w1) & ma) + (((u0 << sb) << w2 >> w2) & mb)) << wp >> wp);
        a12 += sg * (((((u1 << sa) << w1 >> w1) & ma) + (((u1 << sb) << w2 >> w2) & mb)) << wp >> wp);
        a22 += sg * (((((u2 << sa) << w1 >> w1) & ma) + (((u2 << sb) << w2 >> w2) & mb)) << wp >> wp);
        a32 += sg * (((((u3 << sa) << w1 >> w1) & ma) + (((u3 << sb) << w2 >> w2) & mb)) << wp >> wp);
        q = w[c3 + i];
        sa = s1[q], sb = s2[q], ma = m1[q], mb = m2[q], sg = sign[q];
        a03 += sg * (((((u0 << sa) << w1 >> w1) & ma) + (((u0 << sb) << w2 >> w2) & mb)) << wp >> wp);
        a13 += sg * (((((u1 << sa) << w1 >> w1) & ma) + (((u1 << sb) << w2 >> w2) & mb)) << wp >> wp);
        a23 += sg * (((((u2 << sa) << w1 >> w1) & ma) + (((u2 << sb) << w2 >> w2) & mb)) << wp >> wp);
        a33 += sg * (((((u3 << sa) << w1 >> w1) & ma) + (((u3 << sb) << w2 >> w2) & mb)) << wp >> wp);
      }
      // The accumulators are 32-bit: partial sums here are exact doubles, so one wrap at the end is the same.
      const acc = ACC;
      acc[0] = a00, acc[1] = a01, acc[2] = a02, acc[3] = a03, acc[4] = a10, acc[5] = a11, acc[6] = a12;
      acc[7] = a13, acc[8] = a20, acc[9] = a21, acc[10] = a22, acc[11] = a23, acc[12] = a30, acc[13] = a31;
      acc[14] = a32, acc[15] = a33;
      for (let i = 0; i < rn; i++) {
        const o = outAt + (r + i) * stride + c;
        for (let j = 0; j < cn; j++) out[o + j] = (acc[i * 4 + j] + sums[c + j]) | 0;
      }
    }
  }
}
