/**
 * Declarative patterns over the IR, in the manner of tinygrad's UPat and MLIR's rewrite patterns. A pattern
 * matches a value (an operand position); op patterns look at the node that produces it. Named captures
 * build a typed bindings object, so `P.Mul(P.var("x"), P.const(1))` gives `{ x: ValueRef }` and a misspelt
 * capture fails to compile. A failed match says why and how deep it got, which is what `--explain` shows.
 */
import type { Constant } from "../ir/constant.ts";
import { constantCount } from "../ir/constant.ts";
import { constantNumbers } from "../ir/constant-values.ts";
import { type DType, printDType } from "../ir/dtype.ts";
import type { Graph, Node } from "../ir/graph.ts";
import { graphIndex } from "../ir/graph.ts";
import { resolveAttrs } from "../ir/op-registry.ts";
import type { TensorType, ValueType } from "../ir/value-type.ts";

/** A value seen through a match: its name, type, producer and constant data when it has them. */
export interface ValueRef {
  readonly name: string;
  readonly type: ValueType | undefined;
  readonly node?: Node;
  readonly constant?: Constant;
}

export interface MatchContext {
  readonly graph: Graph;
  /** Values that are graph outputs (a value with an outside user). */
  readonly outputs: ReadonlySet<string>;
}

export type Captures = Record<string, unknown>;
export type Fail = { ok: false; reason: string; depth: number; path: string };
/** A match also lists the nodes its op patterns consumed (so a rewrite can credit all of them). */
export type MatchResult<C> = { ok: true; captures: C; depth: number; nodes?: readonly Node[] } | Fail;

/** No captures (an object type with no keys; `{}` reads as "anything" to readers and linters). */
export type NoCaptures = Record<never, never>;
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I
  : never;
type CapturesOf<P> = P extends Pattern<infer C> ? C : never;
type Merge<Ps extends readonly Pattern<any>[]> = [Ps[number]] extends [never] ? NoCaptures
  : UnionToIntersection<CapturesOf<Ps[number]>> extends infer M extends Captures ? M
  : never;
type Simplify<T> = { [K in keyof T]: T[K] } & NoCaptures;

export function valueRef(ctx: MatchContext, name: string): ValueRef {
  const g = ctx.graph;
  return {
    name,
    type: g.values[name]?.type,
    node: graphIndex(g).producer.get(name),
    constant: g.constants[name],
  };
}

const fail = (reason: string, depth: number, path: string): Fail => ({ ok: false, reason, depth, path });

export abstract class Pattern<C extends Captures = NoCaptures> {
  /** Matches the value named `v` (null for an omitted operand). */
  abstract matchValue(v: string | null, ctx: MatchContext, depth: number, path: string): MatchResult<C>;
  /** The root op this pattern needs, for indexing rules (undefined: any). */
  rootOps(): readonly string[] | undefined {
    return undefined;
  }
  abstract describe(): string;

  /** A side condition on the captures; `reason` (or the predicate's returned string) explains a failure. */
  where(
    pred: (c: Simplify<C>, ctx: MatchContext) => boolean | string,
    reason = "condition failed",
  ): Pattern<C> {
    return new Where(this, pred as (c: C, ctx: MatchContext) => boolean | string, reason);
  }
  /** The matched value has exactly one user and is not a graph output (safe to fuse away). */
  oneUse(): Pattern<C> {
    return new OneUse(this);
  }
  /** Element type of the matched value. */
  dtype(...ds: DType[]): Pattern<C> {
    const want = ds.map(printDType);
    return this.whereValue((t) =>
      t?.kind === "tensor" && want.includes(printDType(t.dtype))
        ? true
        : `element type is not ${want.join(" or ")}`
    );
  }
  rank(r: number): Pattern<C> {
    return this.whereValue((t) => t?.kind === "tensor" && t.shape?.length === r ? true : `rank is not ${r}`);
  }
  private whereValue(pred: (t: ValueType | undefined) => true | string): Pattern<C> {
    return new ValueCheck(this, pred);
  }
}

