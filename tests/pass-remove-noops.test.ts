/** remove-noops: every rule before/after as IR text, same values on seeded inputs, and where it must not fire. */
import assert from "node:assert/strict";
import { parseGraph } from "../ir/text.ts";
import { noopRules } from "../passes/remove-noops.ts";
import { applyRules, explainRule, type Rule } from "../passes/rewrite.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import "../passes/index.ts";
import { modelOf } from "../ir/builder.ts";
import {
  assertSameOutputs,
  checkNoFire,
  checkRules,
  compact,
  ir,
  opCounts,
  ORDERS,
  seededInputs,
} from "./support/pass-check.ts";

const R = (name: string): Rule => noopRules.find((r) => r.name === name)!;

Deno.test("identity and inference dropout disappear", () => {
  checkRules(
    noopRules,
    `
graph g(%x: f32[2,3]) -> (%y) {
  %ratio: f32[] = const dense<f32[]: [0.5]>
  %off: bool[] = const dense<bool[]: [0]>
  %a: f32[2,3] = Identity(%x) @id
  %b: f32[2,3] = Dropout(%a) @d1
  %c: f32[2,3], %mask: bool[2,3] = Dropout(%b, %ratio, %off) @d2
  %y: f32[2,3] = Relu(%c) @relu
}`,
    `
graph g(%x: f32[2,3]) -> (%y) {
  %y: f32[2,3] = Relu(%x)
}`,
    { rtol: 0, counts: { Relu: 1 } },
  );
});

Deno.test("dropout stays in training mode, with an unknown mode, or when its mask is read", () => {
  const d = R("dropout");
  checkNoFire(
    noopRules,
    `
graph g(%x: f32[2,3]) -> (%y) {
  %on: bool[] = const dense<bool[]: [1]>
  %y: f32[2,3] = Dropout(%x, _, %on) @d
}`,
    { rule: d, node: "d", reason: /training_mode is true/ },
  );
  checkNoFire(
    noopRules,
    `
graph g(%x: f32[2,3], %t: bool[]) -> (%y) {
  %y: f32[2,3] = Dropout(%x, _, %t) @d
}`,
    { rule: d, node: "d", reason: /training_mode is not a constant/ },
  );
  checkNoFire(
    noopRules,
    `
graph g(%x: f32[2,3]) -> (%y, %m) {
  %y: f32[2,3], %m: bool[2,3] = Dropout(%x) @d
}`,
    { rule: d, node: "d", reason: /mask output is used/ },
  );
});

Deno.test("a Reshape of a Reshape reads the first input; the engine keeps every order's result equal", () => {
  checkRules(
    noopRules,
    `
graph g(%x: f32[2,6]) -> (%y) {
  %s1: i64[2] = const dense<i64[2]: [3, 4]>
  %s2: i64[2] = const dense<i64[2]: [4, -1]>
  %r1: f32[3,4] = Reshape(%x, %s1) @r1
  %r2: f32[4,3] = Reshape(%r1, %s2) @r2
  %y: f32[4,3] = Relu(%r2) @relu
}`,
    `
graph g(%x: f32[2,6]) -> (%y) {
  %s2: i64[2] = const dense<i64[2]: [4, -1]>
  %r2_reshape_0: f32[4,3] = Reshape(%x, %s2)
  %y: f32[4,3] = Relu(%r2_reshape_0)
}`,
    { rtol: 0, fired: { "reshape-chain": 1 } },
  );
});

Deno.test("a chain of three Reshapes: greedy collapses it, a reverse walk leaves one link", () => {
  const before = `
graph g(%x: f32[2,6]) -> (%y) {
  %s1: i64[2] = const dense<i64[2]: [3, 4]>
  %s2: i64[2] = const dense<i64[2]: [4, 3]>
  %s3: i64[1] = const dense<i64[1]: [12]>
  %r1: f32[3,4] = Reshape(%x, %s1) @r1
  %r2: f32[4,3] = Reshape(%r1, %s2) @r2
  %r3: f32[12] = Reshape(%r2, %s3) @r3
  %y: f32[12] = Relu(%r3) @relu
}`;
  const collapsed = `
graph g(%x: f32[2,6]) -> (%y) {
  %s3: i64[1] = const dense<i64[1]: [12]>
  %n: f32[12] = Reshape(%x, %s3)
  %y: f32[12] = Relu(%n)
}`;
  // Greedy from the last node stops one link short while the dead middle Reshape still counts as a user
  // of the first: see tests/rewrite-engine-bugs.test.ts.
  checkRules(noopRules, before, collapsed, { rtol: 0, orders: [ORDERS[0], ORDERS[2]] });
  // One walk from the last node visits r3 while r2 still reads r1, and never returns to the new node.
  checkRules(
    noopRules,
    before,
    `
graph g(%x: f32[2,6]) -> (%y) {
  %s1: i64[2] = const dense<i64[2]: [3, 4]>
  %s3: i64[1] = const dense<i64[1]: [12]>
  %r1: f32[3,4] = Reshape(%x, %s1)
  %n: f32[12] = Reshape(%r1, %s3)
  %y: f32[12] = Relu(%n)
}`,
    { rtol: 0, orders: [ORDERS[1]] },
  );
});

