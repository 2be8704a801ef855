/**
 * The functional model of the SECDA GEMM accelerators: it interprets a call's command stream packet by
 * packet, copying payloads into on-chip input, weight, sum and parameter buffers of the design's capacity,
 * and on COMPUTE multiplies the resident tiles, adds bias and row sums in int32 (wrapping, as 32-bit
 * accumulators do) and runs the PPU: TFLite's MultiplyByQuantizedMultiplier (double rounding,
 * runtime/tflite/fixed-point.ts, the same function the reference kernels use), the output zero point and
 * the activation clamp. With the PPU off it returns the int32 accumulators.
 *
 * A program that computes on rows it never loaded, or loads more than a buffer holds, is a lowering bug;
 * the model refuses it with the packet's index rather than compute garbage. Results for padded rows and
 * columns are computed by the hardware and dropped by the driver's unpacking; the model skips them.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Tensor } from "../../runtime/tensor.ts";
import { igemm } from "../../runtime/gemm/igemm.ts";
import { multiplyByQuantizedMultiplier } from "../../runtime/tflite/fixed-point.ts";
import type { Program } from "../target.ts";
import { type GemmDesign, laneRows } from "./gemm-program.ts";
import {
  CFG_PPU,
  CFG_SUMS,
  CFG_W_SIGNED,
  CFG_X_SIGNED,
  COMPUTE,
  CONFIG,
  headerFields,
  KIND_PARAMS,
  KIND_ROWS,
  LOAD_INP,
  LOAD_WGT,
  opcodeName,
} from "./protocol.ts";

interface Tile {
  r0: number;
  count: number;
  /** Rows (or parameter runs) received so far. */
  rows: number;
  params: boolean;
}

function fail(at: number, program: Program, reason: string): never {
  throw new LatheError("runtime", `${program.target} program ${program.id}, packet ${at}: ${reason}`);
}

function words(t: Tensor): Uint32Array | Int32Array {
  const d = t.data;
  if (!(d instanceof Uint32Array) && !(d instanceof Int32Array)) {
    throw new LatheError("runtime", "call operands must be 32-bit words");
  }
  return d;
}

/** Runs a GEMM program on the call's operands, writing the m × n result into `out`. */
export function runGemmProgram(
  design: GemmDesign,
  program: Program,
  operands: readonly (Tensor | undefined)[],
  out: Tensor,
): void {
  const inBytes = design.inputWords * 4, wBytes = design.weightWords * 4;
  const ibuf = new ArrayBuffer(inBytes), wbuf = new ArrayBuffer(wBytes);
  const iu8 = new Uint8Array(ibuf), wu8 = new Uint8Array(wbuf);
  const bias = new Int32Array(design.paramRows),
    mult = new Int32Array(design.paramRows),
    shift = new Int32Array(design.paramRows);
  const sums = new Int32Array(design.sumsRows);
  let cfg:
    | { m: number; n: number; kw: number; flags: number; zp: number; lo: number; hi: number }
    | undefined;
  const inTile: Tile = { r0: -1, count: 0, rows: 0, params: false };
  const wTile: Tile = { r0: -1, count: 0, rows: 0, params: false };
  const view = (t: Tile, r0: number, count: number) => {
    if (t.r0 !== r0 || t.count !== count) Object.assign(t, { r0, count, rows: 0, params: false });
  };
  const operand = (at: number, i: number) => {
    const t = operands[i];
    if (!t) fail(at, program, `operand ${i} is absent`);
    return words(t);
  };
  const outData = out.data as Int8Array | Uint8Array | Int32Array;
  program.cmds.forEach((cmd, at) => {
    const fields = headerFields(cmd);
    let payload = 0;
    const nextRef = () => {
      const p = cmd.payload[payload++];
      if (!p) fail(at, program, `${opcodeName(cmd.opcode)} is missing a payload`);
      const src = operand(at, p.operand);
      if (p.offset + p.words > src.length) {
        fail(at, program, `payload [${p.offset}, +${p.words}) beyond operand ${p.operand}`);
      }
      return { src, p };
    };
    const c = fields.get(CONFIG);
    if (c) {
      const [m, n, kw, flags, zp, lo, hi] = c;
      cfg = { m, n, kw, flags, zp, lo, hi };
    }
    if (!cfg) fail(at, program, "data before CONFIG");
    const kp = cfg.kw * 4;
    const loadRows = (
      h: readonly number[],
      tile: Tile,
      bytes: Uint8Array,
      capacityWords: number,
      what: string,
    ) => {
      const [kind, r0, count, lane] = h;
      view(tile, r0, count);
      if (kind === KIND_ROWS) {
        if (count * cfg!.kw > capacityWords) {
          fail(
            at,
            program,
            `${count} ${what} rows of ${cfg!.kw} words exceed the ${capacityWords}-word buffer`,
          );
        }
        const rows = laneRows(count, lane, design.params.dma.lanes);
        const { src, p } = nextRef();
        if (p.words !== rows * cfg!.kw) {
          fail(at, program, `lane ${lane} carries ${p.words} words for ${rows} rows`);
        }
        const srcBytes = new Uint8Array(src.buffer, src.byteOffset + p.offset * 4, p.words * 4);
        const lanes = design.params.dma.lanes;
        for (let j = 0; j < rows; j++) {
          bytes.set(srcBytes.subarray(j * kp, (j + 1) * kp), (lane + j * lanes) * kp);
        }
        tile.rows += rows;
        return undefined;
      }
      if (kind !== KIND_PARAMS) fail(at, program, `unknown ${what} packet kind ${kind}`);
      return { r0, count };
    };
    const w = fields.get(LOAD_WGT);
    if (w) {
      const params = loadRows(w, wTile, wu8, design.weightWords, "weight");
      if (params) {
        if (params.count > design.paramRows) {
          fail(at, program, `${params.count} channels exceed the ${design.paramRows}-entry parameter buffer`);
        }
        const targets = cfg.flags & CFG_PPU ? [bias, mult, shift] : [bias];
        for (const dst of targets) {
          const { src, p } = nextRef();
          if (p.words !== params.count) {
            fail(at, program, `parameter run of ${p.words} words for ${params.count} channels`);
          }
          dst.set(new Int32Array(src.buffer, src.byteOffset + p.offset * 4, p.words));
        }
        wTile.params = true;
      }
    }
    const x = fields.get(LOAD_INP);
    if (x) {
      const s = loadRows(x, inTile, iu8, design.inputWords, "input");
      if (s) {
        if (s.count > design.sumsRows) {
          fail(at, program, `${s.count} row sums exceed the ${design.sumsRows}-entry sum buffer`);
        }
        const { src, p } = nextRef();
        sums.set(new Int32Array(src.buffer, src.byteOffset + p.offset * 4, p.words));
        inTile.params = true;
      }
    }
    const k = fields.get(COMPUTE);
    if (k) {
      const [m0, mc, n0, nc] = k;
      if (inTile.r0 !== m0 || inTile.count !== mc || inTile.rows !== mc) {
        fail(at, program, `input rows [${m0}, +${mc}) are not all resident`);
      }
      if (wTile.r0 !== n0 || wTile.count !== nc || wTile.rows !== nc || !wTile.params) {
        fail(at, program, `weight rows [${n0}, +${nc}) are not all resident`);
      }
      if (cfg.flags & CFG_SUMS && !inTile.params) fail(at, program, "row sums were not loaded");
      const xs = cfg.flags & CFG_X_SIGNED ? new Int8Array(ibuf) : iu8;
      const ws = cfg.flags & CFG_W_SIGNED ? new Int8Array(wbuf) : wu8;
      computeTile(
        xs,
        ws,
        kp,
        m0,
        Math.min(mc, cfg.m - m0),
        n0,
        Math.min(nc, cfg.n - n0),
        cfg,
        bias,
        mult,
        shift,
        cfg.flags & CFG_SUMS ? sums : undefined,
        outData,
      );
    }
    if (payload !== cmd.payload.length) {
      fail(at, program, `${cmd.payload.length - payload} payload runs left unread`);
    }
  });
  if (!cfg) throw new LatheError("runtime", `${program.target} program ${program.id} is empty`);
}