class Var<N extends string> extends Pattern<Record<N, ValueRef>> {
  constructor(readonly name: N | undefined) {
    super();
  }
  matchValue(
    v: string | null,
    ctx: MatchContext,
    depth: number,
    path: string,
  ): MatchResult<Record<N, ValueRef>> {
    if (v === null) return fail("operand is absent", depth, path);
    return {
      ok: true,
      captures: (this.name ? { [this.name]: valueRef(ctx, v) } : {}) as Record<N, ValueRef>,
      depth: depth + 1,
    };
  }
  describe() {
    return this.name ? `var(${this.name})` : "any";
  }
}

class Const<N extends string> extends Pattern<Record<N, ValueRef>> {
  constructor(readonly name: N | undefined, readonly value: number | undefined) {
    super();
  }
  matchValue(
    v: string | null,
    ctx: MatchContext,
    depth: number,
    path: string,
  ): MatchResult<Record<N, ValueRef>> {
    if (v === null) return fail("operand is absent", depth, path);
    const c = ctx.graph.constants[v];
    if (!c) return fail(`%${v} is not a constant`, depth, path);
    if (ctx.graph.inputs.includes(v)) return fail(`%${v} is an overridable input`, depth, path);
    if (this.value !== undefined) {
      if (constantCount(c) > 4096 || typeof c.dtype !== "string" || c.dtype === "string") {
        return fail(`%${v} is not a small numeric constant`, depth, path);
      }
      const xs = constantNumbers(c);
      if (!xs.every((x) => x === this.value)) return fail(`%${v} is not all ${this.value}`, depth, path);
    }
    return {
      ok: true,
      captures: (this.name ? { [this.name]: valueRef(ctx, v) } : {}) as Record<N, ValueRef>,
      depth: depth + 1,
    };
  }
  describe() {
    return this.value !== undefined ? `const(${this.value})` : `const(${this.name ?? ""})`;
  }
}

export interface OpOptions {
  /** Two-operand op whose operands may be swapped (Add, Mul). */
  commutative?: boolean;
  /** Operands past the listed ones are allowed (and ignored). */
  rest?: boolean;
}

export class OpPattern<C extends Captures> extends Pattern<C> {
  constructor(
    readonly ops: readonly string[],
    readonly operands: readonly Pattern<any>[],
    readonly opts: OpOptions = {},
    readonly nodeName?: string,
    readonly attrEq: Readonly<Record<string, unknown>> = {},
  ) {
    super();
  }
  override rootOps() {
    return this.ops;
  }
  /** Captures the matched node itself as `name`. */
  as<N extends string>(name: N): OpPattern<C & Record<N, Node>> {
    return new OpPattern(this.ops, this.operands, this.opts, name, this.attrEq);
  }
  /** Attributes (after defaults) must equal these values. */
  attrs(eq: Record<string, unknown>): OpPattern<C> {
    return new OpPattern(this.ops, this.operands, this.opts, this.nodeName, { ...this.attrEq, ...eq });
  }
  commutative(): OpPattern<C> {
    return new OpPattern(
      this.ops,
      this.operands,
      { ...this.opts, commutative: true },
      this.nodeName,
      this.attrEq,
    );
  }
  rest(): OpPattern<C> {
    return new OpPattern(this.ops, this.operands, { ...this.opts, rest: true }, this.nodeName, this.attrEq);
  }
  matchValue(v: string | null, ctx: MatchContext, depth: number, path: string): MatchResult<C> {
    if (v === null) return fail("operand is absent", depth, path);
    const node = graphIndex(ctx.graph).producer.get(v);
    if (!node) {
      return fail(
        `%${v} is not produced by a node (${ctx.graph.constants[v] ? "constant" : "input"})`,
        depth,
        path,
      );
    }
    if (node.outputs[0] !== v && this.operands.length) {
      // Operand patterns describe a node through its first output; other outputs still match by op.
    }
    return this.matchNode(node, ctx, depth, path);
  }
  matchNode(node: Node, ctx: MatchContext, depth: number, path: string): MatchResult<C> {
    const here = `${path}${path ? " > " : ""}${node.op}@${node.id}`;
    if (!this.ops.includes(node.op)) {
      return fail(`${node.id} is ${node.op}, not ${this.ops.join("|")}`, depth, path || node.id);
    }
    depth++;
    for (const [k, want] of Object.entries(this.attrEq)) {
      const got = resolveAttrs(node)[k];
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        return fail(`attribute ${k} is ${JSON.stringify(got)}, not ${JSON.stringify(want)}`, depth, here);
      }
    }
    const present = trimmed(node.inputs);
    const n = this.operands.length;
    if (!this.opts.rest && present.length > n) {
      // Trailing optional operands the pattern does not list must be absent.
      return fail(`${node.op} has ${present.length} operands, the pattern lists ${n}`, depth, here);
    }
    const orders = this.opts.commutative && n === 2
      ? [[0, 1], [1, 0]]
      : [Array.from({ length: n }, (_, i) => i)];
    let best: Fail | undefined;
    for (const order of orders) {
      let caps: Captures = this.nodeName ? { [this.nodeName]: node } : {};
      let d = depth;
      let failed: Fail | undefined;
      const nodes: Node[] = [node];
      for (let i = 0; i < n; i++) {
        const operand = node.inputs[order[i]] ?? null;
        const r = this.operands[i].matchValue(operand, ctx, d, `${here}[${i}]`);
        if (!r.ok) {
          failed = r;
          break;
        }
        caps = { ...caps, ...r.captures };
        d = r.depth;
        if (r.nodes) nodes.push(...r.nodes);
      }
      if (!failed) return { ok: true, captures: caps as C, depth: d, nodes };
      if (!best || failed.depth > best.depth) best = failed;
    }
    return best!;
  }
  describe(): string {
    return `${this.ops.join("|")}(${this.operands.map((o) => o.describe()).join(", ")}${
      this.opts.rest ? ", ..." : ""
    })`;
  }
}

