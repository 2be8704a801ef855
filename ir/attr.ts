/**
 * Node attributes carry their type, so a float 1.0 and an int 1 stay distinct through printing, parsing and
 * export, including for ops Lathe has no declaration for.
 */
import type { Constant } from "./constant.ts";
import type { Graph } from "./graph.ts";
import type { ValueType } from "./value-type.ts";

export type Attr =
  | { readonly type: "int"; readonly value: number }
  | { readonly type: "float"; readonly value: number }
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "ints"; readonly value: readonly number[] }
  | { readonly type: "floats"; readonly value: readonly number[] }
  | { readonly type: "strings"; readonly value: readonly string[] }
  | { readonly type: "tensor"; readonly value: Constant }
  | { readonly type: "tensors"; readonly value: readonly Constant[] }
  | { readonly type: "graph"; readonly value: Graph }
  | { readonly type: "graphs"; readonly value: readonly Graph[] }
  | { readonly type: "type"; readonly value: ValueType };

export type AttrType = Attr["type"];
export type Attrs = Readonly<Record<string, Attr>>;

/** The plain JS value an attribute of each type resolves to. */
export interface AttrValueOf {
  int: number;
  float: number;
  string: string;
  ints: readonly number[];
  floats: readonly number[];
  strings: readonly string[];
  tensor: Constant;
  tensors: readonly Constant[];
  graph: Graph;
  graphs: readonly Graph[];
  type: ValueType;
}

export const int = (value: number): Attr => ({ type: "int", value });
export const float = (value: number): Attr => ({ type: "float", value });
export const str = (value: string): Attr => ({ type: "string", value });
export const ints = (value: readonly number[]): Attr => ({ type: "ints", value });
export const floats = (value: readonly number[]): Attr => ({ type: "floats", value });
export const strs = (value: readonly string[]): Attr => ({ type: "strings", value });
export const graphAttr = (value: Graph): Attr => ({ type: "graph", value });
