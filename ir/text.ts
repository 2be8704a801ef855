/**
 * The IR's text form. It prints every field a graph holds and parses back to an equal graph; constants
 * larger than a threshold are elided and supplied by name when parsing (`parseGraph(text, { constants })`).
 *
 *   graph main(%x: f32[1,3,8,8]) -> (%y) {
 *     %w: f32[4,3,3,3] = const                                   # 432 B, elided
 *     %b: f32[4] = const dense<[0.5, 1.0, -2.0, 0.0]>
 *     %y: f32[1,4,8,8] = Conv(%x, %w, %b) {pads=[1,1,1,1]} @conv0 meta{name="Conv_0"}
 *   }
 *
 * Omitted optional operands print as `_`. Floats always carry a point or exponent, so `1.0` (float) and `1`
 * (int) stay distinct; empty lists carry their type (`ints[]`). Names that are not bare words are quoted.
 */
import type { Attr } from "./attr.ts";
import { type Constant, constantBytes, constantCount } from "./constant.ts";
import { constantNumbers } from "./constant-values.ts";
import { byteSize, type DType, isQuant, printDType, storageOf } from "./dtype.ts";
import { LatheError } from "./errors.ts";
import type { Graph, Node, ValueInfo } from "./graph.ts";
import { parseValueType, printValueType, type ValueType } from "./value-type.ts";

export interface PrintOptions {
  /** Constants with more elements than this are elided (default 16). */
  elideOver?: number;
  /** Print node ids and source metadata (default true); off gives the compact form pass tests compare. */
  meta?: boolean;
}

// Colons may appear inside a bare name (ONNX's "onnx::Conv_12") but not at its end, where ':' starts a type.
const WORD = /^[A-Za-z0-9_.\/\-]+(?::+[A-Za-z0-9_.\/\-]+)*/;
const BARE = new RegExp(`${WORD.source}$`);
const name = (n: string) => (BARE.test(n) ? n : JSON.stringify(n));

export function printGraph(g: Graph, opts: PrintOptions = {}): string {
  return printGraphAt(g, opts, "");
}

function printGraphAt(g: Graph, opts: PrintOptions, indent: string): string {
  const meta = opts.meta ?? true;
  const elide = opts.elideOver ?? 16;
  const ins = g.inputs.map((i) => `%${name(i)}: ${typeOf(g, i)}`).join(", ");
  const outs = g.outputs.map((o) => `%${name(o)}`).join(", ");
  const lines = [
    `${indent}graph ${name(g.name)}(${ins}) -> (${outs})${
      meta && g.doc ? ` doc=${JSON.stringify(g.doc)}` : ""
    } {`,
  ];
  const inner = indent + "  ";
  for (const [k, c] of Object.entries(g.constants)) {
    const count = constantCount(c);
    const body = count > elide ? `const` : `const ${printDense(c)}`;
    const note = count > elide ? `  # ${byteSizeText(c)}, elided` : "";
    lines.push(`${inner}%${name(k)}: ${typeOf(g, k)} = ${body}${note}`);
  }
  for (const n of g.nodes) lines.push(inner + printNode(g, n, opts, inner));
  lines.push(`${indent}}`);
  return lines.join("\n");
}

function typeOf(g: Graph, v: string): string {
  const t = g.values[v]?.type;
  return t ? printValueType(t) : "?";
}

function printNode(g: Graph, n: Node, opts: PrintOptions, indent: string): string {
  const outs = n.outputs.map((o) => (o ? `%${name(o)}: ${typeOf(g, o)}` : "_")).join(", ");
  const ins = n.inputs.map((i) => (i ? `%${name(i)}` : "_")).join(", ");
  const attrs = Object.entries(n.attrs).map(([k, a]) => `${name(k)}=${printAttr(a, opts, indent)}`);
  let s = `${outs} = ${n.op}(${ins})`;
  if (attrs.length) s += ` {${attrs.join(", ")}}`;
  if (opts.meta ?? true) {
    s += ` @${name(n.id)}`;
    const m: string[] = [];
    if (n.name !== undefined) m.push(`name=${JSON.stringify(n.name)}`);
    if (n.doc !== undefined) m.push(`doc=${JSON.stringify(n.doc)}`);
    if (n.from !== undefined) m.push(`from=[${n.from.map((f) => JSON.stringify(f)).join(", ")}]`);
    if (m.length) s += ` meta{${m.join(", ")}}`;
  }
  return s;
}

