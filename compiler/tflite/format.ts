/** Registers TFLite with the model loader: `TFL3` at byte 4 or a `.tflite` name. */
import { registerFormat } from "../load-model.ts";
import { FILE_IDENTIFIER } from "./schema.ts";
import { importTflite } from "./import.ts";

const ID = [...FILE_IDENTIFIER].map((c) => c.charCodeAt(0));

registerFormat({
  format: "tflite",
  extensions: [".tflite"],
  match: (head) => head.length >= 8 && ID.every((c, i) => head[4 + i] === c),
  open: (path, bytes) => importTflite(bytes, { file: path }),
});
