/**
 * Running a partitioned graph: CPU nodes on the reference runtime, each `lathe.AccelCall` on its target's
 * functional model interpreting the call's command stream. Beside it the unpartitioned graph runs on the
 * reference runtime with the same inputs, and every value both graphs define (offloaded layers keep their
 * output names) is compared byte for byte: the accelerator path is correct when nothing differs.
 *
 * The accelerated run does not compute twice what the reference run already did: a CPU node the partition
 * kept as it was, whose operands are byte for byte the reference's, takes the reference's outputs (the
 * kernels are deterministic functions of node and operands, so running it again would give the same bytes).
 * Operands that come from the accelerator are compared first, so a call that differs still sends its
 * consumers through their kernels.
 */
import { type DType, printDType } from "../ir/dtype.ts";
import { LatheError } from "../ir/errors.ts";
import { type Graph, type Node, subgraphsOf } from "../ir/graph.ts";
import { isStaticShape } from "../ir/value-type.ts";
import { Session } from "../runtime/interpreter.ts";
import { getKernel } from "../runtime/kernel-registry.ts";
import { Rng } from "../runtime/random.ts";
import { alloc, type RValue, Tensor } from "../runtime/tensor.ts";
import { storageRange } from "../runtime/tflite/requantize.ts";
import { storageOf } from "../ir/dtype.ts";
import "../runtime/kernels/index.ts";
import "./accel-call.ts";

/**
 * Seeded inputs for a graph: integer and quantized codes uniform over their storage range (so zero points
 * and saturation are exercised), floats uniform in [−1, 1); input i draws from Rng(seed + i).
 */
export function seededInputs(g: Graph, seed = 0): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  g.inputs.forEach((name, i) => {
    if (g.constants[name]) return;
    const t = g.values[name]?.type;
    if (t?.kind !== "tensor" || !isStaticShape(t.shape)) {
      throw new LatheError("usage", `input ${name} needs a static tensor type to be generated`);
    }
    const x = alloc(t.dtype, t.shape);
    const rng = new Rng(seed + i);
    const d = x.data;
    const s = storageOf(t.dtype as DType);
    if (d instanceof Array) throw new LatheError("usage", `string input ${name} cannot be generated`);
    if (d instanceof Float32Array || d instanceof Float64Array || d instanceof Float16Array) {
      for (let k = 0; k < d.length; k++) d[k] = rng.uniform(-1, 1);
    } else if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
      for (let k = 0; k < d.length; k++) d[k] = BigInt(rng.int(0, 10));
    } else if (s === "bool") {
      for (let k = 0; k < d.length; k++) d[k] = rng.int(0, 2);
    } else {
      const [lo, hi] = storageRange(s!);
      for (let k = 0; k < d.length; k++) d[k] = rng.int(lo, hi + 1);
    }
    out[name] = x;
  });
  return out;
}

/** A node the reference runtime cannot run: a custom op, or an op without a kernel. */
export function unrunnable(g: Graph): string | undefined {
  return g.nodes.find((n) => n.op === "tfl.CUSTOM" || !getKernel(n.op))?.id;
}

/**
 * The graph up to (not including) node `id`: that node's operands computed before it become the outputs,
 * so a model with a custom post-processing op is simulated up to it.
 */
export function cutBefore(g: Graph, id: string): Graph {
  const at = g.nodes.findIndex((n) => n.id === id);
  if (at < 0) throw new LatheError("usage", `no node ${id} to cut before`);
  const nodes = g.nodes.slice(0, at);
  const produced = new Set(nodes.flatMap((n) => n.outputs));
  const outputs = g.nodes[at].inputs.filter((v): v is string => !!v && produced.has(v));
  return { ...g, nodes, outputs: [...new Set(outputs)] };
}

export interface Mismatch {
  readonly value: string;
  readonly differing: number;
  readonly first: number;
  readonly want: number;
  readonly got: number;
}

export interface SimulationRun {
  readonly outputs: Record<string, RValue>;
  /** Values both graphs define, compared byte for byte. */
  readonly compared: number;
  readonly mismatches: readonly Mismatch[];
  readonly bitExact: boolean;
  /** The node the run stopped before (a custom op), when it did. */
  readonly cutAt?: string;
  readonly ms: { readonly reference: number; readonly accelerated: number };
}

