/**
 * The samples `diff` runs both models on. From a folder: `.npy` files (one per sample for a one-input
 * model), images (PNG, JPEG; one per sample, through a preprocessing spec), or one sub-folder per sample
 * holding `<input>.npy` for every input. Without a folder: seeded random inputs — sample k draws input i
 * (graph order) from a mulberry32 generator seeded with seed + 7919·k + i, floats uniform in the range
 * (default [-1, 1)), integers in [0, 10), as `run` does for its one sample.
 */
import { LatheError } from "../../ir/errors.ts";
import type { Graph } from "../../ir/graph.ts";
import { bindInputShapes } from "../../passes/convert/static-shapes.ts";
import type { Tensor } from "../../runtime/tensor.ts";
import { readNpy } from "../npy.ts";
import { generateInput } from "../run.ts";
import { decodeImage, imageTensor, isImageFile, type PreprocessSpec } from "./preprocess.ts";

export interface InputOptions {
  /** Folder of samples; random inputs when absent. */
  readonly dir?: string;
  /** How many samples (default: every file in the folder, or 4 random ones). */
  readonly count?: number;
  readonly seed?: number;
  /** Whole input shapes by input name, and sizes of symbolic dims by name. */
  readonly shapes?: Readonly<Record<string, readonly number[]>>;
  readonly dims?: Readonly<Record<string, number>>;
  /** Range of random float inputs (default [-1, 1)). */
  readonly range?: readonly [number, number];
  readonly preprocess?: PreprocessSpec;
  readonly onProgress?: (done: number, total: number, name: string) => void;
}

export interface InputSet {
  readonly samples: Record<string, Tensor>[];
  /** Where they came from, for the report. */
  readonly description: string;
  /** Sample names (file or folder names; "random k" for generated ones). */
  readonly names: string[];
}

const SEED_STRIDE = 7919;

async function listDir(dir: string): Promise<Deno.DirEntry[]> {
  const out: Deno.DirEntry[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (!e.name.startsWith(".")) out.push(e);
  } catch (e) {
    throw new LatheError("io", `cannot read folder: ${(e as Error).message}`, { file: dir });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, "_");
}

async function readSampleFile(
  g: Graph,
  input: string,
  path: string,
  spec: PreprocessSpec | undefined,
): Promise<Tensor> {
  if (isImageFile(path)) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (e) {
      throw new LatheError("io", `cannot read: ${(e as Error).message}`, { file: path });
    }
    const t = g.values[input]?.type;
    if (t?.kind !== "tensor" || !t.shape) {
      throw new LatheError("usage", `input ${input} has no known shape for an image`);
    }
    return imageTensor(decodeImage(bytes, path), t.shape, t.dtype, spec);
  }
  if (path.toLowerCase().endsWith(".npy")) return await readNpy(path);
  throw new LatheError("usage", "expected .npy, .png or .jpg", { file: path });
}

/** Loads or generates the samples for graph `g` (its inputs in graph order, constants excluded). */
export async function loadInputs(g: Graph, opts: InputOptions = {}): Promise<InputSet> {
  const inputs = g.inputs.filter((i) => !g.constants[i]);
  if (!inputs.length) throw new LatheError("usage", "the model has no inputs");
  if (opts.count !== undefined && !(Number.isInteger(opts.count) && opts.count > 0)) {
    throw new LatheError("usage", `--count must be a positive integer, got ${opts.count}`);
  }
  if (!opts.dir) return generated(g, inputs, opts);
  const entries = await listDir(opts.dir);
  const files = entries.filter((e) =>
    e.isFile && (isImageFile(e.name) || e.name.toLowerCase().endsWith(".npy"))
  );
  const dirs = entries.filter((e) => e.isDirectory);
  const samples: Record<string, Tensor>[] = [];
  const names: string[] = [];
  if (files.length) {
    if (inputs.length !== 1) {
      throw new LatheError(
        "usage",
        `the model has ${inputs.length} inputs; give one sub-folder per sample with ${
          inputs.map((i) => `${safeName(i)}.npy`).join(", ")
        }`,
        { file: opts.dir },
      );
    }
    const chosen = files.slice(0, opts.count ?? files.length);
    for (const [k, f] of chosen.entries()) {
      samples.push({
        [inputs[0]]: await readSampleFile(g, inputs[0], `${opts.dir}/${f.name}`, opts.preprocess),
      });
      names.push(f.name);
      opts.onProgress?.(k + 1, chosen.length, f.name);
    }
  } else if (dirs.length) {
    const chosen = dirs.slice(0, opts.count ?? dirs.length);
    for (const [k, d] of chosen.entries()) {
      const here = await listDir(`${opts.dir}/${d.name}`);
      const sample: Record<string, Tensor> = {};
      for (const i of inputs) {
        const f = here.find((e) => e.isFile && e.name.replace(/\.(npy|png|jpe?g)$/i, "") === safeName(i));
        if (!f) {
          throw new LatheError("usage", `no file for input ${i} (expected ${safeName(i)}.npy)`, {
            file: `${opts.dir}/${d.name}`,
          });
        }
        sample[i] = await readSampleFile(g, i, `${opts.dir}/${d.name}/${f.name}`, opts.preprocess);
      }
      samples.push(sample);
      names.push(d.name);
      opts.onProgress?.(k + 1, chosen.length, d.name);
    }
  }
  if (!samples.length) {
    throw new LatheError("usage", "no .npy, image files or sample folders", { file: opts.dir });
  }
  return { samples, description: `${samples.length} sample(s) from ${opts.dir}`, names };
}

function generated(g: Graph, inputs: string[], opts: InputOptions): InputSet {
  const bound = opts.shapes || opts.dims ? bindInputShapes(g, { shapes: opts.shapes, dims: opts.dims }) : g;
  const seed = opts.seed ?? 0;
  const count = opts.count ?? 4;
  const [lo, hi] = opts.range ?? [-1, 1];
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi)) {
    throw new LatheError("usage", `bad range [${lo}, ${hi})`);
  }
  const samples: Record<string, Tensor>[] = [];
  for (let k = 0; k < count; k++) {
    const sample: Record<string, Tensor> = {};
    inputs.forEach((name, i) => {
      const t = generateInput(bound, name, i, seed + SEED_STRIDE * k, opts.dims ?? {});
      const d = t.data;
      if (
        (lo !== -1 || hi !== 1) &&
        (d instanceof Float32Array || d instanceof Float64Array || d instanceof Float16Array)
      ) {
        for (let j = 0; j < d.length; j++) d[j] = lo + ((d[j] + 1) / 2) * (hi - lo);
      }
      sample[name] = t;
    });
    samples.push(sample);
    opts.onProgress?.(k + 1, count, `random ${k}`);
  }
  const range = `[${lo}, ${hi})`;
  return {
    samples,
    description: `${count} seeded random sample(s), seed ${seed}, floats uniform in ${range}`,
    names: samples.map((_, k) => `random ${k}`),
  };
}
