/**
 * RNN, GRU and LSTM. Per direction the input projection X·Wᵀ (+ biases) is one GEMM over all time steps;
 * each step then adds H·Rᵀ (one small GEMM over the batch) and applies the gate nonlinearities in place.
 * Work buffers are Float64Array, so f16/bf16 weights read once and accumulations carry no f32 rounding.
 */
import { LatheError } from "../../ir/errors.ts";
import { type CellKind, CELLS, numDirections } from "../../ir/ops/recurrent.ts";
import { type KernelContext, registerKernel } from "../kernel-registry.ts";
import { expectTensor, type RValue, Tensor } from "../tensor.ts";

// --- activations --------------------------------------------------------------------------------------

const enum Act {
  Relu,
  Tanh,
  Sigmoid,
  Affine,
  LeakyRelu,
  ThresholdedRelu,
  ScaledTanh,
  HardSigmoid,
  Elu,
  Softsign,
  Softplus,
}

/** Per function: its code, whether it consumes an alpha and a beta, and the defaults of the ONNX op it names. */
const ACTS: Record<string, [Act, boolean, boolean, number, number]> = {
  relu: [Act.Relu, false, false, 0, 0],
  tanh: [Act.Tanh, false, false, 0, 0],
  sigmoid: [Act.Sigmoid, false, false, 0, 0],
  affine: [Act.Affine, true, true, 1, 0],
  leakyrelu: [Act.LeakyRelu, true, false, 0.01, 0],
  thresholdedrelu: [Act.ThresholdedRelu, true, false, 1, 0],
  scaledtanh: [Act.ScaledTanh, true, true, 1, 1],
  hardsigmoid: [Act.HardSigmoid, true, true, 0.2, 0.5],
  elu: [Act.Elu, true, false, 1, 0],
  softsign: [Act.Softsign, false, false, 0, 0],
  softplus: [Act.Softplus, false, false, 0, 0],
};

interface Activation {
  act: Act;
  alpha: number;
  beta: number;
}

/** activations with their alphas/betas; the lists are consumed in order only by functions that take them. */
function parseActivations(
  names: readonly string[],
  alphas: readonly number[],
  betas: readonly number[],
): Activation[] {
  let ai = 0, bi = 0;
  return names.map((n) => {
    const e = ACTS[n.toLowerCase()];
    if (!e) throw new LatheError("unsupported", `unknown recurrent activation '${n}'`);
    const alpha = e[1] ? (ai < alphas.length ? alphas[ai++] : e[3]) : 0;
    const beta = e[2] ? (bi < betas.length ? betas[bi++] : e[4]) : 0;
    return { act: e[0], alpha, beta };
  });
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** Applies an activation to buf[from, from+n) in place. */
function activate(f: Activation, buf: Float64Array, from: number, n: number): void {
  const end = from + n, al = f.alpha, be = f.beta;
  switch (f.act) {
    case Act.Relu:
      for (let i = from; i < end; i++) if (!(buf[i] > 0)) buf[i] = buf[i] !== buf[i] ? buf[i] : 0;
      break;
    case Act.Tanh:
      for (let i = from; i < end; i++) buf[i] = Math.tanh(buf[i]);
      break;
    case Act.Sigmoid:
      for (let i = from; i < end; i++) buf[i] = sigmoid(buf[i]);
      break;
    case Act.Affine:
      for (let i = from; i < end; i++) buf[i] = al * buf[i] + be;
      break;
    case Act.LeakyRelu:
      for (let i = from; i < end; i++) if (buf[i] < 0) buf[i] *= al;
      break;
    case Act.ThresholdedRelu:
      for (let i = from; i < end; i++) if (!(buf[i] > al)) buf[i] = 0;
      break;
    case Act.ScaledTanh:
      for (let i = from; i < end; i++) buf[i] = al * Math.tanh(be * buf[i]);
      break;
    case Act.HardSigmoid:
      for (let i = from; i < end; i++) buf[i] = Math.min(1, Math.max(0, al * buf[i] + be));
      break;
    case Act.Elu:
      for (let i = from; i < end; i++) if (buf[i] < 0) buf[i] = al * (Math.exp(buf[i]) - 1);
      break;
    case Act.Softsign:
      for (let i = from; i < end; i++) buf[i] = buf[i] / (1 + Math.abs(buf[i]));
      break;
    case Act.Softplus:
      for (let i = from; i < end; i++) {
        const x = buf[i];
        buf[i] = x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
      }
      break;
  }
}

function clipRange(c: number, buf: Float64Array, from: number, n: number): void {
  for (let i = from, end = from + n; i < end; i++) {
    if (buf[i] > c) buf[i] = c;
    else if (buf[i] < -c) buf[i] = -c;
  }
}

// --- element access -----------------------------------------------------------------------------------

type Floats = Float64Array | Float32Array | Float16Array;

/** A float tensor's elements as an array of numbers: the tensor's own storage unless it holds bf16 bits. */
function floatsOf(t: Tensor, what: string): Floats {
  const d = t.data;
  if (d instanceof Float32Array || d instanceof Float64Array || d instanceof Float16Array) return d;
  if (t.dtype === "bf16") {
    const bits = d as Uint16Array;
    const u = new Uint32Array(bits.length);
    for (let i = 0; i < bits.length; i++) u[i] = bits[i] << 16;
    return new Float32Array(u.buffer);
  }
  throw new LatheError("runtime", `${what} must be a float tensor`);
}

function writeFloats(out: Tensor, src: Float64Array): void {
  if (out.dtype === "bf16") {
    const o = out.data as Uint16Array;
    const f = new Float32Array(1), u = new Uint32Array(f.buffer);
    for (let i = 0; i < src.length; i++) {
      f[0] = src[i];
      const b = u[0];
      // Round to nearest even on the dropped 16 bits; NaN stays a quiet NaN.
      o[i] = src[i] !== src[i] ? 0x7fc0 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
    }
  } else (out.data as Floats).set(src);
}

function checkShape(t: Tensor, want: readonly number[], name: string): void {
  if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
    throw new LatheError("runtime", `${name} has shape [${t.shape}], expected [${want}]`);
  }
}