function diff(name: string, want: RValue, got: RValue): Mismatch | undefined {
  if (!(want instanceof Tensor) || !(got instanceof Tensor)) return undefined;
  const a = want.data, b = got.data;
  if (a.length !== b.length) {
    return { value: name, differing: Math.max(a.length, b.length), first: 0, want: a.length, got: b.length };
  }
  let differing = 0, first = -1;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) {
      if (first < 0) first = i;
      differing++;
    }
  }
  return differing
    ? { value: name, differing, first, want: Number(a[first]), got: Number(b[first]) }
    : undefined;
}

/**
 * Runs `partitioned` and, unless `reference` is false, `original` on the same inputs, comparing every
 * value the two share.
 */
export function simulatePartitioned(
  original: Graph,
  partitioned: Graph,
  opts: { seed?: number; inputs?: Record<string, Tensor>; reference?: boolean } = {},
): SimulationRun {
  const cutAt = unrunnable(original);
  if (cutAt) {
    original = cutBefore(original, cutAt);
    partitioned = cutBefore(partitioned, cutAt);
  }
  const inputs = opts.inputs ?? seededInputs(original, opts.seed ?? 0);
  const shared = new Set<string>();
  const partOut = new Set(partitioned.nodes.flatMap((n) => n.outputs));
  for (const n of original.nodes) for (const o of n.outputs) if (o && partOut.has(o)) shared.add(o);
  // Every value of the reference run, by name: the shared ones are compared, any may be reused.
  const want = new Map<string, RValue>();
  let tRef = 0;
  const reference = opts.reference ?? true;
  if (reference) {
    const t0 = performance.now();
    new Session(original).run(inputs, { observe: (name, v) => want.set(name, v) });
    tRef = performance.now() - t0;
  }
  const mismatches: Mismatch[] = [];
  let compared = 0;
  const t1 = performance.now();
  const r = new Session(partitioned).run(inputs, {
    reuse: reference ? reuseFrom(original, partitioned, want) : undefined,
    observe: (name, v) => {
      if (!shared.has(name)) return;
      const w = want.get(name);
      if (!w) return;
      compared++;
      const m = diff(name, w, v);
      if (m) mismatches.push(m);
    },
  });
  const tAcc = performance.now() - t1;
  return {
    outputs: r.outputs,
    compared,
    mismatches,
    bitExact: mismatches.length === 0,
    cutAt,
    ms: { reference: tRef, accelerated: tAcc },
  };
}

/**
 * The reference outputs of an original node the partitioned graph runs as it is, when every operand is the
 * reference's own value or equal to it byte for byte (constants: the same constant).
 */
function reuseFrom(
  original: Graph,
  partitioned: Graph,
  ref: ReadonlyMap<string, RValue>,
): (node: Node, args: readonly (RValue | undefined)[]) => RValue[] | undefined {
  const kept = new Set(original.nodes.filter((n) => subgraphsOf(n).length === 0));
  return (node, args) => {
    if (!kept.has(node)) return undefined;
    for (let k = 0; k < node.inputs.length; k++) {
      const name = node.inputs[k];
      if (!name) continue;
      const c = original.constants[name];
      if (c !== undefined || partitioned.constants[name] !== undefined) {
        if (c !== partitioned.constants[name] || original.inputs.includes(name)) return undefined;
        continue;
      }
      const w = ref.get(name), a = args[k];
      if (w === undefined || a === undefined || (w !== a && !sameBytes(w, a))) return undefined;
    }
    const outs: RValue[] = [];
    for (const o of node.outputs) {
      const v = o ? ref.get(o) : undefined;
      if (o && v === undefined) return undefined;
      outs.push(v!);
    }
    return outs;
  };
}

function sameBytes(a: RValue, b: RValue): boolean {
  if (!(a instanceof Tensor) || !(b instanceof Tensor)) return false;
  if (
    printDType(a.dtype) !== printDType(b.dtype) || a.shape.length !== b.shape.length ||
    a.shape.some((d, i) => d !== b.shape[i])
  ) {
    return false;
  }
  const x = a.data, y = b.data;
  if (x instanceof Array || y instanceof Array || x.byteLength !== y.byteLength) return false;
  const n = x.byteLength;
  if (x.byteOffset % 4 === 0 && y.byteOffset % 4 === 0 && n % 4 === 0) {
    const u = new Int32Array(x.buffer, x.byteOffset, n / 4),
      v = new Int32Array(y.buffer, y.byteOffset, n / 4);
    for (let i = 0; i < u.length; i++) if (u[i] !== v[i]) return false;
    return true;
  }
  const u = new Uint8Array(x.buffer, x.byteOffset, n), v = new Uint8Array(y.buffer, y.byteOffset, n);
  for (let i = 0; i < n; i++) if (u[i] !== v[i]) return false;
  return true;
}
