/**
 * Op declarations: Gemm, MatMul (numpy broadcast over batch dims, 1-D operands) and Einsum, whose equation
 * parser lives here so inference and the kernel read the equation the same way.
 */
import { isFloat, isInteger } from "../dtype.ts";
import { LatheError } from "../errors.ts";
import { a, defineOp, type InferContext, ins, many } from "../op-registry.ts";
import { broadcastShapes } from "../shape-infer.ts";
import { type Dim, type TensorType, tensorType } from "../value-type.ts";

function checkNumeric(ctx: InferContext, t: TensorType, what: string): void {
  if (!isFloat(t.dtype) && !isInteger(t.dtype)) ctx.fail(`${what} must be numeric, is ${String(t.dtype)}`);
}

function sameDim(x: Dim, y: Dim): boolean {
  return typeof x !== "number" || typeof y !== "number" || x === y;
}

defineOp({
  op: "Gemm",
  inputs: ins("A", "B", { name: "C", optional: true }),
  outputs: ins("Y"),
  attrs: { alpha: a.float(1), beta: a.float(1), transA: a.int(0), transB: a.int(0) },
  infer(ctx) {
    const A = ctx.tensor(0), B = ctx.tensor(1);
    checkNumeric(ctx, A, "A");
    if (B.dtype !== A.dtype) ctx.fail(`B is ${String(B.dtype)}, A is ${String(A.dtype)}`);
    if (!A.shape || !B.shape) return [tensorType(A.dtype, [ctx.fresh(), ctx.fresh()])];
    if (A.shape.length !== 2 || B.shape.length !== 2) {
      ctx.fail(`A [${A.shape}] and B [${B.shape}] must be 2-D`);
    }
    const [m, ka] = ctx.attrs.transA ? [A.shape[1], A.shape[0]] : [A.shape[0], A.shape[1]];
    const [kb, n] = ctx.attrs.transB ? [B.shape[1], B.shape[0]] : [B.shape[0], B.shape[1]];
    if (!sameDim(ka, kb)) ctx.fail(`inner dims differ: A' is [${m},${ka}], B' is [${kb},${n}]`);
    const C = ctx.inputs[2] ? ctx.tensor(2) : undefined;
    if (C?.shape) {
      try {
        const out = broadcastShapes([C.shape, [m, n]]);
        if (out.length !== 2 || !sameDim(out[0], m) || !sameDim(out[1], n)) throw new Error();
      } catch {
        ctx.fail(`C [${C.shape}] does not broadcast to [${m},${n}]`);
      }
    }
    return [tensorType(A.dtype, [m, n])];
  },
});

/** MatMul's output shape from operand shapes (numpy matmul: 1-D operands gain and then lose a unit dim). */
export function matmulShape(x: readonly Dim[], y: readonly Dim[], fresh?: () => string): Dim[] {
  if (x.length === 0 || y.length === 0) throw new LatheError("verify", "MatMul operands must have rank >= 1");
  const xs = x.length === 1 ? [1, x[0]] : x;
  const ys = y.length === 1 ? [y[0], 1] : y;
  const k1 = xs[xs.length - 1], k2 = ys[ys.length - 2];
  if (!sameDim(k1, k2)) throw new LatheError("verify", `MatMul inner dims differ: [${x}] x [${y}]`);
  const batch = broadcastShapes([xs.slice(0, -2), ys.slice(0, -2)], fresh);
  const out: Dim[] = [...batch];
  if (x.length > 1) out.push(xs[xs.length - 2]);
  if (y.length > 1) out.push(ys[ys.length - 1]);
  return out;
}

defineOp({
  op: "MatMul",
  inputs: ins("A", "B"),
  outputs: ins("Y"),
  infer(ctx) {
    const A = ctx.tensor(0), B = ctx.tensor(1);
    checkNumeric(ctx, A, "A");
    if (B.dtype !== A.dtype) ctx.fail(`B is ${String(B.dtype)}, A is ${String(A.dtype)}`);
    if (!A.shape || !B.shape) return [tensorType(A.dtype)];
    return [tensorType(A.dtype, matmulShape(A.shape, B.shape, () => ctx.fresh()))];
  },
});

/**
 * A parsed einsum equation with the ellipsis expanded for given operand ranks. Labels are small integers:
 * letters by char code, ellipsis dims from ELLIPSIS_BASE up (right-aligned across operands).
 */
export interface EinsumSpec {
  readonly inputs: readonly (readonly number[])[];
  readonly output: readonly number[];
}
export const ELLIPSIS_BASE = 1000;

