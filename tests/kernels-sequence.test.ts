/**
 * Sequence and optional ops on hand-built graphs; expected values follow from the ONNX definitions
 * (positions, split sizes, concatenation order) and are written out by hand.
 */
import assert from "node:assert/strict";
import { GraphBuilder } from "../ir/builder.ts";
import { LatheError } from "../ir/errors.ts";
import type { Graph } from "../ir/graph.ts";
import type { ValueType } from "../ir/value-type.ts";
import { interpret } from "../runtime/interpreter.ts";
import { OptionalValue, type RValue, Sequence, Tensor } from "../runtime/tensor.ts";

const f32 = (shape: number[], xs: number[]) => new Tensor("f32", shape, Float32Array.from(xs));
const i64 = (shape: number[], xs: number[]) => new Tensor("i64", shape, BigInt64Array.from(xs.map(BigInt)));
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

function nums(t: RValue | undefined): number[] {
  assert.ok(t instanceof Tensor, "expected a tensor");
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}
function items(v: RValue | undefined): Tensor[] {
  assert.ok(v instanceof Sequence, "expected a sequence");
  return v.items.map((x) => {
    assert.ok(x instanceof Tensor);
    return x;
  });
}
const run = (g: Graph, inputs: Record<string, RValue>) => interpret(g, inputs, { check: true }).outputs;

Deno.test("SequenceConstruct, SequenceLength and SequenceAt with negative positions", () => {
  const b = new GraphBuilder();
  b.input("a", "f32", [2]);
  b.input("b", "f32", [3]);
  b.input("p", "i64", []);
  const s = b.op1("SequenceConstruct", ["a", "b"]);
  b.op1("SequenceLength", [s], {}, "n");
  b.op1("SequenceAt", [s, "p"], {}, "at");
  const g = b.build(["n", "at"]);
  // Elements of different lengths: the element type keeps the rank, not the differing dim.
  const t = g.values[s].type;
  assert.ok(t.kind === "sequence" && t.elem.kind === "tensor" && t.elem.shape?.length === 1);
  assert.equal(typeof t.elem.shape[0], "string");
  const r = run(g, { a: f32([2], [1, 2]), b: f32([3], [3, 4, 5]), p: i64([], [-1]) });
  assert.deepEqual(nums(r.n), [2]);
  assert.deepEqual(nums(r.at), [3, 4, 5]);
  assert.throws(
    () => run(g, { a: f32([2], [1, 2]), b: f32([3], [3, 4, 5]), p: i64([], [2]) }),
    (e) => e instanceof LatheError && /out of range/.test(e.message),
  );
});

Deno.test("SequenceEmpty, SequenceInsert at the back, front and a negative position, SequenceErase", () => {
  const b = new GraphBuilder();
  b.input("x", "i64", [1]);
  b.input("y", "i64", [1]);
  b.input("z", "i64", [1]);
  b.constantOf("front", "i64", [], [0]);
  b.constantOf("neg", "i64", [], [-1]);
  const e = b.op1("SequenceEmpty", [], { dtype: 7 });
  const s1 = b.op1("SequenceInsert", [e, "x"]); // [x]
  const s2 = b.op1("SequenceInsert", [s1, "y", "front"]); // [y, x]
  const s3 = b.op1("SequenceInsert", [s2, "z", "neg"], {}, "s3"); // [y, z, x]
  b.op1("SequenceErase", [s3], {}, "dropLast"); // [y, z]
  b.op1("SequenceErase", [s3, "front"], {}, "dropFirst"); // [z, x]
  const g = b.build(["s3", "dropLast", "dropFirst"]);
  assert.deepEqual(g.values[e].type, { kind: "sequence", elem: { kind: "tensor", dtype: "i64" } });
  const r = run(g, { x: i64([1], [1]), y: i64([1], [2]), z: i64([1], [3]) });
  assert.deepEqual(items(r.s3).map(nums), [[2], [3], [1]]);
  assert.deepEqual(items(r.dropLast).map(nums), [[2], [3]]);
  assert.deepEqual(items(r.dropFirst).map(nums), [[3], [1]]);
});

