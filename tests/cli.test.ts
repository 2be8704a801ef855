/**
 * The command line as a user runs it: `deno task compile` on the embedded model, `inspect`, `run` writing
 * .npy files (read back with numpy when it is installed), `--help`, `--json` and the exit codes.
 */
import assert from "node:assert/strict";
import { parseGraph } from "../ir/text.ts";
import { decodeNpy } from "../compiler/npy.ts";
import { corpusPath, noCorpus } from "./support/corpus.ts";
import * as onnxProtoModule from "onnx-proto";

const onnx = ((onnxProtoModule as any).onnx ?? (onnxProtoModule as any).default?.onnx) as any;

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

Deno.test("compile with no model builds the embedded CNN and writes IR text that parses back", async () => {
  const out = await Deno.makeTempDir();
  const r = await lathe("compile", "--out", out, "--json");
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  // MACs by hand: conv1 8x32x32 outputs x 27 taps + conv2 16x16x16 x 72 + fc 10 x 16.
  assert.equal(res.summary.macs.total, 8 * 32 * 32 * 27 + 16 * 16 * 16 * 72 + 10 * 16);
  const text = await Deno.readTextFile(`${out}/model.lir`);
  assert.match(text, /Conv\(%image, %conv1\.weight, %conv1\.bias\)/);
  assert.throws(() => parseGraph(text), /elided/); // weights are elided, and the parser says so
});

Deno.test({
  name: "inspect reports inputs, outputs, op histogram, parameter bytes and MACs",
  ignore: noCorpus(),
  fn: async () => {
    const r = await lathe("inspect", corpusPath("onnx/torch/squeezenet1_1.onnx"), "--json");
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(j.inputs, [{ name: "input", type: "f32[1,3,224,224]" }]);
    assert.equal(j.ops.Conv, 26);
    // Parameter count from an independent decoder (onnx-proto): the export shares equal biases, so this is
    // below torchvision's 1,235,496.
    const ref = onnx.ModelProto.decode(await Deno.readFile(corpusPath("onnx/torch/squeezenet1_1.onnx")));
    const count = ref.graph.initializer.reduce(
      (p: number, t: any) => p + t.dims.reduce((q: number, d: any) => q * Number(d), 1),
      0,
    );
    assert.equal(j.parameters.byDtype.f32.count, count);
    assert.equal(j.parameters.byDtype.f32.bytes, count * 4);
    // The first conv: 64 x 111 x 111 outputs, 3x3x3 taps each.
    const conv0 = j.macs.perNode[0];
    assert.equal(conv0.macs, 64 * 111 * 111 * 27);
  },
});

Deno.test({
  name: "run writes every output as .npy plus outputs.json, with median latency for --repeat",
  ignore: noCorpus(),
  fn: async () => {
    const out = await Deno.makeTempDir();
    const r = await lathe(
      "run",
      corpusPath("onnx/torch/dcgan_generator.onnx"),
      "--out",
      out,
      "--seed",
      "3",
      "--repeat",
      "3",
      "--json",
    );
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(await Deno.readTextFile(`${out}/outputs.json`));
    const file = j.outputs.output;
    assert.ok(j.latency_ms.median > 0 && j.latency_ms.runs === 3);
    const t = decodeNpy(await Deno.readFile(`${out}/${file}`));
    assert.deepEqual(t.shape, [1, 3, 32, 32]);
    // numpy, an independent reader, sees the same array when it is installed.
    const py = new Deno.Command("python3", {
      args: [
        "-c",
        `import numpy as n; a = n.load(${
          JSON.stringify(`${out}/${file}`)
        }); print(a.dtype, a.shape, repr(float(a.reshape(-1)[1234])))`,
      ],
      stdout: "piped",
      stderr: "piped",
    });
    const pr = await py.output().catch(() => undefined);
    if (pr?.code === 0) {
      const [dtype, ...rest] = new TextDecoder().decode(pr.stdout).trim().split(" ");
      assert.equal(dtype, "float32");
      assert.equal(rest.slice(0, 4).join(" "), "(1, 3, 32, 32)");
      assert.equal(Number(rest[4]), (t.data as Float32Array)[1234]);
    } else console.warn("numpy not available: .npy checked with Lathe's reader only");
  },
});

Deno.test("exit codes: 0 for --help, 2 for bad usage, 3 for a bad model file", async () => {
  assert.equal((await lathe("run", "--help")).code, 0);
  assert.equal((await lathe("--help")).code, 0);
  assert.equal((await lathe("nonsense")).code, 2);
  assert.equal((await lathe("run", "--bogus-flag")).code, 2);
  assert.equal((await lathe("run")).code, 2);
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(`${dir}/broken.onnx`, new Uint8Array([0x08, 0xff, 0xff]));
  const r = await lathe("inspect", `${dir}/broken.onnx`);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /broken\.onnx/);
  assert.doesNotMatch(r.stderr, /TypeError|RangeError/);
});
