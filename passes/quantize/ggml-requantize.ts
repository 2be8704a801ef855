/**
 * `ggml-requantize{type=Q4_K}`: the weight matrices of a llama graph's `lathe.GgmlMatMul` nodes that are in a
 * ggml type an accelerator cannot take (F32, F16, Q8_0, Q4_0, ...) re-encoded in one it can, so that
 * `compile --target bfp` offloads a GGUF whatever its file type. Each row is decoded to f32 and quantized
 * with ggml's reference quantizers, the steps llama.cpp's quantize takes without an importance matrix (and
 * compiler/gguf/requantize.ts file to file), so the bytes equal what those write for the same tensor.
 *
 * One type for every matrix (default Q4_K): llama.cpp's Q4_K_M mix gives a few matrices Q6_K to save
 * accuracy, a choice `type=Q6_K` makes for all. Matrices already in a `keep` type (default the K-quants
 * Q2_K..Q6_K the BFP unit takes) stay as they are, since re-encoding quantized weights only loses
 * accuracy. A re-encoded constant changes for all its users, as in a requantized file: a tied embedding
 * gathered by `lathe.GgmlGather` reads the new blocks too. Matrices whose rows do not fill the new type's
 * blocks (256 elements for K-quants), single-row matrices (llama.cpp leaves them too) and types without a
 * decoder are kept and named in the result.
 */
import type { Constant } from "../../ir/constant.ts";
import { constantBytes } from "../../ir/constant.ts";
import { type DType, printDType } from "../../ir/dtype.ts";
import { LatheError } from "../../ir/errors.ts";
import { GGML_TYPES, ggmlTypeByName, type GgmlTypeInfo } from "../../ir/ggml-type.ts";
import type { Graph, Model } from "../../ir/graph.ts";
import { canDequantize } from "../../runtime/ggml/dequantize.ts";
import { canQuantize } from "../../runtime/ggml/quantize.ts";
import { recodeRows } from "../../runtime/ggml/recode.ts";
import { vecDotType } from "../../runtime/ggml/vec-dot.ts";
import { registerPass } from "../pass-manager.ts";

/** The K-quant weight types the BFP unit multiplies (accelerators.md §1.3). */
export const K_QUANT_WEIGHTS: readonly string[] = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"];

export interface GgmlRequantizeOptions {
  /** ggml block type for the re-encoded matrices (default Q4_K). */
  type?: string;
  /** Weight types left as they are (default the K-quants). The target type is always kept. */
  keep?: readonly string[];
}

/** What happened to one weight constant of a GgmlMatMul. */
export interface RequantizedWeight {
  readonly weight: string;
  /** The GgmlMatMul nodes that read it. */
  readonly nodes: readonly string[];
  readonly from: string;
  /** Equals `from` when the matrix was kept. */
  readonly to: string;
  /** Why a matrix that is not in a kept type was kept. */
  readonly skipped?: string;
}

export interface GgmlRequantizeResult {
  readonly model: Model;
  readonly weights: readonly RequantizedWeight[];
}

/** Block types the pass can write that a GgmlMatMul multiplies (a reference quantizer and a vec_dot). */
export function requantizeTypes(): string[] {
  return [...GGML_TYPES.values()].filter(writable).map((t) => t.name);
}

function writable(t: GgmlTypeInfo): boolean {
  if (t.blockSize === 1 || !canQuantize(t.id)) return false;
  try {
    vecDotType(t.id);
    return true;
  } catch {
    return false;
  }
}

function targetType(name: string): GgmlTypeInfo {
  const t = ggmlTypeByName(name);
  if (!t || !writable(t)) {
    throw new LatheError(
      "usage",
      `ggml-requantize{type=${name}}: not a block type Lathe writes and multiplies (one of ${
        requantizeTypes().join(", ")
      })`,
    );
  }
  return t;
}

/** The ggml type id of a constant's dtype, or undefined when it has none. */
function ggmlTypeOf(d: DType): number | undefined {
  if (d === "f32") return 0;
  if (d === "f16") return 1;
  if (d === "bf16") return 30;
  return typeof d === "object" && d.kind === "ggml" ? d.typeId : undefined;
}

/** Constant weights of GgmlMatMul nodes in graph order, with the nodes that read each. */
function matMulWeights(g: Graph): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const n of g.nodes) {
    const w = n.inputs[1];
    if (n.op !== "lathe.GgmlMatMul" || !w || !g.constants[w]) continue;
    const users = out.get(w);
    if (users) users.push(n.id);
    else out.set(w, [n.id]);
  }
  return out;
}

function keptTypes(type: GgmlTypeInfo, keep: readonly string[]): Set<number> {
  const ids = new Set([type.id]);
  for (const k of keep) {
    const t = ggmlTypeByName(k);
    if (!t) throw new LatheError("usage", `ggml-requantize{keep}: unknown ggml type '${k}'`);
    ids.add(t.id);
  }
  return ids;
}

/** Whether the pass would re-encode any matrix of `g` (compile adds it to the pipeline only then). */
export function needsGgmlRequantize(g: Graph, type = "Q4_K", keep = K_QUANT_WEIGHTS): boolean {
  const to = targetType(type);
  const kept = keptTypes(to, keep);
  for (const w of matMulWeights(g).keys()) {
    const id = ggmlTypeOf(g.constants[w].dtype);
    if (id !== undefined && !kept.has(id) && plan(g.constants[w], id, to) === undefined) {
      return true;
    }
  }
  return false;
}

