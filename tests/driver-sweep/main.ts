/**
 * `deno task driver-sweep [--targets T,T] [--models M,M] [--json]`: every corpus CNN on every accelerator
 * target, the way a user gets it: `compile MODEL --target T` (quantized to the target's number format),
 * then the emitted driver built with g++ (-O1: the steps round the same at any level) and run on the
 * seeded inputs compile simulated with. A case passes when compile's simulation is bit-exact with the plain
 * runtime and every driver output file is byte-identical to the runtime's tensors. A target "applies" to a
 * model when it offloads at least one node; the others are listed as not applying, with nothing skipped
 * silently. Exit 0 when every applying case passes, 1 otherwise, 2 without ../shared or g++.
 */
import { parseArgs } from "node:util";
import { compileModel } from "../../compiler/compile.ts";
import { encodeNpy } from "../../compiler/npy.ts";
import type { Graph } from "../../ir/graph.ts";
import { Session } from "../../runtime/interpreter.ts";
import { Tensor } from "../../runtime/tensor.ts";
import type { EmittedDriver } from "../../targets/emit/emit.ts";
import { cutBefore, seededInputs, unrunnable } from "../../targets/simulate.ts";
import { corpusPath, HAVE_CORPUS } from "../support/corpus.ts";
import {
  buildDriver,
  firstDifference,
  HAVE_TOOLCHAIN,
  runDriver,
  storageTensor,
} from "../support/driver-run.ts";

interface Model {
  readonly file: string;
  readonly shapes?: Record<string, number[]>;
}

const MODELS: readonly Model[] = [
  { file: "onnx/torch/mobilenet_v2.onnx" },
  { file: "onnx/torch/squeezenet1_1.onnx" },
  { file: "onnx/torch/dcgan_generator.onnx" },
  { file: "onnx/paddleocr/ch_ppocr_mobile_v2.0_cls_infer.onnx", shapes: { x: [1, 3, 48, 192] } },
  { file: "onnx/openwakeword/embedding_model.onnx", shapes: { input_1: [1, 76, 32, 1] } },
  { file: "tflite/coral/mobilenet_ssd_v2_coco_quant_postprocess.tflite" },
  { file: "tflite/mediapipe/face_detection_short_range.tflite" },
  { file: "tflite/mediapipe/hand_landmark_lite.tflite" },
  { file: "tflite/mediapipe/object_detection_ssd_mobilenetv2_oidv4_fp16.tflite" },
  { file: "tflite/mediapipe/palm_detection_lite.tflite" },
  { file: "tflite/mediapipe/pose_detection.tflite" },
  { file: "tflite/mediapipe/selfie_segmentation.tflite" },
  {
    file: "tflite/openwakeword/embedding_model.tflite",
    shapes: { "serving_default_input_1:0": [1, 76, 32, 1] },
  },
];

const TARGETS = ["secda-sa", "secda-vm", "sa:16x16:os", "potacc:z2", "potacc:kria", "mm2im"];

interface Row {
  model: string;
  target: string;
  status: "pass" | "fail" | "not applicable";
  calls: number;
  detail: string;
  ms: { compile: number; build: number; run: number };
}

