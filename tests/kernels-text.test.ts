/** StringNormalizer and TfIdfVectorizer against values counted by hand from the ONNX definitions. */
import assert from "node:assert/strict";
import { LatheError } from "../ir/errors.ts";
import type { Tensor } from "../runtime/tensor.ts";
import { runNode, tensor, values } from "./support/run-node.ts";

const strs = (shape: number[], v: string[]) => tensor("string", shape, v);

Deno.test("StringNormalizer removes stopwords case-insensitively, then changes case", () => {
  const [y] = runNode("StringNormalizer", [strs([4], ["Monday", "tuesday", "MONDAY", "x"])], {
    stopwords: ["monday"],
    case_change_action: "UPPER",
  }) as Tensor[];
  assert.deepEqual(y.shape, [2]);
  assert.deepEqual(values(y), ["TUESDAY", "X"]);
});

Deno.test("StringNormalizer with is_case_sensitive keeps words that differ in case from a stopword", () => {
  const [y] = runNode("StringNormalizer", [strs([1, 4], ["Monday", "tuesday", "monday", "x"])], {
    stopwords: ["monday"],
    is_case_sensitive: 1,
    case_change_action: "LOWER",
    locale: "en_US",
  }) as Tensor[];
  assert.deepEqual(y.shape, [1, 3]);
  assert.deepEqual(values(y), ["monday", "tuesday", "x"]);
});

Deno.test("StringNormalizer leaves one empty string when every word is a stopword", () => {
  const [a] = runNode("StringNormalizer", [strs([1, 2], ["a", "A"])], { stopwords: ["a"] }) as Tensor[];
  assert.deepEqual(a.shape, [1, 1]);
  assert.deepEqual(values(a), [""]);
  const [b] = runNode("StringNormalizer", [strs([2], ["a", "b"])], { stopwords: ["a", "b"] }) as Tensor[];
  assert.deepEqual(b.shape, [1]);
  assert.deepEqual(values(b), [""]);
});

Deno.test("StringNormalizer refuses a [2, C] input and an unknown action", () => {
  assert.throws(() => runNode("StringNormalizer", [strs([2, 1], ["a", "b"])], {}), LatheError);
  assert.throws(
    () => runNode("StringNormalizer", [strs([1], ["a"])], { case_change_action: "TITLE" }),
    LatheError,
  );
});

// Pool: unigrams 1 and 3, bigrams (1,2) and (2,3).
const pool = { pool_int64s: [1, 3, 1, 2, 2, 3], ngram_counts: [0, 2], ngram_indexes: [0, 1, 2, 3] };
const tfidf = (x: Tensor, attrs: Record<string, any>) =>
  values(
    runNode("TfIdfVectorizer", [x], {
      mode: "TF",
      min_gram_length: 1,
      max_gram_length: 2,
      max_skip_count: 0,
      ...pool,
      ...attrs,
    })[0],
  );

Deno.test("TfIdfVectorizer counts contiguous n-grams (TF)", () => {
  // [1,2,1,2,3]: unigram 1 twice, 3 once; (1,2) at 0 and 2; (2,3) at 3.
  assert.deepEqual(tfidf(tensor("i64", [5], [1, 2, 1, 2, 3]), {}), [2, 1, 2, 1]);
  // The same from i32 input.
  assert.deepEqual(tfidf(tensor("i32", [5], [1, 2, 1, 2, 3]), {}), [2, 1, 2, 1]);
});

Deno.test("TfIdfVectorizer skips: bigrams at distance 2 add, unigrams count once", () => {
  // Skip 1 pairs (1,1), (2,2), (1,3): none pooled.
  assert.deepEqual(tfidf(tensor("i64", [5], [1, 2, 1, 2, 3]), { max_skip_count: 1 }), [2, 1, 2, 1]);
  // Skip 2 pairs (1,2) at 0-3 and (2,3) at 1-4.
  assert.deepEqual(tfidf(tensor("i64", [5], [1, 2, 1, 2, 3]), { max_skip_count: 2 }), [2, 1, 3, 2]);
  // Only bigrams.
  assert.deepEqual(tfidf(tensor("i64", [5], [1, 2, 1, 2, 3]), { max_skip_count: 2, min_gram_length: 2 }), [
    0,
    0,
    3,
    2,
  ]);
  // Only unigrams: max_gram_length 1 ignores the bigram part of the pool.
  assert.deepEqual(tfidf(tensor("i64", [5], [1, 2, 1, 2, 3]), { max_skip_count: 3, max_gram_length: 1 }), [
    2,
    1,
    0,
    0,
  ]);
});

Deno.test("TfIdfVectorizer IDF and TFIDF weighting, ngram_indexes placement, batches", () => {
  const weights = [0.5, 0.25, 2, 4];
  // Counts per row: [1,2,1,2] -> [2,0,2,0]; [3,3,2,3] -> [0,3,0,1].
  const x = tensor("i64", [2, 4], [1, 2, 1, 2, 3, 3, 2, 3]);
  assert.deepEqual(tfidf(x, { mode: "IDF", weights }), [0.5, 0, 2, 0, 0, 0.25, 0, 4]);
  assert.deepEqual(tfidf(x, { mode: "TFIDF", weights }), [1, 0, 4, 0, 0, 0.75, 0, 4]);
  assert.deepEqual(tfidf(x, { mode: "IDF" }), [1, 0, 1, 0, 0, 1, 0, 1]);
  // Output column of n-gram i is ngram_indexes[i]; unused columns are zero.
  assert.deepEqual(tfidf(x, { ngram_indexes: [5, 0, 1, 2] }), [0, 2, 0, 0, 0, 2, 3, 0, 1, 0, 0, 0]);
});

Deno.test("TfIdfVectorizer over strings", () => {
  const x = strs([2, 3], ["a", "b", "b", "b", "b", "a"]);
  const y = runNode("TfIdfVectorizer", [x], {
    mode: "TF",
    min_gram_length: 1,
    max_gram_length: 2,
    max_skip_count: 0,
    pool_strings: ["a", "b", "a", "b"],
    ngram_counts: [0, 2],
    ngram_indexes: [0, 1, 2],
  })[0] as Tensor;
  assert.deepEqual(y.shape, [2, 3]);
  assert.deepEqual(values(y), [1, 2, 1, 1, 2, 0]);
});

Deno.test("TfIdfVectorizer refuses a pool that ngram_counts does not split", () => {
  assert.throws(() => tfidf(tensor("i64", [2], [1, 2]), { ngram_counts: [0, 3] }), LatheError);
  assert.throws(() => tfidf(tensor("i64", [2], [1, 2]), { ngram_indexes: [0, 1, 2] }), LatheError);
  assert.throws(() => tfidf(tensor("i64", [2], [1, 2]), { mode: "BM25" }), LatheError);
});
