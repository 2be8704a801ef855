/**
 * The canonical pipeline: the cleanup passes repeated until the graph stops changing (a fixpoint), so each
 * can expose work for the others (folding makes reshapes static, removing casts makes nodes equal).
 */
import type { Graph } from "../ir/graph.ts";
import { LatheError } from "../ir/errors.ts";
import { foldConstants } from "./constant-fold.ts";
import { eliminateCommonSubexpressions } from "./cse.ts";
import { registerPass } from "./pass-manager.ts";
import { noopRules } from "./remove-noops.ts";
import { applyRules, type Rule } from "./rewrite.ts";

/** Rule sets other passes add to canonicalization (fusions, canonical forms). */
const extraRules: Rule[] = [];
export function addCanonicalRules(rules: readonly Rule[]): void {
  extraRules.push(...rules);
}

export function canonicalize(g: Graph, maxRounds = 16): Graph {
  let cur = g;
  for (let round = 0; round < maxRounds; round++) {
    const start = cur;
    cur = foldConstants(cur);
    cur = applyRules(cur, [...noopRules, ...extraRules], { driver: "greedy" }).graph;
    cur = eliminateCommonSubexpressions(cur);
    if (cur === start) return cur;
  }
  throw new LatheError("verify", `canonicalize did not reach a fixpoint in ${maxRounds} rounds`);
}

// Built by hand rather than with graphPass, whose spread would read `rules` once, before the other
// passes add theirs.
export const canonicalizePass = registerPass({
  name: "canonicalize",
  doc: "constant folding, no-op removal, canonical forms and CSE, repeated to a fixpoint",
  options: { maxRounds: { type: "int", default: 16 } },
  get rules() {
    return [...noopRules, ...extraRules];
  },
  run(m, o) {
    const g = canonicalize(m.graph, o.maxRounds);
    return g === m.graph ? m : { ...m, graph: g };
  },
});
