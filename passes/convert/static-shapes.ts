/**
 * Concrete sizes for a conversion. TFLite fixes padding per shape (SAME/VALID) and wants reshape targets
 * and slice bounds as constants, so a converter works on static shapes: symbolic dims get sizes from the
 * caller (by dim name or whole input shape), and every node output is inferred again so the sizes reach
 * every value (and the Shape→Gather→Concat chains exporters emit fold into constants).
 */
import { LatheError } from "../../ir/errors.ts";
import type { Graph, ValueInfo } from "../../ir/graph.ts";
import { inferGraph } from "../../ir/infer.ts";
import { getOp } from "../../ir/op-registry.ts";
import { foldConstants } from "../constant-fold.ts";
import type { Dim } from "../../ir/value-type.ts";

export interface ShapeBindings {
  /** Sizes for symbolic dims by name (`batch_size=1`). */
  dims?: Readonly<Record<string, number>>;
  /** Whole shapes for graph inputs by name (`x=1,3,48,192`); wins over `dims`. */
  shapes?: Readonly<Record<string, readonly number[]>>;
}

/** The graph with the bound input sizes substituted and every node output inferred again. */
export function bindInputShapes(g: Graph, b: ShapeBindings): Graph {
  const dims = b.dims ?? {}, shapes = b.shapes ?? {};
  for (const k of Object.keys(shapes)) {
    if (!g.inputs.includes(k)) {
      throw new LatheError(
        "usage",
        `--shape names ${k}, which is not an input (inputs: ${g.inputs.join(", ")})`,
      );
    }
  }
  const values: Record<string, ValueInfo> = { ...g.values };
  let changed = false;
  for (const i of g.inputs) {
    const t = g.values[i]?.type;
    if (!t || t.kind !== "tensor") continue;
    let shape: readonly Dim[] | undefined = t.shape;
    const given = shapes[i];
    if (given) {
      if (shape && shape.length !== given.length) {
        throw new LatheError(
          "usage",
          `--shape ${i} gives ${given.length} dims, the input has rank ${shape.length}`,
        );
      }
      shape?.forEach((d, k) => {
        if (typeof d === "number" && d !== given[k]) {
          throw new LatheError("usage", `--shape ${i}: dim ${k} is fixed at ${d}, not ${given[k]}`);
        }
      });
      shape = given;
    } else if (shape) {
      shape = shape.map((d) => (typeof d === "string" && dims[d] !== undefined ? dims[d] : d));
    }
    if (shape !== t.shape) {
      values[i] = { ...g.values[i], type: { ...t, shape } };
      changed = true;
    }
  }
  return foldShapes(reinfer(changed ? { ...g, values } : g));
}

/**
 * Folds what the bound sizes made constant (Shape of a now-static value, and the Gather/Concat chains
 * exporters build on it) and infers again, until nothing more folds: a Reshape whose target was such a
 * chain gets a static output only once the chain is a constant, and what follows it only after that.
 */
function foldShapes(g: Graph, maxRounds = 16): Graph {
  for (let i = 0; i < maxRounds; i++) {
    const f = foldConstants(g);
    if (f === g) return g;
    g = reinfer(f);
  }
  return g;
}

/**
 * Infers every node output afresh; only outputs of ops without inference keep their declared types. Types
 * recorded before a rewrite made sizes known (a Slice whose bounds were just folded) would otherwise stay
 * symbolic, since inference keeps a declared dim over a fresh unknown.
 */
export function reinfer(g: Graph): Graph {
  const keep = new Set<string>([...g.inputs, ...Object.keys(g.constants)]);
  for (const n of g.nodes) if (!getOp(n.op)?.infer) { for (const o of n.outputs) keep.add(o); }
  const values: Record<string, ValueInfo> = {};
  for (const [k, v] of Object.entries(g.values)) {
    // Quantized outputs carry scales only the source knew; inference leaves them to the declared type.
    const quantized = v.type.kind === "tensor" && typeof v.type.dtype !== "string";
    if (keep.has(k) || quantized) values[k] = v;
  }
  return inferGraph({ ...g, values });
}

/** Values whose shapes are not static, for messages that ask the caller to bind them. */
export function symbolicValues(g: Graph): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(g.values)) {
    if (v.type.kind === "tensor" && (!v.type.shape || v.type.shape.some((d) => typeof d !== "number"))) {
      out.push(k);
    }
  }
  return out;
}
