/**
 * Text ops: StringNormalizer (stopword removal and case change) and TfIdfVectorizer (n-gram counting
 * against a pool, with skips, weighted as TF, IDF or TF-IDF).
 */
import { printDType } from "../dtype.ts";
import { a, defineOp, ins } from "../op-registry.ts";
import { tensorType } from "../value-type.ts";

defineOp({
  op: "StringNormalizer",
  inputs: ins("X"),
  outputs: ins("Y"),
  attrs: {
    case_change_action: a.string("NONE"),
    is_case_sensitive: a.int(0),
    locale: a.string(""),
    stopwords: a.strings([]),
  },
  infer(ctx) {
    const x = ctx.tensor(0);
    if (x.dtype !== "string") ctx.fail("X must be a string tensor");
    const action = ctx.attrs.case_change_action;
    if (!["NONE", "LOWER", "UPPER"].includes(action)) ctx.fail(`unknown case_change_action '${action}'`);
    const locale: string = ctx.attrs.locale;
    if (locale && !/^en([_-]|$)/i.test(locale) && locale !== "C") {
      ctx.fail(`locale '${locale}' is not supported (English only)`);
    }
    // Stopword removal changes the length; C' is not known before run time.
    if (!x.shape) return [tensorType("string")];
    if (x.shape.length === 1) return [tensorType("string", [ctx.fresh("strnorm")])];
    if (x.shape.length === 2 && (x.shape[0] === 1 || typeof x.shape[0] === "string")) {
      return [tensorType("string", [1, ctx.fresh("strnorm")])];
    }
    return ctx.fail(`X must be [C] or [1, C], got rank ${x.shape.length}`);
  },
  doc: "removes stopwords and changes case; an input left empty gives one empty string",
});

defineOp({
  op: "TfIdfVectorizer",
  inputs: ins("X"),
  outputs: ins("Y"),
  attrs: {
    max_gram_length: a.required(a.int()),
    min_gram_length: a.required(a.int()),
    max_skip_count: a.required(a.int()),
    mode: a.required(a.string()),
    ngram_counts: a.required(a.ints()),
    ngram_indexes: a.required(a.ints()),
    pool_int64s: a.ints([]),
    pool_strings: a.strings([]),
    weights: a.floats([]),
  },
  infer(ctx) {
    const x = ctx.tensor(0);
    const dt = printDType(x.dtype);
    if (dt !== "string" && dt !== "i32" && dt !== "i64") ctx.fail("X must be string, i32 or i64");
    const { mode, min_gram_length: lo, max_gram_length: hi, max_skip_count: skip } = ctx.attrs;
    if (!["TF", "IDF", "TFIDF"].includes(mode)) ctx.fail(`unknown mode '${mode}'`);
    if (lo < 1 || hi < lo) ctx.fail(`gram lengths must satisfy 1 <= min (${lo}) <= max (${hi})`);
    if (skip < 0) ctx.fail("max_skip_count must not be negative");
    const idx: readonly number[] = ctx.attrs.ngram_indexes;
    const width = idx.length ? Math.max(...idx) + 1 : 0;
    if (idx.some((i) => i < 0)) ctx.fail("ngram_indexes must not be negative");
    if (!x.shape) return [tensorType("f32")];
    if (x.shape.length === 1) return [tensorType("f32", [width])];
    if (x.shape.length === 2) return [tensorType("f32", [x.shape[0], width])];
    return ctx.fail(`X must be [C] or [N, C], got rank ${x.shape.length}`);
  },
  doc:
    "counts the pool's n-grams (with up to max_skip_count skips) per row; Y[ngram_indexes[i]] scores n-gram i",
});
