/**
 * Targets by name. A target is one line here; a family of parametric targets (e.g. `sa:RxC:os`) registers
 * a resolver for its prefix with registerTargetFamily.
 */
import { LatheError } from "../ir/errors.ts";
import { bfp } from "./bfp/index.ts";
import { mm2im } from "./mm2im/index.ts";
import { potacc, resolvePotacc } from "./potacc/index.ts";
import { secdaSa } from "./secda-sa/index.ts";
import { secdaVm } from "./secda-vm/index.ts";
import { resolveSystolic } from "./systolic/target.ts";
import type { Target } from "./target.ts";

const targets = new Map<string, Target>([
  ["secda-vm", secdaVm],
  ["secda-sa", secdaSa],
  ["bfp", bfp],
  ["potacc", potacc],
  ["mm2im", mm2im],
]);

const families = new Map<string, (spec: string) => Target>([["potacc", resolvePotacc]]);

export function registerTarget(t: Target): void {
  if (targets.has(t.params.name)) throw new Error(`target ${t.params.name} registered twice`);
  targets.set(t.params.name, t);
}

/** `prefix` is what precedes the first ':' of a spec (`sa` for `sa:16x16:os`). */
export function registerTargetFamily(prefix: string, resolve: (spec: string) => Target): void {
  if (families.has(prefix)) throw new Error(`target family ${prefix} registered twice`);
  families.set(prefix, resolve);
}

registerTargetFamily("sa", resolveSystolic);

export function targetNames(): string[] {
  return [...targets.keys(), ...[...families.keys()].map((p) => `${p}:…`)];
}

export function getTarget(spec: string): Target {
  const t = targets.get(spec);
  if (t) return t;
  const colon = spec.indexOf(":");
  const family = colon > 0 ? families.get(spec.slice(0, colon)) : undefined;
  if (family) {
    const made = family(spec);
    targets.set(spec, made);
    return made;
  }
  throw new LatheError("usage", `unknown target '${spec}' (targets: ${targetNames().join(", ")})`);
}
