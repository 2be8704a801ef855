/**
 * The reference interpreter. A Session plans a graph once (kernel per node, last use of every value) and
 * runs it many times; buffers of values past their last use go back to a pool that later allocations of
 * the same size reuse. Observers see every value as it is produced.
 */
import { printDType } from "../ir/dtype.ts";
import { LatheError } from "../ir/errors.ts";
import { freeValues, type Graph, type Node } from "../ir/graph.ts";
import { getOp, resolveAttrs } from "../ir/op-registry.ts";
import type { Dim, ValueType } from "../ir/value-type.ts";
import { analyzeGraph, getKernel, type Kernel, type KernelContext } from "./kernel-registry.ts";
import {
  alloc,
  arrayCtor,
  fromConstant,
  type RValue,
  storageLength,
  Tensor,
  type TypedArray,
} from "./tensor.ts";
import "./kernels/index.ts";
import "../ir/ops/index.ts";

export type Observer = (value: string, v: RValue, node: Node | undefined) => void;

export interface RunOptions {
  /**
   * Called for every graph input and node output as it is produced. Buffer reuse is off, since the observer
   * may keep what it sees, unless `observeTransient`.
   */
  observe?: Observer;
  /**
   * The observer only reads each value during its call and keeps no reference to it (calibration's range
   * observers), so buffers past their last use may be recycled as in an unobserved run.
   */
  observeTransient?: boolean;
  /**
   * Outputs already known for a node given its operands (the same node run on the same operands before, as
   * a simulation's reference run did): the kernel is skipped and these values are used, never recycled.
   */
  reuse?: (node: Node, args: readonly (RValue | undefined)[]) => RValue[] | undefined;
  /** Check each kernel's outputs against the inferred types (tests run with this on). */
  check?: boolean;
  seed?: number;
}

export interface RunResult {
  outputs: Record<string, RValue>;
  /** Symbolic input dimensions and the sizes they were bound to. */
  bindings: Record<string, number>;
}

interface Plan {
  kernels: Kernel[];
  /** Registered graph analyses of this graph (kernel-registry.ts). */
  analyses: ReadonlyMap<string, ReadonlyMap<Node, unknown>>;
  /** For each node, values whose last use it is. */
  release: string[][];
}

class BufferPool {
  private free = new Map<string, TypedArray[]>();
  private refs = new Map<ArrayBufferLike, number>();
  take(ctor: ReturnType<typeof arrayCtor>, n: number): TypedArray | undefined {
    const list = this.free.get(`${ctor.name}:${n}`);
    return list?.pop();
  }
  retain(v: RValue): void {
    if (v instanceof Tensor && !(v.data instanceof Array)) {
      const b = v.data.buffer;
      this.refs.set(b, (this.refs.get(b) ?? 0) + 1);
    }
  }
  release(v: RValue): void {
    if (!(v instanceof Tensor) || v.data instanceof Array) return;
    const d = v.data;
    const b = d.buffer;
    const r = (this.refs.get(b) ?? 1) - 1;
    if (r > 0) {
      this.refs.set(b, r);
      return;
    }
    this.refs.delete(b);
    if (d.byteOffset !== 0 || d.byteLength !== b.byteLength || d.length < 64) return;
    const key = `${d.constructor.name}:${d.length}`;
    const list = this.free.get(key);
    if (list) list.push(d);
    else this.free.set(key, [d]);
  }
  pin(v: RValue): void {
    // Inputs, constants and outputs are never recycled: count them twice.
    this.retain(v);
    this.retain(v);
  }
}

export class Session {
  private plans = new WeakMap<Graph, Plan>();
  constructor(readonly graph: Graph) {
    this.planFor(graph);
  }

  private planFor(g: Graph): Plan {
    let p = this.plans.get(g);
    if (p) return p;
    const lastUse = new Map<string, number>();
    g.nodes.forEach((n, i) => {
      for (const v of n.inputs) if (v) lastUse.set(v, i);
      for (const s of Object.values(n.attrs)) {
        // Values a subgraph captures live until the node that owns the subgraph has run.
        if (s.type === "graph" || s.type === "graphs") {
          for (const sg of s.type === "graph" ? [s.value] : s.value) {
            for (const v of freeValues(sg)) lastUse.set(v, i);
          }
        }
      }
    });
    const keep = new Set([...g.outputs, ...g.inputs, ...Object.keys(g.constants)]);
    const release: string[][] = g.nodes.map(() => []);
    for (const [v, i] of lastUse) if (!keep.has(v)) release[i].push(v);
    // Outputs nobody reads are released right after their producer.
    g.nodes.forEach((n, i) => {
      for (const o of n.outputs) if (o && !lastUse.has(o) && !keep.has(o)) release[i].push(o);
    });
    const kernels = g.nodes.map((n) => {
      const k = getKernel(n.op);
      if (!k) {
        const why = getOp(n.op) ? "has no kernel" : "is not a known op";
        throw new LatheError("unsupported", `op ${n.op} ${why}`, { field: `node ${n.id}` });
      }
      return k;
    });
    p = { kernels, release, analyses: analyzeGraph(g) };
    this.plans.set(g, p);
    return p;
  }