// --- the cell loop ------------------------------------------------------------------------------------

/** out[r*n + j] (+)= Σ_k a[aOff + r*k + kk] · w[wOff + j*k + kk] for the rows in `rows`. */
function gemmRowsNT(
  a: Float64Array,
  aOff: number,
  w: Floats,
  wOff: number,
  out: Float64Array,
  outOff: number,
  m: number,
  n: number,
  k: number,
  accumulate: boolean,
  active?: Uint8Array,
): void {
  for (let r = 0; r < m; r++) {
    if (active && !active[r]) continue;
    const ar = aOff + r * k, orow = outOff + r * n;
    for (let j = 0; j < n; j++) {
      const wr = wOff + j * k;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      let kk = 0;
      for (; kk + 3 < k; kk += 4) {
        s0 += a[ar + kk] * w[wr + kk];
        s1 += a[ar + kk + 1] * w[wr + kk + 1];
        s2 += a[ar + kk + 2] * w[wr + kk + 2];
        s3 += a[ar + kk + 3] * w[wr + kk + 3];
      }
      for (; kk < k; kk++) s0 += a[ar + kk] * w[wr + kk];
      const s = s0 + s1 + s2 + s3;
      out[orow + j] = accumulate ? out[orow + j] + s : s;
    }
  }
}

