/** layout-propagation: Transposes sink through layout-agnostic ops (constants take the inverse perm) and cancel. */
import assert from "node:assert/strict";
import { modelOf } from "../ir/builder.ts";
import { parseGraph } from "../ir/text.ts";
import { layoutRules } from "../passes/layout-propagation.ts";
import { noopRules } from "../passes/remove-noops.ts";
import { runPipeline } from "../passes/pass-manager.ts";
import "../passes/index.ts";
import {
  assertSameOutputs,
  checkNoFire,
  checkRules,
  compact,
  opCounts,
  ORDERS,
} from "./support/pass-check.ts";

const R = (name: string) => layoutRules.find((r) => r.name === name)!;
const all = [...layoutRules, ...noopRules];
// One walk from the last node sinks each Transpose a single step; the other orders finish.
const FINISHING = ORDERS.filter((o) => o.driver === "greedy" || !o.reverse);

Deno.test("sink-unary moves a Transpose below an elementwise op", () => {
  checkRules(
    [R("sink-unary")],
    `
graph g(%x: f32[1,4,4,3]) -> (%y) {
  %t: f32[1,3,4,4] = Transpose(%x) {perm=[0, 3, 1, 2]} @t
  %y: f32[1,3,4,4] = LeakyRelu(%t) {alpha=0.1} @u
}`,
    `
graph g(%x: f32[1,4,4,3]) -> (%y) {
  %u_leakyrelu_0: f32[1,4,4,3] = LeakyRelu(%x) {alpha=0.1}
  %y: f32[1,3,4,4] = Transpose(%u_leakyrelu_0) {perm=[0, 3, 1, 2]}
}`,
    { rtol: 0, fired: { "sink-unary": 1 } },
  );
  checkNoFire(
    [R("sink-unary")],
    `
graph g(%x: f32[1,4,4,3]) -> (%y, %z) {
  %t: f32[1,3,4,4] = Transpose(%x) {perm=[0, 3, 1, 2]} @t
  %y: f32[1,3,4,4] = Relu(%t) @u
  %z: f32[1,3,4,4] = Neg(%t) @n
}`,
    { rule: R("sink-unary"), node: "u", reason: /%t has 2 users/ },
  );
});

