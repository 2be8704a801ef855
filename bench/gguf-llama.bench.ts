/**
 * Forward pass of the tiny-llama GGUF files over 16 tokens: Lathe's interpreter beside llama.cpp (libllama
 * through FFI, one thread, default context, model loaded once) in the same run. Tokens per second =
 * 16 / (time per iteration in s). Skips when the corpus or the library is absent.
 */
import { importGguf } from "../compiler/gguf/llama.ts";
import { Session } from "../runtime/interpreter.ts";
import { Tensor } from "../runtime/tensor.ts";
import { loadLlama } from "../tests/ffi/llama.ts";
import { corpusPath, HAVE_CORPUS } from "../tests/support/corpus.ts";

const llama = HAVE_CORPUS ? loadLlama() : "no corpus";
if (typeof llama === "string") console.warn(`llama.cpp baselines skipped: ${llama}`);
const TOKENS = [1, ...Array.from({ length: 15 }, (_, i) => (i * 37 + 5) % 339)];

if (HAVE_CORPUS) {
  for (const q of ["F32", "F16", "Q8_0", "Q4_0", "Q4_K_M", "Q6_K"]) {
    const path = corpusPath(`gguf/tiny-llama/tiny-llama-${q}.gguf`);
    const group = `tiny-llama ${q}, 16 tokens`;
    if (typeof llama !== "string") {
      const s = llama.session(path);
      Deno.bench({ name: `${q} llama.cpp`, group, baseline: true, fn: () => void s.decode(TOKENS) });
    }
    const session = new Session((await importGguf(path)).graph);
    const input = { tokens: new Tensor("i32", [TOKENS.length], Int32Array.from(TOKENS)) };
    Deno.bench({ name: `${q} Lathe`, group, fn: () => void session.run(input) });
  }
}
