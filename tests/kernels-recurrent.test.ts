/**
 * RNN, GRU and LSTM. Single-unit cases are checked against the ONNX equations written out by hand; wider
 * configurations (bidirectional, sequence_lens, peepholes, clip, non-default activations, both GRU reset
 * forms) against onnxruntime running the same node, and layout 1 against layout 0 on transposed data.
 */
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { importOnnxFile } from "../compiler/onnx/import.ts";
import { encodeModel, type ModelProto } from "../compiler/onnx/proto.ts";
import { type AttrInit, GraphBuilder } from "../ir/builder.ts";
import { LatheError } from "../ir/errors.ts";
import { interpret, Session } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { compareTensors } from "./support/close.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";

const f32 = (shape: number[], xs: ArrayLike<number>) => new Tensor("f32", shape, Float32Array.from(xs));
const i32 = (shape: number[], xs: number[]) => new Tensor("i32", shape, Int32Array.from(xs));

/** Deterministic pseudo-random values in [-1, 1). */
function values(n: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

type Inputs = (readonly [string, Tensor] | null)[];

function runLathe(op: string, inputs: Inputs, attrs: Record<string, AttrInit>, nOut: number): Tensor[] {
  const b = new GraphBuilder();
  const feeds: Record<string, Tensor> = {};
  const names = inputs.map((x) => {
    if (!x) return null;
    feeds[x[0]] = x[1];
    return b.input(x[0], x[1].dtype, x[1].shape);
  });
  const outs = b.op(op, names, attrs, nOut);
  const r = interpret(b.build(outs), feeds, { check: true });
  return outs.map((o) => r.outputs[o] as Tensor);
}

const ORT_TYPE: Record<string, ort.Tensor.Type> = { f32: "float32", i32: "int32" };
const ELEM: Record<string, number> = { f32: 1, i32: 6 };

function attrProto(name: string, v: AttrInit): unknown {
  if (typeof v === "number") return Number.isInteger(v) ? { name, type: 2, i: v } : { name, type: 1, f: v };
  if (typeof v === "string") return { name, type: 3, s: new TextEncoder().encode(v) };
  if (Array.isArray(v) && typeof v[0] === "string") {
    return { name, type: 8, strings: (v as string[]).map((s) => new TextEncoder().encode(s)) };
  }
  if (Array.isArray(v)) return { name, type: 6, floats: new Float32Array(v as number[]) };
  throw new Error(`attribute ${name} not supported here`);
}

async function runOrt(
  op: string,
  inputs: Inputs,
  attrs: Record<string, AttrInit>,
  nOut: number,
): Promise<Tensor[]> {
  const outs = Array.from({ length: nOut }, (_, i) => `out${i}`);
  const present = inputs.filter((x): x is readonly [string, Tensor] => x !== null);
  const vi = (name: string, t: Tensor) => ({
    name,
    type: {
      tensorType: {
        elemType: ELEM[t.dtype as string],
        shape: { dim: t.shape.map((d) => ({ dimValue: d })) },
      },
    },
  });
  const model = {
    irVersion: 8,
    opsetImport: [{ domain: "", version: 14 }],
    graph: {
      name: "g",
      node: [{
        input: inputs.map((x) => x?.[0] ?? ""),
        output: outs,
        opType: op,
        attribute: Object.entries(attrs).map(([k, v]) => attrProto(k, v)),
      }],
      input: present.map(([n, t]) => vi(n, t)),
      output: outs.map((o) => ({ name: o })),
    },
  } as unknown as ModelProto;
  const session = await ort.InferenceSession.create(encodeModel(model), { intraOpNumThreads: 1 });
  const feeds: Record<string, ort.Tensor> = {};
  for (const [n, t] of present) {
    feeds[n] = new ort.Tensor(ORT_TYPE[t.dtype as string], t.data as Float32Array, [...t.shape]);
  }
  const r = await session.run(feeds);
  return outs.map((o) => new Tensor("f32", [...r[o].dims], r[o].data as Float32Array));
}

function close(got: Tensor, want: Tensor, what: string, tol = 1e-5): void {
  const r = compareTensors(got, want, tol, tol);
  assert.ok(r.ok, `${what}: ${r.message}`);
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

Deno.test("RNN, one unit: h_t = tanh(w·x_t + r·h_{t-1} + wb + rb)", () => {
  const [w, r, wb, rb] = [2, 0.5, 0.1, -0.3];
  const xs = [1, -0.5, 0.25];
  const want: number[] = [];
  let h = 0.2;
  for (const x of xs) want.push(h = Math.tanh(w * x + r * h + wb + rb));
  const [Y, Yh] = runLathe(
    "RNN",
    [
      ["X", f32([3, 1, 1], xs)],
      ["W", f32([1, 1, 1], [w])],
      ["R", f32([1, 1, 1], [r])],
      ["B", f32([1, 2], [wb, rb])],
      null,
      ["h0", f32([1, 1, 1], [0.2])],
    ],
    { hidden_size: 1 },
    2,
  );
  assert.deepEqual(Y.shape, [3, 1, 1, 1]);
  close(Y, f32([3, 1, 1, 1], want), "Y");
  close(Yh, f32([1, 1, 1], [want[2]]), "Y_h");
});

Deno.test("RNN keeps the input's element type: f64 and f16", () => {
  const xs = [0.5, -1];
  let h = 0;
  const want = xs.map((x) => (h = Math.tanh(0.8 * x - 0.6 * h)));
  for (const dtype of ["f64", "f16"] as const) {
    const t = (shape: number[], v: number[]) =>
      new Tensor(dtype, shape, dtype === "f64" ? Float64Array.from(v) : Float16Array.from(v));
    const [Y] = runLathe(
      "RNN",
      [["X", t([2, 1, 1], xs)], ["W", t([1, 1, 1], [0.8])], ["R", t([1, 1, 1], [-0.6])]],
      {},
      2,
    );
    assert.equal(Y.dtype, dtype);
    const r = compareTensors(
      Y,
      new Tensor("f64", [2, 1, 1, 1], Float64Array.from(want)),
      dtype === "f64" ? 1e-12 : 2e-3,
      1e-3,
    );
    assert.ok(r.ok, `${dtype}: ${r.message}`);
  }
});

Deno.test("LSTM, one unit with peepholes, from the ONNX equations", () => {
  // Gate order i, o, f, c in W, R, B; P is i, o, f.
  const W = [0.5, -0.4, 0.3, 0.8],
    R = [0.1, 0.2, -0.3, 0.4],
    Wb = [0.05, 0.1, -0.05, 0],
    Rb = [0, -0.1, 0.2, 0.1];
  const P = [0.3, -0.2, 0.1];
  const xs = [1, 2];
  let h = 0.1, c = -0.2;
  const hs: number[] = [];
  for (const x of xs) {
    const pre = (g: number) => W[g] * x + R[g] * h + Wb[g] + Rb[g];
    const i = sigmoid(pre(0) + P[0] * c);
    const f = sigmoid(pre(2) + P[2] * c);
    const g = Math.tanh(pre(3));
    c = f * c + i * g;
    const o = sigmoid(pre(1) + P[1] * c);
    h = o * Math.tanh(c);
    hs.push(h);
  }
  const [Y, Yh, Yc] = runLathe(
    "LSTM",
    [
      ["X", f32([2, 1, 1], xs)],
      ["W", f32([1, 4, 1], W)],
      ["R", f32([1, 4, 1], R)],
      ["B", f32([1, 8], [...Wb, ...Rb])],
      null,
      ["h0", f32([1, 1, 1], [0.1])],
      ["c0", f32([1, 1, 1], [-0.2])],
      ["P", f32([1, 3], P)],
    ],
    { hidden_size: 1 },
    3,
  );
  close(Y, f32([2, 1, 1, 1], hs), "Y");
  close(Yh, f32([1, 1, 1], [h]), "Y_h");
  close(Yc, f32([1, 1, 1], [c]), "Y_c");
});

Deno.test("GRU, one unit, both reset-gate forms, from the ONNX equations", () => {
  // Gate order z, r, h.
  const W = [0.6, -0.5, 0.9], R = [0.3, 0.7, -0.8], Wb = [0.1, 0, -0.2], Rb = [0, 0.3, 0.25];
  const xs = [0.5, -1, 2];
  for (const lbr of [0, 1]) {
    let h = 0.3;
    const hs: number[] = [];
    for (const x of xs) {
      const z = sigmoid(W[0] * x + R[0] * h + Wb[0] + Rb[0]);
      const r = sigmoid(W[1] * x + R[1] * h + Wb[1] + Rb[1]);
      const hh = lbr
        ? Math.tanh(W[2] * x + r * (R[2] * h + Rb[2]) + Wb[2])
        : Math.tanh(W[2] * x + R[2] * (r * h) + Rb[2] + Wb[2]);
      h = (1 - z) * hh + z * h;
      hs.push(h);
    }
    const [Y] = runLathe(
      "GRU",
      [
        ["X", f32([3, 1, 1], xs)],
        ["W", f32([1, 3, 1], W)],
        ["R", f32([1, 3, 1], R)],
        ["B", f32([1, 6], [...Wb, ...Rb])],
        null,
        ["h0", f32([1, 1, 1], [0.3])],
      ],
      { hidden_size: 1, linear_before_reset: lbr },
      2,
    );
    close(Y, f32([3, 1, 1, 1], hs), `linear_before_reset=${lbr}`);
  }
});

interface Case {
  name: string;
  op: "RNN" | "GRU" | "LSTM";
  dirs: 1 | 2;
  attrs: Record<string, AttrInit>;
  lens?: number[];
  initial?: boolean;
  peep?: boolean;
}

const SEQ = 5, BATCH = 3, IN = 4, H = 6;
const GATES = { RNN: 1, GRU: 3, LSTM: 4 };

function operands(c: Case, seed: number): Inputs {
  const g = GATES[c.op], d = c.dirs;
  const ins: Inputs = [
    ["X", f32([SEQ, BATCH, IN], values(SEQ * BATCH * IN, seed))],
    ["W", f32([d, g * H, IN], values(d * g * H * IN, seed + 1))],
    ["R", f32([d, g * H, H], values(d * g * H * H, seed + 2))],
    ["B", f32([d, 2 * g * H], values(d * 2 * g * H, seed + 3))],
    c.lens ? ["lens", i32([BATCH], c.lens)] : null,
    c.initial ? ["h0", f32([d, BATCH, H], values(d * BATCH * H, seed + 4))] : null,
  ];
  if (c.op === "LSTM") {
    ins.push(c.initial ? ["c0", f32([d, BATCH, H], values(d * BATCH * H, seed + 5))] : null);
    ins.push(c.peep ? ["P", f32([d, 3 * H], values(d * 3 * H, seed + 6))] : null);
  }
  while (ins.length && ins[ins.length - 1] === null) ins.pop();
  return ins;
}

const CASES: Case[] = [
  {
    name: "RNN bidirectional, initial state",
    op: "RNN",
    dirs: 2,
    attrs: { direction: "bidirectional" },
    initial: true,
  },
  {
    name: "RNN reverse, Relu, sequence_lens",
    op: "RNN",
    dirs: 1,
    attrs: { direction: "reverse", activations: ["Relu"] },
    lens: [5, 2, 3],
  },
  { name: "GRU forward, sequence_lens", op: "GRU", dirs: 1, attrs: {}, lens: [3, 5, 1], initial: true },
  {
    name: "GRU bidirectional, linear_before_reset",
    op: "GRU",
    dirs: 2,
    attrs: { direction: "bidirectional", linear_before_reset: 1 },
    initial: true,
  },
  {
    name: "GRU with HardSigmoid(alpha, beta) and LeakyRelu(alpha)",
    op: "GRU",
    dirs: 1,
    attrs: {
      activations: ["HardSigmoid", "LeakyRelu"],
      activation_alpha: [0.3, 0.05],
      activation_beta: [0.4],
    },
  },
  {
    name: "LSTM bidirectional, peepholes, sequence_lens",
    op: "LSTM",
    dirs: 2,
    attrs: { direction: "bidirectional" },
    lens: [4, 5, 2],
    initial: true,
    peep: true,
  },
  {
    name: "LSTM reverse with clip",
    op: "LSTM",
    dirs: 1,
    attrs: { direction: "reverse", clip: 0.5 },
    initial: true,
  },
  { name: "LSTM input_forget", op: "LSTM", dirs: 1, attrs: { input_forget: 1 }, initial: true, peep: true },
  {
    name: "LSTM with Sigmoid, Softsign, Elu activations",
    op: "LSTM",
    dirs: 1,
    attrs: { activations: ["Sigmoid", "Softsign", "Elu"], activation_alpha: [0.7] },
  },
];

for (const [k, c] of CASES.entries()) {
  Deno.test(`${c.name} matches onnxruntime`, async () => {
    const nOut = c.op === "LSTM" ? 3 : 2;
    const ins = operands(c, 100 + 10 * k);
    const attrs = { hidden_size: H, ...c.attrs };
    const want = await runOrt(c.op, ins, attrs, nOut);
    const got = runLathe(c.op, ins, attrs, nOut);
    for (let i = 0; i < nOut; i++) close(got[i], want[i], `output ${i}`, 1e-5);
  });
}

/** [a, b, ...rest] -> [b, a, ...rest] for a row-major tensor. */
function swap01(t: Tensor): Tensor {
  const [a, b, ...rest] = t.shape;
  const inner = rest.reduce((p, d) => p * d, 1);
  const src = t.data as Float32Array, out = new Float32Array(src.length);
  for (let i = 0; i < a; i++) {
    for (let j = 0; j < b; j++) {
      out.set(src.subarray((i * b + j) * inner, (i * b + j + 1) * inner), (j * a + i) * inner);
    }
  }
  return new Tensor(t.dtype, [b, a, ...rest], out);
}

Deno.test("layout 1 (batch-major) equals layout 0 on transposed data", () => {
  const c: Case = {
    name: "",
    op: "LSTM",
    dirs: 2,
    attrs: { direction: "bidirectional" },
    lens: [5, 3, 4],
    initial: true,
    peep: true,
  };
  const ins = operands(c, 7);
  const base = runLathe("LSTM", ins, { hidden_size: H, direction: "bidirectional" }, 3);
  // Layout 1: X [batch, seq, in], states [batch, dirs, H], Y [batch, seq, dirs, H].
  const t = ins.map((x) => (x && ["X", "h0", "c0"].includes(x[0]) ? [x[0], swap01(x[1])] as const : x));
  const [Y, Yh, Yc] = runLathe("LSTM", t, { hidden_size: H, direction: "bidirectional", layout: 1 }, 3);
  // Y layout 0 is [seq, dirs, batch, H]; layout 1 is [batch, seq, dirs, H].
  const y0 = base[0], [S, D, B] = y0.shape;
  const yWant = new Float32Array(y0.size);
  for (let s = 0; s < S; s++) {
    for (let d = 0; d < D; d++) {
      for (let b = 0; b < B; b++) {
        for (let u = 0; u < H; u++) {
          yWant[((b * S + s) * D + d) * H + u] = (y0.data as Float32Array)[((s * D + d) * B + b) * H + u];
        }
      }
    }
  }
  close(Y, f32([B, S, D, H], yWant), "Y");
  close(Yh, swap01(base[1]), "Y_h");
  close(Yc, swap01(base[2]), "Y_c");
});

Deno.test("recurrent ops reject mismatched weights and unknown activations", () => {
  const ins = operands({ name: "", op: "GRU", dirs: 1, attrs: {} }, 1);
  assert.throws(() => runLathe("GRU", ins, { hidden_size: H + 1 }, 2), LatheError);
  assert.throws(
    () => runLathe("GRU", ins, { hidden_size: H, activations: ["Sigmoid", "Swish"] }, 2),
    LatheError,
  );
  assert.throws(() => runLathe("GRU", ins, { hidden_size: H, direction: "sideways" }, 2), LatheError);
});

Deno.test({
  name: "silero-vad (LSTM inside nested If) tracks onnxruntime over chained steps at 8 and 16 kHz",
  ignore: noCorpus(),
  sanitizeResources: false,
  fn: async () => {
    const path = corpusPath("onnx/silero-vad/silero_vad_v5.onnx");
    const session = new Session((await importOnnxFile(path)).graph);
    const ref = await ort.InferenceSession.create(path, { intraOpNumThreads: 1 });
    for (const [rate, n] of [[16000, 512], [8000, 256]]) {
      let state = f32([2, 1, 128], new Float32Array(256));
      for (let step = 0; step < 3; step++) {
        const input = f32(
          [1, n],
          values(n, rate + step).map((v, i) => 0.3 * Math.sin(i * 0.05 * (step + 1)) + 0.1 * v),
        );
        const sr = new Tensor("i64", [], BigInt64Array.of(BigInt(rate)));
        const got = session.run({ input, state, sr }, { check: true }).outputs;
        const want = await ref.run({
          input: new ort.Tensor("float32", input.data as Float32Array, [1, n]),
          state: new ort.Tensor("float32", state.data as Float32Array, [2, 1, 128]),
          sr: new ort.Tensor("int64", sr.data as BigInt64Array, []),
        });
        const wantOut = new Tensor("f32", [...want.output.dims], want.output.data as Float32Array);
        const wantState = new Tensor("f32", [...want.stateN.dims], want.stateN.data as Float32Array);
        close(got.output as Tensor, wantOut, `${rate} Hz step ${step} output`, 1e-4);
        close(got.stateN as Tensor, wantState, `${rate} Hz step ${step} state`, 1e-4);
        // Feed back our own state, so errors would compound across steps.
        state = got.stateN as Tensor;
      }
    }
  },
});
