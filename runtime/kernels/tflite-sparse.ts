/**
 * `tfl.DENSIFY`: a sparse constant (its stored values, with the layout in the node's attributes) expanded to
 * its dense tensor. The input is a constant, the same tensor object on every run, so the dense result is
 * computed once per node and kept in a buffer the interpreter's pool never recycles; later kernels that
 * cache by weight object (DEQUANTIZE, the conv layouts) then see a stable weight too.
 */
import { storageOf } from "../../ir/dtype.ts";
import type { Node } from "../../ir/graph.ts";
import { registerKernel } from "../kernel-registry.ts";
import { arrayCtor, shapeSize, Tensor, type TypedArray } from "../tensor.ts";
import { layoutFromAttrs, scatter, sparsePositions } from "../tflite/densify.ts";
import { arg, fail } from "./tflite-common.ts";

const expanded = new WeakMap<Tensor, WeakMap<Node, Tensor>>();

registerKernel("tfl.DENSIFY", (inputs, ctx) => {
  const x = arg(inputs, 0, "input");
  let byNode = expanded.get(x);
  const cached = byNode?.get(ctx.node);
  if (cached) return [cached];
  const s = storageOf(x.dtype);
  if (s === undefined || s === "string") fail(`DENSIFY of ${JSON.stringify(x.dtype)} values`);
  const where = { field: `node ${ctx.node.id} (tfl.DENSIFY)` };
  const layout = layoutFromAttrs(ctx.attrs, where);
  const pos = sparsePositions(layout, x.data.length, where);
  const n = shapeSize(layout.shape);
  // One spare element makes the view smaller than its buffer, which the pool takes as "not mine".
  const data = new (arrayCtor(x.dtype))(n + 1).subarray(0, n) as TypedArray;
  scatter(pos, x.data as TypedArray, data);
  const out = new Tensor(x.dtype, layout.shape, data);
  if (!byNode) expanded.set(x, byNode = new WeakMap());
  byNode.set(ctx.node, out);
  return [out];
});