Deno.test("reshape-chain must not fire when the outer shape copies a dimension or the inner result is reused", () => {
  // [2,6] -> [3,4] -> [0,2,-1] is [3,2,2]; Reshape(x, [0,2,-1]) would give [2,2,3].
  checkNoFire(
    [R("reshape-chain")],
    `
graph g(%x: f32[2,6]) -> (%y) {
  %s1: i64[2] = const dense<i64[2]: [3, 4]>
  %s2: i64[3] = const dense<i64[3]: [0, 2, -1]>
  %r1: f32[3,4] = Reshape(%x, %s1) @r1
  %y: f32[3,2,2] = Reshape(%r1, %s2) @r2
}`,
    { rule: R("reshape-chain"), node: "r2", reason: /copies a dimension/ },
  );
  checkNoFire(
    [R("reshape-chain")],
    `
graph g(%x: f32[2,6]) -> (%y, %z) {
  %s1: i64[2] = const dense<i64[2]: [3, 4]>
  %s2: i64[1] = const dense<i64[1]: [12]>
  %r1: f32[3,4] = Reshape(%x, %s1) @r1
  %y: f32[12] = Reshape(%r1, %s2) @r2
  %z: f32[3,4] = Relu(%r1) @relu
}`,
    { rule: R("reshape-chain"), node: "r2", reason: /%r1 has 2 users/ },
  );
});

Deno.test("a Reshape to the shape its input has is removed; a symbolic shape keeps it", () => {
  checkRules(
    noopRules,
    `
graph g(%x: f32[2,6]) -> (%y) {
  %s: i64[2] = const dense<i64[2]: [2, -1]>
  %r: f32[2,6] = Reshape(%x, %s) @r
  %y: f32[2,6] = Sigmoid(%r) @sig
}`,
    `
graph g(%x: f32[2,6]) -> (%y) {
  %y: f32[2,6] = Sigmoid(%x)
}`,
    { rtol: 0 },
  );
  checkNoFire(
    noopRules,
    `
graph g(%x: f32[N,6]) -> (%y) {
  %s: i64[2] = const dense<i64[2]: [0, 6]>
  %y: f32[N,6] = Reshape(%x, %s) @r
}`,
    { rule: R("reshape-same-shape"), node: "r", reason: /not static/ },
  );
});

Deno.test("inverse Transposes cancel, others compose into one", () => {
  checkRules(
    noopRules,
    `
graph g(%x: f32[1,2,3,4]) -> (%y) {
  %t1: f32[1,3,4,2] = Transpose(%x) {perm=[0, 2, 3, 1]} @t1
  %t2: f32[1,2,3,4] = Transpose(%t1) {perm=[0, 3, 1, 2]} @t2
  %y: f32[1,2,3,4] = Neg(%t2) @neg
}`,
    `
graph g(%x: f32[1,2,3,4]) -> (%y) {
  %y: f32[1,2,3,4] = Neg(%x)
}`,
    { rtol: 0 },
  );
  // Default perms reverse the axes: reversing twice is the identity.
  checkRules(
    noopRules,
    `
graph g(%x: f32[2,3,4]) -> (%y) {
  %t1: f32[4,3,2] = Transpose(%x) @t1
  %t2: f32[2,3,4] = Transpose(%t1) @t2
  %y: f32[2,3,4] = Neg(%t2) @neg
}`,
    `
graph g(%x: f32[2,3,4]) -> (%y) {
  %y: f32[2,3,4] = Neg(%x)
}`,
    { rtol: 0 },
  );
  // [1,0,2] then [0,2,1]: out dim i is x dim p1[p2[i]] = [1,2,0].
  checkRules(
    noopRules,
    `
graph g(%x: f32[2,3,4]) -> (%y) {
  %t1: f32[3,2,4] = Transpose(%x) {perm=[1, 0, 2]} @t1
  %t2: f32[3,4,2] = Transpose(%t1) {perm=[0, 2, 1]} @t2
  %y: f32[3,4,2] = Neg(%t2) @neg
}`,
    `
graph g(%x: f32[2,3,4]) -> (%y) {
  %t2_transpose_0: f32[3,4,2] = Transpose(%x) {perm=[1, 2, 0]}
  %y: f32[3,4,2] = Neg(%t2_transpose_0)
}`,
    { rtol: 0 },
  );
});

