import { importOnnxFile } from "../../compiler/onnx/import.ts";
import "../../passes/index.ts";
import { runPipeline } from "../../passes/pass-manager.ts";
import { exportOnnx } from "../../compiler/onnx/export.ts";
const m = await importOnnxFile(Deno.args[0]);
const low = (await runPipeline(m, "lower-int8")).model;
await Deno.writeFile(Deno.args[1], exportOnnx(low));