Deno.test("SequenceInsert rejects a tensor of another element type", () => {
  const b = new GraphBuilder();
  b.input("x", "f32", [1]);
  const e = b.op1("SequenceEmpty", [], { dtype: 7 });
  b.op1("SequenceInsert", [e, "x"], {}, "s");
  assert.throws(() => b.build(["s"]), (err) => err instanceof LatheError && /element type/.test(err.message));
});

Deno.test("a tensor put in a sequence survives its buffer being recycled", () => {
  // a = x + x dies after SequenceConstruct; b = x * x is the same size and would take a's buffer.
  const n = 256;
  const b = new GraphBuilder();
  b.input("x", "f32", [n]);
  b.constantOf("zero", "i64", [], [0]);
  const a = b.op1("Add", ["x", "x"]);
  const s = b.op1("SequenceConstruct", [a]);
  b.op1("Mul", ["x", "x"], {}, "sq");
  b.op1("SequenceAt", [s, "zero"], {}, "back");
  const g = b.build(["sq", "back"]);
  const x = f32([n], range(n));
  // Buffer reuse is on only without observers; run plain.
  const r = interpret(g, { x }).outputs;
  assert.deepEqual(nums(r.back), range(n).map((v) => 2 * v));
  assert.deepEqual(nums(r.sq), range(n).map((v) => v * v));
});

Deno.test("SplitToSequence: unit pieces squeezed, scalar split with a remainder, explicit sizes", () => {
  const x = f32([2, 5], range(10));
  const mk = (attrs: Record<string, number>, split?: [number[], number[]]) => {
    const b = new GraphBuilder();
    b.input("x", "f32", [2, 5]);
    const sp = split ? b.constantOf("split", "i64", split[0], split[1]) : null;
    b.op1("SplitToSequence", sp ? ["x", sp] : ["x"], attrs, "s");
    return b.build(["s"]);
  };
  let g = mk({ axis: -1, keepdims: 0 });
  assert.deepEqual(g.values.s.type, { kind: "sequence", elem: { kind: "tensor", dtype: "f32", shape: [2] } });
  let pieces = items(run(g, { x }).s);
  assert.deepEqual(pieces.map((p) => p.shape), [[2], [2], [2], [2], [2]]);
  assert.deepEqual(pieces.map(nums), [[0, 5], [1, 6], [2, 7], [3, 8], [4, 9]]);

  g = mk({ axis: 1 }, [[], [2]]);
  pieces = items(run(g, { x }).s);
  assert.deepEqual(pieces.map((p) => p.shape), [[2, 2], [2, 2], [2, 1]]);
  assert.deepEqual(pieces.map(nums), [[0, 1, 5, 6], [2, 3, 7, 8], [4, 9]]);

  g = mk({ axis: 0 }, [[2], [1, 1]]);
  assert.deepEqual(items(run(g, { x }).s).map(nums), [range(5), range(5, 5)]);

  g = mk({ axis: 1 }, [[2], [1, 3]]);
  assert.throws(() => run(g, { x }), (e) => e instanceof LatheError && /sum/.test(e.message));
});

Deno.test("ConcatFromSequence joins along an axis or stacks along a new one", () => {
  const mk = (attrs: Record<string, number>) => {
    const b = new GraphBuilder();
    b.input("a", "f32", [2, 2]);
    b.input("b", "f32", [2, 2]);
    const s = b.op1("SequenceConstruct", ["a", "b"]);
    b.op1("ConcatFromSequence", [s], attrs, "y");
    return b.build(["y"]);
  };
  const a = f32([2, 2], [1, 2, 3, 4]), bb = f32([2, 2], [5, 6, 7, 8]);
  let r = run(mk({ axis: 0 }), { a, b: bb }).y as Tensor;
  assert.deepEqual(r.shape, [4, 2]);
  assert.deepEqual(nums(r), [1, 2, 3, 4, 5, 6, 7, 8]);
  r = run(mk({ axis: 1 }), { a, b: bb }).y as Tensor;
  assert.deepEqual(nums(r), [1, 2, 5, 6, 3, 4, 7, 8]);
  // new_axis with axis -1 stacks last: y[i][j][k] = (a, b)[k][i][j].
  const g = mk({ axis: -1, new_axis: 1 });
  const t = g.values.y.type;
  assert.ok(t.kind === "tensor" && t.shape?.length === 3 && t.shape[0] === 2 && t.shape[1] === 2);
  r = run(g, { a, b: bb }).y as Tensor;
  assert.deepEqual(r.shape, [2, 2, 2]);
  assert.deepEqual(nums(r), [1, 5, 2, 6, 3, 7, 4, 8]);
});

