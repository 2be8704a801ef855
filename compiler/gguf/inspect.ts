/**
 * `inspect` for GGUF: the header only (read through a file handle, so a multi-GB file costs only its
 * metadata), listing every metadata key with its type and value (long arrays and strings summarized) and
 * every tensor (name, ggml type, IR shape, bytes), plus the graph summary when the architecture is one Lathe
 * builds (tensors stay unread: constants are lazy).
 */
import { LatheError } from "../../ir/errors.ts";
import { formatInspect, inspectModel, type InspectReport } from "../inspect.ts";
import { GGUF_TYPE_NAMES, type GgufArray, type GgufKV, ggufText, type GgufValue } from "./metadata.ts";
import { importGguf } from "./llama.ts";
import { openGguf } from "./reader.ts";

/** Array elements and string characters shown before a value is summarized. */
const ARRAY_HEAD = 8;
const STRING_HEAD = 120;

export interface GgufInspectReport {
  model: string;
  format: "gguf";
  version: number;
  alignment: number;
  fileSize: number;
  dataOffset: number;
  metadata: { key: string; type: string; value: unknown; count?: number }[];
  tensors: { name: string; type: string; shape: number[]; bytes: number; offset: number }[];
  tensorBytes: number;
  notes: string[];
  /** The IR summary, or why there is none. */
  graph: InspectReport | { error: string };
}

export async function inspectGguf(path: string): Promise<GgufInspectReport> {
  const h = await openGguf(path);
  let report: Omit<GgufInspectReport, "graph">;
  try {
    report = {
      model: path,
      format: "gguf",
      version: h.version,
      alignment: h.alignment,
      fileSize: h.fileSize,
      dataOffset: h.dataOffset,
      metadata: h.metadata.map(describeKV),
      tensors: h.tensors.map((t) => ({
        name: t.name,
        type: t.type.name,
        shape: [...t.ne].reverse(),
        bytes: t.nbytes,
        offset: t.fileOffset,
      })),
      tensorBytes: h.tensors.reduce((s, t) => s + t.nbytes, 0),
      notes: [...h.notes],
    };
  } finally {
    h.close();
  }
  let graph: GgufInspectReport["graph"];
  try {
    graph = inspectModel(await importGguf(path), path);
  } catch (e) {
    if (!(e instanceof LatheError)) throw e;
    graph = { error: e.message };
  }
  return { ...report, graph };
}

function typeName(kv: GgufKV): string {
  if (kv.type !== 9) return GGUF_TYPE_NAMES[kv.type];
  return `ARRAY<${GGUF_TYPE_NAMES[(kv.value as GgufArray).elemType]}>`;
}

/** JSON-safe display form: bigint as a decimal string, text cut at STRING_HEAD, arrays cut at ARRAY_HEAD. */
function shown(v: GgufValue | boolean): unknown {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "string" || v instanceof Uint8Array) {
    const s = ggufText(v);
    return s.length > STRING_HEAD ? `${s.slice(0, STRING_HEAD)}… (${s.length} chars)` : s;
  }
  if (typeof v === "object") {
    const items = v.items as ArrayLike<unknown>;
    return Array.from({ length: Math.min(items.length, ARRAY_HEAD) }, (_, i) => shown(items[i] as GgufValue));
  }
  return v;
}

function describeKV(kv: GgufKV): GgufInspectReport["metadata"][number] {
  const entry: GgufInspectReport["metadata"][number] = {
    key: kv.key,
    type: typeName(kv),
    value: shown(kv.value),
  };
  if (kv.type === 9) entry.count = ((kv.value as GgufArray).items as ArrayLike<unknown>).length;
  return entry;
}

const human = (n: number) =>
  n >= 2 ** 30
    ? `${(n / 2 ** 30).toFixed(2)} GiB`
    : n >= 2 ** 20
    ? `${(n / 2 ** 20).toFixed(2)} MiB`
    : n >= 1024
    ? `${(n / 1024).toFixed(1)} KiB`
    : `${n} B`;

export function formatGgufInspect(r: GgufInspectReport): string {
  const lines = [
    `${r.model} (GGUF v${r.version}, alignment ${r.alignment}, ${
      human(r.fileSize)
    }, data at byte ${r.dataOffset})`,
    `metadata: ${r.metadata.length} keys`,
  ];
  const w = Math.min(48, Math.max(...r.metadata.map((m) => m.key.length), 0));
  for (const m of r.metadata) {
    const v = m.count !== undefined
      ? `[${(m.value as unknown[]).map((x) => JSON.stringify(x)).join(", ")}${
        m.count > ARRAY_HEAD ? `, … ${m.count} items` : ""
      }]`
      : typeof m.value === "string"
      ? JSON.stringify(m.value)
      : String(m.value);
    lines.push(`  ${m.key.padEnd(w)} ${m.type.padEnd(16)} ${v}`);
  }
  lines.push(`tensors: ${r.tensors.length}, ${human(r.tensorBytes)}`);
  const nw = Math.min(48, Math.max(...r.tensors.map((t) => t.name.length), 0));
  for (const t of r.tensors) {
    lines.push(
      `  ${t.name.padEnd(nw)} ${t.type.padEnd(8)} [${t.shape.join(", ")}]`.padEnd(nw + 34) +
        ` ${human(t.bytes)}`,
    );
  }
  for (const n of r.notes) lines.push(`note: ${n}`);
  if ("error" in r.graph) lines.push(`graph: none (${r.graph.error})`);
  else lines.push("graph:", ...formatInspect(r.graph).split("\n").slice(1).map((l) => `  ${l}`));
  return lines.join("\n");
}
