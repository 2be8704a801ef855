/**
 * Opening a model file of any supported format, chosen by the file's magic bytes and then its extension
 * (GGUF has `GGUF` at offset 0, TFLite `TFL3` at offset 4; ONNX protobuf has no magic).
 */
import { LatheError } from "../ir/errors.ts";
import type { Model } from "../ir/graph.ts";
import { importOnnx } from "./onnx/import.ts";

export type ModelFormat = "onnx" | "tflite" | "gguf";

export interface FormatImporter {
  format: ModelFormat;
  extensions: string[];
  match(head: Uint8Array): boolean;
  open(path: string, bytes: Uint8Array): Promise<Model> | Model;
}

const importers: FormatImporter[] = [
  {
    format: "onnx",
    extensions: [".onnx"],
    match: () => false,
    open: (path, bytes) => importOnnx(bytes, { file: path }),
  },
];

/** Later formats register here (TFLite, GGUF). */
export function registerFormat(f: FormatImporter): void {
  importers.unshift(f);
}

export function formatOf(path: string, head?: Uint8Array): ModelFormat | undefined {
  if (head) { for (const f of importers) if (f.match(head)) return f.format; }
  const lower = path.toLowerCase();
  return importers.find((f) => f.extensions.some((e) => lower.endsWith(e)))?.format;
}

export async function loadModel(path: string): Promise<Model> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new LatheError("io", `cannot read: ${(e as Error).message}`, { file: path });
  }
  return await importModelBytes(bytes, path);
}

/** Imports a model already in memory; `path` names it in errors and picks the format by extension. */
export async function importModelBytes(bytes: Uint8Array, path: string): Promise<Model> {
  const fmt = formatOf(path, bytes.subarray(0, 16));
  const imp = importers.find((f) => f.format === fmt);
  if (!imp) {
    throw new LatheError(
      "unsupported",
      `unknown model format (expected ${importers.flatMap((f) => f.extensions).join(", ")})`,
      { file: path },
    );
  }
  return await imp.open(path, bytes);
}
