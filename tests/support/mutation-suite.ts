/**
 * The shared body of the mutate tests for one source model and one runtime: mutate twice with one seed
 * (identical files), then for every variant check the manifest against a re-import diff and check in the
 * format's own runtime that the variant loads, runs, and differs from the original; print the damage
 * (top-1 agreement, max error) per kind over seeded inputs.
 */
import assert from "node:assert/strict";
import "../../compiler/formats.ts";
import { loadModel } from "../../compiler/load-model.ts";
import { type MutateManifest, mutateModel } from "../../compiler/mutate/mutate.ts";
import type { Graph } from "../../ir/graph.ts";
import { FAULT_CLASSES, mutationKinds } from "../../passes/mutate/index.ts";
import type { Tensor } from "../../runtime/tensor.ts";
import {
  agreement,
  assertChangesHold,
  assertDiffMatches,
  diffGraphs,
  sameFiles,
  seededInputs,
} from "./mutation-check.ts";

/** Runs a model file on named inputs and returns its first output's elements. */
export type Runner = (file: string, graph: Graph, inputs: Record<string, Tensor>) => Promise<Float32Array>;

export interface SuiteOptions {
  source: string;
  dir: string;
  seed: number;
  count: number;
  /** Seeded inputs for the damage figures. */
  damageInputs: number;
  run: Runner;
  /** Kinds that must produce a variant (every kind the dialect defines, or at least this many). */
  expectKinds: "all" | number;
  label: string;
}

export async function mutationSuite(t: Deno.TestContext, o: SuiteOptions): Promise<MutateManifest> {
  const a = await mutateModel({ model: o.source, out: `${o.dir}/a`, seed: o.seed, count: o.count });
  const m = a.manifest;

  await t.step("the same seed gives identical files and manifest", async () => {
    const b = await mutateModel({ model: o.source, out: `${o.dir}/b`, seed: o.seed, count: o.count });
    assert.equal(JSON.stringify(b.manifest), JSON.stringify(m));
    await sameFiles(`${o.dir}/a`, `${o.dir}/b`, [...m.variants.map((v) => v.file), "manifest.json"]);
    const c = await mutateModel({
      model: o.source,
      out: `${o.dir}/c`,
      seed: o.seed + 1,
      count: 1,
      kinds: ["weights-perturbed"],
    });
    const other = await Deno.readFile(`${o.dir}/c/${c.manifest.variants[0].file}`);
    const mine = await Deno.readFile(
      `${o.dir}/a/${m.variants.find((v) => v.kind === "weights-perturbed")!.file}`,
    );
    assert.ok(
      other.length !== mine.length || other.some((x, i) => x !== mine[i]),
      "another seed gives another variant",
    );
  });

  await t.step("kinds cover the five fault classes", () => {
    const made = new Set(m.variants.map((v) => v.kind));
    const defined = mutationKinds().filter((k) => k.dialects.includes(m.dialect));
    if (o.expectKinds === "all") {
      assert.deepEqual(
        [...made].sort(),
        defined.map((k) => k.name).sort(),
        `skipped: ${JSON.stringify(m.skipped, null, 1)}`,
      );
      // Later variants of a kind may only be missing because the graph offers no other distinct change.
      for (const s of m.skipped) {
        assert.match(
          s.reason,
          /^(no further distinct variant|not defined for the)/,
          `${s.kind}#${s.index}: ${s.reason}`,
        );
      }
      assert.ok(m.variants.length > defined.length, "most kinds find a second, different variant");
    } else {
      assert.ok(
        made.size >= o.expectKinds,
        `${made.size} kinds made variants; skipped: ${
          JSON.stringify(m.skipped.map((s) => `${s.kind}: ${s.reason}`), null, 1)
        }`,
      );
      // A kind may only be skipped for having no target, never for lack of an observable effect.
      for (const s of m.skipped) {
        assert.match(s.reason, /^not (applicable|defined)/, `${s.kind}: ${s.reason}`);
      }
    }
    assert.deepEqual([...new Set(m.variants.map((v) => v.class))].sort(), [...FAULT_CLASSES].sort());
  });

  const original = (await loadModel(o.source)).graph;
  const cache = new Map<number, Float32Array>();
  const want = async (seed: number) => {
    let y = cache.get(seed);
    if (!y) cache.set(seed, y = await o.run(o.source, original, seededInputs(original, seed)));
    return y;
  };
  const classes = original.values[original.outputs[0]].type;
  const nClasses = classes.kind === "tensor" && classes.shape
    ? Number(classes.shape[classes.shape.length - 1])
    : 1;
  const rows: string[] = [];
  for (const v of m.variants) {
    await t.step(`${v.kind}#${v.index}: ${v.description.slice(0, 140)}`, async () => {
      const file = `${o.dir}/a/${v.file}`;
      const variant = (await loadModel(file)).graph;
      assertDiffMatches(v, diffGraphs(original, variant));
      assertChangesHold(v, original, variant);
      let agree = 0, maxAbs = 0, differs = false;
      for (let j = 0; j < o.damageInputs; j++) {
        const seed = m.check.inputSeed + j;
        const got = await o.run(file, variant, seededInputs(variant, seed));
        const ag = agreement(got, await want(seed), nClasses);
        if (j === 0) differs = ag.differs;
        agree += ag.top1Same ? 1 : 0;
        maxAbs = Math.max(maxAbs, ag.maxAbs);
      }
      assert.ok(
        differs,
        `${v.file}: outputs equal the original's within rtol 1e-4 / atol 1e-5 on the check input`,
      );
      rows.push(
        `${v.kind.padEnd(24)} ${v.class.padEnd(16)} ${
          (100 * agree / o.damageInputs).toFixed(1).padStart(6)
        }%  ${maxAbs.toExponential(2).padStart(9)}  ${v.attempts}  ${v.node.op}`,
      );
    });
  }
  console.log(
    `\n${o.label}: damage over ${o.damageInputs} seeded inputs (top-1 agreement with the original, max abs error, attempts, node)\n${
      rows.join("\n")
    }`,
  );
  return m;
}
