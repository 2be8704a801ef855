/**
 * If, Loop and Scan on hand-built graphs. Expected values are worked out by hand from the ONNX definitions
 * (running sums, reversed scans, transposed scan outputs).
 */
import assert from "node:assert/strict";
import { GraphBuilder } from "../ir/builder.ts";
import { LatheError } from "../ir/errors.ts";
import type { Graph } from "../ir/graph.ts";
import { inferGraph } from "../ir/infer.ts";
import type { ValueType } from "../ir/value-type.ts";
import { interpret } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";

const g = (v: Graph) => ({ type: "graph" as const, value: v });
const f32 = (shape: number[], xs: number[]) => new Tensor("f32", shape, Float32Array.from(xs));
const i64 = (shape: number[], xs: number[]) => new Tensor("i64", shape, BigInt64Array.from(xs.map(BigInt)));
const bool = (b: boolean) => new Tensor("bool", [], new Uint8Array([b ? 1 : 0]));

function declare(graph: Graph, types: Record<string, ValueType>): Graph {
  const values = { ...graph.values };
  for (const [k, t] of Object.entries(types)) values[k] = { type: t };
  return { ...graph, values };
}

function shapeOf(t: ValueType): readonly unknown[] {
  assert.ok(t.kind === "tensor" && t.shape, `expected a ranked tensor type, got ${JSON.stringify(t)}`);
  return t.shape;
}