Deno.test("transpose-pair and transpose-identity must not fire on a shared or a real permutation", () => {
  // No perm (or an empty one) reverses the axes: not the identity.
  checkNoFire(
    noopRules,
    `
graph g(%x: f32[2,3]) -> (%y) {
  %y: f32[3,2] = Transpose(%x) @t
}`,
    { rule: R("transpose-identity"), node: "t", reason: /perm is not the identity/ },
  );
  // A default perm followed by an explicit one composes with the reversal.
  checkRules(
    noopRules,
    `
graph g(%x: f32[2,3,4]) -> (%y) {
  %t1: f32[4,3,2] = Transpose(%x) @t1
  %t2: f32[3,2,4] = Transpose(%t1) {perm=[1, 2, 0]} @t2
  %y: f32[3,2,4] = Neg(%t2) @neg
}`,
    `
graph g(%x: f32[2,3,4]) -> (%y) {
  %t2_transpose_0: f32[3,2,4] = Transpose(%x) {perm=[1, 0, 2]}
  %y: f32[3,2,4] = Neg(%t2_transpose_0)
}`,
    { rtol: 0 },
  );
  checkNoFire(
    [R("transpose-pair")],
    `
graph g(%x: f32[2,3]) -> (%y, %z) {
  %t1: f32[3,2] = Transpose(%x) {perm=[1, 0]} @t1
  %y: f32[2,3] = Transpose(%t1) {perm=[1, 0]} @t2
  %z: f32[3,2] = Abs(%t1) @abs
}`,
    { rule: R("transpose-pair"), node: "t2", reason: /%t1 has 2 users/ },
  );
  checkNoFire(
    noopRules,
    `
graph g(%x: f32[2,3]) -> (%y) {
  %y: f32[3,2] = Transpose(%x) {perm=[1, 0]} @t
}`,
    { rule: R("transpose-identity"), node: "t", reason: /perm is not the identity/ },
  );
  checkRules(
    noopRules,
    `
graph g(%x: f32[2,3,4]) -> (%y) {
  %t: f32[2,3,4] = Transpose(%x) {perm=[0, 1, 2]} @t
  %y: f32[2,3,4] = Abs(%t) @abs
}`,
    `
graph g(%x: f32[2,3,4]) -> (%y) {
  %y: f32[2,3,4] = Abs(%x)
}`,
    { rtol: 0, fired: { "transpose-identity": 1 } },
  );
});

Deno.test("a Cast to the type a value has is removed; a graph output keeps its name through an Identity", () => {
  checkRules(
    noopRules,
    `
graph g(%x: f32[3]) -> (%y) {
  %y: f32[3] = Cast(%x) {to=1} @c
}`,
    `
graph g(%x: f32[3]) -> (%y) {
  %y: f32[3] = Identity(%x)
}`,
    { rtol: 0, fired: { "cast-same-type": 1 } },
  );
  checkNoFire(
    noopRules,
    `
graph g(%x: f32[3]) -> (%y) {
  %y: f16[3] = Cast(%x) {to=10} @c
}`,
    { rule: R("cast-same-type"), node: "c", reason: /casts f32 to f16/ },
  );
});

Deno.test("Cast chains through a type that holds every value become one Cast or none", () => {
  checkRules(
    noopRules,
    `
graph g(%x: f16[4]) -> (%y) {
  %a: f32[4] = Cast(%x) {to=1} @c1
  %b: f16[4] = Cast(%a) {to=10} @c2
  %y: f16[4] = Abs(%b) @abs
}`,
    `
graph g(%x: f16[4]) -> (%y) {
  %y: f16[4] = Abs(%x)
}`,
    { rtol: 0 },
  );
  checkRules(
    noopRules,
    `
graph g(%x: i8[6]) -> (%y) {
  %a: i32[6] = Cast(%x) {to=6} @c1
  %y: f32[6] = Cast(%a) {to=1} @c2
}`,
    `
graph g(%x: i8[6]) -> (%y) {
  %y: f32[6] = Cast(%x) {to=1}
}`,
    { rtol: 0 },
  );
  // Integer narrowing wraps the same way from u8 directly and from its exact i32 image.
  checkRules(
    noopRules,
    `
graph g(%x: u8[6]) -> (%y) {
  %a: i32[6] = Cast(%x) {to=6} @c1
  %y: i8[6] = Cast(%a) {to=3} @c2
}`,
    `
graph g(%x: u8[6]) -> (%y) {
  %y: i8[6] = Cast(%x) {to=3}
}`,
    { rtol: 0 },
  );
});

