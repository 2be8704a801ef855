/**
 * Mixed precision: which scheme each layer gets. A default scheme applies to every quantizable node unless
 * a rule names it; rules are `PATTERN:SCHEME` separated by ';' (pipeline options cannot hold commas), and
 * the last rule that matches wins. A pattern is an op name (`Gemm`), or a glob over the node's name or id
 * where `*` matches any run of characters (`/features/features.0/*`). Scheme `float` keeps a layer float.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Node } from "../../ir/graph.ts";

export const SCHEMES = ["int8", "pot", "apot", "msq", "bfp", "mx", "dqa", "float"] as const;
export type Scheme = typeof SCHEMES[number];

export interface LayerRule {
  readonly pattern: string;
  readonly scheme: Scheme;
}

export interface LayerPolicy {
  readonly defaultScheme: Scheme;
  readonly rules: readonly LayerRule[];
}

export function parseLayerRules(text: string | undefined, defaultScheme: Scheme = "float"): LayerRule[] {
  if (!text) return [];
  return text.split(";").map((s) => s.trim()).filter(Boolean).map((entry) => {
    const i = entry.lastIndexOf(":");
    const pattern = i < 0 ? entry : entry.slice(0, i).trim();
    const scheme = (i < 0 ? defaultScheme : entry.slice(i + 1).trim()) as Scheme;
    if (!pattern) throw new LatheError("usage", `layer rule '${entry}' has no pattern`);
    if (!SCHEMES.includes(scheme)) {
      throw new LatheError("usage", `layer rule '${entry}': scheme is one of ${SCHEMES.join(", ")}`);
    }
    return { pattern, scheme };
  });
}

/** `float=a;b` and `layers=a:pot;b:bfp` as one policy (float rules last, so they win). */
export function layerPolicy(defaultScheme: Scheme, layers?: string, float?: string): LayerPolicy {
  return { defaultScheme, rules: [...parseLayerRules(layers), ...parseLayerRules(float, "float")] };
}

function globMatch(pattern: string, text: string): boolean {
  const re = new RegExp(
    `^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`,
  );
  return re.test(text);
}

export function ruleMatches(r: LayerRule, n: Node): boolean {
  if (r.pattern === n.op) return true;
  return globMatch(r.pattern, n.name ?? n.id) || globMatch(r.pattern, n.id);
}

export function schemeOf(policy: LayerPolicy, n: Node): Scheme {
  let s = policy.defaultScheme;
  for (const r of policy.rules) if (ruleMatches(r, n)) s = r.scheme;
  return s;
}
