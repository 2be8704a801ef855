/**
 * Every repair rule, in the order FetaFix tries its strategies (accelerators.md §3.1): inputs first, then
 * parameters and precision, hyperparameters, and the graph around the diverging layer. The driver asks
 * each rule about each finding in the localization's order (the first divergence first).
 */
import type { Finding } from "../diff/localize.ts";
import {
  fixWrongOp,
  insertMissingNode,
  insertReferenceBefore,
  removeExtraNode,
  removeExtraTranspose,
  restoreFromReference,
  undoReorder,
} from "./graph.ts";
import {
  copyActivationParam,
  copyAttribute,
  restoreWindow,
  translateAxis,
  translateResize,
} from "./hyperparameters.ts";
import { insertPreprocessing } from "./input.ts";
import { copyConstant, copyWeights } from "./parameters.ts";
import { removeRoundTrip, restoreWeightPrecision } from "./precision.ts";
import { type FaultClass, findNode, type RepairContext, type RepairRule } from "./rule.ts";

const CLASS_OF: Record<Finding["kind"], FaultClass> = {
  input: "input",
  parameters: "parameters",
  hyperparameters: "hyperparameters",
  graph: "graph",
  precision: "precision",
  unexplained: "graph",
};

/**
 * When the reference is in the target's dialect, any diverging pair of nodes can be made equal outright:
 * op, attributes and constant operands copied (FetaFix's replace_graph on a one-node segment).
 */
export const restoreNode: RepairRule = {
  name: "restore-from-reference",
  class: "graph",
  answers: (f, ctx) => ctx.sameDialect && !!f.sourceNode && !!f.targetNode,
  propose: (f: Finding, ctx: RepairContext) => {
    const r = findNode(ctx.reference, f.sourceNode), t = findNode(ctx.target, f.targetNode);
    if (!r || !t) return [];
    const fx = restoreFromReference(
      ctx,
      r,
      t,
      (description, apply) => ({
        rule: "restore-from-reference",
        class: CLASS_OF[f.kind],
        description,
        apply,
      }),
    );
    return fx ? [fx] : [];
  },
};

export const REPAIR_RULES: readonly RepairRule[] = [
  insertPreprocessing,
  copyWeights,
  copyConstant,
  restoreWeightPrecision,
  removeRoundTrip,
  restoreWindow,
  copyActivationParam,
  copyAttribute,
  translateResize,
  translateAxis,
  fixWrongOp,
  insertMissingNode,
  removeExtraNode,
  undoReorder,
  insertReferenceBefore,
  restoreNode,
  removeExtraTranspose,
];
