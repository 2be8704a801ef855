/**
 * Driver emission (accelerators.md §2.2, "one driver, two targets"; anchors-and-style.md §6.7): a
 * partitioned graph becomes a C++ program that runs it end to end — every CPU-side node with a kernel
 * bit-exact with Lathe's runtime, the host preparation, and each accelerator call as the command stream
 * of its Program sent over acc_hw.h — built with `make` against the accelerator model (acc_sim.cc) or the
 * board (acc_board.cc). It reads the graph inputs from .npy and writes the outputs as .npy.
 *
 * Files under DIR/driver/: model.cc (the generated driver: constant and tensor tables, prepared parameters,
 * one block per node), acc_config.h (the target's capacities and protocol), Makefile, constants.bin (the
 * constants the driver reads that compile's DIR/weights.bin does not hold), and the library sources the
 * driver includes. Activations live in one arena planned at compile time (arena.ts).
 *
 * A graph with a custom op (TFLite's detection post-process) is emitted up to it, as simulation runs it.
 */
import { type Constant, constantBytes } from "../../ir/constant.ts";
import { LatheError } from "../../ir/errors.ts";
import type { Graph, Model, Node } from "../../ir/graph.ts";
import { resolveAttrs } from "../../ir/op-registry.ts";
import { isStaticShape } from "../../ir/value-type.ts";
import { ensureDir, writeFileAtomic } from "../../compiler/atomic-write.ts";
import { getTarget } from "../registry.ts";
import { cutBefore, unrunnable } from "../simulate.ts";
import type { Target } from "../target.ts";
import { planArena } from "./arena.ts";
import { braceList, commentText, cString, identifier } from "./cpp-literal.ts";
import { cppSource, withIncludes } from "./cpp-library.ts";
import { elementInfo, storageShape } from "./element-type.ts";
import { makefile } from "./makefile.ts";
import { driverBackendOf } from "./driver-backend.ts";
import { type StaticTensor, type StepContext, stepFor, type StepOptions, unsupported } from "./step.ts";
import "./gemm-call-step.ts";
import "./host-prep-steps.ts";
import "./movement-steps.ts";
import "./onnx-steps.ts";
import "./tflite-steps.ts";
import "./secda-backend.ts";
import "./col2im-map-step.ts";
import "./mm2im-backend.ts";
import "./mm2im-call-step.ts";
import "./float-steps.ts";
import "./layout-steps.ts";
import "./reduce-steps.ts";
import "./conv-transpose-step.ts";
import "./float-pool-steps.ts";
import "./pot-steps.ts";
import "./potacc-backend.ts";
import "./potacc-call-step.ts";
import "./bfp-backend.ts";
import "./bfp-call-step.ts";
import "./llm-steps.ts";

/** Where compile put a constant in DIR/weights.bin (report.json's `weights` index). */
export interface WeightsEntry {
  readonly name: string;
  readonly offset: number;
  readonly bytes: number;
}

export interface EmitOptions extends StepOptions {
  /** The compiled model's folder; the driver goes to OUT/driver/. */
  readonly out: string;
  /** compile's DIR/weights.bin index: those constants are read from it rather than copied. */
  readonly weights?: readonly WeightsEntry[];
}

export interface DriverTensor {
  readonly name: string;
  /** The .npy file name the driver reads or writes (outputs: in OUT_DIR). */
  readonly file: string;
  readonly descr: string;
  readonly shape: readonly number[];
}

export interface RenderedDriver {
  /** Files relative to the driver folder: generated text, library sources, constants.bin. */
  readonly files: ReadonlyMap<string, string | Uint8Array>;
  /** The generated files (process replay compares these). */
  readonly generated: readonly string[];
  readonly inputs: readonly DriverTensor[];
  readonly outputs: readonly DriverTensor[];
  /** The node the driver stops before (a custom op), when it does. */
  readonly cutAt?: string;
  readonly stats: {
    readonly nodes: number;
    readonly calls: number;
    readonly packets: number;
    readonly loopCalls: number;
    readonly arenaBytes: number;
    readonly constantBytes: number;
  };
}

