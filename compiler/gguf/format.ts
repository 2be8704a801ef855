/** Registers GGUF with the model loader: `GGUF` at byte 0 or a `.gguf` name. */
import { registerFormat } from "../load-model.ts";
import { importGguf } from "./llama.ts";

registerFormat({
  format: "gguf",
  extensions: [".gguf"],
  match: (head) =>
    head.length >= 4 && head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46,
  open: (path, bytes) => importGguf(bytes, { file: path }),
});