/** The tile's int32 products and its transposed weights, reused across calls. */
let scratchAcc: Int32Array = new Int32Array(0);
let scratchWt8: Int8Array = new Int8Array(0), scratchWtU8: Uint8Array = new Uint8Array(0);

/** Weight rows (cols x kp) as a kp x cols matrix, so both GEMM operands are byte rows the SIMD packers take. */
function transposed(ws: Int8Array | Uint8Array, cols: number, kp: number): Int8Array | Uint8Array {
  const need = cols * kp;
  let t: Int8Array | Uint8Array;
  if (ws instanceof Int8Array) {
    if (scratchWt8.length < need) scratchWt8 = new Int8Array(need);
    t = scratchWt8;
  } else {
    if (scratchWtU8.length < need) scratchWtU8 = new Uint8Array(need);
    t = scratchWtU8;
  }
  for (let n = 0; n < cols; n++) {
    const s = n * kp;
    for (let k = 0; k < kp; k++) t[k * cols + n] = ws[s + k];
  }
  return t;
}

/**
 * The tile's int32 sums on the runtime's exact integer GEMM (runtime/gemm/igemm.ts: int32 accumulators
 * that wrap, as the array's do), then bias, row sums and the PPU per element. Only the unpadded rows and
 * columns are computed.
 */
function computeTile(
  xs: Int8Array | Uint8Array,
  ws: Int8Array | Uint8Array,
  kp: number,
  m0: number,
  rows: number,
  n0: number,
  cols: number,
  cfg: { n: number; flags: number; zp: number; lo: number; hi: number },
  bias: Int32Array,
  mult: Int32Array,
  shift: Int32Array,
  sums: Int32Array | undefined,
  out: Int8Array | Uint8Array | Int32Array,
): void {
  if (rows <= 0 || cols <= 0) return;
  if (scratchAcc.length < rows * cols) scratchAcc = new Int32Array(rows * cols);
  const acc = scratchAcc;
  igemm(
    rows,
    cols,
    kp,
    { view: { data: xs, off: 0, rs: kp, cs: 1 } },
    { view: { data: transposed(ws, cols, kp), off: 0, rs: cols, cs: 1 } },
    { data: acc, off: 0, rs: cols },
  );
  const ppu = (cfg.flags & CFG_PPU) !== 0;
  const { zp, lo, hi, n: N } = cfg;
  for (let i = 0; i < rows; i++) {
    const rowSum = sums ? sums[i] : 0;
    const ob = (m0 + i) * N + n0, ab = i * cols;
    for (let col = 0; col < cols; col++) {
      // int32 accumulators wrap; the PPU sees the wrapped value.
      const v = (acc[ab + col] + bias[col] + rowSum) | 0;
      if (!ppu) out[ob + col] = v;
      else {
        const q = multiplyByQuantizedMultiplier(v, mult[col], shift[col]) + zp;
        out[ob + col] = q < lo ? lo : q > hi ? hi : q;
      }
    }
  }
}