function trimmed(xs: readonly (string | null)[]): (string | null)[] {
  let n = xs.length;
  while (n > 0 && !xs[n - 1]) n--;
  return xs.slice(0, n);
}

class Optional<C extends Captures> extends Pattern<Partial<C>> {
  constructor(readonly inner: Pattern<C>) {
    super();
  }
  matchValue(v: string | null, ctx: MatchContext, depth: number, path: string): MatchResult<Partial<C>> {
    if (v === null) return { ok: true, captures: {}, depth };
    return this.inner.matchValue(v, ctx, depth, path);
  }
  describe() {
    return `${this.inner.describe()}?`;
  }
}

class Alt<C extends Captures> extends Pattern<C> {
  constructor(readonly alts: readonly Pattern<C>[]) {
    super();
  }
  matchValue(v: string | null, ctx: MatchContext, depth: number, path: string): MatchResult<C> {
    let best: Fail | undefined;
    for (const a of this.alts) {
      const r = a.matchValue(v, ctx, depth, path);
      if (r.ok) return r;
      if (!best || r.depth > best.depth) best = r;
    }
    return best ?? fail("no alternative", depth, path);
  }
  override rootOps() {
    const all = this.alts.map((a) => a.rootOps());
    return all.some((x) => x === undefined) ? undefined : all.flat() as string[];
  }
  describe() {
    return `(${this.alts.map((a) => a.describe()).join(" | ")})`;
  }
}

class Where<C extends Captures> extends Pattern<C> {
  constructor(
    readonly inner: Pattern<C>,
    readonly pred: (c: C, ctx: MatchContext) => boolean | string,
    readonly reason: string,
  ) {
    super();
  }
  matchValue(v: string | null, ctx: MatchContext, depth: number, path: string): MatchResult<C> {
    const r = this.inner.matchValue(v, ctx, depth, path);
    if (!r.ok) return r;
    const ok = this.pred(r.captures, ctx);
    if (ok === true) return { ...r, depth: r.depth + 1 };
    return fail(typeof ok === "string" ? ok : this.reason, r.depth, path || (v ?? ""));
  }
  override rootOps() {
    return this.inner.rootOps();
  }
  describe() {
    return `${this.inner.describe()}.where(${this.reason})`;
  }
}

