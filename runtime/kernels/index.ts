// Every kernel family registers itself on import.
import "./elementwise.ts";
import "./conv-pool.ts";
import "./matmul.ts";
import "./normalization.ts";
import "./quantize.ts";
import "./shape.ts";
import "./indexing.ts";
import "./reduce.ts";
import "./recurrent.ts";
import "./signal.ts";
import "./control-flow.ts";
import "./sequence.ts";
import "./misc.ts";
import "./text.ts";
import "./tflite-float.ts";
import "./tflite-movement.ts";
import "./llm.ts";
