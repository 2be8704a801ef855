/**
 * The command line. Each command parses its flags and calls one exported function that library users call
 * too. Exit codes: 0 success; 1 the command ran and found failures (e.g. conformance cases failed);
 * 2 bad usage; 3 bad or unsupported input (Lathe's error names the file, field and reason); 4 internal error.
 */
import { parseArgs } from "node:util";
import { LatheError } from "../ir/errors.ts";
import type { RuntimeName } from "./diff/diff.ts";
import type { PreprocessSpec } from "./diff/preprocess.ts";
import { simulateCommand } from "./simulate.ts";

// A command's modules load when it runs (dynamic import), so a command pays for its own imports only and
// `--help` for none; simulate.ts is the exception, kept small so its own entry point starts fast.

/** The model loader with every importer registered (each format registers itself when formats.ts loads). */
async function modelLoader(): Promise<typeof import("./load-model.ts")> {
  await import("./formats.ts");
  return await import("./load-model.ts");
}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>["options"];
const common = {
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

interface Command {
  summary: string;
  /** A function when the text names things only a module knows (loaded for --help and usage errors). */
  usage: string | (() => Promise<string>);
  options: Options;
  run(values: Record<string, any>, positionals: string[]): Promise<number>;
}

const print = (json: boolean, data: unknown, text: string) =>
  console.log(json ? JSON.stringify(data, null, 2) : text);

export const commands: Record<string, Command> = {
  compile: {
    summary: "import and verify a model, write its IR text and a summary",
    usage: async () => {
      const { targetNames } = await import("../targets/registry.ts");
      return `compile [MODEL] [--out DIR] [--passes PIPELINE] [--print-after PASS|all] [--print-changed]
        [--explain RULE] [--target T [--offload OP,OP] [--strict] [--explain-offload] [--seed N] [--no-check]] [--json]
  MODEL            .onnx file; without it, the embedded default CNN (no download)
  --out            output folder (default out/<model name>)
  --passes         e.g. canonicalize,cse or quantize{scheme=int8}; --list-passes shows them
  --print-after    print the IR after that pass (repeatable) or after all of them
  --print-changed  print the IR after each pass that changed it
  --explain RULE   for every candidate node, whether RULE matches or where the deepest partial match failed
  --target T       an accelerator (${targetNames().join(", ")}): quantize a float model (ONNX) or take an
                   int8/uint8 one, partition, simulate on seeded inputs bit for bit against the runtime, and
                   write DIR/model.lir, weights.bin, report.json, report.html. Without MODEL: the embedded int8 CNN
                   (the embedded float CNN for targets that prefer another scheme, e.g. potacc)
  --offload OPS    ops that must be offloaded (default: every op a rule of the target takes)
  --strict         exit 1 when a node --offload asks for stays on the CPU
  --explain-offload  list every node's placement and, for CPU nodes, the rule and guard that refused it
  --scheme S       quantize scheme for a float model (default: the target's, e.g. apot for potacc; else int8)
  --shape IN=D,..  sizes of symbolic inputs (a GGUF llama model: --shape tokens=T, default 8)
  --seed N         seed of the simulation inputs (default 0)
  --no-check       skip the reference run that checks the simulation bit for bit`;
    },
    options: {
      ...common,
      out: { type: "string" },
      passes: { type: "string" },
      "print-after": { type: "string", multiple: true },
      "print-changed": { type: "boolean", default: false },
      explain: { type: "string" },
      "list-passes": { type: "boolean", default: false },
      target: { type: "string" },
      offload: { type: "string" },
      strict: { type: "boolean", default: false },
      "explain-offload": { type: "boolean", default: false },
      scheme: { type: "string" },
      shape: { type: "string", multiple: true },
      seed: { type: "string", default: "0" },
      "no-check": { type: "boolean", default: false },
    },
    async run(v, p) {
      if (v["list-passes"]) {
        await import("../passes/index.ts");
        const { listPasses } = await import("../passes/pass-manager.ts");
        const ps = listPasses();
        print(
          v.json,
          ps.map((x) => ({
            name: x.name,
            doc: x.doc,
            options: x.options ?? {},
            rules: (x.rules ?? []).map((r) => r.name),
          })),
          ps.map((x) =>
            `${x.name.padEnd(18)} ${x.doc}${
              x.options
                ? ` {${Object.entries(x.options).map(([k, o]) => `${k}=${o.default}`).join(",")}}`
                : ""
            }`
          ).join("\n"),
        );
        return 0;
      }
      if (v.explain) return await explain(v.explain, p[0], v.json);
      if (v.target) return await compileTargetCommand(v, p[0]);
      const printAfter = v["print-after"]?.includes("all") ? "all" : v["print-after"];
      const { compileModel } = await import("./compile.ts");
      const r = await compileModel({
        model: p[0],
        out: v.out,
        passes: v.passes,
        printAfter,
        printChanged: v["print-changed"],
      });
      const s = r.summary;
      print(
        v.json,
        r,
        [
          `compiled ${r.model}`,
          `  ${s.nodes} nodes, ${Object.keys(s.ops).length} op types, ${
            (s.parameters.bytes / 1024).toFixed(1)
          } KB parameters, ${(s.macs.total / 1e6).toFixed(2)} M MACs`,
          `  inputs:  ${s.inputs.map((i) => `${i.name}: ${i.type}`).join(", ")}`,
          `  outputs: ${s.outputs.map((o) => `${o.name}: ${o.type}`).join(", ")}`,
          ...r.passes.map((x) =>
            `  pass ${x.pass.padEnd(16)} ${
              x.ms.toFixed(1).padStart(7)
            } ms  nodes ${x.nodesBefore} -> ${x.nodesAfter}`
          ),
          `  wrote ${r.files.ir} and ${r.files.summary} (${r.ms.total.toFixed(0)} ms)`,
        ].join("\n"),
      );
      return 0;
    },
  },
  inspect: {
    summary: "inputs, outputs, op histogram, parameter bytes by type, MACs per node",
    usage: `inspect MODEL [--json]
  For GGUF also every metadata key (type, value; long arrays summarized) and every tensor (type, shape,
  bytes), read from the header alone.`,
    options: { ...common },
    async run(v, p) {
      if (!p[0]) throw new LatheError("usage", "inspect needs a MODEL");
      const { formatOf, loadModel } = await modelLoader();
      if (formatOf(p[0], await fileHead(p[0])) === "gguf") {
        const { formatGgufInspect, inspectGguf } = await import("./gguf/inspect.ts");
        const g = await inspectGguf(p[0]);
        print(v.json, g, formatGgufInspect(g));
        return 0;
      }
      const { formatInspect, inspectModel } = await import("./inspect.ts");
      const r = inspectModel(await loadModel(p[0]), p[0]);
      print(v.json, r, formatInspect(r));
      return 0;
    },
  },
  run: {
    summary: "run a model in Lathe's runtime and write its outputs as .npy",
    usage: `run MODEL --out DIR [--input NAME=FILE.npy ...] [--tokens ID,ID,...] [--seed N] [--repeat N]
        [--dim NAME=SIZE ...] [--json]
  --tokens         token ids for a language model's tokens input (a .gguf llama gives logits [tokens, vocab])
  Inputs not given are generated from the seed: input i (graph order) draws from a mulberry32 generator
  seeded with seed+i; floats uniform in [-1, 1), integers in [0, 10), bools 0/1. Symbolic dims default to 1.
  --repeat N runs N times and reports the median latency (import excluded) in outputs.json.
  --passes PIPELINE optimizes first (e.g. canonicalize,fuse-conv, as onnxruntime does at session creation).
  --int-arithmetic  TFLite int8/uint8 kernels: double-rounding (TFLite's reference build, default),
                   single-rounding, or xnnpack (what LiteRT's CPU path computes)`,
    options: {
      ...common,
      "int-arithmetic": { type: "string", default: "double-rounding" },
      out: { type: "string" },
      input: { type: "string", multiple: true },
      dim: { type: "string", multiple: true },
      seed: { type: "string", default: "0" },
      repeat: { type: "string", default: "1" },
      tokens: { type: "string" },
      passes: { type: "string" },
    },
    async run(v, p) {
      if (!p[0]) throw new LatheError("usage", "run needs a MODEL");
      const intArithmetic = intArithmeticArg(v["int-arithmetic"]);
      const inputs = pairs(v.input, "--input");
      const dims = Object.fromEntries(
        Object.entries(pairs(v.dim, "--dim")).map(([k, x]) => [k, intArg(x, "--dim")]),
      );
      const tokens = v.tokens === undefined ? undefined : String(v.tokens).split(",").map((x) => {
        if (x.trim() === "") {
          throw new LatheError("usage", `--tokens expects comma-separated ids, got '${v.tokens}'`);
        }
        return intArg(x.trim(), "--tokens");
      });
      const { loadModel } = await modelLoader();
      const { runModel } = await import("./run.ts");
      const model = await loadModel(p[0]);
      const r = await runModel(model, {
        out: v.out,
        inputs,
        seed: intArg(v.seed, "--seed"),
        repeat: intArg(v.repeat, "--repeat"),
        dims,
        tokens,
        passes: v.passes,
        intArithmetic,
      });
      const { values: _, ...rest } = r;
      print(
        v.json,
        rest,
        [
          ...Object.entries(r.outputs).map(([k, o]) =>
            `${k}: ${o.dtype}[${o.shape.join(",")}]${o.file ? ` -> ${v.out}/${o.file}` : ""}`
          ),
          ...(r.latency_ms
            ? [`latency: median ${r.latency_ms.median.toFixed(2)} ms over ${r.latency_ms.runs} runs`]
            : []),
        ].join("\n"),
      );
      return 0;
    },
  },
  dump: {
    summary: "write every constant tensor, dequantized to float32, as .npy plus index.json",
    usage: `dump MODEL --out DIR [--json]
  DIR/index.json lists {name, source_type, shape, file}. GGUF tensors are streamed one at a time in slices,
  so memory stays bounded whatever the file size. Tensors that cannot be decoded are listed as skipped.`,
    options: { ...common, out: { type: "string" } },
    async run(v, p) {
      if (!p[0]) throw new LatheError("usage", "dump needs a MODEL");
      if (!v.out) throw new LatheError("usage", "dump needs --out DIR");
      await modelLoader();
      const { dumpModel } = await import("./dump.ts");
      const r = await dumpModel(p[0], v.out, {
        onTensor: (done, total, name) => {
          if (!v.json) console.error(`[${done}/${total}] ${name}`);
        },
      });
      print(
        v.json,
        r,
        [
          `wrote ${r.tensors.length} tensors to ${r.out} (index.json)`,
          ...r.skipped.map((s) => `  skipped ${s.name} (${s.source_type}): ${s.reason}`),
        ].join("\n"),
      );
      return 0;
    },
  },
  convert: {
    summary:
      "convert a model file to another (ONNX <-> TFLite with a report; GGUF weights in any block type)",
    usage:
      `convert IN OUT [--weights TYPE] [--passes P] [--report FILE] [--layout nchw|nhwc] [--dim NAME=SIZE ...]
        [--shape INPUT=D,D,... ...] [--int64-inputs int32|keep] [--json]
  IN.onnx OUT.tflite and IN.tflite OUT.onnx convert the graph: NCHW ops become NHWC TFLite ops (filters
  permuted, SAME/VALID padding or a PAD, fused activations) and back. The interface keeps the source layout
  (an NCHW input stays NCHW and is transposed inside) unless --layout nhwc (ONNX -> TFLite) makes rank-4
  inputs and outputs NHWC. int64 inputs become int32 in TFLite unless --int64-inputs keep. Symbolic dims need
  sizes: --dim batch=1 or --shape x=1,3,48,192. A node with no mapping fails the conversion (exit code 3); the
  report lists every node, what it became, and why any could not be mapped.
  --passes P       a pass pipeline run on the converted model before it is written
  --report FILE    write the conversion report as JSON (also when the conversion fails)
  IN.gguf OUT.gguf copies every tensor; with --weights TYPE (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
  Q2_K..Q6_K, MXFP4) the 2-D weight matrices are re-encoded in TYPE with ggml's reference quantizers.
  1-D tensors (norms) keep their type.`,
    options: {
      ...common,
      weights: { type: "string" },
      passes: { type: "string" },
      report: { type: "string" },
      layout: { type: "string" },
      dim: { type: "string", multiple: true },
      shape: { type: "string", multiple: true },
      "int64-inputs": { type: "string" },
    },
    async run(v, p) {
      if (p.length !== 2) throw new LatheError("usage", "convert needs IN and OUT");
      if (v.layout !== undefined && v.layout !== "nchw" && v.layout !== "nhwc") {
        throw new LatheError("usage", "--layout is nchw or nhwc");
      }
      const i64 = v["int64-inputs"];
      if (i64 !== undefined && i64 !== "int32" && i64 !== "keep") {
        throw new LatheError("usage", "--int64-inputs is int32 or keep");
      }
      const dims = Object.fromEntries(
        Object.entries(pairs(v.dim, "--dim")).map(([k, x]) => [k, intArg(x, "--dim")]),
      );
      const shapes = Object.fromEntries(
        Object.entries(pairs(v.shape, "--shape")).map(([k, x]) => [
          k,
          x.split(",").map((d) => intArg(d.trim(), "--shape")),
        ]),
      );
      await modelLoader();
      const { convertModel } = await import("./convert.ts");
      const r = await convertModel(p[0], p[1], {
        weights: v.weights,
        passes: v.passes,
        report: v.report,
        layout: v.layout,
        int64Inputs: i64,
        dims,
        shapes,
        onTensor: (done, total, name) => {
          if (!v.json) console.error(`[${done}/${total}] ${name}`);
        },
      });
      if (r.report) {
        const rep = r.report;
        print(
          v.json,
          r,
          [
            `wrote ${r.output}: ${rep.source.nodes} ${rep.source.format} nodes -> ${rep.target.nodes} ${rep.target.format} nodes (${
              (r.ms?.total ?? 0).toFixed(0)
            } ms)`,
            `  ${Object.entries(rep.target.ops).map(([k, n]) => `${k} ${n}`).join(", ")}`,
            `  ${rep.mapped.length} nodes mapped, ${rep.absorbed.length} folded or cancelled`,
            ...rep.notes.map((n) => `  note: ${n}`),
            ...(r.passes ?? []).map((x) =>
              `  pass ${x.pass.padEnd(16)} ${
                x.ms.toFixed(1).padStart(7)
              } ms  nodes ${x.nodesBefore} -> ${x.nodesAfter}`
            ),
            ...(v.report ? [`  report in ${v.report}`] : []),
          ].join("\n"),
        );
        return 0;
      }
      const changed = r.tensors.filter((t) => t.from !== t.to).length;
      print(
        v.json,
        r,
        [
          `wrote ${r.output} (${r.tensors.length} tensors, ${changed} re-encoded)`,
          ...r.tensors.filter((t) => t.note).map((t) => `  ${t.name}: ${t.note}`),
        ].join("\n"),
      );
      return 0;
    },
  },
  quantize: {
    summary:
      "post-training quantization (int8 QDQ, PoT/APoT/MSQ, ggml block and MX weights, DQA) with a report",
    usage: `quantize IN OUT --scheme S [--calib DIR | --calib-seed N --calib-count K] [--calib-method M]
        [--weights TYPE] [--bits B] [--table T] [--layers RULES] [--float PATTERNS] [--report FILE] [--passes P] [--json]
  OUT               .onnx (int8: QDQ, onnxruntime-ready), .tflite (int8 only: LiteRT-ready), .lir (other schemes)
  --scheme S        int8 (QDQ, onnxruntime-ready), pot | apot | msq (4-bit power-of-two weights), bfp (ggml
                    block weights, --weights Q4_0..Q6_K, MXFP4), mx (--weights MXINT8 | MXFP4), dqa (--bits 3|4|5)
  --calib DIR       .npy calibration inputs (one file per sample, or one sub-folder per sample with <input>.npy)
  --calib-seed N    without --calib: K seeded random inputs (uniform [-1, 1)) from seed N (default 0, K 8)
  --calib-method M  minmax | percentile | mse | entropy (default minmax); --percentile P for percentile
  --activations T   int8 activation codes u8 (default) or i8
  --layers RULES    per-layer schemes, e.g. 'Gemm:bfp;/features/features.0/*:float'
  --float PATTERNS  layers that stay float, e.g. 'Gemm;/classifier/*'
  --important F     dqa: fraction of channels that keep their residual bits
  --table T         pot decode table version: potacc-v12 (default) or secda-sa-v4 (apot, msq)
  --report FILE     compare with the float model on --report-count (default 4) seeded inputs, write JSON
  --passes P        passes before quantizing (default canonicalize,fold-batchnorm)
  OUT .onnx writes the QDQ model (int8 only: other schemes use Lathe ops); .lir writes the IR text.
  Calibration progress goes to stderr.`,
    options: {
      ...common,
      scheme: { type: "string", default: "int8" },
      calib: { type: "string" },
      "calib-seed": { type: "string", default: "0" },
      "calib-count": { type: "string", default: "8" },
      "calib-method": { type: "string", default: "minmax" },
      percentile: { type: "string" },
      activations: { type: "string", default: "u8" },
      weights: { type: "string" },
      bits: { type: "string" },
      table: { type: "string" },
      layers: { type: "string" },
      float: { type: "string" },
      important: { type: "string" },
      report: { type: "string" },
      "report-count": { type: "string", default: "4" },
      passes: { type: "string" },
    },
    async run(v, p) {
      if (p.length !== 2) throw new LatheError("usage", "quantize needs IN and OUT");
      const num = (s: string | undefined, flag: string) => {
        if (s === undefined) return undefined;
        const n = Number(s);
        if (!Number.isFinite(n)) throw new LatheError("usage", `${flag} expects a number, got '${s}'`);
        return n;
      };
      let last = "";
      await modelLoader();
      const { quantizeModel } = await import("./quantize.ts");
      const r = await quantizeModel({
        input: p[0],
        output: p[1],
        scheme: v.scheme,
        calib: v["calib-method"],
        calibDir: v.calib,
        calibSeed: intArg(v["calib-seed"], "--calib-seed"),
        calibCount: intArg(v["calib-count"], "--calib-count"),
        percentile: num(v.percentile, "--percentile"),
        activations: v.activations,
        weights: v.weights,
        bits: v.bits === undefined ? undefined : intArg(v.bits, "--bits"),
        table: v.table,
        layers: v.layers,
        float: v.float,
        important: num(v.important, "--important"),
        passes: v.passes,
        report: v.report !== undefined,
        reportCount: intArg(v["report-count"], "--report-count"),
        progress: (phase, done, total) => {
          if (phase !== last || done === total || done % 4 === 0) console.error(`${phase}: ${done}/${total}`);
          last = phase;
        },
      });
      if (v.report) {
        const { writeFileAtomic } = await import("./atomic-write.ts");
        await writeFileAtomic(v.report, JSON.stringify(r.report, null, 2) + "\n");
      }
      const out = r.report?.outputs ?? [];
      print(
        v.json,
        r,
        [
          `wrote ${r.output}: ${r.layers.length} layers quantized (${r.scheme}), calibration ${r.calibration.method} on ${r.calibration.batches} inputs (${r.calibration.source})`,
          ...out.map((o) =>
            `  ${o.name}: SQNR ${o.sqnrDb.toFixed(2)} dB, max abs error ${o.maxAbs.toExponential(3)}${
              o.top1 !== undefined ? `, top-1 agreement ${(100 * o.top1).toFixed(1)}%` : ""
            }`
          ),
          ...(v.report ? [`  per-layer report in ${v.report}`] : []),
          `  ${r.ms.import.toFixed(0)} ms import, ${r.ms.quantize.toFixed(0)} ms quantize, ${
            r.ms.write.toFixed(0)
          } ms write${v.report ? `, ${r.ms.report.toFixed(0)} ms report` : ""}`,
        ].join("\n"),
      );
      return 0;
    },
  },
  conformance: {
    summary: "run the ONNX node conformance suite and report pass/fail/unsupported per op",
    usage: `conformance [DIR] [--filter SUBSTRING ...] [--min-pass FRACTION] [--json] [--verbose]
  DIR defaults to ../shared/corpus/onnx-node-suite. Failed and unsupported cases are always listed with
  their reasons. Exit code 1 when any case fails, or with --min-pass when the pass fraction is below it.`,
    options: {
      ...common,
      filter: { type: "string", multiple: true },
      verbose: { type: "boolean", default: false },
      "min-pass": { type: "string" },
    },
    async run(v, p) {
      const dir = p[0] ?? new URL("../../shared/corpus/onnx-node-suite", import.meta.url).pathname;
      const filter = [...(v.filter ?? []), ...p.slice(1)];
      const { runConformance } = await import("./conformance.ts");
      const r = await runConformance(dir, {
        filter,
        onCase: (c, done, total) => {
          if (!v.json && (v.verbose || c.status !== "pass")) {
            console.error(
              `[${done}/${total}] ${c.status.padEnd(11)} ${c.name}${
                c.reason ? `: ${c.reason.split("\n")[0].slice(0, 300)}` : ""
              }`,
            );
          } else if (!v.json && done % 100 === 0) console.error(`[${done}/${total}] ...`);
        },
      });
      const pct = (100 * r.pass / Math.max(r.total, 1)).toFixed(1);
      print(
        v.json,
        r,
        `${r.pass} passed, ${r.fail} failed, ${r.unsupported} unsupported of ${r.total} cases (${pct}% pass)`,
      );
      if (v["min-pass"] !== undefined) {
        const min = Number(v["min-pass"]);
        if (!(min >= 0 && min <= 1)) throw new LatheError("usage", `--min-pass expects a fraction in [0, 1]`);
        return r.pass / Math.max(r.total, 1) >= min ? 0 : 1;
      }
      return r.fail > 0 ? 1 : 0;
    },
  },
  diff: {
    summary: "run two models on the same inputs, compare them value by value, localize where they diverge",
    usage: `diff SOURCE TARGET [--inputs DIR] [--out DIR] [--runtime lathe|onnxruntime|litert ...] [--count N]
        [--seed S] [--shape INPUT=D,D,... ...] [--dim NAME=SIZE ...] [--range LO,HI] [--preprocess FILE.json]
        [--target-preprocess FILE.json] [--size H,W] [--layout nchw|nhwc] [--channels rgb|bgr|gray]
        [--scale S] [--mean M,M,M] [--std S,S,S] [--top-k K] [--tolerance T] [--jump F] [--no-probe] [--json]
  Both models run in Lathe's runtime with observers on every value the structural matching pairs (ops
  paired by an equivalence table across ONNX and TFLite, layouts NCHW/NHWC related, weights compared
  modulo layout; never by names). Reports per output top-1 agreement, Kendall tau on the top-k (>= 0.98
  counts as fixed), max abs/rel error and SQNR; per matched value the same figures; where the divergence
  starts and the fault: input (preprocessing), parameters, hyperparameters, graph, or precision.
  --inputs DIR     .npy files or PNG/JPEG images (one per sample), or one sub-folder per sample holding
                   <input>.npy; without it, --count (default 4) seeded random samples, floats uniform in
                   --range (default -1,1; write --range=-3000,3000 when LO is negative); sample k draws
                   input i from seed + 7919k + i
  --runtime R      also run ONNX in onnxruntime and/or TFLite in LiteRT (repeatable or comma-separated);
                   their outputs give the output figures, Lathe's observers the layer-wise ones
  --shape/--dim    sizes for the source's symbolic input dims (the target's inputs follow the source's)
  image preprocessing: x = (pixel * scale - mean[c]) / std[c], pixel in 0..255, resized bilinearly to
                   --size (default the input's); defaults scale 1/255, mean 0, std 1, rgb, layout from
                   the input shape; --preprocess FILE.json gives the same fields as JSON ({"size": [224,
                   224], "channels": "bgr", "mean": [...], "std": [...], "scale": 1, "layout": "nchw"});
                   --target-preprocess gives the target its own
  --tolerance T    relative L2 error below which a value pair agrees (default 1e-5); --jump F: a pair
                   whose error exceeds F times its inputs' starts a divergence (default 10)
  --out DIR        write DIR/diff.json and DIR/diff.html (self-contained, with a divergence plot)
  Exit code 0 when the models agree (no divergence, every top-1 agrees), 1 when they do not.`,
    options: {
      ...common,
      inputs: { type: "string" },
      out: { type: "string" },
      runtime: { type: "string", multiple: true },
      count: { type: "string" },
      seed: { type: "string", default: "0" },
      shape: { type: "string", multiple: true },
      dim: { type: "string", multiple: true },
      range: { type: "string" },
      preprocess: { type: "string" },
      "target-preprocess": { type: "string" },
      size: { type: "string" },
      layout: { type: "string" },
      channels: { type: "string" },
      scale: { type: "string" },
      mean: { type: "string" },
      std: { type: "string" },
      "top-k": { type: "string" },
      tolerance: { type: "string" },
      jump: { type: "string" },
      "no-probe": { type: "boolean", default: false },
    },
    async run(v, p) {
      if (p.length !== 2) throw new LatheError("usage", "diff needs SOURCE and TARGET");
      const numList = (s: string, flag: string) =>
        s.split(",").map((x) => {
          const n = Number(x.trim());
          if (x.trim() === "" || !Number.isFinite(n)) {
            throw new LatheError("usage", `${flag} expects numbers separated by commas, got '${s}'`);
          }
          return n;
        });
      const num = (
        s: string | undefined,
        flag: string,
      ) => (s === undefined ? undefined : numList(s, flag)[0]);
      const runtime = (v.runtime ?? []).flatMap((r: string) => r.split(",")).map((r: string) => r.trim());
      for (const r of runtime) {
        if (r !== "lathe" && r !== "onnxruntime" && r !== "litert") {
          throw new LatheError("usage", `--runtime is lathe, onnxruntime or litert, not '${r}'`);
        }
      }
      await modelLoader();
      const { checkPreprocessSpec, readPreprocessSpec } = await import("./diff/preprocess.ts");
      const { diffModels, formatDiff, reportJson } = await import("./diff/diff.ts");
      const flags: Record<string, unknown> = {};
      if (v.size !== undefined) flags.size = numList(v.size, "--size");
      if (v.layout !== undefined) flags.layout = v.layout;
      if (v.channels !== undefined) flags.channels = v.channels;
      if (v.scale !== undefined) flags.scale = num(v.scale, "--scale");
      if (v.mean !== undefined) flags.mean = numList(v.mean, "--mean");
      if (v.std !== undefined) flags.std = numList(v.std, "--std");
      const fromFile: PreprocessSpec = v.preprocess ? await readPreprocessSpec(v.preprocess) : {};
      const preprocess = checkPreprocessSpec({ ...fromFile, ...flags }, "preprocessing flags");
      const range = v.range === undefined ? undefined : numList(v.range, "--range");
      if (range && range.length !== 2) throw new LatheError("usage", "--range expects LO,HI");
      const dims = Object.fromEntries(
        Object.entries(pairs(v.dim, "--dim")).map(([k, x]) => [k, intArg(x, "--dim")]),
      );
      const shapes = Object.fromEntries(
        Object.entries(pairs(v.shape, "--shape")).map(([k, x]) => [
          k,
          x.split(",").map((d) => intArg(d.trim(), "--shape")),
        ]),
      );
      let last = "";
      const r = await diffModels({
        source: p[0],
        target: p[1],
        inputs: v.inputs,
        out: v.out,
        runtime: runtime as RuntimeName[],
        count: v.count === undefined ? undefined : intArg(v.count, "--count"),
        seed: intArg(v.seed, "--seed"),
        shapes,
        dims,
        ...(range ? { range: [range[0], range[1]] as const } : {}),
        preprocess,
        ...(v["target-preprocess"]
          ? { targetPreprocess: await readPreprocessSpec(v["target-preprocess"]) }
          : {}),
        topK: v["top-k"] === undefined ? undefined : intArg(v["top-k"], "--top-k"),
        tolerance: num(v.tolerance, "--tolerance"),
        jump: num(v.jump, "--jump"),
        probeInputs: !v["no-probe"],
        onProgress: (phase, done, total) => {
          if (v.json) return;
          if (phase !== last || done === total || done % 8 === 0) console.error(`${phase}: ${done}/${total}`);
          last = phase;
        },
      });
      console.log(v.json ? reportJson(r) : formatDiff(r));
      return r.agree ? 0 : 1;
    },
  },
  mutate: {
    summary: "inject faults (MutateNN-style): N faulty variants per kind plus a ground-truth manifest",
    usage:
      `mutate [MODEL] --out DIR [--kinds K1,K2] [--count N] [--seed S] [--damage N] [--attempts N] [--list-kinds] [--json]
  MODEL            .onnx or .tflite; without it, the embedded default CNN (written as ONNX)
  --kinds          comma-separated kinds (default: all; --list-kinds lists them with class and targets)
  --count N        variants per kind (default 1), on different targets while the graph has them
  --seed S         seed of every choice (default 0): the same seed writes identical files
  --damage N       also measure each variant on N seeded inputs (Lathe runtime): top-1 agreement, max error
  --attempts N     targets tried per variant before the kind is skipped (default 16)
  Writes DIR/<model>.<kind>.<i>.<ext> in the model's format and DIR/manifest.json: per variant the file,
  kind, class, node (id and source name), every change (attributes before/after, which constants and how,
  nodes inserted, removed or rewired), the attempts and rejected targets, and the effect on the seed's
  input. A variant is kept only when its graph verifies and its outputs differ from the original's beyond
  rtol 1e-4 / atol 1e-5. Exit code 1 when a kind named in --kinds produced no variant.`,
    options: {
      ...common,
      out: { type: "string" },
      kinds: { type: "string" },
      count: { type: "string", default: "1" },
      seed: { type: "string", default: "0" },
      damage: { type: "string", default: "0" },
      attempts: { type: "string", default: "16" },
      "list-kinds": { type: "boolean", default: false },
    },
    async run(v, p) {
      if (v["list-kinds"]) {
        const { mutationKinds } = await import("../passes/mutate/index.ts");
        const ks = mutationKinds();
        print(
          v.json,
          ks.map((k) => ({ name: k.name, class: k.class, dialects: k.dialects, targets: k.targets })),
          ks.map((k) =>
            `${k.name.padEnd(24)} ${k.class.padEnd(16)} ${k.dialects.join(",").padEnd(9)} ${k.targets}`
          ).join("\n"),
        );
        return 0;
      }
      if (!v.out) throw new LatheError("usage", "mutate needs --out DIR");
      const kinds = v.kinds === undefined
        ? undefined
        : String(v.kinds).split(",").map((s) => s.trim()).filter(Boolean);
      await modelLoader();
      const { mutateModel } = await import("./mutate/mutate.ts");
      const r = await mutateModel({
        model: p[0],
        out: v.out,
        kinds,
        count: intArg(v.count, "--count"),
        seed: intArg(v.seed, "--seed"),
        damage: intArg(v.damage, "--damage"),
        maxAttempts: intArg(v.attempts, "--attempts"),
        progress: v.json ? undefined : (line) => console.error(line),
      });
      const m = r.manifest;
      const pct = (x: number | undefined) => (x === undefined ? "-" : `${(100 * x).toFixed(1)}%`);
      print(
        v.json,
        { ...m, manifest: r.manifestPath, ms: r.ms },
        [
          `wrote ${m.variants.length} variants of ${m.model} (${m.format}) and ${r.manifestPath} (${
            r.ms.total.toFixed(0)
          } ms)`,
          ...m.variants.map((x) =>
            `  ${x.file}: [${x.class}] ${x.description}${
              x.damage
                ? ` — top-1 agreement ${pct(x.damage.top1Agreement)}, max error ${
                  x.damage.maxAbs.toExponential(2)
                } over ${x.damage.inputs} inputs`
                : ""
            }`
          ),
          ...m.skipped.map((s) =>
            `  skipped ${s.kind}${s.index === undefined ? "" : `#${s.index}`}: ${s.reason}`
          ),
        ].join("\n"),
      );
      const missed = (kinds ?? []).filter((k) => !m.variants.some((x) => x.kind === k));
      return missed.length ? 1 : 0;
    },
  },
  repair: {
    summary: "repair a converted model so its outputs agree with the model it came from (FetaFix-style)",
    usage:
      `repair SOURCE TARGET --out REPAIRED [--inputs DIR] [--count N] [--seed S] [--shape INPUT=D,D,... ...]
        [--dim NAME=SIZE ...] [--range LO,HI] [--budget SECONDS] [--rtol R] [--report FILE] [--keep-interface]
        [--no-conversion] [--no-verify] [--json]
  Localizes where TARGET (a conversion of SOURCE, ONNX or TFLite) diverges, proposes fixes for the top
  finding (weights and biases copied from SOURCE through the layout transform, attributes such as pads,
  strides, dilations, alpha, axis and resize modes, activations and nodes restored or removed, input
  preprocessing and dimensions, fp16/int8 weights back to SOURCE's float32), keeps a fix only if the
  agreement improves (top-1, Kendall tau on the top-5, max error), and iterates until the outputs agree
  within --rtol (default 1e-4, of the output's scale) or --budget (default 600 s) runs out. REPAIRED is
  written in TARGET's format, atomically, then run in that format's runtime (onnxruntime, LiteRT) unless
  --no-verify. SOURCE and TARGET are never written. The report (REPAIRED.report.json, or --report) lists
  every change as a graph diff with its evidence (the agreement before and after).
  --inputs DIR       .npy files or images (one per sample), or one sub-folder per sample with <input>.npy;
                     without it, --count (default 8) seeded random samples uniform in --range (default -1,1)
  --keep-interface   feed TARGET the same data in its own layout instead of restoring SOURCE's input shapes
  --no-conversion    compare only with SOURCE, not also with SOURCE as Lathe converts it to TARGET's format
  Progress goes to stderr. Exit code 0 when the repaired model agrees with SOURCE, 1 when it does not.`,
    options: {
      ...common,
      out: { type: "string" },
      inputs: { type: "string" },
      count: { type: "string" },
      seed: { type: "string", default: "0" },
      shape: { type: "string", multiple: true },
      dim: { type: "string", multiple: true },
      range: { type: "string" },
      budget: { type: "string" },
      rtol: { type: "string" },
      report: { type: "string" },
      "keep-interface": { type: "boolean", default: false },
      "no-conversion": { type: "boolean", default: false },
      "no-verify": { type: "boolean", default: false },
    },
    async run(v, p) {
      if (p.length !== 2) throw new LatheError("usage", "repair needs SOURCE and TARGET");
      if (!v.out) throw new LatheError("usage", "repair needs --out REPAIRED");
      const num = (s: string | undefined, flag: string) => {
        if (s === undefined) return undefined;
        const n = Number(s);
        if (s.trim() === "" || !Number.isFinite(n) || n <= 0) {
          throw new LatheError("usage", `${flag} expects a positive number, got '${s}'`);
        }
        return n;
      };
      const range = v.range === undefined ? undefined : String(v.range).split(",").map(Number);
      if (range && (range.length !== 2 || range.some((x) => !Number.isFinite(x)))) {
        throw new LatheError("usage", "--range expects LO,HI");
      }
      const dims = Object.fromEntries(
        Object.entries(pairs(v.dim, "--dim")).map(([k, x]) => [k, intArg(x, "--dim")]),
      );
      const shapes = Object.fromEntries(
        Object.entries(pairs(v.shape, "--shape")).map(([k, x]) => [
          k,
          x.split(",").map((d) => intArg(d.trim(), "--shape")),
        ]),
      );
      await modelLoader();
      const { repairModel } = await import("./repair/repair.ts");
      const { formatRepair, formatScore } = await import("./repair/format.ts");
      const r = await repairModel({
        source: p[0],
        target: p[1],
        out: v.out,
        report: v.report,
        inputs: v.inputs,
        count: v.count === undefined ? undefined : intArg(v.count, "--count"),
        seed: intArg(v.seed, "--seed"),
        shapes,
        dims,
        ...(range ? { range: [range[0], range[1]] as const } : {}),
        budget: num(v.budget, "--budget"),
        rtol: num(v.rtol, "--rtol"),
        keepInterface: v["keep-interface"],
        useConversion: !v["no-conversion"],
        verify: !v["no-verify"],
        onProgress: (e) => {
          if (e.phase === "score") console.error(`before: ${formatScore(e.score)}`);
          else if (e.phase === "localize") {
            console.error(
              `localized against the ${e.reference}: ${e.findings} findings (${e.ms.toFixed(0)} ms)`,
            );
          } else if (e.phase === "try") console.error(`  try ${e.index}/${e.total}: ${e.description}`);
          else if (e.phase === "kept") {
            console.error(`kept: ${e.change.description}\n  now: ${formatScore(e.score)}`);
          } else console.error(`stopped: ${e.reason}`);
        },
      });
      print(v.json, r, formatRepair(r));
      return r.agree ? 0 : 1;
    },
  },
  "repair-bench": {
    summary:
      "the repair benchmark: convert, mutate with every kind, repair; detection, localization, repair rates",
    usage: async () => {
      const { BENCH_MODELS } = await import("./repair/bench.ts");
      return `repair-bench [--models M1,M2] [--kinds K1,...] [--seeds N] [--inputs N] [--budget SECONDS] [--seed S]
        [--work DIR] [--json]
  For each model (names: ${Object.keys(BENCH_MODELS).join(", ")}; or paths), converts it with Lathe to
  the other format, mutates the conversion with every kind (--kinds; see mutate --list-kinds) at --seeds
  variants each (default 5), and repairs each variant against the original with --inputs random samples
  (default 8) and --budget seconds (default 120). Prints per fault kind the detection rate (a divergence
  found), exact localization rate (the top finding names the mutated node, directly or through the node
  matching), full repair rate (outputs within 1e-4 of the source's) and time per case. --work keeps the
  converted, mutated and repaired files there. Progress goes to stderr. Exit code 1 when a case is not
  detected, localized and repaired.`;
    },
    options: {
      ...common,
      models: { type: "string" },
      kinds: { type: "string" },
      seeds: { type: "string", default: "5" },
      inputs: { type: "string", default: "8" },
      budget: { type: "string", default: "120" },
      seed: { type: "string", default: "0" },
      work: { type: "string" },
    },
    async run(v) {
      const list = (
        s: string | undefined,
      ) => (s === undefined ? undefined : String(s).split(",").map((x) => x.trim()).filter(Boolean));
      await modelLoader();
      const { formatBench, runRepairBench } = await import("./repair/bench.ts");
      const r = await runRepairBench({
        models: list(v.models),
        kinds: list(v.kinds),
        seeds: intArg(v.seeds, "--seeds"),
        inputs: intArg(v.inputs, "--inputs"),
        budget: intArg(v.budget, "--budget"),
        seed: intArg(v.seed, "--seed"),
        work: v.work,
        onProgress: (line) => console.error(line),
      });
      print(v.json, r, formatBench(r));
      const o = r.overall;
      return o.detected === o.cases && o.localized === o.cases && o.repaired === o.cases ? 0 : 1;
    },
  },
  simulate: simulateCommand,
};

async function compileTargetCommand(v: Record<string, any>, model: string | undefined): Promise<number> {
  if (v.passes) {
    throw new LatheError(
      "usage",
      "--passes and --target do not combine (use the partition{target=...} pass in --passes instead)",
    );
  }
  const offload = v.offload ? String(v.offload).split(",").map((s) => s.trim()).filter(Boolean) : undefined;
  const shapes = v.shape
    ? Object.fromEntries(
      Object.entries(pairs(v.shape, "--shape")).map(([k, x]) => [
        k,
        x.split(",").map((d) => intArg(d.trim(), "--shape")),
      ]),
    )
    : undefined;
  const { compileModel } = await import("./compile.ts");
  const r = await compileModel({
    model,
    out: v.out,
    target: v.target,
    offload,
    scheme: v.scheme,
    shapes,
    seed: intArg(v.seed, "--seed"),
    noCheck: v["no-check"],
    log: v.json ? undefined : (t) => console.error(t),
  });
  const t = r.target!;
  const rep = t.report, tot = rep.totals;
  const sim = rep.simulation;
  if (v.json) {
    print(true, {
      model: t.model,
      target: t.target,
      out: t.out,
      files: t.files,
      prepared: t.prepared,
      totals: tot,
      simulation: sim,
      placements: t.partition.placements,
      missed: t.missed,
      ms: t.ms,
    }, "");
  } else {
    if (v["explain-offload"]) {
      const { formatPlacements } = await import("../targets/partition.ts");
      console.log(formatPlacements(t.partition));
    }
    console.log([
      `compiled ${t.model} for ${t.target}${t.prepared ? ` (prepared with ${t.prepared})` : ""}`,
      `  ${tot.offloaded_nodes} of ${tot.nodes} nodes offloaded, ${
        (100 * tot.offloaded_macs / Math.max(tot.macs, 1)).toFixed(1)
      }% of ${(tot.macs / 1e6).toFixed(2)} M MACs`,
      `  simulated ${(tot.seconds * 1e3).toFixed(3)} ms (accelerator ${
        (tot.accel_seconds * 1e3).toFixed(3)
      } ms, ${tot.cycles} cycles; host ${(tot.host_seconds * 1e3).toFixed(3)} ms) vs CPU-only ${
        (tot.cpu_baseline_seconds * 1e3).toFixed(3)
      } ms: ${tot.speedup.toFixed(2)}x`,
      `  accelerator energy ${(tot.energy_pj / 1e6).toFixed(3)} uJ, DRAM traffic ${
        (tot.dram_bytes / 1024).toFixed(1)
      } KB`,
      sim
        ? `  simulation ${
          sim.bit_exact ? "bit-exact" : "MISMATCH"
        } with the runtime over ${sim.compared_values} values (seed ${sim.seed})${
          sim.cut_at ? `, up to ${sim.cut_at}` : ""
        }`
        : "  simulation not checked (--no-check)",
      `  wrote ${t.files.ir}, ${t.files.weights}, ${t.files.report}, ${t.files.html} (${
        t.ms.total.toFixed(0)
      } ms)`,
    ].join("\n"));
  }
  if (sim && !sim.bit_exact) {
    console.error(
      `simulation differs from the runtime: ${
        sim.mismatches.slice(0, 5).map((m) =>
          `${m.value}: ${m.differing} elements, first at ${m.first} (${m.got} vs ${m.want})`
        ).join("; ")
      }`,
    );
    return 1;
  }
  if (v.strict && t.missed.length) {
    console.error(
      `--strict: ${t.missed.length} node(s) stay on the CPU:\n${
        t.missed.map((p) => `  ${p.node} (${p.op}): ${p.reason}`).join("\n")
      }`,
    );
    return 1;
  }
  return 0;
}

async function explain(name: string, modelPath: string | undefined, json: boolean): Promise<number> {
  await import("../passes/index.ts");
  const { findRule, listPasses } = await import("../passes/pass-manager.ts");
  const { explainRule } = await import("../passes/rewrite.ts");
  const found = findRule(name);
  if (!found) {
    throw new LatheError(
      "usage",
      `no rule named ${name}; rules: ${
        listPasses().flatMap((p) => (p.rules ?? []).map((r) => `${p.name}.${r.name}`)).join(", ")
      }`,
    );
  }
  const model = modelPath
    ? await (await modelLoader()).loadModel(modelPath)
    : (await import("./default-model.ts")).defaultModel();
  const ex = explainRule(model.graph, found.rule);
  print(
    json,
    { rule: `${found.pass}.${found.rule.name}`, pattern: found.rule.pattern.describe(), candidates: ex },
    [
      `rule ${found.pass}.${found.rule.name}: ${found.rule.pattern.describe()}`,
      ...(ex.length ? ex : []).map((e) =>
        e.matched
          ? `  ${e.node} (${e.op}): matches`
          : `  ${e.node} (${e.op}): no match after ${e.depth} step(s) at ${e.at}: ${e.reason}`
      ),
      ...(ex.length ? [] : ["  no candidate nodes"]),
    ].join("\n"),
  );
  return 0;
}

/** The first bytes of a file, for picking its format by magic. */
async function fileHead(path: string): Promise<Uint8Array> {
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { read: true });
  } catch (e) {
    throw new LatheError("io", `cannot open: ${(e as Error).message}`, { file: path });
  }
  try {
    const head = new Uint8Array(16);
    const n = (await f.read(head)) ?? 0;
    return head.subarray(0, n);
  } finally {
    f.close();
  }
}