function nums(t: unknown): number[] {
  assert.ok(t instanceof Tensor, "expected a tensor");
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

// --- If -----------------------------------------------------------------------------------------------

function ifGraph(scalarCond = true): Graph {
  // Branches read the outer value x: then gives x + 1, else x + 10.
  const th = new GraphBuilder("then");
  th.constantOf("one", "f32", [], [1]);
  th.op1("Add", ["x", "one"], {}, "then_out");
  const el = new GraphBuilder("else");
  el.constantOf("ten", "f32", [], [10]);
  el.op1("Add", ["x", "ten"], {}, "else_out");
  const t = { kind: "tensor", dtype: "f32", shape: [3] } as const;
  const b = new GraphBuilder();
  b.input("c", "bool", scalarCond ? [] : undefined);
  b.input("x", "f32", [3]);
  b.op1("If", ["c"], {
    then_branch: g(declare(th.buildRaw(["then_out"]), { then_out: t })),
    else_branch: g(declare(el.buildRaw(["else_out"]), { else_out: t })),
  }, "y");
  return b.build(["y"]);
}

Deno.test("If runs the branch the condition picks, with outer values visible", () => {
  const graph = ifGraph();
  assert.deepEqual(graph.values.y.type, { kind: "tensor", dtype: "f32", shape: [3] });
  const x = f32([3], [1, 2, 3]);
  assert.deepEqual(nums(interpret(graph, { c: bool(true), x }, { check: true }).outputs.y), [2, 3, 4]);
  assert.deepEqual(nums(interpret(graph, { c: bool(false), x }, { check: true }).outputs.y), [11, 12, 13]);
});

Deno.test("If output types widen where the branches disagree", () => {
  const mk = (shape: number[], name: string) => {
    const s = new GraphBuilder(name);
    s.constantOf(name, "f32", shape, new Array(shape.reduce((p, d) => p * d, 1)).fill(0));
    return s.build([name]);
  };
  const run = (a: number[], b: number[]) => {
    const o = new GraphBuilder();
    o.input("c", "bool", []);
    o.op1("If", ["c"], { then_branch: g(mk(a, "ta")), else_branch: g(mk(b, "tb")) }, "y");
    return o.build(["y"]).values.y.type;
  };
  assert.deepEqual(shapeOf(run([2, 3], [2, 3])), [2, 3]);
  const dims = shapeOf(run([2, 3], [2, 4]));
  assert.equal(dims[0], 2);
  assert.equal(typeof dims[1], "string");
  assert.deepEqual(run([2], [2, 3]), { kind: "tensor", dtype: "f32" });
});

Deno.test("If rejects a condition with more than one element", () => {
  assert.throws(
    () =>
      interpret(ifGraph(false), {
        c: new Tensor("bool", [2], new Uint8Array([1, 0])),
        x: f32([3], [0, 0, 0]),
      }),
    (e) => e instanceof LatheError && /one element/.test(e.message),
  );
});

// --- Loop ---------------------------------------------------------------------------------------------

/** Body: s' = s + i; cond' = (s' < limit) or the incoming cond; scan output s'. */
function loopGraph(opts: { withM: boolean; withCond: boolean; condFromLimit: boolean }): Graph {
  const body = new GraphBuilder("body");
  body.input("i", "i64", []);
  body.input("c", "bool", []);
  body.input("s", "i64", []);
  body.op1("Add", ["s", "i"], {}, "s2");
  if (opts.condFromLimit) {
    body.constantOf("limit", "i64", [], [5]);
    body.op1("Less", ["s2", "limit"], {}, "c2");
  } else {
    // A constant false: a plain for loop (no cond input) must ignore it.
    body.constantOf("no", "bool", [], [0]);
    body.op1("Identity", ["no"], {}, "c2");
  }
  body.op1("Identity", ["s2"], {}, "scan");
  const b = new GraphBuilder();
  const m = opts.withM ? b.input("M", "i64", []) : null;
  const c = opts.withCond ? b.input("cond", "bool", []) : null;
  b.input("s0", "i64", []);
  b.op("Loop", [m, c, "s0"], { body: g(body.build(["c2", "s2", "scan"])) }, ["s_final", "sums"]);
  return b.build(["s_final", "sums"]);
}

Deno.test("Loop with a trip count accumulates carried values and stacks scan outputs on axis 0", () => {
  const graph = loopGraph({ withM: true, withCond: true, condFromLimit: false });
  // cond input true, body cond false: the loop stops after the first iteration.
  let r = interpret(graph, { M: i64([], [4]), cond: bool(true), s0: i64([], [0]) }, { check: true }).outputs;
  assert.deepEqual(nums(r.s_final), [0]);
  assert.deepEqual((r.sums as Tensor).shape, [1]);
  // Without a cond input the body's cond is ignored: i = 0..3, s = 0, 1, 3, 6.
  const forLoop = loopGraph({ withM: true, withCond: false, condFromLimit: false });
  r = interpret(forLoop, { M: i64([], [4]), s0: i64([], [0]) }, { check: true }).outputs;
  assert.deepEqual(nums(r.s_final), [6]);
  assert.deepEqual(nums(r.sums), [0, 1, 3, 6]);
  assert.deepEqual((r.sums as Tensor).shape, [4]);
  assert.equal(shapeOf(forLoop.values.sums.type).length, 1);
});

Deno.test("Loop driven by its condition stops when the body says so", () => {
  const graph = loopGraph({ withM: false, withCond: true, condFromLimit: true });
  // s: 0 (<5), 1, 3, 6 (not < 5) -> four iterations.
  const r = interpret(graph, { cond: bool(true), s0: i64([], [0]) }, { check: true }).outputs;
  assert.deepEqual(nums(r.s_final), [6]);
  assert.deepEqual(nums(r.sums), [0, 1, 3, 6]);
  // A false condition on entry runs no iteration: s unchanged, empty scan output of the slab's type.
  const none = interpret(graph, { cond: bool(false), s0: i64([], [7]) }, { check: true }).outputs;
  assert.deepEqual(nums(none.s_final), [7]);
  assert.equal((none.sums as Tensor).dtype, "i64");
  assert.deepEqual((none.sums as Tensor).shape, [0]);
});

Deno.test("Loop with a zero trip count and with neither M nor cond", () => {
  const graph = loopGraph({ withM: true, withCond: false, condFromLimit: false });
  const r = interpret(graph, { M: i64([], [0]), s0: i64([], [3]) }, { check: true }).outputs;
  assert.deepEqual(nums(r.s_final), [3]);
  assert.deepEqual((r.sums as Tensor).shape, [0]);
  const endless = loopGraph({ withM: false, withCond: false, condFromLimit: false });
  assert.throws(
    () => interpret(endless, { s0: i64([], [0]) }),
    (e) => e instanceof LatheError && /never ends/.test(e.message),
  );
});

// --- Scan ---------------------------------------------------------------------------------------------

function scanGraph(xShape: number[], attrs: Record<string, number[]>): Graph {
  const body = new GraphBuilder("body");
  body.input("s", "f32", [2]);
  body.input("xi", "f32", [2]);
  body.op1("Add", ["s", "xi"], {}, "s2");
  body.op1("Identity", ["s2"], {}, "out");
  const b = new GraphBuilder();
  b.input("init", "f32", [2]);
  b.input("x", "f32", xShape);
  b.op("Scan", ["init", "x"], { body: g(body.build(["s2", "out"])), num_scan_inputs: 1, ...attrs }, [
    "final",
    "ys",
  ]);
  return b.build(["final", "ys"]);
}

Deno.test("Scan: running sum forward, with reversed input, transposed and reversed output", () => {
  const init = f32([2], [0, 0]);
  const x = f32([3, 2], [1, 2, 3, 4, 5, 6]);
  let graph = scanGraph([3, 2], {});
  let r = interpret(graph, { init, x }, { check: true }).outputs;
  assert.deepEqual(nums(r.final), [9, 12]);
  assert.deepEqual(nums(r.ys), [1, 2, 4, 6, 9, 12]);
  assert.deepEqual(shapeOf(graph.values.ys.type), [3, 2]);

  // Rows taken last to first: [5,6], [8,10], [9,12].
  graph = scanGraph([3, 2], { scan_input_directions: [1] });
  r = interpret(graph, { init, x }, { check: true }).outputs;
  assert.deepEqual(nums(r.ys), [5, 6, 8, 10, 9, 12]);

  // Output slabs stacked along axis 1: [[1,4,9],[2,6,12]].
  graph = scanGraph([3, 2], { scan_output_axes: [-1] });
  r = interpret(graph, { init, x }, { check: true }).outputs;
  assert.deepEqual((r.ys as Tensor).shape, [2, 3]);
  assert.deepEqual(nums(r.ys), [1, 4, 9, 2, 6, 12]);

  // Reversed output placement: iteration t lands at position 2 - t.
  graph = scanGraph([3, 2], { scan_output_directions: [1] });
  r = interpret(graph, { init, x }, { check: true }).outputs;
  assert.deepEqual(nums(r.ys), [9, 12, 4, 6, 1, 2]);

  // Scanning along axis 1 of the transposed input gives the forward result.
  graph = scanGraph([2, 3], { scan_input_axes: [1] });
  r = interpret(graph, { init, x: f32([2, 3], [1, 3, 5, 2, 4, 6]) }, { check: true }).outputs;
  assert.deepEqual(nums(r.ys), [1, 2, 4, 6, 9, 12]);
});

Deno.test("Scan rejects scan inputs of different lengths", () => {
  const body = new GraphBuilder("body");
  body.input("s", "f32", [2]);
  body.input("a", "f32", [2]);
  body.input("b", "f32", [2]);
  body.op1("Add", ["s", "a"], {}, "s2");
  const bb = new GraphBuilder();
  bb.input("init", "f32", [2]);
  bb.input("xa", "f32", [3, 2]);
  bb.input("xb", "f32", [4, 2]);
  bb.op("Scan", ["init", "xa", "xb"], { body: g(body.build(["s2"])), num_scan_inputs: 2 }, ["final"]);
  const graph = bb.build(["final"]);
  assert.throws(
    () =>
      interpret(graph, {
        init: f32([2], [0, 0]),
        xa: f32([3, 2], [0, 0, 0, 0, 0, 0]),
        xb: f32([4, 2], new Array(8).fill(0)),
      }),
    (e) => e instanceof LatheError && /steps/.test(e.message),
  );
});

Deno.test("Loop inference keeps carried types and marks the iteration axis symbolic", () => {
  const graph = loopGraph({ withM: true, withCond: true, condFromLimit: true });
  const again = inferGraph(graph);
  assert.deepEqual(again.values.s_final.type, { kind: "tensor", dtype: "i64", shape: [] });
  const sums = again.values.sums.type;
  assert.equal(sums.kind === "tensor" && sums.dtype, "i64");
  assert.equal(shapeOf(sums).length, 1);
  assert.equal(typeof shapeOf(sums)[0], "string");
});

Deno.test("Scan in the opset-8 form (null sequence_lens, leading batch axis) scans each batch entry", () => {
  const body = new GraphBuilder("body");
  body.input("s", "f32", [2]);
  body.input("xi", "f32", [2]);
  body.op1("Add", ["s", "xi"], {}, "s2");
  body.op1("Identity", ["s2"], {}, "out");
  const b = new GraphBuilder();
  b.input("init", "f32", [2, 2]);
  b.input("x", "f32", [2, 3, 2]);
  b.op("Scan", [null, "init", "x"], { body: g(body.build(["s2", "out"])), num_scan_inputs: 1 }, [
    "final",
    "ys",
  ]);
  const graph = b.build(["final", "ys"]);
  assert.deepEqual(shapeOf(graph.values.ys.type), [2, 3, 2]);
  // Batch 0 starts at [0,0] over rows [1,2],[3,4],[5,6]; batch 1 starts at [10,20] over rows of ones.
  const r = interpret(graph, {
    init: f32([2, 2], [0, 0, 10, 20]),
    x: f32([2, 3, 2], [1, 2, 3, 4, 5, 6, 1, 1, 1, 1, 1, 1]),
  }, { check: true }).outputs;
  assert.deepEqual(nums(r.final), [9, 12, 13, 23]);
  assert.deepEqual(nums(r.ys), [1, 2, 4, 6, 9, 12, 11, 21, 12, 22, 13, 23]);
});
