/**
 * The verifier: checks the invariants every pass may rely on, and names the node and the broken invariant.
 * SSA (each value defined once, defined before use, subgraphs see outer values), known ops with the right
 * operand counts and attribute types, constants whose bytes fit their type, and recorded types that agree
 * with inference.
 */
import { checkConstant } from "./constant.ts";
import { printDType } from "./dtype.ts";
import { LatheError } from "./errors.ts";
import { type Graph, opDomain, subgraphsOf } from "./graph.ts";
import { inferNode } from "./infer.ts";
import { getOp, resolveAttrs } from "./op-registry.ts";
import { printValueType, type ValueType } from "./value-type.ts";

export interface VerifyIssue {
  /** `graph main / node conv0 (Conv)` */
  where: string;
  reason: string;
}

export function verifyGraph(
  g: Graph,
  outer: ReadonlyMap<string, ValueType> = new Map(),
  path = `graph ${g.name}`,
): VerifyIssue[] {
  const issues: VerifyIssue[] = [];
  const defined = new Map<string, ValueType>(outer);
  const local = new Set<string>();
  const define = (v: string, where: string) => {
    if (local.has(v)) issues.push({ where, reason: `value %${v} is defined twice` });
    local.add(v);
    const t = g.values[v]?.type;
    if (!t) issues.push({ where, reason: `value %${v} has no type` });
    else defined.set(v, t);
  };
  for (const i of g.inputs) define(i, `${path} / input %${i}`);
  for (const [k, c] of Object.entries(g.constants)) {
    if (!g.inputs.includes(k)) define(k, `${path} / constant %${k}`);
    try {
      checkConstant(c, { field: `constant %${k}` });
    } catch (e) {
      if (e instanceof LatheError) issues.push({ where: `${path} / constant %${k}`, reason: e.reason });
      else throw e;
    }
  }
  const ids = new Set<string>();
  let fresh = 0;
  for (const n of g.nodes) {
    const where = `${path} / node ${n.id} (${n.op})`;
    if (ids.has(n.id)) issues.push({ where, reason: `node id ${n.id} is used twice` });
    ids.add(n.id);
    n.inputs.forEach((v, k) => {
      if (v && !defined.has(v)) {
        issues.push({ where, reason: `input ${k} %${v} is used before it is defined` });
      }
    });
    const decl = getOp(n.op);
    if (!decl) {
      if (opDomain(n.op) === "") issues.push({ where, reason: `unknown op ${n.op}` });
    } else {
      const minIn = decl.inputs.filter((s) => !s.optional && !s.variadic).length;
      const variadicIn = decl.inputs.some((s) => s.variadic);
      if (n.inputs.length > decl.inputs.length && !variadicIn) {
        issues.push({ where, reason: `${n.inputs.length} inputs, at most ${decl.inputs.length} allowed` });
      }
      decl.inputs.forEach((s, k) => {
        if (!s.optional && !s.variadic && k < minIn && !n.inputs[k]) {
          issues.push({ where, reason: `required input ${k} (${s.name}) is missing` });
        }
      });
      const variadicOut = decl.outputs.some((s) => s.variadic);
      if (n.outputs.length > decl.outputs.length && !variadicOut) {
        issues.push({ where, reason: `${n.outputs.length} outputs, at most ${decl.outputs.length} allowed` });
      }
      try {
        resolveAttrs(n);
      } catch (e) {
        if (e instanceof LatheError) issues.push({ where, reason: e.reason });
        else throw e;
      }
    }
    for (const sg of subgraphsOf(n)) issues.push(...verifyGraph(sg, defined, `${where} / graph ${sg.name}`));
    if (issues.length === 0 && decl?.infer) {
      try {
        const inferred = inferNode(g, n, defined, () => `?v${fresh++}`);
        n.outputs.forEach((o, k) => {
          const t = inferred[k], have = o ? g.values[o]?.type : undefined;
          if (t && have && !compatible(t, have)) {
            issues.push({
              where,
              reason: `output %${o} is recorded as ${printValueType(have)} but infers to ${
                printValueType(t)
              }`,
            });
          }
        });
      } catch (e) {
        if (e instanceof LatheError) issues.push({ where, reason: e.reason });
        else throw e;
      }
    }
    for (const o of n.outputs) if (o) define(o, where);
  }
  for (const o of g.outputs) {
    if (!defined.has(o)) issues.push({ where: `${path} / outputs`, reason: `output %${o} is never defined` });
  }
  return issues;
}

/** Symbolic dims are compatible with anything; static dims and element types must agree. */
function compatible(a: ValueType, b: ValueType): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind !== "tensor" || b.kind !== "tensor") return true;
  if (printDType(a.dtype) !== printDType(b.dtype)) return false;
  if (!a.shape || !b.shape) return true;
  if (a.shape.length !== b.shape.length) return false;
  return a.shape.every((d, i) =>
    typeof d !== "number" || typeof b.shape![i] !== "number" || d === b.shape![i]
  );
}

/** Throws one LatheError listing every issue. */
export function assertValid(g: Graph): void {
  const issues = verifyGraph(g);
  if (issues.length) {
    const list = issues.slice(0, 20).map((i) => `  ${i.where}: ${i.reason}`).join("\n");
    const more = issues.length > 20 ? `\n  ... and ${issues.length - 20} more` : "";
    throw new LatheError("verify", `${issues.length} invariant(s) broken:\n${list}${more}`, {
      field: `graph ${g.name}`,
    });
  }
}