  run(inputs: Readonly<Record<string, RValue>>, opts: RunOptions = {}): RunResult {
    const bindings: Record<string, number> = {};
    const g = this.graph;
    const given: RValue[] = [];
    for (const name of g.inputs) {
      let v = inputs[name];
      if (v === undefined && g.constants[name]) v = fromConstant(g.constants[name]);
      if (v === undefined) throw new LatheError("usage", `input ${name} not given`);
      checkInput(name, v, g.values[name]?.type, bindings);
      given.push(v);
    }
    for (const k of Object.keys(inputs)) {
      if (!g.inputs.includes(k)) {
        throw new LatheError("usage", `${k} is not an input of the graph (inputs: ${g.inputs.join(", ")})`);
      }
    }
    const pool = opts.observe && !opts.observeTransient ? undefined : new BufferPool();
    const outs = this.exec(g, given, undefined, pool, opts);
    const outputs: Record<string, RValue> = {};
    g.outputs.forEach((o, i) => (outputs[o] = outs[i]));
    return { outputs, bindings };
  }

  private exec(
    g: Graph,
    inputs: readonly (RValue | undefined)[],
    parent: Scope | undefined,
    pool: BufferPool | undefined,
    opts: RunOptions,
  ): RValue[] {
    const plan = this.planFor(g);
    const scope = new Scope(g, parent, pool);
    const env = scope.vars;
    g.inputs.forEach((name, i) => {
      const v = inputs[i];
      if (v !== undefined) {
        env.set(name, v);
        pool?.pin(v);
        opts.observe?.(name, v, undefined);
      }
    });
    const seed = opts.seed ?? 0;
    for (let i = 0; i < g.nodes.length; i++) {
      const node = g.nodes[i];
      const args = node.inputs.map((n) => (n ? scope.lookup(n, node) : undefined));
      const known = opts.reuse?.(node, args);
      if (known) {
        node.outputs.forEach((o, k) => {
          if (!o) return;
          const v = known[k];
          if (v === undefined) {
            throw new LatheError("runtime", `reused outputs lack output ${k}`, {
              field: `node ${node.id} (${node.op})`,
            });
          }
          env.set(o, v);
          pool?.pin(v);
          opts.observe?.(o, v, node);
        });
        this.releaseAfter(plan, i, env, pool);
        continue;
      }
      const ctx: KernelContext = {
        node,
        attrs: resolveAttrs(node),
        outputTypes: node.outputs.map((o) => (o ? g.values[o]?.type : undefined)),
        alloc: (dtype, shape) => {
          if (pool && dtype !== "string") {
            const ctor = arrayCtor(dtype);
            const n = storageLength(dtype, shape);
            const d = pool.take(ctor, n);
            if (d) return new Tensor(dtype, shape, d);
          }
          return alloc(dtype, shape);
        },
        zeros: (dtype, shape) => alloc(dtype, shape),
        runGraph: (sub, subInputs) => this.exec(sub, subInputs, scope, pool, opts),
        seed: hashSeed(seed, node.id),
        analysis: <T>(name: string) => plan.analyses.get(name)?.get(node) as T | undefined,
      };
      let results: RValue[];
      try {
        results = plan.kernels[i](args, ctx);
      } catch (e) {
        if (e instanceof LatheError) {
          if (e.where.field) throw e;
          throw new LatheError(e.kind, e.reason, { field: `node ${node.id} (${node.op})` }, { cause: e });
        }
        throw new LatheError("runtime", `kernel failed: ${(e as Error).message}`, {
          field: `node ${node.id} (${node.op})`,
        }, {
          cause: e,
        });
      }
      node.outputs.forEach((o, k) => {
        if (!o) return;
        const v = results[k];
        if (v === undefined) {
          throw new LatheError("runtime", `kernel produced no output ${k}`, {
            field: `node ${node.id} (${node.op})`,
          });
        }
        if (opts.check) checkOutput(node, k, v, ctx.outputTypes[k]);
        env.set(o, v);
        pool?.retain(v);
        opts.observe?.(o, v, node);
      });
      this.releaseAfter(plan, i, env, pool);
    }
    return g.outputs.map((o) => {
      const v = scope.find(o);
      if (v === undefined) {
        throw new LatheError("runtime", `graph output ${o} was not produced`, { field: `graph ${g.name}` });
      }
      pool?.pin(v);
      return v;
    });
  }

