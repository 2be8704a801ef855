// Kernels: text ops (StringNormalizer, TfIdfVectorizer).
import { LatheError } from "../../ir/errors.ts";
import { registerKernel } from "../kernel-registry.ts";
import { Tensor } from "../tensor.ts";
import { readNumbers, tensorArg } from "./number-view.ts";

registerKernel("StringNormalizer", (inputs, ctx) => {
  const x = tensorArg(inputs, 0, "X");
  if (x.dtype !== "string") throw new LatheError("runtime", "StringNormalizer takes a string tensor");
  const twoD = x.shape.length === 2;
  if (x.shape.length !== 1 && !(twoD && x.shape[0] === 1)) {
    throw new LatheError("runtime", `StringNormalizer takes [C] or [1, C], got [${x.shape}]`);
  }
  const { case_change_action: action, is_case_sensitive: sensitive } = ctx.attrs;
  const fold = (s: string) => (sensitive ? s : s.toLowerCase());
  const stop = new Set<string>((ctx.attrs.stopwords as string[]).map(fold));
  const out: string[] = [];
  for (const s of x.data as string[]) {
    if (stop.size && stop.has(fold(s))) continue;
    out.push(action === "LOWER" ? s.toLowerCase() : action === "UPPER" ? s.toUpperCase() : s);
  }
  // Everything filtered out: the spec keeps one empty string rather than an empty tensor.
  if (!out.length) out.push("");
  return [new Tensor("string", twoD ? [1, out.length] : [out.length], out)];
});

/** A trie over the pool's n-grams: each node is one more item; `index` is the n-gram's number, or -1. */
interface TrieNode {
  index: number;
  next: Map<number | string, TrieNode> | undefined;
}

function buildTrie(
  pool: readonly (number | string)[],
  counts: readonly number[],
  nIndexes: number,
): TrieNode {
  const root: TrieNode = { index: -1, next: undefined };
  let id = 0;
  for (let level = 0; level < counts.length; level++) {
    const n = level + 1;
    const start = counts[level], end = level + 1 < counts.length ? counts[level + 1] : pool.length;
    if (start < 0 || end > pool.length || end < start || (end - start) % n !== 0) {
      throw new LatheError(
        "runtime",
        `ngram_counts[${level}] = ${start} does not split the pool into ${n}-grams`,
      );
    }
    for (let p = start; p < end; p += n) {
      let node = root;
      for (let k = 0; k < n; k++) {
        node.next ??= new Map();
        let child = node.next.get(pool[p + k]);
        if (!child) node.next.set(pool[p + k], child = { index: -1, next: undefined });
        node = child;
      }
      node.index = id++;
    }
  }
  if (id !== nIndexes) {
    throw new LatheError("runtime", `the pool holds ${id} n-grams but ngram_indexes has ${nIndexes}`);
  }
  return root;
}

registerKernel("TfIdfVectorizer", (inputs, ctx) => {
  const x = tensorArg(inputs, 0, "X");
  const a = ctx.attrs;
  const strings = x.dtype === "string";
  if (!strings && x.dtype !== "i32" && x.dtype !== "i64") {
    throw new LatheError("runtime", "TfIdfVectorizer takes string, i32 or i64");
  }
  if (x.shape.length !== 1 && x.shape.length !== 2) {
    throw new LatheError("runtime", `X must be [C] or [N, C], got [${x.shape}]`);
  }
  const pool: readonly (number | string)[] = strings ? a.pool_strings : a.pool_int64s;
  const indexes: readonly number[] = a.ngram_indexes;
  const weights: readonly number[] = a.weights;
  if (weights.length && weights.length !== indexes.length) {
    throw new LatheError("runtime", `weights has ${weights.length} values for ${indexes.length} n-grams`);
  }
  const trie = buildTrie(pool, a.ngram_counts, indexes.length);
  const width = indexes.length ? Math.max(...indexes) + 1 : 0;
  const [N, C] = x.shape.length === 1 ? [1, x.shape[0]] : x.shape;
  const items: ArrayLike<number | string> = strings ? (x.data as string[]) : readNumbers(x);
  const lo: number = a.min_gram_length, hi: number = a.max_gram_length, maxSkip: number = a.max_skip_count;
  const counts = new Float64Array(indexes.length);
  const y = ctx.alloc("f32", x.shape.length === 1 ? [width] : [N, width]);
  const yd = y.data as Float32Array;
  for (let row = 0; row < N; row++) {
    counts.fill(0);
    const base = row * C;
    for (let skip = 0; skip <= maxSkip; skip++) {
      const stride = skip + 1;
      for (let start = 0; start < C; start++) {
        let node: TrieNode | undefined = trie;
        for (let n = 1, pos = start; n <= hi && pos < C; n++, pos += stride) {
          node = node.next?.get(items[base + pos]);
          if (!node) break;
          // A unigram is the same at every skip distance; it counts once.
          if (n >= lo && node.index >= 0 && (n > 1 || skip === 0)) counts[node.index]++;
        }
      }
      if (hi === 1) break;
    }
    const out = row * width;
    yd.fill(0, out, out + width);
    for (let i = 0; i < indexes.length; i++) {
      const c = counts[i], w = weights.length ? weights[i] : 1;
      yd[out + indexes[i]] = a.mode === "TF" ? c : a.mode === "IDF" ? (c > 0 ? w : 0) : c * w;
    }
  }
  return [y];
});