Deno.test("ConcatFromSequence of pieces with different lengths along the axis", () => {
  const b = new GraphBuilder();
  b.input("x", "f32", [5]);
  b.constantOf("split", "i64", [2], [3, 2]);
  const s = b.op1("SplitToSequence", ["x", "split"]);
  b.constantOf("p", "i64", [], [0]);
  const rev = b.op1("SequenceErase", [s, "p"]);
  const again = b.op1("SequenceInsert", [rev, b.op1("SequenceAt", [s, "p"])]); // [x[3:5], x[0:3]]
  b.op1("ConcatFromSequence", [again], { axis: 0 }, "y");
  const g = b.build(["y"]);
  assert.deepEqual(nums(run(g, { x: f32([5], [1, 2, 3, 4, 5]) }).y), [4, 5, 1, 2, 3]);
});

Deno.test("SequenceMap applies the body per element with extra tensor inputs", () => {
  const body = new GraphBuilder("body");
  body.input("e", "f32", ["n"]);
  body.input("k", "f32", []);
  body.op1("Mul", ["e", "k"], {}, "o");
  body.op1("Shape", ["e"], {}, "shape");
  const b = new GraphBuilder();
  b.inputOf("s", { kind: "sequence", elem: { kind: "tensor", dtype: "f32", shape: ["n"] } });
  b.input("k", "f32", []);
  b.op("SequenceMap", ["s", "k"], { body: { type: "graph", value: body.build(["o", "shape"]) } }, [
    "y",
    "shapes",
  ]);
  const g = b.build(["y", "shapes"]);
  assert.deepEqual(g.values.shapes.type, {
    kind: "sequence",
    elem: { kind: "tensor", dtype: "i64", shape: [1] },
  });
  const r = run(g, { s: new Sequence([f32([2], [1, 2]), f32([3], [3, 4, 5])], "f32"), k: f32([], [10]) });
  assert.deepEqual(items(r.y).map(nums), [[10, 20], [30, 40, 50]]);
  assert.deepEqual(items(r.shapes).map(nums), [[2], [3]]);
});

Deno.test("Optional, OptionalHasElement, OptionalGetElement", () => {
  const elem: ValueType = { kind: "tensor", dtype: "f32", shape: [2] };
  const b = new GraphBuilder();
  b.input("x", "f32", [2]);
  const full = b.op1("Optional", ["x"], {}, "full");
  const empty = b.op1("Optional", [], { type: { type: "type", value: elem } }, "empty");
  b.op1("OptionalHasElement", [full], {}, "hasFull");
  b.op1("OptionalHasElement", [empty], {}, "hasEmpty");
  b.op1("OptionalHasElement", [null], {}, "hasNothing");
  b.op1("OptionalGetElement", [full], {}, "got");
  b.op1("OptionalGetElement", ["x"], {}, "passThrough");
  const g = b.build(["full", "hasFull", "hasEmpty", "hasNothing", "got", "passThrough"]);
  assert.deepEqual(g.values.empty.type, { kind: "optional", elem });
  assert.deepEqual(g.values.got.type, elem);
  const r = run(g, { x: f32([2], [7, 8]) });
  assert.ok(r.full instanceof OptionalValue);
  assert.deepEqual([nums(r.hasFull), nums(r.hasEmpty), nums(r.hasNothing)], [[1], [0], [0]]);
  assert.deepEqual(nums(r.got), [7, 8]);
  assert.deepEqual(nums(r.passThrough), [7, 8]);

  const e = new GraphBuilder();
  e.inputOf("o", { kind: "optional", elem });
  e.op1("OptionalGetElement", ["o"], {}, "v");
  assert.throws(
    () => run(e.build(["v"]), { o: new OptionalValue(undefined, "f32") }),
    (err) => err instanceof LatheError && /empty optional/.test(err.message),
  );
});
