/** Registers every mutation kind (import for its effect), one file per fault class. */
import "./input.ts";
import "./parameters.ts";
import "./hyperparameters.ts";
import "./graph.ts";
import "./precision.ts";

export { FAULT_CLASSES, getKind, mutationKinds } from "./kind.ts";
export type { Change, FaultClass, MutationKind, MutationRecord, NodeRef } from "./kind.ts";