function pairs(list: string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of list ?? []) {
    const i = s.indexOf("=");
    if (i <= 0) throw new LatheError("usage", `${flag} expects NAME=VALUE, got '${s}'`);
    out[s.slice(0, i)] = s.slice(i + 1);
  }
  return out;
}

const INT_ARITHMETIC = ["double-rounding", "single-rounding", "xnnpack"] as const;

function intArithmeticArg(s: string): (typeof INT_ARITHMETIC)[number] {
  const a = INT_ARITHMETIC.find((x) => x === s);
  if (!a) throw new LatheError("usage", `--int-arithmetic expects ${INT_ARITHMETIC.join(", ")}, got '${s}'`);
  return a;
}

function intArg(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isInteger(n)) throw new LatheError("usage", `${flag} expects an integer, got '${s}'`);
  return n;
}

function helpText(): string {
  return [
    "lathe: a compiler backend and graph-rewrite engine for DNN accelerators",
    "",
    "usage: deno task <command> [args]   (or: deno run -A compiler/cli.ts <command> [args])",
    "",
    ...Object.entries(commands).map(([k, c]) => `  ${k.padEnd(12)} ${c.summary}`),
    "",
    "Every command takes --help and --json. Exit codes: 0 ok, 1 failures found, 2 usage, 3 bad input, 4 internal error.",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(helpText());
    return name ? 0 : 2;
  }
  const cmd = commands[name];
  if (!cmd) {
    console.error(`unknown command '${name}'\n\n${helpText()}`);
    return 2;
  }
  let parsed: { values: Record<string, any>; positionals: string[] };
  const usage = async () => (typeof cmd.usage === "string" ? cmd.usage : await cmd.usage());
  try {
    parsed = parseArgs({ args: rest, options: cmd.options, allowPositionals: true, strict: true });
  } catch (e) {
    console.error(`${(e as Error).message}\n\nusage: ${await usage()}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(`usage: ${await usage()}`);
    return 0;
  }
  try {
    return await cmd.run(parsed.values, parsed.positionals);
  } catch (e) {
    if (e instanceof LatheError) {
      console.error(e.message);
      return e.kind === "usage" ? 2 : 3;
    }
    console.error(`internal error: ${(e as Error)?.stack ?? e}`);
    return 4;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