async function sweepOne(m: Model, target: string): Promise<Row> {
  const row: Row = {
    model: m.file,
    target,
    status: "fail",
    calls: 0,
    detail: "",
    ms: { compile: 0, build: 0, run: 0 },
  };
  const out = await Deno.makeTempDir({ prefix: "lathe-sweep-" });
  try {
    const t0 = performance.now();
    const r = await compileModel({
      model: corpusPath(m.file),
      target,
      out,
      shapes: m.shapes,
      log: () => {},
    });
    row.ms.compile = performance.now() - t0;
    const t = r.target!;
    row.calls = t.partition.placements.filter((p) => p.placement === "accel").length;
    if (row.calls === 0) {
      row.status = "not applicable";
      row.detail = "nothing offloaded";
      return row;
    }
    if (!t.report.simulation?.bit_exact) {
      row.detail = "compile's simulation is not bit-exact with the runtime";
      return row;
    }
    if (!r.driver || !("dir" in r.driver)) {
      row.detail = `no driver: ${r.driver && "skipped" in r.driver ? r.driver.skipped : "not requested"}`;
      return row;
    }
    const d = r.driver as EmittedDriver;
    row.ms.build = buildDriver(d.dir, "-O1");
    // The partitioned graph on the runtime, up to a custom op, on compile's seeded inputs (seed 0); compile
    // checked it against the unpartitioned graph.
    let g: Graph = t.partition.graph;
    const cut = unrunnable(g);
    if (cut) g = cutBefore(g, cut);
    const inputs = seededInputs(g, 0);
    const want = new Session(g).run(inputs).outputs;
    const run = await runDriver(`${d.dir}/lathe_driver`, `${out}/run`, d.inputs, d.outputs, inputs);
    row.ms.run = run.ms;
    if (run.code !== 0) {
      row.detail = `driver exit ${run.code}: ${run.stderr.slice(0, 200)}`;
      return row;
    }
    const bad = d.outputs.filter((o) => {
      const w = want[o.name];
      return !(w instanceof Tensor) ||
        firstDifference(run.outputs.get(o.name)!, encodeNpy(storageTensor(w))) !== "";
    });
    if (bad.length) {
      row.detail = `outputs differ: ${bad.map((o) => o.name).join(", ")}`;
      return row;
    }
    row.status = "pass";
    row.detail = `${d.outputs.length} outputs byte-identical${cut ? `, up to ${cut}` : ""}`;
    return row;
  } catch (e) {
    row.detail = (e as Error).message.replace(/\s+/g, " ").slice(0, 240);
    return row;
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      targets: { type: "string" },
      models: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(
      "usage: driver-sweep [--targets T,T] [--models SUBSTR,SUBSTR] [--json]\n" +
        "  compile every corpus CNN for every target, build each emitted driver with g++ and check its outputs\n" +
        "  byte for byte against the runtime. Exit 0: all applying cases pass; 1: a case failed; 2: no corpus/g++.",
    );
    Deno.exit(0);
  }
  if (!HAVE_CORPUS || !HAVE_TOOLCHAIN) {
    console.error(`driver-sweep: needs ${!HAVE_CORPUS ? "../shared/corpus" : "g++ and make"}; nothing run`);
    Deno.exit(2);
  }
  const targets = values.targets ? values.targets.split(",") : TARGETS;
  const pick = values.models?.split(",");
  const models = pick ? MODELS.filter((m) => pick.some((p) => m.file.includes(p))) : MODELS;
  const rows: Row[] = [];
  const t0 = performance.now();
  for (const m of models) {
    for (const target of targets) {
      const r = await sweepOne(m, target);
      rows.push(r);
      if (!values.json) {
        console.log(
          `${r.status.padEnd(14)} ${m.file.padEnd(66)} ${target.padEnd(12)} calls ${
            String(r.calls).padStart(3)
          }  ` +
            `compile ${(r.ms.compile / 1000).toFixed(1)} s, build ${(r.ms.build / 1000).toFixed(1)} s, run ${
              r.ms.run.toFixed(0)
            } ms  ${r.detail}`,
        );
      } else {console.error(
          `[${rows.length}/${models.length * targets.length}] ${m.file} ${target}: ${r.status}`,
        );}
    }
  }
  const count = (s: Row["status"]) => rows.filter((r) => r.status === s).length;
  const summary = {
    cases: rows.length,
    pass: count("pass"),
    fail: count("fail"),
    not_applicable: count("not applicable"),
    seconds: (performance.now() - t0) / 1000,
  };
  if (values.json) console.log(JSON.stringify({ summary, rows }, null, 2));
  else {
    console.log(
      `${summary.pass} pass, ${summary.fail} fail, ${summary.not_applicable} not applicable (nothing offloaded) of ${summary.cases} in ${
        summary.seconds.toFixed(0)
      } s`,
    );
  }
  Deno.exit(summary.fail ? 1 : 0);
}
