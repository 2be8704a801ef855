/** Comparing two [tokens, vocab] logit arrays the way the GGUF acceptance criteria state it. */

export interface LogitAgreement {
  tokens: number;
  /** Positions whose argmax differs. */
  argmaxMismatches: number[];
  maxAbsDiff: number;
  /** Largest |logit| of the reference. */
  maxAbsRef: number;
  /** maxAbsDiff / maxAbsRef. */
  relative: number;
}

export function compareLogits(got: Float32Array, ref: Float32Array, vocab: number): LogitAgreement {
  if (got.length !== ref.length || got.length % vocab !== 0) {
    throw new Error(`logit arrays of ${got.length} and ${ref.length} values for vocab ${vocab}`);
  }
  const tokens = ref.length / vocab;
  const argmaxMismatches: number[] = [];
  let maxAbsDiff = 0, maxAbsRef = 0;
  for (let t = 0; t < tokens; t++) {
    let ag = 0, ar = 0;
    for (let v = 0; v < vocab; v++) {
      const i = t * vocab + v;
      const d = Math.abs(got[i] - ref[i]);
      if (!(d <= maxAbsDiff)) maxAbsDiff = d;
      if (Math.abs(ref[i]) > maxAbsRef) maxAbsRef = Math.abs(ref[i]);
      if (got[i] > got[t * vocab + ag]) ag = v;
      if (ref[i] > ref[t * vocab + ar]) ar = v;
    }
    if (ag !== ar) argmaxMismatches.push(t);
  }
  return { tokens, argmaxMismatches, maxAbsDiff, maxAbsRef, relative: maxAbsDiff / maxAbsRef };
}

export function describeAgreement(a: LogitAgreement): string {
  return `max |Δ| ${a.maxAbsDiff.toExponential(2)} = ${(100 * a.relative).toFixed(4)}% of max |logit| ${
    a.maxAbsRef.toFixed(3)
  }; argmax same at ${a.tokens - a.argmaxMismatches.length}/${a.tokens}`;
}