  /** Buffers of values whose last use was node i go back to the pool. */
  private releaseAfter(plan: Plan, i: number, env: Map<string, RValue>, pool: BufferPool | undefined): void {
    if (!pool) return;
    for (const v of plan.release[i]) {
      const val = env.get(v);
      if (val !== undefined) {
        pool.release(val);
        env.delete(v);
      }
    }
  }
}

/**
 * The values visible while a graph runs: its own, then those of the graphs around it (a subgraph reads
 * outer values and constants by name without copying the outer environment).
 */
class Scope {
  readonly vars = new Map<string, RValue>();
  constructor(
    readonly graph: Graph,
    readonly parent: Scope | undefined,
    readonly pool: BufferPool | undefined,
  ) {}
  find(name: string): RValue | undefined {
    const v = this.vars.get(name);
    if (v !== undefined) return v;
    const c = this.graph.constants[name];
    if (c) {
      const t = fromConstant(c);
      this.vars.set(name, t);
      this.pool?.pin(t);
      return t;
    }
    return this.parent?.find(name);
  }
  lookup(name: string, node: Node): RValue {
    const v = this.find(name);
    if (v === undefined) {
      throw new LatheError("runtime", `value ${name} is not defined`, {
        field: `node ${node.id} (${node.op})`,
      });
    }
    return v;
  }
}

/** Runs a graph once. For repeated runs keep a Session. */
export function interpret(
  g: Graph,
  inputs: Readonly<Record<string, RValue>>,
  opts: RunOptions = {},
): RunResult {
  return new Session(g).run(inputs, opts);
}

function checkInput(
  name: string,
  v: RValue,
  t: ValueType | undefined,
  bindings: Record<string, number>,
): void {
  if (!t || t.kind !== "tensor") return;
  if (!(v instanceof Tensor)) throw new LatheError("usage", `input ${name} must be a tensor`);
  if (printDType(v.dtype) !== printDType(t.dtype)) {
    throw new LatheError(
      "usage",
      `input ${name} is ${printDType(v.dtype)}, the graph expects ${printDType(t.dtype)}`,
    );
  }
  if (!t.shape) return;
  if (t.shape.length !== v.shape.length) {
    throw new LatheError(
      "usage",
      `input ${name} has rank ${v.shape.length}, the graph expects [${t.shape.join(",")}]`,
    );
  }
  t.shape.forEach((d: Dim, i) => {
    const got = v.shape[i];
    if (typeof d === "number") {
      if (d !== got) {
        throw new LatheError("usage", `input ${name} dim ${i} is ${got}, the graph expects ${d}`);
      }
    } else if (!d.startsWith("?")) {
      if (bindings[d] !== undefined && bindings[d] !== got) {
        throw new LatheError("usage", `input ${name} dim ${i} is ${got}, but ${d} is already ${bindings[d]}`);
      }
      bindings[d] = got;
    }
  });
}

function checkOutput(node: Node, k: number, v: RValue, t: ValueType | undefined): void {
  if (!t || t.kind !== "tensor" || !(v instanceof Tensor)) return;
  const where = { field: `node ${node.id} (${node.op}) output ${k}` };
  if (printDType(v.dtype) !== printDType(t.dtype)) {
    throw new LatheError(
      "runtime",
      `kernel returned ${printDType(v.dtype)}, inference said ${printDType(t.dtype)}`,
      where,
    );
  }
  if (t.shape) {
    const ok = t.shape.length === v.shape.length &&
      t.shape.every((d, i) => typeof d !== "number" || d === v.shape[i]);
    if (!ok) {
      throw new LatheError(
        "runtime",
        `kernel returned shape [${v.shape}], inference said [${t.shape}]`,
        where,
      );
    }
  }
  if (v.data.length !== storageLength(v.dtype, v.shape)) {
    throw new LatheError(
      "runtime",
      `kernel returned ${v.data.length} elements for shape [${v.shape}]`,
      where,
    );
  }
}

function hashSeed(seed: number, id: string): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