/** Why a matrix of type `from` cannot become `to`, or undefined when it can. */
function plan(c: Constant, from: number, to: GgmlTypeInfo): string | undefined {
  if (c.shape.length !== 2) return `rank ${c.shape.length}, not a matrix`;
  const [rows, k] = c.shape;
  if (rows <= 1) return "a single row";
  if (!canDequantize(from)) return `no decoder for ${GGML_TYPES.get(from)?.name ?? from}`;
  if (k % to.blockSize !== 0) return `rows of ${k} do not fill ${to.name} blocks of ${to.blockSize}`;
  return undefined;
}

/** Decodes each row to f32 and encodes it in `to`, one row at a time (no f32 copy of the matrix). */
function recode(c: Constant, from: number, to: GgmlTypeInfo): Uint8Array {
  const src = GGML_TYPES.get(from)!;
  const [rows, k] = c.shape;
  const inRow = (k / src.blockSize) * src.typeSize;
  const bytes = constantBytes(c);
  if (bytes.length !== rows * inRow) {
    throw new LatheError(
      "verify",
      `${src.name}[${c.shape}] needs ${rows * inRow} bytes, has ${bytes.length}`,
    );
  }
  return recodeRows(bytes, from, to.id, rows, k);
}

/** Re-encodes the GgmlMatMul weights of `model` that are not in a kept type; see the file comment. */
export function requantizeGgmlWeights(model: Model, opts: GgmlRequantizeOptions = {}): GgmlRequantizeResult {
  const to = targetType(opts.type ?? "Q4_K");
  const kept = keptTypes(to, opts.keep ?? K_QUANT_WEIGHTS);
  const g = model.graph;
  const weights = matMulWeights(g);
  const constants: Record<string, Constant> = { ...g.constants };
  const values = { ...g.values };
  const result: RequantizedWeight[] = [];
  let changed = false;
  for (const [w, nodes] of weights) {
    const c = g.constants[w];
    const from = ggmlTypeOf(c.dtype);
    const fromName = from === undefined ? printDType(c.dtype) : GGML_TYPES.get(from)?.name ?? String(from);
    const skipped = from === undefined
      ? "not a ggml weight type"
      : kept.has(from)
      ? undefined
      : plan(c, from, to);
    if (from === undefined || kept.has(from) || skipped) {
      result.push({ weight: w, nodes, from: fromName, to: fromName, ...(skipped ? { skipped } : {}) });
    } else {
      const dtype: DType = { kind: "ggml", typeId: to.id };
      constants[w] = { dtype, shape: c.shape, bytes: recode(c, from, to) };
      values[w] = { ...values[w], type: { kind: "tensor", dtype, shape: c.shape } };
      result.push({ weight: w, nodes, from: fromName, to: to.name });
      changed = true;
    }
  }
  if (!changed) return { model, weights: result };
  return { model: { ...model, graph: { ...g, constants, values } }, weights: result };
}

/** One line for a compile log: the matrices re-encoded and kept by type, and those skipped and why. */
export function describeRequantize(weights: readonly RequantizedWeight[]): string {
  const count = (keys: string[]) => {
    const m = new Map<string, number>();
    for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
    return [...m].map(([k, n]) => `${n} ${k}`).join(", ") || "none";
  };
  const skipped = weights.filter((w) => w.skipped).map((w) => `${w.weight} (${w.skipped})`);
  return `re-encoded ${count(weights.filter((w) => w.from !== w.to).map((w) => `${w.from}→${w.to}`))}` +
    `; kept ${count(weights.filter((w) => w.from === w.to && !w.skipped).map((w) => w.from))}` +
    (skipped.length ? `; skipped ${skipped.join(", ")}` : "");
}

/** Where the pass leaves its per-weight record, in `model.meta.extra`. */
export const REQUANTIZE_RECORD = "ggml-requantize";

registerPass({
  name: "ggml-requantize",
  doc:
    "re-encode GgmlMatMul weight matrices in another ggml block type (decode, then ggml's reference quantizer), keeping those already in a `keep` type",
  options: {
    type: {
      type: "string",
      default: "Q4_K",
      doc: `ggml block type of the re-encoded matrices (${requantizeTypes().join(", ")})`,
    },
    keep: {
      type: "string",
      default: K_QUANT_WEIGHTS.join("+"),
      doc: "weight types left as they are, joined by '+'",
    },
  },
  run(model, o, ctx) {
    const keep = String(o.keep).split("+").map((s) => s.trim()).filter(Boolean);
    const r = requantizeGgmlWeights(model, { type: o.type, keep });
    ctx.progress?.("ggml-requantize", r.weights.length, r.weights.length, describeRequantize(r.weights));
    return {
      ...r.model,
      meta: { ...r.model.meta, extra: { ...r.model.meta.extra, [REQUANTIZE_RECORD]: r.weights } },
    };
  },
});

/** The ggml block type a compile `--scheme` names (q4_k, Q6_K, q8_0, ...), or undefined for other schemes. */
export function ggmlScheme(scheme: string): string | undefined {
  const t = ggmlTypeByName(scheme);
  return t && writable(t) ? t.name : undefined;
}
