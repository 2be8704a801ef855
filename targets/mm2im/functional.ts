/**
 * MM2IM's functional model: it interprets a call's command stream. LOAD_CON sets the geometry; LOAD_WGT
 * fills each PE's weight-column buffer with its filter's KS·KS columns (UF-code rows) and column sums and
 * loads the group's bias, crf and crx; inside a schedule, each input pixel with its map row is multiplied,
 * in every PE, with only the columns whose map entry is not −1, and each dot product plus the column's sum
 * is added into the PE's accumulation buffer at the mapped output (pe_compute.sc.h: `out_buf[i] =
 * wgt_col_sum[…]`, then `out_buf[i] += sum` over the depth; Fill_Out: `acc_store[dex % PE_ACC_BUF_SIZE] +=`);
 * STORE requantizes a run of outputs with TFLite's MultiplyByQuantizedMultiplier (double rounding, the
 * function the reference kernels use), adds the output zero point, clamps to int8 and clears the slots.
 * Accumulators are 32-bit and wrap.
 *
 * Streams that compute before their weights, store rows never accumulated, overflow a buffer or mix images
 * inside one schedule are refused with the packet's index.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Tensor } from "../../runtime/tensor.ts";
import { multiplyByQuantizedMultiplier } from "../../runtime/tflite/fixed-point.ts";
import type { Program } from "../target.ts";
import {
  PE_ACC_BUF_SIZE,
  PE_COUNT,
  PE_INPROWBUF_SIZE,
  PE_WGTCOLBUF_SIZE,
  STORE_TRAILER_WORDS,
  UF,
} from "./descriptor.ts";
import {
  LOAD_CON,
  LOAD_INP,
  LOAD_MAP,
  LOAD_WGT,
  mm2imHeaderFields,
  mm2imOpcodeName,
  SCHEDULE,
  STORE,
} from "./protocol.ts";

interface Config {
  depthSteps: number;
  ow: number;
  taps: number;
  pixels: number;
  outZero: number;
  oh: number;
  ks: number;
}

function words(t: Tensor | undefined): Uint32Array | Int32Array | undefined {
  const d = t?.data;
  return d instanceof Uint32Array || d instanceof Int32Array ? d : undefined;
}

export function runMm2imProgram(
  program: Program,
  operands: readonly (Tensor | undefined)[],
  out: Tensor,
): void {
  const fail = (at: number, reason: string): never => {
    throw new LatheError("runtime", `mm2im program ${program.id}, packet ${at}: ${reason}`);
  };
  const o = out.data;
  if (!(o instanceof Int8Array)) throw new LatheError("runtime", "an MM2IM call writes int8 codes");
  const filtersAll = out.shape[3];
  // Per PE: weight columns (UF codes a row), column sums, bias/crf/crx, accumulators and which output
  // each accumulator slot holds (−1: free).
  const wcols = Array.from({ length: PE_COUNT }, () => new Int8Array(PE_WGTCOLBUF_SIZE * UF));
  const colSum = Array.from({ length: PE_COUNT }, () => new Int32Array(256));
  const bias = new Int32Array(PE_COUNT), crf = new Int32Array(PE_COUNT), crx = new Int32Array(PE_COUNT);
  const acc = Array.from({ length: PE_COUNT }, () => new Int32Array(PE_ACC_BUF_SIZE));
  const slot = new Int32Array(PE_ACC_BUF_SIZE).fill(-1);
  let cfg: Config | undefined;
  let filters = 0, groupStart = 0, weightsLoaded = false, scheduling = false, image = -1, stores = 0;
  program.cmds.forEach((cmd, at) => {
    const fields = mm2imHeaderFields(cmd);
    let next = 0;
    const payload = (what: string) => {
      const p = cmd.payload[next++];
      if (!p) fail(at, `${mm2imOpcodeName(cmd.opcode)} is missing its ${what}`);
      const src = words(operands[p.operand]);
      if (!src) fail(at, `operand ${p.operand} is absent or not 32-bit words`);
      if (p.offset + p.words > src!.length) {
        fail(at, `payload [${p.offset}, +${p.words}) beyond operand ${p.operand}`);
      }
      return { src: src!, off: p.offset, words: p.words };
    };
    const con = fields.get(LOAD_CON);
    if (con) {
      const [depthSteps, ow, taps, pixels, outZero, oh, , ks] = con;
      if (depthSteps > PE_INPROWBUF_SIZE) fail(at, `${depthSteps} depth steps exceed the input-row buffer`);
      if (oh * ow > PE_ACC_BUF_SIZE) fail(at, `${oh}x${ow} outputs exceed the accumulation buffer`);
      if (taps !== ks * ks || taps > 256) fail(at, `${taps} taps for kernel ${ks}`);
      cfg = { depthSteps, ow, taps, pixels, outZero: outZero | 0, oh, ks };
    }
    if (!cfg) fail(at, "data before LOAD_CON");
    const c = cfg!;
    const rowWords = c.depthSteps * (UF / 4), kp = c.depthSteps * UF;
    const w = fields.get(LOAD_WGT);
    if (w) {
      const [rows, depthSteps, fs] = w;
      if (scheduling) fail(at, "weights loaded inside a schedule");
      if (depthSteps !== c.depthSteps || fs < 1 || fs > PE_COUNT || rows !== fs * c.taps) {
        fail(
          at,
          `LOAD_WGT of ${rows} rows, ${depthSteps} depth steps for ${fs} filters does not match the config`,
        );
      }
      if (c.taps * c.depthSteps > PE_WGTCOLBUF_SIZE) fail(at, "the weight columns exceed a PE's buffer");
      const wt = payload("weight columns");
      if (wt.words !== rows * (rowWords + 1)) fail(at, `${wt.words} weight words for ${rows} rows`);
      const bytes = new Int8Array(wt.src.buffer, wt.src.byteOffset, wt.src.byteLength);
      for (let f = 0; f < fs; f++) {
        for (let t = 0; t < c.taps; t++) {
          const r = f * c.taps + t, at0 = wt.off + r * (rowWords + 1);
          wcols[f].set(bytes.subarray(at0 * 4, (at0 + rowWords) * 4), t * kp);
          colSum[f][t] = wt.src[at0 + rowWords] | 0;
        }
      }
      const b = payload("bias"), m = payload("multipliers"), s = payload("shifts");
      if (b.words !== fs || m.words !== fs || s.words !== Math.ceil(fs / 4)) {
        fail(at, "parameter runs do not match the filters");
      }
      const sBytes = new Int8Array(s.src.buffer, s.src.byteOffset + s.off * 4, s.words * 4);
      for (let f = 0; f < fs; f++) {
        bias[f] = b.src[b.off + f] | 0;
        crf[f] = m.src[m.off + f] | 0;
        crx[f] = sBytes[f];
      }
      if (m.off !== b.off || s.off * 4 !== b.off) {
        fail(at, "bias, crf and crx runs are for different filters");
      }
      filters = fs;
      groupStart = b.off;
      weightsLoaded = true;
      image = -1;
    }
    const inp = fields.get(LOAD_INP);
    const mp = fields.get(LOAD_MAP);
    if (inp || mp) {
      if (!inp || !mp) fail(at, "input pixels and their map rows travel together");
      if (!scheduling || !weightsLoaded) fail(at, "inputs outside a schedule or before weights");
      const [rows, depthSteps, first] = inp!;
      const [mapFirst, mapRows] = mp!;
      if (depthSteps !== c.depthSteps || mapRows !== rows) fail(at, "input and map packets disagree");
      const n = Math.floor(first / c.pixels);
      if (first % c.pixels !== mapFirst) fail(at, `input row ${first} is not map row ${mapFirst}`);
      if (image === -1) image = n;
      else if (image !== n) fail(at, `image ${n} inside the schedule of image ${image}`);
      if (mapFirst + rows > c.pixels) fail(at, "input rows beyond the image");
      const x = payload("input pixels"), mapRun = payload("map rows");
      if (x.words !== rows * rowWords || mapRun.words !== rows * c.taps) {
        fail(at, "payload sizes do not match the rows");
      }
      const xb = new Int8Array(x.src.buffer, x.src.byteOffset + x.off * 4, x.words * 4);
      const outPlane = c.oh * c.ow;
      for (let j = 0; j < rows; j++) {
        const xo = j * kp;
        for (let t = 0; t < c.taps; t++) {
          const dst = mapRun.src[mapRun.off + j * c.taps + t] | 0;
          if (dst < 0) continue;
          if (dst >= outPlane) fail(at, `map entry ${dst} is outside the ${c.oh}x${c.ow} output`);
          const s = dst % PE_ACC_BUF_SIZE;
          if (slot[s] !== dst) {
            if (slot[s] !== -1) fail(at, `accumulator slot ${s} still holds output ${slot[s]}`);
            slot[s] = dst;
            for (let f = 0; f < PE_COUNT; f++) acc[f][s] = 0;
          }
          for (let f = 0; f < filters; f++) {
            const wv = wcols[f];
            const wo = t * kp;
            let sum = colSum[f][t];
            for (let d = 0; d < kp; d++) sum += xb[xo + d] * wv[wo + d];
            acc[f][s] = (acc[f][s] + sum) | 0;
          }
        }
      }
    }
    if (cmd.opcode & SCHEDULE && !inp && !fields.has(STORE)) {
      if (scheduling) fail(at, "StartSchedule inside a schedule");
      if (!weightsLoaded) fail(at, "StartSchedule before LoadWeight");
      scheduling = true;
      image = -1;
    }
    const st = fields.get(STORE);
    if (st) {
      if (!scheduling) fail(at, "STORE outside a schedule");
      const [start, count] = st;
      if (start + count > c.oh * c.ow) fail(at, `outputs [${start}, +${count}) beyond the plane`);
      if (cmd.recvWords !== count * filters + STORE_TRAILER_WORDS) {
        fail(at, `receives ${cmd.recvWords} words for ${count} outputs of ${filters} filters`);
      }
      if (image < 0) fail(at, "STORE before any input of the schedule");
      const o0 = groupStart;
      for (let i = 0; i < count; i++) {
        const dst = start + i, s = dst % PE_ACC_BUF_SIZE;
        const held = slot[s] === dst;
        const base = ((image * c.oh * c.ow) + dst) * filtersAll + o0;
        for (let f = 0; f < filters; f++) {
          const v = ((held ? acc[f][s] : 0) + bias[f]) | 0;
          const q = multiplyByQuantizedMultiplier(v, crf[f], crx[f]) + c.outZero;
          o[base + f] = q < -128 ? -128 : q > 127 ? 127 : q;
        }
        if (held) slot[s] = -1;
      }
      stores++;
      if (!(cmd.opcode & SCHEDULE)) {
        scheduling = false;
        if (slot.some((v) => v !== -1)) fail(at, "the schedule ends with outputs never stored");
      }
    }
    if (next !== cmd.payload.length) fail(at, `${cmd.payload.length - next} payload runs left unread`);
  });
  if (!cfg || stores === 0) throw new LatheError("runtime", `mm2im program ${program.id} stores nothing`);
  if (scheduling) throw new LatheError("runtime", `mm2im program ${program.id} ends inside a schedule`);
}
