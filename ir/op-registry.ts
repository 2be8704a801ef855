/**
 * The op registry: one declaration per op with its operands, typed attributes with defaults, and type
 * inference. Kernels live in runtime/ and register against the same key, so adding an op touches its
 * declaration and its kernel, nothing else.
 */
import type { Attr, AttrType, AttrValueOf } from "./attr.ts";
import type { Constant } from "./constant.ts";
import type { DType } from "./dtype.ts";
import { LatheError } from "./errors.ts";
import type { Node } from "./graph.ts";
import type { Dim, Shape, TensorType, ValueType } from "./value-type.ts";

export interface OperandSpec {
  readonly name: string;
  readonly optional?: boolean;
  /** Takes all remaining operands (Concat's inputs, Split's outputs). */
  readonly variadic?: boolean;
}

export interface AttrSpec<T extends AttrType = AttrType> {
  readonly type: T;
  readonly default?: AttrValueOf[T];
  readonly required?: boolean;
}

export interface InferContext {
  readonly node: Node;
  /** Input types; undefined for omitted optional inputs. */
  readonly inputs: readonly (ValueType | undefined)[];
  readonly attrs: Readonly<Record<string, any>>;
  /** The tensor type of input i (throws a verify error naming the node if it is not a tensor). */
  tensor(i: number): TensorType;
  /** Constant data of input i when it is a constant (Reshape's shape, Slice's starts...). */
  constant(i: number): Constant | undefined;
  /** Integer values of a constant input (i64/i32), or undefined when not constant. */
  ints(i: number): number[] | undefined;
  /** Float values of a small constant input, or undefined when not constant. */
  floats(i: number): number[] | undefined;
  /** A new symbolic dimension for data-dependent sizes. */
  fresh(hint?: string): string;
  fail(reason: string): never;
}

export interface OpDecl {
  readonly op: string;
  readonly inputs: readonly OperandSpec[];
  readonly outputs: readonly OperandSpec[];
  readonly attrs?: Readonly<Record<string, AttrSpec>>;
  readonly infer?: (ctx: InferContext) => ValueType[];
  /**
   * Types of a subgraph's inputs that the body itself may leave undeclared, derived from the node's operand
   * types (a Loop body's iteration number, condition and carried values), by graph attribute name.
   */
  readonly subgraphInputs?: (
    inputs: readonly (ValueType | undefined)[],
  ) => Record<string, readonly (ValueType | undefined)[]>;
  /** Random or stateful: never folded or merged by CSE. */
  readonly impure?: boolean;
  readonly doc?: string;
}

const registry = new Map<string, OpDecl>();

export function defineOp(decl: OpDecl): OpDecl {
  if (registry.has(decl.op)) throw new Error(`op ${decl.op} declared twice`);
  registry.set(decl.op, decl);
  return decl;
}

export function getOp(op: string): OpDecl | undefined {
  return registry.get(op);
}

export function registeredOps(): string[] {
  return [...registry.keys()].sort();
}

/** Attribute spec builders, so declarations read as data: `{ axis: a.int(1), pads: a.ints([]) }`. */
export const a = {
  int: (d?: number): AttrSpec<"int"> => ({ type: "int", default: d }),
  float: (d?: number): AttrSpec<"float"> => ({ type: "float", default: d }),
  string: (d?: string): AttrSpec<"string"> => ({ type: "string", default: d }),
  ints: (d?: readonly number[]): AttrSpec<"ints"> => ({ type: "ints", default: d }),
  floats: (d?: readonly number[]): AttrSpec<"floats"> => ({ type: "floats", default: d }),
  strings: (d?: readonly string[]): AttrSpec<"strings"> => ({ type: "strings", default: d }),
  tensor: (): AttrSpec<"tensor"> => ({ type: "tensor" }),
  tensors: (): AttrSpec<"tensors"> => ({ type: "tensors" }),
  graph: (): AttrSpec<"graph"> => ({ type: "graph", required: true }),
  graphs: (): AttrSpec<"graphs"> => ({ type: "graphs" }),
  type: (): AttrSpec<"type"> => ({ type: "type" }),
  required: <T extends AttrType>(s: AttrSpec<T>): AttrSpec<T> => ({ ...s, required: true }),
};

/** Operand spec builders: `ins("X", "W", opt("B"))`. */
export const opt = (name: string): OperandSpec => ({ name, optional: true });
export const many = (name: string): OperandSpec => ({ name, variadic: true });
export const ins = (...xs: (string | OperandSpec)[]): OperandSpec[] =>
  xs.map((x) => (typeof x === "string" ? { name: x } : x));

const resolved = new WeakMap<Node, Record<string, any>>();

/**
 * The node's attributes as plain values with declared defaults filled in. Attributes the declaration does
 * not know are passed through, so opaque (custom) ops keep theirs.
 */
export function resolveAttrs(node: Node): Readonly<Record<string, any>> {
  let r = resolved.get(node);
  if (r) return r;
  r = {};
  const decl = registry.get(node.op);
  if (decl?.attrs) {
    for (const [k, spec] of Object.entries(decl.attrs)) {
      const given = node.attrs[k];
      if (given) {
        if (!attrTypeCompatible(spec.type, given)) {
          throw new LatheError("verify", `attribute ${k} is ${given.type}, expected ${spec.type}`, {
            field: `node ${node.id} (${node.op})`,
          });
        }
        r[k] = coerce(spec.type, given);
      } else if (spec.required) {
        throw new LatheError("verify", `required attribute ${k} missing`, {
          field: `node ${node.id} (${node.op})`,
        });
      } else if (spec.default !== undefined) r[k] = spec.default;
    }
  }
  for (const [k, v] of Object.entries(node.attrs)) if (!(k in r)) r[k] = v.value;
  resolved.set(node, r);
  return r;
}

/** Writers sometimes store an int where a float is declared (and vice versa for lists of whole numbers). */
function attrTypeCompatible(want: AttrType, got: Attr): boolean {
  if (want === got.type) return true;
  if (want === "float" && got.type === "int") return true;
  if (want === "floats" && got.type === "ints") return true;
  if (
    (want === "ints" || want === "floats" || want === "strings") && got.value instanceof Array &&
    got.value.length === 0
  ) {
    return true;
  }
  return false;
}
function coerce(_want: AttrType, got: Attr): unknown {
  return got.value;
}

export type { Dim, DType, Shape };
