// The quantization schemes register themselves with the quantize pass on import.
import "./quantize-pass.ts";
import "./lower-int8.ts";
import "./pot.ts";
import "./bfp.ts";
import "./dqa.ts";
import "./ggml-requantize.ts";