function runCell(kind: CellKind, inputs: readonly (RValue | undefined)[], ctx: KernelContext): Tensor[] {
  const X = expectTensor(inputs[0], "X"), W = expectTensor(inputs[1], "W"), R = expectTensor(inputs[2], "R");
  const at = ctx.attrs;
  const layout = at.layout as number;
  if (X.shape.length !== 3) throw new LatheError("runtime", `X must have rank 3, has shape [${X.shape}]`);
  const [seq, batch] = layout === 0 ? [X.shape[0], X.shape[1]] : [X.shape[1], X.shape[0]];
  const inSize = X.shape[2];
  const dirs = numDirections(at.direction);
  if (R.shape.length !== 3) throw new LatheError("runtime", `R must have rank 3, has shape [${R.shape}]`);
  const H = (at.hidden_size as number | undefined) ?? R.shape[2];
  const G = CELLS[kind].gates;
  const GH = G * H;
  checkShape(W, [dirs, GH, inSize], "W");
  checkShape(R, [dirs, GH, H], "R");
  const x = floatsOf(X, "X"), w = floatsOf(W, "W"), rw = floatsOf(R, "R");
  let bias: Floats | undefined;
  if (inputs[3]) {
    const B = expectTensor(inputs[3], "B");
    checkShape(B, [dirs, 2 * GH], "B");
    bias = floatsOf(B, "B");
  }
  let lens: number[] | undefined;
  if (inputs[4]) {
    const L = expectTensor(inputs[4], "sequence_lens");
    checkShape(L, [batch], "sequence_lens");
    lens = Array.from(L.data as ArrayLike<number | bigint>, Number);
    for (const l of lens) {
      if (!(l >= 0 && l <= seq)) throw new LatheError("runtime", `sequence length ${l} outside [0, ${seq}]`);
    }
  }
  const stateShape = layout === 0 ? [dirs, batch, H] : [batch, dirs, H];
  // States are read as [dir][batch][H] whatever the layout.
  const stateIndex = (d: number, b: number) => (layout === 0 ? (d * batch + b) * H : (b * dirs + d) * H);
  let h0: Floats | undefined, c0: Floats | undefined, peep: Floats | undefined;
  if (inputs[5]) {
    const t = expectTensor(inputs[5], "initial_h");
    checkShape(t, stateShape, "initial_h");
    h0 = floatsOf(t, "initial_h");
  }
  if (kind === "LSTM" && inputs[6]) {
    const t = expectTensor(inputs[6], "initial_c");
    checkShape(t, stateShape, "initial_c");
    c0 = floatsOf(t, "initial_c");
  }
  if (kind === "LSTM" && inputs[7]) {
    const t = expectTensor(inputs[7], "P");
    checkShape(t, [dirs, 3 * H], "P");
    peep = floatsOf(t, "P");
  }
  const slots = CELLS[kind].activations.length;
  const names: readonly string[] = at.activations?.length
    ? at.activations
    : Array.from({ length: dirs }, () => CELLS[kind].activations).flat();
  if (names.length !== slots * dirs) {
    throw new LatheError("runtime", `${kind} needs ${slots * dirs} activations, got ${names.length}`);
  }
  const acts = parseActivations(names, at.activation_alpha ?? [], at.activation_beta ?? []);
  const clip = at.clip as number | undefined;
  const lbr = kind === "GRU" && !!at.linear_before_reset;
  const inputForget = kind === "LSTM" && !!at.input_forget;

  const Y = new Float64Array(seq * dirs * batch * H);
  const Yh = new Float64Array(dirs * batch * H);
  const Yc = new Float64Array(dirs * batch * H);
  const yIndex = (t: number, d: number, b: number) =>
    layout === 0 ? ((t * dirs + d) * batch + b) * H : ((b * seq + t) * dirs + d) * H;

  const xw = new Float64Array(seq * batch * GH);
  const xrow = new Float64Array(inSize);
  const gates = new Float64Array(batch * GH);
  const h = new Float64Array(batch * H), c = new Float64Array(batch * H);
  const rh = kind === "GRU" ? new Float64Array(batch * H) : undefined;
  const tmp = new Float64Array(H);
  const active = new Uint8Array(batch);
  const tIndex = new Int32Array(batch);

  for (let d = 0; d < dirs; d++) {
    const [fAct, gAct, hAct] = [acts[d * slots], acts[d * slots + 1], acts[d * slots + 2]];
    const reverse = at.direction === "reverse" || d === 1;
    // Input projection for every (t, b), with the biases that add outside any gate product folded in.
    for (let t = 0; t < seq; t++) {
      for (let b = 0; b < batch; b++) {
        const xo = layout === 0 ? (t * batch + b) * inSize : (b * seq + t) * inSize;
        for (let k = 0; k < inSize; k++) xrow[k] = x[xo + k];
        const off = (t * batch + b) * GH;
        gemmRowsNT(xrow, 0, w, d * GH * inSize, xw, off, 1, GH, inSize, false);
        if (bias) {
          const bo = d * 2 * GH;
          for (let j = 0; j < GH; j++) {
            // GRU's h-gate recurrence bias sits inside r·(…) when linear_before_reset is set.
            const rb = lbr && j >= 2 * H ? 0 : bias[bo + GH + j];
            xw[off + j] += bias[bo + j] + rb;
          }
        }
      }
    }
    for (let b = 0; b < batch; b++) {
      const so = stateIndex(d, b);
      for (let u = 0; u < H; u++) {
        h[b * H + u] = h0 ? h0[so + u] : 0;
        c[b * H + u] = c0 ? c0[so + u] : 0;
      }
    }
    const rOff = d * GH * H;
    for (let s = 0; s < seq; s++) {
      let any = false;
      for (let b = 0; b < batch; b++) {
        const len = lens ? lens[b] : seq;
        active[b] = s < len ? 1 : 0;
        tIndex[b] = reverse ? len - 1 - s : s;
        any ||= s < len;
      }
      if (!any) break;
      // Recurrent projection for all gates (GRU without linear_before_reset: z and r only here).
      const nRec = kind === "GRU" && !lbr ? 2 * H : GH;
      for (let b = 0; b < batch; b++) {
        if (!active[b]) continue;
        gemmRowsNT(h, b * H, rw, rOff, gates, b * GH, 1, nRec, H, false);
      }
      for (let b = 0; b < batch; b++) {
        if (!active[b]) continue;
        const t = tIndex[b];
        const g0 = b * GH, xo = (t * batch + b) * GH, ho = b * H;
        if (kind === "RNN") {
          for (let j = 0; j < H; j++) gates[g0 + j] += xw[xo + j];
          if (clip !== undefined) clipRange(clip, gates, g0, H);
          activate(fAct, gates, g0, H);
          for (let u = 0; u < H; u++) h[ho + u] = gates[g0 + u];
        } else if (kind === "GRU") {
          for (let j = 0; j < 2 * H; j++) gates[g0 + j] += xw[xo + j];
          if (clip !== undefined) clipRange(clip, gates, g0, 2 * H);
          activate(fAct, gates, g0, 2 * H);
          const z = g0, r = g0 + H, hh = g0 + 2 * H;
          if (lbr) {
            const rbo = d * 2 * GH + GH + 2 * H;
            for (let u = 0; u < H; u++) {
              const rec = gates[hh + u] + (bias ? bias[rbo + u] : 0);
              gates[hh + u] = xw[xo + 2 * H + u] + gates[r + u] * rec;
            }
          } else {
            for (let u = 0; u < H; u++) rh![ho + u] = gates[r + u] * h[ho + u];
            gemmRowsNT(rh!, ho, rw, rOff + 2 * H * H, gates, hh, 1, H, H, false);
            for (let u = 0; u < H; u++) gates[hh + u] += xw[xo + 2 * H + u];
          }
          if (clip !== undefined) clipRange(clip, gates, hh, H);
          activate(gAct, gates, hh, H);
          for (let u = 0; u < H; u++) {
            const zu = gates[z + u];
            h[ho + u] = (1 - zu) * gates[hh + u] + zu * h[ho + u];
          }
        } else {
          // Gate blocks in ONNX order: input, output, forget, cell.
          const gi = g0, go = g0 + H, gf = g0 + 2 * H, gc = g0 + 3 * H;
          for (let j = 0; j < GH; j++) gates[g0 + j] += xw[xo + j];
          if (peep) {
            const po = d * 3 * H;
            for (let u = 0; u < H; u++) {
              gates[gi + u] += peep[po + u] * c[ho + u];
              gates[gf + u] += peep[po + 2 * H + u] * c[ho + u];
            }
          }
          if (clip !== undefined) {
            clipRange(clip, gates, gi, H);
            clipRange(clip, gates, gf, 2 * H);
          }
          activate(fAct, gates, gi, H);
          activate(fAct, gates, gf, H);
          activate(gAct, gates, gc, H);
          if (inputForget) { for (let u = 0; u < H; u++) gates[gf + u] = 1 - gates[gi + u]; }
          for (let u = 0; u < H; u++) c[ho + u] = gates[gf + u] * c[ho + u] + gates[gi + u] * gates[gc + u];
          if (peep) {
            const po = d * 3 * H + H;
            for (let u = 0; u < H; u++) gates[go + u] += peep[po + u] * c[ho + u];
          }
          if (clip !== undefined) clipRange(clip, gates, go, H);
          activate(fAct, gates, go, H);
          for (let u = 0; u < H; u++) tmp[u] = c[ho + u];
          activate(hAct, tmp, 0, H);
          for (let u = 0; u < H; u++) h[ho + u] = gates[go + u] * tmp[u];
        }
        const yo = yIndex(t, d, b);
        for (let u = 0; u < H; u++) Y[yo + u] = h[ho + u];
      }
    }
    for (let b = 0; b < batch; b++) {
      const so = stateIndex(d, b);
      for (let u = 0; u < H; u++) {
        Yh[so + u] = h[b * H + u];
        Yc[so + u] = c[b * H + u];
      }
    }
  }
  const yShape = layout === 0 ? [seq, dirs, batch, H] : [batch, seq, dirs, H];
  const outs: Tensor[] = [];
  const emit = (shape: number[], src: Float64Array) => {
    const t = ctx.alloc(X.dtype, shape);
    writeFloats(t, src);
    outs.push(t);
  };
  emit(yShape, Y);
  emit(stateShape, Yh);
  if (kind === "LSTM") emit(stateShape, Yc);
  return outs;
}

registerKernel("RNN", (inputs, ctx) => runCell("RNN", inputs, ctx));
registerKernel("GRU", (inputs, ctx) => runCell("GRU", inputs, ctx));
registerKernel("LSTM", (inputs, ctx) => runCell("LSTM", inputs, ctx));