export function parseEinsum(equation: string, ranks: readonly number[]): EinsumSpec {
  const bad = (why: string): never => {
    throw new LatheError("verify", `einsum '${equation}': ${why}`);
  };
  const eq = equation.replace(/\s+/g, "");
  const arrow = eq.indexOf("->");
  const lhs = arrow < 0 ? eq : eq.slice(0, arrow);
  const rhs = arrow < 0 ? undefined : eq.slice(arrow + 2);
  const terms = lhs.split(",");
  if (terms.length !== ranks.length) bad(`has ${terms.length} operands, the node has ${ranks.length} inputs`);
  const split = (term: string): { before: number[]; after: number[]; ellipsis: boolean } => {
    const at = term.indexOf("...");
    const letters = (s: string) =>
      [...s].map((ch) => (/[A-Za-z]/.test(ch) ? ch.charCodeAt(0) : bad(`unexpected '${ch}'`)));
    if (at < 0) return { before: letters(term), after: [], ellipsis: false };
    if (term.indexOf("...", at + 3) >= 0) bad("more than one ellipsis in a term");
    return { before: letters(term.slice(0, at)), after: letters(term.slice(at + 3)), ellipsis: true };
  };
  const parsed = terms.map(split);
  let ellRank = 0;
  parsed.forEach((p, i) => {
    const named = p.before.length + p.after.length;
    if (p.ellipsis) {
      if (ranks[i] < named) bad(`operand ${i} has rank ${ranks[i]}, fewer than its ${named} labels`);
      ellRank = Math.max(ellRank, ranks[i] - named);
    } else if (ranks[i] !== named) bad(`operand ${i} has rank ${ranks[i]}, its term has ${named} labels`);
  });
  const ell = (n: number) => Array.from({ length: n }, (_, t) => ELLIPSIS_BASE + ellRank - n + t);
  const inputs = parsed.map((p, i) =>
    p.ellipsis ? [...p.before, ...ell(ranks[i] - p.before.length - p.after.length), ...p.after] : p.before
  );
  let output: number[];
  if (rhs === undefined) {
    const count = new Map<number, number>();
    for (const t of parsed) for (const l of [...t.before, ...t.after]) count.set(l, (count.get(l) ?? 0) + 1);
    const once = [...count].filter(([, c]) => c === 1).map(([l]) => l).sort((x, y) => x - y);
    output = [...ell(ellRank), ...once];
  } else {
    const o = split(rhs);
    output = o.ellipsis ? [...o.before, ...ell(ellRank), ...o.after] : o.before;
    const seen = new Set<number>();
    const all = new Set(inputs.flat());
    for (const l of output) {
      if (seen.has(l)) bad(`output label '${String.fromCharCode(l)}' repeats`);
      if (!all.has(l)) bad(`output label '${String.fromCharCode(l)}' is not in any input`);
      seen.add(l);
    }
  }
  return { inputs, output };
}

/** Each label's size: equal across operands, except that 1 broadcasts. */
export function einsumSizes<D extends Dim>(
  spec: EinsumSpec,
  shapes: readonly (readonly D[])[],
): Map<number, D> {
  const sizes = new Map<number, D>();
  spec.inputs.forEach((labels, i) =>
    labels.forEach((l, k) => {
      const d = shapes[i][k], prev = sizes.get(l);
      if (prev === undefined || prev === 1) sizes.set(l, d);
      else if (d !== 1 && typeof d === "number" && typeof prev === "number" && d !== prev) {
        throw new LatheError("verify", `einsum label sizes differ: ${prev} and ${d}`);
      }
    })
  );
  return sizes;
}

defineOp({
  op: "Einsum",
  inputs: ins(many("Inputs")),
  outputs: ins("Output"),
  attrs: { equation: a.required(a.string()) },
  infer(ctx) {
    const ts = ctx.inputs.map((_, i) => ctx.tensor(i));
    if (ts.length === 0) ctx.fail("Einsum needs at least one input");
    for (const t of ts) {
      checkNumeric(ctx, t, "input");
      if (t.dtype !== ts[0].dtype) ctx.fail(`inputs mix ${String(ts[0].dtype)} and ${String(t.dtype)}`);
    }
    if (ts.some((t) => !t.shape)) return [tensorType(ts[0].dtype)];
    const spec = parseEinsum(ctx.attrs.equation as string, ts.map((t) => t.shape!.length));
    const sizes = einsumSizes(spec, ts.map((t) => t.shape!));
    return [tensorType(ts[0].dtype, spec.output.map((l) => sizes.get(l)!))];
  },
});