export interface EmittedDriver extends Omit<RenderedDriver, "files"> {
  readonly dir: string;
  /** The files written, relative to `dir`. */
  readonly files: readonly string[];
}

const GENERATED = ["model.cc", "acc_config.h", "Makefile"];
const LIBRARY_SOURCES = ["driver_runtime.cc", "npy.cc"];

/** The npy file name a value gets (as the driver's file_name does). */
export function npyFileName(name: string): string {
  let s = name.replace(/[^A-Za-z0-9_.\-]/g, "_");
  if (s === "" || s.startsWith(".")) s = "_" + s;
  return `${s}.npy`;
}

/** Renders the driver of a partitioned graph for `target` without writing anything. */
export function renderDriver(
  model: Model | Graph,
  targetOrName: Target | string,
  opts: Omit<EmitOptions, "out"> = {},
): RenderedDriver {
  const target = typeof targetOrName === "string" ? getTarget(targetOrName) : targetOrName;
  const backend = driverBackendOf(target);
  let g: Graph = "graph" in model ? model.graph : model;
  const cutAt = unrunnable(g);
  if (cutAt) g = cutBefore(g, cutAt);
  for (const n of g.nodes) {
    if (n.op === "lathe.AccelCall" && resolveAttrs(n).target !== target.params.name) {
      unsupported(n, `the call is for ${resolveAttrs(n).target}, the driver for ${target.params.name}`);
    }
  }

  const types = new Map<string, StaticTensor>();
  const tensor = (name: string, node?: Node): StaticTensor => {
    let t = types.get(name);
    if (t) return t;
    const vt = g.values[name]?.type;
    const where = node ? `node ${node.id} (${node.op}): ` : "";
    if (vt?.kind !== "tensor" || !isStaticShape(vt.shape)) {
      throw new LatheError("unsupported", `driver emission: ${where}value ${name} has no static tensor type`);
    }
    const e = elementInfo(vt.dtype, `${where}value ${name}`);
    const shape = storageShape(vt.dtype, vt.shape, `${where}value ${name}`);
    const count = shape.reduce((p, d) => p * d, 1);
    t = { dtype: vt.dtype, shape, storage: e.storage, ctype: e.ctype, bytes: e.bytes, count };
    types.set(name, t);
    return t;
  };
  const inputs = g.inputs.filter((i) => !g.constants[i]);
  for (const o of g.outputs) {
    if (g.constants[o]) throw new LatheError("unsupported", `driver emission: output ${o} is a constant`);
  }
  const bytesOf = (name: string) => tensor(name).count * tensor(name).bytes;
  const arena = planArena(g, inputs, bytesOf);

  // Constants: those in compile's weights.bin are read from it, the rest from driver/constants.bin.
  const inWeights = new Map((opts.weights ?? []).map((w) => [w.name, w]));
  const files = opts.weights ? ["weights.bin", "driver/constants.bin"] : ["driver/constants.bin"];
  const own = opts.weights ? 1 : 0;
  const constIndex = new Map<string, number>();
  const constRefs: { file: number; offset: number; bytes: number; name: string }[] = [];
  const blob: { offset: number; data: Uint8Array }[] = [];
  let blobSize = 0;
  const constantRef = (name: string, c: Constant): number => {
    let i = constIndex.get(name);
    if (i !== undefined) return i;
    const data = constantBytes(c);
    const w = inWeights.get(name);
    if (w) {
      if (w.bytes !== data.byteLength) {
        throw new LatheError(
          "verify",
          `weights index gives ${w.bytes} bytes for constant ${name}, which has ${data.byteLength}`,
        );
      }
      constRefs.push({ file: 0, offset: w.offset, bytes: w.bytes, name });
    } else {
      blobSize = Math.ceil(blobSize / 64) * 64;
      blob.push({ offset: blobSize, data });
      constRefs.push({ file: own, offset: blobSize, bytes: data.byteLength, name });
      blobSize += data.byteLength;
    }
    i = constRefs.length - 1;
    constIndex.set(name, i);
    return i;
  };

  const includes = new Set<string>(["driver_runtime.h"]);
  const tables: string[] = [];
  const body: string[] = [];
  const valueIndex = new Map<string, number>();
  const values: string[] = [];
  let calls = 0, packets = 0, loopCalls = 0;
  const desc = (name: string) => {
    const t = tensor(name);
    if (t.shape.length > 8) {
      throw new LatheError("unsupported", `driver emission: value ${name} has rank > 8`);
    }
    const e = elementInfo(t.dtype, name);
    return `{${cString(name)}, ${cString(e.npy)}, ${t.shape.length}, {${t.shape.join(", ")}}, ${
      arena.offsets.get(name)
    }, ` +
      `${bytesOf(name)}}`;
  };

  for (const node of g.nodes) {
    const emit = stepFor(node.op);
    if (!emit) unsupported(node, "no C++ kernel for this op");
    const ctx: StepContext = {
      graph: g,
      node,
      options: opts,
      attrs: resolveAttrs(node),
      tensor: (name) => tensor(name, node),
      constant: (name) => (name ? g.constants[name] : undefined),
      ptr: (name, ctype) => {
        const t = tensor(name, node);
        const c = g.constants[name];
        if (c) return `constant<${ctype ?? t.ctype}>(K, ${constantRef(name, c)})`;
        const off = arena.offsets.get(name);
        if (off === undefined) unsupported(node, `value ${name} is never computed`);
        return `at<${ctype ?? t.ctype}>(A, ${off})`;
      },
      table: (ctype, items, hint) => {
        const id = `kT${tables.length}_${identifier(hint)}`;
        tables.push(
          `const ${ctype} ${id}[${items.length}] = ${braceList(items)};  // ${commentText(node.id)}`,
        );
        return id;
      },
      include: (h) => includes.add(h),
      fail: (reason) => unsupported(node, reason),
    };
    const lines = emit(ctx);
    if (node.op === "lathe.AccelCall") {
      calls++;
      const p = getTarget(String(ctx.attrs.target)).programOf(node);
      packets += p.cmds.length;
      // Every backend sends a stream that is not a loop through its `*_run_packets` table runner.
      if (!lines.some((l) => l.includes("_run_packets("))) loopCalls++;
    }
    const io = `${node.inputs.filter(Boolean).join(", ")} -> ${node.outputs.join(", ")}`;
    body.push(`  {  // ${commentText(`${node.id} (${node.op}): ${io}`)}`);
    for (const l of lines) for (const part of l.split("\n")) body.push(`    ${part}`);
    body.push("  }");
    for (const o of node.outputs) {
      if (!o || valueIndex.has(o)) continue;
      valueIndex.set(o, values.length);
      values.push(desc(o));
      body.push(`  lathe::dump_value(rc, kValues[${valueIndex.get(o)}]);`);
    }
  }
  for (const o of g.outputs) {
    if (!arena.offsets.has(o)) {
      throw new LatheError("unsupported", `driver emission: output ${o} is never computed`);
    }
  }

  const arr = (type: string, name: string, items: readonly string[]) =>
    items.length
      ? `const ${type} ${name}[] = ${braceList(items, 1)};`
      : `const ${type}* const ${name} = nullptr;`;
  const title = `driver for graph ${g.name} on ${target.params.name}`;
  const cc = [
    `// Generated by Lathe (targets/emit): the ${commentText(title)}. Do not edit; recompile the model.`,
    `// ${g.nodes.length} nodes, ${calls} accelerator calls (${packets} packets)${
      cutAt ? `; stops before ${commentText(cutAt)}` : ""
    }.`,
    "// Build with `make`; run `./lathe_driver --help`.",
    "#include <cstdint>",
    "#include <cstring>",
    "",
    ...[...includes].sort().map((h) => `#include "${h}"`),
    "",
    "namespace {",
    "",
    arr("char*", "kFiles", files.map(cString)),
    arr(
      "lathe::ConstantRef",
      "kConstants",
      constRefs.map((c) => `{${c.file}, ${c.offset}, ${c.bytes}}  /* ${commentText(c.name)} */`),
    ),
    arr("lathe::TensorDesc", "kInputs", inputs.map(desc)),
    arr("lathe::TensorDesc", "kOutputs", g.outputs.map(desc)),
    arr("lathe::TensorDesc", "kValues", values),
    "",
    ...(tables.length ? ["// Parameters prepared at compile time (TFLite's Prepare).", ...tables, ""] : []),
    "template <typename T>",
    "inline T* at(uint8_t* arena, size_t offset) { return reinterpret_cast<T*>(arena + offset); }",
    "template <typename T>",
    "inline const T* constant(const uint8_t* const* k, size_t i) { return reinterpret_cast<const T*>(k[i]); }",
    "",
    "void run(const lathe::RunContext& rc) {",
    "  uint8_t* const A = rc.arena;",
    "  const uint8_t* const* const K = rc.constants;",
    "  (void)A;",
    "  (void)K;",
    ...body,
    "}",
    "",
    "}  // namespace",
    "",
    "int main(int argc, char** argv) {",
    `  static const lathe::ModelDesc model = {${cString(g.name)}, ${cString(target.params.name)}, ${
      files.length ? "kFiles" : "nullptr"
    }, ${files.length}, kConstants, ${constRefs.length}, kInputs, ${inputs.length}, kOutputs, ${g.outputs.length}, ${arena.bytes}};`,
    "  return lathe::driver_main(argc, argv, model, run);",
    "}",
    "",
  ].join("\n");

  const generated = new Set(GENERATED);
  const library = withIncludes(
    [...includes, ...LIBRARY_SOURCES, backend.simSource, backend.boardSource],
    generated,
  );
  const headers = [...library.filter((f) => f.endsWith(".h")), "acc_config.h"].sort();
  const sources = ["model.cc", ...LIBRARY_SOURCES];
  const out = new Map<string, string | Uint8Array>();
  out.set("model.cc", cc);
  out.set("acc_config.h", backend.accConfig(target));
  out.set("Makefile", makefile(title, sources, headers, backend));
  for (const f of library) out.set(f, cppSource(f));
  const bin = new Uint8Array(blobSize);
  for (const b of blob) bin.set(b.data, b.offset);
  out.set("constants.bin", bin);
  const io = (name: string): DriverTensor => ({
    name,
    file: npyFileName(name),
    descr: elementInfo(tensor(name).dtype, name).npy,
    shape: tensor(name).shape,
  });
  return {
    files: out,
    generated: GENERATED,
    inputs: inputs.map(io),
    outputs: g.outputs.map(io),
    cutAt,
    stats: {
      nodes: g.nodes.length,
      calls,
      packets,
      loopCalls,
      arenaBytes: arena.bytes,
      constantBytes: constRefs.reduce((p, c) => p + c.bytes, 0),
    },
  };
}

/** Writes the driver of a partitioned graph to OUT/driver/ (see the module comment). */
export async function emitDriver(
  model: Model | Graph,
  target: Target | string,
  opts: EmitOptions,
): Promise<EmittedDriver> {
  const r = renderDriver(model, target, opts);
  const dir = `${opts.out}/driver`;
  await ensureDir(dir);
  const subdirs = new Set(
    [...r.files.keys()].filter((f) => f.includes("/")).map((f) => f.slice(0, f.lastIndexOf("/"))),
  );
  for (const s of subdirs) await ensureDir(`${dir}/${s}`);
  for (const [f, data] of r.files) await writeFileAtomic(`${dir}/${f}`, data);
  return { ...r, dir, files: [...r.files.keys()] };
}