class OneUse<C extends Captures> extends Pattern<C> {
  constructor(readonly inner: Pattern<C>) {
    super();
  }
  matchValue(v: string | null, ctx: MatchContext, depth: number, path: string): MatchResult<C> {
    if (v !== null) {
      const users = graphIndex(ctx.graph).users.get(v)?.length ?? 0;
      if (users !== 1 || ctx.outputs.has(v)) {
        return fail(
          `%${v} has ${users} users${ctx.outputs.has(v) ? " and is a graph output" : ""}`,
          depth,
          path,
        );
      }
    }
    return this.inner.matchValue(v, ctx, depth, path);
  }
  override rootOps() {
    return this.inner.rootOps();
  }
  describe() {
    return `${this.inner.describe()}.oneUse()`;
  }
}

class ValueCheck<C extends Captures> extends Pattern<C> {
  constructor(readonly inner: Pattern<C>, readonly pred: (t: ValueType | undefined) => true | string) {
    super();
  }
  matchValue(v: string | null, ctx: MatchContext, depth: number, path: string): MatchResult<C> {
    const r = this.inner.matchValue(v, ctx, depth, path);
    if (!r.ok || v === null) return r;
    const ok = this.pred(ctx.graph.values[v]?.type);
    return ok === true ? { ...r, depth: r.depth + 1 } : fail(`%${v}: ${ok}`, r.depth, path);
  }
  override rootOps() {
    return this.inner.rootOps();
  }
  describe() {
    return this.inner.describe();
  }
}

/** Tensor type of a captured value (undefined for sequences or unknown). */
export function tensorTypeOf(v: ValueRef): TensorType | undefined {
  return v.type?.kind === "tensor" ? v.type : undefined;
}

type OpBuilder = <const Ps extends readonly Pattern<any>[]>(...operands: Ps) => OpPattern<Merge<Ps>>;

interface PatternFactory {
  /** Any value, captured as `name`. */
  var<N extends string>(name: N): Pattern<Record<N, ValueRef>>;
  /** Any value, not captured. */
  any(): Pattern<NoCaptures>;
  /** A constant; with a string, captured under that name; with a number, every element equals it. */
  const<N extends string>(name: N): Pattern<Record<N, ValueRef>>;
  const(value: number): Pattern<NoCaptures>;
  /** A node of one of `ops` with these operands. */
  op<const Ps extends readonly Pattern<any>[]>(
    ops: string | readonly string[],
    operands: Ps,
    opts?: OpOptions,
  ): OpPattern<Merge<Ps>>;
  /** An operand that may be absent. */
  opt<C extends Captures>(p: Pattern<C>): Pattern<Partial<C>>;
  /** The first alternative that matches. */
  oneOf<C extends Captures>(...alts: Pattern<C>[]): Pattern<C>;
}

type Upper =
  | "A"
  | "B"
  | "C"
  | "D"
  | "E"
  | "F"
  | "G"
  | "H"
  | "I"
  | "J"
  | "K"
  | "L"
  | "M"
  | "N"
  | "O"
  | "P"
  | "Q"
  | "R"
  | "S"
  | "T"
  | "U"
  | "V"
  | "W"
  | "X"
  | "Y"
  | "Z";
/** `P.Conv(x, w)` is `P.op("Conv", [x, w])`; ops of other domains go through `P.op("com.microsoft.FusedConv", ...)`. */
type OpBuilders = { readonly [op: `${Upper}${string}`]: OpBuilder };

const base = {
  var: <N extends string>(name: N) => new Var<N>(name),
  any: () => new Var<never>(undefined) as Pattern<NoCaptures>,
  const: (
    x: string | number,
  ) => (typeof x === "number" ? new Const<never>(undefined, x) : new Const(x, undefined)),
  op: (ops: string | readonly string[], operands: readonly Pattern<any>[], opts: OpOptions = {}) =>
    new OpPattern(typeof ops === "string" ? [ops] : ops, operands, opts),
  opt: <C extends Captures>(p: Pattern<C>) => new Optional(p),
  oneOf: <C extends Captures>(...alts: Pattern<C>[]) => new Alt(alts),
};

export const P: PatternFactory & OpBuilders = new Proxy(base as any, {
  get(target, prop) {
    if (typeof prop !== "string") return undefined;
    if (prop in target) return target[prop];
    return (...operands: Pattern<any>[]) => new OpPattern([prop], operands);
  },
});
