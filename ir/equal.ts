/**
 * Structural graph equality, for round-trip checks (import → export → import). The structure (ops, edges by
 * value name, attributes including subgraphs, value types, input and output lists) is compared through the
 * text form with large constants elided, and constant data byte for byte, so a 14 MB model never prints
 * its weights.
 */
import { type Constant, constantBytes, constantCount } from "./constant.ts";
import { dtypeEquals, printDType } from "./dtype.ts";
import type { Graph } from "./graph.ts";
import { printGraph } from "./text.ts";

export interface GraphsEqualOptions {
  /** Ignore node ids, source names and doc strings. */
  ignoreIds?: boolean;
  /**
   * Compare the names of unknown dimensions (those starting with "?"). Off by default: such names are
   * made up per import or inference run, and ONNX writes them as anonymous dims.
   */
  namedUnknowns?: boolean;
}

export function graphsEqual(
  a: Graph,
  b: Graph,
  opts: GraphsEqualOptions = {},
): { equal: boolean; diff?: string } {
  const print = (g: Graph) => {
    const t = printGraph(g, { meta: !opts.ignoreIds });
    return opts.namedUnknowns ? t : t.replace(UNKNOWN_DIM, "?");
  };
  const ta = print(a), tb = print(b);
  if (ta !== tb) return { equal: false, diff: firstLineDiff(ta, tb) };
  const d = constantsDiff(a, b, `graph ${a.name}`);
  return d ? { equal: false, diff: d } : { equal: true };
}

/** A dimension in a printed shape (after `[` or `,`, before `,` or `]`) whose name starts with "?". */
const UNKNOWN_DIM = /(?<=[[,])\?[A-Za-z0-9_?'+*\-]*(?=[,\]])/g;

function firstLineDiff(a: string, b: string): string {
  const la = a.split("\n"), lb = b.split("\n");
  const n = Math.min(la.length, lb.length);
  const clip = (s: string) => (s.length > 240 ? `${s.slice(0, 240)}…` : s);
  for (let i = 0; i < n; i++) {
    if (la[i] !== lb[i]) return `line ${i + 1}:\n  a: ${clip(la[i].trim())}\n  b: ${clip(lb[i].trim())}`;
  }
  return la.length > lb.length
    ? `a has more lines from line ${n + 1}: ${clip(la[n].trim())}`
    : `b has more lines from line ${n + 1}: ${clip(lb[n].trim())}`;
}

/** Compares constant data; the structures are known to be equal, so nodes and subgraphs align by index. */
function constantsDiff(a: Graph, b: Graph, where: string): string | undefined {
  for (const [k, ca] of Object.entries(a.constants)) {
    const cb = b.constants[k];
    if (!cb) return `${where}: constant %${k} is missing from b`;
    const d = constantDiff(ca, cb);
    if (d) return `${where}: constant %${k}: ${d}`;
  }
  for (let i = 0; i < a.nodes.length; i++) {
    const na = a.nodes[i], nb = b.nodes[i];
    for (const [k, attr] of Object.entries(na.attrs)) {
      const other = nb.attrs[k];
      const ga = attr.type === "graph" ? [attr.value] : attr.type === "graphs" ? attr.value : [];
      const gb = other?.type === "graph" ? [other.value] : other?.type === "graphs" ? other.value : [];
      for (let j = 0; j < ga.length; j++) {
        const d = constantsDiff(ga[j], gb[j], `${where}: node ${na.id} (${na.op}) attribute ${k}`);
        if (d) return d;
      }
    }
  }
  return undefined;
}

function constantDiff(a: Constant, b: Constant): string | undefined {
  if (!dtypeEquals(a.dtype, b.dtype)) return `element type ${printDType(a.dtype)} vs ${printDType(b.dtype)}`;
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    return `shape [${a.shape}] vs [${b.shape}]`;
  }
  if (a.strings || b.strings) {
    const sa = a.strings ?? [], sb = b.strings ?? [];
    const n = constantCount(a);
    for (let i = 0; i < n; i++) if (sa[i] !== sb[i]) return `string ${i} differs`;
    return undefined;
  }
  const x = constantBytes(a), y = constantBytes(b);
  if (x.length !== y.length) return `${x.length} bytes vs ${y.length}`;
  const at = firstDifference(x, y);
  return at < 0 ? undefined : `byte ${at} differs (${x[at]} vs ${y[at]})`;
}

/** Index of the first differing byte, or -1; compares 4 bytes at a time when both views allow it. */
function firstDifference(x: Uint8Array, y: Uint8Array): number {
  let i = 0;
  if (x.byteOffset % 4 === 0 && y.byteOffset % 4 === 0) {
    const n = x.length >> 2;
    const wx = new Uint32Array(x.buffer, x.byteOffset, n), wy = new Uint32Array(y.buffer, y.byteOffset, n);
    let k = 0;
    while (k < n && wx[k] === wy[k]) k++;
    i = k << 2;
  }
  for (; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}