Deno.test("sink-binary-const: the constant takes the inverse permutation", () => {
  // NHWC [1,3,4,2] per-channel constant [2] is [1,2,1,1] against NCHW x.
  checkRules(
    [R("sink-binary-const-rhs")],
    `
graph g(%x: f32[1,2,3,4]) -> (%y) {
  %c: f32[2] = const dense<f32[2]: [0.5, -1.0]>
  %t: f32[1,3,4,2] = Transpose(%x) {perm=[0, 2, 3, 1]} @t
  %y: f32[1,3,4,2] = Add(%t, %c) @b
}`,
    `
graph g(%x: f32[1,2,3,4]) -> (%y) {
  %c_perm_0: f32[1,2,1,1] = const dense<f32[1,2,1,1]: [0.5, -1.0]>
  %b_add_1: f32[1,2,3,4] = Add(%x, %c_perm_0)
  %y: f32[1,3,4,2] = Transpose(%b_add_1) {perm=[0, 2, 3, 1]}
}`,
    { rtol: 0 },
  );
  // A [W=4, C=2] constant: c'[0, ch, 0, w] = c[w, ch].
  checkRules(
    [R("sink-binary-const-rhs")],
    `
graph g(%x: f32[1,2,3,4]) -> (%y) {
  %c: f32[4,2] = const dense<f32[4,2]: [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]>
  %t: f32[1,3,4,2] = Transpose(%x) {perm=[0, 2, 3, 1]} @t
  %y: f32[1,3,4,2] = Mul(%t, %c) @b
}`,
    `
graph g(%x: f32[1,2,3,4]) -> (%y) {
  %c_perm_0: f32[1,2,1,4] = const dense<f32[1,2,1,4]: [1.0, 3.0, 5.0, 7.0, 2.0, 4.0, 6.0, 8.0]>
  %b_mul_1: f32[1,2,3,4] = Mul(%x, %c_perm_0)
  %y: f32[1,3,4,2] = Transpose(%b_mul_1) {perm=[0, 2, 3, 1]}
}`,
    { rtol: 0 },
  );
  // A Transpose without perm reverses: the [2] constant on its last axis is [2,1] against x.
  checkRules(
    [R("sink-binary-const-rhs")],
    `
graph g(%x: f32[2,3]) -> (%y) {
  %c: f32[2] = const dense<f32[2]: [0.5, -1.0]>
  %t: f32[3,2] = Transpose(%x) @t
  %y: f32[3,2] = Div(%t, %c) @b
}`,
    `
graph g(%x: f32[2,3]) -> (%y) {
  %c_perm_0: f32[2,1] = const dense<f32[2,1]: [0.5, -1.0]>
  %b_div_1: f32[2,3] = Div(%x, %c_perm_0)
  %y: f32[3,2] = Transpose(%b_div_1) {perm=[1, 0]}
}`,
    { rtol: 0 },
  );
  // A scalar on the left stays as it is.
  checkRules(
    [R("sink-binary-const-lhs")],
    `
graph g(%x: f32[1,2,3,4]) -> (%y) {
  %c: f32[] = const dense<f32[]: [3.0]>
  %t: f32[1,3,4,2] = Transpose(%x) {perm=[0, 2, 3, 1]} @t
  %y: f32[1,3,4,2] = Sub(%c, %t) @b
}`,
    `
graph g(%x: f32[1,2,3,4]) -> (%y) {
  %c: f32[] = const dense<f32[]: [3.0]>
  %b_sub_0: f32[1,2,3,4] = Sub(%c, %x)
  %y: f32[1,3,4,2] = Transpose(%b_sub_0) {perm=[0, 2, 3, 1]}
}`,
    { rtol: 0 },
  );
  checkNoFire(
    [R("sink-binary-const-rhs")],
    `
graph g(%x: f32[2,3]) -> (%y) {
  %c: f32[1,3,2] = const dense<f32[1,3,2]: [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]>
  %t: f32[3,2] = Transpose(%x) {perm=[1, 0]} @t
  %y: f32[1,3,2] = Add(%t, %c) @b
}`,
    { rule: R("sink-binary-const-rhs"), node: "b", reason: /higher rank/ },
  );
});

Deno.test("sink-binary-both needs the same permutation on both sides", () => {
  checkRules(
    [R("sink-binary-both")],
    `
graph g(%x: f32[1,2,3,4], %z: f32[1,2,1,4]) -> (%y) {
  %t1: f32[1,3,4,2] = Transpose(%x) {perm=[0, 2, 3, 1]} @t1
  %t2: f32[1,1,4,2] = Transpose(%z) {perm=[0, 2, 3, 1]} @t2
  %y: f32[1,3,4,2] = Max(%t1, %t2) @b
}`,
    `
graph g(%x: f32[1,2,3,4], %z: f32[1,2,1,4]) -> (%y) {
  %b_max_0: f32[1,2,3,4] = Max(%x, %z)
  %y: f32[1,3,4,2] = Transpose(%b_max_0) {perm=[0, 2, 3, 1]}
}`,
    { rtol: 0 },
  );
  checkNoFire(
    [R("sink-binary-both")],
    `
graph g(%x: f32[2,3,3], %z: f32[2,3,3]) -> (%y) {
  %t1: f32[3,2,3] = Transpose(%x) {perm=[1, 0, 2]} @t1
  %t2: f32[3,2,3] = Transpose(%z) {perm=[2, 0, 1]} @t2
  %y: f32[3,2,3] = Add(%t1, %t2) @b
}`,
    { rule: R("sink-binary-both"), node: "b", reason: /Transposes differ/ },
  );
});

