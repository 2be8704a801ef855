/**
 * `convert IN OUT`: one model file to another, dispatched on the two file extensions. Each conversion is a
 * function registered for a (from, to) pair, so other formats (TFLite, ONNX) add theirs beside GGUF's.
 */
import { LatheError } from "../ir/errors.ts";
import { requantizeGguf } from "./gguf/requantize.ts";

export interface ConvertOptions {
  /** Element type for weight matrices (GGUF: a ggml type name such as Q8_0 or Q4_K). */
  weights?: string;
  onTensor?: (done: number, total: number, name: string) => void;
}

export interface ConvertResult {
  input: string;
  output: string;
  from: string;
  to: string;
  /** What happened to each tensor (source type, written type, and why one was kept). */
  tensors: { name: string; from: string; to: string; note?: string }[];
}

export type Converter = (input: string, output: string, opts: ConvertOptions) => Promise<Pick<ConvertResult, "tensors">>;

const converters = new Map<string, Converter>();

/** Registers the conversion from files ending in `from` to files ending in `to` (".gguf"). */
export function registerConverter(from: string, to: string, c: Converter): void {
  converters.set(`${from.toLowerCase()} ${to.toLowerCase()}`, c);
}

registerConverter(".gguf", ".gguf", (i, o, opts) => requantizeGguf(i, o, opts));

function extensionOf(path: string): string {
  const m = /\.[A-Za-z0-9]+$/.exec(path);
  return m ? m[0].toLowerCase() : "";
}

export async function convertModel(input: string, output: string, opts: ConvertOptions = {}): Promise<ConvertResult> {
  const from = extensionOf(input), to = extensionOf(output);
  const c = converters.get(`${from} ${to}`);
  if (!c) {
    const known = [...converters.keys()].map((k) => k.replace(" ", " -> ")).join(", ");
    throw new LatheError("unsupported", `no conversion from ${from || "(no extension)"} to ${to || "(no extension)"} (available: ${known})`, { file: input });
  }
  const r = await c(input, output, opts);
  return { input, output, from, to, tensors: r.tensors };
}
