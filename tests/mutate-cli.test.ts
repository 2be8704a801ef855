/**
 * `deno task mutate` as a user runs it: --list-kinds, the embedded model, --json matching the manifest on
 * disk, --damage figures, and the exit codes (2 for usage, 1 when a kind asked for made no variant).
 */
import assert from "node:assert/strict";
import { FAULT_CLASSES } from "../passes/mutate/index.ts";

const CLI = new URL("../compiler/cli.ts", import.meta.url).pathname;

async function lathe(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  });
  const r = await p.output();
  return {
    code: r.code,
    stdout: new TextDecoder().decode(r.stdout),
    stderr: new TextDecoder().decode(r.stderr),
  };
}

Deno.test("mutate --list-kinds --json: at least 12 kinds over the five fault classes", async () => {
  const r = await lathe("mutate", "--list-kinds", "--json");
  assert.equal(r.code, 0, r.stderr);
  const kinds = JSON.parse(r.stdout) as { name: string; class: string; dialects: string[] }[];
  assert.ok(kinds.length >= 12);
  assert.deepEqual([...new Set(kinds.map((k) => k.class))].sort(), [...FAULT_CLASSES].sort());
  assert.ok(kinds.filter((k) => k.dialects.includes("tfl")).length >= 12);
});

Deno.test("mutate on the embedded model writes the variants and a manifest equal to the --json output", async () => {
  const out = await Deno.makeTempDir();
  try {
    const r = await lathe(
      "mutate",
      "--out",
      out,
      "--kinds",
      "conv-padding,weights-int8,node-removed",
      "--count",
      "2",
      "--seed",
      "4",
      "--damage",
      "3",
      "--json",
    );
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    const disk = JSON.parse(await Deno.readTextFile(`${out}/manifest.json`));
    const { manifest: path, ms: _, ...printed } = j;
    assert.equal(path, `${out}/manifest.json`);
    assert.deepEqual(printed, disk);
    assert.equal(disk.variants.length, 6);
    for (const v of disk.variants) {
      assert.ok((await Deno.stat(`${out}/${v.file}`)).size > 0);
      assert.match(v.file, new RegExp(`^lathe-default-cnn\\.${v.kind}\\.[01]\\.onnx$`));
      assert.equal(v.damage.inputs, 3);
      assert.ok(v.damage.maxAbs > 0 && v.damage.top1Agreement >= 0 && v.damage.top1Agreement <= 1);
    }
    // Two variants of a kind act on different nodes while the graph has several targets.
    for (const k of ["conv-padding", "weights-int8", "node-removed"]) {
      const ids = disk.variants.filter((v: { kind: string }) => v.kind === k).map((
        v: { node: { id: string } },
      ) => v.node.id);
      assert.notEqual(ids[0], ids[1], `${k}: ${ids}`);
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("mutate exit codes: 2 for an unknown kind or a missing --out, 1 when a kind asked for has no target", async () => {
  const out = await Deno.makeTempDir();
  try {
    const bad = await lathe("mutate", "--out", out, "--kinds", "no-such-kind");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown mutation kind 'no-such-kind'.*weights-perturbed/);
    assert.equal((await lathe("mutate", "--kinds", "axis")).code, 2);
    const none = await lathe("mutate", "--out", out, "--kinds", "batchnorm-stats-swapped,axis");
    assert.equal(none.code, 1, none.stderr);
    assert.match(none.stdout, /skipped batchnorm-stats-swapped#0: not applicable/);
    assert.match(none.stdout, /lathe-default-cnn\.axis\.0\.onnx/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
