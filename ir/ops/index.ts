// Every op family declares itself on import.
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
import "./tflite.ts";
import "./text.ts";
import "./llm.ts";
import "./quant-compute.ts";