Deno.test("sink-concat moves the axis through the permutation", () => {
  checkRules(
    [R("sink-concat")],
    `
graph g(%a: f32[1,2,3,4], %b: f32[1,5,3,4]) -> (%y) {
  %ta: f32[1,3,4,2] = Transpose(%a) {perm=[0, 2, 3, 1]} @ta
  %tb: f32[1,3,4,5] = Transpose(%b) {perm=[0, 2, 3, 1]} @tb
  %y: f32[1,3,4,7] = Concat(%ta, %tb) {axis=-1} @cat
}`,
    `
graph g(%a: f32[1,2,3,4], %b: f32[1,5,3,4]) -> (%y) {
  %cat_concat_0: f32[1,7,3,4] = Concat(%a, %b) {axis=1}
  %y: f32[1,3,4,7] = Transpose(%cat_concat_0) {perm=[0, 2, 3, 1]}
}`,
    { rtol: 0 },
  );
  checkNoFire(
    [R("sink-concat")],
    `
graph g(%a: f32[1,2,3,4], %b: f32[1,3,4,5]) -> (%y) {
  %ta: f32[1,3,4,2] = Transpose(%a) {perm=[0, 2, 3, 1]} @ta
  %y: f32[1,3,4,7] = Concat(%ta, %b) {axis=3} @cat
}`,
    { rule: R("sink-concat"), node: "cat", reason: /%b is not a Transpose/ },
  );
  checkNoFire(
    [R("sink-concat")],
    `
graph g(%a: f32[1,2,3,4], %b: f32[1,5,3,4]) -> (%y, %ta) {
  %ta: f32[1,3,4,2] = Transpose(%a) {perm=[0, 2, 3, 1]} @ta
  %tb: f32[1,3,4,5] = Transpose(%b) {perm=[0, 2, 3, 1]} @tb
  %y: f32[1,3,4,7] = Concat(%ta, %tb) {axis=3} @cat
}`,
    { rule: R("sink-concat"), node: "cat", reason: /%ta has other users/ },
  );
});

const converted = `
graph g(%x: f32[1,2,3,4], %z: f32[1,2,3,4]) -> (%y) {
  %c: f32[2] = const dense<f32[2]: [0.5, -1.0]>
  %t: f32[1,3,4,2] = Transpose(%x) {perm=[0, 2, 3, 1]} @to_nhwc
  %r: f32[1,3,4,2] = Relu(%t) @relu
  %a: f32[1,3,4,2] = Add(%r, %c) @add
  %tz: f32[1,3,4,2] = Transpose(%z) {perm=[0, 2, 3, 1]} @z_nhwc
  %cat: f32[1,3,4,4] = Concat(%a, %tz) {axis=3} @cat
  %y: f32[1,4,3,4] = Transpose(%cat) {perm=[0, 3, 1, 2]} @to_nchw
}`;

Deno.test("a converter's NHWC island between transposes goes back to NCHW without any Transpose", () => {
  // The output keeps its name: the value that replaces it is renamed (see tests/rewrite-engine-bugs.test.ts).
  checkRules(
    all,
    converted,
    `
graph g(%x: f32[1,2,3,4], %z: f32[1,2,3,4]) -> (%y) {
  %c_perm_0: f32[1,2,1,1] = const dense<f32[1,2,1,1]: [0.5, -1.0]>
  %relu_relu_0: f32[1,2,3,4] = Relu(%x)
  %add_add_0: f32[1,2,3,4] = Add(%relu_relu_0, %c_perm_0)
  %y: f32[1,4,3,4] = Concat(%add_add_0, %z) {axis=1}
}`,
    { rtol: 0, orders: FINISHING, counts: { Relu: 1, Add: 1, Concat: 1 } },
  );
});

Deno.test("layout-propagation as a pass", async () => {
  const g = parseGraph(converted);
  const { model } = await runPipeline(modelOf(g), "layout-propagation");
  assert.deepEqual(opCounts(model.graph), { Relu: 1, Add: 1, Concat: 1 });
  assert.ok(!compact(model.graph).includes("Transpose"));
  assertSameOutputs(g, model.graph, { rtol: 0 });
});
