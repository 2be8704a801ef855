/**
 * Lathe's one error type. Every failure a user can cause (a bad file, a bad flag, a graph that breaks an
 * invariant) surfaces as a LatheError that names where it happened and why, so callers never have to
 * interpret a raw TypeError or RangeError.
 */
export interface ErrorLocation {
  /** The file being read or written, when there is one. */
  file?: string;
  /** Byte offset into that file. */
  offset?: number;
  /** The field, node, value or attribute, as a dotted path (e.g. `graph.node[3].attribute[0].ints`). */
  field?: string;
}

export type ErrorKind =
  | "format" // the bytes of a model file are malformed
  | "unsupported" // well-formed but outside what Lathe implements
  | "verify" // a graph breaks an IR invariant
  | "runtime" // a kernel was given inputs it cannot run on
  | "usage" // bad CLI flags or API arguments
  | "io"; // file system

export class LatheError extends Error {
  override name = "LatheError";
  constructor(
    readonly kind: ErrorKind,
    readonly reason: string,
    readonly where: ErrorLocation = {},
    options?: { cause?: unknown },
  ) {
    super(formatMessage(kind, reason, where), options);
  }
}

function formatMessage(kind: ErrorKind, reason: string, where: ErrorLocation): string {
  const parts: string[] = [];
  if (where.file) parts.push(where.file);
  if (where.offset !== undefined) parts.push(`byte ${where.offset}`);
  if (where.field) parts.push(where.field);
  return parts.length ? `${kind} error: ${parts.join(": ")}: ${reason}` : `${kind} error: ${reason}`;
}

/** Adds a file name to a LatheError raised deeper down, where the file was not known. */
export function withFile(e: unknown, file: string): unknown {
  if (e instanceof LatheError && !e.where.file) {
    return new LatheError(e.kind, e.reason, { ...e.where, file }, { cause: e.cause });
  }
  return e;
}

/** 64-bit header fields stay bigint until checked; this is the one place they become numbers. */
export function toSafeNumber(v: bigint, where: ErrorLocation, what = "value"): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new LatheError("format", `${what} ${v} does not fit in a safe integer`, where);
  }
  return Number(v);
}