export function formatFloat(v: number): string {
  if (Number.isNaN(v)) return "nan";
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "-inf";
  if (Object.is(v, -0)) return "-0.0";
  const s = String(v);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

function printAttr(a: Attr, opts: PrintOptions, indent: string): string {
  switch (a.type) {
    case "int":
      return String(a.value);
    case "float":
      return formatFloat(a.value);
    case "string":
      return JSON.stringify(a.value);
    case "ints":
      return a.value.length ? `[${a.value.join(", ")}]` : "ints[]";
    case "floats":
      return a.value.length ? `[${a.value.map(formatFloat).join(", ")}]` : "floats[]";
    case "strings":
      return a.value.length ? `[${a.value.map((s) => JSON.stringify(s)).join(", ")}]` : "strings[]";
    case "tensor":
      return printDense(a.value);
    case "tensors":
      return a.value.length ? `[${a.value.map(printDense).join(", ")}]` : "tensors[]";
    case "graph":
      return "\n" + printGraphAt(a.value, opts, indent + "  ");
    case "graphs":
      return a.value.length
        ? `[${a.value.map((g) => "\n" + printGraphAt(g, opts, indent + "  ")).join(",")}]`
        : "graphs[]";
    case "type":
      return `type<${printValueType(a.value)}>`;
  }
}

function byteSizeText(c: Constant): string {
  const b = byteSize(c.dtype, constantCount(c)) ?? 0;
  return b >= 1 << 20
    ? `${(b / (1 << 20)).toFixed(1)} MB`
    : b >= 1024
    ? `${(b / 1024).toFixed(1)} KB`
    : `${b} B`;
}

/** `dense<f32[2]: [1.0, 2.0]>`; block formats as hex bytes. */
export function printDense(c: Constant): string {
  const head = `${printDType(c.dtype)}[${c.shape.join(",")}]`;
  let body: string;
  if (c.dtype === "string") body = `[${(c.strings ?? []).map((s) => JSON.stringify(s)).join(", ")}]`;
  else if (isQuant(c.dtype) && storageOf(c.dtype) === undefined) {
    body = `hex"${[...constantBytes(c)].map((b) => b.toString(16).padStart(2, "0")).join("")}"`;
  } else {
    const st = storageOf(c.dtype)!;
    const isF = st === "f32" || st === "f64" || st === "f16" || st === "bf16";
    if (st === "i64" || st === "u64") {
      const b = constantBytes(c);
      const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const xs: string[] = [];
      for (let i = 0; i < constantCount(c); i++) {
        xs.push(String(st === "i64" ? v.getBigInt64(i * 8, true) : v.getBigUint64(i * 8, true)));
      }
      body = `[${xs.join(", ")}]`;
    } else {
      const xs = constantNumbers(c);
      body = `[${xs.map((x) => (isF ? formatFloat(x) : String(x))).join(", ")}]`;
    }
  }
  return `dense<${head}: ${body}>`;
}

// ---------------------------------------------------------------- parsing

export interface ParseOptions {
  /** Data for elided constants, by name. */
  constants?: Readonly<Record<string, Constant>>;
}

/** Every constant of a graph and its subgraphs by name, to supply elided data when parsing. */
export function collectConstants(g: Graph, into: Record<string, Constant> = {}): Record<string, Constant> {
  Object.assign(into, g.constants);
  for (const n of g.nodes) {
    for (const a of Object.values(n.attrs)) {
      if (a.type === "graph") collectConstants(a.value, into);
      else if (a.type === "graphs") a.value.forEach((s) => collectConstants(s, into));
    }
  }
  return into;
}

export function parseGraph(text: string, opts: ParseOptions = {}): Graph {
  const p = new Parser(text, opts);
  p.ws();
  const g = p.graph();
  p.ws();
  if (!p.eof()) p.fail("text after the graph");
  return g;
}

class Parser {
  pos = 0;
  constructor(readonly s: string, readonly opts: ParseOptions) {}

  eof() {
    return this.pos >= this.s.length;
  }
  fail(reason: string): never {
    const before = this.s.slice(0, this.pos);
    const line = before.split("\n").length;
    const col = this.pos - before.lastIndexOf("\n");
    throw new LatheError("format", `${reason} (near '${this.s.slice(this.pos, this.pos + 24)}')`, {
      field: `line ${line}:${col}`,
    });
  }
  ws() {
    for (;;) {
      while (this.pos < this.s.length && /\s/.test(this.s[this.pos])) this.pos++;
      if (this.s[this.pos] === "#") {
        while (this.pos < this.s.length && this.s[this.pos] !== "\n") this.pos++;
      } else return;
    }
  }
  peek(t: string) {
    this.ws();
    return this.s.startsWith(t, this.pos);
  }
  eat(t: string) {
    if (this.peek(t)) {
      this.pos += t.length;
      return true;
    }
    return false;
  }
  expect(t: string) {
    if (!this.eat(t)) this.fail(`expected '${t}'`);
  }
  word(): string {
    this.ws();
    if (this.s[this.pos] === '"') return this.jsonString();
    const m = WORD.exec(this.s.slice(this.pos, this.pos + 4096));
    if (!m) this.fail("expected a name");
    this.pos += m[0].length;
    return m[0];
  }
  jsonString(): string {
    this.ws();
    if (this.s[this.pos] !== '"') this.fail("expected a string");
    let i = this.pos + 1;
    while (i < this.s.length && this.s[i] !== '"') i += this.s[i] === "\\" ? 2 : 1;
    const lit = this.s.slice(this.pos, i + 1);
    this.pos = i + 1;
    try {
      return JSON.parse(lit);
    } catch {
      return this.fail("bad string literal");
    }
  }
  valueName(): string {
    this.expect("%");
    return this.word();
  }
  /** A value type, or undefined for `?` (not inferred); the element type may contain brackets too. */
  typeOrUnknown(): ValueType | undefined {
    if (this.eat("?")) return undefined;
    return this.type();
  }
  type(): ValueType {
    this.ws();
    const start = this.pos;
    let depth = 0;
    while (this.pos < this.s.length) {
      const c = this.s[this.pos];
      if (c === "<" || c === "[") depth++;
      else if (c === ">" || c === "]") {
        depth--;
        if (depth === 0) {
          const rest = this.s.slice(start, this.pos + 1);
          // A tensor type ends with its shape bracket; a seq/opt wrapper ends with '>'.
          if (c === "]" && !/^q\.[a-z]+<[^>]*$/.test(rest) || c === ">" && /^(seq|opt)</.test(rest)) {
            this.pos++;
            break;
          }
        }
      } else if (depth === 0 && (c === "," || c === ")" || c === "=" || /\s/.test(c))) break;
      this.pos++;
    }
    try {
      return parseValueType(this.s.slice(start, this.pos));
    } catch (e) {
      if (e instanceof LatheError) this.fail(e.reason);
      throw e;
    }
  }

  graph(): Graph {
    if (this.word() !== "graph") this.fail("expected 'graph'");
    const gname = this.word();
    const values: Record<string, ValueInfo> = {};
    const constants: Record<string, Constant> = {};
    const inputs: string[] = [];
    const outputs: string[] = [];
    const nodes: Node[] = [];
    this.expect("(");
    while (!this.eat(")")) {
      const v = this.valueName();
      this.expect(":");
      const t = this.typeOrUnknown();
      if (t) values[v] = { type: t };
      inputs.push(v);
      this.eat(",");
    }
    this.expect("->");
    this.expect("(");
    while (!this.eat(")")) {
      outputs.push(this.valueName());
      this.eat(",");
    }
    let doc: string | undefined;
    if (this.eat("doc=")) doc = this.jsonString();
    this.expect("{");
    while (!this.eat("}")) {
      const outs: string[] = [];
      for (;;) {
        if (this.eat("_")) outs.push("");
        else {
          const v = this.valueName();
          this.expect(":");
          const t = this.typeOrUnknown();
          if (t) values[v] = { type: t };
          outs.push(v);
        }
        if (!this.eat(",")) break;
      }
      this.expect("=");
      if (this.peek("const") && !/[A-Za-z0-9_(]/.test(this.s[this.pos + 5] ?? "")) {
        this.pos += 5;
        const v = outs[0];
        const t = values[v]?.type;
        if (this.peek("dense<")) constants[v] = this.dense();
        else {
          const c = this.opts.constants?.[v];
          if (!c) this.fail(`constant %${v} is elided and no data was given for it`);
          constants[v] = c;
        }
        if (t?.kind !== "tensor") this.fail(`constant %${v} must have a tensor type`);
        continue;
      }
      const op = this.word();
      this.expect("(");
      const ins: (string | null)[] = [];
      while (!this.eat(")")) {
        ins.push(this.eat("_") ? null : this.valueName());
        this.eat(",");
      }
      const attrs: Record<string, Attr> = {};
      if (this.eat("{")) {
        while (!this.eat("}")) {
          const k = this.word();
          this.expect("=");
          attrs[k] = this.attr();
          this.eat(",");
        }
      }
      let id = `n${nodes.length}`;
      const node: { -readonly [K in keyof Node]: Node[K] } = { id, op, inputs: ins, outputs: outs, attrs };
      if (this.eat("@")) node.id = id = this.word();
      if (this.eat("meta{")) {
        while (!this.eat("}")) {
          const k = this.word();
          this.expect("=");
          if (k === "name") node.name = this.jsonString();
          else if (k === "doc") node.doc = this.jsonString();
          else if (k === "from") {
            this.expect("[");
            const f: string[] = [];
            while (!this.eat("]")) {
              f.push(this.jsonString());
              this.eat(",");
            }
            node.from = f;
          } else this.fail(`unknown meta field ${k}`);
          this.eat(",");
        }
      }
      nodes.push(node);
    }
    return { name: gname, inputs, outputs, nodes, values, constants, ...(doc !== undefined ? { doc } : {}) };
  }

  number(): { v: number; float: boolean; raw: string } {
    this.ws();
    const m = /^(-?inf|nan|-?\d+(\.\d*)?([eE][+-]?\d+)?)/.exec(this.s.slice(this.pos, this.pos + 64));
    if (!m) this.fail("expected a number");
    this.pos += m[0].length;
    const raw = m[0];
    const v = raw === "inf" ? Infinity : raw === "-inf" ? -Infinity : raw === "nan" ? NaN : Number(raw);
    return { v, float: /[.eEn]/.test(raw), raw };
  }

  attr(): Attr {
    this.ws();
    for (const t of ["ints", "floats", "strings", "tensors", "graphs"] as const) {
      if (this.eat(`${t}[]`)) return { type: t, value: [] } as Attr;
    }
    if (this.peek("dense<")) return { type: "tensor", value: this.dense() };
    if (this.peek("graph")) return { type: "graph", value: this.graph() };
    if (this.eat("type<")) {
      const t = this.type();
      this.expect(">");
      return { type: "type", value: t };
    }
    if (this.peek('"')) return { type: "string", value: this.jsonString() };
    if (this.eat("[")) {
      if (this.peek('"')) {
        const xs: string[] = [];
        while (!this.eat("]")) {
          xs.push(this.jsonString());
          this.eat(",");
        }
        return { type: "strings", value: xs };
      }
      if (this.peek("dense<")) {
        const xs: Constant[] = [];
        while (!this.eat("]")) {
          xs.push(this.dense());
          this.eat(",");
        }
        return { type: "tensors", value: xs };
      }
      if (this.peek("graph")) {
        const xs: Graph[] = [];
        while (!this.eat("]")) {
          xs.push(this.graph());
          this.eat(",");
        }
        return { type: "graphs", value: xs };
      }
      const xs: number[] = [];
      let anyFloat = false;
      while (!this.eat("]")) {
        const n = this.number();
        anyFloat ||= n.float;
        xs.push(n.v);
        this.eat(",");
      }
      return anyFloat ? { type: "floats", value: xs } : { type: "ints", value: xs };
    }
    const n = this.number();
    return n.float ? { type: "float", value: n.v } : { type: "int", value: n.v };
  }

  dense(): Constant {
    this.expect("dense<");
    const t = this.type();
    if (t.kind !== "tensor" || !t.shape || t.shape.some((d) => typeof d !== "number")) {
      this.fail("a constant needs a static tensor type");
    }
    const shape = t.shape as number[];
    const dtype = t.dtype;
    this.expect(":");
    let c: Constant;
    if (this.eat('hex"')) {
      const end = this.s.indexOf('"', this.pos);
      const hex = this.s.slice(this.pos, end);
      this.pos = end + 1;
      const bytes = new Uint8Array(hex.length / 2);
      for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
      c = { dtype, shape, bytes };
    } else {
      this.expect("[");
      const raw: string[] = [];
      const strs: string[] = [];
      while (!this.eat("]")) {
        if (dtype === "string") strs.push(this.jsonString());
        else raw.push(this.number().raw);
        this.eat(",");
      }
      c = dtype === "string"
        ? { dtype, shape, strings: strs }
        : { dtype, shape, bytes: encodeNumbers(dtype, raw) };
    }
    this.expect(">");
    return c;
  }
}

function encodeNumbers(dtype: DType, raw: string[]): Uint8Array {
  const st = storageOf(dtype)!;
  const num = (
    r: string,
  ) => (r === "inf" ? Infinity : r === "-inf" ? -Infinity : r === "nan" ? NaN : Number(r));
  switch (st) {
    case "f64":
      return new Uint8Array(new Float64Array(raw.map(num)).buffer);
    case "f32":
      return new Uint8Array(new Float32Array(raw.map(num)).buffer);
    case "f16":
      return new Uint8Array(new Float16Array(raw.map(num)).buffer);
    case "bf16": {
      const f = new Float32Array(raw.map(num));
      const u = new Uint32Array(f.buffer);
      return new Uint8Array(new Uint16Array(Array.from(u, (x) => x >>> 16)).buffer);
    }
    case "i64":
      return new Uint8Array(new BigInt64Array(raw.map((r) => BigInt(r))).buffer);
    case "u64":
      return new Uint8Array(new BigUint64Array(raw.map((r) => BigInt(r))).buffer);
    case "i32":
      return new Uint8Array(new Int32Array(raw.map(num)).buffer);
    case "u32":
      return new Uint8Array(new Uint32Array(raw.map(num)).buffer);
    case "i16":
      return new Uint8Array(new Int16Array(raw.map(num)).buffer);
    case "u16":
      return new Uint8Array(new Uint16Array(raw.map(num)).buffer);
    case "i8":
      return new Uint8Array(new Int8Array(raw.map(num)).buffer);
    case "u8":
    case "bool":
      return new Uint8Array(raw.map(num));
    case "i4":
    case "u4": {
      const out = new Uint8Array(Math.ceil(raw.length / 2));
      raw.forEach((r, i) => (out[i >> 1] |= (num(r) & 15) << ((i & 1) * 4)));
      return out;
    }
    default:
      throw new LatheError("format", `cannot write ${st} constants in text`);
  }
}
