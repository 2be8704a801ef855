/** Registers every model format importer with the loader (import for its effect). */
import "./load-model.ts";
import "./tflite/format.ts";
import "./gguf/format.ts";
