/**
 * Building and running emitted C++ drivers in tests: `make` in the driver folder, seeded inputs written as
 * .npy, the driver run on them, its .npy outputs (and, with --dump, every value) read back. Tests that use
 * it skip with a clear message where g++ or make is missing.
 */
import { decodeNpy, encodeNpy } from "../../compiler/npy.ts";
import { storageOf } from "../../ir/dtype.ts";
import { Tensor } from "../../runtime/tensor.ts";
import type { DriverTensor } from "../../targets/emit/emit.ts";

function runs(cmd: string, args: string[]): boolean {
  try {
    return new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

export const HAVE_TOOLCHAIN = runs("g++", ["--version"]) && runs("make", ["--version"]);
let warned = false;

/** Use as `Deno.test({ name, ignore: noToolchain(), fn })`; prints why once. */
export function noToolchain(): boolean {
  if (!HAVE_TOOLCHAIN && !warned) {
    warned = true;
    console.warn("SKIP driver build tests: g++ and make are needed to build the emitted C++ drivers");
  }
  return !HAVE_TOOLCHAIN;
}

/** `make -j2` in the driver folder; returns the build time in ms or throws with the compiler's output. */
export function buildDriver(dir: string): number {
  const t0 = performance.now();
  const r = new Deno.Command("make", { args: ["-j2", "-C", dir, "-s"], stdout: "piped", stderr: "piped" })
    .outputSync();
  if (!r.success) {
    throw new Error(
      `make failed in ${dir}:\n${new TextDecoder().decode(r.stdout)}${new TextDecoder().decode(r.stderr)}`,
    );
  }
  return performance.now() - t0;
}

/** The tensor with its storage element type (quantized codes as plain i8/u8), as .npy files carry it. */
export function storageTensor(t: Tensor): Tensor {
  return new Tensor(storageOf(t.dtype)!, t.shape, t.data);
}

export interface DriverRun {
  /** Output .npy bytes by value name. */
  readonly outputs: Map<string, Uint8Array>;
  readonly ms: number;
  readonly stderr: string;
  readonly code: number;
}

/**
 * Writes `inputs` (by the driver's input names) as .npy under `work`, runs `exe` and reads the outputs.
 * `env` adds environment variables (LATHE_ACC_TRACE); `args` adds options before the positional ones.
 */
export async function runDriver(
  exe: string,
  work: string,
  ins: readonly DriverTensor[],
  outs: readonly DriverTensor[],
  inputs: Record<string, Tensor>,
  opts: { env?: Record<string, string>; args?: string[] } = {},
): Promise<DriverRun> {
  await Deno.mkdir(`${work}/in`, { recursive: true });
  await Deno.mkdir(`${work}/out`, { recursive: true });
  const files: string[] = [];
  for (const i of ins) {
    const f = `${work}/in/${i.file}`;
    await Deno.writeFile(f, encodeNpy(storageTensor(inputs[i.name])));
    files.push(f);
  }
  const t0 = performance.now();
  const r = await new Deno.Command(exe, {
    args: [...(opts.args ?? []), `${work}/out`, ...files],
    env: opts.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - t0;
  const outputs = new Map<string, Uint8Array>();
  if (r.success) { for (const o of outs) outputs.set(o.name, await Deno.readFile(`${work}/out/${o.file}`)); }
  return { outputs, ms, stderr: new TextDecoder().decode(r.stderr), code: r.code };
}

/** Reads a dumped value back. */
export async function readDump(dir: string, file: string): Promise<Tensor> {
  return decodeNpy(await Deno.readFile(`${dir}/${file}`));
}