Deno.test("cast-through-wider must not fire through a narrower type or float-to-int out of range", () => {
  const r = R("cast-through-wider");
  // f32 -> f16 -> f32 rounds to f16 precision.
  checkNoFire(
    noopRules,
    `
graph g(%x: f32[4]) -> (%y) {
  %a: f16[4] = Cast(%x) {to=10} @c1
  %y: f32[4] = Cast(%a) {to=1} @c2
}`,
    { rule: r, node: "c2", reason: /f16 does not hold every f32 value/ },
  );
  checkNoFire(
    noopRules,
    `
graph g(%x: i8[4]) -> (%y) {
  %a: f32[4] = Cast(%x) {to=1} @c1
  %y: u8[4] = Cast(%a) {to=2} @c2
}`,
    { rule: r, node: "c2", reason: /out-of-range floats/ },
  );
  checkNoFire(
    noopRules,
    `
graph g(%x: f32[4]) -> (%y, %a) {
  %a: f64[4] = Cast(%x) {to=11} @c1
  %y: f32[4] = Cast(%a) {to=1} @c2
}`,
    { rule: r, node: "c2", reason: /graph output/ },
  );
});

Deno.test("Squeeze of an Unsqueeze on the same axes (in any sign or order) is removed", () => {
  checkRules(
    noopRules,
    `
graph g(%x: f32[2,3]) -> (%y) {
  %u: i64[2] = const dense<i64[2]: [0, -1]>
  %s: i64[2] = const dense<i64[2]: [3, 0]>
  %a: f32[1,2,3,1] = Unsqueeze(%x, %u) @un
  %b: f32[2,3] = Squeeze(%a, %s) @sq
  %y: f32[2,3] = Exp(%b) @exp
}`,
    `
graph g(%x: f32[2,3]) -> (%y) {
  %y: f32[2,3] = Exp(%x)
}`,
    { rtol: 0 },
  );
  checkNoFire(
    noopRules,
    `
graph g(%x: f32[2,3]) -> (%y) {
  %u: i64[2] = const dense<i64[2]: [0, 3]>
  %s: i64[1] = const dense<i64[1]: [0]>
  %a: f32[1,2,3,1] = Unsqueeze(%x, %u) @un
  %y: f32[2,3,1] = Squeeze(%a, %s) @sq
}`,
    { rule: R("squeeze-unsqueeze"), node: "sq", reason: /differ/ },
  );
});

Deno.test("the remove-noops pass from a pipeline string", async () => {
  const g = parseGraph(`
graph g(%x: f32[2,6]) -> (%y) {
  %s: i64[2] = const dense<i64[2]: [2, 6]>
  %a: f32[2,6] = Identity(%x) @id
  %b: f32[2,6] = Reshape(%a, %s) @r
  %t1: f32[6,2] = Transpose(%b) {perm=[1, 0]} @t1
  %t2: f32[2,6] = Transpose(%t1) {perm=[1, 0]} @t2
  %y: f32[2,6] = Tanh(%t2) @tanh
}`);
  const { model, stats } = await runPipeline(modelOf(g), "remove-noops");
  assert.equal(
    compact(model.graph),
    ir(`
    graph g(%x: f32[2,6]) -> (%y) {
      %y: f32[2,6] = Tanh(%x)
    }`),
  );
  assert.deepEqual(opCounts(model.graph), { Tanh: 1 });
  assert.deepEqual([stats[0].nodesBefore, stats[0].nodesAfter], [5, 1]);
  assertSameOutputs(g, model.graph, { rtol: 0, inputs: seededInputs(g) });
  // Explain on a graph where everything already fired reports no candidates for these rules.
  assert.deepEqual(explainRule(model.graph, R("identity")), []);
  assert.equal(applyRules(model.graph, noopRules).graph, model.graph);
});
