/** Where ../shared lives, and a clear skip when it does not (a user's clone has no corpus). */
export const SHARED_DIR = new URL("../../../shared/", import.meta.url).pathname;
export const CORPUS_DIR = `${SHARED_DIR}corpus/`;

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

export const HAVE_CORPUS = exists(CORPUS_DIR);
let warned = false;

/** Use as `Deno.test({ name, ignore: noCorpus(), fn })`; prints why once. */
export function noCorpus(): boolean {
  if (!HAVE_CORPUS && !warned) {
    warned = true;
    console.warn(`SKIP corpus tests: ${CORPUS_DIR} is absent (it sits beside the repo as ../shared in CI)`);
  }
  return !HAVE_CORPUS;
}

export function corpusPath(rel: string): string {
  return CORPUS_DIR + rel;
}
